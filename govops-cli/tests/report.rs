//! `govops report` as an operator runs it: over audit logs the real writer wrote (the done-when
//! test: the total is the exact sum of the records' costs), over the telemetry the examples wrote
//! (`tests/fixtures/*-telemetry.jsonl`), both at once, windowed, and on bad input.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use support::govops;

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use govops_core::Violation;
use govops_core::audit::{AuditLog, AuditOptions, AuditRecord, ConfigFingerprint, Timestamp};
use rust_decimal::Decimal;
use serde_json::Value;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// `govops report ARGS --format json`: its JSON (exit 0 asserted).
fn report_json(args: &[&str]) -> Value {
    let mut all = vec!["report", "--format", "json"];
    all.extend(args);
    let out = govops(&all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn dec(value: &Value) -> Decimal {
    Decimal::from_str(value.as_str().unwrap()).unwrap()
}

/// 2026-03-02T00:00:00Z, a Monday, in seconds.
const MONDAY: u64 = 1_772_409_600;

/// Call `i` of the test log: costs of many scales (up to 28 digits), every tenth unpriced, a
/// waste ratio on every third, spread over the week's hours.
fn call(i: u64) -> AuditRecord {
    let unpriced = i % 10 == 9;
    let mut violations = Vec::new();
    let output = if i.is_multiple_of(3) { 100 } else { 400 };
    if i.is_multiple_of(3) {
        violations.push(Violation::TokenWaste);
    }
    if unpriced {
        violations.push(Violation::UnpricedModel);
    }
    if i % 50 == 7 {
        violations.push(Violation::ModelDrift);
    }
    AuditRecord {
        timestamp: Some(Timestamp::from_unix(MONDAY + i * 3_607 % (7 * 86_400), 1)),
        session_id: Some(format!("session-{}", i % 13)),
        user_id: Some(format!("user-{}", i % 4)),
        cost_center: i.is_multiple_of(5).then(|| "CC-9".to_owned()),
        operation: Some("chat".into()),
        request_model: Some(if unpriced { "homegrown-1" } else { "gpt-4o" }.into()),
        provider: Some(
            if i.is_multiple_of(2) {
                "openai"
            } else {
                "azure-openai"
            }
            .into(),
        ),
        input_tokens: Some(1_000),
        output_tokens: Some(output),
        cost_usd: (!unpriced)
            .then(|| Decimal::new((i * 7_919 % 1_000_003) as i64 + 1, (i % 19) as u32 + 6)),
        latency_ms: Some(100.0 + (i % 100) as f64),
        violations,
        ..AuditRecord::default()
    }
}

/// A log of `calls` calls written by the real writer at `dir/audit.jsonl`, rotated every
/// `rotate` bytes when given; its files.
fn write_log(dir: &Path, calls: u64, rotate: Option<u64>) -> Vec<PathBuf> {
    let fingerprint = ConfigFingerprint {
        app: "support-bot".into(),
        environment: "prod".into(),
        cost_center: "CC-1".into(),
        ..ConfigFingerprint::default()
    };
    support::write_log(dir, calls, rotate, fingerprint, call)
}

fn paths(files: &[PathBuf]) -> Vec<&str> {
    files.iter().map(|f| f.to_str().unwrap()).collect()
}

/// The sum of `key` (a decimal string or null) over a list of rows.
fn column_sum(rows: &Value, key: &str) -> Decimal {
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|r| !r[key].is_null())
        .map(|r| dec(&r[key]))
        .sum()
}

#[test]
fn the_total_is_the_exact_sum_of_the_audit_records_costs() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 2_000, Some(64 * 1024));
    assert!(files.len() > 2, "the log rotated: {files:?}");
    let expected: Decimal = (0..2_000).filter_map(|i| call(i).cost_usd).sum();
    let report = report_json(&paths(&files));
    let totals = &report["totals"];
    assert_eq!(dec(&totals["cost_usd"]), expected);
    assert_eq!(totals["cost_exact"], true);
    assert_eq!(totals["calls"], 2_000);
    assert_eq!(totals["audit_calls"], 2_000);
    assert_eq!(totals["unpriced_calls"], 200);
    assert_eq!(totals["priced_calls"], 1_800);
    assert_eq!(totals["input_tokens"], 2_000_000);
    // Every file begins with an open record; the last ends with a close record.
    assert_eq!(
        report["skipped"]["audit_open_close"],
        files.len() as u64 + 1
    );
    // Each dimension and the heatmap add up to the same exact total.
    for dimension in ["model", "provider", "session", "user", "cost_center", "day"] {
        let rows = &report[format!("by_{dimension}")];
        assert_eq!(column_sum(rows, "cost_usd"), expected, "{dimension}");
        let calls: u64 = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["calls"].as_u64().unwrap())
            .sum();
        assert_eq!(calls, 2_000, "{dimension}");
    }
    let cells: Decimal = report["heatmap"]["cost_usd"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|day| day.as_array().unwrap().iter().map(dec))
        .sum();
    assert_eq!(cells, expected);
    // Cost centers: the record's own, else the log's (the writer fills it in).
    let centers: Vec<&str> = report["by_cost_center"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(centers.len(), 2, "{centers:?}");
    assert!(centers.contains(&"CC-9") && centers.contains(&"CC-1"));
    // An unpriced model has no cost, never $0.
    let models = report["by_model"].as_array().unwrap();
    let homegrown = models.iter().find(|m| m["key"] == "homegrown-1").unwrap();
    assert_eq!(homegrown["cost_usd"], Value::Null);
    assert_eq!(homegrown["unpriced_calls"], 200);
    // Waste: input:output above 5:1 (1000:100), every third call.
    let waste_expected: Decimal = (0..2_000)
        .filter(|i| i % 3 == 0)
        .filter_map(|i| call(i).cost_usd)
        .sum();
    assert_eq!(report["waste"]["calls"], 667);
    assert_eq!(dec(&report["waste"]["cost_usd"]), waste_expected);
    let trips = report["guard_trips"].as_array().unwrap();
    let code = |c: &str| trips.iter().find(|t| t["code"] == c).unwrap()["calls"].clone();
    assert_eq!(code("token_waste"), 667);
    assert_eq!(code("unpriced_model"), 200);
    assert_eq!(code("model_drift"), 40);
    // Drift from an audit log: the trips, without figures (the log records the code only).
    let drift = report["drift"].as_array().unwrap();
    assert_eq!(
        drift
            .iter()
            .map(|d| d["events"].as_u64().unwrap())
            .sum::<u64>(),
        40
    );
    assert!(drift.iter().all(|d| d["max_score"].is_null()));
    // Latency per model, nearest rank: 100..199 ms.
    let latency = report["latency_by_model"].as_array().unwrap();
    let gpt = latency.iter().find(|l| l["model"] == "gpt-4o").unwrap();
    assert_eq!(gpt["calls"], 1_800);
    assert!(
        (147.0..=150.0).contains(&gpt["p50_ms"].as_f64().unwrap()),
        "{gpt}"
    );
    assert!(
        (193.0..=195.0).contains(&gpt["p95_ms"].as_f64().unwrap()),
        "{gpt}"
    );

    // The CSV's total row and model rows say the same.
    let mut args = vec!["report", "--format", "csv"];
    args.extend(paths(&files));
    let csv = String::from_utf8(govops(&args).stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "dimension,key,calls,cost_usd,priced_calls,unpriced_calls,input_tokens,output_tokens,rejected_cost_calls"
        )
    );
    let total: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&total[..3], ["total", "all", "2000"]);
    assert_eq!(Decimal::from_str(total[3]).unwrap(), expected);
    assert!(
        csv.contains("\nmodel,homegrown-1,200,,0,200,200000,"),
        "{csv}"
    );
    assert_eq!(
        csv.lines().filter(|l| l.starts_with("heatmap,")).count(),
        168
    );
}

