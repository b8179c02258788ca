//! End-to-end tests of the config layer on strings: defaults, every kind of error with its
//! place and key, and the example configs in `config/`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::*;

/// An account lookup that knows `root`, `nobody` and `www-data`, and groups `root`, `nogroup`.
pub(crate) struct FakeAccounts;

impl Accounts for FakeAccounts {
    fn user_exists(&self, name: &str) -> bool {
        matches!(name, "root" | "nobody" | "www-data")
    }
    fn group_exists(&self, name: &str) -> bool {
        matches!(name, "root" | "nogroup" | "www-data" | "adm")
    }
}

/// A non-root user's facts with nothing set but the home.
pub(crate) fn facts() -> Facts {
    Facts {
        uid: 1000,
        home: Some("/home/u".into()),
        ..Facts::default()
    }
}

/// Parses `text` as `/etc/pidward/p.toml`, which must be valid.
pub(crate) fn config(text: &str) -> Config {
    from_str("/etc/pidward/p.toml", text, &facts(), &FakeAccounts).unwrap()
}

/// The error lines for `text` as `/etc/pidward/p.toml`, which must be invalid.
pub(crate) fn errors(text: &str) -> Vec<String> {
    let err = from_str("/etc/pidward/p.toml", text, &facts(), &FakeAccounts).unwrap_err();
    err.0.iter().map(ToString::to_string).collect()
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = config("[services.a]\ncommand = [\"sleep\", \"9\"]\n");
    assert_eq!(c.path, Path::new("/etc/pidward/p.toml"));
    let sup = &c.supervisor;
    assert_eq!(sup.runtime_dir, Path::new("/tmp/pidward-1000"));
    assert_eq!(sup.log_dir, Path::new("/home/u/.local/state/pidward"));
    assert_eq!(sup.log_level, log::LevelFilter::Info);
    assert_eq!(sup.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(sup.on_orphan, OnOrphan::Adopt);
    assert_eq!(sup.socket_group, None);
    let a = &c.services["a"];
    let expected = ServiceSpec {
        name: "a".into(),
        command: Command::Argv(vec!["sleep".into(), "9".into()]),
        cwd: "/etc/pidward".into(),
        env: BTreeMap::new(),
        user: None,
        group: None,
        umask: None,
        autostart: true,
        restart: RestartPolicy::Always,
        start_secs: Duration::from_secs(1),
        start_retries: 3,
        backoff: Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            factor: 2.0,
        },
        restart_limit: RestartLimit {
            burst: 10,
            interval: Duration::from_secs(60),
        },
        success_exit_codes: vec![0],
        on_orphan: OnOrphan::Adopt,
        stop_signal: Signal::SIGTERM,
        stop_timeout: Duration::from_secs(10),
        kill_group: true,
        pidfile: "/tmp/pidward-1000/a.pid".into(),
        lockfile: "/tmp/pidward-1000/a.lock".into(),
        depends_on: vec![],
        stdout: Output::Log,
        stderr: Output::Log,
        log_max_bytes: 10 * 1024 * 1024,
        log_backups: 5,
        limits: Limits::default(),
    };
    assert_eq!(**a, expected);
}

/// A config setting every key to something other than its default.
const EVERY_KEY: &str = r#"
[supervisor]
runtime_dir = "run"
log_dir = "../logs"
log_level = "DEBUG"
shutdown_timeout = 5
on_orphan = "kill"
socket_group = "nogroup"

[services.w]
command = "echo hi"
cwd = "srv"
env = { A = "1" }
user = "nobody"
group = "1234"
umask = "027"
autostart = false
restart = "on-failure"
start_secs = "500ms"
start_retries = 0
backoff = { initial = 2, max = "1m", factor = 1.5 }
restart_limit = { burst = 1, interval = "2m" }
success_exit_codes = [0, 3, 3]
stop_signal = "int"
stop_timeout = 0.5
kill_group = false
pidfile = "sub/w.pid"
lockfile = "/var/lock/w.lock"
depends_on = []
stdout = "inherit"
stderr = "null"
log_max_bytes = "512KiB"
log_backups = 0
limits = { nofile = 1024, nproc = "unlimited", core = "1MiB", memlock = 0 }
"#;

