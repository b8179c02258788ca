//! Locks: one API over four kinds ([`LockKind`]), with waiting, stale detection, holder
//! diagnostics and an optional fencing generation.
//!
//! ```
//! use std::time::Duration;
//! use pidward::lock::{Lock, LockKind};
//!
//! let dir = tempfile::tempdir()?;
//! let guard = Lock::new(dir.path().join("job.lock"))
//!     .kind(LockKind::Flock)
//!     .acquire(Some(Duration::from_secs(5)))?;
//! // … the critical section …
//! drop(guard); // released; `guard.release()` does the same and reports errors
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Guards are reentrant within one process (same path: a count, any thread) and release on drop;
//! `soft`/`dir`/`lease` guards and `remove_on_release` `flock` guards also clean up when SIGTERM or
//! SIGINT ends the process (see [`crate::signals`]). Logs go to the `pidward::lock` target.

mod acquire;
mod artefact;
mod error;
mod flock;
pub mod fsutil;
mod held;
mod holders;
mod kind;
mod lease;
mod owner;
mod registry;
mod sidecar;
mod stale;

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use artefact::Shape;
pub use error::{HolderSummary, LockError};
pub use holders::{format_utc, holder, kernel_holders, HolderInfo, KernelHolder};
pub use kind::{LockKind, LockMode};
pub use lease::LostCallback;
pub use owner::{OwnerRecord, ProcessRef, RECORD_VERSION};
pub use sidecar::{read_generation, sidecar_path};
pub use stale::{judge, StalePolicy, StaleReason, Verdict, Watch};

use held::Held;
use registry::Slot;

/// The default time to live of a lease.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// A lock to be taken: a builder; [`Lock::acquire`] and [`Lock::try_acquire`] return a guard.
#[derive(Clone)]
pub struct Lock {
    path: PathBuf,
    kind: LockKind,
    mode: LockMode,
    stale_after: Option<Duration>,
    ttl: Duration,
    label: Option<String>,
    generation: bool,
    remove_on_release: bool,
    cleanup_on_signal: bool,
    on_lost: Option<LostCallback>,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Lock {
    /// A lock at `path`: `flock`, exclusive, no generation, file kept on release.
    pub fn new(path: impl Into<PathBuf>) -> Lock {
        Lock {
            path: path.into(),
            kind: LockKind::Flock,
            mode: LockMode::Exclusive,
            stale_after: None,
            ttl: DEFAULT_TTL,
            label: None,
            generation: false,
            remove_on_release: false,
            cleanup_on_signal: true,
            on_lost: None,
        }
    }

    /// Chooses the kind.
    pub fn kind(mut self, kind: LockKind) -> Lock {
        self.kind = kind;
        self
    }

    /// Takes the lock shared (many readers, or one writer); `flock` only.
    pub fn shared(mut self, shared: bool) -> Lock {
        self.mode = if shared {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        };
        self
    }

    /// Breaks a lock whose record stayed unchanged this long, whoever holds it.
    pub fn stale_after(mut self, after: Option<Duration>) -> Lock {
        self.stale_after = after;
        self
    }

    /// The lease's time to live (`lease` kind; default 10 s).
    pub fn ttl(mut self, ttl: Duration) -> Lock {
        self.ttl = ttl;
        self
    }

    /// A label recorded in the owner record (the supervisor uses the service name).
    pub fn label(mut self, label: impl Into<String>) -> Lock {
        self.label = Some(label.into());
        self
    }

    /// Bumps and records the fencing generation at every acquisition.
    pub fn generation(mut self, on: bool) -> Lock {
        self.generation = on;
        self
    }

    /// `flock`: unlinks the lock file on release, while still holding it.
    pub fn remove_on_release(mut self, on: bool) -> Lock {
        self.remove_on_release = on;
        self
    }

    /// Whether SIGTERM/SIGINT (with no handler of the program's own) releases this lock before
    /// the process exits; on by default.
    pub fn cleanup_on_signal(mut self, on: bool) -> Lock {
        self.cleanup_on_signal = on;
        self
    }

    /// Called (from the heartbeat thread) when a lease is found lost.
    pub fn on_lease_lost(mut self, callback: impl Fn(&Path) + Send + Sync + 'static) -> Lock {
        self.on_lost = Some(Arc::new(callback));
        self
    }

    /// The lock's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the lock if it is free (breaking it first if it is stale).
    ///
    /// # Errors
    /// [`LockError::Busy`] naming the holder; I/O errors with the path.
    pub fn try_acquire(&self) -> Result<LockGuard, LockError> {
        acquire::acquire(self, acquire::Deadline::Now)
    }

    /// Takes the lock, waiting at most `timeout` (`None`: as long as it takes).
    ///
    /// # Errors
    /// [`LockError::Timeout`] naming the holder; I/O errors with the path.
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<LockGuard, LockError> {
        let deadline = match timeout {
            None => acquire::Deadline::Never,
            Some(t) => acquire::Deadline::At(std::time::Instant::now() + t),
        };
        acquire::acquire(self, deadline)
    }
}

/// Removes a `soft`/`dir`/`lease` artefact whoever holds it (`pidward unlock --force`).
///
/// # Errors
/// When it cannot be removed.
pub fn remove_artefact(shape: Shape, path: &Path) -> std::io::Result<bool> {
    artefact::remove_any(shape, path)
}

/// Runs `f` while holding an exclusive `flock` lock at `path` (waiting as long as it takes).
///
/// # Errors
/// As [`Lock::acquire`].
pub fn with_lock<T>(path: impl AsRef<Path>, f: impl FnOnce() -> T) -> Result<T, LockError> {
    let guard = Lock::new(path.as_ref()).acquire(None)?;
    let value = f();
    guard.release()?;
    Ok(value)
}

/// A held lock; released when the last guard of this process for its path drops.
#[derive(Debug)]
pub struct LockGuard {
    held: Arc<Held>,
    slot: Arc<Slot>,
    key: PathBuf,
    released: bool,
}

impl LockGuard {
    /// The lock's path.
    pub fn path(&self) -> &Path {
        &self.held.path
    }

