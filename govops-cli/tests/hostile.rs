//! Hostile and careless input to the real binary (issue 14): costs no total can hold, closed
//! pipes, terminal escape sequences, spreadsheet formulas, malformed attributes.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::govops;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The fixture's first call record with its cost (and, when given, its session id) replaced.
fn audit_line(cost_json: &str, session: Option<&str>) -> String {
    let text = fs::read_to_string(fixture("agent-audit.jsonl")).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("\"kind\":\"call\""))
        .unwrap();
    let mut record: Value = serde_json::from_str(line).unwrap();
    record["cost_usd"] = serde_json::from_str(cost_json).unwrap();
    if let Some(session) = session {
        record["session_id"] = Value::String(session.to_owned());
    }
    record.to_string()
}

/// The telemetry fixture's first line with its first span's cost value replaced by `value`, and its
/// span name by `name` when given.
fn telemetry_line(value: &str, name: Option<&str>) -> String {
    let text = fs::read_to_string(fixture("agent-telemetry.jsonl")).unwrap();
    let line = text.lines().next().unwrap();
    let original = r#"{"key":"govops.cost.total_usd","value":{"doubleValue":0.00816}}"#;
    assert!(
        line.contains(original),
        "the fixture has the cost the test breaks"
    );
    let mut line = line.replacen(
        original,
        &format!(r#"{{"key":"govops.cost.total_usd","value":{value}}}"#),
        1,
    );
    if let Some(name) = name {
        let encoded = serde_json::to_string(name).unwrap();
        line = line.replacen(
            r#""name":"chat claude-sonnet-4-20250514""#,
            &format!(r#""name":{encoded}"#),
            1,
        );
    }
    line
}

fn write(dir: &Path, name: &str, lines: &[String]) -> String {
    let path = dir.join(name);
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn an_audit_cost_of_2e28_is_a_named_problem_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "audit.jsonl",
        &[audit_line(r#""20000000000000000000000000000""#, None)],
    );
    for format in ["text", "json", "csv"] {
        let out = govops(&["report", "--format", format, &file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains("audit.jsonl:1: the cost 20000000000000000000000000000 is too large; accepted: a number of US dollars from 0 to 1000000000000"),
            "{stderr}"
        );
    }
    let page = dir.path().join("page.html");
    let out = govops(&["report", "--html", page.to_str().unwrap(), &file]);
    assert_eq!(out.status.code(), Some(0));
    assert!(fs::read_to_string(&page).unwrap().contains("is too large"));
    let out = govops(&["report", "--format", "json", &file]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["totals"]["calls"], 1);
    assert_eq!(report["totals"]["rejected_cost_calls"], 1);
    assert_eq!(report["totals"]["cost_usd"], Value::Null);
    assert_eq!(report["cost_problems"][0]["problem"], "too_large");
    assert_eq!(report["cost_problems"][0]["at"], format!("{file}:1"));
}

#[test]
fn nan_string_and_negative_span_costs_are_named_and_counted_out_of_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let good = fs::read_to_string(fixture("agent-telemetry.jsonl")).unwrap();
    let cases = [
        (r#"{"doubleValue":"NaN"}"#, "not_finite"),
        (r#"{"stringValue":"0.5"}"#, "not_a_number"),
        (r#"{"doubleValue":-0.5}"#, "negative"),
        (r#"{"doubleValue":1e300}"#, "too_large"),
    ];
    for (value, kind) in cases {
        let mut lines = vec![telemetry_line(value, None)];
        lines.extend(good.lines().skip(1).map(str::to_owned));
        let file = write(dir.path(), "telemetry.jsonl", &lines);
        let all = govops(&[
            "report",
            "--format",
            "json",
            fixture("agent-telemetry.jsonl").to_str().unwrap(),
        ]);
        let all: Value = serde_json::from_slice(&all.stdout).unwrap();
        let out = govops(&["report", "--format", "json", &file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{value}: {stderr}");
        assert!(
            stderr.contains("telemetry.jsonl:1: the cost"),
            "{value}: {stderr}"
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let totals = &report["totals"];
        assert_eq!(totals["calls"], all["totals"]["calls"], "{value}");
        assert_eq!(totals["rejected_cost_calls"], 1, "{value}");
        assert_eq!(report["cost_problems"][0]["problem"], kind, "{value}");
        let rest: rust_decimal::Decimal = all["totals"]["cost_usd"]
            .as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap()
            - rust_decimal::Decimal::new(816, 5);
        assert_eq!(
            totals["cost_usd"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap(),
            rest.normalize(),
            "{value}"
        );
        let text = govops(&["report", &file]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains("cost left out 1 call whose cost is not accepted"),
            "{text}"
        );
        let csv = govops(&["report", "--format", "csv", &file]);
        let csv = String::from_utf8_lossy(&csv.stdout);
        assert!(csv.lines().nth(1).unwrap().ends_with(",1"), "{csv}");
        assert!(csv.contains("\ncost_problem,"), "{csv}");
    }
    // A negative audit cost too.
    let file = write(dir.path(), "audit.jsonl", &[audit_line(r#""-5""#, None)]);
    let out = govops(&["report", "--format", "json", &file]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["cost_problems"][0]["problem"], "negative");
    assert_eq!(report["totals"]["rejected_cost_calls"], 1);
}

fn check_telemetry(file: &str) -> (Option<i32>, String) {
    let out = govops(&["check", "telemetry", file]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_telemetry_fails_attributes_that_are_not_a_list_and_costs_out_of_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let good = fs::read_to_string(fixture("agent-telemetry.jsonl")).unwrap();
    let first = good.lines().next().unwrap();
    let mut value: Value = serde_json::from_str(first).unwrap();
    let span = &mut value["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    let attributes = span["attributes"].take();
    let map: serde_json::Map<String, Value> = attributes
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| (kv["key"].as_str().unwrap().to_owned(), kv["value"].clone()))
        .collect();
    span["attributes"] = Value::Object(map);
    let file = write(dir.path(), "object.jsonl", &[value.to_string()]);
    let (code, text) = check_telemetry(&file);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("attributes: is an object, not a list"),
        "{text}"
    );

    for (cost, named) in [
        (r#"{"doubleValue":-0.5}"#, "the cost -0.5 is negative"),
        (r#"{"doubleValue":"NaN"}"#, "the cost NaN is not finite"),
        (
            r#"{"doubleValue":"Infinity"}"#,
            "the cost Infinity is not finite",
        ),
        (r#"{"doubleValue":1e300}"#, "is too large"),
        (r#"{"stringValue":"0.5"}"#, "is not a number"),
    ] {
        let file = write(dir.path(), "cost.jsonl", &[telemetry_line(cost, None)]);
        let (code, text) = check_telemetry(&file);
        assert_eq!(code, Some(1), "{cost}: {text}");
        assert!(text.contains("govops.cost.total_usd: "), "{text}");
        assert!(text.contains(named), "{cost}: {text}");
        assert!(text.contains("accepted: a number of US dollars"), "{text}");
    }
}

#[test]
fn escape_sequences_in_session_ids_and_span_names_are_escaped() {
    let hostile = "evil\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31m\r\u{8}\u{202e}";
    let dir = tempfile::tempdir().unwrap();
    let audit = write(
        dir.path(),
        "audit.jsonl",
        &[audit_line(r#""0.5""#, Some(hostile))],
    );
    let telemetry = write(
        dir.path(),
        "telemetry.jsonl",
        &[telemetry_line(r#"{"doubleValue":-1}"#, Some(hostile))],
    );
    let raw = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        for bad in ['\u{1b}', '\u{9b}', '\u{7}', '\r', '\u{8}', '\u{202e}'] {
            assert!(!text.contains(bad), "{bad:?} raw in {text:?}");
        }
        text
    };
    let out = govops(&["report", &audit]);
    let text = raw(&out.stdout);
    raw(&out.stderr);
    assert!(
        text.contains("evil\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{"),
        "{text}"
    );
    for format in ["json", "csv"] {
        let out = govops(&["report", "--format", format, &audit]);
        raw(&out.stdout);
    }
    let out = govops(&["check", "telemetry", &telemetry]);
    let text = raw(&out.stdout);
    raw(&out.stderr);
    assert!(text.contains("evil\\u{1b}]0;owned"), "{text}");
    let out = govops(&["check", "telemetry", "--format", "json", &telemetry]);
    let json = raw(&out.stdout);
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["failures"][0]["span"], hostile,
        "the JSON still holds the name exactly"
    );
}

#[test]
fn csv_cells_a_spreadsheet_would_run_are_neutralized() {
    let dir = tempfile::tempdir().unwrap();
    let audit = write(
        dir.path(),
        "audit.jsonl",
        &[audit_line(r#""0.5""#, Some("=cmd|' /C calc'!A0"))],
    );
    let out = govops(&["report", "--format", "csv", &audit]);
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.contains("\nsession,\"'=cmd|' /C calc'!A0\",1,0.5,1,0,1800,400,0\n"),
        "{csv}"
    );
    for line in csv.lines() {
        for cell in line.split(',') {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell} in {line}");
        }
    }
}

/// Runs `govops args` with stdout a pipe whose read end is already closed.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let (read, write) = std::io::pipe().unwrap();
    drop(read);
    let out = Command::new(env!("CARGO_BIN_EXE_govops"))
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_subcommand_exits_quietly_when_its_reader_closes_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let telemetry = fixture("agent-telemetry.jsonl");
    let audit = fixture("agent-audit.jsonl");
    let (telemetry, audit) = (telemetry.to_str().unwrap(), audit.to_str().unwrap());
    let policy = dir.path().join("policy.toml");
    fs::write(&policy, "").unwrap();
    let policy = policy.to_str().unwrap();
    let page = dir.path().join("page.html");
    let page = page.to_str().unwrap();
    let runs: Vec<Vec<&str>> = vec![
        vec!["check", "env"],
        vec!["check", "env", "--format", "json"],
        vec!["check", "policy", "--policy", policy],
        vec!["check", "policy", "--policy", policy, "--format", "json"],
        vec!["check", "telemetry", telemetry],
        vec!["check", "telemetry", telemetry, "--format", "json"],
        vec![
            "cost",
            "--model",
            "gpt-4o",
            "--input-tokens",
            "10",
            "--output-tokens",
            "5",
        ],
        vec![
            "cost",
            "--model",
            "gpt-4o",
            "--input-tokens",
            "10",
            "--output-tokens",
            "5",
            "--format",
            "json",
        ],
        vec![
            "cost",
            "--model",
            "nope-1",
            "--input-tokens",
            "10",
            "--output-tokens",
            "5",
            "--format",
            "json",
        ],
        vec!["models"],
        vec!["models", "--format", "json"],
        vec!["audit", "verify", audit],
        vec!["audit", "verify", audit, "--format", "json"],
        vec!["report", audit, telemetry],
        vec!["report", "--format", "text", audit],
        vec!["report", "--format", "json", audit],
        vec!["report", "--format", "csv", audit],
        vec!["report", "--html", page, audit],
        vec!["--help"],
        vec!["--version"],
    ];
    for args in runs {
        let (code, stderr) = with_closed_stdout(&args);
        assert!(
            code == Some(0) || code == Some(141),
            "{args:?}: exit {code:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_fifo_is_refused_and_a_line_without_a_newline_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let out = govops(&["report", fifo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fifo"));
    let long = dir.path().join("long.jsonl");
    let file = fs::File::create(&long).unwrap();
    file.set_len((64 << 20) + 10).unwrap(); // sparse: 64 MiB of zero bytes, no newline
    let out = govops(&["report", long.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("long.jsonl:1: a line longer than 67108864 bytes"),
        "{stderr}"
    );
}

#[test]
fn cost_jsonl_bounds_a_line_and_carries_on() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_govops"))
        .args(["cost", "--jsonl"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        let long = vec![b'x'; 3 << 20];
        stdin.write_all(&long).unwrap();
        stdin
            .write_all(b"\n{\"model\":\"gpt-4o\",\"provider\":null,\"input_tokens\":10}\n")
            .unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("a line longer than 1048576 bytes"),
        "{text}"
    );
    assert!(lines[1].contains("\"cost_usd\""), "{text}");
}

#[test]
fn check_env_and_usage_errors_escape_what_they_quote() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    fs::write(&env, "GOVOPS_ENVIRONMENT=\u{1b}[2J\u{9b}31mprod\u{202e}\n").unwrap();
    for format in ["text", "json"] {
        let out = govops(&[
            "check",
            "env",
            "--env-file",
            env.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert_eq!(out.status.code(), Some(1));
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            for bad in ['\u{1b}', '\u{9b}', '\u{202e}'] {
                assert!(!text.contains(bad), "{format}: {bad:?} raw in {text:?}");
            }
        }
    }
    let out = govops(&["report", "--format", "\u{9b}2J", "x.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains('\u{9b}'), "{stderr:?}");
    assert!(stderr.contains("\\u{9b}2J"), "{stderr}");
}

/// A request that gives `input_tokens` twice was priced from the last value without a word: the
/// same line read by another tool would be priced from the first.
#[test]
fn cost_jsonl_refuses_a_key_given_twice() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_govops"))
        .args(["cost", "--jsonl"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(
                b"{\"model\":\"gpt-4o\",\"provider\":null,\"input_tokens\":1,\"input_tokens\":1000000}\n",
            )
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let line: Value = serde_json::from_str(text.trim()).unwrap();
    assert!(line.get("cost_usd").is_none(), "{text}");
    assert_eq!(
        line["error"],
        "not a cost request: duplicate key \"input_tokens\" in $"
    );
}

/// A model call (chat) with tokens and no cost, not flagged `unpriced_model`, was summed as $0
/// without a word, while `govops check telemetry` fails the same span: its cost is missing, and
/// the totals must say they left it out.
#[test]
fn a_model_call_without_a_cost_or_unpriced_model_is_named_not_summed_as_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut record: Value = serde_json::from_str(&audit_line(r#""1""#, None)).unwrap();
    record.as_object_mut().unwrap().remove("cost_usd");
    let audit = write(dir.path(), "audit.jsonl", &[record.to_string()]);
    let span = telemetry_line(r#"{"doubleValue":1}"#, None).replacen(
        r#"{"key":"govops.cost.total_usd","value":{"doubleValue":1}},"#,
        "",
        1,
    );
    let telemetry = write(dir.path(), "telemetry.jsonl", &[span]);
    for file in [&audit, &telemetry] {
        let out = govops(&["report", "--format", "json", file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains(".jsonl:1: the cost is missing"), "{stderr}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["totals"]["rejected_cost_calls"], 1, "{file}");
        assert_eq!(report["cost_problems"][0]["problem"], "missing", "{file}");
    }
    // Tool and agent spans carry no cost: they are not problems.
    let out = govops(&[
        "report",
        "--format",
        "json",
        fixture("agent-telemetry.jsonl").to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["totals"]["rejected_cost_calls"], 0);
}

/// `check telemetry` found the API key in a span's name and an event's name, then printed both
/// names in clear to stderr (CI logs): the check that finds a secret must not be what leaks it.
#[test]
fn check_telemetry_never_prints_the_credential_it_finds_in_a_name() {
    let dir = tempfile::tempdir().unwrap();
    let key = format!("sk-ant-api03-{}", "A".repeat(90));
    let line = telemetry_line(r#"{"doubleValue":0.5}"#, Some(&key)).replacen(
        r#""events":[]"#,
        &format!(r#""events":[{{"name":"{key}","attributes":[{{"key":"k","value":{{"intValue":"x"}}}}]}}]"#),
        1,
    );
    let file = write(dir.path(), "telemetry.jsonl", &[line]);
    let (code, stderr) = check_telemetry(&file);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("holds a credential (anthropic_key)"),
        "{stderr}"
    );
    assert!(stderr.contains("[REDACTED:anthropic_key]"), "{stderr}");
    assert!(!stderr.contains("AAAAAAAAAA"), "{stderr}");
}

/// A newline in a file's name ended the line `audit verify` printed, so a name could forge a line
/// of its own (`x\ngovops audit verify: intact`); every other subcommand writes it as \u{a}.
#[test]
fn audit_verify_escapes_a_newline_in_a_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "x\ngovops audit verify: 5 records, chain intact.jsonl",
        &["{\"a\":1}".to_owned()],
    );
    let out = govops(&["audit", "verify", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("x\\u{a}govops audit verify"), "{stderr}");
}

/// `GOVOPS_AUDIT_LOG` naming a FIFO blocked `init` (and `check env`) until a reader came, and
/// naming `/dev/null` sent the hash-chained log nowhere while `check env` said all was well.
#[test]
fn an_audit_log_or_telemetry_file_that_is_a_fifo_or_a_device_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("audit.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // Held open for reading and writing, so that the old code's open did not block this test.
    let _held = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let fifo = fifo.to_str().unwrap();
    // The telemetry file may be a FIFO a collector reads (or /dev/stdout); with no reader it
    // would block start-up.
    let lonely = dir.path().join("telemetry.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&lonely)
            .status()
            .unwrap()
            .success()
    );
    let lonely = lonely.to_str().unwrap();
    for (variable, path, said) in [
        ("GOVOPS_AUDIT_LOG", fifo, "is a FIFO"),
        ("GOVOPS_AUDIT_LOG", "/dev/null", "is a device"),
        ("GOVOPS_TELEMETRY_FILE", lonely, "No such device or address"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_govops"))
            .args(["check", "env"])
            .env_clear()
            .envs([
                ("GOVOPS_APP_NAME", "support-bot"),
                ("GOVOPS_ENVIRONMENT", "dev"),
                ("GOVOPS_OWNER", "team-ai"),
                ("GOVOPS_COST_CENTER", "CC-1234"),
                ("GOVOPS_DATA_CLASSIFICATION", "internal"),
                (variable, path),
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{variable}={path}: {text}");
        assert!(text.contains(variable) && text.contains(said), "{text}");
    }
}
