//! What the supervisor tells systemd: `READY=1` once every autostart service is RUNNING or has
//! failed its first start (so a crash-looping service cannot hold the unit in "activating"),
//! a `STATUS=` line kept current, and the watchdog ping from the loop itself.

use std::time::Instant;

use super::engine::Engine;
use super::machine::StateName;

/// Notification state.
#[derive(Debug, Default)]
pub struct SdState {
    /// `READY=1` was sent.
    pub ready: bool,
    /// The last `STATUS=` sent.
    pub status: String,
    /// `$NOTIFY_SOCKET` is set: without it there is nobody to tell, and the per-turn summary
    /// is skipped.
    pub enabled: bool,
    /// The watchdog period, and when the next ping is due.
    pub watchdog: Option<(std::time::Duration, Instant)>,
}

impl Engine {
    /// Sends `READY=1` when due and `STATUS=` when it changed.
    pub fn notify_systemd(&mut self, now: Instant) {
        if !self.sd.enabled {
            return;
        }
        let summary = self.summary();
        if !self.sd.ready && self.shutdown.is_none() && self.autostart_settled() {
            self.sd.ready = true;
            let waiting = self.not_up();
            let status = if waiting.is_empty() {
                summary.clone()
            } else {
                format!("{summary}; not up: {}", waiting.join(", "))
            };
            crate::notify::notify(&format!("READY=1\nSTATUS={status}"));
            self.sd.status = status;
        } else if self.sd.ready && summary != self.sd.status {
            crate::notify::status(&summary);
            self.sd.status = summary;
        }
        if let Some((period, due)) = self.sd.watchdog {
            if now >= due {
                crate::notify::watchdog();
                self.sd.watchdog = Some((period, now + period));
            }
        }
    }

    /// The next watchdog ping, if the watchdog is on.
    pub fn watchdog_due(&self) -> Option<Instant> {
        self.sd.watchdog.map(|(_, due)| due)
    }

    /// Every autostart service is RUNNING, or has failed its first start (BACKOFF, FATAL).
    fn autostart_settled(&self) -> bool {
        self.services
            .values()
            .filter(|s| s.spec.autostart)
            .all(|s| {
                matches!(
                    s.state(),
                    StateName::Running | StateName::Backoff | StateName::Fatal | StateName::Exited
                )
            })
    }

    fn not_up(&self) -> Vec<String> {
        self.services
            .iter()
            .filter(|(_, s)| s.spec.autostart && s.state() != StateName::Running)
            .map(|(n, s)| format!("{n} {}", s.state().as_str().to_lowercase()))
            .collect()
    }

    /// "12 running, 1 backoff".
    fn summary(&self) -> String {
        let order = [
            StateName::Running,
            StateName::Starting,
            StateName::Backoff,
            StateName::Stopping,
            StateName::Fatal,
            StateName::Exited,
            StateName::Stopped,
        ];
        let parts: Vec<String> = order
            .iter()
            .filter_map(|state| {
                let n = self
                    .services
                    .values()
                    .filter(|s| s.state() == *state)
                    .count();
                (n > 0).then(|| format!("{n} {}", state.as_str().to_lowercase()))
            })
            .collect();
        if parts.is_empty() {
            "no services".into()
        } else {
            parts.join(", ")
        }
    }
}
