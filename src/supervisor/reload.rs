//! SIGHUP: reload the config. An invalid file is rejected with its errors logged and the old
//! config kept; a valid one is diffed: added services start, removed ones stop, changed ones
//! restart under the new spec, unchanged ones are not touched (same PID before and after).
//! SIGUSR1: reopen the captured-output files (after an external rotation).

use std::sync::Arc;
use std::time::Instant;

use super::engine::Engine;
use super::machine::Event;
use super::table::{policy_of, Service};
use crate::config::{self, Config};

/// What a reload did, by service name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReloadReport {
    /// Started.
    pub added: Vec<String>,
    /// Stopped and forgotten.
    pub removed: Vec<String>,
    /// Restarted under the new spec.
    pub changed: Vec<String>,
    /// Left alone.
    pub unchanged: Vec<String>,
}

impl Engine {
    /// Reloads the config file; returns what changed, or the errors.
    pub fn reload(&mut self, now: Instant) -> Result<ReloadReport, String> {
        crate::notify::reloading();
        self.spawner.forget_paths();
        let result = match config::load(&self.config.path) {
            Ok(new) => Ok(self.apply(new, now)),
            Err(e) => {
                log::error!("reload rejected, keeping the running config:\n{e}");
                Err(e.to_string())
            }
        };
        self.admit_starts(now);
        crate::notify::ready();
        result
    }

    fn apply(&mut self, new: Config, now: Instant) -> ReloadReport {
        let plan = config::diff::diff(&self.config, &new);
        if new.supervisor != self.config.supervisor {
            log::warn!("reload: changes to [supervisor] take effect at the next start of pidward");
        }
        for name in &plan.removed {
            if let Some(svc) = self.services.get_mut(name) {
                svc.wanted = false;
            }
            self.dispatch(name, Event::Remove, now);
        }
        for name in &plan.changed {
            let Some(spec) = new.services.get(name) else {
                continue;
            };
            if let Some(svc) = self.services.get_mut(name) {
                svc.pending = Some(Arc::clone(spec));
                svc.wanted = spec.autostart || svc.wanted;
            }
            self.dispatch(name, Event::Replace(Arc::new(policy_of(spec))), now);
        }
        for name in &plan.added {
            if let Some(spec) = new.services.get(name) {
                self.services
                    .insert(name.clone(), Service::new(Arc::clone(spec)));
            }
        }
        let supervisor = self.config.supervisor.clone();
        self.config = Config { supervisor, ..new };
        log::info!(
            "reloaded: {} added, {} removed, {} changed, {} unchanged",
            plan.added.len(),
            plan.removed.len(),
            plan.changed.len(),
            plan.unchanged.len()
        );
        ReloadReport {
            added: plan.added,
            removed: plan.removed,
            changed: plan.changed,
            unchanged: plan.unchanged,
        }
    }

    /// Reopens every captured-output file by name.
    pub fn reopen_logs(&mut self) {
        for (name, svc) in &mut self.services {
            for capture in [&mut svc.stdout, &mut svc.stderr].into_iter().flatten() {
                if let Err(e) = capture.sink.reopen() {
                    log::warn!("{name}: reopening its log: {e}");
                }
            }
        }
        log::info!("reopened the log files");
    }
}
