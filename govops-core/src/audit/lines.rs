//! Reading a log's lines for the verifier: its files in chain order, each line bounded, each
//! file a regular file.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read as _};
use std::path::{Path, PathBuf};

use super::chain::{Sealed, open_line};
use super::error::AuditError;
use super::record::RecordKind;
use super::verify::{Expect, Finding, FindingKind};
use super::writer::{LINE_START, MAX_LINE};

/// One complete line.
#[derive(Debug, Clone)]
pub(super) struct Rec {
    pub(super) file: usize,
    pub(super) line: u64,
    pub(super) sealed: Result<Sealed, String>,
    /// The incomplete line just before it (the end of the previous file), if any.
    pub(super) after_partial: Option<(usize, u64)>,
}

impl Rec {
    /// The record, when it is intact and follows `expect`.
    pub(super) fn intact_link(&self, expect: Expect) -> Result<&Sealed, ()> {
        match &self.sealed {
            Ok(s) if s.intact && s.seq == expect.seq && s.prev == expect.prev => Ok(s),
            _ => Err(()),
        }
    }

    pub(super) fn kind(&self) -> Option<RecordKind> {
        self.sealed.as_ref().ok().map(|s| s.kind)
    }

    pub(super) fn seq(&self) -> Option<u64> {
        self.sealed.as_ref().ok().map(|s| s.seq)
    }
}

/// The lines of the files in order, with a few read ahead.
pub(super) struct Stream<'a> {
    files: &'a [PathBuf],
    next_file: usize,
    reader: Option<(usize, BufReader<File>)>,
    line: u64,
    buf: Vec<u8>,
    ahead: VecDeque<Rec>,
    pending_partial: Option<(usize, u64)>,
    pub(super) truncated: Vec<Finding>,
}

impl<'a> Stream<'a> {
    pub(super) fn new(files: &'a [PathBuf]) -> Self {
        Self {
            files,
            next_file: 0,
            reader: None,
            line: 0,
            buf: Vec::new(),
            ahead: VecDeque::new(),
            pending_partial: None,
            truncated: Vec::new(),
        }
    }

    pub(super) fn next_rec(&mut self) -> Result<Option<Rec>, AuditError> {
        match self.ahead.pop_front() {
            Some(rec) => Ok(Some(rec)),
            None => self.read_rec(),
        }
    }

    /// Up to `n` records after the current one.
    pub(super) fn peek(&mut self, n: usize) -> Result<&[Rec], AuditError> {
        while self.ahead.len() < n {
            match self.read_rec()? {
                Some(rec) => self.ahead.push_back(rec),
                None => break,
            }
        }
        Ok(self.ahead.make_contiguous())
    }

    /// The first intact record with `seq` in the rest of the log (reads it to the end).
    pub(super) fn find_seq(&mut self, seq: u64) -> Result<Option<(usize, u64)>, AuditError> {
        while let Some(rec) = self.next_rec()? {
            if let Ok(s) = &rec.sealed
                && s.seq == seq
                && s.intact
            {
                return Ok(Some((rec.file, rec.line)));
            }
        }
        Ok(None)
    }

    fn read_rec(&mut self) -> Result<Option<Rec>, AuditError> {
        loop {
            let Some((file, reader)) = &mut self.reader else {
                let Some(path) = self.files.get(self.next_file) else {
                    return Ok(None);
                };
                let opened = open_log_file(path)?;
                self.reader = Some((self.next_file, BufReader::with_capacity(256 * 1024, opened)));
                self.next_file += 1;
                self.line = 0;
                continue;
            };
            let file = *file;
            self.buf.clear();
            let n = read_line(reader, &mut self.buf, &self.files[file], self.line + 1)?;
            if n == 0 {
                self.reader = None;
                continue;
            }
            self.line += 1;
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
                return Ok(Some(Rec {
                    file,
                    line: self.line,
                    sealed: open_line(&self.buf),
                    after_partial: self.pending_partial.take(),
                }));
            }
            // An incomplete last line: a crash's, or not.
            let k = self.buf.len().min(LINE_START.len());
            let (kind, detail) = if self.buf[..k] == LINE_START[..k] {
                let last = file + 1 == self.files.len();
                (
                    FindingKind::Truncated,
                    if last {
                        "the last line is incomplete: a write was cut short (a crash); it is not part of the chain".to_owned()
                    } else {
                        "the file's last line is incomplete: a write was cut short (a crash) and the writer went on in the next file; it is not part of the chain".to_owned()
                    },
                )
            } else {
                (
                    FindingKind::Modified,
                    "an incomplete last line that does not begin like a record (a crash leaves the beginning of one)".to_owned(),
                )
            };
            let found = Finding {
                kind,
                file: self.files[file].clone(),
                line: self.line,
                seq: None,
                detail,
            };
            if kind == FindingKind::Truncated {
                self.truncated.push(found);
                self.pending_partial = Some((file, self.line));
            } else {
                // Not a crash's: a line of its own, which the chain will not accept.
                return Ok(Some(Rec {
                    file,
                    line: self.line,
                    sealed: Err(found.detail),
                    after_partial: self.pending_partial.take(),
                }));
            }
        }
    }
}

