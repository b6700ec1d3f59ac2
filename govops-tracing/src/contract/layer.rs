//! The contract layer itself: the `tracing` callbacks of a governed span, each handing over to
//! the file that does its part of the call's life.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::trace::TraceContextExt;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, filter};

use super::fields::{ErrorText, Fields, Visiting, interest, is_governed};
use super::open::open;
use super::settle::settle;
use super::shared::Shared;
use super::span::Governed;
use crate::call;
use crate::scan::{Scan, redact_attributes};

/// The layer. Install it with [`ContractLayer::filtered`] so that it sees only what it handles.
#[derive(Clone)]
pub(crate) struct ContractLayer {
    shared: Arc<Shared>,
}

impl ContractLayer {
    pub(crate) fn new(shared: Shared) -> Self {
        Self {
            shared: Arc::new(shared),
        }
    }

    /// The layer behind its per-callsite filter.
    pub(crate) fn filtered<S>(self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.with_filter(filter::filter_fn(interest))
    }
}

impl<S> Layer<S> for ContractLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        if !is_governed(attrs.metadata()) {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let governed = open(&self.shared, attrs, id);
        span.extensions_mut().insert(governed);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Fields::default();
        let scan = Scan::new(&self.shared.policy.guards);
        values.record(&mut Visiting {
            static_name: span.metadata().name(),
            scan,
            capture: self.shared.capture,
            fields: &mut fields,
        });
        let mut extensions = span.extensions_mut();
        let Some(governed) = extensions.get_mut::<Governed>() else {
            return;
        };
        if scan.enabled() {
            let mut found = redact_attributes(scan, &mut fields.rest);
            if let Some(name) = &mut fields.name
                && let Some(clean) = scan.text(name, &mut found)
            {
                *name = clean;
            }
            governed.cell.inspected(found, "attributes");
        }
        match &mut governed.pending {
            Some(pending) => {
                if let Some(name) = fields.name {
                    pending.name = Cow::Owned(name);
                }
                pending.attributes.append(&mut fields.rest);
            }
            None => {
                let otel = governed.cell.cx.span();
                if let Some(name) = fields.name {
                    otel.update_name(name);
                }
                otel.set_attributes(fields.rest);
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let extensions = span.extensions();
        let Some(governed) = extensions.get::<Governed>() else {
            return;
        };
        let cell = governed.cell.clone();
        drop(extensions);
        call::enter(id, cell);
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        call::exit(id);
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        // Only an error reported by the call itself fails it (`err` emits one): an error a
        // helper logged and recovered from, deeper in the call, does not.
        let direct = match event.parent() {
            Some(parent) => Some(parent.clone()),
            None if event.is_contextual() => ctx.current_span().id().cloned(),
            None => None,
        };
        let Some(span) = direct.and_then(|id| ctx.span(&id)) else {
            return;
        };
        let extensions = span.extensions();
        let Some(governed) = extensions.get::<Governed>() else {
            return;
        };
        let mut text = ErrorText::default();
        event.record(&mut text);
        governed
            .cell
            .fail(text.0.unwrap_or_else(|| event.metadata().name().to_owned()));
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(governed) = span.extensions_mut().remove::<Governed>() else {
            return;
        };
        settle(&self.shared, governed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use govops_core::Config;

    use crate::clock::Clock;
    use crate::ids::SpanIds;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Debug, Clone, Default)]
    struct Keep(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Keep {
        fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(batch);
            std::future::ready(Ok(()))
        }
    }

    fn governed_span(name: &'static str) -> tracing::Span {
        tracing::info_span!(
            "invoke_agent planner",
            govops.contract.version = "1",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = name,
        )
    }

    /// A sampler that drops roots: a governed root is then started when it opens, so the sampler
    /// decides before any child names it as a parent, and nothing orphaned is exported.
    #[test]
    fn a_sampler_that_drops_roots_drops_the_whole_governed_trace() {
        let config = Config::from_env(&govops_core::EnvSource::from_pairs([
            ("GOVOPS_APP_NAME", "t"),
            ("GOVOPS_ENVIRONMENT", "dev"),
            ("GOVOPS_OWNER", "o"),
            ("GOVOPS_COST_CENTER", "c"),
            ("GOVOPS_DATA_CLASSIFICATION", "internal"),
        ]))
        .unwrap();
        for defer_roots in [false, true] {
            let kept = Keep::default();
            let ids = SpanIds::random();
            let provider = SdkTracerProvider::builder()
                .with_id_generator(ids.clone())
                .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                    0.0,
                ))))
                .with_simple_exporter(kept.clone())
                .build();
            let mut shared = Shared::new(
                &config,
                provider.tracer("t"),
                None,
                Clock::System,
                Some(ids),
            );
            shared.defer_roots = defer_roots;
            let subscriber =
                tracing_subscriber::registry().with(ContractLayer::new(shared).filtered());
            tracing::subscriber::with_default(subscriber, || {
                governed_span("outer").in_scope(|| governed_span("inner").in_scope(|| {}));
            });
            let exported: Vec<String> = kept
                .0
                .lock()
                .unwrap()
                .iter()
                .map(|s| s.name.to_string())
                .collect();
            if defer_roots {
                // What the sampler-blind path would do: the children of a dropped root exported.
                assert!(!exported.is_empty(), "{exported:?}");
            } else {
                assert_eq!(exported, Vec::<String>::new());
            }
        }
    }
}
