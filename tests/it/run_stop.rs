//! `pidward run` stopping services at shutdown: SIGKILL after `stop_timeout` for a process that
//! ignores its stop signal, `kill_group` reaching the whole process group, and a lock kept by a
//! leftover process released once it exits, without delaying the shutdown.

use std::time::{Duration, Instant};

use crate::common::supervisor::{group_members, Supervisor};
use crate::common::{alive, wait_until, PATIENCE};

#[test]
fn a_process_ignoring_sigterm_is_killed_after_stop_timeout() {
    let mut sup = Supervisor::start(
        r#"
[services.stubborn]
command = "trap '' TERM; while :; do sleep 0.1; done"
start_secs = "200ms"
stop_timeout = "500ms"
"#,
    );
    sup.wait_state_in_log("stubborn", "RUNNING");
    let pid = sup.wait_pid("stubborn");
    let began = Instant::now();
    let status = sup.terminate();
    let took = began.elapsed();
    assert_eq!(status.code(), Some(0), "{}", sup.log());
    assert!(
        took >= Duration::from_millis(500),
        "stopped after {took:?}, before stop_timeout: SIGTERM is ignored"
    );
    assert!(!alive(pid), "PID {pid} survived the shutdown");
    let killed = sup
        .transitions("stubborn")
        .into_iter()
        .find(|t| t.reason.contains("stop timeout: sent SIGKILL"));
    assert!(killed.is_some(), "{}", sup.log());
    assert!(!sup.pidfile("stubborn").exists() && !sup.lockfile("stubborn").exists());
}

#[test]
fn kill_group_kills_the_grandchildren_at_shutdown() {
    let mut sup = Supervisor::start(
        r#"
[services.family]
command = "sleep 1000 & sleep 1000 & wait"
start_secs = "200ms"
"#,
    );
    sup.wait_state_in_log("family", "RUNNING");
    let pid = sup.wait_pid("family");
    // The shell (the group leader) and its two sleeps.
    assert!(
        wait_until(PATIENCE, || group_members(pid).len() == 3),
        "group {pid}: {:?}",
        group_members(pid)
    );
    let kids: Vec<i32> = group_members(pid)
        .into_iter()
        .filter(|p| *p != pid)
        .collect();
    for kid in &kids {
        sup.track(*kid);
    }
    let began = Instant::now();
    let status = sup.terminate();
    let took = began.elapsed();
    assert_eq!(status.code(), Some(0), "{}", sup.log());
    assert!(
        wait_until(Duration::from_secs(5), || kids.iter().all(|k| !alive(*k))),
        "grandchildren still alive: {:?}",
        kids.iter().filter(|k| alive(**k)).collect::<Vec<_>>()
    );
    assert!(!alive(pid));
    // SIGTERM reaches the whole group at once: no reason to wait for anything.
    assert!(
        took < Duration::from_secs(5),
        "shutdown took {took:?}:\n{}",
        sup.log()
    );
    assert!(
        sup.runtime_entries().is_empty(),
        "{:?}",
        sup.runtime_entries()
    );
}

#[test]
fn a_lock_kept_by_a_leftover_process_is_released_when_it_exits_and_shutdown_does_not_wait() {
    let mut sup = Supervisor::start(
        r#"
[services.leftover]
command = "sleep 1 & exit 0"
restart = "never"
start_secs = "0s"
"#,
    );
    sup.wait_state_in_log("leftover", "EXITED");
    let sleeper = sup
        .procs()
        .into_iter()
        .find(|p| p.argv == ["sleep", "1"])
        .map(|p| p.pid);
    if let Some(pid) = sleeper {
        sup.track(pid);
        assert!(wait_until(PATIENCE, || !alive(pid)));
    }
    // The supervisor reaps the leftover (it is the subreaper) and then releases the lock.
    assert!(
        wait_until(PATIENCE, || !sup.lockfile("leftover").exists()),
        "lock file kept after its last holder exited:\n{}",
        sup.log()
    );
    let began = Instant::now();
    let status = sup.terminate();
    let took = began.elapsed();
    assert_eq!(status.code(), Some(0), "{}", sup.log());
    assert!(
        took < Duration::from_secs(5),
        "shutdown waited {took:?} for a lock that was already released:\n{}",
        sup.log()
    );
    assert!(
        sup.runtime_entries().is_empty(),
        "{:?}",
        sup.runtime_entries()
    );
}
