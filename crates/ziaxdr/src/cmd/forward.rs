//! `ziaxdr forward`: the on-prem log concentrator (NSS syslog in, disk buffer, HTTPS or TLS
//! syslog out), and `ziaxdr forward status`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use forward::config::{ClientTls, DestSpec, ListenSpec, WhenFull};
use forward::{ForwardConfig, Forwarder};

/// Arguments of `ziaxdr forward`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    // Boxed: the options are large and `Command` in main.rs holds every subcommand inline.
    #[command(flatten)]
    opts: Box<Opts>,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Show the buffer and each destination's progress (from the running forwarder, or
    /// from the data directory when none runs).
    Status {
        /// Data directory of the forwarder [default: ./ziaxdr-forward].
        #[arg(long, env = "ZIAXDR_DATA")]
        data: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The options of `ziaxdr forward`, also the schema of its TOML configuration file.
// No `Debug`: the options hold keys, tokens and passwords, which must never be printed.
#[derive(clap::Args, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[command(after_help = "Examples:\n\
  # an NSS VM feed on the local subnet, forwarded to Sekoia.io over HTTPS\n\
  ziaxdr forward --data /var/lib/ziaxdr-forward --listen tcp://0.0.0.0:5514=INTAKE_KEY \\\n\
      --to https://intake.sekoia.io/plain/batch\n\
  # two feeds, to Sekoia's syslog intake and to a local ziaxdr (its own key after '#')\n\
  ziaxdr forward --listen tcp://0.0.0.0:5514=KEY_WEB --listen tcp://0.0.0.0:5515=KEY_FW \\\n\
      --to tls://intake.sekoia.io:10514 --to 'https://xdr.internal:8443/plain/batch#ZIAXDR_KEY' --ca xdr-ca.pem\n\
  # Cloud NSS posting to the concentrator (POST /plain/batch, key in X-SEKOIAIO-INTAKE-KEY)\n\
  ziaxdr forward --listen https://0.0.0.0:8443 --tls-cert c.pem --tls-key k.pem --to https://intake.sekoia.io/plain/batch\n\
  ziaxdr forward --config /etc/ziaxdr/forward.toml\n\
  ziaxdr forward status --data /var/lib/ziaxdr-forward\n\n\
Every line is fsynced to the buffer before more is read (an HTTP batch before it is answered),\n\
so while the disk or the buffer cannot keep up, TCP pushes back on the NSS VM, and Cloud NSS\n\
is answered 503 with Retry-After. Each --to has its own cursor: one that is down\n\
does not hold back another. Records are sent with the key of their listener, or the one in\n\
their own [SEKOIA@53288 intake_key=\"…\"] element; a '#KEY' after a --to replaces it for that\n\
destination. Listeners bind to what you give: use 127.0.0.1 unless the NSS VM is remote.\n\
/metrics, /healthz and /status are served on --metrics (127.0.0.1:9514). Docs: docs/forward.md")]
pub struct Opts {
    /// TOML configuration file (same names as the flags, e.g. `listen = ["tcp://0.0.0.0:5514=KEY"]`).
    #[arg(long, env = "ZIAXDR_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Data directory (buffer journal and cursors) [default: ./ziaxdr-forward].
    #[arg(long, env = "ZIAXDR_DATA")]
    pub data: Option<PathBuf>,
    /// Listener: syslog `tcp://ADDR:PORT[=KEY]` or `tls://ADDR:PORT[=KEY]`, or Cloud NSS
    /// batches `http://ADDR:PORT[=KEY]` or `https://ADDR:PORT[=KEY]` (repeatable)
    /// [default: tcp://127.0.0.1:5514].
    #[arg(
        long,
        env = "ZIAXDR_FORWARD_LISTEN",
        value_delimiter = ',',
        hide_env_values = true
    )]
    #[serde(default)]
    pub listen: Vec<String>,
    /// Destination: `https://HOST[:PORT]/PATH` or `tls://HOST:PORT`, optionally `#KEY` (repeatable)
    /// [default: https://intake.sekoia.io/plain/batch].
    #[arg(
        long,
        env = "ZIAXDR_FORWARD_TO",
        value_delimiter = ',',
        hide_env_values = true
    )]
    #[serde(default)]
    pub to: Vec<String>,
    /// PEM certificate chain of the tls:// and https:// listeners.
    #[arg(long, env = "ZIAXDR_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the tls:// and https:// listeners.
    #[arg(long, env = "ZIAXDR_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates to trust for the destinations instead of the bundled web roots.
    #[arg(long, env = "ZIAXDR_FORWARD_CA")]
    pub ca: Option<PathBuf>,
    /// PEM client certificate for the destinations (mutual TLS).
    #[arg(long, env = "ZIAXDR_FORWARD_CLIENT_CERT")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, env = "ZIAXDR_FORWARD_CLIENT_KEY")]
    pub client_key: Option<PathBuf>,
    /// Disk budget of the buffer in bytes [default: 10 GiB].
    #[arg(long, env = "ZIAXDR_FORWARD_MAX_DISK_BYTES")]
    pub max_disk_bytes: Option<u64>,
    /// Buffer segment size in bytes, the unit drop-oldest drops [default: 64 MiB, at most a
    /// sixteenth of the budget].
    #[arg(long, env = "ZIAXDR_FORWARD_SEGMENT_BYTES")]
    pub segment_bytes: Option<u64>,
    /// When the budget is used up: `block` (TCP back-pressure) or `drop-oldest` (counted)
    /// [default: block].
    #[arg(long, env = "ZIAXDR_FORWARD_WHEN_FULL")]
    pub when_full: Option<String>,
    /// Largest HTTP batch before gzip, in bytes [default: 1 MiB].
    #[arg(long, env = "ZIAXDR_FORWARD_BATCH_BYTES")]
    pub batch_bytes: Option<usize>,
    /// Most records in one batch [default: 10000].
    #[arg(long, env = "ZIAXDR_FORWARD_BATCH_RECORDS")]
    pub batch_records: Option<usize>,
    /// Longest a record waits for its batch to fill [default: 1s].
    #[arg(long, env = "ZIAXDR_FORWARD_BATCH_AGE")]
    pub batch_age: Option<String>,
    /// A batch not yet full goes out once no record has arrived for this long (the end of a
    /// burst is not held for --batch-age); 0 counts as 1ms, the shortest wait [default: 100ms].
    #[arg(long, env = "ZIAXDR_FORWARD_BATCH_LINGER")]
    pub batch_linger: Option<String>,
    /// First retry delay, doubled after each failure, with jitter [default: 1s].
    #[arg(long, env = "ZIAXDR_FORWARD_RETRY_INITIAL")]
    pub retry_initial: Option<String>,
    /// Longest retry delay [default: 60s].
    #[arg(long, env = "ZIAXDR_FORWARD_RETRY_MAX")]
    pub retry_max: Option<String>,
    /// Timeout of one request or connection attempt [default: 30s].
    #[arg(long, env = "ZIAXDR_FORWARD_REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,
    /// At SIGTERM, how long to keep sending what is buffered; the rest stays on disk [default: 10s].
    #[arg(long, env = "ZIAXDR_FORWARD_DRAIN_TIMEOUT")]
    pub drain_timeout: Option<String>,
    /// HTTP batches in flight at once per destination [default: 4].
    #[arg(long, env = "ZIAXDR_FORWARD_HTTP_INFLIGHT")]
    pub http_inflight: Option<usize>,
    /// Send HTTP batches without gzip.
    #[arg(long)]
    #[serde(default)]
    pub no_gzip: bool,
    /// Address of /metrics, /healthz and /status, or `off` [default: 127.0.0.1:9514].
    #[arg(long, env = "ZIAXDR_FORWARD_METRICS")]
    pub metrics: Option<String>,
    /// Longest syslog line in bytes [default: 256000].
    #[arg(long, env = "ZIAXDR_MAX_EVENT_BYTES")]
    pub max_line_bytes: Option<usize>,
    /// Seconds without data before a syslog connection is closed [default: 300].
    #[arg(long, env = "ZIAXDR_SYSLOG_IDLE_TIMEOUT")]
    pub idle_timeout: Option<u64>,
    /// Concurrent connections per listener [default: 1000].
    #[arg(long, env = "ZIAXDR_SYSLOG_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Do not fsync the buffer (benchmarks only: a crash then loses what was read).
    #[arg(long, hide = true)]
    #[serde(default)]
    pub no_fsync: bool,
}

