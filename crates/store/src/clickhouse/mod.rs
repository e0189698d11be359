//! The ClickHouse backend: the same [`EventStore`]/[`EventSearch`] traits over a ClickHouse
//! server, for deployments that outgrow one machine.
//!
//! It talks plain HTTP (the interface every ClickHouse version has, 18.16 included):
//! events go in as `Native` blocks (made from `RowBinary` rows: see [`native`]), rows come
//! out as `JSONEachRow`. The schema is created and migrated by [`ClickHouseStore::open`]
//! (versioned in a `schema_migrations` table; every statement is idempotent). Events go to
//! one `MergeTree` table partitioned by UTC day (see [`row`] for its columns), in granules
//! of [`INDEX_GRANULARITY`] rows; the values of the enumerated fields go to the `enum_values`
//! dictionary, inserted before the rows that hold them; the query language compiles to SQL
//! (see [`sql`]).
//!
//! Exactly once with the journal: `commit` first inserts the buffered events (each carries
//! its journal offset; a full buffer is inserted earlier, by a thread of its own while the
//! next rows are made, and `commit` waits for it), then a row with the last offset into the
//! `commits` table: the
//! committed offset is the largest there. A crash between the two leaves events stored above
//! the committed offset; [`ClickHouseStore::open`] reads their offsets, and `add` skips them
//! when the pipeline replays them. An insert is atomic per partition part, so a crash during
//! it leaves each day's rows of the batch either all stored or not at all, and the offsets
//! tell which. The server finishes an insert whose client was killed: `open` first waits
//! until no insert of this database runs (they carry a `query_id` of their own), then reads.

mod native;
mod row;
pub mod sql;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;

use crate::schema::{ip_display, typed_kind, FieldKind, TIMESTAMP};
use crate::source::{self, VERIFY_EVERY};
use crate::{
    Cursor, Event, EventQuery, EventSearch, EventStore, FieldSum, Retention, SearchPage,
    StoreError, TopSums, TopValues,
};
pub use row::{col_name, columns, insert_columns};

/// Where the ClickHouse server is and how the store uses it.
#[derive(Clone)]
pub struct ClickHouseConfig {
    /// HTTP URL of the server (`http://127.0.0.1:8123`).
    pub url: String,
    /// Database holding the tables (created when missing).
    pub database: String,
    /// User (ClickHouse's `default` when absent).
    pub user: Option<String>,
    /// Password; never logged.
    pub password: Option<String>,
    /// Commit after this many added events…
    pub commit_every_events: usize,
    /// …or this long after the previous commit.
    pub commit_every: Duration,
    /// Retention, enforced by `commit` at most once per `retention_interval`.
    pub retention: Retention,
    /// Shortest time between two retention passes made by `commit`.
    pub retention_interval: Duration,
    /// Longest time one HTTP request may take.
    pub timeout: Duration,
    /// Rows buffered before `add` inserts them (from a thread of its own, while the next
    /// rows are made) without waiting for `commit`; [`MAX_BUFFERED_ROWS`] by default.
    pub insert_every_rows: usize,
}

impl std::fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .finish_non_exhaustive()
    }
}

impl ClickHouseConfig {
    /// A configuration with the defaults for `url`: database `ziaxdr`, no credentials.
    pub fn new(url: impl Into<String>) -> ClickHouseConfig {
        ClickHouseConfig {
            url: url.into(),
            database: DEFAULT_DATABASE.to_string(),
            user: None,
            password: None,
            commit_every_events: 100_000,
            commit_every: Duration::from_secs(5),
            retention: Retention::default(),
            retention_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(300),
            insert_every_rows: MAX_BUFFERED_ROWS,
        }
    }
}

/// The dictionary of the enumerated fields' values (see [`sql::bare`]): a value is inserted
/// before the first rows that hold it, so it is there for every stored row.
const ENUM_VALUES_SQL: &str = "CREATE TABLE IF NOT EXISTS {db}.enum_values (field String, value String) ENGINE = ReplacingMergeTree ORDER BY (field, value)";

/// The database used when none is configured.
pub const DEFAULT_DATABASE: &str = "ziaxdr";
/// Events buffered before `add` inserts them without waiting for `commit` (the committed
/// offset still moves only at `commit`; see the module docs), by default.
pub const MAX_BUFFERED_ROWS: usize = 50_000;
/// The annotation kept out of `source` (written there as `null`): the event's identifier
/// is a string with a column of its own (`c_ziaxdr_event_id`), from which a read puts it
/// back (see [`source::restore_held`]); in `source` too it cost about 6 bytes per event.
const HELD: &str = "ziaxdr.event_id";
/// Most values a top-N may return (as the REST API's limit).
const MAX_TOP_SQL: usize = 100_000;

struct WriteState {
    /// Buffered rows in `RowBinary`, one after the other.
    body: Vec<u8>,
    /// The buffer of the batch sent before (emptied, its capacity kept): the next `body`,
    /// so that a batch's buffer is not grown afresh (see [`native::Scratch`]).
    spare: Vec<u8>,
    /// The offset of each buffered row and where it starts in `body`.
    rows: Vec<(u64, usize)>,
    last_added: Option<u64>,
    checkpoint: Option<u64>,
    /// Offsets above the checkpoint already stored (an earlier process crashed before its
    /// commit row): replays of them are skipped.
    stored_above: HashSet<u64>,
    /// An insert failed: part of the buffer may be stored, checked before the next insert.
    insert_uncertain: bool,
    /// The full buffer being inserted while the next one fills (one at a time).
    inflight: Option<Inflight>,
    pending: usize,
    /// Enumerated values of buffered rows not yet in `enum_values`: inserted before the rows.
    enum_pending: Vec<(usize, String)>,
    last_commit: Instant,
    last_retention: Option<Instant>,
}

/// The ClickHouse event store (see the module docs).
pub struct ClickHouseStore {
    cfg: ClickHouseConfig,
    agent: ureq::Agent,
    auth: Option<String>,
    version: String,
    write: Mutex<WriteState>,
    /// Records added so far (one in [`VERIFY_EVERY`] has its rebuild checked).
    records: AtomicU64,
    /// A stored record did not rebuild its event: events are kept as JSON from then on.
    records_unfaithful: AtomicBool,
    /// The `INSERT` statement of event rows (every column, in `RowBinary` order, sent as a
    /// `Native` block).
    insert_sql: String,
    /// Set by [`ClickHouseStore::discard_uncommitted`]: what the server holds is read again
    /// before the next write.
    resync: AtomicBool,
    /// The values of each enumerated field (by slot of [`row::enum_fields`]) known to be in
    /// the `enum_values` dictionary, or about to be (see [`WriteState::enum_pending`]).
    enums: RwLock<Vec<rustc_hash::FxHashSet<String>>>,
    /// The buffers of the `Native` blocks, kept from one insert to the next (one insert runs
    /// at a time: a flush waits for the one before).
    scratch: Arc<Mutex<native::Scratch>>,
}

/// What an HTTP request to the server needs, apart from the store (a background insert
/// holds one).
struct Sender {
    agent: ureq::Agent,
    url: String,
    auth: Option<String>,
}

impl Sender {
    fn send(
        &self,
        query: Option<&str>,
        body: &[u8],
        query_id: Option<&str>,
    ) -> Result<String, StoreError> {
        let mut req = self.agent.post(&self.url);
        if let Some(q) = query {
            req = req.query("query", q);
        }
        if let Some(id) = query_id {
            req = req.query("query_id", id);
        }
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let mut resp = req.send(body).map_err(|e| {
            StoreError::Backend(format!("clickhouse unreachable at {}: {e}", self.url))
        })?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(ch_err)?;
        if !status.is_success() {
            return Err(StoreError::Backend(format!(
                "ClickHouse answered {status}: {}",
                text.trim()
            )));
        }
        Ok(text)
    }
}

