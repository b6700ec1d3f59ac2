//! Message content as contract section 9 lets it leave the process: a governed call's arguments
//! and prompt on its span, by the capture setting and the kind of call, in the semantic
//! conventions' JSON forms. What is added here is scanned by the span's redaction pass like any
//! other attribute; the prompt and the output arrive already redacted.

use govops_core::contract::attr;
use opentelemetry::{KeyValue, Value};

use crate::call::Operation;

/// The function's arguments and the prompt, as far as the capture setting lets them leave the
/// process (contract section 9); the span's redaction pass then scans what is added.
/// Without capture a model call records no argument value at all, and other calls only values
/// that cannot hold content (numbers, booleans, unit values: what tells two tool calls apart).
/// With capture, a tool call's arguments go whole to `gen_ai.tool.call.arguments`, another call's
/// as attributes of their own, and a declared prompt to `gen_ai.input.messages`.
pub(crate) fn arguments_into(
    operation: Operation,
    capture: bool,
    arguments: Vec<KeyValue>,
    prompt: Option<&str>,
    attributes: &mut Vec<KeyValue>,
) {
    if !capture {
        if !operation.is_model() {
            attributes.extend(arguments.into_iter().filter(|kv| is_scalar(&kv.value)));
        }
        return;
    }
    if operation == Operation::ExecuteTool {
        if !arguments.is_empty() {
            let object: serde_json::Map<String, serde_json::Value> = arguments
                .iter()
                .map(|kv| (kv.key.as_str().to_owned(), json_of(&kv.value)))
                .collect();
            attributes.extend(arguments.into_iter().filter(|kv| is_scalar(&kv.value)));
            attributes.push(KeyValue::new(
                attr::TOOL_CALL_ARGUMENTS,
                serde_json::Value::Object(object).to_string(),
            ));
        }
    } else {
        attributes.extend(arguments);
    }
    if let Some(prompt) = prompt {
        attributes.push(KeyValue::new(
            attr::INPUT_MESSAGES,
            messages_json("user", prompt, None),
        ));
    }
}

/// An argument's recorded value as JSON: its `Debug` text read as JSON where it is some (a
/// string, a number, a list of them), else the text as a JSON string.
fn json_of(value: &Value) -> serde_json::Value {
    match value {
        Value::Bool(b) => serde_json::Value::from(*b),
        Value::I64(n) => serde_json::Value::from(*n),
        Value::F64(x) => serde_json::Value::from(*x),
        Value::String(s) => json_text(s.as_str()),
        other => serde_json::Value::from(other.to_string()),
    }
}

/// `text` as JSON when it is a JSON document, else as a JSON string.
pub(crate) fn json_text(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::from(text))
}

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
