//! The attribution ledger: exact running totals per request, session, user, cost center, model
//! and provider; an hour-of-day by weekday cost heatmap (UTC); the input:output ratio distribution.
//!
//! Safe under many threads with no global lock: requests, sessions and users are sharded maps
//! (`dashmap`); the totals every call shares (cost center, model, provider, heatmap, ratios) are
//! split into per-thread stripes and summed when read.
//!
//! # Memory bound
//!
//! Requests, sessions and users grow without limit in a long-running service, so they age out:
//! an entry not updated for [`LedgerLimits::idle`] (1 hour unless set) is evicted by
//! [`Ledger::sweep`], which [`Ledger::record`] runs itself every 1024 records of a thread; and when a dimension
//! still holds more than [`LedgerLimits::max_entries`] (100 000 unless set), its least recently
//! updated entries are evicted until it holds 90% of that. Cost centers, models and providers are
//! few and are never evicted.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use foldhash::fast::RandomState;
use rust_decimal::Decimal;

use crate::money::ExactSum;
use crate::usage::Usage;

/// Running totals for one key of one dimension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Exact sum of the priced calls' costs; `None` while no call was priced, since a cost that is
    /// absent is never 0.
    pub cost_usd: Option<Decimal>,
    /// Calls recorded, priced or not.
    pub calls: u64,
    /// Calls that could not be priced (their cost is absent, not zero).
    pub unpriced_calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// When the entry was last updated, seconds since the Unix epoch.
    pub last_update_unix: u64,
    /// Set when a sum grew past what `Decimal` holds exactly (28 significant digits) and was
    /// rounded: the figure is then close, not exact.
    pub inexact: bool,
}

/// What the ledger keeps per key: [`Totals`] with the cost as an [`ExactSum`].
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    cost: Option<ExactSum>,
    calls: u64,
    unpriced_calls: u64,
    input_tokens: u64,
    output_tokens: u64,
    last_update_unix: u64,
}

impl Acc {
    fn add(&mut self, entry: &Entry<'_>) {
        match entry.cost_usd {
            Some(cost) => self.cost.get_or_insert_with(ExactSum::default).add(cost),
            None => self.unpriced_calls += 1,
        }
        self.calls += 1;
        self.input_tokens = self.input_tokens.saturating_add(entry.usage.input);
        self.output_tokens = self.output_tokens.saturating_add(entry.usage.output);
        self.last_update_unix = self.last_update_unix.max(entry.at_unix_secs);
    }

    fn merge(&mut self, other: &Acc) {
        if let Some(cost) = other.cost {
            self.cost
                .get_or_insert_with(ExactSum::default)
                .add_sum(&cost);
        }
        self.calls += other.calls;
        self.unpriced_calls += other.unpriced_calls;
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.last_update_unix = self.last_update_unix.max(other.last_update_unix);
    }

    fn totals(&self) -> Totals {
        Totals {
            cost_usd: self.cost.map(|c| c.value()),
            calls: self.calls,
            unpriced_calls: self.unpriced_calls,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            last_update_unix: self.last_update_unix,
            inexact: self.cost.is_some_and(|c| !c.is_exact()),
        }
    }
}

/// One call to record.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The request (trace id), when known.
    pub request: Option<&'a str>,
    /// The session id, when known.
    pub session: Option<&'a str>,
    /// The user id, when known.
    pub user: Option<&'a str>,
    /// The cost center charged.
    pub cost_center: &'a str,
    /// The model.
    pub model: &'a str,
    /// The provider, when known.
    pub provider: Option<&'a str>,
    /// The call's tokens.
    pub usage: Usage,
    /// The exact cost; `None` for an unpriced call.
    pub cost_usd: Option<Decimal>,
    /// When the call ended, seconds since the Unix epoch (UTC).
    pub at_unix_secs: u64,
}

/// The ledger's memory bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerLimits {
    /// How long a request, session or user entry lives without an update.
    pub idle: Duration,
    /// The most entries one evictable dimension holds.
    pub max_entries: usize,
    /// The most distinct cost centers, models or providers kept (per stripe); calls under further
    /// keys are totalled under [`OTHER`], so caller-supplied names cannot grow memory without end.
    pub max_shared_keys: usize,
}

/// The key that totals cost centers, models or providers beyond [`LedgerLimits::max_shared_keys`].
pub const OTHER: &str = "(other)";

impl Default for LedgerLimits {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(3600),
            max_entries: 100_000,
            max_shared_keys: 10_000,
        }
    }
}

