//! A governed call settles when its span closes: everything known at its end (content, usage,
//! cost, budgets, drift, the policy's rules) adds to one [`Settlement`], which decides; then the
//! span ends, the audit record is written and the metrics are recorded.

use std::time::{Duration, SystemTime};

use govops_core::audit::DriftTrip;
use govops_core::content::Findings;
use govops_core::contract::{attr, event};
use govops_core::drift::Observation;
use govops_core::rego::{CallInput, UsageInput};
use govops_core::state::Held;
use govops_core::{Action, Decision, ModelPrices, Pricing, Unpriced, Violation, Violations};
use opentelemetry::trace::Status;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::audit::Audited;
use super::checks::{Figures, RequestKey, Tripped, admitted_trip, budget_figures, figures};
use super::emit::{self, Ending};
use super::shared::Shared;
use super::span::{Governed, Pending};
use crate::call::{CallCell, CallState, Operation, Served};
use crate::capture::{json_text, messages_json};
use crate::metrics::Recorded;
use crate::scan::Scan;

/// Settles the call of a closed governed span.
pub(super) fn settle(shared: &Shared, governed: Governed) {
    let Governed {
        cell,
        started,
        mut pending,
        root_trace,
        tripped,
        reservation,
    } = governed;
    if let Some(trace) = root_trace {
        let trace = u128::from_be_bytes(trace.to_bytes());
        shared.local.loops.release(trace);
        if let Some(states) = &shared.states {
            states.shared.end_trace(trace);
        }
    }
    let ended = shared.clock.after(&started);
    let latency = ended.since(&started);
    let attributes = emit::attributes(pending.as_mut());
    let mut settlement = Settlement::new(shared, &cell, attributes, tripped);
    let scan = Scan::new(&shared.policy.guards);
    settlement.content(scan);
    settlement.usage();
    settlement.price();
    settlement.response();
    settlement.budget(reservation.map(Held::Local));
    settlement.drift(latency);
    settlement.rules();
    let decision = settlement.decide();
    settlement.decided(decision, latency);
    // After its own settlement: the request's account goes with its root.
    if let Some(trace) = root_trace
        && shared
            .policy
            .rules(shared.deployment)
            .budgets
            .request_usd
            .is_some()
    {
        let request = RequestKey::new(trace);
        shared.local.ledger.end_request(request.as_str());
        if let Some(states) = &shared.states {
            states.shared.end_request(request.as_str());
        }
    }
    let times = (started.wall, ended.wall, latency);
    settlement.close(decision, scan, pending, times);
}

/// A call being settled: what it recorded, and what settlement has found so far.
struct Settlement<'a> {
    shared: &'a Shared,
    cell: &'a CallCell,
    state: CallState,
    /// Who served the call, when a router or the application said so.
    served: Option<Served>,
    /// The provider that served the call (or the declared one): priced, measured, followed.
    provider: Option<StringValue>,
    /// The model priced: the served one after a failover to another model.
    model: Option<StringValue>,
    /// The priced model's rates and window.
    prices: Option<&'a ModelPrices>,
    violations: Violations,
    /// What tripped at open decides as it decided then (a call that could not be denied ran and
    /// is flagged).
    decided_at_open: Vec<(Violation, Decision)>,
    trips: Vec<(Violation, Figures)>,
    events: Vec<(&'static str, Vec<KeyValue>)>,
    /// The span's attributes: a list that grows as settlement adds to it.
    attributes: Vec<KeyValue>,
    cost_usd: Option<Decimal>,
    /// What budgets are charged when the call has no exact cost: never nothing.
    budget_charge: Option<Decimal>,
    drift_score: Option<f64>,
    /// The `model_drift` trip, for the audit record.
    drift_trip: Option<DriftTrip>,
    rules_decision: Option<Decision>,
    /// The call's hold on its budgets taken at admission (with a shared state), and whether the
    /// shared state holds it.
    admitted_hold: Option<(Held, bool)>,
}

