//! Drift and failover on governed calls: `model_drift` with the signals that moved, the
//! `govops.drift.score` gauge, `govops.failover` events, the provider that served the call and
//! the `govops.failover.readiness` gauge (contract sections 4 and 5).
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use govops::failover::{FailoverConfig, Provider, ProviderError, Request, Router};
use support::with_policy;

use govops::testing::{Capture, CapturedSpan, assert_contract};
use govops::{Call, Operation, Usage, Violation, governed};

#[derive(Debug, PartialEq)]
enum ChatError {
    Denied(Violation),
}

impl From<Violation> for ChatError {
    fn from(violation: Violation) -> Self {
        ChatError::Denied(violation)
    }
}

#[governed(chat, model = "gpt-4o", provider = "openai")]
fn chat(output: u64) -> Result<u64, ChatError> {
    Call::current().record_usage(Usage {
        input: 400,
        output,
        ..Usage::default()
    });
    Ok(output)
}

/// Output tokens around 200 (±10%, deterministic), times `scale`.
fn output(i: u64, scale: u64) -> u64 {
    (180 + (i * 7919) % 41) * scale
}

type Figures = std::collections::BTreeMap<String, opentelemetry::Value>;

/// An event's figure as text.
fn text(figures: &Figures, key: &str) -> String {
    figures
        .get(key)
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn drift_trip(span: &CapturedSpan) -> Option<&Figures> {
    span.events
        .iter()
        .find(|(name, figures)| {
            name == "govops.guard.tripped" && text(figures, "govops.violation") == "model_drift"
        })
        .map(|(_, figures)| figures)
}

#[test]
fn a_model_whose_output_doubles_is_flagged_with_the_signals_that_moved() {
    let (capture, _dir) = with_policy("[drift]\nwarm_up = 20\n");
    capture.run(|| {
        for i in 0..300 {
            chat(output(i, 1)).unwrap();
        }
        for i in 300..340 {
            chat(output(i, 2)).unwrap();
        }
    });
    let spans = capture.spans_of(Operation::Chat, "gpt-4o");
    assert_eq!(spans.len(), 340);
    let stationary = spans[..300]
        .iter()
        .filter(|s| s.violations().contains(&"model_drift"))
        .count();
    assert_eq!(stationary, 0, "no alarm before the shift, warm-up included");
    let first = spans[300..]
        .iter()
        .position(|s| s.violations().contains(&"model_drift"))
        .expect("the shift is detected");
    assert!(first < 32, "detected {first} calls after the shift");
    let flagged = &spans[300 + first];
    assert_contract(flagged);
    assert_eq!(flagged.string("govops.policy.decision"), Some("flag"));
    let figures = drift_trip(flagged).unwrap();
    let score: f64 = text(figures, "govops.drift.score").parse().unwrap();
    assert!(score >= 0.5, "score {score}");
    let signals = &text(figures, "govops.drift.signals");
    assert!(signals.contains("output_tokens:up"), "{signals}");
    assert!(
        !signals.contains("latency"),
        "latency did not move: {signals}"
    );
    // Every later call of the drifting model is flagged too, from the check at open.
    assert!(
        spans[300 + first..]
            .iter()
            .all(|s| s.violations().contains(&"model_drift"))
    );

    let gauge = capture.metric("govops.drift.score");
    assert_eq!(
        gauge.len(),
        1,
        "one series per model and provider: {gauge:?}"
    );
    let point = &gauge[0];
    assert!(point.value >= 0.5, "the gauge reports the score: {point:?}");
    assert_eq!(point.attributes["gen_ai.request.model"], "gpt-4o");
    assert_eq!(point.attributes["gen_ai.provider.name"], "openai");
    assert!(!point.attributes.contains_key("session.id"));
    assert!(!point.attributes.contains_key("govops.policy.decision"));
    let trips = capture.metric("govops.guard.trips");
    assert!(
        trips
            .iter()
            .any(|p| p.attributes.get("code").map(String::as_str) == Some("model_drift"))
    );
}

static BODIES_RUN: AtomicU32 = AtomicU32::new(0);

#[governed(chat, model = "gpt-4o-mini", provider = "openai")]
fn chat_mini(output: u64) -> Result<u64, ChatError> {
    BODIES_RUN.fetch_add(1, Ordering::SeqCst);
    Call::current().record_usage(Usage {
        input: 400,
        output,
        ..Usage::default()
    });
    Ok(output)
}

#[test]
fn a_drifting_model_is_denied_before_its_body_runs_when_the_policy_says_deny() {
    let (capture, _dir) =
        with_policy("[drift]\nwarm_up = 20\n\n[guards.model_drift]\naction = \"deny\"\n");
    let results: Vec<_> = capture.run(|| {
        let mut results = Vec::new();
        for i in 0..300 {
            results.push(chat_mini(output(i, 1)));
        }
        for i in 300..360 {
            results.push(chat_mini(output(i, 3)));
        }
        results
    });
    assert!(results[..300].iter().all(Result::is_ok));
    let denied = results
        .iter()
        .filter(|r| **r == Err(ChatError::Denied(Violation::ModelDrift)))
        .count();
    assert!(denied > 0, "a drifting model's calls are denied");
    assert_eq!(
        BODIES_RUN.load(Ordering::SeqCst) as usize,
        360 - denied,
        "a denied call's body does not run"
    );
    let spans = capture.spans_of(Operation::Chat, "gpt-4o-mini");
    let last = spans.last().unwrap();
    assert_eq!(last.string("govops.policy.decision"), Some("deny"));
    assert_eq!(last.violations(), ["model_drift"]);
    // One call in 20 still runs, flagged, so that recovery can be seen.
    let trials: Vec<_> = spans
        .iter()
        .filter(|s| drift_trip(s).is_some_and(|f| f.contains_key("govops.drift.trial")))
        .collect();
    assert!(!trials.is_empty());
    assert!(
        trials
            .iter()
            .all(|s| s.string("govops.policy.decision") == Some("flag"))
    );
    assert_eq!(
        trials.len(),
        (denied + trials.len()) / 20,
        "one in 20 of the drifting model's calls"
    );
}

#[test]
fn drift_is_not_followed_when_the_policy_turns_it_off() {
    let (capture, _dir) =
        with_policy("[drift]\nwarm_up = 20\n\n[guards.model_drift]\naction = \"off\"\n");
    capture.run(|| {
        for i in 0..300 {
            chat(output(i, 1)).unwrap();
        }
        for i in 300..340 {
            chat(output(i, 3)).unwrap();
        }
    });
    let spans = capture.spans_of(Operation::Chat, "gpt-4o");
    assert!(spans.iter().all(|s| s.violations().is_empty()));
    assert!(capture.metric("govops.drift.score").is_empty());
}

/// A router whose primary fails while `failing` is set.
fn router(failing: Arc<AtomicBool>) -> Router<String, String> {
    let primary = Provider::new("openai", "gpt-4o", 128_000, move |prompt: String| {
        let failing = failing.load(Ordering::SeqCst);
        async move {
            if failing {
                Err(ProviderError::from_status(503, "service unavailable"))
            } else {
                Ok(format!("openai: {prompt}"))
            }
        }
    });
    let secondary = Provider::new(
        "anthropic",
        "claude-sonnet-4-20250514",
        200_000,
        |prompt: String| async move { Ok(format!("anthropic: {prompt}")) },
    );
    let config = FailoverConfig {
        backoff_base: Duration::from_millis(1),
        cool_down: Duration::from_secs(60),
        ..FailoverConfig::default()
    };
    Router::new(primary, config).secondary(secondary)
}

#[governed(chat, model = "gpt-4o", provider = "openai")]
async fn ask(router: &Router<String, String>, prompt: &str) -> String {
    let served = router
        .call(&Request::new(1_000), prompt.to_owned())
        .await
        .unwrap();
    Call::current().record_usage(Usage {
        input: 1_000,
        output: 100,
        ..Usage::default()
    });
    served.value
}

#[tokio::test]
async fn a_call_served_after_a_failover_names_the_provider_that_served_it() {
    let capture = Capture::new();
    let failing = Arc::new(AtomicBool::new(false));
    let router = router(Arc::clone(&failing));
    let mut replies = Vec::new();
    for i in 0..12 {
        failing.store((2..8).contains(&i), Ordering::SeqCst);
        replies.push(capture.run_async(ask(&router, "hi")).await);
    }
    assert_eq!(replies[0], "openai: hi");
    assert_eq!(replies[2], "anthropic: hi", "served by the secondary");
    let spans = capture.spans_of(Operation::Chat, "gpt-4o");
    assert_eq!(spans.len(), 12);
    for span in &spans {
        assert_contract(span);
        assert_eq!(span.string("gen_ai.request.model"), Some("gpt-4o"));
    }
    assert_eq!(spans[0].string("gen_ai.provider.name"), Some("openai"));
    let moved = &spans[2];
    assert_eq!(moved.string("gen_ai.provider.name"), Some("anthropic"));
    assert_eq!(
        moved.string("gen_ai.response.model"),
        Some("claude-sonnet-4-20250514")
    );
    // Priced as the model that served it: 1000 × $3/M + 100 × $15/M.
    assert_eq!(moved.double("govops.cost.total_usd"), Some(0.0045));
    let provider_keys = moved
        .attributes
        .iter()
        .filter(|(k, _)| k.as_str() == "gen_ai.provider.name")
        .count();
    assert_eq!(provider_keys, 1, "the declared provider gives way");
    let failovers: Vec<_> = moved
        .events
        .iter()
        .filter(|(name, _)| name == "govops.failover")
        .map(|(_, figures)| figures)
        .collect();
    assert!(!failovers.is_empty(), "{:?}", moved.events);
    let retry = failovers
        .iter()
        .find(|f| text(f, "govops.failover.kind") == "retry")
        .unwrap();
    assert_eq!(text(retry, "govops.failover.from"), "openai");
    assert_eq!(text(retry, "govops.failover.to"), "anthropic");
    assert_eq!(text(retry, "govops.failover.reason"), "unavailable");
    let switch = spans
        .iter()
        .flat_map(|s| &s.events)
        .filter(|(name, _)| name == "govops.failover")
        .map(|(_, figures)| figures)
        .find(|f| text(f, "govops.failover.kind") == "failover")
        .expect("the traffic moved, on some call's span");
    assert_eq!(text(switch, "govops.failover.from"), "openai");
    assert_eq!(text(switch, "govops.failover.to"), "anthropic");

    let switches = capture.metric("govops.failover.switches");
    let kinds: Vec<&str> = switches
        .iter()
        .map(|p| p.attributes["govops.failover.kind"].as_str())
        .collect();
    assert!(kinds.contains(&"failover"), "{switches:?}");
    assert!(kinds.contains(&"retry"), "{switches:?}");
    assert!(
        switches
            .iter()
            .all(|p| !p.attributes.contains_key("user.id"))
    );
    let readiness = capture.metric("govops.failover.readiness");
    let secondary = readiness
        .iter()
        .find(|p| p.attributes["gen_ai.provider.name"] == "anthropic")
        .expect("the secondary's readiness is reported");
    assert!((0.0..=100.0).contains(&secondary.value), "{secondary:?}");
    assert_eq!(
        secondary.attributes["gen_ai.request.model"],
        "claude-sonnet-4-20250514"
    );
    // Cost and duration metrics follow the provider that served the call.
    let durations = capture.metric("gen_ai.client.operation.duration");
    assert!(durations.iter().any(
        |p| p.attributes.get("gen_ai.provider.name").map(String::as_str) == Some("anthropic")
    ));
}

#[test]
fn call_record_provider_names_the_provider_that_served_the_call() {
    #[governed(chat, model = "gpt-4o", provider = "openai")]
    fn served_by_azure() {
        Call::current().record_provider("azure");
        Call::current().record_usage(Usage {
            input: 10,
            output: 10,
            ..Usage::default()
        });
    }
    let capture = Capture::new();
    capture.run(served_by_azure);
    let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
    assert_eq!(span.string("gen_ai.provider.name"), Some("azure"));
    assert_eq!(span.string("gen_ai.response.model"), None);
    assert!(span.double("govops.cost.total_usd").is_some());
}

/// The audit log keeps what the spans' events say: a `model_drift` trip's score and signals, and
/// every move between providers, so `govops report` needs no telemetry to show them.
#[tokio::test]
async fn the_audit_log_records_drift_figures_and_failover_moves() {
    use govops::audit::{AuditLog, AuditOptions, AuditRecord, RecordKind, verify};
    use tracing::instrument::WithSubscriber as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[drift]\nwarm_up = 20\n").unwrap();
    let config = govops::config::Config::from_env(&govops::config::EnvSource::from_pairs([
        ("GOVOPS_APP_NAME", "audit-drift"),
        ("GOVOPS_ENVIRONMENT", "dev"),
        ("GOVOPS_OWNER", "team-ai"),
        ("GOVOPS_COST_CENTER", "CC-7"),
        ("GOVOPS_DATA_CLASSIFICATION", "internal"),
        ("GOVOPS_POLICY", policy.to_str().unwrap()),
    ]))
    .unwrap();
    let path = dir.path().join("audit.jsonl");
    let audit = AuditLog::open(&path, AuditOptions::for_config(&config)).unwrap();
    let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry().with(
            govops::pipeline::layer(&config, &tracer)
                .audit(audit.clone())
                .build(),
        ),
    );

    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..300 {
            chat(output(i, 1)).unwrap();
        }
        for i in 300..340 {
            chat(output(i, 2)).unwrap();
        }
    });
    let failing = Arc::new(AtomicBool::new(false));
    let router = router(Arc::clone(&failing));
    for i in 0..12 {
        failing.store((2..8).contains(&i), Ordering::SeqCst);
        ask(&router, "hi").with_subscriber(dispatch.clone()).await;
    }
    audit.shutdown().unwrap();

    assert!(verify(&[&path]).unwrap().is_intact());
    let records: Vec<AuditRecord> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &AuditRecord| r.kind == RecordKind::Call)
        .collect();
    assert_eq!(records.len(), 352);

    let (chats, asks) = records.split_at(340);
    let tripped: Vec<&AuditRecord> = chats
        .iter()
        .filter(|r| r.violations.contains(&Violation::ModelDrift))
        .collect();
    assert!(!tripped.is_empty(), "the shift is detected");
    // Latency is this machine's wall time: on a loaded machine it may drift too, and a trip then
    // names it; the output shift is what the trips after call 300 must name.
    for record in &tripped {
        let drift = record
            .drift
            .as_ref()
            .expect("a trip's figures are recorded");
        // A drifting model keeps tripping until its score falls below threshold − hysteresis
        // (0.5 − 0.1 by default), so a trip's score may sit just under the threshold.
        assert!(drift.score >= 0.4, "{drift:?}");
    }
    let after_shift: Vec<_> = chats[300..]
        .iter()
        .filter_map(|r| r.drift.as_ref())
        .collect();
    assert!(!after_shift.is_empty(), "the shift is detected after it");
    assert!(
        after_shift
            .iter()
            .any(|d| d.signals.iter().any(|s| s == "output_tokens:up")),
        "{after_shift:?}"
    );
    assert!(
        chats
            .iter()
            .filter(|r| !r.violations.contains(&Violation::ModelDrift))
            .all(|r| r.drift.is_none())
    );
    assert!(chats.iter().all(|r| r.failovers.is_empty()));

    assert!(asks[0].failovers.is_empty());
    assert_eq!(asks[2].provider.as_deref(), Some("anthropic"));
    let retry = asks[2]
        .failovers
        .iter()
        .find(|m| m.kind == "retry")
        .expect("the call's retry on the secondary is recorded");
    assert_eq!(
        (
            retry.from.as_str(),
            retry.to.as_str(),
            retry.reason.as_str()
        ),
        ("openai", "anthropic", "unavailable")
    );
    let switch = asks
        .iter()
        .flat_map(|r| &r.failovers)
        .find(|m| m.kind == "failover")
        .expect("the traffic's move is recorded on some call");
    assert_eq!(
        (switch.from.as_str(), switch.to.as_str()),
        ("openai", "anthropic")
    );
    // The line holds them as the README documents.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(r#""failovers":[{"kind":"retry","from":"openai","to":"anthropic","reason":"unavailable"}"#), "{text}");
}
