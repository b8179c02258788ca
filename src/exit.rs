//! The exit-code table: one place for every code the `pidward` binary returns.
//!
//! The codes follow the LSB init-script conventions where they overlap (`status`: 0 running,
//! 1 dead with a PID file, 3 not running, 4 unknown) and `sysexits.h` for a busy lock (75,
//! `EX_TEMPFAIL`), so that shell scripts written for `start-stop-daemon` or `flock(1)` keep working.

/// What a `pidward` command ended with; [`ExitStatus::code`] turns it into the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success; running (`pidfile check`); held (`holder`).
    Ok,
    /// 1: failure; stale PID file; free lock (`holder`); unknown service name.
    Failure,
    /// 2: usage or configuration error.
    Usage,
    /// 3: not running, or the PID file is missing (LSB).
    NotRunning,
    /// 4: the PID file's content is not a PID; status unknown (LSB).
    Invalid,
    /// 75: the lock is busy (`lock --no-wait`, or `--wait` ran out); overridable.
    LockBusy,
    /// A wrapped command's own exit code, passed through (128+N when it died of signal N).
    Child(i32),
}

impl ExitStatus {
    /// The numeric exit code for this status.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Ok => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
            ExitStatus::NotRunning => 3,
            ExitStatus::Invalid => 4,
            ExitStatus::LockBusy => 75,
            ExitStatus::Child(code) => code,
        }
    }

    /// The shell's code for a process killed by `signal`: 128 + N.
    pub fn from_signal(signal: i32) -> ExitStatus {
        ExitStatus::Child(128 + signal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_documented_table() {
        let table = [
            (ExitStatus::Ok, 0),
            (ExitStatus::Failure, 1),
            (ExitStatus::Usage, 2),
            (ExitStatus::NotRunning, 3),
            (ExitStatus::Invalid, 4),
            (ExitStatus::LockBusy, 75),
            (ExitStatus::Child(42), 42),
            (ExitStatus::from_signal(15), 143),
        ];
        for (status, code) in table {
            assert_eq!(status.code(), code, "{status:?}");
        }
    }
}
