//! Where a log goes on: its files read from their ends, and what the writer before left.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead as _, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::chain::{Sealed, open_line, to_hex};
use super::error::AuditError;
use super::record::{GENESIS, OpenReason, RecordKind, SCHEMA_VERSION, UncleanStop};
use super::writer::{LINE_START, MAX_LINE};

/// What an existing file holds.
enum FileState {
    Missing,
    Empty,
    /// Only an incomplete first line, of this many bytes.
    PartialOnly(u64),
    Records(Records),
}

/// A file that holds records: its first and its last.
struct Records {
    first_seq: u64,
    last_seq: u64,
    last_kind: RecordKind,
    last_hash: [u8; 32],
    /// Ends with an incomplete line: its 1-based line and its length in bytes.
    torn: Option<(u64, u64)>,
    size: u64,
}

/// Where the chain goes on when a writer starts.
pub(super) struct Start {
    pub(super) next_seq: u64,
    pub(super) prev: String,
    pub(super) reason: OpenReason,
    /// The active file's first seq, when the writer appends to an existing file.
    pub(super) first_seq: Option<u64>,
    pub(super) size: u64,
    /// The file was renamed to this name: the chain goes on in a fresh file at the log's path.
    pub(super) moved_to: Option<PathBuf>,
    /// The writer before stopped without a `close` record.
    pub(super) unclean: Option<UncleanStop>,
}

/// `NAME.SEQ`: the name a file takes when it is rotated away.
pub(crate) fn rotated_name(path: &Path, first_seq: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{first_seq:012}"));
    path.with_file_name(name)
}

/// The rotated files beside `path` (`NAME.DIGITS`), newest (highest first seq) first.
fn rotated_files(path: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(AuditError::Read {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut found: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let digits = file_name.to_str()?.strip_prefix(name)?.strip_prefix('.')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((digits.parse().ok()?, entry.path()))
        })
        .collect();
    found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    Ok(found)
}

/// 1-based line number of the byte at `offset` (for messages only: reads the file up to it, a
/// buffer at a time).
fn line_at(path: &Path, offset: u64) -> u64 {
    let Ok(file) = File::open(path) else { return 0 };
    let mut reader = io::BufReader::with_capacity(64 * 1024, file.take(offset));
    let mut newlines = 0;
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        let n = chunk.len();
        reader.consume(n);
    }
    newlines + 1
}

fn read_state(path: &Path) -> Result<FileState, AuditError> {
    let Some((mut file, size)) = open_existing(path)? else {
        return Ok(FileState::Missing);
    };
    if size == 0 {
        return Ok(FileState::Empty);
    }
    let Some(head) = first_record(&mut file, path)? else {
        return Ok(FileState::PartialOnly(size));
    };
    let (last, from, end) = last_line(&mut file, path, size)?;
    let torn = size - (end + 1);
    let damaged = || AuditError::Damaged {
        path: path.to_owned(),
        line: line_at(path, from),
    };
    let tail = open_line(&last).map_err(|_| damaged())?;
    if tail.schema_version != u64::from(SCHEMA_VERSION) {
        check_version(path, line_at(path, from), &tail)?;
    }
    if !tail.intact {
        return Err(damaged());
    }
    Ok(FileState::Records(Records {
        first_seq: head.seq,
        last_seq: tail.seq,
        last_kind: tail.kind,
        last_hash: tail.hash,
        torn: (torn > 0).then(|| (line_at(path, from) + 1, torn)),
        size,
    }))
}

fn read_error(path: &Path) -> impl Fn(io::Error) -> AuditError + '_ {
    move |source| AuditError::Read {
        path: path.to_owned(),
        source,
    }
}

