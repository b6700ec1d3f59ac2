//! Model drift: per model and provider, a composite score in 0..1 that says how far the model's
//! recent calls moved away from its own history.
//!
//! ```
//! use std::time::Duration;
//! use govops_core::drift::{DriftConfig, DriftRegistry, Observation};
//!
//! let drift = DriftRegistry::new(&DriftConfig::default())?;
//! let obs = Observation { latency: Duration::from_millis(900), output_tokens: Some(240), success: true, cost_usd: None };
//! let update = drift.observe("gpt-4o", "openai", &obs).expect("fewer than 1024 pairs");
//! assert!(update.warming_up && !update.drifting && update.moved().count() == 0);
//! # let dir = tempfile::tempdir()?;
//! # let file = dir.path().join("drift-baseline.json");
//! drift.save(&file)?; // JSON, version 1, temp file + rename
//! let restarted = DriftRegistry::new(&DriftConfig::default())?;
//! assert_eq!(restarted.restore(&file)?, 1);
//! assert_eq!(restarted.current("gpt-4o", "openai"), Some(drift.current("gpt-4o", "openai").expect("followed")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Signals
//!
//! Each call is one [`Observation`] (latency, output tokens, success or error, cost when priced).
//! Five [`Signal`]s are followed:
//!
//! | signal | from | unit |
//! | --- | --- | --- |
//! | `latency` | every call | seconds |
//! | `output_tokens` | successful calls | tokens per call |
//! | `error_rate` | every call (1 error, 0 success) | fraction of calls |
//! | `output_tokens_per_second` | successful calls with a latency | tokens per second |
//! | `cost_per_success` | successful, priced calls (an unpriced call is skipped, never 0) | USD (as `f64`, for statistics only) |
//!
//! # Method, and why
//!
//! Constant memory and constant work per call rule out a median over a sliding window, so each
//! signal keeps two exponentially weighted moving averages (EWMA) of the same stream:
//!
//! - a **baseline**: a slow EWMA mean (half-life [`DriftConfig::baseline_half_life`], 1000
//!   observations) with a slow EWMA of the absolute deviation as its scale (`σ ≈ 1.2533 ×` mean
//!   absolute deviation for Gaussian noise). It is made **robust** the Huber way: before it
//!   updates, an observation is winsorized at `baseline ± k·σ` ([`DriftConfig::clip`], k = 3), so
//!   an outlier or a heavy tail moves the baseline no more than a 3σ value does. It is seeded from
//!   the **median and MAD** of the signal's first 15 values, so wild first calls (a cold start)
//!   never become the baseline;
//! - a **recent** estimate: a fast EWMA (half-life [`DriftConfig::recent_half_life`], 16
//!   observations; [`DriftConfig::error_rate_half_life`], 32, for the error rate, since errors
//!   come in bursts even when nothing drifts) of the values winsorized at `recent ± k·σ`: one
//!   outlier moves it by at most `α·k·σ`, yet it follows a shift of any size.
//!
//! The signal's deviation is the standardized distance `z = (recent − baseline) / noise`, where
//! `noise = σ · √(α / (2 − α))` is the standard deviation of the fast EWMA of stationary noise
//! (α its smoothing factor), floored at [`DriftConfig::relative_noise_floor`] × |baseline| (1.25%)
//! so a very quiet series does not alarm on a change nobody would call drift (for the error rate,
//! σ is the binomial `√(p(1 − p))`, not winsorized, and the floor is
//! [`DriftConfig::error_rate_floor`], 2 percentage points, since a few errors in a row are
//! ordinary). `|z|` maps linearly to a signal
//! score in 0..1: 0 up to [`DriftConfig::z_low`] (4), 1 from [`DriftConfig::z_high`] (8).
//!
//! EWMAs were chosen over a change-point test (CUSUM, Page-Hinkley) because they give, per signal,
//! the two numbers an operator wants to see (what it was, what it is now) at O(1) cost, and their
//! detection delay has a closed form; the winsorizing and the median seed give them the
//! robustness a plain mean lacks.
//!
//! # Composite score, threshold, hysteresis
//!
//! `score = min(1, Σ wᵢ · sᵢ)`: a weight is how much one signal, fully moved, adds to the score
//! ([`Weights`], defaults 0.6 for latency, output tokens and error rate, 0.4 for the two
//! efficiency signals). With the default threshold 0.5 any one of the first three moving fully is
//! drift on its own; an efficiency signal alone is not, with another one it is. A weight of 0
//! removes a signal.
//!
//! A model starts drifting when its score reaches [`DriftConfig::threshold`] (0.5) and stops only
//! when it falls below `threshold − hysteresis` (0.4), so a score hovering at the threshold does
//! not flap. Signals that moved (`sᵢ > 0`) are reported with their baseline, recent value and
//! direction ([`SignalReport`]).
//!
//! # Warm-up, and not chasing the drift
//!
//! No score before [`DriftConfig::warm_up`] observations of the model (200), and a signal only
//! counts once it has seen that many values of its own, so a new model never alarms. While a
//! model is drifting its baselines learn at [`DriftConfig::drifting_adaptation`] (10%) of their
//! usual rate: a shift is not absorbed before it is seen, and a lasting one (a new model version)
//! becomes the new normal after about ten baseline half-lives instead of alarming for ever.
//!
//! # Detection delay
//!
//! After a step change of `D` times the fast estimate's `noise`, the recent estimate has covered
//! the fraction `1 − 2^(−n/h)` of it after `n` observations (`h` the recent half-life). A signal of
//! weight `w` alone makes the score reach the threshold `T` when `z` reaches
//! `z_low + (T/w)(z_high − z_low)` (7.3 with the defaults), so the delay is
//! `n = h · log₂(D / (D − 7.3))`: within one half-life (16 calls) for `D ≥ 14.7`, and within two
//! (32 calls) for `D ≥ 9.8`. For example a +50% latency shift on a series whose noise is 20% of
//! its level is `D ≈ 17` (latency and tokens per second both move) and is flagged within 16 calls
//! on average, the same holds for +50% output tokens; the tests assert 32 (two half-lives). An
//! error rate going from 1% to 30% is `D ≈ 14.5` against the 2-point floor with the error rate's
//! half-life of 32, about 32 calls on average; the tests assert 64.
//!
//! Over 1 000 000 stationary calls (20% noise, latency outliers up to 100× on one call in 200,
//! output outliers up to 20× on one in 500, error rates from 0 to 20%) the highest score seen in
//! the tests was 0.37.
//!
//! # Memory and concurrency
//!
//! A [`DriftDetector`] is a fixed-size value (about 1 KiB, no allocation per call). A
//! [`DriftRegistry`] keys detectors by (model, provider) in a sharded map (`dashmap`, 64 shards,
//! `foldhash`): calls for different models rarely share a lock; it holds at most
//! [`DriftConfig::max_models`] pairs (1024), and a pair first seen when it is full is not
//! followed (counted by [`DriftRegistry::untracked`]) rather than evicting the history of another.
//!
//! # Saving and restoring
//!
//! [`DriftRegistry::save`] writes every detector's state, warm-up and drifting flag included, as
//! JSON (`"format": "govops-drift-baseline"`, `"version": 1`) to a temporary file beside the target
//! and renames it over the target, so a crash never leaves half a file. [`DriftRegistry::restore`]
//! reads it back; a file that cannot be read, does not parse or has another version is a
//! [`DriftError`] naming the file and what is accepted.