#[test]
fn every_value_is_read() {
    let c = config(EVERY_KEY);
    let sup = &c.supervisor;
    assert_eq!(sup.runtime_dir, Path::new("/etc/pidward/run"));
    assert_eq!(sup.log_dir, Path::new("/etc/logs"));
    assert_eq!(sup.log_level, log::LevelFilter::Debug);
    assert_eq!(sup.shutdown_timeout, Duration::from_secs(5));
    assert_eq!(sup.socket_group.as_deref(), Some("nogroup"));
    let w = &c.services["w"];
    assert_eq!(w.command.argv(), ["/bin/sh", "-c", "echo hi"]);
    assert_eq!(w.cwd, Path::new("/etc/pidward/srv"));
    assert_eq!(w.env["A"], "1");
    assert_eq!(
        (w.user.as_deref(), w.group.as_deref()),
        (Some("nobody"), Some("1234"))
    );
    assert_eq!(w.umask, Some(0o027));
    assert!(!w.autostart && !w.kill_group);
    assert_eq!(w.restart, RestartPolicy::OnFailure);
    assert_eq!(w.start_secs, Duration::from_millis(500));
    assert_eq!(w.start_retries, 0);
    assert_eq!(w.backoff.initial, Duration::from_secs(2));
    assert_eq!(w.backoff.max, Duration::from_secs(60));
    assert!((w.backoff.factor - 1.5).abs() < f64::EPSILON);
    assert_eq!(w.restart_limit.burst, 1);
    assert_eq!(w.success_exit_codes, [0, 3]);
    assert_eq!(w.on_orphan, OnOrphan::Kill, "inherited from [supervisor]");
    assert_eq!(w.stop_signal, Signal::SIGINT);
    assert_eq!(w.stop_timeout, Duration::from_millis(500));
    assert_eq!(w.pidfile, Path::new("/etc/pidward/run/sub/w.pid"));
    assert_eq!(w.lockfile, Path::new("/var/lock/w.lock"));
    assert_eq!((w.stdout, w.stderr), (Output::Inherit, Output::Null));
    assert_eq!((w.log_max_bytes, w.log_backups), (512 * 1024, 0));
    let limits = Limits {
        nofile: Some(Rlimit::Value(1024)),
        nproc: Some(Rlimit::Unlimited),
        core: Some(Rlimit::Value(1 << 20)),
        memlock: Some(Rlimit::Value(0)),
    };
    assert_eq!(w.limits, limits);
}

#[test]
fn runtime_dir_defaults_follow_the_environment() {
    let text = "[services.a]\ncommand = \"x\"\n";
    let root = Facts { uid: 0, ..facts() };
    let c = from_str("/p.toml", text, &root, &FakeAccounts).unwrap();
    assert_eq!(c.supervisor.runtime_dir, Path::new("/run/pidward"));
    assert_eq!(c.supervisor.log_dir, Path::new("/var/log/pidward"));
    assert_eq!(c.services["a"].pidfile, Path::new("/run/pidward/a.pid"));
    let user = Facts {
        xdg_runtime_dir: Some("/run/user/1000".into()),
        ..facts()
    };
    let c = from_str("/p.toml", text, &user, &FakeAccounts).unwrap();
    assert_eq!(
        c.services["a"].lockfile,
        Path::new("/run/user/1000/pidward/a.lock")
    );
}

#[test]
fn a_typo_gets_the_nearest_key() {
    assert_eq!(
        errors("[services.web]\ncommand = \"x\"\nstart_sec = \"1s\"\n"),
        ["/etc/pidward/p.toml:3:1: services.web.start_sec: unknown key, did you mean `start_secs`?"]
    );
}

/// A config with one error in (almost) every key.
const EVERY_ERROR: &str = r#"[supervisor]
log_level = "loud"
on_orphan = "adopted"
shutdown_timeout = "10 parsecs"

