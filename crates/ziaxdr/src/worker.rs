//! The cluster's worker role: consume the JetStream stream, run the pipeline (parse, detect,
//! store) over its messages, insert into ClickHouse in batches, and acknowledge each message
//! only after the insert that holds it committed.
//!
//! The pipeline (`pipeline::run`) reads a journal by offset; the worker gives it a
//! private one (`DATA/worker-journal`, emptied at every start) that only buffers what was
//! fetched. Messages are appended there in fetch order, and a message is acknowledged once
//! the journal checkpoint (which moves only after the sink committed) passed its offset. A
//! crash loses only unacknowledged messages, which JetStream hands again to any worker after
//! the ack wait.
//!
//! No event is stored twice:
//! - a message delivered again (`Delivery::redelivered`) is looked up by its event id in
//!   ClickHouse before it is appended; when found, it still goes through the pipeline, for
//!   detection (its matches may not have been written: a worker killed between the insert
//!   and the alert transaction), but the sink does not store it again. The alert store
//!   recognises the matches it already has (replays by (rule, event), and events already fed
//!   to the shared correlation state), so none is lost and none counted twice;
//! - after a failed insert (ClickHouse down), the events written since the last commit are
//!   looked up the same way before the pipeline writes them again ([`ClusterSink::recover`]).
//!
//! The store's offsets are not the local journal's: the ClickHouse store skips offsets at or
//! below the largest committed one, which with several writers would be another worker's. Each
//! event gets `max(previous + 1, now in µs × 4096)` instead: unique and above every offset any
//! worker used before, provided the workers' clocks agree (NTP) and no worker stores more
//! than 4096 events per microsecond.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use pipeline::{Event, PipelineConfig, Prepared, RawEvent, Sink, SinkError};
use queue::jetstream::{JetStreamConfig, JetStreamConsumer};
use queue::{AckToken, Consumer};
use store::{EventSearch, EventStore};

/// Most event ids asked about in one ClickHouse query.
const LOOKUP_CHUNK: usize = 200;

/// What a worker needs.
#[derive(Clone)]
pub struct WorkerConfig {
    /// The stream and the shared consumer.
    pub nats: JetStreamConfig,
    /// The event store.
    pub clickhouse: store::ClickHouseConfig,
    /// The node's data directory (the private journal goes in `worker-journal/`).
    pub data_dir: PathBuf,
    /// Pipeline options (batch, commit policy, parse threads).
    pub pipeline: PipelineConfig,
    /// Most messages fetched and not yet acknowledged by this worker (default 50 000): beyond
    /// it the worker stops fetching, and the backlog waits in JetStream.
    pub max_unacked: usize,
    /// Messages asked for per fetch (default 64; each holds events of one request, up to
    /// 1 000 events and 512 KiB, so a fetch holds at most 32 MiB).
    pub fetch_batch: usize,
}

impl WorkerConfig {
    /// Defaults around the given stream and store.
    pub fn new(
        nats: JetStreamConfig,
        clickhouse: store::ClickHouseConfig,
        data_dir: PathBuf,
    ) -> Self {
        WorkerConfig {
            nats,
            clickhouse,
            data_dir,
            pipeline: PipelineConfig {
                // Inserts into ClickHouse in batches of up to 20 000 events, at least every
                // second: each insert is a part ClickHouse merges later.
                commit_events: 20_000,
                commit_interval: Duration::from_secs(1),
                ..PipelineConfig::default()
            },
            max_unacked: 50_000,
            fetch_batch: 64,
        }
    }
}

/// The event ids among `ids` that ClickHouse already holds.
fn stored_ids(
    store: &store::ClickHouseStore,
    ids: &[intake::uuid::Uuid],
) -> Result<HashSet<intake::uuid::Uuid>, store::StoreError> {
    let mut found = HashSet::new();
    let range = store::TimeRange {
        from: time::OffsetDateTime::UNIX_EPOCH,
        to: time::OffsetDateTime::now_utc() + time::Duration::days(3650),
    };
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let text = chunk
            .iter()
            .map(|id| format!("ziaxdr.event_id:\"{id}\""))
            .collect::<Vec<_>>()
            .join(" OR ");
        let query = store::Query::parse(&text)
            .map_err(|e| store::StoreError::Unsupported(format!("lookup query: {e}")))?;
        let q = store::EventQuery { query, range };
        let page = store.search(&q, chunk.len() * 2 + 1, None)?;
        for e in &page.events {
            let id = e
                .get("ziaxdr")
                .and_then(|z| z.get("event_id"))
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse().ok());
            if let Some(id) = id {
                found.insert(id);
            }
        }
    }
    Ok(found)
}

