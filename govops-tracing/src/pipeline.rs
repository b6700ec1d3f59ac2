//! The OpenTelemetry pipeline: resource, providers, exporters, the subscriber over them, and a
//! shutdown that is bounded whatever the collector does.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use govops_core::Config;
use govops_core::audit::{AuditLog, AuditOptions};
use govops_core::contract::metric;
use govops_core::drift::DriftRegistry;
use govops_core::state::GuardState;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{MeterProvider as _, ObservableCounter};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::logs::{BatchLogProcessor, LogExporter, SdkLoggerProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanExporter,
};
use tokio::runtime::Runtime;
use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, FilterExt as _};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

use crate::bridge::{Bridge, not_governed};
use crate::clock::Clock;
use crate::contract::{ContractLayer, Shared, drift_registry};
use crate::error::{InitError, Lost, ShutdownError};
use crate::export::dropped::{CountedExporter, Counting, Counts};
use crate::export::file::{FileLogExporter, FileMetricExporter, FileSpanExporter, JsonLinesFile};
use crate::export::otlp::{self, Exporting, Failures};
use crate::ids::SpanIds;
use crate::logs::CallContextLogs;
use crate::metrics::{GuardTrips, Instruments, base_attributes};
use crate::redact::{RedactingLogs, RedactingSpans};
use crate::scan::Scan;

/// The crates that export telemetry: their own events must never become telemetry, or one export
/// would feed the next without end.
const EXPORT_STACK_OFF: &str = "h2=off,hyper=off,hyper_util=off,tonic=off,tower=off,reqwest=off,\
opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off,opentelemetry_http=off";

use crate::SCOPE;

/// Spans exported per batch (the specification's default).
const EXPORT_BATCH: usize = 512;

/// The log record queue and batch sizes: the SDK reads `OTEL_BLRP_MAX_QUEUE_SIZE` and
/// `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE` from the process environment; the accounting needs the same
/// figures to tell a record still queued from one dropped.
fn log_queue() -> (usize, usize) {
    let read = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    let queue = read("OTEL_BLRP_MAX_QUEUE_SIZE", 2048);
    (
        queue,
        read("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", 512).min(queue),
    )
}

struct Providers {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
    logger: SdkLoggerProvider,
    runtime: Option<Runtime>,
}

/// A running pipeline. Its parts sit behind a lock so that shutdown can hand them to a thread
/// and still run them itself should no thread be available.
pub(crate) struct Pipeline {
    parts: Arc<Mutex<Option<Providers>>>,
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
    logger: SdkLoggerProvider,
    failures: Arc<Failures>,
    spans: Arc<Counts>,
    logs: Arc<Counts>,
    ids: SpanIds,
    queue_size: usize,
    _dropped: ObservableCounter<u64>,
    destination: String,
    /// Drift of the model calls, restored from and saved to `drift_baseline`.
    drift: Option<Arc<DriftRegistry>>,
    drift_baseline: Option<PathBuf>,
    /// The audit log (`GOVOPS_AUDIT_LOG`), written by its own thread.
    audit: Option<AuditLog>,
    /// The guards' state shared by a fleet (`GOVOPS_STATE_URL`), when one is set.
    state: Option<Arc<dyn GuardState>>,
}