fn duration(name: &str, v: &Option<String>) -> anyhow::Result<Option<Duration>> {
    v.as_deref()
        .map(|s| humantime::parse_duration(s).with_context(|| format!("bad --{name} {s:?}")))
        .transpose()
}

impl Opts {
    fn with_file(mut self) -> anyhow::Result<Opts> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let mut f: Opts = super::read_toml(&path)?;
        merge!(
            self,
            f,
            data,
            tls_cert,
            tls_key,
            ca,
            client_cert,
            client_key,
            max_disk_bytes,
            segment_bytes,
            when_full,
            batch_bytes,
            batch_records,
            batch_age,
            batch_linger,
            retry_initial,
            retry_max,
            request_timeout,
            drain_timeout,
            http_inflight,
            metrics,
            max_line_bytes,
            idle_timeout,
            max_connections
        );
        if self.listen.is_empty() {
            self.listen = std::mem::take(&mut f.listen);
        }
        if self.to.is_empty() {
            self.to = std::mem::take(&mut f.to);
        }
        self.no_gzip |= f.no_gzip;
        self.no_fsync |= f.no_fsync;
        Ok(self)
    }

    fn forward_config(&self) -> anyhow::Result<ForwardConfig> {
        let data = self.data.clone().unwrap_or_else(|| "ziaxdr-forward".into());
        let listen = if self.listen.is_empty() {
            vec!["tcp://127.0.0.1:5514".to_string()]
        } else {
            self.listen.clone()
        };
        let listen = listen
            .iter()
            .map(|s| s.parse::<ListenSpec>())
            .collect::<Result<Vec<_>, _>>()?;
        let to = if self.to.is_empty() {
            vec![forward::config::SEKOIA_BATCH_URL.to_string()]
        } else {
            self.to.clone()
        };
        let to = to
            .iter()
            .map(|s| s.parse::<DestSpec>())
            .collect::<Result<Vec<_>, _>>()?;
        let mut c = ForwardConfig::new(data, listen, to);
        c.server_cert = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together"),
        };
        c.client_tls = ClientTls {
            ca: self.ca.clone(),
            cert: self.client_cert.clone(),
            key: self.client_key.clone(),
        };
        if let Some(v) = self.max_disk_bytes {
            c.max_disk_bytes = v.max(64 * 1024);
        }
        if let Some(v) = self.segment_bytes {
            c.segment_bytes = v;
        }
        if let Some(v) = &self.when_full {
            c.when_full = v.parse::<WhenFull>()?;
        }
        let t = &mut c.tuning;
        if let Some(v) = self.batch_bytes {
            t.batch_bytes = v.max(1);
        }
        if let Some(v) = self.batch_records {
            t.batch_records = v.max(1);
        }
        if let Some(v) = duration("batch-age", &self.batch_age)? {
            t.batch_age = v;
        }
        if let Some(v) = duration("batch-linger", &self.batch_linger)? {
            t.batch_linger = v;
        }
        if let Some(v) = duration("retry-initial", &self.retry_initial)? {
            t.retry_initial = v.max(Duration::from_millis(1));
        }
        if let Some(v) = duration("retry-max", &self.retry_max)? {
            t.retry_max = v.max(t.retry_initial);
        }
        if let Some(v) = duration("request-timeout", &self.request_timeout)? {
            t.request_timeout = v;
        }
        if let Some(v) = duration("drain-timeout", &self.drain_timeout)? {
            t.drain_timeout = v;
        }
        if let Some(v) = self.http_inflight {
            t.http_inflight = v.clamp(1, 64);
        }
        t.gzip = !self.no_gzip;
        c.metrics_addr = match self.metrics.as_deref() {
            None => c.metrics_addr,
            Some("off") | Some("") => None,
            Some(a) => Some(
                a.parse::<SocketAddr>()
                    .with_context(|| format!("bad --metrics address {a:?}"))?,
            ),
        };
        if let Some(v) = self.max_line_bytes {
            c.input.max_line = v.max(1);
        }
        if let Some(v) = self.idle_timeout {
            c.input.idle_timeout = Duration::from_secs(v.max(1));
        }
        if let Some(v) = self.max_connections {
            c.input.max_connections = v.max(1);
        }
        c.fsync = !self.no_fsync;
        Ok(c)
    }
}

