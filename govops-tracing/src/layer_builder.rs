//! The govops trace layers for a pipeline you build yourself: one builder, [`layer`], with what
//! it may use set by name.

use std::fmt;
use std::sync::Arc;

use govops_core::Config;
use govops_core::audit::AuditLog;
use govops_core::state::GuardState;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::bridge::{Bridge, not_governed};
use crate::clock::Clock;
use crate::contract::{ContractLayer, Shared};
use crate::ids::SpanIds;
use crate::metrics::Instruments;

/// The govops trace layers for a pipeline you build yourself: governed spans become
/// OpenTelemetry spans carrying the contract; every other span goes through
/// `tracing-opentelemetry` to the same tracer provider. `init()` installs these for you; use this
/// only to bring your own OpenTelemetry providers. Set what else the layers may use on the
/// [`LayerBuilder`], then [`build`](LayerBuilder::build) them.
///
/// ```
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let config = govops_core::Config::from_env(&govops_core::EnvSource::from_pairs([
///     ("GOVOPS_APP_NAME", "bot"), ("GOVOPS_ENVIRONMENT", "dev"), ("GOVOPS_OWNER", "team"),
///     ("GOVOPS_COST_CENTER", "cc-1"), ("GOVOPS_DATA_CLASSIFICATION", "internal"),
/// ]))?;
/// let tracer = SdkTracerProvider::builder().build();
/// let subscriber =
///     tracing_subscriber::registry().with(govops_tracing::layer(&config, &tracer).build());
/// tracing::subscriber::with_default(subscriber, || { /* governed calls */ });
/// # Ok::<(), govops_core::Gaps>(())
/// ```
pub fn layer<'a>(config: &'a Config, tracer: &'a SdkTracerProvider) -> LayerBuilder<'a> {
    LayerBuilder {
        config,
        tracer,
        meter: None,
        ids: None,
        audit: None,
        state: None,
    }
}

/// What the govops trace layers use besides the configuration and the tracer provider: see
/// [`layer`].
#[must_use = "a LayerBuilder does nothing until built"]
pub struct LayerBuilder<'a> {
    config: &'a Config,
    tracer: &'a SdkTracerProvider,
    meter: Option<&'a SdkMeterProvider>,
    ids: Option<SpanIds>,
    audit: Option<AuditLog>,
    state: Option<Arc<dyn GuardState>>,
}

impl fmt::Debug for LayerBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerBuilder")
            .field("meter", &self.meter.is_some())
            .field("ids", &self.ids.is_some())
            .field("audit", &self.audit.as_ref().map(AuditLog::path))
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<'a> LayerBuilder<'a> {
    /// Records the contract's section 5 metrics with `meter`.
    ///
    /// ```
    /// # use opentelemetry_sdk::{metrics::SdkMeterProvider, trace::SdkTracerProvider};
    /// # let config = govops_core::Config::from_env(&govops_core::EnvSource::from_pairs([
    /// #     ("GOVOPS_APP_NAME", "bot"), ("GOVOPS_ENVIRONMENT", "dev"), ("GOVOPS_OWNER", "team"),
    /// #     ("GOVOPS_COST_CENTER", "cc-1"), ("GOVOPS_DATA_CLASSIFICATION", "internal"),
    /// # ]))?;
    /// let tracer = SdkTracerProvider::builder().build();
    /// let meter = SdkMeterProvider::builder().build();
    /// let layer = govops_tracing::layer(&config, &tracer).meter(&meter);
    /// # let _ = layer;
    /// # Ok::<(), govops_core::Gaps>(())
    /// ```
    pub fn meter(mut self, meter: &'a SdkMeterProvider) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Tells the layers that the tracer provider was built with `ids` as its id generator:
    /// governed spans are then built whole when they end rather than started and updated, which
    /// is faster. The provider must use the same `ids` (a clone), or governed spans' children
    /// would name a parent that does not exist, and the SDK's default sampler (parent-based,
    /// always on), or one chosen with `OTEL_TRACES_SAMPLER`, which govops reads as the SDK does:
    /// a sampler set in code that drops roots or ignores the parent's decision needs a layer
    /// without `ids`.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// # let config = govops_core::Config::from_env(&govops_core::EnvSource::from_pairs([
    /// #     ("GOVOPS_APP_NAME", "bot"), ("GOVOPS_ENVIRONMENT", "dev"), ("GOVOPS_OWNER", "team"),
    /// #     ("GOVOPS_COST_CENTER", "cc-1"), ("GOVOPS_DATA_CLASSIFICATION", "internal"),
    /// # ]))?;
    /// let ids = govops_tracing::SpanIds::random();
    /// let tracer = SdkTracerProvider::builder().with_id_generator(ids.clone()).build();
    /// let layer = govops_tracing::layer(&config, &tracer).ids(&ids).build();
    /// let subscriber = tracing_subscriber::registry().with(layer);
    /// # let _ = subscriber;
    /// # Ok::<(), govops_core::Gaps>(())
    /// ```
    pub fn ids(mut self, ids: &SpanIds) -> Self {
        self.ids = Some(ids.clone());
        self
    }

    /// Writes every governed call to `audit` too, as `init()` does when `GOVOPS_AUDIT_LOG` is
    /// set. Shut the log down (`AuditLog::shutdown`) after the last call to write everything and
    /// its `close` record.
    ///
    /// ```
    /// use govops_core::audit::{AuditLog, AuditOptions};
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    /// use tracing_subscriber::layer::SubscriberExt as _;
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let config = govops_core::Config::from_env(&govops_core::EnvSource::from_pairs([
    ///     ("GOVOPS_APP_NAME", "support-bot"),
    ///     ("GOVOPS_ENVIRONMENT", "dev"),
    ///     ("GOVOPS_OWNER", "team-ai"),
    ///     ("GOVOPS_COST_CENTER", "CC-1234"),
    ///     ("GOVOPS_DATA_CLASSIFICATION", "internal"),
    /// ]))?;
    /// let audit = AuditLog::open(dir.path().join("audit.jsonl"), AuditOptions::for_config(&config))?;
    /// let tracer = SdkTracerProvider::builder().build();
    /// let subscriber = tracing_subscriber::registry()
    ///     .with(govops_tracing::layer(&config, &tracer).audit(audit.clone()).build());
    /// # drop(subscriber);
    /// audit.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn audit(mut self, log: AuditLog) -> Self {
        self.audit = Some(log);
        self
    }

    /// Keeps the guards' state (budgets, agent loops) in `state`, such as a fleet's shared
    /// `RedisState`, rather than in this process's memory alone. Governed calls then ask it after
    /// their span opens: an async call awaits the answer without blocking its worker thread.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use opentelemetry_sdk::trace::SdkTracerProvider;
    /// # let config = govops_core::Config::from_env(&govops_core::EnvSource::from_pairs([
    /// #     ("GOVOPS_APP_NAME", "bot"), ("GOVOPS_ENVIRONMENT", "dev"), ("GOVOPS_OWNER", "team"),
    /// #     ("GOVOPS_COST_CENTER", "cc-1"), ("GOVOPS_DATA_CLASSIFICATION", "internal"),
    /// # ]))?;
    /// use govops_core::state::MemoryState;
    ///
    /// let tracer = SdkTracerProvider::builder().build();
    /// let layer = govops_tracing::layer(&config, &tracer).state(Arc::new(MemoryState::default()));
    /// # let _ = layer;
    /// # Ok::<(), govops_core::Gaps>(())
    /// ```
    pub fn state(mut self, state: Arc<dyn GuardState>) -> Self {
        self.state = Some(state);
        self
    }

    /// The layers: the contract layer for governed spans, `tracing-opentelemetry` for the rest.
    pub fn build<S>(self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'b> LookupSpan<'b> + Send + Sync,
    {
        let instruments = self
            .meter
            .map(|m| Instruments::new(&m.meter(crate::SCOPE), self.config));
        let shared = Shared::new(
            self.config,
            self.tracer.tracer(crate::SCOPE),
            instruments,
            Clock::System,
            self.ids,
        )
        .with_audit(self.audit)
        .with_state(self.state);
        let contract = ContractLayer::new(shared).filtered();
        contract.and_then(
            Bridge(tracing_opentelemetry::layer().with_tracer(self.tracer.tracer(crate::SCOPE)))
                .with_filter(not_governed()),
        )
    }
}
