//! What a drift update costs a model call.
//!
//! - `drift/update`: one observation into a warm detector through the registry (the (model,
//!   provider) look-up included), the way the layer calls it on every model call.
//! - `drift/update_2_threads_models` and `drift/update_2_threads_same`: wall time per update while
//!   two threads update at once, two different models (their own shard locks, as a rule) and
//!   the same model (one lock, the worst case); half of `drift/update` would be perfect scaling.
//! - `drift/ewma_f64`: one `f64` EWMA update, for scale.
//! - `drift/instant_now`: one `std::time::Instant::now()`, for scale.
//!
//! Run: `cargo bench --bench drift`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use govops::Decimal;
use govops::drift::{DriftConfig, DriftRegistry, Observation};

fn drift(c: &mut Criterion) {
    let registry = DriftRegistry::new(&DriftConfig::default()).expect("default config is valid");
    // Other models in the registry, as in a service that calls several.
    for model in [
        "gpt-4o-mini",
        "claude-3-7-sonnet-20250219",
        "gemini-2.0-flash",
    ] {
        let obs = Observation {
            latency: Duration::from_millis(400),
            output_tokens: Some(150),
            success: true,
            cost_usd: Some(Decimal::new(12, 4)),
        };
        registry.observe(model, "other", &obs);
    }
    let mut rng = fastrand::Rng::with_seed(7);
    let mut next = move || Observation {
        latency: Duration::from_micros(800_000 + rng.u64(0..200_000)),
        output_tokens: Some(200 + rng.u64(0..50)),
        success: rng.u32(0..100) != 0,
        cost_usd: Some(Decimal::new(30 + rng.i64(0..5), 4)),
    };
    for _ in 0..1_000 {
        let obs = next();
        registry.observe("gpt-4o", "openai", &obs);
        registry.observe("claude-sonnet-4", "anthropic", &obs);
    }
    let observations: Vec<Observation> = (0..1024).map(|_| next()).collect();

    let mut group = c.benchmark_group("drift");
    let mut i = 0;
    group.bench_function("update", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            registry.observe(black_box("gpt-4o"), black_box("openai"), &observations[i])
        })
    });
    for (name, models) in [
        (
            "update_2_threads_models",
            [("gpt-4o", "openai"), ("claude-sonnet-4", "anthropic")],
        ),
        (
            "update_2_threads_same",
            [("gpt-4o", "openai"), ("gpt-4o", "openai")],
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for (model, provider) in models {
                        let (registry, observations) = (&registry, &observations);
                        scope.spawn(move || {
                            for k in 0..iters / 2 {
                                registry.observe(
                                    black_box(model),
                                    black_box(provider),
                                    &observations[(k & 1023) as usize],
                                );
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    let mut mean = 0.0_f64;
    let mut j = 0;
    group.bench_function("ewma_f64", |b| {
        b.iter(|| {
            j = (j + 1) & 1023;
            mean += 0.01 * (black_box(observations[j].latency.as_secs_f64()) - mean);
            mean
        })
    });
    group.bench_function("instant_now", |b| b.iter(Instant::now));
    group.finish();
}

criterion_group!(benches, drift);
criterion_main!(benches);
