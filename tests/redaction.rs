//! Personal data and credentials never leave the process: a prompt holding a card number and an
//! API key exports neither, in spans (governed or not, event attributes included), log bodies or
//! log attributes. Message content is exported only when the policy captures it; what a call
//! passes for inspection raises `pii_detected` / `secret_detected` either way.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use support::with_policy;

use govops::testing::{Capture, CapturedSpan, assert_contract};
use govops::{Call, Operation, Usage, Violation, governed};

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

/// Passes its prompt for inspection, logs nothing.
#[governed(chat, model = "gpt-4o", provider = "openai", prompt = prompt)]
fn quiet(prompt: &str) -> String {
    let call = Call::current();
    call.record_usage(Usage {
        input: 100,
        output: 50,
        ..Usage::default()
    });
    call.record_output("sure, jane@example.com it is");
    call.record_finish_reason("stop");
    "ok".to_owned()
}

#[derive(Debug)]
enum Error {
    Refused(Violation),
}

impl From<Violation> for Error {
    fn from(v: Violation) -> Self {
        Error::Refused(v)
    }
}

static RAN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Can be denied before it runs.
#[governed(chat, model = "gpt-4o", provider = "openai", prompt = prompt)]
fn guarded(prompt: &str) -> Result<String, Error> {
    RAN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Call::current().record_usage(Usage {
        input: 10,
        output: 5,
        ..Usage::default()
    });
    Ok("ok".to_owned())
}

#[derive(Debug, Clone, Copy)]
enum Priority {
    High,
}

#[governed(tool, name = "lookup")]
fn lookup(order_id: u64, priority: Priority, note: &str, tags: &[&str]) -> usize {
    note.len() + tags.len() + usize::from(matches!(priority, Priority::High)) + order_id as usize
}

fn everything(capture: &Capture) -> String {
    let spans = capture.spans();
    let logs = capture.logs();
    format!("{spans:?}\n{logs:?}")
}

fn trips(span: &CapturedSpan) -> Vec<String> {
    span.events
        .iter()
        .filter(|(name, _)| name == "govops.guard.tripped")
        .map(|(_, attrs)| format!("{attrs:?}"))
        .collect()
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
        tracing::info!(card = CARD, key = KEY, count = 3, "attributes");
    });
    let all = everything(&capture);
    for secret in [CARD, KEY, "jane@example.com"] {
        assert!(!all.contains(secret), "{secret} was exported:\n{all}");
    }
    let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
    assert_contract(&span);
    // Content is not captured by default: the text argument is not exported at all.
    assert_eq!(span.attr("prompt"), None);
    // The call logged the prompt: that log is redacted and the call carries the violations.
    assert_eq!(span.violations(), ["pii_detected", "secret_detected"]);
    assert_eq!(span.string("govops.policy.decision"), Some("flag"));
    let trips = trips(&span);
    assert_eq!(trips.len(), 2, "{trips:?}");
    assert!(trips.iter().all(|t| t.contains("log")), "{trips:?}");
    // Token counts and costs are never redacted.
    assert_eq!(span.int("gen_ai.usage.input_tokens"), Some(100));
    assert!(span.double("govops.cost.total_usd").is_some());
    // The plain span is redacted too, but carries no contract violation.
    let plain = &capture.spans_named("plain")[0];
    assert!(plain.string("note").unwrap().contains("[REDACTED:card]"));
    assert_eq!(plain.attr("govops.safety.violations"), None);
    let logs = capture.logs();
    let asked = logs
        .iter()
        .find(|l| l.body.starts_with("asked about"))
        .unwrap();
    assert!(asked.body.contains("[REDACTED:card]"), "{}", asked.body);
    // Log attributes: redacted, the others kept as they were, with the record's context.
    let attributes = logs.iter().find(|l| l.body == "attributes").unwrap();
    assert_eq!(attributes.attributes["card"], "[REDACTED:card]");
    assert_eq!(attributes.attributes["key"], "[REDACTED:openai_key]");
    assert_eq!(attributes.attributes["count"], "3");
    assert_eq!(attributes.severity, "INFO");
}

