//! Span and trace ids chosen when a governed span opens, for an OpenTelemetry span built only when
//! it ends.
//!
//! A governed span's children need its id the moment it opens, but its attributes are known only
//! when it ends. Rather than start an SDK span early and update it under a lock, the contract layer
//! draws the ids itself, parents children to them through the OpenTelemetry context, and builds
//! the whole span at the end; the pipeline's id generator hands the SDK the ids drawn earlier.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::IdGenerator;

thread_local! {
    static PRESET: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// The id generator of a tracer provider whose governed spans govops builds: install it on the
/// provider and pass the same value to [`crate::layer`] with [`LayerBuilder::ids`](crate::LayerBuilder::ids). Governed spans then draw their
/// ids when they open and are built whole when they end, which is faster than updating a started
/// span; every other span gets ids from the wrapped generator as usual.
///
/// ```
/// use opentelemetry_sdk::trace::SdkTracerProvider;
///
/// let ids = govops_tracing::SpanIds::random();
/// let provider = SdkTracerProvider::builder().with_id_generator(ids.clone()).build();
/// # let _ = provider;
/// ```
#[derive(Clone)]
pub struct SpanIds(pub(crate) Arc<dyn IdGenerator>);

impl SpanIds {
    /// Random ids, as the SDK's default generator draws them.
    #[must_use]
    pub fn random() -> Self {
        Self(Arc::new(
            opentelemetry_sdk::trace::RandomIdGenerator::default(),
        ))
    }

    /// Ids from `inner`.
    #[must_use]
    pub fn new(inner: impl IdGenerator + 'static) -> Self {
        Self(Arc::new(inner))
    }
}

impl fmt::Debug for SpanIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SpanIds").field(&self.0).finish()
    }
}

impl IdGenerator for SpanIds {
    fn new_trace_id(&self) -> TraceId {
        match PRESET.try_with(Cell::get) {
            Ok(Some((trace, _))) => trace,
            _ => self.0.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        match PRESET.try_with(Cell::get) {
            Ok(Some((_, span))) => span,
            _ => self.0.new_span_id(),
        }
    }
}

/// Runs `build` with `trace` and `span` as the ids the pipeline's generator hands out.
pub(crate) fn with_preset<R>(trace: TraceId, span: SpanId, build: impl FnOnce() -> R) -> R {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            let _ = PRESET.try_with(|p| p.set(None));
        }
    }
    let _ = PRESET.try_with(|p| p.set(Some((trace, span))));
    let _clear = Clear;
    build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::trace::RandomIdGenerator;

    #[test]
    fn preset_ids_are_handed_out_only_inside_with_preset() {
        let ids = SpanIds::new(RandomIdGenerator::default());
        let (trace, span) = (TraceId::from(7_u128), SpanId::from(9_u64));
        with_preset(trace, span, || {
            assert_eq!(ids.new_trace_id(), trace);
            assert_eq!(ids.new_span_id(), span);
        });
        assert_ne!(ids.new_span_id(), span);
    }
}