use std::cell::RefCell;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use foldhash::fast::RandomState;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

/// The format name written in a saved baseline file.
pub const FILE_FORMAT: &str = "govops-drift-baseline";
/// The version of the saved baseline file this build writes and reads.
pub const FILE_VERSION: u32 = 1;

/// How many first values of a signal seed its baseline (median and MAD).
const SEED: usize = 15;
/// `σ / E|x − μ|` for Gaussian noise: `√(π/2)`.
const SIGMA_PER_MEAN_ABS_DEV: f64 = 1.253_314_137_315_500_3;
/// `E|x − μ| / MAD` for Gaussian noise: `0.7979 / 0.6745`.
const MEAN_ABS_DEV_PER_MAD: f64 = 1.182_945_7;

/// Errors of the drift module: configuration, saving and restoring.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// A configuration value is out of range.
    #[error("drift configuration: {field} = {value} is not accepted: {accepted}")]
    Config {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        accepted: &'static str,
    },
    /// The file could not be read or written.
    #[error("drift baseline file {}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a drift baseline this build can read.
    #[error(
        "drift baseline file {}: {problem}; accepted: a JSON object with \"format\": \"{FILE_FORMAT}\", \"version\": {FILE_VERSION} and \"models\", as `DriftRegistry::save` writes it",
        file.display()
    )]
    Format {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

/// One of the followed signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Latency of every call, seconds.
    Latency,
    /// Output tokens of a successful call.
    OutputTokens,
    /// Errors per call (0..1).
    ErrorRate,
    /// Output tokens per second of a successful call.
    OutputTokensPerSecond,
    /// Cost in USD of a successful, priced call.
    CostPerSuccess,
}

