//! The event loop: one thread, one `poll(2)` over the signal pipe, the control socket and its
//! clients, and the epoll set holding every service's pidfds and captured-output FIFOs
//! (`poller`), with the nearest machine deadline as its timeout. Nothing wakes it when nothing
//! is due. OS events become machine events; machine actions become system calls
//! (`actions`); no state logic lives here.

use std::collections::{BTreeMap, VecDeque};
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use super::ctl::Waiter;
use super::machine::{Event, StateName};
use super::poller::{Poller, Watch};
use super::table::{self, Service};
use crate::config::Config;
use crate::control::server::{ClientId, Incoming, Server};
use crate::process::spawn::Spawner;

/// An event for one service, queued until the machine takes it.
pub type Queued = (String, Event);

/// Shutdown progress.
#[derive(Debug, Clone, Copy)]
pub struct Shutdown {
    /// When `shutdown_timeout` runs out and everything left is killed.
    pub deadline: Instant,
    /// SIGKILL sent to everything.
    pub forced: bool,
}

/// The supervisor's whole state.
pub struct Engine {
    /// The config in force.
    pub config: Config,
    /// The services, by name.
    pub services: BTreeMap<String, Service>,
    /// Events waiting for their machine.
    pub queue: VecDeque<Queued>,
    /// Set once SIGTERM/SIGINT arrived.
    pub shutdown: Option<Shutdown>,
    /// The soft `RLIMIT_NOFILE` the supervisor started with, given back to children.
    pub child_nofile: (u64, u64),
    /// The control socket.
    pub control: Option<Server>,
    /// Control requests waiting for services to reach a state.
    pub waiters: Vec<Waiter>,
    /// What systemd has been told.
    pub sd: super::sd::SdState,
    /// The services' descriptors.
    pub poller: Poller,
    /// Starts the services' processes.
    pub spawner: Spawner,
    signals: Arc<Mutex<Vec<Signal>>>,
    signal_fd: BorrowedFd<'static>,
}

/// Where a readable descriptor came from.
enum Source {
    Signals,
    Listener,
    Client(ClientId, PollFlags),
    Services,
}

impl Engine {
    /// An engine for `config`, dispatching signals through the registry's pollable descriptor.
    ///
    /// # Errors
    /// When the signal handlers cannot be installed, or the epoll set or spawn slots created.
    pub fn new(config: Config, child_nofile: (u64, u64)) -> std::io::Result<Engine> {
        // The spawn slots first, while low descriptor numbers are free.
        let spawner = Spawner::new()?;
        let poller = Poller::new()?;
        let signal_fd = crate::signals::poll_fd().map_err(std::io::Error::other)?;
        let signals = Arc::new(Mutex::new(Vec::new()));
        for sig in [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGUSR1,
            Signal::SIGCHLD,
            Signal::SIGQUIT,
        ] {
            let queue = Arc::clone(&signals);
            crate::signals::register(sig, move |s| {
                if let Ok(mut q) = queue.lock() {
                    q.push(s);
                }
            })
            .map_err(std::io::Error::other)?;
        }
        let services = config
            .services
            .values()
            .map(|spec| (spec.name.clone(), Service::new(Arc::clone(spec))))
            .collect();
        Ok(Engine {
            config,
            services,
            queue: VecDeque::new(),
            shutdown: None,
            child_nofile,
            control: None,
            waiters: Vec::new(),
            sd: super::sd::SdState {
                watchdog: crate::notify::watchdog_period().map(|p| (p, Instant::now() + p)),
                enabled: std::env::var_os("NOTIFY_SOCKET").is_some(),
                ..Default::default()
            },
            poller,
            spawner,
            signals,
            signal_fd,
        })
    }