[services.web]
command = []
start_secs = "10 parsecs"
stop_signal = "TERMINATE"
restart = "sometimes"
stdout = "file"
backoff = { factor = 0.5 }
restart_limit = { burst = 0, interval = 0 }
start_retries = -1
success_exit_codes = [256]
umask = "999"
log_max_bytes = "10 MB"
pidfile = "../web.pid"
cwd = "../../elsewhere"
user = "no-such-user"
group = "no-such-group"
depends_on = ["ghost"]

["bad name!"]
"#;

#[test]
fn every_error_is_reported_with_its_place_and_key() {
    let text = EVERY_ERROR;
    let errs = errors(text);
    let want = [
        r#"2:13: supervisor.log_level: unknown value "loud", expected one of: off, error, warn, info, debug, trace"#,
        r#"3:13: supervisor.on_orphan: unknown value "adopted", expected one of: adopt, restart, kill (did you mean "adopt"?)"#,
        r#"4:20: supervisor.shutdown_timeout: invalid duration "10 parsecs": unknown unit "parsecs" (use ms, s, m or h)"#,
        "7:11: services.web.command: empty command",
        r#"8:14: services.web.start_secs: invalid duration "10 parsecs""#,
        r#"9:15: services.web.stop_signal: unknown signal "TERMINATE""#,
        r#"10:11: services.web.restart: unknown value "sometimes", expected one of: always, on-failure, never"#,
        r#"11:10: services.web.stdout: unknown value "file", expected one of: inherit, null, log"#,
        "12:22: services.web.backoff.factor: 0.5 is out of range: the factor must be at least 1.0",
        "13:27: services.web.restart_limit.burst: 0 is out of range",
        "13:41: services.web.restart_limit.interval: the interval must be longer than zero",
        "14:17: services.web.start_retries: -1 is out of range",
        "15:23: services.web.success_exit_codes: 256 is not an exit code (0 to 255)",
        r#"16:9: services.web.umask: invalid umask "999""#,
        r#"17:17: services.web.log_max_bytes: invalid size "10 MB": unknown unit "MB""#,
        r#"18:11: services.web.pidfile: relative path "../web.pid" leaves its base directory /tmp/pidward-1000"#,
        r#"19:7: services.web.cwd: relative path "../../elsewhere" leaves its base directory /etc/pidward"#,
        r#"20:8: services.web.user: unknown user "no-such-user""#,
        r#"21:9: services.web.group: unknown group "no-such-group""#,
        "22:15: services.web.depends_on: unknown service `ghost`",
        "24:2: \"bad name!\": unknown key (expected one of: supervisor, services)",
    ];
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
    for (err, want) in errs.iter().zip(want) {
        let want = format!("/etc/pidward/p.toml:{want}");
        assert!(err.starts_with(&want), "\n got: {err}\nwant: {want}");
    }
}

