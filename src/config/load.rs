//! Loading a config from disk: read the main file, expand its `include` globs (relative to it),
//! read and parse every file, then validate the lot against the real environment (uid, `$XDG_*`,
//! the user database). All I/O of the config layer happens here; everything it calls is pure.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use nix::unistd::{Group, Uid, User};
use toml::Spanned;

use super::error::{ConfigErrors, Diagnostic, Problem, Source};
use super::parse::parse;
use super::paths::Facts;
use super::spec::Config;
use super::validate::{validate, Env, Unit};
use super::values::Accounts;

/// The system's user database, through NSS (`getpwnam_r`, `getgrnam_r`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemAccounts;

impl Accounts for SystemAccounts {
    fn user_exists(&self, name: &str) -> bool {
        matches!(User::from_name(name), Ok(Some(_)))
    }

    fn group_exists(&self, name: &str) -> bool {
        matches!(Group::from_name(name), Ok(Some(_)))
    }
}

/// This process's facts: effective uid, `$RUNTIME_DIRECTORY`, `$XDG_RUNTIME_DIR`,
/// `$XDG_STATE_HOME`, and the home directory (`$HOME`, else the passwd entry).
pub fn system_facts() -> Facts {
    let uid = Uid::effective();
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .or_else(|| match User::from_uid(uid) {
            Ok(Some(user)) => Some(OsString::from(user.dir)),
            _ => None,
        });
    Facts {
        uid: uid.as_raw(),
        runtime_directory: std::env::var_os("RUNTIME_DIRECTORY"),
        xdg_runtime_dir: std::env::var_os("XDG_RUNTIME_DIR"),
        xdg_state_home: std::env::var_os("XDG_STATE_HOME"),
        home,
    }
}

/// Loads, includes and validates the config at `path` (made absolute first) against this system.
///
/// # Errors
/// Every problem found, one [`Diagnostic`] each, in file and line order.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with(path, &system_facts(), &SystemAccounts)
}

/// [`load`] with the environment facts and account lookup given (for tests and dry runs).
///
/// # Errors
/// Every problem found, in file and line order.
pub fn load_with(
    path: &Path,
    facts: &Facts,
    accounts: &dyn Accounts,
) -> Result<Config, ConfigErrors> {
    let path = std::path::absolute(path)
        .map_err(|e| ConfigErrors(vec![Diagnostic::file(path, Problem::Read(e.to_string()))]))?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ConfigErrors(vec![Diagnostic::file(&path, Problem::Read(e.to_string()))]))?;
    let mut out = Vec::new();
    let source = Source::new(&path, text);
    let doc = parse(&source, false, &mut out);
    let main = Unit { source, doc };
    let includes: Vec<Unit> = expand_includes(&main, &mut out)
        .iter()
        .filter(|p| **p != path)
        .map(|p| read_unit(p, true, &mut out))
        .collect();
    let config = validate(&main, &includes, &Env { facts, accounts }, &mut out);
    if out.is_empty() {
        return Ok(config);
    }
    let order: Vec<&Path> = std::iter::once(&main)
        .chain(&includes)
        .map(|u| u.source.path.as_path())
        .collect();
    out.sort_by_key(|d| {
        (
            order
                .iter()
                .position(|p| *p == d.file)
                .unwrap_or(usize::MAX),
            d.position,
        )
    });
    Err(ConfigErrors(out))
}

/// Reads and parses one file; a read error is reported and gives an empty, unparsed unit.
fn read_unit(path: &Path, included: bool, out: &mut Vec<Diagnostic>) -> Unit {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let source = Source::new(path, text);
            let doc = parse(&source, included, out);
            Unit { source, doc }
        }
        Err(e) => {
            out.push(Diagnostic::file(path, Problem::Read(e.to_string())));
            Unit {
                source: Source::new(path, ""),
                doc: None,
            }
        }
    }
}

/// The files `[supervisor] include` names, in pattern order, each pattern's matches sorted, no
/// file twice. A wildcard pattern may match nothing; a literal path must exist.
fn expand_includes(main: &Unit, out: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let patterns = main
        .doc
        .as_ref()
        .and_then(|d| d.supervisor.as_ref())
        .and_then(|s| s.get_ref().include.as_ref());
    let Some(patterns) = patterns else {
        return Vec::new();
    };
    let base = main.source.path.parent().unwrap_or(Path::new("/"));
    let mut files: Vec<PathBuf> = Vec::new();
    for pattern in patterns.get_ref() {
        for file in expand_one(&main.source, base, pattern, out) {
            if !files.contains(&file) {
                files.push(file);
            }
        }
    }
    files
}

