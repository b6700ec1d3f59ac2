//! Personal data and credentials never leave the process: every string attribute of every span
//! (governed or not) and every log body and attribute, nested values included, is scanned before
//! export and what is found is redacted. A governed span that held any, or a governed call that
//! logged any, gets `pii_detected` or `secret_detected`.

use std::sync::LazyLock;
use std::time::Duration;

use govops_core::content::Findings;
use govops_core::contract::{attr, event};
use govops_core::{Action, Decision, Violation};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::{Array, Context, InstrumentationScope, Key, KeyValue, StringValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};

use crate::call::{Operation, current_call};
use crate::metrics::{GuardTrips, base_attributes, call_attributes};
use crate::scan::{Scan, is_figure, redact_attributes};

/// A span processor that redacts personal data and credentials from every span before the
/// processor it wraps (the exporting one) sees it, as the policy's `[guards.pii]` and
/// `[guards.secrets]` say; a governed span that held any carries `pii_detected` or
/// `secret_detected`. `init()` installs it; build it yourself only for a tracer provider of your
/// own (with [`layer`](crate::layer)).
///
/// ```
/// use govops_tracing::file::{FileSpanExporter, JsonLinesFile};
/// use opentelemetry_sdk::trace::{SdkTracerProvider, SimpleSpanProcessor};
///
/// # let config = govops_core::Config::from_env(&govops_core::EnvSource::from_pairs([
/// #     ("GOVOPS_APP_NAME", "bot"), ("GOVOPS_ENVIRONMENT", "dev"), ("GOVOPS_OWNER", "team"),
/// #     ("GOVOPS_COST_CENTER", "cc-1"), ("GOVOPS_DATA_CLASSIFICATION", "internal"),
/// # ]))?;
/// # let dir = tempfile::tempdir()?;
/// let sink = JsonLinesFile::open(dir.path().join("spans.jsonl"))?;
/// let tracer = SdkTracerProvider::builder()
///     .with_span_processor(govops_tracing::RedactingSpans::new(
///         SimpleSpanProcessor::new(FileSpanExporter::new(sink)),
///         &config,
///     ))
///     .build();
/// # let _ = tracer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RedactingSpans<P> {
    pub(crate) inner: P,
    pub(crate) scan: Scan,
    /// `govops.guard.trips`, when counted.
    pub(crate) trips: Option<GuardTrips>,
    /// The application's metric attributes (service, environment, cost center), for the trips.
    pub(crate) base: [KeyValue; 3],
}

impl<P: SpanProcessor> RedactingSpans<P> {
    /// Redacts what the policy of `config` asks before `inner` sees a span.
    #[must_use]
    pub fn new(inner: P, config: &govops_core::Config) -> Self {
        RedactingSpans {
            inner,
            scan: Scan::new(&config.policy_rules.guards),
            trips: None,
            base: base_attributes(config),
        }
    }

    /// Counts what it raises in `govops.guard.trips`, with `meter`.
    #[must_use]
    pub fn with_meter(mut self, meter: &opentelemetry_sdk::metrics::SdkMeterProvider) -> Self {
        self.trips = Some(GuardTrips::of(meter));
        self
    }
}

impl<P: SpanProcessor> SpanProcessor for RedactingSpans<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        if self.scan.enabled() {
            let mut found = Findings::default();
            // A governed span's attributes were redacted by the contract layer, which raised
            // what it found on the call.
            if !is_governed(&span) {
                found.merge(redact_attributes(self.scan, &mut span.attributes));
            }
            // Names and the error description are text too: `tracing-opentelemetry` names an
            // event after its message, and an error's description is the error's text.
            if let Some(clean) = self.scan.text(&span.name, &mut found) {
                span.name = clean.into();
            }
            if let opentelemetry::trace::Status::Error { description } = &mut span.status
                && let Some(clean) = self.scan.text(description, &mut found)
            {
                *description = clean.into();
            }
            for link in &mut span.links.links {
                for kv in &mut link.attributes {
                    self.scan.value(&mut kv.value, &mut found);
                }
            }
            for e in &mut span.events.events {
                if let Some(clean) = self.scan.text(&e.name, &mut found) {
                    e.name = clean.into();
                }
                for kv in &mut e.attributes {
                    self.scan.value(&mut kv.value, &mut found);
                }
            }
            if found.any() {
                self.flag(&mut span, found);
            }
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Whether `span` is a governed call's: it carries the contract's version.
fn is_governed(span: &SpanData) -> bool {
    span.attributes
        .iter()
        .any(|kv| kv.key.as_str() == attr::CONTRACT_VERSION)
}

impl<P> RedactingSpans<P> {
    /// The metric attributes of the governed call `span` exported, as the contract layer
    /// records them (its decision as it now stands).
    fn call_attributes(&self, span: &SpanData) -> Vec<KeyValue> {
        // The last value set wins: a span started at open has the served provider appended
        // after the declared one.
        let text = |key: &str| {
            span.attributes
                .iter()
                .rev()
                .find(|kv| kv.key.as_str() == key)
                .and_then(|kv| match &kv.value {
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                })
        };
        let operation = text(attr::OPERATION_NAME)
            .and_then(|o| Operation::from_name(o.as_str()))
            .unwrap_or(Operation::InvokeWorkflow);
        let decision = text(attr::POLICY_DECISION)
            .and_then(|d| decision_named(d.as_str()))
            .unwrap_or(Decision::Allow);
        call_attributes(
            &self.base,
            operation.name(),
            decision,
            text(attr::PROVIDER_NAME).as_ref(),
            text(attr::REQUEST_MODEL).as_ref(),
        )
    }

