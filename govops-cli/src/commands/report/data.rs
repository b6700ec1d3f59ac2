//! `--format json` and `--format csv`: the report for pipelines and spreadsheets. The keys and
//! columns are documented in README.md ("Reports") and are stable: new keys may be added, none is
//! renamed or removed without a new `report_version`.

use std::borrow::Cow;
use std::io::{self, Write};

use serde_json::{Value, json};

use super::summary::{Bucket, Summary, WASTE_RATIO};
use super::time::{self, WEEKDAYS};

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

fn bucket_json(bucket: &Bucket) -> serde_json::Map<String, Value> {
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
        _ => serde_json::Map::new(),
    }
}

fn keyed(name: &str, key: &str, bucket: &Bucket) -> Value {
    let mut map = serde_json::Map::new();
    map.insert(name.to_owned(), Value::String(key.to_owned()));
    map.extend(bucket_json(bucket));
    Value::Object(map)
}

fn double(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// The report as one JSON value.
pub(crate) fn json(summary: &Summary) -> Value {
    let mut report = serde_json::Map::new();
    report.insert("report_version".into(), json!(REPORT_VERSION));
    report.insert(
        "files".into(),
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
            .collect(),
    );
    report.insert(
        "window".into(),
        json!({"since": ts(summary.since), "until": ts(summary.until)}),
    );
    report.insert("first_call".into(), ts(summary.first));
    report.insert("last_call".into(), ts(summary.last));
    let mut totals = bucket_json(&summary.total);
    totals.insert("audit_calls".into(), json!(summary.audit_calls));
    totals.insert("telemetry_calls".into(), json!(summary.telemetry_calls));
    totals.insert("cost_exact".into(), json!(summary.exact()));
    report.insert("totals".into(), Value::Object(totals));
    report.insert(
        "cost_problems".into(),
        summary
            .cost_problems
            .iter()
            .map(|issue| {
                json!({
                    "at": issue.at,
                    "problem": issue.problem.kind(),
                    "value": issue.problem.value(),
                    "message": issue.problem.to_string(),
                    "accepted": crate::shared::amount::ACCEPTED,
                })
            })
            .collect(),
    );
    let s = &summary.skipped;
    report.insert(
        "skipped".into(),
        json!({
            "audit_open_close": s.open_close,
            "ungoverned_spans": s.ungoverned_spans,
            "duplicates": s.duplicates,
            "outside_window": s.outside_window,
            "undated": s.undated,
        }),
    );
    for (dimension, rows) in &summary.by {
        report.insert(
            format!("by_{}", dimension.name()),
            rows.iter()
                .map(|(key, bucket)| keyed("key", key, bucket))
                .collect(),
        );
    }
    let mut waste = serde_json::Map::new();
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
    report.insert(
        "drift".into(),
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
            .collect(),
    );
    report.insert(
        "failover".into(),
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
            .collect(),
    );
    report.insert(
        "latency_by_model".into(),
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
            .collect(),
    );
    report.insert(
        "heatmap".into(),
        json!({
            "weekdays": WEEKDAYS,
            "cost_usd": summary.heatmap.iter().map(|day| day.iter().map(|cell| cell.cost_or_zero().normalize().to_string()).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "calls": summary.heatmap.iter().map(|day| day.iter().map(|cell| cell.calls).collect::<Vec<_>>()).collect::<Vec<_>>(),
        }),
    );
    Value::Object(report)
}

pub(crate) fn write_json(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    crate::shared::out::json(out, &json(summary), true)
}

/// A CSV text cell: control characters escaped (as in the terminal), a cell a spreadsheet would
/// run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) prefixed with
/// a single quote (OWASP's CSV injection advice), and quoted when it must be (RFC 4180; also at a
/// `;`, the separator of some locales, so no cell can start after one).
///
/// Only text from the input (keys, file names) passes here. The number columns are written from
/// counts and from costs that are never negative (a negative cost is rejected when read), so they
/// hold only digits and a point: left as numbers, never prefixed, so that a spreadsheet sums them.
fn field(text: &str) -> Cow<'_, str> {
    let text = crate::shared::out::esc(text);
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let text: Cow<'_, str> = if formula {
        format!("'{text}").into()
    } else {
        text
    };
    if text.contains([',', '"', '\n', '\r', ';']) || formula {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text
    }
}

/// The CSV columns.
pub(crate) const CSV_HEADER: &str = "dimension,key,calls,cost_usd,priced_calls,unpriced_calls,input_tokens,output_tokens,rejected_cost_calls";

/// One row per (dimension, key): `total`, each `by_*` dimension, `waste`, `violation` (per
/// code), `heatmap` (per `weekday HH` cell, all 168) and `cost_problem` (per call whose cost is
/// not accepted: the key is `FILE:LINE: why`). An empty `cost_usd` is a key whose calls are all
/// unpriced or have a cost that is not accepted; `rejected_cost_calls` counts the latter.
pub(crate) fn write_csv(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    let mut row = |dimension: &str, key: &str, b: &Bucket| {
        writeln!(
            out,
            "{dimension},{},{},{},{},{},{},{},{}",
            field(key),
            b.calls,
            b.cost_usd().map(|d| d.to_string()).unwrap_or_default(),
            b.priced_calls,
            b.unpriced_calls,
            b.input_tokens,
            b.output_tokens,
            b.rejected_calls
        )
    };
    row("total", "all", &summary.total)?;
    for (dimension, rows) in &summary.by {
        for (key, bucket) in rows {
            row(dimension.name(), key, bucket)?;
        }
    }
    row(
        "waste",
        &format!("input_output_above_{WASTE_RATIO}"),
        &summary.waste,
    )?;
    for (code, bucket) in &summary.trips {
        row("violation", code, bucket)?;
    }
    for (weekday, hours) in WEEKDAYS.iter().zip(&summary.heatmap) {
        for (hour, bucket) in hours.iter().enumerate() {
            row("heatmap", &format!("{weekday} {hour:02}"), bucket)?;
        }
    }
    let rejected = Bucket {
        calls: 1,
        rejected_calls: 1,
        ..Bucket::default()
    };
    for issue in &summary.cost_problems {
        row(
            "cost_problem",
            &format!(
                "{}: {} is {}",
                issue.at,
                issue.problem.value(),
                issue.problem.kind()
            ),
            &rejected,
        )?;
    }
    Ok(())
}
