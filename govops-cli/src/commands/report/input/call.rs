//! One governed call as the report counts it, from either kind of file.

use std::fmt;

use rust_decimal::Decimal;

use super::names::Sym;
use crate::shared::amount::CostProblem;

/// Where a call was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Audit,
    Telemetry,
}

/// A `model_drift` trip.
pub(crate) struct Drift {
    pub(crate) time: Option<u64>,
    /// The score (absent from audit records written before they held it).
    pub(crate) score: Option<f64>,
    pub(crate) signals: Vec<Sym>,
}

/// A `govops.failover` span event, or one of an audit record's `failovers`.
pub(crate) struct Failover {
    pub(crate) time: Option<u64>,
    pub(crate) kind: Sym,
    pub(crate) from: Sym,
    pub(crate) to: Sym,
    pub(crate) reason: Sym,
}

/// One governed call, from either kind of file.
pub(crate) struct Call {
    pub(crate) source: Source,
    /// When it ended, nanoseconds since the epoch (UTC).
    pub(crate) time: Option<u64>,
    /// (trace id, span id), to count a call found in both kinds of file once.
    pub(crate) id: Option<(u128, u64)>,
    pub(crate) model: Sym,
    pub(crate) provider: Sym,
    pub(crate) session: Sym,
    pub(crate) user: Sym,
    pub(crate) cost_center: Sym,
    /// Exact for audit records; for telemetry, the double's JSON text read as a decimal. `None`
    /// when the call carries none, or one that is not accepted ([`Call::cost_problem`]).
    pub(crate) cost: Option<Decimal>,
    /// A cost the call carries that is not accepted: left out of every total, and named.
    pub(crate) cost_problem: Option<Box<CostIssue>>,
    pub(crate) input_tokens: Option<u64>,
    pub(crate) output_tokens: Option<u64>,
    pub(crate) latency_ms: Option<f64>,
    pub(crate) violations: Vec<Sym>,
    pub(crate) drift: Vec<Drift>,
    pub(crate) failovers: Vec<Failover>,
}

/// A call's cost that is not accepted, and where the call is.
#[derive(Debug, Clone)]
pub(crate) struct CostIssue {
    /// `FILE:LINE`.
    pub(crate) at: String,
    pub(crate) problem: CostProblem,
}

impl fmt::Display for CostIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.problem)
    }
}

/// Whether a call of `operation` that carries `violations` must carry a cost (contract section 3:
/// a model call has one exactly when it is not flagged `unpriced_model`); a call that has none is
/// a cost problem, never $0.
pub(super) fn cost_required<'a>(
    operation: Option<&str>,
    mut violations: impl Iterator<Item = &'a str>,
) -> bool {
    operation
        .and_then(govops_protocol::by_operation)
        .is_some_and(|k| k.class == govops_protocol::Class::Model)
        && !violations.any(|code| code == "unpriced_model")
}
