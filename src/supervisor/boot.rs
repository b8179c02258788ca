//! Before the loop: a safe runtime directory, the single-instance PID file, the file-descriptor
//! limit, and the subreaper flag.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Why the supervisor cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The runtime directory is not safe to trust.
    #[error("{}: unsafe runtime directory: {why}; {fix}", path.display())]
    UnsafeRuntimeDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What is wrong.
        why: String,
        /// How to fix it.
        fix: String,
    },
    /// Another supervisor runs on this runtime directory.
    #[error("pidward is already running as PID {} on the runtime directory {}", pid.map_or("?".to_owned(), |p| p.to_string()), dir.display())]
    AlreadyRunning {
        /// Its PID.
        pid: Option<i32>,
        /// The runtime directory.
        dir: std::path::PathBuf,
    },
    /// A system call failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Creates the runtime directory (0755 as root, 0700 otherwise), or checks that an existing one
/// is a real directory owned by us and writable by nobody else: `/tmp/pidward-$UID` could have
/// been created first by anyone.
///
/// # Errors
/// [`BootError::UnsafeRuntimeDir`] saying which check failed and how to fix it.
pub fn ensure_runtime_dir(path: &Path) -> Result<(), BootError> {
    let uid = nix::unistd::geteuid().as_raw();
    let mode = if uid == 0 { 0o755 } else { 0o700 };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| BootError::Io {
            path: parent.to_path_buf(),
            op: "creating the parent of the runtime directory",
            source,
        })?;
    }
    match std::fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {
            // The umask may have narrowed the mode; set it exactly.
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
            return Ok(());
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(BootError::Io {
                path: path.to_path_buf(),
                op: "creating the runtime directory",
                source,
            })
        }
    }
    let meta = std::fs::symlink_metadata(path).map_err(|source| BootError::Io {
        path: path.to_path_buf(),
        op: "examining the runtime directory",
        source,
    })?;
    let unsafe_dir = |why: &str, fix: String| BootError::UnsafeRuntimeDir {
        path: path.to_path_buf(),
        why: why.to_owned(),
        fix,
    };
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir(
            "it is a symbolic link",
            "remove it, or set [supervisor] runtime_dir to a directory you own".to_owned(),
        ));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir(
            "it is not a directory",
            "remove it, or set [supervisor] runtime_dir".into(),
        ));
    }
    if meta.uid() != uid {
        return Err(unsafe_dir(
            &format!("it is owned by uid {}, not by us (uid {uid})", meta.uid()),
            "remove it (as its owner) and let pidward create it, or set [supervisor] runtime_dir"
                .to_owned(),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unsafe_dir(
            &format!(
                "it is writable by group or others (mode {:o})",
                meta.mode() & 0o777
            ),
            format!("run `chmod go-w {}`", path.display()),
        ));
    }
    Ok(())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (1000 services need thousands of
/// descriptors); returns the original (soft, hard) to give back to children.
pub fn raise_nofile() -> (u64, u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard {
                if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                    log::warn!("raising RLIMIT_NOFILE to {hard}: {e}");
                }
            }
            (soft, hard)
        }
        Err(_) => (1024, 4096),
    }
}

/// Becomes a child subreaper, so orphaned grandchildren are reparented to us and reaped.
pub fn become_subreaper() {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        log::warn!("PR_SET_CHILD_SUBREAPER: {e}");
    }
}
