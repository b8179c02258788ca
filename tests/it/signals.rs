//! The signal registry, driven with real signals. Handlers are process-wide, so each test runs
//! a helper of its own: this very test binary, re-run with `--exact` on the same test and
//! `PIDWARD_SIGNAL_HELPER=<mode>` set, which registers handlers, prints `HELPER ready` and waits
//! for its stdin to close. The test (the driver) signals it and reads what it prints.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use nix::sys::signal::Signal;
use pidward::lock::{Lock, LockError, LockKind};
use pidward::pidfile::{PidFile, PidFileError};
use pidward::signals;

use crate::common::{self, Proc, PATIENCE};

const HELPER_ENV: &str = "PIDWARD_SIGNAL_HELPER";
const DIR_ENV: &str = "PIDWARD_SIGNAL_HELPER_DIR";

// ---------------------------------------------------------------------------------------------
// The helper side

/// Runs the helper and returns true when this process is one.
fn act_as_helper() -> bool {
    let Some(mode) = std::env::var_os(HELPER_ENV) else {
        return false;
    };
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).expect("helper dir"));
    match mode.to_str().expect("mode") {
        "order" => order_helper(),
        "cleanup" => cleanup_helper(&dir),
        "term-handler" => term_handler_helper(&dir),
        "event-loop" => event_loop_helper(&dir, false),
        "panicky" => panicky_helper(&dir),
        "event-loop-late" => event_loop_helper(&dir, true),
        other => panic!("unknown helper mode {other:?}"),
    }
    true
}

fn say(line: &str) {
    // stdout is line-buffered: each line reaches the driver as it is printed.
    println!("HELPER {line}");
}

fn until_stdin_closes() {
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

fn order_helper() {
    signals::register(Signal::SIGUSR1, |_| say("usr1 one")).expect("register");
    let two = signals::register(Signal::SIGUSR1, |_| say("usr1 two")).expect("register");
    signals::register(Signal::SIGUSR1, |_| say("usr1 three")).expect("register");
    signals::register(Signal::SIGUSR2, move |_| {
        say(&format!("unregistered {}", signals::unregister(two)))
    })
    .expect("register");
    say("ready");
    until_stdin_closes();
    say("bye");
}

/// Every kind of guard that cleans up at SIGTERM/SIGINT, and one that was told not to.
fn cleanup_helper(dir: &Path) {
    let soft = Lock::new(dir.join("soft.lock"))
        .kind(LockKind::Soft)
        .try_acquire()
        .expect("soft");
    let dir_lock = Lock::new(dir.join("dir.lock"))
        .kind(LockKind::Dir)
        .try_acquire()
        .expect("dir");
    let lease = Lock::new(dir.join("lease.lock"))
        .kind(LockKind::Lease)
        .try_acquire()
        .expect("lease");
    let flock = Lock::new(dir.join("flock.lock"))
        .remove_on_release(true)
        .try_acquire()
        .expect("flock");
    let kept = Lock::new(dir.join("kept.lock"))
        .kind(LockKind::Soft)
        .cleanup_on_signal(false)
        .try_acquire()
        .expect("kept");
    let pid_file = PidFile::create(dir.join("app.pid")).expect("pid file");
    say("ready");
    until_stdin_closes();
    drop((soft, dir_lock, lease, flock, kept, pid_file));
    say("bye");
}

fn term_handler_helper(dir: &Path) {
    let soft = Lock::new(dir.join("soft.lock"))
        .kind(LockKind::Soft)
        .try_acquire()
        .expect("soft");
    let term = signals::register(Signal::SIGTERM, |_| say("term handled")).expect("register");
    signals::register(Signal::SIGUSR2, move |_| {
        say(&format!("unregistered {}", signals::unregister(term)))
    })
    .expect("register");
    say("ready");
    until_stdin_closes();
    drop(soft);
    say("bye");
}

/// A handler that panics once, a handler for another signal, and a guard whose cleanup makes
/// SIGTERM "clean up, then exit 143".
fn panicky_helper(dir: &Path) {
    let soft = Lock::new(dir.join("soft.lock"))
        .kind(LockKind::Soft)
        .try_acquire()
        .expect("soft");
    use std::sync::atomic::{AtomicBool, Ordering};
    static PANICKED: AtomicBool = AtomicBool::new(false);
    signals::register(Signal::SIGUSR1, |_| {
        if !PANICKED.swap(true, Ordering::SeqCst) {
            say("usr1 panics");
            panic!("a handler's own bug");
        }
        say("usr1 again");
    })
    .expect("register");
    signals::register(Signal::SIGUSR2, |_| say("usr2")).expect("register");
    say("ready");
    until_stdin_closes();
    drop(soft);
    say("bye");
}

/// Names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

/// Event-loop mode, as the supervisor runs it: `poll_fd` + `dispatch_pending` on this thread.
/// `late`: a guard has already started the dispatcher thread before the switch.
fn event_loop_helper(dir: &Path, late: bool) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;

    let early_guard = late.then(|| {
        Lock::new(dir.join("early.lock"))
            .kind(LockKind::Soft)
            .try_acquire()
            .expect("early lock")
    });
    let signal_fd = signals::poll_fd().expect("poll_fd");
    // Guards taken in event-loop mode register their cleanups without starting a thread.
    let pid_file = PidFile::create(dir.join("app.pid")).expect("pid file");
    let soft = Lock::new(dir.join("soft.lock"))
        .kind(LockKind::Soft)
        .try_acquire()
        .expect("soft");
    let loop_thread = std::thread::current().id();
    signals::register(Signal::SIGUSR1, move |_| {
        say(if std::thread::current().id() == loop_thread {
            "usr1 on the loop"
        } else {
            "usr1 elsewhere"
        })
    })
    .expect("register");
    // A dispatcher thread started before the switch hands over and ends.
    let gone = common::wait_until(PATIENCE, || {
        !thread_names().iter().any(|n| n == "pidward-signals")
    });
    say(&format!("dispatcher thread {}", !gone));
    say("ready");
    let stdin = std::io::stdin();
    loop {
        let mut fds = [
            PollFd::new(signal_fd, PollFlags::POLLIN),
            PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => other.expect("poll"),
        };
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        let (signalled, input) = (ready(&fds[0]), ready(&fds[1]));
        if signalled {
            say("woke");
            signals::dispatch_pending();
        }
        if input && stdin.lock().read(&mut [0u8; 64]).unwrap_or(0) == 0 {
            break;
        }
    }
    drop((early_guard, pid_file, soft));
    say("bye");
}

