//! The governed call in progress: what a function records about itself (usage, response model,
//! finish reasons) while its span is open, and streams whose cost settles when they end or are
//! dropped.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures_core::Stream;
use govops_core::{ServiceTier, Usage, Violation};

pub(crate) mod admission;
mod cell;
mod current;
mod operation;

pub(crate) use cell::{AuditCall, CallCell, CallState, Identity, Move, Served};
pub(crate) use current::{current_call, enter, enter_call, exit};
pub use operation::Operation;

/// What a model call's result reports about itself. Implement it for your provider's response
/// type and a `#[governed]` model call that returns it (or a `Result` or `Option` of it) records
/// the usage, response model and finish reason with no further code.
///
/// ```
/// use govops_tracing::Reported;
/// use govops_core::Usage;
///
/// struct Completion { text: String, prompt_tokens: u64, completion_tokens: u64 }
///
/// impl Reported for Completion {
///     fn usage(&self) -> Option<Usage> {
///         Some(Usage { input: self.prompt_tokens, output: self.completion_tokens, ..Usage::default() })
///     }
/// }
/// ```
pub trait Reported {
    /// The call's token counts, when the provider reported them.
    fn usage(&self) -> Option<Usage>;

    /// The model that actually served the call (`gen_ai.response.model`), when reported.
    fn response_model(&self) -> Option<&str> {
        None
    }

    /// Why the model stopped (`gen_ai.response.finish_reasons`), when reported.
    fn finish_reason(&self) -> Option<&str> {
        None
    }
}

impl<T: Reported + ?Sized> Reported for &T {
    fn usage(&self) -> Option<Usage> {
        (**self).usage()
    }
    fn response_model(&self) -> Option<&str> {
        (**self).response_model()
    }
    fn finish_reason(&self) -> Option<&str> {
        (**self).finish_reason()
    }
}

impl<T: Reported, E> Reported for Result<T, E> {
    fn usage(&self) -> Option<Usage> {
        self.as_ref().ok().and_then(Reported::usage)
    }
    fn response_model(&self) -> Option<&str> {
        self.as_ref().ok().and_then(Reported::response_model)
    }
    fn finish_reason(&self) -> Option<&str> {
        self.as_ref().ok().and_then(Reported::finish_reason)
    }
}

impl<T: Reported> Reported for Option<T> {
    fn usage(&self) -> Option<Usage> {
        self.as_ref().and_then(Reported::usage)
    }
    fn response_model(&self) -> Option<&str> {
        self.as_ref().and_then(Reported::response_model)
    }
    fn finish_reason(&self) -> Option<&str> {
        self.as_ref().and_then(Reported::finish_reason)
    }
}

impl Reported for Usage {
    fn usage(&self) -> Option<Usage> {
        Some(*self)
    }
}

/// Runs the checks of the governed call just entered that ask the shared guard state, awaiting
/// its answer: the worker thread is not blocked. Nothing to do (one atomic load) unless a layer
/// keeps its state shared.
pub(crate) async fn admit() {
    if !admission::ANY_SHARED.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let Some(cell) = current_call() else { return };
    let Some(admission) = cell.take_admission() else {
        return;
    };
    // Boxed: a governed call's future then grows by a pointer, not by the answer, whether or not
    // a shared state is set.
    Box::pin(async move {
        let answer = admission.ask().answer().await;
        cell.admitted(admission.conclude(answer));
    })
    .await;
}

/// [`admit`] for a sync call: the thread waits, at most the state's timeout.
pub(crate) fn admit_blocking() {
    if !admission::ANY_SHARED.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let Some(cell) = current_call() else { return };
    let Some(admission) = cell.take_admission() else {
        return;
    };
    let answer = admission.ask().wait();
    cell.admitted(admission.conclude(answer));
}

/// A handle on the governed call in progress: what the call records about itself goes on its
/// span when the span ends. Holding a `Call` keeps the span open, which is how a stream returned
/// by a governed function is settled when the stream ends or is dropped.
///
/// Outside a governed call the handle records nothing: recording is never an error.
#[derive(Debug, Clone)]
#[must_use = "a Call records nothing until used"]
pub struct Call {
    span: tracing::Span,
    cell: Option<Arc<CallCell>>,
}

impl Call {
    /// The innermost governed call entered on this thread.
    pub fn current() -> Self {
        match current_call() {
            Some(cell) => Call {
                span: tracing::Span::current(),
                cell: Some(cell),
            },
            None => Call {
                span: tracing::Span::none(),
                cell: None,
            },
        }
    }

