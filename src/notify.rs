//! The sd_notify protocol, spoken directly: one datagram per message to `$NOTIFY_SOCKET` (a path,
//! or an abstract socket when it starts with `@`). Without that variable every call is a no-op.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `message` (e.g. `READY=1\nSTATUS=…`) to systemd; `false` if there is no notify socket
/// or sending failed.
pub fn notify(message: &str) -> bool {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let socket = socket.to_string_lossy().into_owned();
    let addr = match socket.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(&socket),
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