#[test]
fn since_is_inclusive_and_until_exclusive_in_utc() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 300, None);
    let file = files[0].to_str().unwrap();
    let in_window = |since: u64, until: u64| -> (u64, Decimal) {
        let (mut calls, mut cost) = (0, Decimal::ZERO);
        for i in 0..300 {
            let record = call(i);
            let t = record.timestamp.unwrap().since_unix_epoch().as_secs();
            if t >= since && t < until {
                calls += 1;
                cost += record.cost_usd.unwrap_or_default();
            }
        }
        (calls, cost)
    };
    // Tuesday 2026-03-03, the whole day.
    let report = report_json(&[file, "--since", "2026-03-03", "--until", "2026-03-04"]);
    let (calls, cost) = in_window(MONDAY + 86_400, MONDAY + 2 * 86_400);
    assert!(calls > 0);
    assert_eq!(report["totals"]["calls"], calls);
    assert_eq!(dec(&report["totals"]["cost_usd"]), cost);
    assert_eq!(report["skipped"]["outside_window"], 300 - calls);
    assert_eq!(report["window"]["since"], "2026-03-03T00:00:00.000000000Z");
    let days = report["by_day"].as_array().unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0]["key"], "2026-03-03");
    // An RFC 3339 bound with an offset: 2026-03-02T10:00:00+02:00 is 08:00Z. A record exactly
    // at --since is in; one exactly at --until is out.
    let at = call(3).timestamp.unwrap();
    let secs = at.since_unix_epoch().as_secs();
    let report = report_json(&[
        file,
        "--since",
        &at.to_string(),
        "--until",
        &at.to_string().replace(".000000001Z", ".000000002Z"),
    ]);
    assert_eq!(report["totals"]["calls"], 1, "{secs}");
    let report = report_json(&[file, "--until", &at.to_string()]);
    assert_eq!(report["totals"]["calls"], in_window(0, secs).0);
    let report = report_json(&[file, "--since", "2026-03-02T10:00:00+02:00"]);
    assert_eq!(
        report["totals"]["calls"],
        in_window(MONDAY + 8 * 3_600, u64::MAX).0
    );
    // An empty window is a bad flag.
    let out = govops(&[
        "report",
        file,
        "--since",
        "2026-03-04",
        "--until",
        "2026-03-04",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inclusive"));
}

#[test]
fn telemetry_from_the_examples_costs_as_exact_as_its_doubles() {
    let agent = fixture("agent-telemetry.jsonl");
    let failover = fixture("failover-telemetry.jsonl");
    let report = report_json(&[&agent, &failover]);
    // The expected total from another road: each double as Rust prints it, as a decimal.
    let mut expected = Decimal::ZERO;
    let mut governed = 0;
    for file in [&agent, &failover] {
        for line in fs::read_to_string(file).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            for span in v["resourceSpans"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r["scopeSpans"].as_array().unwrap())
                .flat_map(|s| s["spans"].as_array().unwrap())
            {
                governed += 1;
                for kv in span["attributes"].as_array().unwrap() {
                    if kv["key"] == "govops.cost.total_usd" {
                        let double = kv["value"]["doubleValue"].as_f64().unwrap();
                        expected += Decimal::from_str(&double.to_string()).unwrap();
                    }
                }
            }
        }
    }
    assert_eq!(report["totals"]["calls"], governed);
    assert_eq!(report["totals"]["telemetry_calls"], governed);
    assert_eq!(dec(&report["totals"]["cost_usd"]), expected);
    assert_eq!(expected, Decimal::from_str("0.11382").unwrap());
    assert_eq!(report["files"][0]["kind"], "telemetry");
    // The failover example's events: ten retries, one failover, one failback.
    let failover = report["failover"].as_array().unwrap();
    let events = |kind: &str| -> u64 {
        failover
            .iter()
            .filter(|f| f["kind"] == kind)
            .map(|f| f["events"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        (events("retry"), events("failover"), events("failback")),
        (10, 1, 1)
    );
    let failback = failover.iter().find(|f| f["kind"] == "failback").unwrap();
    assert_eq!(
        (&failback["from"], &failback["to"], &failback["reason"]),
        (
            &Value::from("azure-openai"),
            &Value::from("openai"),
            &Value::from("recovered")
        )
    );
    // The agent's tool and agent spans count as calls without a model or a cost.
    let none = report["by_model"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "(none)")
        .unwrap();
    assert_eq!(
        (none["calls"].as_u64(), none["cost_usd"].as_str()),
        (Some(3), Some("0"))
    );
    assert_eq!(report["by_cost_center"][0]["key"], "CC-1234");
}

#[test]
fn drift_trips_carry_their_score_and_signals() {
    let report = report_json(&[&fixture("drift-telemetry.jsonl")]);
    let drift = &report["drift"][0];
    assert_eq!(drift["model"], "claude-sonnet-4-20250514");
    assert_eq!(drift["provider"], "anthropic");
    assert_eq!(drift["events"], 1);
    assert_eq!(drift["max_score"], 0.81);
    assert_eq!(drift["signals"][0]["signal"], "latency:up");
    assert_eq!(report["guard_trips"][0]["code"], "model_drift");
}

/// A telemetry line holding one governed span with these ids and cost.
fn span_line(trace: &str, span: &str, cost: &str, end_nanos: u64) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"govops.cost_center","value":{{"stringValue":"CC-T"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"{trace}","spanId":"{span}","name":"chat gpt-4o","startTimeUnixNano":"{}","endTimeUnixNano":"{end_nanos}","attributes":[{{"key":"gen_ai.operation.name","value":{{"stringValue":"chat"}}}},{{"key":"gen_ai.request.model","value":{{"stringValue":"gpt-4o"}}}},{{"key":"govops.cost.total_usd","value":{{"doubleValue":{cost}}}}},{{"key":"gen_ai.usage.input_tokens","value":{{"intValue":"10"}}}},{{"key":"gen_ai.usage.output_tokens","value":{{"intValue":10}}}}],"events":[]}},{{"traceId":"{trace}","spanId":"ffffffffffffffff","name":"http","attributes":[]}}]}}]}}]}}"#,
        end_nanos - 1_000_000
    )
}

