//! # govops
//!
//! Governed, observable, cost-controlled and auditable GenAI and agent workloads, in-process.
//!
//! [`init`] validates the workload's mandatory metadata (app, environment, owner, cost center,
//! data classification, policy), reports every gap at once and stops the process with exit code
//! 78; when the metadata is complete it installs a `tracing` subscriber that exports traces, logs
//! and metrics over OTLP (when `OTEL_EXPORTER_OTLP_ENDPOINT` is set) or to a local JSON-lines file.
//!
//! ## Quickstart
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # let file = dir.path().join("telemetry.jsonl");
//! // In a real program: `let _govops = govops::init();` reading GOVOPS_* from the environment.
//! let govops = govops::configure()
//!     .env(govops::config::EnvSource::empty()) // read nothing from the process environment
//!     .app_name("support-bot")
//!     .environment("dev")
//!     .owner("team-ai")
//!     .cost_center("CC-1234")
//!     .data_classification("internal")
//!     .telemetry_file(file.to_str().unwrap())
//!     .stderr_logs(false)
//!     .try_init()?;
//!
//! tracing::info_span!("answer_ticket", ticket = 42).in_scope(|| {
//!     tracing::info!("drafted a reply");
//! });
//!
//! govops.shutdown()?; // or let the handle drop: it flushes
//! assert!(std::fs::read_to_string(&file)?.contains("answer_ticket"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Cost
//!
//! ```
//! use govops::{Decimal, cost::PriceTable, cost::Pricing, cost::ServiceTier, Usage};
//!
//! let table = PriceTable::embedded(); // or the file GOVOPS_PRICE_TABLE names
//! let usage = Usage { input: 10_000, cache_read: 2_000, cache_creation: 1_000, cache_creation_1h: 500, output: 2_000, reasoning: 0 };
//! match table.price("claude-3-7-sonnet-20250219", None, &usage, ServiceTier::Standard)? {
//!     Pricing::Priced(cost) => assert_eq!(cost.total_usd, Decimal::new(5685, 5)), // $0.05685, exact
//!     Pricing::Unpriced(why) => unreachable!("{why}"), // never $0: the call carries `unpriced_model`
//! }
//! # Ok::<(), govops::cost::UsageError>(())
//! ```
//!
//! ## Governed calls
//!
//! `#[governed]` on a model call, tool or agent opens a span that carries the whole telemetry
//! contract: who called (from [`context`]), the usage the call reports ([`Reported`], or
//! [`Call::record_usage`]), its exact cost from the price table, latency, context utilization,
//! the policy decision and violations. [`testing`] checks it in a unit test:
//!
//! ```
//! use govops::testing::{Capture, assert_contract};
//! use govops::{Operation, Reported, Usage, governed};
//!
//! struct Reply { text: String, input_tokens: u64, output_tokens: u64 }
//!
//! impl Reported for Reply {
//!     fn usage(&self) -> Option<Usage> {
//!         Some(Usage { input: self.input_tokens, output: self.output_tokens, ..Usage::default() })
//!     }
//! }
//!
//! #[governed(chat, model = "gpt-4o", provider = "openai")]
//! fn ask(prompt: &str) -> Reply {
//!     Reply { text: format!("echo: {prompt}"), input_tokens: 1_000, output_tokens: 200 }
//! }
//!
//! let capture = Capture::new();
//! let reply = capture.run(|| govops::context::scope("session-1", "user-1", || ask("hello")));
//! assert_eq!(reply.text, "echo: hello");
//!
//! let span = capture.span(Operation::Chat, "gpt-4o").expect("one chat span");
//! assert_contract(&span); // every section 2 and 3 field, typed
//! assert_eq!(span.name, "chat gpt-4o");
//! assert_eq!(span.string("user.id"), Some("user-1"));
//! assert_eq!(span.int("gen_ai.usage.input_tokens"), Some(1_000));
//! assert_eq!(span.double("govops.cost.total_usd"), Some(0.0045)); // 1000 × $2.5/M + 200 × $10/M
//! ```
//!
//! Without a required variable, [`init`] prints one report naming each gap and exits with 78;
//! [`try_init`] returns the same gaps as data in [`InitError::Config`].

// Start-up: configure, validate, run, shut down.
pub use govops_tracing::{
    Builder, DEFAULT_SHUTDOWN_TIMEOUT, GovOps, InitError, Lost, ShutdownError, SignalLoss,
    configure,
};
// Instrumenting: what a governed call is and reports.
pub use govops_core::{Decision, Usage, Violation};
pub use govops_macros::governed;
pub use govops_tracing::{Call, Metered, Operation, Reported, context, testing};
pub use rust_decimal::Decimal;
// The engines, each under its own name.
pub use govops_core::{audit, contract, drift, failover, state};

