//! Spawning a service: its own session and process group, a clean signal state, umask,
//! credentials, rlimits, working directory and environment; no descriptor leaks into it but
//! 0/1/2 and the one it is meant to inherit (its lock).
//!
//! Everything is resolved in the parent (user, groups, paths); between `fork` and `exec` only
//! async-signal-safe system calls run, straight through `libc`, since a multi-threaded parent's
//! child may not allocate or take locks.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{read_stat, PidFd};

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
    pub stdout: Stdio,
    /// Standard error.
    pub stderr: Stdio,
    /// A descriptor the child inherits (its lock); its number goes in `PIDWARD_LOCK_FD`.
    pub keep_fd: Option<RawFd>,
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

/// Spawns `spec` in its own session and process group.
///
/// # Errors
/// A [`SpawnError`] saying whether retrying can help.
pub fn spawn(spec: SpawnSpec<'_>) -> Result<Spawned, SpawnError> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(SpawnError {
            permanent: true,
            message: "empty command".into(),
        });
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(spec.cwd)
        .stdin(Stdio::null())
        .stdout(spec.stdout)
        .stderr(spec.stderr);
    for key in spec.remove_env {
        cmd.env_remove(key);
    }
    if let Some(creds) = spec.credentials {
        cmd.env("USER", &creds.name)
            .env("LOGNAME", &creds.name)
            .env("HOME", &creds.home);
    }
    cmd.envs(spec.env);
    match spec.keep_fd {
        Some(fd) => cmd.env("PIDWARD_LOCK_FD", fd.to_string()),
        None => cmd.env_remove("PIDWARD_LOCK_FD"),
    };
    let creds = spec.credentials.cloned();
    let rlimits = spec.rlimits.to_vec();
    let (umask, keep_fd) = (spec.umask, spec.keep_fd);
    // SAFETY: the closure runs between fork and exec and makes only async-signal-safe system
    // calls on values prepared before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || child_setup(umask, keep_fd, &rlimits, creds.as_ref()));
    }
    let child = cmd.spawn().map_err(|e| classify(program, spec.cwd, &e))?;
    let pid = child.id() as i32;
    // The child is reaped by the supervisor's waitpid loop, not through `Child`.
    drop(child);
    let pidfd = PidFd::open(pid).map_err(|e| SpawnError {
        permanent: false,
        message: format!("pidfd_open: {e}"),
    })?;
    let start_ticks = read_stat(pid).map_or(0, |s| s.start_ticks);
    Ok(Spawned {
        pid,
        pidfd,
        start_ticks,
    })
}

/// In the child, after `fork`: async-signal-safe calls only.
fn child_setup(
    umask: Option<u32>,
    keep_fd: Option<RawFd>,
    rlimits: &[(i32, u64, u64)],
    creds: Option<&Credentials>,
) -> io::Result<()> {
    let check = |rc: libc::c_int| {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // SAFETY: plain system calls with valid arguments; no memory is shared or allocated.
    unsafe {
        check(libc::setsid())?;
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        check(libc::sigprocmask(
            libc::SIG_SETMASK,
            &empty,
            std::ptr::null_mut(),
        ))?;
        for sig in 1..libc::SIGRTMIN() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        if let Some(mask) = umask {
            libc::umask(mask as libc::mode_t);
        }
        for &(resource, soft, hard) in rlimits {
            let limit = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            check(libc::setrlimit(resource as _, &limit))?;
        }
        if let Some(c) = creds {
            check(libc::setgroups(c.groups.len(), c.groups.as_ptr()))?;
            check(libc::setgid(c.gid))?;
            check(libc::setuid(c.uid))?;
        }
        if let Some(fd) = keep_fd {
            check(libc::fcntl(fd, libc::F_SETFD, 0))?;
        }
    }
    Ok(())
}

/// Not found, not executable, bad directory or credentials: retrying cannot help.
fn classify(program: &str, cwd: &Path, e: &io::Error) -> SpawnError {
    let permanent = matches!(
        e.raw_os_error(),
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
        )
    );
    let message = match e.raw_os_error() {
        Some(libc::ENOENT) if !cwd.is_dir() => {
            format!("working directory {} does not exist", cwd.display())
        }
        Some(libc::ENOENT) => format!("{program}: command not found"),
        Some(libc::EACCES) => format!(
            "{program}: permission denied (not executable, or the directory is not accessible)"
        ),
        Some(libc::EPERM) => format!(
            "{program}: not permitted to change user or group (pidward must run as root for that)"
        ),
        _ => format!("{program}: {e}"),
    };
    SpawnError { permanent, message }
}
