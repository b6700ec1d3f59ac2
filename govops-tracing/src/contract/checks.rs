//! The checks made when a governed call opens, before its body runs: the policy's allow-lists,
//! the agent-loop guard, in `prod` the caller's ids, a model that drifts now, the context window,
//! content the policy denies, and the budgets the call's worst case is reserved on. Each returns
//! what tripped; a call that trips a `deny` and can return an error is not executed, any other is
//! flagged.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use govops_core::audit::DriftTrip;
use govops_core::budget::{Charge, Exceeded, Reservation};
use govops_core::content::Findings;
use govops_core::contract::attr;
use govops_core::policy::{Figure, Trip};
use govops_core::{Action, Decision, DriftUpdate, Pricing, ServiceTier, Usage, Violation};
use opentelemetry::trace::TraceId;
use opentelemetry::{Array, KeyValue, StringValue, Value};

use super::shared::{DRIFT_TRIAL_EVERY, Shared};
use crate::call::admission::{Admission, AdmittedTrip, Ask, Charged};
use crate::call::{Identity, Operation};
use crate::scan::Scan;

/// What a trip's `govops.guard.tripped` event says besides the violation's code.
#[derive(Debug)]
pub(crate) enum Figures {
    /// The guard's figures, as the event carries them.
    Plain(Vec<KeyValue>),
    /// A `model_drift` trip: the score and the signals that moved, which the audit record keeps
    /// too; `trial` when the call ran as one of a drifting model's trials.
    Drift { trip: DriftTrip, trial: bool },
}

impl Figures {
    /// One figure.
    pub(crate) fn one(key: &'static str, value: impl Into<Value>) -> Self {
        Figures::Plain(vec![KeyValue::new(key, value)])
    }

    /// A `model_drift` trip's figures from the model's drift now.
    pub(crate) fn drift(update: &DriftUpdate, trial: bool) -> Self {
        let signals = update
            .moved()
            .map(|s| format!("{}:{}", s.signal.name(), s.direction.name()))
            .collect();
        Figures::Drift {
            trip: DriftTrip {
                score: update.score,
                signals,
            },
            trial,
        }
    }

    /// The event's attributes: the violation's code, then the figures.
    pub(crate) fn into_event(self, violation: Violation) -> Vec<KeyValue> {
        let code = KeyValue::new("govops.violation", violation.code());
        match self {
            Figures::Plain(mut figures) => {
                figures.insert(0, code);
                figures
            }
            Figures::Drift { trip, trial } => {
                let signals = trip.signals.into_iter().map(StringValue::from).collect();
                let mut figures = vec![
                    code,
                    KeyValue::new(attr::DRIFT_SCORE, trip.score),
                    KeyValue::new(attr::DRIFT_SIGNALS, Value::Array(Array::String(signals))),
                ];
                if trial {
                    figures.push(KeyValue::new("govops.drift.trial", true));
                }
                figures
            }
        }
    }
}

