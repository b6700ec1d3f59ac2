//! A governed call opens: its fields are read, its attributes made (and redacted), its
//! OpenTelemetry span started (or its ids drawn, to build it whole when it ends), and the checks
//! at open decide whether it runs.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use govops_core::content::Findings;
use govops_core::contract::{CONTRACT_VERSION, attr};
use govops_protocol::field;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{
    SpanContext, SpanKind, TraceContextExt, TraceFlags, TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_sdk::trace::IdGenerator as _;
use tracing::span::{Attributes, Id};

use super::checks::{self, Opening, call_hash};
use super::fields::{Fields, Visiting};
use super::shared::Shared;
use super::span::{Governed, Pending};
use crate::call::{CallCell, Identity, Operation};
use crate::clock::Stamp;
use crate::context::{SESSION_ID, USER_ID};
use crate::scan::{Scan, redact_attributes};

/// The value of `session.id` and `user.id` when the caller set none.
pub(crate) const UNKNOWN: &str = "unknown";

/// Opens the governed call of span `id`.
pub(super) fn open(shared: &Shared, attrs: &Attributes<'_>, id: &Id) -> Governed {
    let meta = attrs.metadata();
    let scan = Scan::new(&shared.policy.guards);
    let capture = shared.capture;
    let mut fields = Fields {
        audit: shared.audit.is_some().then(Box::default),
        ..Fields::default()
    };
    attrs.record(&mut Visiting {
        static_name: meta.name(),
        scan,
        capture,
        fields: &mut fields,
    });
    if let Some(audit) = fields.audit.as_deref_mut() {
        audit.max_tokens = fields.max_tokens;
    }
    let parent_cx = Context::current();
    let identity = identity(&parent_cx, &mut fields);
    let call = tool_call(&identity, &fields);
    let mut name: Cow<'static, str> = match fields.name.take() {
        Some(name) => Cow::Owned(name),
        None => Cow::Borrowed(meta.name()),
    };
    let mut attributes = attributes(shared, &identity, &mut fields, capture);
    // The span's own strings are redacted here rather than at export, so that the decision,
    // the metrics and the rules all know what was found (and export need not look again).
    let mut in_attributes = Findings::default();
    if scan.enabled() {
        in_attributes = redact_attributes(scan, &mut attributes);
        // A static name is the program's own text; a name made at run time may hold content.
        if let Cow::Owned(owned) = &name
            && let Some(clean) = scan.text(owned, &mut in_attributes)
        {
            name = Cow::Owned(clean);
        }
    }
    let started = shared.clock.now();
    let has_parent = parent_cx.span().span_context().is_valid();
    let kind = if identity.operation.is_model() {
        SpanKind::Client
    } else {
        SpanKind::Internal
    };
    let (cx, pending) = start(shared, parent_cx, (name, kind, attributes), &started);
    let trace = cx.span().span_context().trace_id();
    let checked = checks::at_open(
        shared,
        scan,
        &Opening {
            identity: &identity,
            trace,
            call,
            deniable: fields.deniable,
            prompt_tokens: fields.prompt_tokens,
            max_tokens: fields.max_tokens,
            found: [
                (fields.prompt_found, "prompt"),
                (in_attributes, "attributes"),
            ],
            at: started.wall,
        },
    );
    let denied = checked.denied();
    let audit = fields.audit.take();
    Governed {
        cell: Arc::new(CallCell::new(
            identity,
            id.clone(),
            cx,
            (denied, checked.admission),
            (scan, capture, audit),
        )),
        started,
        pending,
        root_trace: (!has_parent).then_some(trace),
        tripped: checked.tripped,
        reservation: checked.reservation,
    }
}

/// Who and what the call is: its fields, and the caller's ids from the context's baggage.
fn identity(parent_cx: &Context, fields: &mut Fields) -> Identity {
    let (session, session_known) = caller_id(parent_cx, SESSION_ID);
    let (user, user_known) = caller_id(parent_cx, USER_ID);
    Identity {
        operation: fields.operation.unwrap_or(Operation::InvokeWorkflow),
        model: fields.model.take(),
        provider: fields.provider.take(),
        subject: fields.subject.take(),
        session,
        user,
        session_known,
        user_known,
    }
}

/// The caller's id from the context's baggage, or `"unknown"`.
fn caller_id(cx: &Context, key: &'static str) -> (StringValue, bool) {
    match cx.baggage().get(key) {
        Some(s) if !s.as_str().trim().is_empty() => (s.clone(), true),
        _ => (StringValue::from(UNKNOWN), false),
    }
}

