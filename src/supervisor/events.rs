//! Process and output events for the loop: exits (reaped children, adopted processes' pidfds),
//! leftover lock holders, and captured output (copied to `logs -f` followers).

use std::time::Instant;

use super::engine::Engine;
use super::machine::{Event, StateName};
use super::policy::ExitKind;
use crate::control::protocol::Response;
use crate::process::reap::{reap_all, Termination};

impl Engine {
    /// A service's pidfd became readable: its process exited. Our own child is reaped right
    /// here, through the pidfd (`waitid(P_PIDFD)`: no walk over every child); an adopted process
    /// is not our child, so its exit is known only from here, without a status.
    pub(super) fn on_pidfd(&mut self, name: &str, now: Instant) {
        let Some(svc) = self.services.get(name) else {
            return;
        };
        let Some(t) = svc.tracked.as_ref() else {
            return;
        };
        let pid = t.pid;
        let status = if t.adopted {
            if svc.state() == StateName::Stopping {
                log::debug!("{name}: adopted PID {pid} exited");
            } else {
                log::warn!("{name}: adopted PID {pid} exited; its exit status is unknown (not our child), counted as a failure");
            }
            ExitKind::Unknown
        } else {
            match t.pidfd.try_reap() {
                Ok(Some(how)) => exit_kind(how),
                Ok(None) => return, // not exited after all
                Err(e) => {
                    log::warn!("{name}: PID {pid} exited but cannot be reaped ({e}); its exit status is unknown");
                    ExitKind::Unknown
                }
            }
        };
        self.exited(name, pid, status, now);
        // The pidfd is level-triggered: one left behind would wake the loop again and again.
        if let Some(t) = self
            .services
            .get_mut(name)
            .and_then(|s| s.tracked.take_if(|t| t.pid == pid))
        {
            log::error!("{name}: PID {pid} exited but is still tracked; no longer watching it");
            self.poller.unwatch(std::os::fd::AsFd::as_fd(&t.pidfd));
        }
    }

    pub(super) fn drain(&mut self, name: &str, is_err: bool) {
        let followers = self
            .control
            .as_ref()
            .map(|s| s.followers(name, is_err))
            .unwrap_or_default();
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        let capture = if is_err {
            &mut svc.stderr
        } else {
            &mut svc.stdout
        };
        let Some(c) = capture else { return };
        let mut copied = Vec::new();
        let mut tap = |chunk: &[u8]| {
            if !followers.is_empty() {
                copied.extend_from_slice(chunk);
            }
        };
        if let Err(e) = c.drain(&mut tap) {
            log::warn!("{name}: writing captured output: {e}");
        }
        if copied.is_empty() {
            return;
        }
        let chunk = Response {
            data: Some(String::from_utf8_lossy(&copied).into_owned()),
            more: true,
            ..Response::ok()
        };
        if let Some(server) = self.control.as_mut() {
            for id in followers {
                server.send_follow(id, &chunk);
            }
        }
    }

    pub(super) fn reap(&mut self, now: Instant) {
        for (pid, how) in reap_all() {
            let status = exit_kind(how);
            let owner = self
                .services
                .iter()
                .find(|(_, s)| s.tracked.as_ref().is_some_and(|t| t.pid == pid));
            match owner.map(|(n, _)| n.clone()) {
                Some(name) => self.exited(&name, pid, status, now),
                None => log::debug!("reaped PID {pid} ({status}), not a service"),
            }
        }
    }

    /// `name`'s process `pid` ended: what it wrote last goes to the log first.
    fn exited(&mut self, name: &str, pid: i32, status: ExitKind, now: Instant) {
        self.drain(name, false);
        self.drain(name, true);
        self.dispatch(name, Event::Exited { pid, status }, now);
    }

    /// A leftover group member of `name` exited: try its lock again.
    pub(super) fn on_leftover(&mut self, name: &str) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.leftovers.retain(|fd| !fd.has_exited());
        if svc.lock_lingers && svc.tracked.is_none() {
            self.release_lock(name);
        }
    }
}

fn exit_kind(how: Termination) -> ExitKind {
    match how {
        Termination::Exited(code) => ExitKind::Exited(code),
        Termination::Signaled { signal, core } => ExitKind::Killed { signal, core },
    }
}
