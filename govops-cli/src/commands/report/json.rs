//! `--format json`: the report for pipelines, one JSON object built section by section. The keys
//! are documented in docs/cli.md (`govops report`) and are stable: new keys may be added, none is renamed
//! or removed without a new `report_version`.

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use super::summary::{Bucket, Summary, WASTE_RATIO};
use super::time::{self, WEEKDAYS};
use crate::shared::{amount, out};

/// The JSON shape's version (`report_version`).
const REPORT_VERSION: u32 = 1;

fn ts(t: Option<u64>) -> Value {
    t.map_or(Value::Null, |t| Value::String(time::rfc3339(t)))
}

fn cost(bucket: &Bucket) -> Value {
    bucket
        .cost_usd()
        .map_or(Value::Null, |d| Value::String(d.to_string()))
}

fn bucket_json(bucket: &Bucket) -> Map<String, Value> {
    let value = json!({
        "calls": bucket.calls,
        "cost_usd": cost(bucket),
        "priced_calls": bucket.priced_calls,
        "unpriced_calls": bucket.unpriced_calls,
        "rejected_cost_calls": bucket.rejected_calls,
        "input_tokens": bucket.input_tokens,
        "output_tokens": bucket.output_tokens,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn keyed(name: &str, key: &str, bucket: &Bucket) -> Value {
    let mut map = Map::new();
    map.insert(name.to_owned(), Value::String(key.to_owned()));
    map.extend(bucket_json(bucket));
    Value::Object(map)
}

fn double(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Writes the report as pretty JSON.
pub(crate) fn write(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    out::json(out, &report(summary), true)
}

/// The report as one JSON value, its keys in the order of the text report.
fn report(summary: &Summary) -> Value {
    let mut report = Map::new();
    report.insert("report_version".into(), json!(REPORT_VERSION));
    report.insert("files".into(), files(summary));
    report.insert(
        "window".into(),
        json!({"since": ts(summary.since), "until": ts(summary.until)}),
    );
    report.insert("first_call".into(), ts(summary.first));
    report.insert("last_call".into(), ts(summary.last));
    report.insert("totals".into(), totals(summary));
    report.insert("cost_problems".into(), cost_problems(summary));
    report.insert("skipped".into(), skipped(summary));
    for (dimension, rows) in &summary.by {
        report.insert(
            format!("by_{}", dimension.name()),
            rows.iter()
                .map(|(key, bucket)| keyed("key", key, bucket))
                .collect(),
        );
    }
    let mut waste = Map::new();
    waste.insert("ratio_above".into(), json!(WASTE_RATIO));
    waste.extend(bucket_json(&summary.waste));
    report.insert("waste".into(), Value::Object(waste));
    report.insert(
        "guard_trips".into(),
        summary
            .trips
            .iter()
            .map(|(code, bucket)| keyed("code", code, bucket))
            .collect(),
    );
    report.insert("drift".into(), drift(summary));
    report.insert("failover".into(), failover(summary));
    report.insert("latency_by_model".into(), latency(summary));
    report.insert("heatmap".into(), heatmap(summary));
    Value::Object(report)
}

/// Each file read: its path, kind, lines and calls.
fn files(summary: &Summary) -> Value {
    summary
        .files
        .iter()
        .map(|f| {
            json!({
                "path": f.path.display().to_string(),
                "kind": f.kind(),
                "lines": f.lines,
                "calls": f.calls,
            })
        })
        .collect()
}

/// The total bucket, with the calls by source and whether the cost is exact.
fn totals(summary: &Summary) -> Value {
    let mut totals = bucket_json(&summary.total);
    totals.insert("audit_calls".into(), json!(summary.audit_calls));
    totals.insert("telemetry_calls".into(), json!(summary.telemetry_calls));
    totals.insert("cost_exact".into(), json!(summary.exact()));
    Value::Object(totals)
}

/// Every call whose cost is not accepted, with where it is and why.
fn cost_problems(summary: &Summary) -> Value {
    summary
        .cost_problems
        .iter()
        .map(|issue| {
            json!({
                "at": issue.at,
                "problem": issue.problem.kind(),
                "value": issue.problem.value(),
                "message": issue.problem.to_string(),
                "accepted": amount::ACCEPTED,
            })
        })
        .collect()
}

fn skipped(summary: &Summary) -> Value {
    let s = &summary.skipped;
    json!({
        "audit_open_close": s.open_close,
        "ungoverned_spans": s.ungoverned_spans,
        "duplicates": s.duplicates,
        "outside_window": s.outside_window,
        "undated": s.undated,
    })
}

fn drift(summary: &Summary) -> Value {
    summary
        .drift
        .iter()
        .map(|row| {
            json!({
                "model": row.model,
                "provider": row.provider,
                "events": row.events,
                "max_score": row.max_score.map_or(Value::Null, double),
                "first": ts(row.first),
                "last": ts(row.last),
                "signals": row.signals.iter().map(|(s, n)| json!({"signal": s, "events": n})).collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn failover(summary: &Summary) -> Value {
    summary
        .failover
        .iter()
        .map(|row| {
            json!({
                "kind": row.kind,
                "from": row.from,
                "to": row.to,
                "reason": row.reason,
                "events": row.events,
                "first": ts(row.first),
                "last": ts(row.last),
            })
        })
        .collect()
}

fn latency(summary: &Summary) -> Value {
    summary
        .latency
        .iter()
        .map(|row| {
            json!({
                "model": row.model,
                "calls": row.calls,
                "p50_ms": double(row.p50_ms),
                "p95_ms": double(row.p95_ms),
                "max_ms": double(row.max_ms),
            })
        })
        .collect()
}

/// The 7 × 24 cells' costs and calls, Monday first.
fn heatmap(summary: &Summary) -> Value {
    json!({
        "weekdays": WEEKDAYS,
        "cost_usd": summary.heatmap.iter().map(|day| day.iter().map(|cell| cell.cost_or_zero().normalize().to_string()).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "calls": summary.heatmap.iter().map(|day| day.iter().map(|cell| cell.calls).collect::<Vec<_>>()).collect::<Vec<_>>(),
    })
}
