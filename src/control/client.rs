//! The control socket's client side, for the CLI: blocking connect, send one request, read
//! response lines.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::protocol::{encode_request, Command, Response};

/// Why the supervisor could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Nothing listens there.
    #[error("no pidward is listening on {} ({why}); is `pidward run` running with this runtime directory? (looked at: {looked})", path.display())]
    NotListening {
        /// The socket path.
        path: PathBuf,
        /// The OS's word.
        why: String,
        /// How the path was found.
        looked: String,
    },
    /// The socket's mode refused us.
    #[error("permission denied on {}: only root, the supervisor's user and members of its socket_group may use it", path.display())]
    PermissionDenied {
        /// The socket path.
        path: PathBuf,
    },
    /// Another failure.
    #[error("{}: {source}", path.display())]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// A connection to the supervisor.
#[derive(Debug)]
pub struct Connection {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

/// Connects to the socket at `path`; `looked` says how the path was chosen (for the message).
///
/// # Errors
/// [`ConnectError`] with a one-line explanation.
pub fn connect(path: &Path, looked: &str) -> Result<Connection, ConnectError> {
    let stream = UnixStream::connect(path).map_err(|e| match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => ConnectError::PermissionDenied {
            path: path.to_path_buf(),
        },
        Some(libc::ENOENT) | Some(libc::ECONNREFUSED) | Some(libc::ENOTDIR) => {
            ConnectError::NotListening {
                path: path.to_path_buf(),
                why: e.to_string(),
                looked: looked.to_owned(),
            }
        }
        _ => ConnectError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    let reader = stream.try_clone().map_err(|e| ConnectError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(Connection {
        writer: stream,
        reader: BufReader::new(reader),
    })
}

impl Connection {
    /// Sends one request.
    ///
    /// # Errors
    /// When the socket is closed.
    pub fn send(&mut self, command: &Command) -> io::Result<()> {
        self.writer.write_all(&encode_request(command))
    }

    /// Reads the next response; `None` when the supervisor closed the connection.
    ///
    /// # Errors
    /// On a read error, a timeout (see [`Connection::set_timeout`]) or an unparsable line.
    pub fn recv(&mut self) -> io::Result<Option<Response>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        serde_json::from_str(&line).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad response from the supervisor: {e}"),
            )
        })
    }

    /// Limits how long [`Connection::recv`] waits (`None`: forever).
    ///
    /// # Errors
    /// When the option cannot be set.
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.writer.set_read_timeout(timeout)
    }
}
