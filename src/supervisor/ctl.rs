//! Control requests, as the engine answers them: status, start/stop/restart (answered when the
//! services reach the target state), signal, pid, logs, wait, reload, shutdown.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::engine::Engine;
use super::machine::{Event, State, StateName};
use crate::config::Output;
use crate::control::protocol::{
    Batch, Command, Outcome, ReloadSummary, Request, Response, ServiceStatus,
};
use crate::control::server::ClientId;

pub use super::waiters::{WaitKind, Waiter};

impl Engine {
    /// Answers (or parks) one request.
    pub fn handle_request(&mut self, client: ClientId, request: Request, now: Instant) {
        let response = match request.command {
            Command::Status { names } => self.status(&names),
            Command::Start(batch) => self.batch(client, batch, WaitKind::Start, now),
            Command::Restart(batch) => self.restart(client, batch, now),
            Command::Stop(batch) => self.batch(client, batch, WaitKind::Stop, now),
            Command::Signal { signal, names } => self.signal(&signal, &names, now),
            Command::Pid { name } => self.pid(name.as_deref()),
            Command::Logs {
                name,
                follow,
                lines,
                stderr,
            } => self.logs(client, &name, follow, lines, stderr),
            Command::Wait {
                names,
                target,
                timeout_ms,
            } => {
                let deadline = timeout_ms.map(|ms| now + Duration::from_millis(ms));
                self.park(client, &names, WaitKind::Wait(target), deadline)
            }
            Command::Reload => Some(match self.reload(now) {
                Ok(report) => Response {
                    reload: Some(ReloadSummary {
                        added: report.added,
                        removed: report.removed,
                        changed: report.changed,
                        unchanged: report.unchanged,
                    }),
                    ..Response::ok()
                },
                Err(e) => Response::error(format!(
                    "reload rejected, the running config is unchanged:\n{e}"
                )),
            }),
            Command::Shutdown => {
                self.begin_shutdown(Signal::SIGTERM, now);
                // The client keeps the connection and sees it close when the supervisor exits.
                Some(Response {
                    more: true,
                    ..Response::ok()
                })
            }
        };
        if let Some(response) = response {
            self.reply(client, &response, response.more);
        }
    }

    pub(super) fn reply(&mut self, client: ClientId, response: &Response, more: bool) {
        let Some(server) = self.control.as_mut() else {
            return;
        };
        server.send(client, response);
        if !more && server.read_closed(client) {
            server.close_after_flush(client);
        }
    }

