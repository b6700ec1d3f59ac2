//! Assert in your own unit tests that your code honours the telemetry contract.
//!
//! A [`Capture`] is the govops pipeline with in-memory exporters and no global state: run code
//! under it ([`Capture::run`] for sync code, [`Capture::run_async`] for a future), then read what
//! it recorded. Span and trace ids count up from 1 and governed spans take their timestamps from a
//! clock that steps 1 ms per reading, so a test sees the same figures on every run. Captures are
//! independent: parallel `#[test]`s and `#[tokio::test]`s each use their own.
//!
//! The `govops` crate's documentation has an example with `#[governed]`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use govops_core::contract::{attr, vars};
use govops_core::schema::Attr;
use govops_core::state::GuardState;
use govops_core::{Config, EnvSource, Gaps};
use opentelemetry::logs::AnyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{SpanId, Status, TraceId, TracerProvider as _};
use opentelemetry::{KeyValue, StringValue, Value};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLoggerProvider};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{
    IdGenerator, SdkTracerProvider, SimpleSpanProcessor, SpanData, SpanExporter,
};
use tracing::Dispatch;
use tracing::instrument::{WithDispatch, WithSubscriber};
use tracing_subscriber::Layer as _;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

use crate::bridge::{Bridge, not_governed};
use crate::call::Operation;
use crate::clock::Clock;
use crate::contract::{ContractLayer, Shared};
use crate::ids::SpanIds;
use crate::logs::CallContextLogs;
use crate::metrics::Instruments;
use crate::redact::{RedactingLogs, RedactingSpans};
use crate::scan::Scan;

use crate::SCOPE;

/// The metadata a capture starts from; [`CaptureBuilder::env`] overrides any of it.
const DEFAULTS: [(&str, &str); 5] = [
    (vars::APP_NAME, "test-app"),
    (vars::ENVIRONMENT, "test"),
    (vars::OWNER, "test-owner"),
    (vars::COST_CENTER, "cc-test"),
    (vars::DATA_CLASSIFICATION, "internal"),
];

/// Builds a [`Capture`] with metadata other than the defaults (`test-app` in `test`).
#[derive(Debug, Default)]
#[must_use]
pub struct CaptureBuilder {
    env: BTreeMap<String, String>,
    state: Option<Arc<dyn GuardState>>,
}

impl CaptureBuilder {
    /// Sets a start-up variable, as `init()` would read it: `GOVOPS_ENVIRONMENT=prod`, a
    /// `GOVOPS_PRICE_TABLE`, and so on.
    pub fn env(mut self, variable: &str, value: &str) -> Self {
        self.env.insert(variable.to_owned(), value.to_owned());
        self
    }

    /// Keeps the guards' state (budgets, agent loops) in `state`, as
    /// [`LayerBuilder::state`](crate::LayerBuilder::state) does: a fleet's shared state, or one
    /// of a test's own making.
    pub fn state(mut self, state: Arc<dyn GuardState>) -> Self {
        self.state = Some(state);
        self
    }

    /// The capture.
    ///
    /// # Errors
    ///
    /// The variables' gaps, as `init()` would report them.
    pub fn build(self) -> Result<Capture, Gaps> {
        let mut pairs: BTreeMap<String, String> = DEFAULTS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        pairs.extend(self.env);
        let config = Config::from_env(&EnvSource::from_pairs(pairs))?;
        Ok(Capture::with_config(&config, self.state))
    }
}

/// Ids that count up from 1: the same test gives the same ids.
#[derive(Debug, Default)]
struct CountingIds {
    traces: AtomicU64,
    spans: AtomicU64,
}

impl IdGenerator for CountingIds {
    fn new_trace_id(&self) -> TraceId {
        TraceId::from(u128::from(self.traces.fetch_add(1, Ordering::Relaxed) + 1))
    }