/// A batch being inserted by a thread of its own; the thread hands the batch back when the
/// insert failed, else its buffer, emptied, for the next batch.
type Inflight = std::thread::JoinHandle<Result<Vec<u8>, (StoreError, Batch)>>;

/// Buffered rows: `RowBinary` bytes, and the offset of each row with where it starts.
type Batch = (Vec<u8>, Vec<(u64, usize)>);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn ch_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Reads an integer that ClickHouse may have quoted (64-bit integers are, in JSON).
fn json_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// The schema version this build creates and migrates to.
///
/// 1. One array column per typed field, the other leaves in `kv_keys`/`kv_values`,
///    `ORDER BY (ts, offset)`.
/// 2. A column for every field of the parser's vocabulary ([`crate::schema::PARSER_FIELDS`]),
///    `ORDER BY (entity, dataset, ts, offset)`, codecs per column on servers that have them.
/// 3. No `words` column: bare terms are answered from the columns (it was the event's text a
///    second time, a tenth of the bytes on disk).
/// 4. `words String`: the words of each distinct value of the event (a tenth of the bytes on
///    disk), so that bare terms no longer read every column; made for older rows by the
///    server.
/// 5. `index_granularity` [`INDEX_GRANULARITY`] (a page's rows are read by granule: 8 192 rows
///    of `source` per row wanted cost ten times more), and the enumerated fields' words out of
///    `words`, their values in the `enum_values` dictionary (as the embedded store keeps them
///    out of `_all`): older tables are copied into the new granularity.
pub const SCHEMA_VERSION: u32 = 5;

/// Rows per granule of the events table (ClickHouse's default is 8 192): the server reads
/// whole granules, so a page of 100 scattered events reads `source` for up to 100 granules.
/// Smaller granules cost marks on disk (16 bytes per column file per granule) and a little
/// compression: 1 024 rows cost about 12 bytes per event more than 8 192 here.
pub const INDEX_GRANULARITY: u32 = 1024;

/// First ClickHouse release whose column codecs and `LowCardinality` ziaxdr uses
/// (`CODEC(ZSTD(n))`, `Delta`, `LowCardinality(String)`): both came with 19.x; 20.1 is the
/// oldest release these statements are meant for. Not tested here (Debian has 18.16 only).
const CODECS_SINCE: (u32, u32) = (20, 1);

/// True when the server of version `version` (`SELECT version()`) takes column codecs and
/// `LowCardinality` (see [`CODECS_SINCE`]).
pub fn codecs_supported(version: &str) -> bool {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= CODECS_SINCE,
        _ => false,
    }
}

/// The codec of a column on servers that take codecs: times and offsets grow slowly within
/// a sort key, so their deltas are small. The other columns take the server's
/// `<compression>` section, as on 18.16 (zstd, cheap for new parts and strong for merged
/// ones: see docs/clickhouse.md), which an explicit codec would override.
fn codec(column: &str) -> &'static str {
    match column {
        "ts" | "offset" => " CODEC(Delta, LZ4)",
        _ => "",
    }
}

/// The columns of fields with a few recurring values (see [`crate::schema::ENUM_FIELDS`]),
/// and `dataset`: `LowCardinality` on the servers that have it (a dictionary per part, each
/// value an index into it).
fn low_cardinality(column: &str) -> bool {
    column == "dataset"
        || crate::schema::ENUM_FIELDS
            .iter()
            .any(|f| col_name(f) == column)
}

/// The type and codec of a column as created on a server where `newer` (see
/// [`codecs_supported`]) tells whether codecs and `LowCardinality` are there.
fn column_spec(name: &str, base: &str, newer: bool) -> String {
    if !newer {
        return base.to_string();
    }
    let ty = match base {
        _ if !low_cardinality(name) => base.to_string(),
        "String" => "LowCardinality(String)".to_string(),
        "Array(String)" => "Array(LowCardinality(String))".to_string(),
        _ => base.to_string(),
    };
    // A dictionary-encoded column is compressed as it is.
    let codec = if ty.contains("LowCardinality") {
        ""
    } else {
        codec(name)
    };
    format!("{ty}{codec}")
}

/// `CREATE TABLE` of the current events table as `table` (`{db}` is the database).
fn create_events_sql(table: &str, newer: bool) -> String {
    let cols: Vec<String> = insert_columns()
        .iter()
        .map(|(n, t)| format!("{n} {}", column_spec(n, t, newer)))
        .collect();
    // Sorted by entity and dataset, then time: a tenant's or a feed's events are together,
    // and within them time ranges skip granules through the primary index; every page is
    // found by its (time, offset) first (see `search`), which reads two small columns.
    format!(
        "CREATE TABLE IF NOT EXISTS {{db}}.{table} (\n    {}\n) ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (entity, dataset, ts, offset) SETTINGS index_granularity = {INDEX_GRANULARITY}",
        cols.join(",\n    ")
    )
}

/// The expression of each current column from a version 1 table with `old` columns (`None`
/// when the column stays empty): the fields that now have a column of their own leave the
/// key/value arrays.
fn from_v1(column: &str, old: &HashSet<String>) -> Option<String> {
    let kv = old.contains("kv_keys") && old.contains("kv_values");
    let moved: Vec<String> = columns()
        .iter()
        .filter(|(_, k)| k.is_none())
        .map(|(n, _)| sql::lit(n))
        .collect();
    let moved = format!("[{}]", moved.join(", "));
    let of_kv = |field: &str| {
        format!(
            "arrayFilter((v, k) -> k = {}, kv_values, kv_keys)",
            sql::lit(field)
        )
    };
    match column {
        // Version 1's words were text; version 4's are made after the copy.
        "words" => None,
        "entity" if kv => Some(format!("arrayElement({}, 1)", of_kv(row::ENTITY_FIELD))),
        "dataset" if old.contains("c_event_dataset") => {
            Some("arrayElement(c_event_dataset, 1)".into())
        }
        "kv_keys" if kv => Some(format!("arrayFilter(k -> NOT has({moved}, k), kv_keys)")),
        "kv_values" if kv => Some(format!(
            "arrayFilter((v, k) -> NOT has({moved}, k), kv_values, kv_keys)"
        )),
        c if old.contains(c) => Some(c.to_string()),
        c => columns()
            .iter()
            .find(|(n, k)| k.is_none() && col_name(n) == c)
            .filter(|_| kv)
            .map(|(n, _)| of_kv(n)),
    }
}

