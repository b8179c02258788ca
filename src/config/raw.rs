//! The config file as written: serde structs mirroring the TOML 1:1, unknown keys denied, every
//! value kept with its byte span so validation can say `FILE:LINE:COL`. Every field is optional
//! here (a missing `command` is a validation error, reported with the others, not a serde one).
//! Pure.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// A whole config file: `[supervisor]` and `[services.NAME]` tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDocument {
    /// The `[supervisor]` table.
    pub supervisor: Option<Spanned<RawSupervisor>>,
    /// The `[services.NAME]` tables, by name.
    #[serde(default)]
    pub services: BTreeMap<Spanned<String>, Spanned<RawService>>,
}

/// `[supervisor]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSupervisor {
    /// Where PID, lock and socket files go.
    pub runtime_dir: Option<Spanned<String>>,
    /// Where captured output goes.
    pub log_dir: Option<Spanned<String>>,
    /// off, error, warn, info, debug or trace.
    pub log_level: Option<Spanned<String>>,
    /// How long a graceful shutdown may take in all.
    pub shutdown_timeout: Option<Spanned<TextOrNumber>>,
    /// Glob patterns of drop-in files, relative to this file.
    pub include: Option<Spanned<Vec<Spanned<String>>>>,
    /// The default `on_orphan` for services.
    pub on_orphan: Option<Spanned<String>>,
    /// The group that may use the control socket.
    pub socket_group: Option<Spanned<String>>,
}

/// `[services.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// argv array, or a string for `/bin/sh -c`.
    pub command: Option<Spanned<CommandValue>>,
    /// Working directory.
    pub cwd: Option<Spanned<String>>,
    /// Extra environment variables.
    pub env: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    /// User to run as.
    pub user: Option<Spanned<String>>,
    /// Group to run as.
    pub group: Option<Spanned<String>>,
    /// File mode creation mask: an integer (`0o022`) or an octal string (`"022"`).
    pub umask: Option<Spanned<TextOrNumber>>,
    /// Start with the supervisor.
    pub autostart: Option<Spanned<bool>>,
    /// always, on-failure or never.
    pub restart: Option<Spanned<String>>,
    /// How long a start must stay up to count.
    pub start_secs: Option<Spanned<TextOrNumber>>,
    /// Retries after a failed first start.
    pub start_retries: Option<Spanned<i64>>,
    /// Delay between failed starts.
    pub backoff: Option<Spanned<RawBackoff>>,
    /// Restart rate limit.
    pub restart_limit: Option<Spanned<RawRestartLimit>>,
    /// Exit codes that count as success.
    pub success_exit_codes: Option<Spanned<Vec<Spanned<i64>>>>,
    /// What to do with a service left running by a crashed supervisor.
    pub on_orphan: Option<Spanned<String>>,
    /// The signal that asks the service to stop.
    pub stop_signal: Option<Spanned<TextOrNumber>>,
    /// How long to wait after `stop_signal` before SIGKILL.
    pub stop_timeout: Option<Spanned<TextOrNumber>>,
    /// Signal the whole process group.
    pub kill_group: Option<Spanned<bool>>,
    /// PID file path.
    pub pidfile: Option<Spanned<String>>,
    /// Lock file path.
    pub lockfile: Option<Spanned<String>>,
    /// Services this one starts after.
    pub depends_on: Option<Spanned<Vec<Spanned<String>>>>,
    /// inherit, null or log.
    pub stdout: Option<Spanned<String>>,
    /// inherit, null or log.
    pub stderr: Option<Spanned<String>>,
    /// Rotate captured logs at this size.
    pub log_max_bytes: Option<Spanned<TextOrNumber>>,
    /// Rotated files to keep.
    pub log_backups: Option<Spanned<i64>>,
    /// Resource limits.
    pub limits: Option<Spanned<RawLimits>>,
}

/// `backoff = { initial, max, factor }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackoff {
    /// First delay.
    pub initial: Option<Spanned<TextOrNumber>>,
    /// Largest delay.
    pub max: Option<Spanned<TextOrNumber>>,
    /// Growth per failed start.
    pub factor: Option<Spanned<f64>>,
}

/// `restart_limit = { burst, interval }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRestartLimit {
    /// Restarts allowed within `interval`.
    pub burst: Option<Spanned<i64>>,
    /// The window.
    pub interval: Option<Spanned<TextOrNumber>>,
}

