//! `pidward lock`, `holder` and `unlock` through the real binary: mutual exclusion under
//! contention for every kind, stale breaking while holders are SIGKILLed, interop with
//! util-linux `flock(1)`, signal handling, `unlock`'s start-time check, exit codes, fencing
//! generations, shared mode and `--pidfile`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use crate::common::{alive, bin, pidward, run, tempdir, wait_until, Proc, PATIENCE};

// ---------------------------------------------------------------------------------------------
// Helpers

const KINDS: [&str; 4] = ["flock", "soft", "dir", "lease"];
const ARTEFACT_KINDS: [&str; 3] = ["soft", "dir", "lease"];
const FLOCK_BIN: &str = "/usr/bin/flock";

/// A child script that records its PID in `ready`, then waits for the file `stop`.
const WAIT_FOR_STOP: &str = "echo $$ > ready; while [ ! -e stop ]; do sleep 0.02; done";
/// A child script that records SIGTERM in `marker` and exits 143.
const TRAP_TERM: &str =
    "trap 'echo got-term > marker; exit 143' TERM; echo $$ > ready; while :; do sleep 0.05; done";

/// `lock --kind KIND EXTRA… L -- sh -c SCRIPT`.
fn lock_args<'a>(kind: &'a str, extra: &[&'a str], script: &'a str) -> Vec<&'a str> {
    let mut args = vec!["lock", "--kind", kind];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["L", "--", "sh", "-c", script]);
    args
}

/// Spawns `pidward ARGS` in `dir` in its own process group; stderr goes to `dir/NAME.stderr`.
fn spawn(dir: &Path, name: &str, args: &[&str]) -> Proc {
    let mut cmd = pidward(dir, args);
    let stderr = File::create(dir.join(format!("{name}.stderr"))).expect("stderr file");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    Proc::spawn(cmd)
}

fn stderr_of(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(format!("{name}.stderr"))).unwrap_or_default()
}

/// Waits (up to PATIENCE) for `proc` to exit.
fn exit_of(proc: &mut Proc) -> ExitStatus {
    let pid = proc.pid();
    proc.wait_timeout(PATIENCE)
        .unwrap_or_else(|| panic!("PID {pid} still running after {PATIENCE:?}"))
}