/// One include pattern's files, or a diagnostic at the pattern.
fn expand_one(
    src: &Source,
    base: &Path,
    pattern: &Spanned<String>,
    out: &mut Vec<Diagnostic>,
) -> Vec<PathBuf> {
    const KEY: &str = "supervisor.include";
    let text = pattern.get_ref();
    let report = |out: &mut Vec<Diagnostic>, problem| {
        out.push(src.diag(Some(pattern.span()), KEY, problem));
        Vec::new()
    };
    if text.is_empty() || text.contains('\0') {
        return report(
            out,
            Problem::Invalid(format!("invalid include pattern {text:?}")),
        );
    }
    if !text.contains(['*', '?', '[']) {
        let file = base.join(text);
        if std::fs::metadata(&file).is_err() {
            return report(out, Problem::MissingInclude(file.display().to_string()));
        }
        return vec![file];
    }
    let full = if Path::new(text).is_absolute() {
        text.clone()
    } else {
        let Some(base) = base.to_str() else {
            let msg = "the config directory's path is not UTF-8; use an absolute include pattern";
            return report(out, Problem::Invalid(msg.into()));
        };
        format!("{}/{text}", glob::Pattern::escape(base))
    };
    glob_files(&full, out).unwrap_or_else(|reason| {
        let problem = Problem::BadPattern {
            pattern: text.clone(),
            reason,
        };
        report(out, problem)
    })
}

/// The regular files matching an absolute glob pattern, sorted; unreadable entries are reported.
fn glob_files(pattern: &str, out: &mut Vec<Diagnostic>) -> Result<Vec<PathBuf>, String> {
    // `*` does not match a leading dot: editors' lock and backup files stay out.
    let options = glob::MatchOptions {
        require_literal_leading_dot: true,
        ..glob::MatchOptions::new()
    };
    let paths = glob::glob_with(pattern, options).map_err(|e| e.msg.to_owned())?;
    let mut files = Vec::new();
    for entry in paths {
        match entry {
            Ok(path) if path.is_file() => files.push(path),
            Ok(_) => {}
            Err(e) => out.push(Diagnostic::file(
                e.path(),
                Problem::Read(e.error().to_string()),
            )),
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{facts, FakeAccounts};

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    fn load_errors(path: &Path) -> Vec<String> {
        let err = load_with(path, &facts(), &FakeAccounts).unwrap_err();
        err.0.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn includes_are_globbed_relative_to_the_including_file() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "main.toml",
            "[supervisor]\ninclude = [\"conf.d/*.toml\", \"none/*.toml\", \"*.toml\"]\n[services.a]\ncommand = \"x\"\n",
        );
        write(
            dir.path(),
            "conf.d/b.toml",
            "[services.b]\ncommand = \"x\"\ndepends_on = [\"a\"]\n",
        );
        write(
            dir.path(),
            "conf.d/c.toml",
            "[services.c]\ncommand = \"x\"\n",
        );
        write(dir.path(), "conf.d/.#c.toml", "not toml at all");
        write(dir.path(), "conf.d/d.conf", "not toml at all");
        let c = load_with(&main, &facts(), &FakeAccounts).unwrap();
        assert_eq!(c.services.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(
            c.includes,
            [
                dir.path().join("conf.d/b.toml"),
                dir.path().join("conf.d/c.toml")
            ]
        );
        assert_eq!(
            c.services["b"].cwd,
            dir.path().join("conf.d"),
            "cwd: the defining file's dir"
        );
    }

    #[test]
    fn duplicates_across_files_name_both() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "main.toml",
            "[supervisor]\ninclude = [\"conf.d/*.toml\"]\n[services.web]\ncommand = \"x\"\n",
        );
        let b = write(
            dir.path(),
            "conf.d/b.toml",
            "\n[services.web]\ncommand = \"y\"\n",
        );
        assert_eq!(
            load_errors(&main),
            [format!(
                "{}:2:11: services.web: service `web` is defined twice: here and at {}:3:11",
                b.display(),
                main.display()
            )]
        );
    }

    #[test]
    fn include_errors_point_at_the_pattern_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "main.toml",
            "[supervisor]\ninclude = [\"missing.toml\", \"conf.d/[.toml\", \"conf.d/*.toml\"]\n[services.a]\ncommand = \"x\"\n",
        );
        let bad = write(
            dir.path(),
            "conf.d/x.toml",
            "[supervisor]\n[services.b]\ncommand = 1\n",
        );
        let errs = load_errors(&main);
        let m = main.display();
        let missing = dir.path().join("missing.toml");
        assert_eq!(errs.len(), 4, "{errs:#?}");
        assert_eq!(
            errs[0],
            format!(
                "{m}:2:12: supervisor.include: included file {} does not exist",
                missing.display()
            )
        );
        assert!(
            errs[1].starts_with(&format!(
                "{m}:2:28: supervisor.include: invalid include pattern \"conf.d/[.toml\""
            )),
            "{}",
            errs[1]
        );
        let b = bad.display();
        assert_eq!(
            errs[2],
            format!("{b}:1:2: supervisor: an included file may hold only [services.*] tables")
        );
        assert!(
            errs[3].starts_with(&format!(
                "{b}:3:11: services.b.command: invalid type: integer `1`"
            )),
            "{}",
            errs[3]
        );
    }

    #[test]
    fn a_relative_path_is_made_absolute_and_a_missing_file_is_one_error() {
        let err = load_with(Path::new("no/such.toml"), &facts(), &FakeAccounts).unwrap_err();
        assert_eq!(err.0.len(), 1);
        let d = &err.0[0];
        assert!(
            d.file.is_absolute() && d.file.ends_with("no/such.toml"),
            "{d}"
        );
        assert!(d.to_string().contains("cannot read the config file"), "{d}");
    }
}
