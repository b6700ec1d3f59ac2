//! The house rules a newcomer relies on to find their way (issue 15), measured on the sources:
//! no library file over 600 lines of code outside its tests, no function over 80, no two modules
//! of `govops-tracing` importing each other, a facade root of at most 30 items besides modules,
//! and a README of one page whose links stay inside the repository.
//!
//! "Lines of code" are lines that hold something besides whitespace and comments (doc comments
//! included: they are prose); `#[cfg(test)]` items and `tests.rs` files are tests.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::visit::Visit;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The library crates' source folders.
const LIBRARIES: [&str; 5] = [
    "src",
    "govops-protocol/src",
    "govops-core/src",
    "govops-macros/src",
    "govops-tracing/src",
];
const FILE_MAX: usize = 600;
const FN_MAX: usize = 80;
const ROOT_ITEMS_MAX: usize = 30;
const README_MAX: usize = 200;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

fn library_sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in LIBRARIES {
        sources(&Path::new(ROOT).join(dir), &mut out);
    }
    out
}

fn parse(path: &Path) -> (String, syn::File) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (text, file)
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta.require_list().is_ok_and(|l| {
                let tokens = l.tokens.to_string();
                tokens == "test"
                    || tokens.starts_with("all (test")
                    || tokens.starts_with("all(test")
            })
    })
}

/// Whether a line holds code: not blank, not only a comment.
fn is_code(line: &str) -> bool {
    let t = line.trim();
    !(t.is_empty() || t.starts_with("//") || t.starts_with("/*") || t.starts_with('*'))
}

/// The 1-based line ranges of `#[cfg(test)]` items, at any depth.
#[derive(Default)]
struct Tests(Vec<(usize, usize)>);

impl<'a> Visit<'a> for Tests {
    fn visit_item(&mut self, item: &'a syn::Item) {
        let attrs = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Const(c) => &c.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if is_cfg_test(attrs) {
            let span = item.span();
            self.0.push((span.start().line, span.end().line));
        } else {
            syn::visit::visit_item(self, item);
        }
    }
}

fn code_lines(text: &str, from: usize, to: usize, tests: &[(usize, usize)]) -> usize {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(n, _)| (from..=to).contains(n))
        .filter(|(n, _)| !tests.iter().any(|(a, b)| (a..=b).contains(&n)))
        .filter(|(_, line)| is_code(line))
        .count()
}

/// Every function with a body, outside tests: its name and line range.
#[derive(Default)]
struct Functions {
    found: Vec<(String, usize, usize)>,
}

impl Functions {
    fn push(&mut self, name: &syn::Ident, span: proc_macro2::Span) {
        self.found
            .push((name.to_string(), span.start().line, span.end().line));
    }
}

