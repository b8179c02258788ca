//! `Supervisor`: one `pidward run` under test. Its config, runtime dir and log dir all live in one
//! temp dir; its stderr (the supervisor's log) goes to a file there, one file per supervisor
//! started; on drop the supervisor and every process it may have started are SIGKILLed.
//!
//! Services run in their own sessions (`setsid`), so killing the supervisor's process group
//! does not reach them. Drop therefore also kills the process group of every PID in a `*.pid`
//! file of the runtime dir and every PID a test recorded with [`Supervisor::track`], and then
//! every process whose working directory is inside the temp dir (a service's default `cwd` is
//! the config file's directory, so that catches grandchildren whose group leader is gone). A
//! process is killed only if its working directory is inside the temp dir: tests run in
//! parallel and PIDs are reused quickly, so a recorded PID may belong to someone else by then.
//! Services of these tests must therefore keep the default `cwd`.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use super::{alive, pidward, tempdir, wait_until, Proc, PATIENCE};

/// One line of the supervisor's log that records a state change: `NAME: FROM -> TO[: reason]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The state left.
    pub from: String,
    /// The state entered.
    pub to: String,
    /// Why (may be empty).
    pub reason: String,
}

/// A process as `/proc` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Its PID.
    pub pid: i32,
    /// Its process group.
    pub pgid: i32,
    /// Its session.
    pub sid: i32,
    /// The state letter (R, S, Z, ...).
    pub state: char,
    /// Its arguments.
    pub argv: Vec<String>,
}

/// Reads `/proc/PID/stat` and `/proc/PID/cmdline`.
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let pgid = fields.get(2)?.parse().ok()?;
    let sid = fields.get(3)?.parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(ProcInfo {
        pid,
        pgid,
        sid,
        state,
        argv,
    })
}

/// Every live (non-zombie) process whose working directory is `dir` or below it.
pub fn procs_under(dir: &Path) -> Vec<ProcInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<ProcInfo> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
        })
        .filter_map(proc_info)
        .filter(|p| p.state != 'Z')
        .collect();
    found.sort_by_key(|p| p.pid);
    found
}

/// Every live process in process group `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_info)
        .filter(|p| p.pgid == pgid && p.state != 'Z')
        .map(|p| p.pid)
        .collect();
    pids.sort_unstable();
    pids
}

/// A supervisor under test, with its own temp dir.
pub struct Supervisor {
    /// The temp dir holding everything.
    pub dir: tempfile::TempDir,
    /// The config file (`DIR/pidward.toml`).
    pub config: PathBuf,
    /// The runtime dir (`DIR/run`).
    pub runtime: PathBuf,
    /// The log dir for captured output (`DIR/log`).
    pub logs: PathBuf,
    proc: Option<Proc>,
    started: u32,
    others: RefCell<u32>,
    known: RefCell<BTreeSet<i32>>,
}

impl Supervisor {
    /// A fixture whose config holds the standard `[supervisor]` table and then `services`
    /// (TOML text, usually `[services.NAME]` tables); nothing is started yet.
    pub fn prepare(services: &str) -> Supervisor {
        let dir = tempdir();
        let root = dir.path().canonicalize().expect("canonical temp dir");
        let sup = Supervisor {
            config: root.join("pidward.toml"),
            runtime: root.join("run"),
            logs: root.join("log"),
            dir,
            proc: None,
            started: 0,
            others: RefCell::new(0),
            known: RefCell::new(BTreeSet::new()),
        };
        sup.write_config(services);
        sup
    }

    /// [`Supervisor::prepare`], then [`Supervisor::launch`].
    pub fn start(services: &str) -> Supervisor {
        let mut sup = Supervisor::prepare(services);
        sup.launch();
        sup
    }

    /// The temp dir (canonical, as services see it in `/proc/PID/cwd`).
    pub fn root(&self) -> PathBuf {
        self.config.parent().expect("config dir").to_path_buf()
    }

    /// A path inside the temp dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// The `[supervisor]` table every config starts with: runtime and log dirs inside the temp
    /// dir, debug logging, a shutdown timeout well inside the tests' patience.
    pub fn header(&self) -> String {
        format!(
            "[supervisor]\nruntime_dir = '{}'\nlog_dir = '{}'\nlog_level = \"debug\"\nshutdown_timeout = \"15s\"\n\n",
            self.runtime.display(),
            self.logs.display()
        )
    }

    /// Rewrites the config: the header, then `services`.
    pub fn write_config(&self, services: &str) {
        self.write_raw_config(&format!("{}{services}", self.header()));
    }

    /// Rewrites the config with exactly `text`.
    pub fn write_raw_config(&self, text: &str) {
        std::fs::write(&self.config, text).expect("write config");
    }

