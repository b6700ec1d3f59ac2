//! No silent loss: every span that ends and every log record emitted is counted, and so is every
//! one that reaches the exporter: delivered, refused by the collector in an answer that was
//! otherwise a success (OTLP `partial_success`), or lost in a failed export. What is left over
//! was dropped by the batch processor, whose queue was full. Each reason is a point of
//! `govops.telemetry.dropped` and a count in the report at shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::logs::Severity;
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter, LogProcessor, SdkLogRecord};
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};

use crate::error::SignalLoss;

/// One signal's accounting (spans, or log records).
#[derive(Debug)]
pub(crate) struct Counts {
    ended: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    /// What the collector's answer to the export under way said it refused, filled in by
    /// [`crate::export::partial`] and settled by [`CountedExporter`] once the export returns.
    pub(crate) pending_rejected: Arc<AtomicU64>,
    /// Items that may be in flight between `ended` and the exporter: the queue and one batch.
    in_flight: u64,
    settled: AtomicBool,
}

impl Counts {
    pub(crate) fn new(queue: usize, batch: usize) -> Arc<Self> {
        Arc::new(Self {
            ended: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            pending_rejected: Arc::new(AtomicU64::new(0)),
            in_flight: u64::try_from(queue.saturating_add(batch)).unwrap_or(u64::MAX),
            settled: AtomicBool::new(false),
        })
    }

    /// Items that failed to export.
    pub(crate) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Items the collector refused in an answer that was otherwise a success.
    pub(crate) fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Ended but not yet delivered, refused or failed.
    fn unaccounted(&self) -> u64 {
        let ended = self.ended.load(Ordering::Relaxed);
        let reached = self.exported.load(Ordering::Relaxed) + self.failed() + self.rejected();
        ended.saturating_sub(reached)
    }

    /// Items dropped before export: exact once the processor has shut down; while it runs, the
    /// items that cannot be in flight (a lower bound that catches up at shutdown).
    pub(crate) fn queue_full(&self) -> u64 {
        let unaccounted = self.unaccounted();
        if self.settled.load(Ordering::Acquire) {
            unaccounted
        } else {
            unaccounted.saturating_sub(self.in_flight)
        }
    }

    /// The whole account: every item ended is delivered, dropped, refused, failed or, when a
    /// shutdown gave up before the processor settled, still in flight.
    pub(crate) fn loss(&self) -> SignalLoss {
        let queue_full = self.queue_full();
        SignalLoss {
            ended: self.ended.load(Ordering::Relaxed),
            exported: self.exported.load(Ordering::Relaxed),
            queue_full,
            export_failed: self.failed(),
            rejected: self.rejected(),
            unsettled: self.unaccounted() - queue_full,
        }
    }

    /// This signal's `govops.telemetry.dropped` data points.
    pub(crate) fn points(&self, signal: &'static str) -> [(u64, [KeyValue; 2]); 3] {
        let point = |value, reason| {
            (
                value,
                [
                    KeyValue::new("signal", signal),
                    KeyValue::new("reason", reason),
                ],
            )
        };
        [
            point(self.queue_full(), "queue_full"),
            point(self.failed(), "export_failed"),
            point(self.rejected(), "rejected"),
        ]
    }

