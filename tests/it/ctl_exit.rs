//! Control commands' exit codes: `status` 0 or 3, unknown service names, a failed start, no
//! supervisor listening; and how the client finds the socket (`--socket`, `$PIDWARD_SOCKET`,
//! `-c FILE`).

use std::path::Path;

use crate::common::{alive, pidward, tempdir};
use crate::ctl::{output, Out, Sup};

const SERVICES: &str = r#"
[services.web]
command = ["sleep", "1000"]
start_secs = "200ms"

[services.idle]
command = ["sleep", "1000"]
autostart = false
start_secs = "200ms"

[services.bad]
command = "echo failing >&2; exit 3"
autostart = false
start_secs = "200ms"
start_retries = 0
"#;

#[test]
fn ctl_status_exits_0_when_every_autostart_service_runs_else_3() {
    let sup = Sup::start(SERVICES);
    sup.wait_state("web", "RUNNING");
    // idle and bad are not autostart: they do not count unless named.
    let out = sup.ctl(&["status"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(sup.ctl(&["status", "web"]).code, 0);
    assert_eq!(sup.ctl(&["status", "idle"]).code, 3);
    assert_eq!(sup.ctl(&["status", "web", "idle", "--json"]).code, 3);

    // A start that goes FATAL: exit 1 with the reason.
    let out = sup.ctl(&["start", "bad"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.starts_with("bad: ERROR failed: ") && out.stdout.contains("exit status 3"),
        "no reason given: {out:?}"
    );
    assert_eq!(sup.state("bad"), "FATAL");
    assert_eq!(sup.ctl(&["status", "bad"]).code, 3);
    assert_eq!(sup.ctl(&["status"]).code, 0, "bad is not autostart");

    let out = sup.ctl(&["stop", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(sup.ctl(&["status"]).code, 3, "web is stopped");
    assert_eq!(sup.ctl(&["status", "--json"]).code, 3);
}

#[test]
fn ctl_status_exits_3_when_an_autostart_service_is_fatal() {
    let sup = Sup::start(&SERVICES.replace(
        "autostart = false\nstart_secs = \"200ms\"\nstart_retries",
        "start_secs = \"200ms\"\nstart_retries",
    ));
    sup.wait_state("web", "RUNNING");
    sup.wait_state("bad", "FATAL");
    assert_eq!(sup.status_of("bad")["autostart"], true);
    let out = sup.ctl(&["status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(sup.ctl(&["status", "web"]).code, 0);
}

fn assert_lists_known(out: &Out, what: &str) {
    assert_eq!(out.code, 1, "{what}: {out:?}");
    assert!(out.stderr.contains("nope"), "{what}: {out:?}");
    for known in ["bad", "idle", "web"] {
        assert!(
            out.stderr.contains(known),
            "{what}: known name {known} not listed: {out:?}"
        );
    }
}

#[test]
fn ctl_unknown_service_names_exit_1_with_the_known_names() {
    let sup = Sup::start(SERVICES);
    sup.wait_state("web", "RUNNING");
    let web = sup.wait_pid("web");
    let commands: &[&[&str]] = &[
        &["status", "nope"],
        &["status", "--json", "web", "nope"],
        &["start", "nope"],
        &["start", "--no-wait", "nope"],
        &["stop", "web", "nope"],
        &["stop", "--no-wait", "nope", "web"],
        &["restart", "web", "nope"],
        &["signal", "TERM", "web", "nope"],
        &["pid", "nope"],
        &["pid", "--json", "nope"],
        &["logs", "nope"],
        &["logs", "-f", "nope"],
        &["logs", "--stderr", "nope"],
        &["wait", "nope", "--for", "running"],
        &["wait", "web", "nope", "--for", "stopped", "--timeout", "5s"],
    ];
    for args in commands {
        let out = sup.ctl(args);
        assert_lists_known(&out, &args.join(" "));
    }
    // Nothing was done to the known name next to the unknown one.
    assert_eq!(sup.pid_of("web"), Some(web));
    assert!(alive(web));
    assert_eq!(sup.status_of("web")["restarts"], 0);
}

/// Runs every control command against a socket nobody listens on, via `how`.
fn assert_not_listening(dir: &Path, how: &dyn Fn(&[&str]) -> Out, socket: &Path, looked: &str) {
    let commands: &[&[&str]] = &[
        &["status"],
        &["status", "--json", "web"],
        &["start", "web"],
        &["stop", "web"],
        &["restart", "--all"],
        &["signal", "HUP", "web"],
        &["pid"],
        &["logs", "web"],
        &["logs", "-f", "web"],
        &["wait", "web", "--for", "running"],
        &["reload"],
        &["shutdown"],
    ];
    for args in commands {
        let out = how(args);
        let expected = if args[0] == "status" { 3 } else { 1 };
        assert_eq!(out.code, expected, "{args:?}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "one line: {args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
        let line = &out.stderr;
        assert!(
            line.contains("no pidward is listening")
                && line.contains(&socket.display().to_string())
                && line.contains(looked),
            "{args:?} in {}: does not say where it looked ({looked}): {line:?}",
            dir.display()
        );
    }
}

#[test]
fn ctl_nothing_listening_is_one_line_saying_where_it_looked() {
    // Never started: no socket file at all.
    let sup = Sup::prepare(SERVICES);
    let socket = sup.socket();
    let config = sup.config.display().to_string();
    assert_not_listening(
        &sup.root(),
        &|args| sup.ctl(args),
        &socket,
        &format!("the runtime dir of {config}"),
    );
    let elsewhere = sup.root().join("elsewhere.sock");
    assert_not_listening(
        &sup.root(),
        &|args| {
            let mut all = vec!["--socket", elsewhere.to_str().unwrap()];
            all.extend_from_slice(args);
            output(sup.bare(&all))
        },
        &elsewhere,
        "--socket",
    );
    assert_not_listening(
        &sup.root(),
        &|args| {
            let mut cmd = sup.bare(args);
            cmd.env("PIDWARD_SOCKET", &elsewhere);
            output(cmd)
        },
        &elsewhere,
        "$PIDWARD_SOCKET",
    );
}

#[test]
fn ctl_a_killed_supervisors_stale_socket_is_not_listening() {
    let mut sup = Sup::start(SERVICES);
    sup.wait_state("web", "RUNNING");
    let mut proc = sup.take_proc();
    proc.signal(nix::sys::signal::Signal::SIGKILL);
    proc.wait_timeout(crate::common::PATIENCE).expect("killed");
    assert!(
        sup.socket().exists(),
        "a SIGKILLed supervisor leaves its socket file"
    );
    let socket = sup.socket();
    let config = sup.config.display().to_string();
    assert_not_listening(
        &sup.root(),
        &|args| sup.ctl(args),
        &socket,
        &format!("the runtime dir of {config}"),
    );
}

#[test]
fn ctl_socket_discovery_socket_flag_then_env_then_config() {
    let sup = Sup::start(SERVICES);
    sup.wait_state("web", "RUNNING");
    let socket = sup.socket();
    let sock = socket.to_str().unwrap();
    let here = tempdir();
    let pid = sup.pid().to_string();
    let check = |out: Out, how: &str| {
        assert_eq!(
            (out.code, out.stdout.trim()),
            (0, pid.as_str()),
            "{how}: {out:?}"
        );
    };

    // --socket, from another directory, no config.
    check(
        output(pidward(here.path(), &["--socket", sock, "pid"])),
        "--socket",
    );
    check(
        output(pidward(here.path(), &["pid", "--socket", sock])),
        "--socket after",
    );
    // $PIDWARD_SOCKET.
    let mut cmd = pidward(here.path(), &["pid"]);
    cmd.env("PIDWARD_SOCKET", &socket);
    check(output(cmd), "$PIDWARD_SOCKET");
    // -c FILE: the socket in its runtime dir, a relative path too.
    check(
        output(pidward(
            here.path(),
            &["-c", sup.config.to_str().unwrap(), "pid"],
        )),
        "-c",
    );
    check(
        output(pidward(&sup.root(), &["-c", "pidward.toml", "pid"])),
        "-c relative",
    );

    // A config elsewhere whose runtime_dir is relative to its own directory.
    let sub = sup.root().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(
        sub.join("alias.toml"),
        format!("[supervisor]\nruntime_dir = \"../run\"\nlog_dir = \"../log\"\n{SERVICES}"),
    )
    .unwrap();
    let alias = sub.join("alias.toml");
    check(
        output(pidward(
            here.path(),
            &["-c", alias.to_str().unwrap(), "pid"],
        )),
        "relative runtime_dir",
    );

    // Precedence: --socket over $PIDWARD_SOCKET over -c.
    let nowhere = here.path().join("nowhere.sock");
    let mut cmd = pidward(here.path(), &["--socket", sock, "pid"]);
    cmd.env("PIDWARD_SOCKET", &nowhere);
    check(output(cmd), "--socket beats $PIDWARD_SOCKET");
    let other = Sup::prepare(SERVICES);
    let mut cmd = pidward(here.path(), &["-c", other.config.to_str().unwrap(), "pid"]);
    cmd.env("PIDWARD_SOCKET", &socket);
    check(output(cmd), "$PIDWARD_SOCKET beats -c");
    let out = output(pidward(
        here.path(),
        &[
            "-c",
            sup.config.to_str().unwrap(),
            "--socket",
            nowhere.to_str().unwrap(),
            "pid",
        ],
    ));
    assert_eq!(out.code, 1, "--socket beats -c: {out:?}");
    assert!(out.stderr.contains("nowhere.sock"), "{out:?}");
}

#[test]
fn ctl_start_and_stop_without_names_are_refused() {
    let sup = Sup::start(SERVICES);
    sup.wait_state("web", "RUNNING");
    for cmd in ["start", "stop"] {
        let out = sup.ctl(&[cmd]);
        assert_eq!(out.code, 1, "{cmd}: {out:?}");
        assert!(
            out.stderr.contains("name at least one service, or --all"),
            "{out:?}"
        );
    }
    assert_eq!(sup.state("web"), "RUNNING");
}

#[test]
fn ctl_restart_without_names_is_refused() {
    let sup = Sup::start(SERVICES);
    sup.wait_state("web", "RUNNING");
    let out = sup.ctl(&["restart"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("name at least one service, or --all"),
        "{out:?}"
    );
}
