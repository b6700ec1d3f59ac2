//! The handle `init()` returns: it owns the pipeline and flushes it when dropped.

use std::fmt;
use std::time::Duration;

use govops_core::Config;

use crate::error::ShutdownError;
use crate::pipeline::Pipeline;

/// The running governance pipeline. Keep it alive for the life of the program (bind it in `main`:
/// `let _govops = govops::init();`); dropping it flushes every span, log and metric, taking at most
/// the shutdown timeout (5 s unless set) even when the collector never answers.
#[must_use = "dropping the handle shuts telemetry down at once; bind it: `let _govops = govops::init();`"]
pub struct GovOps {
    config: Config,
    pipeline: Pipeline,
    shutdown_timeout: Duration,
    shut_down: bool,
}

impl GovOps {
    pub(crate) fn new(config: Config, pipeline: Pipeline, shutdown_timeout: Duration) -> Self {
        Self {
            config,
            pipeline,
            shutdown_timeout,
            shut_down: false,
        }
    }

    /// The validated start-up metadata.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where telemetry goes: the OTLP traces endpoint, or the JSON-lines file.
    #[must_use]
    pub fn destination(&self) -> &str {
        self.pipeline.destination()
    }

    /// The drift of every model the governed calls used, per provider; `None` when the policy
    /// turns `model_drift` off.
    #[must_use]
    pub fn drift(&self) -> Option<&govops_core::DriftRegistry> {
        self.pipeline.drift()
    }

    /// Whether the guards' state (budgets, agent loops) is shared with other processes through
    /// `GOVOPS_STATE_URL`, rather than kept in this process alone.
    #[must_use]
    pub fn shared_state(&self) -> bool {
        self.pipeline.shared_state()
    }

    /// Exports everything queued so far, and keeps running.
    ///
    /// # Errors
    ///
    /// When an export failed or timed out.
    pub fn force_flush(&self) -> Result<(), ShutdownError> {
        self.pipeline.force_flush()
    }

    /// Flushes and stops the pipeline, reporting what could not be delivered; dropping the handle
    /// does the same and prints the report as a one-line warning instead.
    ///
    /// Saves the drift baseline too, when a file is configured.
    ///
    /// # Errors
    ///
    /// When the flush timed out or exports failed (that telemetry is lost), else when the drift
    /// baseline could not be saved.
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.shut_down = true;
        self.pipeline.flush_state(self.shutdown_timeout);
        let saved = self.pipeline.save_drift();
        // After the calls' spans have settled: every record is handed over by then.
        let audited = self.pipeline.close_audit();
        self.pipeline
            .shutdown(self.shutdown_timeout)
            .and(audited)
            .and(saved)
    }
}

impl Drop for GovOps {
    fn drop(&mut self) {
        if !self.shut_down {
            self.shut_down = true;
            self.pipeline.flush_state(self.shutdown_timeout);
            let saved = self.pipeline.save_drift();
            let audited = self.pipeline.close_audit();
            for error in [
                self.pipeline.shutdown(self.shutdown_timeout),
                audited,
                saved,
            ]
            .into_iter()
            .filter_map(Result::err)
            {
                eprintln!("govops: warning: {error}");
            }
        }
    }
}

impl fmt::Debug for GovOps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GovOps")
            .field("config", &self.config)
            .field("destination", &self.pipeline.destination())
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}