impl ClickHouseStore {
    /// Connects, creates or migrates the schema, and reads the committed offset.
    pub fn open(cfg: ClickHouseConfig) -> Result<ClickHouseStore, StoreError> {
        if cfg.database.is_empty()
            || !cfg
                .database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::Unsupported(format!(
                "invalid ClickHouse database name {:?}: letters, digits and '_' only",
                cfg.database
            )));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let auth = cfg.user.as_ref().map(|u| {
            use base64::Engine as _;
            let pair = format!("{u}:{}", cfg.password.as_deref().unwrap_or(""));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        let mut store = ClickHouseStore {
            cfg,
            agent,
            auth,
            version: String::new(),
            write: Mutex::new(WriteState {
                body: Vec::new(),
                spare: Vec::new(),
                rows: Vec::new(),
                last_added: None,
                checkpoint: None,
                stored_above: HashSet::new(),
                insert_uncertain: false,
                inflight: None,
                pending: 0,
                enum_pending: Vec::new(),
                last_commit: Instant::now(),
                last_retention: None,
            }),
            records: AtomicU64::new(0),
            records_unfaithful: AtomicBool::new(false),
            insert_sql: String::new(),
            resync: AtomicBool::new(false),
            enums: RwLock::new(vec![Default::default(); row::enum_fields().len()]),
            scratch: Arc::default(),
        };
        store.version = store.query("SELECT version()")?.trim().to_string();
        let names: Vec<&str> = insert_columns().iter().map(|(n, _)| n.as_str()).collect();
        store.insert_sql = format!(
            "INSERT INTO {} ({}) FORMAT Native",
            store.table("events"),
            names.join(", ")
        );
        store.migrate()?;
        {
            let mut known = store.enums.write().unwrap_or_else(|e| e.into_inner());
            for (f, v) in store.enum_values()? {
                if let Some(slot) = row::enum_slot_of(&f) {
                    known[slot].insert(v);
                }
            }
        }
        {
            let mut st = lock(&store.write);
            store.sync_locked(&mut st)?;
        }
        Ok(store)
    }

    /// Reads what the server holds: the committed offset, and the offsets stored above it
    /// (an insert whose commit row never came), once no insert of this database still runs.
    fn sync_locked(&self, st: &mut WriteState) -> Result<(), StoreError> {
        self.wait_for_inserts()?;
        let checkpoint = self.read_checkpoint()?;
        let stored_above = self.offsets_from(checkpoint.map_or(0, |c| c + 1))?;
        st.checkpoint = checkpoint;
        st.last_added = checkpoint;
        st.stored_above = stored_above;
        st.insert_uncertain = false;
        Ok(())
    }

    /// After a failed insert or commit (the server unreachable, a timeout): forgets the
    /// events added since the last commit, so that the pipeline can add them again from the
    /// journal. Needs no server: before the next write the store reads again what reached
    /// the server (see [`ClickHouseStore::open`]), so that none is stored twice.
    pub fn discard_uncommitted(&self) {
        let mut st = lock(&self.write);
        st.rows.clear();
        st.body.clear();
        st.pending = 0;
        st.last_added = st.checkpoint;
        self.resync.store(true, Ordering::SeqCst);
    }

    /// Reads the server's state again if [`ClickHouseStore::discard_uncommitted`] asked for it.
    fn ensure_synced(&self) -> Result<(), StoreError> {
        if !self.resync.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut st = lock(&self.write);
        if self.resync.load(Ordering::SeqCst) {
            // A background insert still running would land after the server is read.
            if let Some(h) = st.inflight.take() {
                let _ = h.join();
            }
            self.sync_locked(&mut st)?;
            self.resync.store(false, Ordering::SeqCst);
        }
        Ok(())
    }

    /// The server's version (`SELECT version()`).
    pub fn server_version(&self) -> &str {
        &self.version
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.cfg.database
    }

    fn table(&self, name: &str) -> String {
        format!("{}.{name}", self.cfg.database)
    }

    fn request(&self, query: Option<&str>, body: &str) -> Result<String, StoreError> {
        self.request_as(query, body.as_bytes(), None)
    }

    fn request_as(
        &self,
        query: Option<&str>,
        body: &[u8],
        query_id: Option<&str>,
    ) -> Result<String, StoreError> {
        self.sender().send(query, body, query_id)
    }

    fn sender(&self) -> Sender {
        Sender {
            agent: self.agent.clone(),
            url: self.cfg.url.clone(),
            auth: self.auth.clone(),
        }
    }

    /// Runs one statement and returns the response text.
    fn query(&self, sql: &str) -> Result<String, StoreError> {
        tracing::trace!(sql, "clickhouse query");
        self.request(None, sql)
    }

    /// Runs a `SELECT` and returns its rows (`FORMAT JSONEachRow` is appended).
    fn rows(&self, sql: &str) -> Result<Vec<serde_json::Map<String, Value>>, StoreError> {
        let text = self.query(&format!("{sql} FORMAT JSONEachRow"))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .map_err(|e| StoreError::Corrupt(format!("ClickHouse row {l:?}: {e}")))
            })
            .collect()
    }

    fn insert(&self, table: &str, body: &str) -> Result<(), StoreError> {
        let q = format!("INSERT INTO {} FORMAT JSONEachRow", self.table(table));
        self.request(Some(&q), body).map(|_| ())
    }

    /// The `query_id` prefix of this database's event inserts.
    fn insert_id_prefix(&self) -> String {
        format!("ziaxdr-insert-{}-", self.cfg.database)
    }

    /// Waits until the server runs no event insert of this database: one sent by a process
    /// that was killed goes on after its death, and its rows must be counted before the
    /// offsets above the checkpoint are read.
    fn wait_for_inserts(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        let sql = format!(
            "SELECT count() AS n FROM system.processes WHERE substring(query_id, 1, {}) = {}",
            self.insert_id_prefix().len(),
            sql::lit(&self.insert_id_prefix())
        );
        loop {
            let n = self
                .rows(&sql)?
                .first()
                .and_then(|r| r.get("n"))
                .and_then(json_u64)
                .unwrap_or(0);
            if n == 0 {
                return Ok(());
            }
            if started.elapsed() > self.cfg.timeout {
                return Err(StoreError::Backend(format!(
                    "an earlier insert into {} is still running after {:?}",
                    self.table("events"),
                    self.cfg.timeout
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The tables of the database, and the columns of its `events` table.
    fn tables(&self) -> Result<(HashSet<String>, HashSet<String>), StoreError> {
        let db = sql::lit(&self.cfg.database);
        let tables = self
            .rows(&format!(
                "SELECT name FROM system.tables WHERE database = {db}"
            ))?
            .iter()
            .filter_map(|r| r.get("name")?.as_str().map(str::to_string))
            .collect();
        let cols = self
            .rows(&format!(
                "SELECT name FROM system.columns WHERE database = {db} AND table = 'events'"
            ))?
            .iter()
            .filter_map(|r| r.get("name")?.as_str().map(str::to_string))
            .collect();
        Ok((tables, cols))
    }

    /// Creates the schema, or migrates an older one to [`SCHEMA_VERSION`]. Every step can run
    /// again after a crash: a version 1 table is copied into `events_v2`, then the two are
    /// swapped by name (the old one kept as `events_v1` until the copy is in place), and the
    /// version is recorded last. Other writers must be stopped during a migration (their
    /// inserts between the copy and the swap would be lost).
    fn migrate(&self) -> Result<(), StoreError> {
        let db = &self.cfg.database;
        self.query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))?;
        self.query(&format!(
            "CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, applied DateTime('UTC')) ENGINE = TinyLog"
        ))?;
        let done = self
            .rows(&format!(
                "SELECT max(version) AS v FROM {db}.schema_migrations"
            ))?
            .first()
            .and_then(|r| r.get("v").and_then(json_u64))
            .unwrap_or(0);
        if done >= u64::from(SCHEMA_VERSION) {
            return self.add_missing_columns();
        }
        let newer = codecs_supported(&self.version);
        let run = |s: String| self.query(&s.replace("{db}", db)).map(|_| ());
        run("CREATE TABLE IF NOT EXISTS {db}.commits (offset UInt64, at DateTime('UTC')) ENGINE = MergeTree ORDER BY offset".into())?;
        run(ENUM_VALUES_SQL.into())?;
        let (tables, cols) = self.tables()?;
        let has = |t: &str| tables.contains(t);
        if has("events_v1") && !has("events") && has("events_v2") {
            // A swap stopped halfway: the copy is complete, put it in place.
            run("RENAME TABLE {db}.events_v2 TO {db}.events".into())?;
        } else if has("events") && !cols.contains("entity") {
            // A version 1 table: copy it into the new shape, then swap.
            run("DROP TABLE IF EXISTS {db}.events_v2".into())?;
            run(create_events_sql("events_v2", newer))?;
            // Added back, and filled from the moved columns, below (as for version 3).
            run("ALTER TABLE {db}.events_v2 DROP COLUMN words".into())?;
            let (names, exprs): (Vec<String>, Vec<String>) = insert_columns()
                .iter()
                .filter_map(|(n, _)| Some((n.clone(), from_v1(n, &cols)?)))
                .unzip();
            run(format!(
                "INSERT INTO {{db}}.events_v2 ({}) SELECT {} FROM {{db}}.events",
                names.join(", "),
                exprs.join(", ")
            ))?;
            run("DROP TABLE IF EXISTS {db}.events_v1".into())?;
            run(
                "RENAME TABLE {db}.events TO {db}.events_v1, {db}.events_v2 TO {db}.events".into(),
            )?;
            tracing::info!(database = %db, "ClickHouse events copied into the current schema");
        } else if has("events") && done == 2 && cols.contains("words") {
            // A version 2 table: the same sort key; its words (the event's text a second
            // time) go, in place, and come back as version 4's below.
            run("ALTER TABLE {db}.events DROP COLUMN words".into())?;
            tracing::info!(database = %db, "ClickHouse events: the version 2 words column dropped");
        } else if !has("events") {
            run(create_events_sql("events", newer))?;
        }
        run("DROP TABLE IF EXISTS {db}.events_v1".into())?;
        // A table of another granularity (before version 5) is copied into this one, below.
        let copy = self
            .events_granularity()?
            .is_some_and(|g| g != INDEX_GRANULARITY);
        let added = !self.tables()?.1.contains("words");
        if added || done == 3 {
            // Versions 1 to 3 (or a migration from 3 stopped halfway): the words of the
            // stored rows are made by the server from their columns, first on every read
            // (the column's default), then once for good by a mutation that runs in the
            // background, or by the copy.
            let expr = sql::words_from_columns();
            if added {
                run(format!(
                    "ALTER TABLE {{db}}.events ADD COLUMN words String DEFAULT {expr}"
                ))?;
            }
            if !copy {
                run(format!(
                    "ALTER TABLE {{db}}.events UPDATE words = {expr} WHERE 1"
                ))?;
            }
            tracing::info!(database = %db, "ClickHouse events: the words column added, being filled");
        }
        self.add_missing_columns()?;
        if copy {
            // Copied into `events_v2`, swapped by name (the old table kept as `events_v1`
            // until the copy is in place: see above for a swap stopped halfway), dropped.
            let names: Vec<&str> = insert_columns().iter().map(|(n, _)| n.as_str()).collect();
            let names = names.join(", ");
            run("DROP TABLE IF EXISTS {db}.events_v2".into())?;
            run(create_events_sql("events_v2", newer))?;
            run(format!(
                "INSERT INTO {{db}}.events_v2 ({names}) SELECT {names} FROM {{db}}.events"
            ))?;
            run(
                "RENAME TABLE {db}.events TO {db}.events_v1, {db}.events_v2 TO {db}.events".into(),
            )?;
            run("DROP TABLE IF EXISTS {db}.events_v1".into())?;
            tracing::info!(database = %db, granularity = INDEX_GRANULARITY, "ClickHouse events copied into the current granularity");
        }
        // The values of the enumerated fields of the stored rows (the rows of versions
        // before 5 still have their words in `words` too, which answers the same events).
        for field in row::enum_fields() {
            run(format!(
                "INSERT INTO {{db}}.enum_values (field, value) SELECT {}, v FROM {{db}}.events ARRAY JOIN {} AS v GROUP BY v",
                sql::lit(field),
                col_name(field)
            ))?;
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.insert(
            "schema_migrations",
            &format!("{{\"version\":{SCHEMA_VERSION},\"applied\":{now}}}\n"),
        )?;
        tracing::info!(database = %db, version = SCHEMA_VERSION, codecs = newer, "ClickHouse schema migrated");
        Ok(())
    }

    /// The `index_granularity` of the events table when it is a `MergeTree` (a `Distributed`
    /// table over shards is the operator's to migrate: see docs/clickhouse.md).
    fn events_granularity(&self) -> Result<Option<u32>, StoreError> {
        let rows = self.rows(&format!(
            "SELECT engine, engine_full FROM system.tables WHERE database = {} AND name = 'events'",
            sql::lit(&self.cfg.database)
        ))?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        if r.get("engine").and_then(Value::as_str) != Some("MergeTree") {
            return Ok(None);
        }
        let full = r.get("engine_full").and_then(Value::as_str).unwrap_or("");
        // No setting: the server's default.
        Ok(Some(
            full.split("index_granularity = ")
                .nth(1)
                .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(8192),
        ))
    }

    /// Every `(field, value)` of the `enum_values` dictionary.
    fn enum_values(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .rows(&format!(
                "SELECT field AS f, value AS v FROM {} GROUP BY field, value",
                self.table("enum_values")
            ))?
            .iter()
            .filter_map(|r| {
                Some((
                    r.get("f")?.as_str()?.to_string(),
                    r.get("v")?.as_str()?.to_string(),
                ))
            })
            .collect())
    }

    /// Adds the columns of fields the parser learnt since the table was made: the
    /// vocabulary grows with new ZIA fields within one schema version, and a column is
    /// added empty (old rows read as an empty array), which needs no copy.
    fn add_missing_columns(&self) -> Result<(), StoreError> {
        let (_, cols) = self.tables()?;
        let newer = codecs_supported(&self.version);
        for (name, kind) in insert_columns() {
            if cols.contains(name) {
                continue;
            }
            self.query(&format!(
                "ALTER TABLE {} ADD COLUMN {name} {}",
                self.table("events"),
                column_spec(name, kind, newer)
            ))?;
            tracing::info!(column = %name, "ClickHouse events column added");
        }
        Ok(())
    }

    fn read_checkpoint(&self) -> Result<Option<u64>, StoreError> {
        let r = self.rows(&format!(
            "SELECT count() AS n, max(offset) AS m FROM {}",
            self.table("commits")
        ))?;
        let row = r.first();
        let n = row.and_then(|r| r.get("n")).and_then(json_u64).unwrap_or(0);
        Ok(if n == 0 {
            None
        } else {
            row.and_then(|r| r.get("m")).and_then(json_u64)
        })
    }

    fn offsets_from(&self, from: u64) -> Result<HashSet<u64>, StoreError> {
        Ok(self
            .rows(&format!(
                "SELECT offset FROM {} WHERE offset >= {from}",
                self.table("events")
            ))?
            .iter()
            .filter_map(|r| r.get("offset").and_then(json_u64))
            .collect())
    }

    /// Waits for the background insert; when it failed, its rows go back in front of the
    /// buffer, checked against what reached the server before they are sent again.
    fn join_inflight(&self, st: &mut WriteState) -> Result<(), StoreError> {
        let Some(h) = st.inflight.take() else {
            return Ok(());
        };
        let (e, (mut body, mut rows)) = match h.join() {
            Ok(Ok(spare)) => {
                st.spare = spare;
                return Ok(());
            }
            Ok(Err(failed)) => failed,
            Err(_) => {
                return Err(StoreError::Backend(
                    "the ClickHouse insert thread panicked".into(),
                ))
            }
        };
        let shift = body.len();
        body.extend_from_slice(&st.body);
        rows.extend(st.rows.iter().map(|&(o, start)| (o, start + shift)));
        st.body = body;
        st.rows = rows;
        st.insert_uncertain = true;
        Err(e)
    }

    /// Sends the buffered rows (after dropping those a failed insert may have stored); with
    /// `background`, from a thread of its own, so that the next rows are made meanwhile.
    fn flush(&self, st: &mut WriteState) -> Result<(), StoreError> {
        self.flush_as(st, false)
    }

    fn flush_as(&self, st: &mut WriteState, background: bool) -> Result<(), StoreError> {
        self.join_inflight(st)?;
        if st.rows.is_empty() {
            return Ok(());
        }
        if st.insert_uncertain {
            let first = st.rows[0].0;
            let stored = self.offsets_from(first)?;
            let mut body = Vec::with_capacity(st.body.len());
            let mut rows = Vec::with_capacity(st.rows.len());
            for (i, &(o, start)) in st.rows.iter().enumerate() {
                let end = st.rows.get(i + 1).map_or(st.body.len(), |r| r.1);
                if !stored.contains(&o) {
                    rows.push((o, body.len()));
                    body.extend_from_slice(&st.body[start..end]);
                }
            }
            st.body = body;
            st.rows = rows;
            st.insert_uncertain = false;
            if st.rows.is_empty() {
                return Ok(());
            }
        }
        if !st.enum_pending.is_empty() {
            // Before the rows that hold them, so that the dictionary has every stored value.
            let mut body = String::new();
            for (slot, v) in &st.enum_pending {
                let line = serde_json::json!({"field": row::enum_fields()[*slot], "value": v});
                body.push_str(&line.to_string());
                body.push('\n');
            }
            self.insert("enum_values", &body)?;
            st.enum_pending.clear();
        }
        let id = format!("{}{}", self.insert_id_prefix(), st.rows[0].0);
        if background {
            let next = std::mem::take(&mut st.spare);
            let batch = (
                std::mem::replace(&mut st.body, next),
                std::mem::take(&mut st.rows),
            );
            let (sender, sql) = (self.sender(), self.insert_sql.clone());
            let scratch = Arc::clone(&self.scratch);
            // Named, so that profiles and per-thread CPU tell the insert from the writer.
            let spawned = std::thread::Builder::new()
                .name("clickhouse-insert".into())
                .spawn(move || {
                    let starts: Vec<usize> = batch.1.iter().map(|r| r.1).collect();
                    let mut scratch = lock(&scratch);
                    let sent = native::block_into(&mut scratch, &batch.0, &starts)
                        .and_then(|block| sender.send(Some(&sql), block, Some(&id)));
                    match sent {
                        Ok(_) => {
                            let mut body = batch.0;
                            body.clear();
                            Ok(body)
                        }
                        Err(e) => Err((e, batch)),
                    }
                });
            match spawned {
                Ok(h) => st.inflight = Some(h),
                Err(e) => {
                    // The batch went with the closure: forget every uncommitted row, as
                    // `discard_uncommitted` does, so that they come again from the journal.
                    st.pending = 0;
                    st.last_added = st.checkpoint;
                    self.resync.store(true, Ordering::SeqCst);
                    return Err(StoreError::Backend(format!("no insert thread: {e}")));
                }
            }
            return Ok(());
        }
        let starts: Vec<usize> = st.rows.iter().map(|r| r.1).collect();
        let mut scratch = lock(&self.scratch);
        let sent = native::block_into(&mut scratch, &st.body, &starts)
            .and_then(|block| self.request_as(Some(&self.insert_sql), block, Some(&id)));
        drop(scratch);
        if let Err(e) = sent {
            st.insert_uncertain = true;
            return Err(e);
        }
        st.rows.clear();
        st.body.clear();
        Ok(())
    }

    /// Buffers one row (`RowBinary`) and inserts the buffer once it is full.
    fn push_row(&self, offset: u64, row: EventRow) -> Result<bool, StoreError> {
        let mut st = lock(&self.write);
        if !row.new_enums.is_empty() {
            let mut known = self.enums.write().unwrap_or_else(|e| e.into_inner());
            for (slot, v) in row.new_enums {
                if known[slot].insert(v.clone()) {
                    st.enum_pending.push((slot, v));
                }
            }
        }
        let start = st.body.len();
        st.body.extend_from_slice(&row.bytes);
        st.rows.push((offset, start));
        st.last_added = Some(offset);
        st.pending += 1;
        if st.rows.len() >= self.cfg.insert_every_rows.max(1) {
            self.flush_as(&mut st, true)?;
        }
        Ok(true)
    }

    /// True when `offset` is stored already (a replay); the next commit then covers it.
    fn already_stored(&self, offset: u64) -> bool {
        let mut st = lock(&self.write);
        let stored =
            st.checkpoint.is_some_and(|c| offset <= c) || st.stored_above.contains(&offset);
        if stored && st.last_added.is_none_or(|l| l < offset) {
            st.last_added = Some(offset);
        }
        stored
    }

    /// The time range condition of a query.
    fn range_sql(q: &EventQuery) -> String {
        let from = q.range.from.unix_timestamp().clamp(0, row::MAX_TS);
        let to = q.range.to.unix_timestamp().clamp(0, row::MAX_TS + 1);
        format!("ts >= toDateTime({from}) AND toUInt32(ts) < {to}")
    }

    /// `events [PREWHERE …] WHERE …` of a query, with `extra` (`AND …`) appended to its
    /// condition: the bare terms' condition over `words` first (see [`sql::prefilter`]),
    /// so that the other columns are read only for the events that pass it.
    fn source_sql(&self, q: &EventQuery, extra: &str) -> Result<String, StoreError> {
        let enums = self.enums_of(q)?;
        self.source_sql_with(q, extra, &enums)
    }

    /// The enumerated values a query's bare terms need (none without bare terms), read for
    /// every such query: other writers may have added values.
    fn enums_of(&self, q: &EventQuery) -> Result<Vec<(String, String)>, StoreError> {
        if sql::has_bare(&q.query) {
            self.enum_values()
        } else {
            Ok(Vec::new())
        }
    }

    /// [`ClickHouseStore::source_sql`] with the enumerated values read already.
    fn source_sql_with(
        &self,
        q: &EventQuery,
        extra: &str,
        enums: &sql::EnumValues,
    ) -> Result<String, StoreError> {
        let cond = sql::compile(&q.query, enums)?;
        let pre = match sql::prefilter(&q.query, enums)? {
            Some(p) => format!(" PREWHERE {p}"),
            None => String::new(),
        };
        Ok(format!(
            "{}{pre} WHERE {} AND ({cond}){extra}",
            self.table("events"),
            Self::range_sql(q),
        ))
    }

    /// The days (partitions) with their bytes on disk, oldest first.
    pub fn partitions(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = self.rows(&format!(
            "SELECT partition_id AS p, sum(bytes_on_disk) AS b FROM system.parts WHERE database = {} AND table = 'events' AND active GROUP BY partition_id ORDER BY partition_id",
            sql::lit(&self.cfg.database)
        ))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let p = r.get("p")?.as_str()?;
                let day = if p.len() == 8 {
                    format!("{}-{}-{}", &p[..4], &p[4..6], &p[6..])
                } else {
                    p.to_string()
                };
                Some((day, r.get("b").and_then(json_u64).unwrap_or(0)))
            })
            .collect())
    }

    /// The lower bounds (seconds) of the windows in which a page's rows are looked for,
    /// newest first: the newest day with a partition in `[from, to)`, then the next 2 days,
    /// then 4, and so on; the last window is open (`None`), so that the windows cover all
    /// time whatever partitions appear meanwhile. One open window when the table has no
    /// partitions of its own (a `Distributed` table) or one day only.
    fn page_windows(&self, from: i64, to: i64) -> Result<Vec<Option<i64>>, StoreError> {
        let mut days: Vec<i64> = self
            .partitions()?
            .iter()
            .filter_map(|(d, _)| day_start(d))
            .filter(|&start| start < to && start + 86_400 > from)
            .collect();
        days.sort_unstable_by(|a, b| b.cmp(a));
        let mut windows = Vec::new();
        let (mut end, mut size) = (0, 1);
        while end < days.len() {
            end += size;
            size *= 2;
            windows.push(days.get(end - 1).copied().filter(|_| end < days.len()));
        }
        if windows.last() != Some(&None) {
            windows.push(None);
        }
        Ok(windows)
    }

    /// Bytes on disk of the events table (compressed, every active part).
    pub fn disk_bytes(&self) -> Result<u64, StoreError> {
        Ok(self.partitions()?.iter().map(|(_, b)| b).sum())
    }

    /// Drops the partitions (whole days) outside the retention; returns their days.
    pub fn apply_retention(&self, now: OffsetDateTime) -> Result<Vec<String>, StoreError> {
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
        let parts = self.partitions()?;
        let mut drop: Vec<String> = Vec::new();
        if let Some(days) = r.max_age_days {
            let oldest = now.date() - time::Duration::days(i64::from(days));
            let oldest = format!(
                "{:04}-{:02}-{:02}",
                oldest.year(),
                u8::from(oldest.month()),
                oldest.day()
            );
            drop.extend(
                parts
                    .iter()
                    .filter(|(d, _)| d.as_str() < oldest.as_str())
                    .map(|(d, _)| d.clone()),
            );
        }
        if let Some(max) = r.max_total_bytes {
            let mut total = 0u64;
            // Newest first; the newest day is always kept.
            for (i, (d, b)) in parts.iter().rev().enumerate() {
                total += b;
                if i > 0 && total > max && !drop.contains(d) {
                    drop.push(d.clone());
                }
            }
        }
        drop.sort();
        for d in &drop {
            self.query(&format!(
                "ALTER TABLE {} DROP PARTITION ID {}",
                self.table("events"),
                sql::lit(&d.replace('-', ""))
            ))?;
        }
        Ok(drop)
    }

    /// The SQL expression of a field's values as an array of strings, for top-N and
    /// distinct count; typed columns and every other leaf alike.
    fn values_expr(field: &str) -> Result<(String, Option<FieldKind>), StoreError> {
        if field == TIMESTAMP {
            return Ok((
                "[toString(toUInt32(ts))]".to_string(),
                Some(FieldKind::Date),
            ));
        }
        match typed_kind(field) {
            Some(FieldKind::Text) => Err(StoreError::NotAggregatable {
                field: field.to_string(),
                allowed: "any field but the text fields (message, error.message, event.original)"
                    .to_string(),
            }),
            Some(kind) => Ok((
                format!("arrayMap(x -> toString(x), {})", col_name(field)),
                Some(kind),
            )),
            None => Ok((
                row::generic_column(field).unwrap_or_else(|| {
                    format!(
                        "arrayFilter((v, k) -> k = {}, kv_values, kv_keys)",
                        sql::lit(field)
                    )
                }),
                None,
            )),
        }
    }
}

