//! Spawning a service: its own session and process group, a clean signal state, umask,
//! credentials, rlimits, working directory and environment; no descriptor leaks into it but
//! 0/1/2 and the one it is meant to inherit (its lock).
//!
//! Everything is resolved in the parent (user, groups, the `PATH` search, argv and environment
//! as C strings); the child makes only raw system calls on that plan. The lock is always handed
//! over as descriptor 3 ([`LOCK_FD`]).
//!
//! The child is a `clone(CLONE_VM | CLONE_VFORK | CLONE_FILES)`, not a `fork`: a supervisor of
//! 500 services holds 1,000–3,000 descriptors, and `fork` copies them and the page tables, and
//! the child's `execve` then closes them all while the supervisor waits. The child's first call,
//! `close_range(first_unused, ~0, CLOSE_RANGE_UNSHARE)`, gives it a private table holding only
//! the few descriptors below the [`Spawner`]'s slots, into which its stdout, stderr and lock were
//! `dup3`'d. Needs Linux 5.9.

mod child;
mod plan;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use super::{read_stat, PidFd};
use child::Stage;
pub use child::LOCK_FD;

/// A user to run as, resolved in the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// Supplementary groups (the user's own, from the group database).
    pub groups: Vec<u32>,
    /// The user name (for `USER`/`LOGNAME`).
    pub name: String,
    /// The home directory (for `HOME`).
    pub home: String,
}

/// Resolves `user` (name or number) and optionally `group` into credentials.
///
/// # Errors
/// A one-line message when the user or group does not exist.
pub fn resolve_credentials(user: &str, group: Option<&str>) -> Result<Credentials, String> {
    use nix::unistd::{getgrouplist, Group, Uid, User};
    let found = match user.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(user),
    };
    let user_entry = found
        .map_err(|e| format!("looking up user {user:?}: {e}"))?
        .ok_or_else(|| format!("no such user {user:?}"))?;
    let gid = match group {
        None => user_entry.gid,
        Some(g) => {
            let found = match g.parse::<u32>() {
                Ok(gid) => Group::from_gid(nix::unistd::Gid::from_raw(gid)),
                Err(_) => Group::from_name(g),
            };
            found
                .map_err(|e| format!("looking up group {g:?}: {e}"))?
                .ok_or_else(|| format!("no such group {g:?}"))?
                .gid
        }
    };
    let cname =
        CString::new(user_entry.name.clone()).map_err(|_| format!("bad user name {user:?}"))?;
    let groups =
        getgrouplist(&cname, gid).map_err(|e| format!("listing the groups of {user:?}: {e}"))?;
    Ok(Credentials {
        uid: user_entry.uid.as_raw(),
        gid: gid.as_raw(),
        groups: groups.iter().map(|g| g.as_raw()).collect(),
        name: user_entry.name,
        home: user_entry.dir.display().to_string(),
    })
}

/// Where a child's standard output or error goes.
#[derive(Debug, Clone, Copy)]
pub enum ChildOutput<'a> {
    /// The supervisor's own.
    Inherit,
    /// `/dev/null`.
    Null,
    /// This descriptor (a capture FIFO's writing end).
    To(BorrowedFd<'a>),
}

/// What to spawn and how.
#[derive(Debug)]
pub struct SpawnSpec<'a> {
    /// Program and arguments.
    pub argv: &'a [String],
    /// Working directory.
    pub cwd: &'a Path,
    /// Extra environment (on top of the supervisor's, minus `remove_env`).
    pub env: &'a BTreeMap<String, String>,
    /// Variables not to pass on (systemd's notify and watchdog variables).
    pub remove_env: &'a [&'a str],
    /// Run as this user.
    pub credentials: Option<&'a Credentials>,
    /// The umask.
    pub umask: Option<u32>,
    /// Resource limits to set: (`RLIMIT_*` number, soft, hard).
    pub rlimits: &'a [(i32, u64, u64)],
    /// Standard output.
    pub stdout: ChildOutput<'a>,
    /// Standard error.
    pub stderr: ChildOutput<'a>,
    /// A descriptor the child inherits as [`LOCK_FD`] (its lock), named in `PIDWARD_LOCK_FD`.
    pub keep_fd: Option<BorrowedFd<'a>>,
}

