//! `pidward reload` (what was added, removed and changed; a broken config rejected) and
//! `pidward shutdown` (returns once the supervisor has exited).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::{alive, wait_until, PATIENCE};
use crate::ctl::{json, Sup};

#[test]
fn ctl_reload_reports_what_was_added_removed_and_changed() {
    let sup = Sup::start(
        r#"
[services.keep]
command = ["sleep", "1001"]
start_secs = "200ms"

[services.drop]
command = ["sleep", "1002"]
start_secs = "200ms"

[services.edit]
command = ["sleep", "1003"]
start_secs = "200ms"
"#,
    );
    for name in ["keep", "drop", "edit"] {
        sup.wait_state(name, "RUNNING");
    }
    let keep = sup.wait_pid("keep");
    let edit = sup.wait_pid("edit");
    sup.write_config(
        r#"
[services.keep]
command = ["sleep", "1001"]
start_secs = "200ms"

[services.edit]
command = ["sleep", "1004"]
start_secs = "200ms"

[services.new]
command = ["sleep", "1005"]
start_secs = "200ms"
"#,
    );
    let out = sup.ctl(&["reload"]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: BTreeSet<&str> = out.stdout.lines().collect();
    for line in [
        "new: added",
        "drop: removed",
        "edit: changed",
        "reloaded: 1 added, 1 removed, 1 changed, 1 unchanged",
    ] {
        assert!(lines.contains(line), "no {line:?}: {out:?}");
    }
    assert_eq!(lines.len(), 4, "{out:?}");
    sup.wait_state("new", "RUNNING");
    sup.wait_state("edit", "RUNNING");
    assert!(wait_until(PATIENCE, || sup.statuses().len() == 3));
    assert_eq!(sup.pid_of("keep"), Some(keep), "unchanged: same PID");
    assert!(wait_until(PATIENCE, || sup
        .pid_of("edit")
        .is_some_and(|p| p != edit)));

    sup.write_config(
        r#"
[services.keep]
command = ["sleep", "1001"]
start_secs = "200ms"

[services.edit]
command = ["sleep", "1004"]
start_secs = "200ms"
"#,
    );
    let out = sup.ctl(&["reload", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        json(&out),
        serde_json::json!({
            "added": [], "removed": ["new"], "changed": [], "unchanged": ["edit", "keep"]
        }),
        "{out:?}"
    );

    assert!(
        wait_until(PATIENCE, || sup.statuses().len() == 2),
        "new is still there"
    );

    // A broken config is rejected with its error; the running config stays. (With `-c` the
    // client itself cannot read the file to find the socket, so `--socket` it is.)
    let good = std::fs::read_to_string(&sup.config).unwrap();
    std::fs::write(
        &sup.config,
        good.replace("command = [\"sleep\", \"1004\"]", "command = 3"),
    )
    .unwrap();
    let socket = sup.socket();
    let out = crate::ctl::output(sup.bare(&["--socket", socket.to_str().unwrap(), "reload"]));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("reload rejected") && out.stderr.contains("services.edit.command"),
        "{out:?}"
    );
    let names: Vec<String> = sup
        .statuses()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["edit", "keep"], "the running config changed");
    assert_eq!(sup.pid_of("keep"), Some(keep));
}

#[test]
fn ctl_shutdown_returns_once_the_supervisor_has_exited() {
    let mut sup = Sup::start(
        r#"
[services.web]
command = "trap 'sleep 1; exit 0' TERM; while :; do sleep 0.05; done"
start_secs = "200ms"
"#,
    );
    sup.wait_state("web", "RUNNING");
    let web = sup.wait_pid("web");
    let pid = sup.pid();
    // web's TERM trap takes 1 s: the supervisor cannot be gone before that. The client sees
    // the connection close a moment before the process is reaped: allow that moment.
    let out = sup.ctl(&["shutdown"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "pidward: shut down\n"),
        "{out:?}"
    );
    assert!(
        wait_until(Duration::from_millis(250), || !alive(pid)),
        "shutdown returned while the supervisor (PID {pid}) still ran"
    );
    assert!(!alive(web), "web still runs");
    let mut proc = sup.take_proc();
    let status = proc.wait_timeout(Duration::from_secs(1)).expect("exited");
    assert_eq!(status.code(), Some(0), "{}", sup.log());
    assert!(!sup.socket().exists(), "the socket is left");
    assert!(
        !sup.runtime.join("pidward.pid").exists(),
        "pidward.pid is left"
    );
}
