//! Lock benchmarks: uncontended acquire+release throughput of every kind through the library,
//! cross-process handoff latency through the library, and the handoff of the `pidward lock`
//! command against util-linux `flock(1)` and Python's `filelock`, measured in the same run.
//!
//! Run with `cargo bench --bench lock` (optimised bench profile). The binary re-executes itself
//! in helper roles selected by its first argument (`__lib-waiter`, `__stamp-now`,
//! `__stamp-release-after`; `__spin` is a loop for profiling), so that one process holds while another waits. Timestamps are
//! `CLOCK_MONOTONIC` read with `clock_gettime`, which is system-wide and so comparable across
//! processes (unlike `Instant`).
//!
//! `PIDWARD_BENCH_SCALE` (a float, default 1) scales sample counts and durations, for a quick
//! look while developing.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use nix::time::{clock_gettime, ClockId};
use pidward::lock::{Lock, LockKind};

/// The `pidward` binary built alongside this benchmark (same profile).
const PIDWARD: &str = env!("CARGO_BIN_EXE_pidward");
/// util-linux `flock(1)`.
const FLOCK1: &str = "/usr/bin/flock";

const KINDS: [LockKind; 4] = [
    LockKind::Flock,
    LockKind::Soft,
    LockKind::Dir,
    LockKind::Lease,
];

/// Python `filelock` holder: acquire, say so, wait for the hold time on stdin, stamp, release.
const PY_HOLDER: &str = r#"
import sys, time
from filelock import FileLock
lk = FileLock(sys.argv[1])
lk.acquire()
print("held", flush=True)
hold_us = int(sys.stdin.readline())
time.sleep(hold_us / 1e6)
t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
lk.release()
print(t, flush=True)
"#;

/// Python `filelock` waiter: say it is about to wait, acquire (default polling), stamp.
const PY_WAITER: &str = r#"
import sys, time
from filelock import FileLock
lk = FileLock(sys.argv[1])
print("ready", flush=True)
lk.acquire()
t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
print(t, flush=True)
lk.release()
"#;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("__stamp-now") => stamp_now(),
        Some("__stamp-release-after") => stamp_release_after(),
        Some("__lib-waiter") => lib_waiter(&args[1..]),
        Some("__spin") => spin(&args[1..]),
        _ => run_all(),
    }
}

// ---------------------------------------------------------------------------------------------
// Helper roles (re-executed copies of this binary)
// ---------------------------------------------------------------------------------------------

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process of this machine.
fn mono_ns() -> i64 {
    match clock_gettime(ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => ts.tv_sec() * 1_000_000_000 + ts.tv_nsec(),
        Err(_) => 0,
    }
}

/// The waiter's command: prints the time as soon as it runs (it runs once the lock is taken).
fn stamp_now() -> anyhow::Result<()> {
    let t = mono_ns();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{t}")?;
    out.flush()?;
    Ok(())
}

/// The holder's command: says it runs (so holds the lock), reads a hold time in µs from stdin,
/// sleeps it, prints the time and exits, which lets the wrapper release the lock.
fn stamp_release_after() -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "held")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let hold_us: u64 = line.trim().parse().context("hold time")?;
    std::thread::sleep(Duration::from_micros(hold_us));
    let t = mono_ns();
    writeln!(out, "{t}")?;
    out.flush()?;
    Ok(())
}

/// `__lib-waiter KIND PATH GEN`: for every line on stdin, acquires through the library (waiting
/// as long as it takes), stamps, releases, then prints the stamp.
fn lib_waiter(args: &[String]) -> anyhow::Result<()> {
    let [kind, path, gen] = args else {
        bail!("usage: __lib-waiter KIND PATH GEN");
    };
    let kind: LockKind = kind.parse().map_err(|e: String| anyhow!(e))?;
    let lock = Lock::new(path).kind(kind).generation(gen == "1");
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        line?;
        let guard = lock.acquire(None)?;
        let t = mono_ns();
        guard.release()?;
        writeln!(out, "{t}")?;
        out.flush()?;
    }
    Ok(())
}

