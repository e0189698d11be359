//! `ziaxdr serve`: the intake server (Sekoia-compatible HTTP, syslog TCP, journal, pipeline).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use intake::{Server, ServerConfig};
use pipeline::{NdjsonSink, PipelineConfig, Sink};

/// Arguments of `ziaxdr serve`. Every flag can also be set in the TOML file given by
/// `--config` (same names, e.g. `http = "0.0.0.0:8443"`) or as a `ZIAXDR_…` variable;
/// a flag or variable wins over the file.
#[derive(clap::Args)]
pub struct Args {
    // Boxed: the options are large and `Command` in main.rs holds every subcommand inline.
    #[command(flatten)]
    opts: Box<Opts>,
}

/// The options of `ziaxdr serve`, also the schema of its TOML configuration file.
// No `Debug`: the options hold keys, tokens and passwords, which must never be printed.
#[derive(clap::Args, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[command(
    after_help = "Examples:\n  ziaxdr serve\n  ziaxdr serve --data /var/lib/ziaxdr --http 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem\n  ziaxdr serve --config /etc/ziaxdr.toml\n\n\
On first start an entity and a \"Zscaler Internet Access\" intake are created and their key\n\
and URLs are printed once, with the web console's URL and its admin password. Point Cloud NSS\n\
at /plain/batch?status_code=200 with the header X-SEKOIAIO-INTAKE-KEY, and an NSS VM at the\n\
syslog port; the console's Intakes page shows the exact settings. Every route but the intake\n\
paths, /healthz, /readyz and /metrics needs a console session or an API token."
)]
pub struct Opts {
    /// TOML configuration file.
    #[arg(long, env = "ZIAXDR_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Data directory (journal, registry, event output) [default: ./ziaxdr-data].
    #[arg(long, env = "ZIAXDR_DATA")]
    pub data: Option<PathBuf>,
    /// HTTP intake address; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, env = "ZIAXDR_HTTP")]
    pub http: Option<SocketAddr>,
    /// Syslog TCP address, or `off` [default: 127.0.0.1:10514].
    #[arg(long, env = "ZIAXDR_SYSLOG")]
    pub syslog: Option<String>,
    /// Syslog over TLS address (needs --tls-cert and --tls-key).
    #[arg(long, env = "ZIAXDR_SYSLOG_TLS")]
    pub syslog_tls: Option<SocketAddr>,
    /// PEM certificate chain; with --tls-key, the HTTP intake serves HTTPS.
    #[arg(long, env = "ZIAXDR_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, env = "ZIAXDR_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Intake key for syslog lines without `[SEKOIA@53288 intake_key="…"]`.
    #[arg(long, env = "ZIAXDR_SYSLOG_INTAKE_KEY", hide_env_values = true)]
    pub syslog_intake_key: Option<String>,
    /// The URL Zscaler and browsers reach this server at, e.g. `https://xdr.example.com:8443`;
    /// shown in the console's Cloud NSS settings [default: the --http address].
    #[arg(long, env = "ZIAXDR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Admin API token (Bearer) [default: the token printed at first start].
    #[arg(long, env = "ZIAXDR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Write events to this NDJSON file instead of the event store (DATA/store).
    #[arg(long, env = "ZIAXDR_OUTPUT")]
    pub output: Option<PathBuf>,
    /// Delete stored events older than this many days, a whole day at a time [default: keep all].
    #[arg(long, env = "ZIAXDR_RETENTION_DAYS")]
    pub retention_days: Option<u32>,
    /// Keep the event store under this many bytes by deleting the oldest days (the newest day
    /// is always kept) [default: no limit].
    #[arg(long, env = "ZIAXDR_RETENTION_MAX_BYTES")]
    pub retention_max_bytes: Option<u64>,
    /// Journal disk budget in bytes; beyond it intakes answer 503 [default: 10 GiB].
    #[arg(long, env = "ZIAXDR_JOURNAL_MAX_BYTES")]
    pub journal_max_bytes: Option<u64>,
    /// Journal segment size in bytes [default: 64 MiB].
    #[arg(long, env = "ZIAXDR_JOURNAL_SEGMENT_BYTES")]
    pub journal_segment_bytes: Option<u64>,
    /// Largest event in bytes [default: 256000 (250 KiB)].
    #[arg(long, env = "ZIAXDR_MAX_EVENT_BYTES")]
    pub max_event_bytes: Option<usize>,
    /// Largest HTTP request body, before and after gzip decoding [default: 10 MiB].
    #[arg(long, env = "ZIAXDR_MAX_REQUEST_BYTES")]
    pub max_request_bytes: Option<usize>,
    /// HTTP requests processed at once before answering 503 [default: 512].
    #[arg(long, env = "ZIAXDR_MAX_INFLIGHT")]
    pub max_inflight: Option<usize>,
    /// Events in one HTTP request beyond which it is refused with 413 [default: 100000].
    #[arg(long, env = "ZIAXDR_MAX_EVENTS_PER_REQUEST")]
    pub max_events_per_request: Option<usize>,
    /// Seconds a client has to send a request's headers [default: 10].
    #[arg(long, env = "ZIAXDR_HTTP_HEADER_TIMEOUT")]
    pub http_header_timeout: Option<u64>,
    /// Seconds a client has to send an intake request's body, then 408 [default: 60].
    #[arg(long, env = "ZIAXDR_HTTP_BODY_TIMEOUT")]
    pub http_body_timeout: Option<u64>,
    /// Seconds without traffic before an HTTP connection is closed [default: 120].
    #[arg(long, env = "ZIAXDR_HTTP_IDLE_TIMEOUT")]
    pub http_idle_timeout: Option<u64>,
    /// Open HTTP connections in all [default: 4096].
    #[arg(long, env = "ZIAXDR_HTTP_MAX_CONNECTIONS")]
    pub http_max_connections: Option<usize>,
    /// Open HTTP connections from one source address [default: 256].
    #[arg(long, env = "ZIAXDR_HTTP_MAX_CONNECTIONS_PER_SOURCE")]
    pub http_max_connections_per_source: Option<usize>,
    /// Seconds a search may take before it is stopped with 504 [default: 30].
    #[arg(long, env = "ZIAXDR_QUERY_TIMEOUT")]
    pub query_timeout: Option<u64>,
    /// Seconds without data before a syslog connection is closed [default: 300].
    #[arg(long, env = "ZIAXDR_SYSLOG_IDLE_TIMEOUT")]
    pub syslog_idle_timeout: Option<u64>,
    /// Concurrent syslog connections [default: 10000].
    #[arg(long, env = "ZIAXDR_SYSLOG_MAX_CONNECTIONS")]
    pub syslog_max_connections: Option<usize>,
    /// Extra Sigma rule directory, beside the shipped ZIA pack (repeatable).
    #[arg(long = "rules", value_name = "DIR")]
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// Playbook file (YAML) run on alert changes; see crates/detect/README.md.
    #[arg(long, env = "ZIAXDR_PLAYBOOKS")]
    pub playbooks: Option<PathBuf>,
    /// Days of stored events searched when new indicators are imported (0: no retrohunt) [default: 30].
    #[arg(long, env = "ZIAXDR_RETROHUNT_DAYS")]
    pub retrohunt_days: Option<u32>,
    /// Run no detection (rules, CTI) on incoming events.
    #[arg(long)]
    #[serde(default)]
    pub no_detection: bool,
    /// Store events in ClickHouse at this HTTP URL instead of DATA/store (e.g.
    /// http://127.0.0.1:8123); see docs/clickhouse.md.
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
    /// Keep the state (intakes, keys, entities, console users and sessions, alerts, rule
    /// state, CTI) in PostgreSQL at
    /// this URL instead of SQLite files under DATA, shared by every node of a cluster; see
    /// docs/cluster-state.md.
    #[arg(long, env = "ZIAXDR_POSTGRES", value_name = "URL")]
    pub postgres: Option<String>,
    /// PostgreSQL password, when not in the URL (never logged; prefer the variable or a file).
    #[arg(long, env = "ZIAXDR_POSTGRES_PASSWORD", hide_env_values = true)]
    pub postgres_password: Option<String>,
    /// File holding the PostgreSQL password (first line).
    #[arg(long, env = "ZIAXDR_POSTGRES_PASSWORD_FILE", value_name = "FILE")]
    pub postgres_password_file: Option<PathBuf>,
    /// PEM file of the CA certificates trusted for PostgreSQL's TLS [default: webpki roots].
    #[arg(long, env = "ZIAXDR_POSTGRES_CA", value_name = "FILE")]
    pub postgres_ca: Option<PathBuf>,
    /// Geolocation database (MaxMind DB format: GeoIP2/GeoLite2 or DB-IP City or Country):
    /// fills source.geo.* and destination.geo.* of every event.
    #[arg(long, env = "ZIAXDR_GEOIP", value_name = "FILE.mmdb")]
    pub geoip: Option<PathBuf>,
    /// Recent (intake, sourcetype, record id) keys remembered to drop duplicates [default: 1000000].
    #[arg(long, env = "ZIAXDR_DEDUP_WINDOW")]
    pub dedup_window: Option<usize>,
    /// Cluster role: `all` (intake and worker in one process; without --nats the single node
    /// of today), `intake` (receivers publishing to JetStream, console, API), `worker`
    /// (consumes JetStream, parses, detects, stores in ClickHouse) [default: all].
    #[arg(long, env = "ZIAXDR_ROLE", value_name = "ROLE")]
    pub role: Option<String>,
    /// NATS JetStream servers, comma-separated (nats://host:4222,…): events go through the
    /// cluster's stream instead of the local journal; see docs/cluster.md.
    #[arg(long, env = "ZIAXDR_NATS", value_name = "URL[,URL…]")]
    pub nats: Option<String>,
    /// NATS credentials file (`.creds`: JWT and nkey seed).
    #[arg(long, env = "ZIAXDR_NATS_CREDS", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// NATS user (with --nats-password).
    #[arg(long, env = "ZIAXDR_NATS_USER")]
    pub nats_user: Option<String>,
    /// NATS password (never logged; prefer the environment variable).
    #[arg(long, env = "ZIAXDR_NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// NATS token (never logged; prefer the environment variable).
    #[arg(long, env = "ZIAXDR_NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// PEM CA file to verify the NATS servers' TLS certificates (implies TLS).
    #[arg(long, env = "ZIAXDR_NATS_TLS_CA", value_name = "FILE")]
    pub nats_tls_ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS with NATS (with --nats-tls-key).
    #[arg(long, env = "ZIAXDR_NATS_TLS_CERT", value_name = "FILE")]
    pub nats_tls_cert: Option<PathBuf>,
    /// PEM client key for mutual TLS with NATS.
    #[arg(long, env = "ZIAXDR_NATS_TLS_KEY", value_name = "FILE")]
    pub nats_tls_key: Option<PathBuf>,
    /// Replicas of the JetStream stream when this node creates it (3 in production) [default: 1].
    #[arg(long, env = "ZIAXDR_NATS_REPLICAS")]
    pub nats_replicas: Option<usize>,
    /// Most bytes the stream holds; beyond it intakes answer 503 [default: 10 GiB].
    #[arg(long, env = "ZIAXDR_NATS_MAX_BYTES")]
    pub nats_max_bytes: Option<i64>,
    /// Seconds a worker has to acknowledge a message before JetStream hands it to another
    /// (a worker that died) [default: 60].
    #[arg(long, env = "ZIAXDR_NATS_ACK_WAIT")]
    pub nats_ack_wait: Option<u64>,
    /// JetStream stream name [default: ZIAXDR_EVENTS]; a stream given here has its own subject,
    /// `ziaxdr.events.NAME`, so several deployments can share one NATS cluster.
    #[arg(long, env = "ZIAXDR_NATS_STREAM")]
    pub nats_stream: Option<String>,
    /// Response in Zscaler: the `[zia]` table of the config file (or the `ZIA_…` variables);
    /// see docs/respond.md.
    #[arg(skip)]
    #[serde(default)]
    pub zia: Option<ziaapi::Settings>,
}

