//! The contract layer: turns every `#[governed]` span into an OpenTelemetry span that carries the
//! fields of contract sections 2 and 3, records the section 5 metrics and the audit record, and
//! leaves every other span to `tracing-opentelemetry`.
//!
//! Its files follow a call's life, and each imports only those listed before it:
//!
//! - [`shared`]: what every call of the layer shares (configuration, policy, engines);
//! - [`fields`]: the macro's fields read back (`govops_protocol` names them);
//! - [`checks`]: the checks at open (allow-lists, loops, context, drift, window, content,
//!   budgets), returning what tripped;
//! - [`span`]: a governed span's state while it is open, in the span's extensions;
//! - [`open`]: opening a call: its attributes, its OpenTelemetry span, its checks;
//! - [`audit`]: the audit record of a settled call;
//! - [`emit`]: the span's end: its attributes (a list that grows: nothing is dropped), events
//!   and status;
//! - [`settle`]: settlement, a value that content, usage, price, budgets, drift and rules add
//!   to before it decides;
//! - [`layer`]: the `tracing` layer itself, with thin callbacks.
//!
//! A governed span's OpenTelemetry data is built here directly, from fields the layer knows by
//! name, rather than by copying every `tracing` field through `tracing-opentelemetry`: that copy is
//! most of what a by-hand span costs. The span joins the rest of the trace through the
//! OpenTelemetry context, which this layer attaches while the span is entered, exactly as
//! `tracing-opentelemetry` does for its own spans.

mod audit;
mod checks;
mod emit;
mod fields;
mod layer;
mod open;
mod settle;
mod shared;
mod span;

pub(crate) use fields::is_governed;
pub(crate) use layer::ContractLayer;
pub(crate) use shared::{Shared, drift_registry};
