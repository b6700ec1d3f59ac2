//! The section 5 instruments a governed call records when it ends.

use std::time::Duration;

use govops_core::contract::{attr, metric};
use govops_core::{Decision, Usage, Violations};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::call::Identity;
use crate::governed::Shared;

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
    tokens: Histogram<u64>,
    duration: Histogram<f64>,
    cost: Counter<f64>,
    trips: Counter<u64>,
}

impl Instruments {
    pub(crate) fn new(meter: &Meter) -> Self {
        Self {
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
            trips: meter
                .u64_counter(metric::GUARD_TRIPS)
                .with_unit("{trip}")
                .with_description("Violations raised on governed calls, by code")
                .build(),
        }
    }

    /// Records one call. Only low-cardinality attributes: never session or user ids.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &self,
        shared: &Shared,
        identity: &Identity,
        decision: Decision,
        usage: &Option<Usage>,
        cost_usd: Option<Decimal>,
        latency: Duration,
        violations: &Violations,
    ) {
        let mut attributes = Vec::with_capacity(8);
        attributes.extend([
            KeyValue::new("service.name", shared.service.clone()),
            KeyValue::new("deployment.environment.name", shared.environment.clone()),
            KeyValue::new("govops.cost_center", shared.cost_center.clone()),
            KeyValue::new(attr::OPERATION_NAME, identity.operation.name()),
            KeyValue::new(attr::POLICY_DECISION, decision.as_str()),
        ]);
        if let Some(provider) = &identity.provider {
            attributes.push(KeyValue::new(attr::PROVIDER_NAME, provider.clone()));
        }
        if let Some(model) = &identity.model {
            attributes.push(KeyValue::new(attr::REQUEST_MODEL, model.clone()));
        }
        self.duration.record(latency.as_secs_f64(), &attributes);
        if let Some(cost) = cost_usd.and_then(|c| c.to_f64()) {
            self.cost.add(cost, &attributes);
        }
        for violation in violations.iter() {
            attributes.push(KeyValue::new("code", violation.code()));
            self.trips.add(1, &attributes);
            attributes.pop();
        }
        if let Some(usage) = usage {
            attributes.push(KeyValue::new(attr::TOKEN_TYPE, "input"));
            self.tokens.record(usage.input, &attributes);
            attributes.pop();
            attributes.push(KeyValue::new(attr::TOKEN_TYPE, "output"));
            self.tokens.record(usage.output, &attributes);
        }
    }
}
