//! Acquisition: the process-wide slot, then the kind's own claim and wait.
//!
//! `flock` waits in the kernel. The other kinds cannot be woken by a release, so they poll with a
//! jittered backoff from 1 ms doubling up to 50 ms, judging the artefact at every look and
//! breaking it (race-free, see `artefact`) once it is stale.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::artefact::{self, Seen, Shape};
use super::error::{HolderSummary, LockError};
use super::flock::{self, Wait};
use super::held::{Artefact, Held};
use super::lease::Keeper;
use super::owner::{OwnerRecord, RECORD_VERSION};
use super::registry::{self, Entry};
use super::stale::{self, StalePolicy, Verdict, Watch};
use super::{fsutil, holders, sidecar, Lock, LockGuard, LockKind, LockMode};
use crate::process::{host_facts, own_start_ticks, SystemTable};

/// The longest pause between two looks at a `soft`/`dir`/`lease` artefact.
pub const MAX_POLL: Duration = Duration::from_millis(50);

/// When to give up.
#[derive(Debug, Clone, Copy)]
pub enum Deadline {
    /// Do not wait.
    Now,
    /// Wait as long as it takes.
    Never,
    /// Wait until then.
    At(Instant),
}

/// Takes `lock` (see [`Lock::acquire`]).
pub fn acquire(lock: &Lock, deadline: Deadline) -> Result<LockGuard, LockError> {
    if lock.mode == LockMode::Shared && lock.kind != LockKind::Flock {
        return Err(LockError::SharedUnsupported {
            path: lock.path.clone(),
            kind: lock.kind,
        });
    }
    let key = absolute(&lock.path);
    let slot = registry::slot(&key);
    let started = Instant::now();
    let slot_deadline = match deadline {
        Deadline::Now => Some(started),
        Deadline::Never => None,
        Deadline::At(t) => Some(t),
    };
    match slot.enter(lock.mode, slot_deadline) {
        Entry::Reenter(held) => {
            return Ok(LockGuard {
                held,
                slot,
                key,
                released: false,
            })
        }
        Entry::ModeConflict => return Err(LockError::ModeConflict { path: key }),
        Entry::Lost => return Err(LockError::LeaseLost { path: key }),
        Entry::TimedOut => {
            let holder = HolderSummary {
                pids: vec![std::process::id() as i32],
                ..Default::default()
            };
            return Err(contention(&key, deadline, started, holder));
        }
        Entry::Acquire => {}
    }
    let result = match lock.kind {
        LockKind::Flock => acquire_flock(lock, &key, deadline, started),
        _ => acquire_polled(lock, &key, deadline, started),
    };
    let held = match result.and_then(|held| start_keeping(lock, Arc::new(held))) {
        Ok(held) => held,
        Err(e) => {
            slot.finish(&key, None);
            return Err(e);
        }
    };
    log::debug!(target: "pidward::lock", "{}: acquired ({}, {}, generation {:?})", key.display(), lock.kind, lock.mode, held.generation);
    slot.finish(&key, Some(Arc::clone(&held)));
    Ok(LockGuard {
        held,
        slot,
        key,
        released: false,
    })
}

/// The absolute path used as the lock's identity in this process (parent directory resolved,
/// so two spellings of one path share one slot).
fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (abs.parent().map(std::fs::canonicalize), abs.file_name()) {
        (Some(Ok(parent)), Some(name)) => parent.join(name),
        _ => abs,
    }
}

/// Starts the lease heartbeat and the signal cleanup of a fresh holding.
fn start_keeping(lock: &Lock, held: Arc<Held>) -> Result<Arc<Held>, LockError> {
    if lock.kind == LockKind::Lease {
        let keeper = Keeper::start(&held, lock.ttl, lock.on_lost.clone())
            .map_err(|e| LockError::io(&held.path, "starting the lease heartbeat", e))?;
        held.set_keeper(keeper);
    }
    if lock.cleanup_on_signal && (lock.kind != LockKind::Flock || lock.remove_on_release) {
        let weak = Arc::downgrade(&held);
        let registered = crate::signals::register_cleanup(move || {
            if let Some(held) = weak.upgrade() {
                let _ = held.release();
            }
        });
        match registered {
            Ok(id) => held.set_cleanup(id),
            Err(e) => {
                log::warn!(target: "pidward::lock", "{}: no cleanup at SIGTERM: {e}", held.path.display())
            }
        }
    }
    Ok(held)
}

fn new_record(lock: &Lock) -> OwnerRecord {
    let here = host_facts();
    OwnerRecord {
        pidward: RECORD_VERSION,
        kind: lock.kind,
        mode: lock.mode,
        pid: std::process::id() as i32,
        start_ticks: own_start_ticks(),
        boot_id: here.boot_id.clone(),
        pid_ns: here.pid_ns,
        host: here.host.clone(),
        uid: nix::unistd::getuid().as_raw(),
        since_ms: fsutil::now_ms(),
        label: lock.label.clone(),
        child: None,
        token: fsutil::unique(),
        generation: None,
        beat: 0,
        ttl_ms: (lock.kind == LockKind::Lease).then_some(lock.ttl.as_millis() as u64),
    }
}

