//! The govops telemetry pipeline.
//!
//! [`configure`] returns a [`Builder`]; its [`Builder::try_init`] validates the start-up metadata,
//! builds the OpenTelemetry pipeline (OTLP over gRPC or HTTP when an endpoint is set, else the
//! [`file`] sink), installs the global `tracing` subscriber and hands back the [`GovOps`] handle,
//! whose `Drop` flushes everything.

mod builder;
pub mod context;
mod error;
pub mod file;
mod handle;
mod otlp;
mod pipeline;

pub use builder::{Builder, DEFAULT_SHUTDOWN_TIMEOUT, configure, variables};
pub use error::{InitError, ShutdownError};
pub use handle::GovOps;
