//! The on-disk artefact of the `soft`, `dir` and `lease` kinds, and the race-free operations on
//! it: claim, look, break when stale, rewrite, release.
//!
//! Creating the artefact *is* the claim, and it is created with its owner record already inside
//! (a hard link of a finished temp file; a finished temp directory renamed with
//! `RENAME_NOREPLACE`), so no reader ever sees a claimed but empty artefact from pidward.
//!
//! Breaking, rewriting and releasing run under the sidecar's `flock` (see `sidecar`), and each
//! re-checks under it that the artefact is still the one judged: the same inode and bytes, or our
//! token. A breaker moves the artefact to a private name and verifies the inode once more before
//! deleting it, putting it back if it moved the wrong one — so of eight waiters that find the
//! same stale lock at once, exactly one breaks it, and none can remove a newcomer's claim.

use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};

use super::fsutil::{self, FileId};
use super::owner::OwnerRecord;
use super::sidecar;

/// The shape of the artefact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A file holding the record (`soft`, `lease`).
    File,
    /// A directory holding the record in `owner` (`dir`).
    Dir,
}

/// Name of the record file inside a `dir` lock.
pub const OWNER_FILE: &str = "owner";

/// What a look at an existing artefact found.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The raw record bytes (empty when a directory has no record file).
    pub bytes: Vec<u8>,
    /// The decoded record, if it is pidward's.
    pub record: Option<OwnerRecord>,
    /// The artefact's identity (the directory's, for `dir`).
    pub id: FileId,
}

/// Tries to create the artefact with `bytes` inside: `Ok(true)` when this call created it.
pub fn claim(shape: Shape, path: &Path, bytes: &[u8]) -> io::Result<bool> {
    match shape {
        Shape::File => claim_file(path, bytes),
        Shape::Dir => claim_dir(path, bytes),
    }
}

fn claim_file(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    let tmp = fsutil::sibling(path, "claim");
    let file = fsutil::create_new(&tmp, bytes)?;
    let linked = match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        // NFS may report an error for a link that was made (a retransmitted request): the link
        // count says what really happened.
        Err(e) => match file.metadata() {
            Ok(m) if std::os::unix::fs::MetadataExt::nlink(&m) == 2 => Ok(true),
            _ if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EOPNOTSUPP)) => {
                // No hard links on this file system: fall back to O_CREAT|O_EXCL.
                let _ = std::fs::remove_file(&tmp);
                return match fsutil::create_new(path, bytes) {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(e),
                };
            }
            _ => Err(e),
        },
    };
    let _ = std::fs::remove_file(&tmp);
    linked
}

fn claim_dir(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    let tmp = fsutil::sibling(path, "claim");
    std::fs::create_dir(&tmp)?;
    let prepared = fsutil::create_new(&tmp.join(OWNER_FILE), bytes);
    let renamed = prepared.and_then(|_| {
        renameat2(
            AT_FDCWD,
            &tmp,
            AT_FDCWD,
            path,
            RenameFlags::RENAME_NOREPLACE,
        )
        .map_err(io::Error::from)
    });
    match renamed {
        Ok(()) => Ok(true),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            match e.raw_os_error() {
                Some(libc::EEXIST) | Some(libc::ENOTEMPTY) => Ok(false),
                // No RENAME_NOREPLACE here (NFS, FUSE): plain mkdir, then the record.
                Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => {
                    match std::fs::create_dir(path) {
                        Ok(()) => fsutil::create_new(&path.join(OWNER_FILE), bytes).map(|_| true),
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                        Err(e) => Err(e),
                    }
                }
                _ => Err(e),
            }
        }
    }
}