impl Signal {
    /// Every signal, in the order of [`DriftUpdate::signals`].
    pub const ALL: [Signal; 5] = [
        Signal::Latency,
        Signal::OutputTokens,
        Signal::ErrorRate,
        Signal::OutputTokensPerSecond,
        Signal::CostPerSuccess,
    ];

    /// The signal's name on telemetry (`latency`, `output_tokens`, `error_rate`,
    /// `output_tokens_per_second`, `cost_per_success`).
    pub fn name(self) -> &'static str {
        match self {
            Signal::Latency => "latency",
            Signal::OutputTokens => "output_tokens",
            Signal::ErrorRate => "error_rate",
            Signal::OutputTokensPerSecond => "output_tokens_per_second",
            Signal::CostPerSuccess => "cost_per_success",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

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

impl DriftConfig {
    /// Checks every value; the first one out of range is the error.
    pub fn validate(&self) -> Result<(), DriftError> {
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
        if w.iter().sum::<f64>() <= 0.0 {
            return Err(bad("weights", "all 0", "at least one weight above 0"));
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(bad("threshold", self.threshold, "a number in (0, 1)"));
        }
        if !(self.hysteresis >= 0.0 && self.hysteresis < self.threshold) {
            return Err(bad(
                "hysteresis",
                self.hysteresis,
                "a number in [0, threshold)",
            ));
        }
        if !(self.baseline_half_life.is_finite() && self.baseline_half_life > 0.0) {
            return Err(bad(
                "baseline_half_life",
                self.baseline_half_life,
                "a positive number of observations",
            ));
        }
        if !(self.recent_half_life > 0.0 && self.recent_half_life < self.baseline_half_life) {
            return Err(bad(
                "recent_half_life",
                self.recent_half_life,
                "a positive number of observations, less than baseline_half_life",
            ));
        }
        if !(self.error_rate_half_life > 0.0 && self.error_rate_half_life < self.baseline_half_life)
        {
            return Err(bad(
                "error_rate_half_life",
                self.error_rate_half_life,
                "a positive number of observations, less than baseline_half_life",
            ));
        }
        if self.warm_up < SEED as u64 {
            return Err(bad("warm_up", self.warm_up, "at least 15 observations"));
        }
        if !(self.clip.is_finite() && self.clip > 0.0) {
            return Err(bad("clip", self.clip, "a positive number"));
        }
        if !(self.z_low.is_finite() && self.z_low >= 0.0) {
            return Err(bad("z_low", self.z_low, "a non-negative number"));
        }
        if !(self.z_high.is_finite() && self.z_high > self.z_low) {
            return Err(bad("z_high", self.z_high, "a number above z_low"));
        }
        if !(self.relative_noise_floor.is_finite() && self.relative_noise_floor > 0.0) {
            return Err(bad(
                "relative_noise_floor",
                self.relative_noise_floor,
                "a positive number",
            ));
        }
        if !(self.error_rate_floor.is_finite() && self.error_rate_floor > 0.0) {
            return Err(bad(
                "error_rate_floor",
                self.error_rate_floor,
                "a positive number",
            ));
        }
        if !(0.0..=1.0).contains(&self.drifting_adaptation) {
            return Err(bad(
                "drifting_adaptation",
                self.drifting_adaptation,
                "a number in [0, 1]",
            ));
        }
        if self.max_models == 0 {
            return Err(bad("max_models", 0, "at least 1"));
        }
        Ok(())
    }
}

/// The constants a detector computes with, derived once from a valid [`DriftConfig`].
#[derive(Debug, Clone, Copy)]
struct Params {
    weights: [f64; 5],
    threshold: f64,
    release: f64,
    alpha_baseline: f64,
    /// Recent EWMA smoothing factor and `√(α / (2 − α))`, its noise per unit σ: for the
    /// unbounded signals, then for the error rate.
    recent: [(f64, f64); 2],
    warm_up: u64,
    clip: f64,
    z_low: f64,
    z_span: f64,
    relative_floor: f64,
    error_floor: f64,
    drifting_adaptation: f64,
}

impl Params {
    fn new(config: &DriftConfig) -> Result<Params, DriftError> {
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

/// One call, as drift sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The call's latency.
    pub latency: Duration,
    /// Output tokens the call produced; `None` when it reported no usage (the token signals skip
    /// it rather than count 0). Ignored for a failed call.
    pub output_tokens: Option<u64>,
    /// Whether the call succeeded.
    pub success: bool,
    /// The call's exact cost in USD; `None` when it could not be priced (then it is skipped, not
    /// counted as 0).
    pub cost_usd: Option<Decimal>,
}

/// Which way a signal moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Above its baseline.
    Up,
    /// Below its baseline.
    Down,
}

impl Direction {
    /// `up` or `down`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// One signal of one update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalReport {
    /// The signal.
    pub signal: Signal,
    /// Its baseline (slow, robust mean), in the signal's unit.
    pub baseline: f64,
    /// Its recent (fast) estimate, in the signal's unit.
    pub recent: f64,
    /// `(recent − baseline) / noise`.
    pub z: f64,
    /// Its score in 0..1 (0 while it warms up).
    pub score: f64,
    /// Which way the recent estimate lies from the baseline.
    pub direction: Direction,
}

impl SignalReport {
    /// Whether the signal moved: its score is above 0.
    pub fn moved(&self) -> bool {
        self.score > 0.0
    }
}

/// A change of drifting state, for the layer's `model_drift` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The score reached the threshold.
    Started,
    /// The score fell below `threshold − hysteresis`.
    Ended,
}

/// What one observation did to a model's drift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftUpdate {
    /// The composite score in 0..1 (0 during warm-up).
    pub score: f64,
    /// Whether the model is drifting (with hysteresis): its calls flag `model_drift`.
    pub drifting: bool,
    /// Set on the update that started or ended drifting.
    pub transition: Option<Transition>,
    /// Whether the model is still in its warm-up (no score yet).
    pub warming_up: bool,
    /// Observations of the model so far, this one included.
    pub observations: u64,
    /// Every signal, in [`Signal::ALL`] order; [`DriftUpdate::moved`] keeps those that moved.
    pub signals: [SignalReport; 5],
}

