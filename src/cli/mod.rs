//! The command line: clap types and dispatch. Each command family has its own file.

mod check;
mod ctl;
mod docs;
mod holder;
mod lock;
mod pidfile;
mod render;
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
    /// The supervisor's config file (`run`, `check`, and to find a running supervisor's socket).
    #[arg(short = 'c', long = "config", global = true)]
    pub config: Option<PathBuf>,
    /// The control socket (default: `$PIDWARD_SOCKET`, else the config's runtime dir).
    #[arg(long, global = true)]
    pub socket: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the supervisor: start the services of a config and keep them running.
    Run(RunArgs),
    /// Validate a config and print a summary (exit 2 on any error).
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Talk to a running supervisor.
    #[command(flatten)]
    Ctl(CtlCommand),
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
    /// Print a shell completion script (bash, zsh or fish) to standard output.
    Completions {
        /// The shell.
        shell: docs::Shell,
    },
    /// Print the man page (roff) to standard output: `pidward man | man -l -`.
    Man,
}

/// `pidward run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Detach (double fork, new session, cwd /); return 0 once the supervisor is up.
    #[arg(long)]
    pub daemonize: bool,
    /// Also write the supervisor's PID here (locked, removed at exit), e.g. for
    /// `start-stop-daemon --pidfile`.
    #[arg(long)]
    pub pidfile: Option<PathBuf>,
    /// With --daemonize: append the supervisor's own log here (default: discard).
    #[arg(long, requires = "daemonize")]
    pub log_file: Option<PathBuf>,
}

/// Where the config lives unless `-c` says otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/pidward/pidward.toml";

/// The config path, made absolute (a daemon changes directory to `/`).
pub fn absolute_config(config: Option<&PathBuf>) -> PathBuf {
    let path = config
        .cloned()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    std::path::absolute(&path).unwrap_or(path)
}

/// Commands for a running supervisor.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Show services: name, state, pid, uptime, restarts, last exit (exit 3 unless all RUNNING).
    Status {
        /// Services (default: all; the exit code considers autostart ones).
        names: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start services; returns once they are RUNNING (or failed).
    Start {
        /// Services.
        names: Vec<String>,
        /// Every service.
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// Stop services; returns once they stopped.
    Stop {
        /// Services.
        names: Vec<String>,
        /// Every service.
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// Restart services; returns once they run again.
    Restart {
        /// Services.
        names: Vec<String>,
        /// Every service.
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// Send a signal to services' main processes.
    Signal {
        /// `HUP`, `SIGUSR1`, `15`…
        signal: String,
        /// Services.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Print a service's PID (no name: the supervisor's).
    Pid {
        /// The service.
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a service's captured output.
    Logs {
        /// The service.
        name: String,
        /// Keep printing new output.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Lines of existing output to print first.
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: usize,
        /// Standard error instead of standard output.
        #[arg(long)]
        stderr: bool,
    },
    /// Wait until services are running or stopped.
    Wait {
        /// Services.
        #[arg(required = true)]
        names: Vec<String>,
        /// `running` or `stopped`.
        #[arg(long = "for", value_parser = ["running", "stopped"])]
        target: String,
        /// Give up after this long (exit 1).
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
    /// Reload the config (as SIGHUP does); prints what changed.
    Reload {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop every service and the supervisor; returns once it has exited.
    Shutdown,
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
    #[arg(long, default_value = "SIGTERM", value_parser = pidward::config::signal::parse_signal)]
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
        Command::Run(args) => run::run(&absolute_config(cli.config.as_ref()), args),
        Command::Ctl(command) => ctl::run(command, cli.config, cli.socket),
        Command::Check { json } => check::check(&absolute_config(cli.config.as_ref()), json),
        Command::Lock(args) => lock::run(args),
        Command::Holder(args) => holder::holder(args),
        Command::Unlock(args) => holder::unlock(args),
        Command::Exec { go_fd, command } => lock::exec_shim(go_fd, &command),
        Command::Pidfile {
            command: PidfileCommand::Check { path, clean, json },
        } => pidfile::check(&path, clean, json),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man => docs::man(),
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
