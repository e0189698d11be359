//! Wiring: open the data directory, bind the listeners, run receivers and pipeline, and shut
//! down gracefully (stop accepting, finish in-flight requests, read what syslog senders have
//! already sent, drain the journal into the sink, commit the checkpoint).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::auth::Authenticator;
use crate::http::{AppState, Limits};
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::registry::{hash_key, Registry, RegistryError};
use crate::syslog::SyslogConfig;
use crate::tls::TlsError;
use pipeline::{PipelineConfig, RateLimitedLog, Sink};

/// How long graceful shutdown waits for in-flight HTTP requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding or serving a socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The journal failed to open.
    #[error(transparent)]
    Journal(#[from] journal::Error),
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The TLS files are unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The pipeline stopped on an error.
    #[error("pipeline stopped: {0}")]
    Pipeline(String),
}

/// Everything `ziaxdr serve` can configure.
#[derive(Clone)]
pub struct ServerConfig {
    /// Data directory: `journal/`, `registry.sqlite`, sink output.
    pub data_dir: PathBuf,
    /// HTTP intake address (HTTPS when `tls_cert` and `tls_key` are set).
    pub http_addr: SocketAddr,
    /// Plain syslog TCP address, if any.
    pub syslog_addr: Option<SocketAddr>,
    /// Syslog over TLS address, if any (needs `tls_cert` and `tls_key`).
    pub syslog_tls_addr: Option<SocketAddr>,
    /// PEM certificate chain.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Syslog options (the `tls` field is filled from `tls_cert`/`tls_key`).
    pub syslog: SyslogConfig,
    /// HTTP limits.
    pub limits: Limits,
    /// Journal options.
    pub journal: journal::Config,
    /// Pipeline options.
    pub pipeline: PipelineConfig,
    /// Admin API token; when absent, the token stored by first start is used.
    pub admin_token: Option<String>,
    /// The registry to use instead of `DATA/registry.sqlite` (the cluster's, in PostgreSQL).
    pub registry: Option<Arc<Registry>>,
}

impl ServerConfig {
    /// Defaults: loopback listeners on the given addresses, everything else default.
    pub fn new(data_dir: PathBuf, http_addr: SocketAddr, syslog_addr: Option<SocketAddr>) -> Self {
        ServerConfig {
            data_dir,
            http_addr,
            syslog_addr,
            syslog_tls_addr: None,
            tls_cert: None,
            tls_key: None,
            syslog: SyslogConfig::default(),
            limits: Limits::default(),
            journal: journal::Config::default(),
            pipeline: PipelineConfig::default(),
            admin_token: None,
            registry: None,
        }
    }
}

/// A server with its data directory open and its sockets bound, not yet serving.
pub struct Server {
    cfg: ServerConfig,
    ingest: Ingest,
    /// The local journal the pipeline reads (none on a cluster's intake node, whose queue is
    /// JetStream).
    journal: Option<journal::Journal>,
    registry: Arc<Registry>,
    http: TcpListener,
    syslog: Option<TcpListener>,
    syslog_tls: Option<TcpListener>,
    tls_http: Option<Arc<rustls::ServerConfig>>,
    tls_syslog: Option<Arc<rustls::ServerConfig>>,
}

impl Server {
    /// Opens the journal and registry and binds every listener (port 0 picks a free port).
    pub async fn bind(cfg: ServerConfig) -> Result<Server, ServerError> {
        Server::bind_with_queue(cfg, None).await
    }

