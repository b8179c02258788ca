//! A registry of signal handlers on top of `signal-hook`: any number of handlers per signal,
//! each with an id to unregister, run in registration order *outside* signal context.
//!
//! The signal handler itself only sets a per-signal flag and writes a byte to a self-pipe
//! (`signal-hook`'s flag and pipe actions, both async-signal-safe). The handlers run either on a
//! dispatcher thread, started on first use (for library users), or from the caller's own event
//! loop, which polls [`poll_fd`] and calls [`dispatch_pending`] (the supervisor, which must not
//! start threads before it daemonizes).
//!
//! Cleanups: lock and PID file guards register a cleanup. When SIGTERM or SIGINT arrives and no
//! handler is registered for it, every cleanup runs and the process exits with 128+N, so a
//! killed program still removes its soft locks and PID files. A program that registers its own
//! SIGTERM/SIGINT handler has taken over shutdown; its guards clean up when they drop.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use nix::sys::signal::Signal;

/// The signals the registry dispatches.
pub const SUPPORTED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGCHLD,
];

/// Identifies a registered handler, for [`unregister`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HandlerId(u64);

/// Identifies a registered cleanup, for [`unregister_cleanup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CleanupId(u64);

/// Errors from the signal registry.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// The signal is not one the registry dispatches.
    #[error("signal {0} is not supported by the handler registry (supported: TERM INT HUP QUIT USR1 USR2 CHLD)")]
    Unsupported(Signal),
    /// Installing the low-level handler or the self-pipe failed.
    #[error("installing the handler for {signal}: {source}")]
    Install {
        /// The signal.
        signal: Signal,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The self-pipe could not be created.
    #[error("creating the signal self-pipe: {0}")]
    Pipe(#[source] io::Error),
}

type Handler = Arc<dyn Fn(Signal) + Send + Sync>;
type Cleanup = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Tables {
    next_id: u64,
    handlers: BTreeMap<HandlerId, (Signal, Handler)>,
    cleanups: BTreeMap<CleanupId, Cleanup>,
    hooked: Vec<Signal>,
    thread_started: bool,
    poll_mode: bool,
}

struct Registry {
    tables: Mutex<Tables>,
    flags: Vec<(Signal, Arc<AtomicBool>)>,
    read: UnixStream,
    write: UnixStream,
}

fn registry() -> Result<&'static Registry, SignalError> {
    static REGISTRY: OnceLock<Result<Registry, String>> = OnceLock::new();
    let reg = REGISTRY.get_or_init(|| {
        let (read, write) = UnixStream::pair().map_err(|e| e.to_string())?;
        read.set_nonblocking(true).map_err(|e| e.to_string())?;
        let flags = SUPPORTED
            .iter()
            .map(|s| (*s, Arc::new(AtomicBool::new(false))))
            .collect();
        Ok(Registry {
            tables: Mutex::new(Tables::default()),
            flags,
            read,
            write,
        })
    });
    reg.as_ref()
        .map_err(|e| SignalError::Pipe(io::Error::other(e.clone())))
}

impl Registry {
    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn flag(&self, signal: Signal) -> Option<&Arc<AtomicBool>> {
        self.flags
            .iter()
            .find(|(s, _)| *s == signal)
            .map(|(_, f)| f)
    }

    /// Installs the low-level flag + pipe actions for `signal`, once.
    fn hook(&self, tables: &mut Tables, signal: Signal) -> Result<(), SignalError> {
        if tables.hooked.contains(&signal) {
            return Ok(());
        }
        let flag = self.flag(signal).ok_or(SignalError::Unsupported(signal))?;
        let install = |source| SignalError::Install { signal, source };
        signal_hook::flag::register(signal as i32, Arc::clone(flag)).map_err(install)?;
        let pipe: OwnedFd = self.write.try_clone().map_err(install)?.into();
        signal_hook::low_level::pipe::register_raw(signal as i32, pipe).map_err(install)?;
        tables.hooked.push(signal);
        Ok(())
    }

    fn ensure_dispatcher(&'static self, tables: &mut Tables) -> Result<(), SignalError> {
        if tables.poll_mode || tables.thread_started {
            return Ok(());
        }
        std::thread::Builder::new()
            .name("pidward-signals".into())
            .spawn(move || self.dispatch_forever())
            .map_err(SignalError::Pipe)?;
        tables.thread_started = true;
        Ok(())
    }

