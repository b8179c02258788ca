//! The control protocol: newline-delimited JSON, one request per line, one or more response
//! lines per request (several for `logs --follow`). Every message carries the protocol version;
//! unknown fields are ignored, unknown commands get an error. Pure: serde only.
//!
//! Request: `{"version":1,"cmd":"status","names":["web"]}`.
//! Response: `{"version":1,"ok":true,"services":[…]}` or `{"version":1,"ok":false,"error":"…"}`.

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The longest request line accepted; a longer one gets an error and the connection is closed.
pub const MAX_REQUEST: usize = 64 * 1024;

/// What a `wait` (or a waiting start/stop) waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// RUNNING.
    Running,
    /// STOPPED, EXITED or FATAL: nothing running.
    Stopped,
}

/// A command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Command {
    /// The state of the named services (none: all).
    Status {
        /// Service names.
        #[serde(default)]
        names: Vec<String>,
    },
    /// Start services.
    Start(Batch),
    /// Stop services.
    Stop(Batch),
    /// Restart services.
    Restart(Batch),
    /// Send a signal to services' main processes.
    Signal {
        /// `HUP`, `SIGUSR1`, `15`…
        signal: String,
        /// Service names.
        names: Vec<String>,
    },
    /// A service's PID, or the supervisor's.
    Pid {
        /// The service (none: the supervisor).
        #[serde(default)]
        name: Option<String>,
    },
    /// A service's captured output.
    Logs {
        /// The service.
        name: String,
        /// Keep streaming new output.
        #[serde(default)]
        follow: bool,
        /// How many trailing lines to send first.
        #[serde(default = "default_lines")]
        lines: usize,
        /// Standard error instead of standard output.
        #[serde(default)]
        stderr: bool,
    },
    /// Wait until services reach a state.
    Wait {
        /// Service names.
        names: Vec<String>,
        /// The state.
        target: Target,
        /// Give up after this many milliseconds.
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    /// Reload the config file.
    Reload,
    /// Shut the supervisor down.
    Shutdown,
}

fn default_lines() -> usize {
    10
}

/// Services for start/stop/restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Service names.
    #[serde(default)]
    pub names: Vec<String>,
    /// Every service instead.
    #[serde(default)]
    pub all: bool,
    /// Answer at once instead of when the services reached the target state.
    #[serde(default)]
    pub no_wait: bool,
}

/// A request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The client's protocol version.
    pub version: u32,
    /// The command.
    #[serde(flatten)]
    pub command: Command,
}

/// One service's status, with stable field names (documented in the README).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// The service name.
    pub name: String,
    /// `STOPPED`, `STARTING`, `RUNNING`, `BACKOFF`, `STOPPING`, `EXITED` or `FATAL`.
    pub state: String,
    /// The main process, when there is one.
    pub pid: Option<i32>,
    /// Seconds in the current state.
    pub uptime_secs: u64,
    /// Restarts since the supervisor started.
    pub restarts: u64,
    /// The last exit: `exit status 3`, `killed by signal 9`, …
    pub last_exit: Option<String>,
    /// Why the service is in this state (the last transition's reason).
    pub reason: String,
    /// Whether it starts with the supervisor.
    pub autostart: bool,
}

/// The outcome of start/stop/restart/signal for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The service.
    pub name: String,
    /// Reached the target (or the command was accepted).
    pub ok: bool,
    /// Its state now.
    pub state: String,
    /// What happened, for the operator.
    pub message: String,
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadSummary {
    /// Started.
    pub added: Vec<String>,
    /// Stopped and forgotten.
    pub removed: Vec<String>,
    /// Restarted under the new spec.
    pub changed: Vec<String>,
    /// Not touched.
    pub unchanged: Vec<String>,
}

/// A response line; the fields present depend on the command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The server's protocol version.
    pub version: u32,
    /// Success.
    pub ok: bool,
    /// The error, when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The known service names, with an "unknown service" error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known: Option<Vec<String>>,
    /// `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ServiceStatus>>,
    /// `start`/`stop`/`restart`/`signal`/`wait`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<Vec<Outcome>>,
    /// `pid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// `reload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<ReloadSummary>,
    /// `logs`: a piece of output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// More lines follow for this request (`logs --follow`, `shutdown`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
}

