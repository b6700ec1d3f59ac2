//! The names `shared/CONTRACT.md` promises: environment variables and attribute keys.
//!
//! One place for every name, so that a rename is one edit and a breaking change is visible.

/// The version of the telemetry contract this crate implements (`govops.contract.version`).
pub const CONTRACT_VERSION: &str = "1";

/// Writes each row of the start-up table as a constant naming its variable.
macro_rules! variable_names {
    ($(
        $(#[$meta:meta])*
        $NAME:ident = $name:literal as $field:ident, $presence:expr, accepted $accepted:expr;
        fn $setter:ident($arg:ty) via $via:ident, e.g. $example:literal;
    )+) => {
        $(
            $(#[$meta])*
            pub const $NAME: &str = $name;
        )+
    };
}

/// Environment variables read at start-up (contract section 1), from the one table
/// ([`for_each_variable!`](crate::for_each_variable)), in contract order.
pub mod vars {
    crate::for_each_variable!(variable_names);
}

/// Resource attribute keys (contract section 1).
pub mod resource {
    /// `service.name`, from `GOVOPS_APP_NAME`.
    pub const SERVICE_NAME: &str = "service.name";
    /// `service.version`, from `GOVOPS_APP_VERSION`.
    pub const SERVICE_VERSION: &str = "service.version";
    /// `deployment.environment.name`, from `GOVOPS_ENVIRONMENT`.
    pub const DEPLOYMENT_ENVIRONMENT_NAME: &str = "deployment.environment.name";
    /// `govops.owner`, from `GOVOPS_OWNER`.
    pub const OWNER: &str = "govops.owner";
    /// `govops.cost_center`, from `GOVOPS_COST_CENTER`.
    pub const COST_CENTER: &str = "govops.cost_center";
    /// `govops.data_classification`, from `GOVOPS_DATA_CLASSIFICATION`.
    pub const DATA_CLASSIFICATION: &str = "govops.data_classification";
    /// `govops.policy.id`, the policy file's name and content hash.
    pub const POLICY_ID: &str = "govops.policy.id";
}

/// Span attribute keys of every governed span (contract sections 2 and 3).
pub mod attr {
    /// `session.id`: the caller's session, `"unknown"` when none was set.
    pub const SESSION_ID: &str = "session.id";
    /// `user.id`: the caller's user, `"unknown"` when none was set.
    pub const USER_ID: &str = "user.id";
    /// `gen_ai.operation.name`.
    pub const OPERATION_NAME: &str = govops_protocol::field::OPERATION_NAME;
    /// `govops.policy.decision`: `allow`, `flag` or `deny`.
    pub const POLICY_DECISION: &str = "govops.policy.decision";
    /// `govops.safety.violations`: the violation codes, empty when none.
    pub const SAFETY_VIOLATIONS: &str = "govops.safety.violations";
    /// `govops.latency_ms`: wall time of the governed call, a double.
    pub const LATENCY_MS: &str = "govops.latency_ms";
    /// `govops.contract.version`.
    pub const CONTRACT_VERSION: &str = govops_protocol::field::CONTRACT_VERSION;
    /// `gen_ai.request.model`.
    pub const REQUEST_MODEL: &str = govops_protocol::field::REQUEST_MODEL;
    /// `gen_ai.response.model`, when the provider reports one.
    pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// `gen_ai.response.finish_reasons`, when the provider reports them.
    pub const FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    /// `gen_ai.provider.name`.
    pub const PROVIDER_NAME: &str = govops_protocol::field::PROVIDER_NAME;
    /// `gen_ai.usage.input_tokens`.
    pub const INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// `gen_ai.usage.output_tokens`.
    pub const OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// `gen_ai.usage.cache_read.input_tokens`.
    pub const CACHE_READ_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
    /// `gen_ai.usage.cache_creation.input_tokens`: 5-minute and 1-hour cache writes together.
    pub const CACHE_CREATION_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
    /// `gen_ai.usage.reasoning.output_tokens`.
    pub const REASONING_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
    /// `govops.cost.total_usd`: a double on spans and metrics.
    pub const COST_TOTAL_USD: &str = "govops.cost.total_usd";
    /// `govops.context.utilization`: input tokens / the model's max input tokens.
    pub const CONTEXT_UTILIZATION: &str = "govops.context.utilization";
    /// `gen_ai.tool.name`.
    pub const TOOL_NAME: &str = govops_protocol::field::TOOL_NAME;
    /// `gen_ai.agent.name`.
    pub const AGENT_NAME: &str = govops_protocol::field::AGENT_NAME;
    /// `gen_ai.token.type` on the token usage histogram: `input` or `output`.
    pub const TOKEN_TYPE: &str = "gen_ai.token.type";
    /// `error.type`, on a governed call that failed.
    pub const ERROR_TYPE: &str = "error.type";
    /// The prompt, as the semantic conventions' input messages (JSON); only when the policy
    /// captures content.
    pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// The response, as the semantic conventions' output messages (JSON); only when the policy
    /// captures content.
    pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
    /// A tool call's arguments, as a JSON object; only when content is captured, redacted.
    pub const TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
    /// A tool call's result (what it recorded with `Call::record_output`), as JSON; only when
    /// content is captured, redacted.
    pub const TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";
    /// `gen_ai.request.temperature`: the request's sampling temperature (audit log).
    pub const REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
    /// `gen_ai.request.top_p`: the request's nucleus-sampling parameter (audit log).
    pub const REQUEST_TOP_P: &str = "gen_ai.request.top_p";
    /// `gen_ai.request.seed`: the request's sampling seed (audit log).
    pub const REQUEST_SEED: &str = "gen_ai.request.seed";
    /// `gen_ai.request.max_tokens`: the most output tokens the request allows.
    pub const REQUEST_MAX_TOKENS: &str = govops_protocol::field::REQUEST_MAX_TOKENS;
    /// `govops.failover.from`, on a `govops.failover` event: the provider traffic left.
    pub const FAILOVER_FROM: &str = "govops.failover.from";
    /// `govops.failover.to`, on a `govops.failover` event: the provider it went to.
    pub const FAILOVER_TO: &str = "govops.failover.to";
    /// `govops.failover.reason`: `sla_breach`, `error_rate`, `breaker_open`, `timeout`,
    /// `recovered` for a switch of the traffic; the failed attempt's error kind for a retry.
    pub const FAILOVER_REASON: &str = "govops.failover.reason";
    /// `govops.failover.kind`: `failover` or `failback` (the router moved its traffic), or
    /// `retry` (this call's attempt failed and the next went elsewhere).
    pub const FAILOVER_KIND: &str = "govops.failover.kind";
    /// `govops.drift.score`, on a `model_drift` trip: the model's composite score.
    pub const DRIFT_SCORE: &str = "govops.drift.score";
    /// `govops.drift.signals`, on a `model_drift` trip: the signals that moved, as
    /// `signal:direction` (`latency:up`).
    pub const DRIFT_SIGNALS: &str = "govops.drift.signals";
}

/// Metric names (contract section 5).
pub mod metric {
    /// `gen_ai.client.token.usage`: histogram of tokens, by `gen_ai.token.type`.
    pub const TOKEN_USAGE: &str = "gen_ai.client.token.usage";
    /// `gen_ai.client.operation.duration`: histogram, seconds.
    pub const OPERATION_DURATION: &str = "gen_ai.client.operation.duration";
    /// `govops.cost.usd`: counter, USD.
    pub const COST_USD: &str = "govops.cost.usd";
    /// `govops.guard.trips`: counter, by `code`.
    pub const GUARD_TRIPS: &str = "govops.guard.trips";
    /// `govops.drift.score`: gauge, per model.
    pub const DRIFT_SCORE: &str = "govops.drift.score";
    /// `govops.failover.readiness`: gauge, per provider.
    pub const FAILOVER_READINESS: &str = "govops.failover.readiness";
    /// `govops.failover.switches`: counter of failovers and failbacks, by `govops.failover.kind`,
    /// `govops.failover.reason` and the provider traffic went to (not in the contract's
    /// section 5, which asks for "a metric" without naming it).
    pub const FAILOVER_SWITCHES: &str = "govops.failover.switches";
    /// `govops.telemetry.dropped`: counter of spans the pipeline lost, by `reason`.
    pub const TELEMETRY_DROPPED: &str = "govops.telemetry.dropped";
    /// `govops.state.errors`: counter of times the shared guard state did not answer, by
    /// `reason` (`timeout`, `unreachable`, `breaker_open`, `server_error`; contract section 8).
    pub const STATE_ERRORS: &str = "govops.state.errors";
}

/// Span event names (contract section 4).
pub mod event {
    /// `govops.guard.tripped`: a guard tripped, with its code and figures.
    pub const GUARD_TRIPPED: &str = "govops.guard.tripped";
    /// `govops.failover`: the call failed over (from, to, reason).
    pub const FAILOVER: &str = "govops.failover";
}