/// `dir/audit.jsonl` holding one gpt-4o call, `record`, at [`MONDAY`] with the trace id (returned)
/// and span id `b7ad6b7169203331`, for a telemetry span of the same call.
fn one_call_log(dir: &Path, record: AuditRecord) -> (PathBuf, &'static str) {
    let path = dir.join("audit.jsonl");
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let log = AuditLog::open(&path, AuditOptions::default()).unwrap();
    log.append(AuditRecord {
        trace_id: Some(trace.into()),
        span_id: Some("b7ad6b7169203331".into()),
        request_model: Some("gpt-4o".into()),
        timestamp: Some(Timestamp::from_unix(MONDAY, 0)),
        ..record
    })
    .unwrap();
    log.shutdown().unwrap();
    (path, trace)
}

#[test]
fn a_call_in_both_an_audit_log_and_telemetry_counts_once_from_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let (path, trace) = one_call_log(
        dir.path(),
        AuditRecord {
            cost_usd: Some(Decimal::from_str("0.000000123456789012345678").unwrap()),
            ..AuditRecord::default()
        },
    );
    let telemetry = dir.path().join("telemetry.jsonl");
    let end = MONDAY * 1_000_000_000;
    fs::write(
        &telemetry,
        format!(
            "{}\n{}\n",
            // The same call (its double), and another call with a cost in exponent form.
            span_line(trace, "b7ad6b7169203331", "1.2345678901234568e-7", end),
            span_line(trace, "00f067aa0ba902b7", "2.5e-05", end + 1),
        ),
    )
    .unwrap();
    // Either order: the audit record wins.
    for files in [[&path, &telemetry], [&telemetry, &path]] {
        let report = report_json(&paths(&files.map(|p| p.clone())));
        assert_eq!(report["totals"]["calls"], 2);
        assert_eq!(report["totals"]["audit_calls"], 1);
        assert_eq!(report["skipped"]["duplicates"], 1);
        assert_eq!(report["skipped"]["ungoverned_spans"], 2);
        assert_eq!(
            dec(&report["totals"]["cost_usd"]),
            Decimal::from_str("0.000025123456789012345678").unwrap()
        );
    }
}

