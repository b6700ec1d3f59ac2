//! The part of an OTLP-JSON export request (`GOVOPS_TELEMETRY_FILE`, one per line) that the
//! report reads, borrowed from the line: spans, their attributes and events.

use std::borrow::Cow;
use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::shared::amount::{self, CostProblem};

/// The part of an OTLP-JSON export request the report reads.
#[derive(Deserialize)]
pub(super) struct Export<'a> {
    #[serde(rename = "resourceSpans", default, borrow)]
    pub(super) resource_spans: Vec<ResourceSpans<'a>>,
}

#[derive(Deserialize)]
pub(super) struct ResourceSpans<'a> {
    #[serde(default, borrow)]
    pub(super) resource: Option<Attributes<'a>>,
    #[serde(rename = "scopeSpans", default, borrow)]
    pub(super) scope_spans: Vec<ScopeSpans<'a>>,
}

#[derive(Deserialize)]
pub(super) struct Attributes<'a> {
    #[serde(default, borrow)]
    pub(super) attributes: Vec<KeyValue<'a>>,
}

#[derive(Deserialize)]
pub(super) struct ScopeSpans<'a> {
    #[serde(default, borrow)]
    pub(super) spans: Vec<Span<'a>>,
}

#[derive(Deserialize)]
pub(super) struct Span<'a> {
    #[serde(rename = "traceId", default, borrow)]
    pub(super) trace_id: Cow<'a, str>,
    #[serde(rename = "spanId", default, borrow)]
    pub(super) span_id: Cow<'a, str>,
    #[serde(rename = "startTimeUnixNano", default)]
    pub(super) start: Option<Int>,
    #[serde(rename = "endTimeUnixNano", default)]
    pub(super) end: Option<Int>,
    #[serde(default, borrow)]
    pub(super) attributes: Vec<KeyValue<'a>>,
    #[serde(default, borrow)]
    pub(super) events: Vec<Event<'a>>,
}

#[derive(Deserialize)]
pub(super) struct Event<'a> {
    #[serde(rename = "timeUnixNano", default)]
    pub(super) time: Option<Int>,
    #[serde(default, borrow)]
    pub(super) name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) attributes: Vec<KeyValue<'a>>,
}

#[derive(Deserialize)]
pub(super) struct KeyValue<'a> {
    #[serde(borrow)]
    pub(super) key: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(super) value: AnyValue<'a>,
}

/// An OTLP `AnyValue`: the kinds the report reads (others are ignored).
#[derive(Deserialize, Default)]
pub(super) struct AnyValue<'a> {
    #[serde(rename = "stringValue", default, borrow)]
    pub(super) string: Option<Cow<'a, str>>,
    #[serde(rename = "intValue", default)]
    pub(super) int: Option<Int>,
    /// The double's JSON text, so that a cost is read as the decimal it was written as.
    #[serde(rename = "doubleValue", default, borrow)]
    pub(super) double: Option<&'a RawValue>,
    #[serde(rename = "arrayValue", default, borrow)]
    pub(super) array: Option<ArrayValue<'a>>,
    /// The other kinds, only to name them when a number was expected.
    #[serde(rename = "boolValue", default)]
    pub(super) boolean: Option<IgnoredAny>,
    #[serde(rename = "kvlistValue", default)]
    pub(super) kvlist: Option<IgnoredAny>,
    #[serde(rename = "bytesValue", default)]
    pub(super) bytes: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
pub(super) struct ArrayValue<'a> {
    #[serde(default, borrow)]
    pub(super) values: Vec<AnyValue<'a>>,
}

/// A 64-bit integer, written as a JSON number or (the protobuf JSON mapping) a string.
pub(super) struct Int(pub(super) i128);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntVisitor;
        impl Visitor<'_> for IntVisitor {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer, or an integer in a string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(i128::from(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(i128::from(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                v.parse()
                    .map(Int)
                    .map_err(|_| E::custom(format!("{v:?} is not an integer")))
            }
        }
        deserializer.deserialize_any(IntVisitor)
    }
}

impl AnyValue<'_> {
    pub(super) fn str(&self) -> Option<&str> {
        self.string.as_deref()
    }

    pub(super) fn u64(&self) -> Option<u64> {
        self.int.as_ref().and_then(|i| u64::try_from(i.0).ok())
    }

    pub(super) fn f64(&self) -> Option<f64> {
        self.double
            .and_then(|raw| raw.get().parse().ok())
            .or_else(|| self.int.as_ref().map(|i| i.0 as f64))
    }

    /// A cost: a double (its JSON text, or what the protobuf JSON mapping writes in a string:
    /// `"NaN"`, `"Infinity"`) or an integer, within what [`amount`] accepts.
    pub(super) fn cost(&self) -> Result<Decimal, CostProblem> {
        if let Some(raw) = self.double {
            let text = raw.get();
            return match serde_json::from_str::<String>(text) {
                Ok(unquoted) => amount::from_text(&unquoted),
                Err(_) => amount::from_text(text),
            };
        }
        if let Some(i) = &self.int {
            return amount::from_text(&i.0.to_string());
        }
        let what = if let Some(s) = &self.string {
            format!("the string {s:?}")
        } else if self.array.is_some() {
            "a list".to_owned()
        } else if self.boolean.is_some() {
            "a boolean".to_owned()
        } else if self.kvlist.is_some() {
            "a key-value list".to_owned()
        } else if self.bytes.is_some() {
            "bytes".to_owned()
        } else {
            "no value".to_owned()
        };
        Err(CostProblem::NotANumber(what))
    }

    pub(super) fn strings(&self) -> impl Iterator<Item = &str> {
        self.array
            .iter()
            .flat_map(|a| a.values.iter())
            .filter_map(AnyValue::str)
    }
}

pub(super) fn find<'v, 'a>(attributes: &'v [KeyValue<'a>], key: &str) -> Option<&'v AnyValue<'a>> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

pub(super) fn nanos(value: Option<&Int>) -> Option<u64> {
    value
        .and_then(|i| u64::try_from(i.0).ok())
        .filter(|&n| n > 0)
}

pub(super) fn ids(trace: &str, span: &str) -> Option<(u128, u64)> {
    let trace = u128::from_str_radix(trace, 16).ok().filter(|&t| t != 0)?;
    let span = u64::from_str_radix(span, 16).ok().filter(|&s| s != 0)?;
    Some((trace, span))
}
