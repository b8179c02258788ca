//! The control protocol spoken raw over the socket: bad requests get an error line and a closed
//! connection without hurting the supervisor; clients that stall (half a request, a `logs -f`
//! nobody reads) cannot stall the loop; 50 clients at once while services restart.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::process::Stdio;

use serde_json::Value;

use crate::common::{wait_until, Proc, PATIENCE};
use crate::ctl::{finish, json, Sup};

const WEB: &str = r#"
[services.web]
command = ["sleep", "1000"]
start_secs = "200ms"
"#;

/// Reads one response line.
fn read_response(reader: &mut BufReader<UnixStream>) -> Value {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read a response");
    assert!(line.ends_with('\n'), "no complete response line: {line:?}");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad response {line:?}: {e}"))
}

/// Whether the server closed the connection: EOF (or a reset) on the next read.
fn closed(reader: &mut BufReader<UnixStream>) -> bool {
    let mut rest = Vec::new();
    match reader.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// Sends `bytes` on a new connection; returns the error response, checking that the
/// connection is then closed.
fn refused(sup: &Sup, bytes: &[u8]) -> String {
    let mut stream = sup.connect();
    stream.write_all(bytes).expect("send");
    let mut reader = BufReader::new(stream);
    let answer = read_response(&mut reader);
    assert_eq!(answer["ok"], false, "{answer}");
    assert_eq!(answer["version"], 1, "{answer}");
    assert!(
        closed(&mut reader),
        "the connection stayed open after {answer}"
    );
    answer["error"]
        .as_str()
        .expect("an error message")
        .to_owned()
}

/// `pidward status` from another process answers, exit 0, within [`PATIENCE`].
fn assert_status_answers(sup: &Sup) {
    let mut cmd = sup.cmd(&["status", "--json"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = finish(Proc::spawn(cmd));
    assert_eq!(out.code, 0, "{out:?}\n{}", sup.log());
    let services = json(&out)["services"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!services.is_empty(), "{out:?}");
}

#[test]
fn ctl_protocol_garbage_is_answered_with_an_error_and_the_connection_closed() {
    let sup = Sup::start(WEB);
    sup.wait_state("web", "RUNNING");
    let error = refused(&sup, b"hello there\n");
    assert!(error.contains("not a JSON object"), "{error}");
    let error = refused(&sup, b"[1,2,3]\n");
    assert!(error.contains("bad request"), "{error}");
    let error = refused(&sup, b"\xff\xfe\xfd{}\n");
    assert!(error.contains("not valid UTF-8"), "{error}");
    assert_status_answers(&sup);
}

#[test]
fn ctl_protocol_version_mismatch_and_unknown_commands_are_named() {
    let sup = Sup::start(WEB);
    sup.wait_state("web", "RUNNING");
    let error = refused(&sup, b"{\"version\":99,\"cmd\":\"status\"}\n");
    assert!(error.contains("version 99"), "{error}");
    let error = refused(&sup, b"{\"version\":1,\"cmd\":\"fly\"}\n");
    assert!(
        error.contains("fly"),
        "the unknown command is not named: {error}"
    );
    let error = refused(&sup, b"{\"version\":1,\"cmd\":\"logs\"}\n");
    assert!(
        error.contains("name"),
        "the missing field is not named: {error}"
    );
    assert_status_answers(&sup);
}

#[test]
fn ctl_protocol_oversized_request_is_refused_and_closed() {
    let sup = Sup::start(WEB);
    sup.wait_state("web", "RUNNING");
    // No newline in sight after 64 KiB.
    let error = refused(&sup, &vec![b'a'; 70 * 1024]);
    assert!(error.contains("longer than 65536"), "{error}");
    // A long line still arriving: refused once past the limit, without waiting for the rest.
    let mut stream = sup.connect();
    let mut body = br#"{"version":1,"cmd":"status","pad":""#.to_vec();
    body.resize(100 * 1024, b'x');
    stream.write_all(&body).expect("send");
    let mut reader = BufReader::new(stream);
    let answer = read_response(&mut reader);
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(closed(&mut reader));
    assert_status_answers(&sup);
}

#[test]
fn ctl_protocol_oversized_complete_line_is_refused() {
    let sup = Sup::start(WEB);
    sup.wait_state("web", "RUNNING");
    // A valid request padded with an unknown field to 70 KiB, newline included, sent at once.
    let mut line = br#"{"version":1,"cmd":"status","pad":""#.to_vec();
    line.resize(70 * 1024, b'x');
    line.extend_from_slice(b"\"}\n");
    let error = refused(&sup, &line);
    assert!(error.contains("longer than"), "{error}");
}

#[test]
fn ctl_protocol_unknown_fields_are_ignored_and_a_connection_serves_many_requests() {
    let sup = Sup::start(WEB);
    sup.wait_state("web", "RUNNING");
    let web = sup.wait_pid("web");
    let mut stream = sup.connect();
    stream
        .write_all(
            b"{\"version\":1,\"cmd\":\"status\",\"names\":[\"web\"],\"colour\":\"blue\",\"x\":{\"y\":[1]}}\n\
              {\"cmd\":\"pid\",\"name\":\"web\",\"version\":1,\"extra\":null}\n\n",
        )
        .expect("send");
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let status = read_response(&mut reader);
    assert_eq!(status["ok"], true, "{status}");
    assert_eq!(status["version"], 1, "{status}");
    assert_eq!(status["services"][0]["name"], "web", "{status}");
    let pid = read_response(&mut reader);
    assert_eq!(
        (pid["ok"].clone(), pid["pid"].clone()),
        (true.into(), web.into()),
        "{pid}"
    );
    // Still open: a third request on the same connection, then our half-close ends it.
    stream
        .write_all(b"{\"version\":1,\"cmd\":\"pid\"}\n")
        .expect("send");
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let pid = read_response(&mut reader);
    assert_eq!(pid["pid"], sup.pid(), "{pid}");
    assert!(closed(&mut reader));
}

#[test]
fn ctl_protocol_silent_and_half_sent_clients_do_not_stall_others() {
    let sup = Sup::start(WEB);
    sup.wait_state("web", "RUNNING");
    let _silent = sup.connect();
    let mut half = sup.connect();
    half.write_all(br#"{"version":1,"cmd":"sta"#).expect("send");
    let mut partial = sup.connect();
    partial.write_all(&[b' '; 60 * 1024]).expect("send");
    // While all three stay connected and quiet, others are served.
    for _ in 0..3 {
        assert_status_answers(&sup);
    }
    // The half request was kept: finishing it gets the answer.
    half.write_all(b"tus\"}\n").expect("send");
    let mut reader = BufReader::new(half);
    let answer = read_response(&mut reader);
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["services"][0]["name"], "web", "{answer}");
}

#[test]
fn ctl_protocol_a_follower_that_never_reads_does_not_stall_the_loop() {
    let sup = Sup::start(
        r#"
[services.flood]
command = "while :; do head -c 65536 /dev/zero | tr '\\0' x; echo; sleep 0.05; done"
start_secs = "200ms"
log_max_bytes = "1MiB"
log_backups = 1

[services.web]
command = ["sleep", "1000"]
start_secs = "200ms"
"#,
    );
    sup.wait_state("flood", "RUNNING");
    sup.wait_state("web", "RUNNING");
    let mut lazy = sup.connect();
    lazy.write_all(
        b"{\"version\":1,\"cmd\":\"logs\",\"name\":\"flood\",\"follow\":true,\"lines\":0}\n",
    )
    .expect("send");
    // Megabytes of output while the follower reads nothing, far more than its socket holds:
    // flood.out (1 MiB at most) rotates to flood.out.1 again and again.
    let rotated = sup.logs.join("flood.out.1");
    let ino = || std::fs::metadata(&rotated).ok().map(|m| m.ino());
    // (Inode numbers may be reused: count changes, not distinct values.)
    let (mut last, mut rotations) = (None, 0);
    assert!(
        wait_until(PATIENCE, || {
            let now = ino();
            if now.is_some() && now != last {
                last = now;
                rotations += 1;
            }
            rotations >= 3
        }),
        "flood.out did not rotate three times:\n{}",
        sup.log()
    );
    for _ in 0..3 {
        assert_status_answers(&sup);
    }
    assert_eq!(sup.state("flood"), "RUNNING");
    drop(lazy);
}

#[test]
fn ctl_protocol_fifty_concurrent_status_clients_while_services_restart() {
    let sup = Sup::start(
        r#"
[services.flap]
command = ["sleep", "0.1"]
restart = "always"
start_secs = "0"
restart_limit = { burst = 100000, interval = "1s" }

[services.web]
command = ["sleep", "1000"]
start_secs = "200ms"
"#,
    );
    sup.wait_state("web", "RUNNING");
    let restarts = |sup: &Sup| sup.status_of("flap")["restarts"].as_u64().unwrap();
    assert!(
        wait_until(PATIENCE, || restarts(&sup) >= 3),
        "flap does not flap:\n{}",
        sup.log()
    );
    let before = restarts(&sup);
    let clients: Vec<Proc> = (0..50)
        .map(|_| {
            let mut cmd = sup.cmd(&["status", "--json"]);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            Proc::spawn(cmd)
        })
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let out = finish(client);
        assert!(
            out.code == 0 || out.code == 3,
            "client {i}: {out:?}\n{}",
            sup.log()
        );
        assert!(out.stderr.is_empty(), "client {i}: {out:?}");
        let doc = json(&out);
        let names: Vec<&str> = doc["services"]
            .as_array()
            .unwrap_or_else(|| panic!("client {i}: {out:?}"))
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["flap", "web"], "client {i}: {out:?}");
        assert_eq!(
            doc["services"][1]["state"], "RUNNING",
            "client {i}: {out:?}"
        );
    }
    assert!(
        wait_until(PATIENCE, || restarts(&sup) > before),
        "flap stopped restarting"
    );
}