    fn ended_one(&self) {
        self.ended.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the processor's shutdown: once its worker has finished (any outcome but a
    /// timeout), whatever did not reach the exporter never will. After a timeout an export may
    /// still be under way: the shutdown reports that as a timeout, and the queue is not blamed for
    /// what is still in flight.
    fn shut_down(&self, result: &OTelSdkResult) {
        // The SDK reports a worker's timeout inside other errors' text too.
        let timed_out = result.as_ref().is_err_and(|e| {
            matches!(e, OTelSdkError::Timeout(_)) || e.to_string().contains("Timeout")
        });
        if !timed_out {
            self.settled.store(true, Ordering::Release);
        }
    }

    /// Settles one export of `n` items that returned `result`.
    fn exported(&self, n: u64, result: &OTelSdkResult) {
        // A collector may claim to refuse more than it was sent: it cannot refuse what it never got.
        let rejected = self.pending_rejected.swap(0, Ordering::Relaxed).min(n);
        if result.is_ok() {
            self.exported.fetch_add(n - rejected, Ordering::Relaxed);
            self.rejected.fetch_add(rejected, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Counts the spans that end and the log records emitted, in front of the batch processor.
#[derive(Debug)]
pub(crate) struct Counting<P> {
    pub(crate) inner: P,
    pub(crate) counts: Arc<Counts>,
}

impl<P: SpanProcessor> SpanProcessor for Counting<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.counts.ended_one();
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.inner.shutdown_with_timeout(timeout);
        self.counts.shut_down(&result);
        result
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<P: LogProcessor> LogProcessor for Counting<P> {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        self.counts.ended_one();
        self.inner.emit(record, scope);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.inner.shutdown_with_timeout(timeout);
        self.counts.shut_down(&result);
        result
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Counts the items that reach the exporter, and whether they were delivered.
#[derive(Debug)]
pub(crate) struct CountedExporter<E> {
    pub(crate) inner: E,
    pub(crate) counts: Arc<Counts>,
}

/// `export`, with its `n` items counted as delivered or failed once it ends.
async fn counted(
    counts: Arc<Counts>,
    n: u64,
    export: impl Future<Output = OTelSdkResult> + Send,
) -> OTelSdkResult {
    let result = export.await;
    counts.exported(n, &result);
    result
}

impl<E: SpanExporter> SpanExporter for CountedExporter<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let n = batch.len() as u64;
        counted(self.counts.clone(), n, self.inner.export(batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for CountedExporter<E> {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        let n = batch.iter().count() as u64;
        counted(self.counts.clone(), n, self.inner.export(batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A processor whose shutdown times out, as a batch processor with an export still running.
    #[derive(Debug)]
    struct Stuck;

    impl SpanProcessor for Stuck {
        fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &Context) {}
        fn on_end(&self, _: SpanData) {}
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
            Err(OTelSdkError::Timeout(timeout))
        }
    }

    #[test]
    fn a_shutdown_that_timed_out_does_not_blame_the_queue() {
        let counts = Counts::new(2048, 512);
        counts.ended.store(10, Ordering::Relaxed);
        let processor = Counting {
            inner: Stuck,
            counts: counts.clone(),
        };
        assert!(
            processor
                .shutdown_with_timeout(Duration::from_millis(1))
                .is_err()
        );
        assert_eq!(
            counts.queue_full(),
            0,
            "still in flight, not dropped by a full queue"
        );
        assert_eq!(counts.loss().unsettled, 10, "reported as still in flight");
    }

    #[test]
    fn what_never_reached_the_exporter_counts_once_settled() {
        let counts = Counts::new(4, 2);
        counts.ended.store(20, Ordering::Relaxed);
        counts.exported.store(9, Ordering::Relaxed);
        counts.failed.store(3, Ordering::Relaxed);
        // 8 unaccounted, of which up to 6 may still be queued or exporting.
        assert_eq!(counts.queue_full(), 2);
        counts.settled.store(true, Ordering::Release);
        assert_eq!(counts.queue_full(), 8);
        assert_eq!(counts.failed(), 3);
        let loss = counts.loss();
        assert_eq!(
            loss.ended,
            loss.exported + loss.queue_full + loss.export_failed + loss.rejected + loss.unsettled
        );
    }

    #[test]
    fn a_refusal_counts_what_was_sent_at_most() {
        let counts = Counts::new(4, 2);
        counts.ended.store(10, Ordering::Relaxed);
        counts.pending_rejected.store(3, Ordering::Relaxed);
        counts.exported(5, &Ok(()));
        counts.pending_rejected.store(1_000, Ordering::Relaxed);
        counts.exported(5, &Ok(()));
        let loss = counts.loss();
        assert_eq!((loss.exported, loss.rejected), (2, 8));
        // A failed export owes nothing to an earlier answer's refusal.
        counts.pending_rejected.store(2, Ordering::Relaxed);
        counts.exported(4, &Err(OTelSdkError::InternalFailure("503".into())));
        assert_eq!((counts.failed(), counts.rejected()), (4, 8));
    }
}
