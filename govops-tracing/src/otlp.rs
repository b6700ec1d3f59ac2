//! OTLP exporters, and the wrapper that runs every export off the application's threads.
//!
//! The SDK's batch processors and periodic reader export from their own threads. The OTLP
//! transports (tonic, reqwest) need a tokio reactor, which those threads lack and which the
//! application may or may not have; so govops owns a one-worker runtime and drives each export on
//! it. The application's runtime, if any, never runs export work.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use govops_core::{OtlpConfig, OtlpProtocol};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::{Temporality, exporter::PushMetricExporter};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tokio::runtime::Handle;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

use crate::error::InitError;

/// Export failures over the life of a pipeline, reported at shutdown.
#[derive(Debug, Default)]
pub(crate) struct Failures {
    count: AtomicU64,
    last: Mutex<Option<String>>,
}

impl Failures {
    fn record(&self, result: &OTelSdkResult) {
        if let Err(error) = result {
            self.count.fetch_add(1, Ordering::Relaxed);
            let mut last = self
                .last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *last = Some(error.to_string());
        }
    }

    /// How many exports failed, and the last failure.
    pub(crate) fn summary(&self) -> Option<(u64, String)> {
        let count = self.count.load(Ordering::Relaxed);
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
}

impl<E> Exporting<E> {
    pub(crate) fn new(inner: E, runtime: Option<Handle>, failures: Arc<Failures>) -> Self {
        Self {
            inner,
            runtime,
            failures,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Exporting<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporting")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// Runs `export` to completion, on `runtime` when one is given, and records its outcome.
async fn drive<F>(runtime: Option<&Handle>, failures: &Failures, export: F) -> OTelSdkResult
where
    F: Future<Output = OTelSdkResult> + Send,
{
    let result = match runtime {
        None => export.await,
        // The SDK calls exporters from its own threads, outside any runtime; should one ever call
        // from inside a runtime, block_on would panic, so step onto a scoped thread instead.
        Some(handle) if Handle::try_current().is_ok() => std::thread::scope(|scope| {
            scope
                .spawn(|| handle.block_on(export))
                .join()
                .unwrap_or_else(|_| {
                    Err(OTelSdkError::InternalFailure(
                        "the export thread panicked".to_owned(),
                    ))
                })
        }),
        Some(handle) => handle.block_on(export),
    };
    failures.record(&result);
    result
}

impl<E: SpanExporter> SpanExporter for Exporting<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        drive(
            self.runtime.as_ref(),
            &self.failures,
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
    ($kind:ident, $config:expr, $endpoint:ident, $signal:literal, grpc($metadata:expr)) => {
        opentelemetry_otlp::$kind::builder()
            .with_tonic()
            .with_endpoint(&$config.$endpoint)
            .with_timeout($config.timeout)
            .with_metadata($metadata)
            .build()
            .map_err(build_failed($signal))?
    };
    ($kind:ident, $config:expr, $endpoint:ident, $signal:literal, http($headers:expr)) => {
        opentelemetry_otlp::$kind::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(&$config.$endpoint)
            .with_timeout($config.timeout)
            .with_headers($headers)
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
            let metadata = metadata(config)?;
            OtlpExporters {
                spans: exporter!(
                    SpanExporter,
                    config,
                    traces_endpoint,
                    "traces",
                    grpc(metadata.clone())
                ),
                logs: exporter!(
                    LogExporter,
                    config,
                    logs_endpoint,
                    "logs",
                    grpc(metadata.clone())
                ),
                metrics: exporter!(
                    MetricExporter,
                    config,
                    metrics_endpoint,
                    "metrics",
                    grpc(metadata)
                ),
            }
        }
        OtlpProtocol::HttpProtobuf => {
            let headers: HashMap<String, String> = config
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                .collect();
            OtlpExporters {
                spans: exporter!(
                    SpanExporter,
                    config,
                    traces_endpoint,
                    "traces",
                    http(headers.clone())
                ),
                logs: exporter!(
                    LogExporter,
                    config,
                    logs_endpoint,
                    "logs",
                    http(headers.clone())
                ),
                metrics: exporter!(
                    MetricExporter,
                    config,
                    metrics_endpoint,
                    "metrics",
                    http(headers)
                ),
            }
        }
    })
}

/// gRPC metadata from the configured headers. Errors name the key, never the value.
fn metadata(config: &OtlpConfig) -> Result<MetadataMap, InitError> {
    let mut map = MetadataMap::new();
    for (key, value) in &config.headers {
        let bad = |what: &str| InitError::Exporter {
            signal: "all",
            reason: format!(
                "the header {key:?} in OTEL_EXPORTER_OTLP_HEADERS has {what} gRPC does not accept"
            ),
        };
        let name = MetadataKey::from_str(key).map_err(|_| bad("a name"))?;
        let value = MetadataValue::from_str(value.expose()).map_err(|_| bad("a value"))?;
        map.insert(name, value);
    }
    Ok(map)
}
