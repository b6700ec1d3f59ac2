//! Which provider an attempt goes to: the one holding the traffic, a due trial of the primary, or
//! the readiest other.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::{PRIMARY, Router, Slot, after, lock};
use crate::failover::{ConfigSync, Factors, Readiness, Reason, Request, readiness_score};

impl<Req, T> Router<Req, T> {
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
    pub(super) fn reference(&self) -> (Option<Duration>, Option<Arc<str>>) {
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

    pub(super) fn factors(
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
    pub(super) fn first_pick(&self, request: &Request<'_>, now: Instant) -> Option<usize> {
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
        self.fail_over(active, Reason::BreakerOpen, request, now);
        None
    }

    /// The best provider for a further attempt: one not yet tried in this call, whose breaker
    /// lets it through, with the highest readiness; as a last resort one already tried (not the
    /// one that just failed, if there is another), then one whose breaker is open (a call is never lost while some provider might serve it).
    pub(super) fn rank_pick(
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
}

pub(super) fn bit(index: usize) -> u64 {
    u32::try_from(index)
        .ok()
        .and_then(|i| 1u64.checked_shl(i))
        .unwrap_or(0)
}
