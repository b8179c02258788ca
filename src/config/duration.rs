//! Durations as users write them: `"500ms"`, `"10s"`, `"2m"`, `"1h"`, or a bare number of
//! seconds (`10`, `0.5`, as `flock -w` takes). Pure.

use std::time::Duration;

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
    if !secs.is_finite() || secs > 1e9 {
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
    fn rejected_forms_say_why() {
        for text in ["", "s", "ten", "10 parsecs", "-1s", "1e400", "5d"] {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains("invalid duration"), "{err}");
        }
    }
}