impl Opts {
    /// Fills every unset field from the `--config` file.
    fn with_file(mut self) -> anyhow::Result<Opts> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let mut f: Opts = super::read_toml(&path)?;
        merge!(
            self,
            f,
            data,
            http,
            syslog,
            syslog_tls,
            tls_cert,
            tls_key,
            syslog_intake_key,
            admin_token,
            public_url,
            output,
            retention_days,
            retention_max_bytes,
            journal_max_bytes,
            journal_segment_bytes,
            max_event_bytes,
            max_request_bytes,
            max_inflight,
            max_events_per_request,
            http_header_timeout,
            http_body_timeout,
            http_idle_timeout,
            http_max_connections,
            http_max_connections_per_source,
            query_timeout,
            syslog_idle_timeout,
            syslog_max_connections,
            dedup_window,
            playbooks,
            retrohunt_days,
            clickhouse,
            clickhouse_user,
            clickhouse_password,
            clickhouse_database,
            postgres,
            postgres_password,
            postgres_password_file,
            postgres_ca,
            geoip,
            role,
            nats,
            nats_creds,
            nats_user,
            nats_password,
            nats_token,
            nats_tls_ca,
            nats_tls_cert,
            nats_tls_key,
            nats_replicas,
            nats_max_bytes,
            nats_ack_wait,
            nats_stream
        );
        if self.rules.is_empty() {
            self.rules = std::mem::take(&mut f.rules);
        }
        self.no_detection |= f.no_detection;
        if self.zia.is_none() {
            self.zia = f.zia.take();
        }
        Ok(self)
    }

    /// The server configuration these options describe.
    pub(crate) fn server_config(&self) -> anyhow::Result<ServerConfig> {
        let data = self.data.clone().unwrap_or_else(|| "ziaxdr-data".into());
        let http = self.http.unwrap_or_else(|| ([127, 0, 0, 1], 8080).into());
        let syslog = match self.syslog.as_deref() {
            None => Some(([127, 0, 0, 1], 10514).into()),
            Some("off") | Some("") => None,
            Some(a) => Some(
                a.parse()
                    .with_context(|| format!("bad --syslog address {a:?}"))?,
            ),
        };
        let mut c = ServerConfig::new(data, http, syslog);
        c.syslog_tls_addr = self.syslog_tls;
        c.tls_cert = self.tls_cert.clone();
        c.tls_key = self.tls_key.clone();
        c.syslog.default_key = self.syslog_intake_key.clone();
        c.admin_token = self.admin_token.clone();
        if let Some(v) = self.journal_max_bytes {
            c.journal.max_disk_bytes = v;
        }
        if let Some(v) = self.journal_segment_bytes {
            c.journal.segment_bytes = v;
        }
        if let Some(v) = self.max_event_bytes {
            c.limits.max_event = v;
            c.syslog.max_line = v;
        }
        if let Some(v) = self.max_request_bytes {
            c.limits.max_request = v;
        }
        if let Some(v) = self.max_inflight {
            c.limits.max_inflight = v.max(1);
        }
        if let Some(v) = self.max_events_per_request {
            c.limits.max_events = v.max(1);
        }
        if let Some(v) = self.http_header_timeout {
            c.limits.header_timeout = Duration::from_secs(v.max(1));
        }
        if let Some(v) = self.http_body_timeout {
            c.limits.body_timeout = Duration::from_secs(v.max(1));
        }
        if let Some(v) = self.http_idle_timeout {
            c.limits.idle_timeout = Duration::from_secs(v.max(1));
        }
        if let Some(v) = self.http_max_connections {
            c.limits.max_connections = v.max(1);
        }
        if let Some(v) = self.http_max_connections_per_source {
            c.limits.max_connections_per_source = v.max(1);
        }
        if let Some(v) = self.syslog_idle_timeout {
            c.syslog.idle_timeout = Duration::from_secs(v.max(1));
        }
        if let Some(v) = self.syslog_max_connections {
            c.syslog.max_connections = v.max(1);
        }
        c.pipeline = PipelineConfig {
            dedup_window: self.dedup_window.unwrap_or(1_000_000),
            ..PipelineConfig::default()
        };
        if let Some(path) = &self.geoip {
            let geo = intake::geoip::GeoIp::open(path)?;
            tracing::info!(database = geo.database_type(), path = %path.display(), "geolocation on");
            c.pipeline.parser = intake::geoip::parser(c.pipeline.parser.clone(), Arc::new(geo));
        }
        if self.output.is_none() {
            // The event store indexes faster in bigger commits (about 40% at 200k events
            // against 10k); events become searchable within STORE_COMMIT_INTERVAL.
            c.pipeline.commit_events = STORE_COMMIT_EVENTS;
            c.pipeline.commit_interval = STORE_COMMIT_INTERVAL;
        }
        Ok(c)
    }
}