/// Runs `ziaxdr forward` or `ziaxdr forward status`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    if let Some(Sub::Status { data, json }) = args.command {
        return status(data.unwrap_or_else(|| "ziaxdr-forward".into()), json);
    }
    let opts = args.opts.with_file()?;
    let cfg = opts.forward_config()?;
    let data = cfg.data_dir.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let shutdown = super::serve::shutdown_signal()?;
        let fwd = Forwarder::bind(cfg)
            .await
            .with_context(|| format!("cannot start the forwarder in {}", data.display()))?;
        let listen: Vec<String> = fwd.listeners().iter().map(|l| l.to_string()).collect();
        let metrics = fwd.metrics_addr().map_or("-".into(), |a| a.to_string());
        let running = data.join(forward::RUNNING_FILE);
        let info = serde_json::json!({"metrics": metrics, "pid": std::process::id()});
        if let Err(e) = std::fs::write(&running, info.to_string()) {
            tracing::warn!(error = %e, "cannot record where the forwarder serves /status");
        }
        tracing::info!(listen = %listen.join(","), %metrics, "forwarding");
        // A stable line for scripts and tests that listen on port 0.
        eprintln!("listening {} metrics={metrics}", listen.join(" "));
        let r = fwd.run(shutdown).await;
        let _ = std::fs::remove_file(&running);
        r.map_err(anyhow::Error::from)
    })?;
    Ok(0)
}

