//! What a governed model call costs, beside what a careful user writes today and the floor.
//!
//! All three export through the OpenTelemetry SDK's batch processor to an exporter that discards
//! spans and counts them; each group ends by checking that every span created reached the
//! exporter, because the batch processor drops spans silently when its thread falls behind and a
//! run that dropped spans is not a valid figure.
//!
//! - `call/governed`: `#[governed(chat, ..)]` with the full contract: session and user from the
//!   context, usage from the result, exact cost from the price table, latency, utilization,
//!   decision and violations, and the section 5 metrics.
//! - `call/governed_no_drift`: the same with `[guards.model_drift] action = "off"`: what following
//!   drift (the check at open, the update at the end, the gauge) costs is the difference.
//! - `call/governed_audited`: the same with an audit log: the record built and handed to the
//!   writer thread (which seals each and writes it to `/dev/null`), calls back to back: the
//!   writer's rate bounds it once its queue is full. `call/governed_audited_burst`: bursts of 512
//!   calls, the queue drained between them outside the timing: what the caller pays.
//! - `call/by_hand` (baseline): `#[tracing::instrument]` with the same 12 fields recorded by hand
//!   through `tracing-opentelemetry`.
//! - `call/sdk_builder` (floor): the same 12 attributes set directly with the SDK's span builder.
//! - `call/registry_only` (reference): the governed function under a bare `tracing` registry, no
//!   layer: what `tracing` itself costs any tracing-based path.
//! - `threads/governed_1` and `threads/governed_2`: the governed call on one thread, then shared by
//!   two; time per call, so `governed_1 / governed_2` is the throughput gain of the second thread.
//!   `threads/by_hand_1` and `threads/by_hand_2` are the same for the by-hand call, for reference:
//!   on two cores the batch processor's thread competes with the callers.
//!
//! Run: `cargo bench --bench governed`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use govops::{Reported, Usage, config::EnvSource, governed};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use tracing_subscriber::layer::SubscriberExt;

thread_local! {
    /// Spans created by the benchmarked functions on this thread: a shared counter would be a
    /// point of contention between the threads the benchmark compares.
    static CREATED_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Spans created by threads that have finished or handed in their count.
static CREATED: AtomicU64 = AtomicU64::new(0);

fn created() {
    CREATED_HERE.with(|c| c.set(c.get() + 1));
}

/// Adds this thread's count to the total.
fn hand_in() {
    CREATED.fetch_add(CREATED_HERE.with(|c| c.replace(0)), Ordering::Relaxed);
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

#[derive(Debug, Clone, Default)]
struct DiscardMetrics;

impl PushMetricExporter for DiscardMetrics {
    fn export(&self, _: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        std::future::ready(Ok(()))
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// A tracer provider whose batch processor has room for a benchmark's bursts, with the id
/// generator govops's own pipeline installs.
fn provider(exporter: Discard, ids: &govops::pipeline::SpanIds) -> SdkTracerProvider {
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(1 << 16)
                .with_max_export_batch_size(2048)
                .with_scheduled_delay(Duration::from_millis(5))
                .build(),
        )
        .build();
    SdkTracerProvider::builder()
        .with_id_generator(ids.clone())
        .with_span_processor(processor)
        .build()
}

fn config() -> govops::config::Config {
    govops::config::Config::from_env(&EnvSource::from_pairs([
        ("GOVOPS_APP_NAME", "support-bot"),
        ("GOVOPS_ENVIRONMENT", "dev"),
        ("GOVOPS_OWNER", "team-ai"),
        ("GOVOPS_COST_CENTER", "CC-1234"),
        ("GOVOPS_DATA_CLASSIFICATION", "internal"),
    ]))
    .unwrap()
}

struct Reply {
    tokens: (u64, u64),
}

impl Reported for Reply {
    fn usage(&self) -> Option<Usage> {
        Some(Usage {
            input: self.tokens.0,
            output: self.tokens.1,
            ..Usage::default()
        })
    }
}

#[governed(chat, model = "gpt-4o", provider = "openai", skip_all)]
fn governed_call(prompt: &str) -> Reply {
    created();
    Reply {
        tokens: (black_box(prompt.len() as u64 * 100), 200),
    }
}

#[tracing::instrument(
    name = "chat gpt-4o",
    skip_all,
    fields(
        gen_ai.operation.name = "chat",
        gen_ai.request.model = "gpt-4o",
        gen_ai.provider.name = "openai",
        session.id = session,
        user.id = user,
        govops.contract.version = "1",
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
        govops.cost.total_usd = tracing::field::Empty,
        govops.latency_ms = tracing::field::Empty,
        govops.context.utilization = tracing::field::Empty,
        govops.policy.decision = tracing::field::Empty,
    )
)]
fn by_hand_call(prompt: &str, session: &str, user: &str) -> Reply {
    created();
    let start = Instant::now();
    let reply = Reply {
        tokens: (black_box(prompt.len() as u64 * 100), 200),
    };
    let (input, output) = reply.tokens;
    let span = tracing::Span::current();
    span.record("gen_ai.usage.input_tokens", input as i64);
    span.record("gen_ai.usage.output_tokens", output as i64);
    span.record(
        "govops.cost.total_usd",
        input as f64 * 2.5e-6 + output as f64 * 1e-5,
    );
    span.record("govops.context.utilization", input as f64 / 128_000.0);
    span.record("govops.policy.decision", "allow");
    span.record("govops.latency_ms", start.elapsed().as_secs_f64() * 1e3);
    reply
}

fn sdk_call(tracer: &opentelemetry_sdk::trace::SdkTracer, prompt: &str) -> Reply {
    created();
    let start = Instant::now();
    let reply = Reply {
        tokens: (black_box(prompt.len() as u64 * 100), 200),
    };
    let (input, output) = reply.tokens;
    let mut span = tracer
        .span_builder("chat gpt-4o")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.request.model", "gpt-4o"),
            KeyValue::new("gen_ai.provider.name", "openai"),
            KeyValue::new("session.id", "session-1"),
            KeyValue::new("user.id", "user-1"),
            KeyValue::new("govops.contract.version", "1"),
            KeyValue::new("gen_ai.usage.input_tokens", input as i64),
            KeyValue::new("gen_ai.usage.output_tokens", output as i64),
            KeyValue::new(
                "govops.cost.total_usd",
                input as f64 * 2.5e-6 + output as f64 * 1e-5,
            ),
            KeyValue::new("govops.context.utilization", input as f64 / 128_000.0),
            KeyValue::new("govops.policy.decision", "allow"),
            KeyValue::new("govops.latency_ms", start.elapsed().as_secs_f64() * 1e3),
        ])
        .start(tracer);
    span.end();
    reply
}

