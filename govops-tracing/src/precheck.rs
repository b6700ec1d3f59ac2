//! Checks made when a governed call opens, before its body runs: the policy's allow-lists and the
//! agent-loop guard. A call that trips a `deny` and can return an error is not executed; any other
//! is flagged.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Mutex, PoisonError};

use govops_core::policy::{Figure, Trip};
use govops_core::{Action, Decision, Environment, Guards, Policy, PriceTable, Violation};
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

/// One trace's tool calls, for the loop guard.
#[derive(Debug, Default)]
struct LoopState {
    tool_calls: u32,
    last: Option<u64>,
    repeats: u32,
    isolated: bool,
    touched: u64,
}

/// Past this many traces with tool calls in flight, the least recently used are forgotten.
const MAX_TRACES: usize = 100_000;

/// The agent-loop guard's per-trace state, released when the trace's governed root closes.
#[derive(Debug, Default)]
pub(crate) struct Loops {
    traces: Mutex<(
        HashMap<TraceId, LoopState, foldhash::fast::RandomState>,
        u64,
    )>,
}

impl Loops {
    /// Counts one tool call of `trace`; the trip, when this call passes a limit or the trace is
    /// isolated already.
    fn tool_call(&self, trace: TraceId, call: u64, guards: &Guards) -> Option<Vec<KeyValue>> {
        let mut guard = self.traces.lock().unwrap_or_else(PoisonError::into_inner);
        let (traces, clock) = &mut *guard;
        *clock += 1;
        let now = *clock;
        if traces.len() >= MAX_TRACES && !traces.contains_key(&trace) {
            evict(traces);
        }
        let state = traces.entry(trace).or_default();
        state.touched = now;
        if state.isolated {
            return Some(vec![KeyValue::new(
                "govops.reason",
                "the trace is isolated after an earlier agent_loop",
            )]);
        }
        state.tool_calls += 1;
        if state.last == Some(call) {
            state.repeats += 1;
        } else {
            state.last = Some(call);
            state.repeats = 1;
        }
        let too_many = state.tool_calls > guards.max_tool_calls;
        let repeated = state.repeats >= guards.max_repeats;
        if !(too_many || repeated) {
            return None;
        }
        if guards.agent_loop == Action::Deny {
            state.isolated = true;
        }
        Some(vec![
            KeyValue::new(
                "govops.reason",
                if too_many {
                    "too many tool calls in one agent run"
                } else {
                    "the same tool called with the same arguments in a row"
                },
            ),
            KeyValue::new("govops.tool_calls", i64::from(state.tool_calls)),
            KeyValue::new("govops.max_tool_calls", i64::from(guards.max_tool_calls)),
            KeyValue::new("govops.repeats", i64::from(state.repeats)),
            KeyValue::new("govops.max_repeats", i64::from(guards.max_repeats)),
        ])
    }

    /// Forgets `trace`: its root closed.
    pub(crate) fn release(&self, trace: TraceId) {
        self.traces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .remove(&trace);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.traces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .len()
    }
}

/// Drops the least recently used tenth of the traces.
fn evict(traces: &mut HashMap<TraceId, LoopState, foldhash::fast::RandomState>) {
    let mut touched: Vec<u64> = traces.values().map(|s| s.touched).collect();
    let cut = touched.len() / 10;
    touched.select_nth_unstable(cut);
    let before = touched[cut];
    traces.retain(|_, s| s.touched > before);
}

/// A tool call's identity for repeat detection: its name and its recorded arguments.
pub(crate) fn call_hash(subject: Option<&StringValue>, arguments: &[KeyValue]) -> u64 {
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
}

impl Prechecks<'_> {
    /// The first check the call trips, if any.
    pub(crate) fn run(
        &self,
        identity: &Identity,
        trace: TraceId,
        call: u64,
        deniable: bool,
    ) -> Option<Tripped> {
        let guards = &self.policy.guards;
        let tool = (identity.operation == Operation::ExecuteTool)
            .then(|| identity.subject.as_ref().map(StringValue::as_str))
            .flatten();
        let tripped = self
            .policy
            .check_allowed(
                self.environment,
                self.prices,
                identity.model.as_ref().map(StringValue::as_str),
                identity.provider.as_ref().map(StringValue::as_str),
                tool,
            )
            .map(figures);
        let tripped = tripped.or_else(|| {
            (identity.operation == Operation::ExecuteTool && guards.agent_loop != Action::Off)
                .then(|| self.loops.tool_call(trace, call, guards))
                .flatten()
                .map(|figures| (Violation::AgentLoop, figures))
        });
        let (violation, figures) = tripped?;
        let decision = guards.action(violation).decision()?;
        let decision = if decision == Decision::Deny && !deniable {
            Decision::Flag
        } else {
            decision
        };
        Some(Tripped {
            violation,
            figures,
            decision,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_is_counted_until_released_and_others_are_apart() {
        let loops = Loops::default();
        let guards = Guards::default();
        let (a, b) = (TraceId::from(1_u128), TraceId::from(2_u128));
        for i in 0..10 {
            assert!(loops.tool_call(a, i, &guards).is_none(), "call {i}");
        }
        assert!(loops.tool_call(a, 10, &guards).is_some(), "the 11th trips");
        assert!(
            loops.tool_call(a, 11, &guards).is_some(),
            "the trace stays isolated"
        );
        assert!(
            loops.tool_call(b, 0, &guards).is_none(),
            "another trace proceeds"
        );
        assert_eq!(loops.len(), 2);
        loops.release(a);
        assert_eq!(loops.len(), 1);
        assert!(
            loops.tool_call(a, 0, &guards).is_none(),
            "a released trace starts over"
        );
    }

    #[test]
    fn the_state_stays_bounded() {
        let loops = Loops::default();
        let guards = Guards::default();
        for t in 0..(MAX_TRACES as u128 + 10) {
            let _ = loops.tool_call(TraceId::from(t + 1), 0, &guards);
        }
        assert!(loops.len() <= MAX_TRACES, "{}", loops.len());
    }
}
