//! The five signals a detector follows, one call as drift sees it, and one signal's report.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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
    /// Every signal, in the order of [`DriftUpdate::signals`](super::DriftUpdate::signals).
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

    pub(super) fn index(self) -> usize {
        self as usize
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
