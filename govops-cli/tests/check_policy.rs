//! `govops check policy` as a pipeline step runs it: a real process, real policy and case files.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn govops(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_govops"))
        .args(args)
        .env_clear()
        .current_dir(dir)
        .output()
        .unwrap()
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/policy")
        .join(name)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_sample_policy_passes_its_cases() {
    let dir = tempfile::tempdir().unwrap();
    let policy = sample("policy.toml");
    let cases = sample("cases.jsonl");
    let output = govops(
        &[
            "check",
            "policy",
            "--policy",
            policy.to_str().unwrap(),
            "--cases",
            cases.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("9 case(s), 9 passed, 0 failed"));
}

#[test]
fn a_case_that_decides_otherwise_fails_the_check_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.jsonl");
    std::fs::write(
        &cases,
        concat!(
            r#"{"name": "mini in prod", "environment": "prod", "session": "s-1", "user": "u-1", "kind": "chat", "model": "gpt-4o-mini", "expect": "allow"}"#,
            "\n",
            r#"{"name": "right", "environment": "prod", "session": "s-1", "user": "u-1", "kind": "tool", "tool": "refund", "expect": "allow"}"#,
            "\n",
            r#"{"name": "a typo", "environment": "prod", "session": "s-1", "user": "u-1", "kind": "chat", "model": "gpt-4o", "expect": "permit"}"#,
            "\n",
        ),
    )
    .unwrap();
    let policy = sample("policy.toml");
    let args = [
        "check",
        "policy",
        "--policy",
        policy.to_str().unwrap(),
        "--cases",
        cases.to_str().unwrap(),
    ];
    let output = govops(&args, dir.path());
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("FAIL  mini in prod (line 1): decision deny, expected allow"),
        "{text}"
    );
    assert!(text.contains("ok    right (allow)"), "{text}");
    assert!(text.contains("FAIL  a typo (line 3)"), "{text}");

    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let output = govops(&json_args, dir.path());
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    assert_eq!(cases[0]["decision"], "deny");
    assert_eq!(
        cases[0]["violations"],
        serde_json::json!(["model_not_allowed"])
    );
    assert_eq!(cases[0]["passed"], false);
    assert_eq!(cases[1]["passed"], true);
}

#[test]
fn an_invalid_policy_fails_with_its_line_and_unreadable_input_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bad.toml");
    std::fs::write(&policy, "[guards.agent_loop]\nmax_tool_calls = 0\n").unwrap();
    let output = govops(
        &["check", "policy", "--policy", policy.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("bad.toml:2: guards.agent_loop.max_tool_calls is 0"),
        "{text}"
    );

    let output = govops(&["check", "policy", "--policy", "missing.toml"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read --policy missing.toml"));
}

#[test]
fn cases_give_rules_the_caller_and_rules_that_return_what_they_may_not_fail_the_case() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[rego]\nrules = '''\npackage govops\nimport rego.v1\n\n\
         violations contains \"token_waste\" if input.user == \"intern\"\n\
         violations contains \"too_pricey\" if input.session == \"odd\"\n\
         decision := \"deny\" if input.agent == \"shopper\"\n'''\n",
    )
    .unwrap();
    let cases = [
        r#"{"name": "interns are capped", "environment": "dev", "kind": "chat", "model": "gpt-4o", "user": "intern", "expect": "flag", "violations": ["token_waste"]}"#,
        r#"{"name": "others are not", "environment": "dev", "kind": "chat", "model": "gpt-4o", "user": "lead", "session": "s-1", "expect": "allow", "violations": []}"#,
        r#"{"name": "the shopper agent is denied", "environment": "dev", "kind": "agent", "agent": "shopper", "expect": "deny"}"#,
        r#"{"name": "a rule returns an unknown code", "environment": "dev", "kind": "chat", "model": "gpt-4o", "session": "odd", "expect": "allow"}"#,
    ];
    std::fs::write(dir.path().join("cases.jsonl"), cases.join("\n")).unwrap();
    let output = govops(
        &[
            "check",
            "policy",
            "--policy",
            "policy.toml",
            "--cases",
            "cases.jsonl",
        ],
        dir.path(),
    );
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let failing: Vec<&str> = text.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(failing.len(), 1, "{text}");
    assert!(
        failing[0].contains("a rule returns an unknown code"),
        "{text}"
    );
    assert!(
        text.contains("\"too_pricey\", not a code of the contract"),
        "{text}"
    );
}
