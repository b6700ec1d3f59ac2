//! The guards' shared state from the start-up metadata (contract section 8): `GOVOPS_STATE_URL`
//! names the server, `GOVOPS_STATE_TIMEOUT_MS` bounds every command, and the policy's `[state]`
//! section the namespace and the reservations' time to live.

use std::sync::Arc;

use govops_core::Config;
use govops_core::state::GuardState;
use opentelemetry::metrics::Meter;

use crate::error::InitError;

/// The shared state `config` names, or `None` when `GOVOPS_STATE_URL` is not set; failures of
/// what is sent without waiting (settlements retried in the background) are counted in
/// `govops.state.errors` of `meter`.
#[cfg(feature = "redis")]
pub(crate) fn from_config(
    config: &Config,
    meter: &Meter,
) -> Result<Option<Arc<dyn GuardState>>, InitError> {
    use govops_core::contract::metric;
    use govops_core::state::{RedisOptions, RedisState};
    use opentelemetry::KeyValue;

    let Some(url) = &config.state_url else {
        return Ok(None);
    };
    let rules = &config.policy_rules.state;
    let errors = meter
        .u64_counter(metric::STATE_ERRORS)
        .with_description(
            "Times the shared guard state did not answer: the call was governed with this process's own state",
        )
        .build();
    let base = crate::metrics::base_attributes(config);
    let options = RedisOptions::default()
        .timeout(config.state_timeout)
        .namespace(rules.namespace_for(config.environment))
        .reservation_ttl(rules.reservation_ttl)
        .on_error(move |error| {
            let mut attributes = base.to_vec();
            attributes.push(KeyValue::new("reason", error.reason()));
            errors.add(1, &attributes);
        });
    let state = RedisState::new(url.expose_url(), options).map_err(|source| InitError::State {
        url: url.masked(),
        reason: source.to_string(),
    })?;
    Ok(Some(Arc::new(state)))
}

/// Without the `redis` feature a shared state cannot be kept: a set `GOVOPS_STATE_URL` is an
/// error rather than budgets silently kept per process.
#[cfg(not(feature = "redis"))]
pub(crate) fn from_config(
    config: &Config,
    _meter: &Meter,
) -> Result<Option<Arc<dyn GuardState>>, InitError> {
    match &config.state_url {
        None => Ok(None),
        Some(url) => Err(InitError::State {
            url: url.masked(),
            reason: "this build of govops has no `redis` feature (it is on by default)".to_owned(),
        }),
    }
}
