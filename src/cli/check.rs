//! `pidward check -c FILE [--json]`: load and validate a config (with its includes) and print a
//! summary; on any error print every one of them, one line each, and exit 2.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use pidward::config::{self, Config, ConfigErrors};
use pidward::exit::ExitStatus;

/// Validates the config at `config` (made absolute if it is not) and prints a summary, or every
/// error to stderr (and, with `json`, as JSON to stdout) and returns [`ExitStatus::Usage`].
///
/// # Errors
/// Only failures to write the output.
pub fn check(config: &Path, json: bool) -> anyhow::Result<ExitStatus> {
    let path = std::path::absolute(config)?;
    match config::load(&path) {
        Ok(config) => {
            let text = if json {
                format!("{}\n", summary_json(&config))
            } else {
                summary(&config)
            };
            std::io::stdout().lock().write_all(text.as_bytes())?;
            Ok(ExitStatus::Ok)
        }
        Err(errors) => {
            if json {
                let text = format!("{}\n", errors_json(&errors));
                std::io::stdout().lock().write_all(text.as_bytes())?;
            }
            let text = format!("{errors}\n");
            std::io::stderr().lock().write_all(text.as_bytes())?;
            Ok(ExitStatus::Usage)
        }
    }
}

/// The human summary: paths, then a table of the services in start order.
fn summary(config: &Config) -> String {
    let sup = &config.supervisor;
    let mut out = String::new();
    let _ = writeln!(out, "config: {} (valid)", config.path.display());
    for include in &config.includes {
        let _ = writeln!(out, "include: {}", include.display());
    }
    let _ = writeln!(out, "runtime dir: {}", sup.runtime_dir.display());
    let _ = writeln!(out, "log dir: {}", sup.log_dir.display());
    let count = config.services.len();
    let plural = if count == 1 { "" } else { "s" };
    let _ = writeln!(out, "{count} service{plural}, in start order:");
    let mut rows =
        vec![["NAME", "RESTART", "AUTOSTART", "DEPENDS_ON", "COMMAND"].map(String::from)];
    for name in config.start_order() {
        let Some(spec) = config.services.get(&name) else {
            continue;
        };
        let deps = if spec.depends_on.is_empty() {
            "-".to_owned()
        } else {
            spec.depends_on.join(",")
        };
        let autostart = if spec.autostart { "yes" } else { "no" };
        rows.push([
            name,
            spec.restart.to_string(),
            autostart.into(),
            deps,
            spec.command.to_string(),
        ]);
    }
    let width = |col: usize| {
        rows.iter()
            .map(|r| r[col].chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2), width(3)];
    for [name, restart, autostart, deps, command] in &rows {
        let [w0, w1, w2, w3] = widths;
        let _ = writeln!(
            out,
            "  {name:<w0$}  {restart:<w1$}  {autostart:<w2$}  {deps:<w3$}  {command}"
        );
    }
    out
}

/// The summary as one JSON object.
fn summary_json(config: &Config) -> Value {
    let services: Vec<Value> = config
        .start_order()
        .iter()
        .filter_map(|name| config.services.get(name))
        .map(|spec| {
            json!({
                "name": spec.name,
                "command": spec.command.argv(),
                "restart": spec.restart.as_str(),
                "autostart": spec.autostart,
                "depends_on": spec.depends_on,
            })
        })
        .collect();
    json!({
        "ok": true,
        "config": config.path.display().to_string(),
        "includes": config.includes.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "runtime_dir": config.supervisor.runtime_dir.display().to_string(),
        "log_dir": config.supervisor.log_dir.display().to_string(),
        "services": services,
    })
}

/// Every error as a JSON object with its parts.
fn errors_json(errors: &ConfigErrors) -> Value {
    let list: Vec<Value> = errors
        .0
        .iter()
        .map(|d| {
            json!({
                "file": d.file.display().to_string(),
                "line": d.position.map(|p| p.0),
                "column": d.position.map(|p| p.1),
                "key": if d.key.is_empty() { None } else { Some(&d.key) },
                "message": d.problem.to_string().trim().replace('\n', "; "),
                "text": d.to_string(),
            })
        })
        .collect();
    json!({ "ok": false, "errors": list })
}
