//! What a service gets from `pidward run`: its captured output, rotated in `log_dir`, and its
//! credentials after a privilege drop.

use std::collections::BTreeSet;

use crate::common::supervisor::Supervisor;
use crate::common::{wait_until, PATIENCE};

#[test]
fn log_rotation_keeps_log_backups_files_none_over_log_max_bytes() {
    let sup = Supervisor::start(
        r#"
[services.chatty]
command = 'i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo "line $i of the chatty service"; done; exec sleep 1000'
start_secs = "200ms"
log_max_bytes = "1KiB"
log_backups = 2
"#,
    );
    assert!(
        wait_until(PATIENCE, || sup
            .captured("chatty.out")
            .contains("line 400 of")),
        "the last line never arrived:\n{}",
        sup.log()
    );
    let mut names: Vec<String> = std::fs::read_dir(&sup.logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("chatty.out"))
        .collect();
    names.sort();
    assert_eq!(names, ["chatty.out", "chatty.out.1", "chatty.out.2"]);
    // Oldest first, the kept files hold an unbroken run of whole lines ending at the last.
    let mut numbers = Vec::new();
    for name in ["chatty.out.2", "chatty.out.1", "chatty.out"] {
        let text = sup.captured(name);
        assert!(text.len() <= 1024, "{name} has {} bytes", text.len());
        assert!(text.ends_with('\n'), "{name} ends mid-line: {text:?}");
        for line in text.lines() {
            let n: u32 = line
                .strip_prefix("line ")
                .and_then(|l| l.strip_suffix(" of the chatty service"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{name}: bad line {line:?}"));
            numbers.push(n);
        }
    }
    assert_eq!(numbers.last(), Some(&400));
    let first = numbers[0];
    assert_eq!(
        numbers,
        (first..=400).collect::<Vec<_>>(),
        "lines lost or reordered"
    );
    // Three files' worth: rotation really happened more than twice.
    assert!(numbers.len() > 60, "only {} lines kept", numbers.len());
}

/// The value of `key` in `/proc/PID/status`, split into fields.
fn status_field(pid: i32, key: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_privilege_drop_runs_the_service_as_nobody_with_its_own_groups() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: dropping privileges needs root");
        return;
    }
    let id = |args: &[&str]| {
        let out = std::process::Command::new("id")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "id {args:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let uid = id(&["-u", "nobody"]);
    let gid = id(&["-g", "nobody"]);
    let groups: BTreeSet<String> = id(&["-G", "nobody"])
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let sup = Supervisor::start(
        r#"
[services.lowly]
command = ["sleep", "1000"]
user = "nobody"
start_secs = "200ms"
"#,
    );
    sup.wait_state_in_log("lowly", "RUNNING");
    let pid = sup.wait_pid("lowly");
    assert_eq!(uid, "65534");
    assert_eq!(
        status_field(pid, "Uid"),
        [uid.as_str(); 4],
        "real, effective, saved, fs"
    );
    assert_eq!(status_field(pid, "Gid"), [gid.as_str(); 4]);
    let actual: BTreeSet<String> = status_field(pid, "Groups").into_iter().collect();
    assert_eq!(actual, groups, "supplementary groups (not root's)");
}

/// The lines of `/proc/PID/fd` as `fd -> target`, sorted by descriptor.
fn open_fds(pid: i32) -> Vec<(i32, String)> {
    let mut fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let fd = e.file_name().to_string_lossy().parse().unwrap();
            let target = std::fs::read_link(e.path()).unwrap();
            (fd, target.to_string_lossy().into_owned())
        })
        .collect();
    fds.sort();
    fds
}

/// The value of `NAME` in `/proc/PID/environ`.
fn environ(pid: i32, name: &str) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

#[test]
fn a_service_gets_a_clean_process_state_and_only_its_own_descriptors() {
    let sup = Supervisor::prepare(
        r#"
[services.clean]
command = ["sleep", "1000"]
cwd = "work"
env = { GREETING = "hello" }
umask = "0027"
limits = { nofile = 4096 }

[services.quiet]
command = ["sleep", "1000"]
stdout = "null"
stderr = "null"
"#,
    );
    std::fs::create_dir(sup.path("work")).unwrap();
    let mut sup = sup;
    sup.launch();
    let pid = sup.wait_pid("clean");
    // Exactly 0-2 and the lock as 3: no supervisor descriptor (pidfds, other services' locks
    // and FIFOs, the epoll set, the control socket, the spawn slots) leaks in.
    let fds = open_fds(pid);
    let lock = sup.lockfile("clean").display().to_string();
    let fifo = |s: &str| {
        sup.runtime
            .join(format!("clean.std{s}"))
            .display()
            .to_string()
    };
    assert_eq!(
        fds,
        [
            (0, "/dev/null".to_owned()),
            (1, fifo("out")),
            (2, fifo("err")),
            (3, lock)
        ],
        "descriptors of the service"
    );
    assert_eq!(environ(pid, "PIDWARD_LOCK_FD").as_deref(), Some("3"));
    assert_eq!(environ(pid, "PIDWARD_SERVICE").as_deref(), Some("clean"));
    assert_eq!(environ(pid, "GREETING").as_deref(), Some("hello"));
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        sup.path("work")
    );
    // No blocked or ignored signal carried over (Rust's runtime ignores SIGPIPE in the
    // supervisor; the test runner may block others), and the configured umask and limit.
    assert_eq!(status_field(pid, "SigBlk"), ["0000000000000000"]);
    assert_eq!(status_field(pid, "SigIgn"), ["0000000000000000"]);
    assert_eq!(status_field(pid, "Umask"), ["0027"]);
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let nofile = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(nofile[3..5], ["4096", "4096"], "{limits}");
    // Its own session and process group.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    assert_eq!(fields[2], pid.to_string(), "process group");
    assert_eq!(fields[3], pid.to_string(), "session");

    let quiet = sup.wait_pid("quiet");
    let lock = sup.lockfile("quiet").display().to_string();
    assert_eq!(
        open_fds(quiet),
        [
            (0, "/dev/null".to_owned()),
            (1, "/dev/null".to_owned()),
            (2, "/dev/null".to_owned()),
            (3, lock)
        ]
    );
}

#[test]
fn a_program_missing_from_path_or_a_missing_cwd_is_fatal_at_once_with_the_reason() {
    let sup = Supervisor::start(
        r#"
[services.nowhere]
command = ["no-such-program-pidward-test"]

[services.homeless]
command = ["sleep", "1000"]
cwd = "/nonexistent/pidward-test"
"#,
    );
    let t = sup.wait_state_in_log("nowhere", "FATAL");
    assert!(t.reason.contains("command not found"), "{t:?}");
    let t = sup.wait_state_in_log("homeless", "FATAL");
    assert!(
        t.reason
            .contains("working directory /nonexistent/pidward-test"),
        "{t:?}"
    );
    assert_eq!(sup.state_count("nowhere", "STARTING"), 1, "retried");
}
