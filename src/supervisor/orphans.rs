//! Recovery at start: the PID files and lock records a killed supervisor left behind. A live
//! service is adopted (tracked with a pidfd, its output FIFOs reopened), restarted or killed, per
//! `on_orphan`; a PID file whose process is dead, a zombie, reused or from another boot is
//! removed with a log line saying why. Never a duplicate.

use std::time::Instant;

use super::engine::Engine;
use super::machine::Event;
use super::table::Tracked;
use crate::config::OnOrphan;
use crate::lock::{fsutil, OwnerRecord};
use crate::pidfile::{self, PidFileError};
use crate::process::{host_facts, PidFd, ProcessTable, SystemTable};

/// What the files say about a service's last process.
enum Finding {
    /// No PID file.
    Nothing,
    /// The process still runs, with these start ticks.
    Alive(i32, u64),
    /// The PID file is stale, for this reason.
    Stale(i32, String),
}

impl Engine {
    /// Looks for every service's leftovers and deals with them.
    pub fn recover(&mut self, now: Instant) {
        let table = SystemTable::new();
        let names: Vec<String> = self.services.keys().cloned().collect();
        for name in names {
            let Some(svc) = self.services.get(&name) else {
                continue;
            };
            let spec = std::sync::Arc::clone(&svc.spec);
            match examine(&spec.pidfile, &spec.lockfile, &table) {
                Finding::Nothing => {}
                Finding::Stale(pid, why) => {
                    log::info!(
                        "{name}: removing stale PID file {} (PID {pid}: {why})",
                        spec.pidfile.display()
                    );
                    if let Err(e) = pidfile::remove_if_ours(&spec.pidfile, pid) {
                        log::warn!("{name}: {e}");
                    }
                }
                Finding::Alive(pid, ticks) => {
                    self.take_orphan(&name, pid, ticks, spec.on_orphan, now)
                }
            }
        }
    }

    fn take_orphan(
        &mut self,
        name: &str,
        pid: i32,
        start_ticks: u64,
        policy: OnOrphan,
        now: Instant,
    ) {
        let pidfd = match PidFd::open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                log::warn!("{name}: PID {pid} vanished while being adopted: {e}");
                return;
            }
        };
        if let Err(e) = self.ensure_captures(name) {
            log::warn!("{name}: cannot reopen its output: {e}");
        }
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        self.poller.watch(
            svc.slot,
            name,
            std::os::fd::AsFd::as_fd(&pidfd),
            super::poller::Watch::Exit,
        );
        svc.tracked = Some(Tracked {
            pid,
            pidfd,
            start_ticks,
            adopted: true,
        });
        log::info!(
            "{name}: found PID {pid} left running by a previous supervisor ({})",
            policy.as_str()
        );
        self.dispatch(name, Event::Adopted(pid), now);
        match policy {
            OnOrphan::Adopt => {}
            OnOrphan::Restart => self.dispatch(name, Event::Restart, now),
            OnOrphan::Kill => {
                if let Some(svc) = self.services.get_mut(name) {
                    svc.wanted = false;
                }
                self.dispatch(name, Event::Shutdown { force: true }, now);
            }
        }
    }
}

/// Reads a service's PID file and lock record and says what they mean.
fn examine(
    pid_path: &std::path::Path,
    lock_path: &std::path::Path,
    table: &dyn ProcessTable,
) -> Finding {
    let pid = match pidfile::read(pid_path) {
        Ok(pid) => pid,
        Err(PidFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Finding::Nothing
        }
        Err(e) => {
            log::warn!("{e}");
            return Finding::Nothing;
        }
    };
    let record = fsutil::read_capped(lock_path)
        .ok()
        .and_then(|(bytes, _)| OwnerRecord::decode(&bytes));
    let expected = record
        .as_ref()
        .and_then(|r| r.processes().find(|p| p.pid == pid))
        .map(|p| p.start_ticks);
    if record
        .as_ref()
        .is_some_and(|r| r.boot_id != host_facts().boot_id)
    {
        return Finding::Stale(pid, "from an earlier boot".into());
    }
    match (table.facts(pid), expected) {
        (None, _) => Finding::Stale(pid, "no such process".into()),
        (Some(f), _) if f.zombie => Finding::Stale(pid, "a zombie".into()),
        (Some(f), Some(ticks)) if f.start_ticks != ticks => {
            Finding::Stale(pid, "the PID now belongs to another process".into())
        }
        (Some(f), Some(_)) => Finding::Alive(pid, f.start_ticks),
        // No record vouches for the PID: without proof of identity, adopting could take over an
        // unrelated process. Treat it as stale; the lock (if still held) prevents a duplicate.
        (Some(_), None) => Finding::Stale(pid, "no lock record vouches for it".into()),
    }
}
