//! Adapters between the library crates, in one place: the pipeline's sink backed by the event
//! store, the event search API mounted on the intake's HTTP server, and the cluster's choice
//! of role and queue ([`Role`], [`ClusterChoice`]: the local journal, or NATS JetStream).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use console::api::StoreAccess;
use console::auth::Principal;
use pipeline::{Event, Prepared, Preparer, RawEvent, Sink, SinkError};
use serde_json::{Map, Value};
use store::{EventStore, TantivyStore};

/// What a `serve` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Receivers and pipeline in one process (the single node without a queue server).
    All,
    /// Receivers, console and API; events go to JetStream.
    Intake,
    /// Consumes JetStream: parse, detect, store in ClickHouse.
    Worker,
}

impl Role {
    /// Parses `--role` (absent: `all`).
    pub fn parse(s: Option<&str>) -> anyhow::Result<Role> {
        match s.unwrap_or("all") {
            "all" => Ok(Role::All),
            "intake" => Ok(Role::Intake),
            "worker" => Ok(Role::Worker),
            other => anyhow::bail!("unknown --role {other:?}: all, intake or worker"),
        }
    }
}

/// The role and the queue between receivers and pipeline, chosen once for `serve`.
#[derive(Debug, Clone)]
pub struct ClusterChoice {
    /// What this process runs.
    pub role: Role,
    /// The JetStream stream, when the queue is NATS (else the local journal).
    pub nats: Option<queue::jetstream::JetStreamConfig>,
}

impl ClusterChoice {
    /// Checks the combination: intake and worker need a stream, a worker needs ClickHouse
    /// (the events of every worker go to one store).
    pub fn validate(&self, clickhouse: bool) -> anyhow::Result<()> {
        match (self.role, &self.nats) {
            (Role::Intake | Role::Worker, None) => {
                anyhow::bail!("--role intake and --role worker need --nats (the cluster's queue)")
            }
            (Role::Worker | Role::All, Some(_)) if !clickhouse => anyhow::bail!(
                "a worker stores events in ClickHouse: --clickhouse is needed with --nats"
            ),
            _ => Ok(()),
        }
    }

    /// Runs a pipeline in this process (a worker, or the single node).
    pub fn runs_worker(&self) -> bool {
        self.role != Role::Intake
    }

    /// The queue the receivers append to: JetStream, or `None` for the local journal.
    pub async fn intake_queue(&self) -> anyhow::Result<Option<Arc<dyn queue::Queue>>> {
        match &self.nats {
            None => Ok(None),
            Some(n) => {
                let q = queue::jetstream::JetStreamQueue::open(n.clone())
                    .await
                    .context("cannot set up the NATS connection")?;
                tracing::info!(servers = ?n.urls, stream = %n.stream, replicas = n.replicas, "queue: NATS JetStream");
                Ok(Some(Arc::new(q)))
            }
        }
    }
}

/// How often the JetStream backlog shown in `/metrics` is refreshed.
pub const BACKLOG_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

impl ClusterChoice {
    /// On a cluster, keeps `metrics`' JetStream backlog gauges (`ziaxdr_queue_backlog_*`)
    /// up to date: a task of this runtime asks the stream's state every
    /// [`BACKLOG_REFRESH`] over a connection of its own (so a scrape never waits on NATS),
    /// and leaves the last values while NATS is out of reach (`/readyz` says so). Ends with
    /// the runtime. Nothing on a single node.
    pub async fn watch_backlog(&self, metrics: intake::metrics::Metrics) -> anyhow::Result<()> {
        let Some(n) = &self.nats else {
            return Ok(());
        };
        let mut cfg = n.clone();
        cfg.name = format!("{}-backlog", cfg.name);
        let q = queue::jetstream::JetStreamQueue::open(cfg)
            .await
            .context("cannot set up the NATS connection for the backlog gauges")?;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(BACKLOG_REFRESH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Ok(b) = q.backlog_state().await {
                    metrics
                        .queue_backlog_messages
                        .set(b.messages.min(i64::MAX as u64) as i64);
                    metrics
                        .queue_backlog_bytes
                        .set(b.bytes.min(i64::MAX as u64) as i64);
                }
            }
        });
        Ok(())
    }
}

/// The HTTP routes of a worker-only node: `/healthz`, `/readyz` (names what is missing:
/// NATS, or the event store through the pipeline's fault) and `/metrics`.
pub fn worker_router(metrics: intake::metrics::Metrics, nats_up: Arc<AtomicBool>) -> Router {
    use axum::routing::get;
    let m2 = metrics.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let metrics = metrics.clone();
                let nats_up = nats_up.clone();
                async move {
                    if !nats_up.load(Ordering::Relaxed) {
                        return (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "nats: no connection to any JetStream server\n".to_string(),
                        );
                    }
                    let fault = metrics
                        .pipeline_fault
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone();
                    match fault {
                        Some(f) => (StatusCode::SERVICE_UNAVAILABLE, format!("pipeline: {f}\n")),
                        None => (StatusCode::OK, "ready\n".to_string()),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let m = m2.clone();
                async move { m.render() }
            }),
        )
}

/// Where events are stored: the embedded store under DATA/store, or a ClickHouse server.
/// Chosen once, here, for every command (see [`StoreChoice::open`]).
#[derive(Debug, Clone, Default)]
pub struct StoreChoice {
    /// The ClickHouse server, when events go there instead of the embedded store.
    pub clickhouse: Option<store::ClickHouseConfig>,
}

