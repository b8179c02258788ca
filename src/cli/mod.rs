//! The command line: clap types and dispatch. Each command family has its own file.

mod check;
mod holder;
mod lock;
mod pidfile;
mod run;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use pidward::exit::ExitStatus;
use pidward::lock::LockKind;

/// pidward: a process supervisor for Linux that is exact about PID and lock files.
#[derive(Debug, Parser)]
#[command(name = "pidward", version, about, propagate_version = true)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the supervisor: start the services of a config and keep them running.
    Run(ConfigArgs),
    /// Validate a config and print a summary (exit 2 on any error).
    Check {
        /// The config.
        #[command(flatten)]
        config: ConfigArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a command while holding a lock (single-instance guard for cron jobs and scripts).
    Lock(LockArgs),
    /// Show who holds a lock: exit 0 held, 1 free, 2 error.
    Holder(HolderArgs),
    /// Ask a lock's holder to let go (signal it, then wait until the lock is free).
    Unlock(UnlockArgs),
    /// Internal: the start shim of `pidward lock`.
    #[command(name = "__exec", hide = true)]
    Exec {
        /// The go descriptor.
        go_fd: i32,
        /// The command.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// PID file tools.
    Pidfile {
        /// The PID file command.
        #[command(subcommand)]
        command: PidfileCommand,
    },
}

/// The config file option shared by the supervisor's commands.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The config file.
    #[arg(short = 'c', long = "config", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

/// Where the config lives unless `-c` says otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/pidward/pidward.toml";

impl ConfigArgs {
    /// The config path made absolute (a daemon changes directory to `/`).
    pub fn absolute(&self) -> PathBuf {
        std::path::absolute(&self.config).unwrap_or_else(|_| self.config.clone())
    }
}

/// `pidward lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// Lock kind: flock (kernel lock), soft (file existence), dir (mkdir), lease (heartbeat).
    #[arg(long, default_value = "flock", value_parser = parse_kind)]
    pub kind: LockKind,
    /// Wait at most this long for the lock (500ms, 10s, 2m); default: as long as it takes.
    #[arg(long, short = 'w', value_parser = parse_duration, conflicts_with = "no_wait")]
    pub wait: Option<Duration>,
    /// Fail at once (exit 75) if the lock is busy.
    #[arg(long, short = 'n')]
    pub no_wait: bool,
    /// Break a lock whose record went unchanged this long, whoever holds it.
    #[arg(long, value_parser = parse_duration)]
    pub stale_after: Option<Duration>,
    /// Lease time to live (lease kind); renewed every ttl/3.
    #[arg(long, value_parser = parse_duration)]
    pub ttl: Option<Duration>,
    /// Write the command's PID here while it runs.
    #[arg(long)]
    pub pidfile: Option<PathBuf>,
    /// Exit code when the lock is busy or the wait runs out.
    #[arg(long, short = 'E', default_value_t = 75)]
    pub conflict_exit_code: i32,
    /// Take the lock shared (flock only): many shared holders, or one exclusive.
    #[arg(long, short = 's')]
    pub shared: bool,
    /// Do not let the command inherit the lock descriptor (flock): the lock ends with pidward.
    #[arg(long, short = 'o')]
    pub close: bool,
    /// A label for the owner record (shown by `pidward holder`).
    #[arg(long)]
    pub label: Option<String>,
    /// The lock file (or directory, for --kind dir).
    pub lockfile: PathBuf,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// `pidward holder`.
#[derive(Debug, Args)]
pub struct HolderArgs {
    /// The lock file or directory.
    pub lockfile: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// The lock kind, when it cannot be told from what is on disk.
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<LockKind>,
}

/// `pidward unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The lock file or directory.
    pub lockfile: PathBuf,
    /// The signal to send the holder.
    #[arg(long, default_value = "SIGTERM", value_parser = parse_signal)]
    pub signal: nix::sys::signal::Signal,
    /// How long to wait for the lock to become free.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub wait: Duration,
    /// Remove a soft/dir/lease lock whose holder cannot be signalled (another host).
    #[arg(long)]
    pub force: bool,
}

/// `pidward pidfile …`.
#[derive(Debug, Subcommand)]
pub enum PidfileCommand {
    /// Check a PID file: exit 0 running, 1 stale, 3 missing, 4 invalid (LSB codes).
    Check {
        /// The PID file.
        path: PathBuf,
        /// Remove a stale file (a reused PID only when pidward wrote the file).
        #[arg(long)]
        clean: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_kind(s: &str) -> Result<LockKind, String> {
    s.parse()
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    pidward::config::duration::parse_duration(s)
}

/// Parses `TERM`, `SIGTERM`, `sigterm` or `15`.
pub fn parse_signal(s: &str) -> Result<nix::sys::signal::Signal, String> {
    use std::str::FromStr;
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map_err(|_| format!("unknown signal number {n}"));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    nix::sys::signal::Signal::from_str(&name)
        .map_err(|_| format!("unknown signal {s:?} (try TERM, HUP, KILL or a number)"))
}

/// Runs the parsed command.
///
/// # Errors
/// Anything that ends the command with a message (the caller prints it and exits 1, or 2 for
/// usage errors).
pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    if !matches!(cli.command, Command::Run(_)) {
        init_logging(log::LevelFilter::Warn);
    }
    match cli.command {
        Command::Run(args) => run::run(&args.absolute()),
        Command::Check { config, json } => check::check(&config.absolute(), json),
        Command::Lock(args) => lock::run(args),
        Command::Holder(args) => holder::holder(args),
        Command::Unlock(args) => holder::unlock(args),
        Command::Exec { go_fd, command } => lock::exec_shim(go_fd, &command),
        Command::Pidfile {
            command: PidfileCommand::Check { path, clean, json },
        } => pidfile::check(&path, clean, json),
    }
}

/// `env_logger` to stderr at `level` unless `RUST_LOG` says otherwise; no timestamps under
/// journald (`JOURNAL_STREAM`), which adds its own.
pub fn init_logging(level: log::LevelFilter) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.format_timestamp(None);
    }
    let _ = builder.try_init();
}
