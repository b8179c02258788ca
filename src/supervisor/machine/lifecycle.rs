//! Transitions driven by the process's life: spawn results, exits, deadlines, adoption.

use std::time::Instant;

use super::{Action, AfterStop, BackoffReason, Machine, Outcome, State};
use crate::supervisor::policy::ExitKind;

impl Machine {
    pub(super) fn on_spawned(
        &mut self,
        new_pid: i32,
        now: Instant,
        out: &mut Outcome,
    ) -> Option<String> {
        match &mut self.state {
            State::Starting {
                pid: pid @ None,
                since,
                ..
            } => {
                self.lock_waits = 0;
                *pid = Some(new_pid);
                *since = now;
                out.actions.push(Action::WritePidFile(new_pid));
                if self.policy.start_secs.is_zero() {
                    self.set(State::Running {
                        pid: new_pid,
                        since: now,
                        adopted: false,
                    });
                    return Some(format!("PID {new_pid} started"));
                }
                None
            }
            State::Stopping {
                pid: pid @ None, ..
            } => {
                // Stopped while the spawn was in flight: the signal goes out now.
                *pid = Some(new_pid);
                out.actions.push(Action::WritePidFile(new_pid));
                out.actions.push(Action::SendSignal {
                    pid: new_pid,
                    signal: self.policy.stop_signal,
                    group: self.policy.kill_group,
                });
                None
            }
            _ => None,
        }
    }

    pub(super) fn on_spawn_failed(
        &mut self,
        permanent: bool,
        reason: String,
        now: Instant,
        out: &mut Outcome,
    ) -> Option<String> {
        match self.state {
            State::Starting {
                pid: None, attempt, ..
            } => {
                out.actions.push(Action::ReleaseLock);
                if permanent {
                    self.set(State::Fatal {
                        reason: reason.clone(),
                        at: now,
                    });
                    return Some(reason);
                }
                self.failed_attempt(attempt, reason, now)
            }
            State::Stopping { pid: None, .. } => {
                out.actions.push(Action::ReleaseLock);
                let then = self.take_then();
                self.finish_stop(then, now, out)
            }
            _ => None,
        }
    }

    /// A start attempt failed: BACKOFF, or FATAL once every attempt is used.
    pub(super) fn failed_attempt(
        &mut self,
        attempt: u32,
        why: String,
        now: Instant,
    ) -> Option<String> {
        if attempt >= self.policy.max_attempts() {
            let reason = format!("{why}; gave up after {attempt} start attempts");
            self.set(State::Fatal {
                reason: reason.clone(),
                at: now,
            });
            return Some(reason);
        }
        let until = now + self.policy.backoff.delay(attempt);
        self.set(State::Backoff {
            until,
            attempt,
            reason: BackoffReason::Failed(why.clone()),
        });
        Some(why)
    }

    pub(super) fn on_exited(
        &mut self,
        exited: i32,
        status: ExitKind,
        now: Instant,
        out: &mut Outcome,
    ) -> Option<String> {
        if self.state.pid() != Some(exited) {
            return None; // a stale event: not our process
        }
        self.last_exit = Some(status);
        out.actions.push(Action::RemovePidFile);
        out.actions.push(Action::ReleaseLock);
        match self.state {
            State::Starting { attempt, .. } => {
                self.failed_attempt(attempt, format!("exited too quickly ({status})"), now)
            }
            State::Running { .. } => self.after_run(status, now, out),
            State::Stopping { .. } => {
                let then = self.take_then();
                self.finish_stop(then, now, out)
            }
            _ => None,
        }
    }

    /// A started service ended on its own: restart (rate-limited) or settle.
    pub(super) fn after_run(
        &mut self,
        status: ExitKind,
        now: Instant,
        out: &mut Outcome,
    ) -> Option<String> {
        if !self.policy.should_restart(status) {
            self.set(State::Exited { status, at: now });
            return Some(status.to_string());
        }
        let limit = self.policy.restart_limit;
        if !self.restarts.admit(now, limit) {
            let reason = format!(
                "{status}; restarted more than {} times within {:?}: restart limit reached",
                limit.burst, limit.interval
            );
            self.set(State::Fatal {
                reason: reason.clone(),
                at: now,
            });
            return Some(reason);
        }
        self.restart_count += 1;
        self.begin_attempt(1, now, out);
        Some(format!("{status}; restarting"))
    }

    pub(super) fn take_then(&mut self) -> AfterStop {
        match &mut self.state {
            State::Stopping { then, .. } => std::mem::replace(then, AfterStop::Stay),
            _ => AfterStop::Stay,
        }
    }

    /// The stopping process is gone: apply `then`.
    pub(super) fn finish_stop(
        &mut self,
        then: AfterStop,
        now: Instant,
        out: &mut Outcome,
    ) -> Option<String> {
        match then {
            AfterStop::Stay => self.set(State::Stopped),
            AfterStop::Restart => {
                self.restart_count += 1;
                self.begin_attempt(1, now, out);
            }
            AfterStop::Replace(policy) => {
                self.policy = policy;
                out.actions.push(Action::UseNewSpec);
                self.begin_attempt(1, now, out);
            }
            AfterStop::Remove => {
                self.set(State::Stopped);
                out.actions.push(Action::Forget);
            }
        }
        Some("stopped".into())
    }

    pub(super) fn on_adopted(&mut self, pid: i32, now: Instant) -> Option<String> {
        if !self.is_settled() {
            return None;
        }
        self.set(State::Running {
            pid,
            since: now,
            adopted: true,
        });
        Some(format!("adopted PID {pid} left by a previous supervisor"))
    }

    pub(super) fn on_ready(&mut self, now: Instant) -> Option<String> {
        let State::Starting { pid: Some(pid), .. } = self.state else {
            return None;
        };
        self.set(State::Running {
            pid,
            since: now,
            adopted: false,
        });
        Some(format!("PID {pid} ready"))
    }

    pub(super) fn on_deadline(&mut self, now: Instant, out: &mut Outcome) -> Option<String> {
        if self.deadline().is_none_or(|d| d > now) {
            return None;
        }
        match self.state.clone() {
            State::Starting { pid: Some(pid), .. } => {
                self.set(State::Running {
                    pid,
                    since: now,
                    adopted: false,
                });
                Some(format!("PID {pid} up for {:?}", self.policy.start_secs))
            }
            State::Backoff { attempt, .. } => {
                self.begin_attempt(attempt + 1, now, out);
                None
            }
            State::Stopping {
                pid,
                killed: false,
                then,
                ..
            } => {
                self.kill_now(pid, then, now, out);
                Some("stop timeout: sent SIGKILL".into())
            }
            State::Stopping {
                pid,
                killed: true,
                then,
                deadline,
                ..
            } => {
                self.set(State::Stopping {
                    pid,
                    deadline,
                    killed: true,
                    unkillable: true,
                    then,
                });
                Some(format!(
                    "PID {} survived SIGKILL (unkillable, stuck in the kernel?)",
                    pid.unwrap_or(0)
                ))
            }
            _ => None,
        }
    }
}
