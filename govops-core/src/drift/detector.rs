//! The drift detector of one model: the signals fed, the composite score, the hysteresis.

use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use super::config::{DriftConfig, Params};
use super::error::DriftError;
use super::estimate::Stat;
use super::signal::{Observation, Signal, SignalReport};

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

/// The part of a detector that is saved and restored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub(super) struct State {
    observations: u64,
    drifting: bool,
    signals: [Stat; 5],
}

/// The drift detector of one model: constant memory, constant work per observation.
#[derive(Debug, Clone)]
pub struct DriftDetector {
    pub(super) params: Params,
    pub(super) state: State,
}

impl DriftDetector {
    /// A detector with no history; `Err` when the configuration is not valid.
    pub fn new(config: &DriftConfig) -> Result<DriftDetector, DriftError> {
        Ok(DriftDetector::with_params(Params::new(config)?))
    }

    pub(super) fn with_params(params: Params) -> DriftDetector {
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

impl State {
    pub(super) fn is_valid(&self) -> bool {
        self.signals.iter().all(|s| {
            s.seed.iter().all(|v| v.is_finite())
                && s.mean.is_finite()
                && s.recent.is_finite()
                && s.dev.is_finite()
                && s.dev >= 0.0
        })
    }
}
