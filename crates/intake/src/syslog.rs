//! The syslog TCP intake (what an NSS VM sends to): plain or TLS listeners, newline framing
//! or RFC 6587 octet counting detected per connection, RFC 3164 or RFC 5424 headers, the
//! intake chosen by the listener's configured key or by Sekoia's
//! `[SEKOIA@53288 intake_key="…"]` structured data (removed from the stored line, since a
//! key must not end up in the event store).
//!
//! Back-pressure: a connection reads a chunk, frames it, and journals the complete frames;
//! it reads the next chunk only once they are durable. When the journal is full it waits and
//! retries, so TCP flow control pauses the sender instead of anything being dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::auth::AuthOutcome;
use crate::ingest::Ingest;
use crate::metrics::UNKNOWN_INTAKE;
use pipeline::raw::Transport;
use pipeline::RateLimitedLog;
use uuid::Uuid;

/// The Sekoia private enterprise number element that carries the intake key.
pub const SEKOIA_SD_ID: &[u8] = b"[SEKOIA@53288";
/// First read buffer of a connection.
const INITIAL_READ: usize = 16 * 1024;
/// When the server stops, an open connection still reads what its peer has sent until the
/// peer is quiet this long (or closes), so that lines already sent are not dropped unread:
/// syslog has no acknowledgement, and a sender counts them as delivered.
const DRAIN_QUIET: Duration = Duration::from_millis(250);
/// …but no longer than this after the stop, even for a peer that keeps sending.
const DRAIN_MAX: Duration = Duration::from_secs(5);
/// The structured data is only looked for this far into a line (it sits in the header).
const SD_SEARCH_WINDOW: usize = 4096;

/// Limits and options of a syslog listener.
#[derive(Clone)]
pub struct SyslogConfig {
    /// Longest accepted line (default 250 KiB); longer ones are counted and skipped.
    pub max_line: usize,
    /// A connection with no data for this long is closed (default 5 minutes).
    pub idle_timeout: Duration,
    /// Most concurrent connections (default 10 000); further ones wait to be accepted.
    pub max_connections: usize,
    /// The key of the intake for lines that carry no `SEKOIA@53288` key.
    pub default_key: Option<String>,
    /// TLS, for a `syslog-tls` listener.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Largest socket read, and so the most data journaled per fsync per connection
    /// (default 1 MiB).
    pub read_chunk: usize,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            max_line: 250 * 1024,
            idle_timeout: Duration::from_secs(300),
            max_connections: 10_000,
            default_key: None,
            tls: None,
            read_chunk: 1024 * 1024,
        }
    }
}

/// The syslog header style of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    /// `<PRI>1 TIMESTAMP HOST …` (RFC 5424).
    Rfc5424,
    /// `<PRI>Mmm dd hh:mm:ss HOST …` (RFC 3164 / BSD).
    Rfc3164,
    /// No `<PRI>` header: a bare record.
    None,
}

/// Classifies the header of a syslog line.
pub fn header_kind(line: &[u8]) -> HeaderKind {
    if line.first() != Some(&b'<') {
        return HeaderKind::None;
    }
    let digits = line[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=3).contains(&digits) || line.get(1 + digits) != Some(&b'>') {
        return HeaderKind::None;
    }
    let rest = &line[2 + digits..];
    if rest.len() >= 2 && rest[0] == b'1' && rest[1] == b' ' {
        HeaderKind::Rfc5424
    } else {
        HeaderKind::Rfc3164
    }
}

