//! The router: primary first, the readiest secondary on degradation, failback with hysteresis,
//! retries with jittered backoff under a deadline.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::health::Health;
use super::{Attempt, Provider, ProviderHealth};

mod call;
mod config;
mod event;
mod rank;
mod traffic;

pub use config::FailoverConfig;
pub use event::{FailoverEvent, Reason, SwitchKind};

/// A routed call that succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Served<T> {
    /// What the provider returned.
    pub value: T,
    /// The provider that served it.
    pub provider: Arc<str>,
    /// The attempts that failed before it, in order (usually none).
    pub failed: Vec<Attempt>,
}

/// The router's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The provider holding the traffic.
    pub active: Arc<str>,
    /// Failovers so far.
    pub failovers: u64,
    /// Failbacks so far.
    pub failbacks: u64,
}

struct Slot<Req, T> {
    provider: Provider<Req, T>,
    health: Mutex<Health>,
}

struct Route {
    last_switch: Instant,
    last_failback: Option<Instant>,
    flaps: u32,
    next_trial: Instant,
}

type Observer = Box<dyn Fn(&FailoverEvent) + Send + Sync>;

/// Routes calls over providers the application registers: the primary first, the readiest
/// secondary when the one holding the traffic degrades, back to the primary when it has recovered.
///
/// Needs a tokio runtime with time enabled (for the per-attempt timeout and the backoff).
pub struct Router<Req, T> {
    slots: Vec<Slot<Req, T>>,
    config: FailoverConfig,
    expected_config: Option<Arc<str>>,
    active: AtomicUsize,
    route: Mutex<Route>,
    failovers: AtomicU64,
    failbacks: AtomicU64,
    observer: Option<Observer>,
    /// When the router was built: the origin of `next_report`.
    created: Instant,
    /// Nanoseconds after `created` from which readiness may be reported again.
    next_report: AtomicU64,
}

/// `t + d`, never panicking: a duration too long for the clock is a year.
pub(crate) fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(t)
}

fn lock<X>(m: &Mutex<X>) -> MutexGuard<'_, X> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

const PRIMARY: usize = 0;
const MAX_FLAPS: u32 = 5;

impl<Req, T> fmt::Debug for Router<Req, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field(
                "providers",
                &self
                    .slots
                    .iter()
                    .map(|s| &s.provider.info.name)
                    .collect::<Vec<_>>(),
            )
            .field("active", &self.active.load(Ordering::Relaxed))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<Req, T> Router<Req, T> {
    /// A router whose traffic goes to `primary` while it is healthy.
    #[must_use]
    pub fn new(primary: Provider<Req, T>, config: FailoverConfig) -> Self {
        let now = Instant::now();
        let mut router = Self {
            slots: Vec::new(),
            config,
            expected_config: None,
            active: AtomicUsize::new(PRIMARY),
            route: Mutex::new(Route {
                last_switch: now,
                last_failback: None,
                flaps: 0,
                next_trial: now,
            }),
            failovers: AtomicU64::new(0),
            failbacks: AtomicU64::new(0),
            observer: None,
            created: now,
            next_report: AtomicU64::new(0),
        };
        router.push(primary);
        router
    }

    fn push(&mut self, provider: Provider<Req, T>) {
        let health = Health::new(self.config.window, provider.config_version.clone());
        self.slots.push(Slot {
            provider,
            health: Mutex::new(health),
        });
    }

    /// Adds a secondary, after those added before it (the order breaks ties in readiness).
    #[must_use]
    pub fn secondary(mut self, provider: Provider<Req, T>) -> Self {
        self.push(provider);
        self
    }

    /// Calls `observer` on every failover and failback (outside the router's locks).
    #[must_use]
    pub fn on_event(mut self, observer: impl Fn(&FailoverEvent) + Send + Sync + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// The configuration version every provider should report; without it, the primary's.
    #[must_use]
    pub fn expect_config(mut self, version: &str) -> Self {
        self.expected_config = Some(Arc::from(version));
        self
    }

    /// Records the configuration version `provider` now reports; false if no provider has that
    /// name.
    pub fn set_config_version(&self, provider: &str, version: Option<&str>) -> bool {
        let Some(slot) = self
            .slots
            .iter()
            .find(|s| &*s.provider.info.name == provider)
        else {
            return false;
        };
        lock(&slot.health).config_version = version.map(Arc::from);
        true
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &FailoverConfig {
        &self.config
    }

    /// Failovers, failbacks and the provider holding the traffic.
    #[must_use]
    pub fn stats(&self) -> Stats {
        Stats {
            active: self.name(self.active.load(Ordering::Acquire)),
            failovers: self.failovers.load(Ordering::Relaxed),
            failbacks: self.failbacks.load(Ordering::Relaxed),
        }
    }

    fn name(&self, index: usize) -> Arc<str> {
        self.slots
            .get(index)
            .map_or_else(|| Arc::from(""), |s| Arc::clone(&s.provider.info.name))
    }

    /// Every provider's health, the primary first.
    #[must_use]
    pub fn health(&self) -> Vec<ProviderHealth> {
        let now = Instant::now();
        self.slots
            .iter()
            .map(|s| lock(&s.health).snapshot(&s.provider.info.name, now))
            .collect()
    }
}
