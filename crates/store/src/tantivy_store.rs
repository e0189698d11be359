//! The embedded backend: one tantivy index per UTC day under `ROOT/partitions/YYYY-MM-DD`.
//!
//! Durability protocol (why a crash neither loses nor doubles events):
//! 1. `commit()` commits every partition that received events, each with the payload
//!    `{"offset": N}`, N being the last offset added: "every event of this partition with an
//!    offset up to N is in this commit".
//! 2. Then it writes `ROOT/checkpoint.json` (`{"offset": N}`, written to a temporary file,
//!    fsynced, renamed): the offset the journal may be trimmed to.
//!
//! A crash before (2) leaves some partitions committed at N and the checkpoint older. The
//! pipeline replays from the checkpoint; `add` skips an event whose offset is not above its
//! partition's committed payload, so the events that did reach a committed partition are not
//! added twice, and the others are added again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration as StdDuration, Instant};

use tantivy::collector::Count;
use tantivy::indexer::{IndexWriterOptions, LogMergePolicy};
use tantivy::query::{BooleanQuery, Occur, Query as TQuery, RangeQuery};
use tantivy::schema::Schema;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{
    DateTime, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher,
    TantivyDocument, Term,
};
use time::{Date, Duration, OffsetDateTime};

use crate::collectors::{
    merge_counts, merge_sum_counts, newest_first, sums_within_limit, within_limit, Histogram,
    IndexedTermSums, IndexedTerms, Sum, TermSums, Terms,
};
use crate::doc::EventDoc;
use crate::plan::Planner;
use crate::schema::{
    build_document, build_parsed_document, build_schema, has_column, is_aggregatable,
    non_aggregatable_fields, prepare_parsed_document, FieldKind, Fields,
};
use crate::{
    Cursor, Event, EventQuery, EventSearch, EventStore, FieldSum, SearchPage, StoreError, TopSums,
    TopValues,
};

/// Retention: partitions (whole days) older than `max_age_days`, or the oldest ones while the
/// store is larger than `max_total_bytes`, are deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep days whose date is within this many days of today (UTC).
    pub max_age_days: Option<u32>,
    /// Keep the newest days whose total size fits (the newest day is always kept).
    pub max_total_bytes: Option<u64>,
}

impl Retention {
    /// True when a limit is set: something may be deleted.
    pub fn is_enabled(&self) -> bool {
        self.max_age_days.is_some() || self.max_total_bytes.is_some()
    }
}

/// Bytes on disk of one index component of one field (see [`TantivyStore::space_usage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceUsage {
    /// `termdict`, `postings`, `positions`, `fast`, `fieldnorms`, `store` or `deletes`.
    pub component: &'static str,
    /// Schema field name (`_source` for the document store, empty for deletes).
    pub field: String,
    /// Bytes, summed over partitions and segments.
    pub bytes: u64,
}

/// Tuning of the embedded store. Defaults suit a 2-core machine.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Indexing memory per writer thread (tantivy flushes a segment when it is full).
    pub writer_memory_bytes: usize,
    /// Indexing threads per writer.
    pub writer_threads: usize,
    /// Commit after this many added events…
    pub commit_every_events: usize,
    /// …or this long after the previous commit, whichever comes first.
    pub commit_every: StdDuration,
    /// Partitions with an open writer at once (old days receive events during imports).
    /// Beyond this, the least recently used writer is committed and closed; a writer idle
    /// for [`StoreConfig::idle_writer_adds`] adds is closed the same way when a new one opens.
    pub max_open_writers: usize,
    /// Adds after which an unused writer counts as idle.
    pub idle_writer_adds: u64,
    /// zstd level of the stored events.
    pub zstd_level: i32,
    /// Size of a compressed block of stored events (bigger compresses better, reads slower).
    pub docstore_blocksize: usize,
    /// Retention: enforced by [`EventStore::commit`] (at most once per
    /// [`StoreConfig::retention_interval`]) and by [`TantivyStore::apply_retention`].
    pub retention: Retention,
    /// Shortest time between two retention passes made by `commit`: a pass measures every
    /// partition's size on disk, too costly for every commit.
    pub retention_interval: StdDuration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            // Bigger segments at the start mean fewer merges later: 1M-record imports made
            // 4 segments instead of 9 or 10 with 64 MiB, for 6 to 9% less CPU time (256 MiB
            // gained nothing more). Peak memory of an import: about 800 MB.
            writer_memory_bytes: 128 << 20,
            // Two, although indexing shares the 2 cores with parsing: a worker flushing its
            // segment (at a commit, or when its memory is full) stops indexing for up to a
            // second, and with one worker the whole pipeline waited behind it. With two, the
            // other worker goes on: 1M-record imports kept 1.92 to 1.98 cores busy instead
            // of 1.72 to 1.80, and ran 10 to 15% faster.
            writer_threads: 2,
            commit_every_events: 200_000,
            commit_every: StdDuration::from_secs(5),
            max_open_writers: 8,
            idle_writer_adds: 100_000,
            // The stored bytes are the raw records (see `source`). Measured on 60 MB of
            // simulated NSS records in 1 MiB blocks (`zstd -b1 -e9 -B1048576`, one core):
            // level 3 compresses 12.1x at ~760 MB/s, level 5 13.9x at ~190 MB/s, level 8
            // 16.7x at ~130 MB/s. Level 5 was 15% of the instructions of an import (callgrind,
            // 20,000 records), level 3 a quarter of that, for about 9 bytes more per event:
            // the store stays under 250 bytes per event. 2 MiB blocks gain 3% but double the
            // decompression per event read when a page of results is spread out.
            zstd_level: 3,
            docstore_blocksize: 1 << 20,
            retention: Retention::default(),
            retention_interval: StdDuration::from_secs(60),
        }
    }
}

