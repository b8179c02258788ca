//! `pidward run`: load the config, detach if asked, then hand over to the supervisor.
//!
//! `--daemonize` forks before anything else has started a thread (the signal registry runs in
//! event-loop mode, and sysinfo is built without its thread pool). The parent waits on a pipe
//! until the daemon says it is up (a byte), or why it is not (a message), and exits 0 or 1
//! accordingly. The daemon's PID files are pidward's own, written after detaching: the
//! `daemonize` crate's writer follows symlinks, writes in place and never removes the file.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use pidward::exit::ExitStatus;
use pidward::supervisor::Hooks;

use super::RunArgs;

/// Runs the supervisor with the config at `config` (already absolute).
pub fn run(config: &Path, args: RunArgs) -> anyhow::Result<ExitStatus> {
    let config = match pidward::config::load(config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitStatus::Usage);
        }
    };
    let extra_pidfile = args
        .pidfile
        .as_deref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    if !args.daemonize {
        super::init_logging(config.supervisor.log_level);
        return Ok(finish(pidward::supervisor::run_with(
            config,
            Hooks {
                extra_pidfile,
                on_up: None,
            },
        )));
    }
    let log_file = args
        .log_file
        .as_deref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    let (mut parent_end, child_end) = UnixStream::pair()?;
    let stdout = match &log_file {
        Some(path) => daemonize::Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ),
        None => daemonize::Stdio::devnull(),
    };
    let stderr = match &log_file {
        Some(path) => daemonize::Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ),
        None => daemonize::Stdio::devnull(),
    };
    // 022: PID files and the log must stay readable by others (the crate's default is 027).
    let daemon = daemonize::Daemonize::new()
        .working_directory("/")
        .umask(0o022)
        .stdout(stdout)
        .stderr(stderr);
    match daemon.execute() {
        daemonize::Outcome::Parent(Ok(_)) => {
            drop(child_end);
            Ok(wait_for_daemon(&mut parent_end))
        }
        daemonize::Outcome::Parent(Err(e)) => anyhow::bail!("cannot daemonize: {e}"),
        daemonize::Outcome::Child(Err(e)) => {
            let _ = (&child_end).write_all(format!("cannot daemonize: {e}").as_bytes());
            Ok(ExitStatus::Failure)
        }
        daemonize::Outcome::Child(Ok(_)) => {
            drop(parent_end);
            super::init_logging(config.supervisor.log_level);
            pidward::notify::notify(&format!("MAINPID={}", std::process::id()));
            let mut report = child_end.try_clone()?;
            let on_up: Box<dyn FnOnce()> = Box::new(move || {
                let _ = report.write_all(b"\x06");
            });
            let result = pidward::supervisor::run_with(
                config,
                Hooks {
                    extra_pidfile,
                    on_up: Some(on_up),
                },
            );
            if let Err(e) = &result {
                let _ = (&child_end).write_all(format!("pidward: {e}").as_bytes());
            }
            Ok(finish(result))
        }
    }
}

/// The parent's side: wait for the daemon's word.
fn wait_for_daemon(pipe: &mut UnixStream) -> ExitStatus {
    let mut first = [0u8; 1];
    match pipe.read(&mut first) {
        Ok(1) if first[0] == 0x06 => ExitStatus::Ok,
        Ok(1) => {
            let mut rest = String::new();
            let _ = pipe.read_to_string(&mut rest);
            eprintln!("{}{rest}", first[0] as char);
            ExitStatus::Failure
        }
        _ => {
            eprintln!("pidward: the daemon exited before it was up (see its --log-file)");
            ExitStatus::Failure
        }
    }
}

fn finish(result: Result<i32, pidward::supervisor::boot::BootError>) -> ExitStatus {
    match result {
        Ok(0) => ExitStatus::Ok,
        Ok(_) => ExitStatus::Failure,
        Err(e) => {
            eprintln!("pidward: {e}");
            ExitStatus::Failure
        }
    }
}
