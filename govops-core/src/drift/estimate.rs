//! One signal's estimator: a median seed, a slow robust baseline and a fast recent estimate.

use serde::{Deserialize, Serialize};

use super::config::Params;
use super::signal::{Direction, Signal, SignalReport};

/// How many first values of a signal seed its baseline (median and MAD).
pub(super) const SEED: usize = 15;
/// `σ / E|x − μ|` for Gaussian noise: `√(π/2)`.
const SIGMA_PER_MEAN_ABS_DEV: f64 = 1.253_314_137_315_500_3;
/// `E|x − μ| / MAD` for Gaussian noise: `0.7979 / 0.6745`.
const MEAN_ABS_DEV_PER_MAD: f64 = 1.182_945_7;

/// The state of one signal: seed values, slow baseline, fast recent estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct Stat {
    /// Values seen.
    pub(super) n: u64,
    /// The first [`SEED`] values (median and MAD seed the baseline).
    pub(super) seed: [f64; SEED],
    /// Baseline mean.
    pub(super) mean: f64,
    /// Baseline mean absolute deviation.
    pub(super) dev: f64,
    /// Recent (fast) mean.
    pub(super) recent: f64,
}

impl Default for Stat {
    fn default() -> Self {
        Stat {
            n: 0,
            seed: [0.0; SEED],
            mean: 0.0,
            dev: 0.0,
            recent: 0.0,
        }
    }
}

fn median(values: &mut [f64; SEED]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    values[SEED / 2]
}

impl Stat {
    /// Feeds one finite value; `rate` marks the error rate (binomial noise, no winsorizing).
    pub(super) fn update(&mut self, x: f64, p: &Params, rate: bool, adaptation: f64) {
        if self.n < SEED as u64 {
            self.seed[self.n as usize] = x;
            self.n += 1;
            if self.n == SEED as u64 {
                let mut values = self.seed;
                let mid = median(&mut values);
                let mut deviations = values.map(|v| (v - mid).abs());
                self.mean = mid;
                self.dev = median(&mut deviations) * MEAN_ABS_DEV_PER_MAD;
                self.recent = mid;
            }
            return;
        }
        self.n += 1;
        let (xb, xr) = if rate {
            (x, x)
        } else {
            let lim = p.clip * self.sigma(p, rate);
            // Each estimate sees the value winsorized at k·σ around itself: an outlier moves
            // either by at most α·k·σ, and the recent one still follows a shift of any size.
            (
                x.clamp(self.mean - lim, self.mean + lim),
                x.clamp(self.recent - lim, self.recent + lim),
            )
        };
        // Running mean first (bias-free start), the slow EWMA once enough values were seen.
        let learned = (self.n - SEED as u64 + 1) as f64;
        let alpha = (1.0 / learned).max(p.alpha_baseline) * adaptation;
        self.dev += alpha * ((xb - self.mean).abs() - self.dev);
        self.mean += alpha * (xb - self.mean);
        self.recent += p.recent[usize::from(rate)].0 * (xr - self.recent);
    }

    /// The baseline's noise scale σ, floored.
    fn sigma(&self, p: &Params, rate: bool) -> f64 {
        if rate {
            let m = self.mean.clamp(0.0, 1.0);
            (m * (1.0 - m)).sqrt().max(p.error_floor)
        } else {
            (self.dev * SIGMA_PER_MEAN_ABS_DEV).max(p.relative_floor * self.mean.abs())
        }
    }

    /// The standard deviation of the recent estimate when nothing drifts, floored.
    fn noise(&self, sigma: f64, p: &Params, rate: bool) -> f64 {
        let floor = if rate {
            p.error_floor
        } else {
            p.relative_floor * self.mean.abs()
        };
        (sigma * p.recent[usize::from(rate)].1)
            .max(floor)
            .max(f64::MIN_POSITIVE)
    }

    pub(super) fn report(&self, signal: Signal, p: &Params, rate: bool) -> SignalReport {
        let diff = self.recent - self.mean;
        let direction = if diff < 0.0 {
            Direction::Down
        } else {
            Direction::Up
        };
        let (z, score) = if self.n >= p.warm_up {
            let z = diff / self.noise(self.sigma(p, rate), p, rate);
            (z, ((z.abs() - p.z_low) / p.z_span).clamp(0.0, 1.0))
        } else {
            (0.0, 0.0)
        };
        SignalReport {
            signal,
            baseline: self.mean,
            recent: self.recent,
            z,
            score,
            direction,
        }
    }
}
