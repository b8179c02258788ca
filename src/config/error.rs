//! Config diagnostics. Every problem is one line, `FILE:LINE:COL: KEY: MESSAGE`, and loading
//! collects all of them before reporting, so a user fixes a config in one pass, not one error at a
//! time. Pure: positions come from byte spans and the file's text.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A config file's path and text, kept to turn byte spans into line:column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file's absolute path.
    pub path: PathBuf,
    /// The file's content.
    pub text: String,
}

impl Source {
    /// A source from a path and its text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Source {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut end = offset.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &self.text[..end];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// `FILE:LINE:COL` of a span, for naming a place in another diagnostic's message.
    pub fn place(&self, span: Range<usize>) -> String {
        let (line, col) = self.position(span.start);
        format!("{}:{line}:{col}", self.path.display())
    }

    /// A diagnostic in this file at `span` (or at no particular place), about `key`.
    pub fn diag(&self, span: Option<Range<usize>>, key: &str, problem: Problem) -> Diagnostic {
        Diagnostic {
            file: self.path.clone(),
            position: span.map(|s| self.position(s.start)),
            key: key.to_owned(),
            problem,
        }
    }
}

/// What is wrong with a config; the message says how to fix it where it can.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The file could not be read.
    #[error("cannot read the config file: {0}")]
    Read(String),
    /// The file is not valid TOML.
    #[error("TOML syntax error: {0}")]
    Syntax(String),
    /// A key pidward does not know, with the nearest valid key when one is close.
    #[error("unknown key{}", match .suggestion {
        Some(s) => format!(", did you mean `{s}`?"),
        None if .expected.is_empty() => String::new(),
        None => format!(" (expected one of: {})", .expected),
    })]
    UnknownKey {
        /// The nearest valid key, if one is close enough to be a typo.
        suggestion: Option<String>,
        /// The valid keys, listed when the table has only a few.
        expected: String,
    },
    /// A table an included file may not hold (only `[services.*]` is allowed there).
    #[error("an included file may hold only [services.*] tables")]
    NotInInclude,
    /// A value of the wrong TOML type (the message is serde's, naming what was expected).
    #[error("{0}")]
    Type(String),
    /// A service without `command`.
    #[error("missing `command` (an array of arguments, or a string run by /bin/sh -c)")]
    MissingCommand,
    /// A command that is empty, or whose program is empty.
    #[error("empty command")]
    EmptyCommand,
    /// A service name that cannot be a file name.
    #[error("invalid service name {0:?}: use 1 to 64 characters from A-Z a-z 0-9 _ . -")]
    BadName(String),
    /// The reserved service name `pidward`.
    #[error("the service name `pidward` is reserved: its PID and lock files would collide with the supervisor's own")]
    ReservedName,
    /// A duration that does not parse (message from `parse_duration`).
    #[error("{0}")]
    BadDuration(String),
    /// A size that does not parse.
    #[error("{0}")]
    BadSize(String),
    /// A signal name or number that does not exist.
    #[error("{0}")]
    BadSignal(String),
    /// A value outside the allowed set, with the nearest allowed one when close.
    #[error("unknown value {value:?}, expected one of: {expected}{}",
        .suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
    BadChoice {
        /// What the config says.
        value: String,
        /// The allowed values.
        expected: String,
        /// The nearest allowed value, if close.
        suggestion: Option<String>,
    },
    /// A number or value that makes no sense here (zero, negative, too large, …).
    #[error("{0}")]
    OutOfRange(String),
    /// `depends_on` names a service that does not exist.
    #[error("unknown service `{0}`")]
    UnknownDependency(String),
    /// `depends_on` forms a cycle, named in order: `a → b → a`.
    #[error("dependency cycle: {0}")]
    Cycle(String),
    /// The same service is defined in two files.
    #[error("service `{name}` is defined twice: here and at {other}")]
    Duplicate {
        /// The service name.
        name: String,
        /// Where the other definition is (`FILE:LINE:COL`).
        other: String,
    },
    /// Two services (or a service and the supervisor) would share a PID or lock file.
    #[error("{path} is also used by {other}")]
    SharedFile {
        /// The shared path.
        path: String,
        /// Who else uses it.
        other: String,
    },
    /// A relative path whose `..` leaves the directory it is relative to.
    #[error("relative path {path:?} leaves its base directory {base}")]
    EscapingPath {
        /// The path as written.
        path: String,
        /// The directory it is relative to.
        base: String,
    },
    /// A user name that does not exist on this system.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// A group name that does not exist on this system.
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    /// An include pattern that is not a valid glob.
    #[error("invalid include pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An include that names one file (no wildcard) that does not exist.
    #[error("included file {0} does not exist")]
    MissingInclude(String),
    /// Any other invalid value (empty strings, NUL bytes, …).
    #[error("{0}")]
    Invalid(String),
}

