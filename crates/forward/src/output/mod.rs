//! The destinations. Each runs on its own thread from its own cursor: it reads a window of
//! buffered records (bounded in records, bytes and age), sends it, and advances its cursor
//! only once the destination has taken all of it, so a crash or an outage resends rather
//! than loses. Failures are retried with exponential backoff and jitter.

pub mod http;
pub mod syslog;
pub mod tls;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::buffer::Buffer;
use crate::config::Tuning;
use crate::metrics::Metrics;
use crate::record::DecodeError;

/// How the outputs are told to stop: after the inputs have closed, each output keeps
/// sending until it has sent everything journaled before the stop, or the drain deadline
/// passes; what is left stays on disk for the next start.
#[derive(Default)]
pub struct Stop {
    stopping: AtomicBool,
    target: AtomicU64,
    deadline: Mutex<Option<Instant>>,
}

impl Stop {
    /// Starts the drain: send up to offset `target`, for at most `drain`.
    pub fn begin(&self, target: u64, drain: Duration) {
        self.target.store(target, Ordering::Release);
        if let Ok(mut d) = self.deadline.lock() {
            *d = Some(Instant::now() + drain);
        }
        self.stopping.store(true, Ordering::Release);
    }

    fn deadline(&self) -> Option<Instant> {
        if !self.stopping.load(Ordering::Acquire) {
            return None;
        }
        self.deadline.lock().ok().and_then(|d| *d)
    }

    /// The offset to drain to, once stopping.
    fn target(&self) -> Option<u64> {
        self.deadline().map(|_| self.target.load(Ordering::Acquire))
    }

    /// True once an output at `position` should give up.
    fn done(&self, position: u64) -> bool {
        match self.deadline() {
            None => false,
            Some(d) => position >= self.target.load(Ordering::Acquire) || Instant::now() >= d,
        }
    }
}

/// A run of consecutive buffered records, `start..end`, packed: the lines of the records
/// that decoded, each followed by a newline, in one buffer (a record that does not decode is
/// counted as failed and skipped). Reading a window thus copies each line once, from the
/// journal reader's buffer, and allocates nothing per record; a window whose records share
/// one key is already the body of its batch.
pub struct Window {
    /// Offset of the first record.
    pub start: u64,
    /// Offset after the last record.
    pub end: u64,
    /// The lines, each followed by `\n`.
    text: Vec<u8>,
    /// The distinct keys of the records, in order of first appearance.
    keys: Vec<String>,
    /// The same as stored (a key cut mid-character differs from its text).
    raw_keys: Vec<Vec<u8>>,
    /// One entry per decoded record.
    lines: Vec<LineAt>,
}

/// The most a window reserves for its lines up front (a larger batch grows its buffer).
const WINDOW_RESERVE_MAX: usize = 16 << 20;

/// Where a record's line is in its window, and what goes with it.
struct LineAt {
    received_at_us: i64,
    key: usize,
    start: usize,
    len: usize,
}

/// One record of a window, borrowed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// Receipt time, microseconds since the Unix epoch.
    pub received_at_us: i64,
    /// The intake key it came with (before any destination override).
    pub key: &'a str,
    /// The line as received, its `SEKOIA@53288` element removed.
    pub data: &'a [u8],
}

impl std::fmt::Debug for Line<'_> {
    // The intake key is a secret: never in a log line, even a debug one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Line")
            .field("received_at_us", &self.received_at_us)
            .field("key", &"<redacted>")
            .field("data", &String::from_utf8_lossy(self.data))
            .finish()
    }
}

impl Window {
    /// An empty window at `start`, with room for `bytes` of lines (reserved at once: a
    /// buffer grown by doubling would copy them again).
    pub fn new(start: u64, bytes: usize) -> Window {
        Window::with_buffer(start, Vec::with_capacity(bytes))
    }

