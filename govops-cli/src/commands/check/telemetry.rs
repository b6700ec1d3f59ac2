//! `govops check telemetry FILE`: the seed's "block on incomplete trace schema". It reads a
//! JSON-lines telemetry file (the sink's OTLP JSON, one export request per line) and checks every
//! governed span against the contract (sections 2 and 3, each field with its type) and every
//! string a span (its events and links), log record, metric data point or resource carries
//! (nested values included) for credentials.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use govops_core::content::redact;
use govops_core::schema::{self, Attr};
use serde::Serialize;
use serde_json::Value;

use crate::shared::amount;
use crate::shared::out::{self, Format, err, esc};

const BAD_INPUT: u8 = 2;

/// One span or log record that fails, and why.
#[derive(Serialize)]
struct Failure {
    line: usize,
    span: String,
    span_id: String,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct Report {
    governed_spans: usize,
    spans: usize,
    logs: usize,
    failures: Vec<Failure>,
}

/// An OTLP JSON `AnyValue` as the schema sees it.
fn attr(value: &Value) -> Attr<'_> {
    let Some(object) = value.as_object() else {
        return Attr::Other(value.to_string());
    };
    if let Some(s) = object.get("stringValue").and_then(Value::as_str) {
        return Attr::Str(s);
    }
    if let Some(i) = object.get("intValue") {
        // The protobuf JSON mapping writes 64-bit integers as strings.
        let parsed = i
            .as_i64()
            .or_else(|| i.as_str().and_then(|s| s.parse().ok()));
        if let Some(i) = parsed {
            return Attr::Int(i);
        }
    }
    if let Some(d) = object.get("doubleValue").and_then(Value::as_f64) {
        return Attr::Double(d);
    }
    if let Some(values) = object
        .get("arrayValue")
        .and_then(|a| a.get("values"))
        .and_then(Value::as_array)
    {
        let strings: Option<Vec<&str>> = values
            .iter()
            .map(|v| v.get("stringValue").and_then(Value::as_str))
            .collect();
        if let Some(strings) = strings {
            return Attr::StrArray(strings);
        }
    }
    if object.get("arrayValue").is_some() && object.len() == 1 {
        // An empty array: `{"arrayValue": {}}`.
        return Attr::StrArray(Vec::new());
    }
    Attr::Other(value.to_string())
}