impl Opts {
    /// The `--postgres` options (the state's place).
    pub(crate) fn postgres_args(&self) -> crate::wiring::PostgresArgs {
        crate::wiring::PostgresArgs {
            postgres: self.postgres.clone(),
            postgres_password: self.postgres_password.clone(),
            postgres_password_file: self.postgres_password_file.clone(),
            postgres_ca: self.postgres_ca.clone(),
        }
    }
}

/// Events handed to the event store between two commits, at most.
const STORE_COMMIT_EVENTS: usize = 200_000;
/// Longest time an event waits before the event store commits it (and search sees it).
const STORE_COMMIT_INTERVAL: Duration = Duration::from_secs(2);

/// The pipeline's sink and, when it is the event store, the store's handle.
type SinkAndStore = (Box<dyn Sink>, Option<Arc<dyn store::EventSearch>>);

/// The sink the pipeline writes to. The one place to swap in another store.
/// The event store under DATA/store (with its handle, which the search API shares), or an
/// NDJSON file when `--output` is given.
fn build_sink(data_dir: &Path, args: &Opts) -> anyhow::Result<SinkAndStore> {
    if let Some(path) = args.output.as_deref() {
        let sink = NdjsonSink::open(path)
            .with_context(|| format!("cannot open event output {}", path.display()))?;
        return Ok((Box::new(sink), None));
    }
    let config = store::StoreConfig {
        retention: store::Retention {
            max_age_days: args.retention_days,
            max_total_bytes: args.retention_max_bytes,
        },
        ..Default::default()
    };
    let choice = crate::wiring::ClickHouseArgs {
        clickhouse: args.clickhouse.clone(),
        clickhouse_user: args.clickhouse_user.clone(),
        clickhouse_password: args.clickhouse_password.clone(),
        clickhouse_database: args.clickhouse_database.clone(),
    }
    .choice();
    let sink = crate::wiring::StoreSink::open_choice(&choice, data_dir, config)?;
    let store = sink.store().search();
    Ok((Box::new(sink), Some(store)))
}

