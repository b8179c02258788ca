//! The service set: each service's spec, machine, lock, tracked process and captured output,
//! and the pure questions asked of the whole set (next deadline, dependency gates).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::logs::Capture;
use super::machine::{Machine, Pid, State, StateName};
use super::policy::{BackoffSpec, Policy, RestartLimit, RestartMode};
use crate::config::{RestartPolicy, ServiceSpec};
use crate::lock::LockGuard;
use crate::process::PidFd;

/// How long after SIGKILL a process that is still there is called unkillable.
pub const KILL_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// A process the supervisor tracks.
#[derive(Debug)]
pub struct Tracked {
    /// Its PID (also its process group).
    pub pid: Pid,
    /// A pidfd on it: readable once it exits.
    pub pidfd: PidFd,
    /// Its start ticks.
    pub start_ticks: u64,
    /// Adopted from a previous supervisor: not our child, its exit status is unknown.
    pub adopted: bool,
}

static NEXT_SLOT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One supervised service.
#[derive(Debug)]
pub struct Service {
    /// The spec in force.
    pub spec: Arc<ServiceSpec>,
    /// A reload's replacement, waiting for the old process to stop.
    pub pending: Option<Arc<ServiceSpec>>,
    /// The state machine.
    pub machine: Machine,
    /// The service's lock, held while it runs (the service holds an inherited copy).
    pub lock: Option<LockGuard>,
    /// The running process.
    pub tracked: Option<Tracked>,
    /// Captured stdout.
    pub stdout: Option<Capture>,
    /// Captured stderr.
    pub stderr: Option<Capture>,
    /// Should be running: autostart, or an operator's start; cleared by stop and shutdown.
    pub wanted: bool,
    /// The last transition's reason, for `status`.
    pub reason: String,
    /// Since when the service is in its current state (wall clock, for `status`).
    pub since: std::time::SystemTime,
    /// Its lock was still held by a leftover process when it exited; retried whenever an
    /// orphan is reaped.
    pub lock_lingers: bool,
    /// The process group of the last process, which may outlive it (and keep its lock).
    pub last_group: Option<Pid>,
    /// Pidfds on the leftover group members keeping the lock; the lock is retried when one
    /// exits (they may not be our descendants, after an adoption).
    pub leftovers: Vec<PidFd>,
    /// Processes started so far (a waiting `start` needs a new one).
    pub starts: u64,
    /// This service's number in the poll set; never reused (see `poller`).
    pub slot: u64,
}

impl Service {
    /// A stopped service for `spec`.
    pub fn new(spec: Arc<ServiceSpec>) -> Service {
        let machine = Machine::new(Arc::new(policy_of(&spec)));
        Service {
            wanted: spec.autostart,
            spec,
            pending: None,
            machine,
            lock: None,
            tracked: None,
            stdout: None,
            stderr: None,
            reason: String::new(),
            since: std::time::SystemTime::now(),
            lock_lingers: false,
            starts: 0,
            leftovers: Vec::new(),
            last_group: None,
            slot: NEXT_SLOT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The state's name.
    pub fn state(&self) -> StateName {
        self.machine.state().name()
    }
}

/// The machine's view of a spec.
pub fn policy_of(spec: &ServiceSpec) -> Policy {
    Policy {
        restart: match spec.restart {
            RestartPolicy::Always => RestartMode::Always,
            RestartPolicy::OnFailure => RestartMode::OnFailure,
            RestartPolicy::Never => RestartMode::Never,
        },
        start_secs: spec.start_secs,
        start_retries: spec.start_retries,
        backoff: BackoffSpec {
            initial: spec.backoff.initial,
            max: spec.backoff.max,
            factor: spec.backoff.factor,
        },
        restart_limit: RestartLimit {
            burst: spec.restart_limit.burst,
            interval: spec.restart_limit.interval,
        },
        success_exit_codes: spec.success_exit_codes.clone(),
        stop_signal: spec.stop_signal as i32,
        stop_timeout: spec.stop_timeout,
        kill_group: spec.kill_group,
        kill_grace: KILL_GRACE,
    }
}

/// The nearest deadline of any machine.
pub fn next_deadline(services: &BTreeMap<String, Service>) -> Option<Instant> {
    services.values().filter_map(|s| s.machine.deadline()).min()
}

/// Whether `svc` may start now: wanted, idle, and every dependency (in `services`) RUNNING.
pub fn may_start(services: &BTreeMap<String, Service>, svc: &Service) -> bool {
    // Called for every service on every turn: the cheap tests first, no lookup by name.
    svc.wanted
        && matches!(svc.machine.state(), State::Stopped)
        && svc.spec.depends_on.iter().all(|dep| {
            services
                .get(dep)
                .is_some_and(|d| d.state() == StateName::Running)
        })
}

/// Whether `name` may stop at shutdown: nothing that depends on it is still active.
pub fn may_stop(services: &BTreeMap<String, Service>, name: &str) -> bool {
    services
        .values()
        .filter(|s| s.spec.depends_on.iter().any(|d| d == name))
        .all(|dependent| dependent.machine.is_settled())
}
