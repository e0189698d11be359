//! The cluster's queue: a NATS JetStream stream (file storage, replicated) between stateless
//! intake nodes and the workers.
//!
//! Intake nodes publish the records of a request packed into few messages (up to
//! [`PACK_RECORDS`] records and [`PACK_BYTES`] bytes each, header `Ziaxdr-Records`: one
//! message per event cost more CPU in NATS than everything else of the cluster together),
//! each with an id derived from its records' ids as `Nats-Msg-Id` (JetStream drops a repeat
//! within the duplicate window; a request sent again packs the same way, so gets the same
//! ids), and answer only after JetStream acknowledged every message of the request (stored on
//! a majority of the replicas). Workers share one durable pull consumer: each message goes to
//! one of them, and one not acknowledged within the ack wait goes again, to any worker. A
//! consumer unpacks a message into one [`Delivery`] per record; the message is acknowledged
//! once every one of its records was, so the unit of redelivery is the message. The stream is a work queue (a message
//! acknowledged is deleted) that refuses new messages when full (`max_bytes`), so a backlog
//! never drops what was acknowledged to a sender: the intake answers 503 instead.
//!
//! The connection is made in the background and kept up by the client: a node starts while
//! NATS is down, and [`Queue::problem`] says so until it is up.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::{AckToken, BoxFuture, Consumer, Delivery, Queue, QueueError, Record};

/// Where the stream is and how it is set up.
#[derive(Clone)]
pub struct JetStreamConfig {
    /// Server URLs (`nats://host:4222`, `tls://…`); the client fails over between them.
    pub urls: Vec<String>,
    /// Stream name (default `ZIAXDR_EVENTS`).
    pub stream: String,
    /// Subject the records are published on (default `ziaxdr.events`).
    pub subject: String,
    /// Replicas of the stream (default 1; 3 in production, which needs 3 servers).
    pub replicas: usize,
    /// Most bytes the stream holds before refusing new messages (default 10 GiB).
    pub max_bytes: i64,
    /// JetStream's duplicate window for `Nats-Msg-Id` (default 2 min).
    pub duplicate_window: Duration,
    /// Durable consumer the workers share (default `workers`).
    pub consumer: String,
    /// A message not acknowledged within this time goes to another worker (default 60 s).
    pub ack_wait: Duration,
    /// Most messages delivered and not yet acknowledged, over all workers (default 100 000).
    pub max_ack_pending: i64,
    /// Longest wait for a publish acknowledgement, or any JetStream request (default 5 s).
    pub request_timeout: Duration,
    /// `.creds` file (JWT + nkey seed).
    pub credentials_file: Option<PathBuf>,
    /// User and password; never logged.
    pub user_password: Option<(String, String)>,
    /// Token; never logged.
    pub token: Option<String>,
    /// PEM CA file for TLS to the servers.
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate and key for mutual TLS.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// Require TLS even with `nats://` URLs.
    pub tls_required: bool,
    /// Client name shown by the servers (e.g. `ziaxdr-intake@host`).
    pub name: String,
}

impl std::fmt::Debug for JetStreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs: only whether they are set.
        f.debug_struct("JetStreamConfig")
            .field("urls", &self.urls)
            .field("stream", &self.stream)
            .field("subject", &self.subject)
            .field("replicas", &self.replicas)
            .field("max_bytes", &self.max_bytes)
            .field("consumer", &self.consumer)
            .field("credentials_file", &self.credentials_file)
            .field(
                "user_password",
                &self.user_password.as_ref().map(|_| "(set)"),
            )
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("tls_ca", &self.tls_ca)
            .field("tls_required", &self.tls_required)
            .finish_non_exhaustive()
    }
}

impl JetStreamConfig {
    /// Defaults for the given server URLs.
    pub fn new(urls: Vec<String>) -> Self {
        JetStreamConfig {
            urls,
            stream: "ZIAXDR_EVENTS".into(),
            subject: "ziaxdr.events".into(),
            replicas: 1,
            max_bytes: 10 << 30,
            duplicate_window: Duration::from_secs(120),
            consumer: "workers".into(),
            ack_wait: Duration::from_secs(60),
            max_ack_pending: 100_000,
            request_timeout: Duration::from_secs(5),
            credentials_file: None,
            user_password: None,
            token: None,
            tls_ca: None,
            tls_client: None,
            tls_required: false,
            name: "ziaxdr".into(),
        }
    }

