//! Raw documents → the typed [`Config`]: the main file's `[supervisor]`, every service of every
//! file, and the checks that span services: a name defined in two files, `depends_on` naming an
//! unknown service or forming a cycle, two services sharing a PID or lock file. Every problem is
//! collected into `out`; the caller refuses the config if there is any. Pure: the environment
//! facts and the account lookup come in as arguments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

use super::error::{key_path, Diagnostic, Problem, Source};
use super::graph::{self, Graph};
use super::paths::Facts;
use super::raw::{RawDocument, RawService};
use super::service;
use super::spec::{Config, ServiceSpec};
use super::values::{Accounts, Ctx};

/// One parsed file: its source and its document (`None` when its TOML was broken).
#[derive(Debug)]
pub struct Unit {
    /// The file.
    pub source: Source,
    /// Its content, if it parsed.
    pub doc: Option<RawDocument>,
}

/// What validation needs from the outside world, passed in so it stays pure.
pub struct Env<'a> {
    /// uid and environment variables for the default directories.
    pub facts: &'a Facts,
    /// User and group lookup.
    pub accounts: &'a dyn Accounts,
}

/// A service as first seen: where it is defined and its raw table.
struct Entry<'a> {
    src: &'a Source,
    name: &'a Spanned<String>,
    raw: &'a RawService,
}

/// Validates the main file and its included files (in load order) into a config; every problem
/// goes to `out`, and the config is only meaningful when `out` stayed empty.
pub fn validate(
    main: &Unit,
    includes: &[Unit],
    env: &Env<'_>,
    out: &mut Vec<Diagnostic>,
) -> Config {
    let base = parent(&main.source.path);
    let raw_sup = main.doc.as_ref().and_then(|d| d.supervisor.as_ref());
    let mut ctx = Ctx {
        src: &main.source,
        accounts: env.accounts,
        out,
    };
    let supervisor = service::supervisor(&mut ctx, raw_sup, base, env.facts);
    let units: Vec<&Unit> = std::iter::once(main).chain(includes).collect();
    let entries = collect_entries(&units, out);
    let mut services = BTreeMap::new();
    for e in &entries {
        let mut ctx = Ctx {
            src: e.src,
            accounts: env.accounts,
            out,
        };
        if let Some(spec) =
            service::service(&mut ctx, e.name, e.raw, parent(&e.src.path), &supervisor)
        {
            services.insert(spec.name.clone(), Arc::new(spec));
        }
    }
    let complete = units.iter().all(|u| u.doc.is_some());
    check_dependencies(&entries, complete, out);
    check_shared_files(&entries, &services, &supervisor.runtime_dir, out);
    Config {
        path: main.source.path.clone(),
        includes: includes.iter().map(|u| u.source.path.clone()).collect(),
        supervisor,
        services,
    }
}

/// The directory a file's relative paths are relative to.
fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("/"))
}

/// Every service in file order, reporting a name defined again (in another file) and keeping
/// its first definition.
fn collect_entries<'a>(units: &[&'a Unit], out: &mut Vec<Diagnostic>) -> Vec<Entry<'a>> {
    // Where each name was first seen; the place is formatted only for a duplicate (computing
    // a line number scans the file, and doing it for every service made loading O(N²)).
    let mut first: BTreeMap<&str, (&Source, std::ops::Range<usize>)> = BTreeMap::new();
    let mut entries = Vec::new();
    for unit in units {
        let Some(doc) = &unit.doc else { continue };
        for (name, raw) in &doc.services {
            if let Some((src, span)) = first.get(name.get_ref().as_str()) {
                let problem = Problem::Duplicate {
                    name: name.get_ref().clone(),
                    other: src.place(span.clone()),
                };
                let key = key_path("services", name.get_ref());
                out.push(unit.source.diag(Some(name.span()), &key, problem));
                continue;
            }
            first.insert(name.get_ref(), (&unit.source, name.span()));
            entries.push(Entry {
                src: &unit.source,
                name,
                raw: raw.get_ref(),
            });
        }
    }
    entries
}

/// The `depends_on` entries of a service, with their spans.
fn deps<'a>(e: &Entry<'a>) -> &'a [Spanned<String>] {
    e.raw
        .depends_on
        .as_ref()
        .map_or(&[], |d| d.get_ref().as_slice())
}

/// Unknown names in `depends_on` (only when every file parsed: a service in a broken file is
/// not unknown, just unread) and dependency cycles, each reported once.
fn check_dependencies(entries: &[Entry<'_>], complete: bool, out: &mut Vec<Diagnostic>) {
    let by_name: BTreeMap<&str, &Entry<'_>> = entries
        .iter()
        .map(|e| (e.name.get_ref().as_str(), e))
        .collect();
    let mut graph: Graph<'_> = Graph::new();
    for e in entries {
        let key = key_path(&key_path("services", e.name.get_ref()), "depends_on");
        for dep in deps(e) {
            if complete && !by_name.contains_key(dep.get_ref().as_str()) {
                let problem = Problem::UnknownDependency(dep.get_ref().clone());
                out.push(e.src.diag(Some(dep.span()), &key, problem));
            }
        }
        let names = deps(e).iter().map(|d| d.get_ref().as_str()).collect();
        graph.insert(e.name.get_ref(), names);
    }
    for cycle in graph::cycles(&graph) {
        let (Some(from), Some(to)) = (cycle.first(), cycle.get(1)) else {
            continue;
        };
        let Some(e) = by_name.get(from.as_str()) else {
            continue;
        };
        let Some(dep) = deps(e).iter().find(|d| d.get_ref() == to) else {
            continue;
        };
        let key = key_path(&key_path("services", from), "depends_on");
        out.push(
            e.src
                .diag(Some(dep.span()), &key, Problem::Cycle(cycle.join(" → "))),
        );
    }
}

/// A PID or lock file used twice (by two services, by one service for both, or colliding with
/// the supervisor's own files in the runtime dir).
fn check_shared_files(
    entries: &[Entry<'_>],
    services: &BTreeMap<String, Arc<ServiceSpec>>,
    runtime_dir: &Path,
    out: &mut Vec<Diagnostic>,
) {
    let mut owners: BTreeMap<PathBuf, String> = BTreeMap::new();
    owners.insert(
        runtime_dir.join("pidward.pid"),
        "the supervisor's PID file".into(),
    );
    owners.insert(
        runtime_dir.join("pidward.sock"),
        "the control socket".into(),
    );
    for e in entries {
        let Some(spec) = services.get(e.name.get_ref()) else {
            continue;
        };
        let path = key_path("services", e.name.get_ref());
        let files = [
            ("pidfile", &spec.pidfile, &e.raw.pidfile),
            ("lockfile", &spec.lockfile, &e.raw.lockfile),
        ];
        for (field, file, raw) in files {
            let key = key_path(&path, field);
            if let Some(other) = owners.get(file) {
                let span = raw.as_ref().map_or(e.name.span(), Spanned::span);
                let problem = Problem::SharedFile {
                    path: file.display().to_string(),
                    other: other.clone(),
                };
                out.push(e.src.diag(Some(span), &key, problem));
            } else {
                owners.insert(file.clone(), format!("`{key}`"));
            }
        }
    }
}
