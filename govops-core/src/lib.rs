//! The govops domain, free of any telemetry dependency.
//!
//! This crate holds what the rest of govops is built on: the start-up metadata a governed workload
//! must declare ([`config`]), where that metadata is read from ([`env`](mod@env)), and the names the telemetry
//! contract promises ([`contract`]). Applications use it through the `govops` facade crate.

pub mod audit;
pub mod budget;
pub mod config;
pub mod content;
pub mod contract;
pub mod cost;
pub mod drift;
pub mod env;
pub mod failover;
pub mod gap;
pub mod input;
pub mod json;
pub mod ledger;
pub mod loops;
pub mod money;
pub mod policy;
pub mod prices;
pub mod quote;
pub mod rego;
pub mod schema;
mod spelling;
pub mod state;
pub mod terminal;
pub mod tokens;
pub mod usage;
pub mod violation;

pub use audit::{AuditError, AuditLog, AuditOptions, AuditRecord, ConfigFingerprint};
pub use config::{
    Config, DataClassification, Environment, Keyword, OtlpConfig, OtlpProtocol, PolicyRef, Settings,
};
pub use cost::{Component, Cost, Line, Pricing, Unpriced};
pub use drift::{
    Direction, DriftConfig, DriftDetector, DriftError, DriftRegistry, DriftUpdate, Observation,
    Signal, SignalReport, Transition, Weights,
};
pub use env::EnvSource;
pub use failover::{
    BreakerState, ErrorKind, FailoverConfig, FailoverError, FailoverEvent, Provider, ProviderError,
    Readiness, Request, Router, SwitchKind,
};
pub use gap::{Gap, GapKind, Gaps};
pub use ledger::{Dimension, Entry, Ledger, LedgerLimits, Totals};
pub use policy::{Action, Budgets, EnvironmentRules, Guards, Policy, PolicyProblem};
pub use prices::{ModelPrices, PriceTable, Rate, RateKey, TableProblem};
pub use usage::{ServiceTier, Usage, UsageError};
pub use violation::{Decision, Violation, Violations};
