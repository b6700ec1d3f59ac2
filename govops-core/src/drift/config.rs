//! The settings of drift detection, their checks, and the constants a detector derives from them.

use serde::{Deserialize, Serialize};

use super::error::DriftError;
use super::estimate::SEED;
use super::signal::Signal;

/// How much each signal, fully moved, adds to the composite score (non-negative; 0 removes it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// Latency (default 0.6).
    pub latency: f64,
    /// Output tokens per call (default 0.6).
    pub output_tokens: f64,
    /// Error rate (default 0.6).
    pub error_rate: f64,
    /// Output tokens per second (default 0.4).
    pub output_tokens_per_second: f64,
    /// Cost per successful call (default 0.4).
    pub cost_per_success: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            latency: 0.6,
            output_tokens: 0.6,
            error_rate: 0.6,
            output_tokens_per_second: 0.4,
            cost_per_success: 0.4,
        }
    }
}

impl Weights {
    fn as_array(&self) -> [f64; 5] {
        [
            self.latency,
            self.output_tokens,
            self.error_rate,
            self.output_tokens_per_second,
            self.cost_per_success,
        ]
    }
}

/// Drift detection settings; [`Default`] gives the documented defaults, [`DriftConfig::validate`]
/// checks them.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftConfig {
    /// Weight of each signal in the composite score.
    pub weights: Weights,
    /// Score at which a model starts drifting, in (0, 1); default 0.5.
    pub threshold: f64,
    /// A drifting model stops drifting below `threshold − hysteresis`; in [0, threshold); default 0.1.
    pub hysteresis: f64,
    /// Half-life of the baseline, in observations; default 1000.
    pub baseline_half_life: f64,
    /// Half-life of the recent estimate, in observations, less than the baseline's; default 16.
    pub recent_half_life: f64,
    /// Half-life of the recent error rate, in observations, less than the baseline's; default 32
    /// (longer than the other signals' since errors come in bursts even when nothing drifts).
    pub error_rate_half_life: f64,
    /// Observations of a model (and of each signal) before it is scored; at least 15; default 200.
    pub warm_up: u64,
    /// Huber constant: the baseline sees values winsorized at `k·σ` around itself, the recent
    /// estimate at `k·σ` around itself (not for the error rate); positive; default 3.
    pub clip: f64,
    /// `|z|` up to which a signal scores 0; default 4.
    pub z_low: f64,
    /// `|z|` from which a signal scores 1, above `z_low`; default 8.
    pub z_high: f64,
    /// Least noise assumed for the recent estimate, as a fraction of the baseline; default 0.0125
    /// (so a change under 5% never moves a signal and one of 10% saturates it).
    pub relative_noise_floor: f64,
    /// Least noise assumed for the recent error rate, in rate units; default 0.02.
    pub error_rate_floor: f64,
    /// Fraction of the usual baseline learning rate while a model drifts, in [0, 1]; default 0.1.
    pub drifting_adaptation: f64,
    /// Most (model, provider) pairs a registry follows; at least 1; default 1024.
    pub max_models: usize,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            weights: Weights::default(),
            threshold: 0.5,
            hysteresis: 0.1,
            baseline_half_life: 1000.0,
            recent_half_life: 16.0,
            error_rate_half_life: 32.0,
            warm_up: 200,
            clip: 3.0,
            z_low: 4.0,
            z_high: 8.0,
            relative_noise_floor: 0.0125,
            error_rate_floor: 0.02,
            drifting_adaptation: 0.1,
            max_models: 1024,
        }
    }
}

fn bad(field: &'static str, value: impl ToString, accepted: &'static str) -> DriftError {
    DriftError::Config {
        field,
        value: value.to_string(),
        accepted,
    }
}

/// `Ok` when `ok`, else the error for `field` (its value written only then).
fn require(
    ok: bool,
    field: &'static str,
    value: impl ToString,
    accepted: &'static str,
) -> Result<(), DriftError> {
    if ok {
        Ok(())
    } else {
        Err(bad(field, value, accepted))
    }
}

impl DriftConfig {
    /// Checks every value; the first one out of range is the error.
    pub fn validate(&self) -> Result<(), DriftError> {
        self.check_weights()?;
        self.check_threshold()?;
        self.check_learning()?;
        self.check_scale()?;
        self.check_limits()
    }

