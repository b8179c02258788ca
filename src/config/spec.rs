//! The validated, typed config the supervisor runs on: every default filled in, every path
//! absolute, every name checked. Specs compare with `==`, which is what a reload diffs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use nix::sys::signal::Signal;

/// A whole validated config.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The main config file (absolute).
    pub path: PathBuf,
    /// The files pulled in by `include`, in load order.
    pub includes: Vec<PathBuf>,
    /// `[supervisor]`.
    pub supervisor: SupervisorSpec,
    /// Every service, by name.
    pub services: BTreeMap<String, Arc<ServiceSpec>>,
}

/// The supervisor's own settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorSpec {
    /// Where PID, lock and socket files go.
    pub runtime_dir: PathBuf,
    /// Where captured output goes.
    pub log_dir: PathBuf,
    /// The supervisor's log level (`RUST_LOG` overrides it).
    pub log_level: log::LevelFilter,
    /// How long a graceful shutdown may take in all.
    pub shutdown_timeout: Duration,
    /// The default for services' `on_orphan`.
    pub on_orphan: OnOrphan,
    /// The group allowed to use the control socket, if any.
    pub socket_group: Option<String>,
}

/// One service, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// Its name (a valid file name; not `pidward`).
    pub name: String,
    /// What to run.
    pub command: Command,
    /// Working directory (absolute).
    pub cwd: PathBuf,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// User to run as (a name or a numeric uid), if any.
    pub user: Option<String>,
    /// Group to run as (a name or a numeric gid), if any.
    pub group: Option<String>,
    /// File mode creation mask, if set.
    pub umask: Option<u32>,
    /// Start when the supervisor starts.
    pub autostart: bool,
    /// When to restart after an exit.
    pub restart: RestartPolicy,
    /// How long a start must stay up to count as started.
    pub start_secs: Duration,
    /// Retries after a failed first start before FATAL.
    pub start_retries: u32,
    /// Delay between failed starts.
    pub backoff: Backoff,
    /// More restarts than this within the window → FATAL.
    pub restart_limit: RestartLimit,
    /// Exit codes that count as success.
    pub success_exit_codes: Vec<i32>,
    /// What to do with this service if a crashed supervisor left it running.
    pub on_orphan: OnOrphan,
    /// The signal that asks it to stop.
    pub stop_signal: Signal,
    /// How long to wait after `stop_signal` before SIGKILL.
    pub stop_timeout: Duration,
    /// Signal the whole process group, not just the main process.
    pub kill_group: bool,
    /// PID file (absolute).
    pub pidfile: PathBuf,
    /// Lock file (absolute).
    pub lockfile: PathBuf,
    /// Services to start before this one (and stop after it).
    pub depends_on: Vec<String>,
    /// Where stdout goes.
    pub stdout: Output,
    /// Where stderr goes.
    pub stderr: Output,
    /// Rotate a captured log before it exceeds this many bytes.
    pub log_max_bytes: u64,
    /// Rotated log files to keep.
    pub log_backups: u32,
    /// Resource limits to set in the child.
    pub limits: Limits,
}

impl ServiceSpec {
    /// A spec with every documented default: working directory `cwd`, PID and lock files
    /// `<runtime_dir>/<name>.pid` and `.lock`, `on_orphan = "adopt"`.
    pub fn with_defaults(
        name: &str,
        command: Command,
        cwd: &Path,
        runtime_dir: &Path,
    ) -> ServiceSpec {
        ServiceSpec {
            name: name.to_owned(),
            command,
            cwd: cwd.to_path_buf(),
            env: BTreeMap::new(),
            user: None,
            group: None,
            umask: None,
            autostart: true,
            restart: RestartPolicy::Always,
            start_secs: defaults::START_SECS,
            start_retries: defaults::START_RETRIES,
            backoff: Backoff {
                initial: defaults::BACKOFF_INITIAL,
                max: defaults::BACKOFF_MAX,
                factor: defaults::BACKOFF_FACTOR,
            },
            restart_limit: RestartLimit {
                burst: defaults::RESTART_BURST,
                interval: defaults::RESTART_INTERVAL,
            },
            success_exit_codes: vec![0],
            on_orphan: OnOrphan::Adopt,
            stop_signal: Signal::SIGTERM,
            stop_timeout: defaults::STOP_TIMEOUT,
            kill_group: true,
            pidfile: runtime_dir.join(format!("{name}.pid")),
            lockfile: runtime_dir.join(format!("{name}.lock")),
            depends_on: Vec::new(),
            stdout: Output::Log,
            stderr: Output::Log,
            log_max_bytes: defaults::LOG_MAX_BYTES,
            log_backups: defaults::LOG_BACKUPS,
            limits: Limits::default(),
        }
    }
}

/// What a service runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Program and arguments, executed directly.
    Argv(Vec<String>),
    /// A command line for `/bin/sh -c`.
    Shell(String),
}