fn show(out: &Output) -> String {
    format!(
        "{:?}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `pidward ARGS` and checks its exit code.
fn run_expect(dir: &Path, args: &[&str], code: i32) -> Output {
    let out = run(dir, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "pidward {args:?}: {}",
        show(&out)
    );
    out
}

/// Waits for `path` to hold a complete line (shell `echo … > path` truncates first) and returns it.
fn wait_line(path: &Path) -> String {
    let mut content = String::new();
    let complete = wait_until(PATIENCE, || {
        content = fs::read_to_string(path).unwrap_or_default();
        content.ends_with('\n')
    });
    assert!(complete, "{} never got a line", path.display());
    content.trim().to_owned()
}

fn wait_pid(path: &Path) -> i32 {
    let line = wait_line(path);
    line.parse()
        .unwrap_or_else(|_| panic!("{}: not a PID: {line:?}", path.display()))
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

fn touch(path: &Path) {
    File::create(path).expect("touch");
}

/// The owner record in a lock artefact (`L` or `L/owner`), if it is pidward's.
fn record(lock: &Path) -> Option<Value> {
    let file = if lock.is_dir() {
        lock.join("owner")
    } else {
        lock.to_path_buf()
    };
    let value: Value = serde_json::from_slice(&fs::read(file).ok()?).ok()?;
    value.get("pidward").is_some().then_some(value)
}

fn pid_and_ticks(v: &Value) -> Option<(i32, u64)> {
    Some((
        v.get("pid")?.as_i64()? as i32,
        v.get("start_ticks")?.as_u64()?,
    ))
}

/// State letter and start ticks (field 22) of a process, straight from `/proc`.
fn stat_of(pid: i32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ticks = fields.nth(18)?.parse().ok()?;
    Some((state, ticks))
}

/// Exit code of util-linux `flock -n L true` in `dir` (0 free, 1 busy).
fn flock_n(dir: &Path) -> i32 {
    Command::new(FLOCK_BIN)
        .current_dir(dir)
        .args(["-n", "L", "true"])
        .stdin(Stdio::null())
        .status()
        .expect("run flock(1)")
        .code()
        .unwrap_or(-1)
}

/// `pidward holder --json L`: exit code and the parsed report.
fn holder_json(dir: &Path) -> (i32, Value) {
    let out = run(dir, &["holder", "--json", "L"]);
    let code = out.status.code().unwrap_or(-1);
    let value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("holder --json printed no JSON ({e}): {}", show(&out)));
    (code, value)
}

/// SIGKILLs the whole process group of `proc` (wrapper and command), reaps the wrapper and
/// waits until `child` is gone too.
fn kill_all(proc: &mut Proc, child: i32) {
    let _ = killpg(Pid::from_raw(proc.pid()), Signal::SIGKILL);
    let _ = proc.child.wait();
    assert!(
        wait_until(PATIENCE, || !alive(child)),
        "PID {child} survived SIGKILL"
    );
}

/// A private copy of the binary for the long-running tests: a rebuild of `target/debug/pidward`
/// while they run would otherwise hit the bug in
/// `a_binary_replaced_while_waiting_still_runs_the_command` and fail them spuriously.
fn private_binary(dir: &Path) -> std::path::PathBuf {
    let copy = dir.join("pidward-bin");
    fs::copy(bin(), &copy).expect("copy the pidward binary");
    copy
}

/// A worker shell: runs `pidward lock --kind $KIND $EXTRA L -- sh -c "$INNER"` `rounds`
/// times; any exit status other than 0 (or 137 when `killed_ok`) is appended to `failures`.
fn worker(
    pidward_bin: &Path,
    dir: &Path,
    kind: &str,
    extra: &str,
    inner: &str,
    rounds: usize,
    killed_ok: bool,
) -> Proc {
    let script = r#"i=0
while [ "$i" -lt "$ROUNDS" ]; do
  "$PIDWARD" lock --kind "$KIND" $EXTRA L -- sh -c "$INNER" 2>>errors
  rc=$?
  if [ "$rc" -ne 0 ] && { [ "$rc" -ne 137 ] || [ -z "$KILLED_OK" ]; }; then
    echo "exit $rc" >> failures
  fi
  i=$((i+1))
done"#;
    let mut cmd = Command::new("sh");
    cmd.current_dir(dir)
        .args(["-c", script])
        .env("PIDWARD", pidward_bin)
        .env("KIND", kind)
        .env("EXTRA", extra)
        .env("INNER", inner)
        .env("ROUNDS", rounds.to_string())
        .env("KILLED_OK", if killed_ok { "1" } else { "" })
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    Proc::spawn(cmd)
}

fn wait_workers(workers: Vec<Proc>, limit: Duration) {
    let deadline = Instant::now() + limit;
    for mut w in workers {
        let left = deadline.saturating_duration_since(Instant::now());
        let status = w
            .wait_timeout(left)
            .unwrap_or_else(|| panic!("worker {} still running after {limit:?}", w.pid()));
        assert!(status.success(), "worker {}: {status:?}", w.pid());
    }
}

/// Tiny xorshift, seeded from the clock: which holder to kill and when.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng(nanos | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Mutual exclusion: 8 workers × 250 `pidward lock` runs of a read-modify-write increment.

fn counter_stays_exact(kind: &str) {
    const WORKERS: usize = 8;
    const ROUNDS: usize = 250;
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("counter"), "0\n").expect("counter");
    let inner = "read n < counter; echo $((n+1)) > counter";
    let pidward_bin = private_binary(d);
    let started = Instant::now();
    let workers = (0..WORKERS)
        .map(|_| worker(&pidward_bin, d, kind, "", inner, ROUNDS, false))
        .collect();
    wait_workers(workers, Duration::from_secs(240));
    eprintln!(
        "{kind}: {} acquisitions in {:?}",
        WORKERS * ROUNDS,
        started.elapsed()
    );
    let failures = fs::read_to_string(d.join("failures")).unwrap_or_default();
    let errors = fs::read_to_string(d.join("errors")).unwrap_or_default();
    assert!(
        failures.is_empty(),
        "{kind}: failed runs:\n{failures}\nstderr:\n{errors}"
    );
    let total = (WORKERS * ROUNDS).to_string();
    let counter = fs::read_to_string(d.join("counter")).expect("counter");
    assert_eq!(
        counter.trim(),
        total,
        "{kind}: lost updates; stderr:\n{errors}"
    );
    // Every acquisition bumped the fencing generation exactly once.
    let gen = fs::read_to_string(d.join("L.gen")).expect("L.gen");
    assert_eq!(gen.trim(), total, "{kind}: generation");
    if kind != "flock" {
        assert!(
            !exists(&d.join("L")),
            "{kind}: artefact left after the last release"
        );
    }
}

#[test]
fn mutual_exclusion_flock() {
    counter_stays_exact("flock");
}

#[test]
fn mutual_exclusion_soft() {
    counter_stays_exact("soft");
}

#[test]
fn mutual_exclusion_dir() {
    counter_stays_exact("dir");
}

#[test]
fn mutual_exclusion_lease() {
    counter_stays_exact("lease");
}

// ---------------------------------------------------------------------------------------------
// 2. Stale breaking under contention: holders are SIGKILLed (wrapper and command) at random
// while others wait; the log proves nobody entered while a live holder was inside.

/// The critical section: read the last counter line, log `enter`, pause, append the next value
/// (one `O_APPEND` write: a kill leaves it whole or absent), log `leave`. Builtins only apart
/// from `sleep`, so a killed holder leaves no writer behind.
const SECTION: &str = r#"n=0; while read v; do n=$v; done < counter; echo "enter $$ $n" >> log; sleep 0.01; echo $((n+1)) >> counter; echo "leave $$ $((n+1))" >> log"#;

/// Kills the current holder if its command runs: SIGSTOP the command (so it cannot write to the
/// log any more), log `kill PID`, then SIGKILL the wrapper and the command. Returns the
/// command's PID when it did.
fn kill_holder(lock: &Path, log: &Path) -> Option<i32> {
    use pidward::process::signal_verified;
    let rec = record(lock)?;
    let wrapper = pid_and_ticks(&rec)?;
    let child = pid_and_ticks(rec.get("child")?)?;
    signal_verified(child.0, child.1, Signal::SIGSTOP).ok()?;
    let stopped = wait_until(PATIENCE, || match stat_of(child.0) {
        Some((state, ticks)) => ticks != child.1 || matches!(state, 'T' | 't' | 'Z' | 'X'),
        None => true,
    });
    assert!(stopped, "PID {} did not stop", child.0);
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .expect("log");
    file.write_all(format!("kill {}\n", child.0).as_bytes())
        .expect("log");
    let _ = signal_verified(wrapper.0, wrapper.1, Signal::SIGKILL);
    let _ = signal_verified(child.0, child.1, Signal::SIGKILL);
    Some(child.0)
}

/// Checks the log and counter; returns how many sections were cut short by a kill and then
/// followed by another holder's entry (i.e. the stale lock was broken).
fn check_section_log(kind: &str, log: &str, counter: &str) -> usize {
    // (PID, killed) of whoever is inside, and the value it read.
    let mut inside: Option<(&str, bool)> = None;
    let mut read = 0u64;
    let mut enters = 0usize;
    let mut completed = Vec::new();
    let mut broken_after_kill = 0usize;
    for (no, line) in log.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["enter", pid, value] => {
                if let Some((holder, killed)) = inside {
                    assert!(
                        killed,
                        "{kind}: log line {}: {line:?} while PID {holder} was inside and alive\n{log}",
                        no + 1
                    );
                    broken_after_kill += 1;
                }
                enters += 1;
                inside = Some((pid, false));
                read = value.parse().expect("value");
            }
            ["leave", pid, value] => {
                assert_eq!(
                    inside,
                    Some((*pid, false)),
                    "{kind}: log line {}: {line:?} from a holder that was not inside (or was killed)\n{log}",
                    no + 1
                );
                inside = None;
                let wrote: u64 = value.parse().expect("value");
                assert_eq!(wrote, read + 1, "{kind}: log line {}: {line:?}", no + 1);
                completed.push(wrote);
            }
            ["kill", pid] => {
                if let Some((holder, killed)) = &mut inside {
                    if holder == pid {
                        *killed = true;
                    }
                }
            }
            _ => panic!("{kind}: bad log line {line:?}"),
        }
    }
    let values: Vec<u64> = counter
        .lines()
        .map(|l| l.parse().expect("counter line"))
        .collect();
    let expected: Vec<u64> = (0..values.len() as u64).collect();
    assert_eq!(
        values, expected,
        "{kind}: the counter is not 0, 1, 2, … (a lost or duplicated increment)"
    );
    let last = *values.last().expect("counter");
    for v in &completed {
        assert!(
            *v <= last,
            "{kind}: completed increment {v} not in the counter"
        );
    }
    assert!(
        completed.len() as u64 <= last && last <= enters as u64,
        "{kind}: {} completed sections, {enters} entries, counter {last}",
        completed.len()
    );
    broken_after_kill
}

