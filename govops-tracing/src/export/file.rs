//! The local JSON-lines sink: OTLP JSON, one export request per line.
//!
//! Each line is an `ExportTraceServiceRequest`, `ExportLogsServiceRequest` or
//! `ExportMetricsServiceRequest` in the OTLP JSON encoding (`{"resourceSpans": …}`,
//! `{"resourceLogs": …}`, `{"resourceMetrics": …}`), as the OpenTelemetry Collector's file exporter
//! writes them, so the Collector's `otlpjsonfile` receiver and other existing tools can read it.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::{Temporality, exporter::PushMetricExporter};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// A file opened for appending that whole lines are written to, shared by the three exporters.
///
/// Each line goes to the file in one `write_all` under a lock, so lines from traces, logs and
/// metrics never interleave, and nothing waits in a user-space buffer at exit.
#[derive(Clone)]
pub struct JsonLinesFile {
    file: Arc<Mutex<File>>,
    path: PathBuf,
}

impl JsonLinesFile {
    /// Opens `path` for appending, creating it when it does not exist.
    ///
    /// # Errors
    ///
    /// The I/O error when the file cannot be opened or created.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            file: Arc::new(Mutex::new(file)),
            path,
        })
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_line<T: serde::Serialize>(&self, value: &T) -> OTelSdkResult {
        let mut line = serde_json::to_vec(value).map_err(|e| {
            OTelSdkError::InternalFailure(format!("cannot encode telemetry as JSON: {e}"))
        })?;
        line.push(b'\n');
        // A writer that panicked mid-line left at most a torn line; later lines are still whole.
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        file.write_all(&line).map_err(|e| {
            OTelSdkError::InternalFailure(format!("cannot write to {}: {e}", self.path.display()))
        })
    }
}

impl fmt::Debug for JsonLinesFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLinesFile")
            .field("path", &self.path)
            .finish()
    }
}

/// Writes span batches to a [`JsonLinesFile`].
#[derive(Debug)]
pub struct FileSpanExporter {
    sink: JsonLinesFile,
    resource: ResourceAttributesWithSchema,
}

impl FileSpanExporter {
    /// An exporter writing to `sink`.
    #[must_use]
    pub fn new(sink: JsonLinesFile) -> Self {
        Self {
            sink,
            resource: ResourceAttributesWithSchema::default(),
        }
    }
}

impl SpanExporter for FileSpanExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let result = if batch.is_empty() {
            Ok(())
        } else {
            let request = ExportTraceServiceRequest {
                resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
            };
            self.sink.write_line(&request)
        };
        std::future::ready(result)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}

/// Writes log batches to a [`JsonLinesFile`].
#[derive(Debug)]
pub struct FileLogExporter {
    sink: JsonLinesFile,
    resource: ResourceAttributesWithSchema,
}

impl FileLogExporter {
    /// An exporter writing to `sink`.
    #[must_use]
    pub fn new(sink: JsonLinesFile) -> Self {
        Self {
            sink,
            resource: ResourceAttributesWithSchema::default(),
        }
    }
}

impl LogExporter for FileLogExporter {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        let request = ExportLogsServiceRequest {
            resource_logs: group_logs_by_resource_and_scope(&batch, &self.resource),
        };
        let has_records = request
            .resource_logs
            .iter()
            .any(|r| r.scope_logs.iter().any(|s| !s.log_records.is_empty()));
        let result = if has_records {
            self.sink.write_line(&request)
        } else {
            Ok(())
        };
        std::future::ready(result)
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}

/// Writes metric collections to a [`JsonLinesFile`], with cumulative temporality.
#[derive(Debug)]
pub struct FileMetricExporter {
    sink: JsonLinesFile,
}

impl FileMetricExporter {
    /// An exporter writing to `sink`.
    #[must_use]
    pub fn new(sink: JsonLinesFile) -> Self {
        Self { sink }
    }
}

impl PushMetricExporter for FileMetricExporter {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        let result = if metrics.scope_metrics().next().is_none() {
            Ok(())
        } else {
            self.sink
                .write_line(&ExportMetricsServiceRequest::from(metrics))
        };
        std::future::ready(result)
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
    use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

    fn request(thread: usize, n: usize) -> ExportTraceServiceRequest {
        let big = format!("{thread}-{n}-{}", "x".repeat(16 * 1024));
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(ProtoResource {
                    attributes: vec![KeyValue {
                        key: "payload".to_owned(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(big)),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }],
        }
    }

    #[test]
    fn lines_from_many_threads_never_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let sink = JsonLinesFile::open(&path).unwrap();
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let sink = sink.clone();
                scope.spawn(move || {
                    for n in 0..100 {
                        sink.write_line(&request(thread, n)).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines() {
            let parsed: ExportTraceServiceRequest = serde_json::from_str(line).unwrap();
            let attr = &parsed.resource_spans[0]
                .resource
                .as_ref()
                .unwrap()
                .attributes[0];
            let Some(any_value::Value::StringValue(s)) =
                attr.value.as_ref().unwrap().value.as_ref()
            else {
                panic!("not a string");
            };
            seen.insert(s.split('-').take(2).collect::<Vec<_>>().join("-"));
        }
        assert_eq!(seen.len(), 400);
    }

    #[test]
    fn a_path_in_a_missing_directory_cannot_be_opened() {
        let dir = tempfile::tempdir().unwrap();
        let error = JsonLinesFile::open(dir.path().join("missing/dir/t.jsonl")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
