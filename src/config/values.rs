//! Turning one raw value into its typed form, or into a diagnostic at its span. Each function
//! returns the default after reporting, so validation goes on and finds every other problem too.
//! Pure: user and group existence is asked of the [`Accounts`] passed in.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::duration::duration_of;
use super::error::{suggest, Diagnostic, Problem, Source};
use super::paths::{self, PathError};
use super::raw::TextOrNumber;
use super::signal::parse_signal;
use super::size::parse_size;
use super::spec::{Keyword, Rlimit, Signal};

/// Which users and groups exist (the real answer comes from the system's user database).
pub trait Accounts {
    /// Whether a user with this name exists.
    fn user_exists(&self, name: &str) -> bool;
    /// Whether a group with this name exists.
    fn group_exists(&self, name: &str) -> bool;
}

/// Users or groups, for [`Ctx::account`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// A user.
    User,
    /// A group.
    Group,
}

/// One file's validation context: its source (for positions), the accounts, and the errors.
pub struct Ctx<'a> {
    /// The file being validated.
    pub src: &'a Source,
    /// User and group lookup.
    pub accounts: &'a dyn Accounts,
    /// Every error found so far.
    pub out: &'a mut Vec<Diagnostic>,
}

/// An optional raw value.
type Opt<'v, T> = Option<&'v Spanned<T>>;

