//! The govops telemetry pipeline.
//!
//! [`configure`] returns a [`Builder`]; its [`Builder::try_init`] validates the start-up metadata,
//! builds the OpenTelemetry pipeline (OTLP over gRPC or HTTP when an endpoint is set, else the
//! [`file`](mod@file) sink), installs the global `tracing` subscriber and hands back the [`GovOps`] handle,
//! whose `Drop` flushes everything.

mod bridge;
mod builder;
mod call;
mod capture;
mod clock;
mod console;
pub mod context;
mod contract;
mod error;
mod export;
mod failover;
mod handle;
mod ids;
mod intern;
mod layer_builder;
mod logs;
mod metrics;
mod pipeline;
mod private_checks;
mod redact;
mod scan;
mod state;
pub mod testing;

pub use export::file;

pub use builder::{Builder, DEFAULT_SHUTDOWN_TIMEOUT, configure, variables};
pub use call::{Call, Metered, Operation, Reported};
pub use ids::SpanIds;
pub use layer_builder::{LayerBuilder, layer};
pub use logs::CallContextLogs;
pub use redact::{RedactingLogs, RedactingSpans};

/// The instrumentation scope of govops's spans and metrics.
pub(crate) const SCOPE: &str = "govops";
pub use error::{InitError, Lost, ShutdownError, SignalLoss};
pub use handle::GovOps;

/// What `#[governed]` expands to refers to; not a public interface.
#[doc(hidden)]
pub mod __private {
    use std::fmt;

    pub use govops_core::contract::CONTRACT_VERSION;
    pub use tracing;

    pub use crate::call::deny::{Deny, ViaFromViolation, ViaNoDeny};
    pub use crate::call::probe::{Probe, ViaNothing, ViaReported};
    pub use crate::private_checks::{PromptText, RecordedArgument, RecordedError, TokenCount};

    /// Why the governed call just entered must not run, when a check at its open or its
    /// admission denied it.
    #[must_use]
    pub fn denied() -> Option<govops_core::Violation> {
        crate::call::current_call().and_then(|call| call.denied())
    }

    /// Runs the checks of the governed call just entered that ask the shared guard state
    /// (budgets, agent loops), awaiting the answer without blocking the worker thread.
    pub async fn admit() {
        crate::call::admit().await;
    }

    /// [`admit`] for a sync governed call: the thread waits, at most the state's timeout.
    pub fn admit_blocking() {
        crate::call::admit_blocking();
    }

    /// An estimate of a prompt's tokens for the model, when the macro can name it without
    /// evaluating anything twice, for the window guard and the budget reserved before the call:
    /// [`govops_core::tokens::estimate_tokens`]. What the provider reports after the call
    /// replaces it.
    #[must_use]
    pub fn estimate_tokens<P, M>(prompt: &P, model: Option<&M>) -> i64
    where
        P: AsRef<str> + ?Sized,
        M: fmt::Display + ?Sized,
    {
        use govops_core::tokens;
        // The model's name matters only to a tokenizer: without one, nothing is formatted.
        let mut name = ModelName::new();
        let model = match model {
            Some(model) if tokens::TOKENIZER_BUILT_IN => name.format(model),
            _ => None,
        };
        let n = tokens::estimate_tokens(prompt.as_ref(), model);
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    /// A model's name, formatted on the stack: names are short; a longer one is no name.
    struct ModelName {
        bytes: [u8; 128],
        len: usize,
    }

    impl ModelName {
        fn new() -> Self {
            Self {
                bytes: [0; 128],
                len: 0,
            }
        }

        fn format<M: fmt::Display + ?Sized>(&mut self, model: &M) -> Option<&str> {
            use fmt::Write as _;
            write!(self, "{model}").ok()?;
            std::str::from_utf8(self.bytes.get(..self.len)?).ok()
        }
    }

    impl fmt::Write for ModelName {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
            self.bytes
                .get_mut(self.len..end)
                .ok_or(fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    /// What a governed function returning `impl Future` does when called: run its body, or
    /// refuse the call (its body does not run; the future yields the refusal).
    pub enum Gate<F, R> {
        /// The body ran and returned this future.
        Run(F),
        /// The call was denied: the function's error.
        Refused(R),
    }

    /// Calls `f` once: a sync governed body runs in a closure so that its `return`s pass through
    /// the call's settlement, and as `FnOnce` it may hand out what it captured.
    #[inline(always)]
    pub fn call_once<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    /// A span name as the semantic conventions spell it: `{operation} {subject}`.
    pub struct SpanName<'a, T: ?Sized>(pub &'static str, pub &'a T);

    impl<T: fmt::Display + ?Sized> fmt::Display for SpanName<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} {}", self.0, self.1)
        }
    }
}
