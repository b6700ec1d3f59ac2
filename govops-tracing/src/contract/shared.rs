//! What every call of one contract layer shares: the configuration, the policy, the price table
//! and the engines that keep state across calls (loops, budgets, drift), the instruments and the
//! audit log.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use govops_core::audit::AuditLog;
use govops_core::drift::DriftRegistry;
use govops_core::state::{GuardState, MemoryState};
use govops_core::{Action, Config, Environment, Policy, PriceTable};
use opentelemetry::StringValue;
use opentelemetry_sdk::trace::SdkTracer;

use crate::call::admission::{ANY_SHARED, States};
use crate::clock::Clock;
use crate::ids::SpanIds;
use crate::intern::intern;
use crate::metrics::Instruments;

/// Everything the layer needs, shared by its clones.
pub(crate) struct Shared {
    pub(crate) tracer: SdkTracer,
    pub(crate) service: StringValue,
    pub(crate) environment: StringValue,
    pub(crate) cost_center: StringValue,
    pub(crate) prod: bool,
    pub(crate) prices: Arc<PriceTable>,
    /// The policy: guard actions and thresholds, allow-lists, budgets, rules.
    pub(crate) policy: Arc<Policy>,
    /// Whether message content leaves the process (the policy's `[capture] content`, else
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`, else off).
    pub(crate) capture: bool,
    pub(crate) deployment: Environment,
    /// The guards' state in this process's memory: budgets' accounts and agent loops (all of
    /// it without a shared state; with one, what a call falls back on while it does not answer).
    pub(crate) local: Arc<MemoryState>,
    /// The guards' state shared by a fleet (contract section 8), when one is set.
    pub(crate) states: Option<Arc<States>>,
    pub(crate) instruments: Option<Instruments>,
    pub(crate) clock: Clock,
    /// The tracer provider's id generator, when govops built the provider:
    /// governed spans then draw their ids when they open and are built whole when they end.
    /// Without it (a provider the application built), they are started when they open.
    pub(crate) ids: Option<SpanIds>,
    /// Whether the provider's sampler samples every root span, so that a governed root may be
    /// built at its end as sampled; otherwise roots are started when they open and the sampler
    /// decides then, as for any span.
    pub(crate) defer_roots: bool,
    /// Whether the sampler follows the parent's decision (or samples everything), so that a
    /// governed child may be built at its end with its parent's decision.
    pub(crate) defer_children: bool,
    /// Drift of every (model, provider) the model calls use; `None` when the policy turns
    /// `model_drift` off.
    pub(crate) drift: Option<Arc<DriftRegistry>>,
    /// The audit log every governed call is recorded in, when `GOVOPS_AUDIT_LOG` is set.
    pub(crate) audit: Option<AuditLog>,
    /// Calls of drifting models denied so far: one in [`DRIFT_TRIAL_EVERY`] runs instead.
    pub(super) drift_denials: AtomicU64,
}

/// While a model drifts under `deny`, one call in this many runs (flagged), so that the model's
/// recovery can be seen: a denied call feeds nothing to drift.
pub(super) const DRIFT_TRIAL_EVERY: u64 = 20;

/// A fresh registry with the policy's drift settings, unless the policy turns drift off.
pub(crate) fn drift_registry(policy: &Policy) -> Option<Arc<DriftRegistry>> {
    if policy.guards.model_drift == Action::Off {
        return None;
    }
    // The policy's settings were validated when it was parsed.
    DriftRegistry::new(&policy.drift).ok().map(Arc::new)
}

impl Shared {
    /// What the layer of `config` shares, exporting through `tracer`.
    pub(crate) fn new(
        config: &Config,
        tracer: SdkTracer,
        instruments: Option<Instruments>,
        clock: Clock,
        ids: Option<SpanIds>,
    ) -> Self {
        let (defer_roots, defer_children) = sampler_allows_deferral();
        crate::failover::install();
        Self {
            drift: drift_registry(&config.policy_rules),
            drift_denials: AtomicU64::new(0),
            audit: None,
            defer_roots,
            defer_children,
            ids,
            tracer,
            service: intern(&config.app_name),
            environment: config.environment.as_str().into(),
            cost_center: intern(&config.cost_center),
            prod: config.environment == Environment::Prod,
            prices: config.prices.clone(),
            policy: config.policy_rules.clone(),
            capture: config.capture_content,
            deployment: config.environment,
            local: Arc::default(),
            states: None,
            instruments,
            clock,
        }
    }

    /// Records every governed call in `log`.
    pub(crate) fn with_audit(mut self, log: Option<AuditLog>) -> Self {
        self.audit = log;
        self
    }

    /// Keeps the guards' state in `state` (a fleet's shared state) rather than in this process
    /// alone.
    pub(crate) fn with_state(mut self, state: Option<Arc<dyn GuardState>>) -> Self {
        self.states = state.filter(|s| s.is_shared()).map(|shared| {
            ANY_SHARED.store(true, std::sync::atomic::Ordering::Relaxed);
            Arc::new(States {
                shared,
                local: Arc::clone(&self.local),
                policy: Arc::clone(&self.policy),
                budgets: self.policy.rules(self.deployment).budgets.clone(),
                errors: self.instruments.as_ref().map(Instruments::state_errors),
            })
        });
        self
    }

    /// Follows drift in `registry` (one restored from a baseline, say) instead of a fresh one.
    pub(crate) fn with_drift(mut self, registry: Option<Arc<DriftRegistry>>) -> Self {
        if self.drift.is_some() {
            self.drift = registry;
        }
        self
    }
}

/// What the SDK's default sampler, configured from the process environment as the SDK reads it,
/// allows: building governed roots at their end (it samples every root: unset, `always_on`,
/// `parentbased_always_on`), and governed children (it follows the parent: also the other
/// `parentbased_*` samplers).
fn sampler_allows_deferral() -> (bool, bool) {
    let sampler = std::env::var("OTEL_TRACES_SAMPLER").unwrap_or_default();
    let sampler = sampler.trim();
    let roots = matches!(sampler, "" | "always_on" | "parentbased_always_on");
    (roots, roots || sampler.starts_with("parentbased_"))
}
