//! The router's settings.

use std::time::Duration;

/// The router's settings. `FailoverConfig { sla: .., ..FailoverConfig::default() }`.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverConfig {
    /// The latency SLA: a window whose p95 is above it is degraded. Default 2 s.
    pub sla: Duration,
    /// Calls and probes remembered per provider. Default 20.
    pub window: usize,
    /// Samples a window needs before its error rate or p95 can degrade a provider. Default 5.
    pub min_samples: usize,
    /// Error rate above which the provider holding the traffic is degraded. Default 0.2.
    pub degraded_error_rate: f64,
    /// Error rate above which the breaker opens. Default 0.5.
    pub breaker_error_rate: f64,
    /// Consecutive failures that open the breaker. Default 5.
    pub breaker_failures: u32,
    /// How long an open breaker stays open before a half-open trial. Default 5 s.
    pub cool_down: Duration,
    /// Consecutive timeouts that degrade the provider holding the traffic. Default 1.
    pub timeouts_to_failover: u32,
    /// Time allowed to one attempt. Default 10 s.
    pub attempt_timeout: Duration,
    /// Time allowed to a whole routed call, retries and backoff included. Default 30 s.
    pub deadline: Duration,
    /// Attempts per routed call, across providers. Default 4.
    pub max_attempts: u32,
    /// First backoff before trying a provider again in the same call; doubles each time, with
    /// jitter (a uniform draw between half and all of it). Default 50 ms.
    pub backoff_base: Duration,
    /// The largest backoff. Default 2 s.
    pub backoff_max: Duration,
    /// While traffic is on a secondary, one call per interval goes to the primary first as a
    /// trial (a failed trial falls through to the secondary). Default 1 s.
    pub trial_interval: Duration,
    /// Whether trials are sent at all (turn them off when active probes run). Default true.
    pub trial_calls: bool,
    /// Successes within the SLA in a row, from trials or probes, that the primary needs before
    /// traffic fails back. Default 3.
    pub failback_successes: u32,
    /// The least time traffic stays on a secondary before it fails back. Default 10 s; doubled
    /// for each failover that follows a failback within `stable_after` (at most 32×).
    pub failback_after: Duration,
    /// A failover this long after the last failback is not a flap: the dwell returns to
    /// `failback_after`. Default 60 s.
    pub stable_after: Duration,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        Self {
            sla: Duration::from_secs(2),
            window: 20,
            min_samples: 5,
            degraded_error_rate: 0.2,
            breaker_error_rate: 0.5,
            breaker_failures: 5,
            cool_down: Duration::from_secs(5),
            timeouts_to_failover: 1,
            attempt_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
            max_attempts: 4,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            trial_interval: Duration::from_secs(1),
            trial_calls: true,
            failback_successes: 3,
            failback_after: Duration::from_secs(10),
            stable_after: Duration::from_secs(60),
        }
    }
}
