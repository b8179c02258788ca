//! `pidward run`, the real supervisor on real processes: start-up checks (single instance,
//! config errors, an unsafe runtime dir, stale PID files), the files it keeps while services
//! run and removes after, and an idle loop that never wakes. The other `run_*` modules cover
//! restarts, stopping, captured output and privileges, adoption after a crash, and reload.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common::supervisor::{proc_info, Supervisor};
use crate::common::{alive, wait_until, PATIENCE};

/// Two long sleepers; `one` is not restarted when it exits.
const TWO_SLEEPERS: &str = r#"
[services.one]
command = ["sleep", "1001"]
restart = "never"
start_secs = "200ms"

[services.two]
command = ["sleep", "1002"]
start_secs = "200ms"
"#;

fn names(list: &[&str]) -> std::collections::BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn pid_files_hold_the_right_pids_while_running_and_go_after_stop_and_shutdown() {
    let mut sup = Supervisor::start(TWO_SLEEPERS);
    sup.wait_state_in_log("one", "RUNNING");
    sup.wait_state_in_log("two", "RUNNING");
    for (name, arg) in [("one", "1001"), ("two", "1002")] {
        let pid = sup.wait_pid(name);
        let content = std::fs::read_to_string(sup.pidfile(name)).unwrap();
        assert_eq!(content, format!("{pid}\n"), "{name}.pid");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        assert!(
            stat.contains("(sleep)"),
            "{name}: /proc/{pid}/stat is {stat:?}"
        );
        assert_eq!(proc_info(pid).unwrap().argv, ["sleep", arg], "{name}");
        assert!(sup.lockfile(name).exists(), "{name}.lock while it runs");
    }
    // Nothing else: no temp files left from the atomic writes.
    assert_eq!(
        sup.runtime_entries(),
        names(&[
            "pidward.pid",
            "pidward.sock",
            "one.pid",
            "one.lock",
            "one.stdout",
            "one.stderr",
            "two.pid",
            "two.lock",
            "two.stdout",
            "two.stderr",
        ])
    );

    // `one` is stopped (`pidward stop` returns once it has): its PID and lock files go.
    let one = sup.pid_of("one").unwrap();
    let (code, out) = sup.cli(&["stop", "one"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!alive(one), "one still runs after stop");
    assert!(!sup.pidfile("one").exists(), "one.pid after stop");
    assert!(!sup.lockfile("one").exists(), "one.lock after stop");
    assert!(sup.pidfile("two").exists() && sup.lockfile("two").exists());

    // `two` exits on its own (killed from outside, restarted): the new PID replaces the old.
    let old_two = sup.pid_of("two").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old_two),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    sup.wait_state_count("two", "RUNNING", 2);
    let two = sup.wait_pid("two");
    assert_ne!(two, old_two);
    assert_eq!(
        std::fs::read_to_string(sup.pidfile("two")).unwrap(),
        format!("{two}\n")
    );

    let status = sup.terminate();
    assert_eq!(status.code(), Some(0), "{}", sup.log());
    assert!(!alive(two), "two survived the shutdown");
    // No PID file, lock file or FIFO is left after an orderly shutdown.
    assert_eq!(
        sup.runtime_entries(),
        names(&[]),
        "runtime dir after shutdown:\n{}",
        sup.log()
    );
}

#[test]
fn a_second_instance_on_the_same_runtime_dir_is_refused() {
    let sup = Supervisor::start(
        "[services.solo]\ncommand = [\"sleep\", \"1000\"]\nstart_secs = \"200ms\"\n",
    );
    sup.wait_state_in_log("solo", "RUNNING");
    let pid = sup.wait_pid("solo");
    let (code, out) = sup.run_to_exit();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("already running as PID {}", sup.pid())),
        "{out}"
    );
    // The first instance and its service are untouched.
    assert_eq!(sup.pid_of("solo"), Some(pid));
    assert!(alive(pid) && alive(sup.pid()));
    assert_eq!(sup.state_count("solo", "STARTING"), 1, "{}", sup.log());
}