impl Pipeline {
    pub(crate) fn build(config: &Config) -> Result<Self, InitError> {
        let resource = resource(config);
        let spans = Counts::new(config.span_queue_size, EXPORT_BATCH);
        let (log_queue, log_batch) = log_queue();
        let logs = Counts::new(log_queue, log_batch);
        let ids = SpanIds::random();
        let queue = Queue {
            size: config.span_queue_size,
            counts: spans.clone(),
            logs: logs.clone(),
            ids: ids.clone(),
            scan: Scan::new(&config.policy_rules.guards),
            base: base_attributes(config),
        };
        let call_context = || CallContextLogs::new(config);
        let failures = Arc::new(Failures::default());
        let (providers, destination) = match &config.otlp {
            Some(otlp_config) => {
                otlp_providers(otlp_config, resource, &queue, call_context(), &failures)?
            }
            None => {
                let sink = JsonLinesFile::open(&config.telemetry_file).map_err(|source| {
                    InitError::TelemetryFile {
                        path: config.telemetry_file.clone(),
                        source,
                    }
                })?;
                let providers = providers(
                    resource,
                    &queue,
                    call_context(),
                    Exporting::new(FileSpanExporter::new(sink.clone()), None, failures.clone()),
                    Exporting::new(FileLogExporter::new(sink.clone()), None, failures.clone()),
                    Exporting::new(FileMetricExporter::new(sink), None, failures.clone()),
                );
                (providers, config.telemetry_file.display().to_string())
            }
        };
        let dropped = dropped_counter(&providers.meter, spans.clone(), logs.clone());
        Ok(Self {
            spans,
            logs,
            ids,
            queue_size: config.span_queue_size,
            _dropped: dropped,
            tracer: providers.tracer.clone(),
            meter: providers.meter.clone(),
            logger: providers.logger.clone(),
            parts: Arc::new(Mutex::new(Some(providers))),
            failures,
            destination,
            drift: None,
            drift_baseline: None,
            audit: None,
            state: None,
        })
    }

    /// Follows drift in one registry for the pipeline's life, restored from `baseline` when the
    /// file exists.
    pub(crate) fn with_drift_baseline(
        mut self,
        config: &Config,
        baseline: Option<PathBuf>,
    ) -> Result<Self, InitError> {
        self.drift = drift_registry(&config.policy_rules);
        if let (Some(registry), Some(path)) = (&self.drift, &baseline)
            && path.exists()
            && let Err(source) = registry.restore(path)
        {
            let _ = self.shutdown(Duration::from_millis(100));
            return Err(InitError::DriftBaseline {
                path: path.clone(),
                source,
            });
        }
        self.drift_baseline = baseline;
        Ok(self)
    }

