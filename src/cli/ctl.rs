//! `pidward status|start|stop|restart|signal|pid|logs|wait|reload|shutdown`: one request to the
//! running supervisor over its control socket, its answer printed.

use std::io::Write;
use std::path::PathBuf;

use pidward::control::client::{self, ConnectError, Connection};
use pidward::control::protocol::{Batch, Command, Response, Target};
use pidward::exit::ExitStatus;

use super::{render, CtlCommand};

/// Runs a control command.
pub fn run(
    command: CtlCommand,
    config: Option<PathBuf>,
    socket: Option<PathBuf>,
) -> anyhow::Result<ExitStatus> {
    let is_status = matches!(command, CtlCommand::Status { .. });
    let (socket, looked) = match discover(config, socket) {
        Ok(found) => found,
        Err(status) => return Ok(status),
    };
    let mut conn = match client::connect(&socket, &looked) {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("pidward: {e}");
            let not_running = matches!(e, ConnectError::NotListening { .. });
            return Ok(if is_status && not_running {
                ExitStatus::NotRunning
            } else {
                ExitStatus::Failure
            });
        }
    };
    let (request, json) = request_for(&command);
    if let Err(e) = conn.send(&request) {
        // A refused client may find its connection closed before it could send: the
        // supervisor's reason is waiting to be read.
        if let Ok(Some(response)) = conn.recv() {
            eprintln!("pidward: {}", response.error.unwrap_or_default());
            return Ok(ExitStatus::Failure);
        }
        anyhow::bail!("sending to the supervisor at {}: {e}", socket.display());
    }
    match &command {
        CtlCommand::Logs { follow: true, .. } => stream(&mut conn),
        CtlCommand::Shutdown => shutdown(&mut conn),
        other => {
            let response = conn.recv()?.ok_or_else(|| {
                anyhow::anyhow!("the supervisor closed the connection without answering")
            })?;
            Ok(show(other, &response, json))
        }
    }
}

/// The socket: `--socket`, else `$PIDWARD_SOCKET`, else the runtime dir of `-c` (the default
/// config when it exists), else the default runtime dir. Also says where it looked.
fn discover(
    config: Option<PathBuf>,
    socket: Option<PathBuf>,
) -> Result<(PathBuf, String), ExitStatus> {
    if let Some(path) = socket {
        return Ok((path, "--socket".into()));
    }
    if let Some(path) = std::env::var_os("PIDWARD_SOCKET") {
        return Ok((PathBuf::from(path), "$PIDWARD_SOCKET".into()));
    }
    let config =
        config.or_else(|| Some(PathBuf::from(super::DEFAULT_CONFIG)).filter(|p| p.exists()));
    if let Some(config) = config {
        let config = std::path::absolute(&config).unwrap_or(config);
        return match pidward::config::load(&config) {
            Ok(c) => Ok((
                c.supervisor.runtime_dir.join("pidward.sock"),
                format!("the runtime dir of {}", config.display()),
            )),
            // A config that does not load still names its runtime dir (perhaps), and the
            // supervisor must be reachable to say so itself: `reload` after a bad edit is what
            // systemd's ExecReload runs.
            Err(_) => Ok((
                lenient_runtime_dir(&config).join("pidward.sock"),
                format!(
                    "the runtime dir of {} (which does not validate)",
                    config.display()
                ),
            )),
        };
    }
    let facts = pidward::config::system_facts();
    let dir = pidward::config::paths::runtime_dir(None, &facts);
    Ok((
        dir.join("pidward.sock"),
        "the default runtime dir (no config)".into(),
    ))
}

/// `[supervisor] runtime_dir` read without validating the file, else the default.
fn lenient_runtime_dir(config: &std::path::Path) -> PathBuf {
    let configured = std::fs::read_to_string(config)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| {
            t.get("supervisor")?
                .get("runtime_dir")?
                .as_str()
                .map(PathBuf::from)
        })
        .map(|dir| config.parent().map_or(dir.clone(), |base| base.join(&dir)));
    let facts = pidward::config::system_facts();
    pidward::config::paths::runtime_dir(configured.as_deref(), &facts)
}

