//! `pidward check -c FILE [--json]`: the real binary on real files. A valid config prints a
//! summary and exits 0; every config error exits 2 with one `FILE:LINE:COL: KEY: …` line each.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common;

/// The repository's `config/` directory.
fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// Runs `pidward check` in `dir` with a controlled environment (non-root defaults apply only
/// when not root; either way the runtime dir must not depend on the caller's session).
fn check(dir: &Path, args: &[&str]) -> Output {
    let mut full = vec!["check"];
    full.extend_from_slice(args);
    common::pidward(dir, &full)
        .env_remove("RUNTIME_DIRECTORY")
        .env("XDG_RUNTIME_DIR", dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run pidward check")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `pidward.toml` into a fresh temp dir.
fn with_config(content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = common::tempdir();
    let path = dir.path().join("pidward.toml");
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

#[test]
fn the_demo_config_is_valid_and_summarized() {
    let dir = common::tempdir();
    let demo = examples().join("demo.toml");
    let out = check(dir.path(), &["-c", demo.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("config: {} (valid)", demo.display())),
        "{stdout}"
    );
    assert!(stdout.contains("3 services, in start order:"), "{stdout}");
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("NAME"))
        .map(|l| l.split_whitespace().take(4).collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["NAME", "RESTART", "AUTOSTART", "DEPENDS_ON"],
            ["ticker", "always", "yes", "-"],
            ["web", "on-failure", "yes", "-"],
            ["worker", "always", "yes", "ticker"],
        ],
        "{stdout}"
    );
    assert!(stdout.contains("runtime dir: "), "{stdout}");
}

#[test]
fn a_relative_config_path_is_made_absolute() {
    let (dir, path) = with_config("[services.a]\ncommand = [\"sleep\", \"1\"]\n");
    let out = check(dir.path(), &["-c", "pidward.toml"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("config: {} (valid)", path.display())),
        "{stdout}"
    );
    assert!(stdout.contains("1 service, in start order:"), "{stdout}");
}

#[test]
fn json_summary() {
    let (dir, path) = with_config("[services.a]\ncommand = \"echo hi\"\nautostart = false\n");
    let out = check(dir.path(), &["-c", path.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["config"], path.display().to_string());
    assert_eq!(v["services"][0]["name"], "a");
    assert_eq!(
        v["services"][0]["command"],
        serde_json::json!(["/bin/sh", "-c", "echo hi"])
    );
    assert_eq!(v["services"][0]["autostart"], false);
}

/// Each bad config, and the start of the one error line it must produce (after `FILE:`).
const BAD: &[(&str, &str)] = &[
    ("[services.web]\ncommand = \"x\"\nstart_sec = 1\n", "3:1: services.web.start_sec: unknown key, did you mean `start_secs`?"),
    ("[services.web]\ncommand = \"x\"\nstart_secs = \"10 parsecs\"\n", "3:14: services.web.start_secs: invalid duration \"10 parsecs\""),
    ("[services.web]\ncommand = \"x\"\nstop_signal = \"SIGNOPE\"\n", "3:15: services.web.stop_signal: unknown signal \"SIGNOPE\""),
    ("[services.web]\ncwd = \"/\"\n", "1:11: services.web: missing `command`"),
    ("[services.\"we b\"]\ncommand = \"x\"\n", "1:11: services.\"we b\": invalid service name"),
    ("[services.pidward]\ncommand = \"x\"\n", "1:11: services.pidward: the service name `pidward` is reserved"),
    ("[services.web]\ncommand = \"x\"\npidfile = \"../x.pid\"\n", "3:11: services.web.pidfile: relative path \"../x.pid\" leaves its base directory"),
    ("[services.web]\ncommand = \"x\"\ndepends_on = [\"db\"]\n", "3:15: services.web.depends_on: unknown service `db`"),
    (
        "[services.a]\ncommand = \"x\"\ndepends_on = [\"b\"]\n[services.b]\ncommand = \"x\"\ndepends_on = [\"a\"]\n",
        "3:15: services.a.depends_on: dependency cycle: a → b → a",
    ),
    ("[services.web]\ncommand = \"x\"\nrestart = \"sometimes\"\n", "3:11: services.web.restart: unknown value \"sometimes\""),
    ("[services.web]\ncommand = \"x\"\nbackoff = { factor = 0.5 }\n", "3:22: services.web.backoff.factor: 0.5 is out of range"),
    ("[services.web]\ncommand = \"x\"\nuser = \"no-such-user-here\"\n", "3:8: services.web.user: unknown user \"no-such-user-here\""),
    ("[services.web]\ncommand = \"x\n", "2:"),
];

#[test]
fn every_config_error_exits_2_with_file_line_col_and_key() {
    for (content, want) in BAD {
        let (dir, path) = with_config(content);
        let out = check(dir.path(), &["-c", path.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{content}\n{stderr}");
        assert!(out.stdout.is_empty(), "{content}");
        let want = format!("{}:{want}", path.display());
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&want),
            "{content}\n got: {first}\nwant: {want}"
        );
    }
}

#[test]
fn all_errors_are_reported_at_once() {
    let (dir, path) = with_config(
        "[supervisor]\nlog_levl = \"info\"\n[services.a]\ncommand = []\nstop_signal = \"NOPE\"\nrestart = 1\n",
    );
    let out = check(dir.path(), &["-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let p = path.display();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "{p}:2:1: supervisor.log_levl: unknown key, did you mean `log_level`?"
        )),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!("{p}:4:11: services.a.command: empty command")),
        "{stderr}"
    );
    assert!(
        lines[2].starts_with(&format!("{p}:5:15: services.a.stop_signal: unknown signal")),
        "{stderr}"
    );
    assert!(
        lines[3].starts_with(&format!(
            "{p}:6:11: services.a.restart: invalid type: integer `1`"
        )),
        "{stderr}"
    );
}