/// Decompressed document-store blocks cached per segment (1 MiB each): tantivy's default of
/// 100 could hold 100 MB per segment, for every segment of every day searched.
const DOCSTORE_CACHE_BLOCKS: usize = 32;
/// Threads an aggregation uses (one partition each at a time): the target machine has 2 cores.
pub const SEARCH_THREADS: usize = 2;
const PARTITIONS_DIR: &str = "partitions";
const CHECKPOINT_FILE: &str = "checkpoint.json";
const DAY_FORMAT: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

struct Partition {
    day: Date,
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// True when the partition has this version's schema, so documents prepared with
    /// [`TantivyStore::prepare_parsed`] fit it.
    current_schema: bool,
}

struct OpenWriter {
    writer: IndexWriter<EventDoc>,
    dirty: bool,
    last_used: u64,
}

struct WriteState {
    writers: HashMap<Date, OpenWriter>,
    /// Offset in each partition's last commit payload.
    part_committed: HashMap<Date, Option<u64>>,
    checkpoint: Option<u64>,
    last_added: Option<u64>,
    pending: usize,
    last_commit: Instant,
    /// When `commit` last enforced the retention (never, after opening).
    last_retention: Option<Instant>,
    tick: u64,
}

/// The embedded event store (see the module docs for the durability protocol).
pub struct TantivyStore {
    root: PathBuf,
    cfg: StoreConfig,
    schema: Schema,
    /// Field handles of this version's schema, for [`TantivyStore::prepare_parsed`].
    fields: Fields,
    /// The days whose partitions, when the store was opened, had an earlier version's
    /// schema: a document prepared for one of them is built again when added. Every
    /// partition created since has this version's schema.
    legacy_days: BTreeSet<Date>,
    read_only: bool,
    parts: RwLock<BTreeMap<Date, Arc<Partition>>>,
    write: Mutex<WriteState>,
    /// Record-encoded sources made (drives the sampled rebuild check); outside `write`
    /// because sources are also made on the pipeline's parse threads.
    records: AtomicU64,
    /// Set once a rebuild was not faithful: every later source is plain JSON.
    records_unfaithful: AtomicBool,
}

/// The day (UTC) of an event time: the partition it goes to.
fn day_of(ts: DateTime) -> Result<Date, StoreError> {
    let secs = ts.into_timestamp_secs();
    Ok(OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {secs} out of range: {e}")))?
        .date())
}

fn day_name(d: Date) -> String {
    d.format(&DAY_FORMAT).unwrap_or_else(|_| d.to_string())
}

