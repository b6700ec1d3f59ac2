//! The macro's fields read back: `#[governed]` writes a governed span with the field names of
//! `govops_protocol`, and the layer reads them by those names; the rest become attributes as they
//! are.

use std::borrow::Cow;
use std::fmt;

use govops_core::audit::sha256_hex;
use govops_core::content::Findings;
use govops_core::contract::attr;
use govops_protocol::field as key;
use opentelemetry::{Key, KeyValue, StringValue, Value};
use tracing::field::{Field, Visit};
use tracing::{Level, Metadata};

use crate::call::{AuditCall, Operation};
use crate::intern::{intern, intern_debug};
use crate::scan::Scan;

/// Whether a callsite is a `#[governed]` span.
pub(crate) fn is_governed(meta: &Metadata<'_>) -> bool {
    meta.is_span()
        && meta
            .fields()
            .iter()
            .next()
            .is_some_and(|f| f.name() == key::CONTRACT_VERSION)
}

/// What the contract layer sees: governed spans, and error events (which mark a governed call as
/// failed). Decided once per callsite.
pub(crate) fn interest(meta: &Metadata<'_>) -> bool {
    is_governed(meta) || (meta.is_event() && *meta.level() == Level::ERROR)
}

/// The fields of a governed span the layer reads by name; the rest become attributes as they are.
/// The values it repeats on every call are interned, and `otel.name` is kept only when it differs
/// from the callsite's static name, so a governed span with literal names allocates no strings.
#[derive(Default)]
pub(super) struct Fields {
    pub(super) name: Option<String>,
    pub(super) operation: Option<Operation>,
    pub(super) model: Option<StringValue>,
    pub(super) provider: Option<StringValue>,
    pub(super) subject: Option<StringValue>,
    /// The call can return a `govops::Violation` as its error (the macro says so).
    pub(super) deniable: bool,
    /// Some arguments were not recorded (`skip`, `skip_all`): calls cannot be told apart.
    pub(super) arguments_partial: bool,
    /// `max_tokens = ..` of the macro: the most output the call may produce.
    pub(super) max_tokens: Option<u64>,
    /// `prompt = ..` of the macro: the prompt's estimated tokens.
    pub(super) prompt_tokens: Option<u64>,
    /// What the content scan found in the prompt.
    pub(super) prompt_found: Findings,
    /// The prompt, kept when the policy captures content.
    pub(super) prompt_text: Option<String>,
    /// What the audit record needs from the span's fields, when an audit log is kept.
    pub(super) audit: Option<Box<AuditCall>>,
    /// The fields that follow `govops.arguments`: the function's arguments.
    pub(super) in_arguments: bool,
    pub(super) arguments: Vec<KeyValue>,
    pub(super) rest: Vec<KeyValue>,
}

impl Fields {
    fn known(&mut self, name: &str) -> Option<&mut Option<StringValue>> {
        match name {
            key::REQUEST_MODEL => Some(&mut self.model),
            key::PROVIDER_NAME => Some(&mut self.provider),
            key::TOOL_NAME | key::AGENT_NAME | key::NAME => Some(&mut self.subject),
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
pub(super) struct Visiting<'a> {
    pub(super) static_name: &'static str,
    pub(super) scan: Scan,
    pub(super) capture: bool,
    pub(super) fields: &'a mut Fields,
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
            key::CONTRACT_VERSION => {}
            key::OTEL_NAME => {
                if value != self.static_name {
                    self.fields.name = Some(value.to_owned());
                }
            }
            key::OPERATION_NAME => self.fields.operation = Operation::from_name(value),
            key::PROMPT => {
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
            key::CONTRACT_VERSION => {}
            key::OTEL_NAME => {
                let name = format!("{value:?}");
                if name != self.static_name {
                    self.fields.name = Some(name);
                }
            }
            key::OPERATION_NAME => {
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
            key::REQUEST_MAX_TOKENS => self.fields.max_tokens = u64::try_from(value).ok(),
            attr::REQUEST_SEED => {
                if let Some(audit) = self.audit() {
                    audit.seed = Some(value);
                }
            }
            key::PROMPT_ESTIMATED_TOKENS => {
                self.fields.prompt_tokens = u64::try_from(value).ok();
            }
            _ => {}
        }
        self.fields.other(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            key::REQUEST_MAX_TOKENS => self.fields.max_tokens = Some(value),
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
        if field.name() == key::DENIABLE {
            self.fields.deniable = value;
        } else if field.name() == key::ARGUMENTS_PARTIAL {
            self.fields.arguments_partial = value;
        } else if field.name() == key::ARGUMENTS {
            self.fields.in_arguments = true;
        } else {
            self.fields.other(field, value);
        }
    }
}

/// The error an `ERROR` event inside a governed call describes: its `error` field, else its message.
#[derive(Default)]
pub(super) struct ErrorText(pub(super) Option<String>);

impl Visit for ErrorText {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == govops_protocol::field::ERROR
            || (field.name() == "message" && self.0.is_none())
        {
            self.0 = Some(format!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == govops_protocol::field::ERROR
            || (field.name() == "message" && self.0.is_none())
        {
            self.0 = Some(value.to_owned());
        }
    }
}
