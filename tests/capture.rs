//! Content capture (contract section 9): off by default; the policy's `[capture] content` when it
//! says, else `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`. Off, a model call records no
//! argument value; on, content goes to the semantic conventions' keys, redacted.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use govops::testing::{Capture, CapturedSpan};
use govops::{Call, Operation, Usage, governed};

const CAPTURE: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";
const KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123";
const CARD: &str = "4111 1111 1111 1111";

#[derive(Debug, Clone, Copy)]
enum Tier {
    Priority,
}

#[governed(chat, model = "gpt-4o", provider = "openai", prompt = prompt)]
fn ask(prompt: &str, order: u64, urgent: bool, tier: Tier) -> String {
    let call = Call::current();
    call.record_usage(Usage {
        input: 100,
        output: 20,
        ..Usage::default()
    });
    call.record_output(&format!(
        "order {order} ({tier:?}, {urgent}): card {CARD} noted"
    ));
    "ok".to_owned()
}

#[governed(tool, name = "refund")]
fn refund(order: u64, card: &str, reason: &str) -> String {
    let result = format!("{{\"refunded\":{order},\"to\":\"{card}\",\"why\":\"{reason}\"}}");
    Call::current().record_output(&result);
    result
}

/// A capture whose environment sets `variables`, with a policy file of `policy` when given.
fn capture_with(policy: Option<&str>, variables: &[(&str, &str)]) -> (Capture, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = Capture::builder();
    if let Some(text) = policy {
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, text).unwrap();
        builder = builder.env("GOVOPS_POLICY", path.to_str().unwrap());
    }
    for (variable, value) in variables {
        builder = builder.env(variable, value);
    }
    (builder.build().unwrap(), dir)
}

fn chat(capture: &Capture) -> CapturedSpan {
    capture.run(|| ask(&format!("refund with key {KEY}"), 981, true, Tier::Priority));
    capture.span(Operation::Chat, "gpt-4o").unwrap()
}

fn captured(span: &CapturedSpan) -> bool {
    span.attr("gen_ai.input.messages").is_some()
}

#[test]
fn capture_is_off_by_default_and_a_model_call_then_records_no_argument_value() {
    let (capture, _dir) = capture_with(None, &[]);
    let span = chat(&capture);
    for key in [
        "prompt",
        "order",
        "urgent",
        "tier",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
    ] {
        assert_eq!(span.attr(key), None, "{key}");
    }
    // What the call is, and what it found, is still there.
    assert_eq!(span.int("gen_ai.usage.input_tokens"), Some(100));
    let mut violations = span.violations();
    violations.sort_unstable();
    assert_eq!(violations, ["pii_detected", "secret_detected"]);

    // A tool call keeps the values that cannot hold content, so that its calls can be told apart.
    capture.run(|| refund(981, CARD, "late"));
    let tool = capture.span(Operation::ExecuteTool, "refund").unwrap();
    assert_eq!(tool.string("order"), Some("981"));
    for key in [
        "card",
        "reason",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    ] {
        assert_eq!(tool.attr(key), None, "{key}");
    }
}

#[test]
fn the_standard_variable_decides_where_the_policy_is_silent() {
    let silent = Some("[guards.pii]\naction = \"flag\"\n");
    for policy in [None, silent] {
        let (capture, _dir) = capture_with(policy, &[(CAPTURE, "true")]);
        let span = chat(&capture);
        let input = span.string("gen_ai.input.messages").unwrap();
        assert!(
            input.contains("refund with key [REDACTED:openai_key]"),
            "{input}"
        );
        let output = span.string("gen_ai.output.messages").unwrap();
        assert!(output.contains("card [REDACTED:card] noted"), "{output}");
        assert_eq!(span.string("order"), Some("981"));

        let (capture, _dir) = capture_with(policy, &[(CAPTURE, "false")]);
        assert!(!captured(&chat(&capture)));
    }
}

#[test]
fn the_policy_overrides_the_standard_variable_both_ways() {
    let (capture, _dir) = capture_with(Some("[capture]\ncontent = false\n"), &[(CAPTURE, "true")]);
    let span = chat(&capture);
    assert!(!captured(&span));
    assert_eq!(span.attr("order"), None);

    let (capture, _dir) = capture_with(Some("[capture]\ncontent = true\n"), &[(CAPTURE, "false")]);
    assert!(captured(&chat(&capture)));
}

#[test]
fn a_capture_value_other_than_true_or_false_is_a_start_up_gap() {
    for bad in ["yes", "1", "enabled"] {
        let gaps = Capture::builder().env(CAPTURE, bad).build().unwrap_err();
        let message = gaps.to_string();
        assert!(message.contains(CAPTURE), "{message}");
        assert!(message.contains(bad), "{message}");
        assert!(message.contains("true or false"), "{message}");
    }
}

#[test]
fn a_captured_tool_call_carries_its_arguments_and_result_redacted() {
    let (capture, _dir) = capture_with(None, &[(CAPTURE, "true")]);
    capture.run(|| refund(981, CARD, "mail jane@example.com"));
    let tool = capture.span(Operation::ExecuteTool, "refund").unwrap();
    let arguments: serde_json::Value =
        serde_json::from_str(tool.string("gen_ai.tool.call.arguments").unwrap()).unwrap();
    assert_eq!(
        arguments,
        serde_json::json!({
            "order": 981,
            "card": "[REDACTED:card]",
            "reason": "mail [REDACTED:email]",
        })
    );
    let result: serde_json::Value =
        serde_json::from_str(tool.string("gen_ai.tool.call.result").unwrap()).unwrap();
    assert_eq!(
        result,
        serde_json::json!({"refunded": 981, "to": "[REDACTED:card]", "why": "mail [REDACTED:email]"})
    );
    // Text arguments are in the arguments object only, never in clear anywhere.
    assert_eq!(tool.attr("card"), None);
    assert_eq!(tool.string("order"), Some("981"));
    let everything = format!("{:?}\n{:?}", capture.spans(), capture.logs());
    assert!(!everything.contains(CARD), "{everything}");
    assert!(!everything.contains("jane@example.com"), "{everything}");
    let mut violations = tool.violations();
    violations.sort_unstable();
    assert_eq!(violations, ["pii_detected"]);

    // A result that is not JSON is written as a JSON string.
    #[governed(tool, name = "echo")]
    fn echo(text: &str) {
        Call::current().record_output(text);
    }
    capture.run(|| echo("plain words"));
    let echo = capture.span(Operation::ExecuteTool, "echo").unwrap();
    assert_eq!(
        echo.string("gen_ai.tool.call.result"),
        Some("\"plain words\"")
    );
}
