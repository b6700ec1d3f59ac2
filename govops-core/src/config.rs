//! The start-up metadata of contract section 1: one table of variables
//! ([`for_each_variable!`](crate::for_each_variable)), read with `envy` and checked value by value.
//!
//! [`Config::load`] never stops at the first problem: it collects every [`Gap`](crate::Gap) so
//! that one run tells an operator everything to fix. Where things are: the table in `variables`,
//! the values' keywords in `keyword`, the loading and presence rules in `loading`, the rules of
//! single values in `rules`, of files in `files`, OTLP export in `otlp`, and the shared guard state
//! in `state`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::contract::resource;
use crate::policy::Policy;
use crate::prices::PriceTable;

mod files;
mod keyword;
mod loading;
mod otlp;
mod rules;
mod state;
mod variables;

pub use keyword::{DataClassification, Environment, Keyword, OtlpProtocol};
pub use otlp::{OtlpConfig, Secret, redact_endpoint};
pub(crate) use rules::shown;
pub use state::{
    DEFAULT_STATE_PORT, DEFAULT_STATE_TIMEOUT, MAX_STATE_TIMEOUT, MIN_STATE_PROBE_TIMEOUT,
    StateUrl, probe_state, state_warning,
};
#[doc(hidden)]
pub use variables::Presence;
pub use variables::{Settings, VARIABLES};

/// Where the JSON-lines sink writes when neither `GOVOPS_TELEMETRY_FILE` nor an OTLP endpoint is set.
pub const DEFAULT_TELEMETRY_FILE: &str = "govops-telemetry.jsonl";

/// The span queue when `OTEL_BSP_MAX_QUEUE_SIZE` is not set (the specification's default).
pub const DEFAULT_SPAN_QUEUE_SIZE: usize = 2048;

/// The largest span queue accepted: past it, a stalled exporter would hold gigabytes.
pub const MAX_SPAN_QUEUE_SIZE: usize = 1 << 20;

/// The OTLP export timeout when `OTEL_EXPORTER_OTLP_TIMEOUT` is not set (the specification's default).
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);

/// The policy file named by `GOVOPS_POLICY`, identified by its name and content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyRef {
    /// The path as given.
    pub path: PathBuf,
    /// The file's name.
    pub name: String,
    /// The SHA-256 of the file's content, lowercase hex.
    pub sha256: String,
}

impl PolicyRef {
    /// The `govops.policy.id` value: `NAME@sha256:HEX`.
    #[must_use]
    pub fn id(&self) -> String {
        format!("{}@sha256:{}", self.name, self.sha256)
    }
}

/// The validated start-up metadata of a governed workload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// `GOVOPS_APP_NAME`.
    pub app_name: String,
    /// `GOVOPS_ENVIRONMENT`.
    pub environment: Environment,
    /// `GOVOPS_OWNER`.
    pub owner: String,
    /// `GOVOPS_COST_CENTER`.
    pub cost_center: String,
    /// `GOVOPS_DATA_CLASSIFICATION`.
    pub data_classification: DataClassification,
    /// `GOVOPS_POLICY`, when set.
    pub policy: Option<PolicyRef>,
    /// The policy's rules: the file's, or the contract's defaults when none is set.
    pub policy_rules: Arc<Policy>,
    /// `GOVOPS_APP_VERSION`, when set and not blank.
    pub app_version: Option<String>,
    /// `GOVOPS_PRICE_TABLE`, when set.
    pub price_table: Option<PathBuf>,
    /// The prices calls are costed with: the table at `price_table`, else the embedded one.
    pub prices: Arc<PriceTable>,
    /// `GOVOPS_TELEMETRY_FILE`, or [`DEFAULT_TELEMETRY_FILE`].
    pub telemetry_file: PathBuf,
    /// `GOVOPS_AUDIT_LOG`, when set.
    pub audit_log: Option<PathBuf>,
    /// OTLP export, when an `OTEL_EXPORTER_OTLP_*ENDPOINT` variable is set.
    pub otlp: Option<OtlpConfig>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, decoded, in the order given.
    pub extra_resource_attributes: Vec<(String, String)>,
    /// `OTEL_BSP_MAX_QUEUE_SIZE`, or [`DEFAULT_SPAN_QUEUE_SIZE`]: ended spans waiting for export;
    /// past it spans are dropped, counted in `govops.telemetry.dropped` and reported at shutdown.
    pub span_queue_size: usize,
    /// Whether message content leaves the process (contract section 9): the policy's
    /// `[capture] content` when it says, else `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`,
    /// else off. What is captured is redacted first, in every sink.
    pub capture_content: bool,
    /// `GOVOPS_STATE_URL`, when set: the Redis-protocol server that holds the shared guard state
    /// (contract section 8); `None` keeps it in this process's memory.
    pub state_url: Option<StateUrl>,
    /// `GOVOPS_STATE_TIMEOUT_MS`, or [`DEFAULT_STATE_TIMEOUT`]: the longest a call waits for the
    /// shared state before it is governed with this process's own.
    pub state_timeout: Duration,
}

impl Config {
    /// The resource attributes the contract derives from this metadata, in contract order.
    ///
    /// `OTEL_RESOURCE_ATTRIBUTES` come first so that the contract's own keys win over them.
    #[must_use]
    pub fn resource_attributes(&self) -> Vec<(String, String)> {
        let mut attributes = self.extra_resource_attributes.clone();
        let mut put = |key: &str, value: String| {
            attributes.retain(|(k, _)| k != key);
            attributes.push((key.to_owned(), value));
        };
        put(resource::SERVICE_NAME, self.app_name.clone());
        put(
            resource::DEPLOYMENT_ENVIRONMENT_NAME,
            self.environment.as_str().to_owned(),
        );
        put(resource::OWNER, self.owner.clone());
        put(resource::COST_CENTER, self.cost_center.clone());
        put(
            resource::DATA_CLASSIFICATION,
            self.data_classification.as_str().to_owned(),
        );
        if let Some(policy) = &self.policy {
            put(resource::POLICY_ID, policy.id());
        }
        if let Some(version) = &self.app_version {
            put(resource::SERVICE_VERSION, version.clone());
        }
        attributes
    }
}

#[cfg(test)]
mod tests;