#[test]
fn arguments_that_may_hold_content_are_captured_only_when_the_policy_says_so() {
    let run = |capture: &Capture| {
        capture.run(|| lookup(981, Priority::High, "call jane@example.com", &["vip"]));
        capture.span(Operation::ExecuteTool, "lookup").unwrap()
    };
    let off = run(&Capture::new());
    assert_eq!(off.string("order_id"), Some("981"));
    assert_eq!(off.string("priority"), Some("High"));
    assert_eq!(off.attr("note"), None);
    assert_eq!(off.attr("tags"), None);
    assert_eq!(off.violations(), Vec::<&str>::new());

    let (capture, _dir) = with_policy("[capture]\ncontent = true\n");
    let on = run(&capture);
    assert_eq!(on.string("order_id"), Some("981"));
    // A tool's arguments go whole to the semantic conventions' key, redacted.
    let arguments: serde_json::Value =
        serde_json::from_str(on.string("gen_ai.tool.call.arguments").unwrap()).unwrap();
    assert_eq!(arguments["note"], "call [REDACTED:email]");
    assert_eq!(arguments["tags"], serde_json::json!(["vip"]));
    assert_eq!(arguments["priority"], "High");
    assert_eq!(on.attr("note"), None);
    assert_eq!(on.violations(), ["pii_detected"]);
}

#[test]
fn a_prompt_passed_for_inspection_raises_without_being_exported() {
    let capture = Capture::new();
    capture.run(|| quiet(&format!("card {CARD}")));
    let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
    assert!(!everything(&capture).contains(CARD));
    assert!(!everything(&capture).contains("jane@example.com"));
    assert_eq!(span.attr("gen_ai.input.messages"), None);
    assert_eq!(span.attr("gen_ai.output.messages"), None);
    assert_eq!(span.violations(), ["pii_detected"]);
    let trips = trips(&span);
    // Raised once, although the prompt and the output both held personal data.
    assert_eq!(trips.len(), 1, "{trips:?}");
    assert!(trips[0].contains("prompt"), "{trips:?}");

    // Clean content raises nothing.
    let capture = Capture::new();
    capture.run(|| {
        let _ = guarded("what is the status of order-981, shipped 2026-11-24?");
    });
    let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
    assert_eq!(span.violations(), Vec::<&str>::new());
    assert_eq!(span.string("govops.policy.decision"), Some("allow"));
}

#[test]
fn captured_prompt_and_output_are_exported_redacted_as_messages() {
    let (capture, _dir) = with_policy("[capture]\ncontent = true\n");
    capture.run(|| quiet(&format!("my key is {KEY}, what now?")));
    let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
    let input: serde_json::Value =
        serde_json::from_str(span.string("gen_ai.input.messages").unwrap()).unwrap();
    assert_eq!(input[0]["role"], "user");
    assert_eq!(
        input[0]["parts"][0]["content"],
        "my key is [REDACTED:openai_key], what now?"
    );
    let output: serde_json::Value =
        serde_json::from_str(span.string("gen_ai.output.messages").unwrap()).unwrap();
    assert_eq!(output[0]["role"], "assistant");
    assert_eq!(output[0]["finish_reason"], "stop");
    assert_eq!(
        output[0]["parts"][0]["content"],
        "sure, [REDACTED:email] it is"
    );
    let mut violations = span.violations();
    violations.sort_unstable();
    assert_eq!(violations, ["pii_detected", "secret_detected"]);
    assert_eq!(trips(&span).len(), 2);
}