/// A check that tripped when the call opened.
#[derive(Debug)]
pub(crate) struct Tripped {
    pub(crate) violation: Violation,
    pub(crate) figures: Figures,
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
pub(crate) fn figures(trip: Trip) -> (Violation, Figures) {
    let figures = trip
        .figures
        .into_iter()
        .map(|(key, figure)| match figure {
            Figure::Int(n) => KeyValue::new(key, n),
            Figure::Double(d) => KeyValue::new(key, d),
            Figure::Text(t) => KeyValue::new(key, t),
        })
        .collect();
    (trip.violation, Figures::Plain(figures))
}

/// A check that tripped at admission, as the checks at open report theirs.
pub(crate) fn admitted_trip(trip: AdmittedTrip) -> Tripped {
    let (violation, figures, decision) = match trip {
        AdmittedTrip::Loop(trip, decision) => {
            let (violation, figures) = figures(trip);
            (violation, figures, decision)
        }
        AdmittedTrip::Budget(exceeded, decision) => (
            Violation::BudgetExceeded,
            budget_figures(&exceeded),
            decision,
        ),
        AdmittedTrip::Unavailable(error, decision) => (
            Violation::StateUnavailable,
            Figures::Plain(vec![
                KeyValue::new("govops.state.reason", error.reason()),
                KeyValue::new("govops.reason", error.to_string()),
            ]),
            decision,
        ),
    };
    Tripped {
        violation,
        figures,
        decision,
    }
}

/// The figures of a budget a call would pass (before it runs) or passed (after).
pub(crate) fn budget_figures(exceeded: &Exceeded) -> Figures {
    let usd = |d: rust_decimal::Decimal| d.normalize().to_string();
    Figures::Plain(vec![
        KeyValue::new("govops.budget.scope", exceeded.scope.as_str()),
        KeyValue::new("govops.budget.limit_usd", usd(exceeded.limit_usd)),
        KeyValue::new("govops.budget.spent_usd", usd(exceeded.spent_usd)),
        KeyValue::new("govops.budget.reserved_usd", usd(exceeded.reserved_usd)),
        KeyValue::new("govops.budget.call_usd", usd(exceeded.call_usd)),
    ])
}

/// A request's budget key: its trace id in lower-case hex, as `TraceId` displays it, on the
/// stack.
pub(crate) struct RequestKey([u8; 32]);

impl RequestKey {
    pub(crate) fn new(trace: TraceId) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut key = [0_u8; 32];
        for (pair, byte) in key.chunks_exact_mut(2).zip(trace.to_bytes()) {
            pair.copy_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
        }
        RequestKey(key)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Hex digits only: always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// What the checks know of the call that opens.
pub(super) struct Opening<'a> {
    pub(super) identity: &'a Identity,
    pub(super) trace: TraceId,
    /// A tool call's [`call_hash`] (0 for other calls).
    pub(super) call: u64,
    /// The call can return a `govops::Violation` as its error.
    pub(super) deniable: bool,
    /// The prompt's estimated tokens, when declared.
    pub(super) prompt_tokens: Option<u64>,
    /// The most output the call may produce, when declared.
    pub(super) max_tokens: Option<u64>,
    /// What the content scan found in the prompt and in the span's own strings.
    pub(super) found: [(Findings, &'static str); 2],
    pub(super) at: SystemTime,
}

/// What the checks at open came to.
pub(super) struct Checked {
    /// Every check that tripped; the first that denies decides the call.
    pub(super) tripped: Vec<Tripped>,
    /// The budget reserved for the call's worst case, settled when it ends.
    pub(super) reservation: Option<Reservation>,
    /// What the call asks the shared state before it runs.
    pub(super) admission: Option<Admission>,
}

impl Checked {
    /// Why the call must not run, when a check denied it.
    pub(super) fn denied(&self) -> Option<Violation> {
        self.tripped
            .iter()
            .find(|t| t.decision == Decision::Deny)
            .map(|t| t.violation)
    }
}

/// Every check at open, in order; a call already denied reserves no budget.
pub(super) fn at_open(shared: &Shared, scan: Scan, call: &Opening<'_>) -> Checked {
    let checks = Checks { shared, call };
    let mut tripped = Vec::new();
    checks.allowed(&mut tripped);
    tripped.extend(checks.drifting());
    tripped.extend(checks.window());
    checks.content(scan, &mut tripped);
    // With a shared state, what asks it runs after the span opens (`admission`): a tool call
    // always counts; a call already denied reserves no budget.
    let mut ask = None;
    if let Some(trace) = checks.tool_call()
        && shared.states.is_some()
    {
        ask = Some(Ask::ToolCall {
            trace,
            call: call.call,
        });
    }
    // Every call that will run is charged to its budgets, flagged or not; only a denied one is
    // not.
    let mut reservation = None;
    if !tripped.iter().any(|t| t.decision == Decision::Deny) {
        match checks.reserve() {
            Reserving::Local(reserved, over) => {
                reservation = reserved;
                tripped.extend(over);
            }
            Reserving::Shared(reserve) => ask = ask.or(Some(reserve)),
            Reserving::None => {}
        }
    }
    let admission = shared
        .states
        .as_ref()
        .zip(ask)
        .map(|(states, ask)| Admission {
            states: Arc::clone(states),
            ask,
            deniable: call.deniable,
        });
    Checked {
        tripped,
        reservation,
        admission,
    }
}

/// What reserving a call's budgets came to at open.
enum Reserving {
    /// No budget applies.
    None,
    /// Reserved in this process's memory: the reservation, and the budget passed.
    Local(Option<Reservation>, Option<Tripped>),
    /// To be asked of the shared state at admission.
    Shared(Ask),
}

/// The checks of one call.
struct Checks<'a> {
    shared: &'a Shared,
    call: &'a Opening<'a>,
}

impl Checks<'_> {
    /// A trip of `violation`, decided as the policy's action for it says.
    fn trip(&self, (violation, figures): (Violation, Figures)) -> Option<Tripped> {
        let decision = self.shared.policy.guards.action(violation).decision()?;
        Some(Tripped {
            violation,
            figures,
            decision: for_call(decision, self.call.deniable),
        })
    }

