//! No two modules of govops-tracing import each other, directly or through others: the top-level
//! modules (a folder counts with its children) and the files of each folder. A file of module `a`
//! that names `crate::b` imports `b`; a file of a folder that names `super::c` imports its sibling
//! `c`. Tests are left out: they may look anywhere.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The source before its unit tests.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The module names that follow `prefix` in `text`.
fn named(text: &str, prefix: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(at, _)| {
            text[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// A cycle in `graph`, if any, as the path that closes it.
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
        if !done.insert(node.to_owned()) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(graph, next, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_modules_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut top = Graph::new();
    let mut folders: BTreeMap<String, Graph> = BTreeMap::new();
    for entry in fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let module = stem(&path);
        let files: Vec<_> = if path.is_dir() {
            fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect()
        } else {
            vec![path.clone()]
        };
        let modules: BTreeSet<String> = fs::read_dir(&src)
            .unwrap()
            .map(|e| stem(&e.unwrap().path()))
            .collect();
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        {
            let text = code(file);
            if module != "lib" {
                let imports = named(&text, "crate::")
                    .into_iter()
                    .filter(|m| *m != module && modules.contains(m));
                top.entry(module.clone()).or_default().extend(imports);
            }
            if path.is_dir() && stem(file) != "mod" {
                let siblings: BTreeSet<String> = files.iter().map(|f| stem(f)).collect();
                let imports = named(&text, "super::")
                    .into_iter()
                    .filter(|s| *s != stem(file) && siblings.contains(s));
                folders
                    .entry(module.clone())
                    .or_default()
                    .entry(stem(file))
                    .or_default()
                    .extend(imports);
            }
        }
    }
    assert_eq!(cycle(&top), None, "top-level modules: {top:#?}");
    for (folder, graph) in &folders {
        assert_eq!(cycle(graph), None, "{folder}/: {graph:#?}");
    }
    // The graph is what it claims: the contract layer imports the call, never the other way.
    assert!(top["contract"].contains("call"));
    assert!(!top["call"].contains("contract"));
}
