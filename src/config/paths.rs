//! Default directories and relative paths, as pure functions of the environment facts passed in
//! (so every rule is a table-driven unit test):
//!
//! - runtime dir: config, else `$RUNTIME_DIRECTORY`, else `/run/pidward` as root, else
//!   `$XDG_RUNTIME_DIR/pidward`, else `/tmp/pidward-$UID`;
//! - log dir: config, else `/var/log/pidward` as root, else `$XDG_STATE_HOME/pidward`, else
//!   `~/.local/state/pidward`;
//! - relative paths: resolved lexically against their base, refusing a `..` that leaves it.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// What the defaults depend on: the user and a few environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The effective uid.
    pub uid: u32,
    /// `$RUNTIME_DIRECTORY` (set by systemd's `RuntimeDirectory=`).
    pub runtime_directory: Option<OsString>,
    /// `$XDG_RUNTIME_DIR`.
    pub xdg_runtime_dir: Option<OsString>,
    /// `$XDG_STATE_HOME`.
    pub xdg_state_home: Option<OsString>,
    /// The home directory (`$HOME`, else the passwd entry).
    pub home: Option<OsString>,
}

/// An absolute path from an environment value; empty and relative values count as unset, as the
/// XDG spec says. `$RUNTIME_DIRECTORY` may list several directories separated by `:`; the first
/// is ours.
fn env_dir(value: Option<&OsString>) -> Option<PathBuf> {
    let value = value?;
    let first = match value.to_str() {
        Some(s) => PathBuf::from(s.split(':').next().unwrap_or_default()),
        None => PathBuf::from(value),
    };
    first.is_absolute().then_some(first)
}

/// The runtime dir: the configured one (already absolute), else the first default that applies.
pub fn runtime_dir(configured: Option<&Path>, facts: &Facts) -> PathBuf {
    if let Some(dir) = configured {
        return dir.to_path_buf();
    }
    if let Some(dir) = env_dir(facts.runtime_directory.as_ref()) {
        return dir;
    }
    if facts.uid == 0 {
        return PathBuf::from("/run/pidward");
    }
    if let Some(dir) = env_dir(facts.xdg_runtime_dir.as_ref()) {
        return dir.join("pidward");
    }
    PathBuf::from(format!("/tmp/pidward-{}", facts.uid))
}

/// The log dir: the configured one, else `/var/log/pidward` as root, else the XDG state dir;
/// with no usable home at all, `/tmp/pidward-$UID-log` (never the runtime dir, a tmpfs the
/// services' files share).
pub fn log_dir(configured: Option<&Path>, facts: &Facts) -> PathBuf {
    if let Some(dir) = configured {
        return dir.to_path_buf();
    }
    if facts.uid == 0 {
        return PathBuf::from("/var/log/pidward");
    }
    if let Some(dir) = env_dir(facts.xdg_state_home.as_ref()) {
        return dir.join("pidward");
    }
    if let Some(home) = facts.home.as_ref().map(PathBuf::from) {
        if home.is_absolute() {
            return home.join(".local/state/pidward");
        }
    }
    PathBuf::from(format!("/tmp/pidward-{}-log", facts.uid))
}

/// Why a relative path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The path is empty.
    Empty,
    /// The path has a NUL byte.
    Nul,
    /// A `..` leaves the base directory.
    Escapes,
}

/// Resolves `path` against the absolute `base`: an absolute path is kept (with `.` removed), a
/// relative one is joined and normalized lexically; with `confine`, a relative path whose `..`
/// would leave `base` is refused.
///
/// # Errors
/// [`PathError`] for an empty path, a NUL byte, or an escape.
pub fn resolve(base: &Path, path: &str, confine: bool) -> Result<PathBuf, PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.contains('\0') {
        return Err(PathError::Nul);
    }
    let path = Path::new(path);
    if path.is_absolute() {
        return Ok(path.components().collect());
    }
    let mut out = base.to_path_buf();
    let mut depth = 0usize;
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if depth == 0 => {
                if confine {
                    return Err(PathError::Escapes);
                }
                out.pop();
            }
            Component::ParentDir => {
                depth -= 1;
                out.pop();
            }
            Component::Normal(name) => {
                depth += 1;
                out.push(name);
            }
            Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(uid: u32, rd: Option<&str>, xdg: Option<&str>) -> Facts {
        Facts {
            uid,
            runtime_directory: rd.map(Into::into),
            xdg_runtime_dir: xdg.map(Into::into),
            xdg_state_home: None,
            home: Some("/home/u".into()),
        }
    }

    #[test]
    fn runtime_dir_resolution_order() {
        let cfg = Some(Path::new("/srv/run"));
        let table: [(Option<&Path>, Facts, &str); 9] = [
            (
                cfg,
                facts(0, Some("/run/sd"), Some("/run/user/0")),
                "/srv/run",
            ),
            (cfg, facts(1000, None, None), "/srv/run"),
            (None, facts(0, Some("/run/sd"), None), "/run/sd"),
            (
                None,
                facts(1000, Some("/run/sd:/run/other"), Some("/x")),
                "/run/sd",
            ),
            (None, facts(0, None, Some("/run/user/0")), "/run/pidward"),
            (
                None,
                facts(1000, None, Some("/run/user/1000")),
                "/run/user/1000/pidward",
            ),
            (None, facts(1000, None, None), "/tmp/pidward-1000"),
            (None, facts(1000, Some(""), Some("")), "/tmp/pidward-1000"),
            (
                None,
                facts(1000, Some("rel"), Some("relative/dir")),
                "/tmp/pidward-1000",
            ),
        ];
        for (configured, f, want) in table {
            assert_eq!(
                runtime_dir(configured, &f),
                PathBuf::from(want),
                "{configured:?} {f:?}"
            );
        }
    }

    #[test]
    fn log_dir_resolution_order() {
        let mut f = facts(1000, None, None);
        assert_eq!(log_dir(Some(Path::new("/l")), &f), PathBuf::from("/l"));
        assert_eq!(
            log_dir(None, &f),
            PathBuf::from("/home/u/.local/state/pidward")
        );
        f.xdg_state_home = Some("/home/u/state".into());
        assert_eq!(log_dir(None, &f), PathBuf::from("/home/u/state/pidward"));
        f.uid = 0;
        assert_eq!(log_dir(None, &f), PathBuf::from("/var/log/pidward"));
        let f = Facts {
            uid: 7,
            ..Facts::default()
        };
        assert_eq!(log_dir(None, &f), PathBuf::from("/tmp/pidward-7-log"));
    }

    #[test]
    fn relative_paths_resolve_against_their_base_and_may_not_escape() {
        let base = Path::new("/etc/pidward");
        let ok = [
            ("web.pid", "/etc/pidward/web.pid"),
            ("./a/../b/c", "/etc/pidward/b/c"),
            ("/abs/./x", "/abs/x"),
            ("/abs/../x", "/abs/../x"),
            (".", "/etc/pidward"),
        ];
        for (path, want) in ok {
            assert_eq!(resolve(base, path, true), Ok(PathBuf::from(want)), "{path}");
        }
        for path in ["..", "../x", "a/../../x", "./../x"] {
            assert_eq!(resolve(base, path, true), Err(PathError::Escapes), "{path}");
        }
        assert_eq!(
            resolve(base, "../logs", false),
            Ok(PathBuf::from("/etc/logs"))
        );
        assert_eq!(resolve(base, "", true), Err(PathError::Empty));
        assert_eq!(resolve(base, "a\0b", true), Err(PathError::Nul));
    }
}