    /// The 1-based line of the config that first contains `needle`.
    pub fn config_line_of(&self, needle: &str) -> usize {
        let text = std::fs::read_to_string(&self.config).expect("read config");
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("{needle:?} not in the config:\n{text}"))
    }

    fn stderr_file(&self, n: u32) -> PathBuf {
        self.path(&format!("supervisor-{n}.log"))
    }

    /// Starts `pidward run -c CONFIG` (its stderr to a fresh file) and waits until it says it
    /// runs. Panics if it exits first.
    pub fn launch(&mut self) {
        assert!(self.proc.is_none(), "a supervisor is already running");
        self.started += 1;
        let log = File::create(self.stderr_file(self.started)).expect("create log");
        let mut cmd = self.command(&["run"]);
        cmd.stdout(log.try_clone().expect("clone log")).stderr(log);
        let mut proc = Proc::spawn(cmd);
        let up = wait_until(PATIENCE, || {
            self.log().contains("running as PID") || proc.child.try_wait().ok().flatten().is_some()
        });
        if let Some(status) = proc.child.try_wait().expect("try_wait") {
            panic!("pidward run exited at once ({status}):\n{}", self.log());
        }
        assert!(up, "pidward run did not come up:\n{}", self.log());
        self.proc = Some(proc);
    }

    /// The running supervisor's PID.
    pub fn pid(&self) -> i32 {
        self.proc.as_ref().expect("no supervisor running").pid()
    }

    /// The current (latest) supervisor's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.stderr_file(self.started)).unwrap_or_default()
    }

    /// Every supervisor's log so far, in order.
    pub fn all_logs(&self) -> String {
        (1..=self.started)
            .map(|n| std::fs::read_to_string(self.stderr_file(n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("----- next supervisor -----\n")
    }

    /// Waits until the current log contains `needle`; panics with the log if it never does.
    pub fn wait_log(&self, needle: &str) {
        assert!(
            wait_until(PATIENCE, || self.log().contains(needle)),
            "log never showed {needle:?}:\n{}",
            self.log()
        );
    }

    /// `name`'s state changes in the current log, in order.
    pub fn transitions(&self, name: &str) -> Vec<Transition> {
        let prefix = format!("] {name}: ");
        self.log()
            .lines()
            .filter_map(|line| {
                let (_, msg) = line.split_once(&prefix)?;
                let (from, rest) = msg.split_once(" -> ")?;
                if from.is_empty() || !from.chars().all(|c| c.is_ascii_uppercase()) {
                    return None;
                }
                let (to, reason) = rest.split_once(": ").unwrap_or((rest, ""));
                Some(Transition {
                    from: from.to_owned(),
                    to: to.to_owned(),
                    reason: reason.to_owned(),
                })
            })
            .collect()
    }

    /// How many times `name` entered `state` in the current log.
    pub fn state_count(&self, name: &str, state: &str) -> usize {
        self.transitions(name)
            .iter()
            .filter(|t| t.to == state)
            .count()
    }

    /// Waits until `name` has entered `state` (e.g. "RUNNING") at least once; returns that
    /// transition.
    pub fn wait_state_in_log(&self, name: &str, state: &str) -> Transition {
        self.wait_state_count(name, state, 1)
    }

    /// Waits until `name` has entered `state` at least `n` times; returns the `n`-th entry.
    pub fn wait_state_count(&self, name: &str, state: &str, n: usize) -> Transition {
        let found = wait_until(PATIENCE, || self.state_count(name, state) >= n);
        assert!(
            found,
            "{name} never entered {state} {n} time(s):\n{}",
            self.log()
        );
        self.transitions(name)
            .into_iter()
            .filter(|t| t.to == state)
            .nth(n - 1)
            .expect("transition")
    }

    /// `<runtime_dir>/NAME.pid`.
    pub fn pidfile(&self, name: &str) -> PathBuf {
        self.runtime.join(format!("{name}.pid"))
    }

    /// `<runtime_dir>/NAME.lock`.
    pub fn lockfile(&self, name: &str) -> PathBuf {
        self.runtime.join(format!("{name}.lock"))
    }

    /// The PID in `NAME.pid`, if the file exists and holds one (recorded for cleanup).
    pub fn pid_of(&self, name: &str) -> Option<i32> {
        let text = std::fs::read_to_string(self.pidfile(name)).ok()?;
        let pid = text.trim().parse().ok()?;
        self.track(pid);
        Some(pid)
    }

    /// Waits until `NAME.pid` names a live process; returns its PID.
    pub fn wait_pid(&self, name: &str) -> i32 {
        let mut pid = None;
        let found = wait_until(PATIENCE, || {
            pid = self.pid_of(name).filter(|p| alive(*p));
            pid.is_some()
        });
        assert!(
            found,
            "{name}.pid never named a live process:\n{}",
            self.log()
        );
        pid.expect("pid")
    }

    /// Records `pid` so that drop kills it (and its group) if it still runs.
    pub fn track(&self, pid: i32) {
        self.known.borrow_mut().insert(pid);
    }

    /// Sends `sig` to the supervisor.
    pub fn signal(&self, sig: Signal) {
        self.proc
            .as_ref()
            .expect("no supervisor running")
            .signal(sig);
    }

    /// SIGHUP: reload.
    pub fn reload(&self) {
        self.signal(Signal::SIGHUP);
    }

    /// Waits up to [`PATIENCE`] for the supervisor to exit on its own; panics if it does not.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut proc = self.proc.take().expect("no supervisor running");
        match proc.wait_timeout(PATIENCE) {
            Some(status) => status,
            None => panic!("pidward run did not exit:\n{}", self.log()),
        }
    }

    /// Takes the supervisor process out of the fixture (to wait for its exit yourself).
    pub fn take_proc(&mut self) -> Proc {
        self.proc.take().expect("no supervisor running")
    }

    /// SIGTERM, then waits for the exit; returns the status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait_exit()
    }

    /// SIGKILLs the supervisor (only it: its services live on) and waits for it to be gone.
    pub fn kill_supervisor(&mut self) {
        self.signal(Signal::SIGKILL);
        self.wait_exit();
    }

    /// `pidward ARGS -c CONFIG` in the temp dir, stdin closed, without the variables that would
    /// make it talk to a service manager (systemd's notify socket and watchdog).
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut full = args.to_vec();
        full.extend(["-c", self.config.to_str().expect("utf-8 path")]);
        let mut cmd = pidward(&self.root(), &full);
        cmd.stdin(Stdio::null())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID");
        cmd
    }

    /// Runs another `pidward run -c CONFIG` to completion, for the cases where it must refuse
    /// to start; returns its exit code and output.
    pub fn run_to_exit(&self) -> (Option<i32>, String) {
        self.cli(&["run"])
    }

    /// Runs `pidward ARGS -c CONFIG` (a control command, or `run` expected to fail) to
    /// completion; returns its exit code and output (stdout and stderr together). Panics if
    /// it is still running after [`PATIENCE`] (it is killed then).
    pub fn cli(&self, args: &[&str]) -> (Option<i32>, String) {
        let n = {
            let mut others = self.others.borrow_mut();
            *others += 1;
            *others
        };
        let out_path = self.path(&format!("cli-{n}.log"));
        let out = File::create(&out_path).expect("create output file");
        let mut cmd = self.command(args);
        cmd.stdout(out.try_clone().expect("clone")).stderr(out);
        let mut proc = Proc::spawn(cmd);
        let status = proc.wait_timeout(PATIENCE);
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        let status = status.unwrap_or_else(|| panic!("pidward {args:?} did not exit:\n{text}"));
        (status.code(), text)
    }

    /// The names in the runtime dir.
    pub fn runtime_entries(&self) -> BTreeSet<String> {
        std::fs::read_dir(&self.runtime)
            .map(|d| {
                d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Live processes whose working directory is in the temp dir, the supervisor excluded.
    pub fn procs(&self) -> Vec<ProcInfo> {
        let me = self.proc.as_ref().map(Proc::pid);
        procs_under(&self.root())
            .into_iter()
            .filter(|p| Some(p.pid) != me)
            .collect()
    }

    /// How many of [`Supervisor::procs`] have exactly `argv`.
    pub fn count_running(&self, argv: &[&str]) -> usize {
        self.procs().iter().filter(|p| p.argv == argv).count()
    }

    /// The content of `<log_dir>/FILE` (empty if missing).
    pub fn captured(&self, file: &str) -> String {
        std::fs::read_to_string(self.logs.join(file)).unwrap_or_default()
    }
}

/// Kills `pid` and, when it leads a group other than ours, that whole group; only if it is a
/// process of this test, i.e. its working directory is `root` or below (PIDs are reused fast on
/// a busy machine: a recorded PID may by now belong to another test's service).
fn kill_with_group(pid: i32, root: &Path) {
    if pid <= 1 {
        return;
    }
    let ours = nix::unistd::getpgrp().as_raw();
    let in_root =
        std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(root));
    if let Some(info) = proc_info(pid).filter(|_| in_root) {
        if info.pgid == pid && pid != ours {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // The supervisor first, so that it restarts nothing.
        drop(self.proc.take());
        let mut pids: BTreeSet<i32> = self.known.borrow().clone();
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
        let root = self.root();
        for pid in pids {
            kill_with_group(pid, &root);
        }
        let _ = wait_until(Duration::from_secs(5), || {
            let left = procs_under(&root);
            for p in &left {
                kill_with_group(p.pid, &root);
            }
            left.is_empty()
        });
    }
}
