//! The xtask's modules stay layered (docs/architecture.md): no module imports one that imports it
//! back, neither among the top-level modules (`exec` and `commands`, `ctx` and `docker`, …) nor
//! among files; read from the `crate::` and `super::` paths of the non-test source. And no file
//! does five jobs: none has more than 500 lines before its unit tests, integration and engine
//! tests included. Unit tests are a `#[cfg(test)] mod tests` at a file's end or a file of their
//! own (`tests.rs`, `*_tests.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every module of `src`, as `a::b`, with its source up to its unit tests.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if is_unit_tests(&path) {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            let code: String = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            found.insert(parts.join("::"), code);
        }
    }
    found
}

/// A file of unit tests only (`mod tests;` / `mod stack_tests;` under `#[cfg(test)]`).
fn is_unit_tests(path: &Path) -> bool {
    path.file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|stem| stem == "tests" || stem.ends_with("_tests"))
}

/// The paths a module names after `crate::` or `super::`, as absolute module paths (groups
/// `{a, b::c}` give one path per item).
fn named_paths(module: &str, code: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut paths = Vec::new();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent(module))] {
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(ident) {
                continue;
            }
            let mut path: Vec<String> = base
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let mut tail = rest;
            loop {
                let end = tail.find(|c: char| !ident(c)).unwrap_or(tail.len());
                let segment = &tail[..end];
                if segment.is_empty() || !segment.starts_with(|c: char| c.is_ascii_lowercase()) {
                    break;
                }
                path.push(segment.to_string());
                tail = &tail[end..];
                if let Some(next) = tail.strip_prefix("::") {
                    tail = next;
                } else {
                    break;
                }
            }
            if let Some(group) = tail.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                for item in inner.split(',') {
                    let first = item.trim().split("::").next().unwrap_or("");
                    if first.starts_with(|c: char| c.is_ascii_lowercase()) && first != "self" {
                        paths.push([path.clone(), vec![first.to_string()]].concat().join("::"));
                    }
                }
            }
            paths.push(path.join("::"));
        }
    }
    paths
}

/// What `super` is in `module`: in `a/b.rs` and in `a/b/mod.rs` (both module `a::b`), `a`.
fn parent(module: &str) -> String {
    let parts: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    parts[..parts.len().saturating_sub(1)].join("::")
}

/// The deepest module of `modules` that `path` starts with.
fn resolve(path: &str, modules: &BTreeMap<String, String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|candidate| modules.contains_key(candidate))
}

/// A cycle of `graph`, if it has one, as the modules around it.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            return Some(stack[at..].to_vec());
        }
        if !done.insert(node.to_string()) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, done, stack) {
                return Some(found);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let mut files = Graph::new();
    let mut top = Graph::new();
    for (module, code) in &modules {
        for path in named_paths(module, code) {
            let Some(target) = resolve(&path, &modules) else {
                continue;
            };
            if target == *module || target.is_empty() || module.is_empty() {
                continue;
            }
            files
                .entry(module.clone())
                .or_default()
                .insert(target.clone());
            let (from, to) = (first(module), first(&target));
            if from != to {
                top.entry(from).or_default().insert(to);
            }
        }
    }
    assert!(
        top.get("exec").is_some_and(|t| t.contains("plan")),
        "the reader found no imports: {top:?}"
    );
    assert_eq!(
        cycle(&top),
        None,
        "top-level modules import each other: {top:#?}"
    );
    assert_eq!(cycle(&files), None, "files import each other");
}

fn first(module: &str) -> String {
    module.split("::").next().unwrap_or_default().to_string()
}

#[test]
fn no_source_file_has_more_than_500_lines_of_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for folder in ["src", "bench/src", "tests"] {
        let mut pending = vec![root.join(folder)];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") && !is_unit_tests(&path) {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
                    let lines = code.lines().count();
                    assert!(
                        lines <= 500,
                        "{} has {lines} lines of code: split it",
                        path.display()
                    );
                }
            }
        }
    }
}
