//! The audit log (`GOVOPS_AUDIT_LOG`): an append-only, hash-chained JSON-lines record of every
//! governed call, and its verifier.
//!
//! ```
//! use govops_core::audit::{AuditLog, AuditOptions, AuditRecord, ConfigFingerprint, verify};
//!
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("audit.jsonl");
//! let options = AuditOptions {
//!     rotate_bytes: Some(64 * 1024 * 1024),
//!     fingerprint: Some(ConfigFingerprint { app: "support-bot".into(), ..Default::default() }),
//!     ..AuditOptions::default()
//! };
//! let log = AuditLog::open(&path, options)?; // Clone it into every thread that records calls
//! log.append(AuditRecord { request_model: Some("gpt-4o".into()), ..Default::default() })?;
//! log.flush()?; // on disk (handed to the OS) now
//! log.shutdown()?;
//! assert!(verify(&[&path])?.is_intact());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What a line holds
//!
//! One [`AuditRecord`] per line: the chain fields (`schema_version`, `seq`, `kind`, `prev`,
//! `hash`), when (`timestamp`), the trace and span ids, the contract's fields (service,
//! environment, owner, cost center, data classification, session and user, operation, models,
//! provider, tool or agent, token counts, `latency_ms`, `decision`, `violations`, `error_type`),
//! a `model_drift` trip's score and signals (`drift`), the moves between providers during the
//! call (`failovers`: kind, from, to, reason), the exact cost as a decimal string (`cost_usd`, absent when unpriced, never `"0"`), the model
//! parameters (`temperature`, `top_p`, `seed`, `max_tokens`), the SHA-256 of prompt and response
//! (`prompt_sha256`, `response_sha256`), the content only when the caller passes it, and
//! `config`, the SHA-256 of the run's [`ConfigFingerprint`].
//!
//! Three kinds of record share the chain: `open` (a writer started: a new log, a reopen, a
//! rotation or a recovery; it carries the full fingerprint, so every file holds the
//! configuration its calls refer to), `call` (one governed call) and `close` (clean shutdown).
//! The fingerprint is written in full once per `open` rather than in every record: a record
//! stays small, and since every file begins with an `open` record, each file is self-describing
//! (a record's `config` is found in an `open` record above it in the same file).
//!
//! # The chain
//!
//! ```text
//! hash = SHA-256( the record's JSON without "hash" )   the JSON holds seq and prev
//! prev = the hash of the record before it              64 zeros for seq 0
//! seq  = 0, 1, 2, ...                                  strictly +1, across files
//! ```
//!
//! `hash` is always the line's last key, so a verifier hashes the line's own bytes (not a
//! re-encoding) and any changed byte changes it ([`seal`], [`record_hash`]: the one function the
//! writer and the verifier share).
//!
//! # Writing
//!
//! [`AuditLog::append`] hands the record over a bounded channel to a background thread (when the
//! channel is full it blocks: nothing is dropped). The thread gives each record its seq, prev and
//! hash and appends whole lines with one `write_all` per batch of records waiting (never part of
//! a line in one write and the rest in another), so a crash leaves at most an incomplete last
//! line. [`AuditLog::flush`] waits until everything handed over before it is written;
//! [`AuditLog::shutdown`] (or dropping the last clone) writes the rest and a `close` record.
//! Write failures are kept and returned by the next `flush` or `shutdown`, with the count of
//! records lost, and the writer carries on from the file's last complete record.
//!
//! **Rotation**: with [`AuditOptions::rotate_bytes`], when the next line would take the active
//! file past the limit, it is renamed `NAME.SEQ` (its first record's seq, 12 digits) and the
//! chain goes on in a fresh `NAME`, which begins with an `open` record whose `prev` is the hash
//! of the last record of the file before. [`verify`] orders the files it is given by their first
//! seq, so `govops audit verify audit.jsonl*` checks the whole chain.
//!
//! **Reopening** goes on from the last complete record. A file that ends with an incomplete line
//! is not appended to: it is renamed as a rotation would, and the chain goes on in a fresh file
//! from its last complete record, with an `open` record of reason `recover`; the incomplete line
//! stays where the verifier reports it, as `truncated`. When the last writer did not end with a
//! `close` record (it crashed or was killed), the new `open` record carries `unclean_stop`
//! ([`UncleanStop`]: the last record it left, the incomplete line it found), which the chain
//! protects like any field, and the verifier reports the stop.
//!
//! **One writer per log**: a writer locks the log file itself (each new file too), so a second
//! writer is refused ([`AuditError::InUse`]) and there is no lock file a clean-up could delete.
//!
//! **Reading**: every line is read with a bound, [`MAX_LINE`] (64 MiB): a longer line is
//! [`AuditError::LineTooLong`], never held whole; the writer never writes one. A line whose JSON
//! holds a key twice in one object is not a record, whatever its hash: readers disagree on which
//! value counts ([`AuditRecord::from_line`] reads a line as `govops report` does).
//!
//! # What the verifier finds
//!
//! [`verify`] reads the files in chain order, checks each line's hash, `seq` and `prev`, and stops
//! at the first line that does not follow. It then tries each explanation below, in this order,
//! against the lines around the break, and names the first that makes the chain whole again:
//!
//! | tampering (one record) | what the chain shows | reported |
//! | --- | --- | --- |
//! | a field of a record edited (any record: first, middle, last) | its hash does not match its content | `modified` at that line |
//! | a record edited and re-hashed | it is intact, but the next record's `prev` is its old hash | `modified` at that line (the record before the break) |
//! | a record deleted (first, middle, or the last call before `close`) | the next record's `seq` skips one and the chain goes on from it | `deleted` at the line that now holds the record after the gap |
//! | a line inserted (a forged record with any hash, a copy of another record, or a line that is not a record) | without it, the next lines chain on | `inserted` at that line |
//! | a forged record inserted with a correct seq, prev and hash | it is accepted, then the next record has the same seq and prev as it | `inserted` at the forged line |
//! | a record appended after the `close` record | the record after a `close` must be an `open` | `inserted` at that line |
//! | two adjacent records swapped | the second, then the first, then the rest chain | `reordered` at the first of the two lines |
//! | a record moved further | the expected seq is found later in the log | `reordered` at the line that holds the wrong seq |
//! | a crash during a write | the last line of a file is incomplete (no newline) and the chain goes on from the record before it | `truncated`: a warning, not tampering |
//! | a writer stopped without `close` (a crash, a kill), and another went on | an `open` record that is not a rotation's follows a record that is not a `close`, or says `unclean_stop` | `unclean_stop` at that `open` record: a warning, not tampering |
//! | a key twice in one object of a record | the line is not a record, even with its hash intact | `modified` (or `inserted`) at that line, naming the key |
//! | a complete last line cut short | an incomplete line, yet the chain goes on from the record it held | `modified` at that line |
//! | an incomplete last line that does not begin like a record | not what a crash leaves | `modified` at that line |
//!
//! What a chain without a secret cannot show, and why: the removal of records from the **end** of
//! the log (they look like a log that was never longer; the report says whether the log ends with
//! a `close` record, and gives the last hash to keep elsewhere as an anchor), a change to the very
//! last record when it is re-hashed (nothing after it holds its hash), and a rewrite of every
//! record from some point on (anyone can compute SHA-256). Keeping [`Report::last_hash`] outside
//! the log turns all three into a mismatch.
//!
//! A log whose oldest files were archived or removed no longer begins at seq 0: [`verify`]
//! reports that as `deleted` at the first line left. [`verify_from`] with [`Start::FirstRecord`]
//! checks what is left from the first file's `open` record, and [`Report::first_prev`] gives the
//! hash that record chains to, to compare with a [`Report::last_hash`] kept from before.

mod chain;
mod error;
mod files;
mod fingerprint;
mod lines;
mod locate;
mod record;
mod time;
mod unique;
mod verify;
mod writer;

pub use chain::{record_hash, seal, sha256_hex, to_hex};
pub use error::AuditError;
pub use fingerprint::ConfigFingerprint;
pub use record::{
    AuditRecord, Content, DriftTrip, FailoverMove, GENESIS, OpenReason, RecordKind, SCHEMA_VERSION,
    UncleanStop,
};
pub use time::Timestamp;
pub use verify::{FileSummary, Finding, FindingKind, Report, Start, verify, verify_from};
pub use writer::{AuditLog, AuditOptions, DEFAULT_QUEUE, MAX_LINE};
