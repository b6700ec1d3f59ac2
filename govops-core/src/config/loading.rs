//! Loading: the values in force (set in code, else read by `envy` from the environment), each
//! checked as its row of the table says, every gap collected.

use std::path::PathBuf;
use std::sync::Arc;

use super::files::{audit_log_rule, policy_rule, price_table_rule, writable_rule};
use super::rules::{
    Rule, app_name_rule, capture_rule, cost_center_rule, keyword, owner_rule, queue_rule,
    resource_rule,
};
use super::variables::{Entries, Entry, Presence, Raw, VARIABLES};
use super::{
    Config, DEFAULT_SPAN_QUEUE_SIZE, DEFAULT_TELEMETRY_FILE, DataClassification, Environment,
    PolicyRef, Settings,
};
use crate::env::EnvSource;
use crate::gap::{Gap, GapKind, Gaps};
use crate::policy::Policy;
use crate::prices::PriceTable;

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
            environment: None,
        };
        for variable in VARIABLES {
            let in_code = settings.is_not_unicode(variable);
            if in_code || (!settings.contains(variable) && env.is_not_unicode(variable)) {
                check.gap(
                    variable,
                    GapKind::NotUnicode,
                    "is set to a value that is not valid Unicode".to_owned(),
                    "a value in valid UTF-8",
                );
            }
        }
        let raw = settings.over(env).unwrap_or_else(|error| {
            // Every field is an optional string, so envy has nothing to reject; should that ever
            // change, say so rather than panic.
            check.gap(
                "environment",
                GapKind::Invalid,
                error.to_string(),
                "string values",
            );
            Raw::default()
        });
        let config = check.config(raw.entries());
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
}

/// Collects gaps while validating.
pub(super) struct Check<'a> {
    gaps: Vec<Gap>,
    settings: &'a Settings,
    /// The environment, once read: where a policy is required depends on it.
    environment: Option<Environment>,
}

/// The five values every workload declares.
struct Identity {
    app_name: Option<String>,
    environment: Option<Environment>,
    owner: Option<String>,
    cost_center: Option<String>,
    classification: Option<DataClassification>,
}

/// What the variables that name files lead to.
struct Files {
    price_table: Option<(PathBuf, Arc<PriceTable>)>,
    prices: Arc<PriceTable>,
    policy: Option<(PolicyRef, Arc<Policy>)>,
    telemetry_file: Option<PathBuf>,
    audit_log: Option<PathBuf>,
}

