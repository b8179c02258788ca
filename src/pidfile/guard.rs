//! The single-instance PID file (BSD `pidfile(3)` style): published atomically *and* locked for
//! the life of the process, so a second instance fails with `AlreadyRunning`.
//!
//! The lock must be on the inode that the path names, and an atomic rename replaces that inode;
//! so the new file is locked *before* it is published (a fresh temp file, which nobody else can
//! have open), then linked into place when no file exists (`link` fails if one appeared), or
//! renamed over a stale file whose lock we took first (proof that its owner is gone). Every
//! contender re-checks after locking that the path still names the inode it locked.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{read_from, PidFileError};
use crate::lock;

/// A held single-instance PID file; removed (if still ours) and unlocked on drop, and on
/// SIGTERM/SIGINT through the signal registry.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: i32,
    file: Arc<Mutex<Option<File>>>,
    cleanup: Option<crate::signals::CleanupId>,
}

impl PidFile {
    /// Creates and locks the PID file at `path` holding this process's PID.
    ///
    /// # Errors
    /// `AlreadyRunning` when a live instance holds it; `Io` otherwise (symlink refused).
    pub fn create(path: impl AsRef<Path>) -> Result<PidFile, PidFileError> {
        PidFile::create_for(path.as_ref(), std::process::id() as i32)
    }

    /// As [`PidFile::create`], recording `pid` (a daemon records the PID it will run as).
    ///
    /// # Errors
    /// As [`PidFile::create`].
    pub fn create_for(path: &Path, pid: i32) -> Result<PidFile, PidFileError> {
        super::refuse_symlink(path)?;
        let file = loop {
            if let Some(file) = attempt(path, pid)? {
                break file;
            }
        };
        let file = Arc::new(Mutex::new(Some(file)));
        let weak = Arc::downgrade(&file);
        let cleanup_path = path.to_path_buf();
        let cleanup = crate::signals::register_cleanup(move || {
            if let Some(file) = weak.upgrade() {
                remove(&cleanup_path, pid, &file);
            }
        })
        .map_err(|e| log::warn!(target: "pidward::pidfile", "{}: no cleanup at SIGTERM: {e}", path.display()))
        .ok();
        log::debug!(target: "pidward::pidfile", "{}: created for PID {pid}", path.display());
        Ok(PidFile {
            path: path.to_path_buf(),
            pid,
            file,
            cleanup,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The PID it holds.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

/// One try: `Ok(None)` means the path changed under us; look again.
fn attempt(path: &Path, pid: i32) -> Result<Option<File>, PidFileError> {
    let io_err = |op| move |e| PidFileError::io(path, op, e);
    let existing =
        lock::fsutil::open_nofollow(path, std::fs::OpenOptions::new().read(true).write(true));
    let stale = match existing {
        Ok(file) => match file.try_lock() {
            Ok(()) if lock::fsutil::still_names(&file, path) => Some(file),
            Ok(()) => return Ok(None),
            Err(TryLockError::WouldBlock) if lock::fsutil::still_names(&file, path) => {
                let pid = read_from(path, &file).ok();
                return Err(PidFileError::AlreadyRunning {
                    path: path.to_path_buf(),
                    pid,
                });
            }
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(io_err("locking the PID file")(e)),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(io_err("opening the PID file")(lock::fsutil::symlink_error(
                e,
            )))
        }
    };
    let tmp = lock::fsutil::sibling(path, "new");
    let fresh = lock::fsutil::create_new(&tmp, format!("{pid}\n").as_bytes())
        .map_err(io_err("creating the PID file"))?;
    let published = fresh
        .try_lock()
        .map_err(|e| io::Error::other(e.to_string()))
        .and_then(|()| match &stale {
            Some(_) => std::fs::rename(&tmp, path),
            None => std::fs::hard_link(&tmp, path),
        });
    let _ = std::fs::remove_file(&tmp);
    match published {
        Ok(()) if lock::fsutil::still_names(&fresh, path) => {
            if let Some(old) = stale {
                log::debug!(target: "pidward::pidfile", "{}: replaced a stale PID file", path.display());
                drop(old);
            }
            Ok(Some(fresh))
        }
        Ok(()) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(io_err("publishing the PID file")(e)),
    }
}

fn remove(path: &Path, pid: i32, file: &Mutex<Option<File>>) {
    let Some(file) = file.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return;
    };
    // Unlink while still holding the lock, and only our own inode with our own PID.
    if lock::fsutil::still_names(&file, path) && read_from(path, &file).ok() == Some(pid) {
        if let Err(e) = std::fs::remove_file(path) {
            log::warn!(target: "pidward::pidfile", "{}: could not remove: {e}", path.display());
        }
    }
    drop(file);
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(id) = self.cleanup.take() {
            crate::signals::unregister_cleanup(id);
        }
        remove(&self.path, self.pid, &self.file);
    }
}
