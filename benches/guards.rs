//! What the built-in guards cost a call, all together (target: at most 300 ns), beside the
//! OpenTelemetry SDK's span builder measured in the same run for scale.
//!
//! - `guards/all`: for one model call and one tool call, the work every governed call's guards do:
//!   allow-lists, the agent-loop count, a budget reservation and its settlement, the usage guards,
//!   the decision, and the content scan of the call's string attributes (model, provider, ids,
//!   a prompt argument); per call.
//! - `guards/content_1kb`: the content scan of a 1 KiB prompt with nothing to redact.
//! - `guards/rego` (target: at most 20 µs): a two-rule Rego policy over a call's input document,
//!   the document's parsing included.
//! - `guards/sdk_builder` (scale): one span with 12 attributes through the SDK's span builder, no
//!   processor.
//!
//! Run: `cargo bench --bench guards`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use govops::{Decimal, Usage, config::Environment, cost::PriceTable};
use govops_core::budget::{Charge, Ledger};
use govops_core::loops::Loops;
use govops_core::{Policy, content};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};

const POLICY: &str = r#"
[environments.prod]
models = ["gpt-4o", "claude-sonnet-4-20250514"]
providers = ["openai", "anthropic"]
tools = ["search_orders", "refund"]

[environments.prod.budgets]
session_usd = "1000000"
cost_center_usd_per_day = "1000000"
"#;

const KEYS: [&str; 12] = [
    "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10", "k11",
];

fn guards(c: &mut Criterion) {
    let prices = PriceTable::embedded();
    let policy = Policy::parse(POLICY, &prices).unwrap();
    let budgets = policy.rules(Environment::Prod).budgets.clone();
    let loops = Loops::default();
    let ledger = Ledger::default();
    let strings = [
        "gpt-4o",
        "openai",
        "session-8f14e45f",
        "user-1679091c",
        "support-bot",
        "prod",
        "\"what is the status of order 981, placed last tuesday?\"",
    ];
    let usage = Usage {
        input: 1_200,
        output: 300,
        ..Usage::default()
    };
    let mut group = c.benchmark_group("guards");
    let mut call = 0_u64;
    group.bench_function("all", |b| {
        b.iter(|| {
            call += 1;
            let trace = u128::from(call / 4);
            // A model call: allow-lists, budget, usage guards, decision, content.
            let mut violations = Vec::new();
            violations.extend(
                policy
                    .check_allowed(
                        Environment::Prod,
                        &prices,
                        Some("gpt-4o"),
                        Some("openai"),
                        None,
                    )
                    .map(|t| t.violation),
            );
            let charge = Charge {
                request: None,
                session: Some("session-8f14e45f"),
                user: Some("user-1679091c"),
                cost_center: Some("CC-1234"),
            };
            let reservation = ledger
                .reserve(&budgets, &charge, Decimal::new(5, 3), 20_000)
                .unwrap();
            let found = prices.lookup("gpt-4o", Some("openai"));
            let max_input = found.and_then(|p| p.max_input_tokens());
            violations.extend(
                policy
                    .check_usage(true, &usage, max_input)
                    .into_iter()
                    .map(|t| t.violation),
            );
            ledger.settle(reservation, Some(Decimal::new(6, 3)));
            for s in strings {
                black_box(content::redact(black_box(s), true, true));
            }
            black_box(policy.decide(violations.iter().copied()));
            // A tool call: allow-list and the loop count.
            black_box(policy.check_allowed(
                Environment::Prod,
                &prices,
                None,
                None,
                Some("search_orders"),
            ));
            black_box(loops.tool_call(trace, call, &policy.guards));
            if call % 4 == 3 {
                loops.release(trace);
            }
        })
    });
    let prompt =
        "Where is my order? I placed it last tuesday and it still has not shipped. ".repeat(14);
    group.bench_function("content_1kb", |b| {
        b.iter(|| content::redact(black_box(&prompt[..1024]), true, true))
    });
    let rego = govops_core::rego::Rego::compile(
        "rules.rego",
        r#"package govops
import rego.v1

violations contains "model_not_allowed" if {
    input.environment == "prod"
    startswith(input.model, "gpt-3.5")
}

decision := "deny" if input.cost_usd > 0.5
"#,
    )
    .unwrap();
    let input = r#"{"operation": "chat", "model": "gpt-4o", "provider": "openai", "tool": null,
        "agent": null, "environment": "prod", "service": "support-bot", "cost_center": "CC-1234",
        "session": "session-8f14e45f", "user": "user-1679091c",
        "usage": {"input": 1200, "output": 300, "cache_read": 0, "cache_creation": 0, "reasoning": 0},
        "cost_usd": 0.006, "violations": []}"#;
    group.bench_function("rego", |b| {
        b.iter(|| rego.evaluate(black_box(input)).unwrap())
    });
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let tracer = provider.tracer("bench");
    group.bench_function("sdk_builder", |b| {
        b.iter(|| {
            let mut span = tracer
                .span_builder("chat gpt-4o")
                .with_attributes(KEYS.iter().zip(0_i64..).map(|(k, v)| KeyValue::new(*k, v)))
                .start(&tracer);
            span.end();
        })
    });
    group.finish();
}

criterion_group!(benches, guards);
criterion_main!(benches);