impl Ctx<'_> {
    /// Records an error at `span` about `key`.
    pub fn report(&mut self, span: Range<usize>, key: &str, problem: Problem) {
        self.out.push(self.src.diag(Some(span), key, problem));
    }

    /// A duration, or `default` when absent or bad.
    pub fn duration(&mut self, v: Opt<'_, TextOrNumber>, key: &str, default: Duration) -> Duration {
        let Some(v) = v else { return default };
        duration_of(v.get_ref()).unwrap_or_else(|msg| {
            self.report(v.span(), key, Problem::BadDuration(msg));
            default
        })
    }

    /// A size in bytes, or `default`.
    pub fn size(&mut self, v: Opt<'_, TextOrNumber>, key: &str, default: u64) -> u64 {
        let Some(v) = v else { return default };
        let parsed = match v.get_ref() {
            TextOrNumber::Text(t) => parse_size(t),
            TextOrNumber::Int(n) => {
                u64::try_from(*n).map_err(|_| format!("invalid size {n}: must not be negative"))
            }
            TextOrNumber::Float(f) => Err(format!(
                "invalid size {f}: use a whole number of bytes or a unit, like 10MiB"
            )),
        };
        parsed.unwrap_or_else(|msg| {
            self.report(v.span(), key, Problem::BadSize(msg));
            default
        })
    }

    /// A whole number in `min..=u32::MAX`, or `default`.
    pub fn count(&mut self, v: Opt<'_, i64>, key: &str, min: u32, default: u32) -> u32 {
        let Some(v) = v else { return default };
        match u32::try_from(*v.get_ref()) {
            Ok(n) if n >= min => n,
            _ => {
                let msg = format!(
                    "{} is out of range: use a whole number from {min} to {}",
                    v.get_ref(),
                    u32::MAX
                );
                self.report(v.span(), key, Problem::OutOfRange(msg));
                default
            }
        }
    }

    /// One of a fixed set of keywords, or `default`.
    pub fn choice<T>(
        &mut self,
        v: Opt<'_, String>,
        key: &str,
        parse: fn(&str) -> Option<T>,
        all: &[&str],
        default: T,
    ) -> T {
        let Some(v) = v else { return default };
        parse(v.get_ref()).unwrap_or_else(|| {
            let problem = Problem::BadChoice {
                value: v.get_ref().clone(),
                expected: all.join(", "),
                suggestion: suggest(v.get_ref(), all).map(str::to_owned),
            };
            self.report(v.span(), key, problem);
            default
        })
    }

    /// A keyword value (`restart`, `on_orphan`, `stdout`, …), or `default`.
    pub fn keyword<T: Keyword>(&mut self, v: Opt<'_, String>, key: &str, default: T) -> T {
        self.choice(v, key, T::from_keyword, T::ALL, default)
    }

    /// A signal, or `default`.
    pub fn signal(&mut self, v: Opt<'_, TextOrNumber>, key: &str, default: Signal) -> Signal {
        let Some(v) = v else { return default };
        let parsed = match v.get_ref() {
            TextOrNumber::Text(t) => parse_signal(t),
            TextOrNumber::Int(n) => parse_signal(&n.to_string()),
            TextOrNumber::Float(f) => Err(format!("unknown signal {f}")),
        };
        parsed.unwrap_or_else(|msg| {
            self.report(v.span(), key, Problem::BadSignal(msg));
            default
        })
    }

    /// A umask: an integer (`0o022`) or an octal string (`"022"`, `"0o022"`), at most 0o777.
    pub fn umask(&mut self, v: Opt<'_, TextOrNumber>, key: &str) -> Option<u32> {
        let v = v?;
        let parsed = match v.get_ref() {
            TextOrNumber::Text(t) => {
                let digits = t.trim().trim_start_matches("0o");
                u32::from_str_radix(digits, 8).ok()
            }
            TextOrNumber::Int(n) => u32::try_from(*n).ok(),
            TextOrNumber::Float(_) => None,
        };
        match parsed {
            Some(mask) if mask <= 0o777 => Some(mask),
            _ => {
                let msg = format!(
                    "invalid umask {}: use an octal string like \"022\" or an integer like 0o022",
                    display(v.get_ref())
                );
                self.report(v.span(), key, Problem::OutOfRange(msg));
                None
            }
        }
    }

    /// A resource limit: an integer, `"unlimited"`, or (for byte limits) a size like `"64MiB"`.
    pub fn rlimit(&mut self, v: Opt<'_, TextOrNumber>, key: &str, bytes: bool) -> Option<Rlimit> {
        let v = v?;
        let parsed = match v.get_ref() {
            TextOrNumber::Text(t)
                if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinity") =>
            {
                Ok(Rlimit::Unlimited)
            }
            TextOrNumber::Text(t) if bytes => parse_size(t).map(Rlimit::Value),
            TextOrNumber::Text(t) => {
                t.trim().parse().map(Rlimit::Value).map_err(|_| {
                    format!("invalid limit {t:?}: use a whole number or \"unlimited\"")
                })
            }
            TextOrNumber::Int(n) => u64::try_from(*n)
                .map(Rlimit::Value)
                .map_err(|_| format!("invalid limit {n}: must not be negative")),
            TextOrNumber::Float(f) => Err(format!("invalid limit {f}: use a whole number")),
        };
        parsed
            .map_err(|msg| self.report(v.span(), key, Problem::OutOfRange(msg)))
            .ok()
    }

    /// A path resolved against `base`; `confine` refuses a relative path that leaves `base`.
    pub fn path(
        &mut self,
        v: Opt<'_, String>,
        key: &str,
        base: &Path,
        confine: bool,
    ) -> Option<PathBuf> {
        let v = v?;
        paths::resolve(base, v.get_ref(), confine)
            .map_err(|e| {
                let problem = match e {
                    PathError::Empty => Problem::Invalid("empty path".into()),
                    PathError::Nul => Problem::Invalid("a path may not contain a NUL byte".into()),
                    PathError::Escapes => Problem::EscapingPath {
                        path: v.get_ref().clone(),
                        base: base.display().to_string(),
                    },
                };
                self.report(v.span(), key, problem);
            })
            .ok()
    }

    /// A user or group that must exist (a numeric id is taken as is).
    pub fn account(&mut self, v: Opt<'_, String>, key: &str, kind: AccountKind) -> Option<String> {
        let v = v?;
        let name = v.get_ref();
        if name.is_empty() || name.contains('\0') {
            self.report(
                v.span(),
                key,
                Problem::Invalid(format!("invalid name {name:?}")),
            );
            return None;
        }
        if name.parse::<u32>().is_ok() {
            return Some(name.clone());
        }
        let exists = match kind {
            AccountKind::User => self.accounts.user_exists(name),
            AccountKind::Group => self.accounts.group_exists(name),
        };
        if !exists {
            let problem = match kind {
                AccountKind::User => Problem::UnknownUser(name.clone()),
                AccountKind::Group => Problem::UnknownGroup(name.clone()),
            };
            self.report(v.span(), key, problem);
            return None;
        }
        Some(name.clone())
    }
}

/// A raw value as it would be written in TOML.
fn display(v: &TextOrNumber) -> String {
    match v {
        TextOrNumber::Text(t) => format!("{t:?}"),
        TextOrNumber::Int(n) => n.to_string(),
        TextOrNumber::Float(f) => f.to_string(),
    }
}
