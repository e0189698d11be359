//! The durable buffer: one journal shared by every destination, and one cursor per
//! destination (the offset of the next record it has to send), so that a slow or
//! unreachable destination does not hold back another. The journal's checkpoint follows the
//! slowest cursor, which frees whole segments once every destination has sent them.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use journal::Journal;

use crate::config::{DestSpec, WhenFull};
use crate::metrics::Metrics;

/// Errors of the buffer.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// The journal refused or failed.
    #[error(transparent)]
    Journal(#[from] journal::Error),
    /// A cursor file could not be read or written.
    #[error("cursor {path}: {source}")]
    Cursor {
        /// The cursor file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One destination's position in the buffer.
pub struct Cursor {
    /// The destination without its key.
    pub label: String,
    /// Offset of the next record to send.
    next: AtomicU64,
    /// Receipt time (µs) of the oldest record not yet sent, or 0 when caught up.
    pub oldest_unsent_us: AtomicI64,
    path: PathBuf,
    /// Serialises writes of the cursor file.
    write: Mutex<()>,
}

impl Cursor {
    /// Offset of the next record this destination has to send.
    pub fn next(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }
}

/// The journal and the destinations' cursors.
pub struct Buffer {
    /// The journal of received lines.
    pub journal: Journal,
    /// One cursor per destination, in configuration order.
    pub cursors: Vec<Cursor>,
    policy: WhenFull,
    metrics: Metrics,
    /// When the checkpoint was last committed (commits are throttled: each is two fsyncs).
    last_checkpoint: Mutex<Instant>,
    /// Serialises drop-oldest against checkpoint commits.
    space: Mutex<()>,
}

const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Makes `dir` private to the service's user.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn read_cursor(path: &Path) -> Result<Option<u64>, BufferError> {
    match fs::read(path) {
        Ok(b) if b.len() == 8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b);
            Ok(Some(u64::from_le_bytes(a)))
        }
        // A torn write of the cursor only means records are sent again, never lost.
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BufferError::Cursor {
            path: path.display().to_string(),
            source,
        }),
    }
}

impl Buffer {
    /// Opens the journal under `data_dir/journal` and a cursor per destination under
    /// `data_dir/cursors`. A new destination starts at the oldest retained record.
    pub fn open(
        data_dir: &Path,
        cfg: journal::Config,
        dests: &[DestSpec],
        policy: WhenFull,
        metrics: Metrics,
    ) -> Result<Arc<Buffer>, BufferError> {
        let io = |p: &Path, source| BufferError::Cursor {
            path: p.display().to_string(),
            source,
        };
        private_dir(data_dir).map_err(|e| io(data_dir, e))?;
        let jdir = data_dir.join("journal");
        private_dir(&jdir).map_err(|e| io(&jdir, e))?;
        let journal = Journal::open(&jdir, cfg)?;
        let cdir = data_dir.join("cursors");
        private_dir(&cdir).map_err(|e| io(&cdir, e))?;
        let start = journal.start_offset();
        let mut cursors = Vec::new();
        for d in dests {
            let path = cdir.join(d.cursor_name());
            let next = read_cursor(&path)?
                .unwrap_or(start)
                .clamp(start, journal.end_offset());
            // The label beside the cursor, for `status` and for people reading the directory.
            let _ = fs::write(path.with_extension("dest"), d.label());
            cursors.push(Cursor {
                label: d.label(),
                next: AtomicU64::new(next),
                oldest_unsent_us: AtomicI64::new(0),
                path,
                write: Mutex::new(()),
            });
        }
        Ok(Arc::new(Buffer {
            journal,
            cursors,
            policy,
            metrics,
            last_checkpoint: Mutex::new(Instant::now() - CHECKPOINT_EVERY),
            space: Mutex::new(()),
        }))
    }

    /// The policy when the budget is used up.
    pub fn policy(&self) -> WhenFull {
        self.policy
    }

