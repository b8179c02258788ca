//! The `LOCK.gen` sidecar: the fencing generation, and a host-local mutex that serialises the
//! steps which must not interleave (breaking a stale lock, renewing a lease, releasing).
//!
//! The sidecar is never removed, so the generation survives the removal of `soft`/`dir`/`lease`
//! artefacts and other tools truncating a `flock` file. It is rewritten atomically (temp +
//! rename), which replaces the inode that was locked; every locker therefore re-checks after
//! locking that the path still names the inode it locked, and retries otherwise.
//!
//! No `fsync`: after a power loss the generation may go back to an earlier value (the rename may
//! not have reached the disk). A resource that fences on it must persist the highest generation
//! it has accepted and refuse anything at or below it.

use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::fsutil::{self, FILE_MODE};

/// The sidecar path for a lock at `lock_path`: `LOCK.gen`.
pub fn sidecar_path(lock_path: &Path) -> PathBuf {
    let mut name = lock_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".gen");
    lock_path.with_file_name(name)
}

/// Runs `f` while holding an exclusive `flock` on the current inode of the sidecar.
///
/// Where the file system has no working `flock` (`ENOLCK`, `EOPNOTSUPP`), `f` runs unserialised:
/// the callers' own re-checks still apply, but only across processes of one host does this
/// mutex exist at all.
pub fn with_sidecar<T>(lock_path: &Path, f: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    let path = sidecar_path(lock_path);
    loop {
        let file = match fsutil::open_nofollow(
            &path,
            OpenOptions::new().read(true).write(true).create(true),
        ) {
            Ok(file) => file,
            Err(e) => return Err(fsutil::symlink_error(e)),
        };
        match lock_patiently(&file) {
            Ok(()) => {}
            Err(e) if unsupported(&e) => return f(&path),
            Err(e) => return Err(e),
        }
        if fsutil::still_names(&file, &path) {
            let _ = file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE));
            let result = f(&path);
            drop(file);
            return result;
        }
    }
}

/// How long to wait for the sidecar: pidward holds it for microseconds, so a longer hold means a
/// stuck (or stopped) process, and waiting forever would turn `try_acquire` into a hang.
pub const SIDECAR_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

fn lock_patiently(file: &std::fs::File) -> io::Result<()> {
    let deadline = std::time::Instant::now() + SIDECAR_PATIENCE;
    let mut pause = std::time::Duration::from_micros(200);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() >= deadline => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the sidecar lock has been held for over {SIDECAR_PATIENCE:?} (see `pidward holder` on the .gen file)"),
                ));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(20));
            }
        }
    }
}

fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOLCK) | Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
    )
}

/// Reads the current generation (0 when the sidecar is missing or empty).
pub fn read_generation(lock_path: &Path) -> u64 {
    read_at(&sidecar_path(lock_path))
}

fn read_at(path: &Path) -> u64 {
    let mut text = String::new();
    let Ok(file) = fsutil::open_nofollow(path, OpenOptions::new().read(true)) else {
        return 0;
    };
    let _ = file.take(64).read_to_string(&mut text);
    text.trim().parse().unwrap_or(0)
}

/// Bumps the generation by one and returns the new value.
pub fn bump_generation(lock_path: &Path) -> io::Result<u64> {
    with_sidecar(lock_path, |path| {
        let next = read_at(path).saturating_add(1);
        fsutil::replace_atomically(path, format!("{next}\n").as_bytes())?;
        Ok(next)
    })
}
