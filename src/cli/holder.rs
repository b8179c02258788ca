//! `pidward holder` and `pidward unlock`: who holds a lock, and asking them to let go.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::{HolderArgs, UnlockArgs};
use pidward::exit::ExitStatus;
use pidward::lock::{self, format_utc, HolderInfo, LockKind, Shape};
use pidward::process::{is_same_live_process, signal_verified, SystemTable};

/// Runs `pidward holder`: exit 0 held, 1 free.
pub fn holder(args: HolderArgs) -> anyhow::Result<ExitStatus> {
    let info = match lock::holder(&args.lockfile, args.kind) {
        Ok(info) => info,
        Err(e) => {
            // `holder` answers 0 held / 1 free, so an error must not look like "free".
            eprintln!(
                "pidward: {}: cannot examine the lock: {e}",
                args.lockfile.display()
            );
            return Ok(ExitStatus::Usage);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        print!("{}", render(&info));
    }
    Ok(if info.held {
        ExitStatus::Ok
    } else {
        ExitStatus::Failure
    })
}

/// The human-readable holder report.
fn render(info: &HolderInfo) -> String {
    let kind = info
        .kind
        .map_or("unknown kind".to_owned(), |k| k.to_string());
    if !info.held {
        return format!(
            "{}: free ({kind}), generation {}\n",
            info.path, info.generation
        );
    }
    let mut out = format!(
        "{}: held ({kind}), generation {}\n",
        info.path, info.generation
    );
    if let Some(r) = &info.record {
        out += &format!("  owner: PID {} on {}", r.pid, r.host);
        if let Some(command) = &info.command {
            out += &format!(" ({command})");
        }
        out += &format!(", since {}", format_utc(r.since_ms));
        if let Some(label) = &r.label {
            out += &format!(", label {label}");
        }
        if let Some(gen) = r.generation {
            out += &format!(", generation {gen}");
        }
        out.push('\n');
        if let Some(child) = r.child {
            out += &format!("  command: PID {}\n", child.pid);
        }
    } else if info.foreign {
        out += "  no pidward owner record (another tool's lock)\n";
    }
    for k in &info.kernel {
        out += &format!(
            "  kernel holder: PID {} ({}) {}\n",
            k.pid, k.mode, k.command
        );
    }
    if let Some(stale) = &info.stale {
        out += &format!("  stale: {stale}\n");
    }
    out
}

/// Runs `pidward unlock`: signal the verified holder, wait until the lock is free.
pub fn unlock(args: UnlockArgs) -> anyhow::Result<ExitStatus> {
    let path = &args.lockfile;
    let info = lock::holder(path, None)
        .with_context(|| format!("{}: cannot examine the lock", path.display()))?;
    if !info.held {
        println!("{}: already free", path.display());
        return Ok(ExitStatus::Ok);
    }
    let table = SystemTable::new();
    let target = info.record.as_ref().and_then(|r| {
        let here = pidward::process::host_facts();
        let local = r.host == here.host && r.boot_id == here.boot_id && r.pid_ns == here.pid_ns;
        r.processes()
            .find(|p| local && is_same_live_process(&table, p.pid, p.start_ticks))
    });
    match target {
        Some(p) => {
            signal_verified(p.pid, p.start_ticks, args.signal)
                .with_context(|| format!("signalling PID {}", p.pid))?;
            println!("{}: sent {} to PID {}", path.display(), args.signal, p.pid);
        }
        None => return unlock_unsignalled(&args, &info),
    }
    wait_free(&args, info.kind)
}

/// No holder we can safely signal: `--force` removes a soft/dir/lease artefact; a kernel lock
/// cannot be taken away.
fn unlock_unsignalled(args: &UnlockArgs, info: &HolderInfo) -> anyhow::Result<ExitStatus> {
    let path = &args.lockfile;
    let kind = info.kind.unwrap_or(LockKind::Soft);
    if kind == LockKind::Flock {
        let pids: Vec<String> = info.kernel.iter().map(|k| k.pid.to_string()).collect();
        bail!(
            "{}: the owner record does not name a live holder whose start time matches; kernel holders: {} (signal one yourself if you are sure)",
            path.display(),
            if pids.is_empty() { "none visible".to_owned() } else { pids.join(", ") }
        );
    }
    if !args.force {
        bail!(
            "{}: the holder cannot be signalled (no record, another host or namespace, or its PID no longer matches); use --force to remove the lock",
            path.display()
        );
    }
    let shape = if kind == LockKind::Dir {
        Shape::Dir
    } else {
        Shape::File
    };
    let removed = lock::remove_artefact(shape, path)
        .with_context(|| format!("{}: removing the lock", path.display()))?;
    println!(
        "{}: {}",
        path.display(),
        if removed {
            "removed by force"
        } else {
            "already gone"
        }
    );
    Ok(ExitStatus::Ok)
}

fn wait_free(args: &UnlockArgs, kind: Option<LockKind>) -> anyhow::Result<ExitStatus> {
    let deadline = Instant::now() + args.wait;
    let mut pause = Duration::from_millis(1);
    loop {
        let info = lock::holder(&args.lockfile, kind)?;
        // A soft/dir/lease artefact whose holder is gone is as good as free: the next locker
        // breaks it.
        if !info.held || info.stale.is_some() {
            println!("{}: free", args.lockfile.display());
            return Ok(ExitStatus::Ok);
        }
        if Instant::now() >= deadline {
            eprintln!(
                "pidward: {}: still held after {:?}",
                args.lockfile.display(),
                args.wait
            );
            return Ok(ExitStatus::Failure);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