    /// Whether the handle is on a governed call (false outside one, or when govops is not the
    /// subscriber).
    #[must_use]
    pub fn is_governed(&self) -> bool {
        self.cell.is_some()
    }

    fn with(&self, f: impl FnOnce(&mut CallState)) {
        if let Some(cell) = &self.cell {
            f(&mut cell.lock());
        }
    }

    /// Sets the call's usage, replacing what was recorded before.
    pub fn record_usage(&self, usage: Usage) {
        self.with(|s| s.usage = Some(usage));
    }

    /// Adds `delta` to the call's usage: for streams that report tokens chunk by chunk.
    pub fn add_usage(&self, delta: Usage) {
        self.with(|s| {
            let total = s.usage.get_or_insert_with(Usage::default);
            total.input = total.input.saturating_add(delta.input);
            total.output = total.output.saturating_add(delta.output);
            total.cache_read = total.cache_read.saturating_add(delta.cache_read);
            total.cache_creation = total.cache_creation.saturating_add(delta.cache_creation);
            total.cache_creation_1h = total
                .cache_creation_1h
                .saturating_add(delta.cache_creation_1h);
            total.reasoning = total.reasoning.saturating_add(delta.reasoning);
        });
    }

    /// The usage recorded so far.
    #[must_use]
    pub fn usage(&self) -> Option<Usage> {
        self.cell.as_ref().and_then(|c| c.lock().usage)
    }

    /// Sets `gen_ai.response.model`: the model the provider says served the call.
    pub fn record_response_model(&self, model: impl Into<String>) {
        let model = model.into();
        self.with(|s| s.response_model = Some(model));
    }

    /// Adds a value to `gen_ai.response.finish_reasons`.
    pub fn record_finish_reason(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.with(|s| s.finish_reasons.push(reason));
    }

    /// Sets `gen_ai.provider.name` to the provider that actually served the call (after a
    /// failover, say): the cost, the metrics and drift follow it. A [`govops_core::Router`]
    /// called inside the governed call records this itself.
    pub fn record_provider(&self, provider: impl Into<String>) {
        let provider = crate::intern::intern(&provider.into());
        self.with(|s| {
            s.served = Some(Served {
                provider,
                model: None,
            });
        });
    }

    /// Declares the call's service tier (`batch`, `flex`, `priority`), which picks its rates.
    pub fn record_service_tier(&self, tier: ServiceTier) {
        self.with(|s| s.service_tier = tier);
    }

    /// Raises `violation` on the call: it joins `govops.safety.violations` and decides
    /// `govops.policy.decision` with the others.
    pub fn raise(&self, violation: Violation) {
        self.with(|s| s.violations.raise(violation));
    }

    /// Passes `content` (a message, a document, a tool's output) through the call's content
    /// scan: personal data or a credential in it raises `pii_detected` or `secret_detected` on
    /// the call, with the policy's action. The content itself is not exported.
    pub fn inspect(&self, content: &str) {
        if let Some(cell) = &self.cell
            && cell.scan.enabled()
        {
            cell.inspected(cell.scan.inspect(content), "inspected");
        }
    }

    /// Records the model's response (or a tool's result) text: it is inspected as
    /// [`Call::inspect`] does, and exported only when content is captured (the policy's
    /// `[capture] content`, else `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`), redacted,
    /// as `gen_ai.output.messages` (`gen_ai.tool.call.result` on a tool call) and in the audit
    /// record. The audit record's `response_sha256` is the hash of the redacted text.
    pub fn record_output(&self, text: &str) {
        let Some(cell) = &self.cell else {
            return;
        };
        // One scan: what it finds is raised on the call, and only what it leaves reaches a sink
        // (the span, the audit log and its hash).
        let mut clean = None;
        if cell.scan.enabled() {
            let mut found = govops_core::content::Findings::default();
            clean = cell.scan.text(text, &mut found);
            cell.inspected(found, "output");
        }
        if cell.audit.is_some() {
            let hash = govops_core::audit::sha256_hex(clean.as_deref().unwrap_or(text).as_bytes());
            self.with(|s| s.response_sha256 = Some(hash));
        }
        if cell.capture {
            let kept = clean.unwrap_or_else(|| text.to_owned());
            self.with(|s| s.output = Some(kept));
        }
    }

    /// Records what `value` reports: usage (replacing), response model and finish reason.
    pub fn report<R: Reported + ?Sized>(&self, value: &R) {
        if let Some(cell) = &self.cell {
            report_into(cell, value);
        }
    }