fn open_store(cfg: &store::ClickHouseConfig) -> Result<Arc<store::ClickHouseStore>, SinkError> {
    store::ClickHouseStore::open(cfg.clone())
        .map(Arc::new)
        .map_err(|e| SinkError::Other(format!("ClickHouse unavailable: {e}")))
}

/// The worker's sink: ClickHouse through the `EventStore` trait, with the worker's own
/// offsets, a reconnect after a failure, and the replay check described in the module docs.
pub struct ClusterSink {
    cfg: store::ClickHouseConfig,
    store: Option<Arc<store::ClickHouseStore>>,
    journal: journal::Journal,
    last_store_offset: u64,
    written: Option<u64>,
    committed: Option<u64>,
    /// Local offsets written before a failure and possibly stored: looked up before writing.
    to_check: Option<(u64, u64)>,
    /// Event ids found stored by that look-up: skipped.
    already: HashSet<intake::uuid::Uuid>,
    /// Redelivered events the fetch loop found stored: detected again, not stored again.
    stored: StoredIds,
}

/// Ids of redelivered events found in ClickHouse, from the fetch loop to the sink.
pub type StoredIds = Arc<std::sync::Mutex<HashSet<intake::uuid::Uuid>>>;

impl ClusterSink {
    /// A sink over `cfg`, reading replayed records back from `journal`. ClickHouse may be
    /// down: the first write then fails and the pipeline retries.
    pub fn new(cfg: store::ClickHouseConfig, journal: journal::Journal, stored: StoredIds) -> Self {
        ClusterSink {
            stored,
            store: open_store(&cfg).ok(),
            cfg,
            journal,
            last_store_offset: 0,
            written: None,
            committed: None,
            to_check: None,
            already: HashSet::new(),
        }
    }

    fn store(&mut self) -> Result<Arc<store::ClickHouseStore>, SinkError> {
        if self.store.is_none() {
            self.store = Some(open_store(&self.cfg)?);
        }
        let store = self
            .store
            .clone()
            .ok_or_else(|| SinkError::Other("no store".into()))?;
        if let Some((from, to)) = self.to_check {
            // The ids of the records in [from, to], from the local journal.
            let mut ids = Vec::new();
            let mut r = self
                .journal
                .read_from(from)
                .map_err(|e| SinkError::Other(e.to_string()))?;
            while let Some((off, payload)) = r
                .next_record()
                .map_err(|e| SinkError::Other(e.to_string()))?
            {
                if off > to {
                    break;
                }
                if let Ok(raw) = RawEvent::decode(&payload) {
                    ids.push(raw.id);
                }
            }
            let found = stored_ids(&store, &ids).map_err(|e| {
                self.store = None;
                SinkError::Other(format!("ClickHouse unavailable: {e}"))
            })?;
            if !found.is_empty() {
                tracing::info!(
                    events = found.len(),
                    "events stored before the failure are not stored again"
                );
            }
            self.already.extend(found);
            self.to_check = None;
        }
        Ok(store)
    }

    fn next_store_offset(&mut self) -> u64 {
        let now = pipeline::raw::now_us().max(0) as u64;
        self.last_store_offset = (self.last_store_offset + 1).max(now << 12);
        self.last_store_offset
    }
}

impl Sink for ClusterSink {
    fn committed_offset(&self) -> Result<Option<u64>, SinkError> {
        Ok(self.committed)
    }

    fn write(&mut self, offset: u64, raw: &RawEvent, event: &mut Event) -> Result<(), SinkError> {
        self.write_prepared(offset, raw, event, None)
    }