#[test]
fn json_errors_carry_their_parts() {
    let (dir, path) = with_config("[services.a]\ncommand = \"x\"\nstart_sec = 1\n");
    let out = check(dir.path(), &["-c", path.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let e = &v["errors"][0];
    assert_eq!(e["file"], path.display().to_string());
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(e["key"], "services.a.start_sec");
    assert_eq!(e["message"], "unknown key, did you mean `start_secs`?");
    assert!(text(&out.stderr).contains("did you mean `start_secs`?"));
}

#[test]
fn includes_duplicates_and_missing_files() {
    let (dir, path) = with_config(
        "[supervisor]\ninclude = [\"conf.d/*.toml\", \"extra.toml\"]\n[services.web]\ncommand = \"x\"\n",
    );
    std::fs::create_dir(dir.path().join("conf.d")).unwrap();
    let dup = dir.path().join("conf.d/web.toml");
    std::fs::write(&dup, "[services.web]\ncommand = \"y\"\n").unwrap();
    let out = check(dir.path(), &["-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let (p, d) = (path.display(), dup.display());
    let extra = dir.path().join("extra.toml");
    let want = [
        format!(
            "{p}:2:29: supervisor.include: included file {} does not exist",
            extra.display()
        ),
        format!("{d}:1:11: services.web: service `web` is defined twice: here and at {p}:3:11"),
    ];
    assert_eq!(stderr.lines().collect::<Vec<_>>(), want, "{stderr}");

    std::fs::write(&extra, "[services.other]\ncommand = \"z\"\n").unwrap();
    std::fs::write(&dup, "[services.db]\ncommand = \"y\"\n").unwrap();
    let out = check(dir.path(), &["-c", path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("3 services, in start order:"), "{stdout}");
    assert!(
        stdout.contains(&format!("include: {}", dup.display())),
        "{stdout}"
    );
}

#[test]
fn a_missing_config_file_exits_2() {
    let dir = common::tempdir();
    let out = check(dir.path(), &["-c", "nope.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let want = format!(
        "{}: cannot read the config file",
        dir.path().join("nope.toml").display()
    );
    assert!(stderr.starts_with(&want), "{stderr}");
}