/// Finds `[SEKOIA@53288 … intake_key="…" …]` in a line, returning the key and the line
/// with that element removed (an RFC 5424 line whose only element it was gets the nil `-`).
pub fn extract_intake_key(line: &[u8]) -> Option<(String, Vec<u8>)> {
    let window = &line[..line.len().min(SD_SEARCH_WINDOW)];
    let start = memchr::memmem::find(window, SEKOIA_SD_ID)?;
    let mut i = start + SEKOIA_SD_ID.len();
    let mut key = None;
    // PARAM = NAME "=" %d34 VALUE %d34, separated by spaces, until "]".
    loop {
        while line.get(i) == Some(&b' ') {
            i += 1;
        }
        match line.get(i)? {
            b']' => break,
            _ => {
                let name_start = i;
                while !matches!(line.get(i)?, b'=' | b' ' | b']') {
                    i += 1;
                }
                let name = &line[name_start..i];
                if line.get(i)? != &b'=' || line.get(i + 1)? != &b'"' {
                    return None;
                }
                i += 2;
                let mut value = Vec::new();
                loop {
                    match *line.get(i)? {
                        b'\\' => {
                            let next = *line.get(i + 1)?;
                            if !matches!(next, b'"' | b'\\' | b']') {
                                value.push(b'\\');
                            }
                            value.push(next);
                            i += 2;
                        }
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b => {
                            value.push(b);
                            i += 1;
                        }
                    }
                }
                if name == b"intake_key" {
                    key = Some(String::from_utf8_lossy(&value).into_owned());
                }
            }
        }
    }
    let end = i + 1; // past ']'
    let key = key?;
    let before = &line[..start];
    let after = &line[end..];
    let isolated = before.ends_with(b" ") && (after.is_empty() || after.starts_with(b" "));
    let mut out = Vec::with_capacity(line.len());
    out.extend_from_slice(before);
    if isolated && header_kind(line) == HeaderKind::Rfc5424 {
        out.push(b'-');
        out.extend_from_slice(after);
    } else if isolated {
        // RFC 3164: drop the element and the space that followed it.
        out.extend_from_slice(after.strip_prefix(b" ").unwrap_or(after));
    } else {
        out.extend_from_slice(after);
    }
    Some((key, out))
}

/// How a connection frames its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Not known yet (no byte seen).
    Unknown,
    /// One message per line.
    Newline,
    /// RFC 6587 octet counting: `LEN SP MSG`.
    OctetCounting,
}

/// One framing result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete message (without its terminator): a slice of the read buffer, not a
    /// copy of it (a receiver that keeps the line copies it once, where it keeps it).
    Message(Bytes),
    /// A message longer than the limit was skipped; its size (or the size seen so far).
    Oversize(usize),
    /// The octet count was not a number; the connection falls back to newline framing.
    BadOctetCount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    None,
    /// Skipping an over-long line up to its newline.
    ToNewline,
    /// Skipping this many more bytes of an over-long octet-counted message.
    Bytes(usize),
}

/// Splits a byte stream into syslog messages, detecting the framing on the first byte.
#[derive(Debug)]
pub struct Framer {
    mode: Framing,
    max: usize,
    skip: Skip,
    /// Octet-counted frames seen so far; until the first, a bad count means "not octet
    /// counting after all" rather than a broken frame.
    octet_frames: u64,
}

impl Framer {
    /// A framer for messages of at most `max` bytes.
    pub fn new(max: usize) -> Framer {
        Framer {
            mode: Framing::Unknown,
            max,
            skip: Skip::None,
            octet_frames: 0,
        }
    }

    /// The detected framing.
    pub fn framing(&self) -> Framing {
        self.mode
    }