/// One config error: where (file, line:column if known), which key, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the error is in.
    pub file: PathBuf,
    /// 1-based line and column, when the error has a place in the file.
    pub position: Option<(usize, usize)>,
    /// The dotted key path (`services.web.start_secs`); empty for file-level errors.
    pub key: String,
    /// What is wrong.
    pub problem: Problem,
}

impl Diagnostic {
    /// A diagnostic about a whole file (no position, no key).
    pub fn file(path: &Path, problem: Problem) -> Diagnostic {
        Diagnostic {
            file: path.to_path_buf(),
            position: None,
            key: String::new(),
            problem,
        }
    }

    /// `FILE:LINE:COL` (or just `FILE`), for naming this place in another message.
    pub fn place(&self) -> String {
        match self.position {
            Some((line, col)) => format!("{}:{line}:{col}", self.file.display()),
            None => self.file.display().to_string(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.place())?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        let message = self.problem.to_string();
        // One line per error, always: multi-line messages (TOML's) are folded.
        write!(f, "{}", message.trim().replace('\n', "; "))
    }
}

/// Every error found in a config, in file order and then line order; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<Diagnostic>);

/// Joins a key path, quoting a segment that is not a bare TOML key (`services."my app".cwd`).
pub fn key_path(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// The nearest candidate to `word` by edit distance, if it is close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters, case-insensitive (a wrong case is a typo too).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_char_columns() {
        let src = Source::new("/c.toml", "a = 1\nbé = 2\n");
        assert_eq!(src.position(0), (1, 1));
        assert_eq!(src.position(4), (1, 5));
        assert_eq!(src.position(6), (2, 1));
        // 'é' is two bytes; the column counts characters.
        assert_eq!(src.position(9), (2, 3));
        assert_eq!(src.position(999), (3, 1));
    }

    #[test]
    fn a_diagnostic_is_one_line_with_file_position_and_key() {
        let src = Source::new("/etc/p.toml", "x\ny = 1");
        let d = src.diag(
            Some(2..3),
            "services.web.y",
            Problem::Syntax("bad\nthing".into()),
        );
        assert_eq!(
            d.to_string(),
            "/etc/p.toml:2:1: services.web.y: TOML syntax error: bad; thing"
        );
        let d = Diagnostic::file(Path::new("/x.toml"), Problem::Read("gone".into()));
        assert_eq!(d.to_string(), "/x.toml: cannot read the config file: gone");
    }

    #[test]
    fn suggestions_catch_typos_only() {
        let keys = ["start_secs", "start_retries", "stop_signal", "command"];
        assert_eq!(suggest("start_sec", &keys), Some("start_secs"));
        assert_eq!(suggest("Start_Secs", &keys), Some("start_secs"));
        assert_eq!(suggest("stop_sinal", &keys), Some("stop_signal"));
        assert_eq!(suggest("comand", &keys), Some("command"));
        assert_eq!(suggest("banana", &keys), None);
    }

    #[test]
    fn key_paths_quote_what_is_not_a_bare_key() {
        assert_eq!(key_path("", "services"), "services");
        assert_eq!(key_path("services", "web"), "services.web");
        assert_eq!(key_path("services", "a.b"), "services.\"a.b\"");
    }
}