fn payload_offset(index: &Index) -> Result<Option<u64>, StoreError> {
    let meta = index.load_metas()?;
    match meta.payload {
        None => Ok(None),
        Some(p) => {
            let v: serde_json::Value = serde_json::from_str(&p)
                .map_err(|e| StoreError::Corrupt(format!("commit payload {p:?}: {e}")))?;
            Ok(v.get("offset").and_then(serde_json::Value::as_u64))
        }
    }
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock must not make the store unusable forever: the state it
    // protects is re-validated by tantivy (writers) or is a plain counter.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TantivyStore {
    /// Opens (creating if needed) a writable store in `root`.
    pub fn open(root: impl AsRef<Path>, cfg: StoreConfig) -> Result<TantivyStore, StoreError> {
        Self::open_impl(root.as_ref(), cfg, false)
    }

    /// Opens an existing store for searching only: no writer lock is taken, so this works
    /// while a server writes to the same directory. A missing directory is an empty store.
    pub fn open_read_only(root: impl AsRef<Path>) -> Result<TantivyStore, StoreError> {
        Self::open_impl(root.as_ref(), StoreConfig::default(), true)
    }

    fn open_impl(
        root: &Path,
        cfg: StoreConfig,
        read_only: bool,
    ) -> Result<TantivyStore, StoreError> {
        let schema = build_schema();
        if !read_only {
            fs::create_dir_all(root.join(PARTITIONS_DIR))?;
        }
        let mut parts = BTreeMap::new();
        let mut part_committed = HashMap::new();
        let mut legacy_days = BTreeSet::new();
        if let Ok(rd) = fs::read_dir(root.join(PARTITIONS_DIR)) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let Ok(day) = Date::parse(&name, &DAY_FORMAT) else {
                    continue;
                };
                // A partition being created by a writer may not have its meta.json yet.
                if !e.path().join("meta.json").exists() {
                    continue;
                }
                let p = Self::open_partition(&e.path(), day)?;
                part_committed.insert(day, payload_offset(&p.index)?);
                if !p.current_schema {
                    legacy_days.insert(day);
                }
                parts.insert(day, Arc::new(p));
            }
        }
        let checkpoint = read_checkpoint(root)?;
        let fields = Fields::resolve(&schema)
            .ok_or_else(|| StoreError::Corrupt("the event schema lacks its own fields".into()))?;
        Ok(TantivyStore {
            root: root.to_path_buf(),
            cfg,
            schema,
            fields,
            legacy_days,
            read_only,
            parts: RwLock::new(parts),
            write: Mutex::new(WriteState {
                writers: HashMap::new(),
                part_committed,
                checkpoint,
                last_added: checkpoint,
                pending: 0,
                last_commit: Instant::now(),
                last_retention: None,
                tick: 0,
            }),
            records: AtomicU64::new(0),
            records_unfaithful: AtomicBool::new(false),
        })
    }

    fn open_partition(dir: &Path, day: Date) -> Result<Partition, StoreError> {
        let index = Index::open_in_dir(dir)?;
        let fields = Fields::resolve(&index.schema()).ok_or_else(|| {
            StoreError::Corrupt(format!("{} is not an event index", dir.display()))
        })?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .doc_store_cache_num_blocks(DOCSTORE_CACHE_BLOCKS)
            .try_into()?;
        Ok(Partition {
            day,
            dir: dir.to_path_buf(),
            current_schema: index.schema() == build_schema(),
            index,
            reader,
            fields,
        })
    }

    fn create_partition(&self, day: Date) -> Result<Arc<Partition>, StoreError> {
        // Fast path under the read lock: searches are not blocked by adds.
        if let Some(p) = self
            .parts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&day)
        {
            return Ok(p.clone());
        }
        let mut parts = self.parts.write().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = parts.get(&day) {
            return Ok(p.clone());
        }
        let dir = self.root.join(PARTITIONS_DIR).join(day_name(day));
        let p = if dir.join("meta.json").exists() {
            Self::open_partition(&dir, day)?
        } else {
            fs::create_dir_all(&dir)?;
            let settings = IndexSettings {
                docstore_compression: Compressor::Zstd(ZstdCompressor {
                    compression_level: Some(self.cfg.zstd_level),
                }),
                docstore_blocksize: self.cfg.docstore_blocksize,
                ..IndexSettings::default()
            };
            Index::builder()
                .schema(self.schema.clone())
                .settings(settings)
                .create_in_dir(&dir)?;
            Self::open_partition(&dir, day)?
        };
        let p = Arc::new(p);
        parts.insert(day, p.clone());
        Ok(p)
    }

    /// The partitions (days) present, oldest first, with their size in bytes.
    pub fn partitions(&self) -> Vec<(String, u64)> {
        let parts = self.parts.read().unwrap_or_else(|e| e.into_inner());
        parts
            .values()
            .map(|p| (day_name(p.day), dir_size(&p.dir)))
            .collect()
    }

    /// Total size of the store on disk, in bytes.
    pub fn disk_bytes(&self) -> u64 {
        dir_size(&self.root)
    }

    /// Bytes on disk per index component and field, summed over every partition's committed
    /// segments, largest first: where the disk goes.
    pub fn space_usage(&self) -> Result<Vec<SpaceUsage>, StoreError> {
        let mut acc: BTreeMap<(&'static str, String), u64> = BTreeMap::new();
        let parts: Vec<Arc<Partition>> = {
            let parts = self.parts.read().unwrap_or_else(|e| e.into_inner());
            parts.values().cloned().collect()
        };
        for p in parts {
            p.reader.reload()?;
            let usage = p.reader.searcher().space_usage()?;
            for seg in usage.segments() {
                let per_field = [
                    ("termdict", seg.termdict()),
                    ("postings", seg.postings()),
                    ("positions", seg.positions()),
                    ("fast", seg.fast_fields()),
                    ("fieldnorms", seg.fieldnorms()),
                ];
                for (component, pf) in per_field {
                    for f in pf.fields() {
                        *acc.entry((component, f.field_name().to_string()))
                            .or_insert(0) += f.total().get_bytes();
                    }
                }
                *acc.entry(("store", crate::schema::F_SOURCE.to_string()))
                    .or_insert(0) += seg.store().total().get_bytes();
                *acc.entry(("deletes", String::new())).or_insert(0) += seg.deletes().get_bytes();
            }
        }
        let mut out: Vec<SpaceUsage> = acc
            .into_iter()
            .filter(|(_, b)| *b > 0)
            .map(|((component, field), bytes)| SpaceUsage {
                component,
                field,
                bytes,
            })
            .collect();
        out.sort_by_key(|u| std::cmp::Reverse(u.bytes));
        Ok(out)
    }

    /// Deletes the partitions that the configured retention no longer keeps; returns their
    /// names (`YYYY-MM-DD`). Whole days are deleted: nothing is rewritten.
    pub fn apply_retention(&self, now: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let mut st = lock(&self.write);
        self.retention_locked(&mut st, now)
    }

    fn retention_locked(
        &self,
        st: &mut WriteState,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        st.last_retention = Some(Instant::now());
        let r = &self.cfg.retention;
        let mut doomed: Vec<Date> = Vec::new();
        let sizes: Vec<(Date, u64)> = {
            let parts = self.parts.read().unwrap_or_else(|e| e.into_inner());
            parts.values().map(|p| (p.day, dir_size(&p.dir))).collect()
        };
        if let Some(days) = r.max_age_days {
            let oldest_kept = (now - Duration::days(i64::from(days))).date();
            doomed.extend(
                sizes
                    .iter()
                    .filter(|(d, _)| *d < oldest_kept)
                    .map(|(d, _)| *d),
            );
        }
        if let Some(max) = r.max_total_bytes {
            let mut total: u64 = sizes
                .iter()
                .filter(|(d, _)| !doomed.contains(d))
                .map(|(_, s)| s)
                .sum();
            let kept: Vec<&(Date, u64)> =
                sizes.iter().filter(|(d, _)| !doomed.contains(d)).collect();
            // Oldest first, never the newest day.
            for (d, s) in kept.iter().take(kept.len().saturating_sub(1)) {
                if total <= max {
                    break;
                }
                doomed.push(*d);
                total -= s;
            }
        }
        let mut deleted = Vec::new();
        for d in doomed {
            // Dropping the writer discards what it had not committed: those events are older
            // than the retention anyway.
            st.writers.remove(&d);
            st.part_committed.remove(&d);
            let p = {
                let mut parts = self.parts.write().unwrap_or_else(|e| e.into_inner());
                parts.remove(&d)
            };
            if let Some(p) = p {
                fs::remove_dir_all(&p.dir)?;
                deleted.push(day_name(d));
            }
        }
        Ok(deleted)
    }

    fn new_writer(&self, p: &Partition) -> Result<IndexWriter<EventDoc>, StoreError> {
        let opts = IndexWriterOptions::builder()
            .memory_budget_per_thread(self.cfg.writer_memory_bytes.max(16 << 20))
            .num_worker_threads(self.cfg.writer_threads.max(1))
            .num_merge_threads(1)
            .build();
        let w: IndexWriter<EventDoc> = p.index.writer_with_options(opts)?;
        let mut mp = LogMergePolicy::default();
        mp.set_min_num_segments(6);
        // Segments of a million events and more are not merged again: merging them into ever
        // bigger ones rewrote each event more times the more a day held, for no gain a query
        // could see (3M-record imports: 8 to 20% less CPU time, with 5 segments either way).
        mp.set_max_docs_before_merge(1_000_000);
        w.set_merge_policy(Box::new(mp));
        Ok(w)
    }

    fn commit_partition(
        &self,
        day: Date,
        w: &mut OpenWriter,
        offset: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut prepared = w.writer.prepare_commit()?;
        let payload = serde_json::json!({ "offset": offset }).to_string();
        prepared.set_payload(&payload);
        prepared.commit()?;
        w.dirty = false;
        let parts = self.parts.read().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = parts.get(&day) {
            p.reader.reload()?;
        }
        Ok(())
    }

    /// Drops every open writer, and with them the events added since the last commit, after
    /// a failed add or commit (a full disk): the next add opens a fresh writer, and the
    /// caller adds those events again from after [`EventStore::committed_offset`]. Partitions
    /// that did commit further keep their events and skip them when they come again.
    pub fn discard_uncommitted(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let mut st = lock(&self.write);
        st.writers.clear();
        let parts = self.parts.read().unwrap_or_else(|e| e.into_inner());
        for (day, p) in parts.iter() {
            st.part_committed.insert(*day, payload_offset(&p.index)?);
            p.reader.reload()?;
        }
        st.last_added = st.checkpoint;
        st.pending = 0;
        Ok(())
    }

    /// False once an event added with its record did not rebuild from it exactly: the
    /// store then keeps whole events as JSON (see [`crate::source`]).
    pub fn keeps_records(&self) -> bool {
        !self.records_unfaithful.load(Ordering::Relaxed)
    }

    /// Commits, then waits for the background segment merges to finish: a clean shutdown.
    pub fn close(self) -> Result<Option<u64>, StoreError> {
        if self.read_only {
            return Ok(self.committed_offset());
        }
        let off = self.commit()?;
        let mut st = lock(&self.write);
        for (_, w) in st.writers.drain() {
            w.writer.wait_merging_threads()?;
        }
        Ok(off)
    }

    /// Partitions overlapping `q.range`, newest first.
    fn parts_for(&self, q: &EventQuery) -> Vec<Arc<Partition>> {
        let from = q.range.from.date();
        let to = q.range.to.date();
        let parts = self.parts.read().unwrap_or_else(|e| e.into_inner());
        parts
            .range(from..=to)
            .rev()
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// The query restricted to the time range (and to before the cursor's second).
    fn partition_query(
        &self,
        p: &Partition,
        searcher: &Searcher,
        q: &EventQuery,
        before_ts: Option<i64>,
    ) -> Result<Box<dyn TQuery>, StoreError> {
        let planner = Planner {
            fields: &p.fields,
            searcher,
        };
        let user = planner.compile(&q.query)?;
        let from = q.range.from.unix_timestamp();
        let mut to = q.range.to.unix_timestamp();
        if q.range.to.nanosecond() > 0 {
            to += 1;
        }
        if let Some(b) = before_ts {
            to = to.min(b + 1);
        }
        let day_start = p.day.midnight().assume_utc().unix_timestamp();
        let day_end = day_start + 86_400;
        if from <= day_start && to >= day_end {
            // The whole day is in range: no need for the time filter.
            return Ok(user);
        }
        let f = p.fields.timestamp;
        let range = RangeQuery::new(
            std::ops::Bound::Included(Term::from_field_date_for_search(
                f,
                DateTime::from_timestamp_secs(from),
            )),
            std::ops::Bound::Excluded(Term::from_field_date_for_search(
                f,
                DateTime::from_timestamp_secs(to),
            )),
        );
        Ok(Box::new(BooleanQuery::new(vec![
            (Occur::Must, user),
            (Occur::Must, Box::new(range)),
        ])))
    }

    /// Runs `f` on every partition, on up to [`SEARCH_THREADS`] threads (aggregations read
    /// every matching event, so they are CPU-bound and split well by partition).
    fn map_parts<T: Send>(
        &self,
        parts: &[Arc<Partition>],
        f: impl Fn(&Partition) -> Result<T, StoreError> + Sync,
    ) -> Result<Vec<T>, StoreError> {
        let threads = SEARCH_THREADS.min(parts.len());
        if threads <= 1 {
            return parts.iter().map(|p| f(p)).collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Mutex<Vec<Result<T, StoreError>>> = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(p) = parts.get(i) else { break };
                    let r = f(p);
                    lock(&results).push(r);
                });
            }
        });
        results
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .collect()
    }

    fn terms(&self, q: &EventQuery, field: &str) -> Result<HashMap<String, u64>, StoreError> {
        check_aggregatable(field)?;
        let maps = self.map_parts(&self.parts_for(q), |p| {
            let s = p.reader.searcher();
            let tq = self.partition_query(p, &s, q, None)?;
            // Per partition: one written by an older version may lack a newer typed field,
            // whose values are then `path=value` terms there.
            let indexed = match p.fields.typed.get(field) {
                Some(&(_, kind)) if has_column(kind) => {
                    return Ok(s.search(
                        &tq,
                        &Terms {
                            field: field.to_string(),
                            kind,
                        },
                    )?);
                }
                Some(&(f, _)) => IndexedTerms {
                    field: f,
                    term_prefix: String::new(),
                },
                None => IndexedTerms {
                    field: p.fields.kv,
                    term_prefix: format!("{field}="),
                },
            };
            s.search(&tq, &indexed)?.map_err(StoreError::Unsupported)
        })?;
        within_limit(merge_counts(maps)).map_err(StoreError::Unsupported)
    }
}