#[test]
fn a_policy_that_denies_personal_data_stops_the_call_before_it_runs() {
    let (capture, _dir) = with_policy("[guards.pii]\naction = \"deny\"\n");
    let before = RAN.load(std::sync::atomic::Ordering::SeqCst);
    let result = capture.run(|| guarded("reach me at jane@example.com"));
    assert!(matches!(
        result,
        Err(Error::Refused(Violation::PiiDetected))
    ));
    assert_eq!(RAN.load(std::sync::atomic::Ordering::SeqCst), before);
    let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
    assert_eq!(span.violations(), ["pii_detected"]);
    assert_eq!(span.string("govops.policy.decision"), Some("deny"));

    // A call whose content is clean runs.
    let ran = capture.run(|| guarded("status of order-981?"));
    assert_eq!(ran.unwrap(), "ok");
}

#[test]
fn call_inspect_raises_on_content_the_call_handles() {
    #[governed(tool, name = "fetch_page")]
    fn fetch(url: &str) -> String {
        let page = format!("page at {url}: contact AKIAIOSFODNN7EXAMPLE");
        Call::current().inspect(&page);
        page.len().to_string()
    }
    let capture = Capture::new();
    capture.run(|| fetch("https://example.com"));
    let span = capture.span(Operation::ExecuteTool, "fetch_page").unwrap();
    assert_eq!(span.violations(), ["secret_detected"]);
    assert!(trips(&span)[0].contains("inspected"));
    // Outside a governed call, inspecting does nothing (and never fails).
    Call::current().inspect("AKIAIOSFODNN7EXAMPLE");
}

#[test]
fn the_policy_can_turn_a_detector_off() {
    let (capture, _dir) =
        with_policy("[capture]\ncontent = true\n[guards.pii]\naction = \"off\"\n");
    capture.run(|| ask(&format!("mail jane@example.com key {KEY}")));
    let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
    let prompt = span.string("prompt").unwrap();
    assert!(prompt.contains("jane@example.com"), "{prompt}");
    assert!(!prompt.contains(KEY), "{prompt}");
    assert_eq!(span.violations(), ["secret_detected"]);
}