    /// Takes the next frame out of `buf`, or `None` if more bytes are needed.
    pub fn next_frame(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        match self.skip {
            Skip::Bytes(n) => {
                let k = n.min(buf.len());
                buf.advance(k);
                if k < n {
                    self.skip = Skip::Bytes(n - k);
                    return None;
                }
                self.skip = Skip::None;
            }
            Skip::ToNewline => match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    buf.advance(i + 1);
                    self.skip = Skip::None;
                }
                None => {
                    buf.clear();
                    return None;
                }
            },
            Skip::None => {}
        }
        if self.mode == Framing::Unknown {
            let first = *buf.iter().find(|b| !matches!(b, b'\n' | b'\r'))?;
            self.mode = if first.is_ascii_digit() {
                Framing::OctetCounting
            } else {
                Framing::Newline
            };
        }
        match self.mode {
            Framing::OctetCounting => self.octet(buf),
            _ => self.newline(buf),
        }
    }

    fn newline(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        loop {
            match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    let line = buf.split_to(i + 1).freeze();
                    let end = if line[..i].ends_with(b"\r") { i - 1 } else { i };
                    if end > self.max {
                        return Some(Frame::Oversize(end));
                    }
                    if line[..end].iter().all(|b| b.is_ascii_whitespace()) {
                        continue;
                    }
                    return Some(Frame::Message(line.slice(..end)));
                }
                None if buf.len() > self.max => {
                    let n = buf.len();
                    buf.clear();
                    self.skip = Skip::ToNewline;
                    return Some(Frame::Oversize(n));
                }
                None => return None,
            }
        }
    }

    fn octet(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        // Some senders put a newline after each octet-counted frame; tolerate it.
        let lead = buf
            .iter()
            .take_while(|b| matches!(b, b'\n' | b'\r'))
            .count();
        buf.advance(lead);
        let digits = buf
            .iter()
            .take(12)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == buf.len() {
            return None; // need more bytes to see the space
        }
        if digits == 0 || digits > 10 || buf[digits] != b' ' {
            self.mode = Framing::Newline;
            if self.octet_frames == 0 {
                // Detection guessed wrong (a bare line starting with a digit, such as a
                // timestamp): nothing was framed yet, so reread it all as lines.
                return self.newline(buf);
            }
            self.skip = Skip::ToNewline;
            return Some(Frame::BadOctetCount);
        }
        let len: usize = std::str::from_utf8(&buf[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(usize::MAX);
        if len > self.max {
            self.octet_frames += 1;
            buf.advance(digits + 1);
            self.skip = Skip::Bytes(len);
            return Some(Frame::Oversize(len));
        }
        if buf.len() < digits + 1 + len {
            return None;
        }
        buf.advance(digits + 1);
        self.octet_frames += 1;
        let msg = buf.split_to(len).freeze();
        let mut end = msg.len();
        while end > 0 && matches!(msg[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        Some(Frame::Message(msg.slice(..end)))
    }

    /// At end of stream: a final unterminated line is still a message.
    pub fn finish(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        if self.skip != Skip::None || buf.iter().all(|b| b.is_ascii_whitespace()) {
            buf.clear();
            return None;
        }
        if self.mode == Framing::OctetCounting {
            buf.clear();
            return None; // a truncated octet-counted frame is incomplete, not a message
        }
        let mut line = buf.split();
        while line.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            line.truncate(line.len() - 1);
        }
        Some(Frame::Message(line.freeze()))
    }
}

/// Warnings any client can cause once per connection: at most one per 10 s each, with the
/// number of occurrences since the last one logged.
static OVERSIZE_LOG: RateLimitedLog = RateLimitedLog::new(Duration::from_secs(10));
static OCTET_COUNT_LOG: RateLimitedLog = RateLimitedLog::new(Duration::from_secs(10));
static ACCEPT_LOG: RateLimitedLog = RateLimitedLog::new(Duration::from_secs(10));

/// Accepts connections on `listener` until `shutdown` turns true, then waits for the open
/// connections to drain (see [`DRAIN_QUIET`]), for at most a little over [`DRAIN_MAX`].
pub async fn serve(
    listener: TcpListener,
    ingest: Ingest,
    cfg: SyslogConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let cfg = Arc::new(cfg);
    let permits = Arc::new(Semaphore::new(cfg.max_connections));
    let acceptor = cfg.tls.clone().map(TlsAcceptor::from);
    // The connections, so that stopping waits for them to drain; finished ones are reaped
    // as the loop goes.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    if let Some(count) = ACCEPT_LOG.hit() {
                        tracing::warn!(error = %e, count, "syslog accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let ingest = ingest.clone();
        let cfg = cfg.clone();
        let acceptor = acceptor.clone();
        let shutdown = shutdown.clone();
        conns.spawn(async move {
            ingest.metrics.syslog_connections.inc();
            match acceptor {
                None => connection(stream, peer, Transport::Syslog, &ingest, &cfg, shutdown).await,
                Some(acc) => {
                    match tokio::time::timeout(cfg.idle_timeout, acc.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            connection(tls, peer, Transport::SyslogTls, &ingest, &cfg, shutdown)
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "syslog TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "syslog TLS handshake timed out"),
                    }
                }
            }
            ingest.metrics.syslog_connections.dec();
            drop(permit);
        });
    }
    drop(listener);
    // Bounded: a connection stuck in its TLS handshake, or waiting for journal space, must
    // not hold up the server's stop.
    let all_done = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_MAX + Duration::from_secs(1), all_done)
        .await
        .is_err()
    {
        tracing::warn!(
            connections = conns.len(),
            "syslog connections still open after the shutdown drain; closing them"
        );
        conns.shutdown().await;
    }
}

/// How long a connection reuses an authentication result before asking again, so that a
/// disabled, rotated or deleted key stops working on open connections too.
const ROUTE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Resolves lines to intakes for one connection, remembering the last key that worked (a
/// feed sends the same key on every line, and hashing it once a second is enough).
struct Router<'a> {
    ingest: &'a Ingest,
    default_key: Option<&'a str>,
    cached: Option<(String, Uuid, std::time::Instant)>,
}

impl Router<'_> {
    fn route(&mut self, line: Vec<u8>) -> Result<(Uuid, Vec<u8>), &'static str> {
        let (key, data) = match extract_intake_key(&line) {
            Some((k, stripped)) => (k, stripped),
            None => match self.default_key {
                Some(k) => (k.to_string(), line),
                None => return Err("no_intake_key"),
            },
        };
        if let Some((k, intake, at)) = &self.cached {
            if at.elapsed() < ROUTE_CACHE_TTL && bool::from(k.as_bytes().ct_eq(key.as_bytes())) {
                return Ok((*intake, data));
            }
        }
        match self.ingest.auth.lookup(&key) {
            AuthOutcome::Ok(i) => {
                self.cached = Some((key, i.uuid, std::time::Instant::now()));
                Ok((i.uuid, data))
            }
            AuthOutcome::Disabled(_) => Err("intake_disabled"),
            AuthOutcome::Unknown => Err("unknown_key"),
        }
    }
}