    fn new_span_id(&self) -> SpanId {
        SpanId::from(self.spans.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

type Shelf<T> = Arc<Mutex<Vec<T>>>;

fn shelve<T>(shelf: &Shelf<T>, items: impl IntoIterator<Item = T>) {
    shelf
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(items);
}

fn read<T: Clone>(shelf: &Shelf<T>) -> Vec<T> {
    shelf.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

#[derive(Debug, Clone, Default)]
struct Spans(Shelf<CapturedSpan>);

impl SpanExporter for Spans {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        shelve(&self.0, batch.into_iter().map(CapturedSpan::from));
        std::future::ready(Ok(()))
    }
}

#[derive(Debug, Clone, Default)]
struct Logs(Shelf<CapturedLog>);

impl LogExporter for Logs {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        shelve(
            &self.0,
            batch.iter().map(|(record, _)| CapturedLog {
                body: record.body().map(any_text).unwrap_or_default(),
                severity: record
                    .severity_text()
                    .map(str::to_owned)
                    .unwrap_or_default(),
                trace_id: record.trace_context().map(|t| t.trace_id.to_string()),
                span_id: record.trace_context().map(|t| t.span_id.to_string()),
                attributes: record
                    .attributes_iter()
                    .map(|(k, v)| (k.to_string(), any_text(v)))
                    .collect(),
            }),
        );
        std::future::ready(Ok(()))
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn any_text(value: &AnyValue) -> String {
    match value {
        AnyValue::String(s) => s.as_str().to_owned(),
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => d.to_string(),
        AnyValue::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

#[derive(Debug, Clone, Default)]
struct Metrics(Shelf<CapturedPoint>);

impl PushMetricExporter for Metrics {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        let mut points = Vec::new();
        for scope in metrics.scope_metrics() {
            for metric in scope.metrics() {
                points.extend(points_of(metric.name(), metric.data()));
            }
        }
        // Cumulative: each collection is the whole state.
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = points;
        std::future::ready(Ok(()))
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

fn attributes_of<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> BTreeMap<String, String> {
    kvs.map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

fn points_of(name: &str, data: &AggregatedMetrics) -> Vec<CapturedPoint> {
    #[allow(clippy::cast_precision_loss)] // test figures, far below 2^53
    match data {
        AggregatedMetrics::F64(d) => points_typed(name, d, |v| v),
        AggregatedMetrics::U64(d) => points_typed(name, d, |v| v as f64),
        AggregatedMetrics::I64(d) => points_typed(name, d, |v| v as f64),
    }
}

fn points_typed<T: Copy>(name: &str, data: &MetricData<T>, f: fn(T) -> f64) -> Vec<CapturedPoint> {
    let point = |attributes, value: f64, count| CapturedPoint {
        metric: name.to_owned(),
        attributes,
        value,
        count,
    };
    match data {
        MetricData::Sum(sum) => sum
            .data_points()
            .map(|p| point(attributes_of(p.attributes()), f(p.value()), 1))
            .collect(),
        MetricData::Gauge(gauge) => gauge
            .data_points()
            .map(|p| point(attributes_of(p.attributes()), f(p.value()), 1))
            .collect(),
        MetricData::Histogram(histogram) => histogram
            .data_points()
            .map(|p| point(attributes_of(p.attributes()), f(p.sum()), p.count()))
            .collect(),
        MetricData::ExponentialHistogram(histogram) => histogram
            .data_points()
            .map(|p| {
                let count = u64::try_from(p.count()).unwrap_or(u64::MAX);
                point(attributes_of(p.attributes()), f(p.sum()), count)
            })
            .collect(),
    }
}

/// A span as exported.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CapturedSpan {
    /// The span name.
    pub name: String,
    /// The trace id, 32 hex digits.
    pub trace_id: String,
    /// The span id, 16 hex digits.
    pub span_id: String,
    /// The parent's span id, absent on a root span.
    pub parent_span_id: Option<String>,
    /// The attributes, by key.
    pub attributes: BTreeMap<String, Value>,
    /// The span events: their names and attributes.
    pub events: Vec<(String, BTreeMap<String, Value>)>,
    /// The error description when the span's status is an error.
    pub error: Option<String>,
    /// Start time, nanoseconds since the Unix epoch.
    pub start_unix_nanos: u128,
    /// End time, nanoseconds since the Unix epoch.
    pub end_unix_nanos: u128,
}

fn unix_nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()
}

impl From<SpanData> for CapturedSpan {
    fn from(span: SpanData) -> Self {
        let kv = |kvs: &[KeyValue]| {
            kvs.iter()
                .map(|kv| (kv.key.to_string(), kv.value.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        CapturedSpan {
            name: span.name.into_owned(),
            trace_id: span.span_context.trace_id().to_string(),
            span_id: span.span_context.span_id().to_string(),
            parent_span_id: (span.parent_span_id != SpanId::INVALID)
                .then(|| span.parent_span_id.to_string()),
            attributes: kv(&span.attributes),
            events: span
                .events
                .iter()
                .map(|e| (e.name.to_string(), kv(&e.attributes)))
                .collect(),
            error: match span.status {
                Status::Error { description } => Some(description.into_owned()),
                _ => None,
            },
            start_unix_nanos: unix_nanos(span.start_time),
            end_unix_nanos: unix_nanos(span.end_time),
        }
    }
}

impl CapturedSpan {
    /// An attribute's value.
    #[must_use]
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }

    /// A string attribute.
    #[must_use]
    pub fn string(&self, key: &str) -> Option<&str> {
        match self.attr(key)? {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// An integer attribute.
    #[must_use]
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.attr(key)? {
            Value::I64(i) => Some(*i),
            _ => None,
        }
    }

    /// A double attribute.
    #[must_use]
    pub fn double(&self, key: &str) -> Option<f64> {
        match self.attr(key)? {
            Value::F64(f) => Some(*f),
            _ => None,
        }
    }

    /// A string-array attribute.
    #[must_use]
    pub fn strings(&self, key: &str) -> Option<Vec<&str>> {
        match self.attr(key)? {
            Value::Array(opentelemetry::Array::String(v)) => {
                Some(v.iter().map(|s| s.as_str()).collect())
            }
            _ => None,
        }
    }

    /// The call's operation (`gen_ai.operation.name`), when it is a governed span.
    #[must_use]
    pub fn operation(&self) -> Option<Operation> {
        self.string(attr::OPERATION_NAME)
            .and_then(Operation::from_name)
    }

    /// `govops.safety.violations`, empty when absent.
    #[must_use]
    pub fn violations(&self) -> Vec<&str> {
        self.strings(attr::SAFETY_VIOLATIONS).unwrap_or_default()
    }
}

/// A log record as exported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapturedLog {
    /// The message.
    pub body: String,
    /// `INFO`, `WARN`, ...
    pub severity: String,
    /// The trace id of the span the event was emitted in.
    pub trace_id: Option<String>,
    /// The span id of the span the event was emitted in.
    pub span_id: Option<String>,
    /// The attributes, as text.
    pub attributes: BTreeMap<String, String>,
}

/// One metric data point, cumulative since the capture began.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CapturedPoint {
    /// The metric name.
    pub metric: String,
    /// Its attributes, as text.
    pub attributes: BTreeMap<String, String>,
    /// A counter's or gauge's value; a histogram's sum.
    pub value: f64,
    /// A histogram's count; 1 otherwise.
    pub count: u64,
}

/// One test's telemetry, in memory.
pub struct Capture {
    dispatch: Dispatch,
    tracer: SdkTracerProvider,
    logger: SdkLoggerProvider,
    meter: SdkMeterProvider,
    spans: Spans,
    logs: Logs,
    metrics: Metrics,
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture").finish_non_exhaustive()
    }
}

impl Default for Capture {
    fn default() -> Self {
        Self::new()
    }
}

impl Capture {
    /// A capture with the default metadata: `test-app` in `test`, cost center `cc-test`.
    #[must_use]
    pub fn new() -> Self {
        let config = Config::from_env(&EnvSource::from_pairs(DEFAULTS));
        // The defaults are valid by construction; should that ever change, the test says so.
        match config {
            Ok(config) => Self::with_config(&config, None),
            Err(gaps) => panic!("govops::testing defaults are invalid: {gaps}"),
        }
    }

    /// A builder for other metadata.
    pub fn builder() -> CaptureBuilder {
        CaptureBuilder::default()
    }

    fn with_config(config: &Config, state: Option<Arc<dyn GuardState>>) -> Self {
        let spans = Spans::default();
        let logs = Logs::default();
        let metrics = Metrics::default();
        let ids = SpanIds::new(CountingIds::default());
        let scan = Scan::new(&config.policy_rules.guards);
        let tracer = SdkTracerProvider::builder()
            .with_id_generator(ids.clone())
            .with_span_processor(RedactingSpans::new(
                SimpleSpanProcessor::new(spans.clone()),
                config,
            ))
            .build();
        let logger = SdkLoggerProvider::builder()
            // The context first: what it adds (a user id, an agent's name) is scanned too.
            .with_log_processor(CallContextLogs::new(config))
            .with_log_processor(RedactingLogs { scan })
            .with_simple_exporter(logs.clone())
            .build();
        let meter = SdkMeterProvider::builder()
            .with_reader(
                PeriodicReader::builder(metrics.clone())
                    .with_interval(Duration::from_secs(3600))
                    .build(),
            )
            .build();
        let contract = ContractLayer::new(
            Shared::new(
                config,
                tracer.tracer(SCOPE),
                Some(Instruments::new(&meter.meter(SCOPE), config)),
                Clock::stepping(
                    UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                    Duration::from_millis(1),
                ),
                Some(ids),
            )
            .with_state(state),
        )
        .filtered();
        let subscriber = Registry::default()
            .with(contract)
            .with(
                Bridge(tracing_opentelemetry::layer().with_tracer(tracer.tracer(SCOPE)))
                    .with_filter(not_governed()),
            )
            .with(OpenTelemetryTracingBridge::new(&logger));
        Self {
            dispatch: Dispatch::new(subscriber),
            tracer,
            logger,
            meter,
            spans,
            logs,
            metrics,
        }
    }

    /// Runs `f` with this capture as the subscriber, on this thread.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::dispatcher::with_default(&self.dispatch, f)
    }

    /// `future` with this capture as its subscriber, wherever it is polled (also inside
    /// `tokio::spawn`).
    pub fn run_async<F>(&self, future: F) -> WithDispatch<F> {
        future.with_subscriber(self.dispatch.clone())
    }

    /// The subscriber, to install some other way.
    #[must_use]
    pub fn dispatch(&self) -> Dispatch {
        self.dispatch.clone()
    }

    /// Every span that has ended, in the order they ended.
    #[must_use]
    pub fn spans(&self) -> Vec<CapturedSpan> {
        let _ = self.tracer.force_flush();
        read(&self.spans.0)
    }

    /// The governed spans of `operation` whose subject (model, tool or agent name) is `subject`.
    #[must_use]
    pub fn spans_of(&self, operation: Operation, subject: &str) -> Vec<CapturedSpan> {
        let key = match operation {
            Operation::ExecuteTool => attr::TOOL_NAME,
            Operation::InvokeAgent => attr::AGENT_NAME,
            o if o.is_model() => attr::REQUEST_MODEL,
            _ => govops_protocol::field::NAME,
        };
        self.spans()
            .into_iter()
            .filter(|s| s.operation() == Some(operation) && s.string(key) == Some(subject))
            .collect()
    }

    /// The one governed span of `operation` on `subject`, if there is exactly one.
    #[must_use]
    pub fn span(&self, operation: Operation, subject: &str) -> Option<CapturedSpan> {
        let mut found = self.spans_of(operation, subject);
        (found.len() == 1).then(|| found.remove(0))
    }

    /// Every span named `name`.
    #[must_use]
    pub fn spans_named(&self, name: &str) -> Vec<CapturedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    /// Every log record emitted so far.
    #[must_use]
    pub fn logs(&self) -> Vec<CapturedLog> {
        let _ = self.logger.force_flush();
        read(&self.logs.0)
    }

    /// Every metric data point, collected now.
    #[must_use]
    pub fn metrics(&self) -> Vec<CapturedPoint> {
        let _ = self.meter.force_flush();
        read(&self.metrics.0)
    }

    /// The data points of one metric.
    #[must_use]
    pub fn metric(&self, name: &str) -> Vec<CapturedPoint> {
        self.metrics()
            .into_iter()
            .filter(|p| p.metric == name)
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.tracer.shutdown();
        let _ = self.logger.shutdown();
        let _ = self.meter.shutdown();
    }
}

pub use govops_core::schema::Problem;

/// A captured attribute as the contract's schema sees it.
fn schema_attr(value: &Value) -> Attr<'_> {
    match value {
        Value::String(s) => Attr::Str(s.as_str()),
        Value::I64(i) => Attr::Int(*i),
        Value::F64(f) => Attr::Double(*f),
        Value::Array(opentelemetry::Array::String(items)) => {
            Attr::StrArray(items.iter().map(StringValue::as_str).collect())
        }
        other => Attr::Other(format!("{other:?}")),
    }
}

/// Every way `span` falls short of contract sections 2 and 3; empty when it honours them.
#[must_use]
pub fn contract_problems(span: &CapturedSpan) -> Vec<Problem> {
    govops_core::schema::problems(|key| span.attr(key).map(schema_attr))
}

/// Panics, naming each missing or mistyped field, unless `span` honours contract sections 2 and 3.
///
/// # Panics
///
/// When the span falls short of the contract.
#[track_caller]
pub fn assert_contract(span: &CapturedSpan) {
    let problems = contract_problems(span);
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        panic!(
            "span `{}` does not honour the govops contract:\n{}",
            span.name,
            list.join("\n")
        );
    }
}
