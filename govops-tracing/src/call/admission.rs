//! Admission: the checks of a governed call that ask the shared guard state (contract section 8)
//! run after its span opens and before its body, so that an async call awaits the server rather
//! than block its runtime's worker thread in the layer. While the shared state does not answer,
//! the call is admitted on this process's own state and carries `state_unavailable`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use govops_core::budget::Exceeded;
use govops_core::policy::Trip;
use govops_core::state::{GuardState, Held, MemoryState, Pending, Reserved, StateError};
use govops_core::{Budgets, Decision, Policy, Violation};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use rust_decimal::Decimal;

/// Whether any contract layer keeps its guard state shared: until one does, admission costs a
/// governed call one atomic load.
pub(crate) static ANY_SHARED: AtomicBool = AtomicBool::new(false);

/// The guard states of one contract layer: the shared one, and this process's own for when the
/// shared one does not answer.
pub(crate) struct States {
    pub(crate) shared: Arc<dyn GuardState>,
    pub(crate) local: Arc<MemoryState>,
    pub(crate) policy: Arc<Policy>,
    pub(crate) budgets: Budgets,
    /// `govops.state.errors`, with the attributes every series of the layer carries.
    pub(crate) errors: Option<(Counter<u64>, [KeyValue; 3])>,
}

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("States")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl States {
    /// Counts a time the shared state did not answer.
    pub(crate) fn count(&self, error: &StateError) {
        if let Some((counter, base)) = &self.errors {
            let mut attributes = Vec::with_capacity(4);
            attributes.extend(base.iter().cloned());
            attributes.push(KeyValue::new("reason", error.reason()));
            counter.add(1, &attributes);
        }
    }
}

/// Who a call is charged to, owned: the admission outlives the span's fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct Charged {
    pub(crate) request: Option<String>,
    pub(crate) session: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) cost_center: Option<String>,
}

impl From<&govops_core::budget::Charge<'_>> for Charged {
    fn from(charge: &govops_core::budget::Charge<'_>) -> Self {
        Charged {
            request: charge.request.map(str::to_owned),
            session: charge.session.map(str::to_owned),
            user: charge.user.map(str::to_owned),
            cost_center: charge.cost_center.map(str::to_owned),
        }
    }
}

impl Charged {
    fn charge(&self) -> govops_core::budget::Charge<'_> {
        govops_core::budget::Charge {
            request: self.request.as_deref(),
            session: self.session.as_deref(),
            user: self.user.as_deref(),
            cost_center: self.cost_center.as_deref(),
        }
    }
}

/// What a call asks the shared state before it runs.
#[derive(Debug)]
pub(crate) enum Ask {
    /// A tool call of a trace, for the agent-loop guard.
    ToolCall { trace: u128, call: u64 },
    /// A model call's worst case, reserved on its budgets.
    Reserve {
        charged: Charged,
        worst_case_usd: Decimal,
        day: u64,
        enforce: bool,
    },
}

/// A call's admission, waiting in its cell for the macro's code to run it.
#[derive(Debug)]
pub(crate) struct Admission {
    pub(crate) states: Arc<States>,
    pub(crate) ask: Ask,
    /// The call can return a `Violation` as its error.
    pub(crate) deniable: bool,
}

/// What the shared state (or, failing it, this process's) answered.
// Held briefly, in a future boxed only when a shared state is set: its size costs nothing else.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Answer {
    Loop(Option<Trip>),
    Budget(Reserved),
}

/// An answer on its way.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Asked {
    Loop(Pending<Option<Trip>>),
    Budget(Pending<Reserved>),
}

impl Asked {
    /// Awaits the answer (async callers: the worker thread is not blocked).
    pub(crate) async fn answer(self) -> Result<Answer, StateError> {
        match self {
            Asked::Loop(p) => p.await.map(Answer::Loop),
            Asked::Budget(p) => p.await.map(Answer::Budget),
        }
    }

    /// Waits for the answer (sync callers).
    pub(crate) fn wait(self) -> Result<Answer, StateError> {
        match self {
            Asked::Loop(p) => p.wait().map(Answer::Loop),
            Asked::Budget(p) => p.wait().map(Answer::Budget),
        }
    }
}

