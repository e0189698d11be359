//! `pipeline`: from the durable queue to the event store, exactly once: journal → format
//! (`zia`) → [`Sink`]. It is its own crate because two roles run it: the single node, behind
//! the intake's receivers, and the cluster's worker, which feeds it from its own journal and
//! has no receivers at all. It also owns the journal's record format ([`raw::RawEvent`]),
//! which the receivers write and the pipeline reads.
//!
//! Events travel as the parser's flat [`Event`]. They are parsed and annotated on the parse
//! threads, and a sink may do part of its work on each event there too ([`Sink::preparer`]);
//! the writing thread keeps what depends on the order of events: dedup, writes, commits.
//!
//! The sink reports the last journal offset it has durably committed; the pipeline resumes
//! right after it, so after a crash the records between the sink's commit and the journal's
//! end are replayed and none is handed over twice. Once the sink commits, the journal
//! checkpoint moves and old segments are deleted. Events whose `(intake, sourcetype, record
//! id)` was seen among the last [`PipelineConfig::dedup_window`] events are dropped (NSS
//! replays after a reconnect, Cloud NSS retries whole batches).
//!
//! What the pipeline needs of the rest of the node comes in through small traits: the entity
//! owning each intake ([`IntakeEntities`], the intake registry), and a hook for each record's
//! shape ([`ShapeObserver`], the feed-format drift tracker).

pub mod metrics;
pub mod raw;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use crate::metrics::{PipelineMetrics, RateLimitedLog, ShapeObserver, StageTime};
pub use crate::raw::{RawEvent, Transport};

pub use zia::Event;

/// A sink failure.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// An I/O error.
    #[error("sink I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else (a store backend's own error, as text).
    #[error("sink error: {0}")]
    Other(String),
}

/// Where parsed events go. Implementations must make `commit` durable and report the last
/// committed offset across restarts, which is what makes delivery exactly once.
pub trait Sink: Send {
    /// The journal offset of the last event durably committed, if any.
    fn committed_offset(&self) -> Result<Option<u64>, SinkError>;
    /// Adds one event (not yet durable). The event is the sink's to change (a sink that
    /// stores the raw record beside it adds it in place, sparing a deep copy per event); the
    /// pipeline drops it afterwards.
    fn write(&mut self, offset: u64, raw: &RawEvent, event: &mut Event) -> Result<(), SinkError>;
    /// Makes every written event durable, up to and including the last offset written.
    fn commit(&mut self) -> Result<(), SinkError>;
    /// Called about every 200 ms while no event arrives, so that a sink's periodic work
    /// (picking up indicators imported meanwhile) does not wait for the next event.
    fn idle(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    /// After a failed write or commit (a full disk): discards everything written since the
    /// last commit and makes the sink usable again, so the pipeline can write those events
    /// again from the journal. `Err` when the sink cannot, and the pipeline stops.
    fn recover(&mut self) -> Result<(), SinkError> {
        Err(SinkError::Other(
            "this sink cannot recover from a failure".into(),
        ))
    }
    /// Work the sink does on each event right after it is parsed and annotated, on the parse
    /// threads, in parallel and while the event is still in that thread's cache; its result
    /// is handed to [`Sink::write_prepared`]. The event may still turn out to be a duplicate
    /// that is never written.
    fn preparer(&self) -> Option<Preparer> {
        None
    }
    /// [`Sink::write`] with what the [`Sink::preparer`] made of this event (`None` when the
    /// sink has no preparer). When the preparer said it no longer needs the event
    /// ([`Prepared::needs_event`] false), `event` is an empty one.
    fn write_prepared(
        &mut self,
        offset: u64,
        raw: &RawEvent,
        event: &mut Event,
        prepared: Option<Prepared>,
    ) -> Result<(), SinkError> {
        let _ = prepared;
        self.write(offset, raw, event)
    }
}

/// What a sink's [`Sink::preparer`] makes of an event.
pub struct Prepared {
    /// The sink's own result, handed back to [`Sink::write_prepared`].
    pub value: Box<dyn std::any::Any + Send>,
    /// False when [`Sink::write_prepared`] will not read the event: the pipeline then frees
    /// it at once, on the parse thread, and hands the sink an empty event instead. An
    /// event's memory (a parsed web record holds about 15 kB) is then reused, still in that
    /// thread's cache, by the next record it parses, instead of being kept for the writing
    /// stage: a 300k-record import took about a tenth less CPU time.
    pub needs_event: bool,
}

impl Prepared {
    /// A result beside which the sink still reads the event.
    pub fn with_event(value: impl std::any::Any + Send) -> Prepared {
        Prepared {
            value: Box::new(value),
            needs_event: true,
        }
    }
}

/// A sink's per-event work on the parse threads: (journal offset, raw record, the record's
/// text as the parser read it, the parsed and annotated event).
pub type Preparer = Arc<dyn Fn(u64, &RawEvent, &str, &Event) -> Prepared + Send + Sync>;

/// What a format's parser says about a record.
#[derive(Debug, Clone)]
pub struct ParseOutcome {
    /// The event (an error event if parsing failed).
    pub event: Event,
    /// The record's sourcetype, for deduplication.
    pub sourcetype: Option<String>,
    /// The record's own id, for deduplication.
    pub record_id: Option<String>,
    /// True when parsing failed and `event` is a pipeline-error event.
    pub failed: bool,
    /// The record's log type and key-set fingerprint, for feed-format drift.
    pub shape: Option<zia::Shape>,
}

/// A format parser: raw text → event.
pub type ParseFn = Arc<dyn Fn(&str) -> ParseOutcome + Send + Sync>;

/// The `zscaler-zia` parser from the `zia` crate; never fails (errors become error events).
pub fn zia_parser() -> ParseFn {
    Arc::new(|raw: &str| match zia::parse_event(raw) {
        Ok(p) => ParseOutcome {
            event: p.event,
            sourcetype: p.sourcetype,
            record_id: p.record_id,
            failed: false,
            shape: p.shape,
        },
        Err(e) => ParseOutcome {
            event: zia::error_event_of(raw, &e),
            sourcetype: None,
            record_id: None,
            failed: true,
            shape: None,
        },
    })
}

/// Pipeline tunables.
#[derive(Clone)]
pub struct PipelineConfig {
    /// How many recent `(intake, sourcetype, record id)` keys are remembered (default 1 000 000,
    /// about 40 MB). The window is in memory: it starts empty after a restart.
    pub dedup_window: usize,
    /// Most records read from the journal, parsed and handed to the sink at once (default
    /// 2 000). Up to four batches of parsed events are in memory at once (reading, parsing,
    /// queued, writing): at 10 000 an import peaked at 1.2 GB, at 2 000 at 0.35 GB, no slower.
    pub batch: usize,
    /// Records handed to the sink after which it commits (default 10 000). An index commits
    /// better in bigger steps; the journal checkpoint follows the sink's commit, so a longer
    /// step loses nothing, it only delays when events become searchable.
    pub commit_events: usize,
    /// Longest time handled events wait before the sink commits them (default 200 ms).
    pub commit_interval: Duration,
    /// Where the dedup window is saved at shutdown and loaded at start (none: memory only).
    pub dedup_file: Option<PathBuf>,
    /// Threads that parse a large batch in parallel (default: the number of CPUs).
    pub parse_threads: usize,
    /// The parser.
    pub parser: ParseFn,
    /// Who owns each intake (the registry), to name each event's entity (`ziaxdr.entity`);
    /// without it events carry no entity.
    pub registry: Option<Arc<dyn IntakeEntities>>,
    /// Longest wait between two attempts after the sink failed (the first is after 1 s,
    /// doubling; default 30 s).
    pub retry_max_delay: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            dedup_window: 1_000_000,
            dedup_file: None,
            batch: 2_000,
            commit_events: 10_000,
            commit_interval: Duration::from_millis(200),
            parse_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            parser: zia_parser(),
            registry: None,
            retry_max_delay: Duration::from_secs(30),
        }
    }
}