// ---------------------------------------------------------------------------------------------
// The driver side

struct Helper {
    proc_: Proc,
    lines: Receiver<String>,
}

impl Helper {
    /// Runs the test `test` (its name within this module) as a helper in `mode`.
    fn start(test: &str, mode: &str, dir: &Path) -> Helper {
        let exe = std::env::current_exe().expect("current_exe");
        let mut cmd = Command::new(exe);
        cmd.args([
            "--exact",
            &format!("signals::{test}"),
            "--nocapture",
            "--test-threads=1",
            // The helper runs even when its test is #[ignore]d.
            "--include-ignored",
        ])
        .env(HELPER_ENV, mode)
        .env(DIR_ENV, dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
        let mut proc_ = Proc::spawn(cmd);
        let stdout = proc_.child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may print `test NAME ... ` on the same line, before the helper's.
                if let Some(at) = line.find("HELPER ") {
                    if tx.send(line[at + "HELPER ".len()..].to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        Helper { proc_, lines }
    }

    fn spawn(test: &str, mode: &str, dir: &Path) -> Helper {
        let helper = Helper::start(test, mode, dir);
        helper.expect("ready");
        helper
    }

    fn pid(&self) -> i32 {
        self.proc_.pid()
    }

    fn expect(&self, want: &str) {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(got) => assert_eq!(got, want),
            Err(e) => panic!("waiting for {want:?} from the helper: {e}"),
        }
    }

    /// Waits for `want`, skipping `woke` lines; returns how many it skipped.
    fn expect_after_wakes(&self, want: &str) -> usize {
        let mut wakes = 0;
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(got) if got == "woke" => wakes += 1,
                Ok(got) => {
                    assert_eq!(got, want);
                    return wakes;
                }
                Err(e) => panic!("waiting for {want:?} from the helper: {e}"),
            }
        }
    }

    fn signal(&self, sig: Signal) {
        self.proc_.signal(sig);
    }

    fn close_stdin(&mut self) {
        drop(self.proc_.child.stdin.take());
    }

