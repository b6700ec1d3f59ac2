//! The names `shared/CONTRACT.md` promises: environment variables and attribute keys.
//!
//! One place for every name, so that a rename is one edit and a breaking change is visible.

/// The version of the telemetry contract this crate implements (`govops.contract.version`).
pub const CONTRACT_VERSION: &str = "1";

/// Environment variables read at start-up (contract section 1).
pub mod vars {
    /// The application's name; becomes `service.name`.
    pub const APP_NAME: &str = "GOVOPS_APP_NAME";
    /// The deployment environment; becomes `deployment.environment.name`.
    pub const ENVIRONMENT: &str = "GOVOPS_ENVIRONMENT";
    /// The owning team or person; becomes `govops.owner`.
    pub const OWNER: &str = "GOVOPS_OWNER";
    /// The cost center charged for the workload; becomes `govops.cost_center`.
    pub const COST_CENTER: &str = "GOVOPS_COST_CENTER";
    /// The classification of the data the workload handles; becomes `govops.data_classification`.
    pub const DATA_CLASSIFICATION: &str = "GOVOPS_DATA_CLASSIFICATION";
    /// Path to the policy file; becomes `govops.policy.id`.
    pub const POLICY: &str = "GOVOPS_POLICY";
    /// Free-text application version; becomes `service.version`.
    pub const APP_VERSION: &str = "GOVOPS_APP_VERSION";
    /// Path to a price table that replaces the embedded one.
    pub const PRICE_TABLE: &str = "GOVOPS_PRICE_TABLE";
    /// Path of the JSON-lines telemetry sink used when no OTLP endpoint is set.
    pub const TELEMETRY_FILE: &str = "GOVOPS_TELEMETRY_FILE";
    /// Path of the append-only audit log.
    pub const AUDIT_LOG: &str = "GOVOPS_AUDIT_LOG";
    /// The OTLP endpoint for every signal.
    pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// The OTLP endpoint for traces only, used as given.
    pub const OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    /// The OTLP endpoint for metrics only, used as given.
    pub const OTLP_METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
    /// The OTLP endpoint for logs only, used as given.
    pub const OTLP_LOGS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT";
    /// The OTLP transport protocol.
    pub const OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
    /// Headers sent with every OTLP export; secrets, never printed.
    pub const OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
    /// The OTLP export timeout in milliseconds.
    pub const OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
    /// Extra resource attributes, `key=value` pairs separated by commas.
    pub const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
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
