//! Every code block of README.md and `docs/` compiles, runs or parses, and every link stays in the
//! repository, so a page cannot drift from the product it describes.
//!
//! What each fence's info string commits the block to:
//!
//! | block | checked by |
//! | --- | --- |
//! | `rust`, `rust,no_run` | rustdoc: `src/docs.rs` includes every page (`cargo test --doc -p govops`) |
//! | `toml` | a policy: `govops check policy --policy` must accept it (beside `examples/policy/rules.rego`) |
//! | `sh` | run by `bash -euo pipefail` with this build's `govops` first on `PATH`, in a directory holding `audit.jsonl` and `govops-telemetry.jsonl` (what `examples/agent` wrote), `examples/policy/` and a complete `deploy/prod.env`; it must exit 0 |
//! | `console` | not run (commands to type: `cargo …`, variables): every `--example`, `--bench`, `--test` and `-p` it names must exist |
//! | `json` | every non-empty line is one JSON value |
//! | `text` | output and formulas shown as they are |
//!
//! Anything else (`rust,ignore`, a fence without an info string) fails.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kinds of block a page may hold; see the module's table.
const KINDS: [&str; 7] = [
    "rust",
    "rust,no_run",
    "toml",
    "sh",
    "console",
    "json",
    "text",
];

/// The longest README.md may be: the issue's "one page".
const README_MAX_LINES: usize = 200;

/// One fenced code block of a page.
struct Block {
    /// `FILE:LINE` of its opening fence, for messages.
    at: String,
    /// The info string after the fence.
    kind: String,
    /// The lines between the fences.
    text: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// README.md and every page of `docs/`, as paths relative to the repository.
fn pages() -> Vec<String> {
    let mut pages: Vec<String> = fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    pages.sort();
    pages.insert(0, "README.md".to_owned());
    pages
}

fn read(page: &str) -> String {
    fs::read_to_string(repo().join(page)).unwrap()
}

/// The fenced blocks of `page`, in order.
fn blocks(page: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<Block> = None;
    for (n, line) in read(page).lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (open.take(), fence) {
            (None, Some(info)) => {
                open = Some(Block {
                    at: format!("{page}:{}", n + 1),
                    kind: info.trim().to_owned(),
                    text: String::new(),
                });
            }
            (Some(block), Some(_)) => found.push(block),
            (Some(mut block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
                open = Some(block);
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{page}: a code block is never closed");
    found
}

fn blocks_of(kind: &str) -> Vec<Block> {
    pages()
        .iter()
        .flat_map(|page| blocks(page))
        .filter(|block| block.kind == kind)
        .collect()
}

/// The lines of `page` outside its code blocks.
fn prose(page: &str) -> Vec<(usize, String)> {
    let mut inside = false;
    let mut lines = Vec::new();
    for (n, line) in read(page).lines().enumerate() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
        } else if !inside {
            lines.push((n + 1, line.to_owned()));
        }
    }
    lines
}

#[test]
fn every_block_says_how_it_is_checked() {
    let unknown: Vec<String> = pages()
        .iter()
        .flat_map(|page| blocks(page))
        .filter(|block| !KINDS.contains(&block.kind.as_str()))
        .map(|block| format!("{}: ```{}", block.at, block.kind))
        .collect();
    assert!(
        unknown.is_empty(),
        "blocks of no known kind (accepted: {KINDS:?}):\n{}",
        unknown.join("\n")
    );
}

#[test]
fn every_page_is_a_doctest() {
    let docs = fs::read_to_string(repo().join("src/docs.rs")).unwrap();
    let missing: Vec<String> = pages()
        .into_iter()
        .filter(|page| !docs.contains(&format!("include_str!(\"../{page}\")")))
        .collect();
    assert!(
        missing.is_empty(),
        "src/docs.rs does not include {missing:?}: their Rust blocks would never be compiled"
    );
}

#[test]
fn the_readme_is_one_page() {
    let lines = read("README.md").lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, more than {README_MAX_LINES}: move the detail to docs/"
    );
}

#[test]
fn every_policy_block_is_a_valid_policy() {
    let policies = blocks_of("toml");
    assert!(!policies.is_empty(), "no policy block found");
    for block in policies {
        let dir = tempfile::tempdir().unwrap();
        // A policy's `[rego] file` is read beside it: the sample's rules.
        fs::copy(
            repo().join("examples/policy/rules.rego"),
            dir.path().join("rules.rego"),
        )
        .unwrap();
        fs::write(dir.path().join("policy.toml"), &block.text).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_govops"))
            .args(["check", "policy", "--policy", "policy.toml"])
            .env_clear()
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}: govops check policy refuses the block:\n{}{}",
            block.at,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A directory holding what the pages' commands read: the files a run of `examples/agent` wrote,
/// the sample policy, and a deployment's complete environment file.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    fs::copy(
        fixtures.join("agent-audit.jsonl"),
        dir.path().join("audit.jsonl"),
    )
    .unwrap();
    fs::copy(
        fixtures.join("agent-telemetry.jsonl"),
        dir.path().join("govops-telemetry.jsonl"),
    )
    .unwrap();
    let policy = dir.path().join("examples/policy");
    fs::create_dir_all(&policy).unwrap();
    for name in ["policy.toml", "cases.jsonl", "rules.rego"] {
        fs::copy(repo().join("examples/policy").join(name), policy.join(name)).unwrap();
    }
    fs::create_dir_all(dir.path().join("deploy")).unwrap();
    fs::write(
        dir.path().join("deploy/prod.env"),
        "GOVOPS_APP_NAME=support-bot\nGOVOPS_ENVIRONMENT=prod\nGOVOPS_OWNER=team-ai\n\
         GOVOPS_COST_CENTER=CC-1234\nGOVOPS_DATA_CLASSIFICATION=internal\n\
         GOVOPS_POLICY=examples/policy/policy.toml\n",
    )
    .unwrap();
    dir
}