/// Midnight UTC (seconds) of a partition's day (`YYYY-MM-DD`, see
/// [`ClickHouseStore::partitions`]).
fn day_start(day: &str) -> Option<i64> {
    let mut it = day.split('-').map(|p| p.parse::<i32>().ok());
    let (y, m, d) = (it.next()??, it.next()??, it.next()??);
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    let date = time::Date::from_calendar_date(y, month, u8::try_from(d).ok()?).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

/// A value of an aggregated column as shown to users.
fn display_value(kind: Option<FieldKind>, v: &str) -> String {
    match kind {
        Some(FieldKind::Ip) => row::ip_from_hex(v)
            .map(ip_display)
            .unwrap_or_else(|| v.to_string()),
        Some(FieldKind::Date) => v
            .parse::<i64>()
            .ok()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .map(crate::timerange::format_instant)
            .unwrap_or_else(|| v.to_string()),
        _ => v.to_string(),
    }
}

/// The time of an event: `@timestamp`, else `event.ingested`, else now (as the embedded store).
fn event_time(event: &Event) -> i64 {
    let get = |p: &str| crate::api::get_path(event, p).and_then(Value::as_str);
    get(TIMESTAMP)
        .and_then(crate::schema::parse_date)
        .or_else(|| get("event.ingested").and_then(crate::schema::parse_date))
        .map(|d| d.into_timestamp_secs())
        .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp())
}