fn fetch_status(data: &std::path::Path) -> Option<forward::Status> {
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join(forward::RUNNING_FILE)).ok()?)
            .ok()?;
    let addr = info["metrics"].as_str()?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let text = agent
        .get(format!("http://{addr}/status"))
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    serde_json::from_str(&text).ok()
}

fn status(data: PathBuf, json: bool) -> anyhow::Result<i32> {
    let (st, live) = match fetch_status(&data) {
        Some(s) => (s, true),
        None => {
            // Not running: read the buffer and the cursors from disk.
            let dests = known_destinations(&data)?;
            let buffer = forward::Buffer::open(
                &data,
                journal::Config::default(),
                &dests,
                WhenFull::Block,
                forward::Metrics::new(),
            )
            .with_context(|| format!("cannot open the buffer in {}", data.display()))?;
            (buffer.status(), false)
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(0);
    }
    println!(
        "forwarder {}: buffer offsets {}..{}, {} of {} bytes used, when full: {}",
        if live { "running" } else { "stopped" },
        st.buffer.start,
        st.buffer.end,
        st.buffer.disk_bytes,
        st.buffer.budget_bytes,
        st.buffer.when_full
    );
    for d in &st.destinations {
        println!(
            "  {}  unsent {} (oldest {:.0}s)  sent {}  retried {}  failed {}  dropped {}",
            d.destination, d.lag_records, d.lag_seconds, d.sent, d.retried, d.failed, d.dropped
        );
    }
    Ok(0)
}

/// The destinations whose cursors are in DATA/cursors (their labels sit beside them).
fn known_destinations(data: &std::path::Path) -> anyhow::Result<Vec<DestSpec>> {
    let dir = data.join("cursors");
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .with_context(|| format!("no forwarder data in {}", data.display()))?;
    for e in entries.flatten() {
        if e.path().extension().is_some_and(|x| x == "dest") {
            if let Ok(label) = std::fs::read_to_string(e.path()) {
                if let Ok(d) = label.trim().parse::<DestSpec>() {
                    out.push(d);
                }
            }
        }
    }
    out.sort_by_key(|d| d.label());
    Ok(out)
}
