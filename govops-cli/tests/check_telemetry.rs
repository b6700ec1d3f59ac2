//! `govops check telemetry` as a pipeline step runs it, on telemetry the agent example wrote.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn govops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_govops"))
        .args(args)
        .env_clear()
        .output()
        .unwrap()
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agent-telemetry.jsonl")
}

#[test]
fn complete_telemetry_passes() {
    let output = govops(&["check", "telemetry", fixture().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("5 span(s), 5 governed"), "{text}");
}

#[test]
fn a_span_missing_a_field_or_holding_a_credential_fails_and_is_named() {
    let original = std::fs::read_to_string(fixture()).unwrap();
    // Drop the session id from every span, and put a key in a tool's argument.
    let broken = original
        .replace(r#"{"key":"session.id","#, r#"{"key":"session.removed","#)
        .replace(
            "customer-314/order-981",
            "sk-proj-abcdefghijklmnopqrstuvwxyz0123",
        );
    assert_ne!(broken, original, "the fixture has what the test breaks");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.jsonl");
    std::fs::write(&file, broken).unwrap();
    let output = govops(&["check", "telemetry", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("execute_tool refund"), "{text}");
    assert!(
        text.contains("session.id: missing; expected a string"),
        "{text}"
    );
    assert!(text.contains("holds a credential (openai_key)"), "{text}");

    let output = govops(&[
        "check",
        "telemetry",
        file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["governed_spans"], 5);
    assert_eq!(report["failures"].as_array().unwrap().len(), 5);
}

#[test]
fn unreadable_or_malformed_files_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = govops(&["check", "telemetry", "/nonexistent/t.jsonl"]);
    assert_eq!(output.status.code(), Some(2));
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "{\"something\": \"else\"}\n").unwrap();
    let output = govops(&["check", "telemetry", empty.to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a file without telemetry does not pass"
    );
    let file = dir.path().join("bad.jsonl");
    std::fs::write(&file, "{not json\n").unwrap();
    let output = govops(&["check", "telemetry", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("bad.jsonl:1 is not JSON"));
}

#[test]
fn credentials_in_events_nested_log_values_and_resources_are_found() {
    let line = serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "support-bot"}},
                {"key": "deploy.token", "value": {"stringValue": "xoxb-123456789012-1234567890123-abcdefghijABCDEFGHIJklmn"}}
            ]},
            "scopeSpans": [{"spans": [{
                "name": "plain", "spanId": "00000000000000aa", "traceId": "000000000000000000000000000000aa",
                "attributes": [{"key": "note", "value": {"stringValue": "nothing here"}}],
                "links": [{"traceId": "000000000000000000000000000000bb", "spanId": "00000000000000bb", "attributes": [
                    {"key": "reason", "value": {"stringValue": "token sk-proj-abcdefghijklmnopqrstuvwxyz0123"}}
                ]}],
                "events": [{"name": "key AKIAIOSFODNN7EXAMPLE"}, {"name": "retry", "attributes": [
                    {"key": "header", "value": {"stringValue": "token ghp_0123456789abcdefghijklmnopqrstuvwxyz"}}
                ]}]
            }]}]
        }],
        "resourceMetrics": [{
            "resource": {"attributes": []},
            "scopeMetrics": [{"metrics": [{"name": "govops.cost.usd", "sum": {"dataPoints": [
                {"asDouble": 0.1, "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "AKIAIOSFODNN7EXAMPLE"}}]}
            ]}}]}]
        }],
        "resourceLogs": [{
            "resource": {"attributes": []},
            "scopeLogs": [{"logRecords": [{
                "spanId": "00000000000000bb",
                "body": {"stringValue": "configured"},
                "attributes": [{"key": "config", "value": {"kvlistValue": {"values": [
                    {"key": "aws", "value": {"arrayValue": {"values": [
                        {"stringValue": "region eu-west-1"},
                        {"stringValue": "AKIAIOSFODNN7EXAMPLE"}
                    ]}}}
                ]}}}]
            }]}]
        }]
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.jsonl");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let output = govops(&["check", "telemetry", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("event retry: header: holds a credential (github_token)"),
        "{text}"
    );
    assert!(
        text.contains("config.aws[1]: holds a credential (aws_access_key)"),
        "{text}"
    );
    assert!(
        text.contains("deploy.token: holds a credential (slack_token)"),
        "{text}"
    );
    assert!(
        text.contains("event name: holds a credential (aws_access_key)"),
        "{text}"
    );
    assert!(
        text.contains("link 0: reason: holds a credential (openai_key)"),
        "{text}"
    );
    assert!(text.contains("metric govops.cost.usd"), "{text}");
    assert!(!text.contains("note:"), "{text}");
}
