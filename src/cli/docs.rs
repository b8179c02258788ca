//! `pidward completions bash|zsh|fish` and `pidward man`: generated from the clap definitions,
//! so they cannot drift from the real command line. The packages ship their output, committed
//! under `packaging/`: `tests/it/docs.rs` fails when those files are stale, and regenerates them
//! with `PIDWARD_REGENERATE=1 cargo test --test it docs::`.
//!
//! The man page is one page, `pidward(1)`: clap_mangen's title, name, synopsis, description and
//! global options, then a COMMANDS section with every command's synopsis and options (clap_mangen
//! alone would refer to one page per command, `pidward-run(1)` …, that nobody installs), then the
//! files, environment, signals and exit codes.

use std::io::Write;

use clap::CommandFactory;
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};

use pidward::exit::ExitStatus;

use super::Cli;

#[path = "docs_sections.rs"]
mod sections;
use sections::static_sections;

/// The shells `pidward completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// bash (bash-completion).
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

/// `pidward completions SHELL`: prints the completion script.
///
/// # Errors
/// Writing to standard output failed.
pub fn completions(shell: Shell) -> anyhow::Result<ExitStatus> {
    write_stdout(&completion_script(shell))?;
    Ok(ExitStatus::Ok)
}

/// `pidward man`: prints the man page (roff).
///
/// # Errors
/// Writing to standard output failed.
pub fn man() -> anyhow::Result<ExitStatus> {
    write_stdout(&man_page()?)?;
    Ok(ExitStatus::Ok)
}

/// Everything at once, so that a closed pipe is an `io::Error` (which `main` treats as success),
/// not a panic inside a generator.
fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// The completion script for `shell`.
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let mut cmd = without_hidden_commands(Cli::command());
    let mut buf = Vec::new();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "pidward", &mut buf);
    buf
}

/// The command line less its hidden commands (`__exec`), which clap_complete would otherwise
/// offer: a copy of the top level (name, version, about, arguments, settings that matter to
/// completion) with only the visible subcommands.
fn without_hidden_commands(full: clap::Command) -> clap::Command {
    let mut cmd = clap::Command::new("pidward")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
        .subcommand_required(full.is_subcommand_required_set());
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    for arg in full.get_arguments() {
        cmd = cmd.arg(arg.clone());
    }
    for sub in full.get_subcommands().filter(|s| !s.is_hide_set()) {
        cmd = cmd.subcommand(sub.clone());
    }
    cmd
}

/// The man page `pidward(1)`, in roff.
///
/// # Errors
/// Only if rendering into memory fails (it does not).
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut cmd = Cli::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone()).manual("pidward manual");
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    let mut head = Roff::new();
    head.control("SH", ["SYNOPSIS"]);
    head.text([
        bold("pidward"),
        roman(" ["),
        bold("-c"),
        roman(" "),
        italic("CONFIG"),
        roman("] ["),
        bold("--socket"),
        roman(" "),
        italic("SOCKET"),
        roman("] "),
        italic("COMMAND"),
        roman(" ["),
        italic("ARGS"),
        roman("]"),
    ]);
    head.control("SH", ["DESCRIPTION"]);
    paragraphs(&mut head, DESCRIPTION);
    head.to_writer(&mut buf)?;
    man.render_options_section(&mut buf)?;

    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for sub in visible_subcommands(&cmd) {
        command_section(&mut roff, sub, &[]);
    }
    static_sections(&mut roff);
    roff.to_writer(&mut buf)?;
    man.render_version_section(&mut buf)?;
    // Every render call above starts with roff's apostrophe preamble: keep the first one only.
    let text = String::from_utf8_lossy(&buf).replace(APOSTROPHE_PREAMBLE, "");
    Ok(format!("{APOSTROPHE_PREAMBLE}{text}").into_bytes())
}

/// What the `roff` crate writes before any text (`\*(Aq` is a straight apostrophe under groff).
const APOSTROPHE_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

const DESCRIPTION: &str = "\
pidward supervises the services of a TOML config (pidward run): it starts them in dependency \
order, writes a PID file and holds a lock file for each, restarts them with backoff, stops them \
with signal, timeout and SIGKILL escalation, reloads on SIGHUP, and after its own crash adopts \
the services still running instead of starting duplicates.

The other commands talk to a running supervisor over its control socket (status, start, stop, \
restart, signal, pid, logs, wait, reload, shutdown), run a command under a lock (lock), and \
tell who holds a lock or whether a PID file is stale (holder, unlock, pidfile check).

Under systemd, pidward runs from pidward.service (Type=notify; systemctl reload applies a \
changed config). Elsewhere, pidward run --daemonize detaches and returns 0 once the supervisor \
is up.";

