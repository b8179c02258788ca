//! The control socket's server side, driven from the supervisor's poll loop: a non-blocking
//! listener and per-client buffers. A client that never sends, or never reads, costs only its
//! own buffers: nothing here blocks, and a client whose unread output grows past a bound is
//! dropped.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::auth::{self, Access, Peer};
use super::protocol::{self, DecodeError, Request, Response, MAX_REQUEST};

/// A client's unread output beyond this is not kept: the client is disconnected.
pub const MAX_PENDING_OUTPUT: usize = 8 * 1024 * 1024;

/// Connections beyond this are refused at once.
pub const MAX_CLIENTS: usize = 1024;

/// Identifies a client for the life of its connection.
pub type ClientId = u64;

/// One connection.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    /// Who it is.
    pub peer: Peer,
    /// Close once the output is flushed.
    closing: bool,
    /// The client shut its sending side (or went away): poll it for writing only.
    read_closed: bool,
    /// Streaming a service's output (`logs --follow`): (service, stderr).
    pub follow: Option<(String, bool)>,
}

/// What a read from a client produced.
#[derive(Debug)]
pub enum Incoming {
    /// A request to handle.
    Request(Request),
    /// A bad line: the error was sent and the connection will close.
    Refused(DecodeError),
}

/// The listening socket and its clients.
#[derive(Debug)]
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    access: Access,
    clients: BTreeMap<ClientId, Client>,
    next_id: ClientId,
}

