//! The transition function: one small method per event. Each returns the reason for a
//! transition worth logging, or `None`.

use std::sync::Arc;
use std::time::Instant;

use super::{Action, AfterStop, BackoffReason, Event, Machine, Outcome, Reply, State};
use crate::supervisor::policy::{ExitKind, Policy};

/// SIGKILL's number (the machine stays free of `nix`).
const SIGKILL: i32 = 9;

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
    fn begin_attempt(&mut self, attempt: u32, now: Instant, out: &mut Outcome) {
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

    fn on_stop(&mut self, now: Instant, then: AfterStop, out: &mut Outcome) -> Option<String> {
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
    fn settle_without_process(
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
    fn begin_stop(&mut self, pid: Option<i32>, now: Instant, then: AfterStop, out: &mut Outcome) {
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
        let reason = format!("lock held by {holder}");
        // Not a failed attempt: never a duplicate, and never FATAL for waiting on a lock.
        self.set(State::Backoff {
            until,
            attempt: attempt.saturating_sub(1),
            reason: BackoffReason::LockBusy { holder, waits },
        });
        Some(reason)
    }

    fn on_spawned(&mut self, new_pid: i32, now: Instant, out: &mut Outcome) -> Option<String> {
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

    fn on_spawn_failed(
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
    fn failed_attempt(&mut self, attempt: u32, why: String, now: Instant) -> Option<String> {
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

    fn on_exited(
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
    fn after_run(&mut self, status: ExitKind, now: Instant, out: &mut Outcome) -> Option<String> {
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

    fn take_then(&mut self) -> AfterStop {
        match &mut self.state {
            State::Stopping { then, .. } => std::mem::replace(then, AfterStop::Stay),
            _ => AfterStop::Stay,
        }
    }

    /// The stopping process is gone: apply `then`.
    fn finish_stop(&mut self, then: AfterStop, now: Instant, out: &mut Outcome) -> Option<String> {
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

    fn on_adopted(&mut self, pid: i32, now: Instant) -> Option<String> {
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

    fn on_ready(&mut self, now: Instant) -> Option<String> {
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

    fn on_deadline(&mut self, now: Instant, out: &mut Outcome) -> Option<String> {
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
            then: AfterStop::Stay,
        });
        Some("forced shutdown: sent SIGKILL".into())
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
