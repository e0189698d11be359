//! `forward`: the on-prem log concentrator behind `ziaxdr forward`. An NSS VM does not
//! encrypt what it sends, so its syslog must land on a collector on its own subnet; this
//! crate is that collector. It listens for syslog over TCP (or TLS) with the intake crate's
//! framer, journals every line durably (group-commit fsync) before reading more, so TCP
//! pushes back while the disk is slow or the buffer full, and forwards from the journal to
//! one or more destinations — HTTPS batches to a Sekoia-compatible intake, or RFC 5424
//! syslog over TLS with the key in `[SEKOIA@53288 intake_key=…]` — each from its own cursor,
//! so one slow destination does not hold back another, and a site keeps its logs through an
//! outage of the link or of the intake. [`Forwarder`] wires it together.

mod accept;
pub mod buffer;
pub mod config;
pub mod input;
pub mod input_http;
pub mod metrics;
pub mod output;
pub mod record;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use buffer::{Buffer, Status};
pub use config::{DestKind, DestSpec, ForwardConfig, ListenSpec, WhenFull};
pub use metrics::Metrics;

/// The file in the data directory that says where a running forwarder serves `/status`.
pub const RUNNING_FILE: &str = "forward.json";

/// Why a forwarder cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The buffer could not be opened.
    #[error("buffer: {0}")]
    Buffer(#[from] buffer::BufferError),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// TLS settings are unusable.
    #[error("{0}")]
    Tls(String),
    /// The configuration is incomplete or contradictory.
    #[error("{0}")]
    Config(String),
}

/// A bound forwarder, ready to run.
pub struct Forwarder {
    cfg: ForwardConfig,
    buffer: Arc<Buffer>,
    metrics: Metrics,
    listeners: Vec<(TcpListener, config::ListenSpec)>,
    metrics_listener: Option<TcpListener>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    /// The same certificate offering HTTP/1.1 by ALPN, for the `https://` listeners.
    http_acceptor: Option<tokio_rustls::TlsAcceptor>,
}

