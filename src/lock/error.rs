//! Lock errors, each naming the lock's path and, where it matters, its holder.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::holders::{format_utc, HolderInfo};

/// Who holds a lock, in one line for error messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolderSummary {
    /// The holding PIDs (the record's owner first, then the kernel's holders).
    pub pids: Vec<i32>,
    /// The holder's command line.
    pub command: Option<String>,
    /// Acquisition time, milliseconds since the epoch.
    pub since_ms: Option<u64>,
    /// The holder's host, when it is not this one.
    pub host: Option<String>,
    /// The record's label.
    pub label: Option<String>,
    /// The artefact holds no pidward record.
    pub foreign: bool,
}

impl HolderSummary {
    /// Summarises a [`HolderInfo`].
    pub fn from_info(info: &HolderInfo) -> HolderSummary {
        let here = &crate::process::host_facts().host;
        let mut pids: Vec<i32> = Vec::new();
        // A flock record only names a holder the kernel confirms: a released file keeps its
        // last record.
        let kernel_lock = info.kind == Some(super::LockKind::Flock);
        if let Some(r) = &info.record {
            if (!kernel_lock && info.kernel.is_empty())
                || info.kernel.iter().any(|k| k.pid == r.pid)
            {
                pids.push(r.pid);
            }
        }
        for k in &info.kernel {
            if !pids.contains(&k.pid) {
                pids.push(k.pid);
            }
        }
        let record_named = info
            .record
            .as_ref()
            .is_some_and(|r| pids.first() == Some(&r.pid));
        let command = info.command.clone().filter(|_| record_named).or_else(|| {
            info.kernel
                .first()
                .map(|k| k.command.clone())
                .filter(|c| !c.is_empty())
        });
        HolderSummary {
            pids,
            command,
            since_ms: info.record.as_ref().map(|r| r.since_ms),
            host: info
                .record
                .as_ref()
                .map(|r| r.host.clone())
                .filter(|h| h != here),
            label: info.record.as_ref().and_then(|r| r.label.clone()),
            foreign: info.foreign,
        }
    }
}

impl fmt::Display for HolderSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.foreign {
            return f.write_str("held by another tool (no pidward owner record)");
        }
        if self.pids.is_empty() {
            return f.write_str("holder unknown (it may have just let go)");
        }
        let pids: Vec<String> = self.pids.iter().map(i32::to_string).collect();
        write!(f, "held by PID {}", pids.join(", "))?;
        if let Some(host) = &self.host {
            write!(f, " on {host}")?;
        }
        if let Some(label) = &self.label {
            write!(f, " [{label}]")?;
        }
        if let Some(command) = &self.command {
            write!(f, " ({command})")?;
        }
        if let Some(ms) = self.since_ms {
            write!(f, " since {}", format_utc(ms))?;
        }
        Ok(())
    }
}

/// Why a lock could not be taken or released.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The lock is held and no wait was asked for.
    #[error("{}: lock is busy, {holder}", path.display())]
    Busy {
        /// The lock's path.
        path: PathBuf,
        /// Its holder.
        holder: Box<HolderSummary>,
    },
    /// The wait ran out.
    #[error("{}: timed out after {} waiting for the lock, {holder}", path.display(), fmt_duration(*waited))]
    Timeout {
        /// The lock's path.
        path: PathBuf,
        /// How long it waited.
        waited: Duration,
        /// Its holder.
        holder: Box<HolderSummary>,
    },
    /// This process holds the lock shared and asked for it exclusive.
    #[error("{}: this process holds the lock shared and cannot also take it exclusive (conversion is not atomic); drop the shared guard first", path.display())]
    ModeConflict {
        /// The lock's path.
        path: PathBuf,
    },
    /// This process's lease was taken over; its guards must be dropped before it can try again.
    #[error("{}: this process's lease on the lock was lost to another holder; drop its guards, then acquire again", path.display())]
    LeaseLost {
        /// The lock's path.
        path: PathBuf,
    },
    /// Shared mode asked of a kind that has none.
    #[error("{}: {kind} locks have no shared mode; use the flock kind for --shared", path.display())]
    SharedUnsupported {
        /// The lock's path.
        path: PathBuf,
        /// The kind asked for.
        kind: super::LockKind,
    },
    /// A system call failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl LockError {
    /// An I/O error with its path and operation.
    pub fn io(path: &Path, op: &'static str, source: io::Error) -> LockError {
        LockError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    /// True for `Busy` and `Timeout`: someone else has the lock.
    pub fn is_contention(&self) -> bool {
        matches!(self, LockError::Busy { .. } | LockError::Timeout { .. })
    }
}

/// `1.5s`, `250ms`, `2m30s`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        1000..60_000 => format!("{:.1}s", d.as_secs_f64()),
        _ => format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000),
    }
}