/// One check that tripped at admission, with the decision it comes to for the call.
#[derive(Debug)]
pub(crate) enum AdmittedTrip {
    /// `agent_loop`, with the guard's figures.
    Loop(Trip, Decision),
    /// `budget_exceeded` before the call: the budget its worst case passes.
    Budget(Exceeded, Decision),
    /// `state_unavailable`: why the shared state did not answer.
    Unavailable(StateError, Decision),
}

impl AdmittedTrip {
    fn decision(&self) -> Decision {
        match self {
            AdmittedTrip::Loop(_, d)
            | AdmittedTrip::Budget(_, d)
            | AdmittedTrip::Unavailable(_, d) => *d,
        }
    }

    fn violation(&self) -> Violation {
        match self {
            AdmittedTrip::Loop(trip, _) => trip.violation,
            AdmittedTrip::Budget(..) => Violation::BudgetExceeded,
            AdmittedTrip::Unavailable(..) => Violation::StateUnavailable,
        }
    }
}

/// What admission came to: settlement reads it.
#[derive(Debug, Default)]
pub(crate) struct Admitted {
    pub(crate) trips: Vec<AdmittedTrip>,
    /// The call's hold on its budgets, and whether the shared state (not this process's own)
    /// holds it: the state that holds it settles it.
    pub(crate) held: Option<(Held, bool)>,
}

impl Admitted {
    /// Why the call must not run, when a check at admission denied it.
    pub(crate) fn denied(&self) -> Option<Violation> {
        self.trips
            .iter()
            .find(|t| t.decision() == Decision::Deny)
            .map(AdmittedTrip::violation)
    }
}

/// A call that cannot return the violation as its error runs anyway: `deny` becomes `flag`.
fn for_call(decision: Decision, deniable: bool) -> Decision {
    if decision == Decision::Deny && !deniable {
        Decision::Flag
    } else {
        decision
    }
}

impl Admission {
    /// Sends the question to the shared state.
    pub(crate) fn ask(&self) -> Asked {
        self.ask_of(&*self.states.shared)
    }

    fn ask_of(&self, state: &dyn GuardState) -> Asked {
        match &self.ask {
            Ask::ToolCall { trace, call } => {
                Asked::Loop(state.tool_call(*trace, *call, &self.states.policy.guards))
            }
            Ask::Reserve {
                charged,
                worst_case_usd,
                day,
                enforce,
            } => Asked::Budget(state.reserve(
                &self.states.budgets,
                &charged.charge(),
                *worst_case_usd,
                *day,
                *enforce,
            )),
        }
    }

    /// What the answer comes to; while the shared state does not answer, this process's own
    /// state answers and the call carries `state_unavailable`.
    pub(crate) fn conclude(self, answer: Result<Answer, StateError>) -> Admitted {
        let mut admitted = Admitted::default();
        let shared = answer.is_ok();
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                self.states.count(&error);
                let guards = &self.states.policy.guards;
                if let Some(decision) = guards.action(Violation::StateUnavailable).decision() {
                    admitted.trips.push(AdmittedTrip::Unavailable(
                        error,
                        for_call(decision, self.deniable),
                    ));
                }
                // This process's memory answers at once.
                match self.ask_of(&*self.states.local).wait() {
                    Ok(answer) => answer,
                    Err(_) => return admitted,
                }
            }
        };
        let guards = &self.states.policy.guards;
        match answer {
            Answer::Loop(trip) => {
                if let Some(trip) = trip
                    && let Some(decision) = guards.action(Violation::AgentLoop).decision()
                {
                    admitted
                        .trips
                        .push(AdmittedTrip::Loop(trip, for_call(decision, self.deniable)));
                }
            }
            Answer::Budget(reserved) => {
                admitted.held = reserved.held.map(|held| (held, shared));
                if let Some(exceeded) = reserved.exceeded {
                    let decision = guards.budget.decision().unwrap_or(Decision::Flag);
                    admitted.trips.push(AdmittedTrip::Budget(
                        exceeded,
                        for_call(decision, self.deniable),
                    ));
                }
            }
        }
        admitted
    }
}
