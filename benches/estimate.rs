//! What the estimate of a prompt's tokens costs a governed call that declares `prompt = ..`.
//!
//! - `estimate/bytes_1kb`: a token per four bytes of a 1 KiB English prompt (the default build).
//! - `estimate/o200k_1kb` and `estimate/cl100k_1kb` (feature `tiktoken`): the same prompt
//!   encoded with OpenAI's tokenizers, once their tables are built.
//! - `estimate/governed_1kb` (feature `tiktoken`): what `#[governed(chat, model = "gpt-4o",
//!   prompt = ..)]` evaluates for its span field: the model's name formatted, its encoding
//!   chosen, the prompt counted.
//!
//! With the feature, the time to build each table (once per process, on the first estimate) is
//! printed to stderr before the rows.
//!
//! Run: `cargo bench --bench estimate --features tiktoken` (without the feature only the first
//! row).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use govops::cost::tokens::{Estimator, bytes_estimate};

fn estimate(c: &mut Criterion) {
    let text =
        "Where is my order? I placed it last tuesday and it still has not shipped. ".repeat(14);
    let prompt = &text[..1024];

    if govops::cost::tokens::TOKENIZER_BUILT_IN {
        let started = std::time::Instant::now();
        govops::cost::tokens::warm_up(Some("gpt-4o"));
        let o200k = started.elapsed();
        govops::cost::tokens::warm_up(Some("gpt-4"));
        eprintln!(
            "estimate: o200k_base built in {o200k:?}, cl100k_base in {:?} (once per process)",
            started.elapsed() - o200k
        );
        eprintln!(
            "estimate: the 1 KiB prompt is {} tokens at four bytes a token, {} in o200k_base, {} in cl100k_base",
            bytes_estimate(prompt),
            Estimator::O200kBase.count(prompt),
            Estimator::Cl100kBase.count(prompt)
        );
    }

    let mut group = c.benchmark_group("estimate");
    group.bench_function("bytes_1kb", |b| {
        b.iter(|| bytes_estimate(black_box(prompt)))
    });
    if govops::cost::tokens::TOKENIZER_BUILT_IN {
        group.bench_function("o200k_1kb", |b| {
            b.iter(|| Estimator::O200kBase.count(black_box(prompt)))
        });
        group.bench_function("cl100k_1kb", |b| {
            b.iter(|| Estimator::Cl100kBase.count(black_box(prompt)))
        });
        group.bench_function("governed_1kb", |b| {
            b.iter(|| govops::__private::estimate_tokens(black_box(prompt), Some(&"gpt-4o")))
        });
    }
    group.finish();
}

criterion_group!(benches, estimate);
criterion_main!(benches);
