//! The sd_notify protocol, spoken directly: one datagram per message to `$NOTIFY_SOCKET` (a path,
//! or an abstract socket when it starts with `@`). Without that variable every call is a no-op.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `message` (e.g. `READY=1\nSTATUS=…`) to systemd; `false` if there is no notify socket
/// or sending failed.
pub fn notify(message: &str) -> bool {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(socket) => notify_to(&socket.to_string_lossy(), message),
        None => false,
    }
}

/// Sends `message` to the notify socket `socket` (a path, or `@name` for an abstract socket).
pub fn notify_to(socket: &str, message: &str) -> bool {
    let addr = match socket.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(socket),
    };
    let sent = addr.and_then(|addr| {
        let sock = UnixDatagram::unbound()?;
        sock.send_to_addr(message.as_bytes(), &addr)
    });
    match sent {
        Ok(_) => true,
        Err(e) => {
            log::debug!("sd_notify to {socket}: {e}");
            false
        }
    }
}

/// `READY=1`.
pub fn ready() {
    notify("READY=1");
}

/// `RELOADING=1` (a `READY=1` follows when the reload is done).
pub fn reloading() {
    notify("RELOADING=1");
}

/// `STOPPING=1`.
pub fn stopping() {
    notify("STOPPING=1");
}

/// `STATUS=` a one-line summary.
pub fn status(text: &str) {
    notify(&format!("STATUS={}", text.replace('\n', " ")));
}

/// The watchdog period: half of `$WATCHDOG_USEC`, when the watchdog is meant for this process
/// (`$WATCHDOG_PID` unset or naming it).
pub fn watchdog_period() -> Option<std::time::Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    (usec > 0).then(|| std::time::Duration::from_micros(usec / 2))
}

/// `WATCHDOG=1`.
pub fn watchdog() {
    notify("WATCHDOG=1");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn messages_reach_a_path_socket_and_an_abstract_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        assert!(notify_to(path.to_str().unwrap(), "READY=1\nSTATUS=ok"));
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=ok");
        let name = format!("pidward-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let abstract_listener = UnixDatagram::bind_addr(&addr).unwrap();
        assert!(notify_to(&format!("@{name}"), "WATCHDOG=1"));
        let n = abstract_listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        assert!(!notify_to(
            dir.path().join("nobody-listens").to_str().unwrap(),
            "READY=1"
        ));
    }
}
