//! Personal data and credentials never leave the process: a prompt holding a card number and an
//! API key exports neither, in spans (governed or not, event attributes included) or log bodies.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use govops::testing::{Capture, assert_contract};
use govops::{Call, Operation, Usage, governed};

const CARD: &str = "4111 1111 1111 1111";
const KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123";

#[governed(chat, model = "gpt-4o", provider = "openai")]
fn ask(prompt: &str) -> String {
    Call::current().record_usage(Usage {
        input: 100,
        output: 50,
        ..Usage::default()
    });
    tracing::info!("asked about {prompt}");
    "ok".to_owned()
}

fn everything(capture: &Capture) -> String {
    let spans = capture.spans();
    let logs = capture.logs();
    format!("{spans:?}\n{logs:?}")
}

#[test]
fn a_prompt_with_a_card_number_and_an_api_key_exports_neither() {
    let capture = Capture::new();
    let prompt = format!("my card is {CARD} and my key is {KEY}, email jane@example.com");
    capture.run(|| {
        ask(&prompt);
        tracing::info_span!("plain", note = %prompt).in_scope(|| {
            tracing::info!(detail = "nothing secret here", "inside plain");
        });
    });
    let all = everything(&capture);
    for secret in [CARD, KEY, "jane@example.com"] {
        assert!(!all.contains(secret), "{secret} was exported:\n{all}");
    }
    let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
    assert_contract(&span);
    assert!(span.string("prompt").unwrap().contains("[REDACTED:card]"));
    assert!(
        span.string("prompt")
            .unwrap()
            .contains("[REDACTED:openai_key]")
    );
    assert_eq!(span.violations(), ["pii_detected", "secret_detected"]);
    assert_eq!(span.string("govops.policy.decision"), Some("flag"));
    assert!(
        span.events
            .iter()
            .filter(|(name, _)| name == "govops.guard.tripped")
            .count()
            >= 2
    );
    // Token counts and costs are never redacted.
    assert_eq!(span.int("gen_ai.usage.input_tokens"), Some(100));
    assert!(span.double("govops.cost.total_usd").is_some());
    // The plain span is redacted too, but carries no contract violation.
    let plain = &capture.spans_named("plain")[0];
    assert!(plain.string("note").unwrap().contains("[REDACTED:"));
    assert_eq!(plain.attr("govops.safety.violations"), None);
    let asked = capture
        .logs()
        .into_iter()
        .find(|l| l.body.starts_with("asked about"))
        .unwrap();
    assert!(asked.body.contains("[REDACTED:card]"), "{}", asked.body);
}

#[test]
fn clean_content_is_left_alone() {
    let capture = Capture::new();
    capture.run(|| ask("what is the status of order-981, shipped 2026-11-24?"));
    let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
    assert_eq!(
        span.string("prompt"),
        Some("\"what is the status of order-981, shipped 2026-11-24?\"")
    );
    assert_eq!(span.violations(), Vec::<&str>::new());
}

#[test]
fn the_policy_can_turn_a_detector_off() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[guards.pii]\naction = \"off\"\n").unwrap();
    let capture = Capture::builder()
        .env("GOVOPS_POLICY", policy.to_str().unwrap())
        .build()
        .unwrap();
    capture.run(|| ask(&format!("mail jane@example.com key {KEY}")));
    let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
    let prompt = span.string("prompt").unwrap();
    assert!(prompt.contains("jane@example.com"), "{prompt}");
    assert!(!prompt.contains(KEY), "{prompt}");
    assert_eq!(span.violations(), ["secret_detected"]);
}
