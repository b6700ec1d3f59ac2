//! Property tests over every parser a user or an attacker feeds the core: the price table, the
//! policy, the env file and the audit log's lines. Whatever the input, no parser panics, and every
//! rejection names where it is (a model and field, a line, a variable or a file) without repeating
//! a secret it was given. The case counts are small so that CI stays well inside its time;
//! `PROPTEST_CASES=5000 cargo test --test hostile_input` runs a longer search.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::fs;

use govops_core::audit::{AuditLog, AuditOptions, AuditRecord, verify};
use govops_core::{EnvSource, Policy, PriceTable};
use proptest::prelude::*;

/// A secret planted in inputs: no error message may repeat it.
const SECRET: &str = "sk-proj-Zq8vXw3HostileSecret42";

/// Values an attacker tries where a number, a string or a structure is expected.
const HOSTILE: &[&str] = &[
    "1e999",
    "-1e999",
    "-0.000001",
    "79228162514264337593543950336",
    "1e-400",
    "18446744073709551616",
    "-9223372036854775809",
    "NaN",
    "\"NaN\"",
    "\"1e30\"",
    "null",
    "true",
    "[]",
    "{}",
    "\"\\u0000\"",
    "\"\\u001b[31m\"",
    "\"\\ud800\"",
    "\"\u{202e}\"",
    "\"",
    "}",
    "]]]]]]]]",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}}",
    "=",
    "\n",
    "#",
    "'''",
    "\"\"\"",
    "inf",
    "nan",
    "0x10",
    "1_000",
];

const TABLE: &str = r#"{
  "sample_spec": {"max_input_tokens": "documentation only"},
  "gpt-4o": {"litellm_provider": "openai", "max_input_tokens": 128000, "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06},
  "claude-sonnet-4-20250514": {"litellm_provider": "anthropic", "max_input_tokens": 200000, "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05, "input_cost_per_token_above_200k_tokens": 6e-06},
  "text-embedding-3-small": {"litellm_provider": "openai", "max_input_tokens": 8191, "input_cost_per_token": 2e-08, "mode": "embedding"}
}"#;

/// The sample policy without its Rego file, which a text alone cannot name.
const POLICY: &str = r#"
[guards.context_overflow]
action = "flag"
percent = 90

[guards.agent_loop]
action = "deny"
max_tool_calls = 10
max_repeats = 3

[capture]
content = false

[environments.prod]
models = ["gpt-4o", "claude-sonnet-4-20250514"]
providers = ["openai", "anthropic"]
tools = ["search_orders", "refund"]

[environments.prod.budgets]
request_usd = "0.50"
session_usd = "5"
cost_center_usd_per_day = "500"
"#;

/// `base` with the bytes from `at` (a fraction of its length) to `at + len` replaced by `with`,
/// cut at character boundaries.
fn splice(base: &str, at: f64, len: usize, with: &str) -> String {
    let mut start = ((base.len() as f64) * at) as usize;
    while !base.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + len).min(base.len());
    while !base.is_char_boundary(end) {
        end += 1;
    }
    format!("{}{with}{}", &base[..start], &base[end..])
}

fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(HOSTILE).prop_map(str::to_owned),
        "\\PC{0,12}",
        any::<f64>().prop_map(|f| f.to_string()),
        any::<i128>().prop_map(|i| i.to_string()),
        Just(format!("\"{SECRET}\"")),
    ]
}

/// A valid text with one span replaced by a hostile value, or one duplicated line.
fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        (0.0..1.0f64, 0usize..12, hostile())
            .prop_map(move |(at, len, with)| splice(base, at, len, &with)),
        (0usize..40).prop_map(move |n| {
            let lines: Vec<&str> = base.lines().collect();
            let i = n % lines.len();
            let mut out = lines.clone();
            out.insert(i, lines[i]);
            out.join("\n")
        }),
    ]
}