/// Looks at the artefact: `Ok(None)` when there is none.
pub fn look(shape: Shape, path: &Path) -> io::Result<Option<Seen>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let (bytes, id) = match shape {
        Shape::Dir if meta.is_dir() => {
            let bytes = match fsutil::read_capped(&path.join(OWNER_FILE)) {
                Ok((bytes, _)) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e),
            };
            (bytes, FileId::of(&meta))
        }
        Shape::Dir => return Err(not_a("directory")),
        Shape::File if meta.is_file() => match fsutil::read_capped(path) {
            Ok(found) => found,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        },
        Shape::File => return Err(not_a("regular file")),
    };
    let record = OwnerRecord::decode(&bytes);
    Ok(Some(Seen { bytes, record, id }))
}

fn not_a(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("exists but is not a {what}"),
    )
}

/// Removes the artefact if it is still exactly the one in `seen`; `Ok(true)` when this call did.
pub fn break_stale(shape: Shape, path: &Path, seen: &Seen) -> io::Result<bool> {
    sidecar::with_sidecar(path, |_| {
        match look(shape, path)? {
            Some(now) if now.id == seen.id && now.bytes == seen.bytes => {}
            _ => return Ok(false),
        }
        remove_verified(shape, path, seen.id)
    })
}

/// Replaces the record inside the artefact, if the artefact still holds our `token`.
/// `Ok(false)`: it does not (the lock was lost).
pub fn rewrite(shape: Shape, path: &Path, token: &str, bytes: &[u8]) -> io::Result<bool> {
    sidecar::with_sidecar(path, |_| {
        if !holds_token(shape, path, token)? {
            return Ok(false);
        }
        fsutil::replace_atomically(&record_path(shape, path), bytes)?;
        Ok(true)
    })
}

/// Removes the artefact if it still holds our `token`; `Ok(false)` if it did not.
pub fn release(shape: Shape, path: &Path, token: &str) -> io::Result<bool> {
    sidecar::with_sidecar(path, |_| {
        let Some(seen) = look(shape, path)? else {
            return Ok(false);
        };
        if seen.record.as_ref().map(|r| r.token.as_str()) != Some(token) {
            return Ok(false);
        }
        remove_verified(shape, path, seen.id)
    })
}

/// Removes the artefact without checking its owner (`pidward unlock --force`).
pub fn remove_any(shape: Shape, path: &Path) -> io::Result<bool> {
    sidecar::with_sidecar(path, |_| match look(shape, path)? {
        Some(seen) => remove_verified(shape, path, seen.id),
        None => Ok(false),
    })
}

fn holds_token(shape: Shape, path: &Path, token: &str) -> io::Result<bool> {
    Ok(look(shape, path)?
        .and_then(|s| s.record)
        .is_some_and(|r| r.token == token))
}

fn record_path(shape: Shape, path: &Path) -> PathBuf {
    match shape {
        Shape::File => path.to_path_buf(),
        Shape::Dir => path.join(OWNER_FILE),
    }
}

/// Moves the artefact to a private name, checks it is the inode `expect`, deletes it; puts it
/// back untouched if another process replaced it in between.
fn remove_verified(shape: Shape, path: &Path, expect: FileId) -> io::Result<bool> {
    let private = fsutil::sibling(path, "stale");
    match std::fs::rename(path, &private) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    if fsutil::id_at(&private)? != expect {
        restore(shape, &private, path);
        return Ok(false);
    }
    match shape {
        Shape::File => std::fs::remove_file(&private)?,
        Shape::Dir => std::fs::remove_dir_all(&private)?,
    }
    Ok(true)
}

fn restore(shape: Shape, private: &Path, path: &Path) {
    let result = match shape {
        Shape::File => {
            std::fs::hard_link(private, path).and_then(|()| std::fs::remove_file(private))
        }
        Shape::Dir => renameat2(
            AT_FDCWD,
            private,
            AT_FDCWD,
            path,
            RenameFlags::RENAME_NOREPLACE,
        )
        .map_err(|e: Errno| io::Error::from(e)),
    };
    if let Err(e) = result {
        log::warn!(target: "pidward::lock", "{}: could not put back a lock artefact moved by mistake (left at {}): {e}", path.display(), private.display());
    }
}
