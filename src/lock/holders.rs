//! Who holds a lock: the owner record, and for `flock` the kernel's own answer.
//!
//! A `flock` lock's record alone never says "held" (a released file keeps its last record, and
//! tools that open with `O_TRUNC` erase it): the kernel does. `/proc/PID/fdinfo/FD` carries a
//! `lock:` line for each lock held through that descriptor, and lists every process sharing the
//! locked open file description (inherited copies included); `/proc/locks` names only the
//! process that took the lock, which may be long gone.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Serialize;

use super::artefact::{self, Shape};
use super::fsutil::{self, FileId};
use super::owner::OwnerRecord;
use super::sidecar;
use super::stale::{self, StalePolicy, Verdict};
use super::{LockKind, LockMode};
use crate::process::{host_facts, ProcessTable, SystemTable};

/// A process holding a `flock` lock, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelHolder {
    /// The PID.
    pub pid: i32,
    /// Exclusive (`WRITE`) or shared (`READ`).
    pub mode: LockMode,
    /// The command line.
    pub command: String,
}

/// Everything known about who holds a lock.
#[derive(Debug, Clone, Serialize)]
pub struct HolderInfo {
    /// The lock's path.
    pub path: String,
    /// The kind, when it could be told (or was given).
    pub kind: Option<LockKind>,
    /// Whether the lock is held now.
    pub held: bool,
    /// The owner record, when there is one of ours.
    pub record: Option<OwnerRecord>,
    /// The holder's command line, from the record's PID.
    pub command: Option<String>,
    /// For `flock`: every process holding it, per the kernel.
    pub kernel: Vec<KernelHolder>,
    /// The fencing generation in the sidecar (0 when none).
    pub generation: u64,
    /// For `soft`/`dir`/`lease`: why an existing artefact is abandoned (judged by PID only).
    pub stale: Option<String>,
    /// The artefact exists but holds no pidward record (another tool's lock).
    pub foreign: bool,
}

/// Lists the processes holding a `flock` lock on the file at `path`.
///
/// # Errors
/// When `path` cannot be examined.
pub fn kernel_holders(path: &Path) -> io::Result<Vec<KernelHolder>> {
    let id = FileId::of(&fs::metadata(path)?);
    if !proc_locks_mentions(id.ino) {
        return Ok(Vec::new());
    }
    let mut holders = Vec::new();
    for entry in fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(mode) = held_by_process(pid, id) {
            let command = fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    String::from_utf8_lossy(&b)
                        .replace('\0', " ")
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default();
            holders.push(KernelHolder { pid, mode, command });
        }
    }
    Ok(holders)
}

/// Cheap pre-check: any `FLOCK` line in `/proc/locks` on this inode number.
fn proc_locks_mentions(ino: u64) -> bool {
    let Ok(text) = fs::read_to_string("/proc/locks") else {
        return true;
    };
    let suffix = format!(":{ino}");
    text.lines()
        .filter(|l| l.contains("FLOCK"))
        .any(|l| l.split_whitespace().any(|field| field.ends_with(&suffix)))
}

fn held_by_process(pid: i32, id: FileId) -> Option<LockMode> {
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    for fd in fds.flatten() {
        let Ok(meta) = fs::metadata(fd.path()) else {
            continue;
        };
        if meta.dev() != id.dev || meta.ino() != id.ino {
            continue;
        }
        let info = fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ));
        let Ok(info) = info else { continue };
        for line in info
            .lines()
            .filter(|l| l.starts_with("lock:") && l.contains("FLOCK"))
        {
            if !line.contains("->") {
                return Some(if line.contains("READ") {
                    LockMode::Shared
                } else {
                    LockMode::Exclusive
                });
            }
        }
    }
    None
}

/// Who holds the lock at `path`; the kind is told from what is on disk unless given.
///
/// # Errors
/// When the path exists but cannot be examined.
pub fn holder(path: &Path, kind: Option<LockKind>) -> io::Result<HolderInfo> {
    let table = SystemTable::new();
    let mut info = HolderInfo {
        path: path.display().to_string(),
        kind,
        held: false,
        record: None,
        command: None,
        kernel: Vec::new(),
        generation: sidecar::read_generation(path),
        stale: None,
        foreign: false,
    };
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(info),
        Err(e) => return Err(e),
    };
    let shape = if meta.is_dir() {
        Shape::Dir
    } else {
        Shape::File
    };
    if meta.is_dir() {
        info.kind = Some(LockKind::Dir);
    }
    let seen = match shape {
        Shape::Dir => artefact::look(Shape::Dir, path)?,
        Shape::File => Some(fsutil::read_capped(path).map(|(bytes, id)| artefact::Seen {
            record: OwnerRecord::decode(&bytes),
            bytes,
            id,
        })?),
    };
    let Some(seen) = seen else { return Ok(info) };
    info.record = seen.record.clone();
    info.kind = info.kind.or(seen.record.as_ref().map(|r| r.kind));
    if info.kind.is_none_or(|k| k == LockKind::Flock) {
        info.kernel = kernel_holders(path)?;
        let looks_free_flock = seen.bytes.is_empty() || seen.record.is_some();
        if info.kernel.is_empty() && !looks_free_flock {
            // Content that is not ours and no kernel lock: another tool's soft lock marker.
            info.kind = Some(LockKind::Soft);
        } else {
            info.kind = Some(LockKind::Flock);
            info.held = !info.kernel.is_empty();
        }
    }
    if info.kind != Some(LockKind::Flock) {
        info.held = true;
        info.foreign = seen.record.is_none();
        let policy = StalePolicy::default();
        let verdict = stale::judge(
            seen.record.as_ref(),
            host_facts(),
            &table,
            Default::default(),
            &policy,
        );
        if let Verdict::Stale(reason) = verdict {
            info.stale = Some(reason.to_string());
        }
    }
    if let Some(record) = &info.record {
        if info.held {
            info.command = table
                .facts(record.pid)
                .map(|f| f.command)
                .filter(|c| !c.is_empty());
        }
    }
    Ok(info)
}

/// Formats milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Howard Hinnant's days-to-civil.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_795_000_000_000), "2026-11-18 11:06:40 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }
}
