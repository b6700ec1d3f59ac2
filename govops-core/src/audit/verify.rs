//! Verifying a log: the chain checked line by line across its files, and the first problem named.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::chain::{Sealed, to_hex};
use super::error::AuditError;
use super::lines::{Rec, Stream, order};
use super::record::{OpenReason, RecordKind, SCHEMA_VERSION};

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

/// What [`verify`] found.
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
    /// The hash the first record checked chains to ([`GENESIS`](super::GENESIS) from seq 0): with
    /// [`Start::FirstRecord`], compare it with a hash kept from an earlier verification.
    pub first_prev: Option<String>,
}

/// Where [`verify_from`] expects the chain to begin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Start {
    /// At seq 0, whose `prev` is [`GENESIS`](super::GENESIS): the whole log. What [`verify`]
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
    /// Whether the chain is intact: no problem (incomplete last lines are allowed).
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Checks the chain of an audit log made of `files` (any order: they are put in chain order by
/// the seq of their first record, so `audit.jsonl*` in shell order will do; a file given twice is
/// read once).
///
/// Every line must be a JSON record whose `hash` is the SHA-256 of its content, whose `seq` is
/// one more than the record before it (0 for the first) and whose `prev` is that record's hash
/// (64 zeros for the first). The first line that is not is classified (see the module
/// documentation) and reported as [`Report::problem`]; an incomplete last line of a file is
/// [`FindingKind::Truncated`] in [`Report::truncated`]; a writer that stopped without a `close`
/// record and was followed by another is [`FindingKind::UncleanStop`] in
/// [`Report::unclean_stops`]. Both are warnings: the chain is intact.
///
/// # Errors
///
/// [`AuditError::NoFiles`]; [`AuditError::Read`] for a file that cannot be read or is not a
/// regular file (a FIFO, a device or a directory is refused at once);
/// [`AuditError::NotAuditLog`] for a file with lines but no audit record;
/// [`AuditError::LineTooLong`] for a line longer than [`MAX_LINE`](super::MAX_LINE) (it is not
/// read whole); [`AuditError::UnsupportedVersion`] for an intact record of another schema version.
pub fn verify<P: AsRef<Path>>(files: &[P]) -> Result<Report, AuditError> {
    verify_from(files, Start::Genesis)
}

/// Like [`verify`], with the chain expected to begin at `start`: [`Start::FirstRecord`] checks the
/// recent files of a log whose older files are gone. The first record must then be an intact
/// `open` record: anything else is the problem (`modified` when its hash does not match, `deleted`
/// when it is another kind, since no file begins with one).
///
/// # Errors
///
/// As [`verify`].
pub fn verify_from<P: AsRef<Path>>(files: &[P], start: Start) -> Result<Report, AuditError> {
    if files.is_empty() {
        return Err(AuditError::NoFiles);
    }
    let files = order(files)?;
    let mut stream = Stream::new(&files);
    let mut report = Report {
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
    };
    let mut expect = Expect::GENESIS;
    let mut last: Option<(Rec, Expect)> = None;
    let mut first = stream.next_rec()?;
    if start == Start::FirstRecord
        && let Some(rec) = &first
    {
        match partial_start(&files, rec) {
            Ok(at) => expect = at,
            Err(problem) => report.problem = Some(problem),
        }
    }
    if report.problem.is_some() {
        first = None;
    } else {
        report.first_seq = Some(expect.seq);
        report.first_prev = Some(to_hex(&expect.prev));
    }
    while let Some(cur) = match first.take() {
        Some(rec) => Some(rec),
        None if report.problem.is_none() => stream.next_rec()?,
        None => None,
    } {
        if let Ok(s) = cur.intact_link(expect) {
            if s.schema_version != u64::from(SCHEMA_VERSION) {
                return Err(AuditError::UnsupportedVersion {
                    path: files[cur.file].clone(),
                    line: cur.line,
                    found: s.schema_version,
                });
            }
            if let Some((prev, _)) = &last
                && prev.kind() == Some(RecordKind::Close)
                && s.kind != RecordKind::Open
            {
                report.problem = Some(finding(
                    &files,
                    &cur,
                    FindingKind::Inserted,
                    format!(
                        "record seq {} follows the close record at line {} of {}, yet it is not an open record (every writer begins with one): it was added after the log was closed",
                        s.seq,
                        prev.line,
                        files[prev.file].display()
                    ),
                ));
                break;
            }
            if s.kind == RecordKind::Open
                && let Some(stop) =
                    unclean_stop(&files, last.as_ref().map(|(prev, _)| prev), &cur, s)
            {
                report.unclean_stops.push(stop);
            }
            let summary = &mut report.files[cur.file];
            summary.records += 1;
            summary.first_seq.get_or_insert(s.seq);
            summary.last_seq = Some(s.seq);
            report.records += 1;
            let before = expect;
            expect = Expect {
                seq: s.seq.saturating_add(1),
                prev: s.hash,
            };
            last = Some((cur, before));
            continue;
        }
        report.problem = Some(classify(&files, &mut stream, expect, last.as_ref(), &cur)?);
        break;
    }
    let mut truncated = std::mem::take(&mut stream.truncated);
    if let Some(problem) = &report.problem {
        truncated.retain(|t| (&t.file, t.line) != (&problem.file, problem.line));
    }
    report.truncated = truncated;
    if let Some((rec, _)) = &last
        && let Ok(s) = &rec.sealed
    {
        report.last_seq = Some(s.seq);
        report.last_hash = Some(to_hex(&s.hash));
        report.closed = s.kind == RecordKind::Close;
    }
    Ok(report)
}

/// The unclean stop that the `open` record `s` (at `cur`) follows, if any: the record before it,
/// `prev`, is not a `close` and the open is not a rotation's (which follows a call), or the record
/// says so itself (an `unclean_stop` written by the writer that found it, with the incomplete line
/// it found). The chain shows it either way, so a log written before writers said so is checked too.
fn unclean_stop(files: &[PathBuf], prev: Option<&Rec>, cur: &Rec, s: &Sealed) -> Option<Finding> {
    let said = s.unclean_stop.as_deref();
    let shown = prev.is_some_and(|p| p.kind() != Some(RecordKind::Close))
        && !matches!(s.reason, Some(OpenReason::Rotate | OpenReason::Recover));
    if said.is_none() && !shown {
        return None;
    }
    let mut detail = match prev.and_then(|p| p.sealed.as_ref().ok().map(|ps| (p, ps))) {
        Some((p, ps)) => format!(
            "the writer before this one stopped without a close record after seq {} (a {} record at {}:{}): a crash, a kill or a power loss",
            ps.seq,
            ps.kind.as_str(),
            files[p.file].display(),
            p.line
        ),
        None if s.seq == 0 => "the writer before this one stopped before its first record was complete: a crash, a kill or a power loss".to_owned(),
        None => "the writer before this one stopped without a close record before the first record given: a crash, a kill or a power loss".to_owned(),
    };
    if let Some(torn) = said.and_then(|u| u.torn_line.map(|line| (u, line))) {
        let (u, line) = torn;
        detail.push_str(&format!(
            "; it left an incomplete line, {}:{line}{}",
            u.file,
            u.torn_bytes
                .map(|b| format!(" ({b} bytes)"))
                .unwrap_or_default()
        ));
    }
    detail.push_str(&format!(
        "; records handed to it and not yet written are not in the log; the chain goes on intact from seq {}",
        s.seq
    ));
    Some(finding(files, cur, FindingKind::UncleanStop, detail))
}

/// Where a partial log's chain begins: at its first record, which must be an intact `open`
/// record; otherwise the problem with it.
fn partial_start(files: &[PathBuf], rec: &Rec) -> Result<Expect, Finding> {
    match &rec.sealed {
        Ok(s) if s.intact && s.kind == RecordKind::Open => Ok(Expect {
            seq: s.seq,
            prev: s.prev,
        }),
        Ok(s) if s.intact => Err(finding(
            files,
            rec,
            FindingKind::Deleted,
            format!(
                "the first record given is a {} record (seq {}), yet every file begins with an open record: records before it in this file are missing",
                s.kind.as_str(),
                s.seq
            ),
        )),
        _ => Err(finding(
            files,
            rec,
            FindingKind::Modified,
            "the first line given is not an intact record (its hash does not match its content, or it is not a record): a partial log must begin with its first file's open record".to_owned(),
        )),
    }
}

/// What the next record must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Expect {
    pub(super) seq: u64,
    pub(super) prev: [u8; 32],
}