    /// `None` when every name is known; else the error response listing the known names.
    pub(super) fn unknown(&self, names: &[String]) -> Option<Response> {
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| !self.services.contains_key(*n))
            .collect();
        if missing.is_empty() {
            return None;
        }
        let known: Vec<String> = self.services.keys().cloned().collect();
        let missing: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        Some(Response {
            known: Some(known.clone()),
            ..Response::error(format!(
                "unknown service {}; known: {}",
                missing.join(", "),
                known.join(", ")
            ))
        })
    }

    fn status(&self, names: &[String]) -> Option<Response> {
        if let Some(e) = self.unknown(names) {
            return Some(e);
        }
        let services = self
            .services
            .iter()
            .filter(|(n, _)| names.is_empty() || names.contains(n))
            .map(|(name, svc)| ServiceStatus {
                name: name.clone(),
                state: svc.state().as_str().to_owned(),
                pid: svc.machine.state().pid(),
                uptime_secs: svc.since.elapsed().map_or(0, |d| d.as_secs()),
                restarts: svc.machine.restart_count,
                last_exit: svc.machine.last_exit.map(|e| e.to_string()),
                reason: svc.reason.clone(),
                autostart: svc.spec.autostart,
            })
            .collect();
        Some(Response {
            services: Some(services),
            ..Response::ok()
        })
    }

    fn batch(
        &mut self,
        client: ClientId,
        batch: Batch,
        kind: WaitKind,
        now: Instant,
    ) -> Option<Response> {
        let names = match self.batch_names(batch.all, batch.names) {
            Ok(names) => names,
            Err(e) => return Some(*e),
        };
        let baseline = self.baseline(&names);
        for name in &names {
            match kind {
                WaitKind::Start => self.want(name, now),
                _ => {
                    if let Some(svc) = self.services.get_mut(name) {
                        svc.wanted = false;
                    }
                    self.dispatch(name, Event::Stop, now);
                }
            }
        }
        self.admit_starts(now);
        self.answer_or_park(client, names, kind, baseline, batch.no_wait)
    }

    /// The services a start/stop/restart names: all, or the given ones, all known.
    fn batch_names(&self, all: bool, names: Vec<String>) -> Result<Vec<String>, Box<Response>> {
        let names = if all {
            self.services.keys().cloned().collect()
        } else {
            names
        };
        if let Some(e) = self.unknown(&names) {
            return Err(Box::new(e));
        }
        if names.is_empty() {
            return Err(Box::new(Response::error(
                "name at least one service, or --all",
            )));
        }
        Ok(names)
    }

    fn restart(&mut self, client: ClientId, batch: Batch, now: Instant) -> Option<Response> {
        let names = match self.batch_names(batch.all, batch.names) {
            Ok(names) => names,
            Err(e) => return Some(*e),
        };
        let baseline = self.baseline(&names);
        for name in &names {
            if let Some(svc) = self.services.get_mut(name) {
                svc.wanted = true;
            }
            self.dispatch(name, Event::Restart, now);
        }
        self.admit_starts(now);
        self.answer_or_park(client, names, WaitKind::Start, baseline, batch.no_wait)
    }

    /// Marks `name` and everything it depends on as wanted (an operator's start pulls in its
    /// dependencies), and starts it now from EXITED or FATAL.
    fn want(&mut self, name: &str, now: Instant) {
        let mut todo = vec![name.to_owned()];
        while let Some(n) = todo.pop() {
            let Some(svc) = self.services.get_mut(&n) else {
                continue;
            };
            if svc.wanted && n != name {
                continue;
            }
            svc.wanted = true;
            todo.extend(svc.spec.depends_on.iter().cloned());
        }
        let Some(svc) = self.services.get(name) else {
            return;
        };
        let deps_up = svc.spec.depends_on.iter().all(|d| {
            self.services
                .get(d)
                .is_some_and(|s| s.state() == StateName::Running)
        });
        if deps_up && !matches!(svc.machine.state(), State::Stopped) {
            self.dispatch(name, Event::Start, now);
        }
    }

    pub(super) fn outcome(&self, name: &str, ok: bool, message: &str) -> Outcome {
        let state = self
            .services
            .get(name)
            .map_or("REMOVED", |s| s.state().as_str())
            .to_owned();
        let reason = self
            .services
            .get(name)
            .map(|s| s.reason.clone())
            .unwrap_or_default();
        let message = if ok || reason.is_empty() {
            message.to_owned()
        } else {
            format!("{message}: {reason}")
        };
        Outcome {
            name: name.to_owned(),
            ok,
            state,
            message,
        }
    }

    fn signal(&mut self, signal: &str, names: &[String], now: Instant) -> Option<Response> {
        if let Some(e) = self.unknown(names) {
            return Some(e);
        }
        let sig = match crate::config::signal::parse_signal(signal) {
            Ok(sig) => sig,
            Err(e) => return Some(Response::error(e)),
        };
        let mut outcomes = Vec::new();
        for name in names {
            let running = self
                .services
                .get(name)
                .and_then(|s| s.machine.state().pid())
                .is_some();
            if running {
                self.dispatch(name, Event::Signal(sig as i32), now);
            }
            outcomes.push(self.outcome(
                name,
                running,
                if running { "signalled" } else { "not running" },
            ));
        }
        let ok = outcomes.iter().all(|o| o.ok);
        Some(Response {
            ok,
            outcomes: Some(outcomes),
            ..Response::ok()
        })
    }

    fn pid(&self, name: Option<&str>) -> Option<Response> {
        let Some(name) = name else {
            return Some(Response {
                pid: Some(std::process::id() as i32),
                ..Response::ok()
            });
        };
        if let Some(e) = self.unknown(&[name.to_owned()]) {
            return Some(e);
        }
        match self
            .services
            .get(name)
            .and_then(|s| s.machine.state().pid())
        {
            Some(pid) => Some(Response {
                pid: Some(pid),
                ..Response::ok()
            }),
            None => Some(Response::error(format!("{name} is not running"))),
        }
    }

    fn logs(
        &mut self,
        client: ClientId,
        name: &str,
        follow: bool,
        lines: usize,
        stderr: bool,
    ) -> Option<Response> {
        if let Some(e) = self.unknown(&[name.to_owned()]) {
            return Some(e);
        }
        let svc = self.services.get(name)?;
        let (output, suffix) = if stderr {
            (svc.spec.stderr, "err")
        } else {
            (svc.spec.stdout, "out")
        };
        if output != Output::Log {
            return Some(Response::error(format!(
                "{name}'s std{suffix} is not captured (std{suffix} = \"{}\")",
                output.as_str()
            )));
        }
        let path = self
            .config
            .supervisor
            .log_dir
            .join(format!("{name}.{suffix}"));
        let data = match super::logs::tail_lines(&path, lines) {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Some(Response::error(format!("{}: {e}", path.display()))),
        };
        if follow {
            if let Some(server) = self.control.as_mut() {
                server.set_follow(client, name, stderr);
            }
        }
        Some(Response {
            data: Some(data),
            more: follow,
            ..Response::ok()
        })
    }
}
