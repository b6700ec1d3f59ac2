//! Capture off (the policy's `[capture] content = false`, which wins over
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`): a governed model call records no
//! argument value at all, a number neither, and the audit log holds the content's hash, never the
//! content (one `init` per process, so this binary holds one test).
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use govops::audit::{AuditRecord, RecordKind, sha256_hex, verify};
use govops::{Call, Usage, config::EnvSource, governed};

#[governed(chat, model = "gpt-4o", provider = "openai", prompt = prompt)]
fn ask(prompt: &str, order: u64, urgent: bool) -> String {
    let call = Call::current();
    call.record_usage(Usage {
        input: 100,
        output: 20,
        ..Usage::default()
    });
    let answer = format!("order {order} is on its way (urgent: {urgent})");
    call.record_output(&answer);
    answer
}

#[governed(tool, name = "lookup")]
fn lookup(id: u64, note: &str) -> usize {
    Call::current().record_output(note);
    note.len()
}

#[test]
fn without_capture_a_model_call_records_no_argument_and_the_audit_log_no_content() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[capture]\ncontent = false\n").unwrap();
    let log = dir.path().join("audit.jsonl");
    let telemetry = dir.path().join("telemetry.jsonl");
    let govops = govops::configure()
        .env(EnvSource::from_pairs([(
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "true",
        )]))
        .app_name("content-off")
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
    assert!(!govops.config().capture_content, "the policy wins");
    ask("where is order 981734?", 981_734, true);
    lookup(7, "call jane@example.com");
    govops.shutdown().unwrap();

    let report = verify(std::slice::from_ref(&log)).unwrap();
    assert!(report.is_intact(), "{report:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let spans = std::fs::read_to_string(&telemetry).unwrap();
    for content in [
        "981734",
        "where is order",
        "on its way",
        "jane@example.com",
        "call jane",
    ] {
        assert!(
            !text.contains(content),
            "{content} in the audit log:\n{text}"
        );
        assert!(
            !spans.contains(content),
            "{content} in the telemetry:\n{spans}"
        );
    }
    for key in [
        "\"order\"",
        "\"urgent\"",
        "\"prompt\"",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    ] {
        assert!(!spans.contains(key), "{key} in the telemetry:\n{spans}");
    }
    // A tool call keeps what cannot hold content, so that its calls can be told apart.
    assert!(spans.contains("\"id\""), "{spans}");
    let records: Vec<AuditRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &AuditRecord| r.kind == RecordKind::Call)
        .collect();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.content.is_none()));
    let chat = records
        .iter()
        .find(|r| r.operation.as_deref() == Some("chat"))
        .unwrap();
    assert_eq!(
        chat.prompt_sha256.as_deref(),
        Some(sha256_hex(b"where is order 981734?").as_str())
    );
}
