//! The owner record: who holds a lock, precisely enough that a later process can tell a live
//! owner from a dead one or from an unrelated process that was handed the same PID.
//!
//! Encoded as one line of JSON. Pure: no I/O here.

use serde::{Deserialize, Serialize};

use super::kind::{LockKind, LockMode};

/// Records larger than this are not ours; reads of a lock artefact stop here.
pub const MAX_RECORD_BYTES: usize = 4096;

/// A process named in a record: its PID and start ticks, which together survive PID reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    /// The PID.
    pub pid: i32,
    /// Start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
    pub start_ticks: u64,
}

/// Who holds a lock and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRecord {
    /// Format marker; records without it are not pidward's.
    pub pidward: u32,
    /// The lock kind that wrote this record.
    pub kind: LockKind,
    /// Exclusive or shared.
    #[serde(default)]
    pub mode: LockMode,
    /// The holding process.
    pub pid: i32,
    /// The holder's start ticks.
    pub start_ticks: u64,
    /// `/proc/sys/kernel/random/boot_id` of the holder's boot.
    pub boot_id: String,
    /// Inode of the holder's PID namespace.
    pub pid_ns: u64,
    /// Host name of the holder.
    pub host: String,
    /// The holder's user id.
    #[serde(default)]
    pub uid: u32,
    /// Acquisition time, milliseconds since the Unix epoch (for display only, never for expiry).
    pub since_ms: u64,
    /// A name for the holder (for the supervisor: the service name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The command run under the lock by `pidward lock` (or the supervised service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<ProcessRef>,
    /// Unique per acquisition: tells this claim from any later one at the same path.
    pub token: String,
    /// The fencing generation handed to this holder, when generations are in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Heartbeat counter of a lease, bumped at every renewal.
    #[serde(default)]
    pub beat: u64,
    /// The lease's time to live in milliseconds (lease kind only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
}

/// Current record format version.
pub const RECORD_VERSION: u32 = 1;

impl OwnerRecord {
    /// The record as written to disk: one JSON line.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Parses a record; `None` for anything that is not a pidward owner record (empty, truncated,
    /// another tool's content).
    pub fn decode(bytes: &[u8]) -> Option<OwnerRecord> {
        if bytes.len() > MAX_RECORD_BYTES {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?.trim();
        let record: OwnerRecord = serde_json::from_str(text).ok()?;
        (record.pidward >= 1).then_some(record)
    }

    /// The processes whose life keeps this lock alive: the holder, and its child if recorded.
    pub fn processes(&self) -> impl Iterator<Item = ProcessRef> + '_ {
        std::iter::once(ProcessRef {
            pid: self.pid,
            start_ticks: self.start_ticks,
        })
        .chain(self.child)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> OwnerRecord {
        OwnerRecord {
            pidward: RECORD_VERSION,
            kind: LockKind::Soft,
            mode: LockMode::Exclusive,
            pid: 42,
            start_ticks: 1000,
            boot_id: "b".into(),
            pid_ns: 7,
            host: "h".into(),
            uid: 0,
            since_ms: 1,
            label: Some("web".into()),
            child: Some(ProcessRef {
                pid: 43,
                start_ticks: 1001,
            }),
            token: "t".into(),
            generation: Some(9),
            beat: 0,
            ttl_ms: None,
        }
    }

    #[test]
    fn round_trips() {
        let r = sample();
        assert_eq!(OwnerRecord::decode(&r.encode()), Some(r));
    }

    #[test]
    fn foreign_and_damaged_content_is_not_a_record() {
        let mut half = sample().encode();
        half.truncate(half.len() / 2);
        for bytes in [
            &b""[..],
            b"1234\n",
            b"12\nhost\ntoken\n",
            &half,
            b"{\"pid\":1}",
        ] {
            assert_eq!(
                OwnerRecord::decode(bytes),
                None,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(OwnerRecord::decode(&vec![b' '; MAX_RECORD_BYTES + 1]), None);
    }

    #[test]
    fn processes_lists_holder_then_child() {
        let pids: Vec<i32> = sample().processes().map(|p| p.pid).collect();
        assert_eq!(pids, vec![42, 43]);
    }
}