/// Whether `said` repeats the planted secret other than as the one offending token it names
/// (`unknown field \`sk-…\``), which an error may quote.
fn leaks(said: &str) -> bool {
    let quoted = [format!("`{SECRET}`"), format!("\"{SECRET}\"")];
    let rest = quoted
        .iter()
        .fold(said.to_owned(), |s, q| s.replacen(q.as_str(), "", 1));
    rest.contains(SECRET)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_price_table_parses_or_names_every_problem(text in prop_oneof![mutated(TABLE), "\\PC{0,300}"]) {
        if let Err(problems) = PriceTable::parse(&text) {
            prop_assert!(!problems.is_empty(), "a rejection with no problem");
            for problem in &problems {
                let said = problem.to_string();
                prop_assert!(!problem.problem.trim().is_empty(), "an empty problem");
                prop_assert!(!leaks(&said), "a problem repeats the input: {said}");
            }
        }
    }

    #[test]
    fn a_policy_parses_or_names_every_problem_with_its_line(text in prop_oneof![mutated(POLICY), "\\PC{0,300}"]) {
        let lines = text.lines().count().max(1);
        if let Err(problems) = Policy::parse(&text, &PriceTable::embedded()) {
            prop_assert!(!problems.is_empty(), "a rejection with no problem");
            for problem in &problems {
                prop_assert!(!problem.problem.trim().is_empty(), "an empty problem");
                if let Some(line) = problem.line {
                    prop_assert!((1..=lines + 1).contains(&line), "line {line} of {lines}: {problem}");
                }
                let said = problem.to_string();
                prop_assert!(!leaks(&said), "a problem repeats a secret: {said}");
            }
        }
    }

    #[test]
    fn an_env_file_names_each_bad_line_and_never_its_value(
        lines in proptest::collection::vec(
            prop_oneof![
                hostile(),
                hostile().prop_map(|v| format!("OPENAI_API_KEY={v}")),
                hostile().prop_map(|v| format!("{v}={SECRET}")),
                hostile().prop_map(|v| format!("export K=\"{SECRET}{v}")),
                Just(format!("'{SECRET}")),
            ],
            0..12,
        )
    ) {
        let text = lines.join("\n");
        let (_source, gaps) = EnvSource::from_dotenv(&text, "app.env");
        let count = text.lines().count();
        for gap in &gaps {
            let line: usize = gap.variable.strip_prefix("app.env:").and_then(|n| n.parse().ok())
                .ok_or_else(|| TestCaseError::fail(format!("gap not named FILE:LINE: {}", gap.variable)))?;
            prop_assert!((1..=count).contains(&line));
            let said = format!("{} {} {}", gap.variable, gap.problem, gap.accepted);
            prop_assert!(!said.contains(SECRET), "a gap repeats the line: {said}");
        }
    }
}

/// A real five-record audit log, its lines.
fn audit_lines() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, AuditOptions::default()).unwrap();
    for i in 0..5u64 {
        log.append(AuditRecord {
            session_id: Some(format!("s{i}")),
            input_tokens: Some(10 + i),
            ..AuditRecord::default()
        })
        .unwrap();
    }
    log.shutdown().unwrap();
    fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..config() })]

    #[test]
    fn a_tampered_audit_log_is_found_or_refused_never_a_panic(
        which in 0usize..16, at in 0.0..1.0f64, len in 0usize..16, with in hostile(),
    ) {
        let mut lines = audit_lines();
        let i = which % lines.len();
        let tampered = splice(&lines[i], at, len, &with);
        let changed = tampered != lines[i];
        lines[i] = tampered;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        fs::write(&path, lines.join("\n") + "\n").unwrap();
        match verify(&[&path]) {
            Ok(report) => {
                if changed {
                    prop_assert!(
                        !report.is_intact() || !report.truncated.is_empty(),
                        "line {} changed and the log verifies: {:?}", i + 1, lines[i]
                    );
                }
            }
            Err(error) => {
                let said = error.to_string();
                prop_assert!(said.contains("audit.jsonl"), "an error that names no file: {said}");
            }
        }
    }
}

/// A secret or an email put in the wrong variable (`GOVOPS_ENVIRONMENT=sk-ant-…`) was quoted back
/// in the gap, to stderr at start-up and to CI logs through `govops check env`: a value a gap
/// shows has its credentials and personal data redacted.
#[test]
fn a_gap_never_quotes_a_credential_or_an_email_put_in_the_wrong_variable() {
    let key = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    let env = EnvSource::from_pairs([
        ("GOVOPS_APP_NAME", "support-bot"),
        ("GOVOPS_ENVIRONMENT", key),
        ("GOVOPS_OWNER", "team-ai"),
        ("GOVOPS_COST_CENTER", "CC-1234"),
        ("GOVOPS_DATA_CLASSIFICATION", "alice@example.com"),
    ]);
    let gaps = govops_core::Config::from_env(&env).expect_err("two values are wrong");
    let said = gaps.to_string();
    assert!(said.contains("GOVOPS_ENVIRONMENT"), "{said}");
    assert!(said.contains("GOVOPS_DATA_CLASSIFICATION"), "{said}");
    assert!(!said.contains("AbCdEfGh"), "{said}");
    assert!(!said.contains("alice@example.com"), "{said}");
    assert!(said.contains("[REDACTED:"), "{said}");
}

#[test]
fn a_policy_problem_never_shows_a_key_put_where_a_model_name_goes() {
    for key in [
        "sk-ant-api03-AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHH",
        "AKIAIOSFODNN7EXAMPLE",
    ] {
        let policy = format!("[environments.prod]\nmodels = [\"{key}\"]\n");
        let problems = Policy::parse(&policy, &PriceTable::embedded()).unwrap_err();
        let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(said.iter().all(|p| !p.contains(&key[..16])), "{said:?}");
        assert!(said.iter().any(|p| p.contains("REDACTED")), "{said:?}");
    }
}
