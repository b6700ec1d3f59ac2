//! Detectors keyed by (model, provider), bounded and shared between threads.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use foldhash::fast::RandomState;

use super::config::{DriftConfig, Params};
use super::detector::{DriftDetector, DriftUpdate};
use super::error::DriftError;
use super::signal::Observation;

/// Drift detectors keyed by (model, provider), bounded, safe to share between threads.
#[derive(Debug)]
pub struct DriftRegistry {
    pub(super) params: Params,
    pub(super) max_models: usize,
    /// Key: `model \0 provider`.
    pub(super) detectors: DashMap<String, DriftDetector, RandomState>,
    untracked: AtomicU64,
}

thread_local! {
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

pub(super) fn write_key(buf: &mut String, model: &str, provider: &str) {
    buf.clear();
    buf.push_str(model);
    buf.push('\0');
    buf.push_str(provider);
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
}
