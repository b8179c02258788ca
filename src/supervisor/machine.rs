//! The per-service state machine, sans I/O: `handle(event, now)` returns the actions for the
//! engine to perform; `deadline()` says when the machine next needs a `Deadline` event. It never
//! touches a process, a file or a clock, so every transition is tested with a fake clock.
//!
//! States and semantics are supervisord's (STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED,
//! FATAL), plus systemd's restart-rate limit. See `../../shared/STYLE.md` §3 for the table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::policy::{ExitKind, Policy, RestartWindow};

/// SIGKILL's number (the machine stays free of `nix`).
const SIGKILL: i32 = 9;

/// A process id.
pub type Pid = i32;

/// What to do once a stopping process has exited.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterStop {
    /// Stay stopped.
    Stay,
    /// Start again.
    Restart,
    /// Start again under a new policy (a reload changed the service).
    Replace(Arc<Policy>),
    /// The service was removed from the config: forget it.
    Remove,
}

/// Why a service waits in BACKOFF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackoffReason {
    /// The last start attempt failed.
    Failed(String),
    /// Its lock is still held by a process the last run left behind; `waits` counts the looks.
    LockBusy {
        /// Who holds it.
        holder: String,
        /// How many times it was found busy in a row.
        waits: u32,
    },
}

/// A service's state; each variant carries only what is valid in it.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not running, by request (or never started).
    Stopped,
    /// Started, not yet up for `start_secs`; `pid` is `None` until the spawn is confirmed.
    Starting {
        /// The process, once spawned.
        pid: Option<Pid>,
        /// When this attempt began.
        since: Instant,
        /// 1-based attempt number.
        attempt: u32,
    },
    /// Up and counted as started.
    Running {
        /// The process.
        pid: Pid,
        /// Since when.
        since: Instant,
        /// Adopted from a previous supervisor (its exit status will be unknown).
        adopted: bool,
    },
    /// Waiting before the next start attempt.
    Backoff {
        /// When to try again.
        until: Instant,
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        reason: BackoffReason,
    },
    /// Asked to stop; waiting for the exit.
    Stopping {
        /// The process (`None`: the spawn is still in flight).
        pid: Option<Pid>,
        /// When to escalate (or give up).
        deadline: Instant,
        /// SIGKILL already sent.
        killed: bool,
        /// The process survived SIGKILL: no more deadlines.
        unkillable: bool,
        /// What happens after the exit.
        then: AfterStop,
    },
    /// Exited and not restarted by policy.
    Exited {
        /// How.
        status: ExitKind,
        /// When.
        at: Instant,
    },
    /// Start retries used up, restart limit hit, or the command cannot be executed at all.
    Fatal {
        /// Why.
        reason: String,
        /// When.
        at: Instant,
    },
}

/// The state's name, as operators know it from supervisord.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateName {
    /// STOPPED.
    Stopped,
    /// STARTING.
    Starting,
    /// RUNNING.
    Running,
    /// BACKOFF.
    Backoff,
    /// STOPPING.
    Stopping,
    /// EXITED.
    Exited,
    /// FATAL.
    Fatal,
}

impl StateName {
    /// The upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Stopped => "STOPPED",
            StateName::Starting => "STARTING",
            StateName::Running => "RUNNING",
            StateName::Backoff => "BACKOFF",
            StateName::Stopping => "STOPPING",
            StateName::Exited => "EXITED",
            StateName::Fatal => "FATAL",
        }
    }
}

impl State {
    /// The state's name.
    pub fn name(&self) -> StateName {
        match self {
            State::Stopped => StateName::Stopped,
            State::Starting { .. } => StateName::Starting,
            State::Running { .. } => StateName::Running,
            State::Backoff { .. } => StateName::Backoff,
            State::Stopping { .. } => StateName::Stopping,
            State::Exited { .. } => StateName::Exited,
            State::Fatal { .. } => StateName::Fatal,
        }
    }

    /// The live process, if any.
    pub fn pid(&self) -> Option<Pid> {
        match self {
            State::Starting { pid, .. } | State::Stopping { pid, .. } => *pid,
            State::Running { pid, .. } => Some(*pid),
            _ => None,
        }
    }
}

