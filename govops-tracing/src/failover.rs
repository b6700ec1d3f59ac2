//! What routers report, turned into telemetry: inside a governed call it goes on the call (its
//! `govops.failover` events, the provider that served it, the readiness gauges recorded with
//! the call's metrics); outside one, to the global meter provider (which `init` sets) and the
//! log.

use govops_core::contract::{attr, metric};
use govops_core::failover::{Attempt, FailoverEvent, ProviderInfo, Readiness, Reporter};
use opentelemetry::{KeyValue, StringValue};

use crate::call::{Move, Served, current_call};
use crate::intern::intern;

struct Telemetry;

static TELEMETRY: Telemetry = Telemetry;

/// Makes every router in the process report to the governed call it runs in (idempotent).
pub(crate) fn install() {
    let _ = govops_core::failover::set_reporter(&TELEMETRY);
}

fn text(s: &str) -> StringValue {
    intern(s)
}

impl Reporter for Telemetry {
    fn switched(&self, e: &FailoverEvent) {
        let moved = Move {
            kind: e.kind.as_str(),
            from: text(&e.from),
            to: text(&e.to),
            reason: e.reason.as_str(),
        };
        match current_call() {
            Some(cell) => cell.with_state(|s| s.moves.push(moved)),
            None => outside_call(&moved),
        }
    }

    fn served(&self, provider: &ProviderInfo, failed: &[Attempt]) {
        let Some(cell) = current_call() else {
            return;
        };
        // A router inside a tool or an agent serves a model call of its own: only a model
        // call's provider is the one that served it.
        if !cell.identity.operation.is_model() {
            return;
        }
        let to = text(&provider.name);
        cell.with_state(|s| {
            // Each failed attempt handed the call to the next provider tried.
            for (i, attempt) in failed.iter().enumerate() {
                let next = failed
                    .get(i + 1)
                    .map_or_else(|| to.clone(), |a| text(&a.provider));
                s.moves.push(Move {
                    kind: "retry",
                    from: text(&attempt.provider),
                    to: next,
                    reason: attempt.error.kind().as_str(),
                });
            }
            s.served = Some(Served {
                provider: to,
                model: Some(text(&provider.model)),
            });
        });
    }

    fn readiness(&self, scores: &[Readiness]) {
        match current_call() {
            Some(cell) => cell.with_state(|s| s.readiness = scores.to_vec()),
            None => {
                let gauge = opentelemetry::global::meter(crate::SCOPE)
                    .u64_gauge(metric::FAILOVER_READINESS)
                    .with_unit("1")
                    .with_description("Failover readiness of each secondary provider, 0 to 100")
                    .build();
                for r in scores {
                    gauge.record(u64::from(r.score), &readiness_attributes(r, &[]));
                }
            }
        }
    }
}

/// The attributes of one provider's readiness gauge.
pub(crate) fn readiness_attributes(r: &Readiness, base: &[KeyValue]) -> Vec<KeyValue> {
    let mut attributes = base.to_vec();
    attributes.push(KeyValue::new(attr::PROVIDER_NAME, text(&r.provider)));
    attributes.push(KeyValue::new(attr::REQUEST_MODEL, text(&r.model)));
    attributes
}

/// The attributes of a `govops.failover` event.
pub(crate) fn move_attributes(m: &Move) -> Vec<KeyValue> {
    vec![
        KeyValue::new(attr::FAILOVER_FROM, m.from.clone()),
        KeyValue::new(attr::FAILOVER_TO, m.to.clone()),
        KeyValue::new(attr::FAILOVER_REASON, m.reason),
        KeyValue::new(attr::FAILOVER_KIND, m.kind),
    ]
}

/// A switch made outside any governed call (by a probe, or a router not called from one): a
/// log event and the global meter's counter.
fn outside_call(m: &Move) {
    // The span event's name and keys (`event::FAILOVER`, `attr::FAILOVER_*`).
    let (from, to) = (m.from.as_str(), m.to.as_str());
    tracing::event!(
        target: "govops::failover",
        tracing::Level::INFO,
        govops.failover.from = from,
        govops.failover.to = to,
        govops.failover.reason = m.reason,
        govops.failover.kind = m.kind,
        "govops.failover"
    );
    switches_counter(&opentelemetry::global::meter(crate::SCOPE))
        .add(1, &switch_attributes(m, &[]));
}

/// `govops.failover.switches`.
pub(crate) fn switches_counter(
    meter: &opentelemetry::metrics::Meter,
) -> opentelemetry::metrics::Counter<u64> {
    meter
        .u64_counter(metric::FAILOVER_SWITCHES)
        .with_unit("{switch}")
        .with_description("Failovers, failbacks and retries on another provider")
        .build()
}

/// The attributes of one switch on the counter: low-cardinality only.
pub(crate) fn switch_attributes(m: &Move, base: &[KeyValue]) -> Vec<KeyValue> {
    let mut attributes = base.to_vec();
    attributes.push(KeyValue::new(attr::PROVIDER_NAME, m.to.clone()));
    attributes.push(KeyValue::new(attr::FAILOVER_FROM, m.from.clone()));
    attributes.push(KeyValue::new(attr::FAILOVER_REASON, m.reason));
    attributes.push(KeyValue::new(attr::FAILOVER_KIND, m.kind));
    attributes
}
