//! Validating one table: `[supervisor]` into a [`SupervisorSpec`], one `[services.NAME]` into a
//! [`ServiceSpec`], with every default filled in and every bad value reported. Pure.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use super::error::{key_path, Problem};
use super::paths::{self, Facts};
use super::raw::{CommandValue, RawBackoff, RawRestartLimit, RawService, RawSupervisor};
use super::spec::{
    defaults, Backoff, Command, Limits, OnOrphan, RestartLimit, ServiceSpec, SupervisorSpec,
};
use super::values::{AccountKind, Ctx};

/// The log levels `log_level` accepts.
const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// The reserved service name: its files would be the supervisor's own.
pub const RESERVED_NAME: &str = "pidward";

/// Validates `[supervisor]` (absent: all defaults); relative dirs are relative to `base`.
pub fn supervisor(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<RawSupervisor>>,
    base: &Path,
    facts: &Facts,
) -> SupervisorSpec {
    let none = RawSupervisor::default();
    let r = raw.map_or(&none, Spanned::get_ref);
    let k = |key: &str| key_path("supervisor", key);
    let runtime_dir = ctx.path(r.runtime_dir.as_ref(), &k("runtime_dir"), base, false);
    let log_dir = ctx.path(r.log_dir.as_ref(), &k("log_dir"), base, false);
    let parse_level = |s: &str| s.parse::<log::LevelFilter>().ok();
    SupervisorSpec {
        runtime_dir: paths::runtime_dir(runtime_dir.as_deref(), facts),
        log_dir: paths::log_dir(log_dir.as_deref(), facts),
        log_level: ctx.choice(
            r.log_level.as_ref(),
            &k("log_level"),
            parse_level,
            LEVELS,
            defaults::LOG_LEVEL,
        ),
        shutdown_timeout: ctx.duration(
            r.shutdown_timeout.as_ref(),
            &k("shutdown_timeout"),
            defaults::SHUTDOWN_TIMEOUT,
        ),
        on_orphan: ctx.keyword(r.on_orphan.as_ref(), &k("on_orphan"), OnOrphan::Adopt),
        socket_group: ctx.account(
            r.socket_group.as_ref(),
            &k("socket_group"),
            AccountKind::Group,
        ),
    }
}

/// Validates one service defined in a file whose directory is `base`; `None` when it has no
/// usable command or name (everything else is still checked and reported).
pub fn service(
    ctx: &mut Ctx<'_>,
    name: &Spanned<String>,
    raw: &RawService,
    base: &Path,
    sup: &SupervisorSpec,
) -> Option<ServiceSpec> {
    let path = key_path("services", name.get_ref());
    let name_ok = check_name(ctx, name, &path);
    let command = command(ctx, raw.command.as_ref(), name, &path);
    let placeholder = Command::Argv(Vec::new());
    let mut spec = ServiceSpec::with_defaults(name.get_ref(), placeholder, base, &sup.runtime_dir);
    spec.on_orphan = sup.on_orphan;
    process(ctx, raw, &path, base, &mut spec);
    lifecycle(ctx, raw, &path, &mut spec);
    files(ctx, raw, &path, &sup.runtime_dir, &mut spec);
    // A bad name still has every other key checked, but yields no spec (its files would be
    // wrong, and reporting them would only repeat the name error).
    let command = command.filter(|_| name_ok)?;
    Some(ServiceSpec { command, ..spec })
}

/// How the process is set up: `cwd`, `env`, `user`, `group`, `umask`, `limits`.
fn process(ctx: &mut Ctx<'_>, raw: &RawService, path: &str, base: &Path, spec: &mut ServiceSpec) {
    let k = |key: &str| key_path(path, key);
    if let Some(cwd) = ctx.path(raw.cwd.as_ref(), &k("cwd"), base, true) {
        spec.cwd = cwd;
    }
    spec.env = env(ctx, raw.env.as_ref(), &k("env"));
    spec.user = ctx.account(raw.user.as_ref(), &k("user"), AccountKind::User);
    spec.group = ctx.account(raw.group.as_ref(), &k("group"), AccountKind::Group);
    spec.umask = ctx.umask(raw.umask.as_ref(), &k("umask"));
    spec.limits = limits(ctx, raw, &k("limits"));
}

