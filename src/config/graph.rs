//! The `depends_on` graph: cycle detection (each cycle named once, in order, `a → b → a`) and a
//! start order (dependencies first; stop in reverse). Pure.

use std::collections::{BTreeMap, BTreeSet};

/// A dependency graph: service name → the names it depends on. Edges to unknown names are
/// ignored here (validation reports them separately).
pub type Graph<'a> = BTreeMap<&'a str, Vec<&'a str>>;

/// Every distinct cycle, each as the path around it starting and ending at its smallest name
/// (`["a", "b", "a"]`), in name order.
pub fn cycles(graph: &Graph<'_>) -> Vec<Vec<String>> {
    let mut state: BTreeMap<&str, Mark> = BTreeMap::new();
    let mut found = BTreeSet::new();
    for &node in graph.keys() {
        let mut stack = Vec::new();
        visit(graph, node, &mut state, &mut stack, &mut found);
    }
    found.into_iter().collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    OnStack,
    Done,
}

fn visit<'a>(
    graph: &Graph<'a>,
    node: &'a str,
    state: &mut BTreeMap<&'a str, Mark>,
    stack: &mut Vec<&'a str>,
    found: &mut BTreeSet<Vec<String>>,
) {
    match state.get(node) {
        Some(Mark::Done) => return,
        Some(Mark::OnStack) => {
            if let Some(start) = stack.iter().position(|n| *n == node) {
                found.insert(normalized(&stack[start..]));
            }
            return;
        }
        None => {}
    }
    state.insert(node, Mark::OnStack);
    stack.push(node);
    for &next in graph.get(node).into_iter().flatten() {
        if graph.contains_key(next) {
            visit(graph, next, state, stack, found);
        }
    }
    stack.pop();
    state.insert(node, Mark::Done);
}

/// A cycle rotated to start at its smallest name, closed by repeating it.
fn normalized(cycle: &[&str]) -> Vec<String> {
    let min = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
    let mut out: Vec<String> = cycle[min..]
        .iter()
        .chain(&cycle[..min])
        .map(|s| (*s).to_owned())
        .collect();
    if let Some(first) = out.first().cloned() {
        out.push(first);
    }
    out
}

/// Names in an order where every service comes after what it depends on (ties by name). On a
/// cyclic graph the services in cycles come last, in name order.
pub fn start_order(graph: &Graph<'_>) -> Vec<String> {
    let mut order: Vec<String> = Vec::with_capacity(graph.len());
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    loop {
        let ready: Vec<&str> = graph
            .iter()
            .filter(|(name, deps)| {
                !placed.contains(*name)
                    && deps
                        .iter()
                        .all(|d| placed.contains(d) || !graph.contains_key(d))
            })
            .map(|(name, _)| *name)
            .collect();
        if ready.is_empty() {
            break;
        }
        for name in ready {
            placed.insert(name);
            order.push(name.to_owned());
        }
    }
    for name in graph.keys() {
        if !placed.contains(name) {
            order.push((*name).to_owned());
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(edges: &[(&'a str, &[&'a str])]) -> Graph<'a> {
        edges.iter().map(|(n, d)| (*n, d.to_vec())).collect()
    }

    #[test]
    fn finds_each_cycle_once_starting_at_its_smallest_name() {
        let g = graph(&[
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["a"]),
            ("d", &["d"]),
            ("e", &["a", "ghost"]),
            ("f", &[]),
        ]);
        assert_eq!(cycles(&g), [vec!["a", "b", "c", "a"], vec!["d", "d"]]);
        let g = graph(&[("x", &["y"]), ("y", &["x"]), ("z", &["y"])]);
        assert_eq!(cycles(&g), [vec!["x", "y", "x"]]);
        assert!(cycles(&graph(&[("a", &["b"]), ("b", &[])])).is_empty());
    }

    #[test]
    fn start_order_puts_dependencies_first() {
        let g = graph(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &["db"]),
            ("worker", &["ghost"]),
        ]);
        assert_eq!(start_order(&g), ["db", "worker", "cache", "web"]);
        let g = graph(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]);
        assert_eq!(start_order(&g), ["c", "a", "b"]);
    }
}