/// Errors that stop the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The sink failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] journal::Error),
}

/// Remembers recent dedup keys (as 128-bit digests) in insertion order.
/// Hashes a dedup key by taking 64 of its bits: the keys are SHA-256 digests, already uniform.
/// The window's insert was about a tenth of the writing thread's profile, and hashing the
/// digest again (SipHash, twice per event with the eviction) was a part of it that buys
/// nothing.
#[derive(Default, Clone, Copy)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; any other input still hashes (FNV-1a).
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u128(&mut self, k: u128) {
        self.0 = k as u64;
    }
}

type DigestSet = HashSet<u128, std::hash::BuildHasherDefault<DigestHasher>>;

struct Dedup {
    seen: DigestSet,
    order: VecDeque<u128>,
    cap: usize,
    /// Keys remembered since the sink last committed: forgotten again if the sink fails,
    /// so that the events written again are not taken for duplicates of themselves.
    uncommitted: usize,
}

impl Dedup {
    fn new(cap: usize) -> Dedup {
        Dedup {
            seen: DigestSet::default(),
            order: VecDeque::new(),
            cap,
            uncommitted: 0,
        }
    }

    /// Loads a window saved by [`Dedup::save`]; a missing or damaged file gives an empty one
    /// (the window is a best effort against replays, not a correctness requirement).
    fn load(path: &Path, cap: usize) -> Dedup {
        let mut d = Dedup::new(cap);
        let Ok(bytes) = fs::read(path) else {
            return d;
        };
        for c in bytes.chunks_exact(16) {
            let mut k = [0u8; 16];
            k.copy_from_slice(c);
            d.remember(u128::from_le_bytes(k));
        }
        d.committed();
        d
    }

    /// Saves the window (oldest first) so a restart still drops the replays NSS sends after
    /// it reconnects.
    fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut w = BufWriter::new(File::create(&tmp)?);
        for k in &self.order {
            w.write_all(&k.to_le_bytes())?;
        }
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(&tmp, path)
    }

    /// The sink committed: the keys remembered so far stay.
    fn committed(&mut self) {
        self.uncommitted = 0;
    }

    /// The sink failed: forgets the keys remembered since its last commit.
    fn rollback(&mut self) {
        for _ in 0..std::mem::take(&mut self.uncommitted) {
            match self.order.pop_back() {
                Some(k) => {
                    self.seen.remove(&k);
                }
                None => break,
            }
        }
    }

    fn remember(&mut self, k: u128) -> bool {
        if !self.seen.insert(k) {
            return false;
        }
        self.uncommitted += 1;
        self.order.push_back(k);
        if self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    /// True if the key was seen within the window (and records it otherwise).
    fn is_duplicate(&mut self, intake: &uuid::Uuid, sourcetype: &str, record_id: &str) -> bool {
        if self.cap == 0 {
            return false;
        }
        let mut h = Sha256::new();
        h.update(intake.as_bytes());
        h.update((sourcetype.len() as u64).to_le_bytes());
        h.update(sourcetype.as_bytes());
        h.update(record_id.as_bytes());
        let d = h.finalize();
        let mut k = [0u8; 16];
        k.copy_from_slice(&d[..16]);
        !self.remember(u128::from_le_bytes(k))
    }
}

/// Least time between two registry reloads caused by an unknown intake (an intake deleted
/// while its events are still in the journal must not cost a query per event).
const ENTITY_RELOAD_MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Where the pipeline learns which entity owns an intake (the intake registry).
pub trait IntakeEntities: Send + Sync {
    /// The name of the entity owning each known intake.
    fn intake_entities(&self) -> Result<HashMap<uuid::Uuid, Arc<str>>, String>;
}

/// The entity name of each intake, read from the registry once and again when an intake is
/// not known (created after the last read), so naming an event's entity is a hash lookup.
pub struct EntityNames {
    registry: Arc<dyn IntakeEntities>,
    names: HashMap<uuid::Uuid, Arc<str>>,
    last_reload: Option<Instant>,
}

impl EntityNames {
    /// An empty cache over `registry` (filled at the first lookup).
    pub fn new(registry: Arc<dyn IntakeEntities>) -> Self {
        EntityNames {
            registry,
            names: HashMap::new(),
            last_reload: None,
        }
    }

    /// The name of the entity owning `intake`, or None for an intake the registry does not
    /// have (or cannot be read; that is logged and retried later).
    pub fn get(&mut self, intake: &uuid::Uuid) -> Option<&str> {
        self.shared(intake).map(|n| &**n)
    }

    /// [`EntityNames::get`], as a name other threads can hold.
    fn shared(&mut self, intake: &uuid::Uuid) -> Option<&Arc<str>> {
        if !self.names.contains_key(intake)
            && self
                .last_reload
                .is_none_or(|t| t.elapsed() >= ENTITY_RELOAD_MIN_INTERVAL)
        {
            self.last_reload = Some(Instant::now());
            match self.load() {
                Ok(names) => self.names = names,
                Err(e) => tracing::warn!(error = %e, "cannot read intake entities"),
            }
        }
        self.names.get(intake)
    }

