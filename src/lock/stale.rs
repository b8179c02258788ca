//! The staleness verdict for `soft`, `dir` and `lease` locks. Pure: process facts and the time a
//! record has gone unchanged come in as arguments.
//!
//! Time is only ever measured on the waiter's own monotonic clock, from the moment it first saw
//! a given record ([`Watch`]): a wall-clock step, an NFS server's mtimes or another host's clock
//! can never break a lock early (the Kubernetes lease rule).

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use super::owner::OwnerRecord;
use crate::process::{HostFacts, ProcessTable};

/// Why a lock is judged abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleReason {
    /// The holder (and its child, if any) no longer exists or is a zombie.
    Dead,
    /// The holder's PID now belongs to another process (start ticks differ).
    Reused,
    /// The record was written during an earlier boot of this host.
    OtherBoot,
    /// A lease that nobody renewed for its time to live.
    LeaseExpired,
    /// The record went unchanged for longer than `stale_after`.
    StaleAfter,
}

impl fmt::Display for StaleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StaleReason::Dead => "holder is dead",
            StaleReason::Reused => "holder's PID now belongs to another process",
            StaleReason::OtherBoot => "record is from an earlier boot",
            StaleReason::LeaseExpired => "lease expired unrenewed",
            StaleReason::StaleAfter => "unchanged for longer than stale_after",
        })
    }
}

/// Live or abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Someone may still hold it: wait.
    Live,
    /// Abandoned: it may be broken.
    Stale(StaleReason),
}

/// The time limits that can make a lock stale regardless of its holder's PID.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StalePolicy {
    /// A lease's time to live (a record's own `ttl_ms` takes precedence).
    pub ttl: Option<Duration>,
    /// Break any lock whose record went unchanged this long.
    pub stale_after: Option<Duration>,
}

/// Remembers when this waiter first saw the current content of a lock artefact.
#[derive(Debug, Default)]
pub struct Watch {
    seen: Option<(u64, Instant)>,
}

impl Watch {
    /// Records a sighting of `content` (plus the artefact's identity) at `now`; returns how long
    /// it has gone unchanged since first seen.
    pub fn observe(&mut self, identity: u64, content: &[u8], now: Instant) -> Duration {
        let mut h = DefaultHasher::new();
        identity.hash(&mut h);
        content.hash(&mut h);
        let fp = h.finish();
        match self.seen {
            Some((seen_fp, since)) if seen_fp == fp => now.saturating_duration_since(since),
            _ => {
                self.seen = Some((fp, now));
                Duration::ZERO
            }
        }
    }
}

/// Judges a lock whose artefact holds `record` (`None`: no record of ours, another tool's lock).
pub fn judge(
    record: Option<&OwnerRecord>,
    here: &HostFacts,
    table: &dyn ProcessTable,
    unchanged_for: Duration,
    policy: &StalePolicy,
) -> Verdict {
    if policy
        .stale_after
        .is_some_and(|limit| unchanged_for >= limit)
    {
        return Verdict::Stale(StaleReason::StaleAfter);
    }
    let Some(record) = record else {
        return Verdict::Live;
    };
    let ttl = record.ttl_ms.map(Duration::from_millis).or(policy.ttl);
    if record.kind == super::LockKind::Lease && ttl.is_some_and(|ttl| unchanged_for >= ttl) {
        return Verdict::Stale(StaleReason::LeaseExpired);
    }
    if record.host != here.host {
        return Verdict::Live;
    }
    if record.boot_id != here.boot_id {
        return Verdict::Stale(StaleReason::OtherBoot);
    }
    if record.pid_ns != here.pid_ns {
        return Verdict::Live;
    }
    judge_by_pid(record, table)
}