/// The `--clickhouse` options, shared by every command that opens the event store.
#[derive(clap::Args, Clone, Default)]
pub struct ClickHouseArgs {
    /// Store events in ClickHouse at this HTTP URL instead of the embedded store
    /// (e.g. http://127.0.0.1:8123) [default: the embedded store under DATA/store].
    #[arg(long, env = "ZIAXDR_CLICKHOUSE", value_name = "URL")]
    pub clickhouse: Option<String>,
    /// ClickHouse user [default: ClickHouse's default user].
    #[arg(long, env = "ZIAXDR_CLICKHOUSE_USER", value_name = "USER")]
    pub clickhouse_user: Option<String>,
    /// ClickHouse password (never logged; prefer the environment variable).
    #[arg(long, env = "ZIAXDR_CLICKHOUSE_PASSWORD", hide_env_values = true)]
    pub clickhouse_password: Option<String>,
    /// ClickHouse database holding the events (created when missing) [default: ziaxdr].
    #[arg(long, env = "ZIAXDR_CLICKHOUSE_DATABASE", value_name = "NAME")]
    pub clickhouse_database: Option<String>,
}

impl std::fmt::Debug for ClickHouseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseArgs")
            .field("clickhouse", &self.clickhouse)
            .field("clickhouse_user", &self.clickhouse_user)
            .field(
                "clickhouse_password",
                &self.clickhouse_password.as_ref().map(|_| "<redacted>"),
            )
            .field("clickhouse_database", &self.clickhouse_database)
            .finish()
    }
}

impl ClickHouseArgs {
    /// The store these options choose.
    pub fn choice(&self) -> StoreChoice {
        StoreChoice {
            clickhouse: self.clickhouse.as_ref().map(|url| {
                let mut c = store::ClickHouseConfig::new(url.clone());
                c.user = self.clickhouse_user.clone();
                c.password = self.clickhouse_password.clone();
                if let Some(db) = &self.clickhouse_database {
                    c.database = db.clone();
                }
                c
            }),
        }
    }
}

/// The `--postgres` options, shared by `serve` and every command that manages state: with a
/// URL, the registry (entities, intakes, keys) and the console's accounts and sessions live
/// in that PostgreSQL database, shared by every node of a cluster, instead of SQLite files
/// under DATA. `Debug` never shows the password.
#[derive(clap::Args, Clone, Default)]
pub struct PostgresArgs {
    /// Keep the state (intakes, keys, entities, console users and sessions, alerts, rule
    /// state, CTI) in PostgreSQL at
    /// this URL, e.g. postgres://ziaxdr@db.example:5432/ziaxdr?sslmode=require; see
    /// docs/cluster-state.md [default: SQLite files under DATA].
    #[arg(long, env = "ZIAXDR_POSTGRES", value_name = "URL")]
    pub postgres: Option<String>,
    /// PostgreSQL password, when not in the URL (never logged; prefer this variable or
    /// --postgres-password-file to a URL in a process list).
    #[arg(long, env = "ZIAXDR_POSTGRES_PASSWORD", hide_env_values = true)]
    pub postgres_password: Option<String>,
    /// File holding the PostgreSQL password (first line).
    #[arg(long, env = "ZIAXDR_POSTGRES_PASSWORD_FILE", value_name = "FILE")]
    pub postgres_password_file: Option<PathBuf>,
    /// PEM file of the CA certificates trusted for PostgreSQL's TLS (with sslmode=require)
    /// [default: the webpki roots].
    #[arg(long, env = "ZIAXDR_POSTGRES_CA", value_name = "FILE")]
    pub postgres_ca: Option<PathBuf>,
}

impl std::fmt::Debug for PostgresArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresArgs")
            .field(
                "postgres",
                &self
                    .postgres
                    .as_ref()
                    .map(|u| pgstate::PgConfig::new(u.clone()).display_target()),
            )
            .field(
                "postgres_password",
                &self.postgres_password.as_ref().map(|_| "<redacted>"),
            )
            .field("postgres_password_file", &self.postgres_password_file)
            .field("postgres_ca", &self.postgres_ca)
            .finish()
    }
}

impl PostgresArgs {
    /// The connection these options describe, if any.
    pub fn config(&self) -> anyhow::Result<Option<pgstate::PgConfig>> {
        let Some(url) = &self.postgres else {
            return Ok(None);
        };
        let mut c = pgstate::PgConfig::new(url.clone());
        c.password = match (&self.postgres_password, &self.postgres_password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(f)) => {
                let text = std::fs::read_to_string(f).with_context(|| {
                    format!("cannot read the PostgreSQL password file {}", f.display())
                })?;
                Some(text.lines().next().unwrap_or("").to_string())
            }
            (None, None) => None,
        };
        c.ca_file = self.postgres_ca.clone();
        Ok(Some(c))
    }

    /// Opens the state these options choose (see [`StateChoice`]).
    pub fn open(&self) -> anyhow::Result<StateChoice> {
        StateChoice::open(self)
    }
}

/// Where the state lives: SQLite files under the data directory, or one PostgreSQL database
/// shared by a cluster. Chosen once, here, for `serve` and the CLI; each store's seam is its
/// crate's trait (`intake::registry::RegistryStore`, …).
#[derive(Debug, Clone, Default)]
pub struct StateChoice {
    /// The PostgreSQL connection, when the state is there.
    pub pg: Option<pgstate::Pg>,
}

impl StateChoice {
    /// Connects to PostgreSQL when the options name one (checking that it answers).
    pub fn open(args: &PostgresArgs) -> anyhow::Result<StateChoice> {
        let Some(cfg) = args.config()? else {
            return Ok(StateChoice::default());
        };
        let pg = pgstate::Pg::connect(&cfg)
            .with_context(|| format!("PostgreSQL at {}", cfg.display_target()))?;
        pg.ping()
            .with_context(|| format!("PostgreSQL at {} does not answer", cfg.display_target()))?;
        tracing::info!(postgres = %pg.target(), "state in PostgreSQL");
        Ok(StateChoice { pg: Some(pg) })
    }

    /// The registry: PostgreSQL's, else `data_dir/registry.sqlite`.
    pub fn registry(&self, data_dir: &Path) -> anyhow::Result<intake::Registry> {
        match &self.pg {
            Some(pg) => intake::Registry::postgres(pg).with_context(|| {
                format!("cannot open the registry in PostgreSQL at {}", pg.target())
            }),
            None => intake::Registry::open_in(data_dir)
                .with_context(|| format!("cannot open the registry in {}", data_dir.display())),
        }
    }