/// `limits = { nofile, nproc, core, memlock }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// RLIMIT_NOFILE.
    pub nofile: Option<Spanned<TextOrNumber>>,
    /// RLIMIT_NPROC.
    pub nproc: Option<Spanned<TextOrNumber>>,
    /// RLIMIT_CORE (bytes or a size).
    pub core: Option<Spanned<TextOrNumber>>,
    /// RLIMIT_MEMLOCK (bytes or a size).
    pub memlock: Option<Spanned<TextOrNumber>>,
}

/// A value written either as a string or as a number (durations, sizes, signals, umask).
#[derive(Debug, Clone, PartialEq)]
pub enum TextOrNumber {
    /// A string: `"10s"`, `"10MiB"`, `"TERM"`, `"022"`.
    Text(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

impl<'de> Deserialize<'de> for TextOrNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TextOrNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextOrNumber, E> {
                Ok(TextOrNumber::Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TextOrNumber, E> {
                Ok(TextOrNumber::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TextOrNumber, E> {
                i64::try_from(v)
                    .map(TextOrNumber::Int)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TextOrNumber, E> {
                Ok(TextOrNumber::Float(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// `command`: an argv array, or a string run through `/bin/sh -c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandValue {
    /// A shell command line.
    Shell(String),
    /// Program and arguments.
    Argv(Vec<String>),
}

impl<'de> Deserialize<'de> for CommandValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CommandValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of strings (argv) or a string (run by /bin/sh -c)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandValue, E> {
                Ok(CommandValue::Shell(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommandValue, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                Ok(CommandValue::Argv(argv))
            }
        }
        d.deserialize_any(V)
    }
}

/// The field names of a serde struct, as its derived `Deserialize` declares them: the one list
/// of valid keys, so a new field can never be "unknown" to the key checker.
pub fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

/// A deserializer that records the field list of the struct asked of it, then gives up.
struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field probe"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("field probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The keys a nested table of `[services.NAME]` accepts (`backoff`, `restart_limit`, `limits`).
pub fn service_subtable_fields(key: &str) -> Option<&'static [&'static str]> {
    match key {
        "backoff" => Some(fields_of::<RawBackoff>()),
        "restart_limit" => Some(fields_of::<RawRestartLimit>()),
        "limits" => Some(fields_of::<RawLimits>()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_lists_come_from_the_structs() {
        assert_eq!(fields_of::<RawDocument>(), ["supervisor", "services"]);
        assert!(fields_of::<RawService>().contains(&"start_secs"));
        assert_eq!(fields_of::<RawService>().len(), 25);
        assert_eq!(fields_of::<RawSupervisor>().len(), 7);
        assert_eq!(fields_of::<RawBackoff>(), ["initial", "max", "factor"]);
        assert_eq!(service_subtable_fields("env"), None);
    }

    #[test]
    fn a_document_deserializes_with_spans() {
        let text = "[services.web]\ncommand = \"echo hi\"\nstart_secs = 5\n";
        let doc: RawDocument = toml::from_str(text).unwrap();
        let (name, svc) = doc.services.iter().next().unwrap();
        assert_eq!(name.get_ref(), "web");
        let cmd = svc.get_ref().command.as_ref().unwrap();
        assert_eq!(cmd.get_ref(), &CommandValue::Shell("echo hi".into()));
        assert_eq!(&text[cmd.span()], "\"echo hi\"");
        let secs = svc.get_ref().start_secs.as_ref().unwrap();
        assert_eq!(secs.get_ref(), &TextOrNumber::Int(5));
    }

    #[test]
    fn unknown_keys_are_denied_by_serde_too() {
        let err = toml::from_str::<RawDocument>("[services.a]\nstart_sec = 1\n").unwrap_err();
        assert!(err.message().contains("start_sec"), "{err}");
    }

    #[test]
    fn command_takes_argv_or_a_shell_string_only() {
        let doc: RawDocument = toml::from_str("[services.a]\ncommand = [\"a\", \"b\"]\n").unwrap();
        let svc = doc.services.values().next().unwrap().get_ref();
        assert_eq!(
            svc.command.as_ref().unwrap().get_ref(),
            &CommandValue::Argv(vec!["a".into(), "b".into()])
        );
        let err = toml::from_str::<RawDocument>("[services.a]\ncommand = 5\n").unwrap_err();
        assert!(err.message().contains("array of strings"), "{err}");
    }
}
