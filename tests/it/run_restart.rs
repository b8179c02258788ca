//! `pidward run` restarting services: backoff between failed starts and FATAL after the
//! retries, the restart-rate limit for services that keep dying after they started, and a
//! grandchild holding the lock keeping a second copy from starting.

use std::time::Duration;

use crate::common::supervisor::Supervisor;
use crate::common::{alive, wait_until, PATIENCE};

/// The lines of a file in the temp dir (none if it does not exist yet).
fn lines(sup: &Supervisor, file: &str) -> Vec<String> {
    std::fs::read_to_string(sup.path(file))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_crashing_service_backs_off_longer_each_time_then_goes_fatal() {
    let sup = Supervisor::start(
        r#"
[services.crash]
command = "date +%s%N >> starts; exit 3"
start_secs = "300ms"
start_retries = 2
backoff = { initial = "100ms", max = "1s", factor = 2.0 }
"#,
    );
    let fatal = sup.wait_state_in_log("crash", "FATAL");
    assert!(
        fatal.reason.contains("exited too quickly (exit status 3)")
            && fatal.reason.contains("gave up after 3 start attempts"),
        "{fatal:?}"
    );
    // The first attempt and two retries, with BACKOFF between them, then nothing more.
    let states: Vec<String> = sup.transitions("crash").into_iter().map(|t| t.to).collect();
    assert_eq!(
        states,
        ["STARTING", "BACKOFF", "STARTING", "BACKOFF", "STARTING", "FATAL"],
        "{}",
        sup.log()
    );
    let starts: Vec<u128> = lines(&sup, "starts")
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(starts.len(), 3, "{starts:?}");
    let gap = |i: usize| Duration::from_nanos((starts[i + 1] - starts[i]) as u64);
    assert!(
        gap(0) >= Duration::from_millis(100),
        "first backoff {:?}",
        gap(0)
    );
    assert!(
        gap(1) >= Duration::from_millis(200),
        "second backoff {:?} (factor 2)",
        gap(1)
    );
    assert!(!sup.pidfile("crash").exists(), "PID file left after FATAL");
    assert!(
        !sup.lockfile("crash").exists(),
        "lock file left after FATAL"
    );
}

#[test]
fn a_service_that_dies_right_after_start_secs_ends_fatal_by_restart_limit() {
    let sup = Supervisor::start(
        r#"
[services.flappy]
command = "echo run >> runs; sleep 0.3; exit 1"
start_secs = "200ms"
restart_limit = { burst = 3, interval = "60s" }
"#,
    );
    let fatal = sup.wait_state_in_log("flappy", "FATAL");
    assert!(fatal.reason.contains("restart limit"), "{fatal:?}");
    // Every run counted as started (no BACKOFF): the first run and 3 restarts.
    assert_eq!(lines(&sup, "runs").len(), 4, "{}", sup.log());
    assert_eq!(sup.state_count("flappy", "RUNNING"), 4, "{}", sup.log());
    assert_eq!(sup.state_count("flappy", "BACKOFF"), 0, "{}", sup.log());
    assert!(!sup.pidfile("flappy").exists());
}

#[test]
fn a_grandchild_holding_the_lock_keeps_the_service_from_starting_twice() {
    // The main process exits at once; `sleep` inherits the lock descriptor (PIDWARD_LOCK_FD).
    let mut sup = Supervisor::start(
        r#"
[services.leaky]
command = "echo run >> runs; sleep 1.5 & exit 1"
restart = "always"
start_secs = "0s"
backoff = { initial = "100ms", max = "300ms", factor = 2.0 }
"#,
    );
    let sleepers = |sup: &Supervisor| {
        sup.procs()
            .into_iter()
            .filter(|p| p.argv == ["sleep", "1.5"])
            .map(|p| p.pid)
            .collect::<Vec<_>>()
    };
    assert!(wait_until(PATIENCE, || sleepers(&sup).len() == 1));
    let grandchild = sleepers(&sup)[0];
    sup.track(grandchild);
    let busy = sup.wait_state_in_log("leaky", "BACKOFF");
    assert!(busy.reason.starts_with("lock held by"), "{busy:?}");
    assert!(
        sup.lockfile("leaky").exists(),
        "the held lock file must stay"
    );
    assert!(
        !sup.pidfile("leaky").exists(),
        "the exited main process's PID file stays"
    );

    // While the grandchild lives: one run only, never two sleepers.
    while alive(grandchild) {
        let runs = lines(&sup, "runs").len();
        let count = sleepers(&sup).len();
        // Read before checking `alive`, so a start seen here happened while it lived.
        if alive(grandchild) {
            assert_eq!(runs, 1, "started again while the grandchild held the lock");
            assert!(count <= 1, "two copies at once: {:?}", sup.procs());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        sup.state_count("leaky", "BACKOFF") >= 2,
        "it kept waiting for the lock:\n{}",
        sup.log()
    );
    // Once it is gone, the service starts again.
    assert!(
        wait_until(PATIENCE, || lines(&sup, "runs").len() >= 2),
        "never restarted after the lock freed:\n{}",
        sup.log()
    );
    assert!(sleepers(&sup).len() <= 1, "{:?}", sup.procs());
    for t in sup.transitions("leaky") {
        assert_ne!(t.to, "FATAL", "waiting on a lock is never FATAL: {t:?}");
    }
    // At shutdown the leftover holding the lock is stopped too, and the lock file goes.
    let status = sup.terminate();
    assert_eq!(status.code(), Some(0), "{}", sup.log());
    assert!(
        wait_until(Duration::from_secs(5), || sleepers(&sup).is_empty()),
        "{:?}",
        sup.procs()
    );
    assert!(
        sup.runtime_entries().is_empty(),
        "{:?}",
        sup.runtime_entries()
    );
}

#[test]
fn every_state_change_is_logged_even_when_the_lock_is_busy() {
    let sup = Supervisor::start(
        r#"
[services.leaky]
command = "echo run >> runs; sleep 0.5 & exit 1"
start_secs = "0s"
backoff = { initial = "100ms", max = "100ms", factor = 1.0 }
"#,
    );
    assert!(
        wait_until(PATIENCE, || lines(&sup, "runs").len() >= 2),
        "{}",
        sup.log()
    );
    sup.wait_state_count("leaky", "RUNNING", 2);
    let transitions = sup.transitions("leaky");
    for pair in transitions.windows(2) {
        assert_eq!(
            pair[0].to,
            pair[1].from,
            "a state change is missing between {:?} and {:?}:\n{}",
            pair[0],
            pair[1],
            sup.log()
        );
    }
}
