//! The Failover Readiness Score of a provider, 0 to 100.

use std::sync::Arc;
use std::time::Duration;

use super::BreakerState;

/// Weight of availability (1 − error rate) in the score.
pub const WEIGHT_AVAILABILITY: f64 = 50.0;
/// Weight of the latency factor in the score.
pub const WEIGHT_LATENCY: f64 = 30.0;
/// Weight of config sync in the score.
pub const WEIGHT_CONFIG: f64 = 20.0;

/// Whether a provider's deployed configuration matches the expected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSync {
    /// The same version as expected (or no version is expected). Factor 1.
    InSync,
    /// A version is expected and the provider reports none. Factor 0.5.
    Unknown,
    /// The provider reports another version. Factor 0.
    Mismatch,
}

impl ConfigSync {
    /// 1, 0.5 or 0.
    #[must_use]
    pub const fn factor(self) -> f64 {
        match self {
            ConfigSync::InSync => 1.0,
            ConfigSync::Unknown => 0.5,
            ConfigSync::Mismatch => 0.0,
        }
    }
}

/// What the score is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factors {
    /// The request fits the provider's context window.
    pub fits: bool,
    /// The policy allows the provider and its model.
    pub allowed: bool,
    /// The provider's breaker.
    pub breaker: BreakerState,
    /// Failed share of its window, 0 to 1.
    pub error_rate: f64,
    /// Its window's p95 latency.
    pub p95: Option<Duration>,
    /// The primary's window p95 latency.
    pub primary_p95: Option<Duration>,
    /// The latency SLA.
    pub sla: Duration,
    /// Its configuration against the expected one.
    pub config: ConfigSync,
}

impl Factors {
    /// 1 when the provider is no slower than the primary (or either latency is unknown), falling
    /// linearly to 0 when its p95 is one SLA slower: `clamp(1 − (p95 − primary p95) / SLA, 0, 1)`.
    #[must_use]
    pub fn latency_factor(&self) -> f64 {
        match (self.p95, self.primary_p95) {
            (Some(own), Some(primary)) if !self.sla.is_zero() => {
                let delta = own.as_secs_f64() - primary.as_secs_f64();
                (1.0 - delta / self.sla.as_secs_f64()).clamp(0.0, 1.0)
            }
            _ => 1.0,
        }
    }
}

/// The Failover Readiness Score, 0 to 100:
///
/// ```text
/// score = round(B × (50 × A + 30 × L + 20 × C))      0 if the request does not fit or is not allowed
/// A = 1 − error rate over the window
/// L = clamp(1 − (p95 − primary p95) / SLA, 0, 1)      1 when either p95 is unknown
/// C = 1 in sync, 0.5 unknown, 0 mismatch
/// B = 1 closed, 0.5 half-open, 0 open
/// ```
#[must_use]
pub fn readiness_score(f: &Factors) -> u8 {
    let breaker = match f.breaker {
        BreakerState::Closed => 1.0,
        BreakerState::HalfOpen => 0.5,
        BreakerState::Open => 0.0,
    };
    if !f.fits || !f.allowed || breaker == 0.0 {
        return 0;
    }
    let availability = (1.0 - f.error_rate).clamp(0.0, 1.0);
    let score = breaker
        * (WEIGHT_AVAILABILITY * availability
            + WEIGHT_LATENCY * f.latency_factor()
            + WEIGHT_CONFIG * f.config.factor());
    // In 0..=100 by construction.
    score.round().clamp(0.0, 100.0) as u8
}

/// One provider's readiness, as `govops.failover.readiness` exports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    /// The provider's name.
    pub provider: Arc<str>,
    /// Its model.
    pub model: Arc<str>,
    /// The score, 0 to 100.
    pub score: u8,
    /// What it was computed from.
    pub factors: Factors,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Factors {
        Factors {
            fits: true,
            allowed: true,
            breaker: BreakerState::Closed,
            error_rate: 0.0,
            p95: Some(Duration::from_millis(100)),
            primary_p95: Some(Duration::from_millis(100)),
            sla: Duration::from_millis(200),
            config: ConfigSync::InSync,
        }
    }

    #[test]
    fn scores_are_as_documented() {
        let h = healthy();
        assert_eq!(readiness_score(&h), 100);
        assert_eq!(
            readiness_score(&Factors {
                error_rate: 0.2,
                ..h
            }),
            90
        );
        // 60 ms slower than the primary with a 200 ms SLA: L = 0.7, 21 of 30.
        let slower = Factors {
            p95: Some(Duration::from_millis(160)),
            ..h
        };
        assert_eq!(readiness_score(&slower), 91);
        let faster = Factors {
            p95: Some(Duration::from_millis(10)),
            ..h
        };
        assert_eq!(readiness_score(&faster), 100);
        assert_eq!(
            readiness_score(&Factors {
                p95: Some(Duration::from_millis(400)),
                ..h
            }),
            70
        );
        assert_eq!(
            readiness_score(&Factors {
                config: ConfigSync::Mismatch,
                ..h
            }),
            80
        );
        assert_eq!(
            readiness_score(&Factors {
                config: ConfigSync::Unknown,
                ..h
            }),
            90
        );
        assert_eq!(
            readiness_score(&Factors {
                breaker: BreakerState::HalfOpen,
                ..h
            }),
            50
        );
        assert_eq!(
            readiness_score(&Factors {
                breaker: BreakerState::Open,
                ..h
            }),
            0
        );
        assert_eq!(readiness_score(&Factors { fits: false, ..h }), 0);
        assert_eq!(
            readiness_score(&Factors {
                allowed: false,
                ..h
            }),
            0
        );
        // Everything at once: B 0.5 × (50 × 0.75 + 30 × 0.5 + 20 × 0) = 26.25 → 26.
        let mixed = Factors {
            breaker: BreakerState::HalfOpen,
            error_rate: 0.25,
            p95: Some(Duration::from_millis(200)),
            config: ConfigSync::Mismatch,
            ..h
        };
        assert_eq!(readiness_score(&mixed), 26);
    }
}