fn judge_by_pid(record: &OwnerRecord, table: &dyn ProcessTable) -> Verdict {
    let mut reason = StaleReason::Dead;
    for (i, p) in record.processes().enumerate() {
        match table.facts(p.pid) {
            Some(f) if !f.zombie && f.start_ticks == p.start_ticks => return Verdict::Live,
            Some(f) if !f.zombie && i == 0 => reason = StaleReason::Reused,
            _ => {}
        }
    }
    Verdict::Stale(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::owner::{ProcessRef, RECORD_VERSION};
    use crate::lock::{LockKind, LockMode};
    use crate::process::ProcessFacts;
    use std::collections::HashMap;

    struct FakeTable(HashMap<i32, (u64, bool)>);
    impl ProcessTable for FakeTable {
        fn facts(&self, pid: i32) -> Option<ProcessFacts> {
            self.0.get(&pid).map(|&(start_ticks, zombie)| ProcessFacts {
                pid,
                start_ticks,
                start_time: 0,
                zombie,
                command: String::new(),
            })
        }
    }

    fn here() -> HostFacts {
        HostFacts {
            boot_id: "boot".into(),
            pid_ns: 1,
            host: "h".into(),
        }
    }

    fn record(kind: LockKind) -> OwnerRecord {
        OwnerRecord {
            pidward: RECORD_VERSION,
            kind,
            mode: LockMode::Exclusive,
            pid: 10,
            start_ticks: 100,
            boot_id: "boot".into(),
            pid_ns: 1,
            host: "h".into(),
            uid: 0,
            since_ms: 0,
            label: None,
            child: None,
            token: "t".into(),
            generation: None,
            beat: 0,
            ttl_ms: None,
        }
    }

    fn table(entries: &[(i32, u64, bool)]) -> FakeTable {
        FakeTable(entries.iter().map(|&(p, t, z)| (p, (t, z))).collect())
    }

    const NO_LIMITS: StalePolicy = StalePolicy {
        ttl: None,
        stale_after: None,
    };

    #[test]
    fn pid_verdicts() {
        let r = record(LockKind::Soft);
        let cases = [
            (table(&[(10, 100, false)]), Verdict::Live),
            (table(&[]), Verdict::Stale(StaleReason::Dead)),
            (table(&[(10, 100, true)]), Verdict::Stale(StaleReason::Dead)),
            (
                table(&[(10, 555, false)]),
                Verdict::Stale(StaleReason::Reused),
            ),
        ];
        for (t, want) in cases {
            assert_eq!(
                judge(Some(&r), &here(), &t, Duration::ZERO, &NO_LIMITS),
                want
            );
        }
    }

    #[test]
    fn a_live_child_keeps_a_dead_wrappers_lock() {
        let mut r = record(LockKind::Dir);
        r.child = Some(ProcessRef {
            pid: 11,
            start_ticks: 101,
        });
        let t = table(&[(11, 101, false)]);
        assert_eq!(
            judge(Some(&r), &here(), &t, Duration::ZERO, &NO_LIMITS),
            Verdict::Live
        );
        let reused_child = table(&[(11, 999, false)]);
        assert_eq!(
            judge(Some(&r), &here(), &reused_child, Duration::ZERO, &NO_LIMITS),
            Verdict::Stale(StaleReason::Dead)
        );
    }

    #[test]
    fn other_boot_other_host_and_other_namespace() {
        let t = table(&[]);
        let mut r = record(LockKind::Soft);
        r.boot_id = "old".into();
        assert_eq!(
            judge(Some(&r), &here(), &t, Duration::ZERO, &NO_LIMITS),
            Verdict::Stale(StaleReason::OtherBoot)
        );
        let mut r = record(LockKind::Soft);
        r.host = "elsewhere".into();
        r.boot_id = "theirs".into();
        assert_eq!(
            judge(Some(&r), &here(), &t, Duration::ZERO, &NO_LIMITS),
            Verdict::Live
        );
        let mut r = record(LockKind::Soft);
        r.pid_ns = 2;
        assert_eq!(
            judge(Some(&r), &here(), &t, Duration::ZERO, &NO_LIMITS),
            Verdict::Live
        );
        let policy = StalePolicy {
            ttl: None,
            stale_after: Some(Duration::from_secs(5)),
        };
        assert_eq!(
            judge(Some(&r), &here(), &t, Duration::from_secs(5), &policy),
            Verdict::Stale(StaleReason::StaleAfter)
        );
    }

    #[test]
    fn leases_expire_on_the_observers_clock_even_for_a_live_holder() {
        let mut r = record(LockKind::Lease);
        r.ttl_ms = Some(3000);
        r.host = "elsewhere".into();
        let t = table(&[(10, 100, false)]);
        let at = |secs| {
            judge(
                Some(&r),
                &here(),
                &t,
                Duration::from_millis(secs),
                &NO_LIMITS,
            )
        };
        assert_eq!(at(2999), Verdict::Live);
        assert_eq!(at(3000), Verdict::Stale(StaleReason::LeaseExpired));
    }

    #[test]
    fn foreign_content_is_held_until_stale_after() {
        let t = table(&[]);
        let policy = StalePolicy {
            ttl: None,
            stale_after: Some(Duration::from_secs(1)),
        };
        assert_eq!(
            judge(None, &here(), &t, Duration::from_millis(999), &policy),
            Verdict::Live
        );
        assert_eq!(
            judge(None, &here(), &t, Duration::from_secs(1), &policy),
            Verdict::Stale(StaleReason::StaleAfter)
        );
        assert_eq!(
            judge(None, &here(), &t, Duration::from_secs(999), &NO_LIMITS),
            Verdict::Live
        );
    }

    #[test]
    fn watch_measures_from_first_sighting_and_resets_on_change() {
        let t0 = Instant::now();
        let mut w = Watch::default();
        assert_eq!(w.observe(1, b"a", t0), Duration::ZERO);
        assert_eq!(
            w.observe(1, b"a", t0 + Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        assert_eq!(
            w.observe(1, b"b", t0 + Duration::from_secs(4)),
            Duration::ZERO
        );
        assert_eq!(
            w.observe(2, b"b", t0 + Duration::from_secs(5)),
            Duration::ZERO
        );
        assert_eq!(
            w.observe(2, b"b", t0 + Duration::from_secs(6)),
            Duration::from_secs(1)
        );
    }
}
