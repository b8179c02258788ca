//! PID files: the library (`write`, `read`, `status`, `PidFile`) and `pidward pidfile check`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use pidward::lock::{OwnerRecord, RECORD_VERSION};
use pidward::pidfile::{self, PidFile, PidFileError, PidFileStatus, StaleKind};
use pidward::process::{host_facts, read_stat, SystemTable};

use crate::common::{self, wait_until, Proc, PATIENCE};

// ---------------------------------------------------------------------------------------------
// Helpers

fn me() -> i32 {
    std::process::id() as i32
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777
}

/// `pidward pidfile check ARGS…`: exit code, stdout, stderr.
fn check(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["pidfile", "check"];
    all.extend_from_slice(args);
    let out = common::run(dir, &all);
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `pidward pidfile check --json PATH [--clean]`, parsed.
fn check_json(dir: &Path, path: &str, clean: bool) -> (i32, serde_json::Value) {
    let mut args = vec!["--json", path];
    if clean {
        args.push("--clean");
    }
    let (code, stdout, stderr) = check(dir, &args);
    let value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout:?} / {stderr}"));
    (code, value)
}

/// A process of our own that lives until dropped.
fn sleeper() -> Proc {
    let mut cmd = Command::new("sleep");
    cmd.arg("30").stdin(Stdio::null());
    Proc::spawn(cmd)
}

fn dead_pid() -> i32 {
    let mut child = Command::new("true").spawn().expect("spawn true");
    let pid = child.id() as i32;
    child.wait().expect("reap");
    pid
}

/// Sets `path`'s mtime `ago` in the past.
fn age(path: &Path, ago: Duration) {
    fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(SystemTime::now() - ago)
        .expect("set mtime");
}

