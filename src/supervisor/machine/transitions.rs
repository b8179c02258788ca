//! The transition function: one small method per event. Each returns the reason for a
//! transition worth logging, or `None`.

use std::sync::Arc;
use std::time::Instant;

use super::{Action, AfterStop, BackoffReason, Event, Machine, Outcome, Reply, State, SIGKILL};
use crate::supervisor::policy::Policy;

impl Machine {
    pub(super) fn step(&mut self, event: Event, now: Instant, out: &mut Outcome) -> Option<String> {
        match event {
            Event::Start => self.on_start(now, out),
            Event::Stop => self.on_stop(now, AfterStop::Stay, out),
            Event::Restart => self.on_restart(now, out),
            Event::Signal(sig) => self.on_signal(sig, out),
            Event::LockBusy(holder) => self.on_lock_busy(holder, now),
            Event::Spawned(pid) => self.on_spawned(pid, now, out),
            Event::SpawnFailed { permanent, reason } => {
                self.on_spawn_failed(permanent, reason, now, out)
            }
            Event::Exited { pid, status } => self.on_exited(pid, status, now, out),
            Event::Adopted(pid) => self.on_adopted(pid, now),
            Event::Ready => self.on_ready(now),
            Event::Deadline => self.on_deadline(now, out),
            Event::Shutdown { force } => self.on_shutdown(force, now, out),
            Event::Replace(policy) => self.on_replace(policy, now, out),
            Event::Remove => self.on_remove(now, out),
        }
    }

    /// Begins a start attempt: take the lock, spawn.
    pub(super) fn begin_attempt(&mut self, attempt: u32, now: Instant, out: &mut Outcome) {
        self.set(State::Starting {
            pid: None,
            since: now,
            attempt,
        });
        out.actions.push(Action::TakeLock);
        out.actions.push(Action::Spawn);
    }

    fn on_start(&mut self, now: Instant, out: &mut Outcome) -> Option<String> {
        match &mut self.state {
            State::Starting { .. } | State::Running { .. } => {
                out.reply = Some(Reply::AlreadyRunning);
                None
            }
            State::Stopping { then, .. } => {
                if *then == AfterStop::Stay {
                    *then = AfterStop::Restart;
                }
                out.reply = Some(Reply::Accepted);
                None
            }
            State::Stopped | State::Exited { .. } | State::Fatal { .. } | State::Backoff { .. } => {
                self.restarts.clear();
                self.lock_waits = 0;
                self.begin_attempt(1, now, out);
                out.reply = Some(Reply::Accepted);
                Some("start requested".into())
            }
        }
    }

    pub(super) fn on_stop(
        &mut self,
        now: Instant,
        then: AfterStop,
        out: &mut Outcome,
    ) -> Option<String> {
        out.reply = Some(Reply::Accepted);
        match &mut self.state {
            State::Starting { pid, .. } => {
                let pid = *pid;
                self.begin_stop(pid, now, then, out);
                Some("stop requested".into())
            }
            State::Running { pid, .. } => {
                let pid = *pid;
                self.begin_stop(Some(pid), now, then, out);
                Some("stop requested".into())
            }
            State::Stopping { then: current, .. } => {
                if then != AfterStop::Stay || *current == AfterStop::Restart {
                    *current = then;
                }
                None
            }
            State::Backoff { .. } => self.settle_without_process(then, now, out),
            State::Stopped | State::Exited { .. } | State::Fatal { .. } => {
                if then == AfterStop::Stay {
                    out.reply = Some(Reply::AlreadyStopped);
                    return None;
                }
                self.settle_without_process(then, now, out)
            }
        }
    }

    /// A stop (or replace/remove) of a service with no process: apply `then` at once.
    pub(super) fn settle_without_process(
        &mut self,
        then: AfterStop,
        now: Instant,
        out: &mut Outcome,
    ) -> Option<String> {
        match then {
            AfterStop::Stay => self.set(State::Stopped),
            AfterStop::Restart => self.begin_attempt(1, now, out),
            AfterStop::Replace(policy) => {
                self.policy = policy;
                out.actions.push(Action::UseNewSpec);
            }
            AfterStop::Remove => out.actions.push(Action::Forget),
        }
        Some("stop requested".into())
    }