    fn dispatch_forever(&self) {
        loop {
            let mut fds = [nix::poll::PollFd::new(
                self.read.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
            let mut tables = self.tables();
            if tables.poll_mode {
                // An event loop took over dispatching (`poll_fd`): leave the pipe to it.
                tables.thread_started = false;
                return;
            }
            drop(tables);
            self.dispatch();
        }
    }

    fn dispatch(&self) {
        let mut sink = [0u8; 64];
        while matches!((&self.read).read(&mut sink), Ok(n) if n > 0) {}
        for (signal, flag) in &self.flags {
            if flag.swap(false, Ordering::SeqCst) {
                self.deliver(*signal);
            }
        }
    }

    fn deliver(&self, signal: Signal) {
        let (handlers, cleanups) = {
            let tables = self.tables();
            let handlers: Vec<Handler> = tables
                .handlers
                .values()
                .filter(|(s, _)| *s == signal)
                .map(|(_, h)| Arc::clone(h))
                .collect();
            let cleanups: Vec<Cleanup> = tables.cleanups.values().cloned().collect();
            (handlers, cleanups)
        };
        if !handlers.is_empty() {
            handlers
                .iter()
                .for_each(|h| guarded(signal, "handler", || h(signal)));
            return;
        }
        if matches!(signal, Signal::SIGTERM | Signal::SIGINT) {
            log::debug!(target: "pidward::signals", "{signal}: running {} cleanups, then exiting", cleanups.len());
            cleanups
                .iter()
                .for_each(|c| guarded(signal, "cleanup", || c()));
            std::process::exit(128 + signal as i32);
        }
    }
}

/// Runs a handler; a panic in it is logged, never allowed to end signal dispatching (the
/// dispatcher thread dying would leave SIGTERM ignored for good).
fn guarded(signal: Signal, what: &str, f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        log::error!(target: "pidward::signals", "a {signal} {what} panicked");
    }
}

/// Registers `handler` for `signal`; handlers of one signal run in registration order.
///
/// # Errors
/// [`SignalError::Unsupported`] for a signal outside [`SUPPORTED`]; `Install` when the
/// low-level handler cannot be installed.
pub fn register(
    signal: Signal,
    handler: impl Fn(Signal) + Send + Sync + 'static,
) -> Result<HandlerId, SignalError> {
    let reg = registry()?;
    let mut tables = reg.tables();
    reg.hook(&mut tables, signal)?;
    reg.ensure_dispatcher(&mut tables)?;
    tables.next_id += 1;
    let id = HandlerId(tables.next_id);
    tables.handlers.insert(id, (signal, Arc::new(handler)));
    Ok(id)
}

/// Removes a handler; true if it was registered. With no handler left, SIGTERM and SIGINT go
/// back to "run the cleanups, then exit 128+N"; other signals are then ignored.
pub fn unregister(id: HandlerId) -> bool {
    registry().is_ok_and(|reg| reg.tables().handlers.remove(&id).is_some())
}

/// Registers a cleanup to run when SIGTERM or SIGINT ends the process (see the module docs).
///
/// # Errors
/// As [`register`].
pub fn register_cleanup(
    cleanup: impl Fn() + Send + Sync + 'static,
) -> Result<CleanupId, SignalError> {
    let reg = registry()?;
    let mut tables = reg.tables();
    reg.hook(&mut tables, Signal::SIGTERM)?;
    reg.hook(&mut tables, Signal::SIGINT)?;
    reg.ensure_dispatcher(&mut tables)?;
    tables.next_id += 1;
    let id = CleanupId(tables.next_id);
    tables.cleanups.insert(id, Arc::new(cleanup));
    Ok(id)
}

/// Removes a cleanup (its guard was dropped normally).
pub fn unregister_cleanup(id: CleanupId) {
    if let Ok(reg) = registry() {
        reg.tables().cleanups.remove(&id);
    }
}

/// Switches to event-loop mode: no dispatcher thread; the caller polls the returned descriptor
/// for readability and then calls [`dispatch_pending`].
///
/// # Errors
/// When the self-pipe cannot be created.
pub fn poll_fd() -> Result<BorrowedFd<'static>, SignalError> {
    let reg = registry()?;
    let was_threaded = {
        let mut tables = reg.tables();
        tables.poll_mode = true;
        tables.thread_started
    };
    if was_threaded {
        // Wake the dispatcher thread so that it sees the switch and ends; the byte it leaves
        // makes the event loop look once, harmlessly.
        let _ = (&reg.write).write(&[0]);
    }
    Ok(reg.read.as_fd())
}

/// Runs the handlers of every signal that arrived since the last call (event-loop mode).
pub fn dispatch_pending() {
    if let Ok(reg) = registry() {
        reg.dispatch();
    }
}