/// The drift and failover rows of a report's JSON: (max score, first signal, events) of the
/// first drift row, and (kind, from, to, reason, events) of each failover row.
fn drift_and_failovers(report: &Value) -> ((Value, Value, Value), Vec<(String, u64)>) {
    let drift = &report["drift"][0];
    let failovers = report["failover"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let text = |k: &str| row[k].as_str().unwrap().to_owned();
            (
                format!(
                    "{} {}->{} {}",
                    text("kind"),
                    text("from"),
                    text("to"),
                    text("reason")
                ),
                row["events"].as_u64().unwrap(),
            )
        })
        .collect();
    (
        (
            drift["max_score"].clone(),
            drift["signals"][0]["signal"].clone(),
            drift["events"].clone(),
        ),
        failovers,
    )
}

#[test]
fn an_audit_log_alone_gives_drift_scores_and_failover_events() {
    use govops_core::audit::{DriftTrip, FailoverMove};
    let dir = tempfile::tempdir().unwrap();
    let moved = |kind: &str, reason: &str| FailoverMove {
        kind: kind.into(),
        from: "openai".into(),
        to: "anthropic".into(),
        reason: reason.into(),
    };
    let files = support::write_log(dir.path(), 3, None, ConfigFingerprint::default(), |i| {
        AuditRecord {
            timestamp: Some(Timestamp::from_unix(MONDAY + i, 0)),
            request_model: Some("gpt-4o".into()),
            provider: Some(if i == 1 { "anthropic" } else { "openai" }.into()),
            violations: if i == 0 {
                vec![Violation::ModelDrift]
            } else {
                Vec::new()
            },
            drift: (i == 0).then(|| DriftTrip {
                score: 0.72,
                signals: vec!["output_tokens:up".into()],
            }),
            failovers: if i == 1 {
                vec![
                    moved("retry", "unavailable"),
                    moved("failover", "breaker_open"),
                ]
            } else {
                Vec::new()
            },
            ..AuditRecord::default()
        }
    });
    let report = report_json(&paths(&files));
    let (drift, failovers) = drift_and_failovers(&report);
    assert_eq!(drift, (0.72.into(), "output_tokens:up".into(), 1.into()));
    let mut failovers = failovers;
    failovers.sort();
    assert_eq!(
        failovers,
        [
            ("failover openai->anthropic breaker_open".to_owned(), 1),
            ("retry openai->anthropic unavailable".to_owned(), 1),
        ]
    );
    let text = govops(&["report", paths(&files)[0]]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("breaker_open"), "{text}");
}

