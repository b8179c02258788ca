//! The services' descriptors (pidfds, captured-output FIFOs, leftover lock holders) in one
//! epoll set, registered once when opened, so that a turn of the loop costs the same with 5
//! services as with 1,000. A descriptor leaves the set by itself when it is closed.
//!
//! Each registration carries the service's slot (a number never reused, unlike a name after a
//! reload) and what the descriptor is; a readiness reported for a slot that no longer exists,
//! or for a descriptor since replaced, resolves to nothing or to a harmless recheck.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

/// What a watched descriptor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// The service's pidfd: readable once its process exits.
    Exit,
    /// A pidfd on a leftover process still holding the service's lock.
    Leftover,
    /// The stdout FIFO.
    Stdout,
    /// The stderr FIFO.
    Stderr,
}

impl Watch {
    const ALL: [Watch; 4] = [Watch::Exit, Watch::Leftover, Watch::Stdout, Watch::Stderr];

    fn token(self, slot: u64) -> u64 {
        slot << 2 | self as u64
    }
}

/// The epoll set and the slot → service name map its tokens resolve through.
#[derive(Debug)]
pub struct Poller {
    epoll: Epoll,
    names: HashMap<u64, String>,
    events: Vec<EpollEvent>,
}

/// How many readiness events one turn takes; the rest wait for the next (level-triggered).
const EVENTS_PER_TURN: usize = 256;

impl Poller {
    /// An empty set.
    ///
    /// # Errors
    /// When `epoll_create1` fails.
    pub fn new() -> io::Result<Poller> {
        Ok(Poller {
            epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            names: HashMap::new(),
            events: vec![EpollEvent::empty(); EVENTS_PER_TURN],
        })
    }

    /// The epoll descriptor, readable when any watched descriptor is.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }

    /// Watches `fd` as `kind` of the service `name` in `slot`.
    pub fn watch(&mut self, slot: u64, name: &str, fd: BorrowedFd<'_>, kind: Watch) {
        self.names.entry(slot).or_insert_with(|| name.to_owned());
        let event = EpollEvent::new(EpollFlags::EPOLLIN, kind.token(slot));
        if let Err(e) = self.epoll.add(fd, event) {
            log::error!("{name}: watching a descriptor ({kind:?}): {e}");
        }
    }

    /// Stops watching `fd` (it stays open).
    pub fn unwatch(&self, fd: BorrowedFd<'_>) {
        let _ = self.epoll.delete(fd);
    }

    /// The service in `slot` is gone.
    pub fn forget(&mut self, slot: u64) {
        self.names.remove(&slot);
    }

    /// What is ready now (never blocks): service names with what became readable.
    pub fn ready(&mut self) -> Vec<(String, Watch)> {
        let n = match self.epoll.wait(&mut self.events, EpollTimeout::ZERO) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => {
                log::error!("epoll_wait: {e}");
                0
            }
        };
        let mut ready = Vec::with_capacity(n);
        for event in self.events.iter().take(n) {
            let token = event.data();
            let Some(kind) = Watch::ALL.into_iter().find(|k| *k as u64 == token & 3) else {
                continue;
            };
            if let Some(name) = self.names.get(&(token >> 2)) {
                ready.push((name.clone(), kind));
            }
        }
        ready
    }
}