fn parsed_time(event: &zia::Event) -> i64 {
    event
        .get_str(TIMESTAMP)
        .and_then(crate::schema::parse_date)
        .or_else(|| {
            event
                .get_str("event.ingested")
                .and_then(crate::schema::parse_date)
        })
        .map(|d| d.into_timestamp_secs())
        .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp())
}

/// A row made ready away from the writing thread (on the pipeline's parse threads, see
/// [`ClickHouseStore::prepare_parsed`]), added by [`ClickHouseStore::add_prepared`].
pub struct PreparedRow {
    offset: u64,
    row: EventRow,
}

/// One event's row in `RowBinary`, with the values of its enumerated fields that were not
/// in the dictionary when it was made.
struct EventRow {
    bytes: Vec<u8>,
    new_enums: Vec<(usize, String)>,
}

impl ClickHouseStore {
    /// The `RowBinary` row of a parsed event, stored as its record (see [`crate::source`]);
    /// `None` when this event's rebuild is to be checked (every event in debug builds, one
    /// in [`VERIFY_EVERY`] otherwise) or records are no longer kept: the writer then adds it
    /// with [`EventStore::add_parsed`]. Takes no lock: the pipeline runs it on its parse
    /// threads, in parallel.
    pub fn prepare_parsed(
        &self,
        offset: u64,
        event: &zia::Event,
        raw: &str,
    ) -> Result<Option<PreparedRow>, StoreError> {
        if cfg!(debug_assertions)
            || offset % VERIFY_EVERY == 1
            || self.records_unfaithful.load(Ordering::Relaxed)
        {
            return Ok(None);
        }
        let src = source::encode_parsed_holding(raw, event, HELD)?;
        Ok(Some(PreparedRow {
            offset,
            row: self.parsed_row(offset, event, &src),
        }))
    }