/// Refuses a top-N or distinct count over a field that cannot be aggregated.
fn check_aggregatable(field: &str) -> Result<(), StoreError> {
    if is_aggregatable(field) {
        return Ok(());
    }
    Err(StoreError::NotAggregatable {
        field: field.to_string(),
        allowed: format!(
            "every field but text, identifiers and internal fields ({})",
            non_aggregatable_fields().join(", ")
        ),
    })
}

fn read_checkpoint(root: &Path) -> Result<Option<u64>, StoreError> {
    let path = root.join(CHECKPOINT_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
            Ok(v.get("offset").and_then(serde_json::Value::as_u64))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn write_checkpoint(root: &Path, offset: Option<u64>) -> Result<(), StoreError> {
    let tmp = root.join(format!("{CHECKPOINT_FILE}.tmp"));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(
            serde_json::json!({ "offset": offset })
                .to_string()
                .as_bytes(),
        )?;
        f.sync_all()?;
    }
    fs::rename(&tmp, root.join(CHECKPOINT_FILE))?;
    // The rename itself must be durable before the journal is trimmed.
    fs::File::open(root)?.sync_all()?;
    Ok(())
}

/// The event time: `@timestamp` if it is a valid RFC 3339 string, else `event.ingested`, else
/// now (so that an event whose parsing failed is still stored, at the time it arrived).
fn event_time(timestamp: Option<&str>, ingested: Option<&str>) -> DateTime {
    timestamp
        .and_then(crate::schema::parse_date)
        .or_else(|| ingested.and_then(crate::schema::parse_date))
        .unwrap_or_else(|| {
            DateTime::from_timestamp_secs(OffsetDateTime::now_utc().unix_timestamp())
        })
}

/// An event to add, and what `_source` keeps of it.
#[derive(Clone, Copy)]
enum Input<'a> {
    /// Kept as JSON.
    Json(&'a Event),
    /// Kept as the raw record it was parsed from (with `event.original`), and the annotations.
    Record(&'a Event, &'a str),
    /// The parser's event (without `event.original`), kept as the record and the annotations.
    Parsed(&'a zia::Event, &'a str),
}

impl<'a> Input<'a> {
    fn time(self) -> DateTime {
        fn s(v: Option<&serde_json::Value>) -> Option<&str> {
            v.and_then(serde_json::Value::as_str)
        }
        match self {
            Input::Json(e) | Input::Record(e, _) => event_time(
                s(e.get(crate::schema::TIMESTAMP)),
                s(e.get("event").and_then(|e| e.get("ingested"))),
            ),
            Input::Parsed(e, _) => event_time(
                e.get_str(crate::schema::TIMESTAMP),
                e.get_str("event.ingested"),
            ),
        }
    }

    /// The whole event, as it reads back.
    fn whole(self) -> std::borrow::Cow<'a, Event> {
        match self {
            Input::Json(e) | Input::Record(e, _) => std::borrow::Cow::Borrowed(e),
            Input::Parsed(e, raw) => std::borrow::Cow::Owned(crate::source::with_original(e, raw)),
        }
    }
}

