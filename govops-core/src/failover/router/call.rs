//! A routed call: attempts over the providers, with backoff, under a deadline; and the probes.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::rank::bit;
use super::{Router, Served, Slot, after};
use crate::failover::health::Outcome;
use crate::failover::{Attempt, FailoverError, FailureKind, ProviderError, Request};

impl<Req, T> Router<Req, T> {
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

/// A routed call's attempts so far.
struct Attempts {
    /// The attempts that failed, in order.
    failed: Vec<Attempt>,
    /// A bit per provider tried in this call.
    tried: u64,
    /// Backoffs taken (each doubles the next).
    retries: u32,
    /// Why the call fails, if it does.
    kind: FailureKind,
    /// The provider tried last.
    last: Option<usize>,
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
        let deadline = after(Instant::now(), self.config.deadline);
        let mut run = Attempts {
            failed: Vec::new(),
            tried: 0,
            retries: 0,
            kind: FailureKind::Exhausted,
            last: None,
        };
        for n in 0..self.config.max_attempts.max(1) {
            let now = Instant::now();
            let first = if n == 0 {
                self.first_pick(request, now)
            } else {
                None
            };
            let Some(index) = first.or_else(|| self.rank_pick(request, run.tried, run.last, now))
            else {
                if run.failed.is_empty() {
                    run.kind = FailureKind::NoEligibleProvider;
                }
                break;
            };
            let Some(slot) = self.slots.get(index) else {
                break;
            };
            if run.tried & bit(index) != 0 && !self.back_off(&mut run, deadline).await {
                break;
            }
            run.tried |= bit(index);
            run.last = Some(index);
            let begun = Instant::now();
            let remaining = deadline.saturating_duration_since(begun);
            if remaining.is_zero() {
                run.kind = FailureKind::DeadlineExceeded;
                break;
            }
            let limit = remaining.min(self.config.attempt_timeout);
            // Cloned here, not in `attempt`: the call's future holds no borrow of `input` across
            // an await, so it is `Send` whenever `Req` is.
            let attempt = self.attempt(
                (index, slot),
                request,
                input.clone(),
                begun,
                limit,
                &mut run,
            );
            if let Some(ended) = attempt.await {
                return ended;
            }
            if run.kind == FailureKind::DeadlineExceeded {
                break;
            }
        }
        Err(FailoverError {
            kind: run.kind,
            attempts: run.failed,
        })
    }

    /// Sleeps the backoff before a provider is tried again in this call; false (the call's
    /// failure set to [`FailureKind::DeadlineExceeded`]) when it would end past `deadline`.
    async fn back_off(&self, run: &mut Attempts, deadline: Instant) -> bool {
        let pause = self.backoff(run.retries);
        run.retries += 1;
        if after(Instant::now(), pause) >= deadline {
            run.kind = FailureKind::DeadlineExceeded;
            return false;
        }
        tokio::time::sleep(pause).await;
        true
    }

    /// One attempt at `slot` (provider `index`), begun at `begun`, within `limit`: what the call returns
    /// when it ends here (served, or an error that must not be retried); `None` to go on, the
    /// failure recorded in `run`.
    async fn attempt(
        &self,
        (index, slot): (usize, &Slot<Req, T>),
        request: &Request<'_>,
        input: Req,
        begun: Instant,
        limit: Duration,
        run: &mut Attempts,
    ) -> Option<Result<Served<T>, FailoverError>> {
        let result = tokio::time::timeout(limit, (slot.provider.call)(input)).await;
        let elapsed = begun.elapsed();
        let error = match result {
            Ok(Ok(value)) => {
                self.settle(index, Outcome::Success, elapsed, request);
                if let Some(reporter) = crate::failover::report::reporter() {
                    reporter.served(&slot.provider.info, &run.failed);
                }
                return Some(Ok(Served {
                    value,
                    provider: Arc::clone(&slot.provider.info.name),
                    failed: std::mem::take(&mut run.failed),
                }));
            }
            Ok(Err(error)) if !error.is_retryable() => {
                // The request's fault, not the provider's: its health is untouched.
                run.failed.push(Attempt {
                    provider: Arc::clone(&slot.provider.info.name),
                    error,
                    elapsed,
                });
                return Some(Err(FailoverError {
                    kind: FailureKind::NotRetryable,
                    attempts: std::mem::take(&mut run.failed),
                }));
            }
            Ok(Err(error)) => {
                self.settle(index, Outcome::Failure, elapsed, request);
                error
            }
            Err(_) => {
                if limit == self.config.attempt_timeout {
                    self.settle(index, Outcome::Timeout, elapsed, request);
                } else {
                    run.kind = FailureKind::DeadlineExceeded;
                }
                ProviderError::timeout(format!("no answer within {} ms", limit.as_millis()))
            }
        };
        run.failed.push(Attempt {
            provider: Arc::clone(&slot.provider.info.name),
            error,
            elapsed,
        });
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::failover::{FailoverConfig, Provider, ProviderError, Request, Router};

    fn send<F: Send>(_: &F) {}

    /// A routed call can be spawned on a multi-threaded runtime whenever its input is `Send`.
    #[test]
    fn a_routed_call_is_send() {
        let echo = Provider::new("p", "m", 1000, |prompt: String| async move {
            Ok::<_, ProviderError>(prompt)
        });
        let router = Router::new(echo, FailoverConfig::default());
        let request = Request::new(1);
        let call = router.call(&request, "hi".to_owned());
        send(&call);
    }
}