    /// Like [`Server::bind`]; with `queue` (JetStream, a cluster's intake node) the receivers
    /// append there and no local journal is opened, so [`Server::run_app`] runs no pipeline.
    pub async fn bind_with_queue(
        cfg: ServerConfig,
        queue: Option<Arc<dyn queue::Queue>>,
    ) -> Result<Server, ServerError> {
        std::fs::create_dir_all(&cfg.data_dir)?;
        make_private(&cfg.data_dir)?;
        let (queue, journal) = match queue {
            Some(q) => (q, None),
            None => {
                let j = journal::Journal::open(cfg.data_dir.join("journal"), cfg.journal.clone())?;
                let q: Arc<dyn queue::Queue> = Arc::new(queue::JournalQueue::new(j.clone()));
                (q, Some(j))
            }
        };
        let registry = match &cfg.registry {
            Some(r) => r.clone(),
            None => Arc::new(Registry::open_in(&cfg.data_dir)?),
        };
        let auth = Arc::new(Authenticator::new(registry.clone())?);
        let (tls_http, tls_syslog) = match (&cfg.tls_cert, &cfg.tls_key) {
            (Some(c), Some(k)) => (
                Some(crate::tls::server_config(c, k, &[b"h2", b"http/1.1"])?),
                Some(crate::tls::server_config(c, k, &[])?),
            ),
            _ => (None, None),
        };
        if cfg.syslog_tls_addr.is_some() && tls_syslog.is_none() {
            return Err(ServerError::Tls(TlsError::Pem {
                path: "(none)".into(),
                message: "a syslog TLS listener needs --tls-cert and --tls-key".into(),
            }));
        }
        let http = TcpListener::bind(cfg.http_addr).await?;
        let syslog = match cfg.syslog_addr {
            Some(a) => Some(TcpListener::bind(a).await?),
            None => None,
        };
        let syslog_tls = match cfg.syslog_tls_addr {
            Some(a) => Some(TcpListener::bind(a).await?),
            None => None,
        };
        Ok(Server {
            ingest: Ingest {
                queue,
                auth,
                metrics: Metrics::new(),
            },
            journal,
            registry,
            http,
            syslog,
            syslog_tls,
            tls_http,
            tls_syslog,
            cfg,
        })
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.local_addr().ok()
    }

