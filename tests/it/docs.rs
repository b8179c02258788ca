//! The packages ship the committed output of `pidward completions` and `pidward man` (so that a
//! plain `cargo deb` needs no pre-step): these tests run the real binary and fail when the files
//! under `packaging/` are stale. To regenerate them:
//!
//! ```sh
//! PIDWARD_REGENERATE=1 cargo test --test it docs::
//! ```

use std::path::{Path, PathBuf};

use crate::common;

/// Runs `pidward ARGS`, compares its output with `packaging/FILE` and, when
/// `PIDWARD_REGENERATE` is set, rewrites a stale file instead of failing.
fn check_generated(args: &[&str], file: &str) {
    let dir = common::tempdir();
    let out = common::run(dir.path(), args);
    assert!(
        out.status.success(),
        "pidward {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "pidward {args:?} wrote to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "pidward {args:?} printed nothing");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging")
        .join(file);
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed == out.stdout {
        return;
    }
    if std::env::var_os("PIDWARD_REGENERATE").is_some() {
        std::fs::write(&path, &out.stdout).unwrap();
        eprintln!("regenerated {}", path.display());
        return;
    }
    panic!(
        "{} is stale: it differs from `pidward {}` ({} bytes committed, {} generated, first \
         difference at line {}). Regenerate with: PIDWARD_REGENERATE=1 cargo test --test it docs::",
        relative(&path).display(),
        args.join(" "),
        committed.len(),
        out.stdout.len(),
        first_different_line(&committed, &out.stdout),
    );
}

fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

fn first_different_line(a: &[u8], b: &[u8]) -> usize {
    let mut a_lines = a.split(|&c| c == b'\n');
    let mut b_lines = b.split(|&c| c == b'\n');
    let mut n = 1;
    loop {
        match (a_lines.next(), b_lines.next()) {
            (Some(x), Some(y)) if x == y => n += 1,
            _ => return n,
        }
    }
}

#[test]
fn committed_bash_completion_is_current() {
    check_generated(&["completions", "bash"], "completions/pidward.bash");
}

#[test]
fn committed_zsh_completion_is_current() {
    check_generated(&["completions", "zsh"], "completions/_pidward");
}

#[test]
fn committed_fish_completion_is_current() {
    check_generated(&["completions", "fish"], "completions/pidward.fish");
}

#[test]
fn committed_man_page_is_current() {
    check_generated(&["man"], "man/pidward.1");
}

#[test]
fn completions_reject_an_unknown_shell() {
    let dir = common::tempdir();
    let out = common::run(dir.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bash") && stderr.contains("fish"),
        "{stderr}"
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::process::Stdio;
    let dir = common::tempdir();
    let mut child = common::pidward(dir.path(), &["man"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end at once, as `pidward man | head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
