//! The router: primary first, the readiest secondary on degradation, failback with hysteresis,
//! retries with jittered backoff under a deadline.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::health::{Health, Outcome};
use super::{
    Attempt, BreakerState, ConfigSync, Factors, FailoverError, FailureKind, Provider,
    ProviderError, ProviderHealth, Readiness, Request, readiness_score,
};

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

/// A failover or a failback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwitchKind {
    /// Traffic left a degraded provider.
    Failover,
    /// Traffic returned to the recovered primary.
    Failback,
}

impl SwitchKind {
    /// `failover` or `failback`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SwitchKind::Failover => "failover",
            SwitchKind::Failback => "failback",
        }
    }
}

/// Why traffic moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The window's p95 latency is above the SLA.
    SlaBreach,
    /// The window's error rate is above `degraded_error_rate`.
    ErrorRate,
    /// The breaker is open (or half-open).
    BreakerOpen,
    /// The provider stopped answering in time.
    Timeout,
    /// The primary recovered (a failback).
    Recovered,
}

impl Reason {
    /// `sla_breach`, `error_rate`, `breaker_open`, `timeout` or `recovered`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::SlaBreach => "sla_breach",
            Reason::ErrorRate => "error_rate",
            Reason::BreakerOpen => "breaker_open",
            Reason::Timeout => "timeout",
            Reason::Recovered => "recovered",
        }
    }
}

/// One move of the traffic: what the tracing layer turns into a `govops.failover` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverEvent {
    /// Failover or failback.
    pub kind: SwitchKind,
    /// The provider traffic left.
    pub from: Arc<str>,
    /// The provider traffic went to.
    pub to: Arc<str>,
    /// Why.
    pub reason: Reason,
}

/// A routed call that succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Served<T> {
    /// What the provider returned.
    pub value: T,
    /// The provider that served it.
    pub provider: Arc<str>,
    /// The attempts that failed before it, in order (usually none).
    pub failed: Vec<Attempt>,
}

/// The router's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The provider holding the traffic.
    pub active: Arc<str>,
    /// Failovers so far.
    pub failovers: u64,
    /// Failbacks so far.
    pub failbacks: u64,
}

struct Slot<Req, T> {
    provider: Provider<Req, T>,
    health: Mutex<Health>,
}

struct Route {
    last_switch: Instant,
    last_failback: Option<Instant>,
    flaps: u32,
    next_trial: Instant,
}

type Observer = Box<dyn Fn(&FailoverEvent) + Send + Sync>;

/// Routes calls over providers the application registers: the primary first, the readiest
/// secondary when the one holding the traffic degrades, back to the primary when it has recovered.
///
/// Needs a tokio runtime with time enabled (for the per-attempt timeout and the backoff).
pub struct Router<Req, T> {
    slots: Vec<Slot<Req, T>>,
    config: FailoverConfig,
    expected_config: Option<Arc<str>>,
    active: AtomicUsize,
    route: Mutex<Route>,
    failovers: AtomicU64,
    failbacks: AtomicU64,
    observer: Option<Observer>,
    /// When the router was built: the origin of `next_report`.
    created: Instant,
    /// Nanoseconds after `created` from which readiness may be reported again.
    next_report: AtomicU64,
}

/// `t + d`, never panicking: a duration too long for the clock is a year.
pub(crate) fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(t)
}

fn lock<X>(m: &Mutex<X>) -> MutexGuard<'_, X> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

const PRIMARY: usize = 0;
const MAX_FLAPS: u32 = 5;

