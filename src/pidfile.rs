//! PID files: `PID\n` and nothing else, readable by `start-stop-daemon`, `pkill -F` and
//! systemd's `PIDFile=`.
//!
//! Written atomically (temp file + rename in the same directory), mode 0644 whatever the umask,
//! never through a symlink; read tolerantly (surrounding whitespace is fine); removed only while
//! they still hold our PID. [`status`] tells a running owner from a dead one, a zombie, a PID
//! handed to an unrelated process, or a file from an earlier boot.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.pid");
//! let guard = pidward::pidfile::PidFile::create(&path)?; // single instance: held until drop
//! assert_eq!(pidward::pidfile::read(&path)?, std::process::id() as i32);
//! assert!(pidward::pidfile::PidFile::create(&path).is_err()); // a second instance is refused
//! drop(guard);
//! assert!(!path.exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::lock::{self, OwnerRecord, ProcessRef};
use crate::process::{host_facts, ProcessTable};

mod guard;
pub use guard::PidFile;

/// Seconds of slack when comparing a process's start time with a PID file's mtime: boot time,
/// and so every start time derived from it, is rounded to whole seconds.
pub const START_TIME_SLACK_SECS: u64 = 2;

/// Why a PID file's PID no longer names its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StaleKind {
    /// No process has that PID.
    Dead,
    /// The process exited and was not reaped yet.
    Zombie,
    /// The PID belongs to a process that is not the file's owner.
    Reused,
    /// The file was written during an earlier boot.
    OtherBoot,
}

impl fmt::Display for StaleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StaleKind::Dead => "no process has this PID",
            StaleKind::Zombie => "the process is a zombie (exited, not reaped)",
            StaleKind::Reused => "the PID now belongs to another process",
            StaleKind::OtherBoot => "the file is from an earlier boot",
        })
    }
}

/// What a PID file says about its process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidFileStatus {
    /// The process runs.
    Running {
        /// Its PID.
        pid: i32,
    },
    /// The file names a process that is gone.
    Stale {
        /// The PID in the file.
        pid: i32,
        /// Why it is stale.
        reason: StaleKind,
    },
    /// No file.
    Missing,
    /// The file does not hold a PID.
    Invalid {
        /// What it holds (lossy UTF-8, capped).
        content: String,
    },
}

/// PID file errors, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// The content is not a PID.
    #[error("{}: not a PID file: content is {content:?} (expected a PID and a newline); remove it if nothing uses it", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Its content.
        content: String,
    },
    /// Another live instance holds the PID file.
    #[error("{}: already running as PID {}", path.display(), pid.map_or("?".to_owned(), |p| p.to_string()))]
    AlreadyRunning {
        /// The file.
        path: PathBuf,
        /// The running instance's PID, when it could be read.
        pid: Option<i32>,
    },
    /// A system call failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl PidFileError {
    fn io(path: &Path, op: &'static str, source: io::Error) -> PidFileError {
        PidFileError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}

/// Writes `pid` to `path` atomically (temp + rename), mode 0644; refuses a symlink at `path`.
///
/// # Errors
/// When the directory is not writable or `path` is a symlink or a directory.
pub fn write(path: &Path, pid: i32) -> Result<(), PidFileError> {
    refuse_symlink(path)?;
    lock::fsutil::replace_atomically(path, format!("{pid}\n").as_bytes())
        .map_err(|e| PidFileError::io(path, "writing the PID file", e))
}

fn refuse_symlink(path: &Path) -> Result<(), PidFileError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(PidFileError::io(
            path,
            "refusing a symbolic link",
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the PID file path is a symbolic link; remove it",
            ),
        )),
        Ok(m) if m.is_dir() => Err(PidFileError::io(
            path,
            "refusing a directory",
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the PID file path is a directory",
            ),
        )),
        _ => Ok(()),
    }
}

/// Parses PID file content: a positive PID, surrounding whitespace allowed.
pub fn parse(content: &str) -> Option<i32> {
    content.trim().parse::<i32>().ok().filter(|p| *p > 0)
}

/// Reads the PID in `path`.
///
/// # Errors
/// `Invalid` with the content shown; `Io` (`NotFound` when missing, or a symlink refused).
pub fn read(path: &Path) -> Result<i32, PidFileError> {
    let file = open_for_read(path)?;
    read_from(path, &file)
}

fn open_for_read(path: &Path) -> Result<File, PidFileError> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => PidFileError::io(
                path,
                "refusing a symbolic link",
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the PID file is a symbolic link",
                ),
            ),
            _ => PidFileError::io(path, "opening the PID file", e),
        })
}