/// Which running totals to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// Per request (trace).
    Request,
    /// Per session.
    Session,
    /// Per user.
    User,
    /// Per cost center.
    CostCenter,
    /// Per model.
    Model,
    /// Per provider.
    Provider,
}

/// The input:output ratio buckets: at most 1:1, 2:1, 5:1, 10:1, 20:1, more, and no output. Above
/// 5:1 is token waste (contract section 4).
pub const RATIO_BUCKETS: [&str; 7] = ["<=1", "<=2", "<=5", "<=10", "<=20", ">20", "no_output"];

const SWEEP_EVERY: u64 = 1024;

/// How many stripes the shared, low-cardinality totals are split into.
const STRIPES: usize = 16;

/// Totals every thread touches on every call (cost centers, models and providers are few, so
/// concurrent calls share their keys): one copy per stripe, each thread writing its own, summed
/// on read. Two threads recording at once then rarely touch the same lock or cache line.
// Aligned to two cache lines, so that one thread's counters never share a line with its
// neighbour stripe's map headers: that false sharing cost two threads about 30% of their
// throughput when measured.
#[derive(Debug)]
#[repr(align(128))]
struct Stripe {
    maps: [DashMap<String, Acc, RandomState>; 3],
    heatmap: Box<[Mutex<ExactSum>]>,
    ratios: [AtomicU64; 7],
    /// Records through this stripe: every [`SWEEP_EVERY`]th sweeps. Counting per stripe keeps the
    /// counter off a shared cache line and still counts short-lived threads, which share stripes.
    records: AtomicU64,
}

impl Stripe {
    fn new() -> Self {
        Self {
            maps: Default::default(),
            heatmap: (0..7 * 24)
                .map(|_| Mutex::new(ExactSum::default()))
                .collect(),
            ratios: Default::default(),
            records: AtomicU64::new(0),
        }
    }
}