#[test]
fn names_are_checked_and_pidward_is_reserved() {
    let long = "x".repeat(65);
    let text = format!(
        "[services.\"a b\"]\ncommand = \"x\"\n[services.pidward]\ncommand = \"x\"\n[services.{long}]\ncommand = \"x\"\n[services.\"ok-1.2_3\"]\ncommand = \"x\"\n"
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(
        errs[0]
            .starts_with(r#"/etc/pidward/p.toml:1:11: services."a b": invalid service name "a b""#),
        "{}",
        errs[0]
    );
    assert!(
        errs[1].starts_with(
            "/etc/pidward/p.toml:3:11: services.pidward: the service name `pidward` is reserved"
        ),
        "{}",
        errs[1]
    );
    assert!(errs[2].contains("invalid service name"), "{}", errs[2]);
}

#[test]
fn a_missing_command_points_at_the_service() {
    assert_eq!(
        errors("[services.web]\ncwd = \"/\"\n"),
        ["/etc/pidward/p.toml:1:11: services.web: missing `command` (an array of arguments, or a string run by /bin/sh -c)"]
    );
    let errs = errors("[services.a]\ncommand = \"  \"\n[services.b]\ncommand = [\"\", \"x\"]\n");
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs.iter().all(|e| e.ends_with("command: empty command")),
        "{errs:?}"
    );
}

#[test]
fn cycles_are_named_in_order() {
    let text = "[services.a]\ncommand = \"x\"\ndepends_on = [\"b\"]\n\
                [services.b]\ncommand = \"x\"\ndepends_on = [\"c\"]\n\
                [services.c]\ncommand = \"x\"\ndepends_on = [\"a\"]\n\
                [services.d]\ncommand = \"x\"\ndepends_on = [\"d\"]\n";
    assert_eq!(
        errors(text),
        [
            "/etc/pidward/p.toml:3:15: services.a.depends_on: dependency cycle: a → b → c → a",
            "/etc/pidward/p.toml:12:15: services.d.depends_on: dependency cycle: d → d",
        ]
    );
}

#[test]
fn shared_pid_and_lock_files_are_refused() {
    let text = "[services.a]\ncommand = \"x\"\n\
                [services.b]\ncommand = \"x\"\npidfile = \"a.pid\"\nlockfile = \"b.x\"\n\
                [services.c]\ncommand = \"x\"\npidfile = \"pidward.pid\"\n\
                [services.d]\ncommand = \"x\"\npidfile = \"d.x\"\nlockfile = \"./d.x\"\n";
    assert_eq!(
        errors(text),
        [
            "/etc/pidward/p.toml:5:11: services.b.pidfile: /tmp/pidward-1000/a.pid is also used by `services.a.pidfile`",
            "/etc/pidward/p.toml:9:11: services.c.pidfile: /tmp/pidward-1000/pidward.pid is also used by the supervisor's PID file",
            "/etc/pidward/p.toml:13:12: services.d.lockfile: /tmp/pidward-1000/d.x is also used by `services.d.pidfile`",
        ]
    );
}

#[test]
fn syntax_errors_stop_at_the_toml() {
    let errs = errors("[services.a]\ncommand = \"unterminated\n");
    assert!(!errs.is_empty());
    assert!(errs[0].starts_with("/etc/pidward/p.toml:2:"), "{errs:?}");
    assert!(errs[0].contains("TOML syntax error"), "{errs:?}");
    let errs = errors("[services.a]\ncommand = \"x\"\n[services.a]\ncommand = \"y\"\n");
    assert!(errs[0].starts_with("/etc/pidward/p.toml:3:"), "{errs:?}");
}

#[test]
fn start_order_follows_dependencies() {
    let c = config(
        "[services.web]\ncommand = \"x\"\ndepends_on = [\"db\"]\n[services.db]\ncommand = \"x\"\n[services.a]\ncommand = \"x\"\n",
    );
    assert_eq!(c.start_order(), ["a", "db", "web"]);
}

#[test]
fn the_example_configs_are_valid_and_full_toml_has_every_key() {
    let full = include_str!("../../config/full.toml");
    let c = from_str("/etc/pidward/full.toml", full, &facts(), &FakeAccounts);
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.services.len(), 2);
    // Every key of every table appears in full.toml, so the reference can never fall behind.
    let doc: toml::Table = toml::from_str(full).unwrap();
    let sup = doc["supervisor"].as_table().unwrap();
    let web = doc["services"]["web"].as_table().unwrap();
    let tables: [(&toml::Table, &[&str]); 5] = [
        (sup, raw::fields_of::<raw::RawSupervisor>()),
        (web, raw::fields_of::<raw::RawService>()),
        (
            web["backoff"].as_table().unwrap(),
            raw::fields_of::<raw::RawBackoff>(),
        ),
        (
            web["restart_limit"].as_table().unwrap(),
            raw::fields_of::<raw::RawRestartLimit>(),
        ),
        (
            web["limits"].as_table().unwrap(),
            raw::fields_of::<raw::RawLimits>(),
        ),
    ];
    for (table, fields) in tables {
        for field in fields {
            assert!(
                table.contains_key(*field),
                "config/full.toml lacks `{field}`"
            );
        }
    }
    let demo = include_str!("../../config/demo.toml");
    let c = from_str("/src/config/demo.toml", demo, &facts(), &FakeAccounts).unwrap();
    assert_eq!(c.start_order(), ["ticker", "web", "worker"]);
    assert_eq!(c.services["worker"].depends_on, ["ticker"]);
}
