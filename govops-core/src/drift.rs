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

mod config;
mod detector;
mod error;
mod estimate;
mod registry;
mod saved;
mod signal;

pub use config::{DriftConfig, Weights};
pub use detector::{DriftDetector, DriftUpdate, Transition};
pub use error::DriftError;
pub use registry::DriftRegistry;
pub use saved::{FILE_FORMAT, FILE_VERSION};
pub use signal::{Direction, Observation, Signal, SignalReport};