thread_local! {
    /// This thread's stripe, assigned round-robin on first use.
    static THREAD_STRIPE: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

static NEXT_STRIPE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn this_thread_stripe() -> usize {
    THREAD_STRIPE.with(|cell| {
        let mut stripe = cell.get();
        if stripe == usize::MAX {
            stripe = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
            cell.set(stripe);
        }
        stripe
    })
}

/// Seconds since the Unix epoch, from the system clock.
fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Adds `entry` under `key`; a new key beyond `cap` goes under [`OTHER`].
fn add_to(map: &DashMap<String, Acc, RandomState>, key: &str, entry: &Entry<'_>, cap: usize) {
    // Look up by &str first: a key already present costs no allocation.
    if let Some(mut totals) = map.get_mut(key) {
        totals.add(entry);
        return;
    }
    let key = if map.len() >= cap { OTHER } else { key };
    map.entry(key.to_owned()).or_default().add(entry);
}

/// The attribution ledger.
#[derive(Debug)]
pub struct Ledger {
    /// Requests, sessions and users: many keys, each mostly written by one call at a time.
    own: [DashMap<String, Acc, RandomState>; 3],
    stripes: Box<[Stripe]>,
    limits: LedgerLimits,
    clock: fn() -> u64,
    sweeping: std::sync::atomic::AtomicBool,
}

impl Default for Ledger {
    fn default() -> Self {
        Self::new(LedgerLimits::default())
    }
}

impl Ledger {
    /// An empty ledger with `limits`; automatic sweeps read the system clock.
    #[must_use]
    pub fn new(limits: LedgerLimits) -> Self {
        Self::with_clock(limits, system_now)
    }

    /// An empty ledger whose automatic sweeps take "now" from `clock` (seconds since the Unix
    /// epoch) instead of the system clock: for tests and replays.
    #[must_use]
    pub fn with_clock(limits: LedgerLimits, clock: fn() -> u64) -> Self {
        Self {
            // More shards than dashmap's default (4 × cores): two calls of different sessions then
            // rarely meet on one shard's lock.
            own: std::array::from_fn(|_| {
                DashMap::with_hasher_and_shard_amount(RandomState::default(), 64)
            }),
            stripes: (0..STRIPES).map(|_| Stripe::new()).collect(),
            limits,
            clock,
            sweeping: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Adds one call to every total it belongs to.
    pub fn record(&self, entry: &Entry<'_>) {
        let stripe = &self.stripes[this_thread_stripe()];
        for (map, key) in self
            .own
            .iter()
            .zip([entry.request, entry.session, entry.user])
        {
            if let Some(key) = key {
                add_to(map, key, entry, usize::MAX);
            }
        }
        let shared = [Some(entry.cost_center), Some(entry.model), entry.provider];
        for (map, key) in stripe.maps.iter().zip(shared) {
            if let Some(key) = key {
                add_to(map, key, entry, self.limits.max_shared_keys);
            }
        }
        if let Some(cost) = entry.cost_usd {
            let cell = &stripe.heatmap[heatmap_index(entry.at_unix_secs)];
            let mut sum = cell
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sum.add(cost);
        }
        stripe.ratios[ratio_bucket(&entry.usage)].fetch_add(1, Ordering::Relaxed);
        if stripe.records.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // One sweep at a time; a thread that finds one running goes on.
            if !self.sweeping.swap(true, Ordering::Acquire) {
                self.sweep((self.clock)());
                self.sweeping.store(false, Ordering::Release);
            }
        }
    }

    /// The maps holding `dimension`: one, or one per stripe.
    fn maps(&self, dimension: Dimension) -> Vec<&DashMap<String, Acc, RandomState>> {
        match dimension {
            Dimension::Request => vec![&self.own[0]],
            Dimension::Session => vec![&self.own[1]],
            Dimension::User => vec![&self.own[2]],
            Dimension::CostCenter => self.stripes.iter().map(|s| &s.maps[0]).collect(),
            Dimension::Model => self.stripes.iter().map(|s| &s.maps[1]).collect(),
            Dimension::Provider => self.stripes.iter().map(|s| &s.maps[2]).collect(),
        }
    }

    /// The totals of `key` in `dimension`.
    #[must_use]
    pub fn totals(&self, dimension: Dimension, key: &str) -> Option<Totals> {
        let merged = self
            .maps(dimension)
            .into_iter()
            .filter_map(|m| m.get(key).map(|t| *t))
            .reduce(|mut a, b| {
                a.merge(&b);
                a
            });
        merged.map(|acc| acc.totals())
    }

    /// Every key of `dimension` with its totals, in key order.
    #[must_use]
    pub fn all(&self, dimension: Dimension) -> Vec<(String, Totals)> {
        let mut merged: std::collections::BTreeMap<String, Acc> = std::collections::BTreeMap::new();
        for map in self.maps(dimension) {
            for e in map.iter() {
                merged.entry(e.key().clone()).or_default().merge(e.value());
            }
        }
        merged
            .into_iter()
            .map(|(k, acc)| (k, acc.totals()))
            .collect()
    }

    /// The summed heatmap cells: weekday (Monday first) × hour.
    fn heatmap_sums(&self) -> [[ExactSum; 24]; 7] {
        let mut out = [[ExactSum::default(); 24]; 7];
        for stripe in &self.stripes {
            for (i, cell) in stripe.heatmap.iter().enumerate() {
                let sum = *cell
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                out[i / 24][i % 24].add_sum(&sum);
            }
        }
        out
    }

    /// Cost of the priced calls per UTC weekday (Monday first) and hour of day.
    #[must_use]
    pub fn heatmap(&self) -> [[Decimal; 24]; 7] {
        self.heatmap_sums().map(|day| day.map(|cell| cell.value()))
    }

    /// Whether every heatmap cell is its exact sum (see [`Totals::inexact`] for the others).
    #[must_use]
    pub fn heatmap_is_exact(&self) -> bool {
        self.heatmap_sums().iter().flatten().all(ExactSum::is_exact)
    }

    /// How many calls fell in each of [`RATIO_BUCKETS`].
    #[must_use]
    pub fn ratio_distribution(&self) -> [u64; 7] {
        std::array::from_fn(|i| {
            self.stripes
                .iter()
                .map(|s| s.ratios[i].load(Ordering::Relaxed))
                .sum()
        })
    }

    /// Evicts what the memory bound says (see the module documentation); returns how many entries
    /// went. `now_unix` is the current time, seconds since the Unix epoch.
    pub fn sweep(&self, now_unix: u64) -> usize {
        let cutoff = now_unix.saturating_sub(self.limits.idle.as_secs());
        let mut evicted = 0;
        for map in &self.own {
            let before = map.len();
            map.retain(|_, t| t.last_update_unix >= cutoff);
            if map.len() > self.limits.max_entries {
                let keep = self.limits.max_entries * 9 / 10;
                let mut ages: Vec<(u64, String)> = map
                    .iter()
                    .map(|e| (e.value().last_update_unix, e.key().clone()))
                    .collect();
                ages.sort_unstable();
                let excess = ages.len().saturating_sub(keep);
                for (seen, key) in ages.into_iter().take(excess) {
                    // An entry updated since the snapshot is live again: keep it.
                    map.remove_if(&key, |_, t| t.last_update_unix <= seen);
                }
            }
            evicted += before.saturating_sub(map.len());
        }
        evicted
    }
}

/// The heatmap cell of a time: weekday (Monday 0) × 24 + hour, in UTC.
fn heatmap_index(unix_secs: u64) -> usize {
    let days = unix_secs / 86_400;
    // 1970-01-01 was a Thursday.
    let weekday = (days + 3) % 7;
    let hour = (unix_secs % 86_400) / 3600;
    // Both are small: weekday < 7, hour < 24.
    usize::try_from(weekday * 24 + hour).unwrap_or(0)
}

/// The ratio bucket of a call, compared exactly in integers.
fn ratio_bucket(usage: &Usage) -> usize {
    if usage.output == 0 {
        return 6;
    }
    let input = u128::from(usage.input);
    let output = u128::from(usage.output);
    [1_u128, 2, 5, 10, 20]
        .iter()
        .position(|k| input <= k * output)
        .unwrap_or(5)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn entry<'a>(session: &'a str, cost: &str, at: u64) -> Entry<'a> {
        Entry {
            request: Some("trace-1"),
            session: Some(session),
            user: Some("u-1"),
            cost_center: "CC-1",
            model: "gpt-4o",
            provider: Some("openai"),
            usage: Usage::new(600, 100),
            cost_usd: Some(Decimal::from_str(cost).unwrap()),
            at_unix_secs: at,
        }
    }

    #[test]
    fn totals_are_exact_under_many_threads() {
        let ledger = Ledger::with_clock(LedgerLimits::default(), || 1_700_000_000);
        std::thread::scope(|scope| {
            for t in 0..4 {
                let ledger = &ledger;
                scope.spawn(move || {
                    let session = format!("s-{t}");
                    for _ in 0..10_000 {
                        ledger.record(&entry(&session, "0.0000031", 1_700_000_000));
                    }
                });
            }
        });
        let cc = ledger.totals(Dimension::CostCenter, "CC-1").unwrap();
        assert_eq!(cc.calls, 40_000);
        assert_eq!(cc.cost_usd, Some(Decimal::from_str("0.124").unwrap()));
        assert!(!cc.inexact);
        assert_eq!(cc.input_tokens, 24_000_000);
        assert_eq!(
            ledger.totals(Dimension::Session, "s-2").unwrap().cost_usd,
            Some(Decimal::from_str("0.031").unwrap())
        );
        assert_eq!(
            ledger.totals(Dimension::Provider, "openai").unwrap().calls,
            40_000
        );
        assert_eq!(ledger.all(Dimension::Session).len(), 4);
    }

    #[test]
    fn unpriced_calls_are_counted_not_priced_at_zero() {
        let ledger = Ledger::default();
        let mut unpriced = entry("s", "0", 0);
        unpriced.cost_usd = None;
        ledger.record(&unpriced);
        ledger.record(&entry("s", "0.5", 0));
        let t = ledger.totals(Dimension::Session, "s").unwrap();
        assert_eq!(
            (t.calls, t.unpriced_calls, t.cost_usd),
            (2, 1, Some(Decimal::from_str("0.5").unwrap()))
        );
    }

    #[test]
    fn the_heatmap_is_utc_weekday_by_hour() {
        let ledger = Ledger::default();
        // 2026-11-24 is a Tuesday; 14:30 UTC.
        let tuesday = 1_795_530_600;
        ledger.record(&entry("s", "1.25", tuesday));
        let map = ledger.heatmap();
        assert_eq!(map[1][14], Decimal::from_str("1.25").unwrap());
        let total: Decimal = map.iter().flatten().copied().sum();
        assert_eq!(total, Decimal::from_str("1.25").unwrap());
        // 1970-01-01 00:00 was a Thursday.
        assert_eq!(heatmap_index(0), 3 * 24);
    }

    #[test]
    fn ratios_fall_in_exact_buckets() {
        let cases = [
            (5, 5, 0),
            (6, 5, 1),
            (10, 5, 1),
            (25, 5, 2),
            (26, 5, 3),
            (100, 5, 4),
            (101, 5, 5),
            (7, 0, 6),
        ];
        for (input, output, bucket) in cases {
            assert_eq!(
                ratio_bucket(&Usage::new(input, output)),
                bucket,
                "{input}:{output}"
            );
        }
        let ledger = Ledger::default();
        ledger.record(&entry("s", "0", 0));
        assert_eq!(ledger.ratio_distribution()[3], 1, "600:100 is 6:1, waste");
    }

    #[test]
    fn idle_entries_age_out_and_the_cap_holds() {
        let ledger = Ledger::with_clock(
            LedgerLimits {
                idle: Duration::from_secs(3600),
                max_entries: 100,
                max_shared_keys: 10_000,
            },
            || 1200,
        );
        for i in 0..200_u64 {
            let session = format!("s-{i}");
            let mut e = entry(&session, "0.01", 1000 + i);
            e.request = None;
            e.user = None;
            ledger.record(&e);
        }
        // Nothing idle yet at t=1200, but 200 > 100: the oldest go until 90 remain.
        let evicted = ledger.sweep(1200);
        assert_eq!(evicted, 110);
        assert_eq!(ledger.all(Dimension::Session).len(), 90);
        assert!(ledger.totals(Dimension::Session, "s-199").is_some());
        assert!(ledger.totals(Dimension::Session, "s-0").is_none());
        // An hour later every session is idle; cost centers and models stay.
        ledger.sweep(1200 + 3600);
        assert!(ledger.all(Dimension::Session).is_empty());
        assert_eq!(
            ledger.totals(Dimension::CostCenter, "CC-1").unwrap().calls,
            200
        );
    }

    #[test]
    fn a_key_with_only_unpriced_calls_has_no_cost_not_zero() {
        let ledger = Ledger::default();
        let mut unpriced = entry("s", "0", 0);
        unpriced.cost_usd = None;
        ledger.record(&unpriced);
        let t = ledger.totals(Dimension::Model, "gpt-4o").unwrap();
        assert_eq!((t.calls, t.unpriced_calls, t.cost_usd), (1, 1, None));
    }

    #[test]
    fn sums_that_would_round_are_marked_inexact() {
        let ledger = Ledger::default();
        ledger.record(&entry("s", "800000000000000000000", 0));
        ledger.record(&entry("s", "0.00000016666666666666667", 0));
        let t = ledger.totals(Dimension::Session, "s").unwrap();
        assert!(t.inexact, "{t:?}");
        let exact = ledger.totals(Dimension::Session, "s");
        assert!(exact.is_some());
    }

    #[test]
    fn caller_supplied_model_names_cannot_grow_memory_without_end() {
        let limits = LedgerLimits {
            max_shared_keys: 10,
            ..LedgerLimits::default()
        };
        let ledger = Ledger::with_clock(limits, || 0);
        for i in 0..100 {
            let model = format!("model-{i}");
            let mut e = entry("s", "0.01", 0);
            e.model = &model;
            ledger.record(&e);
        }
        let models = ledger.all(Dimension::Model);
        assert_eq!(models.len(), 11, "ten names and (other)");
        let other = ledger.totals(Dimension::Model, OTHER).unwrap();
        assert_eq!(other.calls, 90);
        assert_eq!(other.cost_usd, Some(Decimal::from_str("0.90").unwrap()));
    }

    #[test]
    fn sweeps_running_beside_recording_keep_live_totals() {
        let limits = LedgerLimits {
            max_entries: 50,
            ..LedgerLimits::default()
        };
        let ledger = Ledger::with_clock(limits, || 10_000);
        std::thread::scope(|scope| {
            let ledger = &ledger;
            scope.spawn(move || {
                for i in 0..5000_u64 {
                    let session = format!("old-{i}");
                    let mut e = entry(&session, "0.01", 9_000 + i % 100);
                    e.request = None;
                    e.user = None;
                    ledger.record(&e);
                }
            });
            scope.spawn(move || {
                for _ in 0..5000 {
                    let mut e = entry("live", "0.01", 10_000);
                    e.request = None;
                    e.user = None;
                    ledger.record(&e);
                }
            });
            scope.spawn(move || {
                for _ in 0..200 {
                    ledger.sweep(10_000);
                }
            });
        });
        let live = ledger.totals(Dimension::Session, "live").unwrap();
        assert_eq!(
            live.calls, 5000,
            "the live session's totals survive every sweep"
        );
        assert_eq!(live.cost_usd, Some(Decimal::from_str("50").unwrap()));
        assert!(ledger.all(Dimension::Session).len() <= 5001);
    }
}
