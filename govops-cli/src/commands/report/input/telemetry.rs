//! The governed spans of an OTLP-JSON export request (`GOVOPS_TELEMETRY_FILE`, one per line) as
//! calls: their attributes, their guard trips and failover events, their cost checked.

use rust_decimal::Decimal;

use super::call::{Call, CostIssue, Drift, Failover, Source, cost_required};
use super::names::{Names, Sym};
use super::otlp::{AnyValue, Export, KeyValue, Span, find, ids, nanos};
use crate::shared::amount::CostProblem;

/// Adds the governed spans of one export request to `calls`: (how many were added, how many
/// spans were not governed).
pub(super) fn add(
    export: &Export<'_>,
    names: &mut Names,
    calls: &mut Vec<Call>,
    at: &dyn Fn() -> String,
) -> (u64, u64) {
    let (mut added, mut ungoverned) = (0, 0);
    for resource_spans in &export.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map_or(&[][..], |r| &r.attributes[..]);
        let resource_cost_center = find(resource, "govops.cost_center").and_then(AnyValue::str);
        for span in resource_spans.scope_spans.iter().flat_map(|s| &s.spans) {
            let attrs = &span.attributes[..];
            let governed = find(attrs, "govops.contract.version").is_some()
                || find(attrs, "gen_ai.operation.name").is_some();
            if !governed {
                ungoverned += 1;
                continue;
            }
            calls.push(call(span, resource_cost_center, names, at));
            added += 1;
        }
    }
    (added, ungoverned)
}

/// One governed span as a call; its cost center is its own or its resource's.
fn call(
    span: &Span<'_>,
    resource_cost_center: Option<&str>,
    names: &mut Names,
    at: &dyn Fn() -> String,
) -> Call {
    let attrs = &span.attributes[..];
    let text = |key: &str| find(attrs, key).and_then(AnyValue::str);
    let end = nanos(span.end.as_ref());
    let start = nanos(span.start.as_ref());
    let mut violations: Vec<Sym> = find(attrs, "govops.safety.violations")
        .map(|v| v.strings().map(|code| names.intern(code)).collect())
        .unwrap_or_default();
    let listed = find(attrs, "govops.safety.violations").is_some();
    let events = events(span, end, names, (!listed).then_some(&mut violations));
    let latency_ms = find(attrs, "govops.latency_ms")
        .and_then(AnyValue::f64)
        .or_else(|| {
            let (start, end) = (start?, end?);
            end.checked_sub(start).map(|d| d as f64 / 1e6)
        });
    let model = text("gen_ai.request.model").or(text("gen_ai.response.model"));
    let cost_center = text("govops.cost_center").or(resource_cost_center);
    let (cost, cost_problem) = cost(attrs, &violations, names, at);
    Call {
        source: Source::Telemetry,
        time: end,
        id: ids(&span.trace_id, &span.span_id),
        model: names.opt(model),
        provider: names.opt(text("gen_ai.provider.name")),
        session: names.opt(text("session.id")),
        user: names.opt(text("user.id")),
        cost_center: names.opt(cost_center),
        cost,
        cost_problem,
        input_tokens: find(attrs, "gen_ai.usage.input_tokens").and_then(AnyValue::u64),
        output_tokens: find(attrs, "gen_ai.usage.output_tokens").and_then(AnyValue::u64),
        latency_ms,
        violations,
        drift: events.drift,
        failovers: events.failovers,
    }
}

/// What a span's events say: its `model_drift` trips and its failovers.
struct Events {
    drift: Vec<Drift>,
    failovers: Vec<Failover>,
}

/// Reads a span's events (an event without a time is at the span's `end`). `violations`, when
/// the span does not list its codes, gets the code of each guard trip.
fn events(
    span: &Span<'_>,
    end: Option<u64>,
    names: &mut Names,
    mut violations: Option<&mut Vec<Sym>>,
) -> Events {
    let mut found = Events {
        drift: Vec::new(),
        failovers: Vec::new(),
    };
    for event in &span.events {
        let ev = &event.attributes[..];
        let ev_text = |key: &str| find(ev, key).and_then(AnyValue::str);
        let time = nanos(event.time.as_ref()).or(end);
        match &*event.name {
            "govops.guard.tripped" => {
                let code = ev_text("govops.violation");
                if let (Some(violations), Some(code)) = (violations.as_deref_mut(), code) {
                    violations.push(names.intern(code));
                }
                if code == Some("model_drift") {
                    found.drift.push(Drift {
                        time,
                        score: find(ev, "govops.drift.score").and_then(AnyValue::f64),
                        signals: find(ev, "govops.drift.signals")
                            .map(|s| s.strings().map(|s| names.intern(s)).collect())
                            .unwrap_or_default(),
                    });
                }
            }
            "govops.failover" => found.failovers.push(Failover {
                time,
                kind: names.opt(ev_text("govops.failover.kind")),
                from: names.opt(ev_text("govops.failover.from")),
                to: names.opt(ev_text("govops.failover.to")),
                reason: names.opt(ev_text("govops.failover.reason")),
            }),
            _ => {}
        }
    }
    found
}

/// A span's cost, or why it is not accepted: absent on a model call that is not flagged
/// `unpriced_model` (contract section 3), or not a number of dollars within bounds.
fn cost(
    attrs: &[KeyValue<'_>],
    violations: &[Sym],
    names: &Names,
    at: &dyn Fn() -> String,
) -> (Option<Decimal>, Option<Box<CostIssue>>) {
    let operation = find(attrs, "gen_ai.operation.name").and_then(AnyValue::str);
    match find(attrs, "govops.cost.total_usd").map(AnyValue::cost) {
        None if cost_required(operation, violations.iter().map(|&v| names.get(v))) => {
            let problem = CostProblem::Missing;
            (None, Some(Box::new(CostIssue { at: at(), problem })))
        }
        None => (None, None),
        Some(Ok(cost)) => (Some(cost), None),
        Some(Err(problem)) => (None, Some(Box::new(CostIssue { at: at(), problem }))),
    }
}