impl DriftUpdate {
    /// The signals that moved (score above 0), for the `model_drift` event.
    pub fn moved(&self) -> impl Iterator<Item = &SignalReport> {
        self.signals.iter().filter(|s| s.moved())
    }
}

/// The state of one signal: seed values, slow baseline, fast recent estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Stat {
    /// Values seen.
    n: u64,
    /// The first [`SEED`] values (median and MAD seed the baseline).
    seed: [f64; SEED],
    /// Baseline mean.
    mean: f64,
    /// Baseline mean absolute deviation.
    dev: f64,
    /// Recent (fast) mean.
    recent: f64,
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
    fn update(&mut self, x: f64, p: &Params, rate: bool, adaptation: f64) {
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

    fn report(&self, signal: Signal, p: &Params, rate: bool) -> SignalReport {
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

/// The part of a detector that is saved and restored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
struct State {
    observations: u64,
    drifting: bool,
    signals: [Stat; 5],
}

/// The drift detector of one model: constant memory, constant work per observation.
#[derive(Debug, Clone)]
pub struct DriftDetector {
    params: Params,
    state: State,
}

impl DriftDetector {
    /// A detector with no history; `Err` when the configuration is not valid.
    pub fn new(config: &DriftConfig) -> Result<DriftDetector, DriftError> {
        Ok(DriftDetector::with_params(Params::new(config)?))
    }

    fn with_params(params: Params) -> DriftDetector {
        DriftDetector {
            params,
            state: State::default(),
        }
    }

    /// Observations fed so far.
    pub fn observations(&self) -> u64 {
        self.state.observations
    }

    /// Whether the model is drifting.
    pub fn drifting(&self) -> bool {
        self.state.drifting
    }

    /// Feeds one call and returns the model's score, state and signals.
    pub fn update(&mut self, obs: &Observation) -> DriftUpdate {
        let p = self.params;
        let adaptation = if self.state.drifting {
            p.drifting_adaptation
        } else {
            1.0
        };
        self.state.observations = self.state.observations.saturating_add(1);
        let latency = obs.latency.as_secs_f64();
        let s = &mut self.state.signals;
        s[Signal::Latency.index()].update(latency, &p, false, adaptation);
        s[Signal::ErrorRate.index()].update(
            if obs.success { 0.0 } else { 1.0 },
            &p,
            true,
            adaptation,
        );
        if obs.success
            && let Some(tokens) = obs.output_tokens
        {
            let tokens = tokens as f64;
            s[Signal::OutputTokens.index()].update(tokens, &p, false, adaptation);
            if latency > 0.0 {
                let per_second = tokens / latency;
                if per_second.is_finite() {
                    s[Signal::OutputTokensPerSecond.index()]
                        .update(per_second, &p, false, adaptation);
                }
            }
            // f64 for statistics only; the exact cost stays a Decimal everywhere else.
            if let Some(cost) = obs.cost_usd.and_then(|c| c.to_f64())
                && cost.is_finite()
            {
                s[Signal::CostPerSuccess.index()].update(cost, &p, false, adaptation);
            }
        }
        self.evaluate()
    }

    /// The current score, state and signals, without feeding anything.
    pub fn current(&self) -> DriftUpdate {
        let mut update = self.report();
        update.transition = None;
        update
    }

    fn report(&self) -> DriftUpdate {
        let p = &self.params;
        let s = &self.state.signals;
        let signals = Signal::ALL
            .map(|signal| s[signal.index()].report(signal, p, signal == Signal::ErrorRate));
        let warming_up = self.state.observations < p.warm_up;
        let score = if warming_up {
            0.0
        } else {
            signals
                .iter()
                .zip(p.weights)
                .map(|(r, w)| r.score * w)
                .sum::<f64>()
                .min(1.0)
        };
        DriftUpdate {
            score,
            drifting: self.state.drifting,
            transition: None,
            warming_up,
            observations: self.state.observations,
            signals,
        }
    }

    fn evaluate(&mut self) -> DriftUpdate {
        let mut update = self.report();
        let p = &self.params;
        if !self.state.drifting && update.score >= p.threshold {
            self.state.drifting = true;
            update.transition = Some(Transition::Started);
        } else if self.state.drifting && update.score < p.release {
            self.state.drifting = false;
            update.transition = Some(Transition::Ended);
        }
        update.drifting = self.state.drifting;
        update
    }
}

/// Drift detectors keyed by (model, provider), bounded, safe to share between threads.
#[derive(Debug)]
pub struct DriftRegistry {
    params: Params,
    max_models: usize,
    /// Key: `model \0 provider`.
    detectors: DashMap<String, DriftDetector, RandomState>,
    untracked: AtomicU64,
}

thread_local! {
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

fn write_key(buf: &mut String, model: &str, provider: &str) {
    buf.clear();
    buf.push_str(model);
    buf.push('\0');
    buf.push_str(provider);
}

/// One model's entry in a saved baseline file.
#[derive(Debug, Serialize, Deserialize)]
struct SavedModel {
    model: String,
    provider: String,
    state: State,
}

/// A saved baseline file.
#[derive(Debug, Serialize, Deserialize)]
struct SavedFile {
    format: String,
    version: u32,
    models: Vec<SavedModel>,
}

/// Only the header, read first so a wrong version is reported as such.
#[derive(Debug, Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<serde_json::Value>,
}

impl DriftRegistry {
    /// An empty registry; `Err` when the configuration is not valid.
    pub fn new(config: &DriftConfig) -> Result<DriftRegistry, DriftError> {
        Ok(DriftRegistry {
            params: Params::new(config)?,
            max_models: config.max_models,
            detectors: DashMap::with_hasher_and_shard_amount(RandomState::default(), 64),
            untracked: AtomicU64::new(0),
        })
    }

    /// Feeds one call of `model` at `provider`. `None` when the pair is new and the registry
    /// already follows [`DriftConfig::max_models`] pairs (the call is counted in
    /// [`DriftRegistry::untracked`]).
    pub fn observe(&self, model: &str, provider: &str, obs: &Observation) -> Option<DriftUpdate> {
        KEY.with(|key| {
            let mut key = key.borrow_mut();
            write_key(&mut key, model, provider);
            if let Some(mut detector) = self.detectors.get_mut(key.as_str()) {
                return Some(detector.update(obs));
            }
            if self.detectors.len() >= self.max_models {
                self.untracked.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            let mut detector = self
                .detectors
                .entry(key.clone())
                .or_insert_with(|| DriftDetector::with_params(self.params));
            Some(detector.update(obs))
        })
    }

    /// The current state of `model` at `provider`, if followed.
    pub fn current(&self, model: &str, provider: &str) -> Option<DriftUpdate> {
        let mut key = String::new();
        write_key(&mut key, model, provider);
        self.detectors.get(key.as_str()).map(|d| d.current())
    }

    /// Whether `model` at `provider` is drifting now: what a call checks before it runs, with
    /// no allocation.
    pub fn drifting(&self, model: &str, provider: &str) -> bool {
        KEY.with(|key| {
            let Ok(mut key) = key.try_borrow_mut() else {
                return self.current(model, provider).is_some_and(|u| u.drifting);
            };
            write_key(&mut key, model, provider);
            self.detectors
                .get(key.as_str())
                .is_some_and(|d| d.drifting())
        })
    }

    /// (model, provider) pairs followed.
    pub fn len(&self) -> usize {
        self.detectors.len()
    }

    /// Whether no pair is followed yet.
    pub fn is_empty(&self) -> bool {
        self.detectors.is_empty()
    }

    /// Calls not followed because the registry was full.
    pub fn untracked(&self) -> u64 {
        self.untracked.load(Ordering::Relaxed)
    }

    /// Writes every detector's state to `path` atomically (a temporary file beside it, then a
    /// rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), DriftError> {
        let path = path.as_ref();
        let mut models: Vec<SavedModel> = self
            .detectors
            .iter()
            .map(|entry| {
                let (model, provider) = entry.key().split_once('\0').unwrap_or((entry.key(), ""));
                SavedModel {
                    model: model.to_owned(),
                    provider: provider.to_owned(),
                    state: entry.value().state,
                }
            })
            .collect();
        models.sort_by(|a, b| (&a.model, &a.provider).cmp(&(&b.model, &b.provider)));
        let file = SavedFile {
            format: FILE_FORMAT.to_owned(),
            version: FILE_VERSION,
            models,
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| DriftError::Format {
            file: path.to_owned(),
            problem: format!("cannot be encoded: {e}"),
        })?;
        let io = |source| DriftError::Io {
            file: path.to_owned(),
            source,
        };
        let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
        // Unique per process and per save, so two saves at once never share a temporary file.
        static SAVES: AtomicU64 = AtomicU64::new(0);
        tmp_name.push(format!(
            ".tmp-{}-{}",
            std::process::id(),
            SAVES.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = path.with_file_name(tmp_name);
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(io)
    }

    /// Reads a file [`DriftRegistry::save`] wrote and replaces the state of every pair it holds
    /// (warm-up and drifting flag included), up to [`DriftConfig::max_models`] pairs; returns how
    /// many pairs were restored.
    pub fn restore(&self, path: impl AsRef<Path>) -> Result<usize, DriftError> {
        let path = path.as_ref();
        let text =
            crate::input::read_text_bounded(path, crate::input::BASELINE_MAX).map_err(|e| {
                DriftError::Io {
                    file: path.to_owned(),
                    source: std::io::Error::other(e.reason()),
                }
            })?;
        let format_error = |problem: String| DriftError::Format {
            file: path.to_owned(),
            problem,
        };
        crate::json::unique_keys(&text).map_err(|e| format_error(e.to_string()))?;
        let header: Header = serde_json::from_str(&text).map_err(|e| {
            format_error(format!(
                "not a JSON object: {}",
                crate::quote::bounded(&e.to_string())
            ))
        })?;
        if header.format.as_deref() != Some(FILE_FORMAT) {
            return Err(format_error(format!(
                "format is {}",
                crate::quote::bounded(header.format.as_deref().unwrap_or("missing"))
            )));
        }
        match &header.version {
            Some(v) if v.as_u64() == Some(u64::from(FILE_VERSION)) => {}
            Some(v) => {
                return Err(format_error(format!(
                    "version {} is not supported",
                    crate::quote::bounded(&v.to_string())
                )));
            }
            None => return Err(format_error("version is missing".to_owned())),
        }
        let file: SavedFile = serde_json::from_str(&text).map_err(|e| {
            format_error(format!(
                "does not parse: {}",
                crate::quote::bounded(&e.to_string())
            ))
        })?;
        // Every state is checked before any is restored: a bad file changes nothing.
        if let Some(bad) = file.models.iter().find(|m| !m.state.is_valid()) {
            return Err(format_error(format!(
                "the state of {} at {} is out of range",
                bad.model, bad.provider
            )));
        }
        let mut restored = 0;
        for saved in file.models {
            let mut key = String::new();
            write_key(&mut key, &saved.model, &saved.provider);
            if !self.detectors.contains_key(key.as_str()) && self.detectors.len() >= self.max_models
            {
                continue;
            }
            self.detectors.insert(
                key,
                DriftDetector {
                    params: self.params,
                    state: saved.state,
                },
            );
            restored += 1;
        }
        Ok(restored)
    }
}

impl State {
    fn is_valid(&self) -> bool {
        self.signals.iter().all(|s| {
            s.seed.iter().all(|v| v.is_finite())
                && s.mean.is_finite()
                && s.recent.is_finite()
                && s.dev.is_finite()
                && s.dev >= 0.0
        })
    }
}