    /// A governed span that held content it must not export carries the violation.
    fn flag(&self, span: &mut SpanData, found: Findings) {
        if !is_governed(span) {
            return;
        }
        let already: Vec<StringValue> = span
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == attr::SAFETY_VIOLATIONS)
            .and_then(|kv| match &kv.value {
                Value::Array(Array::String(codes)) => Some(codes.clone()),
                _ => None,
            })
            .unwrap_or_default();
        // Raised once a call: the call may have raised it already (content it inspected or
        // logged).
        let raised: Vec<(Violation, Action)> = self
            .scan
            .raised(found)
            .filter(|(v, _)| !already.iter().any(|c| c.as_str() == v.code()))
            .collect();
        if raised.is_empty() {
            return;
        }
        for kv in &mut span.attributes {
            match kv.key.as_str() {
                attr::SAFETY_VIOLATIONS => {
                    if let Value::Array(Array::String(codes)) = &mut kv.value {
                        codes.extend(raised.iter().map(|(v, _)| StringValue::from(v.code())));
                    }
                }
                attr::POLICY_DECISION => {
                    let current =
                        decision_named(kv.value.as_str().as_ref()).unwrap_or(Decision::Allow);
                    let decision = raised
                        .iter()
                        .filter_map(|(_, action)| action.decision())
                        .fold(current, Decision::max);
                    kv.value = Value::from(decision.as_str());
                }
                _ => {}
            }
        }
        for (violation, _) in &raised {
            span.events.events.push(opentelemetry::trace::Event::new(
                event::GUARD_TRIPPED,
                span.end_time,
                vec![KeyValue::new("govops.violation", violation.code())],
                0,
            ));
        }
        if let Some(trips) = &self.trips {
            let call = self.call_attributes(span);
            trips.add(&call, raised.iter().map(|(v, _)| *v));
        }
    }
}

/// The decision an exported span names: what the contract layer decided is only in the span by
/// the time this processor sees it.
fn decision_named(name: &str) -> Option<Decision> {
    // Not `parse`: its error would allocate for a span with no decision.
    Decision::ALL.into_iter().find(|d| d.as_str() == name)
}

/// Mints the log records that replace ones holding content: the SDK's record has no way to
/// replace or remove an attribute, so a record with one to redact is rebuilt whole.
static BLANK: LazyLock<SdkLogger> =
    LazyLock::new(|| SdkLoggerProvider::builder().build().logger("govops.redact"));

/// A log processor that redacts personal data and credentials from log bodies and attributes,
/// nested values included; a governed call that logged any raises `pii_detected` or
/// `secret_detected`. Add it before the exporting processor: `init()` does; build it yourself
/// only for a logger provider of your own.
#[derive(Debug)]
pub struct RedactingLogs {
    pub(crate) scan: Scan,
}

impl RedactingLogs {
    /// Redacts what the policy of `config` asks.
    #[must_use]
    pub fn new(config: &govops_core::Config) -> Self {
        RedactingLogs {
            scan: Scan::new(&config.policy_rules.guards),
        }
    }
}

