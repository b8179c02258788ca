//! The lock library in-process: reentrancy, modes, contention with other processes, waking,
//! generations, leases, stale detection, the breaking race and holder diagnostics.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use pidward::lock::{
    self, holder, kernel_holders, read_generation, sidecar_path, Lock, LockError, LockKind,
    LockMode, OwnerRecord, RECORD_VERSION,
};
use pidward::process::{host_facts, own_start_ticks, read_stat};

use crate::common::{self, wait_until, Proc, PATIENCE};

// ---------------------------------------------------------------------------------------------
// Helpers

/// True when another process can take an exclusive `flock` on `path` right now.
///
/// "Free" is polled for, never asserted at once: a process that another test thread is forking
/// shares this process's descriptors until it `exec`s, so a lock can outlive its guard by a
/// moment.
fn flock_free(path: &Path) -> bool {
    Command::new("/usr/bin/flock")
        .arg("-n")
        .arg(path)
        .arg("true")
        .stdin(Stdio::null())
        .status()
        .expect("run flock(1)")
        .success()
}

/// A process holding `flock [-s] PATH sleep 30`, returned once the kernel says it holds it.
fn flock_holder(path: &Path, shared: bool) -> Proc {
    let mut cmd = Command::new("/usr/bin/flock");
    if shared {
        cmd.arg("-s");
    }
    cmd.arg(path).args(["sleep", "30"]).stdin(Stdio::null());
    let proc_ = Proc::spawn(cmd);
    let pid = proc_.pid();
    assert!(
        wait_until(PATIENCE, || kernel_holders(path)
            .is_ok_and(|h| h.iter().any(|k| k.pid == pid))),
        "flock(1) never took {}",
        path.display()
    );
    proc_
}

/// The PID of a process that has exited and been reaped.
fn dead_pid() -> i32 {
    let mut child = Command::new("true").spawn().expect("spawn true");
    let pid = child.id() as i32;
    child.wait().expect("reap true");
    assert!(!common::alive(pid));
    pid
}

/// An owner record as another process would have written it, on this host by default.
fn record(kind: LockKind, pid: i32, start_ticks: u64) -> OwnerRecord {
    let here = host_facts();
    OwnerRecord {
        pidward: RECORD_VERSION,
        kind,
        mode: LockMode::Exclusive,
        pid,
        start_ticks,
        boot_id: here.boot_id.clone(),
        pid_ns: here.pid_ns,
        host: here.host.clone(),
        uid: nix::unistd::getuid().as_raw(),
        since_ms: 1_700_000_000_000,
        label: Some("planted".into()),
        child: None,
        token: format!("planted-{pid}-{start_ticks}"),
        generation: None,
        beat: 0,
        ttl_ms: (kind == LockKind::Lease).then_some(10_000),
    }
}

/// Puts a lock artefact of `kind` holding `rec` at `path`, as its holder would have left it.
fn plant(kind: LockKind, path: &Path, rec: &OwnerRecord) {
    match kind {
        LockKind::Dir => {
            fs::create_dir(path).expect("mkdir lock");
            fs::write(path.join("owner"), rec.encode()).expect("write owner");
        }
        _ => fs::write(path, rec.encode()).expect("write lock file"),
    }
}

/// The record now in the artefact at `path`.
fn on_disk(kind: LockKind, path: &Path) -> Option<OwnerRecord> {
    let file = match kind {
        LockKind::Dir => path.join("owner"),
        _ => path.to_path_buf(),
    };
    OwnerRecord::decode(&fs::read(file).ok()?)
}

fn busy_holder_pids(err: &LockError) -> Vec<i32> {
    match err {
        LockError::Busy { holder, .. } | LockError::Timeout { holder, .. } => holder.pids.clone(),
        other => panic!("expected contention, got {other:?}"),
    }
}

/// The decimal numbers in `text`, as separate tokens.
fn numbers_in(text: &str) -> Vec<i64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect()
}

fn me() -> i32 {
    std::process::id() as i32
}

// ---------------------------------------------------------------------------------------------
// Reentrancy and modes

