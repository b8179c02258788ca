//! `pidward logs`: the last lines of a service's stdout or stderr, and `-f` following its
//! output as it is written, across rotations of the log file.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{wait_until, Proc, PATIENCE};
use crate::ctl::Sup;

#[test]
fn ctl_logs_prints_the_last_lines_of_stdout_or_stderr() {
    let sup = Sup::start(
        r#"
[services.talk]
command = "printf 'one\ntwo\nthree\n'; printf 'e1\ne2\ne3\n' >&2; exec sleep 1000"
start_secs = "200ms"
"#,
    );
    assert!(wait_until(PATIENCE, || sup
        .captured("talk.out")
        .lines()
        .count()
        == 3
        && sup.captured("talk.err").lines().count() == 3));
    let out = sup.ctl(&["logs", "talk", "-n", "2"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "two\nthree\n"),
        "{out:?}"
    );
    let out = sup.ctl(&["logs", "talk"]);
    assert_eq!(out.stdout, "one\ntwo\nthree\n", "{out:?}");
    let out = sup.ctl(&["logs", "talk", "--stderr", "-n", "2"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "e2\ne3\n"), "{out:?}");
    let out = sup.ctl(&["logs", "talk", "--stderr", "-n", "1"]);
    assert_eq!(out.stdout, "e3\n", "{out:?}");
}

#[test]
fn ctl_logs_follow_keeps_following_across_rotation() {
    let sup = Sup::start(
        r#"
[services.chatty]
command = "i=0; while :; do i=$((i+1)); echo \"line $i ..............................................\"; sleep 0.02; done"
start_secs = "200ms"
log_max_bytes = "1KiB"
log_backups = 2
"#,
    );
    assert!(wait_until(PATIENCE, || !sup
        .captured("chatty.out")
        .is_empty()));
    let mut cmd = sup.cmd(&["logs", "chatty", "-f", "-n", "1"]);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut follower = Proc::spawn(cmd);
    let stdout = follower.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let n = line.split_whitespace().nth(1).and_then(|n| n.parse().ok());
            if tx.send(n.unwrap_or(0)).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(PATIENCE)
        .expect("the follower printed nothing");
    // Let the file rotate at least twice after the follower started: every line of
    // `chatty.out` now was written after a rotation.
    let out1 = sup.logs.join("chatty.out.1");
    let ino = |p: &std::path::Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
    };
    let mut before = None;
    assert!(wait_until(PATIENCE, || {
        before = ino(&out1);
        before.is_some()
    }));
    let mut after = None;
    let rotated = wait_until(PATIENCE, || {
        after = sup
            .captured("chatty.out")
            .lines()
            .last()
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok());
        ino(&out1).is_some_and(|i| Some(i) != before) && after.is_some()
    });
    assert!(rotated, "chatty.out did not rotate");
    let after = after.unwrap();
    let mut seen = vec![first];
    let deadline = Instant::now() + PATIENCE;
    while *seen.last().unwrap() < after + 5 && Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(n) => seen.push(n),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("the follower stopped: {e}"),
        }
    }
    assert!(
        *seen.last().unwrap() >= after + 5,
        "the follower stopped at line {} (the file rotated at {after})",
        seen.last().unwrap()
    );
    let expected: Vec<u64> = (first..first + seen.len() as u64).collect();
    assert_eq!(seen, expected, "the follower skipped or repeated lines");
    assert!(
        follower.child.try_wait().unwrap().is_none(),
        "the follower exited"
    );
    drop(follower);
    drop(rx);
    let _ = reader.join();
}