impl<'a> Visit<'a> for Functions {
    fn visit_item_fn(&mut self, f: &'a syn::ItemFn) {
        if !is_cfg_test(&f.attrs) {
            self.push(&f.sig.ident, f.span());
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_impl_item_fn(&mut self, f: &'a syn::ImplItemFn) {
        if !is_cfg_test(&f.attrs) {
            self.push(&f.sig.ident, f.span());
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
    fn visit_trait_item_fn(&mut self, f: &'a syn::TraitItemFn) {
        if f.default.is_some() {
            self.push(&f.sig.ident, f.span());
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
    fn visit_item_mod(&mut self, m: &'a syn::ItemMod) {
        if !is_cfg_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_impl(&mut self, i: &'a syn::ItemImpl) {
        if !is_cfg_test(&i.attrs) {
            syn::visit::visit_item_impl(self, i);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(ROOT)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn no_library_file_holds_more_than_600_lines_of_code_nor_a_function_more_than_80() {
    let mut problems = Vec::new();
    for path in library_sources() {
        let (text, file) = parse(&path);
        let mut tests = Tests::default();
        tests.visit_file(&file);
        let total = code_lines(&text, 1, usize::MAX, &tests.0);
        if total > FILE_MAX {
            problems.push(format!("{}: {total} lines of code", relative(&path)));
        }
        let mut functions = Functions::default();
        functions.visit_file(&file);
        for (name, from, to) in functions.found {
            let n = code_lines(&text, from, to, &tests.0);
            if n > FN_MAX {
                problems.push(format!("{}:{from}: fn {name}: {n} lines", relative(&path)));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "over {FILE_MAX} lines a file or {FN_MAX} a function:\n{}",
        problems.join("\n")
    );
}

/// A module's path inside its crate, from its file's path under `src/`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The `crate::`, `super::` and `self::` paths a file names, resolved to module paths.
struct Imports<'m> {
    module: &'m [String],
    found: BTreeSet<Vec<String>>,
}

impl Imports<'_> {
    fn resolve(&mut self, segments: &[String]) {
        let Some(first) = segments.first() else {
            return;
        };
        let mut base: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "super" | "self" => self.module.to_vec(),
            _ => return,
        };
        let mut rest = &segments[1..];
        if first == "super" {
            base.pop();
        }
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        self.found.insert(base);
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                let path = prefix.clone();
                self.resolve(&path);
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                let path = prefix.clone();
                self.resolve(&path);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => {
                let path = prefix.clone();
                self.resolve(&path);
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

impl<'a> Visit<'a> for Imports<'_> {
    fn visit_item_use(&mut self, u: &'a syn::ItemUse) {
        if !is_cfg_test(&u.attrs) {
            self.use_tree(&mut Vec::new(), &u.tree);
        }
    }
    fn visit_path(&mut self, p: &'a syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        self.resolve(&segments);
        syn::visit::visit_path(self, p);
    }
    fn visit_item_mod(&mut self, m: &'a syn::ItemMod) {
        if !is_cfg_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'a syn::ItemFn) {
        if !is_cfg_test(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }
}

/// The cycles among modules of `src`: siblings (under the same parent) that name something inside
/// one another, directly or through other siblings.
fn import_cycles(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for path in files {
        let module = module_path(src, &path);
        let (_, file) = parse(&path);
        let mut imports = Imports {
            module: &module,
            found: BTreeSet::new(),
        };
        imports.visit_file(&file);
        for target in imports.found {
            // Where the two paths part: the sibling modules that hold each end.
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            let (Some(from), Some(to)) = (module.get(common), target.get(common)) else {
                continue;
            };
            if from != to {
                let mut a = module[..common].to_vec();
                a.push(from.clone());
                let mut b = module[..common].to_vec();
                b.push(to.clone());
                edges.entry(a).or_default().insert(b);
            }
        }
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for start in edges.keys() {
        let mut path = vec![start.clone()];
        find_cycle(&edges, &mut path, &mut done, &mut cycles);
    }
    cycles
}

/// A depth-first walk from the last module of `path`: each way back onto `path` is a cycle.
fn find_cycle(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    path: &mut Vec<Vec<String>>,
    done: &mut BTreeSet<Vec<String>>,
    cycles: &mut Vec<String>,
) {
    let Some(here) = path.last().cloned() else {
        return;
    };
    if done.contains(&here) {
        return;
    }
    for next in edges.get(&here).into_iter().flatten() {
        if let Some(at) = path.iter().position(|m| m == next) {
            let names: Vec<String> = path[at..]
                .iter()
                .chain([next])
                .map(|m| m.join("::"))
                .collect();
            cycles.push(names.join(" -> "));
        } else {
            path.push(next.clone());
            find_cycle(edges, path, done, cycles);
            path.pop();
        }
    }
    done.insert(here);
}

#[test]
fn no_modules_of_the_contract_layer_crate_import_each_other() {
    let cycles = import_cycles(&Path::new(ROOT).join("govops-tracing/src"));
    assert!(
        cycles.is_empty(),
        "modules of govops-tracing that import each other:\n{}",
        cycles.join("\n")
    );
}

/// Whether `crate_dir/src/<path>` is a module (a file, a folder, or `pub mod` in the crate root).
fn is_module(path: &[String]) -> bool {
    let dir = match path.first().map(String::as_str) {
        Some("govops_core") => "govops-core",
        Some("govops_tracing") => "govops-tracing",
        Some("govops_protocol") => "govops-protocol",
        _ => return false,
    };
    let rel = path[1..].join("/");
    let src = Path::new(ROOT).join(dir).join("src");
    src.join(format!("{rel}.rs")).is_file() || src.join(&rel).join("mod.rs").is_file() || {
        let lib = fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
        path.len() == 2 && lib.contains(&format!("pub mod {} {{", path[1]))
    }
}

/// The facade root's items besides modules, by name.
fn root_items(file: &syn::File) -> Vec<String> {
    let mut names = Vec::new();
    for item in &file.items {
        match item {
            syn::Item::Use(u) if matches!(u.vis, syn::Visibility::Public(_)) => {
                let mut leaves = Vec::new();
                leaves_of(&mut Vec::new(), &u.tree, &mut leaves);
                for (path, name) in leaves {
                    if !is_module(&path) && name != "_" {
                        names.push(name);
                    }
                }
            }
            syn::Item::Fn(f) if matches!(f.vis, syn::Visibility::Public(_)) => {
                names.push(f.sig.ident.to_string());
            }
            syn::Item::Struct(s) if matches!(s.vis, syn::Visibility::Public(_)) => {
                names.push(s.ident.to_string());
            }
            syn::Item::Enum(e) if matches!(e.vis, syn::Visibility::Public(_)) => {
                names.push(e.ident.to_string());
            }
            syn::Item::Const(c) if matches!(c.vis, syn::Visibility::Public(_)) => {
                names.push(c.ident.to_string());
            }
            syn::Item::Type(t) if matches!(t.vis, syn::Visibility::Public(_)) => {
                names.push(t.ident.to_string());
            }
            syn::Item::Trait(t) if matches!(t.vis, syn::Visibility::Public(_)) => {
                names.push(t.ident.to_string());
            }
            _ => {}
        }
    }
    names
}

fn leaves_of(prefix: &mut Vec<String>, tree: &syn::UseTree, out: &mut Vec<(Vec<String>, String)>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            leaves_of(prefix, &p.tree, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix.clone();
            path.push(n.ident.to_string());
            out.push((path, n.ident.to_string()));
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push((path, r.rename.to_string()));
        }
        syn::UseTree::Glob(_) => out.push((prefix.clone(), "*".to_owned())),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                leaves_of(prefix, t, out);
            }
        }
    }
}

#[test]
fn the_facade_root_holds_at_most_30_items_besides_modules() {
    let (_, file) = parse(&Path::new(ROOT).join("src/lib.rs"));
    let names = root_items(&file);
    assert!(
        names.len() <= ROOT_ITEMS_MAX,
        "{} items at the root of `govops` (at most {ROOT_ITEMS_MAX} besides modules): {}",
        names.len(),
        names.join(", ")
    );
    assert!(
        !names.iter().any(|n| n == "*"),
        "a glob re-export at the root: {names:?}"
    );
}

#[test]
fn the_facade_reexports_each_item_once() {
    let (_, file) = parse(&Path::new(ROOT).join("src/lib.rs"));
    let mut all = Vec::new();
    collect_reexports(&file.items, &mut all);
    let all: Vec<(Vec<String>, String)> =
        all.into_iter().map(|(p, n)| (through_root(p), n)).collect();
    let mut seen = BTreeMap::new();
    let mut twice = Vec::new();
    for (path, _) in &all {
        if let Some(previous) = seen.insert(path.clone(), ()) {
            let () = previous;
            twice.push(path.join("::"));
        }
    }
    // A module re-exported whole and one of its items re-exported again elsewhere.
    for (path, _) in &all {
        for (other, _) in &all {
            if other.len() > path.len() && other.starts_with(path) && is_module(path) {
                twice.push(format!("{} and {}", path.join("::"), other.join("::")));
            }
        }
    }
    assert!(
        twice.is_empty(),
        "reachable by two paths:\n{}",
        twice.join("\n")
    );
}

/// `govops_core::Router` as the path it re-exports at that crate's root
/// (`govops_core::failover::Router`), so that two names for one item are seen as one.
fn through_root(path: Vec<String>) -> Vec<String> {
    let dir = match path.first().map(String::as_str) {
        Some("govops_core") => "govops-core",
        Some("govops_tracing") => "govops-tracing",
        _ => return path,
    };
    if path.len() != 2 {
        return path;
    }
    let (_, lib) = parse(&Path::new(ROOT).join(dir).join("src/lib.rs"));
    let mut leaves = Vec::new();
    for item in &lib.items {
        if let syn::Item::Use(u) = item
            && matches!(u.vis, syn::Visibility::Public(_))
        {
            leaves_of(&mut Vec::new(), &u.tree, &mut leaves);
        }
    }
    match leaves.into_iter().find(|(_, name)| *name == path[1]) {
        Some((inner, _)) => {
            let mut full = vec![path[0].clone()];
            full.extend(
                inner
                    .into_iter()
                    .skip_while(|s| s == "crate" || s == "self"),
            );
            full
        }
        None => path,
    }
}

fn collect_reexports(items: &[syn::Item], out: &mut Vec<(Vec<String>, String)>) {
    for item in items {
        match item {
            syn::Item::Use(u)
                if matches!(u.vis, syn::Visibility::Public(_)) && !is_doc_hidden(&u.attrs) =>
            {
                leaves_of(&mut Vec::new(), &u.tree, out);
            }
            syn::Item::Mod(m) if matches!(m.vis, syn::Visibility::Public(_)) => {
                if let Some((_, items)) = &m.content {
                    collect_reexports(items, out);
                }
            }
            _ => {}
        }
    }
}

fn is_doc_hidden(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("doc")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string() == "hidden")
    })
}

#[test]
fn the_readme_is_one_page_whose_links_stay_in_the_repository() {
    let readme = fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX,
        "README.md has {lines} lines (at most {README_MAX})"
    );
    let mut bad = Vec::new();
    for target in markdown_links(&readme) {
        if target.contains("://") || target.starts_with("mailto:") {
            bad.push(format!("{target}: outside the repository"));
            continue;
        }
        let file = target.split('#').next().unwrap_or_default();
        if !file.is_empty() && !Path::new(ROOT).join(file).exists() {
            bad.push(format!("{target}: no such file"));
        }
    }
    assert!(bad.is_empty(), "README.md links:\n{}", bad.join("\n"));
}

/// The targets of `[text](target)` links.
fn markdown_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].trim().to_owned());
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn the_measure_sees_what_it_should() {
    // The rules above would pass vacuously on an empty tree.
    assert!(library_sources().len() > 20);
    let text = "fn a() {\n    // why\n\n    let x = 1;\n}\n";
    assert_eq!(code_lines(text, 1, 5, &[]), 3);
    let cyc = {
        let m = vec!["a".to_owned(), "b".to_owned()];
        let mut i = Imports {
            module: &m,
            found: BTreeSet::new(),
        };
        i.resolve(&["super".into(), "c".into(), "X".into()]);
        i.found
    };
    assert!(cyc.contains(&vec!["a".to_owned(), "c".to_owned(), "X".to_owned()]));
}