    /// Wraps `stream` so that the call stays open until the stream ends or is dropped, runs each
    /// poll inside the call's span, and hands every item to `on_item` to record usage as chunks
    /// arrive. A stream dropped half-way is settled with what it recorded so far.
    pub fn meter<S, F>(self, stream: S, on_item: F) -> Metered<S, F>
    where
        S: Stream,
        F: FnMut(&Call, &S::Item),
    {
        Metered {
            stream,
            call: Some(self),
            on_item,
        }
    }
}

/// Records what `value` reports on `cell`.
fn report_into<R: Reported + ?Sized>(cell: &CallCell, value: &R) {
    let usage = value.usage();
    let model = value.response_model();
    let reason = value.finish_reason();
    let mut state = cell.lock();
    if usage.is_some() {
        state.usage = usage;
    }
    if let Some(model) = model {
        state.response_model = Some(model.to_owned());
    }
    if let Some(reason) = reason {
        state.finish_reasons.push(reason.to_owned());
    }
}

pin_project_lite::pin_project! {
    /// A stream that belongs to a governed call: see [`Call::meter`].
    #[must_use = "streams do nothing unless polled"]
    pub struct Metered<S, F> {
        #[pin]
        stream: S,
        call: Option<Call>,
        on_item: F,
    }
}

impl<S, F> Stream for Metered<S, F>
where
    S: Stream,
    F: FnMut(&Call, &S::Item),
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let Some(call) = this.call.as_ref() else {
            return Poll::Ready(None);
        };
        // The span the handle was taken in (it may be nested inside the call), then the call
        // itself: what the stream and `on_item` record while it is polled goes to the call.
        let _entered = call.span.enter();
        let _call = call.cell.as_ref().map(enter_call);
        match this.stream.poll_next(cx) {
            Poll::Ready(Some(item)) => {
                (this.on_item)(call, &item);
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                drop(_call);
                drop(_entered);
                // The stream ended: let the call settle now, not when the wrapper is dropped.
                *this.call = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

/// Autoref specialization for `#[governed]`: a call whose error type converts from a
/// [`govops_core::Violation`] can be denied, any other is flagged. Not a public interface.
#[doc(hidden)]
pub mod deny {
    use std::marker::PhantomData;

    use govops_core::Violation;

    /// Names the call's result type.
    pub struct Deny<R>(PhantomData<fn() -> R>);

    impl<R> Deny<R> {
        /// The marker.
        #[must_use]
        pub fn new() -> Self {
            Self(PhantomData)
        }
    }

    impl<R> Default for Deny<R> {
        fn default() -> Self {
            Self::new()
        }
    }

    /// Picked when the error type is `From<Violation>`.
    pub trait ViaFromViolation<R> {
        /// Whether the call can be denied.
        fn __govops_deniable(&self) -> bool;
        /// The result a denied call returns.
        fn __govops_deny(&self, violation: Violation) -> Option<R>;
    }

    impl<T, E: From<Violation>> ViaFromViolation<Result<T, E>> for Deny<Result<T, E>> {
        fn __govops_deniable(&self) -> bool {
            true
        }
        fn __govops_deny(&self, violation: Violation) -> Option<Result<T, E>> {
            Some(Err(E::from(violation)))
        }
    }

    /// Picked otherwise: the call runs and is flagged.
    pub trait ViaNoDeny<R> {
        /// Whether the call can be denied.
        fn __govops_deniable(&self) -> bool;
        /// Nothing: the call runs.
        fn __govops_deny(&self, violation: Violation) -> Option<R>;
    }

    impl<R> ViaNoDeny<R> for &Deny<R> {
        fn __govops_deniable(&self) -> bool {
            false
        }
        fn __govops_deny(&self, _: Violation) -> Option<R> {
            None
        }
    }
}

/// Autoref specialization for `#[governed]`: a result whose type is [`Reported`] is reported,
/// any other is left alone. Not a public interface.
#[doc(hidden)]
pub mod probe {
    use super::{Reported, report_into};

    /// Wraps the result of a governed call.
    pub struct Probe<'a, T: ?Sized>(pub &'a T);

    /// Picked when the result is [`Reported`].
    pub trait ViaReported {
        /// Records the result on the current call.
        fn __govops_report(&self);
    }

    impl<T: Reported + ?Sized> ViaReported for Probe<'_, T> {
        fn __govops_report(&self) {
            // The call is still entered here: no span handle needed, only its cell.
            if let Some(cell) = super::current_call() {
                report_into(&cell, self.0);
            }
        }
    }

    /// Picked otherwise: nothing to report.
    pub trait ViaNothing {
        /// Does nothing.
        fn __govops_report(&self);
    }

    impl<T: ?Sized> ViaNothing for &Probe<'_, T> {
        fn __govops_report(&self) {}
    }
}
