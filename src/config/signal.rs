//! Signal names as users write them: `"TERM"`, `"SIGTERM"`, `"sigterm"`, or a number. Pure: only
//! the `Signal` type and its name table are used, nothing is sent.

use std::str::FromStr;

use super::spec::Signal;

/// Parses a signal name (with or without `SIG`, any case) or number.
///
/// # Errors
/// A one-line message naming the bad input.
pub fn parse_signal(text: &str) -> Result<Signal, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| format!("unknown signal number {n}"));
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| {
        format!("unknown signal {text:?} (use a name like TERM, INT, HUP, QUIT or KILL)")
    })
}

/// The name without its `SIG` prefix (`TERM`), as shown in summaries.
pub fn signal_name(signal: Signal) -> &'static str {
    let name = signal.as_str();
    name.strip_prefix("SIG").unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_case() {
        for text in ["TERM", "SIGTERM", "sigterm", "Term", "15", " TERM "] {
            assert_eq!(parse_signal(text), Ok(Signal::SIGTERM), "{text}");
        }
        assert_eq!(parse_signal("hup"), Ok(Signal::SIGHUP));
        assert_eq!(signal_name(Signal::SIGQUIT), "QUIT");
    }

    #[test]
    fn unknown_signals_are_refused() {
        for text in ["", "SIG", "TERMINATE", "0", "999", "-15"] {
            assert!(parse_signal(text).is_err(), "{text}");
        }
    }
}
