//! Every file the CLI reads, named as a device, a FIFO with no writer, a directory or a file above
//! its limit: a clear error naming it, at once, never a read without end or a blocked process.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary; a process still running after a minute has hung: it is killed and the test
/// fails (a guard against a hang, not a measure of speed).
fn govops(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_govops"));
    command
        .args(args)
        .env_clear()
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("govops {args:?} {env:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A FIFO no process writes to, a directory, a file of 2 MiB (over the 1 MiB policy and env-file
/// limits) and `/dev/zero`: each a path and the words its error must hold.
fn hostile_paths(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let big = dir.join("big.toml");
    std::fs::write(&big, "#".repeat(2 << 20)).unwrap();
    vec![
        (PathBuf::from("/dev/zero"), "is a device"),
        (fifo, "is a FIFO"),
        (dir.to_path_buf(), "is a directory"),
        (big, "the limit is"),
    ]
}

const ENV: &[(&str, &str)] = &[
    ("GOVOPS_APP_NAME", "support-bot"),
    ("GOVOPS_ENVIRONMENT", "dev"),
    ("GOVOPS_OWNER", "team-ai"),
    ("GOVOPS_COST_CENTER", "CC-1234"),
    ("GOVOPS_DATA_CLASSIFICATION", "internal"),
];

fn assert_refused(output: &Output, path: &Path, why: &str, code: i32) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let said = format!("{stdout}{stderr}");
    assert_eq!(output.status.code(), Some(code), "{said}");
    assert!(said.contains(&path.display().to_string()), "{said}");
    assert!(said.contains(why), "{why:?} not in {said}");
    assert!(!said.contains("panicked"), "{said}");
}

#[test]
fn env_file_policy_cases_telemetry_and_price_table_refuse_devices_fifos_directories_and_giants() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[capture]\ncontent = false\n").unwrap();
    for (path, why) in hostile_paths(dir.path()) {
        let p = path.to_str().unwrap();
        let output = govops(&["check", "env", "--env-file", p], &[], dir.path());
        assert_refused(&output, &path, why, 2);

        let output = govops(&["check", "policy", "--policy", p], &[], dir.path());
        assert_refused(&output, &path, why, 2);

        if why != "the limit is" {
            // 2 MiB is within the limits of a price table, cases and telemetry.
            let output = govops(
                &["check", "policy", "--policy", "policy.toml", "--cases", p],
                &[],
                dir.path(),
            );
            assert_refused(&output, &path, why, 2);

            let output = govops(&["check", "telemetry", p], &[], dir.path());
            assert_refused(&output, &path, why, 2);

            let output = govops(&["models", "--price-table", p], &[], dir.path());
            assert_refused(&output, &path, why, 2);

            // init's own check: the variable names a device, a FIFO or a directory.
            let mut env = ENV.to_vec();
            env.push(("GOVOPS_PRICE_TABLE", p));
            let output = govops(&["check", "env"], &env, dir.path());
            assert_refused(&output, &path, why, 1);
            assert!(String::from_utf8_lossy(&output.stdout).contains("GOVOPS_PRICE_TABLE"));

            let mut env = ENV.to_vec();
            env.push(("GOVOPS_POLICY", p));
            let output = govops(&["check", "env"], &env, dir.path());
            assert_refused(&output, &path, why, 1);
        }
    }
}

#[test]
fn a_case_that_names_a_key_twice_fails_naming_the_key_not_the_last_value_winning() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policy/policy.toml");
    let cases = dir.path().join("cases.jsonl");
    // Read with the last value winning, this case would pass as an allowed gpt-4o call.
    std::fs::write(
        &cases,
        r#"{"name": "two models", "environment": "prod", "session": "s-1", "user": "u-1", "kind": "chat", "model": "gpt-4o-mini", "model": "gpt-4o", "expect": "allow"}"#,
    )
    .unwrap();
    let output = govops(
        &[
            "check",
            "policy",
            "--policy",
            policy.to_str().unwrap(),
            "--cases",
            cases.to_str().unwrap(),
        ],
        &[],
        dir.path(),
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  line 1 (line 1): not a valid case: duplicate key \"model\" in $"),
        "{text}"
    );
}

/// `line` with `"key": value` written again right after its opening brace.
fn twice(line: &str, key_value: &str) -> String {
    format!("{{{key_value},{}", &line[1..])
}

#[test]
fn telemetry_and_audit_lines_that_repeat_a_key_are_named_not_read_as_their_last_value() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let telemetry = std::fs::read_to_string(fixtures.join("agent-telemetry.jsonl")).unwrap();
    let first = telemetry.lines().next().unwrap();
    std::fs::write(
        dir.path().join("t.jsonl"),
        twice(first, r#""resourceSpans":[]"#),
    )
    .unwrap();
    let output = govops(&["check", "telemetry", "t.jsonl"], &[], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("t.jsonl:1 is not JSON (duplicate key \"resourceSpans\" in $)"),
        "{stderr}"
    );

    // An audit call record whose cost is written twice: a reader taking the last would total $0.
    let audit = std::fs::read_to_string(fixtures.join("agent-audit.jsonl")).unwrap();
    let call = audit
        .lines()
        .position(|l| l.contains("\"kind\":\"call\"") && l.contains("\"cost_usd\""))
        .unwrap();
    let lines: Vec<String> = audit
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == call {
                twice(l, r#""cost_usd":"0""#)
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(dir.path().join("a.jsonl"), lines.join("\n") + "\n").unwrap();
    let output = govops(&["report", "a.jsonl"], &[], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("a.jsonl:{}", call + 1))
            && stderr.contains("duplicate")
            && stderr.contains("cost_usd"),
        "{stderr}"
    );
}
