//! Durations as users write them: `"500ms"`, `"10s"`, `"2m"`, `"1h"`, or a bare number of
//! seconds (`10`, `0.5`, as `flock -w` takes), or in a config file a TOML number of seconds. Pure.

use std::time::Duration;

use super::raw::TextOrNumber;

/// The largest duration accepted, in seconds (about 31 years): beyond it lies overflow.
const MAX_SECS: f64 = 1e9;

/// A config value as a duration: a string for [`parse_duration`], or a number of seconds.
///
/// # Errors
/// A one-line message naming the bad input.
pub fn duration_of(value: &TextOrNumber) -> Result<Duration, String> {
    let secs = match value {
        TextOrNumber::Text(text) => return parse_duration(text),
        TextOrNumber::Int(n) => *n as f64,
        TextOrNumber::Float(f) => *f,
    };
    if secs < 0.0 {
        return Err(format!("invalid duration {secs}: must not be negative"));
    }
    if !secs.is_finite() || secs > MAX_SECS {
        return Err(format!("invalid duration {secs}: too large"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a duration; the error says what was wrong and what is accepted.
///
/// # Errors
/// A one-line message naming the bad input.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!(
            "invalid duration {text:?}: expected a number with a unit, like 500ms, 10s, 2m or 1h"
        )
    })?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "invalid duration {text:?}: unknown unit {other:?} (use ms, s, m or h)"
            ))
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > MAX_SECS {
        return Err(format!("invalid duration {text:?}: too large"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let ok = [
            ("500ms", 500),
            ("10s", 10_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("10", 10_000),
            ("0.5", 500),
            ("1.5s", 1500),
            (" 3s ", 3000),
            ("0", 0),
        ];
        for (text, ms) in ok {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn config_numbers_are_seconds() {
        let ok = [
            (TextOrNumber::Int(5), 5000),
            (TextOrNumber::Float(0.25), 250),
            (TextOrNumber::Text("2m".into()), 120_000),
        ];
        for (value, ms) in ok {
            assert_eq!(
                duration_of(&value),
                Ok(Duration::from_millis(ms)),
                "{value:?}"
            );
        }
        for value in [
            TextOrNumber::Int(-1),
            TextOrNumber::Float(f64::NAN),
            TextOrNumber::Float(1e12),
        ] {
            assert!(duration_of(&value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn rejected_forms_say_why() {
        for text in ["", "s", "ten", "10 parsecs", "-1s", "1e400", "5d"] {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains("invalid duration"), "{err}");
        }
    }
}
