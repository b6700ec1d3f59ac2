//! Policy-as-code: the file `GOVOPS_POLICY` names, in TOML.
//!
//! ```toml
//! [guards.context_overflow]
//! action = "flag"          # off, flag or deny
//! percent = 90             # of the model's max input tokens
//!
//! [guards.token_waste]
//! action = "flag"
//! ratio = 5                # input:output above this trips
//!
//! [capture]
//! content = false          # unset: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT decides (default off)
//!
//! [guards.policy_rule_failed]
//! action = "flag"          # a call the Rego rules fail on (a limit of time or depth, an error)
//!
//! [rego]
//! file = "rules.rego"      # a .rego file in the policy's directory (or below it)
//!
//! [guards.model_drift]
//! action = "flag"          # "off" stops following drift at all
//!
//! [drift]
//! threshold = 0.5          # composite score (0..1) at which a model drifts
//! hysteresis = 0.1         # it stops drifting below threshold - hysteresis
//! warm_up = 200            # calls of a model before it is scored
//! baseline = "drift.json"  # restored at start-up, saved at shutdown (in the policy's directory)
//! weights = { latency = 0.6, output_tokens = 0.6, error_rate = 0.6, output_tokens_per_second = 0.4, cost_per_success = 0.4 }
//!
//! [state]                  # the guard state replicas share (GOVOPS_STATE_URL)
//! on_unavailable = "flag"  # or "deny": a call the shared state did not answer in time
//! namespace = "billing"    # key prefix, hash-tagged: {billing}; default govops:{ENVIRONMENT}
//! reservation_ttl_seconds = 600
//! drift_sync_seconds = 30
//!
//! [environments.prod]
//! models = ["gpt-4o", "claude-sonnet-4-20250514"]
//! providers = ["openai", "anthropic"]
//! tools = ["search_orders", "refund"]
//!
//! [environments.prod.budgets]
//! request_usd = "0.50"     # USD as text, so that they stay exact
//! session_usd = "5"
//! ```
//!
//! Every section is optional; what is left out takes the contract's defaults (section 4). A file
//! that does not parse, names an unknown guard, action or model, or holds a value out of range is a
//! start-up gap naming the file, the line and the reason.
//!
//! Where things are: each guard is declared once in `guards`; `raw` is the file as serde reads
//! it (every table `deny_unknown_fields`); `parse` checks its values (`state` those of `[state]`);
//! `check` judges calls.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;

use crate::config::Environment;
use crate::drift::DriftConfig;
use crate::rego::Rego;
use crate::spelling::spelled;
use crate::violation::Decision;

mod check;
mod confine;
mod guards;
mod parse;
mod raw;
mod state;

pub use check::{Figure, Trip};
pub use guards::Guards;
pub use state::{DEFAULT_DRIFT_SYNC, DEFAULT_RESERVATION_TTL, StateRules};

/// What a guard does when it trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The guard does not run.
    Off,
    /// The call goes on and carries the violation.
    Flag,
    /// The call is not executed (or, after the fact, is recorded as denied).
    Deny,
}

spelled!(Action { Off => "off", Flag => "flag", Deny => "deny" });

impl Action {
    /// The decision a trip comes to; `None` when the guard is off.
    #[must_use]
    pub fn decision(self) -> Option<Decision> {
        match self {
            Action::Off => None,
            Action::Flag => Some(Decision::Flag),
            Action::Deny => Some(Decision::Deny),
        }
    }

    fn of(decision: Decision) -> Self {
        match decision {
            Decision::Allow => Action::Off,
            Decision::Flag => Action::Flag,
            Decision::Deny => Action::Deny,
        }
    }
}

/// USD budgets, exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Budgets {
    /// Per request.
    pub request_usd: Option<Decimal>,
    /// Per session.
    pub session_usd: Option<Decimal>,
    /// Per user.
    pub user_usd: Option<Decimal>,
    /// Per cost center and UTC day.
    pub cost_center_usd_per_day: Option<Decimal>,
}

/// What one environment allows: `None` allows everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvironmentRules {
    /// Models allowed, by price-table key as written in the policy.
    pub models: Option<Vec<String>>,
    /// Providers allowed.
    pub providers: Option<Vec<String>>,
    /// Tools allowed.
    pub tools: Option<Vec<String>>,
    /// Budgets.
    pub budgets: Budgets,
}

/// A parsed policy.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Policy {
    /// Guard actions and thresholds.
    pub guards: Guards,
    /// Whether message content may be exported (`[capture] content`): `None` when the policy
    /// does not say, so that `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` decides
    /// (contract section 9); [`Config::capture_content`](crate::Config::capture_content) is the
    /// setting in force.
    pub capture_content: Option<bool>,
    /// Custom rules in Rego, evaluated on every governed call.
    pub rego: Option<Rego>,
    /// Drift detection settings (`[drift]`).
    pub drift: DriftConfig,
    /// The file drift baselines are restored from at start-up and saved to at shutdown
    /// (`[drift] baseline`, relative to the policy file).
    pub drift_baseline: Option<std::path::PathBuf>,
    /// How the shared guard state is used (`[state]`, contract section 8).
    pub state: StateRules,
    environments: BTreeMap<Environment, EnvironmentRules>,
}

// Thresholds are validated finite and positive, so equality is an equivalence.
impl Eq for Policy {}

/// One thing wrong with a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyProblem {
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong and what would be accepted.
    pub problem: String,
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.problem),
            None => f.write_str(&self.problem),
        }
    }
}

impl Policy {
    /// What `environment` allows; everything when the policy says nothing of it.
    #[must_use]
    pub fn rules(&self, environment: Environment) -> &EnvironmentRules {
        static ALLOW_ALL: EnvironmentRules = EnvironmentRules {
            models: None,
            providers: None,
            tools: None,
            budgets: Budgets {
                request_usd: None,
                session_usd: None,
                user_usd: None,
                cost_center_usd_per_day: None,
            },
        };
        self.environments.get(&environment).unwrap_or(&ALLOW_ALL)
    }
}

#[cfg(test)]
mod tests;
