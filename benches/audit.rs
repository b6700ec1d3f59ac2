//! What the audit log costs.
//!
//! - `audit/append`: the caller's cost of handing one call record to the writer thread (the
//!   timestamp, boxing, the channel send), in bursts of 1024 that fit the queue; the writer
//!   drains between bursts outside the timing. The writer writes to `/dev/null` here, so that the
//!   millions of records a run hands over do not fill the disk; it still seals every record.
//! - `audit/append_flushed`: wall time per record of bursts handed over and flushed into a real
//!   file: what the writer thread sustains (JSON encoding, SHA-256, `write_all` per batch); the
//!   caller blocks at this rate once the queue is full.
//! - `audit/verify_10k`: `verify` of a 10 000-call log in one file (open and close included).
//!
//! Run: `cargo bench --bench audit`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use govops::Decimal;
use govops::audit::{AuditLog, AuditOptions, AuditRecord, ConfigFingerprint, verify};

const BURST: u64 = 1024;

fn options(rotate_bytes: Option<u64>) -> AuditOptions {
    AuditOptions {
        rotate_bytes,
        fingerprint: Some(ConfigFingerprint {
            app: "support-bot".into(),
            environment: "prod".into(),
            owner: "team-ai".into(),
            cost_center: "CC-1234".into(),
            data_classification: "internal".into(),
            price_table_sha256: "ab".repeat(32),
            contract_version: "1".into(),
            crate_version: "0.1.0".into(),
            ..ConfigFingerprint::default()
        }),
        queue: 4 * BURST as usize,
        ..AuditOptions::default()
    }
}

/// A model call as the tracing layer would record it (about 900 bytes as a line).
fn record(i: u64) -> AuditRecord {
    let mut r = AuditRecord {
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
        span_id: Some("00f067aa0ba902b7".into()),
        session_id: Some("session-42".into()),
        user_id: Some("user-7".into()),
        operation: Some("chat".into()),
        request_model: Some("gpt-4o".into()),
        response_model: Some("gpt-4o-2024-08-06".into()),
        provider: Some("openai".into()),
        input_tokens: Some(1_000 + i % 1000),
        output_tokens: Some(200),
        cost_usd: Some(Decimal::new(45_025, 7)),
        latency_ms: Some(812.4),
        decision: Some(govops::Decision::Allow),
        temperature: Some(0.2),
        max_tokens: Some(512),
        ..AuditRecord::default()
    };
    r.prompt_sha256 =
        Some("73658ea165b9d01143b027c659fe6b60f7aa0b66397913e2a825b29e9b558856".into());
    r.response_sha256 =
        Some("7a163faf95c55be0aa9ebac1f965c6cd3cd8378a5fdf5915da7db553f60adbf7".into());
    r
}

/// Hands `iters` records over in bursts; returns the time spent handing over (`timed_flush`:
/// flush included).
fn bursts(log: &AuditLog, iters: u64, timed_flush: bool, after: impl Fn()) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = (iters - done).min(BURST);
        let records: Vec<AuditRecord> = (0..n).map(|k| record(done + k)).collect();
        let start = Instant::now();
        for r in records {
            log.append(black_box(r)).expect("the log is open");
        }
        if timed_flush {
            log.flush().expect("written");
            total += start.elapsed();
        } else {
            total += start.elapsed();
            log.flush().expect("written");
        }
        after();
        done += n;
    }
    total
}

fn remove_rotated(dir: &Path) {
    for entry in std::fs::read_dir(dir)
        .expect("the bench's directory")
        .flatten()
    {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("flushed.jsonl.") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn audit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut group = c.benchmark_group("audit");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let null = AuditLog::open("/dev/null", options(None)).expect("/dev/null opens");
    group.bench_function("append", |b| {
        b.iter_custom(|iters| bursts(&null, iters, false, || {}))
    });
    null.shutdown().expect("shut down");

    // A real file, rotated at 64 MiB; rotated files are removed between bursts, outside the
    // timing, so that a run does not fill the disk.
    let flushed = AuditLog::open(dir.path().join("flushed.jsonl"), options(Some(64 << 20)))
        .expect("the log opens");
    group.bench_function("append_flushed", |b| {
        b.iter_custom(|iters| bursts(&flushed, iters, true, || remove_rotated(dir.path())))
    });
    flushed.shutdown().expect("shut down");

    let path = dir.path().join("verify.jsonl");
    let log = AuditLog::open(&path, options(None)).expect("the log opens");
    for i in 0..10_000 {
        log.append(record(i)).expect("the log is open");
    }
    log.shutdown().expect("shut down");
    let report = verify(&[&path]).expect("readable");
    assert!(report.is_intact() && report.records == 10_002);
    group.sample_size(20);
    group.bench_function("verify_10k", |b| {
        b.iter(|| verify(black_box(&[&path])).expect("readable"))
    });
    group.finish();
}

criterion_group!(benches, audit);
criterion_main!(benches);
