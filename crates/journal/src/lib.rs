//! `journal`: the durable, append-only event log that sits between ziaxdr's receivers and its
//! pipeline. Receivers append raw events and acknowledge their senders only once the journal
//! says the records are on disk; the pipeline reads them back by offset and, once its sink has
//! durably committed them, records a consumer checkpoint so that old segments can be deleted.
//!
//! Layout: a directory of segment files named after the offset of their first record
//! (`00000000000000000000.seg`), each a sequence of records `len: u32 LE | crc32: u32 LE |
//! payload`. Offsets are record numbers, monotonically increasing across segments and never
//! reused. One writer thread owns the active segment and performs *group commit*: it drains
//! every append request that is waiting, writes them all, issues one `fsync`, and only then
//! tells each appender the offsets of its records. After a crash, [`Journal::open`] truncates a
//! torn or corrupt tail of the last segment (records that were never acknowledged, since the
//! acknowledgement follows the fsync). A disk budget makes appends fail with [`Error::Full`],
//! distinct from I/O errors, so receivers can answer 503 or pause until the consumer catches up
//! and segments below the checkpoint are deleted.

use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

/// Bytes of the per-record header (length and CRC32).
pub const HEADER_BYTES: u64 = 8;
const SEGMENT_SUFFIX: &str = ".seg";
const CHECKPOINT_FILE: &str = "checkpoint";
const LOCK_FILE: &str = "LOCK";
/// A group commit writes at most this many payload bytes before its fsync, so that one huge
/// burst does not delay the acknowledgement of the first requests in it for too long.
const GROUP_COMMIT_MAX_BYTES: u64 = 32 * 1024 * 1024;

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O error.
    #[error("journal I/O error: {0}")]
    Io(#[from] io::Error),
    /// The disk budget would be exceeded: the caller should answer 503 or pause and retry.
    #[error("journal full: {used} bytes used of a {budget}-byte budget")]
    Full {
        /// Bytes currently used by segment files.
        used: u64,
        /// The configured budget.
        budget: u64,
    },
    /// One record is larger than the configured maximum.
    #[error("record of {size} bytes exceeds the {max}-byte journal record limit")]
    TooLarge {
        /// Size of the rejected record.
        size: usize,
        /// The configured maximum.
        max: u32,
    },
    /// A record below the durable end failed its CRC or length check.
    #[error("journal corrupt in {segment} at byte {position}: {reason}")]
    Corrupt {
        /// The segment file.
        segment: String,
        /// Byte position of the bad record in the segment.
        position: u64,
        /// What was wrong.
        reason: String,
    },
    /// The offset asked for was deleted (below the first retained offset).
    #[error("offset {offset} is below the first retained offset {first}")]
    Deleted {
        /// The offset asked for.
        offset: u64,
        /// The first retained offset.
        first: u64,
    },
    /// A previous write failed part-way; the journal refuses appends until it is reopened,
    /// because appending after a half-written record would put acknowledged data after garbage.
    #[error("journal is poisoned by an earlier write failure; restart to recover")]
    Poisoned,
    /// Another process holds the journal directory.
    #[error("journal directory {0} is locked by another process")]
    Locked(String),
    /// The file system is out of space (ENOSPC): nothing of the append was kept, and the
    /// journal takes appends again as soon as space returns.
    #[error("journal disk full: no space left on the device; retry later")]
    NoSpace,
    /// The journal was shut down.
    #[error("journal is closed")]
    Closed,
}

impl Error {
    /// True when the error is transient back-pressure (full budget, full disk) rather than
    /// a fault.
    pub fn is_full(&self) -> bool {
        matches!(self, Error::Full { .. } | Error::NoSpace)
    }
}

/// True for an I/O error saying the disk (or a quota) is full.
pub fn is_no_space(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || e.raw_os_error() == Some(28)
}