fn read_from(path: &Path, file: &File) -> Result<i32, PidFileError> {
    use std::os::unix::fs::FileExt;
    // Positional read from offset 0: the guard's own descriptor sits at the end of what it wrote.
    let mut buf = [0u8; 4097];
    let n = file
        .read_at(&mut buf, 0)
        .map_err(|e| PidFileError::io(path, "reading the PID file", e))?;
    let text = String::from_utf8_lossy(&buf[..n]);
    let pid = if n < buf.len() { parse(&text) } else { None };
    pid.ok_or_else(|| {
        // Show a garbage file's start, not all of it.
        let mut content: String = text.chars().take(200).collect();
        if content.len() < text.len() {
            content.push('…');
        }
        PidFileError::Invalid {
            path: path.to_path_buf(),
            content,
        }
    })
}

/// Removes `path` if it still holds `pid`; `Ok(false)` when it holds something else or is gone.
///
/// # Errors
/// When it cannot be read or removed.
pub fn remove_if_ours(path: &Path, pid: i32) -> Result<bool, PidFileError> {
    let file = match open_for_read(path) {
        Ok(file) => file,
        Err(PidFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    };
    if read_from(path, &file).ok() != Some(pid) || !lock::fsutil::still_names(&file, path) {
        return Ok(false);
    }
    std::fs::remove_file(path).map_err(|e| PidFileError::io(path, "removing the PID file", e))?;
    Ok(true)
}

/// The owner record that vouches for a PID file pidward wrote: the lock file beside it
/// (`NAME.lock` for `NAME.pid`) whose record names this PID as holder or child.
pub fn owner_record(path: &Path, pid: i32) -> Option<OwnerRecord> {
    let lock_path = path.with_extension("lock");
    let (bytes, _) = lock::fsutil::read_capped(&lock_path).ok()?;
    let record = OwnerRecord::decode(&bytes)?;
    let vouches = record.processes().any(|p| p.pid == pid);
    vouches.then_some(record)
}

/// The status of the PID file at `path`.
///
/// With an owner record (see [`owner_record`]) the identity check is exact (start ticks, boot
/// id); for a foreign PID file it is a heuristic: a process that started after the file was
/// last written is not its owner, which a wall-clock step can fool.
pub fn status(path: &Path, table: &dyn ProcessTable) -> PidFileStatus {
    let file = match open_for_read(path) {
        Ok(file) => file,
        Err(PidFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return PidFileStatus::Missing
        }
        Err(e) => {
            return PidFileStatus::Invalid {
                content: e.to_string(),
            }
        }
    };
    let pid = match read_from(path, &file) {
        Ok(pid) => pid,
        Err(PidFileError::Invalid { content, .. }) => return PidFileStatus::Invalid { content },
        Err(e) => {
            return PidFileStatus::Invalid {
                content: e.to_string(),
            }
        }
    };
    let mtime = file.metadata().ok().and_then(|m| m.modified().ok());
    judge(pid, owner_record(path, pid).as_ref(), mtime, table)
}

fn judge(
    pid: i32,
    owner: Option<&OwnerRecord>,
    mtime: Option<std::time::SystemTime>,
    table: &dyn ProcessTable,
) -> PidFileStatus {
    let stale = |reason| PidFileStatus::Stale { pid, reason };
    if let Some(record) = owner {
        let here = host_facts();
        if record.boot_id != here.boot_id {
            return stale(StaleKind::OtherBoot);
        }
        let expected = record
            .processes()
            .find(|p| p.pid == pid)
            .map(|p: ProcessRef| p.start_ticks);
        return match (table.facts(pid), expected) {
            (None, _) => stale(StaleKind::Dead),
            (Some(f), _) if f.zombie => stale(StaleKind::Zombie),
            (Some(f), Some(ticks)) if f.start_ticks != ticks => stale(StaleKind::Reused),
            _ => PidFileStatus::Running { pid },
        };
    }
    let mtime_secs = mtime
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    let boot = sysinfo::System::boot_time().ok();
    match table.facts(pid) {
        None => match (mtime_secs, boot) {
            (Some(m), Some(b)) if m + START_TIME_SLACK_SECS < b => stale(StaleKind::OtherBoot),
            _ => stale(StaleKind::Dead),
        },
        Some(f) if f.zombie => stale(StaleKind::Zombie),
        Some(f) if mtime_secs.is_some_and(|m| f.start_time > m + START_TIME_SLACK_SECS) => {
            stale(StaleKind::Reused)
        }
        Some(_) => PidFileStatus::Running { pid },
    }
}

/// Whether pidward wrote the PID file at `path` (an owner record vouches for its PID).
pub fn written_by_pidward(path: &Path) -> bool {
    read(path)
        .ok()
        .is_some_and(|pid| owner_record(path, pid).is_some())
}
