//! Start-up validation and the per-span cost of the govops pipeline, each beside a baseline
//! measured in the same run.
//!
//! - `startup/read_only` (baseline) reads the five required variables; `startup/validate` runs the
//!   whole validation `init()` runs, policy file hash included.
//! - `span/by_hand` (baseline) is what a careful user writes today: `tracing-opentelemetry` over the
//!   SDK's batch processor, here with an exporter that discards; `span/govops` is a span through
//!   the subscriber `govops::configure().try_init()` installs, exporting to the JSON-lines file.
//!
//! The `span/govops` figure is only valid when the handle reports no dropped spans at the end of
//! the run: under this load the JSON-lines sink falls behind and the queue drops spans (the
//! shutdown warning says how many). `benches/governed.rs` measures the governed path validly.
//!
//! Run: `cargo bench --bench pipeline`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use govops::config::EnvSource;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::layer::SubscriberExt;

const REQUIRED: [&str; 5] = [
    "GOVOPS_APP_NAME",
    "GOVOPS_ENVIRONMENT",
    "GOVOPS_OWNER",
    "GOVOPS_COST_CENTER",
    "GOVOPS_DATA_CLASSIFICATION",
];

fn env(policy: &std::path::Path) -> EnvSource {
    EnvSource::from_pairs([
        ("GOVOPS_APP_NAME", "support-bot".to_owned()),
        ("GOVOPS_ENVIRONMENT", "prod".to_owned()),
        ("GOVOPS_OWNER", "team-ai".to_owned()),
        ("GOVOPS_COST_CENTER", "CC-1234".to_owned()),
        ("GOVOPS_DATA_CLASSIFICATION", "internal".to_owned()),
        ("GOVOPS_POLICY", policy.display().to_string()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "team.region=eu-west,host.role=worker".to_owned(),
        ),
    ])
}

fn startup(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[environments.prod]\nmodels = [\"gpt-4o\", \"claude-sonnet-4-20250514\"]\n",
    )
    .unwrap();
    let env = env(&policy);
    let mut group = c.benchmark_group("startup");
    group.bench_function("read_only", |b| {
        b.iter(|| {
            for name in REQUIRED {
                black_box(env.get(black_box(name)));
            }
        })
    });
    group.bench_function("validate", |b| {
        b.iter(|| govops::config::Config::from_env(black_box(&env)).unwrap())
    });
    group.finish();
}

/// Discards spans, counting them.
#[derive(Debug, Clone, Default)]
struct Discard(Arc<AtomicU64>);

impl SpanExporter for Discard {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

fn span(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.jsonl");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[environments.prod]\nmodels = []\n").unwrap();
    let govops = govops::configure()
        .env(env(&policy))
        .telemetry_file(file.display().to_string())
        .stderr_logs(false)
        .try_init()
        .unwrap();

    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(Discard::default())
        .build();
    let by_hand = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("by-hand")));

    let mut group = c.benchmark_group("span");
    tracing::subscriber::with_default(by_hand, || {
        group.bench_function("by_hand", |b| {
            b.iter(|| tracing::info_span!("work", ticket = 42_i64).in_scope(|| black_box(1)))
        });
    });
    group.bench_function("govops", |b| {
        b.iter(|| tracing::info_span!("work", ticket = 42_i64).in_scope(|| black_box(1)))
    });
    group.finish();
    let _ = provider.shutdown();
    drop(govops);
}

criterion_group!(benches, startup, span);
criterion_main!(benches);
