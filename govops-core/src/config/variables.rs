//! The start-up variables of contract section 1, declared once.
//!
//! [`for_each_variable!`](crate::for_each_variable) is the one table: each row names a variable,
//! how it must be present, what it accepts, and the typed setter that sets it in code. From it come
//! the names in [`vars`](crate::contract::vars), [`VARIABLES`] (the order gaps are reported in),
//! the typed table `envy` reads the environment into, the setters of [`Settings`] and those of the
//! builder in `govops-tracing`.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::keyword::Keyword;
use crate::contract::vars;
use crate::env::EnvSource;

/// Calls `$callback!` with the table of start-up variables, in contract order.
///
/// Each row is: the variable's doc, `NAME = "NAME" as lowercase_name` (the constant, the variable
/// and the field `envy` fills), how it must be present, what it accepts, then
/// `fn setter(type) via conversion, e.g. "example"` for the typed setter.
#[doc(hidden)]
#[macro_export]
macro_rules! for_each_variable {
    ($callback:ident) => {
        $callback! {
            /// The application's name; becomes `service.name`.
            APP_NAME = "GOVOPS_APP_NAME" as govops_app_name,
                $crate::config::Presence::Required,
                accepted $crate::config::rules::APP_NAME_ACCEPTED;
                fn app_name(impl Into<String>) via text, e.g. "\"support-bot\"";
            /// The deployment environment; becomes `deployment.environment.name`.
            ENVIRONMENT = "GOVOPS_ENVIRONMENT" as govops_environment,
                $crate::config::Presence::Required,
                accepted $crate::config::Environment::accepted();
                fn environment(impl Into<$crate::config::Keyword<$crate::config::Environment>>)
                    via keyword, e.g. "Environment::Prod";
            /// The owning team or person; becomes `govops.owner`.
            OWNER = "GOVOPS_OWNER" as govops_owner,
                $crate::config::Presence::Required,
                accepted $crate::config::rules::OWNER_ACCEPTED;
                fn owner(impl Into<String>) via text, e.g. "\"team-ai\"";
            /// The cost center charged for the workload; becomes `govops.cost_center`.
            COST_CENTER = "GOVOPS_COST_CENTER" as govops_cost_center,
                $crate::config::Presence::Required,
                accepted $crate::config::rules::COST_CENTER_ACCEPTED;
                fn cost_center(impl Into<String>) via text, e.g. "\"CC-1234\"";
            /// The classification of the data the workload handles; becomes
            /// `govops.data_classification`.
            DATA_CLASSIFICATION = "GOVOPS_DATA_CLASSIFICATION" as govops_data_classification,
                $crate::config::Presence::Required,
                accepted $crate::config::DataClassification::accepted();
                fn data_classification(
                    impl Into<$crate::config::Keyword<$crate::config::DataClassification>>
                ) via keyword, e.g. "DataClassification::Internal";
            /// Path to the policy file (required in `staging` and `prod`); becomes
            /// `govops.policy.id`.
            POLICY = "GOVOPS_POLICY" as govops_policy,
                $crate::config::Presence::RequiredIn(
                    &[$crate::config::Environment::Staging, $crate::config::Environment::Prod],
                    "a policy",
                ),
                accepted $crate::config::files::POLICY_ACCEPTED;
                fn policy(impl Into<::std::path::PathBuf>) via path, e.g. "\"policy.toml\"";
            /// Free-text application version; becomes `service.version`.
            APP_VERSION = "GOVOPS_APP_VERSION" as govops_app_version,
                $crate::config::Presence::Optional,
                accepted "free text";
                fn app_version(impl Into<String>) via text, e.g. "\"2.4.1\"";
            /// Path to a price table that replaces the embedded one.
            PRICE_TABLE = "GOVOPS_PRICE_TABLE" as govops_price_table,
                $crate::config::Presence::Path,
                accepted $crate::config::files::PRICE_TABLE_ACCEPTED;
                fn price_table(impl Into<::std::path::PathBuf>) via path, e.g. "\"prices.json\"";
            /// Path of the JSON-lines telemetry sink used when no OTLP endpoint is set.
            TELEMETRY_FILE = "GOVOPS_TELEMETRY_FILE" as govops_telemetry_file,
                $crate::config::Presence::Path,
                accepted $crate::config::files::WRITABLE_FILE_ACCEPTED;
                fn telemetry_file(impl Into<::std::path::PathBuf>) via path,
                    e.g. "\"telemetry.jsonl\"";
            /// Path of the append-only audit log.
            AUDIT_LOG = "GOVOPS_AUDIT_LOG" as govops_audit_log,
                $crate::config::Presence::Path,
                accepted $crate::config::files::WRITABLE_FILE_ACCEPTED;
                fn audit_log(impl Into<::std::path::PathBuf>) via path, e.g. "\"audit.jsonl\"";
            /// The OTLP endpoint for every signal.
            OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT" as otel_exporter_otlp_endpoint,
                $crate::config::Presence::Optional,
                accepted $crate::config::otlp::ENDPOINT_ACCEPTED;
                fn otlp_endpoint(impl Into<String>) via text, e.g. "\"http://localhost:4318\"";
            /// The OTLP endpoint for traces only, used as given.
            OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
                as otel_exporter_otlp_traces_endpoint,
                $crate::config::Presence::Optional,
                accepted $crate::config::otlp::ENDPOINT_ACCEPTED;
                fn otlp_traces_endpoint(impl Into<String>) via text,
                    e.g. "\"http://localhost:4318/v1/traces\"";
            /// The OTLP endpoint for metrics only, used as given.
            OTLP_METRICS_ENDPOINT = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
                as otel_exporter_otlp_metrics_endpoint,
                $crate::config::Presence::Optional,
                accepted $crate::config::otlp::ENDPOINT_ACCEPTED;
                fn otlp_metrics_endpoint(impl Into<String>) via text,
                    e.g. "\"http://localhost:4318/v1/metrics\"";
            /// The OTLP endpoint for logs only, used as given.
            OTLP_LOGS_ENDPOINT = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
                as otel_exporter_otlp_logs_endpoint,
                $crate::config::Presence::Optional,
                accepted $crate::config::otlp::ENDPOINT_ACCEPTED;
                fn otlp_logs_endpoint(impl Into<String>) via text,
                    e.g. "\"http://localhost:4318/v1/logs\"";
            /// The OTLP transport protocol: `grpc` or `http/protobuf` (the default).
            OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL" as otel_exporter_otlp_protocol,
                $crate::config::Presence::Optional,
                accepted $crate::config::OtlpProtocol::accepted();
                fn otlp_protocol(impl Into<$crate::config::Keyword<$crate::config::OtlpProtocol>>)
                    via keyword, e.g. "OtlpProtocol::Grpc";
            /// Headers sent with every OTLP export, `key=value,…`; secrets, never printed.
            OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS" as otel_exporter_otlp_headers,
                $crate::config::Presence::Optional,
                accepted $crate::config::otlp::HEADERS_ACCEPTED;
                fn otlp_headers(impl Into<String>) via text, e.g. "\"api-key=abc123\"";
            /// The OTLP export timeout in milliseconds (default 10 000).
            OTLP_TIMEOUT = "OTEL_EXPORTER_OTLP_TIMEOUT" as otel_exporter_otlp_timeout,
                $crate::config::Presence::Optional,
                accepted $crate::config::otlp::TIMEOUT_ACCEPTED;
                fn otlp_timeout(::std::time::Duration) via millis, e.g. "Duration::from_secs(5)";
            /// How many ended spans wait for export before new ones are dropped (and counted in
            /// `govops.telemetry.dropped`, reported at shutdown); default 2048.
            SPAN_QUEUE_SIZE = "OTEL_BSP_MAX_QUEUE_SIZE" as otel_bsp_max_queue_size,
                $crate::config::Presence::Optional,
                accepted $crate::config::rules::QUEUE_ACCEPTED;
                fn span_queue_size(usize) via display, e.g. "4096";
            /// Extra resource attributes, `key=value` pairs separated by commas, values
            /// percent-encoded; the contract's own keys win over them.
            RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES" as otel_resource_attributes,
                $crate::config::Presence::Optional,
                accepted $crate::config::rules::RESOURCE_ACCEPTED;
                fn resource_attributes(impl Into<String>) via text,
                    e.g. "\"team.region=eu-west\"";
            /// Whether message content is captured (`true` or `false`, default `false`), where the
            /// policy does not set `[capture] content` (contract section 9).
            CAPTURE_MESSAGE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
                as otel_instrumentation_genai_capture_message_content,
                $crate::config::Presence::Optional,
                accepted $crate::config::rules::CAPTURE_ACCEPTED;
                fn capture_message_content(bool) via display, e.g. "true";
            /// The Redis-protocol server (Redis, Valkey) that holds the guard state every replica
            /// shares (contract section 8): a `redis://` or `rediss://` URL; its password is a
            /// secret, never printed. Unset, the state is this process's own.
            STATE_URL = "GOVOPS_STATE_URL" as govops_state_url,
                $crate::config::Presence::Path,
                accepted $crate::config::state::URL_ACCEPTED;
                fn state_url(impl Into<String>) via text, e.g. "\"redis://127.0.0.1:6379/0\"";
            /// The longest a call waits for the shared guard state, in milliseconds (1 to 60 000,
            /// default 50); past it the call is governed with this process's own state.
            STATE_TIMEOUT = "GOVOPS_STATE_TIMEOUT_MS" as govops_state_timeout_ms,
                $crate::config::Presence::Optional,
                accepted $crate::config::state::TIMEOUT_ACCEPTED;
                fn state_timeout(::std::time::Duration) via millis,
                    e.g. "Duration::from_millis(100)";
        }
    };
}

