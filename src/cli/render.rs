//! Pure rendering of control responses for people: the status table and outcome lines.

use pidward::control::protocol::{Outcome, ReloadSummary, ServiceStatus};

/// `1h02m`, `3m05s`, `42s`, `2d03h`.
pub fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// The status table: name, state, pid, uptime, restarts, last exit, and why (for BACKOFF,
/// FATAL, EXITED).
pub fn status_table(services: &[ServiceStatus]) -> String {
    let rows: Vec<[String; 7]> = services
        .iter()
        .map(|s| {
            let running = s.state == "RUNNING";
            let info = if matches!(
                s.state.as_str(),
                "BACKOFF" | "FATAL" | "EXITED" | "STARTING" | "STOPPING"
            ) {
                s.reason.clone()
            } else {
                String::new()
            };
            [
                s.name.clone(),
                s.state.clone(),
                s.pid.map_or("-".into(), |p| p.to_string()),
                if running {
                    duration(s.uptime_secs)
                } else {
                    "-".into()
                },
                s.restarts.to_string(),
                s.last_exit.clone().unwrap_or_else(|| "-".into()),
                info,
            ]
        })
        .collect();
    let header = [
        "NAME",
        "STATE",
        "PID",
        "UPTIME",
        "RESTARTS",
        "LAST EXIT",
        "INFO",
    ]
    .map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out += line.join("  ").trim_end();
        out.push('\n');
    }
    out
}

/// One line per start/stop/restart/signal/wait outcome.
pub fn outcomes(list: &[Outcome]) -> String {
    list.iter()
        .map(|o| {
            format!(
                "{}: {}{}\n",
                o.name,
                if o.ok { "" } else { "ERROR " },
                if o.message.is_empty() {
                    o.state.to_lowercase()
                } else {
                    o.message.clone()
                }
            )
        })
        .collect()
}

/// What a reload did.
pub fn reload(summary: &ReloadSummary) -> String {
    let mut out = String::new();
    for (word, names) in [
        ("added", &summary.added),
        ("removed", &summary.removed),
        ("changed", &summary.changed),
    ] {
        for name in names {
            out += &format!("{name}: {word}\n");
        }
    }
    out += &format!(
        "reloaded: {} added, {} removed, {} changed, {} unchanged\n",
        summary.added.len(),
        summary.removed.len(),
        summary.changed.len(),
        summary.unchanged.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(185), "3m05s");
        assert_eq!(duration(3720), "1h02m");
        assert_eq!(duration(183_600), "2d03h");
    }

    #[test]
    fn table_aligns_and_explains_failures() {
        let s = |name: &str, state: &str, pid, reason: &str| ServiceStatus {
            name: name.into(),
            state: state.into(),
            pid,
            uptime_secs: 65,
            restarts: 2,
            last_exit: Some("exit status 3".into()),
            reason: reason.into(),
            autostart: true,
        };
        let table = status_table(&[
            s("web", "RUNNING", Some(42), "up"),
            s("db-primary", "FATAL", None, "gave up"),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "NAME        STATE    PID  UPTIME  RESTARTS  LAST EXIT      INFO"
        );
        assert_eq!(
            lines[1],
            "web         RUNNING  42   1m05s   2         exit status 3"
        );
        assert_eq!(
            lines[2],
            "db-primary  FATAL    -    -       2         exit status 3  gave up"
        );
    }
}
