//! An audit record (`GOVOPS_AUDIT_LOG`, one per line) as a call: its cost checked before the
//! record is read, so that a cost that is not accepted is named rather than failing the line.

use govops_core::audit::AuditRecord;
use rust_decimal::Decimal;
use serde_json::value::RawValue;

use super::call::{Call, CostIssue, Drift, Failover, Source, cost_required};
use super::names::{Names, Sym};
use super::otlp::ids;
use crate::shared::amount::{self, CostProblem};

/// An audit record's cost as written: a decimal string (a JSON number is read the same way).
pub(super) fn cost(raw: &RawValue) -> Result<Decimal, CostProblem> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => match serde_json::from_str::<String>(text) {
            Ok(unquoted) => amount::from_text(&unquoted),
            Err(_) => Err(CostProblem::NotANumber(text.to_owned())),
        },
        Some(b'-' | b'0'..=b'9') => amount::from_text(text),
        _ => Err(CostProblem::NotANumber(text.chars().take(64).collect())),
    }
}

/// Reads an audit record whose cost was checked apart. A cost that is not accepted, or is not
/// the decimal string the record's type reads, is replaced by `null` in the line before the
/// record is read (the same strict reading: a duplicate key is still an error), so that only the
/// cost is left out. The record's `cost_usd` is the checked cost. The error says why the line is
/// not a record; the caller adds what is accepted.
pub(super) fn record(
    line: &str,
    cost: Option<(&RawValue, &Result<Decimal, CostProblem>)>,
) -> Result<AuditRecord, String> {
    let not_audit = |e: serde_json::Error| format!("not an audit record ({e})");
    let mut record = match cost {
        Some((raw, checked)) if checked.is_err() || !raw.get().starts_with('"') => {
            // The raw value borrows from the line: where it is in it.
            let start = (raw.get().as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
            let end = start.saturating_add(raw.get().len());
            let (Some(before), Some(after)) = (line.get(..start), line.get(end..)) else {
                return Err("not an audit record (its cost cannot be read)".to_owned());
            };
            serde_json::from_str::<AuditRecord>(&format!("{before}null{after}"))
                .map_err(not_audit)?
        }
        _ => serde_json::from_str::<AuditRecord>(line).map_err(not_audit)?,
    };
    record.cost_usd = cost.and_then(|(_, c)| c.as_ref().ok()).copied();
    Ok(record)
}

/// The call of a `call` record; `cost` is its cost as checked (`None` when it has none), and a
/// cost that is not accepted, or missing where the contract requires one, is named at `at`.
pub(super) fn call(
    record: &AuditRecord,
    cost: Option<Result<Decimal, CostProblem>>,
    names: &mut Names,
    at: &dyn Fn() -> String,
) -> Call {
    let mut call = fields(record, names);
    let missing = record.cost_usd.is_none()
        && cost.is_none()
        && cost_required(
            record.operation.as_deref(),
            record.violations.iter().map(|v| v.code()),
        );
    let problem = match cost {
        Some(Err(problem)) => Some(problem),
        _ => missing.then_some(CostProblem::Missing),
    };
    if let Some(problem) = problem {
        call.cost_problem = Some(Box::new(CostIssue { at: at(), problem }));
    }
    call
}

/// What the report reads of a record.
fn fields(record: &AuditRecord, names: &mut Names) -> Call {
    let time = record
        .timestamp
        .map(|t| u64::try_from(t.since_unix_epoch().as_nanos()).unwrap_or(u64::MAX));
    let violations: Vec<Sym> = record
        .violations
        .iter()
        .map(|v| names.intern(v.code()))
        .collect();
    let drift = record
        .violations
        .iter()
        .filter(|v| v.code() == "model_drift")
        .map(|_| Drift {
            time,
            score: record.drift.as_ref().map(|d| d.score),
            signals: record
                .drift
                .iter()
                .flat_map(|d| &d.signals)
                .map(|signal| names.intern(signal))
                .collect(),
        })
        .collect();
    let failovers = record
        .failovers
        .iter()
        .map(|m| Failover {
            time,
            kind: names.intern(&m.kind),
            from: names.intern(&m.from),
            to: names.intern(&m.to),
            reason: names.intern(&m.reason),
        })
        .collect();
    let model = record
        .request_model
        .as_deref()
        .or(record.response_model.as_deref());
    Call {
        source: Source::Audit,
        time,
        id: record
            .trace_id
            .as_deref()
            .zip(record.span_id.as_deref())
            .and_then(|(t, s)| ids(t, s)),
        model: names.opt(model),
        provider: names.opt(record.provider.as_deref()),
        session: names.opt(record.session_id.as_deref()),
        user: names.opt(record.user_id.as_deref()),
        cost_center: names.opt(record.cost_center.as_deref()),
        cost: record.cost_usd,
        cost_problem: None,
        input_tokens: record.input_tokens,
        output_tokens: record.output_tokens,
        latency_ms: record.latency_ms,
        violations,
        drift,
        failovers,
    }
}