/// When it starts, restarts and stops.
fn lifecycle(ctx: &mut Ctx<'_>, raw: &RawService, path: &str, spec: &mut ServiceSpec) {
    let k = |key: &str| key_path(path, key);
    let flag =
        |v: &Option<Spanned<bool>>, default: bool| v.as_ref().map_or(default, |v| *v.get_ref());
    spec.autostart = flag(&raw.autostart, spec.autostart);
    spec.kill_group = flag(&raw.kill_group, spec.kill_group);
    spec.restart = ctx.keyword(raw.restart.as_ref(), &k("restart"), spec.restart);
    spec.on_orphan = ctx.keyword(raw.on_orphan.as_ref(), &k("on_orphan"), spec.on_orphan);
    spec.start_secs = ctx.duration(raw.start_secs.as_ref(), &k("start_secs"), spec.start_secs);
    let retries = raw.start_retries.as_ref();
    spec.start_retries = ctx.count(retries, &k("start_retries"), 0, spec.start_retries);
    spec.backoff = backoff(ctx, raw.backoff.as_ref(), &k("backoff"));
    spec.restart_limit = restart_limit(ctx, raw.restart_limit.as_ref(), &k("restart_limit"));
    let codes = raw.success_exit_codes.as_ref();
    spec.success_exit_codes = exit_codes(ctx, codes, &k("success_exit_codes"));
    spec.stop_signal = ctx.signal(
        raw.stop_signal.as_ref(),
        &k("stop_signal"),
        spec.stop_signal,
    );
    spec.stop_timeout = ctx.duration(
        raw.stop_timeout.as_ref(),
        &k("stop_timeout"),
        spec.stop_timeout,
    );
    spec.depends_on = depends_on(raw.depends_on.as_ref());
}

/// Its files: PID and lock file (relative to the runtime dir), captured output and rotation.
fn files(ctx: &mut Ctx<'_>, raw: &RawService, path: &str, run: &Path, spec: &mut ServiceSpec) {
    let k = |key: &str| key_path(path, key);
    if let Some(pidfile) = ctx.path(raw.pidfile.as_ref(), &k("pidfile"), run, true) {
        spec.pidfile = pidfile;
    }
    if let Some(lockfile) = ctx.path(raw.lockfile.as_ref(), &k("lockfile"), run, true) {
        spec.lockfile = lockfile;
    }
    spec.stdout = ctx.keyword(raw.stdout.as_ref(), &k("stdout"), spec.stdout);
    spec.stderr = ctx.keyword(raw.stderr.as_ref(), &k("stderr"), spec.stderr);
    spec.log_max_bytes = log_max_bytes(ctx, raw, &k("log_max_bytes"));
    let backups = raw.log_backups.as_ref();
    spec.log_backups = ctx.count(backups, &k("log_backups"), 0, spec.log_backups);
}

/// Whether a name can be a service name: `[A-Za-z0-9_.-]{1,64}`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Reports a bad or reserved name; true if the name is usable.
fn check_name(ctx: &mut Ctx<'_>, name: &Spanned<String>, path: &str) -> bool {
    let problem = if !valid_name(name.get_ref()) {
        Problem::BadName(name.get_ref().clone())
    } else if name.get_ref() == RESERVED_NAME {
        Problem::ReservedName
    } else {
        return true;
    };
    ctx.report(name.span(), path, problem);
    false
}

fn command(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<CommandValue>>,
    name: &Spanned<String>,
    path: &str,
) -> Option<Command> {
    let key = key_path(path, "command");
    let Some(raw) = raw else {
        // A command of the wrong type was already reported (and dropped): it is not missing.
        let reported = ctx
            .out
            .iter()
            .any(|d| d.file == ctx.src.path && d.key == key);
        if !reported {
            ctx.report(name.span(), path, Problem::MissingCommand);
        }
        return None;
    };
    let (command, empty) = match raw.get_ref() {
        CommandValue::Shell(line) => (Command::Shell(line.clone()), line.trim().is_empty()),
        CommandValue::Argv(argv) => (
            Command::Argv(argv.clone()),
            argv.first().is_none_or(String::is_empty),
        ),
    };
    if empty {
        ctx.report(raw.span(), &key, Problem::EmptyCommand);
        return None;
    }
    if command.argv().iter().any(|a| a.contains('\0')) {
        ctx.report(
            raw.span(),
            &key,
            Problem::Invalid("a command may not contain a NUL byte".into()),
        );
        return None;
    }
    Some(command)
}

fn env(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    path: &str,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (name, value) in raw.map(Spanned::get_ref).into_iter().flatten() {
        let key = key_path(path, name.get_ref());
        let n = name.get_ref();
        if n.is_empty() || n.contains(['=', '\0']) {
            let msg =
                format!("invalid variable name {n:?}: it may not be empty or contain '=' or NUL");
            ctx.report(name.span(), &key, Problem::Invalid(msg));
        } else if value.get_ref().contains('\0') {
            ctx.report(
                value.span(),
                &key,
                Problem::Invalid("a value may not contain a NUL byte".into()),
            );
        } else {
            env.insert(n.clone(), value.get_ref().clone());
        }
    }
    env
}

