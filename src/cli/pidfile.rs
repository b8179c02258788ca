//! `pidward pidfile check`: the LSB status of a PID file, optionally removing a stale one.

use std::path::Path;

use serde_json::json;

use pidward::exit::ExitStatus;
use pidward::pidfile::{self, PidFileStatus, StaleKind};
use pidward::process::SystemTable;

/// Runs `pidward pidfile check`: exit 0 running, 1 stale, 3 missing, 4 invalid.
pub fn check(path: &Path, clean: bool, json: bool) -> anyhow::Result<ExitStatus> {
    let table = SystemTable::new();
    let status = pidfile::status(path, &table);
    let mut removed = false;
    let (code, word, pid, reason) = match &status {
        PidFileStatus::Running { pid } => (ExitStatus::Ok, "running", Some(*pid), String::new()),
        PidFileStatus::Stale { pid, reason } => {
            if clean && may_clean(path, *reason) {
                removed = pidfile::remove_if_ours(path, *pid)?;
            }
            (ExitStatus::Failure, "stale", Some(*pid), reason.to_string())
        }
        PidFileStatus::Missing => (
            ExitStatus::NotRunning,
            "missing",
            None,
            "no such file".to_owned(),
        ),
        PidFileStatus::Invalid { content } => (
            ExitStatus::Invalid,
            "invalid",
            None,
            format!("content is {content:?}, not a PID"),
        ),
    };
    if json {
        let value = json!({
            "path": path.display().to_string(),
            "status": word,
            "pid": pid,
            "reason": if reason.is_empty() { None } else { Some(&reason) },
            "removed": removed,
        });
        println!("{value}");
    } else {
        let mut line = format!("{}: {word}", path.display());
        if let Some(pid) = pid {
            line += &format!(", PID {pid}");
        }
        if !reason.is_empty() {
            line += &format!(": {reason}");
        }
        if removed {
            line += " (removed)";
        } else if clean && word == "stale" {
            line +=
                " (kept: the PID is alive and the file is not pidward's, so reuse is only a guess)";
        }
        println!("{line}");
    }
    Ok(code)
}

/// `--clean` removes on Dead, Zombie and OtherBoot, and on Reused only for files pidward wrote
/// (the reuse verdict on a foreign file is a heuristic a clock step can fool).
fn may_clean(path: &Path, reason: StaleKind) -> bool {
    reason != StaleKind::Reused || pidfile::written_by_pidward(path)
}
