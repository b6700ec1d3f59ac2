//! The contract layer: turns every `#[governed]` span into an OpenTelemetry span that carries the
//! fields of contract sections 2 and 3, records the section 5 metrics, and leaves every other span
//! to `tracing-opentelemetry`.
//!
//! A governed span's OpenTelemetry data is built here directly, from fields the layer knows by
//! name, rather than by copying every `tracing` field through `tracing-opentelemetry`: that copy is
//! most of what a by-hand span costs. The span joins the rest of the trace through the
//! OpenTelemetry context, which this layer attaches while the span is entered, exactly as
//! `tracing-opentelemetry` does for its own spans.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use govops_core::contract::{CONTRACT_VERSION, attr, event};
use govops_core::{
    Action, Config, Decision, Environment, Policy, PriceTable, Pricing, Unpriced, Violation,
    Violations,
};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use opentelemetry::{Array, Context, ContextGuard, Key, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{IdGenerator as _, SdkTracer};
use rust_decimal::prelude::ToPrimitive;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, filter};

use crate::call::{AuditCall, CallCell, Identity, Operation};
use crate::clock::{Clock, Stamp};
use crate::context::{SESSION_ID, USER_ID};
use crate::ids::{SpanIds, with_preset};
use crate::intern::{intern, intern_debug};
use crate::metrics::{Instruments, Recorded};
use crate::precheck::{Prechecks, Tripped, call_hash, figures, for_call};
use crate::redact::Scan;
use govops_core::audit::{
    AuditLog, AuditRecord, Content, DriftTrip, FailoverMove, Timestamp, sha256_hex,
};
use govops_core::budget::{Charge, Exceeded, Ledger as BudgetLedger, Reservation};
use govops_core::content::Findings;
use govops_core::drift::{DriftRegistry, Observation};
use govops_core::loops::Loops;
use govops_core::rego::{CallInput, UsageInput};
use govops_core::{ServiceTier, Usage};

/// The field every governed span declares first: how the layer knows it without a lookup.
pub(crate) const MARKER: &str = attr::CONTRACT_VERSION;

/// The most attributes settlement adds to a span.
const SETTLED: usize = 14;

/// The value of `session.id` and `user.id` when the caller set none.
pub(crate) const UNKNOWN: &str = "unknown";

/// Whether a callsite is a `#[governed]` span.
pub(crate) fn is_governed(meta: &Metadata<'_>) -> bool {
    meta.is_span()
        && meta
            .fields()
            .iter()
            .next()
            .is_some_and(|f| f.name() == MARKER)
}

/// What the contract layer sees: governed spans, and error events (which mark a governed call as
/// failed). Decided once per callsite.
pub(crate) fn interest(meta: &Metadata<'_>) -> bool {
    is_governed(meta) || (meta.is_event() && *meta.level() == Level::ERROR)
}

