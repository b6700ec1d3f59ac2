//! Moves of the traffic: an outcome recorded, a failover to the readiest secondary, a failback
//! with hysteresis, and who is told.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::{MAX_FLAPS, PRIMARY, Router, after, lock};
use crate::failover::health::Outcome;
use crate::failover::report::reporter;
use crate::failover::{
    BreakerState, FailoverEvent, REPORT_EVERY, Reason, Reporter, Request, SwitchKind,
    readiness_score,
};

impl<Req, T> Router<Req, T> {
    /// Records an outcome and moves the traffic if it must.
    pub(super) fn settle(
        &self,
        index: usize,
        outcome: Outcome,
        elapsed: Duration,
        request: &Request<'_>,
    ) {
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
    pub(super) fn fail_over(
        &self,
        from: usize,
        reason: Reason,
        request: &Request<'_>,
        now: Instant,
    ) {
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
        self.notify(SwitchKind::Failover, from, to, reason);
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
        self.notify(SwitchKind::Failback, from, PRIMARY, Reason::Recovered);
    }

    fn notify(&self, kind: SwitchKind, from: usize, to: usize, reason: Reason) {
        let reporter = reporter();
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
    /// [`REPORT_EVERY`]: one atomic load on most calls.
    fn maybe_report_readiness(&self, now: Instant) {
        let Some(reporter) = reporter() else {
            return;
        };
        let at = nanos(now.saturating_duration_since(self.created));
        let due = self.next_report.load(Ordering::Relaxed);
        if at < due
            || self
                .next_report
                .compare_exchange(
                    due,
                    at.saturating_add(nanos(REPORT_EVERY)),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        reporter.readiness(&self.readiness(&Request::new(0)));
    }

    fn report_readiness(&self, reporter: &dyn Reporter, now: Instant) {
        let at = nanos(now.saturating_duration_since(self.created));
        self.next_report
            .store(at.saturating_add(nanos(REPORT_EVERY)), Ordering::Relaxed);
        reporter.readiness(&self.readiness(&Request::new(0)));
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