/// Opens a file of the log for reading: a regular file only, so a FIFO, a device or a directory
/// is refused at once (`/dev/zero` would stream without end, a FIFO block).
pub(crate) fn open_log_file(path: &Path) -> Result<File, AuditError> {
    crate::input::open_regular(path).map_err(|e| AuditError::Read {
        path: path.to_owned(),
        source: io::Error::other(e.reason()),
    })
}

/// Reads the next line of `reader` into `buf` (cleared first), its newline included: its length,
/// 0 at the end. At most [`MAX_LINE`] bytes and a newline are read, so a file without newlines is
/// never held whole: a longer line is [`AuditError::LineTooLong`], `line` its 1-based number.
pub(crate) fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    path: &Path,
    line: u64,
) -> Result<usize, AuditError> {
    buf.clear();
    let n = reader
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', buf)
        .map_err(|source| AuditError::Read {
            path: path.to_owned(),
            source,
        })?;
    if n > MAX_LINE && buf.last() != Some(&b'\n') {
        return Err(AuditError::LineTooLong {
            path: path.to_owned(),
            line,
            limit: MAX_LINE as u64,
        });
    }
    Ok(n)
}

/// The files, each once, in chain order: by the seq of their first intact record (else their
/// first record); files without a record (empty, or an incomplete line only) last.
pub(super) fn order<P: AsRef<Path>>(files: &[P]) -> Result<Vec<PathBuf>, AuditError> {
    let mut seen = Vec::new();
    let mut keyed = Vec::new();
    for path in files {
        let path = path.as_ref();
        let canonical = path.canonicalize().map_err(|source| AuditError::Read {
            path: path.to_owned(),
            source,
        })?;
        if seen.contains(&canonical) {
            continue;
        }
        seen.push(canonical);
        keyed.push((first_seq(path)?, path.to_owned()));
    }
    keyed.sort_by_key(|(seq, _)| (seq.is_none(), *seq));
    Ok(keyed.into_iter().map(|(_, path)| path).collect())
}

/// The seq of the first intact record of a file (else of its first record); `None` when it has
/// no complete line.
fn first_seq(path: &Path) -> Result<Option<u64>, AuditError> {
    let mut reader = BufReader::new(open_log_file(path)?);
    let mut buf = Vec::new();
    let mut line = 0;
    let mut first_record = None;
    let mut first_problem: Option<(u64, String)> = None;
    loop {
        buf.clear();
        if read_line(&mut reader, &mut buf, path, line + 1)? == 0 {
            break;
        }
        line += 1;
        if buf.last() != Some(&b'\n') {
            let k = buf.len().min(LINE_START.len());
            if first_record.is_none() && first_problem.is_none() && buf[..k] != LINE_START[..k] {
                first_problem = Some((
                    line,
                    "an incomplete line that does not begin like an audit record".to_owned(),
                ));
            }
            break;
        }
        buf.pop();
        match open_line(&buf) {
            Ok(s) if s.intact => return Ok(Some(s.seq)),
            Ok(s) => {
                first_record.get_or_insert(s.seq);
            }
            Err(problem) => {
                first_problem.get_or_insert((line, problem));
            }
        }
    }
    match (first_record, first_problem) {
        (Some(seq), _) => Ok(Some(seq)),
        (None, Some((line, problem))) => Err(AuditError::NotAuditLog {
            path: path.to_owned(),
            line,
            problem,
        }),
        (None, None) => Ok(None),
    }
}