    fn exit_code(&mut self) -> Option<i32> {
        let status = self.proc_.wait_timeout(PATIENCE).expect("helper exited");
        status.code()
    }

    /// Everything else the helper said, once it has exited.
    fn rest(&self) -> Vec<String> {
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            rest.push(line);
        }
        rest
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn handlers_run_in_registration_order_and_unregister_removes_one() {
    if act_as_helper() {
        return;
    }
    let tmp = common::tempdir();
    let mut helper = Helper::spawn(
        "handlers_run_in_registration_order_and_unregister_removes_one",
        "order",
        tmp.path(),
    );
    helper.signal(Signal::SIGUSR1);
    helper.expect("usr1 one");
    helper.expect("usr1 two");
    helper.expect("usr1 three");

    helper.signal(Signal::SIGUSR2);
    helper.expect("unregistered true");
    helper.signal(Signal::SIGUSR1);
    helper.expect("usr1 one");
    helper.expect("usr1 three");

    // Handlers keep running, every time.
    helper.signal(Signal::SIGUSR1);
    helper.expect("usr1 one");
    helper.expect("usr1 three");

    helper.signal(Signal::SIGUSR2);
    helper.expect("unregistered false");
    helper.close_stdin();
    helper.expect("bye");
    assert_eq!(helper.exit_code(), Some(0));
    assert_eq!(helper.rest(), Vec::<String>::new(), "no stray handler ran");
}

/// What the cleanup helper leaves: (file, removed at SIGTERM/SIGINT?).
const CLEANED: [(&str, bool); 6] = [
    ("soft.lock", true),
    ("dir.lock", true),
    ("lease.lock", true),
    ("flock.lock", true),
    ("app.pid", true),
    ("kept.lock", false),
];

fn signal_runs_cleanups_and_exits(test: &str, sig: Signal, want_code: i32) {
    let tmp = common::tempdir();
    let dir = tmp.path();
    let mut helper = Helper::spawn(test, "cleanup", dir);
    for (name, _) in CLEANED {
        assert!(dir.join(name).exists(), "{name} held by the helper");
    }
    // The guards are real: this process cannot take them while the helper holds them.
    match PidFile::create(dir.join("app.pid")) {
        Err(PidFileError::AlreadyRunning { pid, .. }) => assert_eq!(pid, Some(helper.pid())),
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    match Lock::new(dir.join("soft.lock"))
        .kind(LockKind::Soft)
        .try_acquire()
    {
        Err(e @ LockError::Busy { .. }) => {
            assert!(e.to_string().contains(&helper.pid().to_string()), "{e}")
        }
        other => panic!("expected Busy, got {other:?}"),
    }

    helper.signal(sig);
    assert_eq!(helper.exit_code(), Some(want_code), "exit code after {sig}");
    for (name, removed) in CLEANED {
        assert_eq!(
            !dir.join(name).exists(),
            removed,
            "{name}: removed at {sig}? expected {removed}"
        );
    }
    assert_eq!(
        helper.rest(),
        Vec::<String>::new(),
        "did not go the normal way out"
    );
}

#[test]
fn sigterm_without_a_handler_runs_the_cleanups_and_exits_143() {
    if act_as_helper() {
        return;
    }
    signal_runs_cleanups_and_exits(
        "sigterm_without_a_handler_runs_the_cleanups_and_exits_143",
        Signal::SIGTERM,
        143,
    );
}

#[test]
fn sigint_without_a_handler_runs_the_cleanups_and_exits_130() {
    if act_as_helper() {
        return;
    }
    signal_runs_cleanups_and_exits(
        "sigint_without_a_handler_runs_the_cleanups_and_exits_130",
        Signal::SIGINT,
        130,
    );
}

#[test]
fn guards_dropped_normally_clean_up_without_a_signal() {
    if act_as_helper() {
        return;
    }
    let tmp = common::tempdir();
    let dir = tmp.path();
    let mut helper = Helper::spawn(
        "guards_dropped_normally_clean_up_without_a_signal",
        "cleanup",
        dir,
    );
    helper.close_stdin();
    helper.expect("bye");
    assert_eq!(helper.exit_code(), Some(0));
    for (name, _) in CLEANED {
        assert!(!dir.join(name).exists(), "{name} released on drop");
    }
}

#[test]
fn a_sigterm_handler_takes_over_shutdown_until_unregistered() {
    if act_as_helper() {
        return;
    }
    let tmp = common::tempdir();
    let lock = tmp.path().join("soft.lock");
    let mut helper = Helper::spawn(
        "a_sigterm_handler_takes_over_shutdown_until_unregistered",
        "term-handler",
        tmp.path(),
    );
    for _ in 0..2 {
        helper.signal(Signal::SIGTERM);
        helper.expect("term handled");
        assert!(
            helper.proc_.child.try_wait().expect("try_wait").is_none(),
            "exited despite its SIGTERM handler"
        );
        assert!(lock.exists(), "cleanups ran despite the SIGTERM handler");
    }

    // With the handler gone, SIGTERM goes back to "clean up, then exit 143".
    helper.signal(Signal::SIGUSR2);
    helper.expect("unregistered true");
    helper.signal(Signal::SIGTERM);
    assert_eq!(helper.exit_code(), Some(143));
    assert!(!lock.exists(), "cleaned up at SIGTERM");
    assert_eq!(helper.rest(), Vec::<String>::new());
}

#[test]
fn unsupported_signals_are_refused() {
    let err = signals::register(Signal::SIGALRM, |_| {}).expect_err("SIGALRM");
    assert!(
        matches!(err, signals::SignalError::Unsupported(Signal::SIGALRM)),
        "{err:?}"
    );
    assert!(err.to_string().contains("not supported"), "{err}");
}

fn event_loop_mode(test: &str, mode: &str) {
    let tmp = common::tempdir();
    let dir = tmp.path();
    let mut helper = Helper::start(test, mode, dir);
    // Whatever started earlier, event-loop mode means no dispatcher thread from here on…
    let first = helper.lines.recv_timeout(PATIENCE).expect("helper started");
    helper.expect("ready");
    // …which the handlers show: they run on the loop's thread, once the loop woke. (A hand-over
    // may leave one spurious wake-up behind: `woke` lines are counted, not matched.)
    let mut wakes = 0;
    for round in 1..=2 {
        helper.signal(Signal::SIGUSR1);
        wakes += helper.expect_after_wakes("usr1 on the loop");
        assert!(wakes >= round, "the loop never woke for the signal");
    }
    // No handler for SIGTERM: the loop's dispatch runs the cleanups and exits.
    assert!(dir.join("app.pid").exists() && dir.join("soft.lock").exists());
    helper.signal(Signal::SIGTERM);
    assert_eq!(helper.exit_code(), Some(143));
    assert!(!dir.join("app.pid").exists(), "PID file cleaned up");
    assert!(!dir.join("soft.lock").exists(), "soft lock cleaned up");
    let rest = helper.rest();
    assert!(
        !rest.is_empty() && rest.iter().all(|l| l == "woke"),
        "{rest:?}"
    );
    assert_eq!(first, "dispatcher thread false");
}

#[test]
fn event_loop_mode_runs_handlers_and_cleanups_on_the_loop_thread() {
    if act_as_helper() {
        return;
    }
    event_loop_mode(
        "event_loop_mode_runs_handlers_and_cleanups_on_the_loop_thread",
        "event-loop",
    );
}

#[test]
fn event_loop_mode_after_a_guard_started_the_dispatcher_thread() {
    if act_as_helper() {
        return;
    }
    event_loop_mode(
        "event_loop_mode_after_a_guard_started_the_dispatcher_thread",
        "event-loop-late",
    );
}

#[test]
fn a_panicking_handler_does_not_disable_signal_handling() {
    if act_as_helper() {
        return;
    }
    let tmp = common::tempdir();
    let mut helper = Helper::spawn(
        "a_panicking_handler_does_not_disable_signal_handling",
        "panicky",
        tmp.path(),
    );
    helper.signal(Signal::SIGUSR1);
    helper.expect("usr1 panics");
    helper.signal(Signal::SIGUSR2);
    helper.expect("usr2");
    helper.signal(Signal::SIGUSR1);
    helper.expect("usr1 again");
    // And SIGTERM still cleans up and ends the process.
    helper.signal(Signal::SIGTERM);
    assert_eq!(helper.exit_code(), Some(143));
    assert!(!tmp.path().join("soft.lock").exists());
}
