//! OTLP exporters, and the wrapper that runs every export off the application's threads.
//!
//! The SDK's batch processors and periodic reader export from their own threads. The OTLP
//! transports (tonic, reqwest) need a tokio reactor, which those threads lack and which the
//! application may or may not have; so govops owns a one-worker runtime and drives each export on
//! it. The application's runtime, if any, never runs export work.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use govops_core::{OtlpConfig, OtlpProtocol};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::{Temporality, exporter::PushMetricExporter};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tokio::runtime::Handle;
use tonic::metadata::{Ascii, MetadataKey, MetadataValue};
use tonic::service::Interceptor;
use tracing::Dispatch;

use crate::error::InitError;
use crate::export::partial::Refusals;

/// Export failures over the life of a pipeline, reported at shutdown.
#[derive(Debug, Default)]
pub(crate) struct Failures {
    count: AtomicU64,
    last: Mutex<Option<String>>,
}

impl Failures {
    fn record(&self, result: &OTelSdkResult) {
        if let Err(error) = result {
            self.failed(error.to_string());
        }
    }

    fn failed(&self, why: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = Some(why);
    }

    /// How many exports have failed so far.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// How many exports failed after the first `before`, and the last failure.
    pub(crate) fn since(&self, before: u64) -> Option<(u64, String)> {
        let count = self.count().saturating_sub(before);
        let last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        (count > 0).then(|| (count, last.unwrap_or_default()))
    }
}

/// Wraps an exporter: counts its failures and, given a runtime, drives its exports there.
pub(crate) struct Exporting<E> {
    inner: E,
    runtime: Option<Handle>,
    failures: Arc<Failures>,
    refusals: Option<Catch>,
}

/// What an OTLP exporter's collector refuses in an otherwise successful answer.
struct Catch {
    dispatch: Dispatch,
    refusals: Arc<Refusals>,
    /// What the exporter sends, for the failure's message.
    what: &'static str,
}

impl<E> Exporting<E> {
    pub(crate) fn new(inner: E, runtime: Option<Handle>, failures: Arc<Failures>) -> Self {
        Self {
            inner,
            runtime,
            failures,
            refusals: None,
        }
    }

    /// Counts what the collector refuses (OTLP `partial_success`) as a failed export, and in
    /// `pending` (the signal's accounting) when given. `what` names the items, plural.
    pub(crate) fn refusals(mut self, what: &'static str, pending: Option<Arc<AtomicU64>>) -> Self {
        let (dispatch, refusals) = Refusals::dispatch(pending);
        self.refusals = Some(Catch {
            dispatch,
            refusals,
            what,
        });
        self
    }
}

impl<E: fmt::Debug> fmt::Debug for Exporting<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporting")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// Runs `export` to completion, on `runtime` when one is given, and records its outcome: a
/// failure, or a success in which the collector refused part of the batch.
async fn drive<F>(
    runtime: Option<&Handle>,
    failures: &Failures,
    refusals: Option<&Catch>,
    export: F,
) -> OTelSdkResult
where
    F: Future<Output = OTelSdkResult> + Send,
{
    let dispatch = refusals.map(|c| &c.dispatch);
    let result = match runtime {
        None => export.await,
        // The SDK calls exporters from its own threads, outside any runtime; should one ever call
        // from inside a runtime, block_on would panic, so step onto a scoped thread instead.
        Some(handle) if Handle::try_current().is_ok() => std::thread::scope(|scope| {
            scope
                .spawn(|| block_on(handle, dispatch, export))
                .join()
                .unwrap_or_else(|_| Err(panicked()))
        }),
        Some(handle) => block_on(handle, dispatch, export),
    };
    failures.record(&result);
    if let Some(catch) = refusals {
        let refused = catch.refusals.take();
        if refused > 0 && result.is_ok() {
            failures.failed(format!(
                "the collector accepted an export but refused {refused} {} in it (OTLP partial_success)",
                catch.what
            ));
        }
    }
    result
}

/// Drives `export` on the runtime, with `dispatch` as the default subscriber so that the
/// exporter's partial-success events reach it; a transport that panics becomes a failed export,
/// so the SDK's export thread lives on.
fn block_on<F: Future<Output = OTelSdkResult>>(
    handle: &Handle,
    dispatch: Option<&Dispatch>,
    export: F,
) -> OTelSdkResult {
    let run = || handle.block_on(export);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match dispatch {
        Some(dispatch) => tracing::dispatcher::with_default(dispatch, run),
        None => run(),
    }))
    .unwrap_or_else(|_| Err(panicked()))
}

fn panicked() -> OTelSdkError {
    OTelSdkError::InternalFailure("the OTLP transport panicked during an export".to_owned())
}

impl<E: SpanExporter> SpanExporter for Exporting<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        drive(
            self.runtime.as_ref(),
            &self.failures,
            self.refusals.as_ref(),
            self.inner.export(batch),
        )
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