impl<Req, T> fmt::Debug for Router<Req, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field(
                "providers",
                &self
                    .slots
                    .iter()
                    .map(|s| &s.provider.info.name)
                    .collect::<Vec<_>>(),
            )
            .field("active", &self.active.load(Ordering::Relaxed))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<Req, T> Router<Req, T> {
    /// A router whose traffic goes to `primary` while it is healthy.
    #[must_use]
    pub fn new(primary: Provider<Req, T>, config: FailoverConfig) -> Self {
        let now = Instant::now();
        let mut router = Self {
            slots: Vec::new(),
            config,
            expected_config: None,
            active: AtomicUsize::new(PRIMARY),
            route: Mutex::new(Route {
                last_switch: now,
                last_failback: None,
                flaps: 0,
                next_trial: now,
            }),
            failovers: AtomicU64::new(0),
            failbacks: AtomicU64::new(0),
            observer: None,
            created: now,
            next_report: AtomicU64::new(0),
        };
        router.push(primary);
        router
    }

    fn push(&mut self, provider: Provider<Req, T>) {
        let health = Health::new(self.config.window, provider.config_version.clone());
        self.slots.push(Slot {
            provider,
            health: Mutex::new(health),
        });
    }

    /// Adds a secondary, after those added before it (the order breaks ties in readiness).
    #[must_use]
    pub fn secondary(mut self, provider: Provider<Req, T>) -> Self {
        self.push(provider);
        self
    }

    /// Calls `observer` on every failover and failback (outside the router's locks).
    #[must_use]
    pub fn on_event(mut self, observer: impl Fn(&FailoverEvent) + Send + Sync + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// The configuration version every provider should report; without it, the primary's.
    #[must_use]
    pub fn expect_config(mut self, version: &str) -> Self {
        self.expected_config = Some(Arc::from(version));
        self
    }

    /// Records the configuration version `provider` now reports; false if no provider has that
    /// name.
    pub fn set_config_version(&self, provider: &str, version: Option<&str>) -> bool {
        let Some(slot) = self
            .slots
            .iter()
            .find(|s| &*s.provider.info.name == provider)
        else {
            return false;
        };
        lock(&slot.health).config_version = version.map(Arc::from);
        true
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &FailoverConfig {
        &self.config
    }

    /// Failovers, failbacks and the provider holding the traffic.
    #[must_use]
    pub fn stats(&self) -> Stats {
        Stats {
            active: self.name(self.active.load(Ordering::Acquire)),
            failovers: self.failovers.load(Ordering::Relaxed),
            failbacks: self.failbacks.load(Ordering::Relaxed),
        }
    }

    fn name(&self, index: usize) -> Arc<str> {
        self.slots
            .get(index)
            .map_or_else(|| Arc::from(""), |s| Arc::clone(&s.provider.info.name))
    }

    /// Every provider's health, the primary first.
    #[must_use]
    pub fn health(&self) -> Vec<ProviderHealth> {
        let now = Instant::now();
        self.slots
            .iter()
            .map(|s| lock(&s.health).snapshot(&s.provider.info.name, now))
            .collect()
    }

    /// The readiness of each secondary for `request`, in registration order.
    #[must_use]
    pub fn readiness(&self, request: &Request<'_>) -> Vec<Readiness> {
        let now = Instant::now();
        let (primary_p95, expected) = self.reference();
        self.slots
            .iter()
            .skip(1)
            .map(|slot| {
                let factors = self.factors(slot, request, primary_p95, expected.as_ref(), now);
                Readiness {
                    provider: Arc::clone(&slot.provider.info.name),
                    model: Arc::clone(&slot.provider.info.model),
                    score: readiness_score(&factors),
                    factors,
                }
            })
            .collect()
    }

    /// The primary's p95 and the expected configuration version.
    fn reference(&self) -> (Option<Duration>, Option<Arc<str>>) {
        let Some(primary) = self.slots.first() else {
            return (None, None);
        };
        let h = lock(&primary.health);
        let expected = self
            .expected_config
            .clone()
            .or_else(|| h.config_version.clone());
        (h.p95(), expected)
    }

    fn factors(
        &self,
        slot: &Slot<Req, T>,
        request: &Request<'_>,
        primary_p95: Option<Duration>,
        expected: Option<&Arc<str>>,
        now: Instant,
    ) -> Factors {
        let info = &slot.provider.info;
        let mut h = lock(&slot.health);
        let config = match (expected, &h.config_version) {
            (None, _) => ConfigSync::InSync,
            (Some(_), None) => ConfigSync::Unknown,
            (Some(e), Some(v)) if e == v => ConfigSync::InSync,
            (Some(_), Some(_)) => ConfigSync::Mismatch,
        };
        Factors {
            fits: request.fits(info),
            allowed: request.allows(info),
            breaker: h.breaker(now),
            error_rate: h.error_rate(),
            p95: h.p95(),
            primary_p95,
            sla: self.config.sla,
            config,
        }
    }

    fn eligible(slot: &Slot<Req, T>, request: &Request<'_>) -> bool {
        request.fits(&slot.provider.info) && request.allows(&slot.provider.info)
    }

    /// The provider for a call's first attempt: a trial of the primary when one is due, else the
    /// provider holding the traffic if it may serve.
    fn first_pick(&self, request: &Request<'_>, now: Instant) -> Option<usize> {
        let active = self.active.load(Ordering::Acquire);
        let trial_timeout = self.config.attempt_timeout;
        if active != PRIMARY
            && self.config.trial_calls
            && let Some(primary) = self.slots.first()
            && Self::eligible(primary, request)
        {
            let mut route = lock(&self.route);
            if now >= route.next_trial && lock(&primary.health).allow(now, trial_timeout) {
                route.next_trial = after(now, self.config.trial_interval);
                return Some(PRIMARY);
            }
        }
        let slot = self.slots.get(active)?;
        if !Self::eligible(slot, request) {
            return None;
        }
        if lock(&slot.health).allow(now, trial_timeout) {
            return Some(active);
        }
        // Its breaker will not let the call through: traffic moves now.
        self.fail_over(active, super::Reason::BreakerOpen, request, now);
        None
    }

    /// The best provider for a further attempt: one not yet tried in this call, whose breaker
    /// lets it through, with the highest readiness; as a last resort one already tried (not the
    /// one that just failed, if there is another), then one whose breaker is open (a call is never lost while some provider might serve it).
    fn rank_pick(
        &self,
        request: &Request<'_>,
        tried: u64,
        last: Option<usize>,
        now: Instant,
    ) -> Option<usize> {
        let (primary_p95, expected) = self.reference();
        let trial_timeout = self.config.attempt_timeout;
        let mut best: Option<((bool, bool, bool, u8), usize)> = None;
        for (i, slot) in self.slots.iter().enumerate() {
            if !Self::eligible(slot, request) {
                continue;
            }
            let untried = tried & bit(i) == 0;
            let allows = lock(&slot.health).peek_allows(now, trial_timeout);
            let score =
                readiness_score(&self.factors(slot, request, primary_p95, expected.as_ref(), now));
            // Among providers already tried, not the one that just failed.
            let key = (untried, allows, last != Some(i), score);
            if best.is_none_or(|(k, _)| key > k) {
                best = Some((key, i));
            }
        }
        let (_, index) = best?;
        if let Some(slot) = self.slots.get(index) {
            // Takes the half-open trial if there is one; a refusal here is the last resort.
            let _ = lock(&slot.health).allow(now, trial_timeout);
        }
        Some(index)
    }

    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .config
            .backoff_base
            .checked_mul(1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX))
            .unwrap_or(self.config.backoff_max)
            .min(self.config.backoff_max);
        // Equal jitter: half fixed, half uniform, so that callers retrying together spread out.
        let half = exp / 2;
        // A float-to-integer `as` saturates: no overflow for any duration.
        let jitter = Duration::from_nanos((half.as_nanos() as f64 * fastrand::f64()) as u64);
        half.saturating_add(jitter)
    }

    /// Records an outcome and moves the traffic if it must.
    fn settle(&self, index: usize, outcome: Outcome, elapsed: Duration, request: &Request<'_>) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        let now = Instant::now();
        let (degraded, healthy, closed) = {
            let mut h = lock(&slot.health);
            h.record(outcome, elapsed, now, &self.config);
            // A success within the SLA cannot degrade a provider: the check is skipped.
            let check = outcome != Outcome::Success || elapsed > self.config.sla;
            let degraded = if check {
                h.degraded(now, &self.config)
            } else {
                None
            };
            (
                degraded,
                h.consecutive_healthy,
                h.breaker(now) == BreakerState::Closed,
            )
        };
        let active = self.active.load(Ordering::Acquire);
        if index == active {
            if let Some(reason) = degraded {
                self.fail_over(index, reason, request, now);
            }
        } else if index == PRIMARY && outcome == Outcome::Success {
            self.maybe_fail_back(healthy, closed, now);
        }
        self.maybe_report_readiness(now);
    }

    /// Moves the traffic from `from` to the readiest secondary, if one can serve.
    fn fail_over(&self, from: usize, reason: super::Reason, request: &Request<'_>, now: Instant) {
        let (primary_p95, expected) = self.reference();
        let mut target: Option<(u8, usize)> = None;
        for (i, slot) in self.slots.iter().enumerate().skip(1) {
            if i == from {
                continue;
            }
            let score =
                readiness_score(&self.factors(slot, request, primary_p95, expected.as_ref(), now));
            if score > 0 && target.is_none_or(|(s, _)| score > s) {
                target = Some((score, i));
            }
        }
        let Some((_, to)) = target else {
            return;
        };
        {
            let mut route = lock(&self.route);
            if self.active.load(Ordering::Acquire) != from {
                return; // another call moved it already
            }
            if from == PRIMARY {
                let flap = route
                    .last_failback
                    .is_some_and(|at| now.duration_since(at) < self.config.stable_after);
                route.flaps = if flap {
                    (route.flaps + 1).min(MAX_FLAPS)
                } else {
                    0
                };
                route.next_trial =
                    after(now, self.config.trial_interval.max(self.config.cool_down));
            }
            route.last_switch = now;
            self.active.store(to, Ordering::Release);
        }
        self.failovers.fetch_add(1, Ordering::Relaxed);
        self.notify(super::SwitchKind::Failover, from, to, reason);
    }

    fn maybe_fail_back(&self, healthy: u32, closed: bool, now: Instant) {
        if !closed || healthy < self.config.failback_successes.max(1) {
            return;
        }
        let from = {
            let mut route = lock(&self.route);
            let from = self.active.load(Ordering::Acquire);
            if from == PRIMARY {
                return;
            }
            let dwell = self
                .config
                .failback_after
                .checked_mul(1 << route.flaps)
                .unwrap_or(Duration::MAX);
            if now.duration_since(route.last_switch) < dwell {
                return;
            }
            route.last_switch = now;
            route.last_failback = Some(now);
            self.active.store(PRIMARY, Ordering::Release);
            from
        };
        if let Some(primary) = self.slots.first() {
            lock(&primary.health).reset_window();
        }
        self.failbacks.fetch_add(1, Ordering::Relaxed);
        self.notify(
            super::SwitchKind::Failback,
            from,
            PRIMARY,
            super::Reason::Recovered,
        );
    }

    fn notify(&self, kind: super::SwitchKind, from: usize, to: usize, reason: super::Reason) {
        let reporter = super::report::reporter();
        if self.observer.is_none() && reporter.is_none() {
            return;
        }
        let event = FailoverEvent {
            kind,
            from: self.name(from),
            to: self.name(to),
            reason,
        };
        if let Some(observer) = &self.observer {
            observer(&event);
        }
        if let Some(reporter) = reporter {
            reporter.switched(&event);
            self.report_readiness(reporter, Instant::now());
        }
    }

    /// Reports the secondaries' readiness when the last report is older than
    /// [`super::REPORT_EVERY`]: one atomic load on most calls.
    fn maybe_report_readiness(&self, now: Instant) {
        let Some(reporter) = super::report::reporter() else {
            return;
        };
        let at = nanos(now.saturating_duration_since(self.created));
        let due = self.next_report.load(Ordering::Relaxed);
        if at < due
            || self
                .next_report
                .compare_exchange(
                    due,
                    at.saturating_add(nanos(super::REPORT_EVERY)),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        reporter.readiness(&self.readiness(&Request::new(0)));
    }

    fn report_readiness(&self, reporter: &dyn super::Reporter, now: Instant) {
        let at = nanos(now.saturating_duration_since(self.created));
        self.next_report.store(
            at.saturating_add(nanos(super::REPORT_EVERY)),
            Ordering::Relaxed,
        );
        reporter.readiness(&self.readiness(&Request::new(0)));
    }

    /// Runs every provider's probe once (those registered with one), in order, each within the
    /// attempt timeout, and records the results as it records calls: probe successes count
    /// toward failback, failures toward the breaker.
    pub async fn probe(&self) {
        let request = Request::new(0);
        for (index, slot) in self.slots.iter().enumerate() {
            let Some(probe) = &slot.provider.probe else {
                continue;
            };
            let start = Instant::now();
            let result = tokio::time::timeout(self.config.attempt_timeout, probe()).await;
            let outcome = match result {
                Ok(Ok(())) => Outcome::Success,
                Ok(Err(e)) if !e.is_retryable() => continue,
                Ok(Err(_)) => Outcome::Failure,
                Err(_) => Outcome::Timeout,
            };
            self.settle(index, outcome, start.elapsed(), &request);
        }
    }

    /// Probes every `every`, for ever: spawn it on a task you own and abort the task to stop.
    pub async fn run_probes(&self, every: Duration) {
        loop {
            self.probe().await;
            tokio::time::sleep(every).await;
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn bit(index: usize) -> u64 {
    u32::try_from(index)
        .ok()
        .and_then(|i| 1u64.checked_shl(i))
        .unwrap_or(0)
}

impl<Req: Clone, T> Router<Req, T> {
    /// Routes one call: the provider holding the traffic (or a due trial of the primary) first,
    /// then the readiest others, with jittered exponential backoff before trying a provider again,
    /// each attempt within `attempt_timeout` and all within `deadline`.
    ///
    /// # Errors
    ///
    /// One [`FailoverError`] naming every attempt when no provider served the call: at once on an
    /// error that must not be retried (bad request, policy deny), or when the attempts, the
    /// deadline or the eligible providers run out.
    pub async fn call(
        &self,
        request: &Request<'_>,
        input: Req,
    ) -> Result<Served<T>, FailoverError> {
        let start = Instant::now();
        let deadline = after(start, self.config.deadline);
        let mut failed: Vec<Attempt> = Vec::new();
        let mut tried = 0u64;
        let mut retries = 0u32;
        let mut kind = FailureKind::Exhausted;
        let mut last = None;
        for n in 0..self.config.max_attempts.max(1) {
            let now = Instant::now();
            let first = if n == 0 {
                self.first_pick(request, now)
            } else {
                None
            };
            let Some(index) = first.or_else(|| self.rank_pick(request, tried, last, now)) else {
                if failed.is_empty() {
                    kind = FailureKind::NoEligibleProvider;
                }
                break;
            };
            let Some(slot) = self.slots.get(index) else {
                break;
            };
            if tried & bit(index) != 0 {
                let pause = self.backoff(retries);
                retries += 1;
                if after(Instant::now(), pause) >= deadline {
                    kind = FailureKind::DeadlineExceeded;
                    break;
                }
                tokio::time::sleep(pause).await;
            }
            tried |= bit(index);
            last = Some(index);
            let begun = Instant::now();
            let remaining = deadline.saturating_duration_since(begun);
            if remaining.is_zero() {
                kind = FailureKind::DeadlineExceeded;
                break;
            }
            let limit = remaining.min(self.config.attempt_timeout);
            let result = tokio::time::timeout(limit, (slot.provider.call)(input.clone())).await;
            let elapsed = begun.elapsed();
            let error = match result {
                Ok(Ok(value)) => {
                    self.settle(index, Outcome::Success, elapsed, request);
                    if let Some(reporter) = super::report::reporter() {
                        reporter.served(&slot.provider.info, &failed);
                    }
                    return Ok(Served {
                        value,
                        provider: Arc::clone(&slot.provider.info.name),
                        failed,
                    });
                }
                Ok(Err(error)) if !error.is_retryable() => {
                    // The request's fault, not the provider's: its health is untouched.
                    failed.push(Attempt {
                        provider: Arc::clone(&slot.provider.info.name),
                        error,
                        elapsed,
                    });
                    return Err(FailoverError {
                        kind: FailureKind::NotRetryable,
                        attempts: failed,
                    });
                }
                Ok(Err(error)) => {
                    self.settle(index, Outcome::Failure, elapsed, request);
                    error
                }
                Err(_) => {
                    if limit == self.config.attempt_timeout {
                        self.settle(index, Outcome::Timeout, elapsed, request);
                    } else {
                        kind = FailureKind::DeadlineExceeded;
                    }
                    ProviderError::timeout(format!("no answer within {} ms", limit.as_millis()))
                }
            };
            failed.push(Attempt {
                provider: Arc::clone(&slot.provider.info.name),
                error,
                elapsed,
            });
            if kind == FailureKind::DeadlineExceeded {
                break;
            }
        }
        Err(FailoverError {
            kind,
            attempts: failed,
        })
    }
}