impl Response {
    /// A success with nothing else yet.
    pub fn ok() -> Response {
        Response {
            version: VERSION,
            ok: true,
            ..Response::default()
        }
    }

    /// A failure.
    pub fn error(message: impl Into<String>) -> Response {
        Response {
            version: VERSION,
            ok: false,
            error: Some(message.into()),
            ..Response::default()
        }
    }

    /// The response as a line of JSON, newline included.
    pub fn encode(&self) -> Vec<u8> {
        let mut line =
            serde_json::to_vec(self).unwrap_or_else(|_| br#"{"version":1,"ok":false}"#.to_vec());
        line.push(b'\n');
        line
    }
}

/// Why a request line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not UTF-8.
    NotUtf8,
    /// Not JSON, or not an object.
    NotJson(String),
    /// A version this server does not speak.
    Version(u64),
    /// A command this server does not know, or bad arguments.
    BadCommand(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::NotUtf8 => f.write_str("request is not valid UTF-8"),
            DecodeError::NotJson(e) => write!(f, "request is not a JSON object: {e}"),
            DecodeError::Version(v) => write!(
                f,
                "protocol version {v} is not supported (this supervisor speaks {VERSION})"
            ),
            DecodeError::BadCommand(e) => write!(f, "bad request: {e}"),
        }
    }
}

/// Decodes one request line (without its newline).
///
/// # Errors
/// A [`DecodeError`] for the client.
pub fn decode(line: &[u8]) -> Result<Request, DecodeError> {
    let text = std::str::from_utf8(line).map_err(|_| DecodeError::NotUtf8)?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| DecodeError::BadCommand("missing \"version\"".into()))?;
    if version != u64::from(VERSION) {
        return Err(DecodeError::Version(version));
    }
    serde_json::from_value(value).map_err(|e| DecodeError::BadCommand(e.to_string()))
}

/// Encodes a request as a line, newline included.
pub fn encode_request(command: &Command) -> Vec<u8> {
    let request = Request {
        version: VERSION,
        command: command.clone(),
    };
    let mut line = serde_json::to_vec(&request).unwrap_or_default();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_unknown_fields_are_ignored() {
        let cmd = Command::Start(Batch {
            names: vec!["web".into()],
            all: false,
            no_wait: true,
        });
        let line = encode_request(&cmd);
        assert_eq!(decode(line.trim_ascii_end()).map(|r| r.command), Ok(cmd));
        let extra = br#"{"version":1,"cmd":"status","names":[],"colour":"blue"}"#;
        assert_eq!(
            decode(extra).map(|r| r.command),
            Ok(Command::Status { names: vec![] })
        );
        let logs = decode(br#"{"version":1,"cmd":"logs","name":"web"}"#).map(|r| r.command);
        assert_eq!(
            logs,
            Ok(Command::Logs {
                name: "web".into(),
                follow: false,
                lines: 10,
                stderr: false
            })
        );
    }

    #[test]
    fn bad_requests_say_why() {
        assert_eq!(decode(b"\xff\xfe"), Err(DecodeError::NotUtf8));
        assert!(matches!(decode(b"{not json"), Err(DecodeError::NotJson(_))));
        assert!(matches!(
            decode(br#"{"cmd":"status"}"#),
            Err(DecodeError::BadCommand(_))
        ));
        assert_eq!(
            decode(br#"{"version":99,"cmd":"status"}"#),
            Err(DecodeError::Version(99))
        );
        let unknown = decode(br#"{"version":1,"cmd":"fly"}"#);
        assert!(
            matches!(&unknown, Err(DecodeError::BadCommand(e)) if e.contains("fly")),
            "{unknown:?}"
        );
    }

    #[test]
    fn responses_omit_absent_fields() {
        let text = String::from_utf8(Response::error("nope").encode()).unwrap();
        assert_eq!(text, "{\"version\":1,\"ok\":false,\"error\":\"nope\"}\n");
    }
}