impl<'a> Settlement<'a> {
    fn new(
        shared: &'a Shared,
        cell: &'a CallCell,
        mut attributes: Vec<KeyValue>,
        tripped: Vec<Tripped>,
    ) -> Self {
        let identity = &cell.identity;
        let mut state = cell.take();
        let admitted = std::mem::take(&mut state.admitted);
        // After a failover the provider (and maybe the model) that served the call is priced,
        // measured and followed for drift; the request model stays what the call asked for.
        let served = state.served.take();
        let provider = served
            .as_ref()
            .map(|s| s.provider.clone())
            .or_else(|| identity.provider.clone());
        let model = served
            .as_ref()
            .and_then(|s| s.model.clone())
            .or_else(|| identity.model.clone());
        if state.response_model.is_none()
            && let Some(model) = served.as_ref().and_then(|s| s.model.as_ref())
        {
            state.response_model = Some(model.as_str().to_owned());
        }
        if served.is_some() {
            // The declared provider gives way to the one that served the call.
            attributes.retain(|kv| kv.key.as_str() != attr::PROVIDER_NAME);
        }
        let prices = identity
            .operation
            .is_model()
            .then(|| {
                let model = model.as_ref()?;
                let provider = provider.as_ref().map(StringValue::as_str);
                shared.prices.lookup(model.as_str(), provider)
            })
            .flatten();
        let guards = &shared.policy.guards;
        // A violation the policy turns off is not raised at all, whoever raised it.
        let mut violations = Violations::new();
        for v in state.violations.iter() {
            if guards.action(v) != Action::Off {
                violations.raise(v);
            }
        }
        let mut settlement = Settlement {
            shared,
            cell,
            state,
            served,
            provider,
            model,
            prices,
            violations,
            decided_at_open: Vec::new(),
            trips: Vec::new(),
            events: Vec::new(),
            attributes,
            cost_usd: None,
            budget_charge: None,
            drift_score: None,
            drift_trip: None,
            rules_decision: None,
            admitted_hold: None,
        };
        let tripped = tripped
            .into_iter()
            .chain(admitted.trips.into_iter().map(admitted_trip));
        settlement.admitted_hold = admitted.held;
        for tripped in tripped {
            settlement.violations.raise(tripped.violation);
            settlement
                .decided_at_open
                .push((tripped.violation, tripped.decision));
            settlement.trips.push((tripped.violation, tripped.figures));
        }
        settlement
    }

    /// Raises `violation` with its event's figures, unless the policy turns it off.
    fn trip(&mut self, violation: Violation, figures: Figures) {
        if self.shared.policy.guards.action(violation) != Action::Off {
            self.violations.raise(violation);
            self.trips.push((violation, figures));
        }
    }

    fn is_model(&self) -> bool {
        self.cell.identity.operation.is_model()
    }