#[test]
fn reentrant_flock_in_one_thread_and_across_threads_releases_after_the_last_guard() {
    let tmp = common::tempdir();
    let path = tmp.path().join("job.lock");
    let lock = Lock::new(&path);

    let first = lock.try_acquire().expect("first acquire");
    // A second open file description would conflict with the first: reentrancy must not open.
    let second = lock
        .try_acquire()
        .expect("reentrant acquire in the same thread");
    assert_eq!(first.record().token, second.record().token, "one holding");
    assert_eq!(first.raw_fd(), second.raw_fd(), "one descriptor");

    let (tx, rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let other_lock = lock.clone();
    let thread = std::thread::spawn(move || {
        let started = Instant::now();
        let third = other_lock.try_acquire();
        let token = third.as_ref().map(|g| g.record().token).ok();
        tx.send((token, started.elapsed())).expect("send");
        release_rx.recv().expect("told to release");
        drop(third);
    });
    let (token, took) = rx.recv_timeout(PATIENCE).expect("other thread answered");
    assert_eq!(token.as_deref(), Some(first.record().token.as_str()));
    assert!(took < Duration::from_secs(2), "reentry took {took:?}");

    assert!(!flock_free(&path), "held with three guards");
    drop(first);
    assert!(!flock_free(&path), "held with two guards");
    drop(second);
    assert!(!flock_free(&path), "held by the other thread's guard");
    release_tx.send(()).expect("release");
    thread.join().expect("thread");
    assert!(
        wait_until(PATIENCE, || flock_free(&path)),
        "free after the last guard"
    );
}

#[test]
fn reentrant_soft_lock_shares_one_artefact_under_two_spellings_of_the_path() {
    let tmp = common::tempdir();
    let path = tmp.path().join("job.lock");
    let other_spelling = tmp.path().join(".").join("job.lock");
    let a = Lock::new(&path)
        .kind(LockKind::Soft)
        .try_acquire()
        .expect("a");
    let b = Lock::new(&other_spelling)
        .kind(LockKind::Soft)
        .try_acquire()
        .expect("reentrant under another spelling");
    assert_eq!(a.record().token, b.record().token);
    assert_eq!(
        on_disk(LockKind::Soft, &path).map(|r| r.token),
        Some(a.record().token)
    );

    a.release().expect("release a");
    assert!(path.exists(), "still held by b");
    let info = holder(&path, None).expect("holder");
    assert!(info.held);
    assert_eq!(info.record.map(|r| r.pid), Some(me()));
    drop(b);
    assert!(!path.exists(), "removed with the last guard");
    assert!(!holder(&path, Some(LockKind::Soft)).expect("holder").held);
}

#[test]
fn shared_guard_blocks_an_exclusive_acquire_in_the_same_process() {
    let tmp = common::tempdir();
    let path = tmp.path().join("data.lock");
    let shared = Lock::new(&path).shared(true).try_acquire().expect("shared");
    let shared_again = Lock::new(&path)
        .shared(true)
        .try_acquire()
        .expect("a second shared guard reenters");

    let err = Lock::new(&path)
        .try_acquire()
        .expect_err("exclusive over shared");
    assert!(matches!(err, LockError::ModeConflict { .. }), "{err:?}");
    let err = Lock::new(&path)
        .acquire(Some(Duration::from_millis(100)))
        .expect_err("waiting does not help either");
    assert!(matches!(err, LockError::ModeConflict { .. }), "{err:?}");
    assert!(err.to_string().contains("shared"), "{err}");

    // Shared for real: another process may share it, but not take it exclusive.
    let shared_ok = Command::new("/usr/bin/flock")
        .args(["-s", "-n"])
        .arg(&path)
        .arg("true")
        .status()
        .expect("flock -s");
    assert!(shared_ok.success());
    assert!(!flock_free(&path));
    let info = holder(&path, None).expect("holder");
    assert!(info
        .kernel
        .iter()
        .any(|k| k.pid == me() && k.mode == LockMode::Shared));

    drop(shared);
    drop(shared_again);
    assert!(wait_until(PATIENCE, || flock_free(&path)));
    // Exclusive covers shared: a shared request under an exclusive guard reenters.
    let exclusive = Lock::new(&path).try_acquire().expect("exclusive");
    let inner = Lock::new(&path)
        .shared(true)
        .try_acquire()
        .expect("shared under exclusive");
    assert_eq!(exclusive.record().token, inner.record().token);
}

#[test]
fn shared_mode_is_refused_for_kinds_without_one() {
    let tmp = common::tempdir();
    for kind in [LockKind::Soft, LockKind::Dir, LockKind::Lease] {
        let path = tmp.path().join(format!("{kind}.lock"));
        let err = Lock::new(&path)
            .kind(kind)
            .shared(true)
            .try_acquire()
            .expect_err("shared on a polled kind");
        assert!(
            matches!(&err, LockError::SharedUnsupported { kind: k, .. } if *k == kind),
            "{err:?}"
        );
        assert!(!path.exists(), "{kind}: nothing created");
    }
}

// ---------------------------------------------------------------------------------------------
// Contention with another process

#[test]
fn busy_and_timeout_name_the_other_process() {
    let tmp = common::tempdir();
    let path = tmp.path().join("busy.lock");
    let other = flock_holder(&path, false);
    let lock = Lock::new(&path);

    let err = lock.try_acquire().expect_err("held elsewhere");
    assert!(matches!(err, LockError::Busy { .. }), "{err:?}");
    assert!(err.is_contention());
    assert!(busy_holder_pids(&err).contains(&other.pid()), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("busy"), "{text}");
    assert!(
        numbers_in(&text).contains(&i64::from(other.pid())),
        "{text} should name PID {}",
        other.pid()
    );

    let started = Instant::now();
    let err = lock
        .acquire(Some(Duration::from_millis(300)))
        .expect_err("held elsewhere");
    let took = started.elapsed();
    match &err {
        LockError::Timeout { waited, .. } => {
            assert!(*waited >= Duration::from_millis(300), "{waited:?}")
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(
        took >= Duration::from_millis(300),
        "gave up early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "overslept: {took:?}");
    assert!(busy_holder_pids(&err).contains(&other.pid()));
    assert!(numbers_in(&err.to_string()).contains(&i64::from(other.pid())));

    // The abandoned waiter must not keep the lock once it is free.
    drop(other);
    let guard = lock
        .acquire(Some(PATIENCE))
        .expect("free after the holder died");
    assert!(!flock_free(&path));
    drop(guard);
    assert!(wait_until(PATIENCE, || flock_free(&path)));
}

/// How many processes `/proc/locks` shows blocked waiting for a `flock` on `path`'s inode.
fn blocked_waiters(path: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let Ok(ino) = fs::metadata(path).map(|m| m.ino()) else {
        return 0;
    };
    let suffix = format!(":{ino}");
    fs::read_to_string("/proc/locks").map_or(0, |t| {
        t.lines()
            .filter(|l| l.contains("->") && l.split_whitespace().any(|f| f.ends_with(&suffix)))
            .count()
    })
}

fn has_blocked_waiter(path: &Path) -> bool {
    blocked_waiters(path) > 0
}

#[test]
fn a_blocked_flock_waiter_wakes_promptly_when_the_holder_goes() {
    let tmp = common::tempdir();
    let path = tmp.path().join("wake.lock");
    let other = flock_holder(&path, false);

    let (tx, rx) = mpsc::channel();
    let waiter_path = path.clone();
    let waiter = std::thread::spawn(move || {
        let guard = Lock::new(&waiter_path).acquire(None);
        let at = Instant::now();
        let ok = guard.is_ok();
        tx.send((ok, at)).expect("send");
        drop(guard);
    });
    assert!(
        wait_until(PATIENCE, || has_blocked_waiter(&path)),
        "the waiter never blocked in the kernel"
    );
    assert!(rx.try_recv().is_err(), "acquired while held elsewhere");

    let released = Instant::now();
    drop(other); // SIGKILL and reap: the kernel drops the lock
    let (ok, acquired) = rx.recv_timeout(PATIENCE).expect("waiter woke");
    assert!(ok, "acquire(None) failed");
    let delay = acquired.saturating_duration_since(released);
    assert!(
        delay < Duration::from_secs(1),
        "woke {delay:?} after the release"
    );
    waiter.join().expect("waiter");
}

// ---------------------------------------------------------------------------------------------
// Removal and generations

#[test]
fn remove_on_release_removes_the_file_and_generations_count_up() {
    let tmp = common::tempdir();
    let path = tmp.path().join("gen.lock");
    let lock = Lock::new(&path).remove_on_release(true).generation(true);
    for want in 1..=3u64 {
        let guard = lock.try_acquire().expect("acquire");
        assert_eq!(guard.generation(), Some(want));
        assert_eq!(guard.record().generation, Some(want));
        assert_eq!(read_generation(&path), want);
        assert_eq!(
            on_disk(LockKind::Flock, &path).and_then(|r| r.generation),
            Some(want)
        );
        assert!(path.exists());
        guard.release().expect("release");
        assert!(!path.exists(), "removed on release (round {want})");
        assert!(
            sidecar_path(&path).exists(),
            "the .gen sidecar is never removed"
        );
        assert_eq!(read_generation(&path), want, "the generation survives");
    }
    assert_eq!(
        fs::read_to_string(sidecar_path(&path)).expect("sidecar"),
        "3\n"
    );

    // Without remove_on_release the file stays (holding the last record), free.
    let keep = tmp.path().join("keep.lock");
    drop(Lock::new(&keep).try_acquire().expect("acquire"));
    assert!(keep.exists());
    assert!(wait_until(PATIENCE, || flock_free(&keep)));
    assert!(
        !sidecar_path(&keep).exists(),
        "no generation asked, no sidecar"
    );
}

#[test]
fn polled_kinds_keep_the_generation_sidecar_when_the_artefact_goes() {
    let tmp = common::tempdir();
    for kind in [LockKind::Soft, LockKind::Dir, LockKind::Lease] {
        let path = tmp.path().join(format!("{kind}.lock"));
        let lock = Lock::new(&path).kind(kind).generation(true);
        for want in 1..=3u64 {
            let guard = lock.try_acquire().expect("acquire");
            assert_eq!(guard.generation(), Some(want), "{kind}");
            assert_eq!(
                on_disk(kind, &path).and_then(|r| r.generation),
                Some(want),
                "{kind}"
            );
            assert_eq!(read_generation(&path), want);
            drop(guard);
            assert!(!path.exists(), "{kind}: artefact removed");
            assert!(sidecar_path(&path).exists(), "{kind}: sidecar kept");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Leases

#[test]
fn a_held_lease_renews_its_record() {
    let tmp = common::tempdir();
    let path = tmp.path().join("lease.lock");
    let guard = Lock::new(&path)
        .kind(LockKind::Lease)
        .ttl(Duration::from_millis(300))
        .try_acquire()
        .expect("lease");
    let first = on_disk(LockKind::Lease, &path).expect("record");
    assert_eq!(first.ttl_ms, Some(300));
    assert_eq!(first.token, guard.record().token);
    assert!(
        wait_until(PATIENCE, || on_disk(LockKind::Lease, &path)
            .is_some_and(|r| r.beat >= first.beat + 3)),
        "the beat did not grow"
    );
    let later = on_disk(LockKind::Lease, &path).expect("record");
    assert_eq!(later.token, first.token, "renewed, not replaced");
    assert!(guard.record().beat >= 3);
    assert!(!guard.lease_lost());
    drop(guard);
    assert!(!path.exists());
}

#[test]
fn a_replaced_lease_is_reported_lost() {
    let tmp = common::tempdir();
    let path = tmp.path().join("lease.lock");
    let fired: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
    let seen = Arc::clone(&fired);
    let guard = Lock::new(&path)
        .kind(LockKind::Lease)
        .ttl(Duration::from_millis(300))
        .on_lease_lost(move |p| seen.lock().expect("mutex").push(p.to_path_buf()))
        .try_acquire()
        .expect("lease");
    assert!(!guard.lease_lost());

    // Another party takes the lease over: a record of its own, written atomically.
    let mut intruder = on_disk(LockKind::Lease, &path).expect("record");
    intruder.token = "intruder-token".into();
    intruder.pid = 1;
    let tmp_file = tmp.path().join("intruder.tmp");
    fs::write(&tmp_file, intruder.encode()).expect("write");
    fs::rename(&tmp_file, &path).expect("rename");

    assert!(
        wait_until(PATIENCE, || !fired.lock().expect("mutex").is_empty()),
        "on_lease_lost never fired"
    );
    assert!(guard.lease_lost());
    assert_eq!(fired.lock().expect("mutex").len(), 1, "fired once");
    assert!(fired.lock().expect("mutex")[0].ends_with("lease.lock"));

    // Releasing a lost lease leaves the new holder's record alone.
    drop(guard);
    assert_eq!(
        on_disk(LockKind::Lease, &path).map(|r| r.token),
        Some("intruder-token".to_owned())
    );
}

#[test]
fn a_lost_lease_is_not_reentered() {
    let tmp = common::tempdir();
    let path = tmp.path().join("lease.lock");
    let lock = Lock::new(&path)
        .kind(LockKind::Lease)
        .ttl(Duration::from_millis(300));
    let guard = lock.try_acquire().expect("lease");
    let mut intruder = on_disk(LockKind::Lease, &path).expect("record");
    intruder.token = "intruder-token".into();
    let tmp_file = tmp.path().join("intruder.tmp");
    fs::write(&tmp_file, intruder.encode()).expect("write");
    fs::rename(&tmp_file, &path).expect("rename");
    assert!(wait_until(PATIENCE, || guard.lease_lost()));

    // The lease is someone else's now: this process must not be handed it again.
    let again = lock.try_acquire();
    let lost_again = again.as_ref().map(|g| g.lease_lost()).ok();
    drop(again);
    drop(guard);
    assert_eq!(
        lost_again, None,
        "try_acquire returned a guard on a lost lease"
    );
}

#[test]
fn a_lease_whose_holder_stops_renewing_expires_after_its_ttl() {
    let tmp = common::tempdir();
    let path = tmp.path().join("lease.lock");
    let mut cmd = common::pidward(
        tmp.path(),
        &[
            "lock",
            "--kind",
            "lease",
            "--ttl",
            "300ms",
            "lease.lock",
            "--",
            "sleep",
            "30",
        ],
    );
    cmd.stdin(Stdio::null());
    let holder_proc = Proc::spawn(cmd);
    assert!(
        wait_until(PATIENCE, || on_disk(LockKind::Lease, &path)
            .is_some_and(|r| r.child.is_some())),
        "pidward lock never recorded its command"
    );
    let lock = Lock::new(&path).kind(LockKind::Lease);
    let err = lock.try_acquire().expect_err("a live, renewed lease");
    assert!(
        busy_holder_pids(&err).contains(&holder_proc.pid()),
        "{err:?}"
    );

    // Freeze the holder: its process and command stay alive, but the heartbeat stops. Not in
    // the middle of a renewal, though: a holder stopped while it holds the sidecar's flock
    // blocks every waiter (see `a_busy_sidecar_does_not_stretch_try_acquire`).
    let sidecar = sidecar_path(&path);
    let mut tries = 0;
    loop {
        holder_proc.signal(Signal::SIGSTOP);
        assert!(wait_until(PATIENCE, || read_stat(holder_proc.pid())
            .is_some_and(|s| s.state == 'T')));
        let in_renewal =
            kernel_holders(&sidecar).is_ok_and(|h| h.iter().any(|k| k.pid == holder_proc.pid()));
        if !in_renewal {
            break;
        }
        tries += 1;
        assert!(tries < 50, "always stopped mid-renewal");
        holder_proc.signal(Signal::SIGCONT);
    }
    let started = Instant::now();
    let guard = lock.acquire(Some(PATIENCE)).expect("expired lease taken");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "broken before its ttl: {took:?}"
    );
    assert!(
        common::alive(holder_proc.pid()),
        "the holder was alive all along"
    );
    assert_eq!(on_disk(LockKind::Lease, &path).map(|r| r.pid), Some(me()));
    drop(guard);
}

// ---------------------------------------------------------------------------------------------
// Stale detection

#[test]
fn a_soft_lock_of_a_dead_or_reused_pid_is_broken_and_a_live_one_is_not() {
    let tmp = common::tempdir();
    let path = tmp.path().join("soft.lock");
    let lock = Lock::new(&path).kind(LockKind::Soft);

    let dead = record(LockKind::Soft, dead_pid(), 4242);
    plant(LockKind::Soft, &path, &dead);
    let guard = lock.try_acquire().expect("dead owner's lock is broken");
    let now = on_disk(LockKind::Soft, &path).expect("record");
    assert_eq!(now.pid, me());
    assert_ne!(now.token, dead.token);
    drop(guard);
    assert!(!path.exists());

    // A live process on this host, with its true start ticks: held.
    let mut sleeper_cmd = Command::new("sleep");
    sleeper_cmd.arg("30");
    let sleeper = Proc::spawn(sleeper_cmd);
    let ticks = read_stat(sleeper.pid()).expect("stat").start_ticks;
    plant(
        LockKind::Soft,
        &path,
        &record(LockKind::Soft, sleeper.pid(), ticks),
    );
    let err = lock.try_acquire().expect_err("live owner");
    assert!(busy_holder_pids(&err).contains(&sleeper.pid()), "{err:?}");
    assert!(numbers_in(&err.to_string()).contains(&i64::from(sleeper.pid())));
    assert_eq!(
        on_disk(LockKind::Soft, &path).map(|r| r.pid),
        Some(sleeper.pid())
    );
    fs::remove_file(&path).expect("rm");

    // The same live PID with other start ticks: the PID was reused, the owner is gone.
    plant(
        LockKind::Soft,
        &path,
        &record(LockKind::Soft, sleeper.pid(), ticks + 1),
    );
    let guard = lock.try_acquire().expect("reused PID's lock is broken");
    assert_eq!(on_disk(LockKind::Soft, &path).map(|r| r.pid), Some(me()));
    drop(guard);
}

#[test]
fn a_record_from_another_boot_of_this_host_is_broken() {
    let tmp = common::tempdir();
    let path = tmp.path().join("soft.lock");
    // Even naming this very process, alive, with its true start ticks.
    let mut rec = record(LockKind::Soft, me(), own_start_ticks());
    rec.boot_id = "00000000-0000-0000-0000-000000000000".into();
    assert_ne!(rec.boot_id, host_facts().boot_id);
    plant(LockKind::Soft, &path, &rec);
    let guard = Lock::new(&path)
        .kind(LockKind::Soft)
        .try_acquire()
        .expect("earlier boot's lock is broken");
    assert_eq!(
        on_disk(LockKind::Soft, &path).map(|r| r.boot_id),
        Some(host_facts().boot_id.clone())
    );
    drop(guard);
}

#[test]
fn a_record_from_another_host_is_held_until_stale_after() {
    let tmp = common::tempdir();
    let path = tmp.path().join("soft.lock");
    let mut rec = record(LockKind::Soft, dead_pid(), 1);
    rec.host = "elsewhere.invalid".into();
    rec.boot_id = "their-boot".into();
    plant(LockKind::Soft, &path, &rec);

    let lock = Lock::new(&path).kind(LockKind::Soft);
    let err = lock
        .try_acquire()
        .expect_err("another host's PID means nothing here");
    assert!(err.to_string().contains("elsewhere.invalid"), "{err}");
    let err = lock
        .acquire(Some(Duration::from_millis(300)))
        .expect_err("nor does waiting");
    assert!(matches!(err, LockError::Timeout { .. }), "{err:?}");
    assert_eq!(
        on_disk(LockKind::Soft, &path),
        Some(rec.clone()),
        "untouched"
    );

    let patient = lock.clone().stale_after(Some(Duration::from_millis(200)));
    let err = patient
        .try_acquire()
        .expect_err("not unchanged for 200ms yet");
    assert!(err.is_contention());
    let started = Instant::now();
    let guard = patient
        .acquire(Some(PATIENCE))
        .expect("broken by stale_after");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200), "broken early: {took:?}");
    assert_eq!(on_disk(LockKind::Soft, &path).map(|r| r.pid), Some(me()));
    drop(guard);
}

#[test]
fn a_busy_sidecar_delays_acquire_only_briefly() {
    // A pidward process stopped (SIGSTOP, swap, a hung NFS server) while it breaks, renews or
    // releases a lock holds the sidecar's flock; stand-in: flock(1) on the sidecar.
    let tmp = common::tempdir();
    let path = tmp.path().join("soft.lock");
    let planted = record(LockKind::Soft, dead_pid(), 1);
    plant(LockKind::Soft, &path, &planted);
    let sidecar_holder = flock_holder(&sidecar_path(&path), false);
    let (tx, rx) = mpsc::channel();
    let thread_path = path.clone();
    let thread = std::thread::spawn(move || {
        let lock = Lock::new(&thread_path).kind(LockKind::Soft);
        let started = Instant::now();
        let tried = lock.try_acquire().map(drop).map_err(|e| e.to_string());
        let _ = tx.send(("try_acquire", tried, started.elapsed()));
        let started = Instant::now();
        let waited = lock
            .acquire(Some(Duration::from_millis(300)))
            .map(drop)
            .map_err(|e| e.to_string());
        let _ = tx.send(("acquire(300ms)", waited, started.elapsed()));
    });
    // Both answer while the sidecar is still held: bounded, not hung.
    let first = rx.recv_timeout(Duration::from_secs(6));
    let second = first
        .is_ok()
        .then(|| rx.recv_timeout(Duration::from_secs(6)));
    // Let the thread finish whatever happened, so nothing is left blocked.
    drop(sidecar_holder);
    thread.join().expect("thread");
    let (what, result, took) =
        first.unwrap_or_else(|_| panic!("try_acquire blocked for >6s on the sidecar"));
    assert!(took < Duration::from_secs(5), "{what} took {took:?}");
    assert!(result.is_err(), "{what} broke a lock without the sidecar");
    let (what, result, took) = second
        .expect("asked")
        .unwrap_or_else(|_| panic!("acquire(300ms) blocked for >6s on the sidecar"));
    assert!(took < Duration::from_secs(5), "{what} took {took:?}");
    assert!(result.is_err(), "{what} broke a lock without the sidecar");
    assert_eq!(on_disk(LockKind::Soft, &path), Some(planted), "left alone");

    // Once the sidecar is free, the stale lock is broken as usual.
    let guard = Lock::new(&path)
        .kind(LockKind::Soft)
        .acquire(Some(PATIENCE))
        .expect("broken once the sidecar is free");
    assert_eq!(on_disk(LockKind::Soft, &path).map(|r| r.pid), Some(me()));
    drop(guard);
}

#[test]
fn a_foreign_soft_file_is_held_and_only_stale_after_breaks_it() {
    let tmp = common::tempdir();
    let path = tmp.path().join("soft.lock");
    fs::write(&path, "hello").expect("write");
    let lock = Lock::new(&path).kind(LockKind::Soft);
    let err = lock.try_acquire().expect_err("foreign content is held");
    assert!(err.to_string().contains("another tool"), "{err}");
    assert!(lock.acquire(Some(Duration::from_millis(200))).is_err());
    assert_eq!(fs::read_to_string(&path).expect("read"), "hello");
    let info = holder(&path, Some(LockKind::Soft)).expect("holder");
    assert!(
        info.held && info.foreign && info.stale.is_none(),
        "{info:?}"
    );

    let started = Instant::now();
    let guard = lock
        .stale_after(Some(Duration::from_millis(200)))
        .acquire(Some(PATIENCE))
        .expect("broken by stale_after");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(on_disk(LockKind::Soft, &path).map(|r| r.pid), Some(me()));
    drop(guard);
    assert!(!path.exists());
}

// ---------------------------------------------------------------------------------------------
// The breaking race: eight processes find one stale lock at once

const RACERS: usize = 8;
const ROUNDS: usize = 10;

fn won_lines(dir: &Path) -> usize {
    fs::read_to_string(dir.join("winners"))
        .map(|t| t.lines().filter(|l| *l == "won").count())
        .unwrap_or(0)
}

fn race(kind: LockKind) {
    let tmp = common::tempdir();
    let dead = dead_pid();
    for round in 0..ROUNDS {
        let dir = tmp.path().join(format!("round{round}"));
        fs::create_dir(&dir).expect("mkdir");
        plant(
            kind,
            &dir.join("LOCK"),
            &record(kind, dead, 99 + round as u64),
        );
        // Winners hold the lock until the test says `done`, so a slow starter cannot win late.
        let script = "echo won >> winners; while [ ! -e done ]; do sleep 0.05; done";
        // All racers queue on a gate this test holds, and start together when it opens.
        let gate_path = dir.join("gate");
        let gate = fs::File::create(&gate_path).expect("gate");
        gate.lock().expect("close the gate");
        let mut racers: Vec<Proc> = (0..RACERS)
            .map(|_| {
                let mut cmd = Command::new("/usr/bin/flock");
                cmd.current_dir(&dir)
                    .args(["-s", "-o", "gate"])
                    .arg(common::bin())
                    .args(["lock", "--kind", kind.as_str(), "--no-wait", "LOCK", "--"])
                    .args(["sh", "-c", script])
                    .env_remove("RUST_LOG")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
                Proc::spawn(cmd)
            })
            .collect();
        assert!(
            wait_until(PATIENCE, || blocked_waiters(&gate_path) == RACERS),
            "{kind} round {round}: the racers never lined up at the gate"
        );
        drop(gate);
        let mut codes: Vec<Option<i32>> = vec![None; RACERS];
        let poll = |racers: &mut [Proc], codes: &mut [Option<i32>]| {
            for (p, code) in racers.iter_mut().zip(codes.iter_mut()) {
                if code.is_none() {
                    if let Some(status) = p.child.try_wait().expect("try_wait") {
                        *code = Some(status.code().unwrap_or(-1));
                    }
                }
            }
            codes.iter().filter(|c| c.is_some()).count()
        };
        let settled = wait_until(PATIENCE, || {
            poll(&mut racers, &mut codes) + won_lines(&dir) >= RACERS
        });
        fs::write(dir.join("done"), "").expect("done");
        let finished = wait_until(PATIENCE, || poll(&mut racers, &mut codes) == RACERS);
        let mut errors = String::new();
        for p in &mut racers {
            if let Some(mut err) = p.child.stderr.take() {
                let _ = err.read_to_string(&mut errors);
            }
        }
        assert!(
            settled && finished,
            "{kind} round {round}: racers hung; {codes:?}\n{errors}"
        );
        let mut codes: Vec<i32> = codes.into_iter().map(|c| c.unwrap_or(-1)).collect();
        codes.sort_unstable();
        assert_eq!(
            won_lines(&dir),
            1,
            "{kind} round {round}: {codes:?}\n{errors}"
        );
        let mut want = vec![75; RACERS];
        want[0] = 0;
        assert_eq!(codes, want, "{kind} round {round}\n{errors}");
        assert!(
            !dir.join("LOCK").exists(),
            "{kind} round {round}: winner released"
        );
    }
}

#[test]
fn exactly_one_of_eight_processes_breaks_a_stale_soft_lock() {
    race(LockKind::Soft);
}

#[test]
fn exactly_one_of_eight_processes_breaks_a_stale_dir_lock() {
    race(LockKind::Dir);
}

#[test]
fn exactly_one_of_eight_processes_breaks_a_stale_lease() {
    race(LockKind::Lease);
}

// ---------------------------------------------------------------------------------------------
// holder()

#[test]
fn holder_reports_dir_locks_kernel_holders_and_free_files() {
    let tmp = common::tempdir();

    let dir_lock = tmp.path().join("d.lock");
    let guard = Lock::new(&dir_lock)
        .kind(LockKind::Dir)
        .label("web")
        .try_acquire()
        .expect("dir");
    let info = holder(&dir_lock, None).expect("holder");
    assert_eq!(info.kind, Some(LockKind::Dir));
    assert!(
        info.held && !info.foreign && info.stale.is_none(),
        "{info:?}"
    );
    let rec = info.record.expect("record");
    assert_eq!(
        (rec.pid, rec.kind, rec.label.as_deref()),
        (me(), LockKind::Dir, Some("web"))
    );
    drop(guard);
    let info = holder(&dir_lock, None).expect("holder");
    assert!(!info.held, "{info:?}");

    let excl = tmp.path().join("x.lock");
    let other = flock_holder(&excl, false);
    let info = holder(&excl, None).expect("holder");
    assert_eq!(info.kind, Some(LockKind::Flock));
    assert!(info.held);
    let k = info
        .kernel
        .iter()
        .find(|k| k.pid == other.pid())
        .expect("flock(1) listed");
    assert_eq!(k.mode, LockMode::Exclusive);
    assert!(k.command.contains("sleep 30"), "{k:?}");
    drop(other);
    // flock(1)'s child dies with it, but may close the descriptor a moment later.
    assert!(wait_until(PATIENCE, || !holder(&excl, None)
        .expect("holder")
        .held));
    let info = holder(&excl, None).expect("holder");
    assert!(!info.held && info.kernel.is_empty(), "{info:?}");

    let shared = tmp.path().join("s.lock");
    let readers = flock_holder(&shared, true);
    let info = holder(&shared, None).expect("holder");
    assert!(info.held);
    assert!(info
        .kernel
        .iter()
        .any(|k| k.pid == readers.pid() && k.mode == LockMode::Shared));
    drop(readers);

    // A free flock file that still carries our last record: free, kind flock.
    let used = tmp.path().join("used.lock");
    drop(Lock::new(&used).try_acquire().expect("acquire"));
    assert!(wait_until(PATIENCE, || !holder(&used, None)
        .expect("holder")
        .held));
    let info = holder(&used, None).expect("holder");
    assert_eq!(info.kind, Some(LockKind::Flock));
    assert!(!info.held && info.kernel.is_empty(), "{info:?}");
    assert_eq!(info.record.map(|r| r.pid), Some(me()));

    // Nothing there at all.
    let info = holder(&tmp.path().join("none.lock"), None).expect("holder");
    assert!(!info.held && info.record.is_none());
}

#[test]
fn remove_artefact_removes_whoever_holds_it() {
    let tmp = common::tempdir();
    let path = tmp.path().join("soft.lock");
    let mut rec = record(LockKind::Soft, 1, 1);
    rec.host = "elsewhere.invalid".into();
    plant(LockKind::Soft, &path, &rec);
    assert!(lock::remove_artefact(lock::Shape::File, &path).expect("remove"));
    assert!(!path.exists());
    assert!(!lock::remove_artefact(lock::Shape::File, &path).expect("remove"));
}