    fn load(&self) -> Result<HashMap<uuid::Uuid, Arc<str>>, String> {
        self.registry.intake_entities()
    }
}

/// Adds ingestion metadata the format does not know: `event.ingested` and `ziaxdr.*`
/// (`ziaxdr.entity` when the intake's entity is known), as the pipeline does to each event
/// it parses (a sink that parses a record again gets the same event).
pub fn annotate(event: &mut Event, raw: &RawEvent, entity: Option<&str>) {
    event.set_if_absent("event.ingested", || {
        Value::String(raw.received_at_rfc3339())
    });
    let mut meta = serde_json::json!({
        "event_id": raw.id.to_string(),
        "intake": {"uuid": raw.intake.to_string()},
        "transport": raw.transport.as_str(),
    });
    if let (Some(name), Value::Object(m)) = (entity, &mut meta) {
        m.insert("entity".into(), Value::String(name.to_string()));
    }
    event.set("ziaxdr", meta);
}

/// Parses, annotates and prepares a batch, on the parse pool when it is large enough to be
/// worth it (parsing is pure and the most expensive step; the order of the results is the
/// order of the batch). Annotating here rather than on the writing thread, where the events
/// arrive long after they were built, spares that thread a cache miss per field it sets.
fn parse_all(
    cfg: &PipelineConfig,
    pool: Option<&rayon::ThreadPool>,
    prepare: Option<&Preparer>,
    batch: &[(u64, RawEvent, Option<Arc<str>>)],
) -> Vec<(ParseOutcome, Option<Prepared>)> {
    let parse = |(off, raw, entity): &(u64, RawEvent, Option<Arc<str>>)| {
        let text = raw.text();
        let mut out = (cfg.parser)(&text);
        annotate(&mut out.event, raw, entity.as_deref());
        let prepared = prepare.map(|p| p(*off, raw, &text, &out.event));
        if prepared.as_ref().is_some_and(|p| !p.needs_event) {
            out.event = Event::empty();
        }
        (out, prepared)
    };
    match pool {
        Some(pool) if batch.len() >= 256 => {
            use rayon::prelude::*;
            pool.install(|| batch.par_iter().with_min_len(64).map(parse).collect())
        }
        _ => batch.iter().map(parse).collect(),
    }
}

/// The threads that parse batches: long-lived, so that each keeps its allocator's memory
/// warm (a thread per batch cost page faults and made every free a foreign one).
fn parse_pool(threads: usize) -> Option<rayon::ThreadPool> {
    if threads <= 1 {
        return None;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("parse-{i}"))
        .build()
        .map_err(|e| tracing::warn!(error = %e, "no parse threads; parsing on the reader thread"))
        .ok()
}

/// Where to resume: after the sink's last committed event, or after the journal checkpoint
/// when that is further on (the records in between were duplicates the pipeline dropped, so
/// the sink never saw them); a fresh sink starts at the oldest retained record.
fn resume_offset(sink: Option<u64>, checkpoint: Option<u64>, journal_start: u64) -> u64 {
    let from = match (sink, checkpoint) {
        (Some(s), Some(c)) => s.max(c) + 1,
        (Some(s), None) => s + 1,
        (None, _) => 0,
    };
    from.max(journal_start)
}

/// Adds the time since `since` to `counter`; returns now, the start of the next step.
fn lap(counter: &prometheus::Counter, since: Instant) -> Instant {
    let now = Instant::now();
    counter.inc_by(now.duration_since(since).as_secs_f64());
    now
}

/// A record as parsed and prepared on the parse threads.
type ParsedRecord = (u64, RawEvent, ParseOutcome, Option<Prepared>);

/// What the reading stage hands the writing stage.
enum Stage {
    /// Parsed (and prepared) records, and the offset of the last record read (decodable or
    /// not).
    Batch(Vec<ParsedRecord>, u64),
    /// Stopping, and everything durable has been sent.
    Drained,
    /// The journal failed.
    Failed(journal::Error),
}

/// Runs the pipeline until `stop` is set, then drains what is durable and commits.
///
/// Two stages overlap: one thread reads and parses the next batch (parsing itself on all
/// CPUs) while this one deduplicates, writes and commits the previous one.
///
/// A failing sink (a full disk) is a state, not the end: the pipeline says so in
/// `metrics.fault` (for `/readyz`), waits (1 s, doubling up to
/// [`PipelineConfig::retry_max_delay`]), has the sink discard what it had not committed
/// ([`Sink::recover`]) and starts again after the sink's last commit. The events are in the
/// journal, so none is lost, and none is written twice. It stops only if the sink cannot
/// recover, the journal is corrupt, or it fails while stopping.
pub fn run(
    journal: journal::Journal,
    mut sink: Box<dyn Sink>,
    cfg: PipelineConfig,
    metrics: PipelineMetrics,
    stop: Arc<AtomicBool>,
) -> Result<(), PipelineError> {
    let mut dedup = match &cfg.dedup_file {
        Some(p) if cfg.dedup_window > 0 => Dedup::load(p, cfg.dedup_window),
        _ => Dedup::new(cfg.dedup_window),
    };
    let pool = parse_pool(cfg.parse_threads);
    let log = RateLimitedLog::new(Duration::from_secs(30));
    let mut delay = Duration::from_secs(1);
    loop {
        let err = match run_once(
            &journal,
            &mut *sink,
            &cfg,
            &metrics,
            &stop,
            &mut dedup,
            pool.as_ref(),
        ) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let retryable = match &err {
            PipelineError::Sink(_) => true,
            PipelineError::Journal(e) => matches!(e, journal::Error::Io(_)),
        };
        if !retryable || stop.load(Ordering::Relaxed) {
            return Err(err);
        }
        dedup.rollback();
        set_fault(&metrics, Some(format!("{err}; retrying")));
        metrics.retries.inc();
        if let Some(n) = log.hit() {
            tracing::warn!(error = %err, failures = n, retry_in = ?delay, "pipeline cannot write; retrying (nothing is lost: the events wait in the journal)");
        }
        let until = Instant::now() + delay;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        // The backlog keeps growing while the sink is away: shown, not only after it returns.
        let done = journal.checkpoint().map_or(0, |c| c + 1);
        metrics
            .journal_lag
            .set(journal.end_offset().saturating_sub(done) as i64);
        metrics.journal_bytes.set(journal.disk_usage() as i64);
        delay = (delay * 2).min(cfg.retry_max_delay.max(Duration::from_millis(1)));
        if let Err(e) = sink.recover() {
            tracing::error!(error = %e, "the sink cannot recover; the pipeline stops");
            return Err(err);
        }
    }
}

