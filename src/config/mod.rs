//! The supervisor's TOML config, in two layers: [`raw`] mirrors the file 1:1 (serde, unknown
//! keys denied, spans kept), [`validate`] turns it into the typed [`Config`] with every default
//! filled in. Loading collects every error, each one line naming `FILE:LINE:COL` and the key
//! ([`ConfigErrors`]), so `pidward check` and a reload show all problems at once. [`diff()`]
//! compares two configs for a reload.
//!
//! Only [`load`] (in `load.rs`) touches the file system, the environment and the user database;
//! everything else here is pure and unit-tested on strings.

pub mod diff;
pub mod duration;
pub mod error;
pub mod graph;
mod load;
mod parse;
pub mod paths;
pub mod raw;
mod service;
pub mod signal;
pub mod size;
pub mod spec;
pub mod validate;
mod values;

#[cfg(test)]
pub(crate) mod tests;

use std::path::Path;

pub use diff::{diff, ReloadPlan};
pub use error::{ConfigErrors, Diagnostic, Problem, Source};
pub use load::{load, load_with, system_facts, SystemAccounts};
pub use paths::Facts;
pub use spec::{
    defaults, Backoff, Command, Config, Limits, OnOrphan, Output, RestartLimit, RestartPolicy,
    Rlimit, ServiceSpec, Signal, SupervisorSpec,
};
pub use values::Accounts;

/// Validates one config file given as text (no `include`s are read), with the facts and the
/// account lookup given: the pure path from a string to a [`Config`].
///
/// # Errors
/// Every problem found, in line order.
pub fn from_str(
    path: impl AsRef<Path>,
    text: &str,
    facts: &Facts,
    accounts: &dyn Accounts,
) -> Result<Config, ConfigErrors> {
    let source = Source::new(path.as_ref(), text);
    let mut out = Vec::new();
    let doc = parse::parse(&source, false, &mut out);
    let main = validate::Unit { source, doc };
    let env = validate::Env { facts, accounts };
    let config = validate::validate(&main, &[], &env, &mut out);
    if out.is_empty() {
        Ok(config)
    } else {
        out.sort_by_key(|d| d.position);
        Err(ConfigErrors(out))
    }
}

impl Config {
    /// Service names with every service after the ones it depends on: the start order (stop in
    /// reverse).
    pub fn start_order(&self) -> Vec<String> {
        let graph: graph::Graph<'_> = self
            .services
            .iter()
            .map(|(name, spec)| {
                (
                    name.as_str(),
                    spec.depends_on.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        graph::start_order(&graph)
    }
}