fn backoff(ctx: &mut Ctx<'_>, raw: Option<&Spanned<RawBackoff>>, path: &str) -> Backoff {
    let none = RawBackoff::default();
    let r = raw.map_or(&none, Spanned::get_ref);
    let initial = ctx.duration(
        r.initial.as_ref(),
        &key_path(path, "initial"),
        defaults::BACKOFF_INITIAL,
    );
    let max = ctx.duration(
        r.max.as_ref(),
        &key_path(path, "max"),
        defaults::BACKOFF_MAX,
    );
    let mut factor = defaults::BACKOFF_FACTOR;
    if let Some(f) = &r.factor {
        if f.get_ref().is_finite() && *f.get_ref() >= 1.0 {
            factor = *f.get_ref();
        } else {
            let msg = format!("{} is out of range: the factor must be at least 1.0 (a smaller one would shrink the delay)", f.get_ref());
            ctx.report(
                f.span(),
                &key_path(path, "factor"),
                Problem::OutOfRange(msg),
            );
        }
    }
    if max < initial {
        let msg = format!("backoff.max ({max:?}) is less than backoff.initial ({initial:?})");
        if let Some(v) = r.max.as_ref().or(r.initial.as_ref()) {
            let which = if r.max.is_some() { "max" } else { "initial" };
            ctx.report(v.span(), &key_path(path, which), Problem::OutOfRange(msg));
        }
    }
    Backoff {
        initial,
        max,
        factor,
    }
}

fn restart_limit(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<RawRestartLimit>>,
    path: &str,
) -> RestartLimit {
    let none = RawRestartLimit::default();
    let r = raw.map_or(&none, Spanned::get_ref);
    let burst = ctx.count(
        r.burst.as_ref(),
        &key_path(path, "burst"),
        1,
        defaults::RESTART_BURST,
    );
    let key = key_path(path, "interval");
    let mut interval = ctx.duration(r.interval.as_ref(), &key, defaults::RESTART_INTERVAL);
    if let (Some(v), true) = (&r.interval, interval.is_zero()) {
        ctx.report(
            v.span(),
            &key,
            Problem::OutOfRange("the interval must be longer than zero".into()),
        );
        interval = defaults::RESTART_INTERVAL;
    }
    RestartLimit { burst, interval }
}

fn exit_codes(ctx: &mut Ctx<'_>, raw: Option<&Spanned<Vec<Spanned<i64>>>>, path: &str) -> Vec<i32> {
    let Some(raw) = raw else { return vec![0] };
    let mut codes = Vec::new();
    for code in raw.get_ref() {
        match u8::try_from(*code.get_ref()) {
            Ok(c) if !codes.contains(&i32::from(c)) => codes.push(i32::from(c)),
            Ok(_) => {}
            Err(_) => {
                let msg = format!("{} is not an exit code (0 to 255)", code.get_ref());
                ctx.report(code.span(), path, Problem::OutOfRange(msg));
            }
        }
    }
    codes
}

fn depends_on(raw: Option<&Spanned<Vec<Spanned<String>>>>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for dep in raw.map(Spanned::get_ref).into_iter().flatten() {
        if !names.contains(dep.get_ref()) {
            names.push(dep.get_ref().clone());
        }
    }
    names
}

fn log_max_bytes(ctx: &mut Ctx<'_>, raw: &RawService, key: &str) -> u64 {
    let bytes = ctx.size(raw.log_max_bytes.as_ref(), key, defaults::LOG_MAX_BYTES);
    match (&raw.log_max_bytes, bytes) {
        (Some(v), 0) => {
            ctx.report(
                v.span(),
                key,
                Problem::OutOfRange("log_max_bytes must be more than zero".into()),
            );
            defaults::LOG_MAX_BYTES
        }
        _ => bytes,
    }
}

fn limits(ctx: &mut Ctx<'_>, raw: &RawService, path: &str) -> Limits {
    let Some(raw) = &raw.limits else {
        return Limits::default();
    };
    let r = raw.get_ref();
    Limits {
        nofile: ctx.rlimit(r.nofile.as_ref(), &key_path(path, "nofile"), false),
        nproc: ctx.rlimit(r.nproc.as_ref(), &key_path(path, "nproc"), false),
        core: ctx.rlimit(r.core.as_ref(), &key_path(path, "core"), true),
        memlock: ctx.rlimit(r.memlock.as_ref(), &key_path(path, "memlock"), true),
    }
}