/// `__spin KIND PATH GEN SECONDS`: uncontended acquire+release in a loop, for profiling with
/// `perf record <bench binary> __spin flock /dev/shm/x.lock 0 3`.
fn spin(args: &[String]) -> anyhow::Result<()> {
    let [kind, path, gen, secs] = args else {
        bail!("usage: __spin KIND PATH GEN SECONDS");
    };
    let kind: LockKind = kind.parse().map_err(|e: String| anyhow!(e))?;
    let lock = Lock::new(path).kind(kind).generation(gen == "1");
    let each = Duration::from_secs_f64(secs.parse()?);
    let r = measure_rate(each, 1, || {
        lock.acquire(None)?.release()?;
        Ok(())
    })?;
    println!("{kind}: {}", rate(r));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Small tools
// ---------------------------------------------------------------------------------------------

/// A xorshift generator: enough to randomise hold times.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        Rng((mono_ns() as u64) ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo).max(1)
    }
}

/// Latency samples in nanoseconds.
#[derive(Default, Clone)]
struct Stats {
    samples: Vec<i64>,
    /// Samples where the waiter could not be confirmed blocked before the release.
    unconfirmed: usize,
}

impl Stats {
    fn sorted(&self) -> Vec<i64> {
        let mut s = self.samples.clone();
        s.sort_unstable();
        s
    }

    /// Nearest-rank percentile.
    fn pct(&self, p: f64) -> f64 {
        let s = self.sorted();
        if s.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
        s[rank.min(s.len()) - 1] as f64
    }

    fn median(&self) -> f64 {
        self.pct(50.0)
    }

    fn p99(&self) -> f64 {
        self.pct(99.0)
    }

    fn min(&self) -> f64 {
        self.sorted().first().map_or(f64::NAN, |&v| v as f64)
    }
}

