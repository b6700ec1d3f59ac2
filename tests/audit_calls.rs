//! Governed calls written to the audit log (`GOVOPS_AUDIT_LOG`): one hash-chained record each,
//! with the exact cost, the model parameters and the prompt's hash, never the prompt itself
//! unless the policy captures content (one `init` per process, so this binary holds one test).
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use govops::audit::{AuditRecord, RecordKind, sha256_hex, verify};
use govops::{Call, Decimal, Usage, config::EnvSource, governed};

#[governed(
    chat,
    model = "gpt-4o",
    provider = "openai",
    prompt = prompt,
    fields(gen_ai.request.temperature = 0.2, gen_ai.request.seed = 7_i64)
)]
fn ask(prompt: &str, output: u64) -> String {
    let call = Call::current();
    call.record_usage(Usage {
        input: 1_000,
        output,
        ..Usage::default()
    });
    let answer = format!("answer to {prompt}");
    call.record_output(&answer);
    answer
}

#[governed(chat, model = "no-such-model", provider = "openai")]
fn unpriced() {
    Call::current().record_usage(Usage {
        input: 10,
        output: 10,
        ..Usage::default()
    });
}

#[governed(tool, name = "lookup")]
fn lookup(id: u32) -> u32 {
    id
}

#[test]
fn every_governed_call_is_one_chained_record_whose_costs_add_up_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let govops = govops::configure()
        .env(EnvSource::empty())
        .app_name("audit-test")
        .environment("dev")
        .owner("team-ai")
        .cost_center("CC-7")
        .data_classification("confidential")
        .telemetry_file(dir.path().join("telemetry.jsonl").to_str().unwrap())
        .audit_log(log.to_str().unwrap())
        .audit_rotate_bytes(256 * 1024)
        .stderr_logs(false)
        .try_init()
        .unwrap();
    let threads: Vec<_> = (0..4_u64)
        .map(|t| {
            std::thread::spawn(move || {
                govops::context::scope(format!("session-{t}"), "user-1", || {
                    for i in 0..250 {
                        ask("what is my balance?", 100 + (t * 250 + i) % 7);
                        lookup(7);
                    }
                })
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    unpriced();
    govops.shutdown().unwrap();

    // Rotated by size: every file of the log, in any order, holds one chain.
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("audit.jsonl")
        })
        .collect();
    assert!(files.len() >= 3, "rotated: {files:?}");
    files.reverse();
    let report = verify(&files).unwrap();
    assert!(report.is_intact(), "{report:?}");
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let records: Vec<AuditRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let calls: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.kind == RecordKind::Call)
        .collect();
    assert_eq!(
        calls.len(),
        2_001,
        "1000 chats, 1000 tool calls, 1 unpriced"
    );

    // The total is the sum of the exact costs: 1000 input × $2.5/M + output × $10/M each.
    let total: Decimal = calls.iter().filter_map(|r| r.cost_usd).sum();
    let expected: Decimal = (0..1_000_u64)
        .map(|n| Decimal::new(25, 4) + Decimal::from(100 + n % 7) * Decimal::new(1, 5))
        .sum();
    assert_eq!(total, expected);

    let chat = calls
        .iter()
        .find(|r| {
            r.operation.as_deref() == Some("chat") && r.request_model.as_deref() == Some("gpt-4o")
        })
        .unwrap();
    assert_eq!(chat.provider.as_deref(), Some("openai"));
    assert_eq!(chat.user_id.as_deref(), Some("user-1"));
    assert!(chat.session_id.as_deref().unwrap().starts_with("session-"));
    assert_eq!(chat.input_tokens, Some(1_000));
    assert_eq!(chat.temperature, Some(0.2));
    assert_eq!(chat.seed, Some(7));
    assert_eq!(
        chat.prompt_sha256.as_deref(),
        Some(sha256_hex(b"what is my balance?").as_str())
    );
    assert_eq!(
        chat.response_sha256.as_deref(),
        Some(sha256_hex(b"answer to what is my balance?").as_str())
    );
    assert!(
        chat.content.is_none(),
        "no content without [capture] content = true"
    );
    assert!(
        !text.contains("what is my balance"),
        "the prompt never reaches the log"
    );
    assert_eq!(chat.trace_id.as_ref().map(String::len), Some(32));
    assert_eq!(chat.cost_center.as_deref(), Some("CC-7"));
    assert!(
        chat.config.is_some(),
        "each record names the configuration it ran under"
    );

    let tool = calls
        .iter()
        .find(|r| r.tool_name.as_deref() == Some("lookup"))
        .unwrap();
    assert_eq!(tool.operation.as_deref(), Some("execute_tool"));
    assert_eq!(tool.cost_usd, None);

    let unpriced = calls
        .iter()
        .find(|r| r.request_model.as_deref() == Some("no-such-model"))
        .unwrap();
    assert_eq!(unpriced.cost_usd, None, "absent, never 0");
    assert!(
        unpriced
            .violations
            .iter()
            .any(|v| v.code() == "unpriced_model")
    );
    assert!(!text.contains("\"cost_usd\":\"0\""));
}