/// The file at `path` and its size; `None` when there is none. A directory is refused.
fn open_existing(path: &Path) -> Result<Option<(File, u64)>, AuditError> {
    let open_err = |source| AuditError::Open {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(open_err(source)),
    };
    let metadata = file.metadata().map_err(read_error(path))?;
    if metadata.is_dir() {
        return Err(open_err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    Ok(Some((file, metadata.len())))
}

/// The first line, which says whether this is an audit log at all: its record, or `None` when it
/// is incomplete yet begins like one (the writer before died writing it).
fn first_record(file: &mut File, path: &Path) -> Result<Option<Sealed>, AuditError> {
    let not_log = |problem: String| AuditError::NotAuditLog {
        path: path.to_owned(),
        line: 1,
        problem,
    };
    let mut first = Vec::new();
    super::lines::read_line(&mut io::BufReader::new(file), &mut first, path, 1)?;
    if first.last() != Some(&b'\n') {
        let n = first.len().min(LINE_START.len());
        if first[..n] != LINE_START[..n] {
            return Err(not_log(
                "an incomplete line that does not begin like an audit record".to_owned(),
            ));
        }
        return Ok(None);
    }
    first.pop();
    let head = open_line(&first).map_err(not_log)?;
    check_version(path, 1, &head)?;
    Ok(Some(head))
}

/// The last complete line of a file of `size` bytes, found from the end, with the offsets of its
/// first byte and of its newline. An incomplete line after it (a crash's) and the line itself are
/// at most [`MAX_LINE`] bytes each, so no more is looked at or held.
fn last_line(file: &mut File, path: &Path, size: u64) -> Result<(Vec<u8>, u64, u64), AuditError> {
    let read_err = read_error(path);
    let within = MAX_LINE as u64 + 1;
    let too_long = |line: u64| AuditError::LineTooLong {
        path: path.to_owned(),
        line,
        limit: MAX_LINE as u64,
    };
    // The first line ends with a newline, so there is one: further back than `within` is too far.
    let end = last_newline_before(file, size, within)
        .map_err(&read_err)?
        .ok_or_else(|| too_long(0))?;
    let from = match last_newline_before(file, end, within).map_err(&read_err)? {
        Some(newline) => newline + 1,
        None if end <= MAX_LINE as u64 => 0,
        None => return Err(too_long(0)),
    };
    let mut last = vec![0; usize::try_from(end - from).unwrap_or(0)];
    file.seek(SeekFrom::Start(from)).map_err(&read_err)?;
    file.read_exact(&mut last).map_err(&read_err)?;
    Ok((last, from, end))
}

/// The offset of the last newline in `file` before `end`, looking back at most `within` bytes,
/// a block at a time.
fn last_newline_before(file: &mut File, end: u64, within: u64) -> io::Result<Option<u64>> {
    let floor = end.saturating_sub(within);
    let mut block = vec![0; 64 * 1024];
    let mut pos = end;
    while pos > floor {
        let len = usize::try_from(pos - floor).map_or(block.len(), |n| n.min(block.len()));
        let at = pos - len as u64;
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut block[..len])?;
        if let Some(i) = block[..len].iter().rposition(|&b| b == b'\n') {
            return Ok(Some(at + i as u64));
        }
        pos = at;
    }
    Ok(None)
}

fn check_version(path: &Path, line: u64, sealed: &Sealed) -> Result<(), AuditError> {
    if sealed.schema_version == u64::from(SCHEMA_VERSION) {
        Ok(())
    } else {
        Err(AuditError::UnsupportedVersion {
            path: path.to_owned(),
            line,
            found: sealed.schema_version,
        })
    }
}

/// The file name of `path`, for an [`UncleanStop`].
fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Finds where the chain goes on at `path`, and whether the writer before stopped uncleanly. A file
/// that ends with an incomplete line is not appended to: [`Start::moved_to`] names where it is to
/// be moved (by [`replace_active`], under the lock) before the chain goes on in a fresh file.
pub(super) fn locate(path: &Path) -> Result<Start, AuditError> {
    match read_state(path)? {
        FileState::Records(records) => Ok(match records.torn {
            None => reopen(path, &records),
            Some(torn) => recover(path, &records, torn),
        }),
        // A first record cut short: the writer before died writing its `open` record.
        FileState::PartialOnly(bytes) => {
            let cut = cut_first_line(path, bytes)?;
            after_rotated(path, Some(cut))
        }
        FileState::Missing | FileState::Empty => after_rotated(path, None),
    }
}

/// The chain goes on in the same file, after its last record.
fn reopen(path: &Path, records: &Records) -> Start {
    let Records {
        first_seq,
        last_seq,
        last_kind,
        size,
        ..
    } = *records;
    Start {
        next_seq: last_seq.saturating_add(1),
        prev: to_hex(&records.last_hash),
        reason: OpenReason::Reopen,
        first_seq: Some(first_seq),
        size,
        moved_to: None,
        unclean: (last_kind != RecordKind::Close)
            .then(|| UncleanStop::new(name_of(path), Some((last_seq, last_kind)))),
    }
}

/// The file ends with an incomplete line (`torn`: its line and bytes): it is moved away as a
/// rotation would, and the chain goes on in a fresh file from its last complete record.
fn recover(path: &Path, records: &Records, (line, bytes): (u64, u64)) -> Start {
    let to = rotated_name(path, records.first_seq);
    let last = (records.last_seq, records.last_kind);
    let mut unclean = UncleanStop::new(name_of(&to), Some(last));
    unclean.torn_line = Some(line);
    unclean.torn_bytes = Some(bytes);
    Start {
        next_seq: records.last_seq.saturating_add(1),
        prev: to_hex(&records.last_hash),
        reason: OpenReason::Recover,
        first_seq: None,
        size: 0,
        moved_to: Some(to),
        unclean: Some(unclean),
    }
}

/// Empties a file that holds only an incomplete first line of `bytes` bytes; the stop it shows.
fn cut_first_line(path: &Path, bytes: u64) -> Result<UncleanStop, AuditError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(0))
        .map_err(|source| AuditError::Open {
            path: path.to_owned(),
            source,
        })?;
    let mut unclean = UncleanStop::new(name_of(path), None);
    unclean.torn_line = Some(1);
    unclean.torn_bytes = Some(bytes);
    Ok(unclean)
}

/// The active file holds no record: the chain goes on from the newest rotated file that does, or
/// begins. `cut` is the incomplete first line the active file held, if it did.
fn after_rotated(path: &Path, cut: Option<UncleanStop>) -> Result<Start, AuditError> {
    for (_, rotated) in rotated_files(path)? {
        if let FileState::Records(Records {
            last_seq,
            last_kind,
            last_hash,
            ..
        }) = read_state(&rotated)?
        {
            // The log's last record is in a rotated file: unless it is a `close`, the
            // writer stopped between a rotation and its new file's `open` record.
            let unclean = match cut {
                Some(mut cut) => {
                    cut.last_seq = Some(last_seq);
                    cut.last_kind = Some(last_kind);
                    Some(cut)
                }
                None => (last_kind != RecordKind::Close)
                    .then(|| UncleanStop::new(name_of(&rotated), Some((last_seq, last_kind)))),
            };
            return Ok(Start {
                next_seq: last_seq.saturating_add(1),
                prev: to_hex(&last_hash),
                reason: OpenReason::Reopen,
                first_seq: None,
                size: 0,
                moved_to: None,
                unclean,
            });
        }
    }
    Ok(Start {
        next_seq: 0,
        prev: GENESIS.to_owned(),
        reason: OpenReason::New,
        first_seq: None,
        size: 0,
        moved_to: None,
        unclean: cut,
    })
}
