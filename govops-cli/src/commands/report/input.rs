//! Reading the report's files: audit logs (`GOVOPS_AUDIT_LOG`, one [`AuditRecord`] per line) and
//! JSON-lines telemetry (`GOVOPS_TELEMETRY_FILE`, one OTLP-JSON export request per line), told
//! apart line by line, into one list of calls.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use govops_core::audit::{AuditRecord, RecordKind};
use govops_core::input::open_regular;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::otlp::{AnyValue, Export, Span, find, ids, nanos};
use crate::shared::amount::{self, CostProblem};

/// The longest line read: an OTLP-JSON export request of a full batch of spans with captured
/// content fits many times over; a file without newlines cannot take more memory than this.
pub(crate) const LINE_MAX: u64 = 64 << 20;

/// What a line must be, for messages.
pub(crate) const ACCEPTED: &str = "accepted: audit log records (GOVOPS_AUDIT_LOG: a JSON object \
    with `kind` and `prev` per line) or JSON-lines telemetry (GOVOPS_TELEMETRY_FILE: an OTLP-JSON \
    export request with `resourceSpans`, `resourceLogs` or `resourceMetrics` per line)";

/// An interned string: an index into [`Names`]. 0 is `(none)`.
pub(crate) type Sym = u32;

/// The value of a dimension a call does not carry.
pub(crate) const NONE: Sym = 0;

/// Every distinct string the calls carry, once: calls hold indices, so a long log costs a few
/// machine words a call, not a copy of each id.
pub(crate) struct Names {
    index: HashMap<Box<str>, Sym>,
    names: Vec<Box<str>>,
}

impl Default for Names {
    fn default() -> Self {
        let mut names = Self {
            index: HashMap::new(),
            names: Vec::new(),
        };
        names.intern("(none)");
        names
    }
}

impl Names {
    pub(crate) fn intern(&mut self, name: &str) -> Sym {
        if let Some(&sym) = self.index.get(name) {
            return sym;
        }
        let sym = Sym::try_from(self.names.len()).unwrap_or(Sym::MAX);
        self.names.push(name.into());
        self.index.insert(name.into(), sym);
        sym
    }

    fn opt(&mut self, name: Option<&str>) -> Sym {
        name.filter(|n| !n.is_empty())
            .map_or(NONE, |n| self.intern(n))
    }

    /// The symbol of `name`, when some call carries it.
    pub(crate) fn lookup(&self, name: &str) -> Option<Sym> {
        self.index.get(name).copied()
    }

    pub(crate) fn get(&self, sym: Sym) -> &str {
        self.names.get(sym as usize).map_or("(none)", |n| n)
    }
}

/// Where a call was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Audit,
    Telemetry,
}

/// A `model_drift` trip.
pub(crate) struct Drift {
    pub(crate) time: Option<u64>,
    /// The score (absent from audit records written before they held it).
    pub(crate) score: Option<f64>,
    pub(crate) signals: Vec<Sym>,
}

/// A `govops.failover` span event, or one of an audit record's `failovers`.
pub(crate) struct Failover {
    pub(crate) time: Option<u64>,
    pub(crate) kind: Sym,
    pub(crate) from: Sym,
    pub(crate) to: Sym,
    pub(crate) reason: Sym,
}

/// Whether a call of `operation` that carries `violations` must carry a cost (contract section 3:
/// a model call has one exactly when it is not flagged `unpriced_model`); a call that has none is
/// a cost problem, never $0.
fn cost_required<'a>(
    operation: Option<&str>,
    mut violations: impl Iterator<Item = &'a str>,
) -> bool {
    matches!(operation, Some("chat" | "text_completion" | "embeddings"))
        && !violations.any(|code| code == "unpriced_model")
}

/// One governed call, from either kind of file.
pub(crate) struct Call {
    pub(crate) source: Source,
    /// When it ended, nanoseconds since the epoch (UTC).
    pub(crate) time: Option<u64>,
    /// (trace id, span id), to count a call found in both kinds of file once.
    pub(crate) id: Option<(u128, u64)>,
    pub(crate) model: Sym,
    pub(crate) provider: Sym,
    pub(crate) session: Sym,
    pub(crate) user: Sym,
    pub(crate) cost_center: Sym,
    /// Exact for audit records; for telemetry, the double's JSON text read as a decimal. `None`
    /// when the call carries none, or one that is not accepted ([`Call::cost_problem`]).
    pub(crate) cost: Option<Decimal>,
    /// A cost the call carries that is not accepted: left out of every total, and named.
    pub(crate) cost_problem: Option<Box<CostIssue>>,
    pub(crate) input_tokens: Option<u64>,
    pub(crate) output_tokens: Option<u64>,
    pub(crate) latency_ms: Option<f64>,
    pub(crate) violations: Vec<Sym>,
    pub(crate) drift: Vec<Drift>,
    pub(crate) failovers: Vec<Failover>,
}

