//! Multi-provider failover with a readiness score.
//!
//! The application registers [`Provider`]s, each an async call with a name, a model, its context
//! window and optionally the version of its deployed configuration and a health probe. A
//! [`Router`] sends each call to the primary while it is healthy and, when it degrades, to the
//! readiest secondary, without failing the caller while any provider can serve.
//!
//! **Health**, per provider, from its own calls (and probes): a sliding window of the last
//! `window` outcomes (constant memory) gives the error rate and the p95 latency; the streaks of
//! failures, timeouts and successes within the SLA are kept beside it. A circuit breaker opens
//! after `breaker_failures` failures in a row or an error rate above `breaker_error_rate`, lets one
//! trial through after `cool_down` (half-open), and closes on the trial's success.
//!
//! **Degradation** of the provider holding the traffic: its breaker is not closed, it timed out
//! `timeouts_to_failover` times in a row, its error rate is above `degraded_error_rate`, or its
//! p95 is above the SLA (the last two with at least `min_samples` samples). Traffic then moves to
//! the secondary with the highest [`readiness_score`] above 0 (a [`SwitchKind::Failover`] event).
//!
//! **Failback**, with hysteresis: while traffic is on a secondary, one call per `trial_interval`
//! tries the primary first (or the application runs [`Router::probe`]); traffic returns when the
//! primary's breaker is closed, it has answered `failback_successes` times in a row within the SLA,
//! and traffic has stayed on the secondary at least `failback_after`, doubled for each failover
//! that follows a failback within `stable_after` (a flapping primary is given ever longer).
//!
//! **Retries**: a retryable error ([`ErrorKind::is_retryable`]: timeout, unavailable, rate
//! limited) moves the call to the next readiest provider at once; a provider already tried in the
//! call is tried again after a jittered exponential backoff; every attempt has `attempt_timeout`
//! and the whole call `deadline`. A bad request or a policy deny returns at once. When nothing
//! serves, the one [`FailoverError`] names every attempt.
//!
//! **Readiness score** (`govops.failover.readiness`), 0 to 100, of a provider for a request:
//!
//! ```text
//! score = round(B × (50 × A + 30 × L + 20 × C))      0 if the request does not fit or is not allowed
//! A = 1 − error rate over the window
//! L = clamp(1 − (p95 − primary p95) / SLA, 0, 1)      1 when either p95 is unknown
//! C = 1 in sync, 0.5 unknown, 0 mismatch              against `expect_config`, else the primary's
//! B = 1 closed, 0.5 half-open, 0 open
//! ```
//!
//! ```
//! use govops_core::failover::{FailoverConfig, Provider, ProviderError, Request, Router};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let primary = Provider::new("openai", "gpt-4o", 128_000, |prompt: String| async move {
//!     Err::<String, _>(ProviderError::unavailable("503"))
//! });
//! let secondary = Provider::new("azure", "gpt-4o", 128_000, |prompt: String| async move {
//!     Ok(format!("echo: {prompt}"))
//! });
//! let router = Router::new(primary, FailoverConfig::default()).secondary(secondary);
//! let served = router.call(&Request::new(10), "hi".to_owned()).await.unwrap();
//! assert_eq!((&*served.provider, served.value.as_str()), ("azure", "echo: hi"));
//! assert_eq!(served.failed.len(), 1); // the primary's 503
//! # });
//! ```

mod error;
mod health;
mod provider;
mod readiness;
mod report;
mod router;

pub use error::{Attempt, ErrorKind, FailoverError, FailureKind, ProviderError};
pub use health::{BreakerState, ProviderHealth};
pub use provider::{BoxFuture, Provider, ProviderInfo, Request};
pub use readiness::{
    ConfigSync, Factors, Readiness, WEIGHT_AVAILABILITY, WEIGHT_CONFIG, WEIGHT_LATENCY,
    readiness_score,
};
pub use report::{REPORT_EVERY, Reporter, set_reporter};
pub use router::{FailoverConfig, FailoverEvent, Reason, Router, Served, Stats, SwitchKind};

/// The span event a failover or failback becomes (`from`, `to`, `reason`).
pub const EVENT: &str = "govops.failover";
/// The metric (and attribute) a provider's readiness score is exported as.
pub const READINESS: &str = "govops.failover.readiness";
