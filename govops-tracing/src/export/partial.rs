//! OTLP `partial_success`: a collector may accept an export yet refuse part of it
//! (`rejected_spans`, `rejected_log_records`, `rejected_data_points`). The OTLP exporters report
//! that only as one of their internal log events and return success, so the refusal would be
//! lost. [`Refusals`] is a `tracing` subscriber set as the default only while an export runs
//! (see `otlp::drive`): it reads those events and nothing else, wherever the application's own
//! subscriber sends the rest.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};

/// The fields of the OTLP exporters' partial-success events.
const REJECTED: [&str; 3] = [
    "rejected_spans",
    "rejected_log_records",
    "rejected_data_points",
];

/// Whether `metadata` is one of the exporters' partial-success events.
fn is_partial_success(metadata: &Metadata<'_>) -> bool {
    metadata.is_event()
        && metadata.target().starts_with("opentelemetry")
        && REJECTED
            .iter()
            .any(|f| metadata.fields().field(f).is_some())
}

/// What the collector refused during the exports one exporter ran.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    /// Refused in the export under way; taken by `otlp::drive` when it returns.
    seen: AtomicU64,
    /// Where the signal's accounting settles them, for spans and log records.
    pending: Option<Arc<AtomicU64>>,
}

impl Refusals {
    /// A subscriber adding refusals to `pending` (the signal's accounting) as well.
    pub(crate) fn dispatch(pending: Option<Arc<AtomicU64>>) -> (Dispatch, Arc<Self>) {
        let refusals = Arc::new(Self {
            seen: AtomicU64::new(0),
            pending,
        });
        (Dispatch::new(Catcher(refusals.clone())), refusals)
    }

    /// How many items the collector refused since the last call.
    pub(crate) fn take(&self) -> u64 {
        self.seen.swap(0, Ordering::Relaxed)
    }

    fn add(&self, n: u64) {
        self.seen.fetch_add(n, Ordering::Relaxed);
        if let Some(pending) = &self.pending {
            pending.fetch_add(n, Ordering::Relaxed);
        }
    }
}

struct Catcher(Arc<Refusals>);

impl Subscriber for Catcher {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // Every other callsite stays as cheap as the application's subscriber makes it.
        if is_partial_success(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        is_partial_success(metadata)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut count = Count(0);
        event.record(&mut count);
        self.0.add(count.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The refused count of one event; a negative count (a collector's mistake) refuses nothing.
struct Count(u64);

impl Visit for Count {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if REJECTED.contains(&field.name()) {
            self.0 = self.0.saturating_add(u64::try_from(value).unwrap_or(0));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if REJECTED.contains(&field.name()) {
            self.0 = self.0.saturating_add(value);
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_success_event_is_counted_and_nothing_else() {
        let pending = Arc::new(AtomicU64::new(0));
        let (dispatch, refusals) = Refusals::dispatch(Some(pending.clone()));
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::warn!(target: "opentelemetry-otlp", name = "TonicTracesClient.PartialSuccess", rejected_spans = 7_i64, error_message = "too old");
            tracing::warn!(target: "opentelemetry-otlp", rejected_spans = -3_i64);
            tracing::warn!(target: "app", rejected_spans = 100_i64);
            tracing::warn!(target: "opentelemetry-otlp", other = 5_i64);
        });
        assert_eq!(refusals.take(), 7);
        assert_eq!(refusals.take(), 0, "taken once");
        assert_eq!(pending.load(Ordering::Relaxed), 7);
    }
}