impl LogProcessor for RedactingLogs {
    fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
        if !self.scan.enabled() {
            return;
        }
        let mut found = Findings::default();
        let body = record.body().and_then(|b| self.scan.any(b, &mut found));
        let attributes: Vec<(usize, AnyValue)> = record
            .attributes_iter()
            .enumerate()
            .filter(|(_, (key, _))| !is_figure(key.as_str()))
            .filter_map(|(i, (_, value))| self.scan.any(value, &mut found).map(|v| (i, v)))
            .collect();
        if !found.any() {
            return;
        }
        if attributes.is_empty() {
            if let Some(body) = body {
                record.set_body(body);
            }
        } else {
            *record = rebuilt(record, body, attributes);
        }
        if let Some(call) = current_call() {
            call.inspected(found, "log");
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// `record` with its body and the attributes at the given positions replaced.
fn rebuilt(
    record: &SdkLogRecord,
    body: Option<AnyValue>,
    mut replaced: Vec<(usize, AnyValue)>,
) -> SdkLogRecord {
    let mut out = BLANK.create_log_record();
    if let Some(name) = record.event_name() {
        out.set_event_name(name);
    }
    if let Some(target) = record.target() {
        out.set_target(target.clone());
    }
    if let Some(at) = record.timestamp() {
        out.set_timestamp(at);
    }
    if let Some(at) = record.observed_timestamp() {
        out.set_observed_timestamp(at);
    }
    if let Some(text) = record.severity_text() {
        out.set_severity_text(text);
    }
    if let Some(number) = record.severity_number() {
        out.set_severity_number(number);
    }
    if let Some(tc) = record.trace_context() {
        out.set_trace_context(tc.trace_id, tc.span_id, tc.trace_flags);
    }
    if let Some(body) = body.or_else(|| record.body().cloned()) {
        out.set_body(body);
    }
    replaced.reverse();
    for (i, (key, value)) in record.attributes_iter().enumerate() {
        let value = match replaced.last() {
            Some((at, _)) if *at == i => replaced.pop().map_or_else(|| value.clone(), |(_, v)| v),
            _ => value.clone(),
        };
        out.add_attribute(Key::clone(key), value);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;
    use std::time::{Duration, SystemTime};

    use opentelemetry::logs::Severity;
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId};

    use super::*;
    use govops_core::Guards;

    fn scan() -> Scan {
        Scan::new(&Guards::default())
    }

    #[test]
    fn nested_log_attributes_are_redacted_and_the_rest_of_the_record_kept() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut record = BLANK.create_log_record();
        record.set_event_name("checkout");
        record.set_target("shop::pay");
        record.set_timestamp(at);
        record.set_observed_timestamp(at);
        record.set_severity_text("WARN");
        record.set_severity_number(Severity::Warn);
        record.set_trace_context(
            TraceId::from(7_u128),
            SpanId::from(9_u64),
            Some(TraceFlags::SAMPLED),
        );
        record.set_body(AnyValue::String("paid by jane@example.com".into()));
        record.add_attribute("order", 981_i64);
        let mut card = HashMap::new();
        card.insert(Key::from("number"), AnyValue::from("4111 1111 1111 1111"));
        card.insert(Key::from("brand"), AnyValue::from("visa"));
        record.add_attribute("card", AnyValue::Map(Box::new(card)));
        record.add_attribute(
            "notes",
            AnyValue::ListAny(Box::new(vec![
                AnyValue::from("fine"),
                AnyValue::from("token ghp_0123456789abcdefghijklmnopqrstuvwxyz"),
            ])),
        );
        record.add_attribute("govops.cost_center", "CC-4111111111111111");

        let processor = RedactingLogs { scan: scan() };
        processor.emit(&mut record, &InstrumentationScope::builder("t").build());

        assert_eq!(record.event_name(), Some("checkout"));
        assert_eq!(record.target().map(|t| t.as_ref()), Some("shop::pay"));
        assert_eq!(record.timestamp(), Some(at));
        assert_eq!(record.observed_timestamp(), Some(at));
        assert_eq!(record.severity_text(), Some("WARN"));
        assert_eq!(record.severity_number(), Some(Severity::Warn));
        let tc = record.trace_context().unwrap();
        assert_eq!(tc.trace_id, TraceId::from(7_u128));
        assert_eq!(tc.span_id, SpanId::from(9_u64));
        assert_eq!(
            record.body(),
            Some(&AnyValue::String("paid by [REDACTED:email]".into()))
        );
        let attributes: Vec<(String, AnyValue)> = record
            .attributes_iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let keys: Vec<&str> = attributes.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["order", "card", "notes", "govops.cost_center"]);
        assert_eq!(attributes[0].1, AnyValue::Int(981));
        let AnyValue::Map(card) = &attributes[1].1 else {
            panic!("{:?}", attributes[1]);
        };
        assert_eq!(
            card[&Key::from("number")],
            AnyValue::from("[REDACTED:card]")
        );
        assert_eq!(card[&Key::from("brand")], AnyValue::from("visa"));
        let AnyValue::ListAny(notes) = &attributes[2].1 else {
            panic!("{:?}", attributes[2]);
        };
        assert_eq!(notes[0], AnyValue::from("fine"));
        assert!(matches!(&notes[1], AnyValue::String(s) if s.as_str().contains("[REDACTED:")));
        // The contract's own values are never taken for content.
        assert_eq!(attributes[3].1, AnyValue::from("CC-4111111111111111"));
    }

    #[test]
    fn a_clean_record_is_left_as_it_was() {
        let mut record = BLANK.create_log_record();
        record.set_body(AnyValue::from("order 981 shipped 2026-11-24"));
        record.add_attribute("order", "981");
        let processor = RedactingLogs { scan: scan() };
        processor.emit(&mut record, &InstrumentationScope::builder("t").build());
        assert_eq!(
            record.body(),
            Some(&AnyValue::from("order 981 shipped 2026-11-24"))
        );
        assert_eq!(record.attributes_iter().count(), 1);
    }
}