    /// Journals `records` and returns once they are durable. With `drop-oldest`, a full
    /// budget drops the oldest segment and retries; with `block`, it returns
    /// [`journal::Error::Full`] and the caller waits (and stops reading). The records are
    /// borrowed so that a refused append can be retried: the journal consumes what it is given.
    pub async fn append(&self, records: &[Vec<u8>]) -> Result<(), BufferError> {
        let n = records.len() as u64;
        loop {
            match self.journal.append(records.to_vec()).await {
                Ok(_) => {
                    self.metrics.journaled.inc_by(n);
                    return Ok(());
                }
                Err(e) if e.is_full() => {
                    let before = self.journal.disk_usage();
                    self.checkpoint(true);
                    if self.journal.disk_usage() < before {
                        continue; // sent records freed space
                    }
                    if self.policy == WhenFull::Block || self.drop_oldest() == 0 {
                        // `block`, or nothing droppable (one segment left): the caller waits.
                        return Err(e.into());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Deletes the oldest segment, moving every cursor still in it past it; returns how
    /// many unsent records were dropped (over all destinations).
    pub fn drop_oldest(&self) -> u64 {
        let Ok(_g) = self.space.lock() else { return 0 };
        let starts = self.journal.segment_starts();
        let Some(&boundary) = starts.get(1) else {
            return 0;
        };
        let mut dropped = 0;
        for c in &self.cursors {
            let was = c.next.fetch_max(boundary, Ordering::AcqRel);
            if was < boundary {
                let n = boundary - was;
                dropped += n;
                self.metrics
                    .dropped
                    .with_label_values(&[c.label.as_str()])
                    .inc_by(n);
                self.save_cursor(c);
            }
        }
        if let Err(e) = self.journal.commit_checkpoint(boundary - 1) {
            tracing::error!(error = %e, "cannot free the oldest buffer segment");
            return 0;
        }
        tracing::warn!(
            dropped,
            "buffer full: dropped the oldest unsent segment (--when-full drop-oldest)"
        );
        self.metrics
            .buffer_bytes
            .set(self.journal.disk_usage() as i64);
        dropped.max(1)
    }

    /// Records that destination `i` has sent everything below `to`.
    pub fn advance(&self, i: usize, to: u64) {
        let c = &self.cursors[i];
        if c.next.fetch_max(to, Ordering::AcqRel) < to {
            self.save_cursor(c);
        }
        self.checkpoint(false);
    }

    /// Moves destination `i` past records that no longer exist (deleted by drop-oldest
    /// while it read them); returns its new position.
    pub fn skip_deleted(&self, i: usize) -> u64 {
        let start = self.journal.start_offset();
        let c = &self.cursors[i];
        c.next.fetch_max(start, Ordering::AcqRel);
        self.save_cursor(c);
        c.next()
    }

    fn save_cursor(&self, c: &Cursor) {
        let Ok(_g) = c.write.lock() else { return };
        let tmp = c.path.with_extension("tmp");
        // No fsync: a cursor lost in a crash only makes records be sent again.
        let r = fs::write(&tmp, c.next().to_le_bytes()).and_then(|_| fs::rename(&tmp, &c.path));
        if let Err(e) = r {
            tracing::warn!(error = %e, cursor = %c.path.display(), "cannot save a destination cursor");
        }
    }

    /// Commits the journal checkpoint at the slowest cursor (at most every 500 ms unless
    /// `force`), deleting the segments every destination has sent.
    pub fn checkpoint(&self, force: bool) {
        {
            let Ok(mut last) = self.last_checkpoint.lock() else {
                return;
            };
            if !force && last.elapsed() < CHECKPOINT_EVERY {
                return;
            }
            *last = Instant::now();
        }
        let Some(min) = self.cursors.iter().map(Cursor::next).min() else {
            return;
        };
        let Ok(_g) = self.space.lock() else { return };
        if min > self.journal.start_offset() && self.journal.checkpoint() != Some(min - 1) {
            if let Err(e) = self.journal.commit_checkpoint(min - 1) {
                tracing::warn!(error = %e, "cannot commit the buffer checkpoint");
            }
        }
        self.metrics
            .buffer_bytes
            .set(self.journal.disk_usage() as i64);
    }

    /// Records journaled but not yet sent by destination `i`.
    pub fn lag(&self, i: usize) -> u64 {
        self.journal
            .end_offset()
            .saturating_sub(self.cursors[i].next())
    }

    /// The buffer's state, for `/status` and `ziaxdr forward status`.
    pub fn status(&self) -> Status {
        let now = crate::record::now_us();
        Status {
            buffer: BufferStatus {
                start: self.journal.start_offset(),
                end: self.journal.end_offset(),
                disk_bytes: self.journal.disk_usage(),
                budget_bytes: self.journal.disk_budget(),
                when_full: match self.policy {
                    WhenFull::Block => "block",
                    WhenFull::DropOldest => "drop-oldest",
                }
                .to_string(),
            },
            destinations: self
                .cursors
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let l = [c.label.as_str()];
                    let oldest = c.oldest_unsent_us.load(Ordering::Relaxed);
                    DestStatus {
                        destination: c.label.clone(),
                        next: c.next(),
                        lag_records: self.lag(i),
                        lag_seconds: if oldest > 0 {
                            (now - oldest).max(0) as f64 / 1e6
                        } else {
                            0.0
                        },
                        sent: self.metrics.sent.with_label_values(&l).get(),
                        retried: self.metrics.retried.with_label_values(&l).get(),
                        failed: self.metrics.failed.with_label_values(&l).get(),
                        dropped: self.metrics.dropped.with_label_values(&l).get(),
                    }
                })
                .collect(),
        }
    }

    /// Updates the lag gauges (called before `/metrics` renders).
    pub fn refresh_gauges(&self) {
        for d in self.status().destinations {
            let l = [d.destination.as_str()];
            self.metrics
                .lag_records
                .with_label_values(&l)
                .set(d.lag_records as i64);
            self.metrics
                .lag_seconds
                .with_label_values(&l)
                .set(d.lag_seconds as i64);
        }
        self.metrics
            .buffer_bytes
            .set(self.journal.disk_usage() as i64);
    }
}

/// The buffer as a whole.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BufferStatus {
    /// The oldest retained offset.
    pub start: u64,
    /// The offset the next record gets.
    pub end: u64,
    /// Journal bytes on disk.
    pub disk_bytes: u64,
    /// The disk budget.
    pub budget_bytes: u64,
    /// The policy when full.
    pub when_full: String,
}

/// One destination's progress.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DestStatus {
    /// The destination without its key.
    pub destination: String,
    /// Offset of the next record to send.
    pub next: u64,
    /// Records not yet sent.
    pub lag_records: u64,
    /// Age of the oldest unsent record (0 when caught up or unknown).
    pub lag_seconds: f64,
    /// Records sent since the process started.
    pub sent: u64,
    /// Failed attempts retried since the process started.
    pub retried: u64,
    /// Records refused for good (HTTP 400) since the process started.
    pub failed: u64,
    /// Records dropped unsent (drop-oldest) since the process started.
    pub dropped: u64,
}

/// What `/status` answers.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// The journal.
    pub buffer: BufferStatus,
    /// Each destination.
    pub destinations: Vec<DestStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path, policy: WhenFull) -> Arc<Buffer> {
        let dests: Vec<DestSpec> = ["https://a/plain/batch", "https://b/plain/batch"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let cfg = journal::Config {
            segment_bytes: 4096,
            max_disk_bytes: 64 * 1024,
            ..Default::default()
        };
        Buffer::open(dir, cfg, &dests, policy, Metrics::new()).unwrap()
    }

    fn records(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| crate::record::encode(0, "k", format!("{i:0>500}").as_bytes()))
            .collect()
    }

    #[tokio::test]
    async fn segments_are_freed_only_once_every_destination_has_sent_them() {
        let d = tempfile::tempdir().unwrap();
        let b = open(d.path(), WhenFull::Block);
        // The journal rolls a full segment just after it acknowledges the append that
        // filled it, so the second append is what makes the first segment's roll certain.
        b.append(&records(20)).await.unwrap();
        b.append(&records(20)).await.unwrap();
        let used = b.journal.disk_usage();
        b.advance(0, 40);
        b.checkpoint(true);
        assert_eq!(
            b.journal.disk_usage(),
            used,
            "the slower destination lost records"
        );
        assert_eq!(b.lag(1), 40);
        b.advance(1, 40);
        b.checkpoint(true);
        assert!(b.journal.disk_usage() < used);
    }

    #[tokio::test]
    async fn cursors_survive_a_reopen() {
        let d = tempfile::tempdir().unwrap();
        {
            let b = open(d.path(), WhenFull::Block);
            b.append(&records(10)).await.unwrap();
            b.advance(0, 7);
        }
        let b = open(d.path(), WhenFull::Block);
        assert_eq!(b.cursors[0].next(), 7);
        assert_eq!(b.cursors[1].next(), 0);
    }

    #[tokio::test]
    async fn with_block_a_full_buffer_refuses_the_append() {
        let d = tempfile::tempdir().unwrap();
        let b = open(d.path(), WhenFull::Block);
        let mut refused = false;
        for _ in 0..40 {
            match b.append(&records(10)).await {
                Ok(()) => {}
                Err(BufferError::Journal(e)) if e.is_full() => {
                    refused = true;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(refused, "a 64 KiB budget took 200 KB");
        assert_eq!(b.status().destinations[0].dropped, 0);
    }

    #[tokio::test]
    async fn with_drop_oldest_a_full_buffer_drops_and_counts_per_destination() {
        let d = tempfile::tempdir().unwrap();
        let b = open(d.path(), WhenFull::DropOldest);
        for _ in 0..40 {
            b.append(&records(10)).await.unwrap();
        }
        let end = b.journal.end_offset();
        assert_eq!(end, 400);
        assert!(b.journal.disk_usage() <= b.journal.disk_budget());
        for (i, dst) in b.status().destinations.iter().enumerate() {
            assert!(dst.dropped > 0);
            assert_eq!(dst.dropped + b.lag(i), end);
        }
    }
}