/// Tunables of a journal. All limits are explicit.
#[derive(Debug, Clone)]
pub struct Config {
    /// A segment is closed and a new one started once it reaches this size (default 64 MiB).
    pub segment_bytes: u64,
    /// Total bytes of segment files allowed on disk (default 10 GiB); appends beyond it fail
    /// with [`Error::Full`].
    pub max_disk_bytes: u64,
    /// Largest single record (default 16 MiB).
    pub max_record_bytes: u32,
    /// Call `fsync` before acknowledging (default true; false only for benchmarks and tests
    /// that measure everything but the disk).
    pub fsync: bool,
    /// Fault injection for tests: while it holds true, every write fails as a full disk
    /// (ENOSPC) would.
    #[doc(hidden)]
    pub inject_no_space: Option<Arc<AtomicBool>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            segment_bytes: 64 * 1024 * 1024,
            max_disk_bytes: 10 * 1024 * 1024 * 1024,
            max_record_bytes: 16 * 1024 * 1024,
            fsync: true,
            inject_no_space: None,
        }
    }
}

#[derive(Debug, Clone)]
struct Segment {
    base: u64,
    path: PathBuf,
}

struct State {
    /// Segments in offset order; the last one is the active one.
    segments: Vec<Segment>,
    /// Persisted consumer checkpoint (offset of the last record the consumer committed).
    checkpoint: Option<u64>,
}

struct Inner {
    dir: PathBuf,
    cfg: Config,
    state: Mutex<State>,
    /// Offset that the next appended record will get; every record below it is durable.
    durable_end: AtomicU64,
    disk_used: AtomicU64,
    poisoned: AtomicBool,
    /// Set when the last append failed for lack of space, cleared by the next that works.
    no_space: AtomicBool,
    /// Paired with `data_cv` so readers can sleep until new records are durable.
    data_lock: Mutex<()>,
    data_cv: Condvar,
}

struct Request {
    records: Vec<Vec<u8>>,
    done: Done,
    /// Hand the records back with a refusal ([`Journal::submit_returning`]) rather than
    /// drop them.
    give_back: bool,
}

/// What the writer answers an append: its offsets, or the error and (when asked for) the
/// records it did not keep.
type Reply = Result<Range<u64>, (Error, Vec<Vec<u8>>)>;

/// An append the journal did not keep, with its records (when it was submitted with
/// [`Journal::submit_returning`]), so that the caller can retry without having kept a copy.
#[derive(Debug)]
pub struct Refused {
    /// Why: [`Error::Full`] or [`Error::NoSpace`] for back-pressure, else a fault.
    pub error: Error,
    /// The records, in the order given.
    pub records: Vec<Vec<u8>>,
}

/// A handle on an open journal. Cheap to clone; the writer thread stops when the last handle
/// is dropped.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
    tx: mpsc::Sender<Request>,
    _owner: Arc<Owner>,
}

/// Joins the writer thread when the last `Journal` clone goes away.
struct Owner {
    thread: Mutex<Option<JoinHandle<()>>>,
    stop: mpsc::Sender<Request>,
    _lock: File,
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Closing the channel ends the writer loop; the `stop` sender is the last one once
        // every `Journal` clone is gone.
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.stop, tx));
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

/// The pending result of an append: await it, or call [`Ack::wait`] from a thread.
/// Resolves once the records are durable, with the range of offsets they were given.
pub struct Ack(AckInner);

enum AckInner {
    Pending(oneshot::Receiver<Reply>),
    Ready(Option<Reply>),
}

impl AckInner {
    fn closed() -> Reply {
        Err((Error::Closed, Vec::new()))
    }

    fn wait(self) -> Reply {
        match self {
            AckInner::Pending(rx) => rx.blocking_recv().unwrap_or_else(|_| Self::closed()),
            AckInner::Ready(r) => r.unwrap_or_else(Self::closed),
        }
    }

    fn poll_reply(&mut self, cx: &mut Context<'_>) -> Poll<Reply> {
        match self {
            AckInner::Pending(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or_else(|_| Self::closed())),
            AckInner::Ready(r) => Poll::Ready(r.take().unwrap_or_else(Self::closed)),
        }
    }
}