    /// Adds a row of [`ClickHouseStore::prepare_parsed`] (false: that offset is stored already).
    pub fn add_prepared(&self, row: PreparedRow) -> Result<bool, StoreError> {
        self.ensure_synced()?;
        if self.already_stored(row.offset) {
            return Ok(false);
        }
        self.push_row(row.offset, row.row)
    }

    /// The values of the enumerated fields known to the dictionary (read by the parse
    /// threads: a value is rarely new).
    fn known_enums(&self) -> std::sync::RwLockReadGuard<'_, Vec<rustc_hash::FxHashSet<String>>> {
        self.enums.read().unwrap_or_else(|e| e.into_inner())
    }

    fn parsed_row(&self, offset: u64, event: &zia::Event, src: &[u8]) -> EventRow {
        let failed = event.is_error();
        let mut r = row::Row::new(failed);
        let mut path = String::new();
        event.for_each_leaf_unordered(|p, v| {
            path.clear();
            path.push_str(p);
            r.add_value(&mut path, v, 1);
        });
        // A failed event has its record as a field already, searchable as text.
        if !failed {
            r.mark_raw("event.original");
        }
        let mut out = Vec::with_capacity(src.len() * 2 + 512);
        r.write_binary(&mut out, parsed_time(event), offset, src);
        EventRow {
            bytes: out,
            new_enums: r.new_enum_values(&self.known_enums()),
        }
    }

    /// Adds an event that came from `raw`, stored as that record unless records are no
    /// longer kept or `check` (always in debug builds) finds the rebuild unfaithful: then as
    /// JSON, from then on.
    fn add_record_checked(
        &self,
        offset: u64,
        event: &Event,
        raw: &str,
        check: bool,
    ) -> Result<bool, StoreError> {
        self.ensure_synced()?;
        if self.already_stored(offset) {
            return Ok(false);
        }
        let check = check || cfg!(debug_assertions);
        let rec = if self.records_unfaithful.load(Ordering::Relaxed) {
            None
        } else {
            Some(source::encode_record_holding(raw, event, HELD)?)
        };
        let src = match rec {
            Some(rec) if !check || source::faithful_holding(&rec, event, HELD) => rec,
            _ => {
                if !self.records_unfaithful.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        offset,
                        "a stored record does not rebuild its event: keeping events as JSON"
                    );
                }
                source::encode_json(event)?
            }
        };
        self.push_row(offset, self.json_row(offset, event, &src))
    }

    fn json_row(&self, offset: u64, event: &Event, src: &[u8]) -> EventRow {
        let mut r = row::Row::new(zia::is_error_event(event));
        r.add_object(event);
        let mut out = Vec::with_capacity(src.len() * 2 + 512);
        r.write_binary(&mut out, event_time(event), offset, src);
        EventRow {
            bytes: out,
            new_enums: r.new_enum_values(&self.known_enums()),
        }
    }
}

