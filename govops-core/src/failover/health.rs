//! A provider's health, from its own calls and probes: a sliding window of outcomes (constant
//! memory), consecutive failures and timeouts, and a circuit breaker.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::router::after;
use super::{FailoverConfig, Reason};

/// The state of a provider's circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are not sent (unless no other provider can serve) until the cool-down ends.
    Open,
    /// The cool-down ended: one trial call at a time; a success closes the breaker, a failure
    /// opens it again.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// How one call or probe ended, for the health record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    Timeout,
}

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    ok: bool,
    slow: bool,
    micros: u32,
}

/// A snapshot of one provider's health.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderHealth {
    /// The provider's name.
    pub provider: Arc<str>,
    /// Its breaker.
    pub breaker: BreakerState,
    /// Calls and probes in the window.
    pub samples: usize,
    /// Failed share of the window, 0 to 1.
    pub error_rate: f64,
    /// The 95th percentile latency of the window (nearest rank), `None` when it is empty.
    pub p95: Option<Duration>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Successes within the SLA in a row.
    pub consecutive_healthy: u32,
    /// The configuration version it reports.
    pub config_version: Option<Arc<str>>,
}

/// Nearest-rank index count of the 95th percentile: `ceil(0.95 n)`.
const fn rank95(n: usize) -> usize {
    (n * 95).div_ceil(100)
}

#[derive(Debug)]
pub(crate) struct Health {
    ring: Box<[Sample]>,
    next: usize,
    len: usize,
    failures: usize,
    slow: usize,
    pub(crate) consecutive_failures: u32,
    pub(crate) consecutive_timeouts: u32,
    pub(crate) consecutive_healthy: u32,
    state: BreakerState,
    open_until: Instant,
    trial_since: Option<Instant>,
    pub(crate) config_version: Option<Arc<str>>,
}

impl Health {
    pub(crate) fn new(window: usize, config_version: Option<Arc<str>>) -> Self {
        Self {
            ring: vec![Sample::default(); window.max(1)].into_boxed_slice(),
            next: 0,
            len: 0,
            failures: 0,
            slow: 0,
            consecutive_failures: 0,
            consecutive_timeouts: 0,
            consecutive_healthy: 0,
            state: BreakerState::Closed,
            open_until: Instant::now(),
            trial_since: None,
            config_version,
        }
    }

    fn push(&mut self, sample: Sample) {
        let cap = self.ring.len();
        if self.len == cap {
            if let Some(old) = self.ring.get(self.next) {
                self.failures -= usize::from(!old.ok);
                self.slow -= usize::from(old.slow);
            }
        } else {
            self.len += 1;
        }
        if let Some(slot) = self.ring.get_mut(self.next) {
            *slot = sample;
        }
        self.failures += usize::from(!sample.ok);
        self.slow += usize::from(sample.slow);
        self.next = (self.next + 1) % cap;
    }

    /// Forgets the window (not the streaks): after the breaker closes or traffic fails back,
    /// old failures must not count against the recovered provider.
    pub(crate) fn reset_window(&mut self) {
        self.next = 0;
        self.len = 0;
        self.failures = 0;
        self.slow = 0;
    }

    /// Failed share of the window; 0 when it is empty.
    pub(crate) fn error_rate(&self) -> f64 {
        if self.len == 0 {
            0.0
        } else {
            self.failures as f64 / self.len as f64
        }
    }

    /// Nearest-rank p95 of the window's latencies.
    pub(crate) fn p95(&self) -> Option<Duration> {
        if self.len == 0 {
            return None;
        }
        let mut micros: Vec<u32> = self.ring.iter().take(self.len).map(|s| s.micros).collect();
        micros.sort_unstable();
        let index = rank95(self.len).saturating_sub(1);
        micros
            .get(index)
            .map(|&m| Duration::from_micros(u64::from(m)))
    }

    /// Whether the window's p95 is above the SLA, from the count of samples above it (the same
    /// answer as computing the p95, in constant time): with at least `min_samples`.
    pub(crate) fn sla_breached(&self, min_samples: usize) -> bool {
        self.len >= min_samples.max(1) && self.slow > self.len - rank95(self.len)
    }

    fn refresh(&mut self, now: Instant) {
        if self.state == BreakerState::Open && now >= self.open_until {
            self.state = BreakerState::HalfOpen;
            self.trial_since = None;
        }
    }

    pub(crate) fn breaker(&mut self, now: Instant) -> BreakerState {
        self.refresh(now);
        self.state
    }

