//! `pidward run` on SIGHUP: a valid new config is diffed (added services start, removed ones
//! stop, changed ones restart, unchanged ones keep their process); an invalid one is rejected
//! with its error logged, and nothing changes.

use crate::common::supervisor::{proc_info, Supervisor};
use crate::common::{alive, wait_until, PATIENCE};

/// A long sleeper named `name` running `sleep ARG`.
fn sleeper(name: &str, arg: &str) -> String {
    format!("[services.{name}]\ncommand = [\"sleep\", \"{arg}\"]\nstart_secs = \"200ms\"\n\n")
}

#[test]
fn reload_adds_removes_and_restarts_exactly_what_changed() {
    let mut sup = Supervisor::start(&format!(
        "{}{}{}",
        sleeper("a", "1001"),
        sleeper("b", "1002"),
        sleeper("c", "1003")
    ));
    for name in ["a", "b", "c"] {
        sup.wait_state_in_log(name, "RUNNING");
    }
    let (a, b, c) = (sup.wait_pid("a"), sup.wait_pid("b"), sup.wait_pid("c"));
    let c_transitions = sup.transitions("c").len();

    // a removed, b's command changed, c as it was, d added.
    sup.write_config(&format!(
        "{}{}{}",
        sleeper("b", "2002"),
        sleeper("c", "1003"),
        sleeper("d", "1004")
    ));
    sup.reload();
    sup.wait_log("reloaded: 1 added, 1 removed, 1 changed, 1 unchanged");
    sup.wait_log("a: removed");
    assert!(
        wait_until(PATIENCE, || !alive(a)),
        "a still runs after its removal"
    );
    assert!(!sup.pidfile("a").exists() && !sup.lockfile("a").exists());

    sup.wait_state_count("b", "RUNNING", 2);
    let new_b = sup.wait_pid("b");
    assert_ne!(new_b, b, "b was not restarted");
    assert!(!alive(b), "b's old process still runs");
    assert_eq!(proc_info(new_b).unwrap().argv, ["sleep", "2002"]);

    sup.wait_state_in_log("d", "RUNNING");
    let d = sup.wait_pid("d");
    assert_eq!(proc_info(d).unwrap().argv, ["sleep", "1004"]);

    assert_eq!(
        sup.pid_of("c"),
        Some(c),
        "the unchanged service was touched"
    );
    assert!(alive(c));
    assert_eq!(sup.transitions("c").len(), c_transitions, "{}", sup.log());

    // An invalid config: rejected with FILE:LINE, everything keeps its process.
    let counts = |sup: &Supervisor| ["b", "c", "d"].map(|n| sup.transitions(n).len());
    let before = counts(&sup);
    sup.write_config(&format!(
        "{}[services.c\ncommand = [\"sleep\", \"1003\"]\n",
        sleeper("b", "2002")
    ));
    let line = sup.config_line_of("[services.c");
    sup.reload();
    sup.wait_log("reload rejected, keeping the running config");
    let at = format!("{}:{line}:", sup.config.display());
    assert!(sup.log().contains(&at), "want {at:?} in:\n{}", sup.log());
    for (name, pid) in [("b", new_b), ("c", c), ("d", d)] {
        assert_eq!(
            sup.pid_of(name),
            Some(pid),
            "{name} after a rejected reload"
        );
        assert!(alive(pid), "{name}");
    }
    assert_eq!(counts(&sup), before, "{}", sup.log());

    let status = sup.terminate();
    assert_eq!(status.code(), Some(0), "{}", sup.log());
    assert!(!alive(new_b) && !alive(c) && !alive(d));
    assert!(
        sup.runtime_entries().is_empty(),
        "{:?}",
        sup.runtime_entries()
    );
}
