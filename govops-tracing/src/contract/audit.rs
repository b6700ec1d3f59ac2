//! The audit record of a settled call: the contract's fields as its span carries them, the exact
//! cost, the model parameters and content hashes.

use govops_core::audit::{AuditRecord, Content, DriftTrip, FailoverMove, Timestamp};
use govops_core::content::Findings;
use govops_core::{Decision, Violations};
use opentelemetry::StringValue;
use opentelemetry::trace::TraceContextExt;

use crate::call::{CallCell, CallState, Operation};
use crate::scan::Scan;

/// What a call's audit record is made of, at its settlement.
pub(super) struct Audited<'a> {
    pub(super) cell: &'a CallCell,
    pub(super) state: &'a CallState,
    pub(super) provider: Option<&'a StringValue>,
    pub(super) cost_usd: Option<rust_decimal::Decimal>,
    pub(super) latency: std::time::Duration,
    pub(super) decision: Decision,
    pub(super) violations: &'a Violations,
    pub(super) drift: Option<DriftTrip>,
    pub(super) ended: std::time::SystemTime,
}

impl Audited<'_> {
    /// The record: the contract's fields as the span carries them (ids redacted as the span's
    /// are), the exact cost, the model parameters and content hashes; content only when it is
    /// captured. Content and hashes are of the text as redacted when it was recorded
    /// (`govops.prompt` at open, `Call::record_output`), so the chained log never holds a
    /// secret it could not drop. The writer adds the metadata, the configuration's fingerprint and
    /// the chain.
    pub(super) fn record(self, scan: Scan) -> AuditRecord {
        let identity = &self.cell.identity;
        let state = self.state;
        let text = |value: &StringValue| {
            let mut found = Findings::default();
            if scan.enabled() {
                scan.text(value.as_str(), &mut found)
                    .unwrap_or_else(|| value.as_str().to_owned())
            } else {
                value.as_str().to_owned()
            }
        };
        let context = self.cell.cx.span().span_context().clone();
        let usage = state.usage.as_ref();
        let subject = |op: Operation| {
            (identity.operation == op)
                .then(|| identity.subject.as_ref().map(&text))
                .flatten()
        };
        let audit = self.cell.audit.as_deref();
        let content = self.cell.capture.then(|| Content {
            prompt: audit.and_then(|a| a.prompt.clone()),
            response: state.output.clone(),
        });
        AuditRecord {
            timestamp: Some(Timestamp::from_system_time(self.ended)),
            trace_id: context.is_valid().then(|| context.trace_id().to_string()),
            span_id: context.is_valid().then(|| context.span_id().to_string()),
            session_id: Some(text(&identity.session)),
            user_id: Some(text(&identity.user)),
            operation: Some(identity.operation.name().to_owned()),
            request_model: identity.model.as_ref().map(&text),
            response_model: state.response_model.clone(),
            provider: self.provider.map(&text),
            tool_name: subject(Operation::ExecuteTool),
            agent_name: subject(Operation::InvokeAgent),
            input_tokens: usage.map(|u| u.input),
            output_tokens: usage.map(|u| u.output),
            cache_read_tokens: usage.map(|u| u.cache_read).filter(|&n| n > 0),
            cache_creation_tokens: usage
                .map(|u| u.cache_creation.saturating_add(u.cache_creation_1h))
                .filter(|&n| n > 0),
            reasoning_tokens: usage.map(|u| u.reasoning).filter(|&n| n > 0),
            cost_usd: self.cost_usd,
            latency_ms: Some(self.latency.as_secs_f64() * 1e3),
            decision: Some(self.decision),
            violations: self.violations.iter().collect(),
            error_type: state.error.as_ref().map(|_| "_OTHER".to_owned()),
            drift: self.drift,
            failovers: state
                .moves
                .iter()
                .map(|m| FailoverMove {
                    kind: m.kind.to_owned(),
                    from: m.from.as_str().to_owned(),
                    to: m.to.as_str().to_owned(),
                    reason: m.reason.to_owned(),
                })
                .collect(),
            temperature: audit.and_then(|a| a.temperature),
            top_p: audit.and_then(|a| a.top_p),
            seed: audit.and_then(|a| a.seed),
            max_tokens: audit.and_then(|a| a.max_tokens),
            prompt_sha256: audit.and_then(|a| a.prompt_sha256.clone()),
            response_sha256: state.response_sha256.clone(),
            content: content.filter(|c| c.prompt.is_some() || c.response.is_some()),
            ..AuditRecord::default()
        }
    }
}
