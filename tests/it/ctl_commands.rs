//! Control commands end to end against a real `pidward run`: status (table and JSON),
//! start/stop/restart returning at the target state, `--no-wait`, wait, signal and pid.
//! `ctl_logs` has logs, `ctl_reload` reload and shutdown.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{alive, wait_until, Proc, PATIENCE};
use crate::ctl::{finish, json, Sup};

/// `web` takes a while to stop (its TERM trap sleeps 0.3 s) and to count as started (start_secs
/// 0.5 s); `idle` does not autostart; `bad` exits 3 at once and goes FATAL.
const SERVICES: &str = r#"
[services.web]
command = "trap 'sleep 0.3; exit 0' TERM; while :; do sleep 0.05; done"
start_secs = "500ms"

[services.idle]
command = ["sleep", "1000"]
autostart = false
start_secs = "200ms"

[services.bad]
command = "echo failing >&2; exit 3"
start_secs = "200ms"
start_retries = 0
"#;

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn ctl_status_prints_a_table_and_json_with_stable_fields() {
    let sup = Sup::start(SERVICES);
    sup.wait_state("web", "RUNNING");
    sup.wait_state("bad", "FATAL");
    let web = sup.wait_pid("web");

    let out = sup.ctl(&["status"]);
    assert_eq!(out.code, 3, "bad is FATAL: {out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST", "EXIT", "INFO"],
        "{out:?}"
    );
    assert_eq!(lines.len(), 4, "a header and three services: {out:?}");
    let row = |name: &str| -> Vec<String> {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}: {out:?}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(row("web")[1..3], ["RUNNING".to_owned(), web.to_string()]);
    assert_eq!(row("idle")[1..3], ["STOPPED".to_owned(), "-".to_owned()]);
    let bad = row("bad").join(" ");
    assert!(
        bad.starts_with("bad FATAL - - 0 exit status 3"),
        "the FATAL row shows its last exit: {bad:?}"
    );

    let out = sup.ctl(&["status", "--json"]);
    assert_eq!(out.code, 3, "{out:?}");
    let doc = json(&out);
    let services = doc["services"].as_array().expect("services array");
    let names: Vec<&str> = services
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bad", "idle", "web"], "{out:?}");
    let fields: BTreeSet<String> = [
        "name",
        "state",
        "pid",
        "uptime_secs",
        "restarts",
        "last_exit",
        "reason",
        "autostart",
    ]
    .map(String::from)
    .into();
    for s in services {
        assert_eq!(keys(s), fields, "{s}");
        assert!(s["uptime_secs"].is_u64() && s["restarts"].is_u64(), "{s}");
        assert!(s["reason"].is_string(), "{s}");
    }
    let by = |n: &str| services.iter().find(|s| s["name"] == n).unwrap();
    assert_eq!(by("web")["state"], "RUNNING");
    assert_eq!(by("web")["pid"], web);
    assert_eq!(by("web")["autostart"], true);
    assert!(by("web")["last_exit"].is_null());
    assert_eq!(by("idle")["state"], "STOPPED");
    assert!(by("idle")["pid"].is_null());
    assert_eq!(by("idle")["autostart"], false);
    assert_eq!(by("bad")["state"], "FATAL");
    assert_eq!(by("bad")["last_exit"], "exit status 3");
    assert!(
        by("bad")["reason"]
            .as_str()
            .unwrap()
            .contains("exit status 3"),
        "{}",
        by("bad")
    );

    // Named: only those, and the exit code considers only them.
    let out = sup.ctl(&["status", "web", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let only = json(&out)["services"].as_array().unwrap().clone();
    assert_eq!(only.len(), 1, "{out:?}");
    assert_eq!(only[0]["name"], "web");
}

#[test]
fn ctl_stop_start_restart_return_once_the_target_state_is_reached() {
    let sup = Sup::start(SERVICES);
    sup.wait_state("web", "RUNNING");
    let first = sup.wait_pid("web");

    // stop: the TERM trap takes 0.3 s; the command returns only once the process is gone.
    let out = sup.ctl(&["stop", "web"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "web: stopped\n"),
        "{out:?}"
    );
    assert!(!alive(first), "stop returned while PID {first} still runs");
    assert!(!sup.pidfile("web").exists(), "web.pid left after stop");
    assert_eq!(sup.state("web"), "STOPPED");

    // start: RUNNING only after start_secs (0.5 s); the command waits for it.
    let t = Instant::now();
    let out = sup.ctl(&["start", "web"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "web: running\n"),
        "{out:?}"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(sup.state("web"), "RUNNING");
    let second = sup.pid_of("web").expect("web.pid after start");
    assert!(alive(second), "web.pid names a dead PID {second}");
    assert_ne!(second, first);

    // restart: a new process, RUNNING, the old one gone.
    let out = sup.ctl(&["restart", "web"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "web: running\n"),
        "{out:?}"
    );
    assert_eq!(sup.state("web"), "RUNNING");
    let third = sup.pid_of("web").expect("web.pid after restart");
    assert_ne!(third, second, "restart kept the PID");
    assert!(alive(third) && !alive(second));
    assert_eq!(sup.status_of("web")["pid"], third);

    // start of a running service: nothing to do, success.
    let out = sup.ctl(&["start", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(sup.pid_of("web"), Some(third));

    // --all: idle (not autostart) starts too; bad fails again, so exit 1.
    let out = sup.ctl(&["start", "--all"]);
    assert_eq!(out.code, 1, "bad goes FATAL again: {out:?}");
    assert!(out.stdout.contains("idle: running"), "{out:?}");
    assert!(out.stdout.contains("bad: ERROR"), "{out:?}");
    let out = sup.ctl(&["stop", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    for name in ["web", "idle", "bad"] {
        assert!(!sup.pidfile(name).exists(), "{name}.pid after stop --all");
    }
    assert!(!alive(third));
}

#[test]
fn ctl_no_wait_returns_before_the_target_state() {
    let sup = Sup::start(
        r#"
[services.stubborn]
command = "trap '' TERM; while :; do sleep 0.05; done"
start_secs = "1500ms"
stop_timeout = "1500ms"
"#,
    );
    sup.wait_state("stubborn", "RUNNING");
    let pid = sup.wait_pid("stubborn");

    // It ignores SIGTERM: stopping takes stop_timeout (1.5 s), then SIGKILL.
    let out = sup.ctl(&["stop", "--no-wait", "stubborn"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "stubborn: requested\n"),
        "{out:?}"
    );
    assert_eq!(sup.state("stubborn"), "STOPPING");
    assert!(alive(pid));
    let out = sup.ctl(&["wait", "stubborn", "--for", "stopped"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(sup.state("stubborn") == "STOPPED" && !alive(pid));

    let out = sup.ctl(&["start", "--no-wait", "stubborn"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(sup.state("stubborn"), "STARTING", "start --no-wait waited");
    let out = sup.ctl(&["wait", "stubborn", "--for", "running"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(sup.state("stubborn"), "RUNNING", "wait returned early");

    let out = sup.ctl(&["restart", "--no-wait", "stubborn"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        sup.state("stubborn"),
        "STOPPING",
        "restart --no-wait waited"
    );
}

#[test]
fn ctl_signal_reaches_the_service() {
    let sup = Sup::start(
        r#"
[services.hup]
command = "trap 'echo got-hup' HUP; echo ready; while :; do sleep 0.05; done"
start_secs = "200ms"

[services.idle]
command = ["sleep", "1000"]
autostart = false
"#,
    );
    sup.wait_state("hup", "RUNNING");
    assert!(wait_until(PATIENCE, || sup
        .captured("hup.out")
        .contains("ready")));
    assert!(!sup.captured("hup.out").contains("got-hup"));
    let out = sup.ctl(&["signal", "HUP", "hup"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "hup: signalled\n"),
        "{out:?}"
    );
    assert!(
        wait_until(PATIENCE, || sup.captured("hup.out").contains("got-hup")),
        "no got-hup in hup.out: {:?}",
        sup.captured("hup.out")
    );
    assert_eq!(sup.state("hup"), "RUNNING");

    let out = sup.ctl(&["signal", "SIGUSR1", "idle"]);
    assert_eq!(out.code, 1, "idle is not running: {out:?}");
    assert!(out.stdout.contains("idle: ERROR not running"), "{out:?}");
}

#[test]
fn ctl_pid_prints_the_supervisor_or_a_service() {
    let sup = Sup::start(SERVICES);
    sup.wait_state("web", "RUNNING");
    let out = sup.ctl(&["pid"]);
    assert_eq!(out.code, 0, "{out:?}");
    let recorded = std::fs::read_to_string(sup.runtime.join("pidward.pid")).unwrap();
    assert_eq!(out.stdout.trim(), recorded.trim());
    assert_eq!(out.stdout, format!("{}\n", sup.pid()));

    let web = sup.wait_pid("web");
    let out = sup.ctl(&["pid", "web"]);
    assert_eq!(
        (out.code, out.stdout.clone()),
        (0, format!("{web}\n")),
        "{out:?}"
    );

    let out = sup.ctl(&["pid", "web", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(json(&out), serde_json::json!({"name": "web", "pid": web}));
    let out = sup.ctl(&["pid", "--json"]);
    assert_eq!(json(&out)["pid"], sup.pid(), "{out:?}");

    let out = sup.ctl(&["pid", "idle"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("idle is not running"), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn ctl_wait_for_running_and_stopped_with_a_timeout() {
    let sup = Sup::start(SERVICES);
    // web's start_secs is 0.5 s: waiting for running returns only once it is RUNNING.
    let out = sup.ctl(&["wait", "web", "--for", "running"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "web: running\n"),
        "{out:?}"
    );
    assert_eq!(sup.state("web"), "RUNNING");

    let t = Instant::now();
    let out = sup.ctl(&["wait", "web", "--for", "stopped", "--timeout", "300ms"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("web: ERROR timed out"), "{out:?}");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    let out = sup.ctl(&["wait", "idle", "--for", "running", "--timeout", "200ms"]);
    assert_eq!(out.code, 1, "{out:?}");

    // Already there: at once.
    let out = sup.ctl(&["wait", "idle", "bad", "--for", "stopped", "--timeout", "5s"]);
    assert_eq!(out.code, 0, "{out:?}");

    // A waiter parked until another client stops web (its TERM trap takes 0.3 s).
    let pid = sup.wait_pid("web");
    let mut cmd = sup.cmd(&["wait", "web", "--for", "stopped"]);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let waiter = Proc::spawn(cmd);
    let out = sup.ctl(&["stop", "--no-wait", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = finish(waiter);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "web: stopped\n"),
        "{out:?}"
    );
    assert!(!alive(pid), "wait --for stopped returned while web ran");
    assert_eq!(sup.state("web"), "STOPPED");
}