    /// An empty window at `start` whose lines go into `text` (emptied first).
    pub fn with_buffer(start: u64, mut text: Vec<u8>) -> Window {
        text.clear();
        Window {
            start,
            end: start,
            text,
            keys: Vec::new(),
            raw_keys: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// Appends the record of journal payload `payload` (the next offset); the bytes of line
    /// it added.
    pub fn push_payload(&mut self, payload: &[u8]) -> Result<usize, DecodeError> {
        self.end += 1;
        let (received_at_us, key, data) = crate::record::split(payload)?;
        let k = match self.raw_keys.iter().rposition(|k| k == key) {
            Some(k) => k,
            None => {
                self.keys.push(crate::record::key_text(key));
                self.raw_keys.push(key.to_vec());
                self.keys.len() - 1
            }
        };
        let start = self.text.len();
        self.text.extend_from_slice(data);
        self.text.push(b'\n');
        self.lines.push(LineAt {
            received_at_us,
            key: k,
            start,
            len: data.len(),
        });
        Ok(data.len() + 1)
    }

    /// Records that decoded.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when no record decoded.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Record `i`.
    pub fn line(&self, i: usize) -> Line<'_> {
        let l = &self.lines[i];
        Line {
            received_at_us: l.received_at_us,
            key: &self.keys[l.key],
            data: &self.text[l.start..l.start + l.len],
        }
    }

    /// The records in order.
    pub fn lines(&self) -> impl Iterator<Item = Line<'_>> {
        (0..self.len()).map(|i| self.line(i))
    }

    /// The distinct keys of the records.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The index in [`Window::keys`] of record `i`'s key.
    pub fn key_index(&self, i: usize) -> usize {
        self.lines[i].key
    }

    /// Every line joined by `\n` (no newline after the last).
    pub fn joined(&self) -> &[u8] {
        &self.text[..self.text.len().saturating_sub(1)]
    }

    fn last_received_at_us(&self) -> Option<i64> {
        self.lines.last().map(|l| l.received_at_us)
    }

    /// Receipt time of the first record.
    pub fn first_received_at_us(&self) -> Option<i64> {
        self.lines.first().map(|l| l.received_at_us)
    }
}

/// What an output thread works with.
pub struct OutputCtx {
    /// The shared buffer.
    pub buffer: Arc<Buffer>,
    /// This destination's index among the cursors.
    pub idx: usize,
    /// Counters.
    pub metrics: Metrics,
    /// Batching and retries.
    pub tuning: Tuning,
    /// The stop signal.
    pub stop: Arc<Stop>,
    /// The key that replaces every record's own key, if configured.
    pub key_override: Option<String>,
    reader: Option<journal::Reader>,
    /// Offset of the next record to read: ahead of the cursor while windows are in flight.
    read_pos: Option<u64>,
    /// Line buffers of windows already sent, for the next windows: a fresh buffer of a
    /// megabyte costs the kernel's zeroing of its pages at each window.
    spare: Spare,
}

/// Where sent windows' buffers wait to be reused (a few at most).
#[derive(Clone, Default)]
pub struct Spare(Arc<Mutex<Vec<Vec<u8>>>>);

/// Buffers kept for reuse, at most: one per window in flight and a few more.
const SPARE_MAX: usize = 16;

impl Spare {
    /// Gives back the line buffer of a window that is done with.
    pub fn recycle(&self, w: Window) {
        let mut text = w.text;
        text.clear();
        if let Ok(mut s) = self.0.lock() {
            if s.len() < SPARE_MAX {
                s.push(text);
            }
        }
    }

    fn take(&self, bytes: usize) -> Vec<u8> {
        let mut text = self
            .0
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default();
        text.reserve(bytes);
        text
    }
}

impl OutputCtx {
    /// A context for destination `idx`.
    pub fn new(
        buffer: Arc<Buffer>,
        idx: usize,
        metrics: Metrics,
        tuning: Tuning,
        stop: Arc<Stop>,
        key_override: Option<String>,
    ) -> OutputCtx {
        OutputCtx {
            buffer,
            idx,
            metrics,
            tuning,
            stop,
            key_override,
            reader: None,
            read_pos: None,
            spare: Spare::default(),
        }
    }

    /// The destination's label (no key).
    pub fn label(&self) -> &str {
        &self.buffer.cursors[self.idx].label
    }

    /// The key a record whose own key is `key` is sent with.
    pub fn key_for<'a>(&'a self, key: &'a str) -> &'a str {
        self.key_override.as_deref().unwrap_or(key)
    }

    fn position(&self) -> u64 {
        self.buffer.cursors[self.idx].next()
    }

    /// True once the output should stop (drained, or out of time).
    pub fn should_exit(&self) -> bool {
        self.stop.done(self.position())
    }

    /// Reads the next window, waiting for records; `None` when the output should stop.
    pub fn next_window(&mut self) -> Option<Window> {
        loop {
            if let Some(w) = self.poll_window() {
                return Some(w);
            }
            if self.finished_reading() {
                return None;
            }
        }
    }