fn stale_breaking_under_contention(kind: &str) {
    const WORKERS: usize = 8;
    const ROUNDS: usize = 25;
    const KILLS: usize = 8;
    let dir = tempdir();
    let d = dir.path();
    let lock = d.join("L");
    let log = d.join("log");
    fs::write(d.join("counter"), "0\n").expect("counter");
    // A 1 s lease: renewed every ~330 ms, so a starved heartbeat on a loaded machine is not
    // mistaken for a dead holder; dead holders are stale at once by PID anyway.
    let extra = if kind == "lease" {
        "--wait 60s --ttl 1s"
    } else {
        "--wait 60s"
    };
    let pidward_bin = private_binary(d);
    let started = Instant::now();
    let mut workers: Vec<Proc> = (0..WORKERS)
        .map(|_| worker(&pidward_bin, d, kind, extra, SECTION, ROUNDS, true))
        .collect();
    let mut rng = Rng::new();
    let mut killed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let running = workers
            .iter_mut()
            .map(|w| w.child.try_wait())
            .filter(|status| matches!(status, Ok(None)))
            .count();
        if running == 0 {
            break;
        }
        // Pacing only: how often to look for a holder to kill.
        std::thread::sleep(Duration::from_millis(20 + rng.below(100)));
        if killed.len() < KILLS && running > 1 {
            if let Some(pid) = kill_holder(&lock, &log) {
                killed.push(pid);
            }
        }
    }
    wait_workers(workers, Duration::from_secs(1));
    eprintln!(
        "{kind}: {} rounds with {} kills in {:?}",
        WORKERS * ROUNDS,
        killed.len(),
        started.elapsed()
    );
    let failures = fs::read_to_string(d.join("failures")).unwrap_or_default();
    let errors = fs::read_to_string(d.join("errors")).unwrap_or_default();
    assert!(
        failures.is_empty(),
        "{kind}: failed runs:\n{failures}\nstderr:\n{errors}"
    );
    let log_text = fs::read_to_string(&log).expect("log");
    let counter = fs::read_to_string(d.join("counter")).expect("counter");
    let broken = check_section_log(kind, &log_text, &counter);
    assert!(
        killed.len() >= 3,
        "{kind}: only {} holders killed",
        killed.len()
    );
    assert!(
        broken >= 1,
        "{kind}: no killed holder was followed by another (kills: {killed:?})\n{log_text}"
    );
}

