//! Who is calling: the session and user ids of a scope (contract section 2's `session.id` and
//! `user.id`), carried as W3C baggage in the OpenTelemetry context.
//!
//! Because the ids live in the OpenTelemetry context, they are inherited by every nested call,
//! follow a future into `tokio::spawn` when it is instrumented with a span created in the scope
//! (or wrapped with [`in_scope`]), and cross process boundaries with the trace context: [`inject`]
//! writes them as a `baggage` header beside `traceparent`, [`extract`] reads them back.
//!
//! ```
//! govops_tracing::context::scope("session-42", "user-7", || {
//!     let caller = govops_tracing::context::current();
//!     assert_eq!(caller.session_id.as_deref(), Some("session-42"));
//!     assert_eq!(caller.user_id.as_deref(), Some("user-7"));
//! });
//! assert_eq!(govops_tracing::context::current().session_id, None);
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry::trace::FutureExt;
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

/// The baggage key of the session id (the contract's `session.id`).
pub const SESSION_ID: &str = "session.id";
/// The baggage key of the user id (the contract's `user.id`).
pub const USER_ID: &str = "user.id";

/// The session and user of the current scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caller {
    /// The session id, when a scope set one.
    pub session_id: Option<String>,
    /// The user id, when a scope set one.
    pub user_id: Option<String>,
}

/// The current context with `session_id` and `user_id` added to its baggage.
fn with_ids(session_id: String, user_id: String) -> Context {
    // Shared strings: every governed call in the scope copies the ids onto its span.
    let shared = |s: String| StringValue::from(Arc::<str>::from(s));
    Context::current_with_baggage([
        KeyValue::new(SESSION_ID, shared(session_id)),
        KeyValue::new(USER_ID, shared(user_id)),
    ])
}

/// Runs `f` with `session_id` and `user_id` as the caller, for `f` and everything it calls.
pub fn scope<R>(
    session_id: impl Into<String>,
    user_id: impl Into<String>,
    f: impl FnOnce() -> R,
) -> R {
    let _attached = with_ids(session_id.into(), user_id.into()).attach();
    f()
}

/// Wraps `future` so that, whenever it runs, `session_id` and `user_id` are the caller: the async
/// form of [`scope`], which also survives `tokio::spawn`.
pub fn in_scope<F: Future>(
    session_id: impl Into<String>,
    user_id: impl Into<String>,
    future: F,
) -> impl Future<Output = F::Output> {
    future.with_context(with_ids(session_id.into(), user_id.into()))
}

/// The caller of the current scope: what [`scope`], [`in_scope`] or [`extract`] set.
#[must_use]
pub fn current() -> Caller {
    let cx = Context::current();
    let baggage = cx.baggage();
    Caller {
        session_id: baggage.get(SESSION_ID).map(|v| v.as_str().to_owned()),
        user_id: baggage.get(USER_ID).map(|v| v.as_str().to_owned()),
    }
}

/// The propagator govops uses (W3C trace context and baggage), independent of the global one so
/// that [`inject`] and [`extract`] work whether or not `init()` ran.
fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

/// Writes the current trace context and caller into `carrier` (`traceparent` and `baggage`
/// headers) for an outgoing request.
pub fn inject(carrier: &mut dyn Injector) {
    propagator().inject_context(&Context::current(), carrier);
}

/// The headers [`inject`] would write, as a map.
#[must_use]
pub fn headers() -> HashMap<String, String> {
    let mut map = HashMap::new();
    inject(&mut map);
    map
}

/// The context an incoming request carries (`traceparent` and `baggage`): attach it, or pass it
/// to [`attached`], to continue the trace with the remote caller's session and user.
#[must_use]
pub fn extract(carrier: &dyn Extractor) -> Context {
    propagator().extract(carrier)
}

/// Runs `f` in the context an incoming request carries.
pub fn attached<R>(carrier: &dyn Extractor, f: impl FnOnce() -> R) -> R {
    let _attached = extract(carrier).attach();
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_scopes_and_their_end() {
        assert_eq!(current(), Caller::default());
        scope("s1", "u1", || {
            assert_eq!(current().session_id.as_deref(), Some("s1"));
            scope("s2", "u2", || {
                assert_eq!(current().user_id.as_deref(), Some("u2"))
            });
            assert_eq!(current().user_id.as_deref(), Some("u1"));
        });
        assert_eq!(current(), Caller::default());
    }

    #[test]
    fn the_ids_cross_a_process_boundary_as_baggage() {
        let headers = scope("sess 1", "user=ü", headers);
        let baggage = headers.get("baggage").unwrap();
        assert!(baggage.contains("session.id=sess%201"), "{baggage}");
        // The other side.
        let caller = attached(&headers, current);
        assert_eq!(caller.session_id.as_deref(), Some("sess 1"));
        assert_eq!(caller.user_id.as_deref(), Some("user=ü"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_ids_follow_a_future_into_tokio_spawn() {
        let caller = tokio::spawn(in_scope("s-async", "u-async", async {
            tokio::task::yield_now().await;
            current()
        }))
        .await
        .unwrap();
        assert_eq!(caller.session_id.as_deref(), Some("s-async"));
        assert_eq!(
            current(),
            Caller::default(),
            "the spawning task is untouched"
        );
    }

    /// A span created in a scope carries the ids to wherever its future runs: the way
    /// `tokio::spawn(fut.instrument(span))` keeps the caller.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_span_created_in_a_scope_carries_the_ids_into_a_spawned_task() {
        use opentelemetry::trace::TracerProvider as _;
        use tracing::instrument::{Instrument, WithSubscriber};
        use tracing_subscriber::layer::SubscriberExt;

        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let dispatch = tracing::Dispatch::new(subscriber);
        let span = tracing::dispatcher::with_default(&dispatch, || {
            scope("s-span", "u-span", || tracing::info_span!("work"))
        });
        let caller = tokio::spawn(
            async { current() }
                .instrument(span)
                .with_subscriber(dispatch),
        )
        .await
        .unwrap();
        assert_eq!(caller.session_id.as_deref(), Some("s-span"));
        assert_eq!(caller.user_id.as_deref(), Some("u-span"));
    }
}
