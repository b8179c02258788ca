//! Pure restart policy: which exits are failures, whether to restart, backoff delays and the
//! restart-rate limit. No I/O, no clock reads: times come in as arguments.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// When a service that exited after it counted as started is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartMode {
    /// Whatever the exit.
    Always,
    /// Only after a failure (an exit code outside `success_exit_codes`, or an unexpected signal).
    OnFailure,
    /// Never.
    Never,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// It called `exit(code)`.
    Exited(i32),
    /// A signal killed it.
    Killed {
        /// The signal number.
        signal: i32,
        /// Whether it dumped core.
        core: bool,
    },
    /// It exited, but its status is unknown (an adopted process is not our child).
    Unknown,
}

impl ExitKind {
    /// The shell's view: the code, or 128+N for signal N; `None` when unknown.
    pub fn shell_code(self) -> Option<i32> {
        match self {
            ExitKind::Exited(code) => Some(code),
            ExitKind::Killed { signal, .. } => Some(128 + signal),
            ExitKind::Unknown => None,
        }
    }
}

impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitKind::Exited(code) => write!(f, "exit status {code}"),
            ExitKind::Killed { signal, core: true } => {
                write!(f, "killed by signal {signal} (core dumped)")
            }
            ExitKind::Killed { signal, .. } => write!(f, "killed by signal {signal}"),
            ExitKind::Unknown => f.write_str("exited, status unknown (adopted process)"),
        }
    }
}

/// Backoff between failed starts: `initial`, growing by `factor` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffSpec {
    /// The first delay.
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
    /// Growth per consecutive failure (≥ 1).
    pub factor: f64,
}

impl BackoffSpec {
    /// The delay after the `failures`-th consecutive failed start (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(64) as i32;
        let secs = self.initial.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            return self.max;
        }
        Duration::from_secs_f64(secs)
    }
}

/// At most `burst` restarts within `interval`, then FATAL (systemd's StartLimitBurst).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartLimit {
    /// Restarts allowed within the window.
    pub burst: u32,
    /// The window.
    pub interval: Duration,
}

/// Everything the state machine needs to know about one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Restart policy after a started service exits.
    pub restart: RestartMode,
    /// How long a process must stay up to count as started (zero: at once).
    pub start_secs: Duration,
    /// Retries after a failed first start, before FATAL.
    pub start_retries: u32,
    /// Delays between failed starts.
    pub backoff: BackoffSpec,
    /// Restart-rate limit for services that start fine but keep dying.
    pub restart_limit: RestartLimit,
    /// Exit codes that count as success.
    pub success_exit_codes: Vec<i32>,
    /// The signal that asks the service to stop.
    pub stop_signal: i32,
    /// How long to wait after `stop_signal` before SIGKILL.
    pub stop_timeout: Duration,
    /// Whether to signal the whole process group.
    pub kill_group: bool,
    /// How long to wait after SIGKILL before calling a process unkillable.
    pub kill_grace: Duration,
}

impl Policy {
    /// Whether `status` is a success under this policy.
    pub fn is_success(&self, status: ExitKind) -> bool {
        matches!(status, ExitKind::Exited(code) if self.success_exit_codes.contains(&code))
    }

    /// Whether a started service that ended with `status` is restarted.
    pub fn should_restart(&self, status: ExitKind) -> bool {
        match self.restart {
            RestartMode::Always => true,
            RestartMode::OnFailure => !self.is_success(status),
            RestartMode::Never => false,
        }
    }

    /// Total start attempts before FATAL: the first plus `start_retries`.
    pub fn max_attempts(&self) -> u32 {
        self.start_retries.saturating_add(1)
    }
}

/// The restart times inside the current window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartWindow {
    times: VecDeque<Instant>,
}

impl RestartWindow {
    /// Records a restart at `now`; false when it exceeds `limit` (the service must go FATAL).
    pub fn admit(&mut self, now: Instant, limit: RestartLimit) -> bool {
        while self
            .times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= limit.interval)
        {
            self.times.pop_front();
        }
        self.times.push_back(now);
        self.times.len() <= limit.burst as usize
    }

    /// Forgets every restart (an operator's `start`).
    pub fn clear(&mut self) {
        self.times.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> BackoffSpec {
        BackoffSpec {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            factor: 2.0,
        }
    }

    #[test]
    fn backoff_grows_by_factor_and_caps() {
        let b = backoff();
        let secs: Vec<u64> = (1..=8).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.delay(0), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
        let flat = BackoffSpec { factor: 1.0, ..b };
        assert_eq!(flat.delay(10), Duration::from_secs(1));
    }

    #[test]
    fn restart_decisions() {
        let mut p = crate::supervisor::machine::tests::policy();
        let killed = ExitKind::Killed {
            signal: 9,
            core: false,
        };
        let table = [
            (RestartMode::Always, ExitKind::Exited(0), true),
            (RestartMode::Always, killed, true),
            (RestartMode::OnFailure, ExitKind::Exited(0), false),
            (RestartMode::OnFailure, ExitKind::Exited(3), true),
            (RestartMode::OnFailure, killed, true),
            (RestartMode::OnFailure, ExitKind::Unknown, true),
            (RestartMode::Never, ExitKind::Exited(3), false),
        ];
        for (mode, status, want) in table {
            p.restart = mode;
            assert_eq!(p.should_restart(status), want, "{mode:?} {status:?}");
        }
        p.success_exit_codes = vec![0, 3];
        p.restart = RestartMode::OnFailure;
        assert!(!p.should_restart(ExitKind::Exited(3)));
    }

    #[test]
    fn restart_window_allows_burst_then_refuses_and_slides() {
        let limit = RestartLimit {
            burst: 3,
            interval: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        let mut w = RestartWindow::default();
        for i in 0..3 {
            assert!(w.admit(t0 + Duration::from_secs(i), limit));
        }
        assert!(!w.admit(t0 + Duration::from_secs(3), limit));
        let mut w = RestartWindow::default();
        for i in 0..3 {
            assert!(w.admit(t0 + Duration::from_secs(i * 4), limit));
        }
        // The first restart (t0) has left the 10 s window by t0+12.
        assert!(w.admit(t0 + Duration::from_secs(12), limit));
    }

    #[test]
    fn exit_kinds_render_for_operators() {
        assert_eq!(ExitKind::Exited(3).shell_code(), Some(3));
        assert_eq!(
            ExitKind::Killed {
                signal: 15,
                core: false
            }
            .shell_code(),
            Some(143)
        );
        assert_eq!(ExitKind::Unknown.shell_code(), None);
        assert_eq!(
            ExitKind::Killed {
                signal: 11,
                core: true
            }
            .to_string(),
            "killed by signal 11 (core dumped)"
        );
    }
}