#[test]
fn stale_breaking_under_contention_soft() {
    stale_breaking_under_contention("soft");
}

#[test]
fn stale_breaking_under_contention_dir() {
    stale_breaking_under_contention("dir");
}

#[test]
fn stale_breaking_under_contention_lease() {
    stale_breaking_under_contention("lease");
}

// ---------------------------------------------------------------------------------------------
// 3. flock(1) interop, both ways.

/// True when `/proc/locks` shows `pid` blocked waiting for a `flock` lock.
fn blocked_in_flock(pid: i32) -> bool {
    let locks = fs::read_to_string("/proc/locks").unwrap_or_default();
    let pid = pid.to_string();
    locks
        .lines()
        .any(|l| l.contains("->") && l.contains("FLOCK") && l.split_whitespace().any(|f| f == pid))
}

#[test]
fn flock_interop_with_util_linux_flock() {
    let dir = tempdir();
    let d = dir.path();

    // flock(1) holds: pidward sees it busy and names it.
    let mut cmd = Command::new(FLOCK_BIN);
    cmd.current_dir(d)
        .args(["L", "sh", "-c", WAIT_FOR_STOP])
        .stdin(Stdio::null());
    let mut flock1 = Proc::spawn(cmd);
    let flock_child = wait_pid(&d.join("ready"));
    let out = run_expect(d, &["lock", "--no-wait", "L", "--", "true"], 75);
    assert!(
        stderr(&out).contains(&flock1.pid().to_string()),
        "busy message does not name flock(1)'s PID {}: {}",
        flock1.pid(),
        show(&out)
    );
    let out = run_expect(d, &["holder", "L"], 0);
    assert!(
        stdout(&out).contains(&format!("kernel holder: PID {}", flock1.pid())),
        "holder does not name flock(1)'s PID {}: {}",
        flock1.pid(),
        show(&out)
    );
    let (_, info) = holder_json(d);
    let kernel: Vec<i64> = info["kernel"]
        .as_array()
        .expect("kernel")
        .iter()
        .filter_map(|k| k["pid"].as_i64())
        .collect();
    assert!(kernel.contains(&i64::from(flock1.pid())), "{info}");
    assert!(kernel.contains(&i64::from(flock_child)), "{info}");

    // A waiting pidward lock gets it promptly once flock(1) lets go.
    let mut waiter = spawn(
        d,
        "waiter",
        &["lock", "L", "--", "sh", "-c", "echo got > got"],
    );
    assert!(
        wait_until(PATIENCE, || blocked_in_flock(waiter.pid())),
        "pidward lock never blocked on the kernel lock"
    );
    assert!(!exists(&d.join("got")), "ran while flock(1) held the lock");
    touch(&d.join("stop"));
    let released = Instant::now();
    let status = exit_of(&mut waiter);
    let took = released.elapsed();
    assert_eq!(status.code(), Some(0), "{}", stderr_of(d, "waiter"));
    assert_eq!(wait_line(&d.join("got")), "got");
    assert!(took < Duration::from_secs(5), "took {took:?} after release");
    assert_eq!(exit_of(&mut flock1).code(), Some(0));

    // pidward holds: flock(1) sees it busy.
    fs::remove_file(d.join("stop")).expect("rm stop");
    fs::remove_file(d.join("ready")).expect("rm ready");
    let mut holder = spawn(d, "holder", &lock_args("flock", &[], WAIT_FOR_STOP));
    wait_pid(&d.join("ready"));
    assert_eq!(flock_n(d), 1, "flock -n got a lock pidward holds");
    let out = Command::new(FLOCK_BIN)
        .current_dir(d)
        .args(["-s", "-n", "L", "true"])
        .status()
        .expect("flock -s");
    assert_eq!(
        out.code(),
        Some(1),
        "flock -s -n got an exclusively held lock"
    );
    touch(&d.join("stop"));
    assert_eq!(exit_of(&mut holder).code(), Some(0));
    assert_eq!(flock_n(d), 0, "still locked after pidward lock exited");
}

// ---------------------------------------------------------------------------------------------
// 4. SIGKILL of wrapper and command leaves a stale artefact; the next lock breaks it.

