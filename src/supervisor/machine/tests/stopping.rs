//! Stopping, replies, locks, shutdown, adoption, and the state × event invariants.

use std::sync::Arc;
use std::time::Duration;

use super::{policy, spawns, Rig, KILL, TERM};
use crate::supervisor::machine::*;
use crate::supervisor::policy::{ExitKind, Policy};

#[test]
fn stop_escalates_to_sigkill_after_stop_timeout_then_calls_it_unkillable() {
    let mut r = Rig::new(policy());
    r.start(5);
    r.at(1.0).ev(Event::Deadline);
    let out = r.at(2.0).ev(Event::Stop);
    assert_eq!(out.reply, Some(Reply::Accepted));
    assert!(out.actions.contains(&Action::SendSignal {
        pid: 5,
        signal: TERM,
        group: true
    }));
    assert_eq!(r.m.deadline(), Some(r.t0 + Duration::from_secs(12)));
    let out = r.at(12.0).ev(Event::Deadline);
    assert!(out.actions.contains(&Action::SendSignal {
        pid: 5,
        signal: KILL,
        group: true
    }));
    assert_eq!(r.m.deadline(), Some(r.t0 + Duration::from_secs(17)));
    r.at(17.0).ev(Event::Deadline);
    assert!(matches!(
        r.m.state(),
        State::Stopping {
            unkillable: true,
            ..
        }
    ));
    assert_eq!(
        r.m.deadline(),
        None,
        "no busy loop on an unkillable process"
    );
    let out = r.at(30.0).exit(5, 0);
    assert_eq!(r.name(), StateName::Stopped);
    assert!(!spawns(&out), "a stop pidward asked for is never a failure");
    assert!(out.actions.contains(&Action::RemovePidFile));
}

#[test]
fn stop_while_the_spawn_is_in_flight_signals_once_spawned() {
    let mut r = Rig::new(policy());
    r.ev(Event::Start);
    let out = r.ev(Event::Stop);
    assert!(out
        .actions
        .iter()
        .all(|a| !matches!(a, Action::SendSignal { .. })));
    let out = r.ev(Event::Spawned(9));
    assert!(out.actions.contains(&Action::SendSignal {
        pid: 9,
        signal: TERM,
        group: true
    }));
    r.exit(9, 0);
    assert_eq!(r.name(), StateName::Stopped);
}

#[test]
fn restart_and_replace_start_again_after_the_exit() {
    let mut r = Rig::new(policy());
    r.start(3);
    r.ev(Event::Restart);
    assert_eq!(r.name(), StateName::Stopping);
    let out = r.exit(3, 143);
    assert!(spawns(&out));
    assert_eq!(r.m.restart_count, 1);
    let newer = Arc::new(Policy {
        stop_timeout: Duration::from_secs(1),
        ..policy()
    });
    r.ev(Event::Spawned(4));
    r.ev(Event::Replace(Arc::clone(&newer)));
    let out = r.exit(4, 0);
    assert_eq!(
        out.actions
            .iter()
            .position(|a| *a == Action::UseNewSpec)
            .map(|i| i < 3),
        Some(true)
    );
    assert!(spawns(&out));
    assert_eq!(r.m.policy(), &newer);
}

#[test]
fn replace_and_remove_of_a_stopped_service_act_at_once() {
    let mut r = Rig::new(policy());
    let out = r.ev(Event::Replace(Arc::new(policy())));
    assert_eq!(out.actions.first(), Some(&Action::UseNewSpec));
    assert_eq!(r.name(), StateName::Stopped);
    assert!(r.ev(Event::Remove).actions.contains(&Action::Forget));
    let mut r = Rig::new(policy());
    r.start(2);
    r.ev(Event::Remove);
    assert!(r.exit(2, 0).actions.contains(&Action::Forget));
}

#[test]
fn operator_replies() {
    let mut r = Rig::new(policy());
    assert_eq!(r.ev(Event::Stop).reply, Some(Reply::AlreadyStopped));
    assert_eq!(r.ev(Event::Signal(1)).reply, Some(Reply::NotRunning));
    r.start(8);
    assert_eq!(r.ev(Event::Start).reply, Some(Reply::AlreadyRunning));
    let out = r.ev(Event::Signal(1));
    assert!(out.actions.contains(&Action::SendSignal {
        pid: 8,
        signal: 1,
        group: false
    }));
    r.ev(Event::Stop);
    assert_eq!(r.ev(Event::Start).reply, Some(Reply::Accepted));
    assert!(
        spawns(&r.exit(8, 0)),
        "start during STOPPING starts again after the exit"
    );
}

#[test]
fn stale_exit_events_are_ignored() {
    let mut r = Rig::new(policy());
    r.start(20);
    let out = r.exit(999, 1);
    assert!(out.actions.is_empty());
    assert_eq!(r.name(), StateName::Starting);
}

