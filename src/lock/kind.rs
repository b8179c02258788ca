//! The lock kinds and modes, shared by every part of the lock module.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How a lock is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LockKind {
    /// Kernel advisory `flock(2)` on the lock file; released by the kernel when the holder dies.
    #[default]
    Flock,
    /// The lock file's existence, created atomically with an owner record inside.
    Soft,
    /// A lock directory created with `mkdir`, an owner record inside.
    Dir,
    /// A heartbeat lease: the holder rewrites its record every `ttl/3`; stale after `ttl` unrenewed.
    Lease,
}

impl LockKind {
    /// The name used on the command line and in owner records.
    pub fn as_str(self) -> &'static str {
        match self {
            LockKind::Flock => "flock",
            LockKind::Soft => "soft",
            LockKind::Dir => "dir",
            LockKind::Lease => "lease",
        }
    }
}

impl fmt::Display for LockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LockKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "flock" => Ok(LockKind::Flock),
            "soft" => Ok(LockKind::Soft),
            "dir" => Ok(LockKind::Dir),
            "lease" => Ok(LockKind::Lease),
            other => Err(format!(
                "unknown lock kind {other:?} (expected flock, soft, dir or lease)"
            )),
        }
    }
}

/// Exclusive (one writer) or shared (many readers); only `flock` locks have a shared mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// One holder at a time.
    #[default]
    Exclusive,
    /// Any number of shared holders, excluding every exclusive one.
    Shared,
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockMode::Exclusive => "exclusive",
            LockMode::Shared => "shared",
        })
    }
}