#[test]
fn sigkilled_holder_is_reported_stale_and_broken() {
    for kind in ARTEFACT_KINDS {
        let dir = tempdir();
        let d = dir.path();
        let lock = d.join("L");
        // A long TTL: the lease must be found stale by its dead PIDs, not by expiry.
        let extra: &[&str] = if kind == "lease" {
            &["--ttl", "60s"]
        } else {
            &[]
        };
        let mut p = spawn(
            d,
            "holder",
            &lock_args(kind, extra, "echo $$ > ready; exec sleep 30"),
        );
        let child = wait_pid(&d.join("ready"));
        let rec = record(&lock).unwrap_or_else(|| panic!("{kind}: no owner record"));
        assert_eq!(
            rec["pid"].as_i64(),
            Some(i64::from(p.pid())),
            "{kind}: {rec}"
        );
        assert_eq!(
            rec["child"]["pid"].as_i64(),
            Some(i64::from(child)),
            "{kind}: {rec}"
        );
        let (code, info) = holder_json(d);
        assert_eq!(code, 0, "{kind}: {info}");
        assert!(
            info["stale"].is_null(),
            "{kind}: live holder reported stale: {info}"
        );

        kill_all(&mut p, child);
        assert!(
            exists(&lock),
            "{kind}: artefact vanished with its killed holder"
        );
        let (code, info) = holder_json(d);
        assert!(code == 0 || code == 1, "{kind}: holder exit {code}: {info}");
        assert_eq!(info["kind"], kind, "{kind}: {info}");
        let stale = info["stale"].as_str().unwrap_or_default();
        assert!(stale.contains("dead"), "{kind}: not reported stale: {info}");
        let out = run(d, &["holder", "L"]);
        assert!(
            stdout(&out).contains("stale: holder is dead"),
            "{kind}: {}",
            show(&out)
        );

        let out = run_expect(
            d,
            &lock_args(kind, &["--no-wait"], "echo $PIDWARD_LOCK_GEN > gen"),
            0,
        );
        assert_eq!(wait_line(&d.join("gen")), "2", "{kind}: {}", show(&out));
        assert!(
            !exists(&lock),
            "{kind}: artefact left after the breaker released"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. SIGTERM to `pidward lock`: forwarded, everything cleaned up, exit 143.

#[test]
fn sigterm_is_forwarded_and_everything_cleaned_up() {
    for kind in KINDS {
        let dir = tempdir();
        let d = dir.path();
        let pidfile = d.join("pf");
        let mut p = spawn(
            d,
            "holder",
            &lock_args(kind, &["--pidfile", "pf"], TRAP_TERM),
        );
        let child = wait_pid(&d.join("ready"));
        assert!(
            wait_until(PATIENCE, || fs::read_to_string(&pidfile)
                .is_ok_and(|s| s.trim() == child.to_string())),
            "{kind}: pidfile never held {child}"
        );
        if kind != "flock" {
            assert!(exists(&d.join("L")), "{kind}: no artefact while held");
        }
        p.signal(Signal::SIGTERM);
        let status = exit_of(&mut p);
        assert_eq!(
            status.code(),
            Some(143),
            "{kind}: {status:?} {}",
            stderr_of(d, "holder")
        );
        assert_eq!(wait_line(&d.join("marker")), "got-term", "{kind}");
        assert!(!exists(&pidfile), "{kind}: pidfile left behind");
        if kind == "flock" {
            assert_eq!(flock_n(d), 0, "flock: still locked");
        } else {
            assert!(!exists(&d.join("L")), "{kind}: artefact left behind");
        }
        let (code, info) = holder_json(d);
        assert_eq!(code, 1, "{kind}: not free: {info}");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. SIGKILL of the wrapper only: the command keeps the lock.

#[test]
fn sigkilled_wrapper_flock_lock_lives_until_the_command_exits() {
    let dir = tempdir();
    let d = dir.path();
    let mut p = spawn(d, "holder", &lock_args("flock", &[], WAIT_FOR_STOP));
    let child = wait_pid(&d.join("ready"));
    p.signal(Signal::SIGKILL);
    let _ = p.child.wait();
    assert!(alive(child), "the command died with its wrapper");
    assert_eq!(flock_n(d), 1, "the lock went with the wrapper");
    let out = run_expect(d, &["holder", "L"], 0);
    assert!(
        stdout(&out).contains(&format!("kernel holder: PID {child}")),
        "{}",
        show(&out)
    );
    run_expect(d, &["lock", "--no-wait", "L", "--", "true"], 75);
    touch(&d.join("stop"));
    assert!(
        wait_until(PATIENCE, || !alive(child)),
        "command did not stop"
    );
    assert!(
        wait_until(PATIENCE, || flock_n(d) == 0),
        "still locked after the command exited"
    );
    run_expect(d, &["holder", "L"], 1);
}

#[test]
fn sigkilled_wrapper_soft_and_dir_lock_is_not_broken_while_the_command_lives() {
    for kind in ["soft", "dir"] {
        let dir = tempdir();
        let d = dir.path();
        let mut p = spawn(d, "holder", &lock_args(kind, &[], WAIT_FOR_STOP));
        let child = wait_pid(&d.join("ready"));
        p.signal(Signal::SIGKILL);
        let _ = p.child.wait();
        assert!(alive(child), "{kind}: the command died with its wrapper");
        run_expect(
            d,
            &lock_args(kind, &["--no-wait"], "echo broke > broke"),
            75,
        );
        assert!(
            !exists(&d.join("broke")),
            "{kind}: ran under a live command's lock"
        );
        let (code, info) = holder_json(d);
        assert_eq!(code, 0, "{kind}: {info}");
        assert!(
            info["stale"].is_null(),
            "{kind}: live command reported stale: {info}"
        );
        touch(&d.join("stop"));
        assert!(
            wait_until(PATIENCE, || !alive(child)),
            "{kind}: command did not stop"
        );
        run_expect(d, &lock_args(kind, &["--no-wait"], "echo broke > broke"), 0);
        assert_eq!(wait_line(&d.join("broke")), "broke", "{kind}");
        assert!(!exists(&d.join("L")), "{kind}: artefact left");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. `pidward unlock`.

#[test]
fn unlock_stops_a_live_holder_and_frees_the_lock() {
    for kind in KINDS {
        let dir = tempdir();
        let d = dir.path();
        let mut p = spawn(d, "holder", &lock_args(kind, &[], TRAP_TERM));
        wait_pid(&d.join("ready"));
        let out = run_expect(d, &["unlock", "L"], 0);
        assert!(
            stdout(&out).contains(&format!("sent SIGTERM to PID {}", p.pid())),
            "{kind}: {}",
            show(&out)
        );
        assert!(stdout(&out).contains("free"), "{kind}: {}", show(&out));
        assert_eq!(exit_of(&mut p).code(), Some(143), "{kind}");
        assert_eq!(wait_line(&d.join("marker")), "got-term", "{kind}");
        run_expect(d, &["holder", "L"], 1);
        if kind != "flock" {
            assert!(!exists(&d.join("L")), "{kind}: artefact left");
        }
        run_expect(d, &["unlock", "L"], 0);
    }
}

/// Host facts read straight from `/proc`, as a pidward record stores them.
fn host_record_fields() -> (String, u64, String) {
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("boot_id");
    let pid_ns = fs::metadata("/proc/self/ns/pid").expect("pid ns").ino();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    (boot_id.trim().to_owned(), pid_ns, host.trim().to_owned())
}

fn craft_soft_lock(lock: &Path, pid: i32, start_ticks: u64) {
    let (boot_id, pid_ns, host) = host_record_fields();
    let rec = json!({
        "pidward": 1,
        "kind": "soft",
        "mode": "exclusive",
        "pid": pid,
        "start_ticks": start_ticks,
        "boot_id": boot_id,
        "pid_ns": pid_ns,
        "host": host,
        "uid": nix::unistd::getuid().as_raw(),
        "since_ms": 1_700_000_000_000u64,
        "token": "crafted-by-test",
        "beat": 0,
    });
    fs::write(lock, format!("{rec}\n")).expect("write crafted lock");
}

#[test]
fn unlock_never_signals_a_process_whose_start_time_does_not_match() {
    let dir = tempdir();
    let d = dir.path();
    let lock = d.join("L");
    let mut cmd = Command::new("sleep");
    cmd.arg("30").stdin(Stdio::null());
    let victim = Proc::spawn(cmd);
    let (_, ticks) = stat_of(victim.pid()).expect("victim stat");
    craft_soft_lock(&lock, victim.pid(), ticks + 1);
    let (code, info) = holder_json(d);
    assert_eq!(code, 0, "{info}");
    assert_eq!(
        info["record"]["pid"].as_i64(),
        Some(i64::from(victim.pid())),
        "{info}"
    );

    let out = run(d, &["unlock", "--wait", "2s", "L"]);
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
    assert!(stderr(&out).contains("--force"), "{}", show(&out));
    assert!(
        !wait_until(Duration::from_millis(300), || !alive(victim.pid())),
        "unlock killed a process whose start time does not match the record"
    );
    assert!(exists(&lock), "unlock without --force removed the lock");

    let out = run(d, &["unlock", "--signal", "KILL", "L"]);
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        alive(victim.pid()),
        "unlock --signal KILL killed the wrong process"
    );

    let out = run_expect(d, &["unlock", "--force", "L"], 0);
    assert!(!exists(&lock), "--force left the lock: {}", show(&out));
    assert!(alive(victim.pid()), "unlock --force killed the process");
    run_expect(d, &["holder", "L"], 1);
}

#[test]
fn unlock_signals_a_crafted_owner_whose_start_time_matches() {
    // The control for the test above: the same record with the right start time is obeyed.
    let dir = tempdir();
    let d = dir.path();
    let lock = d.join("L");
    let mut cmd = Command::new("sleep");
    cmd.arg("30").stdin(Stdio::null());
    let mut victim = Proc::spawn(cmd);
    let (_, ticks) = stat_of(victim.pid()).expect("victim stat");
    craft_soft_lock(&lock, victim.pid(), ticks);
    let (_, info) = holder_json(d);
    assert!(info["stale"].is_null(), "{info}");
    let out = run(d, &["unlock", "--wait", "200ms", "L"]);
    assert!(
        stdout(&out).contains(&format!("sent SIGTERM to PID {}", victim.pid())),
        "{}",
        show(&out)
    );
    let status = exit_of(&mut victim);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}

#[test]
fn unlock_after_the_wrapper_was_sigkilled_frees_the_lock() {
    // The wrapper died (OOM killer, kill -9); its command still holds the soft lock. `unlock`
    // signals the command, which exits: the lock is now abandoned and any locker breaks it,
    // yet `unlock` keeps waiting for the artefact to disappear and reports failure.
    let dir = tempdir();
    let d = dir.path();
    let mut p = spawn(
        d,
        "holder",
        &lock_args("soft", &[], "echo $$ > ready; exec sleep 30"),
    );
    let child = wait_pid(&d.join("ready"));
    p.signal(Signal::SIGKILL);
    let _ = p.child.wait();
    let out = run(d, &["unlock", "--wait", "2s", "L"]);
    assert!(
        stdout(&out).contains(&format!("sent SIGTERM to PID {child}")),
        "{}",
        show(&out)
    );
    assert!(wait_until(PATIENCE, || !alive(child)), "command survived");
    assert_eq!(out.status.code(), Some(0), "unlock: {}", show(&out));
}

// ---------------------------------------------------------------------------------------------
// 8. Exit codes.

#[test]
fn exit_codes_when_busy_for_every_kind() {
    for kind in KINDS {
        let dir = tempdir();
        let d = dir.path();
        let p = spawn(
            d,
            "holder",
            &lock_args(kind, &[], "echo $$ > ready; exec sleep 30"),
        );
        wait_pid(&d.join("ready"));
        let holder_pid = p.pid().to_string();

        let out = run_expect(
            d,
            &lock_args(
                kind,
                &["--conflict-exit-code", "9", "--no-wait"],
                "echo ran > ran",
            ),
            9,
        );
        assert!(stderr(&out).contains("busy"), "{kind}: {}", show(&out));
        run_expect(d, &lock_args(kind, &["-E", "9", "-n"], "echo ran > ran"), 9);
        let out = run_expect(d, &lock_args(kind, &["--no-wait"], "echo ran > ran"), 75);
        assert!(stderr(&out).contains(&holder_pid), "{kind}: {}", show(&out));

        let started = Instant::now();
        let out = run_expect(
            d,
            &lock_args(kind, &["--wait", "200ms"], "echo ran > ran"),
            75,
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(200),
            "{kind}: gave up after {waited:?}"
        );
        let msg = stderr(&out);
        assert!(msg.contains("timed out"), "{kind}: {}", show(&out));
        assert!(
            msg.contains(&format!("PID {holder_pid}")),
            "{kind}: message does not name holder PID {holder_pid}: {}",
            show(&out)
        );
        assert!(
            !exists(&d.join("ran")),
            "{kind}: a command ran while the lock was busy"
        );
        drop(p);
    }
}

#[test]
fn exit_codes_of_the_command_pass_through() {
    for kind in KINDS {
        let dir = tempdir();
        let d = dir.path();
        run_expect(d, &lock_args(kind, &[], "exit 7"), 7);
        run_expect(d, &lock_args(kind, &[], "kill -KILL $$"), 137);
        run_expect(d, &lock_args(kind, &[], "kill -TERM $$"), 143);
        let out = run_expect(
            d,
            &["lock", "--kind", kind, "L", "--", "pidward-no-such-command"],
            127,
        );
        assert!(
            stderr(&out).contains("pidward-no-such-command"),
            "{kind}: {}",
            show(&out)
        );
        fs::write(d.join("not-exec"), "#!/bin/sh\n").expect("write");
        run_expect(d, &["lock", "--kind", kind, "L", "--", "./not-exec"], 126);
        // None of these left the lock held.
        run_expect(d, &["holder", "L"], 1);
        run_expect(d, &lock_args(kind, &["--no-wait"], "exit 0"), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Generations and shared mode.

#[test]
fn generation_counts_acquisitions_and_survives_artefact_removal() {
    for kind in KINDS {
        let dir = tempdir();
        let d = dir.path();
        for _ in 0..3 {
            run_expect(
                d,
                &lock_args(kind, &[], "echo $PIDWARD_LOCK_GEN >> gens"),
                0,
            );
            if kind == "flock" {
                // Another tool may delete a flock file; the sidecar keeps the count.
                fs::remove_file(d.join("L")).expect("rm L");
            } else {
                assert!(!exists(&d.join("L")), "{kind}: artefact left");
            }
        }
        let gens = fs::read_to_string(d.join("gens")).expect("gens");
        assert_eq!(gens, "1\n2\n3\n", "{kind}");
        let sidecar = fs::read_to_string(d.join("L.gen")).expect("L.gen");
        assert_eq!(sidecar.trim(), "3", "{kind}");
        let (_, info) = holder_json(d);
        assert_eq!(info["generation"].as_u64(), Some(3), "{kind}: {info}");

        // The record of a holder carries its generation too.
        let p = spawn(
            d,
            "holder",
            &lock_args(kind, &[], "echo $PIDWARD_LOCK_GEN > ready; exec sleep 30"),
        );
        assert_eq!(wait_line(&d.join("ready")), "4", "{kind}");
        let rec = record(&d.join("L")).expect("record");
        assert_eq!(rec["generation"].as_u64(), Some(4), "{kind}: {rec}");
        drop(p);
    }
}

#[test]
fn shared_holders_coexist_and_exclude_an_exclusive_one() {
    let dir = tempdir();
    let d = dir.path();
    let a = spawn(
        d,
        "a",
        &[
            "lock",
            "--shared",
            "L",
            "--",
            "sh",
            "-c",
            "echo $$ > a; exec sleep 30",
        ],
    );
    let b = spawn(
        d,
        "b",
        &[
            "lock",
            "-s",
            "L",
            "--",
            "sh",
            "-c",
            "echo $$ > b; exec sleep 30",
        ],
    );
    // Both commands run at once: both hold it shared.
    wait_pid(&d.join("a"));
    wait_pid(&d.join("b"));
    run_expect(d, &["lock", "--no-wait", "L", "--", "true"], 75);
    assert_eq!(flock_n(d), 1, "flock -n got a shared-held lock");
    run_expect(d, &["lock", "--shared", "--no-wait", "L", "--", "true"], 0);
    let (code, info) = holder_json(d);
    assert_eq!(code, 0, "{info}");
    let shared: Vec<i64> = info["kernel"]
        .as_array()
        .expect("kernel")
        .iter()
        .filter(|k| k["mode"] == "shared")
        .filter_map(|k| k["pid"].as_i64())
        .collect();
    for p in [&a, &b] {
        assert!(
            shared.contains(&i64::from(p.pid())),
            "{} not a shared holder: {info}",
            p.pid()
        );
    }
    drop(a);
    drop(b);
    assert!(wait_until(PATIENCE, || flock_n(d) == 0), "still locked");

    for kind in ARTEFACT_KINDS {
        let out = run(d, &["lock", "--shared", "--kind", kind, "X", "--", "true"]);
        assert_ne!(out.status.code(), Some(0), "{kind}: {}", show(&out));
        assert!(stderr(&out).contains("shared"), "{kind}: {}", show(&out));
    }
}

// ---------------------------------------------------------------------------------------------
// 10. --pidfile.

#[test]
fn pidfile_holds_the_command_pid_while_it_runs() {
    for kind in KINDS {
        let dir = tempdir();
        let d = dir.path();
        let pidfile = d.join("run").join("cmd.pid");
        fs::create_dir(d.join("run")).expect("mkdir");
        let mut p = spawn(
            d,
            "holder",
            &lock_args(kind, &["--pidfile", "run/cmd.pid"], WAIT_FOR_STOP),
        );
        let child = wait_pid(&d.join("ready"));
        assert_ne!(child, p.pid());
        assert_eq!(wait_pid(&pidfile), child, "{kind}: pidfile");
        touch(&d.join("stop"));
        assert_eq!(
            exit_of(&mut p).code(),
            Some(0),
            "{kind}: {}",
            stderr_of(d, "holder")
        );
        assert!(
            !exists(&pidfile),
            "{kind}: pidfile left after the command exited"
        );
    }
}

#[test]
fn unwritable_pidfile_does_not_leave_the_command_running_unlocked() {
    let dir = tempdir();
    let d = dir.path();
    let mut p = spawn(
        d,
        "holder",
        &lock_args("soft", &["--pidfile", "no/such/dir/cmd.pid"], WAIT_FOR_STOP),
    );
    let status = exit_of(&mut p);
    // Whatever pidward decides (refuse before starting the command, or run it without a PID
    // file), it must not leave the command running outside the lock.
    let ready = d.join("ready");
    if wait_until(Duration::from_secs(2), || exists(&ready)) {
        let child = wait_pid(&ready);
        let still_running = alive(child);
        let lock_free = !exists(&d.join("L"));
        touch(&d.join("stop"));
        assert!(
            !(still_running && lock_free),
            "pidward lock exited ({status:?}) and released the lock, but the command PID {child} runs on: {}",
            stderr_of(d, "holder")
        );
    }
}

#[test]
fn a_binary_replaced_while_waiting_still_runs_the_command() {
    // A package upgrade (or a rebuild) replaces the binary while `pidward lock --wait` waits.
    let dir = tempdir();
    let d = dir.path();
    let copy = d.join("pidward-copy");
    fs::copy(bin(), &copy).expect("copy the binary");
    let mut cmd = Command::new(FLOCK_BIN);
    cmd.current_dir(d)
        .args(["L", "sh", "-c", WAIT_FOR_STOP])
        .stdin(Stdio::null());
    let mut flock1 = Proc::spawn(cmd);
    wait_pid(&d.join("ready"));
    let mut cmd = Command::new(&copy);
    cmd.current_dir(d)
        .args(["lock", "L", "--", "sh", "-c", "echo ran > ran"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(d.join("waiter.stderr")).expect("stderr file"));
    let mut waiter = Proc::spawn(cmd);
    assert!(
        wait_until(PATIENCE, || blocked_in_flock(waiter.pid())),
        "pidward lock never blocked on the kernel lock"
    );
    fs::remove_file(&copy).expect("rm");
    fs::copy(bin(), &copy).expect("copy the new binary");
    touch(&d.join("stop"));
    assert_eq!(exit_of(&mut flock1).code(), Some(0));
    let status = exit_of(&mut waiter);
    assert_eq!(
        status.code(),
        Some(0),
        "pidward lock: {}",
        stderr_of(d, "waiter")
    );
    assert_eq!(wait_line(&d.join("ran")), "ran");
}