#[test]
fn a_busy_lock_waits_in_backoff_without_using_up_attempts() {
    let mut r = Rig::new(Policy {
        start_retries: 0,
        ..policy()
    });
    for i in 0..10 {
        r.ev(Event::Start);
        let out = r.ev(Event::LockBusy("PID 42 (grandchild)".into()));
        let State::Backoff {
            reason: BackoffReason::LockBusy { waits, .. },
            until,
            ..
        } = r.m.state().clone()
        else {
            panic!("{:?}", r.m.state())
        };
        assert_eq!(
            waits, 1,
            "an operator start resets nothing but the attempt: {i}"
        );
        assert!(out.actions.iter().any(
            |a| matches!(a, Action::Transitioned { reason, .. } if reason.contains("PID 42"))
        ));
        let out = r.at((until - r.t0).as_secs_f64()).ev(Event::Deadline);
        assert!(out.actions.starts_with(&[Action::TakeLock, Action::Spawn]));
        r.ev(Event::LockBusy("PID 42".into()));
        assert_eq!(
            r.name(),
            StateName::Backoff,
            "never FATAL while waiting for a lock"
        );
        r.ev(Event::Stop);
    }
}

#[test]
fn shutdown_stops_gracefully_or_kills_at_once_when_forced() {
    let mut r = Rig::new(policy());
    r.start(30);
    let out = r.ev(Event::Shutdown { force: false });
    assert!(out.actions.contains(&Action::SendSignal {
        pid: 30,
        signal: TERM,
        group: true
    }));
    assert_eq!(out.reply, None);
    let out = r.ev(Event::Shutdown { force: true });
    assert!(out.actions.contains(&Action::SendSignal {
        pid: 30,
        signal: KILL,
        group: true
    }));
    r.exit(30, 137);
    assert!(r.m.is_settled());
    let mut r = Rig::new(policy());
    r.ev(Event::Start);
    r.ev(Event::SpawnFailed {
        permanent: false,
        reason: "x".into(),
    });
    r.ev(Event::Shutdown { force: false });
    assert_eq!(r.name(), StateName::Stopped);
}

#[test]
fn adoption_only_into_a_settled_machine() {
    let mut r = Rig::new(policy());
    r.ev(Event::Adopted(77));
    assert_eq!(
        r.m.state(),
        &State::Running {
            pid: 77,
            since: r.now,
            adopted: true
        }
    );
    r.ev(Event::Exited {
        pid: 77,
        status: ExitKind::Unknown,
    });
    assert_eq!(
        r.name(),
        StateName::Starting,
        "an adopted exit is a failure for the policy"
    );
    r.ev(Event::Adopted(78));
    assert_eq!(
        r.m.state().pid(),
        None,
        "no adoption over a start in flight"
    );
}

/// Every state × every event: never a panic, at most one live PID, BACKOFF and (not
/// unkillable) STOPPING always have a deadline, and WritePidFile only follows Spawned.
#[test]
fn every_state_and_event_keeps_the_invariants() {
    let events = || {
        vec![
            Event::Start,
            Event::Stop,
            Event::Restart,
            Event::Signal(1),
            Event::LockBusy("x".into()),
            Event::Spawned(50),
            Event::SpawnFailed {
                permanent: false,
                reason: "x".into(),
            },
            Event::SpawnFailed {
                permanent: true,
                reason: "x".into(),
            },
            Event::Exited {
                pid: 40,
                status: ExitKind::Exited(1),
            },
            Event::Adopted(60),
            Event::Ready,
            Event::Deadline,
            Event::Shutdown { force: false },
            Event::Shutdown { force: true },
            Event::Replace(Arc::new(policy())),
            Event::Remove,
        ]
    };
    // Reach each state by a short script, then apply every event.
    let scripts: Vec<Vec<Event>> = vec![
        vec![],
        vec![Event::Start],
        vec![Event::Start, Event::Spawned(40)],
        vec![Event::Start, Event::Spawned(40), Event::Ready],
        vec![
            Event::Start,
            Event::Spawned(40),
            Event::Exited {
                pid: 40,
                status: ExitKind::Exited(1),
            },
        ],
        vec![Event::Start, Event::Spawned(40), Event::Stop],
        vec![
            Event::Start,
            Event::SpawnFailed {
                permanent: true,
                reason: "x".into(),
            },
        ],
        vec![Event::Adopted(40)],
    ];
    for script in scripts {
        for event in events() {
            let mut r = Rig::new(policy());
            for e in script.clone() {
                r.ev(e);
            }
            let before = r.m.state().clone();
            let spawned = matches!(event, Event::Spawned(_));
            let out = r.at(100.0).ev(event.clone());
            let state = r.m.state();
            if matches!(
                state,
                State::Backoff { .. }
                    | State::Stopping {
                        unkillable: false,
                        ..
                    }
            ) {
                assert!(
                    r.m.deadline().is_some(),
                    "{before:?} + {event:?} → {state:?}"
                );
            }
            if out
                .actions
                .iter()
                .any(|a| matches!(a, Action::WritePidFile(_)))
            {
                assert!(spawned, "{before:?} + {event:?} wrote a PID file");
            }
            let spawns = out.actions.iter().filter(|a| **a == Action::Spawn).count();
            assert!(
                spawns <= 1 && (spawns == 0 || state.pid().is_none()),
                "{before:?} + {event:?}"
            );
        }
    }
}
