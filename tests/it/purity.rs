//! The pure modules stay pure: no file system, processes, signals, OS facts or clocks outside
//! their `#[cfg(test)]` section. Their logic is tested with fakes; this keeps it that way.
//!
//! To hold another file to the rule (the supervisor's state machine, say), add a row to [`PURE`].

/// Every file that must stay pure: its path (for messages) and its source.
const PURE: &[(&str, &str)] = &[
    ("src/lock/owner.rs", include_str!("../../src/lock/owner.rs")),
    ("src/lock/stale.rs", include_str!("../../src/lock/stale.rs")),
    ("src/lock/kind.rs", include_str!("../../src/lock/kind.rs")),
    (
        "src/config/duration.rs",
        include_str!("../../src/config/duration.rs"),
    ),
    (
        "src/process/stat.rs",
        include_str!("../../src/process/stat.rs"),
    ),
    ("src/exit.rs", include_str!("../../src/exit.rs")),
    (
        "src/supervisor/machine.rs",
        include_str!("../../src/supervisor/machine.rs"),
    ),
    (
        "src/supervisor/machine/transitions.rs",
        include_str!("../../src/supervisor/machine/transitions.rs"),
    ),
    (
        "src/supervisor/machine/lifecycle.rs",
        include_str!("../../src/supervisor/machine/lifecycle.rs"),
    ),
    (
        "src/supervisor/policy.rs",
        include_str!("../../src/supervisor/policy.rs"),
    ),
    (
        "src/config/diff.rs",
        include_str!("../../src/config/diff.rs"),
    ),
    (
        "src/config/graph.rs",
        include_str!("../../src/config/graph.rs"),
    ),
    (
        "src/config/size.rs",
        include_str!("../../src/config/size.rs"),
    ),
    (
        "src/config/paths.rs",
        include_str!("../../src/config/paths.rs"),
    ),
    (
        "src/control/protocol.rs",
        include_str!("../../src/control/protocol.rs"),
    ),
    ("src/cli/render.rs", include_str!("../../src/cli/render.rs")),
];

/// What a pure file must not mention.
const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::os",
    "std::process",
    "nix::",
    "sysinfo",
    "signal_hook",
    "Instant::now",
    "SystemTime::now",
];

/// Modules of `std` that a grouped import (`use std::{fs, …}`) must not name.
const FORBIDDEN_STD_MODULES: &[&str] = &["fs", "os", "process"];

/// The part of a source file outside its tests: everything before the first `#[cfg(test)]`.
fn production_part(source: &str) -> &str {
    source
        .find("#[cfg(test)]")
        .map_or(source, |at| &source[..at])
}

/// Whether `source` contains `word` starting at an identifier boundary (`nix::` is not in
/// `unix::`).
fn mentions(source: &str, word: &str) -> bool {
    source.match_indices(word).any(|(at, _)| {
        !source[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Every violation in `source` (already cut to its production part).
fn violations(source: &str) -> Vec<String> {
    let mut found: Vec<String> = FORBIDDEN
        .iter()
        .filter(|word| mentions(source, word))
        .map(|word| (*word).to_owned())
        .collect();
    // `use std::{fs, io}` names `std::fs` without spelling it out.
    let mut rest = source;
    while let Some(at) = rest.find("std::{") {
        let group = &rest[at + "std::{".len()..];
        let end = group.find('}').unwrap_or(group.len());
        for item in group[..end].split(',') {
            let head = item.trim().split("::").next().unwrap_or("").trim();
            if FORBIDDEN_STD_MODULES.contains(&head) {
                found.push(format!("std::{{{head}, …}}"));
            }
        }
        rest = &group[end..];
    }
    found
}

#[test]
fn pure_files_use_no_io_processes_signals_or_clocks() {
    let mut failures = Vec::new();
    for (path, source) in PURE {
        let production = production_part(source);
        // A file cut to nothing would pass vacuously.
        assert!(
            production.lines().filter(|l| !l.trim().is_empty()).count() > 5,
            "{path}: no production code found before #[cfg(test)]"
        );
        for word in violations(production) {
            failures.push(format!("{path}: uses {word}"));
        }
    }
    assert!(
        failures.is_empty(),
        "pure files must take I/O, processes and time as arguments:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_checker_catches_what_it_should_and_ignores_tests() {
    // Each forbidden word is caught in production code…
    for word in FORBIDDEN {
        let source = format!("fn f() {{ let _ = {word}; }}\n");
        assert_eq!(violations(production_part(&source)), vec![*word], "{word}");
    }
    // …including a grouped std import…
    let grouped = "use std::{fmt, fs::File, io};\nuse std::{os::unix::fs::MetadataExt};\n";
    assert_eq!(
        violations(grouped),
        vec!["std::{fs, …}".to_owned(), "std::{os, …}".to_owned()]
    );
    assert!(violations("use std::{fmt, time::Duration};\n").is_empty());
    // Identifier boundaries: `unix::` is not `nix::`, `mysysinfo` is not `sysinfo`.
    assert_eq!(violations("use std::os::unix::fs;\n"), vec!["std::os"]);
    assert!(violations("fn mysysinfo() {}\n").is_empty());
    assert_eq!(
        violations("let t = std::time::Instant::now();\n"),
        vec!["Instant::now"]
    );
    // …but not after the first #[cfg(test)].
    let with_tests = "fn pure() {}\n#[cfg(test)]\nmod tests { use std::fs; fn t() { std::time::Instant::now(); } }\n";
    assert!(violations(production_part(with_tests)).is_empty());
    assert_eq!(production_part(with_tests), "fn pure() {}\n");
}