    /// The rule state (enabled flags, hit counts): PostgreSQL's (shared by every worker and
    /// the CLI), else `data_dir/alerts.db`'s.
    pub fn rule_state(&self, data_dir: &Path) -> anyhow::Result<detect::rulestate::RuleStateStore> {
        detect::rulestate::RuleStateStore::open_at(data_dir, self.pg.as_ref()).with_context(|| {
            match &self.pg {
                Some(pg) => format!(
                    "cannot open the rule state in PostgreSQL at {}",
                    pg.target()
                ),
                None => format!(
                    "cannot open the rule state in {}",
                    data_dir.join("alerts.db").display()
                ),
            }
        })
    }

    /// The alerts (timeline, triage, throttles, replay memory, playbook runs): PostgreSQL's
    /// (every worker ingests into it, every node's API and console shows it), else
    /// `data_dir/alerts.db`. The schema is migrated here, once; stores are opened on the
    /// result per thread or request.
    pub fn alerts(&self, data_dir: &Path) -> anyhow::Result<detect::alerts::AlertsAt> {
        detect::alerts::AlertsAt::at(data_dir, self.pg.as_ref()).with_context(|| match &self.pg {
            Some(pg) => format!("cannot open the alerts in PostgreSQL at {}", pg.target()),
            None => format!(
                "cannot open the alerts in {}",
                data_dir.join("alerts.db").display()
            ),
        })
    }

    /// The CTI store (indicators, feed cursors, registered sources): PostgreSQL's (an import
    /// through any node or the CLI reaches every worker, and each registered feed is polled
    /// by one node at a time), else `data_dir/cti.db`.
    pub fn cti(&self, data_dir: &Path) -> anyhow::Result<detect::cti::CtiStore> {
        detect::cti::CtiStore::open_at(data_dir, self.pg.as_ref()).with_context(|| match &self.pg {
            Some(pg) => format!("cannot open the CTI store in PostgreSQL at {}", pg.target()),
            None => format!(
                "cannot open the CTI database {}",
                data_dir.join("cti.db").display()
            ),
        })
    }

    /// The console's accounts, sessions and API tokens: PostgreSQL's (shared by every node,
    /// so any node serves the console and the REST API), else `data_dir/console.db`.
    pub fn accounts(&self, data_dir: &Path) -> anyhow::Result<console::accounts::Accounts> {
        match &self.pg {
            Some(pg) => console::accounts::Accounts::postgres(pg).with_context(|| {
                format!(
                    "cannot open the console accounts in PostgreSQL at {}",
                    pg.target()
                )
            }),
            None => console::accounts::Accounts::open(data_dir).with_context(|| {
                format!(
                    "cannot open the console accounts in {}",
                    data_dir.join("console.db").display()
                )
            }),
        }
    }
}

/// An open event store of either backend.
#[derive(Clone)]
pub enum OpenStore {
    /// The embedded store.
    Tantivy(Arc<TantivyStore>),
    /// The ClickHouse store.
    ClickHouse(Arc<store::ClickHouseStore>),
}

impl OpenStore {
    /// The store as the search traits.
    pub fn search(&self) -> Arc<dyn store::EventSearch> {
        match self {
            OpenStore::Tantivy(s) => s.clone(),
            OpenStore::ClickHouse(s) => s.clone(),
        }
    }

    /// The last journal offset the store committed.
    pub fn committed_offset(&self) -> Option<u64> {
        self.writer().committed_offset()
    }

    fn writer(&self) -> &dyn EventStore {
        match self {
            OpenStore::Tantivy(s) => s.as_ref(),
            OpenStore::ClickHouse(s) => s.as_ref(),
        }
    }
}

impl StoreChoice {
    /// Opens the chosen store for writing (the embedded one in `DATA/store` with `config`);
    /// the retention of `config` applies to either.
    pub fn open(&self, data_dir: &Path, config: store::StoreConfig) -> anyhow::Result<OpenStore> {
        match &self.clickhouse {
            Some(ch) => {
                let mut ch = ch.clone();
                ch.retention = config.retention.clone();
                let s = store::ClickHouseStore::open(ch.clone()).with_context(|| {
                    format!(
                        "cannot open the ClickHouse event store at {} (database {})",
                        ch.url, ch.database
                    )
                })?;
                tracing::info!(url = %ch.url, database = %ch.database, version = s.server_version(), "event store: ClickHouse");
                Ok(OpenStore::ClickHouse(Arc::new(s)))
            }
            None => {
                let dir = data_dir.join("store");
                let s = TantivyStore::open(&dir, config)
                    .with_context(|| format!("cannot open the event store in {}", dir.display()))?;
                Ok(OpenStore::Tantivy(Arc::new(s)))
            }
        }
    }

    /// Opens the chosen store for reading only (a missing embedded store is empty).
    pub fn open_read_only(&self, data_dir: &Path) -> anyhow::Result<Arc<dyn store::EventSearch>> {
        match &self.clickhouse {
            Some(_) => Ok(self.open(data_dir, store::StoreConfig::default())?.search()),
            None => {
                let dir = data_dir.join("store");
                let s = TantivyStore::open_read_only(&dir)
                    .with_context(|| format!("cannot open the event store in {}", dir.display()))?;
                Ok(Arc::new(s))
            }
        }
    }
}

/// The pipeline's sink backed by the event store (either backend). The store keeps the
/// journal offset of its last commit, so the pipeline resumes exactly after it after a
/// crash. Used by `serve` and `import`.
pub struct StoreSink {
    store: OpenStore,
    written: Arc<AtomicU64>,
}