/// How a variable must be present: the first of its gap rules.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Always: unset, empty or only white space is a gap.
    Required,
    /// In these environments, as [`Presence::Required`] (the gap says they require the text
    /// given); elsewhere as [`Presence::Path`].
    RequiredIn(&'static [super::Environment], &'static str),
    /// May be unset; once set it must not be empty or only white space.
    Path,
    /// May be unset; empty or only white space counts as unset, as the OpenTelemetry
    /// specification reads its variables.
    Optional,
}

/// One variable as loading sees it: its row of the table and the value in force.
pub(crate) struct Entry {
    pub(crate) name: &'static str,
    pub(crate) presence: Presence,
    pub(crate) accepted: Cow<'static, str>,
    pub(crate) value: Option<String>,
}

/// A value a setter was given, as the text its variable would hold.
pub(crate) enum Given {
    Text(String),
    /// A path that is not valid Unicode: a gap, like such a value in the environment.
    NotUnicode,
}

impl Given {
    fn text(value: impl Into<String>) -> Self {
        Given::Text(value.into())
    }

    fn keyword<T: Into<String>>(value: impl Into<Keyword<T>>) -> Self {
        Given::Text(value.into().into_text())
    }

    fn path(value: impl Into<PathBuf>) -> Self {
        value
            .into()
            .into_os_string()
            .into_string()
            .map_or(Given::NotUnicode, Given::Text)
    }

