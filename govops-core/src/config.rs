//! The start-up metadata of contract section 1, read with `envy` and validated field by field.
//!
//! [`Config::load`] never stops at the first problem: it collects every [`Gap`] so that one run
//! tells an operator everything to fix.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::contract::{resource, vars};
use crate::env::EnvSource;
use crate::gap::{Gap, GapKind, Gaps};
use crate::policy::Policy;
use crate::prices::PriceTable;

/// Where the JSON-lines sink writes when neither `GOVOPS_TELEMETRY_FILE` nor an OTLP endpoint is set.
pub const DEFAULT_TELEMETRY_FILE: &str = "govops-telemetry.jsonl";

/// The span queue when `OTEL_BSP_MAX_QUEUE_SIZE` is not set (the specification's default).
pub const DEFAULT_SPAN_QUEUE_SIZE: usize = 2048;

/// The largest span queue accepted: past it, a stalled exporter would hold gigabytes.
pub const MAX_SPAN_QUEUE_SIZE: usize = 1 << 20;

/// The OTLP export timeout when `OTEL_EXPORTER_OTLP_TIMEOUT` is not set (the specification's default).
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);

/// Every variable [`Config::load`] reads, in the order gaps are reported.
pub const VARIABLES: [&str; 20] = [
    vars::APP_NAME,
    vars::ENVIRONMENT,
    vars::OWNER,
    vars::COST_CENTER,
    vars::DATA_CLASSIFICATION,
    vars::POLICY,
    vars::APP_VERSION,
    vars::PRICE_TABLE,
    vars::TELEMETRY_FILE,
    vars::AUDIT_LOG,
    vars::OTLP_ENDPOINT,
    vars::OTLP_TRACES_ENDPOINT,
    vars::OTLP_METRICS_ENDPOINT,
    vars::OTLP_LOGS_ENDPOINT,
    vars::OTLP_PROTOCOL,
    vars::OTLP_HEADERS,
    vars::OTLP_TIMEOUT,
    vars::SPAN_QUEUE_SIZE,
    vars::RESOURCE_ATTRIBUTES,
    vars::CAPTURE_MESSAGE_CONTENT,
];

/// The deployment environment (`GOVOPS_ENVIRONMENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's machine.
    Dev,
    /// Automated tests.
    Test,
    /// Pre-production.
    Staging,
    /// Production.
    Prod,
}

/// The classification of the data a workload handles (`GOVOPS_DATA_CLASSIFICATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataClassification {
    /// May be published.
    Public,
    /// For the organisation's own people.
    Internal,
    /// For named groups only.
    Confidential,
    /// The most sensitive data.
    Restricted,
}

/// The OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (`grpc`), usually on port 4317.
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP protobuf over HTTP (`http/protobuf`), usually on port 4318; the specification's default.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

macro_rules! keyword_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order the contract lists them.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The value as the contract spells it.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }

            /// The accepted spellings, comma-separated, for messages.
            #[must_use]
            pub fn accepted() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(format!("{} is not one of {}", shown(s), Self::accepted())),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.as_str().to_owned()
            }
        }
    };
}

keyword_enum!(Environment { Dev => "dev", Test => "test", Staging => "staging", Prod => "prod" });
keyword_enum!(DataClassification {
    Public => "public",
    Internal => "internal",
    Confidential => "confidential",
    Restricted => "restricted",
});
keyword_enum!(OtlpProtocol { Grpc => "grpc", HttpProtobuf => "http/protobuf" });

/// A value that must never be printed: `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that must send it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where and how to export over OTLP, resolved from the standard `OTEL_EXPORTER_OTLP_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpConfig {
    /// The transport.
    pub protocol: OtlpProtocol,
    /// The full URL traces are sent to.
    pub traces_endpoint: String,
    /// The full URL metrics are sent to.
    pub metrics_endpoint: String,
    /// The full URL logs are sent to.
    pub logs_endpoint: String,
    /// Headers (gRPC metadata) sent with every export; their values are secrets.
    pub headers: Vec<(String, Secret)>,
    /// How long one export may take.
    pub timeout: Duration,
}

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
}