#[doc(hidden)]
pub use govops_tracing::__private;

/// What a governed function needs: `use govops::prelude::*;`.
///
/// ```
/// use govops::prelude::*;
///
/// #[governed(tool, name = "search")]
/// fn search(query: &str) -> Vec<String> {
///     vec![query.to_owned()]
/// }
/// # assert_eq!(search("rust"), ["rust"]);
/// ```
pub mod prelude {
    pub use crate::{Call, Operation, Reported, Usage, Violation, governed};
}

/// The start-up metadata: the variables `init()` reads, what it accepts, and the gaps it reports.
///
/// ```
/// use govops::config::{Config, EnvSource, Environment};
///
/// let mut vars = vec![
///     ("GOVOPS_APP_NAME", "support-bot"), ("GOVOPS_ENVIRONMENT", "prod"),
///     ("GOVOPS_OWNER", "team-ai"), ("GOVOPS_COST_CENTER", "CC-1234"),
///     ("GOVOPS_DATA_CLASSIFICATION", "internal"),
/// ];
/// // prod needs a policy: every gap is reported at once, each naming its variable.
/// let gaps = Config::from_env(&EnvSource::from_pairs(vars.clone())).unwrap_err();
/// assert!(gaps.names("GOVOPS_POLICY"));
///
/// vars[1].1 = "dev";
/// let config = Config::from_env(&EnvSource::from_pairs(vars))?;
/// assert_eq!(config.environment, Environment::Dev);
/// assert!(govops::config::variables().contains(&"GOVOPS_APP_NAME"));
/// # Ok::<(), govops::config::Gaps>(())
/// ```
pub mod config {
    pub use govops_core::config::{
        Config, DEFAULT_OTLP_TIMEOUT, DEFAULT_STATE_TIMEOUT, DEFAULT_TELEMETRY_FILE,
        DataClassification, Environment, Keyword, OtlpConfig, OtlpProtocol, PolicyRef, Secret,
        Settings, StateUrl, probe_state,
    };
    pub use govops_core::env::EnvSource;
    pub use govops_core::gap::{Gap, GapKind, Gaps};
    pub use govops_tracing::variables;
}

/// Exact cost: the price table, what a call costs, and the ledger that sums calls up.
pub mod cost {
    pub use govops_core::cost::{Component, Cost, Line, Pricing, Unpriced};
    pub use govops_core::ledger::{Dimension, Entry, Ledger, LedgerLimits, Totals};
    pub use govops_core::prices::{ModelPrices, PriceTable, Rate, RateKey, TableProblem};
    pub use govops_core::tokens;
    pub use govops_core::usage::{ServiceTier, UsageError};
}

/// Policy-as-code: the policy file, its guards and budgets, what each check decided.
pub mod policy {
    pub use govops_core::policy::{
        Action, Budgets, EnvironmentRules, Figure, Guards, Policy, PolicyProblem, StateRules, Trip,
    };
    pub use govops_core::rego::{CallInput, Rego, RegoVerdict, UsageInput};
    pub use govops_core::violation::Violations;
}

/// Bring your own OpenTelemetry pipeline: the layers `init()` installs, for providers you build.
pub mod pipeline {
    pub use govops_tracing::{
        CallContextLogs, LayerBuilder, RedactingLogs, RedactingSpans, SpanIds, file, layer,
    };
}

#[cfg(doctest)]
mod docs;

/// Validates the start-up metadata from the process environment and starts the pipeline.
///
/// On any gap it prints one report to stderr, naming each variable, what is wrong and what is
/// accepted, and exits the process with code 78 (`EX_CONFIG`). Keep the handle for the life of the
/// program: dropping it flushes all telemetry.
///
/// ```no_run
/// let _govops = govops::init(); // first thing in main; keep the handle to the end
/// tracing::info!("governed and observable");
/// ```
pub fn init() -> GovOps {
    configure().init()
}

/// Like [`init`], but returns the gaps and other failures as [`InitError`] instead of exiting.
///
/// # Errors
///
/// [`InitError::Config`] with every gap; [`InitError::AlreadyInitialized`] on a second call.
pub fn try_init() -> Result<GovOps, InitError> {
    configure().try_init()
}