    /// The allow-lists, the agent-loop guard (a tool call always counts, whatever else tripped)
    /// and, in `prod`, the caller's ids.
    fn allowed(&self, tripped: &mut Vec<Tripped>) {
        let (shared, identity) = (self.shared, self.call.identity);
        let guards = &shared.policy.guards;
        let tool = (identity.operation == Operation::ExecuteTool)
            .then(|| identity.subject.as_ref().map(StringValue::as_str))
            .flatten();
        if let Some(trip) = shared.policy.check_allowed(
            shared.deployment,
            &shared.prices,
            identity.model.as_ref().map(StringValue::as_str),
            identity.provider.as_ref().map(StringValue::as_str),
            tool,
        ) {
            tripped.extend(self.trip(figures(trip)));
        }
        if let Some(trace) = self.tool_call()
            && shared.states.is_none()
            && let Some(trip) = shared.local.loops.tool_call(trace, self.call.call, guards)
        {
            tripped.extend(self.trip(figures(trip)));
        }
        // Known before the body runs, so that `deny` can keep it from running.
        if shared.prod && !(identity.session_known && identity.user_known) {
            let mut missing = Vec::new();
            if !identity.session_known {
                missing.push(KeyValue::new("govops.missing", attr::SESSION_ID));
            }
            if !identity.user_known {
                missing.push(KeyValue::new("govops.missing", attr::USER_ID));
            }
            tripped.extend(self.trip((Violation::MissingContext, Figures::Plain(missing))));
        }
    }

    /// The trace of a tool call the agent-loop guard counts.
    fn tool_call(&self) -> Option<u128> {
        let guards = &self.shared.policy.guards;
        (self.call.identity.operation == Operation::ExecuteTool && guards.agent_loop != Action::Off)
            .then(|| u128::from_be_bytes(self.call.trace.to_bytes()))
    }

    /// A model that drifts now: known before the call, so that `deny` can keep it from running.
    /// While it drifts under `deny`, one call in [`DRIFT_TRIAL_EVERY`] runs (flagged), so that
    /// its recovery can be seen: a denied call feeds nothing to drift.
    fn drifting(&self) -> Option<Tripped> {
        let (shared, identity) = (self.shared, self.call.identity);
        if !identity.operation.is_model() {
            return None;
        }
        let (drift, model) = (shared.drift.as_ref()?, identity.model.as_ref()?);
        let decision = shared.policy.guards.model_drift.decision()?;
        let provider = identity.provider.as_ref().map_or("", StringValue::as_str);
        if !drift.drifting(model.as_str(), provider) {
            return None;
        }
        let now = drift.current(model.as_str(), provider)?;
        let deniable = self.call.deniable;
        let trial = decision == Decision::Deny
            && deniable
            && shared.drift_denials.fetch_add(1, Ordering::Relaxed) % DRIFT_TRIAL_EVERY
                == DRIFT_TRIAL_EVERY - 1;
        Some(Tripped {
            violation: Violation::ModelDrift,
            figures: Figures::drift(&now, trial),
            decision: if trial {
                Decision::Flag
            } else {
                for_call(decision, deniable)
            },
        })
    }

