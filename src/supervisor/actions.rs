//! Performing a machine's actions: locks, PID files, signals (spawns are in `start`). A failed action goes back
//! to the machine as an event (`LockBusy`, `SpawnFailed`); nothing here panics or ends the loop.

use std::os::fd::AsFd;

use nix::sys::signal::Signal;

use super::engine::Engine;
use super::logs::Capture;
use super::machine::{Action, Event};
use super::poller::Watch;
use crate::lock::{Lock, LockError, ProcessRef};
use crate::pidfile;
use crate::process::reap::signal_group;

impl Engine {
    /// Performs `actions` for `name`, in order; stops early when one fails in a way the machine
    /// must hear about first (a busy lock means no spawn).
    pub fn perform(&mut self, name: &str, actions: Vec<Action>) {
        let mut lock_busy = false;
        for action in actions {
            // A busy lock means no spawn; the rest (the transition's log line) still happens.
            if lock_busy && action == Action::Spawn {
                continue;
            }
            if let Some(event) = self.perform_one(name, action) {
                lock_busy |= matches!(event, Event::LockBusy(_));
                self.queue.push_back((name.to_owned(), event));
            }
        }
    }

    fn perform_one(&mut self, name: &str, action: Action) -> Option<Event> {
        match action {
            Action::TakeLock => self.take_lock(name),
            Action::Spawn => Some(self.spawn(name)),
            Action::WritePidFile(pid) => {
                self.write_pidfile(name, pid);
                None
            }
            Action::RemovePidFile => {
                self.remove_pidfile(name);
                None
            }
            Action::ReleaseLock => {
                self.release_lock(name);
                None
            }
            Action::SendSignal { pid, signal, group } => {
                self.send_signal(name, pid, signal, group);
                None
            }
            Action::UseNewSpec => {
                if let Some(svc) = self.services.get_mut(name) {
                    if let Some(spec) = svc.pending.take() {
                        svc.spec = spec;
                    }
                }
                None
            }
            Action::Forget => {
                if let Some(svc) = self.services.remove(name) {
                    self.poller.forget(svc.slot);
                    svc.stdout
                        .into_iter()
                        .chain(svc.stderr)
                        .for_each(Capture::remove);
                    log::info!("{name}: removed");
                }
                None
            }
            Action::Transitioned { from, to, reason } => {
                if let Some(svc) = self.services.get_mut(name) {
                    log::info!(
                        "{name}: {} -> {}{}",
                        from.as_str(),
                        to.as_str(),
                        if reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {reason}")
                        }
                    );
                    svc.reason = reason;
                    svc.since = std::time::SystemTime::now();
                }
                None
            }
        }
    }

    fn take_lock(&mut self, name: &str) -> Option<Event> {
        let svc = self.services.get_mut(name)?;
        if svc.lock.is_some() {
            return None;
        }
        let lock = Lock::new(&svc.spec.lockfile)
            .label(name)
            .cleanup_on_signal(false);
        match lock.try_acquire() {
            Ok(guard) => {
                svc.lock = Some(guard);
                None
            }
            Err(LockError::Busy { holder, .. }) => Some(Event::LockBusy(holder.to_string())),
            Err(e) => Some(Event::SpawnFailed {
                permanent: false,
                reason: e.to_string(),
            }),
        }
    }

    fn write_pidfile(&mut self, name: &str, pid: i32) {
        let Some(svc) = self.services.get(name) else {
            return;
        };
        if let Err(e) = pidfile::write(&svc.spec.pidfile, pid) {
            log::error!("{name}: {e}");
        }
        let ticks = svc.tracked.as_ref().map_or(0, |t| t.start_ticks);
        if let Some(lock) = &svc.lock {
            if let Err(e) = lock.set_child(Some(ProcessRef {
                pid,
                start_ticks: ticks,
            })) {
                log::warn!("{name}: {e}");
            }
        }
    }

    fn remove_pidfile(&mut self, name: &str) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        let Some(tracked) = svc.tracked.take() else {
            return;
        };
        svc.last_group = Some(tracked.pid);
        match pidfile::remove_if_ours(&svc.spec.pidfile, tracked.pid) {
            Ok(_) => {}
            Err(e) => log::warn!("{name}: {e}"),
        }
    }

    /// Closes our copy of the lock, then takes it afresh without blocking: if that works,
    /// nothing the service left behind holds it and the file goes; if not, a process that
    /// inherited the descriptor still runs, and the file stays so the next start waits for it.
    pub fn release_lock(&mut self, name: &str) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        drop(svc.lock.take());
        svc.lock_lingers = false;
        svc.leftovers.clear();
        // A holder seen busy may be gone by the time it is looked up: then simply try again.
        for _ in 0..3 {
            let fresh = Lock::new(&svc.spec.lockfile)
                .remove_on_release(true)
                .cleanup_on_signal(false)
                .try_acquire();
            match fresh {
                Ok(guard) => {
                    svc.lock_lingers = false;
                    svc.leftovers.clear();
                    if let Err(e) = guard.release() {
                        log::warn!("{name}: {e}");
                    }
                    return;
                }
                Err(LockError::Busy { holder, .. }) => {
                    // Usually a group member still dying after the main process. Watch the
                    // processes that hold it (pidfds: after an adoption they are not our
                    // descendants, so no SIGCHLD would tell) and try again when one exits.
                    log::debug!("{name}: its lock is still held, {holder}");
                    svc.lock_lingers = true;
                    let holders =
                        crate::lock::kernel_holders(&svc.spec.lockfile).unwrap_or_default();
                    svc.leftovers = holders
                        .iter()
                        .filter_map(|h| crate::process::PidFd::open(h.pid).ok())
                        .collect();
                    for fd in &svc.leftovers {
                        self.poller
                            .watch(svc.slot, name, fd.as_fd(), Watch::Leftover);
                    }
                    if !svc.leftovers.is_empty() {
                        return;
                    }
                }
                Err(e) => {
                    log::warn!("{name}: {e}");
                    return;
                }
            }
        }
    }

    fn send_signal(&mut self, name: &str, pid: i32, signal: i32, group: bool) {
        let Ok(sig) = Signal::try_from(signal) else {
            return;
        };
        let Some(svc) = self.services.get(name) else {
            return;
        };
        let result = match (&svc.tracked, group) {
            (_, true) => signal_group(pid, sig)
                .map(|_| ())
                .map_err(std::io::Error::from),
            (Some(t), false) if t.pid == pid => t.pidfd.send_signal(sig),
            _ => Ok(()),
        };
        match result {
            Ok(()) => log::debug!(
                "{name}: sent {sig} to {}{pid}",
                if group { "group " } else { "PID " }
            ),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => log::warn!("{name}: sending {sig} to {pid}: {e}"),
        }
    }
}
