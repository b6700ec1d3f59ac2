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

/// `govops check policy` with a secret in the environment, as a CI job runs it.
fn check_with_secret(policy: &Path, dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_govops"))
        .args(["check", "policy", "--policy", policy.to_str().unwrap()])
        .args(extra)
        .env_clear()
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer sk-live-TOPSECRET-4242",
        )
        .current_dir(dir)
        .output()
        .unwrap()
}

fn all_output(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_rego_file_outside_the_policy_directory_is_refused_and_never_printed() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    // A file beside the policy's directory, whose first line a compile error would echo.
    std::fs::write(
        root.path().join("secret.rego"),
        "db_password = hunter2-PRIVATE-LINE\n",
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "NOTES-PRIVATE-LINE\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.path(), dir.join("up")).unwrap();
    let policy = dir.join("policy.toml");
    for (file, why) in [
        ("/proc/self/environ", "is an absolute path"),
        ("../secret.rego", "leaves the policy's directory"),
        ("notes.txt", "is not a .rego file"),
        #[cfg(unix)]
        (
            "up/secret.rego",
            "leads out of the policy's directory through a symlink",
        ),
    ] {
        std::fs::write(&policy, format!("[rego]\nfile = {file:?}\n")).unwrap();
        let output = check_with_secret(&policy, &dir, &[]);
        let text = all_output(&output);
        assert_eq!(output.status.code(), Some(1), "{file}: {text}");
        assert!(
            text.contains(&format!("policy.toml:1: rego.file {file:?} {why}")),
            "{file}: {text}"
        );
        for secret in ["TOPSECRET", "PRIVATE-LINE", "hunter2"] {
            assert!(!text.contains(secret), "{file} leaked {secret}: {text}");
        }
    }
}

#[test]
fn a_drift_baseline_outside_the_policy_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    for (file, why) in [
        ("/home/someone/.bashrc", "is an absolute path"),
        ("../../drift.json", "leaves the policy's directory"),
    ] {
        std::fs::write(&policy, format!("[drift]\nbaseline = {file:?}\n")).unwrap();
        let output = check_with_secret(&policy, dir.path(), &[]);
        let text = all_output(&output);
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(
            text.contains(&format!("policy.toml:2: drift.baseline {file:?} {why}")),
            "{text}"
        );
    }
}

#[test]
fn hostile_rules_are_problems_and_the_process_lives() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[rego]\nfile = \"rules.rego\"\n").unwrap();
    for (rules, problem) in [
        (
            "package govops\nimport rego.v1\n\nf(x) := y if { y := f(x) }\n\ndecision := \"deny\" if f(1) == 2\n",
            "deeper than the limit",
        ),
        (
            "package govops\nimport rego.v1\n\ndecision := \"deny\" if count(numbers.range(1, 1e9)) > 2\n",
            "numbers.range of 1000000000 numbers is more than the limit of 100000",
        ),
        (
            "package govops\nimport rego.v1\n\ndecision := \"deny\" if count([x | some a in numbers.range(1, 3000); some b in numbers.range(1, 3000); x := a * b]) > 2\n",
            "longer than the limit of 100 ms",
        ),
        (
            "package governance\nimport rego.v1\n\ndecision := \"deny\"\n",
            "rules.rego:1: the module is `package governance`",
        ),
        (
            "package govops\nimport rego.v1\n\ndecisions := \"deny\"\n",
            "rules.rego:1: the module defines neither `violations` nor `decision`",
        ),
    ] {
        std::fs::write(dir.path().join("rules.rego"), rules).unwrap();
        let output = check_with_secret(&policy, dir.path(), &[]);
        let text = all_output(&output);
        // Exit 1 is a policy problem; a stack overflow would be a signal, a hang a timeout.
        assert_eq!(output.status.code(), Some(1), "{problem}: {text}");
        assert!(text.contains(problem), "{problem}: {text}");
    }
}

#[test]
fn a_rule_that_fails_on_a_case_decides_it_as_policy_rule_failed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.rego"),
        "package govops\nimport rego.v1\n\nf(x) := y if { y := f(x) }\n\nviolations contains \"token_waste\" if { input.model == \"gpt-4o-mini\"; f(1) == 2 }\n",
    )
    .unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[rego]\nfile = \"rules.rego\"\n").unwrap();
    let cases = dir.path().join("cases.jsonl");
    std::fs::write(
        &cases,
        r#"{"name": "reaches the loop", "environment": "dev", "kind": "chat", "model": "gpt-4o-mini", "expect": "flag", "violations": ["policy_rule_failed"]}"#,
    )
    .unwrap();
    let output = check_with_secret(
        &policy,
        dir.path(),
        &["--cases", cases.to_str().unwrap(), "--format", "json"],
    );
    let text = all_output(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let case = &report["cases"][0];
    assert_eq!(case["decision"], "flag", "{text}");
    assert_eq!(
        case["violations"],
        serde_json::json!(["policy_rule_failed"]),
        "{text}"
    );
    assert!(
        case["why"]
            .as_str()
            .unwrap()
            .contains("deeper than the limit"),
        "{text}"
    );
}

#[test]
fn the_state_section_is_validated_at_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("state.toml");
    let check = |text: &str| {
        std::fs::write(&policy, text).unwrap();
        govops(
            &["check", "policy", "--policy", policy.to_str().unwrap()],
            dir.path(),
        )
    };
    let good = check(
        "[state]\non_unavailable = \"deny\"\nnamespace = \"billing\"\n\
         reservation_ttl_seconds = 120\ndrift_sync_seconds = 10\n",
    );
    assert_eq!(good.status.code(), Some(0), "{}", stdout(&good));

    let bad = check(
        "[state]\non_unavailable = \"off\"\nnamespace = \"two words\"\n\
         reservation_ttl_seconds = 86401\nsync = 5\n",
    );
    assert_eq!(bad.status.code(), Some(1));
    let text = stdout(&bad);
    for expected in [
        "state.toml:2: state.on_unavailable is \"off\"; accepted: flag or deny",
        "state.toml:3: state.namespace has ' '",
        "state.toml:4: state.reservation_ttl_seconds is 86401; accepted: a whole number from 1 to 86400",
        "state.toml:5: unknown field `sync`",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}
