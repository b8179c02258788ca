//! The `flock` kind: a kernel advisory lock on the lock file, interoperable with `flock(1)` and
//! every other `flock(2)` user.
//!
//! Waiting blocks in the kernel, so a waiter wakes the moment the holder lets go. A bounded wait
//! blocks in a helper thread and hands the locked descriptor over; a `flock(2)` call can only be
//! cut short by a signal, and a library must not take a signal disposition away from its user.
//! A wait that times out leaves that thread blocked until the lock is next free; it then closes
//! its descriptor at once, never holding the lock for anyone.
//!
//! After every acquisition the path is checked to still name the locked inode (it may have been
//! unlinked by a holder releasing with `remove_on_release`), retrying otherwise: systemd's lock
//! file protocol. A `flock(1)` waiter does not re-check, so it can wake up holding a removed inode.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use super::fsutil::{self, FILE_MODE};
use super::LockMode;

/// How long to wait for the kernel lock.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// Do not wait.
    Try,
    /// Wait as long as it takes.
    Forever,
    /// Wait until this instant.
    Until(Instant),
}

/// Takes the lock at `path`: `Ok(None)` when it is busy (or the wait ran out).
pub fn acquire(path: &Path, mode: LockMode, wait: Wait) -> io::Result<Option<File>> {
    match wait {
        Wait::Try => lock_stable(path, mode, false),
        Wait::Forever => lock_stable(path, mode, true),
        Wait::Until(deadline) => {
            if let Some(file) = lock_stable(path, mode, false)? {
                return Ok(Some(file));
            }
            wait_in_thread(path.to_path_buf(), mode, deadline)
        }
    }
}

fn lock_stable(path: &Path, mode: LockMode, blocking: bool) -> io::Result<Option<File>> {
    loop {
        let file = open_lock_file(path)?;
        if !lock_once(&file, mode, blocking)? {
            return Ok(None);
        }
        if fsutil::still_names(&file, path) {
            // Mode set after locking, never before: a losing contender must not touch the file.
            let _ = file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE));
            return Ok(Some(file));
        }
        log::debug!(target: "pidward::lock", "{}: locked a removed inode, retrying", path.display());
    }
}

/// Opens (creating if needed) the lock file read-write: NFSv4 emulates `flock` with byte-range
/// locks, which need a writable descriptor. Falls back to opening an existing file without
/// `O_CREAT` (sticky directories and `protected_regular` refuse `O_CREAT` on another user's
/// file), then read-only.
fn open_lock_file(path: &Path) -> io::Result<File> {
    let created =
        fsutil::open_nofollow(path, OpenOptions::new().read(true).write(true).create(true));
    match created {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            fsutil::open_nofollow(path, OpenOptions::new().read(true).write(true))
                .or_else(|_| fsutil::open_nofollow(path, OpenOptions::new().read(true)))
        }
        other => other.map_err(fsutil::symlink_error),
    }
}

fn lock_once(file: &File, mode: LockMode, blocking: bool) -> io::Result<bool> {
    let result = match (mode, blocking) {
        (LockMode::Exclusive, true) => return file.lock().map(|()| true),
        (LockMode::Shared, true) => return file.lock_shared().map(|()| true),
        (LockMode::Exclusive, false) => file.try_lock(),
        (LockMode::Shared, false) => file.try_lock_shared(),
    };
    match result {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

#[derive(PartialEq)]
enum Handoff {
    Waiting,
    Abandoned,
}

fn wait_in_thread(path: PathBuf, mode: LockMode, deadline: Instant) -> io::Result<Option<File>> {
    let (tx, rx) = mpsc::sync_channel::<io::Result<Option<File>>>(1);
    let state = Arc::new(Mutex::new(Handoff::Waiting));
    let thread_state = Arc::clone(&state);
    std::thread::Builder::new()
        .name("pidward-lock-wait".into())
        .spawn(move || {
            let result = lock_stable(&path, mode, true);
            let Ok(guard) = thread_state.lock() else {
                return;
            };
            if *guard == Handoff::Waiting {
                let _ = tx.send(result);
            }
            // Abandoned: `result` drops here, closing the descriptor and so releasing the lock.
        })?;
    let remaining = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(remaining) {
        Ok(result) => result,
        Err(_) => {
            let mut guard = state
                .lock()
                .map_err(|_| io::Error::other("lock waiter panicked"))?;
            *guard = Handoff::Abandoned;
            drop(guard);
            // The waiter may have succeeded just before we gave up: take what it sent.
            rx.try_recv().unwrap_or(Ok(None))
        }
    }
}

/// Writes the owner record into the locked file, in place: write at offset 0, then trim to
/// length. (Truncating to zero first frees and reallocates a block on every acquisition, which
/// ext4 then flushes at close: 50x slower.) A reader may see a mix of two records for a moment;
/// that is a diagnostic loss only, the kernel holds the lock.
pub fn write_record(file: &File, bytes: &[u8]) -> io::Result<()> {
    file.write_all_at(bytes, 0)?;
    if file.metadata()?.len() != bytes.len() as u64 {
        file.set_len(bytes.len() as u64)?;
    }
    Ok(())
}

/// Releases a lock: with `remove`, unlinks the file first while the lock is still held, and only
/// if the path still names our inode; then closes the descriptor (never `LOCK_UN`, which would
/// also release it for a child that inherited the descriptor).
pub fn release(file: File, path: &Path, remove: bool) -> io::Result<()> {
    if remove && fsutil::still_names(&file, path) {
        std::fs::remove_file(path)?;
    }
    drop(file);
    Ok(())
}