impl EventStore for ClickHouseStore {
    fn add(&self, offset: u64, event: &Event) -> Result<bool, StoreError> {
        self.ensure_synced()?;
        if self.already_stored(offset) {
            return Ok(false);
        }
        let src = source::encode_json(event)?;
        self.push_row(offset, self.json_row(offset, event, &src))
    }

    fn add_record(&self, offset: u64, event: &Event, raw: &str) -> Result<bool, StoreError> {
        let n = self.records.fetch_add(1, Ordering::Relaxed) + 1;
        self.add_record_checked(offset, event, raw, n % VERIFY_EVERY == 1)
    }

    fn add_parsed(&self, offset: u64, event: &zia::Event, raw: &str) -> Result<bool, StoreError> {
        // The checked path (through the JSON event, as `add_record`) for the events
        // `prepare_parsed` leaves out; the others as it prepares them.
        match self.prepare_parsed(offset, event, raw)? {
            None => self.add_record_checked(offset, &source::with_original(event, raw), raw, true),
            Some(row) => self.add_prepared(row),
        }
    }

    fn commit(&self) -> Result<Option<u64>, StoreError> {
        self.ensure_synced()?;
        let mut st = lock(&self.write);
        self.flush(&mut st)?;
        let off = st.last_added;
        if off != st.checkpoint {
            if let Some(o) = off {
                let now = OffsetDateTime::now_utc().unix_timestamp();
                self.insert("commits", &format!("{{\"offset\":{o},\"at\":{now}}}\n"))?;
            }
            st.checkpoint = off;
            st.stored_above.clear();
        }
        st.pending = 0;
        st.last_commit = Instant::now();
        let retention_due = self.cfg.retention.is_enabled()
            && st
                .last_retention
                .is_none_or(|t| t.elapsed() >= self.cfg.retention_interval);
        if retention_due {
            match self.retention_locked(&mut st, OffsetDateTime::now_utc()) {
                Ok(deleted) if !deleted.is_empty() => {
                    tracing::info!(partitions = ?deleted, "retention dropped old partitions");
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

impl EventSearch for ClickHouseStore {
    fn search(
        &self,
        q: &EventQuery,
        limit: usize,
        after: Option<Cursor>,
    ) -> Result<SearchPage, StoreError> {
        let mut extra = String::new();
        if let Some(c) = after {
            let ts = c.ts.clamp(0, row::MAX_TS);
            extra = format!(
                " AND (ts < toDateTime({ts}) OR (ts = toDateTime({ts}) AND offset < {}))",
                c.offset
            );
        }
        let enums = self.enums_of(q)?;
        // Compiled first, so that a bad query is an error whatever the limit.
        self.source_sql_with(q, &extra, &enums)?;
        if limit == 0 {
            return Ok(SearchPage {
                events: Vec::new(),
                next: None,
            });
        }
        // First the sort key of the page's rows (entity, dataset, time, offset), small
        // columns; then only those rows' sources, found by their whole sort key through the
        // primary index (a granule each at most): reading every column of the newest rows at
        // once cost ten times more. The keys are looked for in windows of days, newest first
        // (see `page_windows`), so that a page of frequent matches reads the newest day only.
        let upper = after.map_or(i64::MAX, |c| c.ts.saturating_add(1));
        let windows = self.page_windows(
            q.range.from.unix_timestamp(),
            upper.min(q.range.to.unix_timestamp()),
        )?;
        let mut tuples: Vec<String> = Vec::new();
        let mut keys: Vec<(i64, u64)> = Vec::new();
        let mut newer: Option<i64> = None;
        for lower in windows {
            let mut window = extra.clone();
            if let Some(lo) = lower {
                window.push_str(&format!(" AND ts >= toDateTime({lo})"));
            }
            if let Some(hi) = newer {
                window.push_str(&format!(" AND ts < toDateTime({hi})"));
            }
            let from = self.source_sql_with(q, &window, &enums)?;
            let rows = self.rows(&format!(
                "SELECT entity AS e, dataset AS d, toUInt32(ts) AS t, offset AS o FROM {from} ORDER BY ts DESC, offset DESC LIMIT {}",
                limit - keys.len()
            ))?;
            for r in &rows {
                let (Some(t), Some(o), Some(e), Some(d)) = (
                    r.get("t").and_then(json_u64),
                    r.get("o").and_then(json_u64),
                    r.get("e").and_then(Value::as_str),
                    r.get("d").and_then(Value::as_str),
                ) else {
                    continue;
                };
                tuples.push(format!(
                    "({}, {}, toDateTime({t}), {o})",
                    sql::lit(e),
                    sql::lit(d)
                ));
                keys.push((t as i64, o));
            }
            if keys.len() >= limit || lower.is_none() {
                break;
            }
            newer = lower;
        }
        let mut events = Vec::with_capacity(keys.len());
        if !keys.is_empty() {
            let rows = self.rows(&format!(
                "SELECT offset AS o, source AS s, {} AS i FROM {} WHERE (entity, dataset, ts, offset) IN ({})",
                col_name(HELD),
                self.table("events"),
                tuples.join(", ")
            ))?;
            let mut by_offset: HashMap<u64, (String, Option<String>)> =
                HashMap::with_capacity(rows.len());
            for mut r in rows {
                if let (Some(o), Some(Value::String(s))) =
                    (r.get("o").and_then(json_u64), r.remove("s"))
                {
                    // The column holds the one string a held-out source stands for.
                    let id = match r.remove("i") {
                        Some(Value::Array(mut ids)) if ids.len() == 1 => match ids.pop() {
                            Some(Value::String(id)) => Some(id),
                            _ => None,
                        },
                        _ => None,
                    };
                    by_offset.insert(o, (s, id));
                }
            }
            for (_, o) in &keys {
                let (s, id) = by_offset.get(o).ok_or_else(|| {
                    StoreError::Corrupt(format!("event at offset {o} vanished while read"))
                })?;
                let mut event = source::decode(s.as_bytes())?;
                source::restore_held(&mut event, HELD, id.as_deref());
                events.push(event);
            }
        }
        let next = if keys.len() == limit {
            keys.last().map(|&(ts, offset)| Cursor { ts, offset })
        } else {
            None
        };
        Ok(SearchPage { events, next })
    }

    fn count(&self, q: &EventQuery) -> Result<u64, StoreError> {
        let r = self.rows(&format!(
            "SELECT count() AS n FROM {}",
            self.source_sql(q, "")?
        ))?;
        Ok(r.first()
            .and_then(|r| r.get("n"))
            .and_then(json_u64)
            .unwrap_or(0))
    }

    fn histogram(&self, q: &EventQuery, interval_secs: i64) -> Result<Vec<(i64, u64)>, StoreError> {
        if interval_secs <= 0 {
            return Err(StoreError::Unsupported("interval must be positive".into()));
        }
        let rows = self.rows(&format!(
            "SELECT intDiv(toUInt32(ts), {interval_secs}) * {interval_secs} AS b, count() AS n FROM {} GROUP BY b ORDER BY b",
            self.source_sql(q, "")?
        ))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    r.get("b").and_then(json_u64)? as i64,
                    r.get("n").and_then(json_u64)?,
                ))
            })
            .collect())
    }