impl Server {
    /// Binds `path` (replacing a stale socket only after checking that nothing listens on it),
    /// with mode 0600 (0660 and the group set when `access.group` is given).
    ///
    /// # Errors
    /// When another process listens there, or binding fails.
    pub fn bind(path: &Path, access: Access) -> io::Result<Server> {
        if std::fs::symlink_metadata(path).is_ok() {
            match UnixStream::connect(path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("{}: another process is listening on it", path.display()),
                    ))
                }
                Err(_) => std::fs::remove_file(path)?,
            }
        }
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        if let Some(gid) = access.group {
            nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
                .map_err(io::Error::from)?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(access.mode()))?;
        Ok(Server {
            listener,
            path: path.to_path_buf(),
            access,
            clients: BTreeMap::new(),
            next_id: 1,
        })
    }

    /// The listening descriptor.
    pub fn listener_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// Every client's descriptor, whether to poll it for reading, and whether for writing.
    pub fn client_fds(&self) -> impl Iterator<Item = (ClientId, BorrowedFd<'_>, bool, bool)> {
        self.clients.iter().map(|(id, c)| {
            (
                *id,
                c.stream.as_fd(),
                !c.read_closed && !c.closing,
                !c.outbuf.is_empty(),
            )
        })
    }

    /// Whether `id` shut its sending side.
    pub fn read_closed(&self, id: ClientId) -> bool {
        self.clients.get(&id).is_some_and(|c| c.read_closed)
    }

    /// Drops `id` at once (it hung up).
    pub fn drop_client(&mut self, id: ClientId) {
        self.clients.remove(&id);
    }

    /// Accepts every pending connection, refusing (with a message) peers that are not allowed.
    pub fn accept(&mut self) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("control socket: accept: {e}");
                    return;
                }
            };
            if let Err(e) = self.admit(stream) {
                log::warn!("control socket: {e}");
            }
        }
    }

    fn admit(&mut self, stream: UnixStream) -> io::Result<()> {
        stream.set_nonblocking(true)?;
        let peer = auth::peer_of(&stream)?;
        if !self.access.allows(peer, auth::supplementary_groups) {
            log::warn!(
                "control socket: permission denied for uid {} (PID {})",
                peer.uid,
                peer.pid
            );
            let _ = (&stream).write(
                &Response::error(format!(
                    "permission denied: uid {} may not use {}",
                    peer.uid,
                    self.path.display()
                ))
                .encode(),
            );
            return Ok(());
        }
        if self.clients.len() >= MAX_CLIENTS {
            let _ = (&stream).write(&Response::error("too many control connections").encode());
            return Ok(());
        }
        let id = self.next_id;
        self.next_id += 1;
        let client = Client {
            stream,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            peer,
            closing: false,
            read_closed: false,
            follow: None,
        };
        self.clients.insert(id, client);
        Ok(())
    }

    /// Reads what `id` sent; returns its complete request lines. A line over the limit, or that
    /// is not a valid request, is answered with an error and the connection closes.
    pub fn read(&mut self, id: ClientId) -> Vec<Incoming> {
        let Some(client) = self.clients.get_mut(&id) else {
            return Vec::new();
        };
        let mut buf = [0u8; 16 * 1024];
        let mut eof = false;
        loop {
            match (&client.stream).read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    client.inbuf.extend_from_slice(&buf[..n]);
                    if client.inbuf.len() > MAX_REQUEST {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        client.read_closed |= eof;
        split_requests(client)
    }

    /// Queues `response` for `id` and tries to send it at once.
    pub fn send(&mut self, id: ClientId, response: &Response) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        client.outbuf.extend_from_slice(&response.encode());
        self.flush(id);
    }

    /// Sends raw output to a follower; drops it if it does not keep up.
    pub fn send_follow(&mut self, id: ClientId, response: &Response) {
        if self
            .clients
            .get(&id)
            .is_some_and(|c| c.outbuf.len() > MAX_PENDING_OUTPUT)
        {
            log::warn!("control socket: dropping a `logs --follow` client that does not keep up");
            self.clients.remove(&id);
            return;
        }
        self.send(id, response);
    }

    /// Writes as much pending output as the socket takes; closes a finished closing client.
    pub fn flush(&mut self, id: ClientId) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        while !client.outbuf.is_empty() {
            match (&client.stream).write(&client.outbuf) {
                Ok(0) => break,
                Ok(n) => {
                    client.outbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.clients.remove(&id);
                    return;
                }
            }
        }
        if client.outbuf.is_empty() && client.closing {
            self.clients.remove(&id);
        }
    }

    /// Closes `id` once its output is sent.
    pub fn close_after_flush(&mut self, id: ClientId) {
        if let Some(c) = self.clients.get_mut(&id) {
            c.closing = true;
        }
        self.flush(id);
    }

    /// Makes `id` a follower of a service's output.
    pub fn set_follow(&mut self, id: ClientId, service: &str, stderr: bool) {
        if let Some(c) = self.clients.get_mut(&id) {
            c.follow = Some((service.to_owned(), stderr));
        }
    }

    /// The clients following `service`'s stdout (`stderr` false) or stderr.
    pub fn followers(&self, service: &str, stderr: bool) -> Vec<ClientId> {
        self.clients
            .iter()
            .filter(|(_, c)| {
                c.follow
                    .as_ref()
                    .is_some_and(|(s, e)| s == service && *e == stderr)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Whether `id` is still connected.
    pub fn connected(&self, id: ClientId) -> bool {
        self.clients.contains_key(&id)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes the complete lines out of a client's input buffer and decodes them.
fn split_requests(client: &mut Client) -> Vec<Incoming> {
    let mut out = Vec::new();
    if client.closing {
        client.inbuf.clear();
        return out;
    }
    while let Some(pos) = client.inbuf.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = client.inbuf.drain(..=pos).collect();
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_REQUEST {
            let e =
                DecodeError::BadCommand(format!("request line longer than {MAX_REQUEST} bytes"));
            refuse(client, &e.to_string());
            out.push(Incoming::Refused(e));
            return out;
        }
        match protocol::decode(line) {
            Ok(request) => out.push(Incoming::Request(request)),
            Err(e) => {
                refuse(client, &e.to_string());
                out.push(Incoming::Refused(e));
                return out;
            }
        }
    }
    if client.inbuf.len() > MAX_REQUEST {
        let e = DecodeError::BadCommand(format!("request line longer than {MAX_REQUEST} bytes"));
        refuse(client, &e.to_string());
        out.push(Incoming::Refused(e));
    }
    out
}

fn refuse(client: &mut Client, message: &str) {
    client
        .outbuf
        .extend_from_slice(&Response::error(message).encode());
    client.inbuf.clear();
    client.closing = true;
}
