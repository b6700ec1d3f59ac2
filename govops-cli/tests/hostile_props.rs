//! Property tests of the lines the CLI is fed, through the real binary: `govops cost --jsonl`
//! request lines, telemetry lines for `check telemetry` and `report`, and audit lines for
//! `report`. Whatever a line holds: no panic, an exit status the command documents, every
//! rejection naming its file and line, and no control character reaching the terminal. Few cases,
//! since each runs a process; `PROPTEST_CASES=500` searches longer.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use proptest::prelude::*;

fn govops(args: &[&str], stdin: &[u8], dir: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_govops"))
        .args(args)
        .env_clear()
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // The command may stop reading early; a broken pipe here is its right.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().unwrap()
}

/// Values an attacker puts where a token count, a cost, a name or an id is expected.
const HOSTILE: &[&str] = &[
    "1e999",
    "-1",
    "18446744073709551616",
    "18446744073709551615",
    "-0",
    "1e28",
    "2e28",
    "79228162514264337593543950336",
    "\"NaN\"",
    "\"Infinity\"",
    "\"-1\"",
    "\"0x10\"",
    "\"1e400\"",
    "null",
    "[]",
    "{}",
    "\"\\u001b]8;;http://x\\u0007link\\u001b]8;;\\u0007\"",
    "\"\\u009b2J\"",
    "\"\\u202egnp.exe\"",
    "\"=cmd|' /C calc'!A0\"",
    "{\"a\":1,\"a\":2}",
    "\"",
    "}",
];

fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(HOSTILE).prop_map(str::to_owned),
        any::<i128>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        "\\PC{0,8}",
    ]
}

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

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn no_panic_no_controls(output: &Output) -> Result<(), TestCaseError> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    prop_assert!(!stderr.contains("panicked"), "{stderr}");
    for text in [&stdout, &stderr] {
        prop_assert!(
            !text.chars().any(|c| c != '\n' && govops_core_is_unsafe(c)),
            "a control character reached the terminal: {text:?}"
        );
    }
    Ok(())
}

/// The library's rule, restated so that this test does not trust the code it checks.
fn govops_core_is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{9b}')
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_cost_request_line_gets_one_answer_line(
        values in proptest::collection::vec((0usize..6, hostile()), 1..12),
    ) {
        let fields = ["input_tokens", "output_tokens", "model", "provider", "cache_read_tokens", "service_tier"];
        let lines: Vec<String> = values
            .iter()
            .map(|(field, value)| {
                let mut request = serde_json::json!({
                    "model": "gpt-4o", "provider": "openai", "input_tokens": 1000, "output_tokens": 10
                })
                .to_string();
                request = request.replacen('}', &format!(",\"{}\":{value}}}", fields[*field]), 1);
                request.replace('\n', " ")
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let output = govops(&["cost", "--jsonl"], (lines.join("\n") + "\n").as_bytes(), dir.path());
        no_panic_no_controls(&output)?;
        prop_assert_eq!(output.status.code(), Some(0));
        let answers: Vec<&str> = std::str::from_utf8(&output.stdout).unwrap().lines().collect();
        prop_assert_eq!(answers.len(), lines.len(), "one answer a request");
        for answer in answers {
            let answer: serde_json::Value = serde_json::from_str(answer).unwrap();
            prop_assert!(
                answer.get("error").is_some() || answer.get("cost_usd").is_some() || answer.get("priced").is_some(),
                "{answer}"
            );
        }
    }

    #[test]
    fn a_tampered_telemetry_line_is_checked_or_named_never_a_panic(
        file in proptest::sample::select(vec!["agent-telemetry.jsonl", "failover-telemetry.jsonl", "drift-telemetry.jsonl"]),
        at in 0.0..1.0f64, len in 0usize..24, with in hostile(),
    ) {
        let text = fixture(file);
        let line = text.lines().next().unwrap();
        let tampered = splice(line, at, len, &with).replace('\n', " ");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.jsonl"), tampered + "\n").unwrap();
        let check = govops(&["check", "telemetry", "t.jsonl"], b"", dir.path());
        no_panic_no_controls(&check)?;
        let code = check.status.code();
        prop_assert!(matches!(code, Some(0..=2)), "{code:?}");
        if code == Some(2) {
            let stderr = String::from_utf8_lossy(&check.stderr);
            prop_assert!(stderr.contains("t.jsonl:1"), "{}", stderr);
        }
        for format in ["text", "json", "csv"] {
            let report = govops(&["report", "t.jsonl", "--format", format], b"", dir.path());
            no_panic_no_controls(&report)?;
            let code = report.status.code();
            prop_assert!(matches!(code, Some(0 | 2)), "{code:?}");
            if code == Some(2) {
                let stderr = String::from_utf8_lossy(&report.stderr);
                prop_assert!(stderr.contains("t.jsonl:1"), "{}", stderr);
            }
        }
    }

    #[test]
    fn a_tampered_audit_line_is_reported_or_named_never_a_panic(
        which in 0usize..7, at in 0.0..1.0f64, len in 0usize..24, with in hostile(),
    ) {
        let text = fixture("agent-audit.jsonl");
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let i = which % lines.len();
        lines[i] = splice(&lines[i], at, len, &with).replace('\n', " ");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.jsonl"), lines.join("\n") + "\n").unwrap();
        let report = govops(&["report", "a.jsonl", "--format", "json"], b"", dir.path());
        no_panic_no_controls(&report)?;
        let code = report.status.code();
        prop_assert!(matches!(code, Some(0 | 2)), "{code:?}");
        if code == Some(2) {
            let named = format!("a.jsonl:{}", i + 1);
            let stderr = String::from_utf8_lossy(&report.stderr);
            prop_assert!(stderr.contains(&named), "{} not in {}", named, stderr);
        }
        let verify = govops(&["audit", "verify", "a.jsonl"], b"", dir.path());
        no_panic_no_controls(&verify)?;
        prop_assert!(matches!(verify.status.code(), Some(0..=2)));
    }
}
