//! The guards that judge a call from its reported usage (contract section 4): each at, just below
//! and just above its threshold, and what the policy file makes of them.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use govops::testing::{Capture, CapturedSpan, assert_contract};
use govops::{Call, Operation, Usage, governed};

#[governed(chat, model = "gpt-4o", provider = "openai")]
fn chat(input: u64, output: u64) {
    Call::current().record_usage(Usage {
        input,
        output,
        ..Usage::default()
    });
}

#[governed(embeddings, model = "gemini-embedding-001", provider = "gcp.vertex_ai")]
fn embed(input: u64) {
    Call::current().record_usage(Usage {
        input,
        ..Usage::default()
    });
}

#[governed(text_completion, model = "not-in-the-table")]
fn unpriced() {
    Call::current().record_usage(Usage {
        input: 10,
        output: 10,
        ..Usage::default()
    });
}

/// The chat spans of one capture, in the order they ended.
fn chats(capture: &Capture) -> Vec<CapturedSpan> {
    capture.spans_of(Operation::Chat, "gpt-4o")
}

fn with_policy(text: &str) -> (Capture, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, text).unwrap();
    let capture = Capture::builder()
        .env("GOVOPS_POLICY", path.to_str().unwrap())
        .build()
        .unwrap();
    (capture, dir)
}

#[test]
fn context_overflow_trips_just_above_90_percent_of_the_window() {
    // gpt-4o takes 128 000 input tokens: 90% is 115 200. Output keeps the waste guard quiet.
    let capture = Capture::new();
    capture.run(|| {
        chat(115_199, 100_000);
        chat(115_200, 100_000);
        chat(115_201, 100_000);
    });
    let spans = chats(&capture);
    let codes: Vec<Vec<&str>> = spans.iter().map(CapturedSpan::violations).collect();
    assert_eq!(codes, [vec![], vec![], vec!["context_overflow"]]);
    let tripped = &spans[2];
    assert_contract(tripped);
    assert_eq!(tripped.string("govops.policy.decision"), Some("flag"));
    let (_, figures) = tripped
        .events
        .iter()
        .find(|(name, _)| name == "govops.guard.tripped")
        .unwrap();
    assert_eq!(figures["govops.violation"].to_string(), "context_overflow");
    assert_eq!(figures["gen_ai.usage.input_tokens"].to_string(), "115201");
    assert_eq!(figures["govops.max_input_tokens"].to_string(), "128000");
    assert_eq!(figures["govops.threshold_percent"].to_string(), "90");
    let trips = capture.metric("govops.guard.trips");
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0].attributes["code"], "context_overflow");
}

#[test]
fn token_waste_trips_just_above_five_to_one() {
    let capture = Capture::new();
    capture.run(|| {
        chat(499, 100);
        chat(500, 100);
        chat(501, 100);
        chat(10, 0);
        embed(1_000);
    });
    let spans = chats(&capture);
    let codes: Vec<Vec<&str>> = spans.iter().map(CapturedSpan::violations).collect();
    assert_eq!(
        codes,
        [vec![], vec![], vec!["token_waste"], vec!["token_waste"]]
    );
    let embedding = capture
        .span(Operation::Embeddings, "gemini-embedding-001")
        .unwrap();
    assert_eq!(
        embedding.violations(),
        Vec::<&str>::new(),
        "an embedding has no output by nature"
    );
}

#[test]
fn the_policy_sets_each_guards_threshold_and_action() {
    let (capture, _dir) = with_policy(
        r#"
[guards.context_overflow]
action = "deny"
percent = 50

[guards.token_waste]
action = "off"

[guards.unpriced_model]
action = "off"
"#,
    );
    capture.run(|| {
        chat(64_000, 10);
        chat(64_001, 10);
        unpriced();
    });
    let spans = chats(&capture);
    assert_eq!(spans[0].violations(), Vec::<&str>::new());
    assert_eq!(spans[1].violations(), ["context_overflow"]);
    assert_eq!(spans[1].string("govops.policy.decision"), Some("deny"));
    let unpriced = capture
        .span(Operation::TextCompletion, "not-in-the-table")
        .unwrap();
    assert_eq!(unpriced.violations(), Vec::<&str>::new());
    assert_eq!(
        unpriced.attr("govops.cost.total_usd"),
        None,
        "still never 0"
    );
    assert_eq!(unpriced.string("govops.policy.decision"), Some("allow"));
}

#[test]
fn a_ratio_from_the_policy_moves_the_waste_threshold() {
    let (capture, _dir) = with_policy("[guards.token_waste]\nratio = 2.5\n");
    capture.run(|| {
        chat(250, 100);
        chat(251, 100);
    });
    let spans = chats(&capture);
    let codes: Vec<Vec<&str>> = spans.iter().map(CapturedSpan::violations).collect();
    assert_eq!(codes, [vec![], vec!["token_waste"]]);
}
