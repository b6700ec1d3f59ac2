//! The agent-loop guard's state (contract section 4, `agent_loop`): per trace (one agent run),
//! the tool calls made and whether the same call repeats, released when the trace ends and
//! bounded in memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::policy::{Action, Figure, Guards, Trip};
use crate::violation::Violation;

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

/// The followed traces, and a logical clock of their use.
type Traces = (HashMap<u128, LoopState, foldhash::fast::RandomState>, u64);

/// The agent-loop guard's per-trace state, released when the trace's governed root closes.
#[derive(Debug, Default)]
pub struct Loops {
    traces: Mutex<Traces>,
}

impl Loops {
    /// Counts one tool call of `trace`; the trip, when this call passes a limit or the trace is
    /// isolated already.
    #[must_use]
    pub fn tool_call(&self, trace: u128, call: u64, guards: &Guards) -> Option<Trip> {
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
            return Some(isolated());
        }
        state.tool_calls += 1;
        if state.last == Some(call) {
            state.repeats += 1;
        } else {
            state.last = Some(call);
            state.repeats = 1;
        }
        let trip = judge(state.tool_calls, state.repeats, guards)?;
        if guards.agent_loop == Action::Deny {
            state.isolated = true;
        }
        Some(trip)
    }

    /// Forgets `trace`: its root closed.
    pub fn release(&self, trace: u128) {
        self.traces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .remove(&trace);
    }

    /// Whether no trace is followed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many traces are followed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.traces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .len()
    }
}

/// The trip of a call to an isolated trace: one that tripped `agent_loop` under `deny` before.
#[must_use]
pub fn isolated() -> Trip {
    Trip {
        violation: Violation::AgentLoop,
        figures: vec![(
            "govops.reason",
            Figure::Text("the trace is isolated after an earlier agent_loop".to_owned()),
        )],
    }
}

/// The trip, when a trace's tool calls so far (`tool_calls`, this one included) or the repeats
/// of this same call in a row pass the guard's limits. Every state keeper (this process's memory,
/// the shared state) counts; this decides, so that they decide alike.
#[must_use]
pub fn judge(tool_calls: u32, repeats: u32, guards: &Guards) -> Option<Trip> {
    let too_many = tool_calls > guards.max_tool_calls;
    let repeated = repeats >= guards.max_repeats;
    if !(too_many || repeated) {
        return None;
    }
    let reason = if too_many {
        "too many tool calls in one agent run"
    } else {
        "the same tool called with the same arguments in a row"
    };
    Some(Trip {
        violation: Violation::AgentLoop,
        figures: vec![
            ("govops.reason", Figure::Text(reason.to_owned())),
            ("govops.tool_calls", Figure::Int(i64::from(tool_calls))),
            (
                "govops.max_tool_calls",
                Figure::Int(i64::from(guards.max_tool_calls)),
            ),
            ("govops.repeats", Figure::Int(i64::from(repeats))),
            (
                "govops.max_repeats",
                Figure::Int(i64::from(guards.max_repeats)),
            ),
        ],
    })
}

/// Drops the least recently used tenth of the traces.
fn evict(traces: &mut HashMap<u128, LoopState, foldhash::fast::RandomState>) {
    let mut touched: Vec<u64> = traces.values().map(|s| s.touched).collect();
    let cut = touched.len() / 10;
    touched.select_nth_unstable(cut);
    let before = touched[cut];
    traces.retain(|_, s| s.touched > before);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_is_counted_until_released_and_others_are_apart() {
        let loops = Loops::default();
        let guards = Guards::default();
        let (a, b) = (1_u128, 2_u128);
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
            let _ = loops.tool_call(t + 1, 0, &guards);
        }
        assert!(loops.len() <= MAX_TRACES, "{}", loops.len());
    }
}
