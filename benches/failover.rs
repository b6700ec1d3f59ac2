//! The router's overhead on a call, against the same call awaited directly.
//!
//! - `failover/direct` (baseline): the provider's call, a trivial async fn, awaited directly.
//! - `failover/router`: the same call through a `Router` with a healthy primary and a secondary:
//!   the primary picked, the breaker asked, the per-attempt timeout, the future boxed, the outcome
//!   recorded in the sliding window.
//! - `failover/router_reporting`: the same, with the telemetry's reporter installed (as `init`
//!   and every govops layer install it): each served call asks for the governed call it runs in,
//!   and readiness is reported once a second.
//!
//! Both rows drive their future with the same current-thread runtime's `block_on`.
//!
//! Run: `cargo bench --bench failover`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use govops::failover::{FailoverConfig, Provider, ProviderError, Request, Router};

async fn answer(x: u64) -> Result<u64, ProviderError> {
    Ok(black_box(x) + 1)
}

fn failover(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let router = runtime.block_on(async {
        Router::new(
            Provider::new("primary", "gpt-4o", 128_000, answer),
            FailoverConfig::default(),
        )
        .secondary(Provider::new("secondary", "gpt-4o", 128_000, answer))
    });
    let request = Request::new(1_000);
    let mut group = c.benchmark_group("failover");
    group.bench_function("direct", |b| {
        b.iter(|| runtime.block_on(answer(black_box(41))).unwrap());
    });
    group.bench_function("router", |b| {
        b.iter(|| {
            runtime
                .block_on(router.call(&request, black_box(41)))
                .unwrap()
                .value
        });
    });
    // Building a govops layer installs the process's reporter: from here on routers report.
    let capture = govops::testing::Capture::new();
    group.bench_function("router_reporting", |b| {
        b.iter(|| {
            runtime
                .block_on(router.call(&request, black_box(41)))
                .unwrap()
                .value
        });
    });
    drop(capture);
    group.finish();
    assert_eq!(router.stats().failovers, 0, "the primary stayed healthy");
}

criterion_group!(benches, failover);
criterion_main!(benches);
