//! Orderly shutdown: stop services in reverse dependency order, each with its stop signal and
//! SIGKILL after its stop timeout, everything within `shutdown_timeout`; a second SIGINT or
//! SIGTERM, or the timeout, kills whatever is left at once.

use std::time::Instant;

use nix::sys::signal::Signal;

use super::engine::{Engine, Shutdown};
use super::machine::{Event, State};
use super::table;

impl Engine {
    /// SIGTERM/SIGINT/SIGQUIT: begin the shutdown, or force it if one is under way.
    pub fn begin_shutdown(&mut self, signal: Signal, now: Instant) {
        match self.shutdown {
            None => {
                log::info!("{signal}: shutting down ({} services)", self.services.len());
                let deadline = now + self.config.supervisor.shutdown_timeout;
                self.shutdown = Some(Shutdown {
                    deadline,
                    forced: false,
                });
                for svc in self.services.values_mut() {
                    svc.wanted = false;
                }
                self.signal_leftovers(false);
                crate::notify::stopping();
            }
            Some(_) => {
                log::warn!("{signal} again: killing every service now");
                self.force_shutdown(now);
            }
        }
    }

    /// Stops every service whose dependents are all settled; forces at `shutdown_timeout`.
    pub fn advance_shutdown(&mut self, now: Instant) {
        let Some(shutdown) = self.shutdown else {
            return;
        };
        if !shutdown.forced && now >= shutdown.deadline {
            log::warn!("shutdown_timeout passed: killing what is left");
            self.force_shutdown(now);
            return;
        }
        loop {
            let ready: Vec<String> = self
                .services
                .iter()
                .filter(|(name, svc)| {
                    !svc.machine.is_settled()
                        && !matches!(svc.machine.state(), State::Stopping { .. })
                        && table::may_stop(&self.services, name)
                })
                .map(|(name, _)| name.clone())
                .collect();
            if ready.is_empty() {
                return;
            }
            for name in ready {
                self.dispatch(&name, Event::Shutdown { force: false }, now);
            }
        }
    }

    fn force_shutdown(&mut self, now: Instant) {
        if let Some(s) = &mut self.shutdown {
            s.forced = true;
        }
        self.signal_leftovers(true);
        let names: Vec<String> = self.services.keys().cloned().collect();
        for name in names {
            self.dispatch(&name, Event::Shutdown { force: true }, now);
        }
    }
}

impl Engine {
    /// Signals the process groups that outlived their service's main process and still hold
    /// its lock: their stop signal at shutdown, SIGKILL when it is forced.
    fn signal_leftovers(&self, kill: bool) {
        for (name, svc) in self.services.iter().filter(|(_, s)| s.lock_lingers) {
            let Some(group) = svc.last_group else {
                continue;
            };
            let signal = if kill {
                Signal::SIGKILL
            } else {
                svc.spec.stop_signal
            };
            log::info!("{name}: sending {signal} to what is left of process group {group} (it holds the lock)");
            let _ = crate::process::reap::signal_group(group, signal);
        }
    }
}
