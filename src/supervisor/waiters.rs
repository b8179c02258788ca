//! Control requests that wait: `start`/`stop`/`restart` (answered when the services reach the
//! target state) and `wait`, checked after every turn of the loop.

use std::collections::BTreeMap;
use std::time::Instant;

use super::engine::Engine;
use super::machine::StateName;
use crate::control::protocol::{Response, Target};
use crate::control::server::ClientId;

/// What a pending request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitKind {
    /// RUNNING after a new start.
    Start,
    /// Nothing running.
    Stop,
    /// `wait --for`.
    Wait(Target),
}

/// A request answered once its services reach a state.
#[derive(Debug, Clone)]
pub struct Waiter {
    /// The client.
    pub client: ClientId,
    /// What for.
    pub kind: WaitKind,
    /// Which services.
    pub names: Vec<String>,
    /// Each service's start count when the request came (a start must be a new one).
    pub baseline: BTreeMap<String, u64>,
    /// Give up then.
    pub deadline: Option<Instant>,
}

impl Engine {
    pub(super) fn answer_or_park(
        &mut self,
        client: ClientId,
        names: Vec<String>,
        kind: WaitKind,
        baseline: BTreeMap<String, u64>,
        no_wait: bool,
    ) -> Option<Response> {
        if no_wait {
            let outcomes = names
                .iter()
                .map(|n| self.outcome(n, true, "requested"))
                .collect();
            return Some(Response {
                outcomes: Some(outcomes),
                ..Response::ok()
            });
        }
        self.waiters.push(Waiter {
            client,
            kind,
            names,
            baseline,
            deadline: None,
        });
        self.check_waiters(Instant::now());
        None
    }

    pub(super) fn baseline(&self, names: &[String]) -> BTreeMap<String, u64> {
        names
            .iter()
            .filter_map(|n| self.services.get(n).map(|s| (n.clone(), s.starts)))
            .collect()
    }

    pub(super) fn park(
        &mut self,
        client: ClientId,
        names: &[String],
        kind: WaitKind,
        deadline: Option<Instant>,
    ) -> Option<Response> {
        if let Some(e) = self.unknown(names) {
            return Some(e);
        }
        let baseline = self.baseline(names);
        self.waiters.push(Waiter {
            client,
            kind,
            names: names.to_vec(),
            baseline,
            deadline,
        });
        self.check_waiters(Instant::now());
        None
    }

    /// Answers every waiter whose services reached (or cannot reach) their target.
    pub fn check_waiters(&mut self, now: Instant) {
        let waiters = std::mem::take(&mut self.waiters);
        for waiter in waiters {
            if !self
                .control
                .as_ref()
                .is_some_and(|s| s.connected(waiter.client))
            {
                continue;
            }
            match self.verdict(&waiter, now) {
                Some(response) => self.reply(waiter.client, &response, false),
                None => self.waiters.push(waiter),
            }
        }
    }

    /// The waiter's response, once every service is decided.
    pub(super) fn verdict(&self, waiter: &Waiter, now: Instant) -> Option<Response> {
        let mut outcomes = Vec::new();
        for name in &waiter.names {
            match self.reached(name, waiter) {
                Some((ok, message)) => outcomes.push(self.outcome(name, ok, message)),
                None if waiter.deadline.is_some_and(|d| now >= d) => {
                    outcomes.push(self.outcome(name, false, "timed out"))
                }
                None => return None,
            }
        }
        let ok = outcomes.iter().all(|o| o.ok);
        Some(Response {
            ok,
            outcomes: Some(outcomes),
            ..Response::ok()
        })
    }

    /// `Some((ok, message))` once `name` is decided for `waiter`.
    pub(super) fn reached(&self, name: &str, waiter: &Waiter) -> Option<(bool, &'static str)> {
        let Some(svc) = self.services.get(name) else {
            return Some((waiter.kind == WaitKind::Stop, "removed"));
        };
        let state = svc.state();
        let fresh = svc.starts > waiter.baseline.get(name).copied().unwrap_or(0);
        match waiter.kind {
            WaitKind::Start if state == StateName::Running && fresh => Some((true, "running")),
            WaitKind::Start if state == StateName::Running => Some((true, "already running")),
            WaitKind::Start if state == StateName::Fatal => Some((false, "failed")),
            WaitKind::Start if state == StateName::Exited && fresh => Some((false, "exited")),
            WaitKind::Start if !svc.wanted && svc.machine.is_settled() => Some((false, "stopped")),
            WaitKind::Stop if svc.machine.is_settled() => Some((true, "stopped")),
            WaitKind::Wait(Target::Running) if state == StateName::Running => {
                Some((true, "running"))
            }
            WaitKind::Wait(Target::Stopped) if svc.machine.is_settled() => Some((true, "stopped")),
            _ => None,
        }
    }

    /// The nearest waiter deadline.
    pub fn waiter_deadline(&self) -> Option<Instant> {
        self.waiters.iter().filter_map(|w| w.deadline).min()
    }
}