/// The lock file record that makes `NAME.pid` pidward's own: it names `pid` with `start_ticks`.
fn vouch(pid_path: &Path, pid: i32, start_ticks: u64, boot_id: Option<&str>) {
    let here = host_facts();
    let record = OwnerRecord {
        pidward: RECORD_VERSION,
        kind: pidward::lock::LockKind::Flock,
        mode: pidward::lock::LockMode::Exclusive,
        pid,
        start_ticks,
        boot_id: boot_id.unwrap_or(&here.boot_id).to_owned(),
        pid_ns: here.pid_ns,
        host: here.host.clone(),
        uid: 0,
        since_ms: 0,
        label: None,
        child: None,
        token: "t".into(),
        generation: None,
        beat: 0,
        ttl_ms: None,
    };
    fs::write(pid_path.with_extension("lock"), record.encode()).expect("write record");
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// write / read

#[test]
fn write_puts_exactly_the_pid_and_a_newline_and_leaves_no_temp_files() {
    let tmp = common::tempdir();
    let path = tmp.path().join("app.pid");
    pidfile::write(&path, 42).expect("write");
    assert_eq!(fs::read(&path).expect("read"), b"42\n");
    let inode = fs::metadata(&path).expect("stat").ino();
    pidfile::write(&path, 1234567).expect("rewrite");
    assert_eq!(fs::read(&path).expect("read"), b"1234567\n");
    assert_ne!(
        fs::metadata(&path).expect("stat").ino(),
        inode,
        "replaced by rename"
    );
    assert_eq!(mode(&path), 0o644);
    assert_eq!(names_in(tmp.path()), vec!["app.pid"]);
}

const HELPER_ENV: &str = "PIDWARD_PIDFILE_HELPER";

#[test]
fn pid_files_are_0644_even_under_umask_077() {
    if let Some(dir) = std::env::var_os(HELPER_ENV) {
        // The helper: a process of its own, as the umask is process-wide.
        let dir = Path::new(&dir);
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        fs::write(dir.join("control"), "x").expect("control");
        pidfile::write(&dir.join("written.pid"), 4242).expect("write");
        let guard = PidFile::create(dir.join("guarded.pid")).expect("create");
        // Left in place for the driver to look at; the process ends right after.
        std::mem::forget(guard);
        return;
    }
    let tmp = common::tempdir();
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args([
            "--exact",
            "pidfile::pid_files_are_0644_even_under_umask_077",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, tmp.path())
        .stdin(Stdio::null())
        .output()
        .expect("run helper");
    assert!(out.status.success(), "helper failed: {out:?}");
    assert_eq!(
        mode(&tmp.path().join("control")),
        0o600,
        "the umask was in effect"
    );
    assert_eq!(mode(&tmp.path().join("written.pid")), 0o644);
    assert_eq!(mode(&tmp.path().join("guarded.pid")), 0o644);
    assert_eq!(
        fs::read_to_string(tmp.path().join("written.pid")).expect("read"),
        "4242\n"
    );
}

#[test]
fn write_refuses_a_symlink_and_leaves_its_target_alone() {
    let tmp = common::tempdir();
    let target = tmp.path().join("target");
    fs::write(&target, "precious\n").expect("write");
    let link = tmp.path().join("app.pid");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");

    let err = pidfile::write(&link, 42).expect_err("symlink refused");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(fs::read_to_string(&target).expect("read"), "precious\n");
    assert!(fs::symlink_metadata(&link)
        .expect("lstat")
        .file_type()
        .is_symlink());

    // A dangling symlink is refused too (it would otherwise create the target).
    let dangling = tmp.path().join("dangling.pid");
    let nowhere = tmp.path().join("nowhere");
    std::os::unix::fs::symlink(&nowhere, &dangling).expect("symlink");
    assert!(pidfile::write(&dangling, 42).is_err());
    assert!(!nowhere.exists());

    let dir = tmp.path().join("adir");
    fs::create_dir(&dir).expect("mkdir");
    assert!(pidfile::write(&dir, 42).is_err());
    assert!(dir.is_dir());
}

#[test]
fn read_is_tolerant_of_whitespace_and_shows_invalid_content() {
    let tmp = common::tempdir();
    let path = tmp.path().join("app.pid");
    for (content, want) in [("  42 \n", 42), ("42", 42), ("\t7\n\n", 7)] {
        fs::write(&path, content).expect("write");
        assert_eq!(pidfile::read(&path).expect("read"), want, "{content:?}");
    }
    for content in ["abc", "", "-1", "0", "12 13", "12\n13\n", "99999999999"] {
        fs::write(&path, content).expect("write");
        match pidfile::read(&path) {
            Err(PidFileError::Invalid { content: shown, .. }) => {
                assert_eq!(shown, content, "the content is shown as it is")
            }
            other => panic!("{content:?}: expected Invalid, got {other:?}"),
        }
    }
    match pidfile::read(&tmp.path().join("missing.pid")) {
        Err(PidFileError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn read_judges_the_whole_content_not_just_its_start() {
    let tmp = common::tempdir();
    let path = tmp.path().join("long.pid");
    // "12 13" is rejected; so is the same with the second number pushed far along, whether
    // within what a reader looks at or past it.
    for padding in [300, 5000, 70_000] {
        let content = format!("12{}13\n", " ".repeat(padding));
        fs::write(&path, &content).expect("write");
        match pidfile::read(&path) {
            Err(PidFileError::Invalid { content: shown, .. }) => {
                assert!(
                    shown.len() <= 1024,
                    "{padding}: a long file is shown in part"
                )
            }
            other => panic!("{padding}: expected Invalid, got {other:?}"),
        }
        let (code, stdout, _) = check(tmp.path(), &["long.pid"]);
        assert_eq!(code, 4, "{padding}: {stdout}");
    }
    // A PID with a little surrounding whitespace is still fine.
    fs::write(&path, format!("{}42\n\n", " ".repeat(100))).expect("write");
    assert_eq!(pidfile::read(&path).expect("read"), 42);
}

// ---------------------------------------------------------------------------------------------
// status and `pidward pidfile check`

#[test]
fn check_running_is_0_for_this_process_and_a_spawned_one() {
    let tmp = common::tempdir();
    let own = tmp.path().join("own.pid");
    pidfile::write(&own, me()).expect("write");
    assert_eq!(
        pidfile::status(&own, &SystemTable::new()),
        PidFileStatus::Running { pid: me() }
    );
    let (code, stdout, _) = check(tmp.path(), &["own.pid"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("running"), "{stdout}");

    let child = sleeper();
    pidfile::write(&tmp.path().join("child.pid"), child.pid()).expect("write");
    let (code, value) = check_json(tmp.path(), "child.pid", false);
    assert_eq!(code, 0);
    assert_eq!(value["status"], "running");
    assert_eq!(value["pid"], child.pid());
    assert!(value["reason"].is_null());
    assert_eq!(value["removed"], false);
}

#[test]
fn check_missing_is_3_and_garbage_is_4() {
    let tmp = common::tempdir();
    let (code, stdout, _) = check(tmp.path(), &["none.pid"]);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("missing"), "{stdout}");
    let (code, value) = check_json(tmp.path(), "none.pid", false);
    assert_eq!(code, 3);
    assert_eq!(value["status"], "missing");
    assert!(value["pid"].is_null());

    for (name, content) in [
        ("garbage.pid", "not a pid\n"),
        ("empty.pid", ""),
        ("neg.pid", "-5\n"),
    ] {
        fs::write(tmp.path().join(name), content).expect("write");
        let (code, stdout, _) = check(tmp.path(), &[name, "--clean"]);
        assert_eq!(code, 4, "{name}: {stdout}");
        assert!(stdout.contains("invalid"), "{stdout}");
        assert!(
            tmp.path().join(name).exists(),
            "--clean never removes an invalid file"
        );
        assert!(matches!(
            pidfile::status(&tmp.path().join(name), &SystemTable::new()),
            PidFileStatus::Invalid { .. }
        ));
    }
}

#[test]
fn check_dead_pid_is_1_with_a_reason_and_clean_removes_it() {
    let tmp = common::tempdir();
    let dead = dead_pid();
    let path = tmp.path().join("dead.pid");
    pidfile::write(&path, dead).expect("write");
    assert_eq!(
        pidfile::status(&path, &SystemTable::new()),
        PidFileStatus::Stale {
            pid: dead,
            reason: StaleKind::Dead
        }
    );
    let (code, stdout, _) = check(tmp.path(), &["dead.pid"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("stale") && stdout.contains(&dead.to_string()),
        "{stdout}"
    );
    assert!(stdout.contains(&StaleKind::Dead.to_string()), "{stdout}");
    assert!(path.exists(), "no --clean, no removal");

    let (code, value) = check_json(tmp.path(), "dead.pid", true);
    assert_eq!(code, 1);
    let keys: Vec<&str> = value
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, ["path", "pid", "reason", "removed", "status"]);
    assert_eq!(value["path"], "dead.pid");
    assert_eq!(value["status"], "stale");
    assert_eq!(value["pid"], dead);
    assert_eq!(value["reason"], StaleKind::Dead.to_string());
    assert_eq!(value["removed"], true);
    assert!(!path.exists(), "--clean removed it");
}

#[test]
fn check_a_zombie_is_1_and_clean_removes_it() {
    let tmp = common::tempdir();
    let mut cmd = Command::new("sleep");
    cmd.arg("0");
    // Not reaped until `zombie` drops.
    let zombie = Proc::spawn(cmd);
    assert!(
        wait_until(PATIENCE, || read_stat(zombie.pid())
            .is_some_and(|s| s.state == 'Z')),
        "never became a zombie"
    );
    let path = tmp.path().join("z.pid");
    pidfile::write(&path, zombie.pid()).expect("write");
    assert_eq!(
        pidfile::status(&path, &SystemTable::new()),
        PidFileStatus::Stale {
            pid: zombie.pid(),
            reason: StaleKind::Zombie
        }
    );
    let (code, stdout, _) = check(tmp.path(), &["z.pid"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("zombie"), "{stdout}");
    let (code, value) = check_json(tmp.path(), "z.pid", true);
    assert_eq!(code, 1);
    assert_eq!(value["removed"], true);
    assert!(!path.exists());
    drop(zombie);
}

#[test]
fn a_foreign_pid_file_older_than_its_process_is_reused_and_clean_keeps_it() {
    let tmp = common::tempdir();
    let live = sleeper();
    let path = tmp.path().join("old.pid");
    pidfile::write(&path, live.pid()).expect("write");
    age(&path, Duration::from_secs(3600));
    assert_eq!(
        pidfile::status(&path, &SystemTable::new()),
        PidFileStatus::Stale {
            pid: live.pid(),
            reason: StaleKind::Reused
        }
    );
    let (code, stdout, _) = check(tmp.path(), &["old.pid", "--clean"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains(&StaleKind::Reused.to_string()), "{stdout}");
    assert!(stdout.contains("kept"), "{stdout}");
    assert!(
        path.exists(),
        "a reuse guess on a foreign file is not enough to remove it"
    );
    let (code, value) = check_json(tmp.path(), "old.pid", true);
    assert_eq!(code, 1);
    assert_eq!(value["removed"], false);
    assert!(path.exists());

    // A fresh file naming the same process is its own.
    pidfile::write(&path, live.pid()).expect("write");
    assert_eq!(check(tmp.path(), &["old.pid"]).0, 0);
}

#[test]
fn a_pidward_written_pid_file_is_judged_by_its_owner_record() {
    let tmp = common::tempdir();
    let live = sleeper();
    let ticks = read_stat(live.pid()).expect("stat").start_ticks;
    let path = tmp.path().join("svc.pid");

    // The record names the live process exactly: running, however old the file looks.
    pidfile::write(&path, live.pid()).expect("write");
    vouch(&path, live.pid(), ticks, None);
    age(&path, Duration::from_secs(3600));
    assert!(pidfile::written_by_pidward(&path));
    assert_eq!(check(tmp.path(), &["svc.pid"]).0, 0);

    // Other start ticks: the PID was reused for sure, so --clean removes pidward's own file.
    vouch(&path, live.pid(), ticks + 1, None);
    let (code, value) = check_json(tmp.path(), "svc.pid", true);
    assert_eq!(code, 1);
    assert_eq!(value["reason"], StaleKind::Reused.to_string());
    assert_eq!(value["removed"], true);
    assert!(!path.exists());

    // A record from an earlier boot.
    pidfile::write(&path, live.pid()).expect("write");
    vouch(&path, live.pid(), ticks, Some("an-earlier-boot"));
    assert_eq!(
        pidfile::status(&path, &SystemTable::new()),
        PidFileStatus::Stale {
            pid: live.pid(),
            reason: StaleKind::OtherBoot
        }
    );
}

#[test]
fn check_refuses_a_symlinked_pid_file() {
    let tmp = common::tempdir();
    // The target names a running process: following the link would say "running".
    let target = tmp.path().join("target.pid");
    pidfile::write(&target, me()).expect("write");
    let link = tmp.path().join("app.pid");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");

    let (code, stdout, stderr) = check(tmp.path(), &["app.pid", "--clean"]);
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert!(stdout.contains("symbolic link"), "{stdout}");
    assert!(fs::symlink_metadata(&link)
        .expect("lstat")
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_to_string(&target).expect("read"),
        format!("{}\n", me())
    );
    assert!(pidfile::read(&link).is_err(), "read refuses it too");

    // Not even a stale target is removed through the link.
    pidfile::write(&target, dead_pid()).expect("write");
    let (code, _, _) = check(tmp.path(), &["app.pid", "--clean"]);
    assert_eq!(code, 4);
    assert!(target.exists() && fs::symlink_metadata(&link).is_ok());
}

#[test]
fn remove_if_ours_only_removes_our_pid() {
    let tmp = common::tempdir();
    let path = tmp.path().join("a.pid");
    pidfile::write(&path, 77).expect("write");
    assert!(!pidfile::remove_if_ours(&path, 78).expect("not ours"));
    assert!(path.exists());
    assert!(pidfile::remove_if_ours(&path, 77).expect("ours"));
    assert!(!path.exists());
    assert!(!pidfile::remove_if_ours(&path, 77).expect("gone"));
}

// ---------------------------------------------------------------------------------------------
// PidFile: the single-instance guard

#[test]
fn pidfile_create_is_single_instance_and_removed_on_drop() {
    let tmp = common::tempdir();
    let path = tmp.path().join("app.pid");
    let guard = PidFile::create(&path).expect("create");
    assert_eq!(guard.pid(), me());
    assert_eq!(
        fs::read_to_string(&path).expect("read"),
        format!("{}\n", me())
    );
    assert_eq!(mode(&path), 0o644);
    assert_eq!(check(tmp.path(), &["app.pid"]).0, 0);

    // flock on two open file descriptions conflicts even within one process.
    match PidFile::create(&path) {
        Err(e @ PidFileError::AlreadyRunning { .. }) => {
            assert!(
                e.to_string()
                    .contains(&format!("already running as PID {}", me())),
                "{e}"
            );
            assert!(matches!(e, PidFileError::AlreadyRunning { pid: Some(p), .. } if p == me()));
        }
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    assert_eq!(
        fs::read_to_string(&path).expect("read"),
        format!("{}\n", me())
    );
    drop(guard);
    assert!(!path.exists(), "removed on drop");
    assert_eq!(
        names_in(tmp.path()),
        Vec::<String>::new(),
        "no temp files left"
    );

    let again = PidFile::create(&path).expect("free again");
    drop(again);
    assert!(!path.exists());
}

#[test]
fn pidfile_create_refuses_a_file_locked_by_another_process() {
    let tmp = common::tempdir();
    let path = tmp.path().join("app.pid");
    fs::write(&path, "4321\n").expect("write");
    let mut cmd = Command::new("/usr/bin/flock");
    cmd.arg(&path).args(["sleep", "30"]).stdin(Stdio::null());
    let other = Proc::spawn(cmd);
    assert!(wait_until(PATIENCE, || pidward::lock::kernel_holders(
        &path
    )
    .is_ok_and(|h| h.iter().any(|k| k.pid == other.pid()))));
    match PidFile::create(&path) {
        Err(PidFileError::AlreadyRunning { pid, .. }) => assert_eq!(pid, Some(4321)),
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    assert_eq!(fs::read_to_string(&path).expect("read"), "4321\n");
    drop(other);
    // flock(1)'s child dies with it, but may close the descriptor a moment later.
    assert!(wait_until(PATIENCE, || pidward::lock::kernel_holders(
        &path
    )
    .is_ok_and(|h| h.is_empty())));
    // Unlocked now, naming a process that is not us: stale, replaced.
    let guard = PidFile::create(&path).expect("create");
    assert_eq!(pidfile::read(&path).expect("read"), me());
    drop(guard);
}

#[test]
fn pidfile_create_replaces_a_stale_file() {
    let tmp = common::tempdir();
    let path = tmp.path().join("app.pid");
    pidfile::write(&path, dead_pid()).expect("write");
    let old_inode = fs::metadata(&path).expect("stat").ino();
    let guard = PidFile::create(&path).expect("stale file replaced");
    assert_eq!(
        fs::read_to_string(&path).expect("read"),
        format!("{}\n", me())
    );
    assert_ne!(fs::metadata(&path).expect("stat").ino(), old_inode);
    assert!(PidFile::create(&path).is_err(), "and held");
    drop(guard);
    assert!(!path.exists());
}

#[test]
fn pidfile_drop_leaves_a_file_someone_else_replaced() {
    let tmp = common::tempdir();

    // Rewritten in place with another PID.
    let in_place = tmp.path().join("a.pid");
    let guard = PidFile::create(&in_place).expect("create");
    fs::write(&in_place, "1\n").expect("overwrite");
    drop(guard);
    assert_eq!(fs::read_to_string(&in_place).expect("kept"), "1\n");

    // Replaced by another file — even one holding our PID: not our inode, not ours to remove.
    let renamed = tmp.path().join("b.pid");
    let guard = PidFile::create(&renamed).expect("create");
    let theirs = tmp.path().join("theirs");
    fs::write(&theirs, format!("{}\n", me())).expect("write");
    fs::rename(&theirs, &renamed).expect("rename");
    drop(guard);
    assert!(renamed.exists(), "another file at the path is left alone");
}

#[test]
fn pidfile_create_refuses_a_symlink() {
    let tmp = common::tempdir();
    let target = tmp.path().join("target");
    fs::write(&target, "precious\n").expect("write");
    let link = tmp.path().join("app.pid");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let err = PidFile::create(&link).expect_err("symlink refused");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(fs::read_to_string(&target).expect("read"), "precious\n");
    assert!(fs::symlink_metadata(&link)
        .expect("lstat")
        .file_type()
        .is_symlink());
}