fn attributes(item: &Value) -> Vec<(&str, &Value)> {
    item.get("attributes")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|kv| Some((kv.get("key")?.as_str()?, kv.get("value")?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Every string in an OTLP JSON `AnyValue`, nested arrays and key-value lists included, with the
/// path that leads to it.
fn strings<'a>(path: String, value: &'a Value, out: &mut Vec<(String, &'a str)>) {
    if let Some(text) = value.get("stringValue").and_then(Value::as_str) {
        out.push((path, text));
    } else if let Some(items) = value
        .get("arrayValue")
        .and_then(|a| a.get("values"))
        .and_then(Value::as_array)
    {
        for (i, item) in items.iter().enumerate() {
            strings(format!("{path}[{i}]"), item, out);
        }
    } else if let Some(pairs) = value
        .get("kvlistValue")
        .and_then(|a| a.get("values"))
        .and_then(Value::as_array)
    {
        for kv in pairs {
            if let (Some(key), Some(inner)) =
                (kv.get("key").and_then(Value::as_str), kv.get("value"))
            {
                strings(format!("{path}.{key}"), inner, out);
            }
        }
    }
}

/// A name (of a span, an event) as a message may show it: a credential in it is redacted, so the
/// check that finds a secret never prints it.
fn shown_name(name: &str) -> String {
    redact(name, false, true).map_or_else(|| name.to_owned(), |(redacted, _)| redacted)
}

/// Credentials in any string value of `item`'s name, status message and attributes, its events'
/// and links' attributes (a span's) and its body (a log record's), at any depth.
fn credentials(item: &Value) -> Vec<String> {
    let mut texts = Vec::new();
    if let Some(name) = item.get("name").and_then(Value::as_str) {
        texts.push(("name".to_owned(), name));
    }
    if let Some(message) = item
        .get("status")
        .and_then(|s| s.get("message"))
        .and_then(Value::as_str)
    {
        texts.push(("status message".to_owned(), message));
    }
    for (key, value) in attributes(item) {
        strings(key.to_owned(), value, &mut texts);
    }
    for event in item
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = event.get("name").and_then(Value::as_str).unwrap_or("?");
        texts.push(("event name".to_owned(), name));
        for (key, value) in attributes(event) {
            strings(
                format!("event {}: {key}", shown_name(name)),
                value,
                &mut texts,
            );
        }
    }
    for (i, link) in item
        .get("links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (key, value) in attributes(link) {
            strings(format!("link {i}: {key}"), value, &mut texts);
        }
    }
    if let Some(name) = item.get("eventName").and_then(Value::as_str) {
        texts.push(("event name".to_owned(), name));
    }
    if let Some(body) = item.get("body") {
        strings("body".to_owned(), body, &mut texts);
    }
    texts
        .into_iter()
        .filter_map(|(path, text)| {
            let (redacted, _) = redact(text, false, true)?;
            let kinds: Vec<&str> = redacted
                .split("[REDACTED:")
                .skip(1)
                .filter_map(|s| s.split(']').next())
                .collect();
            Some(format!("{path}: holds a credential ({})", kinds.join(", ")))
        })
        .collect()
}

/// What is wrong with the shape of `item`'s `attributes` (OTLP JSON: a list of `{key, value}`
/// pairs, each key once): a span whose attributes cannot be read cannot be checked, so it fails.
fn attribute_shape(item: &Value, what: &str) -> Vec<String> {
    let accepted =
        "accepted: a list of {\"key\": string, \"value\": AnyValue} objects, each key once";
    let Some(attributes) = item.get("attributes") else {
        return Vec::new();
    };
    let Some(list) = attributes.as_array() else {
        return vec![format!(
            "{what}attributes: is {}, not a list; {accepted}",
            kind_of(attributes)
        )];
    };
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, kv) in list.iter().enumerate() {
        match (kv.get("key").and_then(Value::as_str), kv.get("value")) {
            (Some(key), Some(value)) if value.is_object() => {
                if !seen.insert(key) {
                    problems.push(format!(
                        "{what}attributes: the key {key:?} appears more than once; {accepted}"
                    ));
                }
            }
            _ => problems.push(format!(
                "{what}attributes[{i}]: is not a {{key, value}} pair; {accepted}"
            )),
        }
    }
    problems
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The problem with a governed span's cost, when it is not a number of dollars within bounds.
fn cost_problem(value: &Value) -> Option<amount::CostProblem> {
    let number = value
        .get("doubleValue")
        .or_else(|| value.get("intValue"))
        .and_then(|n| match n {
            Value::Number(n) => Some(n.to_string()),
            // The protobuf JSON mapping: "NaN", "Infinity", "-Infinity", or a number as a string.
            Value::String(s) => Some(s.clone()),
            _ => None,
        });
    match number {
        Some(text) => amount::from_text(&text).err(),
        None => Some(amount::CostProblem::NotANumber(value.to_string())),
    }
}

fn nested<'a>(value: &'a Value, outer: &str, inner: &str, items: &str) -> Vec<&'a Value> {
    value
        .get(outer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|r| r.get(inner).and_then(Value::as_array).into_iter().flatten())
        .flat_map(|s| s.get(items).and_then(Value::as_array).into_iter().flatten())
        .collect()
}

/// Checks `path`: exit 0 when every governed span honours the contract and nothing holds a
/// credential, 1 with each failing span named, 2 when the file cannot be read or a line is not
/// JSON.
pub(crate) fn check(path: &Path, format: Format) -> ExitCode {
    let text = match govops_core::input::read_text_bounded(path, govops_core::input::DATA_MAX) {
        Ok(text) => text,
        Err(error) => {
            err!(
                "govops: cannot read {}; a JSON-lines telemetry file (the govops sink's) is accepted",
                esc(&error.to_string())
            );
            return ExitCode::from(BAD_INPUT);
        }
    };
    let mut report = Report {
        governed_spans: 0,
        spans: 0,
        logs: 0,
        failures: Vec::new(),
    };
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        match parse(line) {
            Ok(value) => report.check_request(&value, number),
            Err(error) => {
                err!(
                    "govops: {}:{number} is not JSON ({}); one OTLP JSON export request per line is accepted",
                    esc(&path.display().to_string()),
                    esc(&error)
                );
                return ExitCode::from(BAD_INPUT);
            }
        }
    }
    // A file with nothing in it proves nothing: a pipeline that ran its workload expects spans.
    let empty = report.spans == 0 && report.logs == 0;
    let passed = report.failures.is_empty() && !empty;
    let mut stdout = out::stdout();
    let written = match format {
        Format::Json => out::json(&mut stdout, &report, true),
        Format::Text => write_text(&mut stdout, path, &report, empty, passed),
    };
    let code = if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    out::finish(&mut stdout, written, code)
}

/// One line as JSON, each key of an object once.
fn parse(line: &str) -> Result<Value, String> {
    serde_json::from_str::<Value>(line)
        .map_err(|e| e.to_string())
        .and_then(|v| {
            govops_core::json::unique_keys(line)
                .map(|()| v)
                .map_err(|e| e.to_string())
        })
}