impl Expect {
    const GENESIS: Expect = Expect {
        seq: 0,
        prev: [0; 32],
    };
}

/// Whether `recs` follow `expect` one after the other, each intact.
fn chain_ok<'a>(mut expect: Expect, recs: impl IntoIterator<Item = &'a Rec>) -> bool {
    for rec in recs {
        match rec.intact_link(expect) {
            Ok(s) => {
                expect = Expect {
                    seq: s.seq.saturating_add(1),
                    prev: s.hash,
                }
            }
            Err(()) => return false,
        }
    }
    true
}

fn finding(files: &[PathBuf], rec: &Rec, kind: FindingKind, detail: String) -> Finding {
    Finding {
        kind,
        file: files[rec.file].clone(),
        line: rec.line,
        seq: rec.seq(),
        detail,
    }
}

/// Names the first break: `cur` does not follow `expect` (what the last intact record, `last`,
/// led to expect). Each explanation is tried against the lines around the break, in this order;
/// the first that makes the chain whole again wins.
fn classify(
    files: &[PathBuf],
    stream: &mut Stream<'_>,
    expect: Expect,
    last: Option<&(Rec, Expect)>,
    cur: &Rec,
) -> Result<Finding, AuditError> {
    let next: Vec<Rec> = stream.peek(2)?.to_vec();
    let at = |rec: &Rec| format!("{}:{}", files[rec.file].display(), rec.line);

    // Two adjacent records swapped: the next line, then this one, then the one after, chain.
    if let Some(n) = next.first()
        && chain_ok(expect, [n, cur].into_iter().chain(next.get(1)))
    {
        return Ok(finding(
            files,
            cur,
            FindingKind::Reordered,
            format!(
                "holds seq {}, and the next line ({}) seq {}: the two records were swapped",
                cur.seq().unwrap_or_default(),
                at(n),
                n.seq().unwrap_or_default()
            ),
        ));
    }
    // This line was added: without it, the chain goes on.
    if !next.is_empty() && chain_ok(expect, next.iter()) {
        let what = match &cur.sealed {
            Ok(s) if s.intact => format!("record seq {} is not part of the chain", s.seq),
            Ok(s) => format!(
                "a record (claiming seq {}) that does not match its hash is not part of the chain",
                s.seq
            ),
            Err(problem) => format!("a line that is not a record ({problem})"),
        };
        return Ok(finding(
            files,
            cur,
            FindingKind::Inserted,
            format!("{what}: the next line continues from the record before it; added here"),
        ));
    }
    // The line before was added (a forged record that chains on), and this one is its
    // original successor's rightful place.
    if let Some((prev, before)) = last
        && chain_ok(*before, std::iter::once(cur).chain(next.first()))
    {
        return Ok(finding(
            files,
            prev,
            FindingKind::Inserted,
            format!(
                "record seq {} is not part of the chain: the next line ({}) continues from the record before it; added here",
                prev.seq().unwrap_or_default(),
                at(cur)
            ),
        ));
    }
    // Nothing but a writer's `open` record may follow a `close` record.
    if let Some((prev, _)) = last
        && prev.kind() == Some(RecordKind::Close)
        && cur.kind() != Some(RecordKind::Open)
    {
        return Ok(finding(
            files,
            cur,
            FindingKind::Inserted,
            format!(
                "a line after the close record at {}, which is not a writer's open record: it was added after the log was closed",
                at(prev)
            ),
        ));
    }
    if let Ok(s) = &cur.sealed
        && s.intact
    {
        let continues = next.first().is_none_or(|n| {
            chain_ok(
                Expect {
                    seq: s.seq.saturating_add(1),
                    prev: s.hash,
                },
                [n],
            )
        });
        if s.seq > expect.seq {
            // Ahead of the chain: the missing record is further on (out of order), or gone.
            if let Some((file, line)) = stream.find_seq(expect.seq)? {
                return Ok(finding(
                    files,
                    cur,
                    FindingKind::Reordered,
                    format!(
                        "holds seq {} where seq {} was expected, and seq {} is at {}:{}: records out of order",
                        s.seq,
                        expect.seq,
                        expect.seq,
                        files[file].display(),
                        line
                    ),
                ));
            }
            if continues {
                if let Some((file, line)) = cur.after_partial
                    && s.seq == expect.seq.saturating_add(1)
                {
                    return Ok(Finding {
                        kind: FindingKind::Modified,
                        file: files[file].clone(),
                        line,
                        seq: Some(expect.seq),
                        detail: format!(
                            "the line is incomplete, yet the chain goes on from the record it held (seq {}) at {}: it was cut after it was written (a crash leaves the writer going on from the last complete record)",
                            expect.seq,
                            at(cur)
                        ),
                    });
                }
                let missing = if s.seq - expect.seq == 1 {
                    format!("record seq {} is missing", expect.seq)
                } else {
                    format!(
                        "records seq {} to {} ({} records) are missing",
                        expect.seq,
                        s.seq - 1,
                        s.seq - expect.seq
                    )
                };
                let mut detail = format!("{missing} before this line, which holds seq {}", s.seq);
                if cur.line == 1
                    && cur.file > 0
                    && let Some((prev, _)) = last
                {
                    detail.push_str(&format!(
                        " (after the last record of {}, line {})",
                        files[prev.file].display(),
                        prev.line
                    ));
                }
                if expect.seq == 0 {
                    detail.push_str(
                        "; a log begins at seq 0: was its first file left out, or its first records removed? (to check only the files that are left: `govops audit verify --partial`, `Start::FirstRecord`)",
                    );
                }
                return Ok(finding(files, cur, FindingKind::Deleted, detail));
            }
        }
        if s.seq == expect.seq && s.prev != expect.prev && continues {
            return Ok(match last {
                Some((prev, _)) => finding(
                    files,
                    prev,
                    FindingKind::Modified,
                    format!(
                        "record seq {} was changed and re-hashed: its hash is not the prev that the next record ({}) holds",
                        prev.seq().unwrap_or_default(),
                        at(cur)
                    ),
                ),
                None => finding(
                    files,
                    cur,
                    FindingKind::Modified,
                    "the first record's prev is not 64 zeros: it was changed and re-hashed, or the log's first file was left out".to_owned(),
                ),
            });
        }
    }
    let detail = match &cur.sealed {
        Err(problem) => problem.clone(),
        Ok(s) if !s.intact => format!(
            "record seq {} does not match its hash: its content was changed",
            s.seq
        ),
        Ok(s) => format!(
            "record seq {} does not follow the record before it (expected seq {}{}), and neither a removal, an addition nor a swap explains it: it was changed and re-hashed",
            s.seq,
            expect.seq,
            last.map(|(prev, _)| format!(" after {}", at(prev)))
                .unwrap_or_default()
        ),
    };
    Ok(finding(files, cur, FindingKind::Modified, detail))
}
