//! Small file-system primitives shared by the lock kinds: no-follow opens, capped reads, inode
//! identity checks, unique names and atomic replacement.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::owner::MAX_RECORD_BYTES;

/// The mode of every lock, record and PID file, set explicitly whatever the umask.
pub const FILE_MODE: u32 = 0o644;

/// A file's identity: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl FileId {
    /// The identity in `meta`.
    pub fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// A single number for fingerprints.
    pub fn as_u64(self) -> u64 {
        self.dev.rotate_left(32) ^ self.ino
    }
}

/// Opens `path` without following a final symlink, close-on-exec (std always sets `O_CLOEXEC`).
pub fn open_nofollow(path: &Path, opts: &mut OpenOptions) -> io::Result<File> {
    opts.custom_flags(libc::O_NOFOLLOW)
        .mode(FILE_MODE)
        .open(path)
}

/// Creates `path`, which must not exist, with `bytes` as content and mode 0644.
pub fn create_new(path: &Path, bytes: &[u8]) -> io::Result<File> {
    let mut file = open_nofollow(
        path,
        OpenOptions::new().write(true).read(true).create_new(true),
    )?;
    file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    file.write_all(bytes)?;
    Ok(file)
}

/// Reads a small regular file (at most one owner record plus one byte) without following
/// symlinks or blocking on a FIFO; returns the bytes and the file's identity.
pub fn read_capped(path: &Path) -> io::Result<(Vec<u8>, FileId)> {
    let file = open_nofollow(
        path,
        OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK),
    )
    .map_err(symlink_error)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::with_capacity(256);
    file.take(MAX_RECORD_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok((bytes, FileId::of(&meta)))
}

/// `ELOOP` from `O_NOFOLLOW` means the final component is a symlink: say so.
pub fn symlink_error(err: io::Error) -> io::Error {
    if err.raw_os_error() == Some(libc::ELOOP) {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a symbolic link; refusing to follow it",
        )
    } else {
        err
    }
}

/// The identity of whatever `path` names now (not following a symlink).
pub fn id_at(path: &Path) -> io::Result<FileId> {
    std::fs::symlink_metadata(path).map(|m| FileId::of(&m))
}

/// True when `path` still names the inode open as `file`, and that inode is still linked.
pub fn still_names(file: &File, path: &Path) -> bool {
    let (Ok(open), Ok(now)) = (file.metadata(), std::fs::symlink_metadata(path)) else {
        return false;
    };
    open.nlink() > 0 && FileId::of(&open) == FileId::of(&now)
}

/// A unique, hidden sibling name of `path` for temp files and claimed-then-removed artefacts.
pub fn sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{tag}.{}", unique()))
}

/// A string unique to this call across processes and boots on this host.
pub fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{}-{nanos:x}-{n}",
        std::process::id(),
        crate::process::own_start_ticks()
    )
}

/// Replaces `path` with `bytes` atomically: a temp file in the same directory, then `rename`.
pub fn replace_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = sibling(path, "tmp");
    let result = create_new(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Milliseconds since the Unix epoch, for display fields.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
