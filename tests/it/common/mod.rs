//! Test harness: the real binary, a temp directory per test, children in their own process
//! groups that are killed on drop, and polling for a condition up to a deadline.

#![allow(dead_code)]

pub mod supervisor;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The `pidward` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pidward"))
}

/// A `pidward` command with `args`, in `dir`, with a clean logging environment.
pub fn pidward(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("PIDWARD_SOCKET");
    cmd
}

/// Runs to completion and returns the output (stdin closed).
pub fn run(dir: &Path, args: &[&str]) -> Output {
    pidward(dir, args)
        .stdin(Stdio::null())
        .output()
        .expect("run pidward")
}

/// A private temp directory for one test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pidward-it-")
        .tempdir()
        .expect("tempdir")
}

/// A child process in its own process group; the whole group is SIGKILLed and reaped on drop,
/// so a failing test leaves nothing running.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    /// Spawns `cmd` in a new process group.
    pub fn spawn(mut cmd: Command) -> Proc {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        Proc {
            child: cmd.spawn().expect("spawn"),
        }
    }

    /// The PID.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` to the process itself (not its group).
    pub fn signal(&self, sig: Signal) {
        let _ = nix::sys::signal::kill(Pid::from_raw(self.pid()), sig);
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Polls `cond` every few milliseconds until it holds or `timeout` passes; true if it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a process with `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Generous upper bound for anything that should happen "promptly" on a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(20);