/// A tool call's identity for the agent-loop guard (0 for other calls).
fn tool_call(identity: &Identity, fields: &Fields) -> u64 {
    if identity.operation != Operation::ExecuteTool {
        0
    } else if fields.arguments_partial {
        // Unknown arguments: a value no other call shares, so no call counts as a repeat.
        static UNIQUE: AtomicU64 = AtomicU64::new(1);
        UNIQUE.fetch_add(1, Ordering::Relaxed) | (1 << 63)
    } else {
        call_hash(
            identity.subject.as_ref(),
            fields.rest.iter().chain(&fields.arguments),
        )
    }
}

/// The span's attributes at open: the contract's, the span's other fields, and the arguments
/// and prompt as far as the capture setting lets them leave the process.
fn attributes(
    shared: &Shared,
    identity: &Identity,
    fields: &mut Fields,
    capture: bool,
) -> Vec<KeyValue> {
    let operation = identity.operation;
    // Room for what settlement usually adds, so that the span's attributes do not grow again;
    // no more, since a vector past 1 KiB misses the allocator's per-thread cache and this one
    // is freed on the exporter's thread.
    let settled = if operation.is_model() { 10 } else { 4 };
    let mut attributes = Vec::with_capacity(8 + settled + fields.rest.len());
    attributes.extend([
        KeyValue::new(attr::CONTRACT_VERSION, CONTRACT_VERSION),
        KeyValue::new(attr::OPERATION_NAME, operation.name()),
        KeyValue::new(attr::SESSION_ID, identity.session.clone()),
        KeyValue::new(attr::USER_ID, identity.user.clone()),
        KeyValue::new("service.name", shared.service.clone()),
        KeyValue::new("deployment.environment.name", shared.environment.clone()),
    ]);
    if let Some(model) = &identity.model {
        attributes.push(KeyValue::new(field::REQUEST_MODEL, model.clone()));
    }
    if let Some(provider) = &identity.provider {
        attributes.push(KeyValue::new(field::PROVIDER_NAME, provider.clone()));
    }
    if let Some(subject) = &identity.subject {
        let key = match operation {
            Operation::ExecuteTool => field::TOOL_NAME,
            Operation::InvokeAgent => field::AGENT_NAME,
            _ => field::NAME,
        };
        attributes.push(KeyValue::new(key, subject.clone()));
    }
    attributes.append(&mut fields.rest);
    crate::capture::arguments_into(
        operation,
        capture,
        std::mem::take(&mut fields.arguments),
        fields.prompt_text.as_deref(),
        &mut attributes,
    );
    attributes
}

/// The call's OpenTelemetry context and, when its span is built at its end, what that needs.
/// With the provider's id generator, and a sampler whose decision is known without asking it (it
/// samples every root, or follows the parent), the ids are drawn now; otherwise the span is
/// started now, and the sampler decides as for any span.
fn start(
    shared: &Shared,
    parent_cx: Context,
    (name, kind, attributes): (Cow<'static, str>, SpanKind, Vec<KeyValue>),
    started: &Stamp,
) -> (Context, Option<Pending>) {
    let has_parent = parent_cx.span().span_context().is_valid();
    let deferred = shared.ids.as_ref().filter(|_| {
        if has_parent {
            shared.defer_children
        } else {
            shared.defer_roots
        }
    });
    let Some(ids) = deferred else {
        let builder = shared
            .tracer
            .span_builder(name)
            .with_kind(kind)
            .with_start_time(started.wall)
            .with_attributes(attributes);
        let otel_span = shared.tracer.build_with_context(builder, &parent_cx);
        return (parent_cx.with_span(otel_span), None);
    };
    let (trace_id, flags, state) = {
        let parent = parent_cx.span();
        let psc = parent.span_context();
        if psc.is_valid() {
            // The parent's decision, as a parent-based sampler follows it.
            (psc.trace_id(), psc.trace_flags(), psc.trace_state().clone())
        } else {
            // A root, and the sampler samples every root.
            (ids.new_trace_id(), TraceFlags::SAMPLED, TraceState::NONE)
        }
    };
    let span_id = ids.new_span_id();
    let own = SpanContext::new(trace_id, span_id, flags, false, state);
    let cx = parent_cx.with_remote_span_context(own);
    let pending = Pending {
        parent_cx,
        name,
        kind,
        attributes,
        trace_id,
        span_id,
    };
    (cx, Some(pending))
}
