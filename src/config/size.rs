//! Sizes as users write them: `"10MiB"`, `"512KiB"`, `"1GiB"`, `"1000"` (bytes), or an integer.
//! Units are binary (`K`, `KiB` = 1024), as systemd reads them. Pure.

/// Parses a size in bytes; the error says what was wrong and what is accepted.
///
/// # Errors
/// A one-line message naming the bad input.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: u64 = number.parse().map_err(|_| {
        format!("invalid size {text:?}: expected a whole number with an optional unit, like 1000, 512KiB, 10MiB or 1GiB")
    })?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        other => {
            return Err(format!(
                "invalid size {text:?}: unknown unit {other:?} (use B, KiB, MiB, GiB or TiB)"
            ))
        }
    };
    value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("invalid size {text:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let ok = [
            ("1000", 1000),
            ("0", 0),
            ("512KiB", 512 * 1024),
            ("10MiB", 10 << 20),
            ("10 MiB", 10 << 20),
            ("1GiB", 1 << 30),
            ("2G", 2 << 30),
            ("7B", 7),
            ("1TiB", 1 << 40),
        ];
        for (text, bytes) in ok {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn rejected_forms_say_why() {
        for text in [
            "",
            "MiB",
            "-1",
            "1.5MiB",
            "10MB",
            "10 parsecs",
            "99999999999TiB",
        ] {
            let err = parse_size(text).expect_err(text);
            assert!(err.contains("invalid size"), "{err}");
        }
    }
}