    fn millis(value: Duration) -> Self {
        Given::Text(value.as_millis().to_string())
    }

    fn display(value: impl fmt::Display) -> Self {
        Given::Text(value.to_string())
    }
}

macro_rules! define_variables {
    ($(
        $(#[$meta:meta])*
        $NAME:ident = $name:literal as $field:ident, $presence:expr, accepted $accepted:expr;
        fn $setter:ident($arg:ty) via $via:ident, e.g. $example:literal;
    )+) => {
        /// Every variable [`Config::load`](super::Config::load) reads, in the order gaps are
        /// reported.
        pub const VARIABLES: [&str; [$($name),+].len()] = [$($name),+];

        /// The variables' values as text, one field per variable: what `envy` reads from an
        /// [`EnvSource`], and what code sets through [`Settings`].
        #[derive(Deserialize, Default, Clone, PartialEq, Eq)]
        pub(crate) struct Raw {
            $(pub(crate) $field: Option<String>,)+
        }

        impl Raw {
            fn slot(&mut self, variable: &str) -> Option<&mut Option<String>> {
                match variable {
                    $($name => Some(&mut self.$field),)+
                    _ => None,
                }
            }

            fn get(&self, variable: &str) -> Option<&str> {
                match variable {
                    $($name => self.$field.as_deref(),)+
                    _ => None,
                }
            }

            /// Each value of `self`, else the one of `other`.
            pub(crate) fn or(self, other: Raw) -> Raw {
                Raw { $($field: self.$field.or(other.$field),)+ }
            }

            /// The values with their rows of the table.
            pub(crate) fn entries(self) -> Entries {
                Entries {
                    $($field: Entry {
                        name: $name,
                        presence: $presence,
                        accepted: Cow::from($accepted),
                        value: self.$field,
                    },)+
                }
            }
        }

        /// Every variable with its value, for the checks.
        pub(crate) struct Entries {
            $(pub(crate) $field: Entry,)+
        }

        impl Settings {
            $(
                $(#[$meta])*
                #[doc = concat!("\n\nSets `", $name, "` in code.")]
                pub fn $setter(&mut self, value: $arg) -> &mut Self {
                    self.put($name, Given::$via(value));
                    self
                }
            )+
        }

        #[cfg(test)]
        const FIELDS: [&str; [$($name),+].len()] = [$(stringify!($field)),+];
    };
}

crate::for_each_variable!(define_variables);

/// Values set in code, by variable. They win over the environment and are checked the same way.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Settings {
    values: Raw,
    not_unicode: BTreeSet<&'static str>,
}

impl Settings {
    /// Sets `variable` (one of [`VARIABLES`]) to `value`; a name that is not one is ignored.
    pub fn set(&mut self, variable: &'static str, value: impl Into<String>) {
        self.put(variable, Given::Text(value.into()));
    }

    fn put(&mut self, variable: &'static str, value: Given) {
        let Some(slot) = self.values.slot(variable) else {
            return;
        };
        match value {
            Given::Text(text) => {
                *slot = Some(text);
                self.not_unicode.remove(variable);
            }
            Given::NotUnicode => {
                *slot = None;
                self.not_unicode.insert(variable);
            }
        }
    }

    /// The value set in code for `variable`.
    #[must_use]
    pub fn get(&self, variable: &str) -> Option<&str> {
        self.values.get(variable)
    }

    /// Whether `variable` was set in code.
    #[must_use]
    pub fn contains(&self, variable: &str) -> bool {
        self.values.get(variable).is_some() || self.not_unicode.contains(variable)
    }

    /// Whether `variable` was set in code to a path that is not valid Unicode.
    pub(crate) fn is_not_unicode(&self, variable: &str) -> bool {
        self.not_unicode.contains(variable)
    }

    /// The values in force: these, else those `envy` reads from `env` (only the table's
    /// variables, spelled exactly).
    pub(crate) fn over(&self, env: &EnvSource) -> Result<Raw, envy::Error> {
        let ours = env
            .iter()
            .filter(|(name, _)| VARIABLES.contains(name))
            .map(|(name, value)| (name.to_owned(), value.to_owned()));
        let from_env: Raw = envy::from_iter(ours)?;
        Ok(self.values.clone().or(from_env))
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for name in VARIABLES {
            if let Some(value) = self.values.get(name) {
                if name == vars::OTLP_HEADERS {
                    map.entry(&name, &"[redacted]");
                } else if name == vars::STATE_URL {
                    // The URL's password is a secret: shown masked, or not at all.
                    let masked = super::state::url_rule(value)
                        .map_or_else(|_| "[redacted]".to_owned(), |url| url.to_string());
                    map.entry(&name, &masked);
                } else {
                    map.entry(&name, &value);
                }
            } else if self.not_unicode.contains(name) {
                map.entry(&name, &"[not Unicode]");
            }
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_envy_fills_is_its_variable_in_lower_case() {
        for (name, field) in VARIABLES.iter().zip(FIELDS) {
            assert_eq!(name.to_ascii_lowercase(), field);
        }
    }

    #[test]
    fn typed_setters_write_what_the_variable_would_hold() {
        let mut settings = Settings::default();
        settings
            .environment(super::super::Environment::Prod)
            .data_classification("internal")
            .span_queue_size(4096)
            .otlp_timeout(Duration::from_millis(1500))
            .capture_message_content(true)
            .state_url("redis://:pw@cache:6380")
            .state_timeout(Duration::from_millis(75))
            .telemetry_file(PathBuf::from("t.jsonl"));
        assert_eq!(settings.get(vars::ENVIRONMENT), Some("prod"));
        assert_eq!(settings.get(vars::DATA_CLASSIFICATION), Some("internal"));
        assert_eq!(settings.get(vars::SPAN_QUEUE_SIZE), Some("4096"));
        assert_eq!(settings.get(vars::OTLP_TIMEOUT), Some("1500"));
        assert_eq!(settings.get(vars::CAPTURE_MESSAGE_CONTENT), Some("true"));
        assert_eq!(settings.get(vars::TELEMETRY_FILE), Some("t.jsonl"));
        assert_eq!(
            settings.get(vars::STATE_URL),
            Some("redis://:pw@cache:6380")
        );
        assert_eq!(settings.get(vars::STATE_TIMEOUT), Some("75"));
        let shown = format!("{settings:?}");
        assert!(shown.contains("redis://:***@cache:6380/0"), "{shown}");
        assert!(!shown.contains("pw@"), "{shown}");
    }
}