/// The file in the data directory saying where a running server listens (`import` sends
/// through it while the server holds the journal).
pub(crate) const RUNNING_FILE: &str = "serve.json";

/// `scheme://host[:port]` of a URL: what browsers send as `Origin` for pages under it.
fn public_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next().filter(|a| !a.is_empty())?;
    Some(format!("{}://{}", scheme.to_ascii_lowercase(), authority))
}

/// Whether these options (and their `--config` file) make this process a worker only, with
/// no receivers: it then keeps the memory it frees for reuse, as the batch commands do
/// (`alloc::keep_freed_memory`). Called before any thread exists.
pub fn worker_only(args: &Args) -> bool {
    let role = match &args.opts.role {
        Some(r) => Some(r.clone()),
        None => args
            .opts
            .config
            .as_ref()
            .and_then(|p| super::read_toml::<Opts>(p).ok())
            .and_then(|f| f.role),
    };
    matches!(
        crate::wiring::Role::parse(role.as_deref()),
        Ok(crate::wiring::Role::Worker)
    )
}

/// Runs `ziaxdr serve`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let args = args.opts.with_file()?;
    let cfg = args.server_config()?;
    if let Some(t) = args.query_timeout {
        store::deadline::set_query_timeout(Duration::from_secs(t.max(1)));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let shutdown = shutdown_signal()?;
        serve(args, cfg, shutdown).await
    })?;
    Ok(0)
}

