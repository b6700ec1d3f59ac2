//! The section 5 instruments a governed call records when it ends.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use govops_core::contract::{attr, metric};
use govops_core::{Decision, Usage, Violation, Violations};
use opentelemetry::metrics::{
    BoundCounter, BoundGauge, BoundHistogram, Counter, Gauge, Histogram, Meter,
};
use opentelemetry::{KeyValue, StringValue};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::call::{Move, Operation};
use crate::intern::intern;

/// The most tokens one call adds to `gen_ai.client.token.usage`. The histogram sums in `u64`, so
/// two hostile counts near `u64::MAX` would overflow it (a panic in a debug build, a wrapped sum
/// in release); no model call holds four billion tokens, and 2^32 calls at this cap still fit. The
/// span keeps the reported count.
const MAX_RECORDED_TOKENS: u64 = u32::MAX as u64;

/// Bucket boundaries the semantic conventions advise for `gen_ai.client.token.usage`.
const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// Bucket boundaries the semantic conventions advise for `gen_ai.client.operation.duration`.
const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// The instruments, created once per pipeline.
pub(crate) struct Instruments {
    /// Tells this pipeline's series apart from another's in the per-thread cache.
    id: u64,
    /// The attributes every series shares: service, environment, cost center.
    base: [KeyValue; 3],
    tokens: Histogram<u64>,
    duration: Histogram<f64>,
    cost: Counter<f64>,
    trips: GuardTrips,
    drift: Gauge<f64>,
    readiness: Gauge<u64>,
    switches: Counter<u64>,
    state_errors: Counter<u64>,
}

/// One combination of metric attributes, with its instruments bound to it: recording a call is
/// then an update of the series, without hashing its attributes again.
struct Series {
    attributes: Vec<KeyValue>,
    duration: BoundHistogram<f64>,
    input: BoundHistogram<u64>,
    output: BoundHistogram<u64>,
    cost: BoundCounter<f64>,
    /// `govops.drift.score` of the series' model and provider (no operation, no decision), when
    /// drift is followed: a bound series is exported even before its first value.
    drift: Option<BoundGauge<f64>>,
    /// The attributes every series shares: service, environment, cost center.
    base: [KeyValue; 3],
}

/// What one call leaves in the metrics.
pub(crate) struct Recorded<'a> {
    pub(crate) operation: Operation,
    pub(crate) decision: Decision,
    /// The provider that served the call (or the declared one).
    pub(crate) provider: Option<&'a StringValue>,
    /// The model priced (the served one after a failover to another model).
    pub(crate) model: Option<&'a StringValue>,
    pub(crate) usage: &'a Option<Usage>,
    pub(crate) cost_usd: Option<Decimal>,
    pub(crate) latency: Duration,
    pub(crate) violations: &'a Violations,
    /// The model's drift score after this call, when drift is followed.
    pub(crate) drift: Option<f64>,
    /// Whether drift is followed: the series then binds its model's drift gauge.
    pub(crate) drift_followed: bool,
    pub(crate) moves: &'a [Move],
    pub(crate) readiness: &'a [govops_core::failover::Readiness],
}

/// What picks a series.
#[derive(PartialEq, Eq, Hash)]
struct SeriesKey {
    pipeline: u64,
    operation: Operation,
    decision: Decision,
    provider: Option<Text>,
    model: Option<Text>,
}

/// A string compared by its text: cloning the interned value costs no allocation.
struct Text(StringValue);

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_str().hash(state);
    }
}

/// Past this many series on one thread the cache starts over: series are bounded by the
/// process's models and providers, this only bounds a pathological workload.
const SERIES_CAPACITY: usize = 512;

type SeriesCache = HashMap<SeriesKey, Rc<Series>, foldhash::fast::RandomState>;

thread_local! {
    static SERIES: RefCell<SeriesCache> = RefCell::new(SeriesCache::default());
}

static PIPELINES: AtomicU64 = AtomicU64::new(0);

/// The attributes every metric of `config`'s application carries: service, environment, cost
/// center.
pub(crate) fn base_attributes(config: &govops_core::Config) -> [KeyValue; 3] {
    [
        KeyValue::new("service.name", intern(&config.app_name)),
        KeyValue::new(
            "deployment.environment.name",
            StringValue::from(config.environment.as_str()),
        ),
        KeyValue::new("govops.cost_center", intern(&config.cost_center)),
    ]
}

impl Instruments {
    /// The instruments of `meter`, for the calls of `config`'s application.
    pub(crate) fn new(meter: &Meter, config: &govops_core::Config) -> Self {
        Self {
            id: PIPELINES.fetch_add(1, Ordering::Relaxed),
            base: base_attributes(config),
            tokens: meter
                .u64_histogram(metric::TOKEN_USAGE)
                .with_unit("{token}")
                .with_description("Tokens used by governed model calls")
                .with_boundaries(TOKEN_BUCKETS.to_vec())
                .build(),
            duration: meter
                .f64_histogram(metric::OPERATION_DURATION)
                .with_unit("s")
                .with_description("Wall time of governed calls")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            cost: meter
                .f64_counter(metric::COST_USD)
                .with_unit("USD")
                .with_description("Cost of governed model calls, from the price table")
                .build(),
            trips: GuardTrips::new(meter),
            drift: meter
                .f64_gauge(metric::DRIFT_SCORE)
                .with_unit("1")
                .with_description("Drift score (0 to 1) of each model at each provider")
                .build(),
            readiness: meter
                .u64_gauge(metric::FAILOVER_READINESS)
                .with_unit("1")
                .with_description("Failover readiness of each secondary provider, 0 to 100")
                .build(),
            switches: crate::failover::switches_counter(meter),
            state_errors: meter
                .u64_counter(metric::STATE_ERRORS)
                .with_description(
                    "Times the shared guard state did not answer: the call was governed with this process's own state",
                )
                .build(),
        }
    }

