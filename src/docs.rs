//! The README and the pages of `docs/`, whose Rust blocks rustdoc compiles and runs as doctests.
//!
//! Built only under `cargo test --doc`: the pages document the crate, they are not part of it.
//! `govops-cli/tests/docs.rs` checks that every page is listed here and runs the pages' other
//! blocks (policies, `govops` commands).

/// README.md.
#[doc = include_str!("../README.md")]
pub struct Readme;

/// docs/configuration.md.
#[doc = include_str!("../docs/configuration.md")]
pub struct Configuration;

/// docs/governed-calls.md.
#[doc = include_str!("../docs/governed-calls.md")]
pub struct GovernedCalls;

/// docs/policy.md.
#[doc = include_str!("../docs/policy.md")]
pub struct Policy;

/// docs/cost.md.
#[doc = include_str!("../docs/cost.md")]
pub struct Cost;

/// docs/drift.md.
#[doc = include_str!("../docs/drift.md")]
pub struct Drift;

/// docs/failover.md.
#[doc = include_str!("../docs/failover.md")]
pub struct Failover;

/// docs/audit.md.
#[doc = include_str!("../docs/audit.md")]
pub struct Audit;

/// docs/cli.md.
#[doc = include_str!("../docs/cli.md")]
pub struct Cli;

/// docs/contract.md.
#[doc = include_str!("../docs/contract.md")]
pub struct Contract;

/// docs/security.md.
#[doc = include_str!("../docs/security.md")]
pub struct Security;

/// docs/performance.md.
#[doc = include_str!("../docs/performance.md")]
pub struct Performance;