    /// `context_overflow` before a model call whose prompt is declared (`prompt = ..`): the
    /// estimate against the model's window, as the policy's threshold says.
    fn window(&self) -> Option<Tripped> {
        let (shared, identity) = (self.shared, self.call.identity);
        let prompt = self.call.prompt_tokens?;
        if !identity.operation.is_model() {
            return None;
        }
        let max_input = identity
            .prices(&shared.prices)
            .and_then(|p| p.max_input_tokens());
        let usage = Usage {
            input: prompt,
            // Only the window matters before the call: no output to weigh waste against yet.
            output: prompt,
            ..Usage::default()
        };
        let trip = shared
            .policy
            .check_usage(false, &usage, max_input)
            .into_iter()
            .find(|t| t.violation == Violation::ContextOverflow)?;
        let decision = shared.policy.guards.context_overflow.decision()?;
        let (violation, mut figures) = figures(trip);
        if let Figures::Plain(figures) = &mut figures {
            figures.push(KeyValue::new("govops.estimated", true));
        }
        Some(Tripped {
            violation,
            figures,
            decision: for_call(decision, self.call.deniable),
        })
    }

    /// Content the policy denies stops the call here: in the prompt passed for inspection, or in
    /// what the span itself will carry (a name, a field), which export would redact.
    fn content(&self, scan: Scan, tripped: &mut Vec<Tripped>) {
        for (found, source) in self.call.found {
            for (violation, action) in scan.raised(found) {
                if let Some(decision) = action.decision()
                    && !tripped.iter().any(|t| t.violation == violation)
                {
                    tripped.push(Tripped {
                        violation,
                        figures: Figures::one("govops.found_in", source),
                        decision: for_call(decision, self.call.deniable),
                    });
                }
            }
        }
    }

    /// Reserves a model call's worst case on the budgets it is charged to; a budget it would pass
    /// trips `budget_exceeded`. With a shared state, the reservation is asked at admission.
    fn reserve(&self) -> Reserving {
        let (shared, identity) = (self.shared, self.call.identity);
        let guards = &shared.policy.guards;
        let budgets = &shared.policy.rules(shared.deployment).budgets;
        let any = budgets.request_usd.is_some()
            || budgets.session_usd.is_some()
            || budgets.user_usd.is_some()
            || budgets.cost_center_usd_per_day.is_some();
        if !any || guards.budget == Action::Off || !identity.operation.is_model() {
            return Reserving::None;
        }
        let worst = self.worst_case().unwrap_or_default();
        // The request's key only when a request budget needs one: no formatting otherwise.
        let request = budgets
            .request_usd
            .map(|_| RequestKey::new(self.call.trace));
        let charge = Charge {
            request: request.as_ref().map(RequestKey::as_str),
            session: identity.session_known.then(|| identity.session.as_str()),
            user: identity.user_known.then(|| identity.user.as_str()),
            cost_center: Some(shared.cost_center.as_str()),
        };
        let day = self
            .call
            .at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        let decision = for_call(
            guards.budget.decision().unwrap_or(Decision::Flag),
            self.call.deniable,
        );
        if shared.states.is_some() {
            return Reserving::Shared(Ask::Reserve {
                charged: Charged::from(&charge),
                worst_case_usd: worst,
                day,
                enforce: decision == Decision::Deny,
            });
        }
        match shared.local.ledger.reserve(budgets, &charge, worst, day) {
            Ok(reservation) => Reserving::Local(Some(reservation), None),
            Err(exceeded) => {
                // A call that runs anyway is still charged.
                let reservation = (decision != Decision::Deny).then(|| {
                    shared
                        .local
                        .ledger
                        .reserve_anyway(budgets, &charge, worst, day)
                });
                let tripped = Tripped {
                    violation: Violation::BudgetExceeded,
                    figures: budget_figures(&exceeded),
                    decision,
                };
                Reserving::Local(reservation, Some(tripped))
            }
        }
    }

    /// The call's cost should it read the whole prompt and write `max_tokens`.
    fn worst_case(&self) -> Option<rust_decimal::Decimal> {
        let shared = self.shared;
        let prices = self.call.identity.prices(&shared.prices)?;
        let usage = Usage {
            input: self.call.prompt_tokens.unwrap_or(0),
            output: self.call.max_tokens.unwrap_or(0),
            ..Usage::default()
        };
        match shared
            .prices
            .price_found(prices, &usage, ServiceTier::Standard)
        {
            Ok(Pricing::Priced(cost)) => Some(cost.total_usd),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_key_is_the_trace_id_as_it_displays() {
        for trace in [
            TraceId::from_bytes([0; 16]),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap_or(TraceId::INVALID),
            TraceId::from_bytes([0xff; 16]),
        ] {
            assert_eq!(RequestKey::new(trace).as_str(), format!("{trace}"));
        }
    }
}