/// Values set in code, by variable name. They win over the environment.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Settings {
    values: BTreeMap<&'static str, String>,
}

impl Settings {
    /// Sets `variable` (one of [`VARIABLES`]) to `value`.
    pub fn set(&mut self, variable: &'static str, value: impl Into<String>) {
        self.values.insert(variable, value.into());
    }

    /// The value set in code for `variable`.
    #[must_use]
    pub fn get(&self, variable: &str) -> Option<&str> {
        self.values.get(variable).map(String::as_str)
    }

    /// Whether `variable` was set in code.
    #[must_use]
    pub fn contains(&self, variable: &str) -> bool {
        self.values.contains_key(variable)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.values {
            if *name == vars::OTLP_HEADERS {
                map.entry(name, &"[redacted]");
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

/// The variables as `envy` reads them: every one optional here, so that validation can say
/// exactly what is wrong with each instead of failing on the first.
#[derive(Deserialize, Default)]
struct Raw {
    govops_app_name: Option<String>,
    govops_environment: Option<String>,
    govops_owner: Option<String>,
    govops_cost_center: Option<String>,
    govops_data_classification: Option<String>,
    govops_policy: Option<String>,
    govops_app_version: Option<String>,
    govops_price_table: Option<String>,
    govops_telemetry_file: Option<String>,
    govops_audit_log: Option<String>,
    otel_exporter_otlp_endpoint: Option<String>,
    otel_exporter_otlp_traces_endpoint: Option<String>,
    otel_exporter_otlp_metrics_endpoint: Option<String>,
    otel_exporter_otlp_logs_endpoint: Option<String>,
    otel_exporter_otlp_protocol: Option<String>,
    otel_exporter_otlp_headers: Option<String>,
    otel_exporter_otlp_timeout: Option<String>,
    otel_bsp_max_queue_size: Option<String>,
    otel_resource_attributes: Option<String>,
    otel_instrumentation_genai_capture_message_content: Option<String>,
}

const APP_NAME_ACCEPTED: &str =
    "1-64 characters from [a-z0-9._-], starting with a letter or digit (e.g. support-bot)";
const OWNER_ACCEPTED: &str =
    "a team or person id: 1-128 printable characters, not only white space";
const COST_CENTER_ACCEPTED: &str = "1-64 characters from [A-Za-z0-9._-] (e.g. CC-1234)";
const POLICY_ACCEPTED: &str = "the path of a readable TOML policy file (guards, capture, per-environment allow-lists and budgets)";
const PRICE_TABLE_ACCEPTED: &str =
    "the path of a readable JSON price table in the format of model_prices_and_context_window.json";
const WRITABLE_FILE_ACCEPTED: &str =
    "the path of a file that can be appended to, in a directory that exists";
const ENDPOINT_ACCEPTED: &str =
    "an http:// or https:// URL with a host (e.g. http://localhost:4318)";
const HEADERS_ACCEPTED: &str =
    "comma-separated key=value pairs, keys as HTTP header names, values percent-encoded";
const TIMEOUT_ACCEPTED: &str = "a whole number of milliseconds (e.g. 10000)";
const QUEUE_ACCEPTED: &str = "a whole number of spans from 1 to 1048576 (e.g. 2048)";
const RESOURCE_ACCEPTED: &str =
    "comma-separated key=value pairs with non-empty keys, values percent-encoded";
const CAPTURE_ACCEPTED: &str =
    "true or false (default false; the policy's [capture] content wins when it says)";

impl Config {
    /// Reads and validates the metadata from `env` alone.
    ///
    /// # Errors
    ///
    /// Every gap found, as [`Gaps`].
    pub fn from_env(env: &EnvSource) -> Result<Self, Gaps> {
        Self::load(env, &Settings::default())
    }

    /// Reads and validates the metadata: values set in code (`settings`) win over `env`.
    ///
    /// # Errors
    ///
    /// Every gap found, as [`Gaps`], in the order of [`VARIABLES`]; never only the first.
    pub fn load(env: &EnvSource, settings: &Settings) -> Result<Self, Gaps> {
        let mut check = Check {
            gaps: Vec::new(),
            settings,
        };
        let mut pairs = Vec::new();
        for variable in VARIABLES {
            match settings.get(variable) {
                Some(value) => pairs.push((variable.to_owned(), value.to_owned())),
                None if env.is_not_unicode(variable) => check.gap(
                    variable,
                    GapKind::NotUnicode,
                    "is set to a value that is not valid Unicode".to_owned(),
                    "a value in valid UTF-8",
                ),
                None => {
                    if let Some(value) = env.get(variable) {
                        pairs.push((variable.to_owned(), value.to_owned()));
                    }
                }
            }
        }
        let raw: Raw = match envy::from_iter(pairs) {
            Ok(raw) => raw,
            Err(error) => {
                // Every field is an optional string, so envy has nothing to reject; should that
                // ever change, say so rather than panic.
                check.gap(
                    "environment",
                    GapKind::Invalid,
                    error.to_string(),
                    "string values",
                );
                Raw::default()
            }
        };
        let config = check.config(raw);
        // Gaps found before the per-variable checks (values that are not Unicode) take their
        // variable's place in the contract order.
        let position = |g: &Gap| {
            VARIABLES
                .iter()
                .position(|v| *v == g.variable)
                .unwrap_or(VARIABLES.len())
        };
        check.gaps.sort_by_key(position);
        if check.gaps.is_empty() {
            config.ok_or_else(|| Gaps::new(Vec::new()))
        } else {
            Err(Gaps::new(check.gaps))
        }
    }

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

/// Collects gaps while validating.
struct Check<'a> {
    gaps: Vec<Gap>,
    settings: &'a Settings,
}

impl Check<'_> {
    fn gap(&mut self, variable: &str, kind: GapKind, problem: String, accepted: &str) {
        let problem = if self.settings.contains(variable) {
            format!("{problem} (set in code)")
        } else {
            problem
        };
        self.gaps.push(Gap::new(variable, kind, problem, accepted));
    }

    /// A required value that is present and not blank.
    fn required(
        &mut self,
        variable: &str,
        value: Option<String>,
        accepted: &str,
    ) -> Option<String> {
        match value {
            // A value that is set but unreadable (not Unicode) has its gap already.
            None if self.gaps.iter().any(|g| g.variable == variable) => None,
            None => {
                self.gap(
                    variable,
                    GapKind::Missing,
                    "is not set".to_owned(),
                    accepted,
                );
                None
            }
            Some(value) => self.not_blank(variable, value, accepted),
        }
    }

    fn not_blank(&mut self, variable: &str, value: String, accepted: &str) -> Option<String> {
        if value.is_empty() {
            self.gap(
                variable,
                GapKind::Empty,
                "is set but empty".to_owned(),
                accepted,
            );
            None
        } else if value.trim().is_empty() {
            self.gap(
                variable,
                GapKind::WhitespaceOnly,
                "holds only white space".to_owned(),
                accepted,
            );
            None
        } else {
            Some(value)
        }
    }

    /// Applies `parse` to a value that passed the presence checks, turning its error into a gap.
    fn parsed<T>(
        &mut self,
        variable: &str,
        value: Option<String>,
        accepted: &str,
        parse: impl FnOnce(&str) -> Result<T, (GapKind, String)>,
    ) -> Option<T> {
        let value = value?;
        match parse(&value) {
            Ok(parsed) => Some(parsed),
            Err((kind, problem)) => {
                self.gap(variable, kind, problem, accepted);
                None
            }
        }
    }

    /// A required value, present, not blank, and accepted by `rule`.
    fn required_as<T>(
        &mut self,
        variable: &str,
        value: Option<String>,
        accepted: &str,
        rule: impl FnOnce(&str) -> Rule<T>,
    ) -> Option<T> {
        let value = self.required(variable, value, accepted);
        self.parsed(variable, value, accepted, rule)
    }

    /// An optional path: unset is fine, but one that is set must not be blank and must pass `rule`.
    fn optional_path_as<T>(
        &mut self,
        variable: &str,
        value: Option<String>,
        accepted: &str,
        rule: impl FnOnce(&str) -> Rule<T>,
    ) -> Option<T> {
        let value = value.and_then(|v| self.not_blank(variable, v, accepted));
        self.parsed(variable, value, accepted, rule)
    }

    fn config(&mut self, raw: Raw) -> Option<Config> {
        let environments = Environment::accepted();
        let classifications = DataClassification::accepted();
        let app_name = self.required_as(
            vars::APP_NAME,
            raw.govops_app_name,
            APP_NAME_ACCEPTED,
            app_name_rule,
        );
        let environment = self.required_as(
            vars::ENVIRONMENT,
            raw.govops_environment,
            &environments,
            keyword::<Environment>,
        );
        let owner = self.required_as(vars::OWNER, raw.govops_owner, OWNER_ACCEPTED, owner_rule);
        let cost_center = self.required_as(
            vars::COST_CENTER,
            raw.govops_cost_center,
            COST_CENTER_ACCEPTED,
            cost_center_rule,
        );
        let classification = self.required_as(
            vars::DATA_CLASSIFICATION,
            raw.govops_data_classification,
            &classifications,
            keyword::<DataClassification>,
        );

        let app_version = raw.govops_app_version.filter(|v| !v.trim().is_empty());
        let price_table = self.optional_path_as(
            vars::PRICE_TABLE,
            raw.govops_price_table,
            PRICE_TABLE_ACCEPTED,
            price_table_rule,
        );
        // The policy names models, which are checked against the prices in force.
        let prices = price_table
            .as_ref()
            .map_or_else(PriceTable::embedded, |(_, t)| t.clone());
        let policy_required = matches!(environment, Some(Environment::Staging | Environment::Prod));
        let policy_value = if policy_required {
            match raw.govops_policy {
                None if !self.gaps.iter().any(|g| g.variable == vars::POLICY) => {
                    self.gap(
                        vars::POLICY,
                        GapKind::Missing,
                        "is not set, and staging and prod require a policy".to_owned(),
                        POLICY_ACCEPTED,
                    );
                    None
                }
                value => value,
            }
        } else {
            raw.govops_policy
        };
        let policy = self.optional_path_as(vars::POLICY, policy_value, POLICY_ACCEPTED, |path| {
            policy_rule(path, &prices)
        });
        let telemetry_file = self.optional_path_as(
            vars::TELEMETRY_FILE,
            raw.govops_telemetry_file,
            WRITABLE_FILE_ACCEPTED,
            writable_rule,
        );
        let audit_log = self.optional_path_as(
            vars::AUDIT_LOG,
            raw.govops_audit_log,
            WRITABLE_FILE_ACCEPTED,
            audit_log_rule,
        );

        let otlp = self.otlp(
            raw.otel_exporter_otlp_endpoint,
            [
                raw.otel_exporter_otlp_traces_endpoint,
                raw.otel_exporter_otlp_metrics_endpoint,
                raw.otel_exporter_otlp_logs_endpoint,
            ],
            raw.otel_exporter_otlp_protocol,
            raw.otel_exporter_otlp_headers,
            raw.otel_exporter_otlp_timeout,
        );

        let resource = raw
            .otel_resource_attributes
            .filter(|v| !v.trim().is_empty());
        let extra_resource_attributes = self.parsed(
            vars::RESOURCE_ATTRIBUTES,
            resource,
            RESOURCE_ACCEPTED,
            resource_rule,
        );

        let queue = raw.otel_bsp_max_queue_size.filter(|v| !v.trim().is_empty());
        let span_queue_size = self.parsed(vars::SPAN_QUEUE_SIZE, queue, QUEUE_ACCEPTED, queue_rule);

        // The specification reads an empty value as unset; anything but a boolean is a gap,
        // since a misspelt `ture` silently leaving capture off (or on) would go unnoticed.
        let capture = raw
            .otel_instrumentation_genai_capture_message_content
            .filter(|v| !v.trim().is_empty());
        let capture = self.parsed(
            vars::CAPTURE_MESSAGE_CONTENT,
            capture,
            CAPTURE_ACCEPTED,
            capture_rule,
        );
        let policy_capture = policy.as_ref().and_then(|(_, rules)| rules.capture_content);

        // When any gap was found this value is discarded, so the default cannot hide one.
        let telemetry_file =
            telemetry_file.unwrap_or_else(|| PathBuf::from(DEFAULT_TELEMETRY_FILE));
        Some(Config {
            app_name: app_name?,
            environment: environment?,
            owner: owner?,
            cost_center: cost_center?,
            data_classification: classification?,
            policy_rules: policy
                .as_ref()
                .map_or_else(Arc::default, |(_, rules)| rules.clone()),
            policy: policy.map(|(reference, _)| reference),
            app_version,
            prices,
            price_table: price_table.map(|(path, _)| path),
            telemetry_file,
            audit_log,
            otlp,
            extra_resource_attributes: extra_resource_attributes.unwrap_or_default(),
            span_queue_size: span_queue_size.unwrap_or(DEFAULT_SPAN_QUEUE_SIZE),
            capture_content: policy_capture.or(capture).unwrap_or(false),
        })
    }

    fn otlp(
        &mut self,
        endpoint: Option<String>,
        signal_endpoints: [Option<String>; 3],
        protocol: Option<String>,
        headers: Option<String>,
        timeout: Option<String>,
    ) -> Option<OtlpConfig> {
        // The specification treats an empty value as unset.
        let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        let protocol = set(protocol);
        let protocol = self
            .parsed(
                vars::OTLP_PROTOCOL,
                protocol,
                &OtlpProtocol::accepted(),
                protocol_rule,
            )
            .unwrap_or(OtlpProtocol::HttpProtobuf);
        let headers = set(headers);
        let headers = self.parsed(vars::OTLP_HEADERS, headers, HEADERS_ACCEPTED, headers_rule);
        let timeout = set(timeout);
        let timeout = self.parsed(vars::OTLP_TIMEOUT, timeout, TIMEOUT_ACCEPTED, timeout_rule);

        let endpoint = set(endpoint);
        let endpoint = self.parsed(
            vars::OTLP_ENDPOINT,
            endpoint,
            ENDPOINT_ACCEPTED,
            endpoint_rule,
        );
        let signals = [
            (vars::OTLP_TRACES_ENDPOINT, "v1/traces"),
            (vars::OTLP_METRICS_ENDPOINT, "v1/metrics"),
            (vars::OTLP_LOGS_ENDPOINT, "v1/logs"),
        ];
        let mut any_set = endpoint.is_some();
        let mut resolved = Vec::with_capacity(3);
        for ((variable, path), value) in signals.into_iter().zip(signal_endpoints) {
            let value = set(value);
            any_set |= value.is_some();
            let value = self.parsed(variable, value, ENDPOINT_ACCEPTED, endpoint_rule);
            // A signal's own endpoint is used as given; the shared one gets the signal's path over
            // HTTP (gRPC routes by service name, not path).
            resolved.push(value.unwrap_or_else(|| {
                let base = endpoint.clone().unwrap_or_else(|| match protocol {
                    OtlpProtocol::Grpc => "http://localhost:4317".to_owned(),
                    OtlpProtocol::HttpProtobuf => "http://localhost:4318".to_owned(),
                });
                match protocol {
                    OtlpProtocol::Grpc => base,
                    OtlpProtocol::HttpProtobuf => format!("{}/{path}", base.trim_end_matches('/')),
                }
            }));
        }
        if !any_set {
            return None;
        }
        let mut resolved = resolved.into_iter();
        Some(OtlpConfig {
            protocol,
            traces_endpoint: resolved.next().unwrap_or_default(),
            metrics_endpoint: resolved.next().unwrap_or_default(),
            logs_endpoint: resolved.next().unwrap_or_default(),
            headers: headers.unwrap_or_default(),
            timeout: timeout.unwrap_or(DEFAULT_OTLP_TIMEOUT),
        })
    }
}

type Rule<T> = Result<T, (GapKind, String)>;

fn invalid<T>(problem: String) -> Rule<T> {
    Err((GapKind::Invalid, problem))
}

/// A value for a message: quoted, escaped, cut short when long, and with any credential or
/// personal datum redacted (a secret put in the wrong variable must not reach a CI log).
fn shown(value: &str) -> String {
    const MAX: usize = 40;
    let redacted = crate::content::redact(value, true, true).map(|(text, _)| text);
    let value = redacted.as_deref().unwrap_or(value);
    let count = value.chars().count();
    if count <= MAX {
        format!("\"{}\"", value.escape_debug())
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("\"{}…\" ({count} characters)", head.escape_debug())
    }
}

fn keyword<T: FromStr<Err = String>>(value: &str) -> Rule<T> {
    value.parse().or_else(invalid)
}

fn length(value: &str, max: usize) -> Rule<()> {
    let count = value.chars().count();
    if count > max {
        invalid(format!(
            "is {count} characters long; at most {max} are accepted"
        ))
    } else {
        Ok(())
    }
}

fn charset(value: &str, allowed: impl Fn(char) -> bool, set: &str) -> Rule<()> {
    match value.chars().enumerate().find(|(_, c)| !allowed(*c)) {
        Some((at, c)) => invalid(format!(
            "{} has {:?} at position {}, outside {set}",
            shown(value),
            c,
            at + 1
        )),
        None => Ok(()),
    }
}

fn app_name_rule(value: &str) -> Rule<String> {
    length(value, 64)?;
    let body =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    charset(value, body, "[a-z0-9._-]")?;
    if !value.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return invalid(format!(
            "{} must start with a letter or digit",
            shown(value)
        ));
    }
    Ok(value.to_owned())
}

fn owner_rule(value: &str) -> Rule<String> {
    length(value, 128)?;
    charset(value, printable, "printable characters")?;
    Ok(value.to_owned())
}

/// Printable: not a control character, and not one of the invisible format characters (zero
/// widths, direction marks and overrides, line and paragraph separators, the byte-order mark) that
/// make two ids look alike or a blank one look set.
fn printable(c: char) -> bool {
    !c.is_control()
        && !matches!(c, '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

fn cost_center_rule(value: &str) -> Rule<String> {
    length(value, 64)?;
    charset(
        value,
        |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'),
        "[A-Za-z0-9._-]",
    )?;
    Ok(value.to_owned())
}

fn read_file(path: &str, limit: u64) -> Rule<Vec<u8>> {
    crate::input::read_bounded(Path::new(path), limit).map_err(|e| {
        (
            GapKind::Unreadable,
            format!("{} {}", shown(path), e.reason()),
        )
    })
}

fn policy_rule(path: &str, prices: &PriceTable) -> Rule<(PolicyRef, Arc<Policy>)> {
    const SHOWN: usize = 10;
    let content = read_file(path, crate::input::POLICY_MAX)?;
    let name = Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned());
    let digest = Sha256::digest(&content);
    let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    let Ok(text) = String::from_utf8(content) else {
        return Err((
            GapKind::Unparseable,
            format!("{} is not UTF-8 text", shown(path)),
        ));
    };
    let dir = Path::new(path).parent();
    let rules = Policy::parse_in(&text, prices, dir).map_err(|problems| {
        let mut listed: Vec<String> = problems
            .iter()
            .take(SHOWN)
            .map(|p| match p.line {
                Some(line) => format!("{name}:{line}: {}", p.problem),
                None => format!("{name}: {}", p.problem),
            })
            .collect();
        if problems.len() > SHOWN {
            listed.push(format!("and {} more", problems.len() - SHOWN));
        }
        (
            GapKind::Unparseable,
            format!(
                "{} is not a valid policy: {}",
                shown(path),
                listed.join("; ")
            ),
        )
    })?;
    Ok((
        PolicyRef {
            path: PathBuf::from(path),
            name,
            sha256,
        },
        Arc::new(rules),
    ))
}

fn price_table_rule(path: &str) -> Rule<(PathBuf, Arc<PriceTable>)> {
    const SHOWN: usize = 10;
    let content = read_file(path, crate::input::PRICE_TABLE_MAX)?;
    let Ok(text) = String::from_utf8(content) else {
        return Err((
            GapKind::Unparseable,
            format!("{} is not UTF-8 text", shown(path)),
        ));
    };
    match PriceTable::parse(&text) {
        Ok(table) => Ok((PathBuf::from(path), Arc::new(table))),
        Err(problems) => {
            let mut listed: Vec<String> = problems
                .iter()
                .take(SHOWN)
                .map(ToString::to_string)
                .collect();
            if problems.len() > SHOWN {
                listed.push(format!("and {} more", problems.len() - SHOWN));
            }
            Err((
                GapKind::Unparseable,
                format!(
                    "{} is not a valid price table: {}",
                    shown(path),
                    listed.join("; ")
                ),
            ))
        }
    }
}

/// The audit log: a regular file (or a new one), never a FIFO, socket or device: the hash-chained
/// log must be kept, and `/dev/null` would keep nothing while start-up said all was well.
fn audit_log_rule(path: &str) -> Rule<PathBuf> {
    if let Ok(meta) = fs::metadata(path) {
        let kind = meta.file_type();
        if !kind.is_file() && !kind.is_dir() {
            #[cfg(unix)]
            let what = if std::os::unix::fs::FileTypeExt::is_fifo(&kind) {
                "a FIFO"
            } else if std::os::unix::fs::FileTypeExt::is_socket(&kind) {
                "a socket"
            } else {
                "a device"
            };
            #[cfg(not(unix))]
            let what = "not a regular file";
            return Err((
                GapKind::Unreadable,
                format!("{} is {what}; only a regular file is accepted", shown(path)),
            ));
        }
    }
    writable_rule(path)
}

/// A path the process will append to: an existing file it can open, or a new one in an existing
/// directory. Nothing is created here, so a check has no side effects.
fn writable_rule(path: &str) -> Rule<PathBuf> {
    let as_path = Path::new(path);
    if as_path.is_dir() {
        return Err((
            GapKind::Unreadable,
            format!("{} is a directory, not a file", shown(path)),
        ));
    }
    if as_path.exists() {
        let mut options = fs::OpenOptions::new();
        options.append(true);
        // A FIFO with no reader would block start-up until one came: refused at once instead.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
        return options
            .open(as_path)
            .map(|_| as_path.to_path_buf())
            .map_err(|e| {
                (
                    GapKind::Unreadable,
                    format!("{} cannot be opened for appending: {e}", shown(path)),
                )
            });
    }
    let parent = match as_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if parent.is_dir() {
        Ok(as_path.to_path_buf())
    } else {
        Err((
            GapKind::Unreadable,
            format!(
                "{} cannot be created: its directory {} does not exist",
                shown(path),
                shown(&parent.to_string_lossy())
            ),
        ))
    }
}

fn protocol_rule(value: &str) -> Rule<OtlpProtocol> {
    if value == "http/json" {
        return invalid(
            "\"http/json\" is not supported by govops; use http/protobuf or grpc".to_owned(),
        );
    }
    keyword(value)
}

/// An endpoint URL. The value is never repeated, since it may carry credentials.
fn endpoint_rule(value: &str) -> Rule<String> {
    match url::Url::parse(value) {
        Ok(url) if !matches!(url.scheme(), "http" | "https") => invalid(format!(
            "has the scheme \"{}\"; only http and https are accepted",
            url.scheme()
        )),
        Ok(url) if url.host().is_none() => invalid("has no host".to_owned()),
        // Export over TLS is not built in yet: refusing here beats telemetry silently failing later.
        Ok(url) if url.scheme() == "https" => invalid(
            "is an https:// URL, and this version of govops cannot export over TLS yet; \
             point it at a local collector (http://) that forwards over TLS"
                .to_owned(),
        ),
        // The normalised form: what the transports parse (http::Uri) is stricter than the URL
        // standard, so hand them the URL as `url` spells it (no stray spaces, punycode hosts).
        Ok(url) => {
            let mut normal = url.to_string();
            if url.path() == "/" && !value.trim().ends_with('/') {
                normal.pop();
            }
            Ok(normal)
        }
        Err(error) => invalid(format!("is not a URL ({error})")),
    }
}

/// `endpoint` fit for messages: user, password, query and fragment removed, since they may carry
/// credentials.
#[must_use]
pub fn redact_endpoint(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            let mut shown = url.to_string();
            if url.path() == "/" && !endpoint.ends_with('/') {
                shown.pop();
            }
            shown
        }
        Err(_) => "[an endpoint that is not a URL]".to_owned(),
    }
}

/// `key=value` entries separated by commas, values percent-decoded. With `name_keys`, messages may
/// name an entry by its key; otherwise only by its position.
fn pairs(value: &str, name_keys: bool) -> Rule<Vec<(usize, String, String)>> {
    let mut out = Vec::new();
    for (index, entry) in value.split(',').enumerate() {
        let number = index + 1;
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((key, raw_value)) = entry.split_once('=') else {
            return invalid(format!("entry {number} has no `=`"));
        };
        let key = key.trim();
        if key.is_empty() {
            return invalid(format!("entry {number} has an empty key"));
        }
        let decoded = percent_decode_str(raw_value.trim())
            .decode_utf8()
            .map_err(|_| {
                let which = if name_keys {
                    format!("\"{key}\"")
                } else {
                    format!("entry {number}")
                };
                (
                    GapKind::Invalid,
                    format!("the value of {which} is not valid percent-encoded UTF-8"),
                )
            })?;
        out.push((number, key.to_owned(), decoded.into_owned()));
    }
    Ok(out)
}

/// Headers are secrets: messages name the entry's position and key, never a value.
fn headers_rule(value: &str) -> Rule<Vec<(String, Secret)>> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    // What HTTP header values and gRPC ASCII metadata both accept.
    let sendable = |c: char| c == '\t' || (' '..='~').contains(&c);
    pairs(value, false)?
        .into_iter()
        .map(|(number, key, value)| {
            if !key.chars().all(token) {
                invalid(format!(
                    "the key of entry {number} is not a valid header name (value not shown: headers are secret)"
                ))
            } else if !value.chars().all(sendable) {
                invalid(format!(
                    "the value of entry {number} has characters outside printable ASCII, which cannot be sent \
                     (value not shown: headers are secret)"
                ))
            } else {
                Ok((key.to_ascii_lowercase(), Secret::new(value)))
            }
        })
        .collect()
}

fn timeout_rule(value: &str) -> Rule<Duration> {
    match value.trim().parse::<u64>() {
        Ok(0) => invalid("is 0: every export would fail at once".to_owned()),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) => invalid(format!(
            "{} is not a whole number of milliseconds",
            shown(value)
        )),
    }
}

fn queue_rule(value: &str) -> Rule<usize> {
    match value.trim().parse::<usize>() {
        Ok(0) => invalid("is 0: every span would be dropped".to_owned()),
        Ok(n) if n > MAX_SPAN_QUEUE_SIZE => {
            invalid(format!("{n} is more than {MAX_SPAN_QUEUE_SIZE}"))
        }
        Ok(n) => Ok(n),
        Err(_) => invalid(format!("{} is not a whole number of spans", shown(value))),
    }
}

/// A boolean as the OpenTelemetry specification spells it: `true` or `false`, in any case.
fn capture_rule(value: &str) -> Rule<bool> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        invalid(format!("{} is neither true nor false", shown(value)))
    }
}

fn resource_rule(value: &str) -> Rule<Vec<(String, String)>> {
    Ok(pairs(value, true)?
        .into_iter()
        .map(|(_, k, v)| (k, v))
        .collect())
}

#[cfg(test)]
mod tests;