/// A call's cost that is not accepted, and where the call is.
#[derive(Debug, Clone)]
pub(crate) struct CostIssue {
    /// `FILE:LINE`.
    pub(crate) at: String,
    pub(crate) problem: CostProblem,
}

impl fmt::Display for CostIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.problem)
    }
}

/// What one file held.
#[derive(Debug, Default, Clone)]
pub(crate) struct FileSummary {
    pub(crate) path: PathBuf,
    pub(crate) lines: u64,
    pub(crate) audit_records: u64,
    pub(crate) export_requests: u64,
    pub(crate) calls: u64,
}

impl FileSummary {
    pub(crate) fn kind(&self) -> &'static str {
        match (self.audit_records > 0, self.export_requests > 0) {
            (true, false) => "audit",
            (false, true) => "telemetry",
            (true, true) => "mixed",
            (false, false) => "empty",
        }
    }
}

/// Everything read from the files.
#[derive(Default)]
pub(crate) struct Input {
    pub(crate) names: Names,
    pub(crate) calls: Vec<Call>,
    pub(crate) files: Vec<FileSummary>,
    /// Audit `open` and `close` records: not calls.
    pub(crate) open_close: u64,
    /// Spans without `govops.contract.version` or `gen_ai.operation.name`.
    pub(crate) ungoverned_spans: u64,
    /// Warnings: incomplete last lines.
    pub(crate) warnings: Vec<String>,
}

/// A file that cannot be read, or a line that is neither kind.
#[derive(Debug)]
pub(crate) struct InputError(String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The keys that tell the kinds apart, and an audit record's cost as written (checked before the
/// record is read, so that a cost that is not accepted is named rather than failing the line).
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(default, borrow)]
    cost_usd: Option<&'a RawValue>,
    #[serde(rename = "resourceSpans")]
    spans: Option<IgnoredAny>,
    #[serde(rename = "resourceLogs")]
    logs: Option<IgnoredAny>,
    #[serde(rename = "resourceMetrics")]
    metrics: Option<IgnoredAny>,
    kind: Option<IgnoredAny>,
    prev: Option<IgnoredAny>,
}

/// An audit record's cost as written: a decimal string (a JSON number is read the same way).
fn audit_cost(raw: &RawValue) -> Result<Decimal, CostProblem> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => match serde_json::from_str::<String>(text) {
            Ok(unquoted) => amount::from_text(&unquoted),
            Err(_) => Err(CostProblem::NotANumber(text.to_owned())),
        },
        Some(b'-' | b'0'..=b'9') => amount::from_text(text),
        _ => Err(CostProblem::NotANumber(text.chars().take(64).collect())),
    }
}