impl Ack {
    /// Blocks the current thread until the records are durable (not for async contexts).
    pub fn wait(self) -> Result<Range<u64>, Error> {
        self.0.wait().map_err(|(e, _)| e)
    }
}

impl Future for Ack {
    type Output = Result<Range<u64>, Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll_reply(cx).map(|r| r.map_err(|(e, _)| e))
    }
}

/// The pending result of [`Journal::submit_returning`]: like [`Ack`], but a refused append
/// comes back with its records.
pub struct ReturningAck(AckInner);

impl Future for ReturningAck {
    type Output = Result<Range<u64>, Refused>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0
            .poll_reply(cx)
            .map(|r| r.map_err(|(error, records)| Refused { error, records }))
    }
}

fn segment_name(base: u64) -> String {
    format!("{base:020}{SEGMENT_SUFFIX}")
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir`, truncating a torn tail left by a crash.
    pub fn open(dir: impl AsRef<Path>, mut cfg: Config) -> Result<Journal, Error> {
        // Only whole segments below the checkpoint are freed, and the active one never is: a
        // segment larger than a quarter of the budget could leave a full journal stuck.
        cfg.segment_bytes = cfg.segment_bytes.min(cfg.max_disk_bytes / 4).max(1);
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        if lock.try_lock().is_err() {
            return Err(Error::Locked(dir.display().to_string()));
        }
        let checkpoint = read_checkpoint(&dir)?;
        let mut segments = list_segments(&dir)?;
        if segments.is_empty() {
            // A fresh journal starts after the checkpoint, so offsets are never reused even if
            // someone deleted the segment files by hand.
            let base = checkpoint.map_or(0, |c| c + 1);
            let path = dir.join(segment_name(base));
            File::create(&path)?.sync_all()?;
            sync_dir(&dir)?;
            segments.push(Segment { base, path });
        }
        let last = segments.last().cloned().ok_or(Error::Closed)?;
        let (count, valid_len) = recover_segment(&last.path, cfg.max_record_bytes)?;
        let file = OpenOptions::new().read(true).write(true).open(&last.path)?;
        if file.metadata()?.len() != valid_len {
            tracing::warn!(
                segment = %last.path.display(),
                kept = valid_len,
                "truncating torn journal tail left by a crash"
            );
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        let mut used = 0;
        for s in &segments {
            used += fs::metadata(&s.path)?.len();
        }
        let end = last.base + count;
        let inner = Arc::new(Inner {
            dir: dir.clone(),
            cfg: cfg.clone(),
            state: Mutex::new(State {
                segments,
                checkpoint,
            }),
            durable_end: AtomicU64::new(end),
            disk_used: AtomicU64::new(used),
            poisoned: AtomicBool::new(false),
            no_space: AtomicBool::new(false),
            data_lock: Mutex::new(()),
            data_cv: Condvar::new(),
        });
        let (tx, rx) = mpsc::channel::<Request>();
        let mut writer = Writer {
            inner: inner.clone(),
            file: BufWriter::with_capacity(256 * 1024, file),
            seg_len: valid_len,
            synced_len: valid_len,
        };
        writer.file.seek(SeekFrom::End(0))?;
        let thread = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok(Journal {
            inner,
            tx: tx.clone(),
            _owner: Arc::new(Owner {
                thread: Mutex::new(Some(thread)),
                stop: tx,
                _lock: lock,
            }),
        })
    }

    /// Queues `records` for appending; the returned [`Ack`] resolves once they are durable.
    pub fn submit(&self, records: Vec<Vec<u8>>) -> Ack {
        Ack(self.send(records, false))
    }

    /// Queues `records` like [`Journal::submit`], but an append the journal does not keep
    /// (a full budget, a full disk, a fault) gives the records back, so that a caller who
    /// retries on back-pressure need not keep a copy of what it submitted.
    pub fn submit_returning(&self, records: Vec<Vec<u8>>) -> ReturningAck {
        ReturningAck(self.send(records, true))
    }

    fn send(&self, records: Vec<Vec<u8>>, give_back: bool) -> AckInner {
        let (done, rx) = oneshot::channel();
        if let Err(mpsc::SendError(req)) = self.tx.send(Request {
            records,
            done,
            give_back,
        }) {
            let records = if req.give_back {
                req.records
            } else {
                Vec::new()
            };
            return AckInner::Ready(Some(Err((Error::Closed, records))));
        }
        AckInner::Pending(rx)
    }

    /// Appends `records` and waits (async) until they are durable.
    pub async fn append(&self, records: Vec<Vec<u8>>) -> Result<Range<u64>, Error> {
        self.submit(records).await
    }

    /// Appends `records` and blocks the thread until they are durable.
    pub fn append_blocking(&self, records: Vec<Vec<u8>>) -> Result<Range<u64>, Error> {
        self.submit(records).wait()
    }

    /// The offset the next record will get; every offset below it is durable and readable.
    pub fn end_offset(&self) -> u64 {
        self.inner.durable_end.load(Ordering::Acquire)
    }

    /// The first offset still retained on disk.
    pub fn start_offset(&self) -> u64 {
        self.inner
            .state
            .lock()
            .map(|s| s.segments.first().map_or(0, |s| s.base))
            .unwrap_or(0)
    }

    /// The first offset of every retained segment, oldest first (the last is the active
    /// segment's): a consumer that must free space can skip to a segment boundary.
    pub fn segment_starts(&self) -> Vec<u64> {
        self.inner
            .state
            .lock()
            .map(|s| s.segments.iter().map(|s| s.base).collect())
            .unwrap_or_default()
    }

    /// Bytes of segment files on disk.
    pub fn disk_usage(&self) -> u64 {
        self.inner.disk_used.load(Ordering::Relaxed)
    }

    /// True once a write failed: appends are refused until the journal is reopened.
    pub fn is_poisoned(&self) -> bool {
        self.inner.poisoned.load(Ordering::Relaxed)
    }

    /// The configured disk budget.
    pub fn disk_budget(&self) -> u64 {
        self.inner.cfg.max_disk_bytes
    }

    /// True when the budget is used up, or the last append found the disk full, so
    /// receivers can refuse work before reading it.
    pub fn is_full(&self) -> bool {
        self.disk_usage() >= self.inner.cfg.max_disk_bytes || self.is_out_of_space()
    }

    /// True when the last append failed because the file system is full (cleared by the
    /// next append that succeeds).
    pub fn is_out_of_space(&self) -> bool {
        self.inner.no_space.load(Ordering::Relaxed)
    }

    /// The persisted consumer checkpoint: the offset of the last record the consumer has
    /// durably processed, if any.
    pub fn checkpoint(&self) -> Option<u64> {
        self.inner.state.lock().ok().and_then(|s| s.checkpoint)
    }

    /// Persists the consumer checkpoint `offset` (the last processed record) and deletes the
    /// segments whose records are all at or below it. The active segment is never deleted.
    pub fn commit_checkpoint(&self, offset: u64) -> Result<(), Error> {
        let offset = offset.min(self.end_offset().saturating_sub(1));
        let tmp = self.inner.dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        {
            let mut f = File::create(&tmp)?;
            let bytes = offset.to_le_bytes();
            f.write_all(&bytes)?;
            f.write_all(&crc32fast::hash(&bytes).to_le_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.inner.dir.join(CHECKPOINT_FILE))?;
        sync_dir(&self.inner.dir)?;
        let doomed: Vec<Segment> = {
            let mut st = self.inner.state.lock().map_err(|_| Error::Closed)?;
            st.checkpoint = Some(offset);
            let mut n = 0;
            // Segment i holds offsets [base_i, base_{i+1}); it can go when base_{i+1} <= offset + 1.
            while n + 1 < st.segments.len() && st.segments[n + 1].base <= offset + 1 {
                n += 1;
            }
            st.segments.drain(..n).collect()
        };
        for s in doomed {
            let len = fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&s.path)?;
            self.inner.disk_used.fetch_sub(len, Ordering::Relaxed);
            tracing::debug!(segment = %s.path.display(), "deleted journal segment below checkpoint");
        }
        Ok(())
    }

    /// A reader positioned at `offset`; it yields only durable records.
    pub fn read_from(&self, offset: u64) -> Result<Reader, Error> {
        let first = self.start_offset();
        if offset < first {
            return Err(Error::Deleted { offset, first });
        }
        Ok(Reader {
            inner: self.inner.clone(),
            next: offset,
            current: None,
            scratch: Vec::new(),
        })
    }

    /// Blocks until a record at or beyond `offset` is durable, or `timeout` passes.
    /// Returns true when there is something to read.
    pub fn wait_for(&self, offset: u64, timeout: Duration) -> bool {
        if self.end_offset() > offset {
            return true;
        }
        let Ok(guard) = self.inner.data_lock.lock() else {
            return false;
        };
        let _unused = self
            .inner
            .data_cv
            .wait_timeout_while(guard, timeout, |_| self.end_offset() <= offset);
        self.end_offset() > offset
    }
}

fn read_checkpoint(dir: &Path) -> Result<Option<u64>, Error> {
    let path = dir.join(CHECKPOINT_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if bytes.len() != 12 {
        return Err(Error::Corrupt {
            segment: path.display().to_string(),
            position: 0,
            reason: format!("checkpoint file has {} bytes, expected 12", bytes.len()),
        });
    }
    let (v, c) = bytes.split_at(8);
    if crc32fast::hash(v).to_le_bytes() != c {
        return Err(Error::Corrupt {
            segment: path.display().to_string(),
            position: 0,
            reason: "checkpoint CRC mismatch".into(),
        });
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(v);
    Ok(Some(u64::from_le_bytes(b)))
}

fn list_segments(dir: &Path) -> Result<Vec<Segment>, Error> {
    let mut segs = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(SEGMENT_SUFFIX) else {
            continue;
        };
        if let Ok(base) = stem.parse::<u64>() {
            segs.push(Segment {
                base,
                path: e.path(),
            });
        }
    }
    segs.sort_by_key(|s| s.base);
    Ok(segs)
}

/// Scans a segment, returning the number of valid records and the byte length they span.
/// Scanning stops at the first short, oversized or CRC-failing record: everything from there
/// on is a torn write that was never acknowledged.
fn recover_segment(path: &Path, max_record: u32) -> Result<(u64, u64), Error> {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut count = 0u64;
    let mut pos = 0u64;
    let mut payload = Vec::new();
    loop {
        let mut hdr = [0u8; 8];
        if !read_full(&mut r, &mut hdr)? {
            break;
        }
        let (len, crc) = split_header(&hdr);
        if len > max_record {
            break;
        }
        payload.resize(len as usize, 0);
        if !read_full(&mut r, &mut payload)? || crc32fast::hash(&payload) != crc {
            break;
        }
        count += 1;
        pos += HEADER_BYTES + u64::from(len);
    }
    Ok((count, pos))
}

fn split_header(hdr: &[u8; 8]) -> (u32, u32) {
    let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
    let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    (len, crc)
}

/// Reads exactly `buf.len()` bytes; false on a clean or partial end of file.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => return Ok(false),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Appends exactly `len` bytes of `r` to `out`; false on a clean or partial end of file.
fn read_into(r: &mut BufReader<File>, out: &mut Vec<u8>, len: usize) -> io::Result<bool> {
    out.reserve(len);
    let got = r.by_ref().take(len as u64).read_to_end(out)?;
    Ok(got == len)
}

/// Where an append's outcome goes.
type Done = oneshot::Sender<Reply>;

/// An append written but not yet durable: its records are kept until the fsync only when
/// they are to be handed back should it fail.
struct Accepted {
    done: Done,
    range: Range<u64>,
    records: Vec<Vec<u8>>,
}

/// Tells the appender of `req` that it failed with `error`.
fn refuse(req: Request, error: Error) {
    let records = if req.give_back {
        req.records
    } else {
        Vec::new()
    };
    let _ = req.done.send(Err((error, records)));
}

/// Tells the appender of an accepted but not durable append that it failed with `error`.
fn refuse_accepted(a: Accepted, error: Error) {
    let _ = a.done.send(Err((error, a.records)));
}

struct Writer {
    inner: Arc<Inner>,
    file: BufWriter<File>,
    seg_len: u64,
    /// Length of the active segment up to its last durable record.
    synced_len: u64,
}

impl Writer {
    fn run(&mut self, rx: mpsc::Receiver<Request>) {
        while let Ok(first) = rx.recv() {
            // Group commit: take every request already waiting, up to a byte cap.
            let mut batch = vec![first];
            let mut bytes: u64 = batch[0].records.iter().map(|r| r.len() as u64).sum();
            while bytes < GROUP_COMMIT_MAX_BYTES {
                match rx.try_recv() {
                    Ok(req) => {
                        bytes += req.records.iter().map(|r| r.len() as u64).sum::<u64>();
                        batch.push(req);
                    }
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
        let _ = self.file.flush();
    }

    fn commit(&mut self, batch: Vec<Request>) {
        let mut accepted: Vec<Accepted> = Vec::with_capacity(batch.len());
        let mut next = self.inner.durable_end.load(Ordering::Acquire);
        let mut pending_bytes = 0u64;
        let budget = self.inner.cfg.max_disk_bytes;
        let max = self.inner.cfg.max_record_bytes;
        let mut batch = batch.into_iter();
        while let Some(req) = batch.next() {
            if self.inner.poisoned.load(Ordering::Relaxed) {
                refuse(req, Error::Poisoned);
                continue;
            }
            if let Some(big) = req.records.iter().find(|r| r.len() > max as usize) {
                let size = big.len();
                refuse(req, Error::TooLarge { size, max });
                continue;
            }
            let need: u64 = req
                .records
                .iter()
                .map(|r| HEADER_BYTES + r.len() as u64)
                .sum();
            let used = self.inner.disk_used.load(Ordering::Relaxed) + pending_bytes;
            if used + need > budget {
                refuse(req, Error::Full { used, budget });
                continue;
            }
            match self.write_records(&req.records) {
                Ok(()) => {
                    pending_bytes += need;
                    let n = req.records.len() as u64;
                    // Kept until the fsync only if they are to be handed back on failure;
                    // otherwise freed now, as they are no longer needed.
                    let records = if req.give_back {
                        req.records
                    } else {
                        Vec::new()
                    };
                    accepted.push(Accepted {
                        done: req.done,
                        range: next..next + n,
                        records,
                    });
                    next += n;
                }
                Err(e) if is_no_space(&e) => {
                    // Said before anyone is told, so that an appender who got NoSpace sees
                    // `is_out_of_space` at once.
                    self.inner.no_space.store(true, Ordering::Relaxed);
                    refuse(req, Error::NoSpace);
                    for r in batch {
                        refuse(r, Error::NoSpace);
                    }
                    self.out_of_space(std::mem::take(&mut accepted));
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "journal write failed; journal poisoned");
                    self.inner.poisoned.store(true, Ordering::Relaxed);
                    refuse(req, Error::Io(e));
                }
            }
        }
        if accepted.is_empty() {
            return;
        }
        let synced = self.sync();
        match synced {
            Err(e) if is_no_space(&e) => self.out_of_space(accepted),
            Ok(()) => {
                self.synced_len = self.seg_len;
                self.inner.no_space.store(false, Ordering::Relaxed);
                self.inner
                    .disk_used
                    .fetch_add(pending_bytes, Ordering::Relaxed);
                self.inner.durable_end.store(next, Ordering::Release);
                {
                    let _g = self.inner.data_lock.lock();
                    self.inner.data_cv.notify_all();
                }
                for a in accepted {
                    let _ = a.done.send(Ok(a.range));
                }
                match self.maybe_roll(next) {
                    Ok(()) => {}
                    // The active segment stays, a little longer than planned; the roll is
                    // tried again after the next commit.
                    Err(e) if is_no_space(&e) => {
                        tracing::warn!("journal segment roll: no space left; retried later")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "journal segment roll failed; journal poisoned");
                        self.inner.poisoned.store(true, Ordering::Relaxed);
                    }
                }
            }
            Err(e) => {
                // The records may or may not be on disk; nobody was told they are, and the
                // journal stops accepting so nothing acknowledged can land after them.
                tracing::error!(error = %e, "journal fsync failed; journal poisoned");
                self.inner.poisoned.store(true, Ordering::Relaxed);
                for a in accepted {
                    refuse_accepted(a, Error::Io(io::Error::new(e.kind(), e.to_string())));
                }
            }
        }
    }

    /// The disk is full: every append of this commit fails with [`Error::NoSpace`] and the
    /// segment is cut back to its last durable record, so that appending can go on once
    /// space returns with nothing unacknowledged in between. If even that fails, the journal
    /// is poisoned.
    fn out_of_space(&mut self, accepted: Vec<Accepted>) {
        self.inner.no_space.store(true, Ordering::Relaxed);
        for a in accepted {
            refuse_accepted(a, Error::NoSpace);
        }
        if let Err(e) = self.rollback() {
            tracing::error!(error = %e, "journal rollback after a full disk failed; journal poisoned");
            self.inner.poisoned.store(true, Ordering::Relaxed);
        }
    }

    fn rollback(&mut self) -> io::Result<()> {
        let f = self.file.get_ref().try_clone()?;
        // Dropped without flushing what it buffered.
        let old = std::mem::replace(&mut self.file, BufWriter::with_capacity(256 * 1024, f));
        drop(old.into_parts());
        let f = self.file.get_mut();
        f.set_len(self.synced_len)?;
        f.seek(SeekFrom::Start(self.synced_len))?;
        self.seg_len = self.synced_len;
        Ok(())
    }

    fn write_records(&mut self, records: &[Vec<u8>]) -> io::Result<()> {
        if self
            .inner
            .cfg
            .inject_no_space
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            return Err(io::Error::from_raw_os_error(28));
        }
        for r in records {
            let len = r.len() as u32;
            self.file.write_all(&len.to_le_bytes())?;
            self.file.write_all(&crc32fast::hash(r).to_le_bytes())?;
            self.file.write_all(r)?;
            self.seg_len += HEADER_BYTES + r.len() as u64;
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.inner.cfg.fsync {
            self.file.get_ref().sync_data()?;
        }
        Ok(())
    }

    /// Starts a new segment once the active one is full. Called only after a successful sync,
    /// so the closed segment is complete and durable.
    fn maybe_roll(&mut self, next: u64) -> io::Result<()> {
        if self.seg_len < self.inner.cfg.segment_bytes {
            return Ok(());
        }
        let path = self.inner.dir.join(segment_name(next));
        let f = OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)?;
        sync_dir(&self.inner.dir)?;
        self.file = BufWriter::with_capacity(256 * 1024, f);
        self.seg_len = 0;
        self.synced_len = 0;
        if let Ok(mut st) = self.inner.state.lock() {
            st.segments.push(Segment { base: next, path });
        }
        Ok(())
    }
}

/// Reads durable records in offset order, across segments.
pub struct Reader {
    inner: Arc<Inner>,
    next: u64,
    current: Option<OpenSegment>,
    /// A payload larger than what the segment's read buffer holds is read into this.
    scratch: Vec<u8>,
}

struct OpenSegment {
    base: u64,
    path: PathBuf,
    file: BufReader<File>,
    pos: u64,
}

impl Reader {
    /// The offset of the record the next call to [`Reader::next_record`] returns.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The next durable record and its offset, or `None` when the reader has caught up.
    pub fn next_record(&mut self) -> Result<Option<(u64, Vec<u8>)>, Error> {
        self.next_record_with(|off, payload| (off, payload.to_vec()))
    }

    /// Like [`Reader::next_record`], but lends the payload to `f` instead of copying it into
    /// a vector of its own: a payload already in the reader's buffer is passed from there
    /// (checked against its CRC first), so a caller that keeps only part of it, or packs many
    /// into one buffer, copies each once and allocates nothing per record.
    pub fn next_record_with<T>(
        &mut self,
        f: impl FnOnce(u64, &[u8]) -> T,
    ) -> Result<Option<T>, Error> {
        if self.next >= self.inner.durable_end.load(Ordering::Acquire) {
            return Ok(None);
        }
        loop {
            if self.current.is_none() {
                self.current = Some(self.open_segment_for(self.next)?);
            }
            let Some(seg) = self.current.as_mut() else {
                return Err(Error::Closed);
            };
            let mut hdr = [0u8; 8];
            if !read_full(&mut seg.file, &mut hdr)? {
                // End of this segment: the record must be the first of the next one.
                self.current = None;
                let has_next = self
                    .inner
                    .state
                    .lock()
                    .map_err(|_| Error::Closed)?
                    .segments
                    .iter()
                    .any(|s| s.base == self.next);
                if !has_next {
                    return Err(Error::Corrupt {
                        segment: "(end of segment)".into(),
                        position: 0,
                        reason: format!("durable offset {} not found", self.next),
                    });
                }
                continue;
            }
            let (len, crc) = split_header(&hdr);
            let corrupt = |reason: &str| Error::Corrupt {
                segment: seg.path.display().to_string(),
                position: seg.pos,
                reason: reason.to_string(),
            };
            if len > self.inner.cfg.max_record_bytes {
                return Err(corrupt("record length over the limit"));
            }
            let len = len as usize;
            let off = self.next;
            let out = if seg.file.buffer().len() >= len {
                let payload = &seg.file.buffer()[..len];
                if crc32fast::hash(payload) != crc {
                    return Err(corrupt("CRC mismatch"));
                }
                let out = f(off, payload);
                seg.file.consume(len);
                out
            } else {
                // Not all in the buffer: read into the reader's own scratch vector (kept for
                // the next such record), without zeroing it first where it already has room.
                self.scratch.clear();
                if !read_into(&mut seg.file, &mut self.scratch, len)? {
                    return Err(corrupt("short record below the durable end"));
                }
                if crc32fast::hash(&self.scratch) != crc {
                    return Err(corrupt("CRC mismatch"));
                }
                f(off, &self.scratch)
            };
            seg.pos += HEADER_BYTES + len as u64;
            self.next += 1;
            return Ok(Some(out));
        }
    }

    fn open_segment_for(&self, offset: u64) -> Result<OpenSegment, Error> {
        let seg = {
            let st = self.inner.state.lock().map_err(|_| Error::Closed)?;
            let first = st.segments.first().map_or(0, |s| s.base);
            if offset < first {
                return Err(Error::Deleted { offset, first });
            }
            st.segments
                .iter()
                .rev()
                .find(|s| s.base <= offset)
                .cloned()
                .ok_or(Error::Deleted { offset, first })?
        };
        let mut file = BufReader::with_capacity(256 * 1024, File::open(&seg.path)?);
        let mut pos = 0u64;
        // Skip the records before `offset` by their length headers.
        for _ in seg.base..offset {
            let mut hdr = [0u8; 8];
            if !read_full(&mut file, &mut hdr)? {
                return Err(Error::Corrupt {
                    segment: seg.path.display().to_string(),
                    position: pos,
                    reason: "segment ends before the requested offset".into(),
                });
            }
            let (len, _) = split_header(&hdr);
            file.seek_relative(i64::from(len))?;
            pos += HEADER_BYTES + u64::from(len);
        }
        Ok(OpenSegment {
            base: seg.base,
            path: seg.path,
            file,
            pos,
        })
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("next", &self.next)
            .field("segment", &self.current.as_ref().map(|s| s.base))
            .finish()
    }
}

#[cfg(test)]
mod tests;
