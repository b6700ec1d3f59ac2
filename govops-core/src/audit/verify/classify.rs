//! Naming the first break in the chain: each explanation tried against the lines around it, in
//! order; the first that makes the chain whole again wins.

use std::path::PathBuf;

use super::{Expect, chain_ok, finding};
use crate::audit::chain::Sealed;
use crate::audit::error::AuditError;
use crate::audit::lines::{Rec, Stream};
use crate::audit::record::RecordKind;
use crate::audit::verify::{Finding, FindingKind};

/// Names the first break: `cur` does not follow `expect` (what the last intact record, `last`,
/// led to expect). Each explanation is tried against the lines around the break, in this order;
/// the first that makes the chain whole again wins.
pub(super) fn classify(
    files: &[PathBuf],
    stream: &mut Stream<'_>,
    expect: Expect,
    last: Option<&(Rec, Expect)>,
    cur: &Rec,
) -> Result<Finding, AuditError> {
    let at = Break {
        files,
        expect,
        last,
        cur,
        next: stream.peek(2)?.to_vec(),
    };
    let explained = at
        .swapped()
        .or_else(|| at.inserted_here())
        .or_else(|| at.inserted_before())
        .or_else(|| at.after_close());
    if let Some(finding) = explained {
        return Ok(finding);
    }
    if let Ok(s) = &cur.sealed
        && s.intact
    {
        let continues = at.continues_after(s);
        if s.seq > expect.seq
            && let Some(finding) = at.ahead(stream, s, continues)?
        {
            return Ok(finding);
        }
        if let Some(finding) = at.rehashed(s, continues) {
            return Ok(finding);
        }
    }
    Ok(at.unexplained())
}

/// The lines around a break in the chain, and what was expected there.
struct Break<'a> {
    files: &'a [PathBuf],
    /// What the record at the break should have been.
    expect: Expect,
    /// The last intact record, with what it was expected to be.
    last: Option<&'a (Rec, Expect)>,
    /// The line at the break.
    cur: &'a Rec,
    /// Up to two lines after it.
    next: Vec<Rec>,
}

