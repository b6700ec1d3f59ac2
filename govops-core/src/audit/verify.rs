//! Verifying a log: the chain checked line by line across its files, and the first problem named.

use std::path::{Path, PathBuf};

use super::chain::{Sealed, to_hex};
use super::error::AuditError;
use super::lines::{Rec, Stream, order};
use super::record::{OpenReason, RecordKind, SCHEMA_VERSION};

mod classify;
mod report;

use classify::classify;
pub use report::{FileSummary, Finding, FindingKind, Report, Start};

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
    let mut walk = Walk {
        files: &files,
        report: Report::new(&files),
        expect: Expect::GENESIS,
        last: None,
    };
    let mut first = stream.next_rec()?;
    if start == Start::FirstRecord
        && let Some(rec) = &first
    {
        match partial_start(&files, rec) {
            Ok(at) => walk.expect = at,
            Err(problem) => walk.report.problem = Some(problem),
        }
    }
    if walk.report.problem.is_some() {
        first = None;
    } else {
        walk.report.first_seq = Some(walk.expect.seq);
        walk.report.first_prev = Some(to_hex(&walk.expect.prev));
    }
    while let Some(cur) = match first.take() {
        Some(rec) => Some(rec),
        None if walk.report.problem.is_none() => stream.next_rec()?,
        None => None,
    } {
        let Ok(s) = cur.intact_link(walk.expect) else {
            let last = walk.last.as_ref();
            walk.report.problem = Some(classify(&files, &mut stream, walk.expect, last, &cur)?);
            break;
        };
        if !walk.accept(&cur, s)? {
            break;
        }
        let before = std::mem::replace(&mut walk.expect, Expect::after(s));
        walk.last = Some((cur, before));
    }
    Ok(walk.finish(std::mem::take(&mut stream.truncated)))
}

/// The chain walked so far.
struct Walk<'a> {
    files: &'a [PathBuf],
    report: Report,
    /// What the next record must be.
    expect: Expect,
    /// The last intact record, with what it was expected to be.
    last: Option<(Rec, Expect)>,
}

impl Walk<'_> {
    /// Counts `cur`, the intact record `s` that follows the chain; false when it may not be there
    /// (the problem is then in the report).
    #[inline]
    fn accept(&mut self, cur: &Rec, s: &Sealed) -> Result<bool, AuditError> {
        let files = self.files;
        if s.schema_version != u64::from(SCHEMA_VERSION) {
            return Err(AuditError::UnsupportedVersion {
                path: files[cur.file].clone(),
                line: cur.line,
                found: s.schema_version,
            });
        }
        let prev = self.last.as_ref().map(|(prev, _)| prev);
        if let Some(prev) = prev
            && prev.kind() == Some(RecordKind::Close)
            && s.kind != RecordKind::Open
        {
            self.report.problem = Some(finding(
                files,
                cur,
                FindingKind::Inserted,
                format!(
                    "record seq {} follows the close record at line {} of {}, yet it is not an open record (every writer begins with one): it was added after the log was closed",
                    s.seq,
                    prev.line,
                    files[prev.file].display()
                ),
            ));
            return Ok(false);
        }
        if s.kind == RecordKind::Open
            && let Some(stop) = unclean_stop(files, prev, cur, s)
        {
            self.report.unclean_stops.push(stop);
        }
        let summary = &mut self.report.files[cur.file];
        summary.records += 1;
        summary.first_seq.get_or_insert(s.seq);
        summary.last_seq = Some(s.seq);
        self.report.records += 1;
        Ok(true)
    }

    /// The report, with the incomplete lines found (but the one that is the problem, if it is)
    /// and the last intact record.
    fn finish(self, mut truncated: Vec<Finding>) -> Report {
        let mut report = self.report;
        if let Some(problem) = &report.problem {
            truncated.retain(|t| (&t.file, t.line) != (&problem.file, problem.line));
        }
        report.truncated = truncated;
        if let Some((rec, _)) = &self.last
            && let Ok(s) = &rec.sealed
        {
            report.last_seq = Some(s.seq);
            report.last_hash = Some(to_hex(&s.hash));
            report.closed = s.kind == RecordKind::Close;
        }
        report
    }
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

    /// What follows the record `s`.
    #[inline]
    fn after(s: &Sealed) -> Expect {
        Expect {
            seq: s.seq.saturating_add(1),
            prev: s.hash,
        }
    }
}

/// Whether `recs` follow `expect` one after the other, each intact.
fn chain_ok<'a>(mut expect: Expect, recs: impl IntoIterator<Item = &'a Rec>) -> bool {
    for rec in recs {
        match rec.intact_link(expect) {
            Ok(s) => expect = Expect::after(s),
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