/// A spawned process.
#[derive(Debug)]
pub struct Spawned {
    /// Its PID (also its process group and session id).
    pub pid: i32,
    /// A pidfd on it.
    pub pidfd: PidFd,
    /// Its start ticks.
    pub start_ticks: u64,
}

/// Why a spawn failed; `permanent` when retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnError {
    /// Retrying cannot help (not found, not executable, bad cwd or user).
    pub permanent: bool,
    /// The message.
    pub message: String,
}

/// Starts services: owns the stack their set-up runs on and the low descriptor slots through
/// which their descriptors are handed over (see the module docs for why).
#[derive(Debug)]
pub struct Spawner {
    /// `/dev/null`: the child's stdin, and what every other slot holds between spawns.
    null: OwnedFd,
    /// Slots for stdout, stderr and the lock.
    slots: [OwnedFd; 3],
    stack: Vec<u8>,
    found: plan::PathCache,
}

/// The child's stack: its set-up is a few plain calls deep.
const STACK_BYTES: usize = 64 * 1024;

impl Spawner {
    /// A spawner; create it early, so that its slots get low descriptor numbers (the child
    /// copies every descriptor below them).
    ///
    /// # Errors
    /// When `/dev/null` cannot be opened.
    pub fn new() -> io::Result<Spawner> {
        let null: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?
            .into();
        let slots = [null.try_clone()?, null.try_clone()?, null.try_clone()?];
        Ok(Spawner {
            null,
            slots,
            stack: vec![0; STACK_BYTES],
            found: plan::PathCache::new(),
        })
    }

    /// Forgets where programs were found on `PATH` (at a reload).
    pub fn forget_paths(&mut self) {
        self.found.clear();
    }

    /// Spawns `spec` in its own session and process group; returns once it has exec'd.
    ///
    /// # Errors
    /// A [`SpawnError`] saying whether retrying can help.
    pub fn spawn(&mut self, spec: SpawnSpec<'_>) -> Result<Spawned, SpawnError> {
        let Some(program) = spec.argv.first() else {
            return Err(SpawnError {
                permanent: true,
                message: "empty command".into(),
            });
        };
        let mut plan = plan::prepare(&spec, spec.keep_fd.map(|_| LOCK_FD), &mut self.found)?;
        let [out, err, lock] = &mut self.slots;
        let fill = |slot: &mut OwnedFd, source: Option<BorrowedFd<'_>>| -> io::Result<()> {
            if let Some(fd) = source {
                nix::unistd::dup3(fd, slot, nix::fcntl::OFlag::O_CLOEXEC)?;
            }
            Ok(())
        };
        let stdout = target(spec.stdout, self.null.as_fd());
        let stderr = target(spec.stderr, self.null.as_fd());
        let filled = fill(out, stdout)
            .and_then(|()| fill(err, stderr))
            .and_then(|()| fill(lock, spec.keep_fd));
        plan.stdin = self.null.as_raw_fd();
        plan.stdout = stdout.map(|_| out.as_raw_fd());
        plan.stderr = stderr.map(|_| err.as_raw_fd());
        plan.lock = spec.keep_fd.map(|_| lock.as_raw_fd());
        plan.first_unused = [&self.null, &*out, &*err, &*lock]
            .iter()
            .map(|fd| fd.as_raw_fd())
            .max()
            .unwrap_or(2)
            + 1;
        let started = match filled {
            Ok(()) => child::start(&plan, &mut self.stack),
            Err(e) => Err((Stage::Descriptors, e)),
        };
        // Back to /dev/null: a slot must not keep a service's lock or FIFO open.
        for slot in [out, err, lock] {
            if let Err(e) = nix::unistd::dup3(&self.null, slot, nix::fcntl::OFlag::O_CLOEXEC) {
                log::warn!("spawn: resetting a descriptor slot: {e}");
            }
        }
        let started = started.map_err(|(stage, e)| {
            if stage == Stage::Exec {
                self.forget_paths();
            }
            classify(program, spec.cwd, stage, &e)
        })?;
        let start_ticks = read_stat(started.pid).map_or(0, |s| s.start_ticks);
        Ok(Spawned {
            pid: started.pid,
            pidfd: PidFd::from(started.pidfd),
            start_ticks,
        })
    }
}