#[test]
fn an_application_with_its_own_providers_gets_the_same_redaction() {
    use govops::pipeline::file::{FileLogExporter, FileSpanExporter, JsonLinesFile};
    use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
    use opentelemetry_sdk::logs::{SdkLoggerProvider, SimpleLogProcessor};
    use opentelemetry_sdk::trace::{SdkTracerProvider, SimpleSpanProcessor};
    use tracing_subscriber::layer::SubscriberExt;

    let config = govops_core::Config::from_env(&govops_core::EnvSource::from_pairs([
        ("GOVOPS_APP_NAME", "bot"),
        ("GOVOPS_ENVIRONMENT", "dev"),
        ("GOVOPS_OWNER", "team"),
        ("GOVOPS_COST_CENTER", "cc-1"),
        ("GOVOPS_DATA_CLASSIFICATION", "internal"),
    ]))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("own.jsonl");
    let sink = JsonLinesFile::open(&path).unwrap();
    let tracer = SdkTracerProvider::builder()
        .with_span_processor(govops::pipeline::RedactingSpans::new(
            SimpleSpanProcessor::new(FileSpanExporter::new(sink.clone())),
            &config,
        ))
        .build();
    let logger = SdkLoggerProvider::builder()
        .with_log_processor(govops::pipeline::CallContextLogs::new(&config))
        .with_log_processor(govops::pipeline::RedactingLogs::new(&config))
        .with_log_processor(SimpleLogProcessor::new(FileLogExporter::new(sink)))
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(govops::pipeline::layer(&config, &tracer).build())
        .with(OpenTelemetryTracingBridge::new(&logger));
    tracing::subscriber::with_default(subscriber, || {
        ask(&format!("card {CARD}"));
        tracing::info_span!("plain", key = KEY).in_scope(|| {});
    });
    // A link's attributes are scanned too.
    {
        use opentelemetry::trace::{Link, SpanContext, TraceFlags, TraceState, Tracer as _};
        use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
        let otel = tracer.tracer("app");
        let linked = SpanContext::new(
            TraceId::from(7_u128),
            SpanId::from(9_u64),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        let _span = otel
            .span_builder("linked")
            .with_links(vec![Link::new(
                linked,
                vec![opentelemetry::KeyValue::new(
                    "reason",
                    format!("follow-up {KEY}"),
                )],
                0,
            )])
            .start(&otel);
    }
    tracer.shutdown().unwrap();
    logger.shutdown().unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(!written.contains(CARD), "{written}");
    assert!(!written.contains(KEY), "{written}");
    assert!(written.contains("[REDACTED:card]"), "{written}");
    assert!(written.contains("[REDACTED:openai_key]"), "{written}");
    assert!(written.contains("pii_detected"), "{written}");
    // The log inside the governed call carries the call's context.
    assert!(written.contains("\"gen_ai.request.model\""), "{written}");
}

/// One sample of every detector: the text and the part of it that must not leave the process.
const POSITIVES: [(&str, &str); 19] = [
    (
        "write to jane.doe@example.com today",
        "jane.doe@example.com",
    ),
    ("call +44 20 7946 0958 now", "7946 0958"),
    ("call (555) 123-4567 now", "123-4567"),
    ("card 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111"),
    ("card 5500-0000-0000-0004", "5500-0000-0000-0004"),
    (
        "pay GB82 WEST 1234 5698 7654 32",
        "GB82 WEST 1234 5698 7654 32",
    ),
    ("pay DE89370400440532013000", "DE89370400440532013000"),
    ("ssn 078-05-1120", "078-05-1120"),
    ("nino AB 12 34 56 C", "AB 12 34 56 C"),
    (KEY, KEY),
    (
        "key sk-ant-api03-abcdefghijklmnopqrstuv",
        "sk-ant-api03-abcdefghijklmnopqrstuv",
    ),
    ("aws AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    (
        "gcp AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    ),
    (
        "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    ),
    (
        "slack xoxb-1234567890-abcdefghij",
        "xoxb-1234567890-abcdefghij",
    ),
    (
        "stripe sk_live_abcdefghijklmnop1234",
        "sk_live_abcdefghijklmnop1234",
    ),
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        "MIIEow",
    ),
    ("me@x.io", "me@x.io"),
];

const NEGATIVES: [&str; 6] = [
    "order-981 shipped on 2026-11-24",
    "card 4111 1111 1111 1112",
    "iban GB82 WEST 1234 5698 7654 33",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736",
    "at 1732435200123 ms",
    "version 1.2.3",
];

#[governed(chat, model = "gpt-4o", provider = "openai")]
fn answered(reason: &str) {
    let call = Call::current();
    call.record_usage(Usage {
        input: 10,
        output: 10,
        ..Usage::default()
    });
    // An array attribute: `gen_ai.response.finish_reasons`.
    call.record_finish_reason("stop");
    call.record_finish_reason(reason);
}

/// `text` in every place telemetry carries a string: a span attribute, a span event's attribute,
/// a string array of a governed span, a governed call's argument (capture on), a log body and a
/// log attribute.
fn everywhere(capture: &Capture, text: &str) {
    capture.run(|| {
        tracing::info_span!("plain", note = %text).in_scope(|| {
            tracing::info!(detail = %text, "{text}");
        });
        answered(text);
    });
}

#[test]
fn every_detector_redacts_in_spans_events_arrays_arguments_and_logs() {
    for (text, secret) in POSITIVES {
        let (capture, _dir) = with_policy("[capture]\ncontent = true\n");
        everywhere(&capture, text);
        let all = everything(&capture);
        assert!(!all.contains(secret), "{secret:?} was exported:\n{all}");
        let plain = &capture.spans_named("plain")[0];
        assert!(
            plain.string("note").unwrap().contains("[REDACTED:"),
            "{text}"
        );
        let event = &plain.events[0].1;
        assert!(
            event["detail"].to_string().contains("[REDACTED:"),
            "{text}: {event:?}"
        );
        let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
        let reasons = span.strings("gen_ai.response.finish_reasons").unwrap();
        assert_eq!(reasons[0], "stop");
        assert!(reasons[1].contains("[REDACTED:"), "{text}: {reasons:?}");
        assert!(
            span.string("reason").unwrap().contains("[REDACTED:"),
            "{text}"
        );
        assert_eq!(
            span.violations().len(),
            1,
            "{text}: {:?}",
            span.violations()
        );
        let log = &capture.logs()[0];
        assert!(log.body.contains("[REDACTED:"), "{text}: {}", log.body);
        assert!(log.attributes["detail"].contains("[REDACTED:"), "{text}");
    }
}

#[test]
fn clean_text_is_exported_as_it_was_everywhere() {
    for text in NEGATIVES {
        let (capture, _dir) = with_policy("[capture]\ncontent = true\n");
        everywhere(&capture, text);
        let plain = &capture.spans_named("plain")[0];
        assert_eq!(plain.string("note"), Some(text));
        let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
        assert_eq!(
            span.strings("gen_ai.response.finish_reasons").unwrap(),
            ["stop", text]
        );
        assert_eq!(span.violations(), Vec::<&str>::new(), "{text}");
        let log = &capture.logs()[0];
        assert_eq!(log.body, text);
        assert_eq!(log.attributes["detail"], text);
    }
}

#[test]
fn an_error_description_is_redacted_too() {
    #[governed(tool, name = "login", err)]
    fn login(user: &str) -> Result<(), String> {
        Err(format!("{user} rejected key {KEY}"))
    }
    let capture = Capture::new();
    let _ = capture.run(|| login("jane"));
    let span = capture.span(Operation::ExecuteTool, "login").unwrap();
    let error = span.error.clone().unwrap();
    assert!(!error.contains(KEY), "{error}");
    assert!(error.contains("[REDACTED:openai_key]"), "{error}");
    assert!(!everything(&capture).contains(KEY));
    assert_eq!(span.violations(), ["secret_detected"]);
}

#[test]
fn names_and_caller_ids_are_redacted_alike_in_spans_and_logs() {
    #[governed(workflow, name = label)]
    fn flow(label: &str) -> usize {
        tracing::info!("working");
        label.len()
    }
    let capture = Capture::new();
    capture.run(|| {
        govops::context::scope("s-1", "jane@example.com", || {
            flow("ticket for joe@example.com")
        })
    });
    let all = everything(&capture);
    for personal in ["jane@example.com", "joe@example.com"] {
        assert!(!all.contains(personal), "{personal} was exported:\n{all}");
    }
    let span = &capture.spans()[0];
    assert_eq!(
        span.string("govops.name"),
        Some("ticket for [REDACTED:email]")
    );
    assert_eq!(span.string("user.id"), Some("[REDACTED:email]"));
    let log = &capture.logs()[0];
    assert_eq!(log.attributes["govops.name"], "ticket for [REDACTED:email]");
    assert_eq!(log.attributes["user.id"], "[REDACTED:email]");
    assert_eq!(log.attributes["session.id"], "s-1");
    assert_eq!(span.violations(), ["pii_detected"]);
}

#[test]
fn content_in_a_calls_own_fields_decides_its_metrics_and_rules_too() {
    #[governed(tool, name = "notify", skip_all, fields(customer = who))]
    fn notify(who: &str) -> usize {
        who.len()
    }
    let capture = Capture::new();
    capture.run(|| notify("jane@example.com"));
    let span = capture.span(Operation::ExecuteTool, "notify").unwrap();
    assert_eq!(span.string("customer"), Some("[REDACTED:email]"));
    assert_eq!(span.violations(), ["pii_detected"]);
    assert_eq!(span.string("govops.policy.decision"), Some("flag"));
    assert!(trips(&span)[0].contains("attributes"), "{:?}", trips(&span));
    let durations = capture.metric("gen_ai.client.operation.duration");
    assert!(!durations.is_empty());
    for point in durations {
        assert_eq!(
            point.attributes["govops.policy.decision"], "flag",
            "{point:?}"
        );
    }
    let trips = capture.metric("govops.guard.trips");
    assert_eq!(trips.len(), 1, "{trips:?}");
    assert_eq!(trips[0].attributes["code"], "pii_detected");
}
