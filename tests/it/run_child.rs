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