/// Formats nanoseconds as milliseconds.
fn ms(ns: f64) -> String {
    if ns.is_nan() {
        "n/a".to_owned()
    } else if ns < 10_000_000.0 {
        format!("{:.3} ms", ns / 1e6)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

/// Formats a rate with thousands separators.
fn rate(r: f64) -> String {
    let digits: Vec<char> = (r.round() as u64).to_string().chars().collect();
    let groups: Vec<String> = digits
        .rchunks(3)
        .rev()
        .map(|c| c.iter().collect())
        .collect();
    let out = groups.join(",");
    format!("{out}/s")
}

/// A child process that is killed and reaped if it is dropped still running.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> anyhow::Result<Proc> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env_remove("RUST_LOG");
        let mut child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout pipe"))?;
        Ok(Proc {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("child {} closed its stdout early", self.child.id());
        }
        Ok(line.trim().to_owned())
    }

    fn stamp(&mut self) -> anyhow::Result<i64> {
        let line = self.line()?;
        line.parse()
            .with_context(|| format!("expected a timestamp, got {line:?}"))
    }

    fn send(&mut self, text: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(|| anyhow!("stdin closed"))?;
        stdin.write_all(text.as_bytes())?;
        stdin.flush()?;
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        let status = self.child.wait()?;
        if !status.success() {
            bail!("child exited with {status}");
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until the main thread of `pid` sits in the `flock(2)` system call (read from
/// `/proc/PID/syscall`), so the release is sure to find it blocked; false after `limit`.
fn wait_blocked_in_flock(pid: i32, limit: Duration) -> bool {
    let path = format!("/proc/{pid}/syscall");
    let until = Instant::now() + limit;
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let nr = text
                .split_whitespace()
                .next()
                .and_then(|t| t.parse::<i64>().ok());
            if nr == Some(libc::SYS_flock) {
                return true;
            }
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn scale() -> f64 {
    std::env::var("PIDWARD_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(1.0)
}

fn scaled(n: usize) -> usize {
    ((n as f64 * scale()).round() as usize).max(5)
}

// ---------------------------------------------------------------------------------------------
// 1. Uncontended throughput
// ---------------------------------------------------------------------------------------------

/// Runs `op` repeatedly for `rounds` × `each`, returning the median rate in operations/s.
fn measure_rate(
    each: Duration,
    rounds: usize,
    mut op: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    for _ in 0..200 {
        op()?;
    }
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < each {
            for _ in 0..32 {
                op()?;
            }
            n += 32;
        }
        rates.push(n as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

/// Where lock files go: the default temp directory, and tmpfs (`/dev/shm`) for comparison.
struct Place {
    /// e.g. `ext4 /tmp`.
    label: String,
    dir: PathBuf,
}

impl Place {
    fn new(tmp: &tempfile::TempDir) -> Place {
        let dir = tmp.path().to_path_buf();
        let parent = dir.parent().map_or_else(|| dir.clone(), Path::to_path_buf);
        Place {
            label: format!("{} {}", fs_type(&dir), parent.display()),
            dir,
        }
    }
}

fn uncontended(dir: &Path, kind: LockKind, generation: bool) -> anyhow::Result<f64> {
    let path = dir.join(format!("u-{kind}-{}.lock", u8::from(generation)));
    let lock = Lock::new(&path).kind(kind).generation(generation);
    let each = Duration::from_secs_f64(0.3 * scale());
    let r = measure_rate(each, 3, || {
        lock.acquire(Some(Duration::from_secs(5)))?.release()?;
        Ok(())
    })?;
    // The owner record really was written (flock keeps the last one in the file).
    if kind == LockKind::Flock && std::fs::metadata(&path)?.len() == 0 {
        bail!("{}: no owner record written", path.display());
    }
    Ok(r)
}

/// Bare system-call sequences that pidward's `flock` acquisition is made of, for comparison.
const BASELINES: [&str; 4] = [
    "open + flock(LOCK_EX) + close",
    "open + flock + ftruncate(0) + pwrite 330 B + close (pidward's record write)",
    "open + flock + pwrite 330 B + ftruncate(330) + close (write, then trim)",
    "write temp file + rename over (the generation sidecar's update)",
];

fn baseline(dir: &Path, which: usize) -> anyhow::Result<f64> {
    let each = Duration::from_secs_f64(0.3 * scale());
    let path = dir.join("raw.lock");
    let tmp = dir.join("raw.tmp");
    let record = vec![b'x'; 330];
    let open = |p: &Path| {
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(p)
    };
    measure_rate(each, 3, || {
        match which {
            0 => {
                let f = open(&path)?;
                f.lock()?;
            }
            1 => {
                let f = open(&path)?;
                f.lock()?;
                f.set_len(0)?;
                f.write_all_at(&record, 0)?;
            }
            2 => {
                let f = open(&path)?;
                f.lock()?;
                f.write_all_at(&record, 0)?;
                f.set_len(record.len() as u64)?;
            }
            _ => {
                let f = File::create_new(&tmp)?;
                f.write_all_at(b"12345\n", 0)?;
                drop(f);
                std::fs::rename(&tmp, &path)?;
            }
        }
        Ok(())
    })
}

fn proc_stat_rate() -> anyhow::Result<f64> {
    measure_rate(Duration::from_secs_f64(0.3 * scale()), 3, || {
        std::hint::black_box(std::fs::read("/proc/self/stat")?);
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// 2. Library handoff across two processes
// ---------------------------------------------------------------------------------------------

/// This process holds; a re-executed copy waits. Handoff = waiter's stamp right after `acquire`
/// returns − holder's stamp right before the release.
fn lib_handoff(
    dir: &Path,
    exe: &Path,
    kind: LockKind,
    generation: bool,
    samples: usize,
) -> anyhow::Result<Stats> {
    let path = dir.join(format!("h-{kind}-{}.lock", u8::from(generation)));
    let lock = Lock::new(&path).kind(kind).generation(generation);
    let mut cmd = Command::new(exe);
    cmd.arg("__lib-waiter")
        .arg(kind.as_str())
        .arg(&path)
        .arg(if generation { "1" } else { "0" });
    let mut waiter = Proc::spawn(cmd)?;
    let mut rng = Rng::new();
    let mut stats = Stats::default();
    let warmup = 5;
    for i in 0..samples + warmup {
        let guard = lock.acquire(Some(Duration::from_secs(10)))?;
        waiter.send("w\n")?;
        // A random hold of 2–6 ms: the waiter gets to block, and a polling waiter's phase is
        // random with respect to the release.
        std::thread::sleep(Duration::from_micros(rng.range(2_000, 6_000)));
        let confirmed = kind != LockKind::Flock
            || wait_blocked_in_flock(waiter.pid(), Duration::from_millis(500));
        let t_release = mono_ns();
        guard.release()?;
        let t_acquired = waiter.stamp()?;
        if i >= warmup {
            stats.samples.push(t_acquired - t_release);
            stats.unconfirmed += usize::from(!confirmed);
        }
    }
    waiter.finish()?;
    Ok(stats)
}

// ---------------------------------------------------------------------------------------------
// 3. Command handoff: `pidward lock` vs `flock(1)` vs Python filelock
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Pidward,
    Flock1,
    FileLock,
}

/// What the command benchmarks run.
struct Programs {
    /// This benchmark binary (the commands run under the locks).
    exe: PathBuf,
    /// The real Python interpreter (not a pyenv shim), when `filelock` imports.
    python: Option<PathBuf>,
}

impl Programs {
    /// The holder (`__stamp-release-after`) or waiter (`__stamp-now`) command of `tool`.
    fn command(&self, tool: Tool, lock: &Path, holder: bool) -> Command {
        let role = if holder {
            "__stamp-release-after"
        } else {
            "__stamp-now"
        };
        match tool {
            Tool::Pidward => {
                let mut cmd = Command::new(PIDWARD);
                cmd.arg("lock").arg(lock).arg("--").arg(&self.exe).arg(role);
                cmd
            }
            Tool::Flock1 => {
                let mut cmd = Command::new(FLOCK1);
                cmd.arg(lock).arg(&self.exe).arg(role);
                cmd
            }
            Tool::FileLock => {
                let python = self.python.as_deref().unwrap_or(Path::new("python3"));
                let mut cmd = Command::new(python);
                cmd.arg("-c")
                    .arg(if holder { PY_HOLDER } else { PY_WAITER })
                    .arg(lock);
                cmd
            }
        }
    }
}

/// One handoff: start the holder command, wait until its child runs, start the waiter command,
/// wait until it is blocked, let the holder's child stamp and exit after a random 1–4 ms; the
/// waiter's child stamps as soon as it starts. Returns (handoff ns, waiter confirmed blocked).
fn command_sample(
    progs: &Programs,
    tool: Tool,
    lock: &Path,
    rng: &mut Rng,
) -> anyhow::Result<(i64, bool)> {
    let mut holder = Proc::spawn(progs.command(tool, lock, true))?;
    let held = holder.line()?;
    if held != "held" {
        bail!("{tool:?} holder said {held:?}");
    }
    let mut waiter = Proc::spawn(progs.command(tool, lock, false))?;
    let confirmed = match tool {
        Tool::FileLock => {
            let ready = waiter.line()?;
            if ready != "ready" {
                bail!("filelock waiter said {ready:?}");
            }
            // Spread the release uniformly over one 50 ms poll period of the waiter.
            std::thread::sleep(Duration::from_micros(rng.range(0, 50_000)));
            true
        }
        _ => wait_blocked_in_flock(waiter.pid(), Duration::from_secs(2)),
    };
    holder.send(&format!("{}\n", rng.range(1_000, 4_000)))?;
    let t_release = holder.stamp()?;
    let t_acquired = waiter.stamp()?;
    holder.finish()?;
    waiter.finish()?;
    Ok((t_acquired - t_release, confirmed))
}

/// Uncontended start-up: from just before `spawn` to the command's first instruction (for
/// `filelock`, to just after `acquire`). `None`: the command alone, with no lock tool.
fn command_start(progs: &Programs, tool: Option<Tool>, lock: &Path) -> anyhow::Result<i64> {
    let cmd = match tool {
        Some(tool) => progs.command(tool, lock, false),
        None => {
            let mut cmd = Command::new(&progs.exe);
            cmd.arg("__stamp-now");
            cmd
        }
    };
    let t0 = mono_ns();
    let mut p = Proc::spawn(cmd)?;
    if tool == Some(Tool::FileLock) {
        p.line()?;
    }
    let t1 = p.stamp()?;
    p.finish()?;
    Ok(t1 - t0)
}

/// Process creation alone: from just before `spawn` to after `wait` (output discarded).
fn spawn_wait(program: &Path, args: &[&str]) -> anyhow::Result<i64> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let t0 = mono_ns();
    let status = cmd.status()?;
    let t1 = mono_ns();
    if !status.success() {
        bail!("{cmd:?} exited with {status}");
    }
    Ok(t1 - t0)
}

/// The real interpreter behind `python3` if it can import `filelock`.
fn find_python() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import sys, filelock; print(sys.executable)"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let path = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !path.trim().is_empty()).then(|| PathBuf::from(path.trim()))
}

fn filelock_version(python: &Path) -> String {
    Command::new(python)
        .args(["-c", "import filelock; print(filelock.__version__)"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(String::new, |s| s.trim().to_owned())
}

/// One row of the command comparison.
struct CmdRow {
    label: String,
    tool: Tool,
    lock: PathBuf,
    handoff: Stats,
    start: Stats,
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn run_all() -> anyhow::Result<()> {
    let started = Instant::now();
    let load_before = loadavg();
    let exe = std::env::current_exe().context("finding the bench executable")?;
    let main_tmp = tempfile::Builder::new()
        .prefix("pidward-bench-")
        .tempdir()?;
    let shm_tmp = if Path::new("/dev/shm").is_dir() {
        Some(
            tempfile::Builder::new()
                .prefix("pidward-bench-")
                .tempdir_in("/dev/shm")?,
        )
    } else {
        None
    };
    let mut places = vec![Place::new(&main_tmp)];
    if let Some(shm) = &shm_tmp {
        let place = Place::new(shm);
        if !place.label.starts_with(&fs_type(&places[0].dir)) {
            places.push(place);
        }
    }
    let have_flock1 = Path::new(FLOCK1).exists();
    let progs = Programs {
        exe: exe.clone(),
        python: find_python(),
    };
    eprintln!(
        "pidward lock bench: lock files in {}",
        places
            .iter()
            .map(|p| p.dir.display().to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    );

    // 1. Uncontended: [kind][place] = (gen off, gen on).
    eprintln!("[1/3] uncontended acquire+release …");
    let mut unc: Vec<Vec<(f64, f64)>> = Vec::new();
    for kind in KINDS {
        let mut row = Vec::new();
        for place in &places {
            let off = uncontended(&place.dir, kind, false)?;
            let on = uncontended(&place.dir, kind, true)?;
            eprintln!(
                "  {kind} @ {}: {} (gen off), {} (gen on)",
                place.label,
                rate(off),
                rate(on)
            );
            row.push((off, on));
        }
        unc.push(row);
    }
    let mut base: Vec<Vec<f64>> = Vec::new();
    for which in 0..BASELINES.len() {
        let mut row = Vec::new();
        for place in &places {
            row.push(baseline(&place.dir, which)?);
        }
        base.push(row);
    }
    let proc_stat = proc_stat_rate()?;

    // 2. Library handoff.
    eprintln!("[2/3] library handoff across two processes …");
    let mut lib: Vec<(String, Stats)> = Vec::new();
    let mut plan = vec![
        (LockKind::Flock, false, 0, 200),
        (LockKind::Flock, true, 0, 200),
    ];
    if places.len() > 1 {
        plan.push((LockKind::Flock, false, 1, 200));
        plan.push((LockKind::Flock, true, 1, 200));
    }
    plan.extend([
        (LockKind::Soft, false, 0, 100),
        (LockKind::Dir, false, 0, 100),
        (LockKind::Lease, false, 0, 100),
    ]);
    for (kind, generation, p, n) in plan {
        let stats = lib_handoff(&places[p].dir, &exe, kind, generation, scaled(n))?;
        let label = format!(
            "{kind}, gen {} @ {}",
            if generation { "on" } else { "off" },
            places[p].label
        );
        eprintln!(
            "  {label}: median {}, p99 {} ({} samples)",
            ms(stats.median()),
            ms(stats.p99()),
            stats.samples.len()
        );
        lib.push((label, stats));
    }

    // 3. Command handoff, interleaved sample by sample so that all tools see the same machine.
    eprintln!("[3/3] command handoff: pidward lock vs flock(1) vs filelock …");
    let mut rows: Vec<CmdRow> = Vec::new();
    let mut add = |label: String, tool: Tool, place: &Place| {
        rows.push(CmdRow {
            label,
            tool,
            lock: place.dir.join(format!("cmd-{tool:?}.lock")),
            handoff: Stats::default(),
            start: Stats::default(),
        })
    };
    for place in &places {
        add(
            format!("`pidward lock` @ {}", place.label),
            Tool::Pidward,
            place,
        );
    }
    if have_flock1 {
        add(
            format!("`flock(1)` @ {}", places[0].label),
            Tool::Flock1,
            &places[0],
        );
    }
    if let Some(python) = &progs.python {
        add(
            format!(
                "Python `filelock` {} @ {}",
                filelock_version(python),
                places[0].label
            ),
            Tool::FileLock,
            &places[0],
        );
    }
    let mut bare = Stats::default();
    let bench_exe = exe.display().to_string();
    let mut spawns: Vec<(String, PathBuf, Vec<&str>, Stats)> = vec![
        (
            "/bin/true".into(),
            "/bin/true".into(),
            vec![],
            Stats::default(),
        ),
        (
            "`pidward --version`".into(),
            PIDWARD.into(),
            vec!["--version"],
            Stats::default(),
        ),
        (
            "`<bench> __stamp-now`".into(),
            exe.clone(),
            vec!["__stamp-now"],
            Stats::default(),
        ),
    ];
    if have_flock1 {
        spawns.insert(
            1,
            (
                "`flock --version`".into(),
                FLOCK1.into(),
                vec!["--version"],
                Stats::default(),
            ),
        );
    }
    let mut rng = Rng::new();
    let rounds = scaled(200);
    let warmup = 3;
    for i in 0..rounds + warmup {
        let keep = i >= warmup;
        for row in rows.iter_mut() {
            // Python's handoff is poll-bound and its start-up slow: every other round suffices.
            if row.tool == Tool::FileLock && i % 2 == 1 {
                continue;
            }
            let (ns, confirmed) = command_sample(&progs, row.tool, &row.lock, &mut rng)?;
            if keep {
                row.handoff.samples.push(ns);
                row.handoff.unconfirmed += usize::from(!confirmed);
            }
        }
        // Uncontended start-up latency, a quarter as often.
        if i % 4 == 0 {
            let ns = command_start(&progs, None, &places[0].dir.join("start-bare.lock"))?;
            if keep {
                bare.samples.push(ns);
            }
            for row in rows.iter_mut() {
                if row.tool == Tool::FileLock && i % 8 != 0 {
                    continue;
                }
                let lock = row.lock.with_extension("start.lock");
                let ns = command_start(&progs, Some(row.tool), &lock)?;
                if keep {
                    row.start.samples.push(ns);
                }
            }
            for (_, program, args, stats) in spawns.iter_mut() {
                let ns = spawn_wait(program, args)?;
                if keep {
                    stats.samples.push(ns);
                }
            }
        }
        if (i + 1) % 50 == 0 {
            eprintln!("  round {}/{}", i + 1, rounds + warmup);
        }
    }
    let elapsed = started.elapsed();
    let load_after = loadavg();

    // Report.
    let mut md = String::new();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    md.push_str(&format!(
        "Command: `cargo bench --bench lock` (bench profile, optimised). {} CPUs, kernel {}; load average {load_before} at the start, {load_after} at the end.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        kernel.trim(),
    ));
    md.push_str("### Library: uncontended acquire+release\n\n");
    md.push_str("One thread, `Lock::new(p).kind(k).generation(g)`, then `acquire(Some(5 s))` + `release()` in a loop, owner record written every time; median of 3 × 0.3 s.\n\n");
    md.push_str("| kind |");
    for place in &places {
        md.push_str(&format!(" gen off @ {0} | gen on @ {0} |", place.label));
    }
    md.push_str("\n|---|");
    md.push_str(&"---:|---:|".repeat(places.len()));
    md.push('\n');
    for (kind, row) in KINDS.iter().zip(&unc) {
        md.push_str(&format!("| {kind} |"));
        for (off, on) in row {
            md.push_str(&format!(" {} | {} |", rate(*off), rate(*on)));
        }
        md.push('\n');
    }
    md.push_str("\nBare system calls, same loop, no pidward:\n\n| operation |");
    for place in &places {
        md.push_str(&format!(" @ {} |", place.label));
    }
    md.push_str("\n|---|");
    md.push_str(&"---:|".repeat(places.len()));
    md.push('\n');
    for (name, row) in BASELINES.iter().zip(&base) {
        md.push_str(&format!("| {name} |"));
        for r in row {
            md.push_str(&format!(" {} |", rate(*r)));
        }
        md.push('\n');
    }
    md.push_str(&format!(
        "| read /proc/self/stat (pidward does it 2× per acquisition) | {} |{}\n",
        rate(proc_stat),
        " |".repeat(places.len() - 1)
    ));

    md.push_str("\n### Library: handoff between two processes\n\n");
    md.push_str("This process holds for a random 2–6 ms (the waiter confirmed blocked in `flock(2)` via `/proc/PID/syscall` for `flock`), stamps `CLOCK_MONOTONIC` just before `release()`; a re-executed copy of the bench binary blocked in `acquire(None)` stamps just after it returns. The polled kinds (`soft`, `dir`, `lease`) back off from 1 ms doubling to 50 ms, so their handoff depends on the hold time (here short).\n\n");
    md.push_str("| kind | handoff median | p99 | min | samples |\n|---|---:|---:|---:|---:|\n");
    for (label, stats) in &lib {
        md.push_str(&format!(
            "| {label} | {} | {} | {} | {}{} |\n",
            ms(stats.median()),
            ms(stats.p99()),
            ms(stats.min()),
            stats.samples.len(),
            unconfirmed_note(stats),
        ));
    }

    md.push_str("\n### Command: handoff from the holder command's release to the waiting command's start\n\n");
    md.push_str("Holder: `pidward lock LOCK -- <bench> __stamp-release-after` (or `flock LOCK <bench> …`), whose child stamps `CLOCK_MONOTONIC` and exits after a random 1–4 ms; the wrapper then releases. Waiter: `pidward lock LOCK -- <bench> __stamp-now` (or `flock LOCK <bench> __stamp-now`), started once the holder's child runs and confirmed blocked in `flock(2)`; its child stamps first thing. The handoff so includes the holder's child exit, the wrapper's reaping and release, and the waiter's wake-up, owner record, generation bump and start of its command. `filelock`: Python holder and waiter scripts (`FileLock(path).acquire()`, default 50 ms poll; the release is spread uniformly over one poll period). Tools interleaved sample by sample. \"Start\" is uncontended: from `spawn` to the command's first instruction.\n\n");
    md.push_str("| tool | handoff median | p99 | min | samples | start median | start p99 |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for row in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {}{} | {} | {} |\n",
            row.label,
            ms(row.handoff.median()),
            ms(row.handoff.p99()),
            ms(row.handoff.min()),
            row.handoff.samples.len(),
            unconfirmed_note(&row.handoff),
            ms(row.start.median()),
            ms(row.start.p99()),
        ));
    }
    md.push_str(&format!(
        "| (no lock tool: `<bench> __stamp-now` alone) | | | | | {} | {} |\n",
        ms(bare.median()),
        ms(bare.p99())
    ));
    if !have_flock1 {
        md.push_str("\n`flock(1)` not found at /usr/bin/flock: no comparison.\n");
    }
    if progs.python.is_none() {
        md.push_str("\nPython `filelock` not importable (`pip install filelock`): skipped.\n");
    }
    let flock1 = rows.iter().find(|r| r.tool == Tool::Flock1);
    let mut ratio = None;
    if let Some(f) = flock1 {
        md.push('\n');
        for row in rows.iter().filter(|r| r.tool == Tool::Pidward) {
            let r = row.handoff.median() / f.handoff.median();
            ratio = ratio.or(Some(r));
            md.push_str(&format!(
                "- {} / `flock(1)`: handoff median **{r:.2}×**, p99 {:.2}×\n",
                row.label,
                row.handoff.p99() / f.handoff.p99()
            ));
        }
    }

    md.push_str("\nProcess creation on this machine (`Command::status`: spawn → exit, nothing else):\n\n| program | median | p99 |\n|---|---:|---:|\n");
    for (label, _, _, stats) in &spawns {
        md.push_str(&format!(
            "| {label} | {} | {} |\n",
            ms(stats.median()),
            ms(stats.p99())
        ));
    }
    md.push_str(&format!("\n(`<bench>` is {bench_exe}.)\n"));

    md.push_str("\n### Targets\n\n");
    let flock_unc = unc[0][0].0;
    let lib_flock = lib[0].1.median();
    let cmd_flock = rows[0].handoff.median();
    md.push_str(&target(
        &format!(
            "flock uncontended > 100,000/s with the owner record written (@ {})",
            places[0].label
        ),
        flock_unc > 100_000.0,
        &rate(flock_unc),
    ));
    md.push_str(&target(
        &format!("flock library handoff median < 0.5 ms ({})", lib[0].0),
        lib_flock < 500_000.0,
        &ms(lib_flock),
    ));
    md.push_str(&target(
        &format!("{} handoff median < 0.5 ms", rows[0].label),
        cmd_flock < 500_000.0,
        &ms(cmd_flock),
    ));
    if let Some(r) = ratio {
        md.push_str(&target(
            "`pidward lock` handoff median ≤ 2× `flock(1)` in the same run",
            r <= 2.0,
            &format!("{r:.2}×"),
        ));
    }
    md.push_str(&format!(
        "\nTotal bench runtime (excluding the build): {:.1} s.\n",
        elapsed.as_secs_f64()
    ));
    println!("{md}");
    Ok(())
}

fn unconfirmed_note(stats: &Stats) -> String {
    if stats.unconfirmed == 0 {
        String::new()
    } else {
        format!(" ({} not confirmed blocked)", stats.unconfirmed)
    }
}

fn target(what: &str, met: bool, value: &str) -> String {
    format!(
        "- {what}: **{}** ({value})\n",
        if met { "met" } else { "MISSED" }
    )
}

/// The file system type of `dir`, from /proc/self/mounts (longest matching mount point).
fn fs_type(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| PathBuf::from(dir));
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, at, ty) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(at).then(|| (at.len(), ty.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".to_owned(), |(_, ty)| ty)
}