    /// Parses a comma-separated URL list (`--nats`).
    pub fn parse_urls(s: &str) -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(String::from)
            .collect()
    }

    fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            subjects: vec![self.subject.clone()],
            storage: stream::StorageType::File,
            num_replicas: self.replicas.max(1),
            max_bytes: self.max_bytes,
            duplicate_window: self.duplicate_window,
            retention: stream::RetentionPolicy::WorkQueue,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(format!("nats: {e}"))
}

/// Connects in the background (the call returns at once, even while every server is down).
async fn connect(cfg: &JetStreamConfig) -> Result<async_nats::Client, QueueError> {
    if cfg.urls.is_empty() {
        return Err(QueueError::Other("no NATS URL given".into()));
    }
    let mut opts = async_nats::ConnectOptions::new()
        .name(&cfg.name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .request_timeout(Some(cfg.request_timeout))
        .max_reconnects(None)
        // Capped backoff: a server back after an outage is used within a second.
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((50 * attempts as u64).min(1000))
        });
    if let Some(p) = &cfg.credentials_file {
        opts = opts.credentials_file(p).await.map_err(|e| {
            QueueError::Other(format!("NATS credentials file {}: {e}", p.display()))
        })?;
    }
    if let Some((u, p)) = &cfg.user_password {
        opts = opts.user_and_password(u.clone(), p.clone());
    }
    if let Some(t) = &cfg.token {
        opts = opts.token(t.clone());
    }
    if let Some(ca) = &cfg.tls_ca {
        opts = opts.add_root_certificates(ca.clone());
    }
    if let Some((c, k)) = &cfg.tls_client {
        opts = opts.add_client_certificate(c.clone(), k.clone());
    }
    if cfg.tls_required {
        opts = opts.require_tls(true);
    }
    let urls: Vec<async_nats::ServerAddr> = cfg
        .urls
        .iter()
        .map(|u| {
            u.parse()
                .map_err(|e| QueueError::Other(format!("bad NATS URL {u:?}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    opts.connect(urls).await.map_err(unavailable)
}

struct Shared {
    cfg: JetStreamConfig,
    client: async_nats::Client,
    js: jetstream::Context,
    /// Created (or found) once, on first use: the servers may be down at start.
    stream: OnceCell<stream::Stream>,
}

impl Shared {
    async fn open(cfg: JetStreamConfig) -> Result<Arc<Shared>, QueueError> {
        let client = connect(&cfg).await?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(cfg.request_timeout);
        Ok(Arc::new(Shared {
            cfg,
            client,
            js,
            stream: OnceCell::new(),
        }))
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    async fn stream(&self) -> Result<&stream::Stream, QueueError> {
        self.stream
            .get_or_try_init(|| async {
                if !self.connected() {
                    return Err(unavailable("not connected"));
                }
                self.js
                    .get_or_create_stream(self.cfg.stream_config())
                    .await
                    .map_err(unavailable)
            })
            .await
    }
}

/// What waits in the stream: in a work queue, every message not yet acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Messages (each up to [`PACK_RECORDS`] events of one request).
    pub messages: u64,
    /// Their bytes, as JetStream counts them (payload and headers).
    pub bytes: u64,
}

/// The intake side: publishes and waits for JetStream's acknowledgements.
#[derive(Clone)]
pub struct JetStreamQueue {
    shared: Arc<Shared>,
}

impl JetStreamQueue {
    /// Connects (in the background) with `cfg`.
    pub async fn open(cfg: JetStreamConfig) -> Result<Self, QueueError> {
        Ok(JetStreamQueue {
            shared: Shared::open(cfg).await?,
        })
    }

    /// Messages in the stream (published and not yet acknowledged by a worker).
    pub async fn backlog(&self) -> Result<u64, QueueError> {
        let mut s = self.shared.stream().await?.clone();
        let info = s.info().await.map_err(unavailable)?;
        Ok(info.state.messages)
    }

    /// Messages and bytes in the stream (published and not yet acknowledged by a worker:
    /// waiting to be delivered or in a worker's hands), from the stream's state.
    pub async fn backlog_state(&self) -> Result<Backlog, QueueError> {
        let mut s = self.shared.stream().await?.clone();
        let info = s.info().await.map_err(unavailable)?;
        Ok(Backlog {
            messages: info.state.messages,
            bytes: info.state.bytes,
        })
    }

    /// The configuration (secrets included: do not log it with `{:?}` of fields).
    pub fn config(&self) -> &JetStreamConfig {
        &self.shared.cfg
    }
}

/// Most records packed into one message.
pub const PACK_RECORDS: usize = 1000;
/// Most payload bytes packed into one message (NATS refuses messages above its
/// `max_payload`, 1 MiB by default); a record larger than this goes alone.
pub const PACK_BYTES: usize = 512 << 10;
/// The header giving the number of records packed in a message. A message without it (an
/// older intake node) holds one record, as is.
const RECORDS_HEADER: &str = "Ziaxdr-Records";

/// Packs records into messages: consecutive records, up to [`PACK_RECORDS`] and
/// [`PACK_BYTES`] each. Returns (message id, record count, payload) per message. A message
/// of one record keeps that record's id; a larger one gets the first 16 bytes of SHA-256 of
/// its records' ids, so the same records sent again pack into messages with the same ids.
fn pack(records: Vec<Record>) -> Vec<([u8; 16], usize, Vec<u8>)> {
    let mut out = Vec::new();
    let mut group: Vec<Record> = Vec::new();
    let mut bytes = 0usize;
    let flush = |group: &mut Vec<Record>, out: &mut Vec<([u8; 16], usize, Vec<u8>)>| {
        if group.is_empty() {
            return;
        }
        let n = group.len();
        let id = if n == 1 {
            group[0].id
        } else {
            let mut h = Sha256::new();
            for r in group.iter() {
                h.update(r.id);
            }
            let d = h.finalize();
            let mut id = [0u8; 16];
            id.copy_from_slice(&d[..16]);
            id
        };
        let mut payload =
            Vec::with_capacity(group.iter().map(|r| r.payload.len() + 4).sum::<usize>());
        for r in group.drain(..) {
            // Records are bounded far below 4 GiB (the journal's 16 MiB limit).
            payload.extend_from_slice(&(r.payload.len() as u32).to_be_bytes());
            payload.extend_from_slice(&r.payload);
        }
        out.push((id, n, payload));
    };
    for r in records {
        let size = r.payload.len() + 4;
        if !group.is_empty() && (group.len() >= PACK_RECORDS || bytes + size > PACK_BYTES) {
            flush(&mut group, &mut out);
            bytes = 0;
        }
        bytes += size;
        group.push(r);
    }
    flush(&mut group, &mut out);
    out
}

/// The records of a message packed by [`pack`] with `n` records; None when it is malformed.
fn unpack(payload: &[u8], n: usize) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::with_capacity(n.min(PACK_RECORDS));
    let mut rest = payload;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return None;
        }
        out.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    (out.len() == n).then_some(out)
}

fn hex(id: &[u8; 16]) -> String {
    let mut s = String::with_capacity(32);
    for b in id {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl Queue for JetStreamQueue {
    fn append(&self, records: Vec<Record>) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            let sh = &self.shared;
            // Down is answered at once (503), rather than after the publish timeout.
            if !sh.connected() {
                return Err(unavailable("not connected"));
            }
            sh.stream().await?;
            let packs = pack(records);
            let mut acks = Vec::with_capacity(packs.len());
            for (id, n, payload) in packs {
                let msg = jetstream::message::PublishMessage::build()
                    .payload(payload.into())
                    .header(RECORDS_HEADER, n.to_string().as_str())
                    .message_id(hex(&id));
                let ack = sh
                    .js
                    .send_publish(sh.cfg.subject.clone(), msg)
                    .await
                    .map_err(unavailable)?;
                acks.push(ack);
            }
            for ack in acks {
                match ack.await {
                    Ok(_) => {}
                    Err(e) => {
                        let text = e.to_string();
                        // A stream at max_bytes with discard=new refuses with this text.
                        if text.contains("maximum bytes") || text.contains("resource limits") {
                            return Err(QueueError::Full);
                        }
                        return Err(unavailable(text));
                    }
                }
            }
            Ok(())
        })
    }

    fn problem(&self) -> Option<String> {
        if self.shared.connected() {
            None
        } else {
            Some("nats: no connection to any JetStream server".into())
        }
    }

    fn in_flight_budget(&self) -> u64 {
        // What the intake holds in memory while JetStream acknowledges.
        64 << 20
    }
}

/// The worker side: one member of the durable pull consumer the workers share.
pub struct JetStreamConsumer {
    shared: Arc<Shared>,
    consumer: Option<consumer::PullConsumer>,
}

impl JetStreamConsumer {
    /// Connects (in the background) with `cfg`; the stream and consumer are created on first
    /// fetch if missing.
    pub async fn open(cfg: JetStreamConfig) -> Result<Self, QueueError> {
        Ok(JetStreamConsumer {
            shared: Shared::open(cfg).await?,
            consumer: None,
        })
    }

    /// Whether the client is connected to a server.
    pub fn connected(&self) -> bool {
        self.shared.connected()
    }

    async fn consumer(&mut self) -> Result<&consumer::PullConsumer, QueueError> {
        if self.consumer.is_none() {
            let cfg = &self.shared.cfg;
            let stream = self.shared.stream().await?;
            let c = stream
                .get_or_create_consumer(
                    &cfg.consumer,
                    consumer::pull::Config {
                        durable_name: Some(cfg.consumer.clone()),
                        ack_policy: consumer::AckPolicy::Explicit,
                        ack_wait: cfg.ack_wait,
                        max_ack_pending: cfg.max_ack_pending,
                        ..Default::default()
                    },
                )
                .await
                .map_err(unavailable)?;
            self.consumer = Some(c);
        }
        self.consumer
            .as_ref()
            .ok_or_else(|| QueueError::Other("consumer missing".into()))
    }

    /// Tells JetStream the messages are still being worked on, restarting their ack wait (a
    /// batch held back while the event store is down is not handed to another worker).
    pub async fn in_progress(
        &self,
        tokens: impl IntoIterator<Item = &AckToken>,
    ) -> Result<(), QueueError> {
        // Once per message, however many of its records are pending.
        let mut seen = HashSet::new();
        for t in tokens {
            if let AckToken::JetStream(a) = t {
                // The address, not the pointer: the set is held across awaits (Send).
                if seen.insert(Arc::as_ptr(a) as usize) {
                    a.acker
                        .ack_with(jetstream::AckKind::Progress)
                        .await
                        .map_err(unavailable)?;
                }
            }
        }
        Ok(())
    }
}

/// A JetStream message shared by the deliveries of its records: acknowledged when the last
/// of them is.
pub struct MessageAck {
    acker: async_nats::jetstream::message::Acker,
    /// Records of the message not acknowledged yet.
    left: AtomicUsize,
}

impl Consumer for JetStreamConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        if !self.shared.connected() {
            tokio::time::sleep(wait.min(Duration::from_millis(200))).await;
            return Err(unavailable("not connected"));
        }
        let c = self.consumer().await?;
        let mut msgs = c
            .batch()
            .max_messages(max.max(1))
            .expires(wait.max(Duration::from_millis(100)))
            .messages()
            .await
            .map_err(unavailable)?;
        let mut out = Vec::new();
        while let Some(m) = msgs.next().await {
            let m = match m {
                Ok(m) => m,
                Err(e) => {
                    if out.is_empty() {
                        return Err(unavailable(e));
                    }
                    break;
                }
            };
            let (redelivered, sequence) = match m.info() {
                Ok(i) => (i.delivered > 1, i.stream_sequence),
                Err(_) => (true, 0),
            };
            let (msg, acker) = m.split();
            let packed = msg
                .headers
                .as_ref()
                .and_then(|h| h.get(RECORDS_HEADER))
                .map(|v| v.as_str().parse::<usize>());
            let records = match packed {
                None => vec![msg.payload.to_vec()],
                Some(Ok(n)) if n > 0 && n <= PACK_RECORDS => match unpack(&msg.payload, n) {
                    Some(r) => r,
                    None => {
                        // Not ours to fix: dropped (acknowledged), and said.
                        tracing::error!(sequence, "malformed packed message dropped");
                        let _ = acker.ack().await;
                        continue;
                    }
                },
                Some(_) => {
                    tracing::error!(sequence, "message with a bad record count dropped");
                    let _ = acker.ack().await;
                    continue;
                }
            };
            let shared = Arc::new(MessageAck {
                acker,
                left: AtomicUsize::new(records.len()),
            });
            for (i, payload) in records.into_iter().enumerate() {
                out.push(Delivery {
                    payload,
                    redelivered,
                    // Below PACK_RECORDS (< 1024) records a message: increasing in order.
                    sequence: (sequence << 10) | i as u64,
                    token: AckToken::JetStream(shared.clone()),
                });
            }
        }
        Ok(out)
    }

    async fn ack(&mut self, tokens: Vec<AckToken>) -> Result<(), QueueError> {
        // Plain acks, flushed once: a double ack waits for the server per message (a round
        // trip each). An ack lost on the way only means the message comes again, and the
        // consumer finds it stored.
        for t in tokens {
            if let AckToken::JetStream(a) = t {
                // The message goes when the last of its records does.
                if a.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    a.acker.ack().await.map_err(unavailable)?;
                }
            }
        }
        self.shared.client.flush().await.map_err(unavailable)?;
        Ok(())
    }
}