fn request_for(command: &CtlCommand) -> (Command, bool) {
    let batch = |names: &[String], all: bool, no_wait: bool| Batch {
        names: names.to_vec(),
        all,
        no_wait,
    };
    match command {
        CtlCommand::Status { names, json } => (
            Command::Status {
                names: names.clone(),
            },
            *json,
        ),
        CtlCommand::Start {
            names,
            all,
            no_wait,
        } => (Command::Start(batch(names, *all, *no_wait)), false),
        CtlCommand::Stop {
            names,
            all,
            no_wait,
        } => (Command::Stop(batch(names, *all, *no_wait)), false),
        CtlCommand::Restart {
            names,
            all,
            no_wait,
        } => (Command::Restart(batch(names, *all, *no_wait)), false),
        CtlCommand::Signal { signal, names } => (
            Command::Signal {
                signal: signal.clone(),
                names: names.clone(),
            },
            false,
        ),
        CtlCommand::Pid { name, json } => (Command::Pid { name: name.clone() }, *json),
        CtlCommand::Logs {
            name,
            follow,
            lines,
            stderr,
        } => (
            Command::Logs {
                name: name.clone(),
                follow: *follow,
                lines: *lines,
                stderr: *stderr,
            },
            false,
        ),
        CtlCommand::Wait {
            names,
            target,
            timeout,
        } => {
            let target = if target == "stopped" {
                Target::Stopped
            } else {
                Target::Running
            };
            (
                Command::Wait {
                    names: names.clone(),
                    target,
                    timeout_ms: timeout.map(|t| t.as_millis() as u64),
                },
                false,
            )
        }
        CtlCommand::Reload { json } => (Command::Reload, *json),
        CtlCommand::Shutdown => (Command::Shutdown, false),
    }
}

/// Prints a response and picks the exit code.
fn show(command: &CtlCommand, response: &Response, json: bool) -> ExitStatus {
    if !response.ok && response.outcomes.is_none() {
        eprintln!("pidward: {}", response.error.as_deref().unwrap_or("failed"));
        return match command {
            CtlCommand::Pid { name: Some(_), .. } if response.known.is_none() => {
                ExitStatus::NotRunning
            }
            _ => ExitStatus::Failure,
        };
    }
    let out;
    let status = match command {
        CtlCommand::Status { names, .. } => {
            let services = response.services.clone().unwrap_or_default();
            out = if json {
                json_line(&serde_json::json!({ "services": services }))
            } else {
                render::status_table(&services)
            };
            let considered: Vec<_> = services
                .iter()
                .filter(|s| !names.is_empty() || s.autostart)
                .collect();
            if considered.iter().all(|s| s.state == "RUNNING") {
                ExitStatus::Ok
            } else {
                ExitStatus::NotRunning
            }
        }
        CtlCommand::Pid { name, .. } => {
            let pid = response.pid.unwrap_or(0);
            out = if json {
                json_line(&serde_json::json!({ "name": name, "pid": pid }))
            } else {
                format!("{pid}\n")
            };
            ExitStatus::Ok
        }
        CtlCommand::Reload { .. } => {
            let summary = response.reload.clone().unwrap_or_default();
            out = if json {
                json_line(&serde_json::to_value(&summary).unwrap_or_default())
            } else {
                render::reload(&summary)
            };
            ExitStatus::Ok
        }
        CtlCommand::Logs { .. } => {
            out = response.data.clone().unwrap_or_default();
            ExitStatus::Ok
        }
        _ => {
            out = render::outcomes(response.outcomes.as_deref().unwrap_or_default());
            if response.ok {
                ExitStatus::Ok
            } else {
                ExitStatus::Failure
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    status
}

fn json_line(value: &serde_json::Value) -> String {
    format!("{value}\n")
}

/// `logs -f`: print every chunk until the supervisor goes away or stdout closes.
fn stream(conn: &mut Connection) -> anyhow::Result<ExitStatus> {
    let mut stdout = std::io::stdout();
    while let Some(response) = conn.recv()? {
        if !response.ok {
            eprintln!("pidward: {}", response.error.unwrap_or_default());
            return Ok(ExitStatus::Failure);
        }
        if let Some(data) = response.data {
            stdout.write_all(data.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(ExitStatus::Ok)
}

/// `shutdown`: returns once the supervisor has exited (its end of the connection closes).
fn shutdown(conn: &mut Connection) -> anyhow::Result<ExitStatus> {
    let first = conn.recv()?;
    if let Some(r) = first.as_ref().filter(|r| !r.ok) {
        eprintln!("pidward: {}", r.error.clone().unwrap_or_default());
        return Ok(ExitStatus::Failure);
    }
    conn.set_timeout(None)?;
    while conn.recv()?.is_some() {}
    println!("pidward: shut down");
    Ok(ExitStatus::Ok)
}
