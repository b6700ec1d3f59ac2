//! What settlement adds to a governed span is never dropped, however much the call recorded: a
//! failed model call with full usage, a response model, finish reasons and the provider that
//! served it carries every one of them.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use govops::testing::Capture;
use govops::{Call, Operation, Usage, governed};

#[governed(chat, model = "gpt-4o", provider = "openai", err)]
fn fails_after_recording_everything() -> Result<String, String> {
    let call = Call::current();
    call.record_usage(Usage {
        input: 1_000,
        output: 300,
        cache_read: 200,
        cache_creation: 50,
        cache_creation_1h: 25,
        reasoning: 100,
    });
    call.record_response_model("gpt-4o-2024-08-06");
    call.record_finish_reason("length");
    call.record_output("half an answer");
    call.record_provider("azure");
    Err("the provider cut the stream".to_owned())
}

#[test]
fn a_failed_model_call_with_full_usage_keeps_the_provider_that_served_it() {
    let capture = Capture::builder()
        .env("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        .build()
        .unwrap();
    let failed = capture.run(fails_after_recording_everything);
    assert_eq!(failed.unwrap_err(), "the provider cut the stream");

    let span = capture.span(Operation::Chat, "gpt-4o").unwrap();
    assert_eq!(span.error.as_deref(), Some("the provider cut the stream"));
    assert_eq!(span.string("error.type"), Some("_OTHER"));
    assert_eq!(span.int("gen_ai.usage.input_tokens"), Some(1_000));
    assert_eq!(span.int("gen_ai.usage.output_tokens"), Some(300));
    assert_eq!(span.int("gen_ai.usage.cache_read.input_tokens"), Some(200));
    assert_eq!(
        span.int("gen_ai.usage.cache_creation.input_tokens"),
        Some(75)
    );
    assert_eq!(span.int("gen_ai.usage.reasoning.output_tokens"), Some(100));
    assert!(span.double("govops.context.utilization").is_some());
    assert!(span.double("govops.cost.total_usd").is_some());
    assert!(span.string("gen_ai.output.messages").is_some());
    assert_eq!(
        span.string("gen_ai.response.model"),
        Some("gpt-4o-2024-08-06")
    );
    assert_eq!(
        span.strings("gen_ai.response.finish_reasons"),
        Some(vec!["length"])
    );
    assert!(span.string("govops.policy.decision").is_some());
    assert!(span.strings("govops.safety.violations").is_some());
    assert!(span.double("govops.latency_ms").is_some());
    // The declared provider gives way to the one that served the call: never to nothing.
    assert_eq!(span.string("gen_ai.provider.name"), Some("azure"));
}
