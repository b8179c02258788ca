//! Starting a service's process: its captured-output FIFOs, resource limits, credentials and
//! environment, handed to the [`Spawner`](crate::process::spawn::Spawner); the new process's
//! pidfd joins the poll set.

use std::os::fd::AsFd;
use std::sync::Arc;

use super::engine::Engine;
use super::logs::{Capture, LogFile};
use super::machine::Event;
use super::poller::Watch;
use super::table::Tracked;
use crate::config::{Output, Rlimit, ServiceSpec};
use crate::process::spawn::{resolve_credentials, ChildOutput, SpawnSpec};

/// Variables a service must not inherit: they are meant for the supervisor only.
const PRIVATE_ENV: [&str; 6] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
];

impl Engine {
    /// Spawns `name`'s command; the event says how it went.
    pub(super) fn spawn(&mut self, name: &str) -> Event {
        let Some(svc) = self.services.get(name) else {
            return Event::SpawnFailed {
                permanent: true,
                reason: "no such service".into(),
            };
        };
        let spec = Arc::clone(&svc.spec);
        if let Err(reason) = self.ensure_captures(name) {
            return Event::SpawnFailed {
                permanent: false,
                reason,
            };
        }
        let Some(svc) = self.services.get(name) else {
            return Event::SpawnFailed {
                permanent: true,
                reason: "no such service".into(),
            };
        };
        let writers = writer_for(&spec.stdout, svc.stdout.as_ref())
            .and_then(|out| Ok((out, writer_for(&spec.stderr, svc.stderr.as_ref())?)));
        let (out_writer, err_writer) = match writers {
            Ok(s) => s,
            Err(reason) => {
                return Event::SpawnFailed {
                    permanent: false,
                    reason,
                }
            }
        };
        let credentials = match spec
            .user
            .as_deref()
            .map(|u| resolve_credentials(u, spec.group.as_deref()))
        {
            Some(Err(reason)) => {
                return Event::SpawnFailed {
                    permanent: true,
                    reason,
                }
            }
            Some(Ok(c)) => Some(c),
            None => None,
        };
        let argv = spec.command.argv();
        let mut env = spec.env.clone();
        env.insert("PIDWARD_SERVICE".into(), name.to_owned());
        let rlimits = self.rlimits(&spec);
        let stdout = output(&spec.stdout, &out_writer);
        let stderr = output(&spec.stderr, &err_writer);
        let keep_fd = svc.lock.as_ref().and_then(|l| l.borrowed_fd());
        let result = self.spawner.spawn(SpawnSpec {
            argv: &argv,
            cwd: &spec.cwd,
            env: &env,
            remove_env: &PRIVATE_ENV,
            credentials: credentials.as_ref(),
            umask: spec.umask,
            rlimits: &rlimits,
            stdout,
            stderr,
            keep_fd,
        });
        let Some(svc) = self.services.get_mut(name) else {
            return Event::SpawnFailed {
                permanent: true,
                reason: "removed".into(),
            };
        };
        match result {
            Ok(child) => {
                let pid = child.pid;
                self.poller
                    .watch(svc.slot, name, child.pidfd.as_fd(), Watch::Exit);
                svc.tracked = Some(Tracked {
                    pid,
                    pidfd: child.pidfd,
                    start_ticks: child.start_ticks,
                    adopted: false,
                });
                svc.starts += 1;
                Event::Spawned(pid)
            }
            Err(e) => Event::SpawnFailed {
                permanent: e.permanent,
                reason: e.message,
            },
        }
    }

    /// Resource limits for a child: the configured ones, and the supervisor's original
    /// `RLIMIT_NOFILE` back unless configured (many programs misbehave with a huge fd limit).
    fn rlimits(&self, spec: &ServiceSpec) -> Vec<(i32, u64, u64)> {
        let value = |r: Rlimit| match r {
            Rlimit::Value(v) => v,
            Rlimit::Unlimited => libc::RLIM_INFINITY,
        };
        let (soft, hard) = self.child_nofile;
        let mut limits = vec![match spec.limits.nofile {
            Some(r) => (libc::RLIMIT_NOFILE as i32, value(r), value(r)),
            None => (libc::RLIMIT_NOFILE as i32, soft, hard),
        }];
        for (resource, limit) in [
            (libc::RLIMIT_NPROC as i32, spec.limits.nproc),
            (libc::RLIMIT_CORE as i32, spec.limits.core),
            (libc::RLIMIT_MEMLOCK as i32, spec.limits.memlock),
        ] {
            if let Some(r) = limit {
                limits.push((resource, value(r), value(r)));
            }
        }
        limits
    }

    /// Opens the captures (FIFO + rotated file) a service's `log` outputs need, once; they stay
    /// open across restarts, and after a supervisor restart the same FIFOs are reopened.
    pub fn ensure_captures(&mut self, name: &str) -> Result<(), String> {
        let runtime_dir = self.config.supervisor.runtime_dir.clone();
        let log_dir = self.config.supervisor.log_dir.clone();
        let Some(svc) = self.services.get_mut(name) else {
            return Ok(());
        };
        let spec = Arc::clone(&svc.spec);
        for (output, slot, suffix) in [
            (&spec.stdout, &mut svc.stdout, "out"),
            (&spec.stderr, &mut svc.stderr, "err"),
        ] {
            if *output != Output::Log || slot.is_some() {
                continue;
            }
            let file = log_dir.join(format!("{name}.{suffix}"));
            let sink = LogFile::open(&file, spec.log_max_bytes, spec.log_backups)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let fifo = runtime_dir.join(format!("{name}.std{suffix}"));
            let capture =
                Capture::open(&fifo, sink).map_err(|e| format!("{}: {e}", fifo.display()))?;
            let kind = if suffix == "out" {
                Watch::Stdout
            } else {
                Watch::Stderr
            };
            self.poller
                .watch(svc.slot, name, capture.reader().as_fd(), kind);
            *slot = Some(capture);
        }
        Ok(())
    }
}

/// Where a child's output goes, given its writing end when it is captured.
fn output<'a>(output: &Output, writer: &'a Option<std::fs::File>) -> ChildOutput<'a> {
    match (output, writer) {
        (Output::Inherit, _) => ChildOutput::Inherit,
        (_, Some(file)) => ChildOutput::To(file.as_fd()),
        (_, None) => ChildOutput::Null,
    }
}

/// The writing end a `log` output hands the child (a new open of its FIFO); `None` otherwise.
fn writer_for(output: &Output, capture: Option<&Capture>) -> Result<Option<std::fs::File>, String> {
    match (output, capture) {
        (Output::Log, Some(c)) => c.writer().map(Some).map_err(|e| e.to_string()),
        _ => Ok(None),
    }
}
