//! Where governed spans take their time from: the system clock, or a deterministic one for tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A clock.
#[derive(Clone, Debug, Default)]
pub(crate) enum Clock {
    /// Wall time for timestamps, a monotonic clock for durations.
    #[default]
    System,
    /// A clock that starts at `epoch` and moves `tick` forward at each reading: the same test
    /// gives the same timestamps and latencies on every run.
    Stepping {
        epoch: SystemTime,
        tick: Duration,
        readings: Arc<AtomicU64>,
    },
}

/// One reading.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp {
    pub(crate) wall: SystemTime,
    monotonic: Option<Instant>,
}

impl Stamp {
    /// Time elapsed from `earlier` to this reading, never negative.
    pub(crate) fn since(&self, earlier: &Stamp) -> Duration {
        match (self.monotonic, earlier.monotonic) {
            (Some(now), Some(then)) => now.saturating_duration_since(then),
            _ => self.wall.duration_since(earlier.wall).unwrap_or_default(),
        }
    }
}

impl Clock {
    /// A stepping clock from `epoch`, `tick` per reading.
    pub(crate) fn stepping(epoch: SystemTime, tick: Duration) -> Self {
        Clock::Stepping {
            epoch,
            tick,
            readings: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A later reading than `start`: on the system clock, the wall time is `start`'s plus the
    /// monotonic time elapsed, which saves a clock read and can never run backwards.
    pub(crate) fn after(&self, start: &Stamp) -> Stamp {
        match (self, start.monotonic) {
            (Clock::System, Some(then)) => {
                let now = Instant::now();
                Stamp {
                    wall: start.wall + now.saturating_duration_since(then),
                    monotonic: Some(now),
                }
            }
            _ => self.now(),
        }
    }

    pub(crate) fn now(&self) -> Stamp {
        match self {
            Clock::System => Stamp {
                wall: SystemTime::now(),
                monotonic: Some(Instant::now()),
            },
            Clock::Stepping {
                epoch,
                tick,
                readings,
            } => {
                let n = readings.fetch_add(1, Ordering::Relaxed);
                let offset = tick.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
                Stamp {
                    wall: *epoch + offset,
                    monotonic: None,
                }
            }
        }
    }
}