    /// Sends the stop signal (if the process exists yet) and starts the stop timeout.
    pub(super) fn begin_stop(
        &mut self,
        pid: Option<i32>,
        now: Instant,
        then: AfterStop,
        out: &mut Outcome,
    ) {
        if let Some(pid) = pid {
            out.actions.push(Action::SendSignal {
                pid,
                signal: self.policy.stop_signal,
                group: self.policy.kill_group,
            });
        }
        let deadline = now + self.policy.stop_timeout;
        self.set(State::Stopping {
            pid,
            deadline,
            killed: false,
            unkillable: false,
            then,
        });
    }

    fn on_restart(&mut self, now: Instant, out: &mut Outcome) -> Option<String> {
        match self.state {
            State::Starting { .. } | State::Running { .. } | State::Stopping { .. } => {
                self.on_stop(now, AfterStop::Restart, out)
            }
            _ => self.on_start(now, out),
        }
    }

    fn on_signal(&mut self, signal: i32, out: &mut Outcome) -> Option<String> {
        match self.state.pid() {
            Some(pid) => {
                out.actions.push(Action::SendSignal {
                    pid,
                    signal,
                    group: false,
                });
                out.reply = Some(Reply::Accepted);
            }
            None => out.reply = Some(Reply::NotRunning),
        }
        None
    }

    fn on_lock_busy(&mut self, holder: String, now: Instant) -> Option<String> {
        let State::Starting {
            pid: None, attempt, ..
        } = self.state
        else {
            return None;
        };
        self.lock_waits += 1;
        let waits = self.lock_waits;
        let until = now + self.policy.backoff.delay(waits);
        let reason = format!("lock {holder}");
        // Not a failed attempt: never a duplicate, and never FATAL for waiting on a lock.
        self.set(State::Backoff {
            until,
            attempt: attempt.saturating_sub(1),
            reason: BackoffReason::LockBusy { holder, waits },
        });
        Some(reason)
    }

    fn on_shutdown(&mut self, force: bool, now: Instant, out: &mut Outcome) -> Option<String> {
        if !force {
            let reason = self.on_stop(now, AfterStop::Stay, out);
            out.reply = None;
            return reason;
        }
        match self.state.clone() {
            State::Starting { pid, .. }
            | State::Stopping {
                pid, killed: false, ..
            } => self.force_kill(pid, now, out),
            State::Running { pid, .. } => self.force_kill(Some(pid), now, out),
            State::Backoff { .. } => {
                self.set(State::Stopped);
                Some("shutdown".into())
            }
            _ => None,
        }
    }

    fn force_kill(&mut self, pid: Option<i32>, now: Instant, out: &mut Outcome) -> Option<String> {
        self.kill_now(pid, AfterStop::Stay, now, out);
        Some("forced shutdown: sent SIGKILL".into())
    }

    /// SIGKILL (to the group, per policy) and wait `kill_grace` for the exit.
    pub(super) fn kill_now(
        &mut self,
        pid: Option<i32>,
        then: AfterStop,
        now: Instant,
        out: &mut Outcome,
    ) {
        if let Some(pid) = pid {
            out.actions.push(Action::SendSignal {
                pid,
                signal: SIGKILL,
                group: self.policy.kill_group,
            });
        }
        let deadline = now + self.kill_grace();
        self.set(State::Stopping {
            pid,
            deadline,
            killed: true,
            unkillable: false,
            then,
        });
    }

    fn on_replace(
        &mut self,
        policy: Arc<Policy>,
        now: Instant,
        out: &mut Outcome,
    ) -> Option<String> {
        if self.state.pid().is_none() && !matches!(self.state, State::Stopping { .. }) {
            // Nothing running: the new spec takes effect at once, the state stays.
            self.policy = policy;
            out.actions.push(Action::UseNewSpec);
            return Some("config changed".into());
        }
        let reason = self.on_stop(now, AfterStop::Replace(policy), out);
        out.reply = None;
        reason.map(|_| "config changed: restarting".into())
    }

    fn on_remove(&mut self, now: Instant, out: &mut Outcome) -> Option<String> {
        let reason = self.on_stop(now, AfterStop::Remove, out);
        out.reply = None;
        reason.map(|_| "removed from config".into())
    }
}
