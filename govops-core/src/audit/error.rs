//! What opening, writing and verifying an audit log can fail with.

use std::io;
use std::path::PathBuf;

use super::record::SCHEMA_VERSION;

/// What an audit log file must hold, for messages.
const ACCEPTED: &str = "an empty file, or JSON lines as govops's AuditLog writes them (each an object with \
     schema_version, seq, kind, prev and, last, hash)";

/// `FILE:LINE`, or `FILE` (its end) when the line was not counted.
fn at(path: &std::path::Path, line: u64) -> String {
    if line == 0 {
        format!("{} (at its end)", path.display())
    } else {
        format!("{}:{line}", path.display())
    }
}

/// An error of the audit log: opening, writing, rotating or verifying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The log file cannot be created or opened for appending.
    #[error(
        "audit log {}: cannot be opened for appending: {source}; accepted: a file in an existing directory that this process may write",
        path.display()
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file cannot be read.
    #[error(
        "audit log {}: cannot be read: {source}; accepted: a readable file (an audit log or one of its rotated files)",
        path.display()
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Another writer, in this process or another, has the log open: two writers would break its
    /// chain.
    #[error(
        "audit log {}: is being written by another AuditLog (it holds the lock on {}); accepted: one writer per log: shut the other down first, or give this one its own file",
        path.display(),
        lock.display()
    )]
    InUse {
        /// The log's active file.
        path: PathBuf,
        /// The locked file: the log's active file itself (a lock file beside it could be deleted
        /// while its writer runs).
        lock: PathBuf,
    },
    /// A file exists but is not an audit log.
    #[error("{}:{line}: not an audit log: {problem}; accepted: {ACCEPTED}", path.display())]
    NotAuditLog {
        /// The file.
        path: PathBuf,
        /// The 1-based line that shows it.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// The last complete record of an existing log does not match its hash: the writer does not
    /// chain onto a record that was changed.
    #[error(
        "{}:{line}: the last complete record of the audit log does not match its hash, so the log was changed; run `govops audit verify` on it and move it aside; accepted: a log whose last record is intact",
        path.display()
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The 1-based line of that record.
        line: u64,
    },
    /// A line is longer than the longest line read ([`MAX_LINE`](super::MAX_LINE)): the writer
    /// never writes one, and it is not read whole (a file without newlines could be any size).
    #[error(
        "{}: a line longer than {limit} bytes ({} MiB) without a newline: not an audit record; accepted: lines of at most {limit} bytes, as govops's AuditLog writes them",
        at(path, *line),
        limit >> 20
    )]
    LineTooLong {
        /// The file.
        path: PathBuf,
        /// The 1-based line; 0 when it was found from the end of the file (a writer reopening a
        /// log reads its end, not all its lines).
        line: u64,
        /// The longest line read, in bytes.
        limit: u64,
    },
    /// A record has a schema version this build does not know.
    #[error(
        "{}:{line}: schema_version {found} is not supported; accepted: {SCHEMA_VERSION}",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: u64,
        /// The version found.
        found: u64,
    },
    /// Writing to the log failed (on the writer thread: reported by the next `flush` or
    /// `shutdown`).
    #[error(
        "audit log {}: writing failed: {source}; {lost} record(s) handed over were not written",
        path.display()
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// The first I/O error.
        #[source]
        source: io::Error,
        /// Records handed over since the last report that are not in the log.
        lost: u64,
    },
    /// Rotating the log by size failed; records went on into the current file.
    #[error(
        "audit log {}: could not rotate it to {}: {source}; records went on into the current file",
        path.display(),
        to.display()
    )]
    Rotate {
        /// The active file.
        path: PathBuf,
        /// The name it was to be given.
        to: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A record cannot be encoded as JSON.
    #[error("an audit record cannot be encoded as JSON: {source}")]
    Encode {
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The log was shut down: no more records are accepted.
    #[error("audit log {}: shut down; no record is accepted after `shutdown`", path.display())]
    Closed {
        /// The file.
        path: PathBuf,
    },
    /// The writer thread could not be started, or ended abnormally.
    #[error("audit log {}: the writer thread {problem}", path.display())]
    Thread {
        /// The file.
        path: PathBuf,
        /// What happened to it.
        problem: String,
    },
    /// `verify` was given no file.
    #[error("no audit log file given; accepted: one or more files that an AuditLog wrote")]
    NoFiles,
}
