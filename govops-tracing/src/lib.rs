//! The govops telemetry pipeline.
//!
//! [`configure`] returns a [`Builder`]; its [`Builder::try_init`] validates the start-up metadata,
//! builds the OpenTelemetry pipeline (OTLP over gRPC or HTTP when an endpoint is set, else the
//! [`file`](mod@file) sink), installs the global `tracing` subscriber and hands back the [`GovOps`] handle,
//! whose `Drop` flushes everything.

mod bridge;
mod builder;
mod call;
mod clock;
pub mod context;
mod dropped;
mod error;
pub mod file;
mod governed;
mod handle;
mod ids;
mod intern;
mod logs;
mod metrics;
mod otlp;
mod pipeline;
mod precheck;
mod redact;
pub mod testing;

pub use builder::{Builder, DEFAULT_SHUTDOWN_TIMEOUT, configure, variables};
pub use call::{Call, Metered, Operation, Reported};
pub use governed::{layer, layer_with_ids};
pub use ids::SpanIds;
pub use logs::CallContextLogs;
pub use redact::{RedactingLogs, RedactingSpans};

/// The instrumentation scope of govops's spans and metrics.
pub(crate) const SCOPE: &str = "govops";
pub use error::{InitError, ShutdownError};
pub use handle::GovOps;

/// What `#[governed]` expands to refers to; not a public interface.
#[doc(hidden)]
pub mod __private {
    use std::fmt;

    pub use govops_core::contract::CONTRACT_VERSION;
    pub use tracing;

    pub use crate::call::deny::{Deny, ViaFromViolation, ViaNoDeny};
    pub use crate::call::probe::{Probe, ViaNothing, ViaReported};

    /// Why the governed call just entered must not run, when a check at its open denied it.
    #[must_use]
    pub fn denied() -> Option<govops_core::Violation> {
        crate::governed::current_call().and_then(|call| call.denied)
    }

    /// A token count as the `i64` telemetry carries, from any unsigned or signed integer.
    #[must_use]
    pub fn token_count<N: TryInto<i64>>(n: N) -> i64 {
        n.try_into().unwrap_or(i64::MAX)
    }

    /// An estimate of a prompt's tokens, for the budget reserved before the call: a token is
    /// about four bytes of English text; the estimate rounds up. What the provider reports after
    /// the call replaces it.
    #[must_use]
    pub fn estimate_tokens<P: AsRef<str> + ?Sized>(prompt: &P) -> i64 {
        let bytes = prompt.as_ref().len();
        i64::try_from(bytes.div_ceil(4)).unwrap_or(i64::MAX)
    }

    /// The prompt's text, for the layer's content scan.
    #[must_use]
    pub fn prompt_text<P: AsRef<str> + ?Sized>(prompt: &P) -> &str {
        prompt.as_ref()
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
