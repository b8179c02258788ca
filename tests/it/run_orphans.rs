//! `pidward run` after its predecessor was SIGKILLed: the services it left running are adopted
//! (same PIDs, no duplicates, no stale files), their output written meanwhile is not lost, and
//! the new supervisor stops them at shutdown.

use std::time::Duration;

use crate::common::supervisor::Supervisor;
use crate::common::{alive, wait_until, PATIENCE};

/// Prints `tick N` every 100 ms and keeps the last N in `count`: one process (perl), so that
/// no group member outlives it at shutdown (that case has its own test below).
const TICKER: &str = r#"$| = 1; for ($i = 1; ; $i++) { print "tick $i\n"; open(my $c, ">", "count.new") or die; print $c "$i\n"; close($c); rename("count.new", "count"); select(undef, undef, undef, 0.1) }"#;

/// The tick numbers in `tick.out`, in order.
fn ticks(sup: &Supervisor) -> Vec<u32> {
    sup.captured("tick.out")
        .lines()
        .map(|l| {
            l.strip_prefix("tick ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bad line {l:?}"))
        })
        .collect()
}

/// The last count the ticker wrote (0 while unknown).
fn count(sup: &Supervisor) -> u32 {
    std::fs::read_to_string(sup.path("count"))
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_restarted_supervisor_adopts_what_its_killed_predecessor_left_running() {
    let mut sup = Supervisor::start(&format!(
        r#"
[services.tick]
command = ["perl", "-e", '{TICKER}']
start_secs = "200ms"

[services.nap]
command = ["sleep", "1000"]
start_secs = "200ms"
"#
    ));
    sup.wait_state_in_log("tick", "RUNNING");
    sup.wait_state_in_log("nap", "RUNNING");
    let tick = sup.wait_pid("tick");
    let nap = sup.wait_pid("nap");
    assert!(wait_until(PATIENCE, || ticks(&sup).len() >= 2));
    let before = sup.runtime_entries();

    sup.kill_supervisor();
    let seen = ticks(&sup).last().copied().unwrap_or(0);
    // The ticker keeps writing into its FIFO with no supervisor reading: no SIGPIPE.
    assert!(
        wait_until(PATIENCE, || count(&sup) >= seen + 5),
        "the ticker stopped without its supervisor (count {})",
        count(&sup)
    );
    assert!(
        alive(tick) && alive(nap),
        "a service died with its supervisor"
    );
    assert_eq!(
        sup.runtime_entries(),
        before,
        "files changed after the crash"
    );

    sup.launch();
    for (name, pid) in [("tick", tick), ("nap", nap)] {
        sup.wait_log(&format!(
            "{name}: found PID {pid} left running by a previous supervisor (adopt)"
        ));
        let adopted = sup.wait_state_in_log(name, "RUNNING");
        assert_eq!(adopted.from, "STOPPED");
        assert!(
            adopted.reason.contains(&format!("adopted PID {pid}")),
            "{adopted:?}"
        );
        assert_eq!(sup.pid_of(name), Some(pid), "{name}.pid changed");
        assert_eq!(
            sup.state_count(name, "STARTING"),
            0,
            "{name} was started anew"
        );
    }
    // No duplicates, and nothing stale: the same files as before the crash.
    assert_eq!(
        sup.count_running(&["sleep", "1000"]),
        1,
        "{:?}",
        sup.procs()
    );
    let tickers = sup
        .procs()
        .into_iter()
        .filter(|p| p.argv.last().is_some_and(|a| a == TICKER))
        .count();
    assert_eq!(tickers, 1, "{:?}", sup.procs());
    assert_eq!(sup.runtime_entries(), before);

    // What it printed while no supervisor ran shows up, with nothing lost.
    let target = count(&sup) + 2;
    assert!(
        wait_until(PATIENCE, || ticks(&sup)
            .last()
            .is_some_and(|n| *n >= target)),
        "output stopped at {:?}:\n{}",
        ticks(&sup).last(),
        sup.log()
    );
    let all = ticks(&sup);
    assert_eq!(
        all,
        (1..=all.len() as u32).collect::<Vec<_>>(),
        "lines lost"
    );

    let status = sup.terminate();
    assert_eq!(status.code(), Some(0), "{}", sup.log());
    assert!(
        wait_until(Duration::from_secs(5), || !alive(tick) && !alive(nap)),
        "adopted services survived the shutdown:\n{}",
        sup.log()
    );
    assert!(
        sup.runtime_entries().is_empty(),
        "{:?}:\n{}",
        sup.runtime_entries(),
        sup.log()
    );
}

#[test]
fn an_adopted_service_whose_group_outlives_it_leaves_no_lock_file_at_shutdown() {
    // At SIGTERM the main process dies at once; the subshell (holding the inherited lock
    // descriptor) takes 300 ms more. After a supervisor crash it is not the new supervisor's
    // descendant, so it is never reaped there.
    let mut sup = Supervisor::start(
        r#"
[services.slowgroup]
command = "(trap 'sleep 0.3; exit 0' TERM; while :; do sleep 0.1; done) & exec sleep 1000"
start_secs = "200ms"
"#,
    );
    sup.wait_state_in_log("slowgroup", "RUNNING");
    let pid = sup.wait_pid("slowgroup");
    sup.kill_supervisor();
    sup.launch();
    sup.wait_state_in_log("slowgroup", "RUNNING");
    assert_eq!(sup.pid_of("slowgroup"), Some(pid));
    let began = std::time::Instant::now();
    let status = sup.terminate();
    let took = began.elapsed();
    assert_eq!(status.code(), Some(0), "{}", sup.log());
    assert!(
        crate::common::supervisor::group_members(pid).is_empty(),
        "the group outlived the shutdown"
    );
    assert!(
        sup.runtime_entries().is_empty(),
        "left behind: {:?}\n{}",
        sup.runtime_entries(),
        sup.log()
    );
    assert!(
        took < Duration::from_secs(5),
        "shutdown waited {took:?} for a lock its holder had long released:\n{}",
        sup.log()
    );
}