impl<E: LogExporter> LogExporter for Exporting<E> {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        drive(
            self.runtime.as_ref(),
            &self.failures,
            self.refusals.as_ref(),
            self.inner.export(batch),
        )
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Exporting<E> {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        drive(
            self.runtime.as_ref(),
            &self.failures,
            self.refusals.as_ref(),
            self.inner.export(metrics),
        )
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// The three OTLP exporters for one configuration.
pub(crate) struct OtlpExporters {
    pub(crate) spans: opentelemetry_otlp::SpanExporter,
    pub(crate) logs: opentelemetry_otlp::LogExporter,
    pub(crate) metrics: opentelemetry_otlp::MetricExporter,
}

/// One OTLP exporter of kind `$kind` for `$endpoint` over the transport `$transport` (with its
/// headers or metadata); the three signals differ only in their builder types.
macro_rules! exporter {
    ($kind:ident, $config:expr, $endpoint:ident, $signal:literal, grpc($headers:expr)) => {
        opentelemetry_otlp::$kind::builder()
            .with_tonic()
            .with_endpoint(&$config.$endpoint)
            .with_timeout($config.timeout)
            .with_interceptor($headers)
            .build()
            .map_err(build_failed($signal))?
    };
    ($kind:ident, $config:expr, $endpoint:ident, $signal:literal, http($client:expr)) => {
        opentelemetry_otlp::$kind::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(&$config.$endpoint)
            .with_timeout($config.timeout)
            .with_http_client($client)
            .build()
            .map_err(build_failed($signal))?
    };
}

fn build_failed(
    signal: &'static str,
) -> impl Fn(opentelemetry_otlp::ExporterBuildError) -> InitError {
    move |e| InitError::Exporter {
        signal,
        reason: e.to_string(),
    }
}

/// Builds the exporters; must run inside `runtime`'s context, since tonic's lazy channel spawns a
/// task there.
pub(crate) fn exporters(config: &OtlpConfig, runtime: &Handle) -> Result<OtlpExporters, InitError> {
    let _entered = runtime.enter();
    Ok(match config.protocol {
        OtlpProtocol::Grpc => {
            let headers = GrpcHeaders::new(config)?;
            OtlpExporters {
                spans: exporter!(
                    SpanExporter,
                    config,
                    traces_endpoint,
                    "traces",
                    grpc(headers.clone())
                ),
                logs: exporter!(
                    LogExporter,
                    config,
                    logs_endpoint,
                    "logs",
                    grpc(headers.clone())
                ),
                metrics: exporter!(
                    MetricExporter,
                    config,
                    metrics_endpoint,
                    "metrics",
                    grpc(headers)
                ),
            }
        }
        OtlpProtocol::HttpProtobuf => {
            let client = HttpHeaders::new(config)?;
            OtlpExporters {
                spans: exporter!(
                    SpanExporter,
                    config,
                    traces_endpoint,
                    "traces",
                    http(client.clone())
                ),
                logs: exporter!(
                    LogExporter,
                    config,
                    logs_endpoint,
                    "logs",
                    http(client.clone())
                ),
                metrics: exporter!(
                    MetricExporter,
                    config,
                    metrics_endpoint,
                    "metrics",
                    http(client)
                ),
            }
        }
    })
}

fn bad_header(key: &str, what: &str) -> InitError {
    InitError::Exporter {
        signal: "all",
        reason: format!(
            "the header {key:?} in OTEL_EXPORTER_OTLP_HEADERS has {what} that cannot be sent (value not shown)"
        ),
    }
}

/// The configured headers as gRPC metadata, set by an interceptor. The OTLP crate also reads
/// `OTEL_EXPORTER_OTLP_HEADERS` from the process environment and adds it first; the interceptor
/// runs after that and replaces those keys, so values from govops's configuration (code, or the
/// injected environment) win.
#[derive(Clone)]
struct GrpcHeaders(Arc<Vec<(MetadataKey<Ascii>, MetadataValue<Ascii>)>>);

impl GrpcHeaders {
    fn new(config: &OtlpConfig) -> Result<Self, InitError> {
        let headers = config
            .headers
            .iter()
            .map(|(key, value)| {
                let name = MetadataKey::from_str(key).map_err(|_| bad_header(key, "a name"))?;
                let value = MetadataValue::from_str(value.expose())
                    .map_err(|_| bad_header(key, "a value"))?;
                Ok((name, value))
            })
            .collect::<Result<_, InitError>>()?;
        Ok(Self(Arc::new(headers)))
    }
}

impl Interceptor for GrpcHeaders {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        for (name, value) in self.0.iter() {
            request.metadata_mut().insert(name.clone(), value.clone());
        }
        Ok(request)
    }
}

/// A reqwest client that sets the configured headers last, replacing any the OTLP crate took from
/// the process environment, for the same reason as [`GrpcHeaders`].
#[derive(Clone)]
struct HttpHeaders {
    client: reqwest::Client,
    headers: Arc<http::HeaderMap>,
}

impl HttpHeaders {
    fn new(config: &OtlpConfig) -> Result<Self, InitError> {
        let mut headers = http::HeaderMap::new();
        for (key, value) in &config.headers {
            let name = http::HeaderName::from_str(key).map_err(|_| bad_header(key, "a name"))?;
            let mut value = http::HeaderValue::from_str(value.expose())
                .map_err(|_| bad_header(key, "a value"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| InitError::Exporter {
                signal: "all",
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            client,
            headers: Arc::new(headers),
        })
    }
}

impl fmt::Debug for HttpHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpHeaders")
            .field("names", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[async_trait::async_trait]
impl HttpClient for HttpHeaders {
    async fn send_bytes(
        &self,
        mut request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        for (name, value) in self.headers.iter() {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        self.client.send_bytes(request).await
    }
}