async fn connection<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    transport: Transport,
    ingest: &Ingest,
    cfg: &SyslogConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer_s = peer.to_string();
    let mut router = Router {
        ingest,
        default_key: cfg.default_key.as_deref(),
        cached: None,
    };
    let mut framer = Framer::new(cfg.max_line);
    // Buffers start small and grow while reads fill them, so thousands of quiet connections
    // cost little while a busy one reads (and journals) up to `read_chunk` at a time.
    let mut want = INITIAL_READ.min(cfg.read_chunk);
    let mut buf = BytesMut::with_capacity(want);
    let mut oversize_reported = false;
    // Once the server stops: the time by which this connection closes, draining or not.
    let mut draining: Option<Instant> = None;
    loop {
        if buf.capacity() - buf.len() < want / 2 {
            buf.reserve(want);
        }
        let room = buf.capacity() - buf.len();
        let read = match draining {
            None => tokio::select! {
                r = tokio::time::timeout(cfg.idle_timeout, stream.read_buf(&mut buf)) => r,
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
            // Drained: the peer went quiet (a line it is still writing is not complete, so it
            // is not taken).
            Err(_) if draining.is_some() => {
                tracing::debug!(peer = %peer_s, "syslog connection drained at shutdown");
                return;
            }
            Err(_) => {
                tracing::debug!(peer = %peer_s, "syslog connection idle; closing");
                return;
            }
            Ok(Err(e)) => {
                tracing::debug!(peer = %peer_s, error = %e, "syslog read failed");
                return;
            }
            Ok(Ok(0)) => true,
            Ok(Ok(n)) => {
                if n == room {
                    want = (want * 2).min(cfg.read_chunk);
                }
                false
            }
        };
        let mut frames = Vec::new();
        while let Some(f) = framer.next_frame(&mut buf) {
            frames.push(f);
        }
        if eof {
            frames.extend(framer.finish(&mut buf));
        }
        let mut groups: Vec<(Uuid, Vec<Vec<u8>>)> = Vec::new();
        for f in frames {
            match f {
                Frame::Message(line) => {
                    // The one copy of the line, which the journal keeps.
                    match router.route(Vec::from(line)) {
                        Ok((intake, data)) => {
                            // Counted per group below, not per line.
                            match groups.iter_mut().find(|(i, _)| *i == intake) {
                                Some((_, v)) => v.push(data),
                                None => groups.push((intake, vec![data])),
                            }
                        }
                        Err(reason) => {
                            ingest
                                .metrics
                                .received
                                .with_label_values(&[UNKNOWN_INTAKE, transport.as_str()])
                                .inc();
                            ingest
                                .metrics
                                .reject(UNKNOWN_INTAKE, transport.as_str(), reason, 1);
                            tracing::debug!(peer = %peer_s, reason, "syslog line refused");
                        }
                    }
                }
                Frame::Oversize(n) => {
                    ingest
                        .metrics
                        .reject(UNKNOWN_INTAKE, transport.as_str(), "line_too_long", 1);
                    if !oversize_reported {
                        oversize_reported = true;
                        if let Some(count) = OVERSIZE_LOG.hit() {
                            tracing::warn!(peer = %peer_s, bytes = n, limit = cfg.max_line, count, "syslog line over the limit skipped (count: connections since the last such warning)");
                        }
                    }
                }
                Frame::BadOctetCount => {
                    ingest
                        .metrics
                        .reject(UNKNOWN_INTAKE, transport.as_str(), "bad_octet_count", 1);
                    if let Some(count) = OCTET_COUNT_LOG.hit() {
                        tracing::warn!(peer = %peer_s, count, "bad RFC 6587 octet count; switching to newline framing (count: since the last such warning)");
                    }
                }
            }
        }
        for (intake, events) in groups {
            let label = intake.to_string();
            let labels = [label.as_str(), transport.as_str()];
            let m = &ingest.metrics;
            m.received
                .with_label_values(&labels)
                .inc_by(events.len() as u64);
            m.bytes_received
                .with_label_values(&labels)
                .inc_by(events.iter().map(|e| e.len() as u64).sum());
            if !journal_with_backpressure(ingest, intake, transport, &peer_s, events, &mut shutdown)
                .await
            {
                return;
            }
        }
        if eof {
            return;
        }
    }
}

