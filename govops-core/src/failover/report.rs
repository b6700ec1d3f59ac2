//! What every router tells the telemetry, beside the application's own observer.
//!
//! The domain knows nothing of spans or metrics: the telemetry crate installs one [`Reporter`]
//! per process (the first install wins), and every router reports through it. Without one,
//! routers report nothing and pay one atomic load per call.

use std::sync::OnceLock;

use super::{Attempt, FailoverEvent, ProviderInfo, Readiness};

/// Receives what routers report; called on the task that made the routed call, outside the
/// router's locks, so an implementation may look at the call it runs in.
pub trait Reporter: Send + Sync {
    /// Traffic moved (a failover or a failback).
    fn switched(&self, event: &FailoverEvent);

    /// A routed call was served by `provider`, after the attempts in `failed`.
    fn served(&self, provider: &ProviderInfo, failed: &[Attempt]);

    /// The readiness of each secondary, reported after every switch and at most once per
    /// [`REPORT_EVERY`] besides.
    fn readiness(&self, scores: &[Readiness]);
}

/// The least time between two readiness reports of one router (switches aside).
pub const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

static REPORTER: OnceLock<&'static dyn Reporter> = OnceLock::new();

/// Installs the process's reporter; false when one was installed already (it stays).
pub fn set_reporter(reporter: &'static dyn Reporter) -> bool {
    REPORTER.set(reporter).is_ok()
}

pub(crate) fn reporter() -> Option<&'static dyn Reporter> {
    REPORTER.get().copied()
}