/// What happened, as the engine tells it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Operator or autostart: start.
    Start,
    /// Operator: stop.
    Stop,
    /// Operator: restart.
    Restart,
    /// Operator: send this signal to the process.
    Signal(i32),
    /// The lock was busy at `TakeLock`: the holder's description.
    LockBusy(String),
    /// The process was spawned.
    Spawned(Pid),
    /// The spawn failed; `permanent` when retrying cannot help (not found, not executable, bad
    /// `cwd` or `user`).
    SpawnFailed {
        /// Retrying cannot help.
        permanent: bool,
        /// Why.
        reason: String,
    },
    /// A process exited.
    Exited {
        /// Which.
        pid: Pid,
        /// How.
        status: ExitKind,
    },
    /// An orphan from a previous supervisor was adopted while this service was stopped.
    Adopted(Pid),
    /// The service said it is ready (notify).
    Ready,
    /// `deadline()` has passed.
    Deadline,
    /// Supervisor shutdown; `force` kills at once.
    Shutdown {
        /// Kill at once.
        force: bool,
    },
    /// Reload changed the service.
    Replace(Arc<Policy>),
    /// Reload removed the service.
    Remove,
}

/// What the engine must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Take the service's lock without blocking; answer `LockBusy` if it is held.
    TakeLock,
    /// Spawn the process; answer `Spawned` or `SpawnFailed`.
    Spawn,
    /// Send a signal to the process (and its group if `group`).
    SendSignal {
        /// The process.
        pid: Pid,
        /// The signal.
        signal: i32,
        /// To the whole process group.
        group: bool,
    },
    /// Write the PID file.
    WritePidFile(Pid),
    /// Remove the PID file.
    RemovePidFile,
    /// Release (and remove) the lock.
    ReleaseLock,
    /// Switch the service to its new spec (a reload's replacement is now in force).
    UseNewSpec,
    /// The service is gone from the config: drop it.
    Forget,
    /// The state changed.
    Transitioned {
        /// From.
        from: StateName,
        /// To.
        to: StateName,
        /// Why, for the log and `status`.
        reason: String,
    },
}

/// The machine's answer to an operator's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Done or under way.
    Accepted,
    /// Start of a running service.
    AlreadyRunning,
    /// Stop of a stopped service.
    AlreadyStopped,
    /// Signal of a service with no process.
    NotRunning,
}

/// The actions of one `handle` call, and the reply to an operator's command.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    /// In order.
    pub actions: Vec<Action>,
    /// For `Start`, `Stop`, `Restart`, `Signal`.
    pub reply: Option<Reply>,
}

/// One service's machine.
#[derive(Debug, Clone)]
pub struct Machine {
    policy: Arc<Policy>,
    state: State,
    restarts: RestartWindow,
    lock_waits: u32,
    /// Restarts since the supervisor started (for `status`).
    pub restart_count: u64,
    /// The last exit, for `status`.
    pub last_exit: Option<ExitKind>,
}

mod lifecycle;
mod transitions;

impl Machine {
    /// A stopped service under `policy`.
    pub fn new(policy: Arc<Policy>) -> Machine {
        Machine {
            policy,
            state: State::Stopped,
            restarts: RestartWindow::default(),
            lock_waits: 0,
            restart_count: 0,
            last_exit: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The policy in force.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// When the machine next needs a `Deadline` event.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Starting {
                pid: Some(_),
                since,
                ..
            } => Some(*since + self.policy.start_secs),
            State::Backoff { until, .. } => Some(*until),
            State::Stopping {
                deadline,
                unkillable: false,
                ..
            } => Some(*deadline),
            _ => None,
        }
    }

    /// True when the service has nothing running and nothing pending (shutdown may finish).
    pub fn is_settled(&self) -> bool {
        matches!(
            self.state,
            State::Stopped | State::Exited { .. } | State::Fatal { .. }
        )
    }

    /// Feeds one event at time `now`.
    pub fn handle(&mut self, event: Event, now: Instant) -> Outcome {
        let mut out = Outcome::default();
        let from = self.state.name();
        let reason = self.step(event, now, &mut out);
        let to = self.state.name();
        if from != to || reason.is_some() {
            out.actions.push(Action::Transitioned {
                from,
                to,
                reason: reason.unwrap_or_default(),
            });
        }
        out
    }

    fn set(&mut self, state: State) {
        self.state = state;
    }

    fn kill_grace(&self) -> Duration {
        self.policy.kill_grace
    }
}

#[cfg(test)]
pub(crate) mod tests;