impl Forwarder {
    /// Opens the buffer and binds every listener.
    pub async fn bind(cfg: ForwardConfig) -> Result<Forwarder, ForwardError> {
        if cfg.to.is_empty() {
            return Err(ForwardError::Config(
                "no destination: give at least one --to".into(),
            ));
        }
        let metrics = Metrics::new();
        let jcfg = journal::Config {
            segment_bytes: cfg.segment_bytes.min(cfg.max_disk_bytes / 16).max(4096),
            max_disk_bytes: cfg.max_disk_bytes,
            max_record_bytes: (cfg.input.max_line as u32).saturating_add(64 * 1024),
            fsync: cfg.fsync,
            ..journal::Config::default()
        };
        let buffer = Buffer::open(&cfg.data_dir, jcfg, &cfg.to, cfg.when_full, metrics.clone())?;
        let acceptor_for = |http: bool, alpn: &[&[u8]]| {
            if !cfg.listen.iter().any(|l| l.tls && l.http == http) {
                return Ok(None);
            }
            let (cert, key) = cfg.server_cert.clone().ok_or_else(|| {
                ForwardError::Config(
                    "a tls:// or https:// listener needs --tls-cert and --tls-key".into(),
                )
            })?;
            let sc = intake::tls::server_config(&cert, &key, alpn)
                .map_err(|e| ForwardError::Tls(e.to_string()))?;
            Ok::<_, ForwardError>(Some(tokio_rustls::TlsAcceptor::from(sc)))
        };
        let acceptor = acceptor_for(false, &[])?;
        let http_acceptor = acceptor_for(true, &[b"http/1.1"])?;
        let mut listeners = Vec::new();
        for l in &cfg.listen {
            let sock = TcpListener::bind(l.addr)
                .await
                .map_err(|source| ForwardError::Bind {
                    addr: l.addr,
                    source,
                })?;
            let addr = sock.local_addr().unwrap_or(l.addr);
            listeners.push((
                sock,
                config::ListenSpec {
                    addr,
                    key: l.key.clone(),
                    tls: l.tls,
                    http: l.http,
                },
            ));
        }
        let metrics_listener = match cfg.metrics_addr {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .map_err(|source| ForwardError::Bind { addr: a, source })?,
            ),
            None => None,
        };
        Ok(Forwarder {
            cfg,
            buffer,
            metrics,
            listeners,
            metrics_listener,
            acceptor,
            http_acceptor,
        })
    }

    /// The bound listeners (with the ports picked for port 0), without keys.
    pub fn listeners(&self) -> Vec<config::ListenSpec> {
        self.listeners
            .iter()
            .map(|(_, s)| config::ListenSpec {
                key: None,
                ..s.clone()
            })
            .collect()
    }

    /// Where `/metrics`, `/healthz` and `/status` are served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The buffer.
    pub fn buffer(&self) -> &Arc<Buffer> {
        &self.buffer
    }

    /// Receives and forwards until `shutdown` resolves; then stops reading, lets the
    /// outputs send what they can within the drain timeout, and keeps the rest on disk.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ForwardError> {
        let client_tls = &self.cfg.client_tls;
        let stop = Arc::new(output::Stop::default());
        let mut outputs = Vec::new();
        for (idx, d) in self.cfg.to.iter().enumerate() {
            let ctx = output::OutputCtx::new(
                self.buffer.clone(),
                idx,
                self.metrics.clone(),
                self.cfg.tuning.clone(),
                stop.clone(),
                d.key.clone(),
            );
            let name = format!("forward-{idx}");
            let spawned = match &d.kind {
                DestKind::Http { url } => {
                    let tls = output::tls::ureq_tls(client_tls)
                        .map_err(|e| ForwardError::Tls(e.to_string()))?;
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(self.cfg.tuning.request_timeout))
                        .tls_config(tls)
                        .build()
                        .into();
                    let url = url.clone();
                    std::thread::Builder::new()
                        .name(name)
                        .spawn(move || output::http::run(ctx, url, agent))
                }
                DestKind::SyslogTls { host, port } => {
                    let tls = output::tls::rustls_client(client_tls)
                        .map_err(|e| ForwardError::Tls(e.to_string()))?;
                    let (host, port) = (host.clone(), *port);
                    std::thread::Builder::new()
                        .name(name)
                        .spawn(move || output::syslog::run(ctx, host, port, tls))
                }
            };
            outputs.push(spawned.map_err(|e| ForwardError::Config(e.to_string()))?);
        }

        let (stop_tx, stop_rx) = watch::channel(false);
        let mut inputs = tokio::task::JoinSet::new();
        for (sock, spec) in self.listeners {
            let ctx = input::InputContext {
                buffer: self.buffer.clone(),
                metrics: self.metrics.clone(),
                limits: self.cfg.input.clone(),
            };
            if spec.http {
                let acc = spec.tls.then(|| self.http_acceptor.clone()).flatten();
                inputs.spawn(input_http::serve(sock, spec, acc, ctx, stop_rx.clone()));
            } else {
                let acc = spec.tls.then(|| self.acceptor.clone()).flatten();
                inputs.spawn(input::serve(sock, spec, acc, ctx, stop_rx.clone()));
            }
        }
        let http = self.metrics_listener.map(|l| {
            let app = status_router(self.buffer.clone(), self.metrics.clone());
            let mut rx = stop_rx.clone();
            tokio::spawn(async move {
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.changed().await;
                    })
                    .await;
            })
        });

        shutdown.await;
        tracing::info!("stopping: closing listeners, then draining the buffer");
        let _ = stop_tx.send(true);
        while inputs.join_next().await.is_some() {}
        let target = self.buffer.journal.end_offset();
        stop.begin(target, self.cfg.tuning.drain_timeout);
        let _ = tokio::task::spawn_blocking(move || {
            for o in outputs {
                let _ = o.join();
            }
        })
        .await;
        self.buffer.checkpoint(true);
        for d in self.buffer.status().destinations {
            if d.lag_records > 0 {
                tracing::warn!(destination = %d.destination, unsent = d.lag_records, "kept on disk for the next start");
            }
        }
        if let Some(h) = http {
            let _ = tokio::time::timeout(Duration::from_secs(2), h).await;
        }
        Ok(())
    }
}

/// `/metrics` (Prometheus text), `/healthz` and `/status` (JSON).
fn status_router(buffer: Arc<Buffer>, metrics: Metrics) -> axum::Router {
    use axum::routing::get;
    let b2 = buffer.clone();
    let b3 = buffer.clone();
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let (buffer, metrics) = (buffer.clone(), metrics.clone());
                async move {
                    buffer.refresh_gauges();
                    metrics.render()
                }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let b = b3.clone();
                async move {
                    if b.journal.is_poisoned() {
                        // A failed write: nothing more can be journaled until a restart.
                        (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "buffer failed\n",
                        )
                    } else {
                        (axum::http::StatusCode::OK, "ok\n")
                    }
                }
            }),
        )
        .route(
            "/status",
            get(move || {
                let b = b2.clone();
                async move { axum::Json(b.status()) }
            }),
        )
}
