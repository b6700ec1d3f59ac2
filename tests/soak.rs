//! Memory stays flat over 10 million governed calls across 100 000 traces: the per-trace state of
//! the guards (the loop count, the request's budget account) is released when each trace's root
//! ends, and every other table is bounded.
//!
//! Run: `cargo test --release --test soak -- --ignored --nocapture` (about a minute).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use govops::{Call, Usage, config::EnvSource, governed};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug)]
struct Denied;

impl From<govops::Violation> for Denied {
    fn from(_: govops::Violation) -> Self {
        Denied
    }
}

#[governed(tool, name = "lookup")]
fn lookup(page: u32) -> Result<u32, Denied> {
    Ok(page)
}

#[governed(
    chat,
    model = "gpt-4o",
    provider = "openai",
    max_tokens = 100,
    skip_all
)]
fn think(n: u64) {
    Call::current().record_usage(Usage {
        input: 100 + n % 50,
        output: 40,
        ..Usage::default()
    });
}

/// One trace: an agent making 98 tool calls (most denied past the loop limit) and one model call.
#[governed(agent, name = "soak")]
fn agent(trace: u64) {
    think(trace);
    for page in 0..98 {
        let _ = lookup(page);
    }
}

/// Resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
#[ignore = "a soak test: run with --release --ignored"]
fn memory_stays_flat_over_ten_million_calls_across_a_hundred_thousand_traces() {
    // Every budget on, so that each trace's request account is opened and released too.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[environments.dev.budgets]\nrequest_usd = \"1\"\nsession_usd = \"1000000\"\n\
         user_usd = \"1000000\"\ncost_center_usd_per_day = \"1000000\"\n",
    )
    .unwrap();
    let config = govops::config::Config::from_env(&EnvSource::from_pairs([
        ("GOVOPS_APP_NAME", "soak"),
        ("GOVOPS_ENVIRONMENT", "dev"),
        ("GOVOPS_OWNER", "team"),
        ("GOVOPS_COST_CENTER", "cc-1"),
        ("GOVOPS_DATA_CLASSIFICATION", "internal"),
        ("GOVOPS_POLICY", policy.to_str().unwrap()),
    ]))
    .unwrap();
    let ids = govops::pipeline::SpanIds::random();
    // No processor: the spans are built and dropped, so only govops's own state can grow.
    let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_id_generator(ids.clone())
        .build();
    let meter = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry().with(
            govops::pipeline::layer(&config, &tracer)
                .meter(&meter)
                .ids(&ids)
                .build(),
        ),
    );
    const TRACES: u64 = 100_000;
    const CALLS_PER_TRACE: u64 = 100;
    let mut after_warm_up = 0;
    tracing::dispatcher::with_default(&dispatch, || {
        govops::context::scope("session-soak", "user-soak", || {
            for trace in 0..TRACES {
                agent(trace);
                if trace == TRACES / 10 {
                    after_warm_up = rss_kib();
                }
            }
        })
    });
    let end = rss_kib();
    let calls = TRACES * CALLS_PER_TRACE;
    println!(
        "soak: {calls} calls across {TRACES} traces; resident memory {after_warm_up} KiB after the first \
         {} calls, {end} KiB at the end ({:+} KiB)",
        calls / 10,
        i64::try_from(end).unwrap() - i64::try_from(after_warm_up).unwrap()
    );
    assert!(
        end <= after_warm_up + 8 * 1024,
        "memory grew from {after_warm_up} KiB to {end} KiB"
    );
}
