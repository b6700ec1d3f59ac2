//! Personal data and credentials never leave the process: every string attribute of every span
//! (governed or not) and every log body is scanned before export and what is found is redacted. A
//! governed span that held any gets `pii_detected` or `secret_detected`.

use std::time::Duration;

use govops_core::content::{Findings, redact};
use govops_core::contract::{attr, event};
use govops_core::{Action, Decision, Guards, Violation};
use opentelemetry::logs::{AnyValue, LogRecord as _};
use opentelemetry::metrics::Counter;
use opentelemetry::{Array, Context, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};

/// Which detectors run, from the policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scan {
    pii: Action,
    secrets: Action,
}

impl Scan {
    pub(crate) fn new(guards: &Guards) -> Self {
        Self {
            pii: guards.pii,
            secrets: guards.secrets,
        }
    }

    fn enabled(self) -> bool {
        self.pii != Action::Off || self.secrets != Action::Off
    }

    fn text(self, text: &str, found: &mut Findings) -> Option<String> {
        let (out, findings) = redact(text, self.pii != Action::Off, self.secrets != Action::Off)?;
        found.merge(findings);
        Some(out)
    }

    fn value(self, value: &mut Value, found: &mut Findings) {
        match value {
            Value::String(s) => {
                if let Some(clean) = self.text(s.as_str(), found) {
                    *s = StringValue::from(clean);
                }
            }
            Value::Array(Array::String(items)) => {
                for s in items {
                    if let Some(clean) = self.text(s.as_str(), found) {
                        *s = StringValue::from(clean);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Redacts spans before the exporting processor sees them.
#[derive(Debug)]
pub(crate) struct RedactingSpans<P> {
    pub(crate) inner: P,
    pub(crate) scan: Scan,
    pub(crate) trips: Option<Counter<u64>>,
}

impl<P: SpanProcessor> SpanProcessor for RedactingSpans<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        if self.scan.enabled() {
            let mut found = Findings::default();
            for kv in &mut span.attributes {
                // The contract's own figures are never content: counts, costs, codes.
                if !kv.key.as_str().starts_with("gen_ai.usage.")
                    && !kv.key.as_str().starts_with("govops.")
                {
                    self.scan.value(&mut kv.value, &mut found);
                }
            }
            for e in &mut span.events.events {
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

impl<P> RedactingSpans<P> {
    /// A governed span that held content it must not export carries the violation.
    fn flag(&self, span: &mut SpanData, found: Findings) {
        let governed = span
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == attr::CONTRACT_VERSION);
        if !governed {
            return;
        }
        let mut raised = Vec::new();
        if found.pii && self.scan.pii != Action::Off {
            raised.push((Violation::PiiDetected, self.scan.pii));
        }
        if found.secret && self.scan.secrets != Action::Off {
            raised.push((Violation::SecretDetected, self.scan.secrets));
        }
        for kv in &mut span.attributes {
            match kv.key.as_str() {
                attr::SAFETY_VIOLATIONS => {
                    if let Value::Array(Array::String(codes)) = &mut kv.value {
                        codes.extend(raised.iter().map(|(v, _)| StringValue::from(v.code())));
                    }
                }
                attr::POLICY_DECISION => {
                    let current = match kv.value.as_str().as_ref() {
                        "deny" => Decision::Deny,
                        "flag" => Decision::Flag,
                        _ => Decision::Allow,
                    };
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
            if let Some(trips) = &self.trips {
                trips.add(1, &[KeyValue::new("code", violation.code())]);
            }
        }
    }
}

/// Redacts log bodies before the exporting processor sees them.
#[derive(Debug)]
pub(crate) struct RedactingLogs {
    pub(crate) scan: Scan,
}

impl LogProcessor for RedactingLogs {
    fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
        if !self.scan.enabled() {
            return;
        }
        let mut found = Findings::default();
        let clean = match record.body() {
            Some(AnyValue::String(body)) => self.scan.text(body.as_str(), &mut found),
            _ => None,
        };
        if let Some(clean) = clean {
            record.set_body(AnyValue::String(clean.into()));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}