#[test]
fn every_shell_block_runs() {
    let commands = blocks_of("sh");
    assert!(!commands.is_empty(), "no shell block found");
    let bin = Path::new(env!("CARGO_BIN_EXE_govops")).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    for block in commands {
        assert!(
            block.text.contains("govops "),
            "{}: a shell block runs `govops`; mark other commands `console`",
            block.at
        );
        let dir = workspace();
        let output = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &block.text])
            .env_clear()
            .env("PATH", &path)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}: the block failed:\n{}\nstdout:\n{}\nstderr:\n{}",
            block.at,
            block.text,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Whether the workspace has a package named `name`.
fn is_package(name: &str) -> bool {
    let manifest = if name == "govops" {
        repo().join("Cargo.toml")
    } else {
        repo().join(name).join("Cargo.toml")
    };
    fs::read_to_string(manifest).is_ok_and(|text| text.contains(&format!("name = \"{name}\"")))
}

/// Whether an integration test `name` exists in any package.
fn is_test(name: &str) -> bool {
    let file = format!("tests/{name}.rs");
    repo().join(&file).is_file()
        || fs::read_dir(repo()).unwrap().any(|entry| {
            let entry = entry.unwrap();
            entry.path().join(&file).is_file()
        })
}

#[test]
fn every_console_block_names_what_exists() {
    let mut wrong = Vec::new();
    for block in blocks_of("console") {
        let words: Vec<&str> = block.text.split_whitespace().collect();
        for pair in words.windows(2) {
            let [flag, name] = [pair[0], pair[1]];
            let exists = match flag {
                "--example" => repo().join(format!("examples/{name}.rs")).is_file(),
                "--bench" => repo().join(format!("benches/{name}.rs")).is_file(),
                "--test" => is_test(name),
                "-p" => is_package(name),
                _ => true,
            };
            if !exists {
                wrong.push(format!("{}: {flag} {name} does not exist", block.at));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_json_block_parses() {
    for block in blocks_of("json") {
        for line in block.text.lines().filter(|line| !line.trim().is_empty()) {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(line) {
                panic!("{}: a line is not JSON ({e}): {line}", block.at);
            }
        }
    }
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(page: &str) -> Vec<String> {
    prose(page)
        .into_iter()
        .filter_map(|(_, line)| {
            line.starts_with('#')
                .then(|| anchor(line.trim_start_matches('#')))
        })
        .collect()
}

/// The targets of the markdown links on a line: what `](` opens, up to its `)`.
fn link_targets(line: &str) -> Vec<&str> {
    line.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &line[at + 2..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn every_link_stays_in_the_repository_and_resolves() {
    let mut wrong = Vec::new();
    for page in pages() {
        let base = repo().join(&page).parent().unwrap().to_path_buf();
        for (n, line) in prose(&page) {
            for target in link_targets(&line) {
                let at = format!("{page}:{n}: ({target})");
                if target.contains("://") || target.starts_with("mailto:") {
                    wrong.push(format!("{at} leaves the repository"));
                    continue;
                }
                let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
                let resolved = if file.is_empty() {
                    repo().join(&page)
                } else {
                    base.join(file)
                };
                if !resolved.exists() {
                    wrong.push(format!("{at} names no file"));
                } else if !fragment.is_empty() && (file.is_empty() || file.ends_with(".md")) {
                    let relative = resolved
                        .canonicalize()
                        .unwrap()
                        .strip_prefix(repo().canonicalize().unwrap())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    if !anchors(&relative).contains(&fragment.to_owned()) {
                        wrong.push(format!("{at} names no heading of {relative}"));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