    fn top(&self, q: &EventQuery, field: &str, size: usize) -> Result<TopValues, StoreError> {
        let (values, kind) = Self::values_expr(field)?;
        let size = size.min(MAX_TOP_SQL);
        let inner = format!("SELECT {values} AS vs FROM {}", self.source_sql(q, "")?);
        // One scan: the totals (every value counted) come with the top values.
        let text = self.query(&format!(
            "SELECT v, count() AS n FROM ({inner}) ARRAY JOIN vs AS v GROUP BY v WITH TOTALS ORDER BY n DESC, v ASC LIMIT {size} FORMAT JSON"
        ))?;
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("ClickHouse answer {text:?}: {e}")))?;
        let total = doc
            .get("totals")
            .and_then(|t| t.get("n"))
            .and_then(json_u64)
            .unwrap_or(0);
        let rows = doc
            .get("data")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut out: Vec<(String, u64)> = rows
            .iter()
            .filter_map(|r| {
                Some((
                    display_value(kind, r.get("v")?.as_str()?),
                    r.get("n").and_then(json_u64)?,
                ))
            })
            .collect();
        // Ties by the value as shown (addresses in their usual notation).
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let shown: u64 = out.iter().map(|(_, n)| n).sum();
        Ok(TopValues {
            values: out,
            other: total.saturating_sub(shown),
        })
    }

    fn distinct(&self, q: &EventQuery, field: &str) -> Result<u64, StoreError> {
        let (values, kind) = Self::values_expr(field)?;
        // The column as it is for a typed field (its values as text are as many, and making
        // them cost most of the time), counted over the arrays without `ARRAY JOIN`.
        let values = match kind {
            Some(_) if field != TIMESTAMP => col_name(field),
            _ => values,
        };
        let r = self.rows(&format!(
            "SELECT uniqExactArray({values}) AS n FROM {}",
            self.source_sql(q, "")?
        ))?;
        Ok(r.first()
            .and_then(|r| r.get("n"))
            .and_then(json_u64)
            .unwrap_or(0))
    }

    fn sum(&self, q: &EventQuery, field: &str) -> Result<FieldSum, StoreError> {
        if typed_kind(field) != Some(FieldKind::Long) {
            return Err(crate::schema::not_summable(field));
        }
        let col = col_name(field);
        // Sent as text: JSON numbers would lose digits. (An Int64 sum; servers before 20.x
        // have no Int128, and 2^63 bytes is far beyond any range kept.)
        let r = self.rows(&format!(
            "SELECT toString(sum(arraySum({col}))) AS s, countIf(notEmpty({col})) AS n FROM {}",
            self.source_sql(q, "")?
        ))?;
        let row = r.first();
        let sum = row
            .and_then(|r| r.get("s"))
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<i128>().ok())
            .unwrap_or(0);
        Ok(FieldSum {
            sum: sum.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
            events: row.and_then(|r| r.get("n")).and_then(json_u64).unwrap_or(0),
        })
    }

    fn top_by_sum(
        &self,
        q: &EventQuery,
        field: &str,
        sum_fields: &[String],
        size: usize,
    ) -> Result<TopSums, StoreError> {
        let (values, kind) = Self::values_expr(field)?;
        crate::check_sum_fields(sum_fields)?;
        let size = size.min(MAX_TOP_SQL);
        // Column names come from the schema (checked above), never from the request's text.
        let per_event = sum_fields
            .iter()
            .map(|f| format!("arraySum({})", col_name(f)))
            .collect::<Vec<_>>()
            .join(" + ");
        let inner = format!(
            "SELECT {values} AS vs, toInt64({per_event}) AS b FROM {}",
            self.source_sql(q, "")?
        );
        // Sums as text: JSON numbers would lose digits.
        let rows = self.rows(&format!(
            "SELECT v, toString(sum(b)) AS s, count() AS n FROM ({inner}) ARRAY JOIN vs AS v \
             GROUP BY v ORDER BY sum(b) DESC, n DESC, v ASC LIMIT {size}"
        ))?;
        let total = self.rows(&format!(
            "SELECT toString(sum(length(vs) * b)) AS s, sum(length(vs)) AS n FROM ({inner})"
        ))?;
        let text_i128 = |r: &serde_json::Map<String, Value>| {
            r.get("s")
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse::<i128>().ok())
        };
        let total = total
            .first()
            .map(|r| {
                (
                    text_i128(r).unwrap_or(0),
                    r.get("n").and_then(json_u64).unwrap_or(0),
                )
            })
            .unwrap_or((0, 0));
        let all = rows
            .iter()
            .filter_map(|r| {
                Some((
                    display_value(kind, r.get("v")?.as_str()?),
                    text_i128(r)?,
                    r.get("n").and_then(json_u64)?,
                ))
            })
            .collect();
        Ok(crate::rank_sums(all, size, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_cardinality_and_codecs_only_on_servers_that_have_them() {
        assert_eq!(column_spec("dataset", "String", false), "String");
        assert_eq!(
            column_spec("dataset", "String", true),
            "LowCardinality(String)"
        );
        assert_eq!(
            column_spec("c_event_action", "Array(String)", true),
            "Array(LowCardinality(String))"
        );
        assert_eq!(
            column_spec("c_event_action", "Array(String)", false),
            "Array(String)"
        );
        assert_eq!(column_spec("source", "String", true), "String");
        assert_eq!(
            column_spec("offset", "UInt64", true),
            "UInt64 CODEC(Delta, LZ4)"
        );
        assert_eq!(
            column_spec("c_user_name", "Array(String)", false),
            "Array(String)"
        );
    }

    #[test]
    fn the_table_keeps_the_words_of_an_event() {
        assert!(insert_columns()
            .iter()
            .any(|(n, t)| n == "words" && *t == "String"));
        assert!(create_events_sql("events", false).contains("words String"));
    }
}
