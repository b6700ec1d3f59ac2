//! One audit record: one line of the log.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::chain::sha256_hex;
use super::fingerprint::ConfigFingerprint;
use super::time::Timestamp;
use crate::violation::{Decision, Violation, Violations};

/// The record schema this build writes and reads (`schema_version`).
pub const SCHEMA_VERSION: u32 = 1;

/// The `prev` of the first record of a log: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a record is (`kind`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A writer opened the log (a new log, a reopen, a rotation or a recovery): it carries the full
    /// configuration fingerprint. Every file begins with one.
    Open,
    /// One governed call. The only kind [`AuditLog::append`](super::AuditLog::append) writes.
    #[default]
    Call,
    /// The writer was shut down cleanly: the last record a writer writes.
    Close,
}

impl RecordKind {
    /// `open`, `call` or `close`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::Open => "open",
            RecordKind::Call => "call",
            RecordKind::Close => "close",
        }
    }
}

/// Why a writer wrote an `open` record (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenReason {
    /// A new log: the record is seq 0.
    New,
    /// An existing log was opened again; the chain goes on from its last complete record.
    Reopen,
    /// The active file passed the size limit and was renamed; this file goes on with the chain.
    Rotate,
    /// The active file ended with an incomplete line (a crash during a write, or a failed write):
    /// it was renamed as it is, and this file goes on from its last complete record.
    Recover,
}

/// What a writer found when it opened a log whose writer before it stopped without a `close`
/// record (a crash, a kill, a power loss): the `unclean_stop` of its `open` record. Records handed
/// to the stopped writer and not yet written are not in the log; this says where its part ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UncleanStop {
    /// Seq of the last complete record the stopped writer left (absent when the log held none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
    /// That record's kind: `open` or `call` (a `close` would have been a clean stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_kind: Option<RecordKind>,
    /// The name of the file the stopped writer wrote last, beside the log, as it is now (renamed
    /// `NAME.SEQ` when it ends with an incomplete line).
    pub file: String,
    /// The 1-based line of the incomplete line the stop left at the end of that file, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torn_line: Option<u64>,
    /// That incomplete line's length in bytes (the file keeps it, unless it was all the file held:
    /// a first record cut short, which the new writer replaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torn_bytes: Option<u64>,
}

impl UncleanStop {
    /// An unclean stop found in `file` (a file name), after the record `last` (its seq and kind).
    #[must_use]
    pub fn new(file: impl Into<String>, last: Option<(u64, RecordKind)>) -> Self {
        Self {
            last_seq: last.map(|(seq, _)| seq),
            last_kind: last.map(|(_, kind)| kind),
            file: file.into(),
            torn_line: None,
            torn_bytes: None,
        }
    }
}

/// Message content, written only when the caller passes it (when content is captured, contract
/// section 9); govops passes it redacted by the same detectors as every other sink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// The prompt, as sent, with personal data and credentials redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The response, as received, with personal data and credentials redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

/// A `model_drift` trip's figures (`drift`): what the call's `govops.guard.tripped` event carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftTrip {
    /// `govops.drift.score`, the model's composite score in 0..1 when the call tripped.
    pub score: f64,
    /// `govops.drift.signals`: the signals that moved, as `signal:direction`
    /// (`"output_tokens:up"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<String>,
}

/// One move of a call's traffic between providers (`failovers`): what its `govops.failover`
/// span event carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverMove {
    /// `govops.failover.kind`: `failover` or `failback` when the router moved its traffic, `retry`
    /// when this call's attempt failed and the next went elsewhere.
    pub kind: String,
    /// `govops.failover.from`: the provider traffic left.
    pub from: String,
    /// `govops.failover.to`: the provider traffic went to.
    pub to: String,
    /// `govops.failover.reason`: why (`breaker_open`, `error`, `recovered`, ...).
    pub reason: String,
}

