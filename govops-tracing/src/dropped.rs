//! No silent loss: every span that ends is counted, and so is every span that reaches the
//! exporter or fails there. What is left over was dropped by the batch processor, whose queue was
//! full: reported as `govops.telemetry.dropped` and in the warning at shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};

/// The pipeline's span accounting.
#[derive(Debug)]
pub(crate) struct SpanCounts {
    ended: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    /// Spans that may be in flight between `ended` and the exporter: the queue and one batch.
    in_flight: u64,
    settled: AtomicBool,
}

impl SpanCounts {
    pub(crate) fn new(queue: usize, batch: usize) -> Arc<Self> {
        Arc::new(Self {
            ended: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            in_flight: u64::try_from(queue.saturating_add(batch)).unwrap_or(u64::MAX),
            settled: AtomicBool::new(false),
        })
    }

    /// Spans that failed to export.
    pub(crate) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Spans dropped before export: exact once the processor has shut down; while it runs, the
    /// spans that cannot be in flight (a lower bound that catches up at shutdown).
    pub(crate) fn queue_full(&self) -> u64 {
        let settled = self.settled.load(Ordering::Acquire);
        let ended = self.ended.load(Ordering::Relaxed);
        let reached = self.exported.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed);
        let unaccounted = ended.saturating_sub(reached);
        if settled {
            unaccounted
        } else {
            unaccounted.saturating_sub(self.in_flight)
        }
    }

    /// The `govops.telemetry.dropped` data points.
    pub(crate) fn points(&self) -> [(u64, [KeyValue; 1]); 2] {
        [
            (self.queue_full(), [KeyValue::new("reason", "queue_full")]),
            (self.failed(), [KeyValue::new("reason", "export_failed")]),
        ]
    }
}

/// Counts the spans that end, in front of the batch processor.
#[derive(Debug)]
pub(crate) struct Counting<P> {
    pub(crate) inner: P,
    pub(crate) counts: Arc<SpanCounts>,
}

impl<P: SpanProcessor> SpanProcessor for Counting<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.counts.ended.fetch_add(1, Ordering::Relaxed);
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.inner.shutdown_with_timeout(timeout);
        // After a clean shutdown, whatever did not reach the exporter never will. After a timeout
        // an export may still be under way: the shutdown reports the loss as a timeout, and the
        // figure stays a lower bound rather than blaming the queue.
        if result.is_ok() {
            self.counts.settled.store(true, Ordering::Release);
        }
        result
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Counts the spans that reach the exporter, and whether they were delivered.
#[derive(Debug)]
pub(crate) struct CountedExporter<E> {
    pub(crate) inner: E,
    pub(crate) counts: Arc<SpanCounts>,
}

impl<E: SpanExporter> SpanExporter for CountedExporter<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let n = batch.len() as u64;
        let counts = self.counts.clone();
        let export = self.inner.export(batch);
        async move {
            let result = export.await;
            let counter = if result.is_ok() {
                &counts.exported
            } else {
                &counts.failed
            };
            counter.fetch_add(n, Ordering::Relaxed);
            result
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::error::OTelSdkError;

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
        let counts = SpanCounts::new(2048, 512);
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
    }

    #[test]
    fn what_never_reached_the_exporter_counts_once_settled() {
        let counts = SpanCounts::new(4, 2);
        counts.ended.store(20, Ordering::Relaxed);
        counts.exported.store(9, Ordering::Relaxed);
        counts.failed.store(3, Ordering::Relaxed);
        // 8 unaccounted, of which up to 6 may still be queued or exporting.
        assert_eq!(counts.queue_full(), 2);
        counts.settled.store(true, Ordering::Release);
        assert_eq!(counts.queue_full(), 8);
        assert_eq!(counts.failed(), 3);
    }
}