impl Command {
    /// The argv to execute: the array itself, or `/bin/sh -c LINE`.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Argv(argv) => argv.clone(),
            Command::Shell(line) => vec!["/bin/sh".into(), "-c".into(), line.clone()],
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Shell(line) => write!(f, "sh -c {line:?}"),
            Command::Argv(argv) => {
                let words: Vec<String> = argv.iter().map(|a| shell_word(a)).collect();
                f.write_str(&words.join(" "))
            }
        }
    }
}

/// An argument as a shell would need it written (quoted only when it must be).
fn shell_word(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Backoff between consecutive failed starts: `initial`, times `factor` per failure, capped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The largest delay.
    pub max: Duration,
    /// Growth per failed start (≥ 1).
    pub factor: f64,
}

/// At most `burst` restarts within `interval`, else FATAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartLimit {
    /// Restarts allowed in the window (≥ 1).
    pub burst: u32,
    /// The window (> 0).
    pub interval: Duration,
}

/// Resource limits for the child (soft = hard); `None` leaves the inherited value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// RLIMIT_NOFILE.
    pub nofile: Option<Rlimit>,
    /// RLIMIT_NPROC.
    pub nproc: Option<Rlimit>,
    /// RLIMIT_CORE, bytes.
    pub core: Option<Rlimit>,
    /// RLIMIT_MEMLOCK, bytes.
    pub memlock: Option<Rlimit>,
}

/// One resource limit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rlimit {
    /// A finite limit.
    Value(u64),
    /// `"unlimited"` (RLIM_INFINITY).
    Unlimited,
}

/// A config value spelled as one of a few keywords (`restart = "on-failure"`).
pub trait Keyword: Sized + Copy {
    /// Every spelling, in documentation order.
    const ALL: &'static [&'static str];
    /// The keyword for a spelling, if it is one.
    fn from_keyword(text: &str) -> Option<Self>;
}

/// Declares a config keyword enum with its spellings.
macro_rules! keyword_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every spelling, in documentation order.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            /// The keyword for a spelling, if it is one.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The spelling used in config files.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl Keyword for $name {
            const ALL: &'static [&'static str] = $name::ALL;
            fn from_keyword(text: &str) -> Option<$name> {
                $name::parse(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum! {
    /// When a service is restarted after it exits.
    RestartPolicy {
        /// After every exit pidward did not ask for.
        Always = "always",
        /// After a failure: an exit code not in `success_exit_codes`, or an unrequested signal.
        OnFailure = "on-failure",
        /// Never.
        Never = "never",
    }
}

keyword_enum! {
    /// What to do with a service that a crashed supervisor left running.
    OnOrphan {
        /// Track it (pidfd), stop it on request, restart it when it exits.
        Adopt = "adopt",
        /// Stop it and start a fresh one.
        Restart = "restart",
        /// Kill it and leave it stopped until started.
        Kill = "kill",
    }
}

keyword_enum! {
    /// Where a service's stdout or stderr goes.
    Output {
        /// The supervisor's own stream.
        Inherit = "inherit",
        /// /dev/null.
        Null = "null",
        /// `<log_dir>/<name>.out` (`.err`), rotated.
        Log = "log",
    }
}

/// The documented defaults, in one place.
pub mod defaults {
    use std::time::Duration;

    /// `shutdown_timeout`.
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
    /// `log_level`.
    pub const LOG_LEVEL: log::LevelFilter = log::LevelFilter::Info;
    /// `start_secs`.
    pub const START_SECS: Duration = Duration::from_secs(1);
    /// `start_retries`.
    pub const START_RETRIES: u32 = 3;
    /// `backoff.initial`.
    pub const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
    /// `backoff.max`.
    pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
    /// `backoff.factor`.
    pub const BACKOFF_FACTOR: f64 = 2.0;
    /// `restart_limit.burst`.
    pub const RESTART_BURST: u32 = 10;
    /// `restart_limit.interval`.
    pub const RESTART_INTERVAL: Duration = Duration::from_secs(60);
    /// `stop_timeout`.
    pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
    /// `log_max_bytes` (10 MiB).
    pub const LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
    /// `log_backups`.
    pub const LOG_BACKUPS: u32 = 5;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_commands_run_through_sh() {
        let c = Command::Shell("echo hi".into());
        assert_eq!(c.argv(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.to_string(), "sh -c \"echo hi\"");
        let c = Command::Argv(vec!["python3".into(), "-c".into(), "print('x')".into()]);
        assert_eq!(c.to_string(), r"python3 -c 'print('\''x'\'')'");
    }

    #[test]
    fn keywords_round_trip() {
        for text in RestartPolicy::ALL {
            assert_eq!(RestartPolicy::parse(text).unwrap().as_str(), *text);
        }
        assert_eq!(OnOrphan::parse("kill"), Some(OnOrphan::Kill));
        assert_eq!(Output::parse("LOG"), None);
    }
}
