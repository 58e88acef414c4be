//! The shape of the code, checked: the top-level modules of `src/` import each other in one
//! direction only (docs/architecture.md, "Dependencies"). Every `crate::<module>` path in a
//! module's files is an edge; the graph must have no cycle once the edges listed in
//! `KNOWN_BACK_EDGES` (each with the reason it is still there) are left out, and each of
//! those must still exist, so that the list only ever shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Edges that point backwards today, to be removed; not to be added to.
const KNOWN_BACK_EDGES: &[(&str, &str)] = &[
    // `schema::Service` carries the response stage's output columns and the SQL stage's
    // shape cache (per-service caches built with the schema cache and swapped with it).
    ("schema", "response"),
    ("schema", "sql"),
];

/// `lib.rs` and `main.rs` wire everything together and are not stages.
const ROOTS: &[&str] = &["lib", "main"];

fn module_of(path: &Path, src: &Path) -> String {
    let rel = path.strip_prefix(src).expect("under src");
    let first = rel
        .components()
        .next()
        .expect("a component")
        .as_os_str()
        .to_string_lossy()
        .to_string();
    first.trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `crate::a::b` and `use crate::{a, b::c}` name modules `a` and `b`.
fn referenced_modules(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f, &src)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(file, &src);
        if ROOTS.contains(&from.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read");
        let entry = edges.entry(from.clone()).or_default();
        for to in referenced_modules(&text) {
            if to != from && modules.contains(&to) && !ROOTS.contains(&to.as_str()) {
                entry.insert(to);
            }
        }
    }
    edges
}

/// A cycle in `edges`, if there is one, as the modules along it.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, edges, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn modules_import_each_other_one_way() {
    let mut edges = graph();
    for (from, to) in KNOWN_BACK_EDGES {
        let present = edges.get_mut(*from).is_some_and(|e| e.remove(*to));
        assert!(
            present,
            "{from} -> {to} no longer exists: remove it from KNOWN_BACK_EDGES"
        );
    }
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "the modules of src/ import each other in a cycle: {}\nedges: {edges:#?}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&edges),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        referenced_modules("use crate::{error::ApiError, plan};\nlet x = crate::sql::select;"),
        ["error", "plan", "sql"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}