#[test]
fn config_errors_exit_2_naming_file_line_and_column() {
    let sup = Supervisor::prepare("[services.typo]\ncomand = [\"sleep\", \"1000\"]\n");
    let line = sup.config_line_of("comand");
    let (code, out) = sup.run_to_exit();
    assert_eq!(code, Some(2), "{out}");
    let at = format!("{}:{line}:1: services.typo.comand", sup.config.display());
    assert!(out.contains(&at), "want {at:?} in:\n{out}");
    assert!(out.contains("did you mean `command`"), "{out}");

    sup.write_config(
        "[services.slow]\ncommand = [\"sleep\", \"1000\"]\nstart_secs = \"5 parsecs\"\n",
    );
    let line = sup.config_line_of("parsecs");
    let (code, out) = sup.run_to_exit();
    assert_eq!(code, Some(2), "{out}");
    let at = format!(
        "{}:{line}:14: services.slow.start_secs",
        sup.config.display()
    );
    assert!(out.contains(&at), "want {at:?} in:\n{out}");
    // Nothing was started: the runtime dir was not even created.
    assert!(
        !sup.runtime.exists(),
        "runtime dir created for a bad config"
    );
    assert!(sup.procs().is_empty());
}

#[test]
fn an_unsafe_existing_runtime_dir_is_refused() {
    let sup = Supervisor::prepare("[services.x]\ncommand = [\"sleep\", \"1000\"]\n");
    std::fs::create_dir(&sup.runtime).unwrap();
    std::fs::set_permissions(&sup.runtime, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (code, out) = sup.run_to_exit();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("writable by group or others"), "{out}");
    assert!(
        out.contains("chmod go-w"),
        "the message says how to fix it: {out}"
    );
    assert!(
        sup.runtime_entries().is_empty(),
        "it wrote into the unsafe dir"
    );

    std::fs::remove_dir(&sup.runtime).unwrap();
    let real = sup.path("elsewhere");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&real, &sup.runtime).unwrap();
    let (code, out) = sup.run_to_exit();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("symbolic link"), "{out}");
    assert_eq!(
        std::fs::read_dir(&real).unwrap().count(),
        0,
        "it wrote through the link"
    );
    assert!(sup.procs().is_empty());
}

#[test]
fn a_stale_pid_file_is_removed_at_start_and_the_service_starts() {
    let mut sup = Supervisor::prepare(
        "[services.phoenix]\ncommand = [\"sleep\", \"1000\"]\nstart_secs = \"200ms\"\n",
    );
    std::fs::create_dir(&sup.runtime).unwrap();
    std::fs::set_permissions(&sup.runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id() as i32;
    child.wait().unwrap();
    std::fs::write(sup.pidfile("phoenix"), format!("{dead}\n")).unwrap();

    sup.launch();
    sup.wait_log(&format!(
        "phoenix: removing stale PID file {} (PID {dead}: no such process)",
        sup.pidfile("phoenix").display()
    ));
    sup.wait_state_in_log("phoenix", "RUNNING");
    let pid = sup.wait_pid("phoenix");
    assert_ne!(pid, dead);
    assert_eq!(
        std::fs::read_to_string(sup.pidfile("phoenix")).unwrap(),
        format!("{pid}\n")
    );
    assert_eq!(sup.count_running(&["sleep", "1000"]), 1);
}

/// Voluntary context switches of every thread of `pid`.
fn voluntary_switches(pid: i32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .map(|task| {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap();
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap()
        })
        .sum()
}

#[test]
fn an_idle_supervisor_never_wakes_up() {
    let sup = Supervisor::start(
        r#"
[services.s1]
command = ["sleep", "1000"]
start_secs = "200ms"
[services.s2]
command = ["sleep", "1000"]
start_secs = "200ms"
[services.s3]
command = ["sleep", "1000"]
start_secs = "200ms"
"#,
    );
    for name in ["s1", "s2", "s3"] {
        sup.wait_state_in_log(name, "RUNNING");
    }
    // RUNNING is logged while the last deadline fires: wait until the loop is back in poll(2)
    // (sleeping, state S) before taking the first reading.
    let pid = sup.pid();
    assert!(wait_until(PATIENCE, || proc_info(pid).is_some_and(|p| p.state == 'S')));
    let before = voluntary_switches(pid);
    std::thread::sleep(Duration::from_secs(2));
    let after = voluntary_switches(pid);
    assert_eq!(
        after - before,
        0,
        "the idle supervisor woke {} times in 2 s:\n{}",
        after - before,
        sup.log()
    );
}
