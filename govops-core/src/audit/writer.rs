//! The writer: records handed over on a channel, sealed and appended by a background thread.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use super::chain::seal;
use super::error::AuditError;
use super::files::{is_at, lock_open, replace_active, sync_dir};
use super::fingerprint::ConfigFingerprint;
use super::locate::{Start, locate, rotated_name};
use super::record::{AuditRecord, OpenReason, RecordKind, SCHEMA_VERSION, UncleanStop};
use super::time::Timestamp;
use crate::config::Config;

/// Records that may wait on the channel before `append` blocks, unless set.
pub const DEFAULT_QUEUE: usize = 1024;

/// How long the writer sleeps when its queue is empty: the most a record waits before it is
/// written, unless a flush, a shutdown or a full queue wakes the writer first.
const IDLE_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Lines gathered into one `write_all` while more records are waiting, at most.
const BATCH_BYTES: usize = 64 * 1024;

/// The longest line the writer writes and a verifier reads, newline excluded: 64 MiB. A call
/// whose captured content would make its line longer is written without its content (and the
/// next `flush` says so), so that every line written can be read back.
pub const MAX_LINE: usize = 64 << 20;

/// How a line written by the writer begins: what a crash can leave of one.
pub(crate) const LINE_START: &[u8] = b"{\"schema_version\":";

/// How an [`AuditLog`] writes.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Rotate the active file when the next line would take it past this many bytes: it is
    /// renamed `NAME.SEQ` (`SEQ`, its first record's seq, zero-padded to 12 digits) and the chain
    /// goes on in a fresh `NAME`. `None` (the default): never rotate.
    pub rotate_bytes: Option<u64>,
    /// The run's configuration: written in full in every `open` record, its hash in every record's
    /// `config`, and its metadata in the records that leave it unset.
    pub fingerprint: Option<ConfigFingerprint>,
    /// Records that may wait for the writer thread; when it is full, `append` blocks until there is
    /// room (nothing is dropped). Default [`DEFAULT_QUEUE`]; at least 1.
    pub queue: usize,
    /// `fsync` the file at every `flush`, rotation and shutdown (default false: `flush` hands the
    /// data to the operating system, which survives a crash of the process but not of the machine).
    pub sync: bool,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            rotate_bytes: None,
            fingerprint: None,
            queue: DEFAULT_QUEUE,
            sync: false,
        }
    }
}

impl AuditOptions {
    /// The defaults, with the fingerprint of `config`.
    #[must_use]
    pub fn for_config(config: &Config) -> Self {
        Self {
            fingerprint: Some(ConfigFingerprint::from_config(config)),
            ..Self::default()
        }
    }
}

enum Msg {
    /// Boxed: a record is about 1 KiB, and the channel holds `queue` messages.
    Record(Box<AuditRecord>),
    Flush(SyncSender<Result<(), AuditError>>),
}

