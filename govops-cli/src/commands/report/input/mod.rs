//! Reading the report's files: audit logs (`GOVOPS_AUDIT_LOG`, one [`AuditRecord`] per line) and
//! JSON-lines telemetry (`GOVOPS_TELEMETRY_FILE`, one OTLP-JSON export request per line), told
//! apart line by line, into one list of calls.
//!
//! Each line is told apart here; [`audit`] makes a call of an audit record, [`telemetry`] of an
//! export request's governed spans (read through [`otlp`]); [`call`] is what both make, with its
//! strings interned in [`names`].
//!
//! [`AuditRecord`]: govops_core::audit::AuditRecord

mod audit;
mod call;
mod names;
mod otlp;
mod telemetry;

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use govops_core::audit::RecordKind;
use govops_core::input::open_regular;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

pub(crate) use call::{Call, CostIssue, Source};
pub(crate) use names::{NONE, Names, Sym};
use otlp::Export;

/// The longest line read: an OTLP-JSON export request of a full batch of spans with captured
/// content fits many times over; a file without newlines cannot take more memory than this.
pub(crate) const LINE_MAX: u64 = 64 << 20;

/// What a line must be, for messages.
pub(crate) const ACCEPTED: &str = "accepted: audit log records (GOVOPS_AUDIT_LOG: a JSON object \
    with `kind` and `prev` per line) or JSON-lines telemetry (GOVOPS_TELEMETRY_FILE: an OTLP-JSON \
    export request with `resourceSpans`, `resourceLogs` or `resourceMetrics` per line)";

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
            let (added, ungoverned) = telemetry::add(&export, &mut self.names, &mut self.calls, at);
            summary.calls += added;
            self.ungoverned_spans += ungoverned;
            return Ok(());
        }
        if probe.kind.is_some() && probe.prev.is_some() {
            let raw = probe.cost_usd.filter(|raw| raw.get() != "null");
            let cost = raw.map(audit::cost);
            let record = audit::record(line, raw.zip(cost.as_ref()))
                .map_err(|e| format!("{e}; {ACCEPTED}"))?;
            summary.audit_records += 1;
            if record.kind == RecordKind::Call {
                self.calls
                    .push(audit::call(&record, cost, &mut self.names, at));
                summary.calls += 1;
            } else {
                self.open_close += 1;
            }
            return Ok(());
        }
        Err(format!(
            "neither an audit record nor an OTLP-JSON export request; {ACCEPTED}"
        ))
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