fn set_fault(metrics: &PipelineMetrics, fault: Option<String>) {
    let mut f = metrics.fault.lock().unwrap_or_else(|e| e.into_inner());
    if f.is_some() || fault.is_some() {
        metrics.sink_down.set(i64::from(fault.is_some()));
        *f = fault;
    }
}

/// One run of the pipeline, from the sink's last commit until stopped or an error.
fn run_once(
    journal: &journal::Journal,
    sink: &mut dyn Sink,
    cfg: &PipelineConfig,
    metrics: &PipelineMetrics,
    stop: &AtomicBool,
    dedup: &mut Dedup,
    pool: Option<&rayon::ThreadPool>,
) -> Result<(), PipelineError> {
    let committed = sink.committed_offset()?;
    let start = journal.start_offset();
    if committed.is_some_and(|c| c + 1 < start) {
        tracing::warn!(
            sink = committed,
            journal_start = start,
            "sink is behind the journal's retained segments; events in between are gone"
        );
    }
    let next = resume_offset(committed, journal.checkpoint(), start);
    tracing::info!(from = next, end = journal.end_offset(), "pipeline starting");
    let mut reader = journal.read_from(next)?;
    let preparer = sink.preparer();
    // A small bound: the reading stage stays at most two batches ahead of the sink.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Stage>(2);
    // Set when the writing stage returns: a reading stage that has caught up sends nothing,
    // so it would not learn from the channel that nobody reads any more, and the scope below
    // would wait for it forever (a sink error while no new record arrives).
    let writer_gone = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Owned by this closure so that it is dropped, unblocking a reading stage stuck on a
        // full channel, before the scope joins that stage (e.g. after a sink error).
        let rx = rx;
        struct Gone<'a>(&'a AtomicBool);
        impl Drop for Gone<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _gone = Gone(&writer_gone);
        let writer_gone = &writer_gone;
        let (cfg_r, journal_r, stop_r) = (cfg, journal, stop);
        let mut entities = cfg.registry.clone().map(EntityNames::new);
        let pool_r = pool;
        let prepare_r = preparer.as_ref();
        let time_r = &metrics.time;
        // Named, so that its CPU time can be told from the writing stage's (`top -H`, the
        // end-to-end bench).
        let reading = std::thread::Builder::new().name("pipeline-read".into());
        let spawned = reading.spawn_scoped(scope, move || {
            let send = |st: Stage| tx.send(st).is_ok();
            loop {
                let stopping = stop_r.load(Ordering::Relaxed);
                let mut batch = Vec::new();
                let mut last = None;
                let t = Instant::now();
                while batch.len() < cfg_r.batch {
                    match reader.next_record() {
                        Ok(Some((off, payload))) => {
                            last = Some(off);
                            match RawEvent::decode(&payload) {
                                Ok(r) => {
                                    let entity = entities
                                        .as_mut()
                                        .and_then(|e| e.shared(&r.intake).cloned());
                                    batch.push((off, r, entity));
                                }
                                // Cannot happen for records this crate wrote; skip, not wedge.
                                Err(e) => tracing::error!(offset = off, error = %e, "undecodable journal record skipped"),
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            send(Stage::Failed(e));
                            return;
                        }
                    }
                }
                if let Some(last) = last {
                    let t = lap(&time_r.read, t);
                    let parsed = parse_all(cfg_r, pool_r, prepare_r, &batch);
                    let items = batch
                        .into_iter()
                        .zip(parsed)
                        .map(|((o, r, _), (p, prep))| (o, r, p, prep))
                        .collect();
                    let t = lap(&time_r.parse, t);
                    let sent = send(Stage::Batch(items, last));
                    lap(&time_r.handoff, t);
                    if !sent {
                        return;
                    }
                    continue;
                }
                // Caught up. The stop flag was read before this last read, so everything
                // durable when stopping began has been sent.
                if stopping {
                    send(Stage::Drained);
                    return;
                }
                if writer_gone.load(Ordering::Relaxed) {
                    return;
                }
                journal_r.wait_for(reader.position(), Duration::from_millis(100));
            }
        });
        if let Err(e) = spawned {
            return Err(SinkError::Io(e).into());
        }

        // Offset of the last record handled (written or dropped) but not yet committed.
        let mut pending: Option<u64> = None;
        let mut since_commit = 0usize;
        let mut last_commit = Instant::now();
        let mut committed_through = next.checked_sub(1);
        loop {
            let wait = match pending {
                Some(_) => cfg
                    .commit_interval
                    .saturating_sub(last_commit.elapsed())
                    .max(Duration::from_millis(1)),
                None => Duration::from_millis(200),
            };
            let t = Instant::now();
            let got = rx.recv_timeout(wait);
            let t = lap(&metrics.time.starved, t);
            let drained = match got {
                Ok(Stage::Batch(mut items, last)) => {
                    since_commit += items.len();
                    for (off, raw, out, prepared) in items.iter_mut() {
                        if let (Some(st), Some(id)) = (&out.sourcetype, &out.record_id) {
                            if dedup.is_duplicate(&raw.intake, st, id) {
                                metrics.duplicates.inc();
                                continue;
                            }
                        }
                        if out.failed {
                            metrics.parse_failures.inc();
                        }
                        if let Some(shapes) = &metrics.shapes {
                            shapes.observe(raw, out.shape.as_ref());
                        }
                        sink.write_prepared(*off, raw, &mut out.event, prepared.take())?;
                        metrics.processed.inc();
                    }
                    lap(&metrics.time.write, t);
                    // Freeing a batch of events (a few hundred small allocations each) was a
                    // third of this thread's work, most of it because the parse threads had
                    // allocated them: the parse threads free them too, off this thread.
                    match pool {
                        Some(p) => p.spawn(move || drop(items)),
                        None => drop(items),
                    }
                    pending = Some(last);
                    false
                }
                Ok(Stage::Drained) => true,
                Ok(Stage::Failed(e)) => return Err(e.into()),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if pending.is_none() {
                        sink.idle()?;
                    }
                    false
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(SinkError::Other("pipeline reader stopped".into()).into())
                }
            };
            if let Some(p) = pending {
                // Commits are batched in time too: each one costs fsyncs, and acknowledgement
                // already happened at the journal, so a short delay here loses nothing.
                if drained
                    || since_commit >= cfg.commit_events.max(1)
                    || last_commit.elapsed() >= cfg.commit_interval
                {
                    let t = Instant::now();
                    sink.commit()?;
                    dedup.committed();
                    set_fault(metrics, None);
                    since_commit = 0;
                    journal.commit_checkpoint(p)?;
                    lap(&metrics.time.commit, t);
                    committed_through = Some(p);
                    pending = None;
                    last_commit = Instant::now();
                    metrics.journal_bytes.set(journal.disk_usage() as i64);
                }
            }
            let done = committed_through.map_or(0, |c| c + 1);
            metrics
                .journal_lag
                .set(journal.end_offset().saturating_sub(done) as i64);
            if drained {
                if let (Some(p), true) = (&cfg.dedup_file, cfg.dedup_window > 0) {
                    if let Err(e) = dedup.save(p) {
                        tracing::warn!(error = %e, "could not save the dedup window");
                    }
                }
                return Ok(());
            }
        }
    })
}

