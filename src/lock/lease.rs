//! The `lease` kind's heartbeat: a thread that rewrites the holder's record every `ttl/3`, and
//! reports a lost lease (record replaced or gone) through a flag and a callback.
//!
//! A lease is not mutual exclusion on its own: a holder paused longer than `ttl` (SIGSTOP, swap,
//! a VM pause) can be broken while it still believes it holds the lock, and will only learn so at
//! its next renewal. Protect the resource with the fencing generation as well.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::held::Held;

/// Called once when a lease is found lost.
pub type LostCallback = Arc<dyn Fn(&std::path::Path) + Send + Sync>;

/// A running heartbeat; [`Keeper::stop`] ends it.
#[derive(Debug)]
pub struct Keeper {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Keeper {
    /// Starts renewing `held` every `ttl / 3`.
    pub fn start(
        held: &Arc<Held>,
        ttl: Duration,
        on_lost: Option<LostCallback>,
    ) -> std::io::Result<Keeper> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let weak: Weak<Held> = Arc::downgrade(held);
        let lost = held.lost_flag();
        let thread_stop = Arc::clone(&stop);
        let period = (ttl / 3).max(Duration::from_millis(10));
        let thread = std::thread::Builder::new()
            .name("pidward-lease".into())
            .spawn(move || heartbeat(weak, period, thread_stop, lost, on_lost))?;
        Ok(Keeper {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the heartbeat and waits for its thread.
    pub fn stop(mut self) {
        let (flag, cv) = &*self.stop;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn heartbeat(
    held: Weak<Held>,
    period: Duration,
    stop: Arc<(Mutex<bool>, Condvar)>,
    lost: Arc<AtomicBool>,
    on_lost: Option<LostCallback>,
) {
    let (flag, cv) = &*stop;
    loop {
        let guard = flag.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = cv
            .wait_timeout_while(guard, period, |stopped| !*stopped)
            .unwrap_or_else(|p| p.into_inner());
        if *guard {
            return;
        }
        drop(guard);
        let Some(held) = held.upgrade() else { return };
        match held.update_record(|r| r.beat += 1) {
            Ok(true) => continue,
            Ok(false) => {
                log::warn!(target: "pidward::lock", "{}: lease lost: the lock record was replaced or removed", held.path.display());
                lost.store(true, Ordering::SeqCst);
                if let Some(callback) = &on_lost {
                    callback(&held.path);
                }
                return;
            }
            // A transient error (e.g. ENOSPC, a network file system hiccup): try again next beat;
            // the lease only expires for others after `ttl` without a successful renewal.
            Err(e) => {
                log::warn!(target: "pidward::lock", "{}: lease renewal failed: {e}", held.path.display())
            }
        }
    }
}