/// The descriptor a child's output slot must hold; `None` to inherit the supervisor's.
fn target<'a>(output: ChildOutput<'a>, null: BorrowedFd<'a>) -> Option<BorrowedFd<'a>> {
    match output {
        ChildOutput::Inherit => None,
        ChildOutput::Null => Some(null),
        ChildOutput::To(fd) => Some(fd),
    }
}

/// Not found, not executable, bad directory or credentials: retrying cannot help.
fn classify(program: &str, cwd: &Path, stage: Stage, e: &io::Error) -> SpawnError {
    let code = e.raw_os_error();
    let permanent = matches!(
        code,
        Some(
            libc::ENOENT
                | libc::EACCES
                | libc::ENOEXEC
                | libc::ENOTDIR
                | libc::EPERM
                | libc::EISDIR
                | libc::ELOOP
                | libc::ENAMETOOLONG
                | libc::EINVAL
                | libc::ENOSYS
        )
    );
    let message = match (stage, code) {
        (Stage::Directory, _) => format!("working directory {}: {e}", cwd.display()),
        (Stage::Credentials, Some(libc::EPERM)) => format!(
            "{program}: not permitted to change user or group (pidward must run as root for that)"
        ),
        (Stage::Limits, _) => format!("{program}: setting its resource limits: {e}"),
        (Stage::Unshare, _) => {
            format!("{program}: close_range(CLOSE_RANGE_UNSHARE) failed (Linux 5.9 or later is needed): {e}")
        }
        (Stage::Exec, Some(libc::ENOENT)) => format!("{program}: command not found"),
        (Stage::Exec, Some(libc::EACCES)) => format!(
            "{program}: permission denied (not executable, or the directory is not accessible)"
        ),
        (Stage::Exec, Some(libc::ENOEXEC)) => format!(
            "{program}: not an executable format (a script needs a #! line; or use a string command, run by /bin/sh)"
        ),
        (Stage::Exec, _) => format!("{program}: {e}"),
        (stage, _) => format!("{program}: spawning ({stage:?}): {e}"),
    };
    SpawnError { permanent, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classified(stage: Stage, errno: i32) -> SpawnError {
        classify(
            "prog",
            Path::new("/srv/x"),
            stage,
            &io::Error::from_raw_os_error(errno),
        )
    }

    #[test]
    fn failures_that_retrying_cannot_fix_are_permanent_and_say_what_to_fix() {
        let e = classified(Stage::Exec, libc::ENOENT);
        assert!(e.permanent);
        assert_eq!(e.message, "prog: command not found");
        let e = classified(Stage::Directory, libc::ENOENT);
        assert!(e.permanent);
        assert!(e.message.starts_with("working directory /srv/x: "), "{e:?}");
        let e = classified(Stage::Credentials, libc::EPERM);
        assert!(
            e.permanent && e.message.contains("must run as root"),
            "{e:?}"
        );
        let e = classified(Stage::Exec, libc::ENOEXEC);
        assert!(e.permanent && e.message.contains("#!"), "{e:?}");
        let e = classified(Stage::Exec, libc::EACCES);
        assert!(
            e.permanent && e.message.contains("permission denied"),
            "{e:?}"
        );
    }

    #[test]
    fn resource_shortages_are_retried() {
        for (stage, errno) in [
            (Stage::Clone, libc::EAGAIN),
            (Stage::Clone, libc::ENOMEM),
            (Stage::Exec, libc::ENOMEM),
            (Stage::Descriptors, libc::EMFILE),
        ] {
            assert!(!classified(stage, errno).permanent, "{stage:?} {errno}");
        }
    }
}