/// A sink writing one JSON object per line: `{"offset","event_id","intake","received_at",
/// "raw","event"}`. Exactly once: `commit` fsyncs the file, then atomically records
/// `(offset, length)` in a sidecar; opening truncates anything after that length.
pub struct NdjsonSink {
    path: PathBuf,
    meta: PathBuf,
    out: BufWriter<File>,
    len: u64,
    committed: Option<u64>,
    pending: Option<u64>,
}

impl NdjsonSink {
    /// Opens (creating) `path`, discarding lines written after the last commit.
    pub fn open(path: impl AsRef<Path>) -> Result<NdjsonSink, SinkError> {
        let path = path.as_ref().to_path_buf();
        if let Some(d) = path.parent() {
            fs::create_dir_all(d)?;
        }
        let meta = path.with_extension("committed");
        let (committed, len) = match fs::read_to_string(&meta) {
            Ok(s) => {
                let mut it = s.split_whitespace();
                let off = it.next().and_then(|x| x.parse::<u64>().ok());
                let len = it.next().and_then(|x| x.parse::<u64>().ok());
                match (off, len) {
                    (Some(o), Some(l)) => (Some(o), l),
                    _ => return Err(SinkError::Other(format!("corrupt {}", meta.display()))),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, 0),
            Err(e) => return Err(e.into()),
        };
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        let actual = f.metadata()?.len();
        if actual < len {
            // Something cut the file below what was committed: refuse rather than pad it.
            return Err(SinkError::Other(format!(
                "{} has {actual} bytes but {len} were committed",
                path.display()
            )));
        }
        if actual > len {
            f.set_len(len)?;
            f.sync_all()?;
        }
        let mut out = BufWriter::with_capacity(1 << 20, f);
        std::io::Seek::seek(&mut out, std::io::SeekFrom::End(0))?;
        Ok(NdjsonSink {
            path,
            meta,
            out,
            len,
            committed,
            pending: None,
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Sink for NdjsonSink {
    fn committed_offset(&self) -> Result<Option<u64>, SinkError> {
        Ok(self.committed)
    }

    fn write(&mut self, offset: u64, raw: &RawEvent, event: &mut Event) -> Result<(), SinkError> {
        // Serialized straight from borrowed parts: building a `Value` first would deep-copy
        // the event, which costs more than writing it.
        #[derive(serde::Serialize)]
        struct Line<'a> {
            offset: u64,
            event_id: uuid::fmt::Hyphenated,
            intake: uuid::fmt::Hyphenated,
            received_at: String,
            raw: std::borrow::Cow<'a, str>,
            event: &'a Event,
        }
        let line = Line {
            offset,
            event_id: raw.id.hyphenated(),
            intake: raw.intake.hyphenated(),
            received_at: raw.received_at_rfc3339(),
            raw: raw.text(),
            event,
        };
        let mut b = serde_json::to_vec(&line).map_err(|e| SinkError::Other(e.to_string()))?;
        b.push(b'\n');
        self.out.write_all(&b)?;
        self.len += b.len() as u64;
        self.pending = Some(offset);
        Ok(())
    }

    fn commit(&mut self) -> Result<(), SinkError> {
        let Some(off) = self.pending.take() else {
            return Ok(());
        };
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        let tmp = self.meta.with_extension("committed.tmp");
        {
            let mut f = File::create(&tmp)?;
            writeln!(f, "{off} {}", self.len)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.meta)?;
        if let Some(d) = self.meta.parent() {
            File::open(d)?.sync_all()?;
        }
        self.committed = Some(off);
        Ok(())
    }

    fn recover(&mut self) -> Result<(), SinkError> {
        // What is buffered is dropped unwritten; opening again cuts the file back to its
        // last commit.
        let idle = BufWriter::new(File::open(&self.path)?);
        drop(std::mem::replace(&mut self.out, idle).into_parts());
        *self = NdjsonSink::open(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::Transport;
    use serde_json::Map;
    use uuid::Uuid;

    fn raw(data: &str) -> RawEvent {
        RawEvent {
            intake: Uuid::nil(),
            id: Uuid::now_v7(),
            received_at_us: 0,
            transport: Transport::Http,
            peer: String::new(),
            data: data.as_bytes().to_vec(),
        }
    }

    fn lines(p: &Path) -> Vec<Value> {
        fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn resume_skips_duplicates_dropped_after_the_last_sink_write() {
        assert_eq!(resume_offset(Some(5), Some(7), 0), 8);
        assert_eq!(resume_offset(Some(5), None, 0), 6);
        assert_eq!(
            resume_offset(None, Some(7), 3),
            3,
            "a fresh sink replays what is retained"
        );
        assert_eq!(resume_offset(Some(1), Some(1), 4), 4);
    }

    #[test]
    fn uncommitted_lines_are_discarded_on_reopen() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events.ndjson");
        let mut s = NdjsonSink::open(&p).unwrap();
        s.write(0, &raw("a"), &mut Event::default()).unwrap();
        s.commit().unwrap();
        s.write(1, &raw("b"), &mut Event::default()).unwrap();
        s.out.flush().unwrap(); // on disk, but never committed
        drop(s);
        let s = NdjsonSink::open(&p).unwrap();
        assert_eq!(s.committed_offset().unwrap(), Some(0));
        let l = lines(&p);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0]["raw"], "a");
    }

    #[test]
    fn a_file_shorter_than_its_commit_record_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("events.ndjson");
        let mut s = NdjsonSink::open(&p).unwrap();
        s.write(0, &raw("a"), &mut Event::default()).unwrap();
        s.commit().unwrap();
        drop(s);
        fs::write(&p, b"").unwrap();
        assert!(NdjsonSink::open(&p).is_err());
    }

    #[test]
    fn a_saved_dedup_window_still_knows_its_keys_after_loading() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("dedup");
        let mut w = Dedup::new(10);
        let i = Uuid::nil();
        assert!(!w.is_duplicate(&i, "web", "1"));
        w.save(&p).unwrap();
        let mut w = Dedup::load(&p, 10);
        assert!(w.is_duplicate(&i, "web", "1"));
        assert!(!w.is_duplicate(&i, "web", "2"));
    }

    #[test]
    fn duplicates_within_the_window_are_detected_and_old_ones_forgotten() {
        let mut d = Dedup::new(2);
        let i = Uuid::nil();
        assert!(!d.is_duplicate(&i, "web", "1"));
        assert!(d.is_duplicate(&i, "web", "1"));
        assert!(
            !d.is_duplicate(&i, "dns", "1"),
            "another sourcetype is another record"
        );
        assert!(!d.is_duplicate(&i, "web", "2"));
        assert!(!d.is_duplicate(&i, "web", "1"), "fell out of a window of 2");
    }

    fn fake_parser() -> ParseFn {
        Arc::new(|raw: &str| {
            let (id, failed) = match raw.strip_prefix("id=") {
                Some(id) => (Some(id.to_string()), false),
                None => (None, true),
            };
            let mut event = Map::new();
            event.insert("message".into(), Value::String(raw.to_string()));
            ParseOutcome {
                event: Event::from_map(event),
                sourcetype: id.as_ref().map(|_| "web".to_string()),
                record_id: id,
                failed,
                shape: None,
            }
        })
    }

    fn run_until_caught_up(j: &journal::Journal, sink: Box<dyn Sink>, m: &PipelineMetrics) {
        let stop = Arc::new(AtomicBool::new(true));
        let cfg = PipelineConfig {
            parser: fake_parser(),
            ..PipelineConfig::default()
        };
        run(j.clone(), sink, cfg, m.clone(), stop).unwrap();
    }

    struct FailingSink;

    impl Sink for FailingSink {
        fn committed_offset(&self) -> Result<Option<u64>, SinkError> {
            Ok(None)
        }
        fn write(&mut self, _: u64, _: &RawEvent, _: &mut Event) -> Result<(), SinkError> {
            Err(SinkError::Other("disk on fire".into()))
        }
        fn commit(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
    }

    /// Counts what it is handed and how often it commits.
    struct CountingSink {
        commits: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Sink for CountingSink {
        fn committed_offset(&self) -> Result<Option<u64>, SinkError> {
            Ok(None)
        }
        fn write(&mut self, _: u64, _: &RawEvent, _: &mut Event) -> Result<(), SinkError> {
            Ok(())
        }
        fn commit(&mut self) -> Result<(), SinkError> {
            self.commits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    }

    /// Takes `commit_takes` to commit.
    struct SlowCommitSink {
        commit_takes: Duration,
    }

    impl Sink for SlowCommitSink {
        fn committed_offset(&self) -> Result<Option<u64>, SinkError> {
            Ok(None)
        }
        fn write(&mut self, _: u64, _: &RawEvent, _: &mut Event) -> Result<(), SinkError> {
            Ok(())
        }
        fn commit(&mut self) -> Result<(), SinkError> {
            std::thread::sleep(self.commit_takes);
            Ok(())
        }
    }

    #[test]
    fn the_time_the_sink_takes_to_commit_is_counted_as_commit_time() {
        let d = tempfile::tempdir().unwrap();
        let j =
            journal::Journal::open(d.path().join("journal"), journal::Config::default()).unwrap();
        let recs: Vec<Vec<u8>> = (0..30).map(|i| raw(&format!("id={i}")).encode()).collect();
        j.append_blocking(recs).unwrap();
        let m = PipelineMetrics::new();
        let cfg = PipelineConfig {
            parser: fake_parser(),
            batch: 10,
            commit_events: 10,
            ..PipelineConfig::default()
        };
        let sink = SlowCommitSink {
            commit_takes: Duration::from_millis(30),
        };
        run(
            j,
            Box::new(sink),
            cfg,
            m.clone(),
            Arc::new(AtomicBool::new(true)),
        )
        .unwrap();
        let commit = m.time.commit.get();
        assert!(
            commit >= 0.09,
            "three commits of 30 ms each, counted {commit} s"
        );
        assert!(
            m.time.write.get() < commit,
            "writing nothing much costs less than those commits"
        );
    }

    /// Prepares each event with the thread that parsed it and its offset, and checks that
    /// each write gets what was prepared for that very event. With `done_with_odd`, it says
    /// it no longer needs the events at odd offsets, and records which writes got an event.
    struct PreparingSink {
        written: Arc<std::sync::Mutex<Vec<(u64, String, bool)>>>,
        done_with_odd: bool,
    }

    impl Sink for PreparingSink {
        fn committed_offset(&self) -> Result<Option<u64>, SinkError> {
            Ok(None)
        }
        fn write(&mut self, _: u64, _: &RawEvent, _: &mut Event) -> Result<(), SinkError> {
            Err(SinkError::Other("written without what was prepared".into()))
        }
        fn commit(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        fn preparer(&self) -> Option<Preparer> {
            let done_with_odd = self.done_with_odd;
            Some(Arc::new(move |offset, raw, text, event| {
                assert_eq!(text, &*raw.text());
                assert_eq!(event.get_str("message"), Some(text));
                assert!(event.get_str("ziaxdr.event_id").is_some(), "annotated");
                let thread = std::thread::current().name().unwrap_or("").to_string();
                Prepared {
                    needs_event: !(done_with_odd && offset % 2 == 1),
                    ..Prepared::with_event((offset, thread))
                }
            }))
        }
        fn write_prepared(
            &mut self,
            offset: u64,
            _: &RawEvent,
            event: &mut Event,
            prepared: Option<Prepared>,
        ) -> Result<(), SinkError> {
            let prepared = prepared.expect("prepared");
            let (at, thread) = *prepared
                .value
                .downcast::<(u64, String)>()
                .expect("the preparer's type");
            assert_eq!(at, offset, "prepared for another event");
            let annotated = event.get_str("ziaxdr.event_id").is_some();
            if prepared.needs_event {
                assert!(annotated, "annotated");
            }
            self.written
                .lock()
                .unwrap()
                .push((offset, thread, annotated));
            Ok(())
        }
    }

    /// Runs the pipeline over `records` into a [`PreparingSink`] on two parse threads;
    /// returns its writes.
    fn run_preparing(records: Vec<Vec<u8>>, done_with_odd: bool) -> Vec<(u64, String, bool)> {
        let d = tempfile::tempdir().unwrap();
        let j =
            journal::Journal::open(d.path().join("journal"), journal::Config::default()).unwrap();
        j.append_blocking(records).unwrap();
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = PreparingSink {
            written: written.clone(),
            done_with_odd,
        };
        let cfg = PipelineConfig {
            parser: fake_parser(),
            parse_threads: 2,
            ..PipelineConfig::default()
        };
        let stop = Arc::new(AtomicBool::new(true));
        run(j.clone(), Box::new(sink), cfg, PipelineMetrics::new(), stop).unwrap();
        let written = written.lock().unwrap();
        written.clone()
    }

    #[test]
    fn what_a_sink_prepares_on_the_parse_threads_reaches_the_write_of_that_event() {
        // Record 7 twice: the duplicate is prepared but never written.
        let mut records: Vec<Vec<u8>> = (0..1000)
            .map(|i| raw(&format!("id={i}")).encode())
            .collect();
        records.push(raw("id=7").encode());
        let written = run_preparing(records, false);
        let offsets: Vec<u64> = written.iter().map(|(o, _, _)| *o).collect();
        assert_eq!(offsets, (0..1000).collect::<Vec<u64>>());
        // A batch this large is parsed, and so prepared, on the parse pool.
        assert!(
            written.iter().all(|(_, t, _)| t.starts_with("parse-")),
            "{:?}",
            &written[..3]
        );
    }

    #[test]
    fn an_event_the_sink_no_longer_needs_reaches_its_write_empty() {
        let records: Vec<Vec<u8>> = (0..600).map(|i| raw(&format!("id={i}")).encode()).collect();
        let written = run_preparing(records, true);
        assert_eq!(written.len(), 600);
        for (offset, _, got_event) in written.iter() {
            assert_eq!(*got_event, offset % 2 == 0, "offset {offset}");
        }
    }

    #[test]
    fn the_sink_commits_every_commit_events_records_not_every_batch() {
        let d = tempfile::tempdir().unwrap();
        let j =
            journal::Journal::open(d.path().join("journal"), journal::Config::default()).unwrap();
        let many: Vec<Vec<u8>> = (0..1000)
            .map(|i| raw(&format!("id={i}")).encode())
            .collect();
        j.append_blocking(many).unwrap();
        let commits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let cfg = PipelineConfig {
            parser: fake_parser(),
            batch: 10,
            commit_events: 250,
            commit_interval: Duration::from_secs(3600),
            ..PipelineConfig::default()
        };
        let sink = CountingSink {
            commits: commits.clone(),
        };
        let stop = Arc::new(AtomicBool::new(true));
        run(j.clone(), Box::new(sink), cfg, PipelineMetrics::new(), stop).unwrap();
        // 100 batches of 10: a commit per 250 records, the last one at the drain.
        assert_eq!(commits.load(std::sync::atomic::Ordering::Relaxed), 4);
        assert_eq!(
            j.checkpoint(),
            Some(999),
            "the checkpoint follows the last commit"
        );
    }

    /// Keeps events in memory; its commits fail while `failures` is above zero (a full
    /// disk), and `recover` drops what was not committed.
    struct FlakySink {
        committed: Arc<std::sync::Mutex<Vec<(u64, String)>>>,
        pending: Vec<(u64, String)>,
        failures: usize,
        recoveries: usize,
    }

    impl Sink for FlakySink {
        fn committed_offset(&self) -> Result<Option<u64>, SinkError> {
            Ok(self.committed.lock().unwrap().last().map(|(o, _)| *o))
        }
        fn write(&mut self, offset: u64, raw: &RawEvent, _: &mut Event) -> Result<(), SinkError> {
            self.pending.push((offset, raw.text().to_string()));
            Ok(())
        }
        fn commit(&mut self) -> Result<(), SinkError> {
            if self.failures > 0 {
                self.failures -= 1;
                return Err(SinkError::Io(std::io::Error::from_raw_os_error(28)));
            }
            self.committed.lock().unwrap().append(&mut self.pending);
            Ok(())
        }
        fn recover(&mut self) -> Result<(), SinkError> {
            self.recoveries += 1;
            self.pending.clear();
            Ok(())
        }
    }

    #[test]
    fn a_sink_that_fails_then_recovers_gets_every_event_once_and_the_fault_clears() {
        let d = tempfile::tempdir().unwrap();
        let j =
            journal::Journal::open(d.path().join("journal"), journal::Config::default()).unwrap();
        // Events with record ids, so that a retry must not take them for duplicates.
        let many: Vec<Vec<u8>> = (0..50).map(|i| raw(&format!("id={i}")).encode()).collect();
        j.append_blocking(many).unwrap();
        let committed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = FlakySink {
            committed: committed.clone(),
            pending: Vec::new(),
            failures: 2,
            recoveries: 0,
        };
        let cfg = PipelineConfig {
            parser: fake_parser(),
            batch: 10,
            commit_events: 20,
            retry_max_delay: Duration::from_millis(100),
            ..PipelineConfig::default()
        };
        let m = PipelineMetrics::new();
        let stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let (j, m, stop) = (j.clone(), m.clone(), stop.clone());
            std::thread::spawn(move || run(j, Box::new(sink), cfg, m, stop))
        };
        let start = Instant::now();
        while committed.lock().unwrap().len() < 50 && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        runner.join().unwrap().unwrap();
        let got: Vec<String> = committed
            .lock()
            .unwrap()
            .iter()
            .map(|(_, r)| r.clone())
            .collect();
        let want: Vec<String> = (0..50).map(|i| format!("id={i}")).collect();
        assert_eq!(got, want, "every event once, in order");
        assert_eq!(m.retries.get(), 2);
        assert!(m.fault.lock().unwrap().is_none());
        assert_eq!(j.checkpoint(), Some(49));
    }

    #[test]
    fn a_sink_error_stops_the_pipeline_with_that_error_and_commits_nothing() {
        let d = tempfile::tempdir().unwrap();
        let j =
            journal::Journal::open(d.path().join("journal"), journal::Config::default()).unwrap();
        let many: Vec<Vec<u8>> = (0..50).map(|i| raw(&format!("r{i}")).encode()).collect();
        j.append_blocking(many).unwrap();
        let cfg = PipelineConfig {
            parser: fake_parser(),
            batch: 5,
            ..PipelineConfig::default()
        };
        let stop = Arc::new(AtomicBool::new(false));
        let err = run(
            j.clone(),
            Box::new(FailingSink),
            cfg,
            PipelineMetrics::new(),
            stop,
        )
        .unwrap_err();
        assert!(err.to_string().contains("disk on fire"));
        assert_eq!(j.checkpoint(), None);
    }

    #[test]
    fn the_pipeline_resumes_after_the_sink_commit_and_drops_duplicates() {
        let d = tempfile::tempdir().unwrap();
        let j =
            journal::Journal::open(d.path().join("journal"), journal::Config::default()).unwrap();
        let out = d.path().join("out.ndjson");
        let m = PipelineMetrics::new();
        let recs = |xs: &[&str]| xs.iter().map(|x| raw(x).encode()).collect::<Vec<_>>();
        j.append_blocking(recs(&["id=1", "id=2", "id=1", "garbage"]))
            .unwrap();
        run_until_caught_up(&j, Box::new(NdjsonSink::open(&out).unwrap()), &m);
        assert_eq!(lines(&out).len(), 3);
        assert_eq!(m.duplicates.get(), 1);
        assert_eq!(m.parse_failures.get(), 1);
        assert_eq!(j.checkpoint(), Some(3));
        j.append_blocking(recs(&["id=3"])).unwrap();
        run_until_caught_up(&j, Box::new(NdjsonSink::open(&out).unwrap()), &m);
        let l = lines(&out);
        assert_eq!(l.len(), 4, "nothing replayed twice");
        assert_eq!(l[3]["offset"], 4);
        assert_eq!(l[3]["event"]["message"], "id=3");
    }

    /// Counts the records the shape hook was shown.
    #[derive(Default)]
    struct CountingShapes(std::sync::Mutex<Vec<(Uuid, zia::Shape)>>);

    impl ShapeObserver for CountingShapes {
        fn observe(&self, raw: &RawEvent, shape: Option<&zia::Shape>) {
            if let Some(s) = shape {
                self.0.lock().unwrap().push((raw.intake, *s));
            }
        }
    }

    #[test]
    fn the_shape_hook_sees_each_record_but_not_its_duplicates() {
        let d = tempfile::tempdir().unwrap();
        let j =
            journal::Journal::open(d.path().join("journal"), journal::Config::default()).unwrap();
        let shapes = Arc::new(CountingShapes::default());
        let mut m = PipelineMetrics::new();
        m.shapes = Some(shapes.clone());
        let rec = |id: u32| {
            raw(&format!(
                r#"{{"sourcetype":"zscalernss-dns","event":{{"user":"a","dns_req":"x.com","recordid":"{id}"}}}}"#
            ))
            .encode()
        };
        j.append_blocking(vec![rec(1), rec(2), rec(1)]).unwrap();
        let cfg = PipelineConfig {
            parse_threads: 1,
            ..PipelineConfig::default()
        };
        let sink = Box::new(NdjsonSink::open(d.path().join("out.ndjson")).unwrap());
        run(j.clone(), sink, cfg, m, Arc::new(AtomicBool::new(true))).unwrap();
        let seen = shapes.0.lock().unwrap();
        assert_eq!(seen.len(), 2, "the replayed record 1 is not shown again");
        assert_eq!(seen[0], seen[1], "two records of one shape");
    }

    /// A registry in memory: intake → entity name.
    #[derive(Default)]
    struct Entities(std::sync::Mutex<HashMap<Uuid, Arc<str>>>);

    impl Entities {
        fn add(&self, entity: &str) -> Uuid {
            let i = Uuid::now_v7();
            self.0.lock().unwrap().insert(i, Arc::from(entity));
            i
        }
    }

    impl IntakeEntities for Entities {
        fn intake_entities(&self) -> Result<HashMap<Uuid, Arc<str>>, String> {
            Ok(self.0.lock().unwrap().clone())
        }
    }

    fn registry_with(entity: &str) -> (Arc<Entities>, Uuid) {
        let reg = Arc::new(Entities::default());
        let i = reg.add(entity);
        (reg, i)
    }

    #[test]
    fn events_carry_the_entity_of_their_intake() {
        let d = tempfile::tempdir().unwrap();
        let (reg, intake) = registry_with("acme");
        let j =
            journal::Journal::open(d.path().join("journal"), journal::Config::default()).unwrap();
        let mut r = raw("id=1");
        r.intake = intake;
        j.append_blocking(vec![r.encode(), raw("id=2").encode()])
            .unwrap();
        let out = d.path().join("out.ndjson");
        let cfg = PipelineConfig {
            parser: fake_parser(),
            registry: Some(reg),
            ..PipelineConfig::default()
        };
        let sink = Box::new(NdjsonSink::open(&out).unwrap());
        run(
            j,
            sink,
            cfg,
            PipelineMetrics::new(),
            Arc::new(AtomicBool::new(true)),
        )
        .unwrap();
        let l = lines(&out);
        assert_eq!(l[0]["event"]["ziaxdr"]["entity"], "acme");
        assert!(
            l[1]["event"]["ziaxdr"].get("entity").is_none(),
            "an intake the registry does not know names no entity"
        );
    }

    #[test]
    fn an_intake_created_after_the_first_lookup_is_found_on_a_later_miss() {
        let (reg, first) = registry_with("acme");
        let mut names = EntityNames::new(reg.clone());
        assert_eq!(names.get(&first), Some("acme"));
        let second = reg.add("globex");
        std::thread::sleep(ENTITY_RELOAD_MIN_INTERVAL);
        assert_eq!(names.get(&second), Some("globex"));
        assert_eq!(names.get(&first), Some("acme"));
    }
}
