//! `pidward lock`: run a command while holding a lock, like `flock(1)` with an owner record,
//! a fencing generation, stale detection and signal forwarding.
//!
//! The command inherits the `flock` descriptor (unless `--close`), so the lock stays held while
//! it, or anything it forked, lives, even if `pidward lock` is SIGKILLed. For `soft`/`dir`/`lease`
//! the owner record names the command too, and the command does not start until it does: a
//! killed wrapper never leaves a running command under a lock that looks abandoned.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use super::LockArgs;
use pidward::exit::ExitStatus;
use pidward::lock::{Lock, LockError, LockGuard, ProcessRef, DEFAULT_TTL};
use pidward::process::{read_stat, PidFd};
use pidward::{pidfile, signals};

/// Signals passed on to the command.
const FORWARDED: [Signal; 5] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Runs `pidward lock`.
pub fn run(args: LockArgs) -> anyhow::Result<ExitStatus> {
    let (lost_tx, lost_rx) = UnixStream::pair().context("creating the lease-loss pipe")?;
    let lost_tx = Mutex::new(lost_tx);
    let lock = Lock::new(&args.lockfile)
        .kind(args.kind)
        .shared(args.shared)
        .stale_after(args.stale_after)
        .ttl(args.ttl.unwrap_or(DEFAULT_TTL))
        .generation(true)
        .cleanup_on_signal(false)
        .on_lease_lost(move |_| {
            let _ = lost_tx.lock().map(|mut tx| tx.write_all(b"!"));
        });
    let lock = match &args.label {
        Some(label) => lock.label(label.clone()),
        None => lock,
    };
    let result = if args.no_wait {
        lock.try_acquire()
    } else {
        lock.acquire(args.wait)
    };
    let guard = match result {
        Ok(guard) => guard,
        Err(e @ (LockError::Busy { .. } | LockError::Timeout { .. })) => {
            eprintln!("pidward: {e}");
            return Ok(ExitStatus::Child(args.conflict_exit_code));
        }
        Err(e) => return Err(e.into()),
    };
    let forwarded = Arc::new(Mutex::new(Vec::new()));
    let signal_fd = signals::poll_fd()?;
    for sig in FORWARDED.into_iter().chain([Signal::SIGCHLD]) {
        let queue = Arc::clone(&forwarded);
        signals::register(sig, move |s| {
            queue.lock().map(|mut q| q.push(s)).unwrap_or(())
        })?;
    }
    let (mut child, pidfd, go) = match spawn(&args, &guard) {
        Ok(started) => started,
        Err(Spawn::Cannot(status, message)) => {
            eprintln!("pidward lock: {message}");
            return Ok(status);
        }
        Err(Spawn::Failed(e)) => return Err(e),
    };
    // Through the shim, the command has not started yet: if it cannot be recorded, it never
    // runs unlocked.
    let recorded = record_child(&args, &guard, &child);
    let started = match go {
        Some(mut go) => recorded.and_then(|()| go.write_all(b"g").context("starting the command")),
        None => recorded,
    };
    if let Err(e) = started {
        let _ = pidfd.send_signal(Signal::SIGTERM); // direct spawn: it already runs, locked
        let _ = child.wait();
        return Err(e);
    }
    let status = supervise(&mut child, &pidfd, signal_fd, &lost_rx, &forwarded)?;
    if let Some(path) = &args.pidfile {
        if let Err(e) = pidfile::remove_if_ours(path, child.id() as i32) {
            log::warn!("{e}");
        }
    }
    guard.release()?;
    Ok(status)
}

/// Why the command did not start.
enum Spawn {
    /// It cannot be run: 127 not found, 126 not executable (as a shell says).
    Cannot(ExitStatus, String),
    /// Anything else.
    Failed(anyhow::Error),
}

