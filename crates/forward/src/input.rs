//! The syslog listeners an NSS VM sends to: plain TCP or TLS, newline or octet-counted
//! framing and the `SEKOIA@53288` key element, all through the intake crate's framer and key
//! extraction. A connection has at most four reads being journaled while it reads the next
//! (so the disk stays busy across each fsync), and reads no further until the oldest is
//! durable: while the buffer is full (`--when-full block`) or the disk is slow, TCP flow
//! control pauses the sender. A read refused for a full budget is retried, so under a full
//! budget lines of one connection may be journaled out of order; none is lost.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use intake::syslog::{extract_intake_key, Frame, Framer};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::accept::{accept_loop, AcceptLimits};

use crate::buffer::{Buffer, BufferError};
use crate::config::{InputLimits, ListenSpec};
use crate::metrics::Metrics;
use crate::record::{encode, now_us};

/// Reads of one connection being journaled while the next is read: enough to keep the
/// disk busy across the fsync, few enough that a full buffer stops the reading at once.
const MAX_INFLIGHT: usize = 4;
/// First read buffer of a connection; it grows up to `read_chunk` while reads fill it.
const INITIAL_READ: usize = 16 * 1024;
/// At shutdown, a connection still reads until its peer is quiet this long…
const DRAIN_QUIET: Duration = Duration::from_millis(250);
/// …or at most this long: syslog has no acknowledgement, and the sender counts what it
/// wrote as delivered.
const DRAIN_MAX: Duration = Duration::from_secs(5);

/// What every connection of one listener shares.
#[derive(Clone)]
pub struct InputContext {
    /// The buffer lines go to.
    pub buffer: Arc<Buffer>,
    /// Counters.
    pub metrics: Metrics,
    /// Limits.
    pub limits: InputLimits,
}

/// Accepts connections until `shutdown` turns true, then lets open ones drain briefly.
pub async fn serve(
    listener: TcpListener,
    spec: ListenSpec,
    tls: Option<TlsAcceptor>,
    ctx: InputContext,
    shutdown: watch::Receiver<bool>,
) {
    let label: Arc<str> = spec.to_string().into();
    let key: Option<Arc<str>> = spec.key.as_deref().map(Arc::from);
    let limits = AcceptLimits {
        max_connections: ctx.limits.max_connections,
        handshake_timeout: ctx.limits.idle_timeout,
        drain: DRAIN_MAX + Duration::from_secs(1),
    };
    let conn_label = label.clone();
    accept_loop(
        listener,
        tls,
        limits,
        label,
        shutdown,
        move |io, peer, stop| {
            let (ctx, label, key) = (ctx.clone(), conn_label.clone(), key.clone());
            async move {
                let c = Conn {
                    ctx: &ctx,
                    peer,
                    label: &label,
                    key: key.as_deref(),
                };
                c.run(io, stop).await;
            }
        },
    )
    .await;
}

struct Conn<'a> {
    ctx: &'a InputContext,
    peer: SocketAddr,
    label: &'a str,
    key: Option<&'a str>,
}

