//! What pidward knows about processes: identity (PID + start ticks + boot), liveness through
//! `sysinfo`, and signalling that PID reuse cannot misdirect.
//!
//! Identity rests on the start time in clock ticks (field 22 of `/proc/PID/stat`), read here
//! directly: `sysinfo` rounds start times to whole seconds, which PID reuse can beat. `sysinfo`
//! supplies liveness, zombie state, the command line and wall-clock start times, refreshing only
//! the PIDs asked about.

mod host;
mod pidfd;
pub mod reap;
pub mod spawn;
mod stat;

use std::cell::RefCell;
use std::io;

use nix::sys::signal::Signal;
use sysinfo::{Pid as SysPid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, UpdateKind};

pub use host::{host_facts, HostFacts};
pub use pidfd::PidFd;
pub use stat::{parse_stat, StatFields};

/// What the process table says about one live (or zombie) process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessFacts {
    /// The PID.
    pub pid: i32,
    /// Start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
    pub start_ticks: u64,
    /// Wall-clock start time, seconds since the Unix epoch (boot time + ticks, rounded).
    pub start_time: u64,
    /// True for a zombie: exited, not yet reaped; dead for every purpose here.
    pub zombie: bool,
    /// The command line, space-joined (empty for kernel threads or when unreadable).
    pub command: String,
}

/// A source of [`ProcessFacts`]; the seam that lets stale-PID logic run against fake processes.
pub trait ProcessTable {
    /// Facts about `pid`, or `None` when no such process exists.
    fn facts(&self, pid: i32) -> Option<ProcessFacts>;
}

/// The real process table: `sysinfo` plus `/proc/PID/stat`, refreshing only the PIDs asked about.
pub struct SystemTable {
    sys: RefCell<Option<sysinfo::System>>,
}

impl Default for SystemTable {
    fn default() -> Self {
        SystemTable::new()
    }
}

impl SystemTable {
    /// An empty table; nothing is scanned until a PID is asked about.
    pub fn new() -> SystemTable {
        SystemTable {
            sys: RefCell::new(sysinfo::System::new().ok()),
        }
    }
}

impl ProcessTable for SystemTable {
    fn facts(&self, pid: i32) -> Option<ProcessFacts> {
        let upid = u32::try_from(pid).ok().filter(|p| *p > 0)?;
        let stat = read_stat(pid)?;
        let mut guard = self.sys.borrow_mut();
        let (zombie, start_time, command) = match guard.as_mut() {
            Some(sys) => {
                let spid = SysPid::from_u32(upid);
                let kind = ProcessRefreshKind::nothing().with_cmd(UpdateKind::Always);
                sys.refresh_processes_specifics(ProcessesToUpdate::Some(&[spid]), true, kind);
                let proc_ = sys.process(spid)?;
                let command = proc_
                    .cmd()
                    .iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" ");
                (
                    proc_.status() == ProcessStatus::Zombie,
                    proc_.start_time(),
                    command,
                )
            }
            // sysinfo could not initialise: fall back to what /proc/PID/stat says.
            None => (stat.state == 'Z', 0, String::new()),
        };
        Some(ProcessFacts {
            pid,
            start_ticks: stat.start_ticks,
            start_time,
            zombie: zombie || stat.state == 'Z',
            command,
        })
    }
}

/// Reads and parses `/proc/PID/stat`; `None` when the process does not exist.
pub fn read_stat(pid: i32) -> Option<StatFields> {
    let content = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&content)
}

/// The start ticks of the calling process.
pub fn own_start_ticks() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    // Cached per PID (a fork, e.g. daemonizing, gets its own): every lock acquisition needs it,
    // and reading /proc/self/stat was most of an uncontended acquisition's cost.
    static CACHE: AtomicU64 = AtomicU64::new(0);
    let pid = u64::from(std::process::id());
    let cached = CACHE.load(Ordering::Relaxed);
    if cached != 0 && cached >> 40 == pid {
        return cached & ((1 << 40) - 1);
    }
    let ticks = read_stat(pid as i32).map_or(0, |s| s.start_ticks);
    if ticks < 1 << 40 && pid < 1 << 24 {
        CACHE.store(pid << 40 | ticks, Ordering::Relaxed);
    }
    ticks
}

/// Whether `pid` is alive (not a zombie) and still the process that started at `start_ticks`.
pub fn is_same_live_process(table: &dyn ProcessTable, pid: i32, start_ticks: u64) -> bool {
    matches!(table.facts(pid), Some(f) if !f.zombie && f.start_ticks == start_ticks)
}

/// Sends `signal` to `pid` only if it is still the process that started at `start_ticks`.
///
/// The pidfd is opened *before* the start time is checked, so the signal cannot reach a process
/// that took the PID over in between.
///
/// # Errors
/// `ESRCH` when the process is gone or its PID now names another process.
pub fn signal_verified(pid: i32, start_ticks: u64, signal: Signal) -> io::Result<()> {
    let pidfd = PidFd::open(pid)?;
    match read_stat(pid) {
        Some(s) if s.start_ticks == start_ticks && s.state != 'Z' => pidfd.send_signal(signal),
        _ => Err(io::Error::from_raw_os_error(libc::ESRCH)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calling_process_is_alive_and_identified() {
        let table = SystemTable::new();
        let me = std::process::id() as i32;
        let facts = table.facts(me).expect("own process");
        assert!(!facts.zombie);
        assert_eq!(facts.start_ticks, own_start_ticks());
        assert!(is_same_live_process(&table, me, facts.start_ticks));
        assert!(!is_same_live_process(&table, me, facts.start_ticks + 1));
    }

    #[test]
    fn nonexistent_pids_have_no_facts() {
        let table = SystemTable::new();
        assert!(table.facts(0).is_none());
        assert!(table.facts(-5).is_none());
        assert!(table.facts(i32::MAX).is_none());
    }
}