fn acquire_flock(
    lock: &Lock,
    key: &std::path::Path,
    deadline: Deadline,
    started: Instant,
) -> Result<Held, LockError> {
    let wait = match deadline {
        Deadline::Now => Wait::Try,
        Deadline::Never => Wait::Forever,
        Deadline::At(t) => Wait::Until(t),
    };
    let file = match flock::acquire(key, lock.mode, wait) {
        Ok(Some(file)) => file,
        Ok(None) => {
            return Err(contention(
                key,
                deadline,
                started,
                describe_holder(key, LockKind::Flock),
            ))
        }
        Err(e) => return Err(LockError::io(key, "taking the flock lock", e)),
    };
    let mut record = new_record(lock);
    if lock.generation {
        let gen = sidecar::bump_generation(key)
            .map_err(|e| LockError::io(&sidecar::sidecar_path(key), "bumping the generation", e))?;
        record.generation = Some(gen);
    }
    if lock.mode == LockMode::Exclusive {
        // A lost record is a diagnostic loss, never a safety one: the kernel holds the lock.
        if let Err(e) = flock::write_record(&file, &record.encode()) {
            log::warn!(target: "pidward::lock", "{}: could not write the owner record: {e}", key.display());
        }
    }
    Ok(Held::new(
        key,
        lock.mode,
        Artefact::Flock(file),
        record,
        lock.remove_on_release,
    ))
}

fn acquire_polled(
    lock: &Lock,
    key: &std::path::Path,
    deadline: Deadline,
    started: Instant,
) -> Result<Held, LockError> {
    let shape = if lock.kind == LockKind::Dir {
        Shape::Dir
    } else {
        Shape::File
    };
    let policy = StalePolicy {
        ttl: (lock.kind == LockKind::Lease).then_some(lock.ttl),
        stale_after: lock.stale_after,
    };
    let table = SystemTable::new();
    let mut watch = Watch::default();
    let mut backoff = Backoff::new();
    loop {
        let record = new_record(lock);
        match artefact::claim(shape, key, &record.encode()) {
            Ok(true) => return finish_polled(lock, key, shape, record),
            Ok(false) => {}
            Err(e) => return Err(LockError::io(key, "creating the lock artefact", e)),
        }
        let seen = match artefact::look(shape, key) {
            Ok(Some(seen)) => seen,
            Ok(None) => continue,
            Err(e) => return Err(LockError::io(key, "reading the lock artefact", e)),
        };
        let now = Instant::now();
        let unchanged = watch.observe(seen.id.as_u64(), &seen.bytes, now);
        if let Verdict::Stale(reason) = stale::judge(
            seen.record.as_ref(),
            host_facts(),
            &table,
            unchanged,
            &policy,
        ) {
            match artefact::break_stale(shape, key, &seen) {
                Ok(true) => {
                    log::info!(target: "pidward::lock", "{}: broke a stale lock ({reason}), {}", key.display(), summary_of(&seen))
                }
                Ok(false) => {}
                Err(e) => return Err(LockError::io(key, "breaking a stale lock", e)),
            }
            continue;
        }
        let pause = match deadline {
            Deadline::Now => {
                return Err(contention(
                    key,
                    deadline,
                    started,
                    describe_holder(key, lock.kind),
                ))
            }
            Deadline::Never => backoff.next(),
            Deadline::At(t) if now >= t => {
                return Err(contention(
                    key,
                    deadline,
                    started,
                    describe_holder(key, lock.kind),
                ))
            }
            Deadline::At(t) => backoff.next().min(t - now),
        };
        std::thread::sleep(pause);
    }
}

fn finish_polled(
    lock: &Lock,
    key: &std::path::Path,
    shape: Shape,
    mut record: OwnerRecord,
) -> Result<Held, LockError> {
    if lock.generation {
        let bumped = sidecar::bump_generation(key);
        let gen = match bumped {
            Ok(gen) => gen,
            Err(e) => {
                let _ = artefact::release(shape, key, &record.token);
                return Err(LockError::io(
                    &sidecar::sidecar_path(key),
                    "bumping the generation",
                    e,
                ));
            }
        };
        record.generation = Some(gen);
        artefact::rewrite(shape, key, &record.token, &record.encode())
            .map_err(|e| LockError::io(key, "writing the owner record", e))?;
    }
    Ok(Held::new(
        key,
        LockMode::Exclusive,
        Artefact::Polled(shape),
        record,
        false,
    ))
}

fn summary_of(seen: &Seen) -> String {
    match &seen.record {
        Some(r) => format!("left by PID {} on {}", r.pid, r.host),
        None => "with no pidward record".to_owned(),
    }
}

fn describe_holder(key: &std::path::Path, kind: LockKind) -> HolderSummary {
    holders::holder(key, Some(kind))
        .map(|info| HolderSummary::from_info(&info))
        .unwrap_or_default()
}

fn contention(
    key: &std::path::Path,
    deadline: Deadline,
    started: Instant,
    holder: HolderSummary,
) -> LockError {
    match deadline {
        Deadline::Now => LockError::Busy {
            path: key.to_path_buf(),
            holder: Box::new(holder),
        },
        _ => LockError::Timeout {
            path: key.to_path_buf(),
            waited: started.elapsed(),
            holder: Box::new(holder),
        },
    }
}

/// Exponential backoff from 1 ms to [`MAX_POLL`], with ±25 % jitter so that waiters that
/// started together do not look together.
struct Backoff {
    next: Duration,
    seed: u64,
}

impl Backoff {
    fn new() -> Backoff {
        let seed = u64::from(std::process::id()) ^ fsutil::now_ms().rotate_left(17) | 1;
        Backoff {
            next: Duration::from_millis(1),
            seed,
        }
    }

    fn next(&mut self) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let base = self.next;
        self.next = (self.next * 2).min(MAX_POLL);
        let jitter = 0.75 + (self.seed % 1000) as f64 / 2000.0;
        base.mul_f64(jitter).min(MAX_POLL)
    }
}