    /// The bound plain syslog address.
    pub fn syslog_addr(&self) -> Option<SocketAddr> {
        self.syslog.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound syslog TLS address.
    pub fn syslog_tls_addr(&self) -> Option<SocketAddr> {
        self.syslog_tls.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Whether the HTTP listener speaks TLS.
    pub fn is_https(&self) -> bool {
        self.tls_http.is_some()
    }

    /// The registry (for first-start bootstrap).
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The receivers' shared context (journal, authenticator, metrics).
    pub fn ingest(&self) -> &Ingest {
        &self.ingest
    }

    /// The HTTP state, e.g. to build [`crate::http::router`] and merge other routes into it.
    pub fn app_state(&self) -> Result<AppState, ServerError> {
        let admin = match &self.cfg.admin_token {
            Some(t) => Some(hash_key(t)),
            None => self.registry.admin_token_hash()?,
        };
        let mut st = AppState::new(self.ingest.clone(), self.cfg.limits.clone(), admin);
        st.tls = self.tls_http.is_some();
        Ok(st)
    }

    /// Serves until `shutdown` resolves, then drains and checkpoints. `extra` routes are
    /// merged into the intake router.
    pub async fn run(
        self,
        sink: Box<dyn Sink>,
        extra: Option<Router>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        self.run_app(
            Some(sink),
            move |app| match extra {
                Some(extra) => app.merge(extra),
                None => app,
            },
            shutdown,
        )
        .await
    }

    /// Like [`Server::run`], with `build` turning the intake router into the application
    /// served: it merges other routes and can wrap all of them in a layer (authentication).
    /// Without `sink` (a cluster's intake node, bound with a queue of its own) no pipeline
    /// runs: the workers consume the queue.
    pub async fn run_app(
        self,
        sink: Option<Box<dyn Sink>>,
        build: impl FnOnce(Router) -> Router,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let state = self.app_state()?;
        let ready = state.ready.clone();
        let app = build(crate::http::router(state));
        let (stop_tx, stop_rx) = watch::channel(false);

        // Pipeline on its own thread: the sink is synchronous (files, tantivy).
        let mut pipeline_cfg = self.cfg.pipeline.clone();
        if pipeline_cfg.dedup_file.is_none() {
            pipeline_cfg.dedup_file = Some(self.cfg.data_dir.join("dedup.window"));
        }
        if pipeline_cfg.registry.is_none() {
            // Events carry their entity (`ziaxdr.entity`): alerts and searches per tenant.
            pipeline_cfg.registry = Some(self.registry.clone());
        }
        let stop_pipeline = Arc::new(AtomicBool::new(false));
        let (pipe_done_tx, mut pipe_done_rx) = tokio::sync::oneshot::channel();
        let _no_pipeline;
        let pipe = match (sink, &self.journal) {
            (Some(sink), Some(j)) => {
                let j = j.clone();
                let cfg = pipeline_cfg;
                let m = self.ingest.metrics.pipeline();
                let stop = stop_pipeline.clone();
                Some(
                    std::thread::Builder::new()
                        .name("pipeline".into())
                        .spawn(move || {
                            let r = pipeline::run(j, sink, cfg, m, stop);
                            let _ = pipe_done_tx.send(r.map_err(|e| e.to_string()));
                        })?,
                )
            }
            (Some(_), None) => {
                return Err(ServerError::Pipeline(
                    "a pipeline needs the local journal; this server queues to JetStream".into(),
                ))
            }
            (None, _) => {
                // No pipeline: its end never comes (the sender is kept until shutdown).
                _no_pipeline = Some(pipe_done_tx);
                None
            }
        };

        let mut syslog_tasks = Vec::new();
        if let Some(l) = self.syslog {
            let cfg = SyslogConfig {
                tls: None,
                ..self.cfg.syslog.clone()
            };
            syslog_tasks.push(tokio::spawn(crate::syslog::serve(
                l,
                self.ingest.clone(),
                cfg,
                stop_rx.clone(),
            )));
        }
        if let Some(l) = self.syslog_tls {
            let cfg = SyslogConfig {
                tls: self.tls_syslog.clone(),
                ..self.cfg.syslog.clone()
            };
            syslog_tasks.push(tokio::spawn(crate::syslog::serve(
                l,
                self.ingest.clone(),
                cfg,
                stop_rx.clone(),
            )));
        }

        // Ready before the HTTP task can answer anything: set after it, a request answered in
        // between (a loaded machine can pause this thread there) saw "starting" on /readyz.
        ready.store(true, Ordering::Relaxed);
        let http_task = tokio::spawn(serve_http(
            self.http,
            self.tls_http.clone(),
            app,
            stop_rx.clone(),
            self.cfg.limits.clone(),
            self.ingest.metrics.clone(),
        ));

        let mut pipeline_result = None;
        tokio::select! {
            _ = shutdown => tracing::info!("shutting down: draining"),
            r = &mut pipe_done_rx => {
                tracing::error!("pipeline stopped unexpectedly");
                pipeline_result = Some(r.unwrap_or_else(|_| Err("pipeline thread died".into())));
            }
        }
        ready.store(false, Ordering::Relaxed);
        let _ = stop_tx.send(true);
        if tokio::time::timeout(DRAIN_TIMEOUT, http_task)
            .await
            .is_err()
        {
            tracing::warn!("HTTP requests still in flight after the drain timeout");
        }
        for t in syslog_tasks {
            let _ = t.await;
        }
        stop_pipeline.store(true, Ordering::Relaxed);
        let result = match (pipeline_result, pipe) {
            (Some(r), pipe) => {
                if let Some(pipe) = pipe {
                    let _ = tokio::task::spawn_blocking(move || pipe.join()).await;
                }
                r
            }
            (None, Some(pipe)) => {
                let r = pipe_done_rx
                    .await
                    .unwrap_or_else(|_| Err("pipeline thread died".into()));
                let _ = tokio::task::spawn_blocking(move || pipe.join()).await;
                r
            }
            (None, None) => Ok(()),
        };
        if let Some(j) = &self.journal {
            tracing::info!(
                journal_end = j.end_offset(),
                checkpoint = ?j.checkpoint(),
                "stopped"
            );
        } else {
            tracing::info!("stopped");
        }
        result.map_err(ServerError::Pipeline)
    }
}

/// Makes the data directory and everything in it private to the server's user (0700
/// directories, 0600 files): it holds key and password hashes and every event. A directory
/// made by an earlier version, or by hand, is tightened here.
fn make_private(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let private = if meta.is_dir() { 0o700 } else { 0o600 };
    if meta.permissions().mode() & 0o777 != private {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(private))?;
    }
    if meta.is_dir() {
        for e in std::fs::read_dir(dir)? {
            make_private(&e?.path())?;
        }
    }
    Ok(())
}

/// Resolves once shutdown is signalled (without holding the watch guard across awaits).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Open connections per source address, and in all, for the HTTP listener's caps.
#[derive(Default)]
struct ConnCounts {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// One admitted connection; leaving the counts when dropped.
struct ConnSlot {
    counts: Arc<Mutex<ConnCounts>>,
    ip: IpAddr,
}

impl ConnSlot {
    /// A slot for a connection from `ip`, or `None` when a cap is reached (and which one).
    fn take(
        counts: &Arc<Mutex<ConnCounts>>,
        ip: IpAddr,
        limits: &Limits,
    ) -> Result<ConnSlot, &'static str> {
        let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
        if c.total >= limits.max_connections {
            return Err("connections");
        }
        let n = c.per_source.entry(ip).or_insert(0);
        if *n >= limits.max_connections_per_source {
            return Err("connections_per_source");
        }
        *n += 1;
        c.total += 1;
        Ok(ConnSlot {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.total -= 1;
        if let Some(n) = c.per_source.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_source.remove(&self.ip);
            }
        }
    }
}

/// A connection's stream, noting when bytes last moved either way (for the idle timeout).
struct IdleIo<T> {
    inner: T,
    last: Arc<AtomicU64>,
    epoch: Instant,
}

impl<T> IdleIo<T> {
    fn touch(&self) {
        self.last
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Resolves once nothing moved on the connection for `idle`.
async fn idle_for(last: &AtomicU64, epoch: Instant, idle: Duration) {
    loop {
        let last_ms = last.load(Ordering::Relaxed);
        let since = epoch
            .elapsed()
            .saturating_sub(Duration::from_millis(last_ms));
        if since >= idle {
            return;
        }
        tokio::time::sleep(idle - since).await;
    }
}

/// Serves HTTP (or HTTPS with `tls`) on `listener` until `stop`: every connection within the
/// caps, with the header, idle and TLS handshake timeouts of `limits`.
async fn serve_http(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    mut stop: watch::Receiver<bool>,
    limits: Limits,
    metrics: Metrics,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let counts = Arc::new(Mutex::new(ConnCounts::default()));
    let refused_log = Arc::new(RateLimitedLog::new(Duration::from_secs(10)));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            _ = stopped(&mut stop) => break,
        };
        let slot = match ConnSlot::take(&counts, peer.ip(), &limits) {
            Ok(s) => s,
            Err(cap) => {
                metrics
                    .http_connections_refused
                    .with_label_values(&[cap])
                    .inc();
                if let Some(n) = refused_log.hit() {
                    tracing::warn!(%peer, cap, refused = n, "HTTP connection over a cap closed");
                }
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let mut stop = stop.clone();
        let limits = limits.clone();
        conns.spawn(async move {
            let _slot = slot;
            let epoch = Instant::now();
            let last = Arc::new(AtomicU64::new(0));
            let io = IdleIo {
                inner: stream,
                last: last.clone(),
                epoch,
            };
            let svc = tower::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req)
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            // No HTTP/2 keep-alive pings: their bytes would keep an idle connection from
            // ever reaching the idle timeout.
            builder.http2().timer(TokioTimer::new());
            let idle = limits.idle_timeout;
            match acceptor {
                None => {
                    let conn =
                        builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(svc));
                    drive(conn, &last, epoch, idle, &mut stop, peer).await;
                }
                Some(acc) => {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(limits.header_timeout, acc.accept(io)).await
                    else {
                        tracing::debug!(%peer, "TLS handshake failed or timed out");
                        return;
                    };
                    let conn =
                        builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(svc));
                    drive(conn, &last, epoch, idle, &mut stop, peer).await;
                }
            }
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// Runs one connection until it ends, is idle for `idle`, or the server stops (then
/// gracefully: the request in flight is finished).
async fn drive<C>(
    conn: C,
    last: &AtomicU64,
    epoch: Instant,
    idle: Duration,
    stop: &mut watch::Receiver<bool>,
    peer: SocketAddr,
) where
    C: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + GracefulConn,
{
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => { if let Err(e) = r { tracing::debug!(%peer, error = %e, "HTTP connection error"); } }
        _ = idle_for(last, epoch, idle) => tracing::debug!(%peer, "HTTP connection idle; closing"),
        _ = stopped(stop) => {
            conn.as_mut().graceful();
            let _ = conn.await;
        }
    }
}

/// The graceful shutdown of hyper-util's connection types, as one trait.
trait GracefulConn {
    fn graceful(self: Pin<&mut Self>);
}

impl<I, S, E> GracefulConn for hyper_util::server::conn::auto::Connection<'_, I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: hyper::body::Body + Send + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}