/// Serves until `shutdown` resolves (also used by `ziaxdr demo`).
pub(crate) async fn serve(
    args: Opts,
    mut cfg: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let data_dir = cfg.data_dir.clone();
    // The state's place, chosen once (wiring::StateChoice): PostgreSQL or DATA's SQLite files.
    let state = args.postgres_args().open()?;
    if state.pg.is_some() {
        cfg.registry = Some(Arc::new(state.registry(&data_dir)?));
    }
    let cluster = cluster_choice(&args)?;
    cluster.validate(args.clickhouse.is_some())?;
    if cluster.role == crate::wiring::Role::Worker {
        return serve_worker(&args, cfg, &cluster, &state, shutdown).await;
    }
    let alerts = state.alerts(&data_dir)?;
    let queue = cluster.intake_queue().await?;
    // On a cluster the pipeline runs in the worker (in this process for `--role all`); the
    // intake node only reads the store, for the console and the API.
    let (sink, store) = if queue.is_some() {
        let search = clickhouse_args(&args)
            .choice()
            .open_read_only(&data_dir)
            .context("cannot open the event store")?;
        (None, Some(search))
    } else {
        let (s, st) = build_sink(&data_dir, &args)?;
        (Some(s), st)
    };
    let mut sink = sink;
    // Registered TAXII/feed sources are polled for as long as the server runs.
    let _cti_poller = if args.no_detection {
        None
    } else {
        Some(crate::wiring::CtiPoller::start(state.cti(&data_dir)?)?)
    };
    let zia = crate::cmd::zia::server_responder(args.zia.as_ref(), &data_dir)?;
    let zia_for_worker = zia.clone();
    if !args.no_detection && sink.is_some() {
        let detection = detect::DetectionService::open_in(
            &detect::ServiceOptions {
                data_dir: data_dir.clone(),
                rule_dirs: args.rules.clone(),
                playbooks: args.playbooks.clone(),
                retrohunt_days: args.retrohunt_days.unwrap_or(30),
            },
            zia.clone(),
            &alerts,
            state.cti(&data_dir)?,
        )
        .context("cannot start detection (rules, CTI, alerts)")?;
        let detection = match &state.pg {
            Some(_) => detection.with_rule_state(state.rule_state(&data_dir)?)?,
            None => detection,
        };
        // Retrohunt reads the event store; with --output there is none to read.
        let shared = state.pg.is_some() && clickhouse_args(&args).choice().clickhouse.is_some();
        let source = store.clone().map(|s| {
            crate::wiring::StoreSource::new(console::api::StoreAccess::Shared(s))
                .shared_by_cluster(shared)
        });
        sink = sink.map(|s| -> Box<dyn Sink> {
            Box::new(crate::wiring::DetectingSink::new(s, detection, source))
        });
    }
    let worker_cfg = worker_config(&args, &cfg, &cluster);
    let server = Server::bind_with_queue(cfg, queue).await.with_context(|| {
        format!(
            "cannot start the server with data in {}",
            data_dir.display()
        )
    })?;
    // On a cluster, /metrics shows what waits in JetStream.
    cluster
        .watch_backlog(server.ingest().metrics.clone())
        .await?;
    let http = server.http_addr().map_or("-".into(), |a| a.to_string());
    let syslog = server.syslog_addr().map_or("-".into(), |a| a.to_string());
    let syslog_tls = server
        .syslog_tls_addr()
        .map_or("-".into(), |a| a.to_string());
    tracing::info!(%http, %syslog, %syslog_tls, https = server.is_https(), "listening");
    let running = data_dir.join(RUNNING_FILE);
    let info =
        serde_json::json!({"http": http, "https": server.is_https(), "pid": std::process::id()});
    if let Err(e) = std::fs::write(&running, info.to_string()) {
        tracing::warn!(error = %e, file = %running.display(), "cannot record where the server listens");
    }
    // A stable line for scripts and tests that start the server on port 0.
    eprintln!("listening http={http} syslog={syslog} syslog-tls={syslog_tls}");
    let scheme = if server.is_https() { "https" } else { "http" };
    if let Some(b) = server.registry().bootstrap()? {
        server.ingest().auth.invalidate();
        println!(
            "First start: created entity \"{}\" and intake \"{}\" ({}, format {}).\n\
             \x20 intake key:  {}\n\
             \x20 admin token: {}\n\
             Both are shown only now; `ziaxdr intake rotate {}` makes a new key.\n\
             \x20 Cloud NSS:  POST {scheme}://{http}/plain/batch?status_code=200  with header X-SEKOIAIO-INTAKE-KEY: <intake key>\n\
             \x20 NSS VM:     TCP {syslog}, each line carrying [SEKOIA@53288 intake_key=\"<intake key>\"]\n\
             \x20 Admin API:  {scheme}://{http}/v1/sic/conf/intakes  with header Authorization: Bearer <admin token>",
            b.entity.name,
            b.intake.intake.name,
            b.intake.intake.uuid,
            b.intake.intake.format,
            b.intake.intake_key,
            b.admin_token,
            b.intake.intake.uuid,
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    // The same token as the admin API: --admin-token when given, else the registry's.
    let token_hash = match args.admin_token.as_deref() {
        Some(t) => Some(intake::registry::hash_key(t)),
        None => server.registry().admin_token_hash()?,
    };
    let accounts = Arc::new(state.accounts(&data_dir)?);
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{http}"));
    let public_url = public_url.trim_end_matches('/').to_string();
    if let Some(password) = accounts.ensure_admin()? {
        println!(
            "Web console: {public_url}/console/\n\
             \x20 user:     admin\n\
             \x20 password: {password}\n\
             The password is shown only now; change it under Settings once signed in."
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
    } else {
        eprintln!("web console: {public_url}/console/");
    }
    let store_access = match store {
        Some(s) => console::api::StoreAccess::Shared(s),
        None => console::api::StoreAccess::Dir(data_dir.join("store")),
    };
    let console_state = console::api::ConsoleState {
        ingest: server.ingest().clone(),
        data_dir: data_dir.clone(),
        alerts: alerts.clone(),
        store: store_access.clone(),
        endpoints: console::api::PublicEndpoints {
            http_base: public_url.clone(),
            syslog: server.syslog_addr().map(|a| a.to_string()),
            syslog_tls: server.syslog_tls_addr().map(|a| a.to_string()),
        },
    };
    let auth = console::auth::AuthState {
        accounts,
        admin_token_hash: token_hash,
        secure_cookies: server.is_https(),
        public_origin: public_origin(&public_url),
    };
    let routes = crate::wiring::events_router(store_access.clone())
        .merge(crate::wiring::alerts_router(alerts.clone(), zia))
        .merge(crate::wiring::detection_router(
            data_dir.clone(),
            Arc::new(
                detect::api::RulesApi::new(&args.rules)
                    .context("cannot load the Sigma rules")?
                    .with_postgres(state.pg.clone())
                    .context("cannot open the rule state in PostgreSQL")?,
            ),
            state.cti(&data_dir)?,
            crate::wiring::StoreSource::new(store_access.clone()),
        ))
        .merge(console::api::router(console_state))
        .merge(console::auth::session_router(auth.clone()))
        .merge(console::assets::router());
    // `--role all` on a cluster: this process is a worker too.
    let worker = match worker_cfg {
        Some(wc) if cluster.runs_worker() => Some(spawn_worker(&args, wc, zia_for_worker, &state)?),
        _ => None,
    };
    let result = server
        .run_app(
            sink,
            move |intake_routes| {
                // One authentication layer in front of every route, the intake's included:
                // its admin API then also serves console administrators.
                intake_routes
                    .merge(routes)
                    .layer(axum::middleware::from_fn(crate::wiring::vouch_for_admins))
                    .layer(axum::middleware::from_fn_with_state(
                        auth,
                        console::auth::authenticate,
                    ))
            },
            shutdown,
        )
        .await;
    let _ = std::fs::remove_file(&running);
    if let Some(((stop, task), _, _)) = worker {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        task.await??;
    }
    result?;
    Ok(())
}

/// The `--clickhouse` options as the wiring takes them.
fn clickhouse_args(args: &Opts) -> crate::wiring::ClickHouseArgs {
    crate::wiring::ClickHouseArgs {
        clickhouse: args.clickhouse.clone(),
        clickhouse_user: args.clickhouse_user.clone(),
        clickhouse_password: args.clickhouse_password.clone(),
        clickhouse_database: args.clickhouse_database.clone(),
    }
}

/// The role and queue these options choose.
fn cluster_choice(args: &Opts) -> anyhow::Result<crate::wiring::ClusterChoice> {
    let role = crate::wiring::Role::parse(args.role.as_deref())?;
    let nats = match args.nats.as_deref() {
        None => None,
        Some(urls) => {
            let mut n = queue::jetstream::JetStreamConfig::new(
                queue::jetstream::JetStreamConfig::parse_urls(urls),
            );
            if n.urls.is_empty() {
                anyhow::bail!("--nats needs at least one URL");
            }
            n.credentials_file = args.nats_creds.clone();
            match (&args.nats_user, &args.nats_password) {
                (Some(u), Some(p)) => n.user_password = Some((u.clone(), p.clone())),
                (Some(u), None) => n.user_password = Some((u.clone(), String::new())),
                (None, Some(_)) => anyhow::bail!("--nats-password needs --nats-user"),
                (None, None) => {}
            }
            n.token = args.nats_token.clone();
            n.tls_ca = args.nats_tls_ca.clone();
            n.tls_required = args.nats_tls_ca.is_some();
            match (&args.nats_tls_cert, &args.nats_tls_key) {
                (Some(c), Some(k)) => n.tls_client = Some((c.clone(), k.clone())),
                (None, None) => {}
                _ => anyhow::bail!("--nats-tls-cert and --nats-tls-key go together"),
            }
            if let Some(r) = args.nats_replicas {
                n.replicas = r.clamp(1, 5);
            }
            if let Some(b) = args.nats_max_bytes {
                n.max_bytes = b.max(1 << 20);
            }
            if let Some(s) = args.nats_ack_wait {
                n.ack_wait = Duration::from_secs(s.max(1));
            }
            if let Some(s) = &args.nats_stream {
                // JetStream refuses two streams with one subject: each stream gets its own.
                n.subject = format!("ziaxdr.events.{s}");
                n.stream = s.clone();
            }
            let role_name = match role {
                crate::wiring::Role::All => "all",
                crate::wiring::Role::Intake => "intake",
                crate::wiring::Role::Worker => "worker",
            };
            n.name = format!("ziaxdr-{role_name}");
            Some(n)
        }
    };
    Ok(crate::wiring::ClusterChoice { role, nats })
}

/// The worker's configuration, when this process consumes JetStream.
fn worker_config(
    args: &Opts,
    cfg: &ServerConfig,
    cluster: &crate::wiring::ClusterChoice,
) -> Option<crate::worker::WorkerConfig> {
    let nats = cluster.nats.clone()?;
    let mut ch = clickhouse_args(args).choice().clickhouse?;
    ch.retention = store::Retention {
        max_age_days: args.retention_days,
        max_total_bytes: args.retention_max_bytes,
    };
    // A stopped server is found out within seconds, not after the default 5 minutes.
    ch.timeout = Duration::from_secs(60);
    let mut wc = crate::worker::WorkerConfig::new(nats, ch, cfg.data_dir.clone());
    wc.pipeline.dedup_window = cfg.pipeline.dedup_window;
    wc.pipeline.dedup_file = Some(cfg.data_dir.join("dedup.window"));
    Some(wc)
}

/// Handle of a worker running in this process: its stop flag and its task.
type WorkerHandle = (
    Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
);

/// Starts the worker (with detection unless `--no-detection`) on this runtime.
fn spawn_worker(
    args: &Opts,
    wc: crate::worker::WorkerConfig,
    zia: Option<Arc<ziaapi::Responder>>,
    state: &crate::wiring::StateChoice,
) -> anyhow::Result<(
    WorkerHandle,
    Arc<std::sync::atomic::AtomicBool>,
    intake::metrics::Metrics,
)> {
    let detection = if args.no_detection {
        None
    } else {
        Some(
            detect::DetectionService::open_in(
                &detect::ServiceOptions {
                    data_dir: wc.data_dir.clone(),
                    rule_dirs: args.rules.clone(),
                    playbooks: args.playbooks.clone(),
                    retrohunt_days: args.retrohunt_days.unwrap_or(30),
                },
                zia,
                &state.alerts(&wc.data_dir)?,
                state.cti(&wc.data_dir)?,
            )
            .context("cannot start detection (rules, CTI, alerts)")?,
        )
    };
    // On a cluster the rule state is PostgreSQL's: one enabled flag and one count per rule
    // for every worker.
    let detection = match (detection, &state.pg) {
        (Some(d), Some(_)) => Some(d.with_rule_state(state.rule_state(&wc.data_dir)?)?),
        (d, _) => d,
    };
    let retrohunt = clickhouse_args(args)
        .choice()
        .open_read_only(&wc.data_dir)
        .ok()
        .map(|s| {
            crate::wiring::StoreSource::new(console::api::StoreAccess::Shared(s))
                .shared_by_cluster(state.pg.is_some())
        });
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let nats_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let metrics = intake::metrics::Metrics::new();
    let task = tokio::spawn(crate::worker::run(
        wc,
        Box::new(move |sink: Box<dyn Sink>| -> Box<dyn Sink> {
            match detection {
                Some(d) => Box::new(crate::wiring::DetectingSink::new(sink, d, retrohunt)),
                None => sink,
            }
        }),
        metrics.clone(),
        nats_up.clone(),
        stop.clone(),
    ));
    Ok(((stop, task), nats_up, metrics))
}

/// `serve --role worker`: the worker, and `/healthz`, `/readyz`, `/metrics` on `--http`.
async fn serve_worker(
    args: &Opts,
    cfg: ServerConfig,
    cluster: &crate::wiring::ClusterChoice,
    state: &crate::wiring::StateChoice,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    let wc = worker_config(args, &cfg, cluster)
        .ok_or_else(|| anyhow::anyhow!("a worker needs --nats and --clickhouse"))?;
    let zia = crate::cmd::zia::server_responder(args.zia.as_ref(), &cfg.data_dir)?;
    let _cti_poller = if args.no_detection {
        None
    } else {
        Some(crate::wiring::CtiPoller::start(state.cti(&cfg.data_dir)?)?)
    };
    let ((stop, mut task), nats_up, metrics) = spawn_worker(args, wc, zia, state)?;
    cluster.watch_backlog(metrics.clone()).await?;
    let listener = tokio::net::TcpListener::bind(cfg.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.http_addr))?;
    let http = listener.local_addr()?;
    eprintln!("listening http={http} role=worker");
    let app = crate::wiring::worker_router(metrics, nats_up);
    let (stop_http_tx, stop_http_rx) = tokio::sync::oneshot::channel::<()>();
    let http_task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_http_rx.await;
            })
            .await
    });
    let early = tokio::select! {
        _ = shutdown => None,
        r = &mut task => Some(r),
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let result = match early {
        Some(r) => r?,
        None => task.await?,
    };
    let _ = stop_http_tx.send(());
    let _ = http_task.await;
    result
}

/// Installs the SIGTERM/SIGINT handlers now (before the listening line is printed, so a
/// signal sent right after it is never fatal) and returns a future that resolves on either.
pub(crate) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::public_origin;

    #[test]
    fn the_public_origin_is_scheme_and_authority_of_the_public_url() {
        assert_eq!(
            public_origin("https://xdr.example.com:8443/").as_deref(),
            Some("https://xdr.example.com:8443")
        );
        assert_eq!(
            public_origin("HTTP://10.0.0.5:8080").as_deref(),
            Some("http://10.0.0.5:8080")
        );
        assert_eq!(public_origin("xdr.example.com"), None);
    }
}
