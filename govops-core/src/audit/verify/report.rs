//! What verifying finds: the findings, each file's summary, the report.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// A record's content was changed (it does not match its hash, or it was re-hashed and the
    /// next record's `prev` no longer matches it).
    Modified,
    /// A line that is not part of the chain was added.
    Inserted,
    /// Records are missing: a gap in the sequence that the chain does not explain otherwise.
    Deleted,
    /// Records are out of order (for example two adjacent ones swapped).
    Reordered,
    /// An incomplete last line of a file: what a crash during a write leaves. Not tampering.
    Truncated,
    /// A writer stopped without a `close` record (a crash, a kill, a power loss) and the next one
    /// went on from its last complete record: records handed to it and not yet written are not
    /// in the log. Not tampering: the chain is intact.
    UncleanStop,
}

impl FindingKind {
    /// `modified`, `inserted`, `deleted`, `reordered`, `truncated` or `unclean_stop`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            FindingKind::Modified => "modified",
            FindingKind::Inserted => "inserted",
            FindingKind::Deleted => "deleted",
            FindingKind::Reordered => "reordered",
            FindingKind::Truncated => "truncated",
            FindingKind::UncleanStop => "unclean_stop",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem at one line of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// What it is.
    pub kind: FindingKind,
    /// The file, as given.
    pub file: PathBuf,
    /// The 1-based line. For `deleted`, the line just after the gap (the one that now holds the
    /// record after the missing ones).
    pub line: u64,
    /// The seq the line's record claims, when it can be read.
    pub seq: Option<u64>,
    /// What was found, in words.
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.kind,
            self.detail
        )
    }
}

/// One file of the log, in chain order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FileSummary {
    /// The file, as given.
    pub path: PathBuf,
    /// Intact records checked in it.
    pub records: u64,
    /// Seq of its first intact record.
    pub first_seq: Option<u64>,
    /// Seq of its last intact record.
    pub last_seq: Option<u64>,
}

/// What [`verify`](crate::audit::verify()) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The files, in chain order (by the seq of their first record), each once.
    pub files: Vec<FileSummary>,
    /// Records checked and intact (before the first problem, when there is one).
    pub records: u64,
    /// The first modified, inserted, deleted or reordered record, if any.
    pub problem: Option<Finding>,
    /// Incomplete last lines of files (crashes during a write): warnings, not tampering.
    pub truncated: Vec<Finding>,
    /// Writers that stopped without a `close` record and were followed by another (crashes,
    /// kills): warnings, not tampering, at the `open` record of the writer that went on. A log
    /// whose last writer has not closed it yet is [`Report::closed`] `false` instead.
    pub unclean_stops: Vec<Finding>,
    /// Seq of the last intact record.
    pub last_seq: Option<u64>,
    /// Hash of the last intact record: keep it elsewhere to detect later removal of records from
    /// the end, which a chain alone cannot show.
    pub last_hash: Option<String>,
    /// Whether the last record is a `close` record (the writer was shut down cleanly).
    pub closed: bool,
    /// Seq of the first record checked: 0, or with [`Start::FirstRecord`] the seq of the first
    /// file's `open` record.
    pub first_seq: Option<u64>,
    /// The hash the first record checked chains to ([`GENESIS`](crate::audit::GENESIS) from seq 0): with
    /// [`Start::FirstRecord`], compare it with a hash kept from an earlier verification.
    pub first_prev: Option<String>,
}

/// Where [`verify_from`](crate::audit::verify_from) expects the chain to begin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Start {
    /// At seq 0, whose `prev` is [`GENESIS`](crate::audit::GENESIS): the whole log. What [`verify`](crate::audit::verify())
    /// checks.
    #[default]
    Genesis,
    /// At the first record of the files given, which must be an intact `open` record (every file
    /// begins with one): the recent files of a log whose older files were archived or removed.
    /// The records before it are not checked, so a change to them cannot be seen; the report's
    /// [`Report::first_prev`] is the hash of the record before it, to compare with one kept
    /// elsewhere.
    FirstRecord,
}

impl Report {
    /// Nothing checked yet in `files` (in chain order).
    pub(super) fn new(files: &[PathBuf]) -> Report {
        Report {
            files: files
                .iter()
                .map(|path| FileSummary {
                    path: path.clone(),
                    records: 0,
                    first_seq: None,
                    last_seq: None,
                })
                .collect(),
            records: 0,
            problem: None,
            truncated: Vec::new(),
            unclean_stops: Vec::new(),
            last_seq: None,
            last_hash: None,
            closed: false,
            first_seq: None,
            first_prev: None,
        }
    }

    /// Whether the chain is intact: no problem (incomplete last lines are allowed).
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}
