//! The `#[governed]` attribute of govops.
//!
//! The attribute itself arrives with the contract-layer work; this crate reserves its place in the
//! workspace so that the facade's dependency graph is final from the start.
