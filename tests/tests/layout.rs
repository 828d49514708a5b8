//! The layering of each crate, checked: the graph of its top-level modules (an arrow from `a` to
//! `b` when a file under `a` names `crate::b`) has no cycle; in the broker each layer names only
//! layers below it, and neither the domain layer (`node`) nor the cluster knows HTTP. A module's own files may refer to each other (an actor's handlers
//! split over files); modules may not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of a source file without its comments and its `#[cfg(test)]` tail (tests may reach
/// anywhere).
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules a piece of code names as `crate::name`, including grouped ones
/// (`use crate::{a::X, b}`).
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Only the first segment of each item of the group (nested groups name submodules).
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_alphanumeric() || c == '_') => {
                        out.insert(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

fn graph_of(crate_dir: &str) -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(crate_dir).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(&src).ok()?;
            let first = rel.components().next()?.as_os_str().to_str()?;
            Some(first.trim_end_matches(".rs").to_owned())
        })
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph = Graph::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = rel.components().next().unwrap().as_os_str().to_str().unwrap().trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let names = graph.entry(module.to_owned()).or_default();
        for named in named_modules(&code) {
            if named != module && modules.contains(&named) {
                names.insert(named);
            }
        }
    }
    graph
}

/// A cycle of the graph, if it has one (depth-first search).
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(graph, next, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

#[test]
fn the_checker_sees_grouped_imports_and_finds_a_cycle() {
    let names = named_modules("use crate::{http::{a, b}, wsx::X};\nlet y = crate::cluster::f();");
    assert_eq!(names, ["cluster", "http", "wsx"].iter().map(|s| s.to_string()).collect());
    let graph: Graph = [("a", "b"), ("b", "c"), ("c", "a")]
        .iter()
        .map(|(from, to)| (from.to_string(), BTreeSet::from([to.to_string()])))
        .collect();
    assert_eq!(cycle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}

#[test]
fn the_storage_and_actor_crates_have_no_import_cycle_between_their_modules() {
    for krate in ["schema", "actors"] {
        let graph = graph_of(krate);
        assert!(graph.len() > 3, "{krate}: read too few modules: {graph:?}");
        if let Some(found) = cycle(&graph) {
            panic!("{krate}: modules import each other in a cycle: {}\n{graph:#?}", found.join(" → "));
        }
    }
}

#[test]
fn the_broker_s_modules_import_no_cycle_and_each_layer_only_those_below_it() {
    let graph = graph_of("broker");
    assert!(graph.len() > 10, "broker: read too few modules: {graph:?}");
    if let Some(found) = cycle(&graph) {
        panic!("broker: modules import each other in a cycle: {}\n{graph:#?}", found.join(" → "));
    }
    // Transports (http, wsx, cli) → node → cluster → links, internal_channel, frames.
    let above = |layer: &str| -> &[&str] {
        match layer {
            "node" => &["http", "wsx", "cli", "server"],
            "cluster" => &["node", "http", "wsx", "cli", "server"],
            "links" | "internal_channel" | "frames" => &["cluster", "node", "http", "wsx", "cli", "server"],
            _ => &[],
        }
    };
    for (module, names) in &graph {
        for named in names {
            assert!(
                !above(module).contains(&named.as_str()),
                "broker: `{module}` names `{named}`, a layer above it\n{graph:#?}"
            );
        }
    }
    for (layer, below) in [("node", "cluster"), ("cluster", "links"), ("wsx", "node")] {
        assert!(graph[layer].contains(below), "broker: `{layer}` no longer names `{below}`: {graph:#?}");
    }
}

#[test]
fn the_broker_s_node_and_cluster_layers_know_no_http_types() {
    for layer in ["node", "cluster"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../broker/src").join(layer);
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        assert!(!files.is_empty(), "no files under {}", dir.display());
        for file in files {
            let code = code_of(&std::fs::read_to_string(&file).unwrap());
            assert!(!code.contains("actix_web"), "{} names actix_web", file.display());
        }
    }
}