/// Journals a group of lines, waiting (and so not reading the socket) while the journal is
/// full. Returns false if the connection should close (shutdown or a journal fault).
async fn journal_with_backpressure(
    ingest: &Ingest,
    intake: Uuid,
    transport: Transport,
    peer: &str,
    events: Vec<Vec<u8>>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    // Appends go in pieces of at most a quarter of the disk budget, so one large read can
    // always fit once the pipeline has freed space.
    let limit = ingest.queue.in_flight_budget();
    let mut rest = &events[..];
    while !rest.is_empty() {
        let mut bytes = 0u64;
        let n = rest
            .iter()
            .take_while(|e| {
                bytes += e.len() as u64 + 64;
                bytes <= limit
            })
            .count()
            .max(1);
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let mut delay = Duration::from_millis(20);
        loop {
            match ingest.append(intake, transport, peer, chunk).await {
                Ok(_) => break,
                Err(e) if e.is_transient() => {
                    tracing::debug!(peer, error = %e, "queue full or unavailable; pausing syslog reader");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => return false,
                    }
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    // Closing without acknowledging lets the sender (NSS) replay its buffer.
                    tracing::error!(peer, error = %e, "journal failed; closing syslog connection");
                    return false;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framer: &mut Framer, input: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(f) = framer.next_frame(&mut buf) {
            out.push(f);
        }
        out
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn newline_framing_is_detected_and_splits_lines() {
        let mut f = Framer::new(100);
        let out = frames(&mut f, b"<13>a b\r\n\nsecond\npartial");
        assert_eq!(f.framing(), Framing::Newline);
        assert_eq!(out, vec![msg("<13>a b"), msg("second")]);
    }

    #[test]
    fn octet_counting_is_detected_and_may_contain_newlines() {
        let mut f = Framer::new(100);
        let out = frames(&mut f, b"5 ab\ncd11 hello world3 x");
        assert_eq!(f.framing(), Framing::OctetCounting);
        assert_eq!(out, vec![msg("ab\ncd"), msg("hello world")]);
    }

    #[test]
    fn an_over_long_line_is_reported_and_the_next_line_survives() {
        let mut f = Framer::new(10);
        let mut buf = BytesMut::from(&b"<13>456789abcdef"[..]);
        assert_eq!(f.next_frame(&mut buf), Some(Frame::Oversize(16)));
        buf.extend_from_slice(b"ghij\nok\n");
        assert_eq!(f.next_frame(&mut buf), Some(msg("ok")));
    }

    #[test]
    fn an_over_long_octet_counted_message_is_skipped_whole() {
        let mut f = Framer::new(4);
        let out = frames(&mut f, b"6 abcdef2 ok");
        assert_eq!(out, vec![Frame::Oversize(6), msg("ok")]);
    }

    #[test]
    fn a_bad_octet_count_falls_back_to_newlines() {
        let mut f = Framer::new(100);
        let out = frames(&mut f, b"3 abc12x junk\nnext line\n");
        assert_eq!(
            out,
            vec![msg("abc"), Frame::BadOctetCount, msg("next line")]
        );
    }

    #[test]
    fn the_last_unterminated_line_counts_at_end_of_stream() {
        let mut f = Framer::new(100);
        let mut buf = BytesMut::from(&b"a\nlast"[..]);
        assert_eq!(f.next_frame(&mut buf), Some(msg("a")));
        assert_eq!(f.next_frame(&mut buf), None);
        assert_eq!(f.finish(&mut buf), Some(msg("last")));
    }

    #[test]
    fn a_bare_line_starting_with_a_digit_is_newline_framed() {
        let mut f = Framer::new(100);
        let out = frames(&mut f, b"2024-11-27 10:00:00 a=b\nsecond\n");
        assert_eq!(f.framing(), Framing::Newline);
        assert_eq!(out, vec![msg("2024-11-27 10:00:00 a=b"), msg("second")]);
    }

    #[test]
    fn headers_are_classified() {
        assert_eq!(
            header_kind(b"<134>1 2024-01-01T00:00:00Z h a - - - m"),
            HeaderKind::Rfc5424
        );
        assert_eq!(
            header_kind(b"<134>Nov 27 10:00:00 host zscaler: {}"),
            HeaderKind::Rfc3164
        );
        assert_eq!(header_kind(b"{\"a\":1}"), HeaderKind::None);
    }

    #[test]
    fn the_sekoia_key_is_extracted_and_removed_from_a_5424_line() {
        let line = br#"<134>1 2024-01-01T00:00:00Z nss zscaler - LOG [SEKOIA@53288 intake_key="abc\"d"] {"x":1}"#;
        let (k, rest) = extract_intake_key(line).unwrap();
        assert_eq!(k, "abc\"d");
        assert_eq!(
            rest,
            br#"<134>1 2024-01-01T00:00:00Z nss zscaler - LOG - {"x":1}"#.to_vec()
        );
    }

    #[test]
    fn the_sekoia_key_is_extracted_from_a_3164_line() {
        let line = br#"<134>Nov 27 10:00:00 nss zscaler: [SEKOIA@53288 intake_key="K1"] {"x":1}"#;
        let (k, rest) = extract_intake_key(line).unwrap();
        assert_eq!(k, "K1");
        assert_eq!(
            rest,
            br#"<134>Nov 27 10:00:00 nss zscaler: {"x":1}"#.to_vec()
        );
    }

    #[test]
    fn other_structured_data_is_kept() {
        let line = br#"<134>1 - h a - - [a@1 x="y"][SEKOIA@53288 intake_key="K"] m"#;
        let (k, rest) = extract_intake_key(line).unwrap();
        assert_eq!(k, "K");
        assert_eq!(rest, br#"<134>1 - h a - - [a@1 x="y"] m"#.to_vec());
    }

    #[test]
    fn a_line_without_the_element_or_with_a_broken_one_has_no_key() {
        assert!(extract_intake_key(b"<134>1 - h a - - - m").is_none());
        assert!(extract_intake_key(br#"[SEKOIA@53288 intake_key="unterminated"#).is_none());
    }
}