fn visible_subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// One `.SS` per leaf command (`pidward pidfile check`, not `pidward pidfile`).
fn command_section(roff: &mut Roff, cmd: &clap::Command, parents: &[&str]) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(cmd.get_name());
    if cmd.has_subcommands() {
        for sub in visible_subcommands(cmd) {
            command_section(roff, sub, &path);
        }
        return;
    }
    let name = format!("pidward {}", path.join(" "));
    roff.control("SS", [name.as_str()]);
    // Options first, then positionals, each in definition order.
    let mut args: Vec<&clap::Arg> = cmd.get_arguments().filter(|a| own_arg(a)).collect();
    args.sort_by_key(|a| a.is_positional());

    let mut synopsis = vec![bold(name.clone())];
    for arg in &args {
        synopsis.push(roman(" "));
        synopsis.extend(synopsis_item(arg));
    }
    roff.text(synopsis);
    if let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) {
        roff.control("PP", []);
        paragraphs(roff, &about.to_string());
    }
    for arg in args {
        roff.control("TP", []);
        roff.text(arg_header(arg));
        let mut body = Vec::new();
        if let Some(help) = arg.get_long_help().or_else(|| arg.get_help()) {
            body.push(roman(help.to_string()));
        }
        let extra = arg_facts(arg);
        if !extra.is_empty() {
            if !body.is_empty() {
                body.push(roman(" "));
            }
            body.push(roman(extra));
        }
        roff.text(body);
    }
}

/// Not hidden, not `-h`/`-V`, not a global option (those are listed once, under OPTIONS).
fn own_arg(arg: &clap::Arg) -> bool {
    !arg.is_hide_set()
        && !arg.is_global_set()
        && !matches!(arg.get_id().as_str(), "help" | "version")
}

fn takes_value(arg: &clap::Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.takes_values())
}

fn value_name(arg: &clap::Arg) -> String {
    let name = arg
        .get_value_names()
        .and_then(|names| names.first().map(|n| n.to_string()))
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    if many {
        format!("{name}...")
    } else {
        name
    }
}

/// `[-w|--wait WAIT]`, `LOCKFILE`, `-- COMMAND...`.
fn synopsis_item(arg: &clap::Arg) -> Vec<Inline> {
    let mut item = Vec::new();
    let required = arg.is_required_set();
    if !required {
        item.push(roman("["));
    }
    if arg.is_positional() {
        if arg.is_last_set() {
            item.push(bold("--"));
            item.push(roman(" "));
        }
        item.push(italic(value_name(arg)));
    } else {
        match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => item.push(bold(format!("-{s}|--{l}"))),
            (Some(s), None) => item.push(bold(format!("-{s}"))),
            (None, Some(l)) => item.push(bold(format!("--{l}"))),
            (None, None) => {}
        }
        if takes_value(arg) {
            item.push(roman(" "));
            item.push(italic(value_name(arg)));
        }
    }
    if !required {
        item.push(roman("]"));
    }
    item
}

/// `-w, --wait WAIT` or `LOCKFILE`.
fn arg_header(arg: &clap::Arg) -> Vec<Inline> {
    let mut header = Vec::new();
    if arg.is_positional() {
        header.push(italic(value_name(arg)));
        return header;
    }
    match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => {
            header.push(bold(format!("-{s}")));
            header.push(roman(", "));
            header.push(bold(format!("--{l}")));
        }
        (Some(s), None) => header.push(bold(format!("-{s}"))),
        (None, Some(l)) => header.push(bold(format!("--{l}"))),
        (None, None) => {}
    }
    if takes_value(arg) {
        header.push(roman(" "));
        header.push(italic(value_name(arg)));
    }
    header
}

/// `[default: 10s]`, `[possible values: running, stopped]`.
fn arg_facts(arg: &clap::Arg) -> String {
    if !takes_value(arg) {
        return String::new();
    }
    let mut facts = Vec::new();
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() {
        facts.push(format!("[default: {}]", defaults.join(", ")));
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    if !values.is_empty() {
        facts.push(format!("[possible values: {}]", values.join(", ")));
    }
    facts.join(" ")
}

/// Text with blank lines as paragraph breaks.
fn paragraphs(roff: &mut Roff, text: &str) {
    for line in text.lines() {
        if line.trim().is_empty() {
            roff.control("PP", []);
        } else {
            roff.text([roman(line)]);
        }
    }
}

/// A `.TP` list: term, then its description.
fn term_list(roff: &mut Roff, items: &[(&str, &str)]) {
    for (term, text) in items {
        roff.control("TP", []);
        roff.text([bold(*term)]);
        roff.text([roman(*text)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_commands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = String::from_utf8(completion_script(shell)).unwrap();
            for word in ["pidward", "run", "reload", "holder", "completions"] {
                assert!(script.contains(word), "{shell:?} script lacks {word}");
            }
            assert!(
                !script.contains("__exec"),
                "{shell:?} completes a hidden command"
            );
        }
    }

    #[test]
    fn the_man_page_documents_every_visible_command_once() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(page.starts_with(APOSTROPHE_PREAMBLE), "{page}");
        assert_eq!(page.matches(APOSTROPHE_PREAMBLE).count(), 1);
        assert!(page.contains("\n.TH pidward 1 "), "{page}");
        for section in ["COMMANDS", "FILES", "EXIT STATUS", "SIGNALS"] {
            let plain = format!(".SH {section}\n");
            let quoted = format!(".SH \"{section}\"\n");
            assert!(
                page.contains(&plain) || page.contains(&quoted),
                "no {section}"
            );
        }
        for command in ["run", "check", "reload", "lock", "pidfile check", "man"] {
            let heading = format!(".SS \"pidward {command}\"");
            let heading_plain = format!(".SS pidward {command}\n");
            assert!(
                page.contains(&heading) || page.contains(&heading_plain),
                "no section for {command}"
            );
        }
        assert!(!page.contains("__exec"));
    }
}