    /// Opens the audit log `GOVOPS_AUDIT_LOG` names, when it is set.
    pub(crate) fn with_audit(
        mut self,
        config: &Config,
        rotate_bytes: Option<u64>,
    ) -> Result<Self, InitError> {
        if let Some(path) = &config.audit_log {
            let options = AuditOptions {
                rotate_bytes,
                ..AuditOptions::for_config(config)
            };
            match AuditLog::open(path, options) {
                Ok(log) => self.audit = Some(log),
                Err(source) => {
                    let _ = self.shutdown(Duration::from_millis(100));
                    return Err(InitError::AuditLog {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        Ok(self)
    }

    /// Keeps the guards' state where `GOVOPS_STATE_URL` says (a fleet's shared state).
    pub(crate) fn with_state(mut self, config: &Config) -> Result<Self, InitError> {
        match crate::state::from_config(config, &self.meter.meter(SCOPE)) {
            Ok(state) => {
                self.state = state;
                Ok(self)
            }
            Err(error) => {
                let _ = self.shutdown(Duration::from_millis(100));
                Err(error)
            }
        }
    }

    /// Whether the guards' state is shared with other processes.
    pub(crate) fn shared_state(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.is_shared())
    }

    /// Waits, `within` at most, for what the shared state still has to apply (settlements).
    pub(crate) fn flush_state(&self, within: Duration) {
        if let Some(state) = &self.state {
            state.flush(within);
        }
    }

    /// Writes every record handed over and closes the audit log.
    pub(crate) fn close_audit(&self) -> Result<(), ShutdownError> {
        match &self.audit {
            Some(log) => log.shutdown().map_err(|source| ShutdownError::AuditLog {
                path: log.path().to_owned(),
                source,
            }),
            None => Ok(()),
        }
    }

    /// The drift registry governed model calls feed.
    pub(crate) fn drift(&self) -> Option<&DriftRegistry> {
        self.drift.as_deref()
    }

    /// Saves the drift baselines, when a file is configured.
    pub(crate) fn save_drift(&self) -> Result<(), ShutdownError> {
        match (&self.drift, &self.drift_baseline) {
            (Some(registry), Some(path)) => {
                registry
                    .save(path)
                    .map_err(|source| ShutdownError::DriftBaseline {
                        path: path.clone(),
                        source,
                    })
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer
    }

    pub(crate) fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter
    }

    pub(crate) fn destination(&self) -> &str {
        &self.destination
    }

    /// The subscriber: spans to OpenTelemetry traces, events to OpenTelemetry logs, and events to
    /// stderr when `stderr` is set. `filter` is `RUST_LOG` syntax.
    pub(crate) fn subscriber(
        &self,
        config: &Config,
        filter: &str,
        stderr: bool,
    ) -> impl Subscriber + Send + Sync + 'static {
        let telemetry_filter = || {
            EnvFilter::try_new(format!("{filter},{EXPORT_STACK_OFF}"))
                .unwrap_or_else(|_| EnvFilter::new(format!("info,{EXPORT_STACK_OFF}")))
        };
        // Governed spans always: the contract is not subject to the log filter.
        let contract = ContractLayer::new(
            Shared::new(
                config,
                self.tracer.tracer(SCOPE),
                Some(Instruments::new(&self.meter.meter(SCOPE), config)),
                Clock::System,
                Some(self.ids.clone()),
            )
            .with_drift(self.drift.clone())
            .with_audit(self.audit.clone())
            .with_state(self.state.clone()),
        )
        .filtered();
        let traces = Bridge(tracing_opentelemetry::layer().with_tracer(self.tracer.tracer(SCOPE)))
            .with_filter(telemetry_filter().and(not_governed()));
        let logs = OpenTelemetryTracingBridge::new(&self.logger).with_filter(telemetry_filter());
        let console = stderr.then(|| {
            tracing_subscriber::fmt::layer()
                .fmt_fields(crate::console::ConsoleFields::new(config))
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(console_filter(filter))
        });
        Registry::default()
            .with(contract)
            .with(traces)
            .with(logs)
            .with(console)
    }

    /// Exports what is queued without shutting down.
    pub(crate) fn force_flush(&self) -> Result<(), ShutdownError> {
        let before = self.failures.count();
        let results = [
            self.tracer.force_flush(),
            self.logger.force_flush(),
            self.meter.force_flush(),
        ];
        let stopped = Stopped {
            errors: results.into_iter().filter_map(Result::err).collect(),
            timed_out: false,
        };
        self.outcome(stopped, before, Duration::ZERO, false)
    }

    /// Flushes and stops every provider within `timeout`, on a thread of its own so that a
    /// collector that never answers costs at most `timeout`, never a hang, and so that the
    /// application's runtime, if the handle is dropped inside one, is never blocked on exports.
    pub(crate) fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let (sender, receiver) = mpsc::channel();
        let parts = self.parts.clone();
        let work = move || {
            let taken = parts.lock().unwrap_or_else(PoisonError::into_inner).take();
            let _ = sender.send(taken.map(|p| stop(p, timeout)).unwrap_or_default());
        };
        let stopped = match thread::Builder::new()
            .name("govops-shutdown".to_owned())
            .spawn(work)
        {
            Ok(_) => receiver
                .recv_timeout(timeout + Duration::from_millis(250))
                .unwrap_or(Stopped {
                    errors: Vec::new(),
                    timed_out: true,
                }),
            // No thread to be had: stop here, still within the bound.
            Err(_) => {
                let taken = self
                    .parts
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                taken.map(|p| stop(p, timeout)).unwrap_or_default()
            }
        };
        self.outcome(stopped, 0, timeout, true)
    }

    /// Every span and log record lost so far, by reason.
    pub(crate) fn lost(&self) -> Lost {
        Lost {
            spans: self.spans.loss(),
            logs: self.logs.loss(),
        }
    }

    /// What a flush or `shutdown` comes to: a timeout first (what was queued is lost), then failed
    /// exports since `failures_before`, then any other error, then drops; each carries the whole
    /// account of what was lost, so that no reason hides another.
    fn outcome(
        &self,
        stopped: Stopped,
        failures_before: u64,
        timeout: Duration,
        shutdown: bool,
    ) -> Result<(), ShutdownError> {
        let destination = || self.destination.clone();
        let mut lost = Box::new(self.lost());
        if !shutdown {
            // A flush leaves the pipeline running: what is in flight still has its chance.
            lost.spans.unsettled = 0;
            lost.logs.unsettled = 0;
        }
        if stopped.timed_out {
            return Err(ShutdownError::TimedOut {
                after: timeout,
                destination: destination(),
                lost,
            });
        }
        if let Some((failed, last)) = self.failures.since(failures_before) {
            return Err(ShutdownError::ExportFailed {
                failed,
                last,
                destination: destination(),
                lost,
            });
        }
        if let Some(error) = stopped
            .errors
            .into_iter()
            .find(|e| !matches!(e, OTelSdkError::AlreadyShutdown))
        {
            return Err(ShutdownError::ExportFailed {
                failed: 1,
                last: error.to_string(),
                destination: destination(),
                lost,
            });
        }
        if lost.is_empty() {
            return Ok(());
        }
        Err(ShutdownError::SpansDropped {
            dropped: lost.spans.queue_full,
            queue_size: self.queue_size,
            destination: destination(),
            lost,
        })
    }
}

/// The providers exporting over OTLP to `otlp_config`'s collector, on a runtime of their own,
/// and where they export to.
fn otlp_providers(
    otlp_config: &govops_core::OtlpConfig,
    resource: Resource,
    queue: &Queue,
    call_context: CallContextLogs,
    failures: &Arc<Failures>,
) -> Result<(Providers, String), InitError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("govops-export")
        .enable_all()
        .build()
        .map_err(|source| InitError::Runtime { source })?;
    let exporters = match otlp::exporters(otlp_config, runtime.handle()) {
        Ok(exporters) => exporters,
        Err(error) => {
            // Dropping a runtime inside the caller's async context would panic.
            runtime.shutdown_background();
            return Err(error);
        }
    };
    let handle = Some(runtime.handle().clone());
    let mut providers = providers(
        resource,
        queue,
        call_context,
        Exporting::new(exporters.spans, handle.clone(), failures.clone())
            .refusals("span(s)", Some(queue.counts.pending_rejected.clone())),
        Exporting::new(exporters.logs, handle.clone(), failures.clone())
            .refusals("log record(s)", Some(queue.logs.pending_rejected.clone())),
        Exporting::new(exporters.metrics, handle, failures.clone())
            .refusals("metric data point(s)", None),
    );
    providers.runtime = Some(runtime);
    let destination = format!(
        "{} (OTLP {})",
        govops_core::config::redact_endpoint(&otlp_config.traces_endpoint),
        otlp_config.protocol
    );
    Ok((providers, destination))
}

/// How a stop went.
#[derive(Default)]
struct Stopped {
    errors: Vec<OTelSdkError>,
    timed_out: bool,
}

/// Stops every provider before `timeout` has passed, traces first since they matter most.
fn stop(providers: Providers, timeout: Duration) -> Stopped {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let results = [
        providers.tracer.shutdown_with_timeout(left()),
        providers.logger.shutdown_with_timeout(left()),
        providers.meter.shutdown_with_timeout(left()),
    ];
    let errors: Vec<_> = results.into_iter().filter_map(Result::err).collect();
    // The SDK reports a processor's timeout inside other errors' text, so the clock decides too.
    let timed_out = left().is_zero()
        || errors
            .iter()
            .any(|e| matches!(e, OTelSdkError::Timeout(_)) || e.to_string().contains("Timeout"));
    if let Some(runtime) = providers.runtime {
        if timed_out {
            // An export may still be running on the SDK's thread, driven by this runtime: shutting
            // the runtime down under it would make the transport panic. The process is on its
            // way out; let the runtime go with it.
            std::mem::forget(runtime);
        } else {
            runtime.shutdown_background();
        }
    }
    Stopped { errors, timed_out }
}

/// The stderr filter: the user's, with the export stack held to warnings unless the user named
/// one of its crates, so that a collector outage does not flood the console at `debug`. The
/// OpenTelemetry crates' own events stay off: they would print each failed export, and the
/// shutdown reports every loss once, with its counts.
fn console_filter(filter: &str) -> EnvFilter {
    let named = EXPORT_STACK_OFF
        .split(',')
        .filter_map(|d| d.split('=').next())
        .any(|c| filter.contains(c));
    let directives = if named {
        filter.to_owned()
    } else {
        let quiet: Vec<String> = EXPORT_STACK_OFF
            .split(',')
            .map(|d| match d.strip_suffix("=off") {
                Some(c) if !c.starts_with("opentelemetry") => format!("{c}=warn"),
                _ => d.to_owned(),
            })
            .collect();
        format!("{filter},{}", quiet.join(","))
    };
    EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"))
}

fn resource(config: &Config) -> Resource {
    // Only the telemetry.sdk.* detector: the SDK's default detectors read the process
    // environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), which an injected EnvSource replaces.
    Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(
            config
                .resource_attributes()
                .into_iter()
                .map(|(k, v)| KeyValue::new(k, v)),
        )
        .build()
}

/// `govops.telemetry.dropped`, read from the span and log accounting at each collection (the
/// last one after the tracer and logger have shut down, so the final figures are exact).
fn dropped_counter(
    meter: &SdkMeterProvider,
    spans: Arc<Counts>,
    logs: Arc<Counts>,
) -> ObservableCounter<u64> {
    meter
        .meter(SCOPE)
        .u64_observable_counter(metric::TELEMETRY_DROPPED)
        .with_unit("{item}")
        .with_description(
            "Spans and log records lost before reaching the destination, by signal and reason",
        )
        .with_callback(move |observer| {
            let points = spans.points("traces").into_iter();
            for (value, attributes) in points.chain(logs.points("logs")) {
                observer.observe(value, &attributes);
            }
        })
        .build()
}

/// The span queue and its accounting, the log accounting, and the ids governed spans draw
/// before they are built.
struct Queue {
    size: usize,
    counts: Arc<Counts>,
    logs: Arc<Counts>,
    ids: SpanIds,
    /// What is redacted before export.
    scan: Scan,
    /// The application's metric attributes, for the trips export raises.
    base: [KeyValue; 3],
}

fn providers<S, L, M>(
    resource: Resource,
    queue: &Queue,
    call_context: CallContextLogs,
    spans: S,
    logs: L,
    metrics: M,
) -> Providers
where
    S: SpanExporter + 'static,
    L: LogExporter + 'static,
    M: PushMetricExporter,
{
    let meter = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_periodic_exporter(metrics)
        .build();
    let trips = GuardTrips::of(&meter);
    Providers {
        tracer: SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_id_generator(queue.ids.clone())
            .with_span_processor(RedactingSpans {
                inner: Counting {
                    inner: BatchSpanProcessor::builder(CountedExporter {
                        inner: spans,
                        counts: queue.counts.clone(),
                    })
                    .with_batch_config(
                        BatchConfigBuilder::default()
                            .with_max_queue_size(queue.size)
                            .with_max_export_batch_size(EXPORT_BATCH.min(queue.size))
                            .build(),
                    )
                    .build(),
                    counts: queue.counts.clone(),
                },
                scan: queue.scan,
                trips: Some(trips),
                base: queue.base.clone(),
            })
            .build(),
        logger: SdkLoggerProvider::builder()
            .with_resource(resource)
            // The context first: what it adds (a user id, an agent's name) is scanned too.
            .with_log_processor(call_context)
            .with_log_processor(RedactingLogs { scan: queue.scan })
            .with_log_processor(Counting {
                inner: BatchLogProcessor::builder(CountedExporter {
                    inner: logs,
                    counts: queue.logs.clone(),
                })
                .build(),
                counts: queue.logs.clone(),
            })
            .build(),
        meter,
        runtime: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use govops_core::EnvSource;

    fn otlp_config() -> Config {
        Config::from_env(&EnvSource::from_pairs([
            ("GOVOPS_APP_NAME", "t"),
            ("GOVOPS_ENVIRONMENT", "test"),
            ("GOVOPS_OWNER", "o"),
            ("GOVOPS_COST_CENTER", "c"),
            ("GOVOPS_DATA_CLASSIFICATION", "public"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ]))
        .unwrap()
    }

    /// An exporter that cannot be built, inside the application's runtime, is an error: never a
    /// panic from dropping govops's own runtime in an async context.
    #[tokio::test]
    async fn an_exporter_that_cannot_be_built_inside_a_runtime_is_an_error() {
        let mut config = otlp_config();
        if let Some(otlp) = config.otlp.as_mut() {
            otlp.traces_endpoint = "http://bad host:4318/v1/traces".to_owned();
        }
        let error = Pipeline::build(&config).err().unwrap();
        assert!(
            matches!(
                error,
                InitError::Exporter {
                    signal: "traces",
                    ..
                }
            ),
            "{error}"
        );
    }

    /// Takes its time over every batch, as a collector far away would.
    #[derive(Debug)]
    struct Slow(Arc<std::sync::atomic::AtomicU64>);

    impl SpanExporter for Slow {
        fn export(
            &self,
            batch: Vec<opentelemetry_sdk::trace::SpanData>,
        ) -> impl Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
            std::thread::sleep(Duration::from_millis(30));
            self.0
                .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
            std::future::ready(Ok(()))
        }
    }

    /// Spans the queue cannot hold are counted, in the metric and at shutdown, never lost silently.
    #[test]
    fn spans_dropped_on_a_full_queue_are_counted_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let sink = JsonLinesFile::open(dir.path().join("t.jsonl")).unwrap();
        let delivered = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counts = Counts::new(8, EXPORT_BATCH);
        let logs = Counts::new(2048, 512);
        let queue = Queue {
            size: 8,
            counts: counts.clone(),
            logs: logs.clone(),
            ids: SpanIds::random(),
            scan: Scan::new(&govops_core::Guards::default()),
            base: base_attributes(&otlp_config()),
        };
        let failures = Arc::new(Failures::default());
        let providers = providers(
            Resource::builder_empty().build(),
            &queue,
            CallContextLogs {
                service: "t".into(),
                environment: "test".into(),
            },
            Slow(delivered.clone()),
            Exporting::new(FileLogExporter::new(sink.clone()), None, failures.clone()),
            Exporting::new(FileMetricExporter::new(sink), None, failures),
        );
        let _counter = dropped_counter(&providers.meter, counts.clone(), logs);
        let tracer = providers.tracer.tracer("t");
        for _ in 0..200 {
            opentelemetry::trace::Tracer::in_span(&tracer, "work", |_| {});
        }
        let stopped = stop(providers, Duration::from_secs(10));
        assert!(stopped.errors.is_empty(), "{:?}", stopped.errors);
        let delivered = delivered.load(std::sync::atomic::Ordering::Relaxed);
        assert!(delivered < 200, "a queue of 8 cannot hold 200 spans");
        assert_eq!(counts.queue_full(), 200 - delivered);

        // The last metric export, at shutdown, carries the exact figure.
        let text = std::fs::read_to_string(dir.path().join("t.jsonl")).unwrap();
        let last = text
            .lines()
            .rfind(|l| l.contains("govops.telemetry.dropped"))
            .unwrap();
        assert!(
            last.contains(&format!("\"asInt\":\"{}\"", 200 - delivered)),
            "{last}"
        );
    }

    #[test]
    fn the_console_filter_quiets_the_export_stack_unless_named() {
        let quiet = console_filter("debug").to_string();
        assert!(quiet.contains("hyper=warn"), "{quiet}");
        assert!(quiet.contains("opentelemetry_sdk=off"), "{quiet}");
        let named = console_filter("debug,hyper=trace").to_string();
        assert!(!named.contains("hyper=warn"), "{named}");
    }
}