impl TantivyStore {
    /// The `_source` bytes of an event: its record when the rebuild is faithful (checked on
    /// a sample), else JSON.
    fn source(&self, offset: u64, input: Input<'_>) -> Result<Vec<u8>, StoreError> {
        let bytes = match input {
            Input::Json(event) => return crate::source::encode_json(event),
            _ if self.records_unfaithful.load(Ordering::Relaxed) => {
                return crate::source::encode_json(&input.whole())
            }
            Input::Record(event, raw) => crate::source::encode_record(raw, event)?,
            Input::Parsed(event, raw) => crate::source::encode_parsed(raw, event)?,
        };
        let n = self.records.fetch_add(1, Ordering::Relaxed);
        let check = cfg!(debug_assertions) || n.is_multiple_of(crate::source::VERIFY_EVERY);
        if check {
            let whole = input.whole();
            if !crate::source::faithful(&bytes, &whole) {
                // A parser other than the one the store rebuilds with, or annotations the
                // store does not know: keep whole events from now on, so nothing read back
                // differs.
                tracing::warn!(
                    offset,
                    "an event does not rebuild from its raw record; storing events as JSON from now on"
                );
                self.records_unfaithful.store(true, Ordering::Relaxed);
                return crate::source::encode_json(&whole);
            }
        }
        Ok(bytes)
    }

