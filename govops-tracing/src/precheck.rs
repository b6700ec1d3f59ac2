//! Checks made when a governed call opens, before its body runs: the policy's allow-lists, the
//! agent-loop guard and, in `prod`, the caller's ids. A call that trips a `deny` and can return an
//! error is not executed; any other is flagged.

use std::hash::{BuildHasher, Hasher};

use govops_core::contract::attr;
use govops_core::loops::Loops;
use govops_core::policy::{Figure, Trip};
use govops_core::{Action, Decision, Environment, Policy, PriceTable, Violation};
use opentelemetry::trace::TraceId;
use opentelemetry::{KeyValue, StringValue};

use crate::call::{Identity, Operation};

/// A check that tripped when the call opened.
#[derive(Debug)]
pub(crate) struct Tripped {
    pub(crate) violation: Violation,
    pub(crate) figures: Vec<KeyValue>,
    /// The decision it comes to: the policy's action, but `flag` for a call that cannot return
    /// the error (it runs anyway).
    pub(crate) decision: Decision,
}

/// A tool call's identity for repeat detection: its name and its recorded arguments.
pub(crate) fn call_hash<'a>(
    subject: Option<&StringValue>,
    arguments: impl IntoIterator<Item = &'a KeyValue>,
) -> u64 {
    let mut hasher = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
    if let Some(subject) = subject {
        hasher.write(subject.as_str().as_bytes());
    }
    for kv in arguments {
        hasher.write(kv.key.as_str().as_bytes());
        hasher.write_u8(0);
        hasher.write(kv.value.to_string().as_bytes());
        hasher.write_u8(0);
    }
    hasher.finish()
}

/// What a check's decision comes to for a call: a call that cannot return the violation as its
/// error runs anyway, so `deny` becomes `flag` for it.
pub(crate) fn for_call(decision: Decision, deniable: bool) -> Decision {
    if decision == Decision::Deny && !deniable {
        Decision::Flag
    } else {
        decision
    }
}

/// A guard's figures as span event attributes.
pub(crate) fn figures(trip: Trip) -> (Violation, Vec<KeyValue>) {
    let figures = trip
        .figures
        .into_iter()
        .map(|(key, figure)| match figure {
            Figure::Int(n) => KeyValue::new(key, n),
            Figure::Double(d) => KeyValue::new(key, d),
            Figure::Text(t) => KeyValue::new(key, t),
        })
        .collect();
    (trip.violation, figures)
}

/// Everything the checks at open need.
pub(crate) struct Prechecks<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) environment: Environment,
    pub(crate) prices: &'a PriceTable,
    pub(crate) loops: &'a Loops,
    /// Whether this is `prod`, where every governed call must say who called.
    pub(crate) prod: bool,
}

impl Prechecks<'_> {
    /// Every check the call trips when it opens, into `tripped`: the allow-lists, the agent-loop
    /// guard (a tool call always counts, whatever else tripped) and, in `prod`, the caller's ids.
    pub(crate) fn run(
        &self,
        identity: &Identity,
        trace: TraceId,
        call: u64,
        deniable: bool,
        tripped: &mut Vec<Tripped>,
    ) {
        let guards = &self.policy.guards;
        let mut add = |(violation, figures): (Violation, Vec<KeyValue>)| {
            if let Some(decision) = guards.action(violation).decision() {
                tripped.push(Tripped {
                    violation,
                    figures,
                    decision: for_call(decision, deniable),
                });
            }
        };
        let tool = (identity.operation == Operation::ExecuteTool)
            .then(|| identity.subject.as_ref().map(StringValue::as_str))
            .flatten();
        if let Some(trip) = self.policy.check_allowed(
            self.environment,
            self.prices,
            identity.model.as_ref().map(StringValue::as_str),
            identity.provider.as_ref().map(StringValue::as_str),
            tool,
        ) {
            add(figures(trip));
        }
        if identity.operation == Operation::ExecuteTool && guards.agent_loop != Action::Off {
            let trace = u128::from_be_bytes(trace.to_bytes());
            if let Some(trip) = self.loops.tool_call(trace, call, guards) {
                add(figures(trip));
            }
        }
        // Known before the body runs, so that `deny` can keep it from running.
        if self.prod && !(identity.session_known && identity.user_known) {
            let mut missing = Vec::new();
            if !identity.session_known {
                missing.push(KeyValue::new("govops.missing", attr::SESSION_ID));
            }
            if !identity.user_known {
                missing.push(KeyValue::new("govops.missing", attr::USER_ID));
            }
            add((Violation::MissingContext, missing));
        }
    }
}