    /// `govops.state.errors`, and the attributes every series carries.
    pub(crate) fn state_errors(&self) -> (Counter<u64>, [KeyValue; 3]) {
        (self.state_errors.clone(), self.base.clone())
    }

    fn series(&self, call: &Recorded<'_>) -> Rc<Series> {
        let key = SeriesKey {
            pipeline: self.id,
            operation: call.operation,
            decision: call.decision,
            provider: call.provider.cloned().map(Text),
            model: call.model.cloned().map(Text),
        };
        let build = || Rc::new(self.bind(call));
        SERIES
            .try_with(|cache| {
                let Ok(mut cache) = cache.try_borrow_mut() else {
                    return build();
                };
                if let Some(series) = cache.get(&key) {
                    return series.clone();
                }
                if cache.len() >= SERIES_CAPACITY {
                    cache.clear();
                }
                let series = build();
                cache.insert(key, series.clone());
                series
            })
            .unwrap_or_else(|_| build())
    }

    /// The low-cardinality attributes only: never session or user ids.
    fn bind(&self, call: &Recorded<'_>) -> Series {
        let base = self.base.clone();
        let attributes = call_attributes(
            &base,
            call.operation.name(),
            call.decision,
            call.provider,
            call.model,
        );
        let mut per_model = base.to_vec();
        if let Some(provider) = call.provider {
            per_model.push(KeyValue::new(attr::PROVIDER_NAME, provider.clone()));
        }
        if let Some(model) = call.model {
            per_model.push(KeyValue::new(attr::REQUEST_MODEL, model.clone()));
        }
        let with_type = |token_type: &'static str| {
            let mut typed = attributes.clone();
            typed.push(KeyValue::new(attr::TOKEN_TYPE, token_type));
            typed
        };
        Series {
            duration: self.duration.bind(&attributes),
            input: self.tokens.bind(&with_type("input")),
            output: self.tokens.bind(&with_type("output")),
            cost: self.cost.bind(&attributes),
            drift: (call.drift_followed && call.operation.is_model() && call.model.is_some())
                .then(|| self.drift.bind(&per_model)),
            base,
            attributes,
        }
    }

    /// Records one call.
    pub(crate) fn record(&self, call: &Recorded<'_>) {
        let series = self.series(call);
        series.duration.record(call.latency.as_secs_f64());
        if let Some(cost) = call.cost_usd.and_then(|c| c.to_f64()) {
            series.cost.add(cost);
        }
        if let Some(usage) = call.usage {
            series.input.record(usage.input.min(MAX_RECORDED_TOKENS));
            series.output.record(usage.output.min(MAX_RECORDED_TOKENS));
        }
        if let (Some(score), Some(gauge)) = (call.drift, &series.drift) {
            gauge.record(score);
        }
        // Rare (a switch, a retry, a readiness report a second): unbound.
        for moved in call.moves {
            self.switches
                .add(1, &crate::failover::switch_attributes(moved, &series.base));
        }
        for r in call.readiness {
            self.readiness.record(
                u64::from(r.score),
                &crate::failover::readiness_attributes(r, &series.base),
            );
        }
        if !call.violations.is_empty() {
            self.trips.add(&series.attributes, call.violations.iter());
        }
    }
}

/// The metric attributes of one call (contract section 5: the low-cardinality ones only, never
/// session or user ids): `base`, then operation, decision, provider and model.
pub(crate) fn call_attributes(
    base: &[KeyValue],
    operation: &'static str,
    decision: Decision,
    provider: Option<&StringValue>,
    model: Option<&StringValue>,
) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(8);
    attributes.extend(base.iter().cloned());
    attributes.extend([
        KeyValue::new(attr::OPERATION_NAME, operation),
        KeyValue::new(attr::POLICY_DECISION, decision.as_str()),
    ]);
    if let Some(provider) = provider {
        attributes.push(KeyValue::new(attr::PROVIDER_NAME, provider.clone()));
    }
    if let Some(model) = model {
        attributes.push(KeyValue::new(attr::REQUEST_MODEL, model.clone()));
    }
    attributes
}

/// `govops.guard.trips`: one count per violation raised on a call, with the call's metric
/// attributes ([`call_attributes`]) and the violation's `code`, whoever raised it (the contract
/// layer, or the span processor that redacts at export).
#[derive(Debug, Clone)]
pub(crate) struct GuardTrips(Counter<u64>);

impl GuardTrips {
    pub(crate) fn new(meter: &Meter) -> Self {
        Self(
            meter
                .u64_counter(metric::GUARD_TRIPS)
                .with_unit("{trip}")
                .with_description("Violations raised on governed calls, by code")
                .build(),
        )
    }

    /// `govops.guard.trips` of `provider`, for what is raised outside the contract layer.
    pub(crate) fn of(provider: &opentelemetry_sdk::metrics::SdkMeterProvider) -> Self {
        use opentelemetry::metrics::MeterProvider as _;
        Self::new(&provider.meter(crate::SCOPE))
    }

    /// Counts each of `violations` on the call whose metric attributes are `call`.
    pub(crate) fn add(&self, call: &[KeyValue], violations: impl Iterator<Item = Violation>) {
        let mut attributes = Vec::with_capacity(call.len() + 1);
        attributes.extend_from_slice(call);
        for violation in violations {
            attributes.push(KeyValue::new("code", violation.code()));
            self.0.add(1, &attributes);
            attributes.pop();
        }
    }
}
