//! Reaping: `waitpid(-1, WNOHANG)` until nothing is left, so that no zombie survives, ours or
//! reparented to us as a subreaper.

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

/// How a reaped process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// `exit(code)`.
    Exited(i32),
    /// Killed by a signal.
    Signaled {
        /// The signal number.
        signal: i32,
        /// Core dumped.
        core: bool,
    },
}

impl Termination {
    /// How a reaped process ended, from a wait status; `None` for a status that is not an end
    /// (still alive, stopped, continued).
    pub fn of(status: WaitStatus) -> Option<(i32, Termination)> {
        match status {
            WaitStatus::Exited(pid, code) => Some((pid.as_raw(), Termination::Exited(code))),
            WaitStatus::Signaled(pid, sig, core) => Some((
                pid.as_raw(),
                Termination::Signaled {
                    signal: sig as i32,
                    core,
                },
            )),
            _ => None,
        }
    }
}

/// Reaps every exited child; returns their PIDs and how they ended.
pub fn reap_all() -> Vec<(i32, Termination)> {
    let mut reaped = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return reaped,
            Ok(status) => reaped.extend(Termination::of(status)),
            Err(Errno::EINTR) => continue,
            Err(e) => {
                log::warn!("waitpid: {e}");
                return reaped;
            }
        }
    }
}

/// Sends `signal` to the process group `pgid`; `Ok(false)` when the group is already gone.
///
/// # Errors
/// `EPERM` and the like.
pub fn signal_group(pgid: i32, signal: nix::sys::signal::Signal) -> nix::Result<bool> {
    match nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), signal) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The processes in process group `pgid` (a scan of `/proc`; for rare paths only).
pub fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| super::read_stat(*pid).is_some_and(|s| s.pgrp == pgid && s.state != 'Z'))
        .collect()
}