    /// Each weight finite and non-negative, one at least above 0.
    fn check_weights(&self) -> Result<(), DriftError> {
        let w = self.weights.as_array();
        for (signal, weight) in Signal::ALL.iter().zip(w) {
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(DriftError::Config {
                    field: "weights",
                    value: format!("{} = {weight}", signal.name()),
                    accepted: "finite, non-negative weights",
                });
            }
        }
        require(
            w.iter().sum::<f64>() > 0.0,
            "weights",
            "all 0",
            "at least one weight above 0",
        )
    }

    /// Where drifting starts and stops.
    fn check_threshold(&self) -> Result<(), DriftError> {
        let (threshold, hysteresis) = (self.threshold, self.hysteresis);
        require(
            threshold > 0.0 && threshold < 1.0,
            "threshold",
            threshold,
            "a number in (0, 1)",
        )?;
        require(
            hysteresis >= 0.0 && hysteresis < threshold,
            "hysteresis",
            hysteresis,
            "a number in [0, threshold)",
        )
    }

    /// How fast the estimates learn, and how much they see before they score.
    fn check_learning(&self) -> Result<(), DriftError> {
        let baseline = self.baseline_half_life;
        let faster = |half_life: f64| half_life > 0.0 && half_life < baseline;
        let accepted_faster = "a positive number of observations, less than baseline_half_life";
        require(
            baseline.is_finite() && baseline > 0.0,
            "baseline_half_life",
            baseline,
            "a positive number of observations",
        )?;
        require(
            faster(self.recent_half_life),
            "recent_half_life",
            self.recent_half_life,
            accepted_faster,
        )?;
        require(
            faster(self.error_rate_half_life),
            "error_rate_half_life",
            self.error_rate_half_life,
            accepted_faster,
        )?;
        require(
            self.warm_up >= SEED as u64,
            "warm_up",
            self.warm_up,
            "at least 15 observations",
        )
    }

    /// The winsorizing constant, the z range a signal scores over, and the noise floors.
    fn check_scale(&self) -> Result<(), DriftError> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        require(positive(self.clip), "clip", self.clip, "a positive number")?;
        require(
            self.z_low.is_finite() && self.z_low >= 0.0,
            "z_low",
            self.z_low,
            "a non-negative number",
        )?;
        require(
            self.z_high.is_finite() && self.z_high > self.z_low,
            "z_high",
            self.z_high,
            "a number above z_low",
        )?;
        require(
            positive(self.relative_noise_floor),
            "relative_noise_floor",
            self.relative_noise_floor,
            "a positive number",
        )?;
        require(
            positive(self.error_rate_floor),
            "error_rate_floor",
            self.error_rate_floor,
            "a positive number",
        )
    }

    /// The learning rate while drifting, and the registry's size.
    fn check_limits(&self) -> Result<(), DriftError> {
        require(
            (0.0..=1.0).contains(&self.drifting_adaptation),
            "drifting_adaptation",
            self.drifting_adaptation,
            "a number in [0, 1]",
        )?;
        require(self.max_models != 0, "max_models", 0, "at least 1")
    }
}

/// The constants a detector computes with, derived once from a valid [`DriftConfig`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Params {
    pub(super) weights: [f64; 5],
    pub(super) threshold: f64,
    pub(super) release: f64,
    pub(super) alpha_baseline: f64,
    /// Recent EWMA smoothing factor and `√(α / (2 − α))`, its noise per unit σ: for the
    /// unbounded signals, then for the error rate.
    pub(super) recent: [(f64, f64); 2],
    pub(super) warm_up: u64,
    pub(super) clip: f64,
    pub(super) z_low: f64,
    pub(super) z_span: f64,
    pub(super) relative_floor: f64,
    pub(super) error_floor: f64,
    pub(super) drifting_adaptation: f64,
}

impl Params {
    pub(super) fn new(config: &DriftConfig) -> Result<Params, DriftError> {
        config.validate()?;
        let alpha = |half_life: f64| 1.0 - 0.5_f64.powf(1.0 / half_life);
        let recent = |half_life: f64| {
            let a = alpha(half_life);
            (a, (a / (2.0 - a)).sqrt())
        };
        Ok(Params {
            weights: config.weights.as_array(),
            threshold: config.threshold,
            release: config.threshold - config.hysteresis,
            alpha_baseline: alpha(config.baseline_half_life),
            recent: [
                recent(config.recent_half_life),
                recent(config.error_rate_half_life),
            ],
            warm_up: config.warm_up,
            clip: config.clip,
            z_low: config.z_low,
            z_span: config.z_high - config.z_low,
            relative_floor: config.relative_noise_floor,
            error_floor: config.error_rate_floor,
            drifting_adaptation: config.drifting_adaptation,
        })
    }
}