impl StoreSink {
    /// Opens (creating if needed) the store in `DATA/store` with `config` (retention...).
    #[cfg(test)]
    pub fn open_with(data_dir: &Path, config: store::StoreConfig) -> anyhow::Result<StoreSink> {
        Self::open_choice(&StoreChoice::default(), data_dir, config)
    }

    /// Opens the store `choice` names.
    pub fn open_choice(
        choice: &StoreChoice,
        data_dir: &Path,
        config: store::StoreConfig,
    ) -> anyhow::Result<StoreSink> {
        Ok(StoreSink {
            store: choice.open(data_dir, config)?,
            written: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The store, shared with readers while the pipeline writes through this sink.
    pub fn store(&self) -> OpenStore {
        self.store.clone()
    }

    /// Events written so far (for progress reports).
    pub fn written(&self) -> Arc<AtomicU64> {
        self.written.clone()
    }
}

fn sink_err(e: impl std::fmt::Display) -> SinkError {
    SinkError::Other(e.to_string())
}

impl Sink for StoreSink {
    fn committed_offset(&self) -> Result<Option<u64>, SinkError> {
        Ok(self.store.writer().committed_offset())
    }

    fn write(&mut self, offset: u64, raw: &RawEvent, event: &mut Event) -> Result<(), SinkError> {
        self.write_prepared(offset, raw, event, None)
    }

    fn commit(&mut self) -> Result<(), SinkError> {
        self.store.writer().commit().map(|_| ()).map_err(sink_err)
    }

    fn recover(&mut self) -> Result<(), SinkError> {
        match &self.store {
            OpenStore::Tantivy(s) => s.discard_uncommitted().map_err(sink_err),
            // The server may still be away: the store finds out what reached it before its
            // next write, and the pipeline retries (with backoff) until then.
            OpenStore::ClickHouse(s) => {
                s.discard_uncommitted();
                Ok(())
            }
        }
    }

    fn preparer(&self) -> Option<Preparer> {
        // Both stores prepare their documents (rows) on the parse threads, in parallel.
        let store = match &self.store {
            OpenStore::Tantivy(s) => s.clone(),
            OpenStore::ClickHouse(ch) => {
                let ch = ch.clone();
                return Some(Arc::new(move |offset, _raw, text, event| {
                    let row = ch.prepare_parsed(offset, event, text).ok().flatten();
                    Prepared {
                        needs_event: row.is_none(),
                        ..Prepared::with_event(row)
                    }
                }));
            }
        };
        // A failure here (a source that cannot be encoded) is met again, and reported, when
        // the writing thread builds the document itself.
        Some(Arc::new(move |offset, _raw, text, event| {
            let doc = store.prepare_parsed(offset, event, text).ok();
            Prepared {
                needs_event: !doc.as_ref().is_some_and(store::PreparedDoc::is_complete),
                ..Prepared::with_event(doc)
            }
        }))
    }

    fn write_prepared(
        &mut self,
        offset: u64,
        raw: &RawEvent,
        event: &mut Event,
        prepared: Option<Prepared>,
    ) -> Result<(), SinkError> {
        // The text the pipeline's parser read: the store keeps it, as the event's
        // `event.original`, and rebuilds the event from it (checking on a sample that the
        // rebuild is faithful).
        let record = raw.text();
        match &self.store {
            OpenStore::Tantivy(s) => {
                let doc =
                    prepared.and_then(|p| p.value.downcast::<Option<store::PreparedDoc>>().ok());
                match doc.and_then(|d| *d) {
                    Some(doc) => s.add_prepared(offset, event, &record, doc),
                    None => s.add_parsed(offset, event, &record),
                }
            }
            OpenStore::ClickHouse(s) => {
                let row =
                    prepared.and_then(|p| p.value.downcast::<Option<store::PreparedRow>>().ok());
                match row.and_then(|r| *r) {
                    Some(row) => s.add_prepared(row),
                    None => s.add_parsed(offset, event, &record),
                }
            }
        }
        .map_err(sink_err)?;
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Vouches to the intake's admin API (`/v1/sic/conf/…`, which predates the console and knows
/// only its bearer token) for every admin the authentication layer let through. Runs inside
/// `console::auth::authenticate`.
pub async fn vouch_for_admins(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let admin = req
        .extensions()
        .get::<Principal>()
        .is_some_and(|p| p.role == console::accounts::Role::Admin);
    if admin {
        req.extensions_mut().insert(intake::http::AdminAuthorized);
    }
    next.run(req).await
}

/// `POST /api/v1/events/search` and `/api/v1/events/aggregate` (JSON in and out, bodies as in
/// `crates/store/README.md`). Authentication is the console's layer in front of every route.
pub fn events_router(store: StoreAccess) -> Router {
    Router::new()
        .route("/api/v1/events/search", post(search))
        .route("/api/v1/events/aggregate", post(aggregate))
        .route("/api/v1/events/export", post(crate::export::events))
        .with_state(store)
}

/// `/api/v1/alerts…` (list, show, status changes, comments; see `detect::api`), and the
/// alert's Zscaler response routes when `zia` is configured. Each request opens a store on
/// `at` (`DATA/alerts.db` in WAL mode, as the CLI does, so the CLI and the server see the
/// same alerts; or the cluster's PostgreSQL, so every node sees every alert).
pub fn alerts_router(at: detect::alerts::AlertsAt, zia: Option<Arc<ziaapi::Responder>>) -> Router {
    Router::new()
        .route("/api/v1/alerts", axum::routing::any(alerts))
        .route(
            "/api/v1/alerts/export",
            axum::routing::get(|State(s): State<AlertsState>, uri: axum::http::Uri| {
                crate::export::alerts(State(s.alerts), uri)
            }),
        )
        .route("/api/v1/alerts/{*rest}", axum::routing::any(alerts))
        .with_state(AlertsState { alerts: at, zia })
}

#[derive(Clone)]
struct AlertsState {
    alerts: detect::alerts::AlertsAt,
    zia: Option<Arc<ziaapi::Responder>>,
}

/// Who is asking, for the history of what they change.
fn caller(p: &Option<Extension<Principal>>) -> String {
    p.as_ref()
        .map(|Extension(p)| p.name.clone())
        .unwrap_or_else(|| "api".into())
}

async fn alerts(
    State(state): State<AlertsState>,
    principal: Option<Extension<Principal>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let user = caller(&principal);
    let result = tokio::task::spawn_blocking(move || {
        let mut store = state
            .alerts
            .open()
            .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        if let Some(r) = detect::api::handle_zia(
            &mut store,
            state.zia.as_deref(),
            method.as_str(),
            uri.path(),
            &body,
            &user,
        ) {
            return Ok(r);
        }
        let r = detect::api::handle(
            &mut store,
            method.as_str(),
            uri.path(),
            uri.query().unwrap_or(""),
            &body,
            &user,
        );
        Ok::<_, (StatusCode, String)>(r)
    })
    .await;
    api_answer(result)
}

fn api_answer(
    result: Result<Result<detect::api::ApiResponse, (StatusCode, String)>, tokio::task::JoinError>,
) -> Response {
    match result {
        Ok(Ok(r)) => {
            let code = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (code, Json(r.body)).into_response()
        }
        Ok(Err((code, msg))) => json_error(code, &msg),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Searches one user may run at once: with the query deadline, what bounds a user's cost.
/// The console's Events page runs two at once (the histogram and the first page), and those of
/// a page just left may still be running: 2 refused the next page's now and then.
pub const MAX_SEARCHES_PER_USER: usize = 4;

/// Searches running, per user.
static RUNNING_SEARCHES: std::sync::Mutex<Option<std::collections::HashMap<String, usize>>> =
    std::sync::Mutex::new(None);

/// One running search of a user, leaving the count when dropped.
struct SearchSlot(String);

impl SearchSlot {
    fn take(user: &str) -> Option<SearchSlot> {
        let mut m = RUNNING_SEARCHES.lock().unwrap_or_else(|e| e.into_inner());
        let n = m
            .get_or_insert_with(Default::default)
            .entry(user.to_string())
            .or_insert(0);
        if *n >= MAX_SEARCHES_PER_USER {
            return None;
        }
        *n += 1;
        Some(SearchSlot(user.to_string()))
    }
}

impl Drop for SearchSlot {
    fn drop(&mut self) {
        let mut m = RUNNING_SEARCHES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.as_mut().and_then(|m| m.get_mut(&self.0)) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Decodes the JSON body, then runs `f` on the store on a blocking thread, within the query
/// deadline, cancelled if the client goes away, at most [`MAX_SEARCHES_PER_USER`] at once.
async fn run_query<R, F, T>(
    store: StoreAccess,
    user: Option<&Principal>,
    body: Bytes,
    f: F,
) -> Response
where
    R: serde::de::DeserializeOwned + Send + 'static,
    F: FnOnce(&dyn store::EventSearch, &R, time::OffsetDateTime) -> Result<T, store::api::ApiError>
        + Send
        + 'static,
    T: serde::Serialize + Send + 'static,
{
    let req: R = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("bad request body: {e}")),
    };
    let user = user.map_or("anonymous", |p| p.name.as_str());
    let Some(slot) = SearchSlot::take(user) else {
        return json_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("{MAX_SEARCHES_PER_USER} searches of {user} are running already; retry when one is done"),
        );
    };
    let deadline = store::deadline::Deadline::after(store::deadline::query_timeout());
    // Dropped with this future when the client disconnects: the search stops.
    let _cancel = store::deadline::CancelOnDrop(deadline.clone());
    let result = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let mut failure = None;
        let out = store
            .with(|st| {
                store::deadline::with_deadline(deadline, || {
                    f(st, &req, time::OffsetDateTime::now_utc())
                })
                .map_err(|e| {
                    failure =
                        Some(StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST));
                    e.to_string()
                })
            })
            .map_err(|msg| (failure.unwrap_or(StatusCode::SERVICE_UNAVAILABLE), msg))?;
        Ok::<_, (StatusCode, String)>(out)
    })
    .await;
    match result {
        Ok(Ok(body)) => Json(body).into_response(),
        Ok(Err((code, msg))) => json_error(code, &msg),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn search(
    State(s): State<StoreAccess>,
    user: Option<Extension<Principal>>,
    body: Bytes,
) -> Response {
    run_query(
        s,
        user.as_deref(),
        body,
        |st, req: &store::api::SearchRequest, now| store::api::search(st, req, now),
    )
    .await
}

async fn aggregate(
    State(s): State<StoreAccess>,
    user: Option<Extension<Principal>>,
    body: Bytes,
) -> Response {
    run_query(
        s,
        user.as_deref(),
        body,
        |st, req: &store::api::AggregateRequest, now| store::api::aggregate(st, req, now),
    )
    .await
}

/// What the rules and CTI routes need: the rule set the server runs, the data directory
/// (rule state), the CTI store (one handle, reopened for each request) and the stored events
/// a rule can be run over.
#[derive(Clone)]
struct DetectionState {
    rules: Arc<detect::api::RulesApi>,
    data_dir: PathBuf,
    cti: Arc<std::sync::Mutex<detect::cti::CtiStore>>,
    events: Arc<StoreSource>,
}

/// `/api/v1/rules…` (list with hit counts, enable/disable, run over stored events) and
/// `/api/v1/cti…` (sources, indicators, STIX import) over `cti` (see
/// [`StateChoice::cti`]); see `detect::api`.
pub fn detection_router(
    data_dir: PathBuf,
    rules: Arc<detect::api::RulesApi>,
    cti: detect::cti::CtiStore,
    events: StoreSource,
) -> Router {
    let state = DetectionState {
        rules,
        data_dir,
        cti: Arc::new(std::sync::Mutex::new(cti)),
        events: Arc::new(events),
    };
    Router::new()
        .route("/api/v1/rules", axum::routing::any(rules_api))
        .route("/api/v1/rules/{*rest}", axum::routing::any(rules_api))
        .route("/api/v1/cti", axum::routing::any(cti_api))
        .route("/api/v1/cti/{*rest}", axum::routing::any(cti_api))
        // STIX bundles are larger than axum's default 2 MB body limit.
        .layer(axum::extract::DefaultBodyLimit::max(
            detect::api::MAX_BUNDLE,
        ))
        .with_state(state)
}

async fn rules_api(
    State(s): State<DetectionState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let result = tokio::task::spawn_blocking(move || {
        let source: &dyn detect::cti::EventSource = s.events.as_ref();
        Ok(s.rules.handle(
            &s.data_dir,
            method.as_str(),
            uri.path(),
            uri.query().unwrap_or(""),
            &body,
            Some(source),
        ))
    })
    .await;
    api_answer(result)
}

async fn cti_api(
    State(s): State<DetectionState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let result = tokio::task::spawn_blocking(move || {
        // A handle of its own for each request (the shared one is only reopened), so that a
        // long import does not hold up the other requests.
        let mut store = s
            .cti
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reopen()
            .map_err(|e| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot open the CTI store: {e}"),
                )
            })?;
        Ok(detect::api::handle_cti_with(
            &mut store,
            method.as_str(),
            uri.path(),
            uri.query().unwrap_or(""),
            &body,
        ))
    })
    .await;
    api_answer(result)
}

/// How often the detecting sink looks for indicators imported while the server runs, busy or
/// idle (an import takes effect, and its retrohunt runs, within this and one pipeline wait).
const CTI_RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// A sink that runs detection (Sigma rules, correlations, CTI) on every event as it flows,
/// then hands the event to the store. A detection failure is logged and counted, never a
/// reason to stop ingesting.
///
/// The stateless part of detection (the rules that feed no correlation, the indicators) runs
/// in its preparer, on the pipeline's parse threads, in parallel; the writing thread only
/// correlates, in the events' order, and queues the matches. The matches become alerts at
/// each pipeline commit, in one transaction of the alert database, after the store committed
/// the events they name.
pub struct DetectingSink {
    inner: Box<dyn Sink>,
    detection: detect::DetectionService,
    retrohunt: Option<StoreSource>,
    /// For events written without the preparer's work ([`Sink::write`]).
    screen: detect::Screen,
    parser: pipeline::ParseFn,
    last_cti_check: std::time::Instant,
    failures: u64,
    /// The matches of committed events are not written yet (alerts in PostgreSQL, out of
    /// reach): kept, and tried again before anything else is acknowledged.
    owed: bool,
}

/// What the detecting sink's preparer made of an event: the inner sink's preparation and the
/// screened detection.
struct Detected {
    inner: Option<Prepared>,
    screened: detect::Screened,
}

/// Screens handed out to the parse threads, one at a time each (a screen's rule memos are its
/// own; cloning one per event would cost more than the screening).
struct ScreenPool {
    template: detect::Screen,
    free: std::sync::Mutex<Vec<detect::Screen>>,
}

/// A parsed event as detection reads it: each field looked up in the event's own trie of
/// path segments.
struct FlatZia<'a>(&'a Event);

impl<'a> detect::event::FlatEvent<'a> for FlatZia<'a> {
    fn values_at(&self, path: &str, f: &mut dyn FnMut(&'a Value)) {
        self.0.values_at(path, f);
    }

    fn for_each_leaf(&self, f: &mut dyn FnMut(&str, &'a Value)) {
        self.0.for_each_leaf_ref(f);
    }
}

impl ScreenPool {
    /// Screens a flat event where it is: building its nested objects (`Event::to_map`) cost
    /// about as much as parsing it, and is done only for the events correlations need; and
    /// indexing its hundred-odd leaves cost more than the few dozen lookups the rules and
    /// indicators make in it.
    fn screen(&self, ev: &Event) -> detect::Screened {
        let taken = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut screen = taken.unwrap_or_else(|| self.template.clone());
        let flat = FlatZia(ev);
        let indexed = detect::event::EcsEvent::from_flat(&flat);
        let screened = screen.screen_indexed(&indexed, &|| ev.to_map());
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(screen);
        screened
    }
}

impl DetectingSink {
    /// Runs `detection` in front of `inner`; newly imported indicators are hunted for in
    /// `retrohunt` (the stored events) when given.
    pub fn new(
        inner: Box<dyn Sink>,
        detection: detect::DetectionService,
        retrohunt: Option<StoreSource>,
    ) -> Self {
        Self {
            inner,
            screen: detection.screen(),
            detection,
            retrohunt,
            parser: pipeline::zia_parser(),
            last_cti_check: std::time::Instant::now(),
            failures: 0,
            owed: false,
        }
    }

    fn failed(&mut self, e: detect::Error) {
        self.failures += 1;
        tracing::warn!(error = %e, failures = self.failures, "detection failed");
    }

    /// Completes the detection of an event screened on a parse thread. An event screened
    /// before the indicators were last reloaded is matched against the new ones here (the
    /// retrohunt of the reload only saw the events stored by then): from `event`, or, when
    /// the store's preparer freed it, parsed again from its record.
    fn detected(&mut self, raw: &RawEvent, event: &Event, mut screened: detect::Screened) {
        if screened.cti_generation() != self.detection.cti_generation() {
            let map = if event.is_empty() {
                let mut again = (self.parser)(&raw.text()).event;
                pipeline::annotate(&mut again, raw, screened.entity());
                again.to_map()
            } else {
                event.to_map()
            };
            self.detection.rematch_cti(&mut screened, &map);
        }
        if let Err(e) = self.detection.on_screened(screened) {
            self.failed(e);
        }
    }

    /// Turns the queued matches into alerts. On one node, a failure is logged and the
    /// matches are dropped, as before. With the alerts in PostgreSQL (a cluster), the
    /// matches are kept and the commit fails, so that the journal checkpoint, and with it
    /// the worker's acknowledgement to JetStream, does not pass events whose matches are
    /// not written: the pipeline retries (with its backoff) until PostgreSQL answers.
    fn flush_owed(&mut self) -> Result<(), SinkError> {
        match self.detection.flush_alerts() {
            Ok(_) => {
                self.owed = false;
                Ok(())
            }
            Err(e) if self.detection.alerts_shared() => {
                self.owed = true;
                Err(SinkError::Other(format!(
                    "alerts not written, kept for a retry: {e}"
                )))
            }
            Err(e) => {
                self.detection.discard_pending();
                self.failed(e);
                Ok(())
            }
        }
    }
}

impl Sink for DetectingSink {
    fn committed_offset(&self) -> Result<Option<u64>, SinkError> {
        self.inner.committed_offset()
    }

    fn write(&mut self, offset: u64, raw: &RawEvent, event: &mut Event) -> Result<(), SinkError> {
        // Detection reads nested objects, built here (without `event.original`, which the
        // store adds). Alerts name events by the id the intake answered with: detect reads it
        // from `ziaxdr.event_id`, which the pipeline sets.
        let screened = self.screen.screen(&event.to_map());
        self.detected(raw, event, screened);
        self.inner.write(offset, raw, event)
    }

    fn preparer(&self) -> Option<Preparer> {
        let inner = self.inner.preparer();
        let pool = Arc::new(ScreenPool {
            template: self.detection.screen(),
            free: std::sync::Mutex::new(Vec::new()),
        });
        Some(Arc::new(move |offset, raw, text, event| {
            let inner = inner.as_ref().map(|p| p(offset, raw, text, event));
            let screened = pool.screen(event);
            Prepared {
                // Without an inner preparer, the inner sink's write reads the event.
                needs_event: inner.as_ref().is_none_or(|p| p.needs_event),
                value: Box::new(Detected { inner, screened }),
            }
        }))
    }

    fn write_prepared(
        &mut self,
        offset: u64,
        raw: &RawEvent,
        event: &mut Event,
        prepared: Option<Prepared>,
    ) -> Result<(), SinkError> {
        let detected = prepared.and_then(|p| p.value.downcast::<Detected>().ok());
        let Some(detected) = detected else {
            return self.write(offset, raw, event);
        };
        let Detected { inner, screened } = *detected;
        self.detected(raw, event, screened);
        match inner {
            Some(p) => self.inner.write_prepared(offset, raw, event, Some(p)),
            None => self.inner.write(offset, raw, event),
        }
    }

    fn recover(&mut self) -> Result<(), SinkError> {
        // The matches of events not committed are dropped: those events are written, and
        // detected, again. Matches owed for committed events are kept (the events after
        // them, detected again, are recognised as replays by the alert store).
        if !self.owed {
            self.detection.discard_pending();
        }
        self.inner.recover()
    }

    fn commit(&mut self) -> Result<(), SinkError> {
        self.inner.commit()?;
        self.flush_owed()?;
        self.reload_cti();
        Ok(())
    }

    fn idle(&mut self) -> Result<(), SinkError> {
        self.inner.idle()?;
        if self.owed {
            self.flush_owed()?;
        }
        if let Err(e) = self.detection.idle() {
            self.failed(e);
        }
        self.reload_cti();
        Ok(())
    }
}

impl DetectingSink {
    /// Picks up indicators imported since the last look (CLI, API or feed), at most every
    /// [`CTI_RELOAD_EVERY`], and hunts for them in the stored events.
    fn reload_cti(&mut self) {
        if self.last_cti_check.elapsed() >= CTI_RELOAD_EVERY {
            self.last_cti_check = std::time::Instant::now();
            let source = self
                .retrohunt
                .as_ref()
                .map(|s| s as &dyn detect::cti::EventSource);
            match self.detection.reload_cti(source) {
                Ok(Some(hunt)) => tracing::info!(?hunt, "retrohunt of newly imported indicators"),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot reload CTI indicators"),
            }
        }
    }
}

/// The event store as the source of a retrohunt or a rule run: the stored events of a time
/// range, read a page at a time, through the server's own store handle when it has one.
pub struct StoreSource {
    store: StoreAccess,
    shared: bool,
}

impl StoreSource {
    /// Reads through `store` (the writer's handle in the server).
    pub fn new(store: StoreAccess) -> Self {
        Self {
            store,
            shared: false,
        }
    }

    /// Says whether every node of the cluster reads this same store (ClickHouse with the
    /// CTI in PostgreSQL): one node then retrohunts each import for all.
    pub fn shared_by_cluster(mut self, shared: bool) -> Self {
        self.shared = shared;
        self
    }

    fn scan(
        &self,
        from: time::OffsetDateTime,
        to: time::OffsetDateTime,
        visit: &mut dyn FnMut(&Map<String, Value>) -> bool,
    ) -> Result<(), String> {
        let q = store::EventQuery {
            query: store::Query::parse("*").map_err(|e| e.to_string())?,
            range: store::TimeRange { from, to },
        };
        self.store.with(|store| {
            let mut after = None;
            loop {
                let page = store
                    .search(&q, RETROHUNT_PAGE, after)
                    .map_err(|e| e.to_string())?;
                for ev in &page.events {
                    if !visit(ev) {
                        return Ok(());
                    }
                }
                match page.next {
                    Some(c) => after = Some(c),
                    None => return Ok(()),
                }
            }
        })
    }
}

/// Events read per page during a retrohunt.
const RETROHUNT_PAGE: usize = 1000;

fn to_time(
    t: detect::chrono::DateTime<detect::chrono::Utc>,
) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::from_unix_timestamp_nanos(
        t.timestamp_nanos_opt().ok_or("time out of range")? as i128,
    )
    .map_err(|e| e.to_string())
}

impl detect::cti::EventSource for StoreSource {
    fn shared(&self) -> bool {
        self.shared
    }

    fn scan_since(
        &self,
        since: detect::chrono::DateTime<detect::chrono::Utc>,
        visit: &mut dyn FnMut(&Map<String, Value>) -> bool,
    ) -> Result<(), String> {
        // Events stamped slightly in the future (clock skew) are hunted too.
        let to = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        self.scan(to_time(since)?, to, visit)
    }

    fn scan_range(
        &self,
        from: detect::chrono::DateTime<detect::chrono::Utc>,
        to: detect::chrono::DateTime<detect::chrono::Utc>,
        visit: &mut dyn FnMut(&Map<String, Value>) -> bool,
    ) -> Result<(), String> {
        // The store's ranges end before `to`; the trait's include it.
        self.scan(
            to_time(from)?,
            to_time(to)? + time::Duration::nanoseconds(1),
            visit,
        )
    }
}

/// How often the CTI poller looks for a source that is due (a new source is polled within this).
const CTI_POLL_TICK: std::time::Duration = std::time::Duration::from_secs(2);

/// The server's poller of registered CTI sources (`ziaxdr cti source add`): a thread that
/// imports each due source into the CTI store, where detection picks the indicators up. On a
/// cluster every node runs one over PostgreSQL's store, and each due source is claimed by one
/// of them (`detect::cti::sources::poll_due`). Stops when dropped.
pub struct CtiPoller {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CtiPoller {
    /// Starts polling the sources registered in `store` (see [`StateChoice::cti`]).
    pub fn start(mut store: detect::cti::CtiStore) -> anyhow::Result<CtiPoller> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cti-poller".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match detect::cti::sources::poll_due(&mut store, chrono::Utc::now()) {
                        Ok(runs) => {
                            for (url, outcome) in runs {
                                match outcome {
                                    Ok((seen, changed)) => {
                                        tracing::info!(%url, seen, changed, "CTI source polled")
                                    }
                                    Err(error) => {
                                        tracing::warn!(%url, %error, "CTI source poll failed")
                                    }
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot read the CTI sources"),
                    }
                    // Sleep in short steps so that a stop is prompt.
                    let until = std::time::Instant::now() + CTI_POLL_TICK;
                    while std::time::Instant::now() < until && !flag.load(Ordering::Relaxed) {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                }
            })?;
        Ok(CtiPoller {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for CtiPoller {
    fn drop(&mut self) {
        // Not joined: a fetch in progress may take up to its timeout, and shutting down must
        // not wait for it (an interrupted import is redone from the feed's cursor).
        self.stop.store(true, Ordering::Relaxed);
        drop(self.thread.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use store::{EventSearch, Query, TimeSpec};

    /// Records of every log type as the simulator writes them, malicious ones included,
    /// behind an NSS syslog header, plus lines the parser cannot read.
    fn feed(n: usize) -> Vec<String> {
        let mut gen = sim::Generator::new(&sim::GenConfig {
            seed: 7,
            mix: nss::LogType::ALL.iter().map(|t| (*t, 1)).collect(),
            malicious: 0.2,
            transport: nss::Transport::Nss,
        })
        .unwrap();
        let mut out: Vec<String> = (0..n)
            .map(|_| {
                let mut line = Vec::new();
                gen.next(1_717_200_000, &mut line);
                String::from_utf8(line).unwrap().trim_end().to_string()
            })
            .collect();
        out.push("garbage that is no record".into());
        out.push("{\"sourcetype\":\"zscalernss-web\",\"event\":{\"action\":\"NA\"".into());
        out
    }

    #[test]
    fn the_store_sink_keeps_every_pipeline_event_as_its_record_and_reads_it_back_whole() {
        let d = tempfile::tempdir().unwrap();
        let j =
            journal::Journal::open(d.path().join("journal"), journal::Config::default()).unwrap();
        let records = feed(700);
        let raws: Vec<Vec<u8>> = records
            .iter()
            .map(|r| {
                RawEvent {
                    intake: intake::uuid::Uuid::nil(),
                    id: intake::uuid::Uuid::now_v7(),
                    received_at_us: 1_717_200_000_000_000,
                    transport: pipeline::raw::Transport::Syslog,
                    peer: "127.0.0.1:5000".into(),
                    data: r.as_bytes().to_vec(),
                }
                .encode()
            })
            .collect();
        j.append_blocking(raws).unwrap();
        let sink = StoreSink::open_with(d.path(), store::StoreConfig::default()).unwrap();
        let OpenStore::Tantivy(store) = sink.store() else {
            panic!("the default store is the embedded one");
        };
        pipeline::run(
            j,
            Box::new(sink),
            pipeline::PipelineConfig::default(),
            pipeline::PipelineMetrics::new(),
            Arc::new(AtomicBool::new(true)),
        )
        .unwrap();
        // Debug builds check every event's rebuild: none fell back to whole JSON.
        assert!(store.keeps_records());
        let q = store::EventQuery {
            query: Query::parse("*").unwrap(),
            range: TimeSpec {
                from: Some("1970-01-02".into()),
                to: Some("2100-01-01".into()),
                since: None,
            }
            .resolve(time::OffsetDateTime::now_utc())
            .unwrap(),
        };
        let page = store.search(&q, 10_000, None).unwrap();
        assert_eq!(page.events.len(), records.len());
        let mut originals: Vec<&str> = page
            .events
            .iter()
            .map(|e| e["event"]["original"].as_str().unwrap())
            .collect();
        originals.sort_unstable();
        let mut want: Vec<&str> = records.iter().map(String::as_str).collect();
        want.sort_unstable();
        assert_eq!(originals, want);
        assert!(page
            .events
            .iter()
            .all(|e| e["ziaxdr"]["transport"] == "syslog" && e["event"]["ingested"].is_string()));
    }
}