    fn add_impl(&self, offset: u64, input: Input<'_>) -> Result<bool, StoreError> {
        self.add_with(offset, input, None)
    }

    /// Adds an event; with `prepared`, its document as [`TantivyStore::prepare_parsed`]
    /// built it ahead, which is used as it is unless it does not fit (see
    /// [`TantivyStore::add_prepared`]).
    fn add_with(
        &self,
        offset: u64,
        input: Input<'_>,
        prepared: Option<PreparedDoc>,
    ) -> Result<bool, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let prepared = prepared.filter(|p| p.offset == offset);
        let ts = match &prepared {
            Some(p) => p.ts,
            None => input.time(),
        };
        let day = day_of(ts)?;
        let mut st = lock(&self.write);
        if let Some(Some(c)) = st.part_committed.get(&day) {
            if offset <= *c {
                st.last_added = Some(st.last_added.map_or(offset, |l| l.max(offset)));
                return Ok(false);
            }
        }
        let part = self.create_partition(day)?;
        st.tick += 1;
        let tick = st.tick;
        if !st.writers.contains_key(&day) {
            // Close idle writers, and the least recently used ones while too many days are
            // open at once (an import of old logs), committing them so nothing is lost.
            // Evicting only idle writers first keeps events that alternate between a few days
            // (midnight, several feeds) from forcing a commit per event.
            loop {
                let lru = st
                    .writers
                    .iter()
                    .min_by_key(|(_, w)| w.last_used)
                    .map(|(d, w)| (*d, w.last_used));
                let Some((lru, used)) = lru else {
                    break;
                };
                let idle = tick.saturating_sub(used) > self.cfg.idle_writer_adds;
                if !idle && st.writers.len() < self.cfg.max_open_writers.max(1) {
                    break;
                }
                let Some(mut w) = st.writers.remove(&lru) else {
                    break;
                };
                if w.dirty {
                    let off = st.last_added;
                    self.commit_partition(lru, &mut w, off)?;
                    st.part_committed.insert(lru, off);
                }
            }
            let writer = self.new_writer(&part)?;
            st.writers.insert(
                day,
                OpenWriter {
                    writer,
                    dirty: false,
                    last_used: tick,
                },
            );
        }
        let doc = match (input, prepared) {
            (_, Some(p)) if part.current_schema => p.doc,
            // The pipeline frees the event of a complete prepared document (see
            // `PreparedDoc::is_complete`): one that is not used after all (another offset,
            // a day whose partition is of an earlier version) must not become an empty
            // document. A parsed event always has fields.
            (Input::Parsed(event, _), _) if event.is_empty() => {
                return Err(StoreError::Corrupt(format!(
                    "the document prepared for offset {offset} does not fit partition {}, \
                     and its event was freed",
                    day_name(day)
                )))
            }
            (Input::Json(event) | Input::Record(event, _), _) => build_document(
                &part.fields,
                event,
                ts,
                offset,
                &self.source(offset, input)?,
            ),
            (Input::Parsed(event, _), _) => {
                let source = self.source(offset, input)?;
                build_parsed_document(&part.fields, event, ts, offset, &source)
            }
        };
        let w = st
            .writers
            .get_mut(&day)
            .ok_or_else(|| StoreError::Corrupt("writer vanished".into()))?;
        w.writer.add_document(doc)?;
        w.dirty = true;
        w.last_used = tick;
        st.pending += 1;
        // Only now: an event that failed to be added must not be covered by the next commit.
        st.last_added = Some(st.last_added.map_or(offset, |l| l.max(offset)));
        Ok(true)
    }
}