impl Conn<'_> {
    async fn run<S: AsyncRead + Unpin>(&self, stream: S, mut shutdown: watch::Receiver<bool>) {
        let mut inflight = VecDeque::new();
        self.read_loop(stream, &mut shutdown, &mut inflight).await;
        // Whatever way the connection ended, what it read is journaled (or retried) first.
        self.settle(&mut inflight, 0, &mut shutdown).await;
    }

    /// Awaits the oldest in-flight appends until at most `keep` remain; an append refused
    /// for a full budget goes through the waiting path. False: close the connection.
    async fn settle(
        &self,
        inflight: &mut VecDeque<(usize, journal::ReturningAck)>,
        keep: usize,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        while inflight.len() > keep {
            let Some((n, ack)) = inflight.pop_front() else {
                break;
            };
            match ack.await {
                Ok(_) => self.ctx.metrics.journaled.inc_by(n as u64),
                // The journal handed the records back: retried through the waiting path.
                Err(refused) if refused.error.is_full() => {
                    if !self.journal(refused.records, shutdown).await {
                        return false;
                    }
                }
                Err(refused) => {
                    tracing::error!(peer = %self.peer, error = %refused.error, "buffer failed; closing the connection");
                    return false;
                }
            }
        }
        true
    }

    async fn read_loop<S: AsyncRead + Unpin>(
        &self,
        mut stream: S,
        shutdown: &mut watch::Receiver<bool>,
        inflight: &mut VecDeque<(usize, journal::ReturningAck)>,
    ) {
        let limits = &self.ctx.limits;
        let mut framer = Framer::new(limits.max_line);
        let mut want = INITIAL_READ.min(limits.read_chunk);
        let mut buf = BytesMut::with_capacity(want);
        let mut draining: Option<Instant> = None;
        loop {
            if buf.capacity() - buf.len() < want / 2 {
                buf.reserve(want);
            }
            let room = buf.capacity() - buf.len();
            let read = match draining {
                None => tokio::select! {
                    r = tokio::time::timeout(limits.idle_timeout, stream.read_buf(&mut buf)) => r,
                    _ = shutdown.changed() => {
                        draining = Some(Instant::now() + DRAIN_MAX);
                        continue;
                    }
                },
                Some(end) => {
                    let quiet = DRAIN_QUIET.min(end.saturating_duration_since(Instant::now()));
                    tokio::time::timeout(quiet, stream.read_buf(&mut buf)).await
                }
            };
            let eof = match read {
                Err(_) => return, // idle, or drained at shutdown
                Ok(Err(e)) => {
                    tracing::debug!(peer = %self.peer, error = %e, "syslog read failed");
                    return;
                }
                Ok(Ok(0)) => true,
                Ok(Ok(n)) => {
                    if n == room {
                        want = (want * 2).min(limits.read_chunk);
                    }
                    false
                }
            };
            let mut records = Vec::new();
            let now = now_us();
            while let Some(f) = framer.next_frame(&mut buf) {
                self.take(f, now, &mut records);
            }
            if eof {
                if let Some(f) = framer.finish(&mut buf) {
                    self.take(f, now, &mut records);
                }
            }
            if !records.is_empty() {
                self.ctx
                    .metrics
                    .received
                    .with_label_values(&[self.label])
                    .inc_by(records.len() as u64);
                let bytes: u64 = records
                    .iter()
                    .map(|r| r.len() as u64 + journal::HEADER_BYTES)
                    .sum();
                if bytes > self.ctx.buffer.journal.disk_budget() / 4 {
                    // Larger than an append may be: the waiting path splits it.
                    if !self.settle(inflight, 0, shutdown).await
                        || !self.journal(records, shutdown).await
                    {
                        return;
                    }
                } else {
                    // Read on while the journal syncs this read; should the budget be
                    // full, the journal hands the records back for the waiting path.
                    let n = records.len();
                    let ack = self.ctx.buffer.journal.submit_returning(records);
                    inflight.push_back((n, ack));
                    if !self.settle(inflight, MAX_INFLIGHT - 1, shutdown).await {
                        return;
                    }
                }
            }
            if eof {
                return;
            }
        }
    }

    fn take(&self, f: Frame, now: i64, out: &mut Vec<Vec<u8>>) {
        let m = &self.ctx.metrics;
        match f {
            Frame::Message(line) => match extract_intake_key(&line) {
                Some((key, stripped)) => out.push(encode(now, &key, &stripped)),
                None => match self.key {
                    Some(k) => out.push(encode(now, k, &line)),
                    None => {
                        m.rejected.with_label_values(&["no_intake_key"]).inc();
                        tracing::debug!(peer = %self.peer, "line without an intake key refused");
                    }
                },
            },
            Frame::Oversize(n) => {
                m.rejected.with_label_values(&["line_too_long"]).inc();
                tracing::warn!(peer = %self.peer, bytes = n, "syslog line over the limit skipped");
            }
            Frame::BadOctetCount => {
                m.rejected.with_label_values(&["bad_octet_count"]).inc();
            }
        }
    }

    /// Journals one read's lines, waiting while the buffer is full. False: close.
    async fn journal(&self, records: Vec<Vec<u8>>, shutdown: &mut watch::Receiver<bool>) -> bool {
        // Pieces of at most a quarter of the budget, so that one read always fits once space
        // is freed.
        let limit = (self.ctx.buffer.journal.disk_budget() / 4).max(1);
        let mut rest = records;
        while !rest.is_empty() {
            let mut bytes = 0u64;
            let n = rest
                .iter()
                .take_while(|r| {
                    bytes += r.len() as u64 + journal::HEADER_BYTES;
                    bytes <= limit
                })
                .count()
                .max(1);
            let tail = rest.split_off(n);
            let chunk = rest;
            rest = tail;
            let mut delay = Duration::from_millis(20);
            let mut waited = false;
            loop {
                let result = self.ctx.buffer.append(&chunk).await;
                match result {
                    Ok(()) => break,
                    Err(BufferError::Journal(e)) if e.is_full() => {
                        if !waited {
                            self.ctx.metrics.full_waits.inc();
                            tracing::debug!(peer = %self.peer, "buffer full; pausing this connection");
                            waited = true;
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = shutdown.changed() => return false,
                        }
                        delay = (delay * 2).min(Duration::from_secs(1));
                    }
                    Err(e) => {
                        tracing::error!(peer = %self.peer, error = %e, "buffer failed; closing the connection");
                        return false;
                    }
                }
            }
        }
        true
    }
}
