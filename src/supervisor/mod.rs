//! The supervisor: a pure per-service state machine ([`machine`]) under a restart policy
//! ([`policy`]). The engine that turns OS events into machine events and actions into system
//! calls is built on these.
//!
//! ```text
//!            Start                 start_secs / Ready
//!  STOPPED ─────────▶ STARTING ───────────────────────▶ RUNNING
//!     ▲                 │  │ exit too soon                 │ exit (policy: restart)
//!     │                 │  ▼                                ▼
//!     │                 │ BACKOFF ──deadline──▶ STARTING   STARTING (restart_limit → FATAL)
//!     │                 │  └─ attempts used up ──▶ FATAL
//!     │   Stop          ▼
//!     └──────────── STOPPING ──stop_timeout──▶ SIGKILL ──▶ (exit) ──▶ STOPPED
//! ```

pub mod actions;
pub mod boot;
pub mod ctl;
pub mod engine;
pub mod events;
pub mod logs;
pub mod machine;
pub mod orphans;
pub mod policy;
pub mod poller;
pub mod reload;
pub mod sd;
pub mod shutdown;
pub mod start;
pub mod table;
pub mod waiters;

use std::time::Instant;

use crate::config::Config;
use crate::pidfile::{PidFile, PidFileError};
use boot::BootError;

/// Runs the supervisor for `config` until it is shut down; returns the exit code (0, or 1 when
/// a process survived SIGKILL).
///
/// # Errors
/// When it cannot start: an unsafe runtime directory, another instance, a failed setup step.
pub fn run(config: Config) -> Result<i32, BootError> {
    run_with(config, Hooks::default())
}

/// Extra start-up duties of a supervisor run.
#[derive(Default)]
pub struct Hooks {
    /// Also hold a PID file here (`--pidfile`).
    pub extra_pidfile: Option<std::path::PathBuf>,
    /// Called once the supervisor is up (PID files held, control socket bound): a daemon's
    /// parent is waiting for this.
    pub on_up: Option<Box<dyn FnOnce()>>,
}

/// As [`run`], with [`Hooks`].
///
/// # Errors
/// As [`run`].
pub fn run_with(config: Config, mut hooks: Hooks) -> Result<i32, BootError> {
    let runtime_dir = config.supervisor.runtime_dir.clone();
    boot::ensure_runtime_dir(&runtime_dir)?;
    let log_dir = config.supervisor.log_dir.clone();
    std::fs::create_dir_all(&log_dir).map_err(|source| BootError::Io {
        path: log_dir,
        op: "creating the log directory",
        source,
    })?;
    let child_nofile = boot::raise_nofile();
    // Signals first, in event-loop mode: no thread may exist before a daemon forks, and the
    // PID file guard below must not start the registry's dispatcher thread.
    let mut engine = engine::Engine::new(config, child_nofile).map_err(|source| BootError::Io {
        path: runtime_dir.clone(),
        op: "setting up the event loop (signal handlers, epoll, spawn slots)",
        source,
    })?;
    let instance_path = runtime_dir.join("pidward.pid");
    let _instance = match PidFile::create(&instance_path) {
        Ok(guard) => guard,
        Err(PidFileError::AlreadyRunning { pid, .. }) => {
            return Err(BootError::AlreadyRunning {
                pid,
                dir: runtime_dir,
            })
        }
        Err(e) => {
            return Err(BootError::Io {
                path: instance_path,
                op: "creating the PID file",
                source: std::io::Error::other(e.to_string()),
            })
        }
    };
    let _extra = match &hooks.extra_pidfile {
        Some(path) => Some(PidFile::create(path).map_err(|e| BootError::Io {
            path: path.clone(),
            op: "creating the --pidfile",
            source: std::io::Error::other(e.to_string()),
        })?),
        None => None,
    };
    engine.control = Some(bind_control(&engine.config, &runtime_dir)?);
    boot::become_subreaper();
    log::info!(
        "pidward {} running as PID {} with {} services (runtime dir {})",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        engine.services.len(),
        runtime_dir.display()
    );
    engine.recover(Instant::now());
    if let Some(on_up) = hooks.on_up.take() {
        on_up();
    }
    Ok(engine.run())
}

/// Binds the control socket `<runtime_dir>/pidward.sock`.
fn bind_control(
    config: &Config,
    runtime_dir: &std::path::Path,
) -> Result<crate::control::server::Server, BootError> {
    use crate::control::{auth::Access, server::Server};
    let path = runtime_dir.join("pidward.sock");
    let group = match &config.supervisor.socket_group {
        None => None,
        Some(name) => {
            let found = match name.parse::<u32>() {
                Ok(gid) => Some(gid),
                Err(_) => nix::unistd::Group::from_name(name)
                    .ok()
                    .flatten()
                    .map(|g| g.gid.as_raw()),
            };
            let Some(gid) = found else {
                return Err(BootError::Io {
                    path,
                    op: "resolving socket_group",
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("no such group {name:?}"),
                    ),
                });
            };
            Some(gid)
        }
    };
    let access = Access {
        own_uid: nix::unistd::geteuid().as_raw(),
        group,
    };
    Server::bind(&path, access).map_err(|source| BootError::Io {
        path,
        op: "binding the control socket",
        source,
    })
}