/// An append-only, hash-chained audit log. Cheap to clone: clones share one writer thread.
///
/// ```
/// use govops_core::audit::{AuditLog, AuditOptions, AuditRecord, verify};
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("audit.jsonl");
/// let log = AuditLog::open(&path, AuditOptions::default())?;
/// let mut record = AuditRecord {
///     operation: Some("chat".into()),
///     request_model: Some("gpt-4o".into()),
///     input_tokens: Some(1_000),
///     output_tokens: Some(200),
///     cost_usd: Some("0.0045".parse()?),
///     ..AuditRecord::default()
/// };
/// record.hash_prompt("What is my balance?");
/// log.append(record)?; // hands it over; the writer thread seals and writes it
/// log.shutdown()?; // writes everything, then a `close` record
///
/// let report = verify(&[&path])?;
/// assert!(report.is_intact());
/// assert_eq!(report.records, 3); // open, call, close
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    sender: RwLock<Option<SyncSender<Msg>>>,
    thread: Mutex<Option<JoinHandle<Result<(), AuditError>>>>,
    /// The writer thread, to wake it: a flush, a shutdown or a full queue.
    waker: std::thread::Thread,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Record(r) => f.debug_tuple("Record").field(&r.seq).finish(),
            Msg::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl AuditLog {
    /// Opens (or creates) the log at `path` and starts its writer thread.
    ///
    /// An existing log goes on: its last complete record's seq and hash continue the chain, after
    /// an `open` record. If the file ends with an incomplete line (a crash during a write), nothing
    /// is appended after it: the file is renamed as it is (as a rotation would name it) and the
    /// chain goes on in a fresh file from its last complete record, so the incomplete line stays
    /// where a verifier reports it. A file holding only an incomplete first line is emptied (it can
    /// only be a cut `open` record). If the file is missing or empty but rotated files `NAME.SEQ`
    /// are beside it, the chain goes on from the newest of them.
    ///
    /// When the writer before stopped without a `close` record (a crash, a kill, a power loss),
    /// the `open` record says so in its `unclean_stop` ([`UncleanStop`]: the last complete record
    /// it left, and the incomplete line, if any), and [`verify`](super::verify) reports it.
    ///
    /// One writer per log: the writer holds an exclusive advisory lock on the log file itself
    /// (and on each new file it rotates to) for as long as it runs, and a second `open` of the same
    /// log, in this process or another, fails with [`AuditError::InUse`] rather than break the
    /// chain. There is no lock file to delete. A rotation puts the fresh, already locked file in
    /// place with an atomic rename, so there is no moment when the log's path is free (on a file
    /// system without hard links, a brief one). On a file system that cannot lock, the log opens
    /// unlocked.
    ///
    /// # Errors
    ///
    /// [`AuditError::InUse`] when another writer has the log open,
    /// [`AuditError::Open`] when the file cannot be created, opened or locked,
    /// [`AuditError::Read`] when an existing one cannot be read, [`AuditError::NotAuditLog`] when
    /// it is not an audit log, [`AuditError::Damaged`] when its last record does not match its
    /// hash, [`AuditError::UnsupportedVersion`], [`AuditError::LineTooLong`] when its end holds a
    /// line longer than [`MAX_LINE`], [`AuditError::Rotate`] when a crashed file cannot
    /// be renamed, [`AuditError::Write`] when the `open` record cannot be written,
    /// [`AuditError::Thread`] when the writer thread cannot be started.
    pub fn open(path: impl AsRef<Path>, options: AuditOptions) -> Result<AuditLog, AuditError> {
        let path = path.as_ref().to_owned();
        let queue = options.queue.max(1);
        let writer = Writer::start(path.clone(), options)?;
        let (tx, rx) = mpsc::sync_channel(queue);
        let thread = std::thread::Builder::new()
            .name("govops-audit".to_owned())
            .spawn(move || writer.run(&rx))
            .map_err(|e| AuditError::Thread {
                path: path.clone(),
                problem: format!("could not be started: {e}"),
            })?;
        Ok(AuditLog {
            inner: Arc::new(Inner {
                path,
                sender: RwLock::new(Some(tx)),
                waker: thread.thread().clone(),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// The active file's path, as given to [`AuditLog::open`].
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Hands `record` to the writer thread, which gives it its `seq`, `prev` and `hash` and
    /// appends it. The caller does no file I/O and no hashing; it stamps `timestamp` when it is
    /// `None`. When the queue is full ([`AuditOptions::queue`]) it blocks until there is room:
    /// nothing is dropped. The record is written as a `call` whatever its `kind`.
    ///
    /// # Errors
    ///
    /// [`AuditError::Closed`] after [`AuditLog::shutdown`]; [`AuditError::Thread`] if the writer
    /// thread is gone. A failed write is reported by the next [`AuditLog::flush`] or
    /// [`AuditLog::shutdown`], not here.
    pub fn append(&self, mut record: AuditRecord) -> Result<(), AuditError> {
        if record.timestamp.is_none() {
            record.timestamp = Some(Timestamp::now());
        }
        self.inner.send(Msg::Record(Box::new(record)))
    }

    /// Waits until every record handed over before it is written to the file (handed to the
    /// operating system; also `fsync`ed with [`AuditOptions::sync`]).
    ///
    /// # Errors
    ///
    /// The first write or rotation failure since the last report ([`AuditError::Write`] with the
    /// count of records lost, [`AuditError::Rotate`]); [`AuditError::Closed`] after
    /// [`AuditLog::shutdown`]; [`AuditError::Thread`] if the writer thread is gone.
    pub fn flush(&self) -> Result<(), AuditError> {
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        self.inner.send(Msg::Flush(reply_tx))?;
        self.inner.waker.unpark();
        reply_rx.recv().map_err(|_| self.inner.thread_gone())?
    }

    /// Stops accepting records, writes every record handed over and a `close` record, and joins
    /// the writer thread. Later calls (from any clone) return `Ok`; `append` returns
    /// [`AuditError::Closed`]. Dropping the last clone does the same, printing an unreported
    /// error to stderr.
    ///
    /// # Errors
    ///
    /// The first write or rotation failure not yet reported by `flush`; [`AuditError::Thread`] if
    /// the writer thread ended abnormally.
    pub fn shutdown(&self) -> Result<(), AuditError> {
        self.inner.shutdown()
    }
}

impl Inner {
    /// Queues `msg` without waking the writer, which drains its queue every `IDLE_POLL`: a call
    /// does not pay a wake-up (a futex call and a context switch) for its record. A full queue
    /// wakes it and waits for room.
    fn send(&self, msg: Msg) -> Result<(), AuditError> {
        let sender = self.sender.read().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = sender.as_ref() else {
            return Err(AuditError::Closed {
                path: self.path.clone(),
            });
        };
        match tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Full(msg)) => {
                self.waker.unpark();
                tx.send(msg).map_err(|_| self.thread_gone())
            }
            Err(mpsc::TrySendError::Disconnected(_)) => Err(self.thread_gone()),
        }
    }

    fn thread_gone(&self) -> AuditError {
        AuditError::Thread {
            path: self.path.clone(),
            problem: "has stopped".to_owned(),
        }
    }

    fn shutdown(&self) -> Result<(), AuditError> {
        // Dropping the only sender ends the writer's loop once it has taken every queued message.
        drop(
            self.sender
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        self.waker.unpark();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match thread {
            Some(thread) => thread.join().unwrap_or_else(|_| {
                Err(AuditError::Thread {
                    path: self.path.clone(),
                    problem: "panicked".to_owned(),
                })
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("govops: warning: {e}");
        }
    }
}

/// The writer thread's state.
struct Writer {
    path: PathBuf,
    rotate_bytes: Option<u64>,
    fingerprint: Option<ConfigFingerprint>,
    config: Option<String>,
    sync: bool,
    file: File,
    /// Whether `file` is the file at `path` (not after a rotation whose new file failed).
    at_active: bool,
    /// Bytes written to `file`.
    size: u64,
    /// Seq of `file`'s first record.
    first_seq: u64,
    /// Call records in `file`: a file is rotated only once it holds one.
    calls_in_file: u64,
    /// No rotation is tried again before the file reaches this size, after one failed.
    retry_rotation_at: u64,
    next_seq: u64,
    prev: String,
    /// `next_seq` as of the last successful write.
    confirmed_next: u64,
    /// Lines waiting for one `write_all`.
    buf: Vec<u8>,
    /// The first failure not yet reported.
    error: Option<AuditError>,
    /// Records not written since the last report.
    lost: u64,
    /// A write failed: the file's state is read again before the next record.
    broken: bool,
}

impl Writer {
    /// Locates the chain, opens the file and writes the `open` record, on the caller's thread.
    fn start(path: PathBuf, options: AuditOptions) -> Result<Writer, AuditError> {
        // Locked before it is read: a line another writer is writing would look like a crash's.
        let mut file = lock_open(&path)?;
        let start = locate(&path)?;
        if let Some(to) = &start.moved_to {
            file = replace_active(&path, to)?;
        }
        let config = options.fingerprint.as_ref().map(ConfigFingerprint::sha256);
        let mut writer = Writer {
            rotate_bytes: options.rotate_bytes,
            fingerprint: options.fingerprint,
            config,
            sync: options.sync,
            file,
            at_active: true,
            size: start.size,
            first_seq: start.first_seq.unwrap_or(start.next_seq),
            calls_in_file: 0,
            retry_rotation_at: 0,
            next_seq: start.next_seq,
            prev: start.prev,
            confirmed_next: start.next_seq,
            buf: Vec::with_capacity(BATCH_BYTES),
            error: None,
            lost: 0,
            broken: false,
            path,
        };
        writer.push_open(start.reason, None, start.unclean);
        writer.write_out();
        match writer.error.take() {
            Some(e) => Err(e),
            None => Ok(writer),
        }
    }

    fn run(mut self, rx: &Receiver<Msg>) -> Result<(), AuditError> {
        loop {
            // Polled rather than waited on: a blocked receiver makes every `append` wake it.
            let msg = match rx.try_recv() {
                Ok(msg) => msg,
                Err(mpsc::TryRecvError::Empty) => {
                    std::thread::park_timeout(IDLE_POLL);
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => break,
            };
            self.handle(msg);
            while self.buf.len() < BATCH_BYTES {
                match rx.try_recv() {
                    Ok(msg) => self.handle(msg),
                    Err(_) => break,
                }
            }
            self.write_out();
        }
        // Every sender is gone and every message taken: close.
        if self.broken {
            self.recover();
        }
        if !self.broken {
            let close = AuditRecord {
                kind: RecordKind::Close,
                timestamp: Some(Timestamp::now()),
                config: self.config.clone(),
                ..AuditRecord::default()
            };
            self.push(close);
            self.write_out();
            self.sync_file();
        }
        self.take_error()
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Record(record) => self.push_call(*record),
            Msg::Flush(reply) => {
                self.write_out();
                self.sync_file();
                let _ = reply.send(self.take_error());
            }
        }
    }

    fn push_call(&mut self, mut record: AuditRecord) {
        if self.broken {
            self.recover();
            if self.broken {
                self.lost += 1;
                return;
            }
        }
        record.kind = RecordKind::Call;
        record.reason = None;
        record.fingerprint = None;
        record.lost = None;
        if record.config.is_none() {
            record.config.clone_from(&self.config);
        }
        if let Some(fp) = &self.fingerprint {
            let fill = |field: &mut Option<String>, value: &String| {
                if field.is_none() {
                    *field = Some(value.clone());
                }
            };
            fill(&mut record.service, &fp.app);
            fill(&mut record.environment, &fp.environment);
            fill(&mut record.owner, &fp.owner);
            fill(&mut record.cost_center, &fp.cost_center);
            fill(&mut record.data_classification, &fp.data_classification);
        }
        let Some(mut line) = self.seal_next(&mut record) else {
            self.lost += 1;
            return;
        };
        if line.len() > MAX_LINE {
            match self.shrink(&mut record) {
                Some(shorter) => line = shorter,
                None => {
                    self.lost += 1;
                    return;
                }
            }
        }
        if let Some(limit) = self.rotate_bytes {
            let size = self.size + self.buf.len() as u64;
            if self.calls_in_file > 0
                && size + line.len() as u64 > limit
                && size >= self.retry_rotation_at
            {
                self.rotate(limit);
                if self.broken {
                    self.lost += 1;
                    return;
                }
                match self.seal_next(&mut record) {
                    Some(resealed) => line = resealed,
                    None => {
                        self.lost += 1;
                        return;
                    }
                }
            }
        }
        self.buf.extend_from_slice(&line);
        self.advance(&record);
        self.calls_in_file += 1;
    }

    /// A call whose line is longer than [`MAX_LINE`]: sealed again without its content, which is
    /// what can make it that long, so the call is still in the log; the next `flush` says so.
    /// `None` (the record is lost, and said so) when it is too long even without it.
    fn shrink(&mut self, record: &mut AuditRecord) -> Option<Vec<u8>> {
        let had_content = record.content.take().is_some();
        let line = self.seal_next(record)?;
        let problem = if line.len() > MAX_LINE {
            format!(
                "a record of {} bytes is longer than {MAX_LINE} bytes, the longest line a verifier reads: not written",
                line.len()
            )
        } else if had_content {
            format!(
                "a record's captured content made it longer than {MAX_LINE} bytes, the longest line a verifier reads: seq {} was written without its content",
                record.seq
            )
        } else {
            return Some(line);
        };
        self.note(AuditError::Write {
            path: self.path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, problem),
            lost: 0,
        });
        (line.len() <= MAX_LINE).then_some(line)
    }

    /// Seals `record` as the next in the chain (without advancing it).
    fn seal_next(&mut self, record: &mut AuditRecord) -> Option<Vec<u8>> {
        record.schema_version = SCHEMA_VERSION;
        record.seq = self.next_seq;
        record.prev.clone_from(&self.prev);
        match seal(record) {
            Ok(line) => Some(line),
            Err(e) => {
                self.note(e);
                None
            }
        }
    }

    fn advance(&mut self, record: &AuditRecord) {
        self.next_seq = self.next_seq.saturating_add(1);
        self.prev.clone_from(&record.hash);
    }

    /// Seals a writer's own record (`open`, `close`) into the batch.
    fn push(&mut self, mut record: AuditRecord) {
        if let Some(line) = self.seal_next(&mut record) {
            self.buf.extend_from_slice(&line);
            self.advance(&record);
        }
    }

    fn push_open(&mut self, reason: OpenReason, lost: Option<u64>, unclean: Option<UncleanStop>) {
        let open = AuditRecord {
            unclean_stop: unclean,
            kind: RecordKind::Open,
            timestamp: Some(Timestamp::now()),
            config: self.config.clone(),
            reason: Some(reason),
            fingerprint: self.fingerprint.clone(),
            lost,
            ..AuditRecord::default()
        };
        self.push(open);
    }

    /// Writes the batch with one `write_all`: whole lines only, so a crash cuts at most the last.
    fn write_out(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        match self.file.write_all(&self.buf) {
            Ok(()) => {
                self.size += self.buf.len() as u64;
                self.confirmed_next = self.next_seq;
            }
            Err(source) => {
                // Assume none of the batch arrived until the file is read again.
                self.lost += self.next_seq.saturating_sub(self.confirmed_next);
                self.note(AuditError::Write {
                    path: self.path.clone(),
                    source,
                    lost: 0,
                });
                self.broken = true;
            }
        }
        self.buf.clear();
    }

    fn sync_file(&mut self) {
        if self.sync
            && !self.broken
            && let Err(source) = self.file.sync_data()
        {
            self.note(AuditError::Write {
                path: self.path.clone(),
                source,
                lost: 0,
            });
        }
    }

    /// After a failed write: reads the file again and goes on from its last complete record (in
    /// a fresh file if the failure left an incomplete line), with an `open` record saying how
    /// many records were lost.
    fn recover(&mut self) {
        let start = match self.relocate() {
            Ok(start) => start,
            Err(e) => {
                // Still broken: the records that come meanwhile are counted as lost, and reported
                // (again, if the first failure was already reported).
                self.note(AuditError::Write {
                    path: self.path.clone(),
                    source: io::Error::other(format!("cannot go on after a failed write: {e}")),
                    lost: 0,
                });
                return;
            }
        };
        // Records of the failed batch that did reach the file are not lost.
        self.lost = self
            .lost
            .saturating_sub(start.next_seq.saturating_sub(self.confirmed_next));
        self.size = start.size;
        self.first_seq = start.first_seq.unwrap_or(start.next_seq);
        self.calls_in_file = 0;
        self.retry_rotation_at = 0;
        self.next_seq = start.next_seq;
        self.prev = start.prev;
        self.confirmed_next = start.next_seq;
        self.broken = false;
        let lost = (self.lost > 0).then_some(self.lost);
        // This writer did not stop: what it lost is in `lost`, and an incomplete line it left is
        // reported by the verifier as `truncated`.
        self.push_open(OpenReason::Recover, lost, None);
    }

    /// Finds the file's state again after a failed write, under the lock: the active file is
    /// locked again if a failed rotation left it elsewhere, and replaced if it ends with an
    /// incomplete line.
    fn relocate(&mut self) -> Result<Start, AuditError> {
        if !self.at_active {
            self.file = lock_open(&self.path)?;
            self.at_active = true;
        }
        let start = locate(&self.path)?;
        if let Some(to) = &start.moved_to {
            self.file = replace_active(&self.path, to)?;
        }
        Ok(start)
    }

    /// Renames the active file `NAME.SEQ` and goes on in a fresh one. On failure the records go
    /// on into the current file and the failure is reported.
    fn rotate(&mut self, limit: u64) {
        self.write_out();
        if self.broken {
            return;
        }
        self.sync_file();
        let to = rotated_name(&self.path, self.first_seq);
        let replaced = if self.at_active {
            replace_active(&self.path, &to)
        } else {
            lock_open(&self.path)
        };
        let file = match replaced {
            Ok(file) => file,
            Err(e) => {
                self.note(e);
                self.at_active = is_at(&self.file, &self.path);
                self.retry_rotation_at = self.size.saturating_add(limit);
                return;
            }
        };
        if self.sync {
            sync_dir(&self.path);
        }
        self.file = file;
        self.at_active = true;
        self.size = 0;
        self.first_seq = self.next_seq;
        self.calls_in_file = 0;
        self.retry_rotation_at = 0;
        self.push_open(OpenReason::Rotate, None, None);
    }

    fn note(&mut self, error: AuditError) {
        self.error.get_or_insert(error);
    }

    fn take_error(&mut self) -> Result<(), AuditError> {
        match self.error.take() {
            Some(AuditError::Write { path, source, .. }) => {
                let lost = std::mem::take(&mut self.lost);
                Err(AuditError::Write { path, source, lost })
            }
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
