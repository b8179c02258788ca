//! One real holding of a lock by this process, shared by all of its reentrant guards.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::artefact::{self, Shape};
use super::flock;
use super::lease::Keeper;
use super::owner::OwnerRecord;
use super::{LockKind, LockMode};

/// What is held on disk.
#[derive(Debug)]
pub enum Artefact {
    /// The locked descriptor of a `flock` lock file.
    Flock(File),
    /// A `soft`/`dir`/`lease` artefact, identified by the token in its record.
    Polled(Shape),
}

/// A holding, released once its last guard drops (or at SIGTERM/SIGINT through the registry).
#[derive(Debug)]
pub struct Held {
    /// The lock's path.
    pub path: PathBuf,
    /// Its kind.
    pub kind: LockKind,
    /// Exclusive or shared.
    pub mode: LockMode,
    /// The fencing generation handed to this holding, if generations are on.
    pub generation: Option<u64>,
    remove_on_release: bool,
    inner: Mutex<Inner>,
    lost: Arc<AtomicBool>,
    keeper: Mutex<Option<Keeper>>,
    cleanup: Mutex<Option<crate::signals::CleanupId>>,
}

#[derive(Debug)]
struct Inner {
    artefact: Option<Artefact>,
    record: OwnerRecord,
}

impl Held {
    /// A new holding of `artefact` with `record` written in it.
    pub fn new(
        path: &Path,
        mode: LockMode,
        artefact: Artefact,
        record: OwnerRecord,
        remove_on_release: bool,
    ) -> Held {
        Held {
            path: path.to_path_buf(),
            kind: record.kind,
            mode,
            generation: record.generation,
            remove_on_release,
            inner: Mutex::new(Inner {
                artefact: Some(artefact),
                record,
            }),
            lost: Arc::new(AtomicBool::new(false)),
            keeper: Mutex::new(None),
            cleanup: Mutex::new(None),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts renewing a lease.
    pub fn set_keeper(&self, keeper: Keeper) {
        *self.keeper.lock().unwrap_or_else(|p| p.into_inner()) = Some(keeper);
    }

    /// Remembers the signal-registry cleanup that releases this holding at SIGTERM/SIGINT.
    pub fn set_cleanup(&self, id: crate::signals::CleanupId) {
        *self.cleanup.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
    }

    /// The flag a lease keeper raises when the lease was lost.
    pub fn lost_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.lost)
    }

    /// True once a lease keeper found the lock taken over by someone else.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// The current owner record.
    pub fn record(&self) -> OwnerRecord {
        self.inner().record.clone()
    }

    /// The locked descriptor of a `flock` lock (for a child to inherit).
    pub fn raw_fd(&self) -> Option<RawFd> {
        match &self.inner().artefact {
            Some(Artefact::Flock(file)) => Some(file.as_raw_fd()),
            _ => None,
        }
    }

    /// Changes the owner record and writes it out; `Ok(false)` when the lock is no longer ours.
    pub fn update_record(&self, change: impl FnOnce(&mut OwnerRecord)) -> io::Result<bool> {
        let mut inner = self.inner();
        change(&mut inner.record);
        let bytes = inner.record.encode();
        match &inner.artefact {
            Some(Artefact::Flock(file)) if self.mode == LockMode::Exclusive => {
                flock::write_record(file, &bytes).map(|()| true)
            }
            Some(Artefact::Flock(_)) => Ok(true),
            Some(Artefact::Polled(shape)) => {
                artefact::rewrite(*shape, &self.path, &inner.record.token, &bytes)
            }
            None => Ok(false),
        }
    }

    /// Releases the holding now; later calls do nothing.
    pub fn release(&self) -> io::Result<()> {
        if let Some(id) = self
            .cleanup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            crate::signals::unregister_cleanup(id);
        }
        if let Some(keeper) = self.keeper.lock().unwrap_or_else(|p| p.into_inner()).take() {
            keeper.stop();
        }
        let mut inner = self.inner();
        let result = match inner.artefact.take() {
            Some(Artefact::Flock(file)) => flock::release(file, &self.path, self.remove_on_release),
            Some(Artefact::Polled(shape)) => {
                artefact::release(shape, &self.path, &inner.record.token).map(|ours| {
                    if !ours {
                        log::warn!(target: "pidward::lock", "{}: lock was no longer ours at release; left it alone", self.path.display());
                    }
                })
            }
            None => Ok(()),
        };
        log::debug!(target: "pidward::lock", "{}: released ({})", self.path.display(), self.kind);
        result
    }
}
