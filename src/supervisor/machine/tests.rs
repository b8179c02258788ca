//! Scenario and table tests of the state machine with a fake clock: time is `Instant`
//! arithmetic, events are scripted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::supervisor::policy::{BackoffSpec, ExitKind, Policy, RestartLimit, RestartMode};

const TERM: i32 = 15;
const KILL: i32 = 9;

pub(crate) fn policy() -> Policy {
    Policy {
        restart: RestartMode::Always,
        start_secs: Duration::from_secs(1),
        start_retries: 3,
        backoff: BackoffSpec {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(4),
            factor: 2.0,
        },
        restart_limit: RestartLimit {
            burst: 3,
            interval: Duration::from_secs(60),
        },
        success_exit_codes: vec![0],
        stop_signal: TERM,
        stop_timeout: Duration::from_secs(10),
        kill_group: true,
        kill_grace: Duration::from_secs(5),
    }
}

/// A machine and a fake clock.
struct Rig {
    m: Machine,
    t0: Instant,
    now: Instant,
}

impl Rig {
    fn new(p: Policy) -> Rig {
        let t0 = Instant::now();
        Rig {
            m: Machine::new(Arc::new(p)),
            t0,
            now: t0,
        }
    }
    fn at(&mut self, secs: f64) -> &mut Rig {
        self.now = self.t0 + Duration::from_secs_f64(secs);
        self
    }
    fn ev(&mut self, e: Event) -> Outcome {
        self.m.handle(e, self.now)
    }
    fn name(&self) -> StateName {
        self.m.state().name()
    }
    /// Starts and confirms a spawn of `pid`.
    fn start(&mut self, pid: Pid) {
        let out = self.ev(Event::Start);
        assert!(
            out.actions.starts_with(&[Action::TakeLock, Action::Spawn]),
            "{out:?}"
        );
        let out = self.ev(Event::Spawned(pid));
        assert!(out.actions.contains(&Action::WritePidFile(pid)));
    }
    fn exit(&mut self, pid: Pid, code: i32) -> Outcome {
        self.ev(Event::Exited {
            pid,
            status: ExitKind::Exited(code),
        })
    }
}

fn spawns(out: &Outcome) -> bool {
    out.actions.contains(&Action::Spawn)
}

#[test]
fn start_counts_as_running_after_start_secs() {
    let mut r = Rig::new(policy());
    r.start(100);
    assert_eq!(r.name(), StateName::Starting);
    assert_eq!(r.m.deadline(), Some(r.t0 + Duration::from_secs(1)));
    r.at(0.5).ev(Event::Deadline);
    assert_eq!(
        r.name(),
        StateName::Starting,
        "a deadline event before the deadline is ignored"
    );
    r.at(1.0).ev(Event::Deadline);
    assert_eq!(
        r.m.state(),
        &State::Running {
            pid: 100,
            since: r.now,
            adopted: false
        }
    );
    assert_eq!(
        r.m.deadline(),
        None,
        "idle RUNNING has no deadline: zero wake-ups"
    );
}

#[test]
fn zero_start_secs_runs_at_spawn_and_ready_also_counts() {
    let mut r = Rig::new(Policy {
        start_secs: Duration::ZERO,
        ..policy()
    });
    r.start(1);
    assert_eq!(r.name(), StateName::Running);
    let mut r = Rig::new(policy());
    r.start(1);
    r.at(0.1).ev(Event::Ready);
    assert_eq!(r.name(), StateName::Running);
}

#[test]
fn failed_starts_back_off_growing_then_fatal_after_retries() {
    let mut r = Rig::new(policy()); // 1 + 3 attempts, backoff 1, 2, 4 (cap 4)
    let mut t = 0.0;
    let mut delays = Vec::new();
    r.start(10);
    for attempt in 1..=4 {
        let out = r.at(t + 0.2).exit(10 + attempt - 1, 1);
        assert!(
            out.actions.contains(&Action::RemovePidFile)
                && out.actions.contains(&Action::ReleaseLock)
        );
        if attempt == 4 {
            break;
        }
        assert_eq!(r.name(), StateName::Backoff);
        let until = r.m.deadline().expect("backoff deadline");
        delays.push((until - r.now).as_secs());
        t = (until - r.t0).as_secs_f64();
        let out = r.at(t).ev(Event::Deadline);
        assert!(spawns(&out));
        r.ev(Event::Spawned(10 + attempt));
    }
    assert_eq!(delays, vec![1, 2, 4]);
    let State::Fatal { reason, .. } = r.m.state() else {
        panic!("{:?}", r.m.state())
    };
    assert!(reason.contains("4 start attempts"), "{reason}");
    assert_eq!(r.m.deadline(), None);
    // Nothing leaves FATAL but Start.
    for e in [
        Event::Deadline,
        Event::Stop,
        Event::Exited {
            pid: 13,
            status: ExitKind::Exited(0),
        },
    ] {
        r.ev(e);
        assert_eq!(r.name(), StateName::Fatal);
    }
    assert!(spawns(&r.ev(Event::Start)));
}

#[test]
fn a_permanent_spawn_failure_is_fatal_at_once() {
    let mut r = Rig::new(policy());
    r.ev(Event::Start);
    let out = r.ev(Event::SpawnFailed {
        permanent: true,
        reason: "not found".into(),
    });
    assert_eq!(r.name(), StateName::Fatal);
    assert!(out.actions.contains(&Action::ReleaseLock));
    let mut r = Rig::new(policy());
    r.ev(Event::Start);
    r.ev(Event::SpawnFailed {
        permanent: false,
        reason: "EAGAIN".into(),
    });
    assert_eq!(r.name(), StateName::Backoff);
}

#[test]
fn running_exit_restarts_at_once_by_policy() {
    let cases = [
        (RestartMode::Always, 0, StateName::Starting),
        (RestartMode::OnFailure, 0, StateName::Exited),
        (RestartMode::OnFailure, 2, StateName::Starting),
        (RestartMode::Never, 2, StateName::Exited),
    ];
    for (mode, code, want) in cases {
        let mut r = Rig::new(Policy {
            restart: mode,
            ..policy()
        });
        r.start(7);
        r.at(1.0).ev(Event::Deadline);
        let out = r.at(5.0).exit(7, code);
        assert_eq!(r.name(), want, "{mode:?} exit {code}");
        assert_eq!(spawns(&out), want == StateName::Starting);
        assert_eq!(r.m.last_exit, Some(ExitKind::Exited(code)));
    }
}

#[test]
fn a_service_that_outlives_start_secs_but_keeps_dying_hits_the_restart_limit() {
    let mut r = Rig::new(policy()); // burst 3 in 60 s
    let mut t = 0.0;
    let mut pid = 1;
    r.start(pid);
    for restart in 1..=4 {
        t += 1.0;
        r.at(t).ev(Event::Deadline);
        assert_eq!(r.name(), StateName::Running);
        t += 0.1;
        r.at(t).exit(pid, 1);
        if restart <= 3 {
            assert_eq!(r.name(), StateName::Starting, "restart {restart}");
            pid += 1;
            r.ev(Event::Spawned(pid));
        }
    }
    let State::Fatal { reason, .. } = r.m.state() else {
        panic!("{:?}", r.m.state())
    };
    assert!(reason.contains("restart limit"), "{reason}");
    assert_eq!(r.m.restart_count, 3);
}

mod stopping;