impl Break<'_> {
    /// `FILE:LINE` of `rec`.
    fn at(&self, rec: &Rec) -> String {
        format!("{}:{}", self.files[rec.file].display(), rec.line)
    }

    fn finding(&self, rec: &Rec, kind: FindingKind, detail: String) -> Finding {
        finding(self.files, rec, kind, detail)
    }

    /// Two adjacent records swapped: the next line, then this one, then the one after, chain.
    fn swapped(&self) -> Option<Finding> {
        let (cur, n) = (self.cur, self.next.first()?);
        if !chain_ok(self.expect, [n, cur].into_iter().chain(self.next.get(1))) {
            return None;
        }
        Some(self.finding(
            cur,
            FindingKind::Reordered,
            format!(
                "holds seq {}, and the next line ({}) seq {}: the two records were swapped",
                cur.seq().unwrap_or_default(),
                self.at(n),
                n.seq().unwrap_or_default()
            ),
        ))
    }

    /// This line was added: without it, the chain goes on.
    fn inserted_here(&self) -> Option<Finding> {
        if self.next.is_empty() || !chain_ok(self.expect, self.next.iter()) {
            return None;
        }
        let what = match &self.cur.sealed {
            Ok(s) if s.intact => format!("record seq {} is not part of the chain", s.seq),
            Ok(s) => format!(
                "a record (claiming seq {}) that does not match its hash is not part of the chain",
                s.seq
            ),
            Err(problem) => format!("a line that is not a record ({problem})"),
        };
        Some(self.finding(
            self.cur,
            FindingKind::Inserted,
            format!("{what}: the next line continues from the record before it; added here"),
        ))
    }

    /// The line before was added (a forged record that chains on), and this one is its
    /// original successor's rightful place.
    fn inserted_before(&self) -> Option<Finding> {
        let (prev, before) = self.last?;
        if !chain_ok(*before, std::iter::once(self.cur).chain(self.next.first())) {
            return None;
        }
        Some(self.finding(
            prev,
            FindingKind::Inserted,
            format!(
                "record seq {} is not part of the chain: the next line ({}) continues from the record before it; added here",
                prev.seq().unwrap_or_default(),
                self.at(self.cur)
            ),
        ))
    }

    /// Nothing but a writer's `open` record may follow a `close` record.
    fn after_close(&self) -> Option<Finding> {
        let (prev, _) = self.last?;
        if prev.kind() != Some(RecordKind::Close) || self.cur.kind() == Some(RecordKind::Open) {
            return None;
        }
        Some(self.finding(
            self.cur,
            FindingKind::Inserted,
            format!(
                "a line after the close record at {}, which is not a writer's open record: it was added after the log was closed",
                self.at(prev)
            ),
        ))
    }

    /// Whether the next line (if any) follows the intact record `s` at the break.
    fn continues_after(&self, s: &Sealed) -> bool {
        self.next
            .first()
            .is_none_or(|n| chain_ok(Expect::after(s), [n]))
    }

    /// The intact record `s` at the break is ahead of the chain: the missing record is further
    /// on (out of order), or gone.
    fn ahead(
        &self,
        stream: &mut Stream<'_>,
        s: &Sealed,
        continues: bool,
    ) -> Result<Option<Finding>, AuditError> {
        let expect = self.expect;
        if let Some((file, line)) = stream.find_seq(expect.seq)? {
            return Ok(Some(self.finding(
                self.cur,
                FindingKind::Reordered,
                format!(
                    "holds seq {} where seq {} was expected, and seq {} is at {}:{}: records out of order",
                    s.seq,
                    expect.seq,
                    expect.seq,
                    self.files[file].display(),
                    line
                ),
            )));
        }
        if !continues {
            return Ok(None);
        }
        Ok(Some(self.cut_short(s).unwrap_or_else(|| self.deleted(s))))
    }

    /// The line before the break is incomplete, yet the chain goes on from the record it held:
    /// it was cut after it was written.
    fn cut_short(&self, s: &Sealed) -> Option<Finding> {
        let expect = self.expect;
        let (file, line) = self.cur.after_partial?;
        if s.seq != expect.seq.saturating_add(1) {
            return None;
        }
        Some(Finding {
            kind: FindingKind::Modified,
            file: self.files[file].clone(),
            line,
            seq: Some(expect.seq),
            detail: format!(
                "the line is incomplete, yet the chain goes on from the record it held (seq {}) at {}: it was cut after it was written (a crash leaves the writer going on from the last complete record)",
                expect.seq,
                self.at(self.cur)
            ),
        })
    }

    /// Records between the expected one and the intact record `s` at the break are gone.
    fn deleted(&self, s: &Sealed) -> Finding {
        let (expect, cur) = (self.expect, self.cur);
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
            && let Some((prev, _)) = self.last
        {
            detail.push_str(&format!(
                " (after the last record of {}, line {})",
                self.files[prev.file].display(),
                prev.line
            ));
        }
        if expect.seq == 0 {
            detail.push_str(
                "; a log begins at seq 0: was its first file left out, or its first records removed? (to check only the files that are left: `govops audit verify --partial`, `Start::FirstRecord`)",
            );
        }
        self.finding(cur, FindingKind::Deleted, detail)
    }

    /// The intact record `s` at the break has the expected seq but not the expected prev, and the
    /// chain goes on from it: the record before was changed and re-hashed.
    fn rehashed(&self, s: &Sealed, continues: bool) -> Option<Finding> {
        if s.seq != self.expect.seq || s.prev == self.expect.prev || !continues {
            return None;
        }
        Some(match self.last {
            Some((prev, _)) => self.finding(
                prev,
                FindingKind::Modified,
                format!(
                    "record seq {} was changed and re-hashed: its hash is not the prev that the next record ({}) holds",
                    prev.seq().unwrap_or_default(),
                    self.at(self.cur)
                ),
            ),
            None => self.finding(
                self.cur,
                FindingKind::Modified,
                "the first record's prev is not 64 zeros: it was changed and re-hashed, or the log's first file was left out".to_owned(),
            ),
        })
    }

    /// No explanation makes the chain whole: the line itself was changed.
    fn unexplained(&self) -> Finding {
        let detail = match &self.cur.sealed {
            Err(problem) => problem.clone(),
            Ok(s) if !s.intact => format!(
                "record seq {} does not match its hash: its content was changed",
                s.seq
            ),
            Ok(s) => format!(
                "record seq {} does not follow the record before it (expected seq {}{}), and neither a removal, an addition nor a swap explains it: it was changed and re-hashed",
                s.seq,
                self.expect.seq,
                self.last
                    .map(|(prev, _)| format!(" after {}", self.at(prev)))
                    .unwrap_or_default()
            ),
        };
        self.finding(self.cur, FindingKind::Modified, detail)
    }
}
