//! What can go wrong at start-up and at shutdown.

use std::path::PathBuf;
use std::time::Duration;

use govops_core::Gaps;

/// Why [`crate::Builder::try_init`] did not start the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The start-up metadata has gaps: every one of them is here.
    #[error("{gaps}")]
    Config {
        /// Every gap found, never only the first.
        gaps: Gaps,
    },
    /// govops was already initialised in this process.
    #[error(
        "govops is already initialised in this process: call init() once, in main, and keep its handle"
    )]
    AlreadyInitialized,
    /// Other code already set the global `tracing` subscriber.
    #[error(
        "a global tracing subscriber was already set by other code; govops::init() must install its own, so call it before any other subscriber is set"
    )]
    SubscriberAlreadySet,
    /// The JSON-lines telemetry file cannot be opened.
    #[error(
        "govops: cannot open the telemetry file {path:?} (GOVOPS_TELEMETRY_FILE) for appending: {source}"
    )]
    TelemetryFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An OTLP exporter cannot be built from the configuration.
    #[error("govops: cannot build the OTLP {signal} exporter from OTEL_EXPORTER_OTLP_*: {reason}")]
    Exporter {
        /// `traces`, `metrics` or `logs`.
        signal: &'static str,
        /// The exporter's reason.
        reason: String,
    },
    /// The drift baseline file exists but cannot be restored.
    #[error(
        "govops: cannot restore the drift baseline {path:?}: {source}; fix or remove the file (a missing file starts a fresh baseline)"
    )]
    DriftBaseline {
        /// The file.
        path: PathBuf,
        /// Why.
        source: govops_core::DriftError,
    },
    /// The audit log (`GOVOPS_AUDIT_LOG`) cannot be opened.
    #[error("govops: cannot open the audit log {path:?} (GOVOPS_AUDIT_LOG): {source}")]
    AuditLog {
        /// The file.
        path: PathBuf,
        /// Why.
        source: govops_core::AuditError,
    },
    /// The thread that runs OTLP exports cannot be started.
    #[error("govops: cannot start the telemetry export thread: {source}")]
    Runtime {
        /// Why.
        source: std::io::Error,
    },
}

impl InitError {
    /// The process exit code [`crate::Builder::init`] uses for this error: 78 (`EX_CONFIG`) for a
    /// configuration problem, 70 (`EX_SOFTWARE`) for API misuse, 71 (`EX_OSERR`) for the system.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Config { .. }
            | Self::TelemetryFile { .. }
            | Self::Exporter { .. }
            | Self::DriftBaseline { .. }
            | Self::AuditLog { .. } => 78,
            Self::AlreadyInitialized | Self::SubscriberAlreadySet => 70,
            Self::Runtime { .. } => 71,
        }
    }

    /// The gaps, when this is a configuration error.
    #[must_use]
    pub fn gaps(&self) -> Option<&Gaps> {
        match self {
            Self::Config { gaps } => Some(gaps),
            _ => None,
        }
    }
}

/// Why [`crate::GovOps::shutdown`] could not deliver everything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The flush did not finish in time; what was still queued is lost.
    #[error(
        "telemetry to {destination} was not flushed within {after:?}; what was still queued is lost"
    )]
    TimedOut {
        /// The bound that passed.
        after: Duration,
        /// Where the telemetry was going.
        destination: String,
    },
    /// Some exports failed during the life of the pipeline or at its end.
    #[error(
        "{failed} telemetry export(s) to {destination} failed, last: {last}; that telemetry is lost"
    )]
    ExportFailed {
        /// How many exports failed.
        failed: u64,
        /// The last failure.
        last: String,
        /// Where the telemetry was going.
        destination: String,
    },
    /// The audit log could not write everything handed to it.
    #[error("the audit log {path:?} could not be closed cleanly: {source}")]
    AuditLog {
        /// The file.
        path: PathBuf,
        /// Why.
        source: govops_core::AuditError,
    },
    /// The drift baseline could not be saved: the next start begins a fresh baseline.
    #[error(
        "the drift baseline {path:?} could not be saved: {source}; the next start begins a fresh one"
    )]
    DriftBaseline {
        /// The file.
        path: PathBuf,
        /// Why.
        source: govops_core::DriftError,
    },
    /// Spans were dropped because the export queue was full: the exporter could not keep up.
    #[error(
        "{dropped} span(s) were dropped because the export queue ({queue_size} spans) was full; \
         raise OTEL_BSP_MAX_QUEUE_SIZE (or Builder::span_queue_size) or export to a faster destination than {destination}"
    )]
    SpansDropped {
        /// How many spans were lost.
        dropped: u64,
        /// The queue's size.
        queue_size: usize,
        /// Where the telemetry was going.
        destination: String,
    },
}