    /// Whether a call would be let through now, without taking the half-open trial.
    pub(crate) fn peek_allows(&self, now: Instant, trial_timeout: Duration) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => now >= self.open_until,
            BreakerState::HalfOpen => self
                .trial_since
                .is_none_or(|t| now >= after(t, trial_timeout)),
        }
    }

    /// Lets a call through if the breaker allows it; in half-open, it takes the one trial (a
    /// trial not settled within `trial_timeout`, a cancelled call, is given up).
    pub(crate) fn allow(&mut self, now: Instant, trial_timeout: Duration) -> bool {
        self.refresh(now);
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => {
                let free = self
                    .trial_since
                    .is_none_or(|t| now >= after(t, trial_timeout));
                if free {
                    self.trial_since = Some(now);
                }
                free
            }
        }
    }

    fn open(&mut self, now: Instant, cool_down: Duration) {
        self.state = BreakerState::Open;
        self.open_until = after(now, cool_down);
        self.trial_since = None;
    }

    pub(crate) fn record(
        &mut self,
        outcome: Outcome,
        latency: Duration,
        now: Instant,
        config: &FailoverConfig,
    ) {
        let slow = outcome == Outcome::Timeout || latency > config.sla;
        let micros = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        let ok = outcome == Outcome::Success;
        self.push(Sample { ok, slow, micros });
        match outcome {
            Outcome::Success => {
                self.consecutive_failures = 0;
                self.consecutive_timeouts = 0;
                self.consecutive_healthy = if slow {
                    0
                } else {
                    self.consecutive_healthy.saturating_add(1)
                };
            }
            Outcome::Failure | Outcome::Timeout => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.consecutive_healthy = 0;
                self.consecutive_timeouts = if outcome == Outcome::Timeout {
                    self.consecutive_timeouts.saturating_add(1)
                } else {
                    0
                };
            }
        }
        self.refresh(now);
        match (self.state, ok) {
            (BreakerState::Closed, false) => {
                let rate_trips = self.len >= config.min_samples.max(1)
                    && self.error_rate() > config.breaker_error_rate;
                if self.consecutive_failures >= config.breaker_failures.max(1) || rate_trips {
                    self.open(now, config.cool_down);
                }
            }
            (BreakerState::Closed, true) => {}
            (BreakerState::HalfOpen, true) => {
                self.state = BreakerState::Closed;
                self.trial_since = None;
                self.reset_window();
                self.push(Sample { ok, slow, micros });
            }
            (BreakerState::HalfOpen, false) => self.open(now, config.cool_down),
            // An answer while open (a call begun before it opened, or a probe): the provider
            // answers again, so the next call is a trial.
            (BreakerState::Open, true) => {
                self.state = BreakerState::HalfOpen;
                self.trial_since = None;
            }
            (BreakerState::Open, false) => self.open(now, config.cool_down),
        }
    }

    /// Why the provider should not keep the traffic, if it should not: an open (or half-open)
    /// breaker, a timeout streak, an error-rate spike over the window, or the window's p95 above
    /// the SLA.
    pub(crate) fn degraded(&mut self, now: Instant, config: &FailoverConfig) -> Option<Reason> {
        let enough = self.len >= config.min_samples.max(1);
        if self.breaker(now) != BreakerState::Closed {
            Some(Reason::BreakerOpen)
        } else if self.consecutive_timeouts >= config.timeouts_to_failover.max(1) {
            Some(Reason::Timeout)
        } else if enough && self.error_rate() > config.degraded_error_rate {
            Some(Reason::ErrorRate)
        } else if self.sla_breached(config.min_samples) {
            Some(Reason::SlaBreach)
        } else {
            None
        }
    }

    pub(crate) fn snapshot(&mut self, provider: &Arc<str>, now: Instant) -> ProviderHealth {
        ProviderHealth {
            provider: Arc::clone(provider),
            breaker: self.breaker(now),
            samples: self.len,
            error_rate: self.error_rate(),
            p95: self.p95(),
            consecutive_failures: self.consecutive_failures,
            consecutive_healthy: self.consecutive_healthy,
            config_version: self.config_version.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FailoverConfig {
        FailoverConfig {
            window: 20,
            min_samples: 5,
            sla: Duration::from_millis(100),
            ..FailoverConfig::default()
        }
    }

    #[test]
    fn the_window_forgets_what_slides_out_and_the_p95_matches_the_slow_count() {
        let config = config();
        let now = Instant::now();
        let mut h = Health::new(20, None);
        for _ in 0..20 {
            h.record(
                Outcome::Failure,
                Duration::from_millis(1),
                now,
                &FailoverConfig {
                    breaker_failures: u32::MAX,
                    breaker_error_rate: 2.0,
                    ..config.clone()
                },
            );
        }
        assert!((h.error_rate() - 1.0).abs() < 1e-9);
        for _ in 0..20 {
            h.record(Outcome::Success, Duration::from_millis(10), now, &config);
        }
        assert_eq!((h.len, h.error_rate()), (20, 0.0));
        // One slow sample in 20: the p95 (19th of 20) is still fast.
        h.record(Outcome::Success, Duration::from_millis(500), now, &config);
        assert_eq!(h.p95(), Some(Duration::from_millis(10)));
        assert!(!h.sla_breached(5));
        h.record(Outcome::Success, Duration::from_millis(500), now, &config);
        assert_eq!(h.p95(), Some(Duration::from_millis(500)));
        assert!(h.sla_breached(5));
    }

    #[test]
    fn the_breaker_opens_cools_down_and_closes_on_a_trial_success() {
        let config = config();
        let t0 = Instant::now();
        let mut h = Health::new(20, None);
        for _ in 0..5 {
            h.record(Outcome::Failure, Duration::from_millis(1), t0, &config);
        }
        assert_eq!(h.breaker(t0), BreakerState::Open);
        assert!(!h.allow(t0, config.attempt_timeout));
        let later = t0 + config.cool_down;
        assert!(h.allow(later, config.attempt_timeout), "the trial");
        assert!(
            !h.allow(later, config.attempt_timeout),
            "one trial at a time"
        );
        assert_eq!(h.breaker(later), BreakerState::HalfOpen);
        h.record(Outcome::Success, Duration::from_millis(1), later, &config);
        assert_eq!(h.breaker(later), BreakerState::Closed);
        assert_eq!((h.len, h.error_rate()), (1, 0.0));
    }
}
