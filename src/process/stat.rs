//! Pure parsing of `/proc/PID/stat`: the process state and its start time in clock ticks.

/// The fields of `/proc/PID/stat` that identify a process and say whether it still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFields {
    /// Field 3, the state letter (`R`, `S`, `D`, `Z`, `T`, …).
    pub state: char,
    /// Field 5, the process group.
    pub pgrp: i32,
    /// Field 22, the start time in clock ticks since boot: with the boot id, a process identity
    /// that PID reuse cannot fake.
    pub start_ticks: u64,
}

/// Parses the content of `/proc/PID/stat`, or `None` when it is not in the kernel's format.
///
/// The command name (field 2) is in parentheses and may itself contain spaces and `)`, so the
/// fields are counted from the *last* `)`.
pub fn parse_stat(content: &str) -> Option<StatFields> {
    let close = content.rfind(')')?;
    let mut rest = content.get(close + 1..)?.split_ascii_whitespace();
    // `rest` starts at field 3 (state); field 22 (starttime) is 19 fields further on.
    let state = rest.next()?.chars().next()?;
    let _ppid = rest.next()?;
    let pgrp = rest.next()?.parse().ok()?;
    // Field 22 is 17 fields after field 5.
    let start_ticks = rest.nth(16)?.parse().ok()?;
    Some(StatFields {
        state,
        pgrp,
        start_ticks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_state_and_start_ticks() {
        let line = "1234 (sleep) S 1 1234 1234 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 987654 \
                    2048000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(line),
            Some(StatFields {
                state: 'S',
                pgrp: 1234,
                start_ticks: 987654
            })
        );
    }

    #[test]
    fn command_names_with_parens_and_spaces_do_not_shift_fields() {
        let line = "77 (a) b) (c d) Z 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0";
        assert_eq!(
            parse_stat(line),
            Some(StatFields {
                state: 'Z',
                pgrp: 77,
                start_ticks: 42
            })
        );
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("12 (x) S 1 2"), None);
        assert_eq!(
            parse_stat("12 (x) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 x"),
            None
        );
    }
}
