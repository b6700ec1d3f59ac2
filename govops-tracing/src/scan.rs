//! The content scan: which detectors the policy turns on, and what they find and redact in a
//! text, a span's attributes or a log value. Every sink (the contract layer, the span and log
//! processors, the console) scans with it, so that all of them redact alike.

use govops_core::content::{Findings, redact};
use govops_core::contract::attr;
use govops_core::{Action, Guards, Violation};
use opentelemetry::logs::AnyValue;
use opentelemetry::{Array, KeyValue, StringValue, Value};

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

    pub(crate) fn enabled(self) -> bool {
        self.pii != Action::Off || self.secrets != Action::Off
    }

    pub(crate) fn text(self, text: &str, found: &mut Findings) -> Option<String> {
        let (out, findings) = redact(text, self.pii != Action::Off, self.secrets != Action::Off)?;
        found.merge(findings);
        Some(out)
    }

    /// What `text` holds of the enabled kinds, for content passed for inspection.
    pub(crate) fn inspect(self, text: &str) -> Findings {
        let mut found = Findings::default();
        let _ = self.text(text, &mut found);
        found
    }

    /// The violations `found` raises, each with its action; none of a kind that is off.
    pub(crate) fn raised(self, found: Findings) -> impl Iterator<Item = (Violation, Action)> {
        let pii =
            (found.pii && self.pii != Action::Off).then_some((Violation::PiiDetected, self.pii));
        let secret = (found.secret && self.secrets != Action::Off)
            .then_some((Violation::SecretDetected, self.secrets));
        pii.into_iter().chain(secret)
    }

    /// A log value with what it holds redacted, at any depth; `None` when nothing was found.
    pub(crate) fn any(self, value: &AnyValue, found: &mut Findings) -> Option<AnyValue> {
        match value {
            AnyValue::String(s) => self
                .text(s.as_str(), found)
                .map(|c| AnyValue::String(c.into())),
            AnyValue::ListAny(items) => {
                let cleaned: Vec<Option<AnyValue>> =
                    items.iter().map(|item| self.any(item, found)).collect();
                cleaned.iter().any(Option::is_some).then(|| {
                    let list = items
                        .iter()
                        .zip(cleaned)
                        .map(|(item, clean)| clean.unwrap_or_else(|| item.clone()))
                        .collect();
                    AnyValue::ListAny(Box::new(list))
                })
            }
            AnyValue::Map(map) => {
                let mut changed = false;
                let cleaned = map
                    .iter()
                    .map(|(k, v)| match self.any(v, found) {
                        Some(clean) => {
                            changed = true;
                            (k.clone(), clean)
                        }
                        None => (k.clone(), v.clone()),
                    })
                    .collect();
                changed.then(|| AnyValue::Map(Box::new(cleaned)))
            }
            _ => None,
        }
    }

    pub(crate) fn value(self, value: &mut Value, found: &mut Findings) {
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

/// Redacts the string attributes among `attributes` (figures aside) in place, as export would,
/// and says what was found.
pub(crate) fn redact_attributes(scan: Scan, attributes: &mut [KeyValue]) -> Findings {
    let mut found = Findings::default();
    for kv in attributes {
        if !is_figure(kv.key.as_str()) {
            scan.value(&mut kv.value, &mut found);
        }
    }
    found
}

/// The contract's own figures are never content: counts, costs, codes, the start-up metadata (its
/// values were validated at start-up), the operation.
/// Any other key is scanned, `govops.*` ones included (a workflow's `govops.name` is the
/// application's text).
pub(crate) fn is_figure(key: &str) -> bool {
    use govops_core::contract::resource;
    key.starts_with("gen_ai.usage.")
        || matches!(
            key,
            attr::CONTRACT_VERSION
                | attr::POLICY_DECISION
                | attr::SAFETY_VIOLATIONS
                | attr::COST_TOTAL_USD
                | attr::CONTEXT_UTILIZATION
                | attr::LATENCY_MS
                | govops_protocol::field::PROMPT_ESTIMATED_TOKENS
                | resource::OWNER
                | resource::COST_CENTER
                | resource::DATA_CLASSIFICATION
                | resource::POLICY_ID
                | resource::SERVICE_NAME
                | resource::DEPLOYMENT_ENVIRONMENT_NAME
                | attr::OPERATION_NAME
        )
}