/// The document of a parsed event, built ahead of [`TantivyStore::add_prepared`] (on another
/// thread: see [`TantivyStore::prepare_parsed`]).
pub struct PreparedDoc {
    offset: u64,
    ts: DateTime,
    doc: EventDoc,
    /// Its partition has this version's schema: adding it needs nothing more of its event.
    complete: bool,
}

impl PreparedDoc {
    /// True when [`TantivyStore::add_prepared`] will add this document as it is, without
    /// reading its event again (which then may be empty). False when its day's partition is
    /// of an earlier version's schema, for which the document is built again from the event.
    pub fn is_complete(&self) -> bool {
        self.complete
    }
}

impl TantivyStore {
    /// Builds the document of a parsed and annotated event, stored source included, without
    /// taking the store's lock: any thread can do it, right after parsing, while the event is
    /// still in that thread's cache. On the thread that adds the events, where they arrive
    /// long after they were built, building cost about twice as much (a 1M-record import's
    /// profile against `examples/buildcost`).
    pub fn prepare_parsed(
        &self,
        offset: u64,
        event: &zia::Event,
        raw: &str,
    ) -> Result<PreparedDoc, StoreError> {
        let input = Input::Parsed(event, raw);
        let ts = input.time();
        let source = self.source(offset, input)?;
        let doc = prepare_parsed_document(&self.fields, event, ts, offset, &source);
        let complete = self.legacy_days.is_empty() || !self.legacy_days.contains(&day_of(ts)?);
        Ok(PreparedDoc {
            offset,
            ts,
            doc,
            complete,
        })
    }

    /// [`EventStore::add_parsed`] with the document [`TantivyStore::prepare_parsed`] built
    /// from the same event. The result is the same: a document prepared for another offset,
    /// or for a partition of an older schema, is built again here. When the document
    /// [`is complete`](PreparedDoc::is_complete), `event` is not read and may be empty.
    pub fn add_prepared(
        &self,
        offset: u64,
        event: &zia::Event,
        raw: &str,
        prepared: PreparedDoc,
    ) -> Result<bool, StoreError> {
        self.add_with(offset, Input::Parsed(event, raw), Some(prepared))
    }
}

impl EventStore for TantivyStore {
    fn add(&self, offset: u64, event: &Event) -> Result<bool, StoreError> {
        self.add_impl(offset, Input::Json(event))
    }

    fn add_record(&self, offset: u64, event: &Event, raw: &str) -> Result<bool, StoreError> {
        self.add_impl(offset, Input::Record(event, raw))
    }

    fn add_parsed(&self, offset: u64, event: &zia::Event, raw: &str) -> Result<bool, StoreError> {
        self.add_impl(offset, Input::Parsed(event, raw))
    }

    fn commit(&self) -> Result<Option<u64>, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let mut st = lock(&self.write);
        let off = st.last_added;
        let days: Vec<Date> = st.writers.keys().copied().collect();
        for d in days {
            let mut w = match st.writers.remove(&d) {
                Some(w) => w,
                None => continue,
            };
            let res = if w.dirty {
                self.commit_partition(d, &mut w, off)
            } else {
                Ok(())
            };
            let ok = res.is_ok();
            st.writers.insert(d, w);
            res?;
            if ok {
                st.part_committed.insert(d, off);
            }
        }
        if off != st.checkpoint {
            write_checkpoint(&self.root, off)?;
            st.checkpoint = off;
        }
        st.pending = 0;
        st.last_commit = Instant::now();
        let retention_due = self.cfg.retention.is_enabled()
            && st
                .last_retention
                .is_none_or(|t| t.elapsed() >= self.cfg.retention_interval);
        if retention_due {
            // The commit itself succeeded: a failed deletion is reported, not returned, so
            // that the pipeline keeps going (the next pass retries).
            match self.retention_locked(&mut st, OffsetDateTime::now_utc()) {
                Ok(deleted) if !deleted.is_empty() => {
                    tracing::info!(partitions = ?deleted, "retention deleted old partitions");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention failed"),
            }
        }
        Ok(off)
    }

    fn committed_offset(&self) -> Option<u64> {
        lock(&self.write).checkpoint
    }

    fn commit_due(&self) -> bool {
        let st = lock(&self.write);
        st.pending >= self.cfg.commit_every_events
            || (st.pending > 0 && st.last_commit.elapsed() >= self.cfg.commit_every)
    }
}