    /// True when nothing more is to be read: stopping, and everything up to the drain
    /// target is read (or the deadline passed).
    pub fn finished_reading(&self) -> bool {
        if self.should_exit() {
            return true;
        }
        let read = self.read_pos.unwrap_or(0).max(self.position());
        self.stop.target().is_some_and(|t| read >= t)
    }

    /// The next window if records arrive within about 200 ms; `None` otherwise (see
    /// [`OutputCtx::finished_reading`] to tell a stop from a quiet moment).
    pub fn poll_window(&mut self) -> Option<Window> {
        let limit_records = self.tuning.batch_records.max(1);
        let limit_bytes = self.tuning.batch_bytes.max(1);
        {
            if self.finished_reading() {
                return None;
            }
            // The cursor may have jumped ahead (drop-oldest) of what was read.
            let pos = self.read_pos.unwrap_or(0).max(self.position());
            if !self
                .buffer
                .journal
                .wait_for(pos, Duration::from_millis(200))
            {
                if pos == self.position() {
                    self.buffer.cursors[self.idx]
                        .oldest_unsent_us
                        .store(0, Ordering::Relaxed);
                }
                return None;
            }
            if self.reader.as_ref().map(|r| r.position()) != Some(pos) {
                match self.buffer.journal.read_from(pos) {
                    Ok(r) => self.reader = Some(r),
                    Err(journal::Error::Deleted { .. }) => {
                        self.read_pos = Some(self.buffer.skip_deleted(self.idx));
                        return None;
                    }
                    Err(e) => {
                        tracing::error!(destination = %self.label(), error = %e, "cannot read the buffer");
                        std::thread::sleep(Duration::from_secs(1));
                        return None;
                    }
                }
            }
            // A batch ends once it reaches its byte limit, so one line more at most.
            let mut w = Window::with_buffer(
                pos,
                self.spare.take(limit_bytes.min(WINDOW_RESERVE_MAX) + 4096),
            );
            let mut bytes = 0usize;
            let opened = Instant::now();
            loop {
                let next = self
                    .reader
                    .as_mut()
                    .map(|r| r.next_record_with(|_, payload| w.push_payload(payload)));
                match next {
                    Some(Ok(Some(Ok(n)))) => bytes += n,
                    Some(Ok(Some(Err(e)))) => {
                        self.metrics.failed.with_label_values(&[self.label()]).inc();
                        tracing::error!(destination = %self.label(), error = %e, "undecodable buffered record skipped");
                    }
                    Some(Ok(None)) => {
                        // Wait for more while the batch is young and records keep coming.
                        // The linger counts from the newest record's arrival, not from now:
                        // a window read well after a burst ended goes out at once.
                        let left = self.tuning.batch_age.saturating_sub(opened.elapsed());
                        let quiet_for = w.last_received_at_us().map_or(Duration::ZERO, |t| {
                            Duration::from_micros((crate::record::now_us() - t).max(0) as u64)
                        });
                        let linger = left.min(
                            self.tuning
                                .batch_linger
                                .max(Duration::from_millis(1))
                                .saturating_sub(quiet_for),
                        );
                        if left.is_zero()
                            || linger.is_zero()
                            || self.stop.deadline().is_some()
                            || !self.buffer.journal.wait_for(w.end, linger)
                        {
                            break;
                        }
                        continue;
                    }
                    Some(Err(journal::Error::Deleted { .. })) | None => {
                        self.reader = None;
                        break;
                    }
                    Some(Err(e)) => {
                        tracing::error!(destination = %self.label(), error = %e, "cannot read the buffer");
                        self.reader = None;
                        break;
                    }
                }
                if w.len() >= limit_records || bytes >= limit_bytes {
                    break;
                }
            }
            if w.end == w.start {
                return None;
            }
            self.read_pos = Some(w.end);
            if let Some(first) = w.first_received_at_us() {
                if self.position() >= w.start {
                    self.buffer.cursors[self.idx]
                        .oldest_unsent_us
                        .store(first, Ordering::Relaxed);
                }
            }
            Some(w)
        }
    }

    /// Marks every record below `end` sent.
    pub fn done_to(&mut self, end: u64) {
        self.committer().done_to(end);
    }

    /// Where the buffers of windows that are done with go back to.
    pub fn spare(&self) -> Spare {
        self.spare.clone()
    }

    /// What a sending thread needs to advance the cursor.
    pub fn committer(&self) -> Committer {
        Committer {
            buffer: self.buffer.clone(),
            idx: self.idx,
        }
    }