/// Flushes and checks that every span created reached the exporter. A figure whose spans were
/// dropped is not valid: for the governed call and the `call/` rows that fails the run; for the
/// by-hand thread rows, which are only a reference, it is reported and the run goes on.
fn assert_nothing_dropped(what: &str, provider: &SdkTracerProvider, exported: &Discard) {
    hand_in();
    provider.force_flush().unwrap();
    let created = CREATED.swap(0, Ordering::Relaxed);
    let reached = exported.0.swap(0, Ordering::Relaxed);
    if created == reached {
        eprintln!("{what}: {created} spans created, {reached} exported, none dropped");
        return;
    }
    let message = format!(
        "{what}: {} of {created} spans were dropped; this figure is not valid",
        created.saturating_sub(reached)
    );
    assert!(
        !what.contains("governed") && !what.starts_with("call/"),
        "{message}"
    );
    eprintln!("{message}");
}

fn calls(c: &mut Criterion) {
    let config = config();
    let exported = Discard::default();
    let ids = govops::pipeline::SpanIds::random();
    let tracer = provider(exported.clone(), &ids);
    let meter = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(DiscardMetrics)
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let governed = tracing::Dispatch::new(
        tracing_subscriber::registry().with(
            govops::pipeline::layer(&config, &tracer)
                .meter(&meter)
                .ids(&ids)
                .build(),
        ),
    );
    let by_hand = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("by-hand"))),
    );
    let sdk_tracer = tracer.tracer("sdk");

    let mut group = c.benchmark_group("call");
    CREATED.store(0, Ordering::Relaxed);
    tracing::dispatcher::with_default(&governed, || {
        govops::context::scope("session-1", "user-1", || {
            group.bench_function("governed", |b| b.iter(|| governed_call(black_box("hello"))));
        })
    });
    assert_nothing_dropped("call/governed", &tracer, &exported);
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("policy.toml");
    std::fs::write(&policy, "[guards.model_drift]\naction = \"off\"\n").unwrap();
    let no_drift_config = govops::config::Config::from_env(&EnvSource::from_pairs([
        ("GOVOPS_APP_NAME", "support-bot"),
        ("GOVOPS_ENVIRONMENT", "dev"),
        ("GOVOPS_OWNER", "team-ai"),
        ("GOVOPS_COST_CENTER", "CC-1234"),
        ("GOVOPS_DATA_CLASSIFICATION", "internal"),
        ("GOVOPS_POLICY", policy.to_str().unwrap()),
    ]))
    .unwrap();
    let no_drift = tracing::Dispatch::new(
        tracing_subscriber::registry().with(
            govops::pipeline::layer(&no_drift_config, &tracer)
                .meter(&meter)
                .ids(&ids)
                .build(),
        ),
    );
    tracing::dispatcher::with_default(&no_drift, || {
        govops::context::scope("session-1", "user-1", || {
            group.bench_function("governed_no_drift", |b| {
                b.iter(|| governed_call(black_box("hello")))
            });
        })
    });
    assert_nothing_dropped("call/governed_no_drift", &tracer, &exported);
    // `/dev/null`: millions of records would fill the disk; the writer still seals each one.
    let audit = govops::audit::AuditLog::open(
        "/dev/null",
        govops::audit::AuditOptions::for_config(&config),
    )
    .unwrap();
    let audited = tracing::Dispatch::new(
        tracing_subscriber::registry().with(
            govops::pipeline::layer(&config, &tracer)
                .meter(&meter)
                .ids(&ids)
                .audit(audit.clone())
                .build(),
        ),
    );
    tracing::dispatcher::with_default(&audited, || {
        govops::context::scope("session-1", "user-1", || {
            group.bench_function("governed_audited", |b| {
                b.iter(|| governed_call(black_box("hello")))
            });
            // What the caller pays while the writer keeps up: bursts shorter than its queue,
            // drained outside the timing.
            group.bench_function("governed_audited_burst", |b| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let burst = left.min(512);
                        let start = Instant::now();
                        for _ in 0..burst {
                            black_box(governed_call(black_box("hello")));
                        }
                        timed += start.elapsed();
                        left -= burst;
                        audit.flush().unwrap();
                    }
                    timed
                })
            });
        })
    });
    assert_nothing_dropped("call/governed_audited", &tracer, &exported);
    audit.shutdown().unwrap();
    tracing::dispatcher::with_default(&by_hand, || {
        group.bench_function("by_hand", |b| {
            b.iter(|| by_hand_call(black_box("hello"), "session-1", "user-1"))
        });
    });
    assert_nothing_dropped("call/by_hand", &tracer, &exported);
    // What tracing itself costs: the governed function's span through a bare registry, nothing
    // exported. Not a baseline of the targets; it bounds what any tracing-based path can reach.
    let bare = tracing::Dispatch::new(tracing_subscriber::registry());
    tracing::dispatcher::with_default(&bare, || {
        group.bench_function("registry_only", |b| {
            b.iter(|| governed_call(black_box("hello")))
        });
    });
    CREATED.store(0, Ordering::Relaxed);
    CREATED_HERE.with(|c| c.set(0));
    group.bench_function("sdk_builder", |b| {
        b.iter(|| sdk_call(&sdk_tracer, black_box("hello")))
    });
    assert_nothing_dropped("call/sdk_builder", &tracer, &exported);
    group.finish();

    let mut group = c.benchmark_group("threads");
    for (name, dispatch) in [("governed", &governed), ("by_hand", &by_hand)] {
        for threads in [1_u64, 2] {
            group.bench_function(format!("{name}_{threads}"), |b| {
                b.iter_custom(|iters| {
                    let per_thread = iters.div_ceil(threads);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            let dispatch = dispatch.clone();
                            s.spawn(move || {
                                tracing::dispatcher::with_default(&dispatch, || {
                                    govops::context::scope("session-1", "user-1", || {
                                        for _ in 0..per_thread {
                                            if name == "governed" {
                                                black_box(governed_call(black_box("hello")));
                                            } else {
                                                black_box(by_hand_call(
                                                    black_box("hello"),
                                                    "session-1",
                                                    "user-1",
                                                ));
                                            }
                                        }
                                        hand_in();
                                    })
                                })
                            });
                        }
                    });
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per_thread * threads) as f64)
                })
            });
            assert_nothing_dropped(&format!("threads/{name}_{threads}"), &tracer, &exported);
        }
    }
    group.finish();
    let _ = tracer.shutdown();
    let _ = meter.shutdown();
}

criterion_group!(benches, calls);
criterion_main!(benches);
