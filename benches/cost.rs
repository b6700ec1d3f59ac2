//! Pricing one call and recording it in the ledger, beside the same arithmetic in `f64`.
//!
//! - `price/decimal` prices a call with caches and reasoning on a 218-model table: look-up,
//!   rate resolution (tiers, service tier, fallbacks) and exact arithmetic.
//! - `price/f64_baseline` (baseline) does a hash look-up (the same hasher as the table's) of the
//!   model's six rates and the same six multiplications and sums in `f64`: what a float-based cost
//!   library does.
//! - `ledger/record_1_thread` and `ledger/record_2_threads` record one call under known keys (the
//!   second: wall time per record while two threads record two users' calls at once, sharing cost
//!   center, model and provider; half the first's time would be perfect scaling).
//! - `table/parse_embedded` parses the embedded 218-model table (214 kB of JSON), every object
//!   checked for a key given twice.
//!
//! Run: `cargo bench --bench cost`.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use govops::{Usage, cost::Entry, cost::Ledger, cost::PriceTable, cost::ServiceTier};
use rust_decimal::Decimal;

const MODEL: &str = "claude-3-7-sonnet-20250219";

/// The embedded table's text.
const EMBEDDED: &str = include_str!("../govops-core/data/model_prices_and_context_window.json");

fn usage() -> Usage {
    Usage {
        input: 12_000,
        output: 900,
        cache_read: 8000,
        cache_creation: 1000,
        cache_creation_1h: 500,
        reasoning: 300,
    }
}

fn price(c: &mut Criterion) {
    let table = PriceTable::embedded();
    let usage = usage();
    // The f64 baseline's table: the same models, six rates each, as floats.
    let floats: HashMap<String, [f64; 6], foldhash::fast::RandomState> = table
        .models()
        .map(|m| {
            let r = |rate| {
                m.base_rate(rate)
                    .map_or(0.0, |d: Decimal| d.to_string().parse::<f64>().unwrap())
            };
            use govops::cost::Rate::*;
            (
                m.key().to_owned(),
                [
                    r(Input),
                    r(CacheRead),
                    r(CacheCreation),
                    r(CacheCreation1h),
                    r(Output),
                    r(Reasoning),
                ],
            )
        })
        .collect();
    let mut group = c.benchmark_group("price");
    group.bench_function("f64_baseline", |b| {
        b.iter(|| {
            let u = black_box(&usage);
            let r = floats.get(black_box(MODEL)).unwrap();
            let tokens = [
                (u.input - u.cache_read - u.cache_creation - u.cache_creation_1h) as f64,
                u.cache_read as f64,
                u.cache_creation as f64,
                u.cache_creation_1h as f64,
                (u.output - u.reasoning) as f64,
                u.reasoning as f64,
            ];
            tokens.iter().zip(r).map(|(t, r)| t * r).sum::<f64>()
        })
    });
    group.bench_function("decimal", |b| {
        b.iter(|| {
            table
                .price(
                    black_box(MODEL),
                    None,
                    black_box(&usage),
                    ServiceTier::Standard,
                )
                .unwrap()
                .total_usd()
        })
    });
    group.finish();
}

fn entry(usage: Usage) -> Entry<'static> {
    Entry {
        request: Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        session: Some("session-1"),
        user: Some("user-1"),
        cost_center: "CC-1234",
        model: MODEL,
        provider: Some("anthropic"),
        usage,
        cost_usd: Some(Decimal::from_str("0.05685").unwrap()),
        at_unix_secs: 1_795_530_600,
    }
}

fn ledger(c: &mut Criterion) {
    let ledger = Ledger::default();
    let one = entry(usage());
    ledger.record(&one);
    let mut group = c.benchmark_group("ledger");
    group.bench_function("record_1_thread", |b| {
        b.iter(|| ledger.record(black_box(&one)))
    });
    group.bench_function("record_2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for t in 0..2_u64 {
                    let ledger = &ledger;
                    // Two users' calls: their own trace, session and user; the same cost
                    // center, model and provider.
                    let (request, session, user) = if t == 0 {
                        ("trace-a", "session-a", "user-a")
                    } else {
                        ("trace-b", "session-b", "user-b")
                    };
                    scope.spawn(move || {
                        let mut e = entry(usage());
                        e.request = Some(request);
                        e.session = Some(session);
                        e.user = Some(user);
                        for _ in 0..iters / 2 {
                            ledger.record(black_box(&e));
                        }
                    });
                }
            });
            start.elapsed().max(Duration::from_nanos(1))
        })
    });
    group.finish();
}

fn table(c: &mut Criterion) {
    let mut group = c.benchmark_group("table");
    group.bench_function("parse_embedded", |b| {
        b.iter(|| PriceTable::parse(black_box(EMBEDDED)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, price, ledger, table);
criterion_main!(benches);