    /// Runs until shutdown completes; returns the exit code (1 when a process survived SIGKILL).
    pub fn run(&mut self) -> i32 {
        self.admit_starts(Instant::now());
        // READY may be due at once (no services, or all adopted): nothing else would wake us.
        self.notify_systemd(Instant::now());
        loop {
            if let Some(code) = self.finished() {
                self.remove_fifos();
                return code;
            }
            let now = Instant::now();
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(now));
            let ready = self.wait(timeout);
            let now = Instant::now();
            let mut child_signal = false;
            for source in ready {
                match source {
                    Source::Signals => child_signal |= self.on_signals(now),
                    Source::Listener => {
                        if let Some(server) = self.control.as_mut() {
                            server.accept();
                        }
                    }
                    Source::Client(id, revents) => self.on_client(id, revents, now),
                    Source::Services => self.on_services(now),
                }
            }
            // Services' exits come through their pidfds; SIGCHLD is for everything else that a
            // subreaper inherits (and for any exit whose pidfd has not been seen yet).
            if child_signal {
                self.reap(now);
            }
            self.fire_deadlines(now);
            self.admit_starts(now);
            self.advance_shutdown(now);
            self.check_waiters(Instant::now());
            self.notify_systemd(Instant::now());
        }
    }

    fn on_client(&mut self, id: ClientId, revents: PollFlags, now: Instant) {
        let Some(server) = self.control.as_mut() else {
            return;
        };
        if revents.intersects(PollFlags::POLLOUT) {
            server.flush(id);
        }
        if revents.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            for incoming in server.read(id) {
                if let Incoming::Request(request) = incoming {
                    self.handle_request(id, request, now);
                }
            }
            let Some(server) = self.control.as_mut() else {
                return;
            };
            server.flush(id);
            let awaited = self.waiters.iter().any(|w| w.client == id);
            if server.read_closed(id) && !awaited && self.shutdown.is_none() {
                server.close_after_flush(id);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let machines = table::next_deadline(&self.services);
        let shutdown = self.shutdown.filter(|s| !s.forced).map(|s| s.deadline);
        [
            machines,
            shutdown,
            self.waiter_deadline(),
            self.watchdog_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Polls every descriptor of interest until one is ready or `timeout` passes.
    fn wait(&self, timeout: Option<Duration>) -> Vec<Source> {
        let mut sources = vec![Source::Signals];
        let mut fds = vec![PollFd::new(self.signal_fd, PollFlags::POLLIN)];
        if let Some(server) = &self.control {
            sources.push(Source::Listener);
            fds.push(PollFd::new(server.listener_fd(), PollFlags::POLLIN));
            for (id, fd, read, write) in server.client_fds() {
                let mut events = PollFlags::empty();
                events.set(PollFlags::POLLIN, read);
                events.set(PollFlags::POLLOUT, write);
                sources.push(Source::Client(id, PollFlags::empty()));
                fds.push(PollFd::new(fd, events));
            }
        }
        sources.push(Source::Services);
        fds.push(PollFd::new(self.poller.fd(), PollFlags::POLLIN));
        let timeout = match timeout {
            None => PollTimeout::NONE,
            // Round up, so a deadline is never woken for a millisecond early, again and again.
            Some(t) => {
                PollTimeout::try_from(t.as_millis().saturating_add(1).min(i32::MAX as u128) as i32)
                    .unwrap_or(PollTimeout::MAX)
            }
        };
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => log::error!("poll: {e}"),
        }
        fds.iter()
            .zip(sources)
            .filter_map(|(fd, source)| {
                let revents = fd.revents().filter(|r| !r.is_empty())?;
                Some(match source {
                    Source::Client(id, _) => Source::Client(id, revents),
                    other => other,
                })
            })
            .collect()
    }

    /// Handles what the epoll set reports: exits, leftover holders, output.
    fn on_services(&mut self, now: Instant) {
        for (name, kind) in self.poller.ready() {
            match kind {
                Watch::Exit => self.on_pidfd(&name, now),
                Watch::Leftover => self.on_leftover(&name),
                Watch::Stdout => self.drain(&name, false),
                Watch::Stderr => self.drain(&name, true),
            }
        }
    }

    /// Returns whether SIGCHLD was among the signals.
    fn on_signals(&mut self, now: Instant) -> bool {
        crate::signals::dispatch_pending();
        let pending: Vec<Signal> = self
            .signals
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default();
        let mut child_signal = false;
        for sig in pending {
            match sig {
                Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT => self.begin_shutdown(sig, now),
                Signal::SIGHUP => {
                    let _ = self.reload(now);
                }
                Signal::SIGUSR1 => self.reopen_logs(),
                _ => child_signal = true,
            }
        }
        child_signal
    }

    fn fire_deadlines(&mut self, now: Instant) {
        let due: Vec<String> = self
            .services
            .iter()
            .filter(|(_, s)| s.machine.deadline().is_some_and(|d| d <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            self.dispatch(&name, Event::Deadline, now);
        }
    }

    /// Starts every wanted, stopped service whose dependencies are RUNNING.
    pub fn admit_starts(&mut self, now: Instant) {
        if self.shutdown.is_some() {
            return;
        }
        loop {
            let ready: Vec<String> = self
                .services
                .iter()
                .filter(|(_, svc)| table::may_start(&self.services, svc))
                .map(|(name, _)| name.clone())
                .collect();
            if ready.is_empty() {
                return;
            }
            for name in ready {
                self.dispatch(&name, Event::Start, now);
            }
        }
    }

    /// Feeds `event` to `name`'s machine and performs the resulting actions, and any events
    /// those produce, until the queue is empty.
    pub fn dispatch(&mut self, name: &str, event: Event, now: Instant) {
        self.queue.push_back((name.to_owned(), event));
        while let Some((name, event)) = self.queue.pop_front() {
            let Some(svc) = self.services.get_mut(&name) else {
                continue;
            };
            let outcome = svc.machine.handle(event, now);
            self.perform(&name, outcome.actions);
            if let Some(svc) = self.services.get_mut(&name) {
                if matches!(svc.state(), StateName::Exited | StateName::Fatal) {
                    svc.wanted = false;
                }
            }
        }
    }

    /// At an orderly exit: the output FIFOs of every stopped service go too (after a crash they
    /// stay, for the next supervisor to pick the streams up).
    fn remove_fifos(&mut self) {
        for svc in self
            .services
            .values_mut()
            .filter(|s| s.machine.is_settled())
        {
            svc.stdout
                .take()
                .into_iter()
                .chain(svc.stderr.take())
                .for_each(super::logs::Capture::remove);
        }
    }

    /// 0 once shutdown completed; 1 when only unkillable processes are left after the forced
    /// stop; `None` while work remains.
    fn finished(&self) -> Option<i32> {
        let shutdown = self.shutdown?;
        let unsettled: Vec<&Service> = self
            .services
            .values()
            .filter(|s| !s.machine.is_settled())
            .collect();
        if unsettled.is_empty() {
            let lingering: Vec<&Service> =
                self.services.values().filter(|s| s.lock_lingers).collect();
            if lingering.is_empty() {
                return Some(0);
            }
            if shutdown.forced || Instant::now() >= shutdown.deadline {
                for s in lingering {
                    log::warn!(
                        "{}: leaving its lock file {}: still held by a process it left behind",
                        s.spec.name,
                        s.spec.lockfile.display()
                    );
                }
                return Some(0);
            }
            return None;
        }
        let stuck = unsettled.iter().all(|s| {
            matches!(
                s.machine.state(),
                super::machine::State::Stopping {
                    unkillable: true,
                    ..
                }
            )
        });
        if shutdown.forced && stuck {
            for s in &unsettled {
                log::error!(
                    "{}: PID {} survived SIGKILL; leaving its PID file {}",
                    s.spec.name,
                    s.machine.state().pid().unwrap_or(0),
                    s.spec.pidfile.display()
                );
            }
            return Some(1);
        }
        None
    }
}