impl Report {
    /// Checks one export request (line `line`): its resources, spans, metrics and log records.
    fn check_request(&mut self, value: &Value, line: usize) {
        for resource in ["resourceSpans", "resourceLogs", "resourceMetrics"]
            .iter()
            .filter_map(|r| value.get(r).and_then(Value::as_array))
            .flatten()
            .filter_map(|r| r.get("resource"))
        {
            let mut problems = attribute_shape(resource, "resource ");
            problems.extend(credentials(resource));
            self.fail(line, "resource".to_owned(), String::new(), problems);
        }
        for span in nested(value, "resourceSpans", "scopeSpans", "spans") {
            self.check_span(span, line);
        }
        for metric in nested(value, "resourceMetrics", "scopeMetrics", "metrics") {
            let name = metric.get("name").and_then(Value::as_str).unwrap_or("?");
            let points = [
                "sum",
                "gauge",
                "histogram",
                "exponentialHistogram",
                "summary",
            ]
            .iter()
            .filter_map(|kind| metric.get(kind))
            .filter_map(|data| data.get("dataPoints").and_then(Value::as_array))
            .flatten();
            let problems: Vec<String> = points.flat_map(credentials).collect();
            self.fail(line, format!("metric {name}"), String::new(), problems);
        }
        for record in nested(value, "resourceLogs", "scopeLogs", "logRecords") {
            self.logs += 1;
            let mut problems = attribute_shape(record, "");
            problems.extend(credentials(record));
            let span_id = record.get("spanId").and_then(Value::as_str).unwrap_or("");
            self.fail(line, "log record".to_owned(), span_id.to_owned(), problems);
        }
    }

    /// Checks one span: the shape of its and its events' attributes, the contract when it is
    /// governed, and credentials.
    fn check_span(&mut self, span: &Value, line: usize) {
        self.spans += 1;
        let mut problems: Vec<String> = attribute_shape(span, "");
        for event in span
            .get("events")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = event.get("name").and_then(Value::as_str).unwrap_or("?");
            problems.extend(attribute_shape(
                event,
                &format!("event {}: ", shown_name(name)),
            ));
        }
        let attrs = attributes(span);
        if attrs
            .iter()
            .any(|(k, _)| *k == govops_core::contract::attr::CONTRACT_VERSION)
        {
            self.governed_spans += 1;
            problems.extend(contract_problems(&attrs));
        }
        problems.extend(credentials(span));
        let name = shown_name(span.get("name").and_then(Value::as_str).unwrap_or("?"));
        let span_id = span.get("spanId").and_then(Value::as_str).unwrap_or("?");
        self.fail(line, name, span_id.to_owned(), problems);
    }

    /// Records a failure of `span` when it has problems.
    fn fail(&mut self, line: usize, span: String, span_id: String, problems: Vec<String>) {
        if !problems.is_empty() {
            self.failures.push(Failure {
                line,
                span,
                span_id,
                problems,
            });
        }
    }
}

/// What a governed span's attributes lack or mistype against the contract (sections 2 and 3); a
/// cost that is not accepted is named once, with what is.
fn contract_problems(attrs: &[(&str, &Value)]) -> Vec<String> {
    let get = |key: &str| attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| attr(v));
    let cost_key = govops_core::contract::attr::COST_TOTAL_USD;
    let cost = attrs
        .iter()
        .find(|(k, _)| *k == cost_key)
        .and_then(|(_, v)| cost_problem(v));
    let mut problems: Vec<String> = schema::problems(get)
        .iter()
        .filter(|p| cost.is_none() || p.key != cost_key)
        .map(ToString::to_string)
        .collect();
    if let Some(cost) = cost {
        problems.push(format!("{cost_key}: {cost}"));
    }
    problems
}

fn write_text(
    out: &mut impl Write,
    path: &Path,
    report: &Report,
    empty: bool,
    passed: bool,
) -> io::Result<()> {
    let shown = path.display().to_string();
    let shown = esc(&shown);
    for f in &report.failures {
        writeln!(
            out,
            "govops: {shown}:{}: {} ({}):",
            f.line,
            esc(&f.span),
            esc(&f.span_id)
        )?;
        for p in &f.problems {
            writeln!(out, "  - {}", esc(p))?;
        }
    }
    writeln!(
        out,
        "govops: {} span(s), {} governed, {} log record(s): {}",
        report.spans,
        report.governed_spans,
        report.logs,
        if empty {
            "no OTLP spans or logs found: not a govops telemetry file, or nothing ran".to_owned()
        } else if passed {
            "every governed span honours the contract, no credential found".to_owned()
        } else {
            format!("{} failing", report.failures.len())
        }
    )
}
