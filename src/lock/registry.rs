//! Process-wide reentrancy: one kernel lock or artefact per path, shared by every guard of this
//! process with a count, and safe to use from any thread.
//!
//! Two opens of one path in one process would deadlock on a `flock` (two open file descriptions
//! conflict) and a second `soft` claim would wait on itself forever; so every acquisition goes
//! through a slot keyed by the absolute path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use super::held::Held;
use super::LockMode;

/// The state of one path in this process.
#[derive(Debug)]
pub enum SlotState {
    /// Nobody in this process holds or is taking it.
    Free,
    /// A thread of this process is acquiring or releasing it.
    Busy,
    /// Held by this process, `count` guards deep.
    Held {
        /// The shared holding.
        held: Arc<Held>,
        /// Number of live guards.
        count: usize,
    },
}

/// One path's slot.
#[derive(Debug)]
pub struct Slot {
    /// Its state.
    pub state: Mutex<SlotState>,
    cv: Condvar,
}

/// What a caller should do after looking at its slot.
pub enum Entry {
    /// Already held compatibly: a new guard shares it.
    Reenter(Arc<Held>),
    /// The caller now owns the slot's `Busy` state and must acquire for real.
    Acquire,
    /// Held here in a mode that does not cover the request (shared held, exclusive asked).
    ModeConflict,
    /// Held here, but as a lease that another holder has taken over.
    Lost,
    /// Another thread is still acquiring and the deadline passed.
    TimedOut,
}

fn slots() -> MutexGuard<'static, HashMap<PathBuf, Arc<Slot>>> {
    static SLOTS: OnceLock<Mutex<HashMap<PathBuf, Arc<Slot>>>> = OnceLock::new();
    let map = SLOTS.get_or_init(|| Mutex::new(HashMap::new()));
    map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The slot for `key` (an absolute path), created on first use.
pub fn slot(key: &Path) -> Arc<Slot> {
    let mut map = slots();
    Arc::clone(map.entry(key.to_path_buf()).or_insert_with(|| {
        Arc::new(Slot {
            state: Mutex::new(SlotState::Free),
            cv: Condvar::new(),
        })
    }))
}

/// Drops `key`'s slot once nothing uses it.
fn forget(key: &Path, slot: &Arc<Slot>) {
    let mut map = slots();
    // One reference in the map, one held by the caller.
    if Arc::strong_count(slot) <= 2 && matches!(*lock(slot), SlotState::Free) {
        map.remove(key);
    }
}

fn lock(slot: &Slot) -> MutexGuard<'_, SlotState> {
    slot.state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Slot {
    /// Enters the slot for an acquisition in `mode`, waiting (until `deadline`) for another
    /// thread of this process that is taking or releasing the same path.
    pub fn enter(&self, mode: LockMode, deadline: Option<Instant>) -> Entry {
        let mut state = lock(self);
        loop {
            match &mut *state {
                SlotState::Free => {
                    *state = SlotState::Busy;
                    return Entry::Acquire;
                }
                SlotState::Held { held, count } => {
                    if held.mode == LockMode::Shared && mode == LockMode::Exclusive {
                        return Entry::ModeConflict;
                    }
                    if held.is_lost() {
                        return Entry::Lost;
                    }
                    *count += 1;
                    return Entry::Reenter(Arc::clone(held));
                }
                SlotState::Busy => {
                    let Some(deadline) = deadline else {
                        state = self.cv.wait(state).unwrap_or_else(|p| p.into_inner());
                        continue;
                    };
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Entry::TimedOut;
                    }
                    state = self
                        .cv
                        .wait_timeout(state, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }

    /// Ends an acquisition begun with [`Entry::Acquire`]: held on success, free on failure.
    pub fn finish(self: &Arc<Self>, key: &Path, held: Option<Arc<Held>>) {
        *lock(self) = match held {
            Some(held) => SlotState::Held { held, count: 1 },
            None => SlotState::Free,
        };
        self.cv.notify_all();
        forget(key, self);
    }

    /// Drops one guard; returns the holding to release when it was the last one.
    pub fn leave(&self) -> Option<Arc<Held>> {
        let mut state = lock(self);
        match &mut *state {
            SlotState::Held { count, .. } if *count > 1 => {
                *count -= 1;
                None
            }
            SlotState::Held { .. } => match std::mem::replace(&mut *state, SlotState::Busy) {
                SlotState::Held { held, .. } => Some(held),
                _ => None,
            },
            _ => None,
        }
    }
}