/// One record of the audit log, one JSON object per line with these keys, in this order.
///
/// Build a call record with `AuditRecord { .. Default::default() }` and hand it to
/// [`AuditLog::append`](super::AuditLog::append): the writer sets `schema_version`, `seq`, `kind`
/// (`call`), `prev` and `hash`, the `timestamp` when it is `None`, and `config`, `service`,
/// `environment`, `owner`, `cost_center` and `data_classification` from the log's
/// [`ConfigFingerprint`] when they are `None`. Absent optional values are left out of the line.
///
/// Serializing a record writes every key but `hash`: those bytes are what `hash` is the SHA-256
/// of ([`record_hash`](super::record_hash)); [`seal`](super::seal) writes the line with the hash.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The record schema, [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Position in the chain: 0 for the first record of a log, then strictly +1, across files.
    pub seq: u64,
    /// `open`, `call` or `close`.
    pub kind: RecordKind,
    /// When the call ended (set by `append` when `None`), UTC, RFC 3339 with nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// The W3C trace id, 32 lowercase hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The governed span's id, 16 lowercase hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// `service.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `deployment.environment.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// `govops.owner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `govops.cost_center`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    /// `govops.data_classification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_classification: Option<String>,
    /// `session.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `user.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `gen_ai.operation.name`: `chat`, `text_completion`, `embeddings`, `retrieval`,
    /// `execute_tool`, `invoke_agent` or `invoke_workflow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// `gen_ai.request.model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_model: Option<String>,
    /// `gen_ai.response.model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_model: Option<String>,
    /// `gen_ai.provider.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `gen_ai.tool.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// `gen_ai.agent.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// `gen_ai.usage.input_tokens` (cache reads and writes included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// `gen_ai.usage.output_tokens` (reasoning included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// `gen_ai.usage.cache_read.input_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<u64>,
    /// `gen_ai.usage.cache_creation.input_tokens` (5-minute and 1-hour writes together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_tokens: Option<u64>,
    /// `gen_ai.usage.reasoning.output_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// `govops.cost.total_usd`, exact, written as a decimal string (`"0.0045"`); absent when the
    /// call is unpriced, never `"0"` for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<Decimal>,
    /// `govops.latency_ms`, wall time of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// `govops.policy.decision`: `allow`, `flag` or `deny`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "decision_serde"
    )]
    pub decision: Option<Decision>,
    /// `govops.safety.violations`, in the order raised; absent when none.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "violations_serde"
    )]
    pub violations: Vec<Violation>,
    /// `error.type`, when the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// The `model_drift` trip's figures, when the call carries that code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftTrip>,
    /// The moves between providers during the call, in order; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failovers: Vec<FailoverMove>,
    /// The request's temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// The request's nucleus-sampling `top_p`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// The request's sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// The request's maximum output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// SHA-256 of the prompt's bytes, lowercase hex ([`AuditRecord::hash_prompt`]); govops hashes
    /// the prompt as redacted, so that a short secret cannot be found from its hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_sha256: Option<String>,
    /// SHA-256 of the response's bytes, lowercase hex ([`AuditRecord::hash_response`]); govops
    /// hashes the response as redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_sha256: Option<String>,
    /// The content itself, redacted: set it only where content is captured (the policy's
    /// `[capture] content`, else `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// [`ConfigFingerprint::sha256`] of the configuration the record was written under; the full
    /// fingerprint is in the file's `open` record with the same `config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// `open` records: why the writer opened the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<OpenReason>,
    /// `open` records: the full configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<ConfigFingerprint>,
    /// `open` records after a failed write: records handed over that are not in the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    /// `open` records: the writer before this one stopped without a `close` record, and where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unclean_stop: Option<UncleanStop>,
    /// The `hash` of the record before it ([`GENESIS`] for seq 0).
    pub prev: String,
    /// SHA-256 of this record's JSON without `hash`, lowercase hex; always the last key of the
    /// line. Not written by `Serialize` (see the type's documentation), read by `Deserialize`.
    #[serde(default, skip_serializing)]
    pub hash: String,
}

impl AuditRecord {
    /// Reads one line of an audit log (with or without its newline) as a record, refusing a line
    /// whose JSON holds a key twice in one object: its hash may be intact, yet readers would
    /// disagree on the value (two `cost_usd` keys: one reader sees the cost, another a free call).
    ///
    /// # Errors
    ///
    /// What is wrong, in words: not JSON, not a record, or the key held twice and the object it is in.
    pub fn from_line(line: &[u8]) -> Result<AuditRecord, String> {
        super::unique::check_unique_keys(line)?;
        serde_json::from_slice(line).map_err(|e| e.to_string())
    }

    /// Sets `prompt_sha256` to the SHA-256 of `prompt`.
    pub fn hash_prompt(&mut self, prompt: impl AsRef<[u8]>) {
        self.prompt_sha256 = Some(sha256_hex(prompt.as_ref()));
    }

    /// Sets `response_sha256` to the SHA-256 of `response`.
    pub fn hash_response(&mut self, response: impl AsRef<[u8]>) {
        self.response_sha256 = Some(sha256_hex(response.as_ref()));
    }

    /// Sets `violations` from a call's [`Violations`], and `decision` to their decision when it is
    /// `None`.
    pub fn set_violations(&mut self, violations: &Violations) {
        self.violations = violations.iter().collect();
        self.decision.get_or_insert(violations.decision());
    }
}

mod decision_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::violation::Decision;

    #[allow(clippy::ref_option)] // the signature serde's `with` requires
    pub(super) fn serialize<S: Serializer>(
        decision: &Option<Decision>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match decision {
            Some(d) => serializer.serialize_str(d.as_str()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decision>, D::Error> {
        let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(deserializer)?;
        text.map(|text| {
            text.parse::<Decision>().map_err(|_| {
                serde::de::Error::custom(format!(
                    "decision {:?} is not one of allow, flag, deny",
                    &*text
                ))
            })
        })
        .transpose()
    }
}

mod violations_serde {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::violation::Violation;

    pub(super) fn serialize<S: Serializer>(
        violations: &[Violation],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(violations.len()))?;
        for v in violations {
            seq.serialize_element(v.code())?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Violation>, D::Error> {
        let codes = <Vec<std::borrow::Cow<'de, str>>>::deserialize(deserializer)?;
        codes
            .iter()
            .map(|code| {
                Violation::from_code(code).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "{code:?} is not a violation code of contract section 4"
                    ))
                })
            })
            .collect()
    }
}
