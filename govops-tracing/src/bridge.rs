//! `tracing-opentelemetry` for every span that is not governed: governed spans are the contract
//! layer's, and must not be built twice.

use std::any::TypeId;

use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::layer::Filter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, filter};

use crate::contract::is_governed;

/// Wraps a layer so that it never sees a governed span, nor an event emitted directly inside one
/// (the contract layer owns those; `tracing-opentelemetry` would otherwise attach the event to the
/// nearest span it does see, an outer one). Install it behind [`not_governed`], so that the
/// governed spans' callbacks skip it without a lookup.
pub(crate) struct Bridge<L>(pub(crate) L);

/// The filter that keeps governed spans from the bridge, decided once per callsite.
pub(crate) fn not_governed<S>() -> impl Filter<S> + Send + Sync + 'static {
    filter::filter_fn(|meta| !is_governed(meta))
}

impl<S, L> Layer<S> for Bridge<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        self.0.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.0.on_layer(subscriber);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.0.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.0.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !is_governed(attrs.metadata()) {
            self.0.on_new_span(attrs, id, ctx);
        }
    }

    fn on_record(&self, span: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        self.0.on_record(span, values, ctx);
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, ctx: Context<'_, S>) {
        self.0.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.0.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // `current_span` is the subscriber's own view, not filtered.
        let in_governed = event.is_contextual()
            && ctx
                .current_span()
                .metadata()
                .is_some_and(|meta| is_governed(meta));
        if !in_governed {
            self.0.on_event(event, ctx);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.0.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.0.on_exit(id, ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.0.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &Id, new: &Id, ctx: Context<'_, S>) {
        self.0.on_id_change(old, new, ctx);
    }

    // `tracing-opentelemetry` finds its span data through this downcast
    // (`OpenTelemetrySpanExt::context`): forward it unchanged.
    #[allow(unsafe_code)]
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(std::ptr::from_ref(self).cast());
        }
        // SAFETY: the inner layer's contract is the one we are asked to uphold; we pass the
        // request through untouched.
        unsafe { self.0.downcast_raw(id) }
    }
}
