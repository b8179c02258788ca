//! Who may use the control socket: a client running as `nobody` is refused, first by the
//! socket's own mode (0600: `connect` fails with EACCES), then, with the socket loosened to 0666,
//! by the supervisor's `SO_PEERCRED` check, which also logs the peer's uid.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{bin, tempdir};
use crate::ctl::{output, Out, Sup};

const NOBODY: u32 = 65534;

/// Whether `nobody` can reach and execute `path`: every directory above it searchable by
/// others, the file executable by others.
fn executable_by_others(path: &Path) -> bool {
    let mode = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode());
    mode(path) & 0o001 != 0 && path.ancestors().skip(1).all(|dir| mode(dir) & 0o001 != 0)
}

/// `pidward --socket SOCKET status` run as uid/gid 65534 in `cwd`.
fn status_as_nobody(binary: &Path, cwd: &Path, socket: &Path) -> Out {
    let mut cmd = Command::new(binary);
    cmd.current_dir(cwd)
        .args(["--socket", socket.to_str().unwrap(), "status"])
        .env_remove("RUST_LOG")
        .env_remove("PIDWARD_SOCKET")
        .uid(NOBODY)
        .gid(NOBODY);
    output(cmd)
}

/// A running supervisor with its socket reachable by `nobody` (the temp dir made 0755), and a
/// `pidward` binary that `nobody` can execute. `None` when not root.
fn setup() -> Option<(Sup, PathBuf, tempfile::TempDir)> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to run a client as nobody");
        return None;
    }
    let sup = Sup::start(
        r#"
[services.web]
command = ["sleep", "1000"]
start_secs = "200ms"
"#,
    );
    sup.wait_state("web", "RUNNING");
    // The temp dir is 0700 as created; the runtime dir is 0755 (created by root).
    std::fs::set_permissions(sup.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(mode(&sup.runtime), 0o755, "the runtime dir as root");
    let copy_dir = tempdir();
    let binary: PathBuf = if executable_by_others(&bin()) {
        bin()
    } else {
        std::fs::set_permissions(copy_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let copy = copy_dir.path().join("pidward");
        std::fs::copy(bin(), &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            executable_by_others(&copy),
            "{} is not reachable",
            copy.display()
        );
        copy
    };
    Some((sup, binary, copy_dir))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn ctl_access_nobody_is_refused_by_the_sockets_own_mode() {
    let Some((sup, binary, _copy)) = setup() else {
        return;
    };
    let socket = sup.socket();
    assert_eq!(mode(&socket), 0o600, "the socket's own mode");
    let out = status_as_nobody(&binary, &sup.root(), &socket);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(
        out.stderr.contains("permission denied") && out.stderr.contains(socket.to_str().unwrap()),
        "not a clear message naming the socket: {out:?}"
    );
    assert!(
        !sup.log().contains("uid 65534"),
        "the kernel should have refused before the supervisor saw it:\n{}",
        sup.log()
    );
    let out = sup.ctl(&["status"]);
    assert_eq!(out.code, 0, "root still may: {out:?}");
}

#[test]
fn ctl_access_nobody_is_refused_by_peer_credentials_on_a_loosened_socket() {
    let Some((sup, binary, _copy)) = setup() else {
        return;
    };
    let socket = sup.socket();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    // Several times: whether the refusal reaches the client must not depend on timing.
    for attempt in 0..10 {
        let out = status_as_nobody(&binary, &sup.root(), &socket);
        assert_eq!(out.code, 1, "attempt {attempt}: {out:?}\n{}", sup.log());
        assert!(out.stdout.is_empty(), "{out:?}");
        assert!(
            out.stderr.contains("permission denied") && out.stderr.contains("65534"),
            "attempt {attempt}: {out:?}"
        );
    }
    assert!(
        sup.log()
            .lines()
            .any(|l| l.contains("permission denied") && l.contains("uid 65534")),
        "no log line naming uid 65534:\n{}",
        sup.log()
    );
    let out = sup.ctl(&["status"]);
    assert_eq!(out.code, 0, "root still may: {out:?}");
}

#[test]
fn ctl_access_a_loosened_socket_serves_nobody_nothing_and_logs_the_uid() {
    // What the ignored test above checks, less the part the bug makes timing-dependent (the
    // client reporting the refusal): with the socket at 0666 the kernel lets nobody connect,
    // the supervisor refuses it by SO_PEERCRED and logs the uid, and nobody is never served.
    let Some((sup, binary, _copy)) = setup() else {
        return;
    };
    let socket = sup.socket();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    for attempt in 0..5 {
        let out = status_as_nobody(&binary, &sup.root(), &socket);
        assert!(out.stdout.is_empty(), "attempt {attempt}: served: {out:?}");
        assert!(
            out.stderr.is_empty()
                || out.stderr
                    == format!(
                        "pidward: permission denied: uid 65534 may not use {}\n",
                        socket.display()
                    ),
            "attempt {attempt}: {out:?}"
        );
    }
    let denials = sup
        .log()
        .lines()
        .filter(|l| l.contains("permission denied for uid 65534"))
        .count();
    assert_eq!(
        denials,
        5,
        "one log line per refused connection:\n{}",
        sup.log()
    );
    let out = sup.ctl(&["status"]);
    assert_eq!(out.code, 0, "root still may: {out:?}");
}