#[test]
fn an_older_audit_record_takes_drift_and_failover_figures_from_its_calls_span() {
    // A record as written before records held `drift` and `failovers`: the code only.
    let dir = tempfile::tempdir().unwrap();
    let (path, trace) = one_call_log(
        dir.path(),
        AuditRecord {
            violations: vec![Violation::ModelDrift],
            cost_usd: Some(Decimal::from_str("0.0045").unwrap()),
            ..AuditRecord::default()
        },
    );
    let events = r#""events":[{"name":"govops.guard.tripped","attributes":[{"key":"govops.violation","value":{"stringValue":"model_drift"}},{"key":"govops.drift.score","value":{"doubleValue":0.64}},{"key":"govops.drift.signals","value":{"arrayValue":{"values":[{"stringValue":"latency:up"}]}}}]},{"name":"govops.failover","attributes":[{"key":"govops.failover.from","value":{"stringValue":"openai"}},{"key":"govops.failover.to","value":{"stringValue":"anthropic"}},{"key":"govops.failover.reason","value":{"stringValue":"unavailable"}},{"key":"govops.failover.kind","value":{"stringValue":"retry"}}]}]"#;
    let telemetry = dir.path().join("telemetry.jsonl");
    let line = span_line(trace, "b7ad6b7169203331", "0.0045", MONDAY * 1_000_000_000).replacen(
        r#""events":[]"#,
        events,
        1,
    );
    fs::write(&telemetry, format!("{line}\n")).unwrap();
    for files in [[&path, &telemetry], [&telemetry, &path]] {
        let report = report_json(&paths(&files.map(|p| p.clone())));
        assert_eq!(report["totals"]["calls"], 1);
        assert_eq!(report["totals"]["audit_calls"], 1);
        let (drift, failovers) = drift_and_failovers(&report);
        assert_eq!(drift, (0.64.into(), "latency:up".into(), 1.into()));
        assert_eq!(
            failovers,
            [("retry openai->anthropic unavailable".to_owned(), 1)]
        );
    }
    // The audit log alone still counts the trip, without figures it never held.
    let report = report_json(&[path.to_str().unwrap()]);
    assert_eq!(report["drift"][0]["events"], 1);
    assert!(report["drift"][0]["max_score"].is_null());
    assert_eq!(report["failover"], Value::Array(Vec::new()));
}