/// Everything the layer needs, shared by its clones.
pub(crate) struct Shared {
    pub(crate) tracer: SdkTracer,
    pub(crate) service: StringValue,
    pub(crate) environment: StringValue,
    pub(crate) cost_center: StringValue,
    pub(crate) prod: bool,
    pub(crate) prices: Arc<PriceTable>,
    /// The policy: guard actions and thresholds, allow-lists, budgets, rules.
    pub(crate) policy: Arc<Policy>,
    /// Whether message content leaves the process (the policy's `[capture] content`, else
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`, else off).
    pub(crate) capture: bool,
    pub(crate) deployment: Environment,
    /// The agent-loop guard's per-trace state.
    pub(crate) loops: Loops,
    /// The budgets' accounts.
    pub(crate) budgets: BudgetLedger,
    pub(crate) instruments: Option<Instruments>,
    pub(crate) clock: Clock,
    /// The tracer provider's id generator, when govops built the provider:
    /// governed spans then draw their ids when they open and are built whole when they end.
    /// Without it (a provider the application built), they are started when they open.
    pub(crate) ids: Option<SpanIds>,
    /// Whether the provider's sampler samples every root span, so that a governed root may be
    /// built at its end as sampled; otherwise roots are started when they open and the sampler
    /// decides then, as for any span.
    pub(crate) defer_roots: bool,
    /// Whether the sampler follows the parent's decision (or samples everything), so that a
    /// governed child may be built at its end with its parent's decision.
    pub(crate) defer_children: bool,
    /// Drift of every (model, provider) the model calls use; `None` when the policy turns
    /// `model_drift` off.
    pub(crate) drift: Option<Arc<DriftRegistry>>,
    /// The audit log every governed call is recorded in, when `GOVOPS_AUDIT_LOG` is set.
    pub(crate) audit: Option<AuditLog>,
    /// Calls of drifting models denied so far: one in [`DRIFT_TRIAL_EVERY`] runs instead.
    drift_denials: std::sync::atomic::AtomicU64,
}

/// While a model drifts under `deny`, one call in this many runs (flagged), so that the model's
/// recovery can be seen: a denied call feeds nothing to drift.
const DRIFT_TRIAL_EVERY: u64 = 20;

/// A fresh registry with the policy's drift settings, unless the policy turns drift off.
pub(crate) fn drift_registry(policy: &Policy) -> Option<Arc<DriftRegistry>> {
    if policy.guards.model_drift == Action::Off {
        return None;
    }
    // The policy's settings were validated when it was parsed.
    DriftRegistry::new(&policy.drift).ok().map(Arc::new)
}

impl Shared {
    pub(crate) fn new(
        config: &Config,
        tracer: SdkTracer,
        instruments: Option<Instruments>,
        clock: Clock,
        ids: Option<SpanIds>,
    ) -> Self {
        let (defer_roots, defer_children) = sampler_allows_deferral();
        crate::failover::install();
        Self {
            drift: drift_registry(&config.policy_rules),
            drift_denials: std::sync::atomic::AtomicU64::new(0),
            audit: None,
            defer_roots,
            defer_children,
            ids,
            tracer,
            service: shared_text(&config.app_name),
            environment: config.environment.as_str().into(),
            cost_center: shared_text(&config.cost_center),
            prod: config.environment == Environment::Prod,
            prices: config.prices.clone(),
            policy: config.policy_rules.clone(),
            capture: config.capture_content,
            deployment: config.environment,
            loops: Loops::default(),
            budgets: BudgetLedger::default(),
            instruments,
            clock,
        }
    }

    /// Records every governed call in `log`.
    pub(crate) fn with_audit(mut self, log: Option<AuditLog>) -> Self {
        self.audit = log;
        self
    }

    /// Follows drift in `registry` (one restored from a baseline, say) instead of a fresh one.
    pub(crate) fn with_drift(mut self, registry: Option<Arc<DriftRegistry>>) -> Self {
        if self.drift.is_some() {
            self.drift = registry;
        }
        self
    }
}

/// What the SDK's default sampler, configured from the process environment as the SDK reads it,
/// allows: building governed roots at their end (it samples every root: unset, `always_on`,
/// `parentbased_always_on`), and governed children (it follows the parent: also the other
/// `parentbased_*` samplers).
fn sampler_allows_deferral() -> (bool, bool) {
    let sampler = std::env::var("OTEL_TRACES_SAMPLER").unwrap_or_default();
    let sampler = sampler.trim();
    let roots = matches!(sampler, "" | "always_on" | "parentbased_always_on");
    (roots, roots || sampler.starts_with("parentbased_"))
}

/// A string every span repeats, shared rather than copied.
pub(crate) fn shared_text(s: &str) -> StringValue {
    intern(s)
}

/// The layer. Install it with [`ContractLayer::filtered`] so that it sees only what it handles.
#[derive(Clone)]
pub(crate) struct ContractLayer {
    shared: Arc<Shared>,
}

impl ContractLayer {
    pub(crate) fn new(shared: Shared) -> Self {
        Self {
            shared: Arc::new(shared),
        }
    }

    /// The layer behind its per-callsite filter.
    pub(crate) fn filtered<S>(self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.with_filter(filter::filter_fn(interest))
    }
}

/// A governed span's state, in the span's extensions.
struct Governed {
    /// The call; its context is what children see: the caller's, with this span.
    cell: Arc<CallCell>,
    started: Stamp,
    /// The span to build when it ends, when the ids were drawn at its start.
    pending: Option<Pending>,
    /// The trace this call is the root of: its per-trace state goes when the call ends.
    root_trace: Option<TraceId>,
}

/// What building a governed span at its end needs.
struct Pending {
    parent_cx: Context,
    name: Cow<'static, str>,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    trace_id: TraceId,
    span_id: SpanId,
}

/// The governed calls entered on this thread, innermost last, each with the OpenTelemetry context
/// attached while it is entered.
struct Entered {
    id: Id,
    cell: Arc<CallCell>,
    _attached: ContextGuard,
}

thread_local! {
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

/// The call entered by hand, by a stream polled outside the call's span: see [`enter_call`].
pub(crate) struct CallEntered {
    id: Id,
}

/// Makes `cell` the current call on this thread until the guard drops, as entering its span
/// would: its context attached, and [`current_call`] answering it.
pub(crate) fn enter_call(cell: &Arc<CallCell>) -> CallEntered {
    let entered = Entered {
        id: cell.id.clone(),
        cell: cell.clone(),
        _attached: cell.cx.clone().attach(),
    };
    let _ = ENTERED.try_with(|stack| stack.borrow_mut().push(entered));
    CallEntered {
        id: cell.id.clone(),
    }
}

impl Drop for CallEntered {
    fn drop(&mut self) {
        let left = ENTERED.try_with(|stack| {
            let mut stack = stack.borrow_mut();
            let at = stack.iter().rposition(|e| e.id == self.id)?;
            Some(stack.remove(at))
        });
        drop(left);
    }
}

/// The innermost governed call entered on this thread.
pub(crate) fn current_call() -> Option<Arc<CallCell>> {
    ENTERED
        .try_with(|entered| entered.borrow().last().map(|e| e.cell.clone()))
        .ok()
        .flatten()
}

/// The fields of a governed span the layer reads by name; the rest become attributes as they are.
/// The values it repeats on every call are interned, and `otel.name` is kept only when it differs
/// from the callsite's static name, so a governed span with literal names allocates no strings.
#[derive(Default)]
struct Fields {
    name: Option<String>,
    operation: Option<Operation>,
    model: Option<StringValue>,
    provider: Option<StringValue>,
    subject: Option<StringValue>,
    /// The call can return a `govops::Violation` as its error (the macro says so).
    deniable: bool,
    /// Some arguments were not recorded (`skip`, `skip_all`): calls cannot be told apart.
    arguments_partial: bool,
    /// `max_tokens = ..` of the macro: the most output the call may produce.
    max_tokens: Option<u64>,
    /// `prompt = ..` of the macro: the prompt's estimated tokens.
    prompt_tokens: Option<u64>,
    /// What the content scan found in the prompt.
    prompt_found: Findings,
    /// The prompt, kept when the policy captures content.
    prompt_text: Option<String>,
    /// What the audit record needs from the span's fields, when an audit log is kept.
    audit: Option<Box<AuditCall>>,
    /// The fields that follow `govops.arguments`: the function's arguments.
    in_arguments: bool,
    arguments: Vec<KeyValue>,
    rest: Vec<KeyValue>,
}

impl Fields {
    fn known(&mut self, name: &str) -> Option<&mut Option<StringValue>> {
        match name {
            attr::REQUEST_MODEL => Some(&mut self.model),
            attr::PROVIDER_NAME => Some(&mut self.provider),
            attr::TOOL_NAME | attr::AGENT_NAME | "govops.name" => Some(&mut self.subject),
            _ => None,
        }
    }

    fn other(&mut self, field: &Field, value: impl Into<Value>) {
        let kv = KeyValue::new(Key::from_static_str(field.name()), value);
        if self.in_arguments {
            self.arguments.push(kv);
        } else {
            self.rest.push(kv);
        }
    }
}

/// The static name of the span being visited, to tell a redundant `otel.name` apart; the
/// content scan and whether content is captured, for the prompt.
struct Visiting<'a> {
    static_name: &'static str,
    scan: Scan,
    capture: bool,
    fields: &'a mut Fields,
}

impl Visiting<'_> {
    /// The audit record's part of the fields, when an audit log is kept.
    fn audit(&mut self) -> Option<&mut AuditCall> {
        self.fields.audit.as_deref_mut()
    }
}

impl Visit for Visiting<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            MARKER => {}
            "otel.name" => {
                if value != self.static_name {
                    self.fields.name = Some(value.to_owned());
                }
            }
            attr::OPERATION_NAME => self.fields.operation = Operation::from_name(value),
            PROMPT => {
                // One scan: what it finds decides the call, and what it leaves is all that any
                // sink (the span, the audit log, its hash) ever gets of the prompt.
                let mut found = Findings::default();
                let clean = self
                    .scan
                    .enabled()
                    .then(|| self.scan.text(value, &mut found))
                    .flatten();
                self.fields.prompt_found = found;
                let clean = clean.map_or(Cow::Borrowed(value), Cow::Owned);
                if self.capture {
                    self.fields.prompt_text = Some(clean.clone().into_owned());
                }
                let capture = self.capture;
                if let Some(audit) = self.audit() {
                    audit.prompt_sha256 = Some(sha256_hex(clean.as_bytes()));
                    if capture {
                        audit.prompt = Some(clean.into_owned());
                    }
                }
            }
            name => match self.fields.known(name) {
                Some(slot) => *slot = Some(intern(value)),
                None => self.fields.other(field, value.to_owned()),
            },
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            MARKER => {}
            "otel.name" => {
                let name = format!("{value:?}");
                if name != self.static_name {
                    self.fields.name = Some(name);
                }
            }
            attr::OPERATION_NAME => {
                self.fields.operation = Operation::from_name(&format!("{value:?}"));
            }
            name => match self.fields.known(name) {
                Some(slot) => *slot = Some(intern_debug(value)),
                None => self.fields.other(field, format!("{value:?}")),
            },
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        match field.name() {
            attr::REQUEST_MAX_TOKENS => self.fields.max_tokens = u64::try_from(value).ok(),
            attr::REQUEST_SEED => {
                if let Some(audit) = self.audit() {
                    audit.seed = Some(value);
                }
            }
            "govops.prompt.estimated_tokens" => {
                self.fields.prompt_tokens = u64::try_from(value).ok();
            }
            _ => {}
        }
        self.fields.other(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            attr::REQUEST_MAX_TOKENS => self.fields.max_tokens = Some(value),
            attr::REQUEST_SEED => {
                if let Some(audit) = self.audit() {
                    audit.seed = i64::try_from(value).ok();
                }
            }
            _ => {}
        }
        match i64::try_from(value) {
            Ok(value) => self.fields.other(field, value),
            Err(_) => self.fields.other(field, value.to_string()),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        match (field.name(), self.audit()) {
            (attr::REQUEST_TEMPERATURE, Some(audit)) => audit.temperature = Some(value),
            (attr::REQUEST_TOP_P, Some(audit)) => audit.top_p = Some(value),
            _ => {}
        }
        self.fields.other(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "govops.deniable" {
            self.fields.deniable = value;
        } else if field.name() == "govops.arguments_partial" {
            self.fields.arguments_partial = value;
        } else if field.name() == ARGUMENTS {
            self.fields.in_arguments = true;
        } else {
            self.fields.other(field, value);
        }
    }
}

/// The error an `ERROR` event inside a governed call describes: its `error` field, else its message.
#[derive(Default)]
struct ErrorText(Option<String>);

impl Visit for ErrorText {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "error" || (field.name() == "message" && self.0.is_none()) {
            self.0 = Some(format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "error" || (field.name() == "message" && self.0.is_none()) {
            self.0 = Some(value.to_owned());
        }
    }
}

/// The macro's field holding the prompt passed for inspection; never exported as it is.
pub(crate) const PROMPT: &str = "govops.prompt";
/// The macro's marker before the function's arguments.
pub(crate) const ARGUMENTS: &str = "govops.arguments";

/// Whether an argument's recorded value cannot hold message content: a number, a boolean, or the
/// `Debug` form of one (`42`, `-1.5e3`, `true`) or of a unit value (`High`, `None`).
pub(crate) fn is_scalar(value: &Value) -> bool {
    match value {
        Value::I64(_) | Value::F64(_) | Value::Bool(_) => true,
        Value::String(s) => is_scalar_text(s.as_str()),
        _ => false,
    }
}

/// [`is_scalar`] of a value's `Debug` text.
pub(crate) fn is_scalar_text(s: &str) -> bool {
    let number = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'-')
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'_' | b'e' | b'E'));
    let unit = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':'));
    number || unit
}

/// Message content in the semantic conventions' JSON form: one message of `role` with one text
/// part.
pub(crate) fn messages_json(role: &str, text: &str, finish_reason: Option<&str>) -> String {
    let mut message = serde_json::json!({
        "role": role,
        "parts": [{"type": "text", "content": text}],
    });
    if let Some(reason) = finish_reason {
        message["finish_reason"] = serde_json::Value::from(reason);
    }
    serde_json::Value::Array(vec![message]).to_string()
}

/// The caller's id from the context's baggage, or `"unknown"`.
fn caller_id(cx: &Context, key: &'static str) -> (StringValue, bool) {
    match cx.baggage().get(key) {
        Some(s) if !s.as_str().trim().is_empty() => (s.clone(), true),
        _ => (StringValue::from(UNKNOWN), false),
    }
}

impl<S> Layer<S> for ContractLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let meta = attrs.metadata();
        if !is_governed(meta) {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let shared = &*self.shared;
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
        let operation = fields.operation.unwrap_or(Operation::InvokeWorkflow);
        let parent_cx = Context::current();
        let (session, session_known) = caller_id(&parent_cx, SESSION_ID);
        let (user, user_known) = caller_id(&parent_cx, USER_ID);
        let (model, provider, subject) = (fields.model, fields.provider, fields.subject);

        let mut name: Cow<'static, str> = match fields.name {
            Some(name) => Cow::Owned(name),
            None => Cow::Borrowed(meta.name()),
        };
        // Room for what settlement usually adds, so that the span's attributes do not grow again;
        // no more, since a vector past 1 KiB misses the allocator's per-thread cache and this one
        // is freed on the exporter's thread.
        let settled = if operation.is_model() { 10 } else { 4 };
        let mut attributes = Vec::with_capacity(8 + settled + fields.rest.len());
        attributes.extend([
            KeyValue::new(attr::CONTRACT_VERSION, CONTRACT_VERSION),
            KeyValue::new(attr::OPERATION_NAME, operation.name()),
            KeyValue::new(attr::SESSION_ID, session.clone()),
            KeyValue::new(attr::USER_ID, user.clone()),
            KeyValue::new("service.name", shared.service.clone()),
            KeyValue::new("deployment.environment.name", shared.environment.clone()),
        ]);
        if let Some(model) = &model {
            attributes.push(KeyValue::new(attr::REQUEST_MODEL, model.clone()));
        }
        if let Some(provider) = &provider {
            attributes.push(KeyValue::new(attr::PROVIDER_NAME, provider.clone()));
        }
        if let Some(subject) = &subject {
            match operation {
                Operation::ExecuteTool => {
                    attributes.push(KeyValue::new(attr::TOOL_NAME, subject.clone()))
                }
                Operation::InvokeAgent => {
                    attributes.push(KeyValue::new(attr::AGENT_NAME, subject.clone()))
                }
                _ => attributes.push(KeyValue::new("govops.name", subject.clone())),
            }
        }
        let call = if operation != Operation::ExecuteTool {
            0
        } else if fields.arguments_partial {
            // Unknown arguments: a value no other call shares, so no call counts as a repeat.
            static UNIQUE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) | (1 << 63)
        } else {
            call_hash(
                subject.as_ref(),
                fields.rest.iter().chain(&fields.arguments),
            )
        };
        attributes.append(&mut fields.rest);
        crate::capture::arguments_into(
            operation,
            capture,
            fields.arguments,
            fields.prompt_text.as_deref(),
            &mut attributes,
        );
        // The span's own strings are redacted here rather than at export, so that the decision,
        // the metrics and the rules all know what was found (and export need not look again).
        let mut in_attributes = Findings::default();
        if scan.enabled() {
            in_attributes = crate::redact::redact_attributes(scan, &mut attributes);
            // A static name is the program's own text; a name made at run time may hold content.
            if let Cow::Owned(owned) = &name
                && let Some(clean) = scan.text(owned, &mut in_attributes)
            {
                name = Cow::Owned(clean);
            }
        }

        let started = shared.clock.now();
        let kind = if operation.is_model() {
            SpanKind::Client
        } else {
            SpanKind::Internal
        };
        let has_parent = parent_cx.span().span_context().is_valid();
        let deferred = shared.ids.as_ref().filter(|_| {
            if has_parent {
                shared.defer_children
            } else {
                shared.defer_roots
            }
        });
        let (cx, pending) = match deferred {
            Some(ids) => {
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
            None => {
                let builder = shared
                    .tracer
                    .span_builder(name)
                    .with_kind(kind)
                    .with_start_time(started.wall)
                    .with_attributes(attributes);
                let otel_span = shared.tracer.build_with_context(builder, &parent_cx);
                (parent_cx.with_span(otel_span), None)
            }
        };

        let identity = Identity {
            operation,
            model,
            provider,
            subject,
            session,
            user,
            session_known,
            user_known,
        };
        let trace = cx.span().span_context().trace_id();
        let checks = Prechecks {
            policy: &shared.policy,
            environment: shared.deployment,
            prices: &shared.prices,
            loops: &shared.loops,
            prod: shared.prod,
        };
        // Every check at open that trips is kept; the first that denies decides the call.
        let mut prechecked: Vec<Tripped> = Vec::new();
        checks.run(&identity, trace, call, fields.deniable, &mut prechecked);
        // A model that drifts now: known before the call, so that `deny` can keep it from running.
        if identity.operation.is_model()
            && let (Some(drift), Some(model)) = (&shared.drift, &identity.model)
            && let Some(decision) = shared.policy.guards.model_drift.decision()
        {
            let provider = identity.provider.as_ref().map_or("", StringValue::as_str);
            if drift.drifting(model.as_str(), provider)
                && let Some(now) = drift.current(model.as_str(), provider)
            {
                let trial = decision == Decision::Deny
                    && fields.deniable
                    && shared
                        .drift_denials
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        % DRIFT_TRIAL_EVERY
                        == DRIFT_TRIAL_EVERY - 1;
                let mut figures = drift_figures(&now);
                if trial {
                    figures.push(KeyValue::new("govops.drift.trial", true));
                }
                prechecked.push(Tripped {
                    violation: Violation::ModelDrift,
                    figures,
                    decision: if trial {
                        Decision::Flag
                    } else {
                        for_call(decision, fields.deniable)
                    },
                });
            }
        }
        // The context window, before the call, when the prompt's size is declared.
        if let Some(prompt) = fields.prompt_tokens {
            prechecked.extend(self.window_before(&identity, prompt, fields.deniable));
        }
        // Content the policy denies stops the call here: in the prompt passed for inspection, or
        // in what the span itself will carry (a name, a field), which export would redact.
        for (found, source) in [
            (fields.prompt_found, "prompt"),
            (in_attributes, "attributes"),
        ] {
            for (violation, action) in scan.raised(found) {
                if let Some(decision) = action.decision()
                    && !prechecked.iter().any(|t| t.violation == violation)
                {
                    prechecked.push(Tripped {
                        violation,
                        figures: vec![KeyValue::new("govops.found_in", source)],
                        decision: for_call(decision, fields.deniable),
                    });
                }
            }
        }
        // Every call that will run is charged to its budgets, flagged or not; only a denied one
        // is not.
        let mut reservation = None;
        if !prechecked.iter().any(|t| t.decision == Decision::Deny) {
            let estimate = (fields.prompt_tokens, fields.max_tokens, fields.deniable);
            let (reserved, tripped) = self.reserve(&identity, trace, estimate, started.wall);
            reservation = reserved;
            prechecked.extend(tripped);
        }
        let cell = Arc::new(CallCell::new(
            identity,
            id.clone(),
            cx,
            prechecked,
            (scan, capture, fields.audit.take()),
        ));
        if reservation.is_some() {
            cell.set_reservation(reservation);
        }
        span.extensions_mut().insert(Governed {
            root_trace: (!has_parent).then_some(trace),
            cell,
            started,
            pending,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Fields::default();
        let scan = Scan::new(&self.shared.policy.guards);
        values.record(&mut Visiting {
            static_name: span.metadata().name(),
            scan,
            capture: self.shared.capture,
            fields: &mut fields,
        });
        let mut extensions = span.extensions_mut();
        let Some(governed) = extensions.get_mut::<Governed>() else {
            return;
        };
        if scan.enabled() {
            let mut found = crate::redact::redact_attributes(scan, &mut fields.rest);
            if let Some(name) = &mut fields.name
                && let Some(clean) = scan.text(name, &mut found)
            {
                *name = clean;
            }
            governed.cell.inspected(found, "attributes");
        }
        match &mut governed.pending {
            Some(pending) => {
                if let Some(name) = fields.name {
                    pending.name = Cow::Owned(name);
                }
                pending.attributes.append(&mut fields.rest);
            }
            None => {
                let otel = governed.cell.cx.span();
                if let Some(name) = fields.name {
                    otel.update_name(name);
                }
                otel.set_attributes(fields.rest);
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let extensions = span.extensions();
        let Some(governed) = extensions.get::<Governed>() else {
            return;
        };
        let entered = Entered {
            id: id.clone(),
            cell: governed.cell.clone(),
            _attached: governed.cell.cx.clone().attach(),
        };
        drop(extensions);
        let _ = ENTERED.try_with(|stack| stack.borrow_mut().push(entered));
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        let left = ENTERED.try_with(|stack| {
            let mut stack = stack.borrow_mut();
            let at = stack.iter().rposition(|e| e.id == *id)?;
            Some(stack.remove(at))
        });
        // Detach outside the borrow: dropping the guard may run other code.
        drop(left);
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        // Only an error reported by the call itself fails it (`err` emits one): an error a
        // helper logged and recovered from, deeper in the call, does not.
        let direct = match event.parent() {
            Some(parent) => Some(parent.clone()),
            None if event.is_contextual() => ctx.current_span().id().cloned(),
            None => None,
        };
        let Some(span) = direct.and_then(|id| ctx.span(&id)) else {
            return;
        };
        let extensions = span.extensions();
        let Some(governed) = extensions.get::<Governed>() else {
            return;
        };
        let mut text = ErrorText::default();
        event.record(&mut text);
        governed
            .cell
            .fail(text.0.unwrap_or_else(|| event.metadata().name().to_owned()));
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(governed) = span.extensions_mut().remove::<Governed>() else {
            return;
        };
        self.settle(governed);
    }
}

impl ContractLayer {
    /// `context_overflow` before a model call whose prompt is declared (`prompt = ..`): the
    /// estimate against the model's window, as the policy's threshold says.
    fn window_before(&self, identity: &Identity, prompt: u64, deniable: bool) -> Option<Tripped> {
        let shared = &*self.shared;
        if !identity.operation.is_model() {
            return None;
        }
        let max_input = identity
            .prices(&shared.prices)
            .and_then(|p| p.max_input_tokens());
        let usage = Usage {
            input: prompt,
            // Only the window matters before the call: no output to weigh waste against yet.
            output: prompt,
            ..Usage::default()
        };
        let trip = shared
            .policy
            .check_usage(false, &usage, max_input)
            .into_iter()
            .find(|t| t.violation == Violation::ContextOverflow)?;
        let decision = for_call(shared.policy.guards.context_overflow.decision()?, deniable);
        let (violation, mut figures) = figures(trip);
        figures.push(KeyValue::new("govops.estimated", true));
        Some(Tripped {
            violation,
            figures,
            decision,
        })
    }

    /// Reserves a model call's worst case on the budgets it is charged to; a budget it would pass
    /// trips `budget_exceeded`.
    fn reserve(
        &self,
        identity: &Identity,
        trace: TraceId,
        (prompt_tokens, max_tokens, deniable): (Option<u64>, Option<u64>, bool),
        at: std::time::SystemTime,
    ) -> (Option<Reservation>, Option<Tripped>) {
        let shared = &*self.shared;
        let guards = &shared.policy.guards;
        let budgets = &shared.policy.rules(shared.deployment).budgets;
        let any = budgets.request_usd.is_some()
            || budgets.session_usd.is_some()
            || budgets.user_usd.is_some()
            || budgets.cost_center_usd_per_day.is_some();
        if !any || guards.budget == Action::Off || !identity.operation.is_model() {
            return (None, None);
        }
        let worst = identity
            .prices(&shared.prices)
            .and_then(|prices| {
                let usage = Usage {
                    input: prompt_tokens.unwrap_or(0),
                    output: max_tokens.unwrap_or(0),
                    ..Usage::default()
                };
                match shared
                    .prices
                    .price_found(prices, &usage, ServiceTier::Standard)
                {
                    Ok(Pricing::Priced(cost)) => Some(cost.total_usd),
                    _ => None,
                }
            })
            .unwrap_or_default();
        // The request's key only when a request budget needs one: no formatting otherwise.
        let request = budgets.request_usd.map(|_| RequestKey::new(trace));
        let charge = Charge {
            request: request.as_ref().map(RequestKey::as_str),
            session: identity.session_known.then(|| identity.session.as_str()),
            user: identity.user_known.then(|| identity.user.as_str()),
            cost_center: Some(shared.cost_center.as_str()),
        };
        let day = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        match shared.budgets.reserve(budgets, &charge, worst, day) {
            Ok(reservation) => (Some(reservation), None),
            Err(exceeded) => {
                let decision =
                    for_call(guards.budget.decision().unwrap_or(Decision::Flag), deniable);
                // A call that runs anyway is still charged.
                let reservation = (decision != Decision::Deny)
                    .then(|| shared.budgets.reserve_anyway(budgets, &charge, worst, day));
                let tripped = Tripped {
                    violation: Violation::BudgetExceeded,
                    figures: budget_figures(&exceeded),
                    decision,
                };
                (reservation, Some(tripped))
            }
        }
    }

    /// Everything known at the end of the call: usage, cost, latency, decision, violations; then
    /// the span ends and the metrics are recorded.
    fn settle(&self, governed: Governed) {
        let shared = &*self.shared;
        if let Some(trace) = governed.root_trace {
            shared.loops.release(u128::from_be_bytes(trace.to_bytes()));
        }
        let ended = shared.clock.after(&governed.started);
        let latency = ended.since(&governed.started);
        let identity = &governed.cell.identity;
        let mut state = governed.cell.take();
        // After a failover the provider (and maybe the model) that served the call is priced,
        // measured and followed for drift; the request model stays what the call asked for.
        let served = state.served.take();
        let provider = served
            .as_ref()
            .map(|s| s.provider.clone())
            .or_else(|| identity.provider.clone());
        let priced_model = served
            .as_ref()
            .and_then(|s| s.model.clone())
            .or_else(|| identity.model.clone());
        if state.response_model.is_none()
            && let Some(model) = served.as_ref().and_then(|s| s.model.as_ref())
        {
            state.response_model = Some(model.as_str().to_owned());
        }
        let mut violations = state.violations;
        let mut attributes = Settled::default();
        let mut trips: Vec<(Violation, Vec<KeyValue>)> = Vec::new();
        let mut events: Vec<(&'static str, Vec<KeyValue>)> = Vec::new();
        let mut cost_usd = None;
        // What budgets are charged when the call has no exact cost: never nothing.
        let mut budget_charge = None;

        let guards = &shared.policy.guards;
        // A violation the policy turns off is not raised at all, whoever raised it.
        violations = violations
            .iter()
            .filter(|v| guards.action(*v) != Action::Off)
            .fold(Violations::new(), |mut kept, v| {
                kept.raise(v);
                kept
            });
        // What tripped at open decides as it decided then (a call that could not be denied ran
        // and is flagged).
        let mut decided_at_open: Vec<(Violation, Decision)> = Vec::new();
        for tripped in std::mem::take(&mut state.prechecked) {
            violations.raise(tripped.violation);
            decided_at_open.push((tripped.violation, tripped.decision));
            trips.push((tripped.violation, tripped.figures));
        }
        let trip = |violations: &mut Violations,
                    trips: &mut Vec<(Violation, Vec<KeyValue>)>,
                    violation: Violation,
                    figures: Vec<KeyValue>| {
            if guards.action(violation) != Action::Off {
                violations.raise(violation);
                trips.push((violation, figures));
            }
        };
        // Once a call, whichever content found it first (the prompt at open, say); the error's
        // text is exported as the span's status, so it is looked at too.
        let mut content = std::mem::take(&mut state.content);
        let scan = Scan::new(guards);
        if scan.enabled() {
            // What settlement adds to the span, redacted as the open's strings were.
            let mut redact = |text: &mut String, source: &'static str| {
                let mut found = Findings::default();
                if let Some(clean) = scan.text(text, &mut found) {
                    *text = clean;
                    content.extend(scan.raised(found).map(|(v, _)| (v, source)));
                }
            };
            for text in state
                .response_model
                .iter_mut()
                .chain(state.finish_reasons.iter_mut())
                .chain(state.output.iter_mut())
            {
                redact(text, "response");
            }
            if let Some(error) = &mut state.error {
                redact(error, "error");
            }
        }
        for (violation, source) in content {
            if !violations.contains(violation) {
                let figures = vec![KeyValue::new("govops.found_in", source)];
                trip(&mut violations, &mut trips, violation, figures);
            }
        }

        if identity.operation.is_model() {
            let model = priced_model.as_ref().map(StringValue::as_str);
            let prices = model.and_then(|m| {
                shared
                    .prices
                    .lookup(m, provider.as_ref().map(StringValue::as_str))
            });
            if let Some(usage) = &state.usage {
                attributes.push(KeyValue::new(attr::INPUT_TOKENS, clamp(usage.input)));
                attributes.push(KeyValue::new(attr::OUTPUT_TOKENS, clamp(usage.output)));
                if usage.cache_read > 0 {
                    attributes.push(KeyValue::new(
                        attr::CACHE_READ_TOKENS,
                        clamp(usage.cache_read),
                    ));
                }
                let creation = usage.cache_creation.saturating_add(usage.cache_creation_1h);
                if creation > 0 {
                    attributes.push(KeyValue::new(attr::CACHE_CREATION_TOKENS, clamp(creation)));
                }
                if usage.reasoning > 0 {
                    attributes.push(KeyValue::new(
                        attr::REASONING_TOKENS,
                        clamp(usage.reasoning),
                    ));
                }
                if let Some(max) = prices.and_then(|p| p.max_input_tokens()).filter(|&m| m > 0) {
                    #[allow(clippy::cast_precision_loss)] // a ratio, written as a double
                    let utilization = usage.input as f64 / max as f64;
                    attributes.push(KeyValue::new(attr::CONTEXT_UTILIZATION, utilization));
                }
                let generates = matches!(
                    identity.operation,
                    Operation::Chat | Operation::TextCompletion
                );
                let max_input = prices.and_then(|p| p.max_input_tokens());
                for tripped in shared.policy.check_usage(generates, usage, max_input) {
                    let (violation, figures) = figures(tripped);
                    trip(&mut violations, &mut trips, violation, figures);
                }
                let priced = match prices {
                    Some(found) => {
                        Some(shared.prices.price_found(found, usage, state.service_tier))
                    }
                    None if model.is_some() => Some(Ok(Pricing::Unpriced(Unpriced::UnknownModel))),
                    None => None,
                };
                match priced {
                    Some(Ok(Pricing::Priced(cost))) => cost_usd = Some(cost.total_usd),
                    Some(Ok(Pricing::Unpriced(why))) => trip(
                        &mut violations,
                        &mut trips,
                        Violation::UnpricedModel,
                        vec![KeyValue::new("govops.reason", why.to_string())],
                    ),
                    Some(Err(rejected)) => {
                        // No exact cost (usage that contradicts itself, or a cost a Decimal
                        // cannot hold): unpriced and flagged, and its budgets are charged the
                        // nearest figure, so that the call is never free.
                        budget_charge = prices.map(|p| p.cost_bound(usage, state.service_tier));
                        let reason = vec![KeyValue::new("govops.reason", rejected.to_string())];
                        events.push(("govops.usage.rejected", reason.clone()));
                        trip(
                            &mut violations,
                            &mut trips,
                            Violation::UnpricedModel,
                            reason,
                        );
                    }
                    None => {}
                }
            } else if prices.is_none() {
                trip(
                    &mut violations,
                    &mut trips,
                    Violation::UnpricedModel,
                    vec![KeyValue::new(
                        "govops.reason",
                        "the model is not in the price table",
                    )],
                );
            }
            if let Some(cost) = cost_usd {
                attributes.push(KeyValue::new(
                    attr::COST_TOTAL_USD,
                    cost.to_f64().unwrap_or(f64::NAN),
                ));
            }
            if let Some(output) = &state.output {
                let finish = state.finish_reasons.first().map(String::as_str);
                attributes.push(KeyValue::new(
                    attr::OUTPUT_MESSAGES,
                    messages_json("assistant", output, finish),
                ));
            }
            if let Some(model) = &state.response_model {
                // Kept in the state for the audit record.
                attributes.push(KeyValue::new(attr::RESPONSE_MODEL, model.clone()));
            }
            if !state.finish_reasons.is_empty() {
                let reasons = std::mem::take(&mut state.finish_reasons)
                    .into_iter()
                    .map(StringValue::from);
                attributes.push(KeyValue::new(
                    attr::FINISH_REASONS,
                    Value::Array(Array::String(reasons.collect())),
                ));
            }
        }

        // Charged in full as soon as the cost is known: a budget its real cost passed is one of
        // the call's violations, seen by the policy's rules, and flags it (it has run); the next
        // call's reservation is refused.
        if let Some(reservation) = state.reservation.take()
            && let Some(passed) = shared
                .budgets
                .settle(reservation, cost_usd.or(budget_charge))
            && !violations.contains(Violation::BudgetExceeded)
            && guards.action(Violation::BudgetExceeded) != Action::Off
        {
            decided_at_open.push((Violation::BudgetExceeded, Decision::Flag));
            trip(
                &mut violations,
                &mut trips,
                Violation::BudgetExceeded,
                budget_figures(&passed),
            );
        }

        // Drift of the model that served the call, from what it did (a denied call did nothing).
        let mut drift_score = None;
        if identity.operation.is_model()
            && governed.cell.denied.is_none()
            && let (Some(drift), Some(model)) = (&shared.drift, &priced_model)
        {
            let observation = Observation {
                latency,
                output_tokens: state.usage.map(|u| u.output),
                success: state.error.is_none(),
                cost_usd,
            };
            let provider = provider.as_ref().map_or("", StringValue::as_str);
            if let Some(update) = drift.observe(model.as_str(), provider, &observation) {
                drift_score = (!update.warming_up).then_some(update.score);
                if update.drifting && !violations.contains(Violation::ModelDrift) {
                    trip(
                        &mut violations,
                        &mut trips,
                        Violation::ModelDrift,
                        drift_figures(&update),
                    );
                }
            }
        }

        // The policy's own rules, over a document describing the call.
        let mut rules_decision = None;
        if let Some(rego) = &shared.policy.rego {
            let subject_if = |op: Operation| {
                (identity.operation == op)
                    .then(|| identity.subject.as_ref().map(StringValue::as_str))
                    .flatten()
            };
            let mut input = CallInput::new(identity.operation.name(), shared.deployment.as_str());
            input.model = identity.model.as_ref().map(StringValue::as_str);
            input.provider = provider.as_ref().map(StringValue::as_str);
            input.tool = subject_if(Operation::ExecuteTool);
            input.agent = subject_if(Operation::InvokeAgent);
            input.service = Some(shared.service.as_str());
            input.cost_center = Some(shared.cost_center.as_str());
            input.session = identity.session_known.then(|| identity.session.as_str());
            input.user = identity.user_known.then(|| identity.user.as_str());
            input.usage = state.usage.as_ref().map(UsageInput::from);
            input.cost_usd = cost_usd.and_then(|c| c.to_f64());
            input.violations = violations.iter().map(Violation::code).collect();
            match rego.evaluate_call(&input) {
                Ok(verdict) => {
                    for violation in verdict.violations {
                        trip(
                            &mut violations,
                            &mut trips,
                            violation,
                            vec![KeyValue::new("govops.rule", rego.name().to_owned())],
                        );
                    }
                    rules_decision = verdict.decision;
                    for problem in verdict.problems {
                        events.push((
                            "govops.rego.error",
                            vec![
                                KeyValue::new("govops.rule", rego.name().to_owned()),
                                KeyValue::new("govops.reason", problem),
                            ],
                        ));
                    }
                }
                Err(error) => {
                    // The rules could not decide (a failure, a limit of time or depth): the call
                    // is decided as `[guards.policy_rule_failed]` says, never left undecided.
                    trip(
                        &mut violations,
                        &mut trips,
                        Violation::PolicyRuleFailed,
                        vec![KeyValue::new("govops.rule", rego.name().to_owned())],
                    );
                    events.push((
                        "govops.rego.error",
                        vec![
                            KeyValue::new("govops.rule", rego.name().to_owned()),
                            KeyValue::new("govops.reason", error),
                        ],
                    ));
                }
            }
        }

        let decision = violations
            .iter()
            .filter_map(|v| {
                decided_at_open
                    .iter()
                    .filter(|(at_open, _)| *at_open == v)
                    .map(|(_, decided)| *decided)
                    .max()
                    .or_else(|| guards.action(v).decision())
            })
            .chain(rules_decision)
            .max()
            .unwrap_or(Decision::Allow);
        attributes.push(KeyValue::new(attr::POLICY_DECISION, decision.as_str()));
        attributes.push(KeyValue::new(
            attr::SAFETY_VIOLATIONS,
            Value::Array(Array::String(
                violations
                    .iter()
                    .map(|v| StringValue::from(v.code()))
                    .collect(),
            )),
        ));
        attributes.push(KeyValue::new(attr::LATENCY_MS, latency.as_secs_f64() * 1e3));
        if state.error.is_some() {
            attributes.push(KeyValue::new(attr::ERROR_TYPE, "_OTHER"));
        }
        // A tool's result (kept, redacted, only when content is captured), when it succeeded.
        if identity.operation == Operation::ExecuteTool
            && state.error.is_none()
            && let Some(result) = &state.output
        {
            attributes.push(KeyValue::new(
                attr::TOOL_CALL_RESULT,
                crate::capture::json_text(result).to_string(),
            ));
        }

        // The audit record keeps the trip's figures as the span event gives them.
        let drift_trip = shared
            .audit
            .as_ref()
            .and_then(|_| trips.iter().find(|(v, _)| *v == Violation::ModelDrift))
            .map(|(_, figures)| drift_trip(figures));
        for (violation, mut figures) in trips {
            figures.insert(0, KeyValue::new("govops.violation", violation.code()));
            events.push((event::GUARD_TRIPPED, figures));
        }
        for moved in &state.moves {
            events.push((event::FAILOVER, crate::failover::move_attributes(moved)));
        }
        if let Some(served) = &served {
            attributes.push(KeyValue::new(attr::PROVIDER_NAME, served.provider.clone()));
        }
        // After its own settlement: the request's account goes with its root.
        if let Some(trace) = governed.root_trace
            && shared
                .policy
                .rules(shared.deployment)
                .budgets
                .request_usd
                .is_some()
        {
            shared.budgets.end_request(RequestKey::new(trace).as_str());
        }
        if let Some(log) = &shared.audit {
            let record = Audited {
                cell: &governed.cell,
                state: &state,
                provider: provider.as_ref(),
                cost_usd,
                latency,
                decision,
                violations: &violations,
                drift: drift_trip,
                ended: ended.wall,
            }
            .record(scan);
            // The writer thread seals and writes it; an error here means the log was shut down.
            let _ = log.append(record);
        }
        let status = state.error.map(Status::error);
        match governed.pending {
            Some(pending) => {
                let mut all = pending.attributes;
                if served.is_some() {
                    // The declared provider gives way to the one that served the call.
                    all.retain(|kv| kv.key.as_str() != attr::PROVIDER_NAME);
                }
                all.extend(attributes.drain());
                let builder = shared
                    .tracer
                    .span_builder(pending.name)
                    .with_kind(pending.kind)
                    .with_start_time(governed.started.wall)
                    .with_attributes(all);
                let mut span = with_preset(pending.trace_id, pending.span_id, || {
                    shared
                        .tracer
                        .build_with_context(builder, &pending.parent_cx)
                });
                for (name, figures) in events {
                    span.add_event_with_timestamp(name, ended.wall, figures);
                }
                if let Some(status) = status {
                    span.set_status(status);
                }
                span.end_with_timestamp(ended.wall);
            }
            None => {
                let otel = governed.cell.cx.span();
                for (name, figures) in events {
                    otel.add_event_with_timestamp(name, ended.wall, figures);
                }
                otel.set_attributes(attributes.drain());
                if let Some(status) = status {
                    otel.set_status(status);
                }
                otel.end_with_timestamp(ended.wall);
            }
        }

        if let Some(instruments) = &shared.instruments {
            instruments.record(
                shared,
                &Recorded {
                    operation: identity.operation,
                    decision,
                    provider: provider.as_ref(),
                    model: priced_model.as_ref(),
                    usage: &state.usage,
                    cost_usd,
                    latency,
                    violations: &violations,
                    drift: drift_score,
                    moves: &state.moves,
                    readiness: &state.readiness,
                },
            );
        }
    }
}

/// What a call's audit record is made of, at its settlement.
struct Audited<'a> {
    cell: &'a CallCell,
    state: &'a crate::call::CallState,
    provider: Option<&'a StringValue>,
    cost_usd: Option<rust_decimal::Decimal>,
    latency: std::time::Duration,
    decision: Decision,
    violations: &'a Violations,
    drift: Option<DriftTrip>,
    ended: std::time::SystemTime,
}

impl Audited<'_> {
    /// The record: the contract's fields as the span carries them (ids redacted as the span's
    /// are), the exact cost, the model parameters and content hashes; content only when it is
    /// captured. Content and hashes are of the text as redacted when it was recorded
    /// (`govops.prompt` at open, `Call::record_output`), so the chained log never holds a
    /// secret it could not drop. The writer adds the metadata, the configuration's fingerprint and
    /// the chain.
    fn record(self, scan: Scan) -> AuditRecord {
        let identity = &self.cell.identity;
        let state = self.state;
        let text = |value: &StringValue| {
            let mut found = Findings::default();
            if scan.enabled() {
                scan.text(value.as_str(), &mut found)
                    .unwrap_or_else(|| value.as_str().to_owned())
            } else {
                value.as_str().to_owned()
            }
        };
        let context = self.cell.cx.span().span_context().clone();
        let usage = state.usage.as_ref();
        let subject = |op: Operation| {
            (identity.operation == op)
                .then(|| identity.subject.as_ref().map(&text))
                .flatten()
        };
        let audit = self.cell.audit.as_deref();
        let content = self.cell.capture.then(|| Content {
            prompt: audit.and_then(|a| a.prompt.clone()),
            response: state.output.clone(),
        });
        AuditRecord {
            timestamp: Some(Timestamp::from_system_time(self.ended)),
            trace_id: context.is_valid().then(|| context.trace_id().to_string()),
            span_id: context.is_valid().then(|| context.span_id().to_string()),
            session_id: Some(text(&identity.session)),
            user_id: Some(text(&identity.user)),
            operation: Some(identity.operation.name().to_owned()),
            request_model: identity.model.as_ref().map(&text),
            response_model: state.response_model.clone(),
            provider: self.provider.map(&text),
            tool_name: subject(Operation::ExecuteTool),
            agent_name: subject(Operation::InvokeAgent),
            input_tokens: usage.map(|u| u.input),
            output_tokens: usage.map(|u| u.output),
            cache_read_tokens: usage.map(|u| u.cache_read).filter(|&n| n > 0),
            cache_creation_tokens: usage
                .map(|u| u.cache_creation.saturating_add(u.cache_creation_1h))
                .filter(|&n| n > 0),
            reasoning_tokens: usage.map(|u| u.reasoning).filter(|&n| n > 0),
            cost_usd: self.cost_usd,
            latency_ms: Some(self.latency.as_secs_f64() * 1e3),
            decision: Some(self.decision),
            violations: self.violations.iter().collect(),
            error_type: state.error.as_ref().map(|_| "_OTHER".to_owned()),
            drift: self.drift,
            failovers: state
                .moves
                .iter()
                .map(|m| FailoverMove {
                    kind: m.kind.to_owned(),
                    from: m.from.as_str().to_owned(),
                    to: m.to.as_str().to_owned(),
                    reason: m.reason.to_owned(),
                })
                .collect(),
            temperature: audit.and_then(|a| a.temperature),
            top_p: audit.and_then(|a| a.top_p),
            seed: audit.and_then(|a| a.seed),
            max_tokens: audit.and_then(|a| a.max_tokens),
            prompt_sha256: audit.and_then(|a| a.prompt_sha256.clone()),
            response_sha256: state.response_sha256.clone(),
            content: content.filter(|c| c.prompt.is_some() || c.response.is_some()),
            ..AuditRecord::default()
        }
    }
}

/// A `model_drift` trip's figures: the score and the signals that moved, as `signal:direction`.
fn drift_figures(update: &govops_core::DriftUpdate) -> Vec<KeyValue> {
    let moved = update
        .moved()
        .map(|s| StringValue::from(format!("{}:{}", s.signal.name(), s.direction.name())))
        .collect();
    vec![
        KeyValue::new(attr::DRIFT_SCORE, update.score),
        KeyValue::new(attr::DRIFT_SIGNALS, Value::Array(Array::String(moved))),
    ]
}

/// A `model_drift` trip's figures ([`drift_figures`]) as the audit record holds them.
fn drift_trip(figures: &[KeyValue]) -> DriftTrip {
    let mut trip = DriftTrip::default();
    for kv in figures {
        match (kv.key.as_str(), &kv.value) {
            (attr::DRIFT_SCORE, Value::F64(score)) => trip.score = *score,
            (attr::DRIFT_SIGNALS, Value::Array(Array::String(signals))) => {
                trip.signals = signals.iter().map(|s| s.as_str().to_owned()).collect();
            }
            _ => {}
        }
    }
    trip
}

/// The figures of a budget a call would pass (before it runs) or passed (after).
fn budget_figures(exceeded: &Exceeded) -> Vec<KeyValue> {
    let usd = |d: rust_decimal::Decimal| d.normalize().to_string();
    vec![
        KeyValue::new("govops.budget.scope", exceeded.scope.as_str()),
        KeyValue::new("govops.budget.limit_usd", usd(exceeded.limit_usd)),
        KeyValue::new("govops.budget.spent_usd", usd(exceeded.spent_usd)),
        KeyValue::new("govops.budget.reserved_usd", usd(exceeded.reserved_usd)),
        KeyValue::new("govops.budget.call_usd", usd(exceeded.call_usd)),
    ]
}

/// The attributes settlement adds, on the stack: the span's own vector already has room for them.
#[derive(Default)]
struct Settled {
    slots: [Option<KeyValue>; SETTLED],
    len: usize,
}

impl Settled {
    fn push(&mut self, kv: KeyValue) {
        if let Some(slot) = self.slots.get_mut(self.len) {
            *slot = Some(kv);
            self.len += 1;
        }
    }

    fn drain(&mut self) -> impl Iterator<Item = KeyValue> + '_ {
        self.slots[..self.len].iter_mut().filter_map(Option::take)
    }
}

/// A request's budget key: its trace id in lower-case hex, as `TraceId` displays it, on the
/// stack.
struct RequestKey([u8; 32]);

impl RequestKey {
    fn new(trace: TraceId) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut key = [0_u8; 32];
        for (pair, byte) in key.chunks_exact_mut(2).zip(trace.to_bytes()) {
            pair.copy_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
        }
        RequestKey(key)
    }

    fn as_str(&self) -> &str {
        // Hex digits only: always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// A count as the `i64` OpenTelemetry carries.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The govops trace layers for a pipeline you build yourself: governed spans become
/// OpenTelemetry spans carrying the contract (and the section 5 metrics when `meter` is given);
/// every other span goes through `tracing-opentelemetry` to the same tracer provider. `init()`
/// installs these for you; use this only to bring your own OpenTelemetry providers. With a
/// provider built with [`SpanIds`], [`layer_with_ids`] is faster.
///
/// ```
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let config = govops_core::Config::from_env(&govops_core::EnvSource::from_pairs([
///     ("GOVOPS_APP_NAME", "bot"), ("GOVOPS_ENVIRONMENT", "dev"), ("GOVOPS_OWNER", "team"),
///     ("GOVOPS_COST_CENTER", "cc-1"), ("GOVOPS_DATA_CLASSIFICATION", "internal"),
/// ]))?;
/// let tracer = SdkTracerProvider::builder().build();
/// let subscriber = tracing_subscriber::registry().with(govops_tracing::layer(&config, &tracer, None));
/// tracing::subscriber::with_default(subscriber, || { /* governed calls */ });
/// # Ok::<(), govops_core::Gaps>(())
/// ```
pub fn layer<S>(
    config: &Config,
    tracer: &opentelemetry_sdk::trace::SdkTracerProvider,
    meter: Option<&opentelemetry_sdk::metrics::SdkMeterProvider>,
) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    layers(config, tracer, meter, None, None)
}

/// [`layer`] for a tracer provider built with `ids` as its id generator: governed spans are then
/// built whole when they end rather than started and updated. The provider must use the same
/// `ids` (a clone), or governed spans' children would name a parent that does not exist, and the
/// SDK's default sampler (parent-based, always on), or one chosen with `OTEL_TRACES_SAMPLER`,
/// which govops reads as the SDK does: a sampler set in code that drops roots or ignores the
/// parent's decision needs [`layer`].
///
/// ```
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// # let config = govops_core::Config::from_env(&govops_core::EnvSource::from_pairs([
/// #     ("GOVOPS_APP_NAME", "bot"), ("GOVOPS_ENVIRONMENT", "dev"), ("GOVOPS_OWNER", "team"),
/// #     ("GOVOPS_COST_CENTER", "cc-1"), ("GOVOPS_DATA_CLASSIFICATION", "internal"),
/// # ]))?;
/// let ids = govops_tracing::SpanIds::random();
/// let tracer = SdkTracerProvider::builder().with_id_generator(ids.clone()).build();
/// let layer = govops_tracing::layer_with_ids(&config, &tracer, None, &ids);
/// let subscriber = tracing_subscriber::registry().with(layer);
/// # let _ = subscriber;
/// # Ok::<(), govops_core::Gaps>(())
/// ```
pub fn layer_with_ids<S>(
    config: &Config,
    tracer: &opentelemetry_sdk::trace::SdkTracerProvider,
    meter: Option<&opentelemetry_sdk::metrics::SdkMeterProvider>,
    ids: &SpanIds,
) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    layers(config, tracer, meter, Some(ids.clone()), None)
}

/// Like [`layer_with_ids`] (or [`layer`], with `ids` `None`), and every governed call is also
/// written to `audit`, as `init()` does when `GOVOPS_AUDIT_LOG` is set. Shut the log down
/// (`AuditLog::shutdown`) after the last call to write everything and its `close` record.
///
/// ```
/// use govops_core::audit::{AuditLog, AuditOptions};
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// # let dir = tempfile::tempdir()?;
/// let config = govops_core::Config::from_env(&govops_core::EnvSource::from_pairs([
///     ("GOVOPS_APP_NAME", "support-bot"),
///     ("GOVOPS_ENVIRONMENT", "dev"),
///     ("GOVOPS_OWNER", "team-ai"),
///     ("GOVOPS_COST_CENTER", "CC-1234"),
///     ("GOVOPS_DATA_CLASSIFICATION", "internal"),
/// ]))?;
/// let audit = AuditLog::open(dir.path().join("audit.jsonl"), AuditOptions::for_config(&config))?;
/// let tracer = SdkTracerProvider::builder().build();
/// let subscriber = tracing_subscriber::registry()
///     .with(govops_tracing::audited_layer(&config, &tracer, None, None, audit.clone()));
/// # drop(subscriber);
/// audit.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn audited_layer<S>(
    config: &Config,
    tracer: &opentelemetry_sdk::trace::SdkTracerProvider,
    meter: Option<&opentelemetry_sdk::metrics::SdkMeterProvider>,
    ids: Option<&SpanIds>,
    audit: AuditLog,
) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    layers(config, tracer, meter, ids.cloned(), Some(audit))
}