    /// Content: once a call, whichever content found it first (the prompt at open, say). What
    /// settlement adds to the span is redacted as the open's strings were; the error's text is
    /// exported as the span's status, so it is looked at too.
    fn content(&mut self, scan: Scan) {
        let mut content = std::mem::take(&mut self.state.content);
        if scan.enabled() {
            let state = &mut self.state;
            let mut redact = |text: &mut String, source: &'static str| {
                let mut found = Findings::default();
                if let Some(clean) = scan.text(text, &mut found) {
                    *text = clean;
                    content.extend(scan.raised(found).map(|(v, _)| (v, source)));
                }
            };
            for text in state
                .response_model
                .iter_mut()
                .chain(state.finish_reasons.iter_mut())
                .chain(state.output.iter_mut())
            {
                redact(text, "response");
            }
            if let Some(error) = &mut state.error {
                redact(error, "error");
            }
        }
        for (violation, source) in content {
            if !self.violations.contains(violation) {
                self.trip(violation, Figures::one("govops.found_in", source));
            }
        }
    }

    /// A model call's usage on the span, and the policy's checks of it (waste, the window).
    fn usage(&mut self) {
        let Some(usage) = self.state.usage.filter(|_| self.is_model()) else {
            return;
        };
        let push = |attributes: &mut Vec<KeyValue>, key: &'static str, n: u64| {
            attributes.push(KeyValue::new(key, clamp(n)));
        };
        push(&mut self.attributes, attr::INPUT_TOKENS, usage.input);
        push(&mut self.attributes, attr::OUTPUT_TOKENS, usage.output);
        if usage.cache_read > 0 {
            push(
                &mut self.attributes,
                attr::CACHE_READ_TOKENS,
                usage.cache_read,
            );
        }
        let creation = usage.cache_creation.saturating_add(usage.cache_creation_1h);
        if creation > 0 {
            push(&mut self.attributes, attr::CACHE_CREATION_TOKENS, creation);
        }
        if usage.reasoning > 0 {
            push(
                &mut self.attributes,
                attr::REASONING_TOKENS,
                usage.reasoning,
            );
        }
        let max_input = self.prices.and_then(ModelPrices::max_input_tokens);
        if let Some(max) = max_input.filter(|&m| m > 0) {
            #[allow(clippy::cast_precision_loss)] // a ratio, written as a double
            let utilization = usage.input as f64 / max as f64;
            self.attributes
                .push(KeyValue::new(attr::CONTEXT_UTILIZATION, utilization));
        }
        let generates = matches!(
            self.cell.identity.operation,
            Operation::Chat | Operation::TextCompletion
        );
        for tripped in self.shared.policy.check_usage(generates, &usage, max_input) {
            let (violation, figures) = figures(tripped);
            self.trip(violation, figures);
        }
    }

    /// A model call's cost, from its usage and the price table; a call that cannot be priced
    /// is `unpriced_model`.
    fn price(&mut self) {
        if !self.is_model() {
            return;
        }
        let Some(usage) = self.state.usage else {
            if self.prices.is_none() {
                let why = "the model is not in the price table";
                self.trip(Violation::UnpricedModel, Figures::one("govops.reason", why));
            }
            return;
        };
        let tier = self.state.service_tier;
        let priced = match self.prices {
            Some(found) => self.shared.prices.price_found(found, &usage, tier),
            None if self.model.is_some() => Ok(Pricing::Unpriced(Unpriced::UnknownModel)),
            None => return,
        };
        match priced {
            Ok(Pricing::Priced(cost)) => self.cost_usd = Some(cost.total_usd),
            Ok(Pricing::Unpriced(why)) => self.trip(
                Violation::UnpricedModel,
                Figures::one("govops.reason", why.to_string()),
            ),
            Err(rejected) => {
                // No exact cost (usage that contradicts itself, or a cost a Decimal cannot
                // hold): unpriced and flagged, and its budgets are charged the nearest figure,
                // so that the call is never free.
                self.budget_charge = self.prices.map(|p| p.cost_bound(&usage, tier));
                let reason = vec![KeyValue::new("govops.reason", rejected.to_string())];
                self.events.push(("govops.usage.rejected", reason.clone()));
                self.trip(Violation::UnpricedModel, Figures::Plain(reason));
            }
        }
    }

    /// What a model call's response says on the span: its cost, output, model, finish reasons.
    fn response(&mut self) {
        if !self.is_model() {
            return;
        }
        if let Some(cost) = self.cost_usd {
            let usd = cost.to_f64().unwrap_or(f64::NAN);
            self.attributes
                .push(KeyValue::new(attr::COST_TOTAL_USD, usd));
        }
        let state = &mut self.state;
        if let Some(output) = &state.output {
            let finish = state.finish_reasons.first().map(String::as_str);
            self.attributes.push(KeyValue::new(
                attr::OUTPUT_MESSAGES,
                messages_json("assistant", output, finish),
            ));
        }
        if let Some(model) = &state.response_model {
            // Kept in the state for the audit record.
            self.attributes
                .push(KeyValue::new(attr::RESPONSE_MODEL, model.clone()));
        }
        if !state.finish_reasons.is_empty() {
            let reasons = std::mem::take(&mut state.finish_reasons)
                .into_iter()
                .map(StringValue::from);
            self.attributes.push(KeyValue::new(
                attr::FINISH_REASONS,
                Value::Array(Array::String(reasons.collect())),
            ));
        }
    }

    /// Charged in full as soon as the cost is known: a budget its real cost passed is one of the
    /// call's violations, seen by the policy's rules, and flags it (it has run); the next call's
    /// reservation is refused.
    fn budget(&mut self, reservation: Option<Held>) {
        let Some((held, shared)) = reservation
            .map(|held| (held, false))
            .or_else(|| self.admitted_hold.take())
        else {
            return;
        };
        let charge = self.cost_usd.or(self.budget_charge);
        let passed = match (&self.shared.states, shared) {
            (Some(states), true) => {
                let passed = match &held {
                    Held::Shared(hold) => charge.and_then(|cost| hold.passed(cost)),
                    _ => None,
                };
                // Sent, not waited for: the shared state applies it once, retrying it while the
                // server does not answer; the call has run and its span need not wait.
                let settled = states.shared.settle(held, charge);
                if settled.is_ready() {
                    settled.wait().ok().flatten().or(passed)
                } else {
                    passed
                }
            }
            _ => self.shared.local.settle_now(held, charge),
        };
        if let Some(passed) = passed
            && !self.violations.contains(Violation::BudgetExceeded)
            && self.shared.policy.guards.action(Violation::BudgetExceeded) != Action::Off
        {
            self.decided_at_open
                .push((Violation::BudgetExceeded, Decision::Flag));
            self.trip(Violation::BudgetExceeded, budget_figures(&passed));
        }
    }

    /// Drift of the model that served the call, from what it did (a denied call did nothing).
    fn drift(&mut self, latency: Duration) {
        if !self.is_model() || self.cell.denied().is_some() {
            return;
        }
        let (Some(drift), Some(model)) = (&self.shared.drift, &self.model) else {
            return;
        };
        let observation = Observation {
            latency,
            output_tokens: self.state.usage.map(|u| u.output),
            success: self.state.error.is_none(),
            cost_usd: self.cost_usd,
        };
        let provider = self.provider.as_ref().map_or("", StringValue::as_str);
        let Some(update) = drift.observe(model.as_str(), provider, &observation) else {
            return;
        };
        self.drift_score = (!update.warming_up).then_some(update.score);
        if update.drifting && !self.violations.contains(Violation::ModelDrift) {
            self.trip(Violation::ModelDrift, Figures::drift(&update, false));
        }
    }

    /// The policy's own rules, over a document describing the call.
    fn rules(&mut self) {
        let Some(rego) = &self.shared.policy.rego else {
            return;
        };
        let rule = || KeyValue::new("govops.rule", rego.name().to_owned());
        let verdict = rego.evaluate_call(&self.rules_input());
        match verdict {
            Ok(verdict) => {
                for violation in verdict.violations {
                    self.trip(violation, Figures::Plain(vec![rule()]));
                }
                self.rules_decision = verdict.decision;
                for problem in verdict.problems {
                    let figures = vec![rule(), KeyValue::new("govops.reason", problem)];
                    self.events.push(("govops.rego.error", figures));
                }
            }
            Err(error) => {
                // The rules could not decide (a failure, a limit of time or depth): the call is
                // decided as `[guards.policy_rule_failed]` says, never left undecided.
                self.trip(Violation::PolicyRuleFailed, Figures::Plain(vec![rule()]));
                let figures = vec![rule(), KeyValue::new("govops.reason", error)];
                self.events.push(("govops.rego.error", figures));
            }
        }
    }

    /// The document the policy's rules see.
    fn rules_input(&self) -> CallInput<'_> {
        let (shared, identity) = (self.shared, &self.cell.identity);
        let text = |s: &'a Option<StringValue>| s.as_ref().map(StringValue::as_str);
        let subject_if = |op: Operation| {
            (identity.operation == op)
                .then(|| identity.subject.as_ref().map(StringValue::as_str))
                .flatten()
        };
        let mut input = CallInput::new(identity.operation.name(), shared.deployment.as_str());
        input.model = text(&identity.model);
        input.provider = self.provider.as_ref().map(StringValue::as_str);
        input.tool = subject_if(Operation::ExecuteTool);
        input.agent = subject_if(Operation::InvokeAgent);
        input.service = Some(shared.service.as_str());
        input.cost_center = Some(shared.cost_center.as_str());
        input.session = identity.session_known.then(|| identity.session.as_str());
        input.user = identity.user_known.then(|| identity.user.as_str());
        input.usage = self.state.usage.as_ref().map(UsageInput::from);
        input.cost_usd = self.cost_usd.and_then(|c| c.to_f64());
        input.violations = self.violations.iter().map(Violation::code).collect();
        input
    }

    /// The call's decision: the strictest of its violations' (as decided at open, else as the
    /// policy's action says) and the rules'.
    fn decide(&self) -> Decision {
        let guards = &self.shared.policy.guards;
        self.violations
            .iter()
            .filter_map(|v| {
                self.decided_at_open
                    .iter()
                    .filter(|(at_open, _)| *at_open == v)
                    .map(|(_, decided)| *decided)
                    .max()
                    .or_else(|| guards.action(v).decision())
            })
            .chain(self.rules_decision)
            .max()
            .unwrap_or(Decision::Allow)
    }

    /// What the decision adds to the span: the decision, the violations, the latency, the
    /// error, a tool's result; then the trips' and moves' events and the provider that served.
    fn decided(&mut self, decision: Decision, latency: Duration) {
        let codes = self.violations.iter().map(|v| StringValue::from(v.code()));
        let attributes = &mut self.attributes;
        attributes.push(KeyValue::new(attr::POLICY_DECISION, decision.as_str()));
        attributes.push(KeyValue::new(
            attr::SAFETY_VIOLATIONS,
            Value::Array(Array::String(codes.collect())),
        ));
        attributes.push(KeyValue::new(attr::LATENCY_MS, latency.as_secs_f64() * 1e3));
        let state = &self.state;
        if state.error.is_some() {
            attributes.push(KeyValue::new(attr::ERROR_TYPE, "_OTHER"));
        }
        // A tool's result (kept, redacted, only when content is captured), when it succeeded.
        if self.cell.identity.operation == Operation::ExecuteTool
            && state.error.is_none()
            && let Some(result) = &state.output
        {
            attributes.push(KeyValue::new(
                attr::TOOL_CALL_RESULT,
                json_text(result).to_string(),
            ));
        }
        for (violation, figures) in std::mem::take(&mut self.trips) {
            // The audit record keeps the trip's figures as the span event gives them.
            if let Figures::Drift { trip, .. } = &figures
                && self.shared.audit.is_some()
                && self.drift_trip.is_none()
            {
                self.drift_trip = Some(trip.clone());
            }
            self.events
                .push((event::GUARD_TRIPPED, figures.into_event(violation)));
        }
        for moved in &self.state.moves {
            let figures = crate::failover::move_attributes(moved);
            self.events.push((event::FAILOVER, figures));
        }
        if let Some(served) = &self.served {
            self.attributes
                .push(KeyValue::new(attr::PROVIDER_NAME, served.provider.clone()));
        }
    }

    /// The settled call leaves the process: its audit record, its span, its metrics.
    fn close(
        self,
        decision: Decision,
        scan: Scan,
        pending: Option<Pending>,
        (started, ended, latency): (SystemTime, SystemTime, Duration),
    ) {
        let Settlement {
            shared,
            cell,
            mut state,
            attributes,
            events,
            provider,
            model,
            violations,
            cost_usd,
            drift_score,
            drift_trip,
            ..
        } = self;
        if let Some(log) = &shared.audit {
            let record = Audited {
                cell,
                state: &state,
                provider: provider.as_ref(),
                cost_usd,
                latency,
                decision,
                violations: &violations,
                drift: drift_trip,
                ended,
            }
            .record(scan);
            // The writer thread seals and writes it; an error here means the log was shut down.
            let _ = log.append(record);
        }
        let ending = Ending {
            attributes,
            events,
            status: state.error.take().map(Status::error),
            started,
            ended,
        };
        emit::end(shared, cell, pending, ending);
        if let Some(instruments) = &shared.instruments {
            instruments.record(&Recorded {
                operation: cell.identity.operation,
                decision,
                provider: provider.as_ref(),
                model: model.as_ref(),
                usage: &state.usage,
                cost_usd,
                latency,
                violations: &violations,
                drift: drift_score,
                drift_followed: shared.drift.is_some(),
                moves: &state.moves,
                readiness: &state.readiness,
            });
        }
    }
}

/// A count as the `i64` OpenTelemetry carries.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_past_i64_are_clamped() {
        assert_eq!(clamp(7), 7);
        assert_eq!(clamp(u64::MAX), i64::MAX);
    }
}