#[test]
fn the_text_report_draws_the_heatmap_as_a_grid_of_shades() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 500, None);
    let mut args = vec!["report"];
    args.extend(paths(&files));
    let out = govops(&args);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("500 calls (500 from audit logs, 0 from telemetry)"),
        "{text}"
    );
    let expected: Decimal = (0..500).filter_map(|i| call(i).cost_usd).sum();
    assert!(
        text.contains(&format!("total cost    ${}", expected.normalize())),
        "{text}"
    );
    assert!(text.contains("the exact sum of the audit records' decimal costs"));
    assert!(text.contains("waste         167 calls"), "{text}");
    assert!(text.contains("  ... 3 more: "), "{text}");
    let grid: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("cost heatmap"))
        .skip(2)
        .take(7)
        .collect();
    assert_eq!(grid.len(), 7);
    for (line, day) in grid
        .iter()
        .zip(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
    {
        assert!(line.starts_with(&format!("  {day}  ")), "{line}");
        let cells: Vec<char> = line.chars().skip(7).take(48).collect();
        assert_eq!(cells.len(), 48, "{line}");
        assert!(cells.iter().all(|c| " ░▒▓█".contains(*c)), "{line}");
    }
    assert!(grid.iter().any(|l| l.contains('█')), "{grid:?}");
    assert!(text.contains("legend: ' ' $0, '░' up to 25%"), "{text}");
}

#[test]
fn a_key_with_a_comma_or_quote_is_quoted_in_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, AuditOptions::default()).unwrap();
    log.append(AuditRecord {
        session_id: Some("a,\"b\"".into()),
        cost_usd: Some(Decimal::new(5, 1)),
        ..AuditRecord::default()
    })
    .unwrap();
    log.shutdown().unwrap();
    let out = govops(&["report", "--format", "csv", path.to_str().unwrap()]);
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.contains("\nsession,\"a,\"\"b\"\"\",1,0.5,1,0,0,0,0\n"),
        "{csv}"
    );
}

