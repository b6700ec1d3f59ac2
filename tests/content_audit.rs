//! With content captured (`[capture] content = true`), a prompt, a response and a tool's
//! arguments and result holding an API key, a card number and an email reach the audit log and
//! the telemetry file redacted, as every other sink gets them: the hash-chained log can never hold
//! a secret it could not drop (one `init` per process, so this binary holds one test).
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use govops::audit::{AuditRecord, RecordKind, sha256_hex, verify};
use govops::{Call, Usage, config::EnvSource, governed};

const KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123";
const CARD: &str = "4111 1111 1111 1111";
const EMAIL: &str = "jane@example.com";

#[governed(chat, model = "gpt-4o", provider = "openai", prompt = prompt)]
fn ask(prompt: &str) -> String {
    let call = Call::current();
    call.record_usage(Usage {
        input: 100,
        output: 20,
        ..Usage::default()
    });
    let answer = format!("noted: {EMAIL} pays with {CARD}");
    call.record_output(&answer);
    answer
}

#[governed(tool, name = "charge")]
fn charge(card: &str, cents: u64) -> String {
    let receipt = format!("{{\"charged\":{cents},\"card\":\"{card}\",\"mail\":\"{EMAIL}\"}}");
    Call::current().record_output(&receipt);
    receipt
}

/// The attributes of the spans of `operation` in the telemetry file, as JSON values by key.
fn spans_of(telemetry: &str, operation: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut found = Vec::new();
    for line in telemetry.lines() {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        for span in doc["resourceSpans"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["scopeSpans"].as_array().unwrap())
            .flat_map(|s| s["spans"].as_array().unwrap())
        {
            let attributes: serde_json::Map<String, serde_json::Value> = span["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    let value = a["value"].as_object().unwrap().values().next().unwrap();
                    (a["key"].as_str().unwrap().to_owned(), value.clone())
                })
                .collect();
            if attributes["gen_ai.operation.name"] == operation {
                found.push(attributes);
            }
        }
    }
    found
}

#[test]
fn captured_content_reaches_the_audit_log_and_the_spans_only_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[capture]\ncontent = true\n").unwrap();
    let log = dir.path().join("audit.jsonl");
    let telemetry = dir.path().join("telemetry.jsonl");
    let govops = govops::configure()
        .env(EnvSource::empty())
        .app_name("content-test")
        .environment("dev")
        .owner("team-ai")
        .cost_center("CC-7")
        .data_classification("confidential")
        .policy(policy.to_str().unwrap())
        .telemetry_file(telemetry.to_str().unwrap())
        .audit_log(log.to_str().unwrap())
        .stderr_logs(false)
        .try_init()
        .unwrap();
    let prompt = format!("my key is {KEY}, my card {CARD}, mail me at {EMAIL}");
    govops::context::scope("session-1", "user-1", || {
        ask(&prompt);
        charge(CARD, 1250);
    });
    govops.shutdown().unwrap();

    let report = verify(std::slice::from_ref(&log)).unwrap();
    assert!(report.is_intact(), "{report:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let spans = std::fs::read_to_string(&telemetry).unwrap();
    for secret in [KEY, CARD, "4111111111111111", EMAIL] {
        assert!(!text.contains(secret), "{secret} in the audit log:\n{text}");
        assert!(
            !spans.contains(secret),
            "{secret} in the telemetry:\n{spans}"
        );
    }

    let records: Vec<AuditRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &AuditRecord| r.kind == RecordKind::Call)
        .collect();
    let chat = records
        .iter()
        .find(|r| r.operation.as_deref() == Some("chat"))
        .unwrap();
    let content = chat.content.as_ref().unwrap();
    let redacted_prompt =
        "my key is [REDACTED:openai_key], my card [REDACTED:card], mail me at [REDACTED:email]";
    assert_eq!(content.prompt.as_deref(), Some(redacted_prompt));
    let redacted_answer = "noted: [REDACTED:email] pays with [REDACTED:card]";
    assert_eq!(content.response.as_deref(), Some(redacted_answer));
    // The hashes are of the redacted text: a short secret is never a brute force away.
    assert_eq!(
        chat.prompt_sha256.as_deref(),
        Some(sha256_hex(redacted_prompt.as_bytes()).as_str())
    );
    assert_eq!(
        chat.response_sha256.as_deref(),
        Some(sha256_hex(redacted_answer.as_bytes()).as_str())
    );
    let mut codes: Vec<&str> = chat.violations.iter().map(|v| v.code()).collect();
    codes.sort_unstable();
    assert_eq!(codes, ["pii_detected", "secret_detected"]);

    // The spans carry the content as the semantic conventions' messages, redacted alike.
    let chat_span = &spans_of(&spans, "chat")[0];
    let input: serde_json::Value =
        serde_json::from_str(chat_span["gen_ai.input.messages"].as_str().unwrap()).unwrap();
    assert_eq!(input[0]["parts"][0]["content"], redacted_prompt);
    let output: serde_json::Value =
        serde_json::from_str(chat_span["gen_ai.output.messages"].as_str().unwrap()).unwrap();
    assert_eq!(output[0]["parts"][0]["content"], redacted_answer);

    // A tool call: its arguments and result on the span, redacted; the result in the audit log.
    let tool_span = &spans_of(&spans, "execute_tool")[0];
    let arguments: serde_json::Value =
        serde_json::from_str(tool_span["gen_ai.tool.call.arguments"].as_str().unwrap()).unwrap();
    assert_eq!(
        arguments,
        serde_json::json!({"card": "[REDACTED:card]", "cents": 1250})
    );
    let result: serde_json::Value =
        serde_json::from_str(tool_span["gen_ai.tool.call.result"].as_str().unwrap()).unwrap();
    assert_eq!(
        result,
        serde_json::json!({"charged": 1250, "card": "[REDACTED:card]", "mail": "[REDACTED:email]"})
    );
    let tool = records
        .iter()
        .find(|r| r.tool_name.as_deref() == Some("charge"))
        .unwrap();
    let response = tool.content.as_ref().unwrap().response.as_deref().unwrap();
    assert!(response.contains("[REDACTED:card]"), "{response}");
}