    fn write_prepared(
        &mut self,
        offset: u64,
        raw: &RawEvent,
        event: &mut Event,
        _prepared: Option<Prepared>,
    ) -> Result<(), SinkError> {
        let store = self.store()?;
        if !self.already.is_empty() && self.already.remove(&raw.id) {
            self.written = Some(offset);
            return Ok(());
        }
        let redelivered_stored = {
            let mut s = self.stored.lock().unwrap_or_else(|e| e.into_inner());
            !s.is_empty() && s.remove(&raw.id)
        };
        if redelivered_stored {
            self.written = Some(offset);
            return Ok(());
        }
        let so = self.next_store_offset();
        let result = store.add_parsed(so, event, &raw.text());
        if let Err(e) = result {
            self.store = None;
            return Err(SinkError::Other(e.to_string()));
        }
        self.written = Some(offset);
        Ok(())
    }

    fn commit(&mut self) -> Result<(), SinkError> {
        if self.written == self.committed {
            return Ok(());
        }
        let store = self.store()?;
        if let Err(e) = store.commit() {
            self.store = None;
            return Err(SinkError::Other(format!("ClickHouse insert failed: {e}")));
        }
        self.committed = self.written;
        self.already.clear();
        Ok(())
    }

    fn recover(&mut self) -> Result<(), SinkError> {
        // What was written since the last commit may or may not have reached ClickHouse
        // (an insert whose answer was lost): looked up before it is written again.
        if let Some(w) = self.written {
            if self.committed.is_none_or(|c| c < w) {
                let from = self.committed.map_or(0, |c| c + 1);
                let from = self.to_check.map_or(from, |(f, _)| f.min(from));
                self.to_check = Some((from, w));
            }
        }
        self.written = self.committed;
        self.store = None;
        Ok(())
    }
}

impl Pending {
    // A function rather than a closure: a closure's borrow is not general enough for the
    // worker's future to be `Send`.
    fn token(&self) -> &AckToken {
        &self.token
    }
}

/// Puts stages (detection) in front of the worker's store sink.
pub type WrapSink = Box<dyn FnOnce(Box<dyn Sink>) -> Box<dyn Sink> + Send>;

/// A message fetched and appended to the private journal, not yet acknowledged.
struct Pending {
    offset: u64,
    token: AckToken,
}