    /// The lock's kind.
    pub fn kind(&self) -> LockKind {
        self.held.kind
    }

    /// The fencing generation of this acquisition, when generations are on.
    pub fn generation(&self) -> Option<u64> {
        self.held.generation
    }

    /// The locked descriptor (`flock` kind), for a child process to inherit.
    pub fn raw_fd(&self) -> Option<RawFd> {
        self.held.raw_fd()
    }

    /// As [`LockGuard::raw_fd`], borrowed for as long as the guard lives.
    pub fn borrowed_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        // SAFETY: the guard owns the descriptor and closes it only when it is dropped or
        // released, both of which this borrow of the guard rules out.
        self.raw_fd()
            .map(|fd| unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })
    }

    /// The owner record as last written.
    pub fn record(&self) -> OwnerRecord {
        self.held.record()
    }

    /// True once a lease was found taken over by another holder.
    pub fn lease_lost(&self) -> bool {
        self.held.is_lost()
    }

    /// Records the command run under the lock, so the lock stays live while it runs even if this
    /// process dies (`soft`/`dir`/`lease` staleness checks both).
    ///
    /// # Errors
    /// When the record cannot be rewritten; `Ok(false)` when the lock is no longer ours.
    pub fn set_child(&self, child: Option<ProcessRef>) -> Result<bool, LockError> {
        self.held
            .update_record(|r| r.child = child)
            .map_err(|source| LockError::io(&self.held.path, "rewriting the owner record", source))
    }

    /// Releases now, reporting what a drop would only log.
    ///
    /// # Errors
    /// When removing the artefact fails.
    pub fn release(mut self) -> Result<(), LockError> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<(), LockError> {
        if std::mem::replace(&mut self.released, true) {
            return Ok(());
        }
        let Some(held) = self.slot.leave() else {
            return Ok(());
        };
        let result = held.release();
        self.slot.finish(&self.key, None);
        result.map_err(|source| LockError::io(&held.path, "releasing the lock", source))
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Err(e) = self.release_inner() {
            log::warn!(target: "pidward::lock", "{e}");
        }
    }
}