fn layers<S>(
    config: &Config,
    tracer: &opentelemetry_sdk::trace::SdkTracerProvider,
    meter: Option<&opentelemetry_sdk::metrics::SdkMeterProvider>,
    ids: Option<SpanIds>,
    audit: Option<AuditLog>,
) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry::trace::TracerProvider as _;
    let instruments = meter.map(|m| Instruments::new(&m.meter(crate::SCOPE)));
    let contract = ContractLayer::new(
        Shared::new(
            config,
            tracer.tracer(crate::SCOPE),
            instruments,
            Clock::System,
            ids,
        )
        .with_audit(audit),
    )
    .filtered();
    contract.and_then(
        crate::bridge::Bridge(
            tracing_opentelemetry::layer().with_tracer(tracer.tracer(crate::SCOPE)),
        )
        .with_filter(crate::bridge::not_governed()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn a_request_key_is_the_trace_id_as_it_displays() {
        for trace in [
            TraceId::from_bytes([0; 16]),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            TraceId::from_bytes([0xff; 16]),
        ] {
            assert_eq!(RequestKey::new(trace).as_str(), format!("{trace}"));
        }
    }

    #[derive(Debug, Clone, Default)]
    struct Keep(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Keep {
        fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(batch);
            std::future::ready(Ok(()))
        }
    }

    fn governed_span(name: &'static str) -> tracing::Span {
        tracing::info_span!(
            "invoke_agent planner",
            govops.contract.version = "1",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = name,
        )
    }

    /// A sampler that drops roots: a governed root is then started when it opens, so the sampler
    /// decides before any child names it as a parent, and nothing orphaned is exported.
    #[test]
    fn a_sampler_that_drops_roots_drops_the_whole_governed_trace() {
        let config = Config::from_env(&govops_core::EnvSource::from_pairs([
            ("GOVOPS_APP_NAME", "t"),
            ("GOVOPS_ENVIRONMENT", "dev"),
            ("GOVOPS_OWNER", "o"),
            ("GOVOPS_COST_CENTER", "c"),
            ("GOVOPS_DATA_CLASSIFICATION", "internal"),
        ]))
        .unwrap();
        for defer_roots in [false, true] {
            let kept = Keep::default();
            let ids = SpanIds::random();
            let provider = SdkTracerProvider::builder()
                .with_id_generator(ids.clone())
                .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                    0.0,
                ))))
                .with_simple_exporter(kept.clone())
                .build();
            let mut shared = Shared::new(
                &config,
                provider.tracer("t"),
                None,
                Clock::System,
                Some(ids),
            );
            shared.defer_roots = defer_roots;
            let subscriber =
                tracing_subscriber::registry().with(ContractLayer::new(shared).filtered());
            tracing::subscriber::with_default(subscriber, || {
                governed_span("outer").in_scope(|| governed_span("inner").in_scope(|| {}));
            });
            let exported: Vec<String> = kept
                .0
                .lock()
                .unwrap()
                .iter()
                .map(|s| s.name.to_string())
                .collect();
            if defer_roots {
                // What the sampler-blind path would do: the children of a dropped root exported.
                assert!(!exported.is_empty(), "{exported:?}");
            } else {
                assert_eq!(exported, Vec::<String>::new());
            }
        }
    }
}
