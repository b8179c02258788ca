//! The control commands against a real `pidward run`: this module holds the fixture (`Sup`) that
//! the `ctl_*` modules share; `ctl_commands` drives every command end to end, `ctl_exit` covers
//! exit codes, unknown names and socket discovery, `ctl_protocol` talks raw to the socket, and
//! `ctl_access` is the permission check for a client running as `nobody`.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::common::{alive, pidward, tempdir, wait_until, Proc, PATIENCE};

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

/// One `pidward run` with its config, runtime dir and log dir in a temp dir of its own. Drop
/// SIGKILLs the supervisor and then every service process group: services run in their own
/// sessions, so killing the supervisor's group does not reach them.
pub struct Sup {
    /// Holds everything; removed on drop.
    _dir: tempfile::TempDir,
    /// The temp dir, canonical (as services see it as their working directory).
    pub root: PathBuf,
    /// `ROOT/pidward.toml`.
    pub config: PathBuf,
    /// `ROOT/run`.
    pub runtime: PathBuf,
    /// `ROOT/log`, the captured output.
    pub logs: PathBuf,
    /// `ROOT/supervisor.log`: the supervisor's stderr.
    pub log: PathBuf,
    proc: Option<Proc>,
    seen: RefCell<BTreeSet<i32>>,
}

impl Sup {
    /// Writes a config (the `[supervisor]` table, then `services`) without starting anything.
    pub fn prepare(services: &str) -> Sup {
        let dir = tempdir();
        let root = dir.path().canonicalize().expect("canonical temp dir");
        let sup = Sup {
            config: root.join("pidward.toml"),
            runtime: root.join("run"),
            logs: root.join("log"),
            log: root.join("supervisor.log"),
            root,
            _dir: dir,
            proc: None,
            seen: RefCell::new(BTreeSet::new()),
        };
        sup.write_config(services);
        sup
    }

    /// [`Sup::prepare`], then starts `pidward run -c CONFIG` and waits until its socket answers.
    pub fn start(services: &str) -> Sup {
        let mut sup = Sup::prepare(services);
        sup.launch();
        sup
    }

    /// Rewrites the config with the standard header and `services`.
    pub fn write_config(&self, services: &str) {
        let text = format!(
            "[supervisor]\nruntime_dir = '{}'\nlog_dir = '{}'\nshutdown_timeout = \"10s\"\n\n{services}",
            self.runtime.display(),
            self.logs.display()
        );
        std::fs::write(&self.config, text).expect("write config");
    }

    /// Starts the supervisor; panics (with its log) unless its socket answers a request.
    pub fn launch(&mut self) {
        assert!(self.proc.is_none(), "already running");
        let log = File::create(&self.log).expect("create supervisor log");
        let mut cmd = pidward(&self.root, &["run", "-c", self.config.to_str().unwrap()]);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone"))
            .stderr(log);
        let mut proc = Proc::spawn(cmd);
        let up = wait_until(PATIENCE, || {
            proc.child.try_wait().ok().flatten().is_some()
                || (self.socket().exists()
                    && self.try_request(r#"{"version":1,"cmd":"pid"}"#).is_some())
        });
        if let Some(status) = proc.child.try_wait().expect("try_wait") {
            panic!("pidward run exited ({status}):\n{}", self.log());
        }
        assert!(up, "the control socket never answered:\n{}", self.log());
        self.proc = Some(proc);
    }

    /// The supervisor's PID.
    pub fn pid(&self) -> i32 {
        self.proc.as_ref().expect("no supervisor").pid()
    }

    /// Takes the supervisor process out of the fixture (to wait for its exit).
    pub fn take_proc(&mut self) -> Proc {
        self.proc.take().expect("no supervisor")
    }

    /// `ROOT/run/pidward.sock`.
    pub fn socket(&self) -> PathBuf {
        self.runtime.join("pidward.sock")
    }

    /// The supervisor's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `pidward ARGS` in the temp dir (no `-c`: add it, or `--socket`, yourself).
    pub fn bare(&self, args: &[&str]) -> Command {
        pidward(&self.root, args)
    }

    /// `pidward -c CONFIG ARGS`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut all = vec!["-c", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        pidward(&self.root, &all)
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
                self.remember(pid as i32);
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

    /// `ROOT/run/NAME.pid`.
    pub fn pidfile(&self, name: &str) -> PathBuf {
        self.runtime.join(format!("{name}.pid"))
    }

    /// The PID in `NAME.pid`, when there is one (remembered for cleanup).
    pub fn pidfile_pid(&self, name: &str) -> Option<i32> {
        let pid = std::fs::read_to_string(self.pidfile(name))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        self.remember(pid);
        Some(pid)
    }

    /// Waits until `NAME.pid` names a live process.
    pub fn wait_pid(&self, name: &str) -> i32 {
        let mut pid = None;
        let found = wait_until(PATIENCE, || {
            pid = self.pidfile_pid(name).filter(|p| alive(*p));
            pid.is_some()
        });
        assert!(
            found,
            "{name}.pid never named a live process:\n{}",
            self.log()
        );
        pid.expect("pid")
    }

    /// `ROOT/log/FILE`'s content (empty when missing).
    pub fn captured(&self, file: &str) -> String {
        std::fs::read_to_string(self.logs.join(file)).unwrap_or_default()
    }

    /// Records a PID for drop to kill (with its group) if it still runs.
    pub fn remember(&self, pid: i32) {
        self.seen.borrow_mut().insert(pid);
    }
}

/// Kills `pid`, and its process group when it leads one other than ours, but only when it is a
/// process of this fixture: working directory inside `root` (services' default cwd), so that a
/// remembered PID since reused by an unrelated process is spared.
fn kill_ours(pid: i32, root: &Path) {
    if pid <= 1 || pid == std::process::id() as i32 {
        return;
    }
    let ours =
        std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(root));
    if !ours {
        return;
    }
    let pgid = nix::unistd::getpgid(Some(Pid::from_raw(pid))).map(|p| p.as_raw());
    if let Ok(pgid) = pgid {
        if pgid > 1 && pgid != nix::unistd::getpgrp().as_raw() {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

/// Live processes whose working directory is inside `root`.
fn procs_in(root: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != std::process::id() as i32 && alive(*pid))
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(root))
        })
        .collect()
}

impl Drop for Sup {
    fn drop(&mut self) {
        // The supervisor first (its group: Proc's drop), so that it starts nothing new; a
        // SIGKILLed supervisor leaves its services' PID files behind.
        drop(self.proc.take());
        let mut pids = self.seen.borrow().clone();
        if let Ok(dir) = std::fs::read_dir(&self.runtime) {
            for entry in dir.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".pid") && name != "pidward.pid" {
                    if let Some(pid) = std::fs::read_to_string(entry.path())
                        .ok()
                        .and_then(|t| t.trim().parse().ok())
                    {
                        pids.insert(pid);
                    }
                }
            }
        }
        for pid in pids {
            kill_ours(pid, &self.root);
        }
        let root = self.root.clone();
        let _ = wait_until(Duration::from_secs(5), || {
            let left = procs_in(&root);
            for pid in &left {
                kill_ours(*pid, &root);
            }
            left.is_empty()
        });
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
