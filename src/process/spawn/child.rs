//! The child's side of a spawn: `clone(CLONE_VM | CLONE_VFORK | CLONE_FILES)`, then raw system
//! calls on a [`Plan`] prepared in the parent, then `execve`.
//!
//! Why not `fork`: the supervisor holds two to six descriptors per service, and `fork` copies
//! the descriptor table, the page tables and (through copy-on-write faults afterwards) every page
//! either side touches; the child's `execve` then closes thousands of inherited close-on-exec
//! descriptors while the parent waits. Here the child borrows the parent's memory and descriptor
//! table (the parent is suspended until the `execve`, as with `vfork`), and its first call,
//! `close_range(first_unused, ~0, CLOSE_RANGE_UNSHARE)`, gives it a private table holding only
//! the few low descriptors below the spawn slots. This is how glibc's `posix_spawn` is built;
//! `posix_spawn` itself cannot set credentials, rlimits or the umask.
//!
//! Rules for the code that runs in the child: it shares the parent's memory, so it allocates
//! nothing, takes no lock, never unwinds, and calls glibc only for plain system-call wrappers.
//! Credentials go through raw `syscall`s: glibc's `setuid` & co. would signal the parent's
//! threads to change theirs too. Every signal is blocked in the parent around the `clone`, so no
//! handler of the parent's can run on the child's stack before the child has reset them.

use std::ffi::{c_int, c_void, CString};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// Everything the child needs, resolved and allocated in the parent.
pub(super) struct Plan {
    /// Paths to try, in order (the `PATH` search done in the parent).
    pub candidates: Vec<CString>,
    /// `argv`, null-terminated (points into `_argv`).
    pub argv: Vec<*const libc::c_char>,
    /// `envp`, null-terminated (points into `_envp`).
    pub envp: Vec<*const libc::c_char>,
    /// The strings behind `argv`.
    pub _argv: Vec<CString>,
    /// The strings behind `envp`.
    pub _envp: Vec<CString>,
    /// The working directory.
    pub cwd: CString,
    /// The umask, if one is set.
    pub umask: Option<libc::mode_t>,
    /// `(resource, limit)` pairs.
    pub rlimits: Vec<(i32, libc::rlimit)>,
    /// `(uid, gid, supplementary groups)` to switch to.
    pub credentials: Option<(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
    /// The slot holding `/dev/null` (stdin).
    pub stdin: RawFd,
    /// The slot holding stdout's target, or `None` to inherit the supervisor's.
    pub stdout: Option<RawFd>,
    /// As `stdout`, for stderr.
    pub stderr: Option<RawFd>,
    /// The slot holding the lock descriptor, which becomes descriptor 3.
    pub lock: Option<RawFd>,
    /// The lowest descriptor number above every slot.
    pub first_unused: RawFd,
    /// Written by the child when it fails: the [`Stage`] and the errno.
    pub failure: [AtomicI32; 2],
}

/// The descriptor a service's lock is handed over as (`PIDWARD_LOCK_FD`).
pub const LOCK_FD: RawFd = 3;

/// The step of the child's set-up that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// `close_range` with `CLOSE_RANGE_UNSHARE` (Linux 5.9).
    Unshare = 1,
    /// Moving the standard descriptors and the lock into place.
    Descriptors,
    /// `setsid`.
    Session,
    /// Resetting signal dispositions and the mask.
    Signals,
    /// `setrlimit`.
    Limits,
    /// `setgroups`/`setgid`/`setuid`.
    Credentials,
    /// `chdir`.
    Directory,
    /// `execve`.
    Exec,
    /// `clone` itself (in the parent).
    Clone,
}

impl Stage {
    fn from_raw(raw: i32) -> Option<Stage> {
        [
            Stage::Unshare,
            Stage::Descriptors,
            Stage::Session,
            Stage::Signals,
            Stage::Limits,
            Stage::Credentials,
            Stage::Directory,
            Stage::Exec,
        ]
        .into_iter()
        .find(|s| *s as i32 == raw)
    }
}

/// A started child: its PID and a pidfd on it.
pub(super) struct Started {
    pub pid: i32,
    pub pidfd: std::os::fd::OwnedFd,
}

