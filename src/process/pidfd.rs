//! Process file descriptors (`pidfd_open(2)`, Linux 5.3+): a handle on one process that PID reuse
//! cannot redirect. `nix` has no wrapper for these two system calls, hence the `libc::syscall`s.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::sys::signal::Signal;

/// An open pidfd; readable (for `poll`) once the process has exited.
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    /// Opens a pidfd for `pid`.
    ///
    /// # Errors
    /// `ESRCH` when no such process exists; `ENOSYS` on kernels older than 5.3.
    pub fn open(pid: i32) -> io::Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is shared.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        // SAFETY: the kernel just returned this fd to us and nothing else owns it; pidfds are
        // created close-on-exec.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Sends `signal` to the process this pidfd names (never to a later process with its PID).
    ///
    /// # Errors
    /// `ESRCH` when the process has already exited.
    pub fn send_signal(&self, signal: Signal) -> io::Result<()> {
        let raw = self.0.as_raw_fd();
        // SAFETY: pidfd_send_signal with a null siginfo and flags 0 reads no user memory.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                raw,
                signal as i32,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// True once the process has exited (the pidfd polls readable).
    pub fn has_exited(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl From<OwnedFd> for PidFd {
    /// Wraps a descriptor that is a pidfd (from `clone(CLONE_PIDFD)`).
    fn from(fd: OwnedFd) -> PidFd {
        PidFd(fd)
    }
}

impl PidFd {
    /// Reaps the process if it is our child and has exited: `Ok(None)` while it runs.
    ///
    /// # Errors
    /// `ECHILD` when it is not our child (adopted), or already reaped.
    pub fn try_reap(&self) -> nix::Result<Option<super::reap::Termination>> {
        use super::reap::Termination;
        use nix::sys::wait::{waitid, Id, WaitPidFlag};
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG;
        loop {
            match waitid(Id::PIDFd(self.0.as_fd()), flags) {
                Err(nix::errno::Errno::EINTR) => continue,
                result => return result.map(|s| Termination::of(s).map(|(_, how)| how)),
            }
        }
    }
}