impl EventSearch for TantivyStore {
    fn search(
        &self,
        q: &EventQuery,
        limit: usize,
        after: Option<Cursor>,
    ) -> Result<SearchPage, StoreError> {
        let mut events = Vec::new();
        let mut last: Option<Cursor> = None;
        if limit == 0 {
            return Ok(SearchPage { events, next: None });
        }
        for p in self.parts_for(q) {
            if let Some(a) = after {
                // A partition entirely at or after the cursor has nothing for this page.
                if p.day.midnight().assume_utc().unix_timestamp() > a.ts {
                    continue;
                }
            }
            let s = p.reader.searcher();
            let tq = self.partition_query(&p, &s, q, after.map(|a| a.ts))?;
            let want = limit - events.len();
            let hits = newest_first(&s, tq.as_ref(), want, after.map(|a| (a.ts, a.offset)))?;
            for ((ts, offset), addr) in hits {
                let doc: TantivyDocument = s.doc(addr)?;
                let bytes = crate::schema::stored_source(&doc, p.fields.source)
                    .ok_or_else(|| StoreError::Corrupt("event without _source".into()))?;
                let ev = crate::source::decode(bytes)?;
                events.push(ev);
                last = Some(Cursor { ts, offset });
            }
            if events.len() >= limit {
                break;
            }
        }
        let next = if events.len() >= limit { last } else { None };
        Ok(SearchPage { events, next })
    }

    fn count(&self, q: &EventQuery) -> Result<u64, StoreError> {
        let counts = self.map_parts(&self.parts_for(q), |p| {
            let s = p.reader.searcher();
            let tq = self.partition_query(p, &s, q, None)?;
            Ok(s.search(&tq, &Count)? as u64)
        })?;
        Ok(counts.into_iter().sum())
    }

    fn histogram(&self, q: &EventQuery, interval_secs: i64) -> Result<Vec<(i64, u64)>, StoreError> {
        let maps = self.map_parts(&self.parts_for(q), |p| {
            let s = p.reader.searcher();
            let tq = self.partition_query(p, &s, q, None)?;
            Ok(s.search(
                &tq,
                &Histogram {
                    interval: interval_secs,
                },
            )?)
        })?;
        let mut v: Vec<(i64, u64)> = merge_counts(maps).into_iter().collect();
        v.sort();
        Ok(v)
    }

    fn top(&self, q: &EventQuery, field: &str, size: usize) -> Result<TopValues, StoreError> {
        let counts = self.terms(q, field)?;
        let total: u64 = counts.values().sum();
        let mut v: Vec<(String, u64)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(size);
        let shown: u64 = v.iter().map(|(_, n)| n).sum();
        Ok(TopValues {
            values: v,
            other: total - shown,
        })
    }

    fn distinct(&self, q: &EventQuery, field: &str) -> Result<u64, StoreError> {
        Ok(self.terms(q, field)?.len() as u64)
    }

    fn sum(&self, q: &EventQuery, field: &str) -> Result<FieldSum, StoreError> {
        if crate::schema::typed_kind(field) != Some(FieldKind::Long) {
            return Err(crate::schema::not_summable(field));
        }
        let parts = self.map_parts(&self.parts_for(q), |p| {
            // A partition written before the field was typed has no column: its values are
            // text terms there, not summed.
            if !matches!(p.fields.typed.get(field), Some(&(_, FieldKind::Long))) {
                return Ok((0, 0));
            }
            let s = p.reader.searcher();
            let tq = self.partition_query(p, &s, q, None)?;
            Ok(s.search(
                &tq,
                &Sum {
                    field: field.to_string(),
                },
            )?)
        })?;
        let (sum, events) = parts
            .into_iter()
            .fold((0i128, 0u64), |(s, n), (s2, n2)| (s + s2, n + n2));
        Ok(FieldSum {
            sum: sum.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
            events,
        })
    }

    fn top_by_sum(
        &self,
        q: &EventQuery,
        field: &str,
        sum_fields: &[String],
        size: usize,
    ) -> Result<TopSums, StoreError> {
        check_aggregatable(field)?;
        crate::check_sum_fields(sum_fields)?;
        let maps = self.map_parts(&self.parts_for(q), |p| {
            let s = p.reader.searcher();
            let tq = self.partition_query(p, &s, q, None)?;
            // A partition written before a summed field was typed has no column for it:
            // its values are text terms there and add nothing (as in `sum`).
            let sums: Vec<String> = sum_fields
                .iter()
                .filter(|f| matches!(p.fields.typed.get(f.as_str()), Some(&(_, FieldKind::Long))))
                .cloned()
                .collect();
            let indexed = match p.fields.typed.get(field) {
                Some(&(_, kind)) if has_column(kind) => {
                    return Ok(s.search(
                        &tq,
                        &TermSums {
                            field: field.to_string(),
                            kind,
                            sums,
                        },
                    )?);
                }
                Some(&(f, _)) => IndexedTermSums {
                    field: f,
                    term_prefix: String::new(),
                    sums,
                },
                None => IndexedTermSums {
                    field: p.fields.kv,
                    term_prefix: format!("{field}="),
                    sums,
                },
            };
            s.search(&tq, &indexed)?.map_err(StoreError::Unsupported)
        })?;
        let all = sums_within_limit(merge_sum_counts(maps)).map_err(StoreError::Unsupported)?;
        let total = all
            .values()
            .fold((0i128, 0u64), |(s, n), (s2, n2)| (s + s2, n + n2));
        Ok(crate::rank_sums(
            all.into_iter().map(|(v, (s, n))| (v, s, n)).collect(),
            size,
            total,
        ))
    }
}
