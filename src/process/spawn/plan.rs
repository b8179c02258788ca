//! The parent's half of a spawn: argv and environment as C strings, the `PATH` search, limits
//! and credentials, all before the child exists (the child may not allocate).

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI32;

use super::child::Plan;
use super::{SpawnError, SpawnSpec};

/// `PATH` search results by (program, `PATH`, cwd): at 500 services the search was a dozen
/// `statx` calls per spawn. Cleared at a reload and after a failed exec, so a program moved
/// or installed elsewhere is found again then (systemd too resolves at unit load).
pub(super) type PathCache = std::collections::HashMap<(String, OsString, PathBuf), Vec<CString>>;

/// `PATH` when the service's environment has none (glibc's `execvp` default, plus /usr/local).
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn c_string(what: &str, bytes: Vec<u8>) -> Result<CString, SpawnError> {
    CString::new(bytes).map_err(|_| SpawnError {
        permanent: true,
        message: format!("{what} contains a NUL byte"),
    })
}

/// Builds the plan for `spec`; `lock_fd` is the number the lock will have in the child. The
/// descriptor fields are filled in by the caller.
///
/// # Errors
/// Permanent: a NUL byte in an argument or variable, or a program found nowhere on `PATH`.
pub(super) fn prepare(
    spec: &SpawnSpec<'_>,
    lock_fd: Option<i32>,
    found: &mut PathCache,
) -> Result<Plan, SpawnError> {
    let env = environment(spec, lock_fd);
    let program = spec.argv.first().map(String::as_str).unwrap_or_default();
    let path_var = env
        .get(OsStr::new("PATH"))
        .map(OsString::as_os_str)
        .unwrap_or(OsStr::new(DEFAULT_PATH));
    let key = (
        program.to_owned(),
        path_var.to_owned(),
        spec.cwd.to_path_buf(),
    );
    let candidates = match found.get(&key) {
        Some(c) => c.clone(),
        None => {
            let c = search_path(program, path_var, spec.cwd)
                .into_iter()
                .map(|p| c_string("the program path", p.into_os_string().into_vec()))
                .collect::<Result<Vec<_>, _>>()?;
            if !c.is_empty() {
                found.insert(key, c.clone());
            }
            c
        }
    };
    if candidates.is_empty() {
        return Err(SpawnError {
            permanent: true,
            message: format!("{program}: command not found"),
        });
    }
    let argv_strings = spec
        .argv
        .iter()
        .map(|a| c_string("an argument", a.clone().into_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let envp_strings = env
        .into_iter()
        .map(|(k, v)| {
            let mut entry = k.into_vec();
            entry.push(b'=');
            entry.extend_from_slice(v.as_bytes());
            c_string("an environment variable", entry)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let pointers = |strings: &[CString]| {
        let mut p: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        p.push(std::ptr::null());
        p
    };
    Ok(Plan {
        candidates,
        argv: pointers(&argv_strings),
        envp: pointers(&envp_strings),
        _argv: argv_strings,
        _envp: envp_strings,
        cwd: c_string(
            "the working directory",
            spec.cwd.as_os_str().as_bytes().to_vec(),
        )?,
        umask: spec.umask.map(|m| m as libc::mode_t),
        rlimits: spec
            .rlimits
            .iter()
            .map(|&(resource, soft, hard)| {
                let limit = libc::rlimit {
                    rlim_cur: soft as libc::rlim_t,
                    rlim_max: hard as libc::rlim_t,
                };
                (resource, limit)
            })
            .collect(),
        credentials: spec.credentials.map(|c| (c.uid, c.gid, c.groups.clone())),
        stdin: -1,
        stdout: None,
        stderr: None,
        lock: None,
        first_unused: 3,
        failure: [AtomicI32::new(0), AtomicI32::new(0)],
    })
}

/// The supervisor's environment, less `remove_env`, plus the service's.
fn environment(spec: &SpawnSpec<'_>, lock_fd: Option<i32>) -> BTreeMap<OsString, OsString> {
    let mut env: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    for key in spec.remove_env {
        env.remove(OsStr::new(key));
    }
    if let Some(creds) = spec.credentials {
        for key in ["USER", "LOGNAME"] {
            env.insert(key.into(), creds.name.clone().into());
        }
        env.insert("HOME".into(), creds.home.clone().into());
    }
    for (k, v) in spec.env {
        env.insert(k.into(), v.into());
    }
    match lock_fd {
        Some(fd) => env.insert("PIDWARD_LOCK_FD".into(), fd.to_string().into()),
        None => env.remove(OsStr::new("PIDWARD_LOCK_FD")),
    };
    env
}

/// Where `execvp` would look for `program`: itself when it names a path, else every `PATH`
/// entry that holds a file of that name (relative entries, like a relative program, are taken
/// from `cwd`, where the child will be). The child tries them in order.
pub(super) fn search_path(program: &str, path_var: &OsStr, cwd: &Path) -> Vec<PathBuf> {
    if program.is_empty() {
        return Vec::new();
    }
    if program.contains('/') {
        return vec![PathBuf::from(program)];
    }
    path_var
        .as_bytes()
        .split(|b| *b == b':')
        .map(|dir| {
            let dir = Path::new(OsStr::from_bytes(dir));
            // An empty entry means the current directory, as in execvp.
            let dir = if dir.as_os_str().is_empty() {
                cwd.to_path_buf()
            } else {
                cwd.join(dir)
            };
            dir.join(program)
        })
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_found_on_path_in_order_and_missing_dirs_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", "b"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
            std::fs::write(dir.path().join(sub).join("prog"), "").unwrap();
        }
        let path = OsString::from(format!("/nonexistent:{0}/b:{0}/a", dir.path().display()));
        let found = search_path("prog", &path, Path::new("/"));
        assert_eq!(
            found,
            [dir.path().join("b/prog"), dir.path().join("a/prog")]
        );
        assert!(search_path("missing", &path, Path::new("/")).is_empty());
    }

    #[test]
    fn a_path_is_taken_as_it_is_and_relative_entries_follow_cwd() {
        assert_eq!(
            search_path("./x", OsStr::new("/bin"), Path::new("/")),
            [PathBuf::from("./x")]
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/tool"), "").unwrap();
        assert_eq!(
            search_path("tool", OsStr::new("bin"), dir.path()),
            [dir.path().join("bin/tool")]
        );
        assert!(search_path("", OsStr::new("/bin"), Path::new("/")).is_empty());
    }
}