/// Runs `plan` in a new process on `stack`; returns once the child has exec'd, or the stage
/// and errno at which it failed (the failed child is reaped here).
pub(super) fn start(plan: &Plan, stack: &mut [u8]) -> Result<Started, (Stage, io::Error)> {
    use std::os::fd::FromRawFd;
    // The stack grows down from its 16-byte-aligned top.
    let top = stack.as_mut_ptr_range().end as usize & !15;
    let mut pidfd: c_int = -1;
    let mut all: libc::sigset_t = unsafe_zeroed_sigset();
    let mut old: libc::sigset_t = unsafe_zeroed_sigset();
    // SAFETY: sigfillset and pthread_sigmask only write the sets passed in, which are valid.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | libc::CLONE_PIDFD;
    // SAFETY: `child_main` follows the rules in the module docs; `plan` outlives the child's use
    // of it (the parent is suspended until the child execs or exits); the stack is ours, unused
    // by anything else, and large enough for the few plain calls the child makes; CLONE_PIDFD
    // writes the pidfd into `pidfd`.
    let pid = unsafe {
        libc::clone(
            child_main,
            top as *mut c_void,
            flags | libc::SIGCHLD,
            plan as *const Plan as *mut c_void,
            &mut pidfd as *mut c_int,
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    if pid < 0 {
        return Err((Stage::Clone, clone_error));
    }
    // SAFETY: CLONE_PIDFD gave us this new descriptor (close-on-exec), owned by nobody else.
    let pidfd = unsafe { std::os::fd::OwnedFd::from_raw_fd(pidfd) };
    let stage = plan.failure[0].load(Ordering::Acquire);
    if stage == 0 {
        return Ok(Started { pid, pidfd });
    }
    let errno = plan.failure[1].load(Ordering::Acquire);
    // The child has called _exit: reap it, so the supervisor's reaper never sees it.
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    let stage = Stage::from_raw(stage).unwrap_or(Stage::Exec);
    Err((stage, io::Error::from_raw_os_error(errno)))
}

fn unsafe_zeroed_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; all-zero is a valid (empty) set.
    unsafe { std::mem::zeroed() }
}

/// The child's entry point. Never returns: it execs or exits 127.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `&Plan` passed to clone, alive until the parent resumes.
    let plan = unsafe { &*(arg as *const Plan) };
    // SAFETY: run in the cloned child as the module docs require.
    let (stage, errno) = unsafe { set_up_and_exec(plan) };
    plan.failure[1].store(errno, Ordering::Release);
    plan.failure[0].store(stage as i32, Ordering::Release);
    // SAFETY: ends the child at once, without running the parent's atexit handlers.
    unsafe { libc::_exit(127) }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL)
}

/// The set-up steps, in order; returns only on failure.
///
/// # Safety
/// Only in the child of [`start`]'s `clone`.
unsafe fn set_up_and_exec(plan: &Plan) -> (Stage, i32) {
    macro_rules! check {
        ($stage:expr, $call:expr) => {
            if $call < 0 {
                return ($stage, errno());
            }
        };
    }
    // SAFETY: plain system calls on descriptors and memory the plan owns, in the cloned child.
    unsafe {
        // A private descriptor table, copying only the descriptors below `first_unused`.
        check!(
            Stage::Unshare,
            libc::syscall(
                libc::SYS_close_range,
                plan.first_unused as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_UNSHARE,
            )
        );
        check!(Stage::Descriptors, libc::dup2(plan.stdin, 0));
        for (slot, target) in [(plan.stdout, 1), (plan.stderr, 2)] {
            if let Some(slot) = slot {
                check!(Stage::Descriptors, libc::dup2(slot, target));
            }
        }
        let mut keep_below = LOCK_FD;
        if let Some(slot) = plan.lock {
            keep_below = LOCK_FD + 1;
            if slot == LOCK_FD {
                check!(Stage::Descriptors, libc::fcntl(LOCK_FD, libc::F_SETFD, 0));
            } else {
                check!(Stage::Descriptors, libc::dup2(slot, LOCK_FD));
            }
        }
        // Nothing else reaches the service, close-on-exec or not.
        check!(
            Stage::Descriptors,
            libc::syscall(
                libc::SYS_close_range,
                keep_below as libc::c_uint,
                libc::c_uint::MAX,
                0 as libc::c_uint,
            )
        );
        check!(Stage::Session, libc::setsid());
        // Every signal, glibc's internal 32 and 33 and the real-time ones too, back to SIG_DFL
        // (an ignored one would stay ignored across exec). The raw call, since glibc's
        // `sigaction` refuses 32 and 33; an all-zero kernel `struct sigaction` is SIG_DFL with
        // no flags and an empty mask whatever the architecture's field order.
        let default_action = [0u64; 4];
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    default_action.as_ptr(),
                    std::ptr::null_mut::<libc::c_void>(),
                    8usize,
                );
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        check!(
            Stage::Signals,
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut())
        );
        if let Some(mask) = plan.umask {
            libc::umask(mask);
        }
        for (resource, limit) in &plan.rlimits {
            check!(Stage::Limits, libc::setrlimit(*resource as _, limit));
        }
        // As root still, as before a privilege drop: the directory may be root's alone.
        check!(Stage::Directory, libc::chdir(plan.cwd.as_ptr()));
        if let Some((uid, gid, groups)) = &plan.credentials {
            let setgroups = libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr());
            check!(Stage::Credentials, setgroups);
            check!(
                Stage::Credentials,
                libc::syscall(libc::SYS_setresgid, *gid, *gid, *gid)
            );
            check!(
                Stage::Credentials,
                libc::syscall(libc::SYS_setresuid, *uid, *uid, *uid)
            );
        }
        // As execvp does: go on past a candidate that is missing or not accessible, and report
        // EACCES over ENOENT if any candidate had it.
        let mut failure = libc::ENOENT;
        for path in &plan.candidates {
            libc::execve(path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
            match errno() {
                libc::ENOENT | libc::ENOTDIR => {}
                libc::EACCES => failure = libc::EACCES,
                other => return (Stage::Exec, other),
            }
        }
        (Stage::Exec, failure)
    }
}