/// The worker: fetches, hands over to the pipeline, acknowledges. Runs until `stop` is set,
/// then lets the pipeline commit what it has, acknowledges it, and returns.
pub async fn run(
    cfg: WorkerConfig,
    wrap: WrapSink,
    metrics: intake::metrics::Metrics,
    nats_up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let dir = cfg.data_dir.join("worker-journal");
    // Whatever a previous run left there was never acknowledged: JetStream delivers it again.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    let journal = journal::Journal::open(
        &dir,
        journal::Config {
            max_disk_bytes: 4 << 30,
            // A buffer, not a store: emptied at start, and what a crash loses JetStream
            // delivers again. An fsync per fetch only cost CPU and latency.
            fsync: false,
            ..journal::Config::default()
        },
    )
    .with_context(|| format!("cannot open the worker journal in {}", dir.display()))?;
    let stored: StoredIds = Arc::default();
    let sink = wrap(Box::new(ClusterSink::new(
        cfg.clickhouse.clone(),
        journal.clone(),
        stored.clone(),
    )));
    let stop_pipeline = Arc::new(AtomicBool::new(false));
    let pipe = {
        let (j, pcfg, m, s) = (
            journal.clone(),
            cfg.pipeline.clone(),
            metrics.pipeline(),
            stop_pipeline.clone(),
        );
        std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || pipeline::run(j, sink, pcfg, m, s))?
    };
    let mut consumer = JetStreamConsumer::open(cfg.nats.clone())
        .await
        .context("cannot set up the NATS connection")?;
    let mut lookup: Option<Arc<store::ClickHouseStore>> = None;
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut last_progress = Instant::now();
    let progress_every = cfg.nats.ack_wait / 3;
    let log = pipeline::RateLimitedLog::new(Duration::from_secs(30));
    while !stop.load(Ordering::Relaxed) {
        if pipe.is_finished() {
            break;
        }
        nats_up.store(consumer.connected(), Ordering::Relaxed);
        ack_committed(&journal, &mut pending, &mut consumer).await;
        // Held back (ClickHouse slow or down): tell JetStream they are being worked on, so
        // they are not handed to another worker meanwhile.
        if !pending.is_empty() && last_progress.elapsed() >= progress_every {
            if let Err(e) = consumer
                .in_progress(pending.iter().map(Pending::token))
                .await
            {
                tracing::debug!(error = %e, "progress to JetStream failed");
            }
            last_progress = Instant::now();
        }
        if pending.len() >= cfg.max_unacked {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let want = cfg.fetch_batch.min(cfg.max_unacked - pending.len());
        let batch = match consumer.fetch(want, Duration::from_millis(500)).await {
            Ok(b) => b,
            Err(e) => {
                if let Some(n) = log.hit() {
                    tracing::warn!(error = %e, failures = n, "cannot fetch from JetStream; retrying");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        // Redelivered messages may be stored already: looked up by event id.
        let maybe: Vec<intake::uuid::Uuid> = batch
            .iter()
            .filter(|d| d.redelivered)
            .filter_map(|d| RawEvent::decode(&d.payload).ok().map(|r| r.id))
            .collect();
        let mut found = HashSet::new();
        if !maybe.is_empty() {
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let ch = cfg.clickhouse.clone();
                let store = lookup.clone();
                let ids = maybe.clone();
                let r = tokio::task::spawn_blocking(move || {
                    let store = match store {
                        Some(s) => s,
                        None => open_store(&ch).map_err(|e| e.to_string())?,
                    };
                    let found = stored_ids(&store, &ids).map_err(|e| e.to_string())?;
                    Ok::<_, String>((store, found))
                })
                .await?;
                match r {
                    Ok((s, f)) => {
                        lookup = Some(s);
                        found = f;
                        break;
                    }
                    Err(e) => {
                        lookup = None;
                        if let Some(n) = log.hit() {
                            tracing::warn!(error = %e, failures = n, "cannot look up redelivered events in ClickHouse; waiting");
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        let mut payloads = Vec::with_capacity(batch.len());
        let mut tokens = Vec::with_capacity(batch.len());
        if !found.is_empty() {
            // Before the append: the pipeline reads them only after it.
            let mut s = stored.lock().unwrap_or_else(|e| e.into_inner());
            for d in &batch {
                if let Ok(r) = RawEvent::decode(&d.payload) {
                    if found.contains(&r.id) {
                        metrics.duplicates.inc();
                        s.insert(r.id);
                    }
                }
            }
        }
        for d in batch {
            payloads.push(d.payload);
            tokens.push(d.token);
        }
        match journal.append(payloads).await {
            Ok(range) => {
                for (offset, token) in range.zip(tokens) {
                    pending.push_back(Pending { offset, token });
                }
            }
            Err(e) => {
                // Not acknowledged: JetStream delivers them again after the ack wait.
                tracing::error!(error = %e, "worker journal append failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    stop_pipeline.store(true, Ordering::Relaxed);
    let result = tokio::task::spawn_blocking(move || pipe.join()).await?;
    ack_committed(&journal, &mut pending, &mut consumer).await;
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(anyhow::anyhow!("worker pipeline stopped: {e}")),
        Err(_) => Err(anyhow::anyhow!("worker pipeline thread died")),
    }
}

/// Acknowledges every pending message the journal checkpoint (the sink's commit) passed.
async fn ack_committed(
    journal: &journal::Journal,
    pending: &mut VecDeque<Pending>,
    consumer: &mut JetStreamConsumer,
) {
    let Some(cp) = journal.checkpoint() else {
        return;
    };
    let mut done = Vec::new();
    while pending.front().is_some_and(|p| p.offset <= cp) {
        if let Some(p) = pending.pop_front() {
            done.push(p.token);
        }
    }
    if !done.is_empty() {
        if let Err(e) = consumer.ack(done).await {
            // The messages come again after the ack wait, and are then found stored.
            tracing::warn!(error = %e, "acknowledgement to JetStream failed");
        }
    }
}