#[test]
fn bad_input_exits_2_naming_the_file_the_line_and_what_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 5, None);
    let good = fs::read_to_string(&files[0]).unwrap();
    let bad = dir.path().join("bad.jsonl");
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(3, r#"{"hello":"world"}"#);
    fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let out = govops(&["report", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:4:", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("accepted: audit log records"), "{stderr}");
    assert!(out.stdout.is_empty());

    // A record that is not valid: an unknown violation code.
    let at = good.find("\"violations\":[").unwrap() + "\"violations\":[".len();
    let tampered = format!("{}\"nope\",{}", &good[..at], &good[at..]).replacen(",]", "]", 1);
    fs::write(&bad, tampered).unwrap();
    let out = govops(&["report", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(":2: not an audit record"), "{stderr}");

    // Not JSON at all; a missing file; a bad date.
    fs::write(&bad, "hello\n").unwrap();
    let out = govops(&["report", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":1: not a JSON object"));
    let missing = dir.path().join("missing.jsonl");
    let out = govops(&["report", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let out = govops(&["report", bad.to_str().unwrap(), "--since", "last week"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));
    let out = govops(&["report", "--format", "xml", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));

    // An incomplete last line (a crash during a write) is a warning; the rest is reported.
    let cut = &good[..good.len() - 40];
    fs::write(&bad, cut).unwrap();
    let out = govops(&["report", "--format", "json", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("incomplete last line"));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["totals"]["calls"], 5);
}

/// The page of `files` at `dir/report.html`, written by `govops report --html`.
fn write_page(dir: &Path, files: &[PathBuf]) -> (PathBuf, String) {
    let page = dir.join("report.html");
    let mut args = vec!["report", "--html", page.to_str().unwrap()];
    args.extend(paths(files));
    let out = govops(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("wrote "), "{stdout}");
    let html = fs::read_to_string(&page).unwrap();
    (page, html)
}

#[test]
fn the_html_page_is_one_self_contained_file_with_the_heatmap() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = write_log(dir.path(), 400, None);
    // A session id that is markup, from a hostile caller: it must stay text.
    let hostile = dir.path().join("hostile.jsonl");
    let log = AuditLog::open(&hostile, AuditOptions::default()).unwrap();
    log.append(AuditRecord {
        session_id: Some("<script>alert(1)</script>".into()),
        user_id: Some("\"><img src=x onerror=alert(1)>".into()),
        request_model: Some("gpt-4o".into()),
        cost_usd: Some(Decimal::new(99, 0)),
        timestamp: Some(Timestamp::from_unix(MONDAY, 0)),
        ..AuditRecord::default()
    })
    .unwrap();
    log.shutdown().unwrap();
    files.push(hostile);
    files.push(fixture("failover-telemetry.jsonl").into());
    files.push(fixture("drift-telemetry.jsonl").into());
    let (_, html) = write_page(dir.path(), &files);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    // The charts, inline.
    for id in [
        "heatmap",
        "cost-over-time",
        "top-sessions",
        "top-users",
        "violations",
        "latency",
    ] {
        assert!(html.contains(&format!("<svg id=\"{id}\"")), "{id}");
    }
    let heatmap = &html[html.find("<svg id=\"heatmap\"").unwrap()..];
    let heatmap = &heatmap[..heatmap.find("</svg>").unwrap()];
    assert!(heatmap.matches("<rect").count() >= 168);
    assert!(heatmap.contains(">\nmon\n") && heatmap.contains(">\nsun\n"));
    // Nothing from elsewhere: no URL, no script, no external reference of any kind.
    let lower = html.to_lowercase();
    for forbidden in [
        "http://", "https://", "//cdn", "<script", "<link", "<img", "src=\"", "href=\"", "@import",
        "url(",
    ] {
        assert!(!lower.contains(forbidden), "the page holds {forbidden:?}");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // The figures the page shows are the report's.
    let expected: Decimal = (0..400).filter_map(|i| call(i).cost_usd).sum::<Decimal>()
        + Decimal::new(99, 0)
        + Decimal::from_str("0.10566").unwrap();
    assert!(
        html.contains(&format!("${}", expected.normalize())),
        "{expected}"
    );
    assert!(html.contains("breaker_open") && html.contains("recovered"));
    assert!(html.contains("latency:up"));
}

#[test]
fn a_page_with_one_call_or_none_still_renders() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.jsonl");
    let log = AuditLog::open(&one, AuditOptions::default()).unwrap();
    log.append(AuditRecord {
        request_model: Some("gpt-4o".into()),
        cost_usd: Some(Decimal::new(1, 3)),
        latency_ms: Some(12.0),
        violations: vec![Violation::TokenWaste],
        ..AuditRecord::default()
    })
    .unwrap();
    log.shutdown().unwrap();
    let (_, html) = write_page(dir.path(), std::slice::from_ref(&one));
    assert!(html.contains("<svg id=\"heatmap\""));
    assert!(html.contains("<svg id=\"violations\""));
    assert!(!html.contains("could not be drawn"), "{html}");
    // An empty file: no call at all.
    let empty = dir.path().join("empty.jsonl");
    fs::write(&empty, "").unwrap();
    let (_, html) = write_page(dir.path(), &[empty]);
    assert!(html.contains("<svg id=\"heatmap\""));
    assert!(!html.contains("could not be drawn"), "{html}");
    // A page that cannot be written is exit 2.
    let out = govops(&[
        "report",
        "--html",
        "/nonexistent/dir/r.html",
        one.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write the page"));
}

#[test]
fn the_agent_examples_audit_log_and_its_telemetry_count_each_call_once() {
    // `examples/agent` run with GOVOPS_AUDIT_LOG: its audit log and the telemetry of the same run.
    let audit = fixture("agent-audit.jsonl");
    let telemetry = fixture("agent-audit-telemetry.jsonl");
    let alone = report_json(&[&audit]);
    let both = report_json(&[&telemetry, &audit]);
    for report in [&alone, &both] {
        assert_eq!(report["totals"]["calls"], 5);
        assert_eq!(report["totals"]["audit_calls"], 5);
        assert_eq!(report["totals"]["cost_usd"], "0.01632");
        assert_eq!(report["skipped"]["audit_open_close"], 2);
    }
    assert_eq!(both["skipped"]["duplicates"], 5);
    // A file named twice (`audit.jsonl audit.jsonl*`) is read once, with a warning.
    let out = govops(&["report", "--format", "json", &audit, &audit]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("given more than once"));
    let twice: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(twice["totals"], alone["totals"]);
    assert_eq!(both["by_session"][0]["key"], "session-agent-7");
    assert_eq!(both["by_user"][0]["key"], "customer-314");
    assert_eq!(both["by_cost_center"][0]["key"], "CC-1234");
    assert_eq!(both["files"][0]["kind"], "telemetry");
    assert_eq!(both["files"][1]["kind"], "audit");
}