/// Reads an audit record whose cost was checked apart. A cost that is not accepted, or is not
/// the decimal string the record's type reads, is replaced by `null` in the line before the
/// record is read (the same strict reading: a duplicate key is still an error), so that only the
/// cost is left out. The record's `cost_usd` is the checked cost.
fn audit_record(
    line: &str,
    cost: Option<(&RawValue, &Result<Decimal, CostProblem>)>,
) -> Result<AuditRecord, String> {
    let not_audit = |e: serde_json::Error| format!("not an audit record ({e}); {ACCEPTED}");
    let mut record = match cost {
        Some((raw, checked)) if checked.is_err() || !raw.get().starts_with('"') => {
            // The raw value borrows from the line: where it is in it.
            let start = (raw.get().as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
            let end = start.saturating_add(raw.get().len());
            let (Some(before), Some(after)) = (line.get(..start), line.get(end..)) else {
                return Err(format!(
                    "not an audit record (its cost cannot be read); {ACCEPTED}"
                ));
            };
            serde_json::from_str::<AuditRecord>(&format!("{before}null{after}"))
                .map_err(not_audit)?
        }
        _ => serde_json::from_str::<AuditRecord>(line).map_err(not_audit)?,
    };
    record.cost_usd = cost.and_then(|(_, c)| c.as_ref().ok()).copied();
    Ok(record)
}

impl Input {
    /// Reads every file in turn. A line that is neither kind, or a kind that does not parse, is an
    /// error naming the file and line; an incomplete last line of a file (no newline at its end: a
    /// crash during a write) that does not parse is a warning, and is skipped.
    pub(crate) fn read(paths: &[PathBuf]) -> Result<Self, InputError> {
        let mut input = Self::default();
        let mut seen = std::collections::HashSet::new();
        for path in paths {
            // A file named twice (`audit.jsonl audit.jsonl*`) is read once.
            if let Ok(canonical) = path.canonicalize()
                && !seen.insert(canonical)
            {
                input.warnings.push(format!(
                    "{} is given more than once: read once",
                    path.display()
                ));
                continue;
            }
            input.read_file(path)?;
        }
        Ok(input)
    }

    fn read_file(&mut self, path: &Path) -> Result<(), InputError> {
        let cannot = |e: &dyn fmt::Display| {
            InputError(format!("cannot read {}: {e}; {ACCEPTED}", path.display()))
        };
        // A FIFO, a device or a directory is refused at once; a regular file is streamed.
        let file = open_regular(path).map_err(|e| cannot(&e.reason()))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut summary = FileSummary {
            path: path.to_owned(),
            ..FileSummary::default()
        };
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            let read = (&mut reader)
                .take(LINE_MAX + 1)
                .read_until(b'\n', &mut buffer)
                .map_err(|e| cannot(&e))?;
            if read == 0 {
                break;
            }
            summary.lines += 1;
            let complete = buffer.last() == Some(&b'\n');
            let line_no = summary.lines;
            let at = || format!("{}:{line_no}", path.display());
            if !complete && buffer.len() as u64 > LINE_MAX {
                return Err(InputError(format!(
                    "{}: a line longer than {LINE_MAX} bytes (64 MiB); lines of at most 64 MiB are accepted, {ACCEPTED}",
                    at()
                )));
            }
            let result = std::str::from_utf8(&buffer)
                .map_err(|e| format!("not UTF-8 text ({e})"))
                .and_then(|line| self.read_line(line.trim(), &mut summary, &at));
            match result {
                Ok(()) => {}
                Err(problem) if !complete => {
                    self.warnings.push(format!(
                        "{}: incomplete last line ({problem}): a crash during a write? skipped",
                        at()
                    ));
                }
                Err(problem) => return Err(InputError(format!("{}: {problem}", at()))),
            }
        }
        self.files.push(summary);
        Ok(())
    }

    fn read_line(
        &mut self,
        line: &str,
        summary: &mut FileSummary,
        at: &dyn Fn() -> String,
    ) -> Result<(), String> {
        if line.is_empty() {
            return Ok(());
        }
        let probe: Probe = serde_json::from_str(line)
            .map_err(|e| format!("not a JSON object ({e}); {ACCEPTED}"))?;
        // A key written twice would be read as its last value: a cost could hide behind it.
        govops_core::json::unique_keys(line).map_err(|e| format!("{e}; {ACCEPTED}"))?;
        if probe.spans.is_some() || probe.logs.is_some() || probe.metrics.is_some() {
            let export: Export<'_> = serde_json::from_str(line)
                .map_err(|e| format!("not an OTLP-JSON export request ({e}); {ACCEPTED}"))?;
            summary.export_requests += 1;
            summary.calls += self.add_export(&export, at);
            return Ok(());
        }
        if probe.kind.is_some() && probe.prev.is_some() {
            let raw = probe.cost_usd.filter(|raw| raw.get() != "null");
            let cost = raw.map(audit_cost);
            let record = audit_record(line, raw.zip(cost.as_ref()))?;
            summary.audit_records += 1;
            if record.kind == RecordKind::Call {
                self.add_record(&record);
                summary.calls += 1;
                let missing = record.cost_usd.is_none()
                    && cost.is_none()
                    && cost_required(
                        record.operation.as_deref(),
                        record.violations.iter().map(|v| v.code()),
                    );
                let problem = match cost {
                    Some(Err(problem)) => Some(problem),
                    _ => missing.then_some(CostProblem::Missing),
                };
                if let (Some(call), Some(problem)) = (self.calls.last_mut(), problem) {
                    call.cost_problem = Some(Box::new(CostIssue { at: at(), problem }));
                }
            } else {
                self.open_close += 1;
            }
            return Ok(());
        }
        Err(format!(
            "neither an audit record nor an OTLP-JSON export request; {ACCEPTED}"
        ))
    }

    fn add_record(&mut self, record: &AuditRecord) {
        let names = &mut self.names;
        let time = record
            .timestamp
            .map(|t| u64::try_from(t.since_unix_epoch().as_nanos()).unwrap_or(u64::MAX));
        let violations: Vec<Sym> = record
            .violations
            .iter()
            .map(|v| names.intern(v.code()))
            .collect();
        let drift = record
            .violations
            .iter()
            .filter(|v| v.code() == "model_drift")
            .map(|_| Drift {
                time,
                score: record.drift.as_ref().map(|d| d.score),
                signals: record
                    .drift
                    .iter()
                    .flat_map(|d| &d.signals)
                    .map(|signal| names.intern(signal))
                    .collect(),
            })
            .collect();
        let failovers = record
            .failovers
            .iter()
            .map(|m| Failover {
                time,
                kind: names.intern(&m.kind),
                from: names.intern(&m.from),
                to: names.intern(&m.to),
                reason: names.intern(&m.reason),
            })
            .collect();
        let model = record
            .request_model
            .as_deref()
            .or(record.response_model.as_deref());
        self.calls.push(Call {
            source: Source::Audit,
            time,
            id: record
                .trace_id
                .as_deref()
                .zip(record.span_id.as_deref())
                .and_then(|(t, s)| ids(t, s)),
            model: names.opt(model),
            provider: names.opt(record.provider.as_deref()),
            session: names.opt(record.session_id.as_deref()),
            user: names.opt(record.user_id.as_deref()),
            cost_center: names.opt(record.cost_center.as_deref()),
            cost: record.cost_usd,
            cost_problem: None,
            input_tokens: record.input_tokens,
            output_tokens: record.output_tokens,
            latency_ms: record.latency_ms,
            violations,
            drift,
            failovers,
        });
    }

    /// Adds the governed spans of one export request; how many.
    fn add_export(&mut self, export: &Export<'_>, at: &dyn Fn() -> String) -> u64 {
        let mut added = 0;
        for resource_spans in &export.resource_spans {
            let resource = resource_spans
                .resource
                .as_ref()
                .map_or(&[][..], |r| &r.attributes[..]);
            let resource_cost_center = find(resource, "govops.cost_center").and_then(AnyValue::str);
            for span in resource_spans.scope_spans.iter().flat_map(|s| &s.spans) {
                let attrs = &span.attributes[..];
                let governed = find(attrs, "govops.contract.version").is_some()
                    || find(attrs, "gen_ai.operation.name").is_some();
                if !governed {
                    self.ungoverned_spans += 1;
                    continue;
                }
                self.add_span(span, resource_cost_center, at);
                added += 1;
            }
        }
        added
    }

    fn add_span(
        &mut self,
        span: &Span<'_>,
        resource_cost_center: Option<&str>,
        at: &dyn Fn() -> String,
    ) {
        let names = &mut self.names;
        let attrs = &span.attributes[..];
        let text = |key: &str| find(attrs, key).and_then(AnyValue::str);
        let end = nanos(span.end.as_ref());
        let start = nanos(span.start.as_ref());
        let mut violations: Vec<Sym> = find(attrs, "govops.safety.violations")
            .map(|v| v.strings().map(|code| names.intern(code)).collect())
            .unwrap_or_default();
        let listed = find(attrs, "govops.safety.violations").is_some();
        let mut drift = Vec::new();
        let mut failovers = Vec::new();
        for event in &span.events {
            let ev = &event.attributes[..];
            let ev_text = |key: &str| find(ev, key).and_then(AnyValue::str);
            let time = nanos(event.time.as_ref()).or(end);
            match &*event.name {
                "govops.guard.tripped" => {
                    let code = ev_text("govops.violation");
                    if !listed && let Some(code) = code {
                        violations.push(names.intern(code));
                    }
                    if code == Some("model_drift") {
                        drift.push(Drift {
                            time,
                            score: find(ev, "govops.drift.score").and_then(AnyValue::f64),
                            signals: find(ev, "govops.drift.signals")
                                .map(|s| s.strings().map(|s| names.intern(s)).collect())
                                .unwrap_or_default(),
                        });
                    }
                }
                "govops.failover" => failovers.push(Failover {
                    time,
                    kind: names.opt(ev_text("govops.failover.kind")),
                    from: names.opt(ev_text("govops.failover.from")),
                    to: names.opt(ev_text("govops.failover.to")),
                    reason: names.opt(ev_text("govops.failover.reason")),
                }),
                _ => {}
            }
        }
        let latency_ms = find(attrs, "govops.latency_ms")
            .and_then(AnyValue::f64)
            .or_else(|| {
                let (start, end) = (start?, end?);
                end.checked_sub(start).map(|d| d as f64 / 1e6)
            });
        let model = text("gen_ai.request.model").or(text("gen_ai.response.model"));
        let cost_center = text("govops.cost_center").or(resource_cost_center);
        let (cost, cost_problem) = match find(attrs, "govops.cost.total_usd").map(AnyValue::cost) {
            None if cost_required(
                text("gen_ai.operation.name"),
                violations.iter().map(|&v| names.get(v)),
            ) =>
            {
                let problem = CostProblem::Missing;
                (None, Some(Box::new(CostIssue { at: at(), problem })))
            }
            None => (None, None),
            Some(Ok(cost)) => (Some(cost), None),
            Some(Err(problem)) => (None, Some(Box::new(CostIssue { at: at(), problem }))),
        };
        let call = Call {
            source: Source::Telemetry,
            time: end,
            id: ids(&span.trace_id, &span.span_id),
            model: names.opt(model),
            provider: names.opt(text("gen_ai.provider.name")),
            session: names.opt(text("session.id")),
            user: names.opt(text("user.id")),
            cost_center: names.opt(cost_center),
            cost,
            cost_problem,
            input_tokens: find(attrs, "gen_ai.usage.input_tokens").and_then(AnyValue::u64),
            output_tokens: find(attrs, "gen_ai.usage.output_tokens").and_then(AnyValue::u64),
            latency_ms,
            violations,
            drift,
            failovers,
        };
        self.calls.push(call);
    }

    /// What an audit record written before records held drift figures and failovers lacks, from
    /// the telemetry span of the same call: its failover events and its trip's score and signals.
    fn fill_from_span(&mut self, span: usize, record: usize) {
        // The span is dropped after this: what the record lacks is moved out of it.
        let failovers = std::mem::take(&mut self.calls[span].failovers);
        let drift = std::mem::take(&mut self.calls[span].drift);
        let record = &mut self.calls[record];
        if record.failovers.is_empty() {
            record.failovers = failovers;
        }
        for (kept, seen) in record.drift.iter_mut().zip(drift) {
            if kept.score.is_none() {
                kept.score = seen.score;
                kept.signals = seen.signals;
            }
        }
    }

    /// Removes the telemetry spans of calls an audit log also holds (same trace and span id), and
    /// repeated records of one call (a file given twice): the audit record, exact, is kept.
    /// How many were removed.
    pub(crate) fn dedupe(&mut self) -> u64 {
        let mut seen: HashMap<(u128, u64), usize> = HashMap::new();
        let mut drop = vec![false; self.calls.len()];
        // (telemetry span, audit record) of one call.
        let mut merges: Vec<(usize, usize)> = Vec::new();
        let mut removed = 0;
        for (i, call) in self.calls.iter().enumerate() {
            let Some(id) = call.id else { continue };
            match seen.get(&id) {
                None => {
                    seen.insert(id, i);
                }
                Some(&kept) => {
                    removed += 1;
                    if self.calls[kept].source == Source::Telemetry && call.source == Source::Audit
                    {
                        drop[kept] = true;
                        seen.insert(id, i);
                        merges.push((kept, i));
                    } else {
                        if self.calls[i].source == Source::Telemetry
                            && self.calls[kept].source == Source::Audit
                        {
                            merges.push((i, kept));
                        }
                        drop[i] = true;
                    }
                }
            }
        }
        for (span, record) in merges {
            self.fill_from_span(span, record);
        }
        if removed > 0 {
            let mut flags = drop.into_iter();
            self.calls.retain(|_| !flags.next().unwrap_or(false));
        }
        removed
    }
}