impl Check<'_> {
    pub(super) fn gap(&mut self, variable: &str, kind: GapKind, problem: String, accepted: &str) {
        let problem = if self.settings.contains(variable) {
            format!("{problem} (set in code)")
        } else {
            problem
        };
        self.gaps.push(Gap::new(variable, kind, problem, accepted));
    }

    /// The entry's value when it passes its presence rule (its gap, when it does not); `None` as
    /// well when it may be and is unset.
    pub(super) fn present(&mut self, mut entry: Entry) -> Entry {
        let required = match entry.presence {
            Presence::Required => Some("is not set".to_owned()),
            Presence::RequiredIn(environments, what)
                if self.environment.is_some_and(|e| environments.contains(&e)) =>
            {
                let names: Vec<_> = environments.iter().map(|e| e.as_str()).collect();
                Some(format!(
                    "is not set, and {} require {what}",
                    names.join(" and ")
                ))
            }
            Presence::RequiredIn(..) | Presence::Path => None,
            Presence::Optional => {
                entry.value = entry.value.filter(|v| !v.trim().is_empty());
                return entry;
            }
        };
        entry.value = match (entry.value.take(), required) {
            // A value that is set but unreadable (not Unicode) has its gap already.
            (None, Some(_)) if self.gaps.iter().any(|g| g.variable == entry.name) => None,
            (None, Some(problem)) => {
                self.gap(entry.name, GapKind::Missing, problem, &entry.accepted);
                None
            }
            (None, None) => None,
            (Some(value), _) => self.not_blank(&entry, value),
        };
        entry
    }

    fn not_blank(&mut self, entry: &Entry, value: String) -> Option<String> {
        let (kind, problem) = if value.is_empty() {
            (GapKind::Empty, "is set but empty")
        } else if value.trim().is_empty() {
            (GapKind::WhitespaceOnly, "holds only white space")
        } else {
            return Some(value);
        };
        self.gap(entry.name, kind, problem.to_owned(), &entry.accepted);
        None
    }

    /// Applies `rule` to a value that passed its presence rule, turning its error into a gap.
    pub(super) fn parsed<T>(
        &mut self,
        entry: &Entry,
        rule: impl FnOnce(&str) -> Rule<T>,
    ) -> Option<T> {
        let value = entry.value.as_deref()?;
        match rule(value) {
            Ok(parsed) => Some(parsed),
            Err((kind, problem)) => {
                self.gap(entry.name, kind, problem, &entry.accepted);
                None
            }
        }
    }

    /// The entry's value, present as its row says and accepted by `rule`.
    pub(super) fn value<T>(
        &mut self,
        entry: Entry,
        rule: impl FnOnce(&str) -> Rule<T>,
    ) -> Option<T> {
        let entry = self.present(entry);
        self.parsed(&entry, rule)
    }

    fn config(&mut self, e: Entries) -> Option<Config> {
        let identity = self.identity(
            e.govops_app_name,
            e.govops_environment,
            e.govops_owner,
            e.govops_cost_center,
            e.govops_data_classification,
        );
        let app_version = self.value(e.govops_app_version, |v| Ok(v.to_owned()));
        let files = self.files(
            e.govops_price_table,
            e.govops_policy,
            e.govops_telemetry_file,
            e.govops_audit_log,
        );
        let otlp = self.otlp(
            e.otel_exporter_otlp_endpoint,
            [
                e.otel_exporter_otlp_traces_endpoint,
                e.otel_exporter_otlp_metrics_endpoint,
                e.otel_exporter_otlp_logs_endpoint,
            ],
            e.otel_exporter_otlp_protocol,
            e.otel_exporter_otlp_headers,
            e.otel_exporter_otlp_timeout,
        );
        let extra_resource_attributes = self.value(e.otel_resource_attributes, resource_rule);
        let span_queue_size = self.value(e.otel_bsp_max_queue_size, queue_rule);
        // The specification reads an empty value as unset; anything but a boolean is a gap,
        // since a misspelt `ture` silently leaving capture off (or on) would go unnoticed.
        let capture = self.value(
            e.otel_instrumentation_genai_capture_message_content,
            capture_rule,
        );
        let state_url = self.value(e.govops_state_url, super::state::url_rule);
        let state_timeout = self.value(e.govops_state_timeout_ms, super::state::timeout_rule);
        let policy_capture = files
            .policy
            .as_ref()
            .and_then(|(_, rules)| rules.capture_content);
        let Files {
            price_table,
            prices,
            policy,
            telemetry_file,
            audit_log,
        } = files;
        Some(Config {
            app_name: identity.app_name?,
            environment: identity.environment?,
            owner: identity.owner?,
            cost_center: identity.cost_center?,
            data_classification: identity.classification?,
            policy_rules: policy
                .as_ref()
                .map_or_else(Arc::default, |(_, rules)| rules.clone()),
            policy: policy.map(|(reference, _)| reference),
            app_version,
            prices,
            price_table: price_table.map(|(path, _)| path),
            // When any gap was found this value is discarded, so the default cannot hide one.
            telemetry_file: telemetry_file.unwrap_or_else(|| PathBuf::from(DEFAULT_TELEMETRY_FILE)),
            audit_log,
            otlp,
            extra_resource_attributes: extra_resource_attributes.unwrap_or_default(),
            span_queue_size: span_queue_size.unwrap_or(DEFAULT_SPAN_QUEUE_SIZE),
            capture_content: policy_capture.or(capture).unwrap_or(false),
            state_url,
            state_timeout: state_timeout.unwrap_or(super::DEFAULT_STATE_TIMEOUT),
        })
    }

    fn identity(
        &mut self,
        app_name: Entry,
        environment: Entry,
        owner: Entry,
        cost_center: Entry,
        classification: Entry,
    ) -> Identity {
        let app_name = self.value(app_name, app_name_rule);
        let environment = self.value(environment, keyword::<Environment>);
        self.environment = environment;
        Identity {
            app_name,
            environment,
            owner: self.value(owner, owner_rule),
            cost_center: self.value(cost_center, cost_center_rule),
            classification: self.value(classification, keyword::<DataClassification>),
        }
    }

    fn files(
        &mut self,
        price_table: Entry,
        policy: Entry,
        telemetry_file: Entry,
        audit_log: Entry,
    ) -> Files {
        let price_table = self.value(price_table, price_table_rule);
        // The policy names models, which are checked against the prices in force.
        let prices = price_table
            .as_ref()
            .map_or_else(PriceTable::embedded, |(_, t)| t.clone());
        let policy = self.value(policy, |path| policy_rule(path, &prices));
        Files {
            price_table,
            prices,
            policy,
            telemetry_file: self.value(telemetry_file, writable_rule),
            audit_log: self.value(audit_log, audit_log_rule),
        }
    }
}