    /// What a sending thread needs to pace its retries.
    pub fn pacer(&self) -> Pacer {
        Pacer {
            buffer: self.buffer.clone(),
            idx: self.idx,
            tuning: self.tuning.clone(),
            stop: self.stop.clone(),
        }
    }

    /// The delay before retry number `attempt` (0-based): exponential, capped, with jitter
    /// in [½, 1] of it; a server's `Retry-After` wins, up to ten times the cap.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        backoff(&self.tuning, attempt, retry_after)
    }

    /// Sleeps `d`, cut short by the drain deadline; false when the output should stop.
    pub fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.should_exit() {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(100)));
        }
    }
}

/// Advances an output's cursor from a thread other than the one that reads its windows.
#[derive(Clone)]
pub struct Committer {
    buffer: Arc<Buffer>,
    idx: usize,
}

impl Committer {
    /// Marks every record below `end` sent, and `next_unsent_us` (the receipt time of the
    /// first record at `end`, when known) as the oldest unsent.
    pub fn done_to_with(&self, end: u64, next_unsent_us: Option<i64>) {
        if let Some(us) = next_unsent_us {
            self.buffer.cursors[self.idx]
                .oldest_unsent_us
                .store(us, Ordering::Relaxed);
        }
        self.done_to(end);
    }

    /// Marks every record below `end` sent.
    pub fn done_to(&self, end: u64) {
        self.buffer.advance(self.idx, end);
        if self.buffer.journal.end_offset() <= end {
            self.buffer.cursors[self.idx]
                .oldest_unsent_us
                .store(0, Ordering::Relaxed);
        }
    }
}

/// Retry pacing for a thread that sends on behalf of an output.
#[derive(Clone)]
pub struct Pacer {
    buffer: Arc<Buffer>,
    idx: usize,
    tuning: Tuning,
    stop: Arc<Stop>,
}

impl Pacer {
    /// See [`OutputCtx::backoff`].
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        backoff(&self.tuning, attempt, retry_after)
    }

    /// Sleeps `d`, cut short by the drain deadline; false when sending should stop.
    pub fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.stop.done(self.buffer.cursors[self.idx].next()) {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(100)));
        }
    }
}

fn backoff(tuning: &Tuning, attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(ra) = retry_after {
        return ra.min(tuning.retry_max * 10);
    }
    let base = tuning
        .retry_initial
        .saturating_mul(1u32 << attempt.min(20))
        .min(tuning.retry_max);
    let jitter = rand::rng().random_range(0.5..=1.0);
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::encode;

    #[test]
    fn a_window_keeps_each_record_with_its_key_and_receipt_time() {
        let mut w = Window::new(5, 0);
        w.push_payload(&encode(1, "a", b"one")).unwrap();
        w.push_payload(&encode(2, "b", b"two")).unwrap();
        w.push_payload(&encode(3, "a", b"three")).unwrap();
        assert_eq!((w.start, w.end, w.len()), (5, 8, 3));
        assert_eq!(w.keys(), ["a", "b"]);
        let lines: Vec<_> = w
            .lines()
            .map(|l| (l.received_at_us, l.key, l.data))
            .collect();
        assert_eq!(
            lines,
            [
                (1, "a", &b"one"[..]),
                (2, "b", &b"two"[..]),
                (3, "a", &b"three"[..])
            ]
        );
        assert_eq!(w.joined(), b"one\ntwo\nthree");
    }

    #[test]
    fn debug_output_of_a_line_hides_its_key() {
        let mut w = Window::new(0, 0);
        w.push_payload(&encode(0, "SECRET", b"x")).unwrap();
        assert!(!format!("{:?}", w.line(0)).contains("SECRET"));
    }

    #[test]
    fn a_recycled_window_buffer_comes_back_empty_for_the_next_window() {
        let spare = Spare::default();
        let mut w = Window::with_buffer(0, spare.take(1 << 10));
        w.push_payload(&encode(1, "k", b"one")).unwrap();
        let ptr = w.text.as_ptr();
        spare.recycle(w);
        let text = spare.take(1 << 10);
        assert_eq!((text.as_ptr(), text.len()), (ptr, 0));
    }

    #[test]
    fn an_undecodable_record_is_skipped_but_its_offset_stays_in_the_window() {
        let mut w = Window::new(0, 0);
        w.push_payload(&encode(1, "k", b"one")).unwrap();
        assert!(w.push_payload(b"\x09garbage").is_err());
        w.push_payload(&encode(2, "k", b"two")).unwrap();
        assert_eq!((w.end, w.len()), (3, 2));
        assert_eq!(w.joined(), b"one\ntwo");
    }
}
