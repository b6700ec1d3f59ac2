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
    /// The shared guard state `GOVOPS_STATE_URL` names cannot be used by this build.
    #[error("govops: GOVOPS_STATE_URL ({url}) cannot be used: {reason}")]
    State {
        /// The URL, its password masked.
        url: String,
        /// Why.
        reason: String,
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
            | Self::AuditLog { .. }
            | Self::State { .. } => 78,
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
///
/// Whichever variant comes back, [`ShutdownError::lost`] gives the whole account of the spans and
/// log records lost, by reason, and the message (the warning printed when the handle is dropped)
/// states every reason that is not zero: a failing collector never hides a full queue, nor a full
/// queue a failing collector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The flush did not finish in time; what was still queued is lost.
    #[error(
        "telemetry to {destination} was not flushed within {after:?}; what was still queued is lost{lost}"
    )]
    TimedOut {
        /// The bound that passed.
        after: Duration,
        /// Where the telemetry was going.
        destination: String,
        /// What was lost, by signal and reason.
        lost: Box<Lost>,
    },
    /// Some exports failed (or the collector refused part of one) during the life of the
    /// pipeline or at its end.
    #[error(
        "{failed} telemetry export(s) to {destination} failed, last: {last}; that telemetry is lost{lost}"
    )]
    ExportFailed {
        /// How many exports failed or were refused in part.
        failed: u64,
        /// The last failure.
        last: String,
        /// Where the telemetry was going.
        destination: String,
        /// What was lost, by signal and reason.
        lost: Box<Lost>,
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
    /// Spans or log records were dropped because an export queue was full: the exporter could
    /// not keep up.
    #[error(
        "telemetry was dropped because an export queue was full{lost}; raise OTEL_BSP_MAX_QUEUE_SIZE \
         ({queue_size} now, or Builder::span_queue_size) for spans, OTEL_BLRP_MAX_QUEUE_SIZE for log \
         records, or export to a faster destination than {destination}"
    )]
    SpansDropped {
        /// How many spans were dropped (log records: in `lost`).
        dropped: u64,
        /// The span queue's size.
        queue_size: usize,
        /// Where the telemetry was going.
        destination: String,
        /// What was lost, by signal and reason (log records dropped by their own full queue too).
        lost: Box<Lost>,
    },
}

impl ShutdownError {
    /// The spans and log records lost, by reason, when the error is about lost telemetry.
    #[must_use]
    pub fn lost(&self) -> Option<&Lost> {
        match self {
            Self::TimedOut { lost, .. }
            | Self::ExportFailed { lost, .. }
            | Self::SpansDropped { lost, .. } => Some(&**lost),
            Self::AuditLog { .. } | Self::DriftBaseline { .. } => None,
        }
    }
}

/// The telemetry a pipeline lost over its life, by signal. Metric exports that failed are
/// counted in [`ShutdownError::ExportFailed`] only: a metric is a running total that the next
/// export carries again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lost {
    /// Spans.
    pub spans: SignalLoss,
    /// Log records.
    pub logs: SignalLoss,
}

impl Lost {
    /// Whether nothing was dropped, failed or refused. Items still in flight are not counted:
    /// they are lost only when a shutdown gives up on them ([`ShutdownError::TimedOut`]).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        let settled_loss = |s: &SignalLoss| s.queue_full + s.export_failed + s.rejected;
        settled_loss(&self.spans) == 0 && settled_loss(&self.logs) == 0
    }
}

/// One signal's account: every item that ended is `exported`, `queue_full`, `export_failed`,
/// `rejected` or `unsettled`, and these add up to `ended`.
///
/// Taken at a clean shutdown the account is exact and `unsettled` is zero. Taken while the
/// pipeline runs (a flush) or after a shutdown that timed out, `queue_full` counts only what cannot
/// still be queued, and `unsettled` the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalLoss {
    /// Spans that ended, or log records emitted.
    pub ended: u64,
    /// Delivered to the destination and accepted.
    pub exported: u64,
    /// Dropped by the batch processor because its queue was full (the exporter could not keep up).
    pub queue_full: u64,
    /// Lost in an export that failed: collector down, too slow, or answering with an error.
    pub export_failed: u64,
    /// Refused by the collector in an answer that was otherwise a success (OTLP `partial_success`).
    pub rejected: u64,
    /// Still queued or being exported when the account was taken: after a shutdown that timed
    /// out, lost with the process.
    pub unsettled: u64,
}

impl SignalLoss {
    /// Everything that did not arrive.
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.queue_full + self.export_failed + self.rejected + self.unsettled
    }

    fn write(&self, f: &mut std::fmt::Formatter<'_>, what: &str) -> std::fmt::Result {
        if self.lost() == 0 {
            return Ok(());
        }
        write!(f, "; {what}: {} of {} lost (", self.lost(), self.ended)?;
        let reasons = [
            (self.queue_full, "dropped on a full export queue"),
            (self.export_failed, "in failed exports"),
            (self.rejected, "refused by the collector"),
            (self.unsettled, "still queued or exporting"),
        ];
        let mut first = true;
        for (count, reason) in reasons.into_iter().filter(|(count, _)| *count > 0) {
            let sep = if first { "" } else { ", " };
            write!(f, "{sep}{count} {reason}")?;
            first = false;
        }
        write!(f, ")")
    }
}

impl std::fmt::Display for Lost {
    /// Nothing when nothing was lost, else `; spans: N of M lost (…)` and the same for log records.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.spans.write(f, "spans")?;
        self.logs.write(f, "log records")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drop_names_each_signal_and_reason_with_its_count_and_nothing_else() {
        let lost = Lost {
            logs: SignalLoss {
                ended: 10,
                exported: 3,
                queue_full: 5,
                export_failed: 2,
                ..SignalLoss::default()
            },
            ..Lost::default()
        };
        let error = ShutdownError::SpansDropped {
            dropped: 0,
            queue_size: 2048,
            destination: "t.jsonl".to_owned(),
            lost: Box::new(lost),
        };
        let text = error.to_string();
        assert!(
            text.contains(
                "; log records: 7 of 10 lost (5 dropped on a full export queue, 2 in failed exports);"
            ),
            "{text}"
        );
        assert!(!text.contains("spans:"), "no span was lost: {text}");
        assert_eq!(error.lost(), Some(&lost));
        assert!(!lost.is_empty());
        assert!(Lost::default().is_empty());
    }
}
