//! The control commands against a real `pidward run`: this module holds the fixture (`Sup`) that
//! the `ctl_*` modules share; `ctl_commands` drives every command end to end, `ctl_exit` covers
//! exit codes, unknown names and socket discovery, `ctl_protocol` talks raw to the socket, and
//! `ctl_access` is the permission check for a client running as `nobody`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::supervisor::Supervisor;
use crate::common::{pidward, wait_until, Proc, PATIENCE};

/// The result of one CLI run, printable in assertion messages.
#[derive(Debug, Clone)]
pub struct Out {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `cmd` to completion with stdin closed; panics if it is still running after
/// [`PATIENCE`] (a stalled supervisor must fail a test, not hang it).
pub fn output(mut cmd: Command) -> Out {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    finish(Proc::spawn(cmd))
}

/// One `pidward run` with its config, runtime dir and log dir in a temp dir of its own: the
/// shared [`Supervisor`] fixture (which kills every service on drop), plus the control socket.
pub struct Sup(Supervisor);

impl std::ops::Deref for Sup {
    type Target = Supervisor;
    fn deref(&self) -> &Supervisor {
        &self.0
    }
}

impl std::ops::DerefMut for Sup {
    fn deref_mut(&mut self) -> &mut Supervisor {
        &mut self.0
    }
}

impl Sup {
    /// Writes a config (the `[supervisor]` table, then `services`) without starting anything.
    pub fn prepare(services: &str) -> Sup {
        Sup(Supervisor::prepare(services))
    }

    /// [`Sup::prepare`], then starts `pidward run -c CONFIG` (its socket is bound once it runs).
    pub fn start(services: &str) -> Sup {
        Sup(Supervisor::start(services))
    }

    /// `ROOT/run/pidward.sock`.
    pub fn socket(&self) -> PathBuf {
        self.runtime.join("pidward.sock")
    }

    /// `pidward ARGS` in the temp dir (no `-c`: add it, or `--socket`, yourself).
    pub fn bare(&self, args: &[&str]) -> Command {
        pidward(&self.root(), args)
    }

    /// `pidward -c CONFIG ARGS`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut all = vec!["-c", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        pidward(&self.root(), &all)
    }

    /// Runs `pidward -c CONFIG ARGS` to completion.
    pub fn ctl(&self, args: &[&str]) -> Out {
        output(self.cmd(args))
    }

    /// A raw connection to the socket, with a read timeout of [`PATIENCE`].
    pub fn connect(&self) -> UnixStream {
        let stream = UnixStream::connect(self.socket()).expect("connect to the control socket");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        stream
    }

    /// Sends one request line on a fresh connection and returns the first response.
    pub fn try_request(&self, line: &str) -> Option<Value> {
        let mut stream = UnixStream::connect(self.socket()).ok()?;
        stream.set_read_timeout(Some(PATIENCE)).ok()?;
        stream.write_all(format!("{line}\n").as_bytes()).ok()?;
        let mut reader = BufReader::new(stream);
        let mut answer = String::new();
        reader.read_line(&mut answer).ok()?;
        serde_json::from_str(&answer).ok()
    }

    /// Every service's status object, asked in-process over the socket (cheap to poll).
    pub fn statuses(&self) -> Vec<Value> {
        let answer = self
            .try_request(r#"{"version":1,"cmd":"status"}"#)
            .expect("status over the socket");
        let services = answer["services"].as_array().cloned().unwrap_or_default();
        for s in &services {
            if let Some(pid) = s["pid"].as_i64() {
                self.track(pid as i32);
            }
        }
        services
    }

    /// `name`'s status object.
    pub fn status_of(&self, name: &str) -> Value {
        self.statuses()
            .into_iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no service {name} in the status"))
    }

    /// `name`'s state (`RUNNING`…).
    pub fn state(&self, name: &str) -> String {
        self.status_of(name)["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until `name` is in `state`; panics with the log otherwise.
    pub fn wait_state(&self, name: &str, state: &str) {
        let reached = wait_until(PATIENCE, || self.state(name) == state);
        assert!(
            reached,
            "{name} never reached {state} (now {}):\n{}",
            self.state(name),
            self.log()
        );
    }
}

/// Parses one line of JSON output; panics with the whole output otherwise.
pub fn json(out: &Out) -> Value {
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {out:?}"))
}

/// Waits up to [`PATIENCE`] for `proc` (spawned with piped stdout and stderr) to exit; its
/// output when it did. Panics (killing it) when it did not.
pub fn finish(mut proc: Proc) -> Out {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    }
    let stdout = drain(proc.child.stdout.take());
    let stderr = drain(proc.child.stderr.take());
    let Some(status) = proc.wait_timeout(PATIENCE) else {
        drop(proc);
        panic!(
            "still running after {PATIENCE:?}; output so far: {:?} {:?}",
            stdout.join().unwrap_or_default(),
            stderr.join().unwrap_or_default()
        );
    };
    Out {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}