/// Starts the command; it inherits the flock descriptor unless `--close`.
///
/// With a `flock` lock that the command inherits, the kernel ties the lock to the command from
/// its first instruction, so it is spawned directly (one exec, as `flock(1)` does) and the
/// owner record names it right after. Otherwise (`soft`/`dir`/`lease`, `--close`, `--pidfile`)
/// it goes through the hidden `pidward __exec` shim, which keeps the PID and waits for a go byte
/// until that PID is recorded, then `exec`s the command: a killed wrapper can never leave the
/// command running under a lock that looks abandoned. (A `pre_exec` hook cannot wait: `spawn`
/// itself waits for the `exec`.)
fn spawn(args: &LockArgs, guard: &LockGuard) -> Result<(Child, PidFd, Option<UnixStream>), Spawn> {
    let failed = |e: std::io::Error, what: &str| {
        Spawn::Failed(anyhow::Error::new(e).context(what.to_owned()))
    };
    let inherit: Option<RawFd> = if args.close { None } else { guard.raw_fd() };
    let gated = inherit.is_none() || args.pidfile.is_some();
    let pair = if gated {
        Some(UnixStream::pair().map_err(|e| failed(e, "creating the start pipe"))?)
    } else {
        None
    };
    let go_fd = pair.as_ref().map(|(_, rx)| rx.as_raw_fd());
    let mut cmd = match go_fd {
        Some(fd) => {
            // /proc/self/exe, not current_exe(): the binary may have been replaced (a package
            // upgrade) while this process waited for the lock, and then its old path names nothing.
            let mut cmd = Command::new("/proc/self/exe");
            cmd.arg0("pidward")
                .arg("__exec")
                .arg(fd.to_string())
                .arg("--")
                .args(&args.command);
            cmd
        }
        None => {
            let mut cmd = Command::new(&args.command[0]);
            cmd.args(&args.command[1..]);
            cmd
        }
    };
    if let Some(gen) = guard.generation() {
        cmd.env("PIDWARD_LOCK_GEN", gen.to_string());
    }
    match inherit {
        Some(fd) => cmd.env("PIDWARD_LOCK_FD", fd.to_string()),
        None => cmd.env_remove("PIDWARD_LOCK_FD"),
    };
    // SAFETY: fcntl is async-signal-safe, and both descriptors stay open in the parent (and so
    // valid in the child) until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            for fd in inherit.into_iter().chain(go_fd) {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| {
        let program = &args.command[0];
        match e.kind() {
            std::io::ErrorKind::NotFound => Spawn::Cannot(
                ExitStatus::Child(127),
                format!("cannot run {program:?}: {e}"),
            ),
            std::io::ErrorKind::PermissionDenied => Spawn::Cannot(
                ExitStatus::Child(126),
                format!("cannot run {program:?}: {e}"),
            ),
            _ => failed(e, "starting the command"),
        }
    })?;
    let pid = child.id() as i32;
    let pidfd = PidFd::open(pid).map_err(|e| failed(e, "opening a pidfd for the command"))?;
    Ok((child, pidfd, pair.map(|(tx, _rx)| tx)))
}

/// Puts the command's PID in the owner record and the `--pidfile`.
fn record_child(args: &LockArgs, guard: &LockGuard, child: &Child) -> anyhow::Result<()> {
    let pid = child.id() as i32;
    let start_ticks = read_stat(pid).map_or(0, |s| s.start_ticks);
    guard.set_child(Some(ProcessRef { pid, start_ticks }))?;
    if let Some(path) = &args.pidfile {
        pidfile::write(path, pid)?;
    }
    Ok(())
}

/// The hidden `pidward __exec GO_FD -- COMMAND…`: waits for the go byte, then becomes COMMAND
/// (same PID). Exits 125 if the wrapper died first, 126/127 if COMMAND cannot be run.
pub fn exec_shim(go_fd: RawFd, command: &[String]) -> anyhow::Result<ExitStatus> {
    use std::os::fd::FromRawFd;
    // SAFETY: the wrapper passed this descriptor to us for exactly this use; nothing else in
    // this process owns it.
    let mut go = unsafe { std::fs::File::from_raw_fd(go_fd) };
    let mut byte = [0u8; 1];
    if !matches!(go.read(&mut byte), Ok(1)) {
        eprintln!(
            "pidward lock: the wrapper exited before the command was recorded; not running it"
        );
        return Ok(ExitStatus::Child(125));
    }
    drop(go);
    let Some((program, rest)) = command.split_first() else {
        return Ok(ExitStatus::Usage);
    };
    let err = Command::new(program).args(rest).exec();
    eprintln!("pidward lock: cannot run {program:?}: {err}");
    Ok(ExitStatus::Child(
        if err.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        },
    ))
}

/// Waits for the command, forwarding signals and stopping it if the lease is lost.
fn supervise(
    child: &mut Child,
    pidfd: &PidFd,
    signal_fd: std::os::fd::BorrowedFd<'static>,
    lost: &UnixStream,
    forwarded: &Mutex<Vec<Signal>>,
) -> anyhow::Result<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(exit_status(status));
        }
        let mut fds = [
            PollFd::new(signal_fd, PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(lost.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let lease_lost = fds[2]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        signals::dispatch_pending();
        let pending: Vec<Signal> = forwarded
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default();
        for sig in pending.into_iter().filter(|s| FORWARDED.contains(s)) {
            log::debug!("forwarding {sig} to PID {}", child.id());
            let _ = pidfd.send_signal(sig);
        }
        if lease_lost {
            let mut sink = [0u8; 16];
            let _ = (&*lost).read(&mut sink);
            eprintln!(
                "pidward: lease lost (another holder took the lock); sending SIGTERM to PID {}",
                child.id()
            );
            let _ = pidfd.send_signal(Signal::SIGTERM);
        }
    }
}

fn exit_status(status: std::process::ExitStatus) -> ExitStatus {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitStatus::Child(code),
        (None, Some(sig)) => ExitStatus::from_signal(sig),
        (None, None) => ExitStatus::Failure,
    }
}
