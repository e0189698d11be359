//! Where records go: a file or stdout, an NSS-VM-like TCP stream, or Cloud-NSS-like HTTP
//! batches.

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufWriter, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Counters kept by a sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Bytes written or posted (before compression).
    pub bytes: u64,
    /// HTTP batches accepted (200 or 204).
    pub batches: u64,
    /// HTTP attempts that were retried.
    pub retries: u64,
    /// Records dropped: in batches answered 400, or whose retries ran out.
    pub dropped: u64,
    /// TCP reconnections.
    pub reconnects: u64,
    /// Records sent again after a reconnection.
    pub replayed: u64,
}

/// The errors a sink reports.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing to a file or stdout failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    /// The CA certificates given for HTTPS cannot be used.
    #[error("CA certificates: {0}")]
    Tls(String),
    /// The TCP peer could not be reached within the retry time.
    #[error("cannot connect to {addr} within {waited:?}: {source}")]
    Connect {
        /// The address.
        addr: String,
        /// How long it tried.
        waited: Duration,
        /// The last error.
        source: std::io::Error,
    },
}

/// A destination of records.
pub trait Sink {
    /// Sends one record (without line end).
    fn send(&mut self, record: &[u8]) -> Result<(), SinkError>;
    /// Sends the record that `render` appends to the buffer it is given; `scratch` is a
    /// buffer the caller keeps for sinks that need one. Sinks that buffer lines render into
    /// their own buffer, sparing a copy.
    fn send_rendered(
        &mut self,
        scratch: &mut Vec<u8>,
        render: &mut dyn FnMut(&mut Vec<u8>),
    ) -> Result<(), SinkError> {
        scratch.clear();
        render(scratch);
        self.send(scratch)
    }
    /// Called now and then (every 100 ms or so): sends what has waited long enough.
    fn tick(&mut self) -> Result<(), SinkError>;
    /// Sends everything still buffered; called once at the end.
    fn finish(&mut self) -> Result<(), SinkError>;
    /// The counters so far.
    fn stats(&self) -> SinkStats;
}

/// Records written one per line to a file or stdout.
pub struct LineSink<W: Write> {
    out: W,
    buf: Vec<u8>,
    stats: SinkStats,
}

/// The size of [`LineSink`]'s buffer: it writes when this much is waiting.
pub const LINE_BUFFER: usize = 1 << 20;

impl<W: Write> LineSink<W> {
    /// A sink writing to `out` through a 1 MiB buffer.
    pub fn new(out: W) -> Self {
        LineSink {
            out,
            buf: Vec::with_capacity(LINE_BUFFER + 64 * 1024),
            stats: SinkStats::default(),
        }
    }

    fn written(&mut self, from: usize) -> Result<(), SinkError> {
        self.buf.push(b'\n');
        self.stats.bytes += (self.buf.len() - from) as u64;
        if self.buf.len() >= LINE_BUFFER {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl<W: Write> Sink for LineSink<W> {
    fn send(&mut self, record: &[u8]) -> Result<(), SinkError> {
        let from = self.buf.len();
        self.buf.extend_from_slice(record);
        self.written(from)
    }
    fn send_rendered(
        &mut self,
        _scratch: &mut Vec<u8>,
        render: &mut dyn FnMut(&mut Vec<u8>),
    ) -> Result<(), SinkError> {
        let from = self.buf.len();
        render(&mut self.buf);
        self.written(from)
    }
    fn tick(&mut self) -> Result<(), SinkError> {
        self.finish()
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(self.out.flush()?)
    }
    fn stats(&self) -> SinkStats {
        self.stats
    }
}

/// Reconnection backoff: starts at `INITIAL_BACKOFF`, doubles up to `MAX_BACKOFF`.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two connection or request attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The most bytes kept for replay; older records are forgotten first.
pub const MAX_REPLAY_BYTES: usize = 64 << 20;

/// Settings of a [`TcpSink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// `host:port` of the syslog listener.
    pub addr: String,
    /// How far back records are sent again after a reconnection (0: no replay).
    pub replay: Duration,
    /// How long to keep trying to connect before giving up.
    pub retry_for: Duration,
}

/// Behaves like an NSS VM: one persistent TCP connection, newline framing, reconnection with
/// backoff, and after a reconnection a replay of the records of the last `replay` seconds
/// (which is why intakes see duplicates).
pub struct TcpSink {
    config: TcpConfig,
    stream: Option<BufWriter<TcpStream>>,
    ever_connected: bool,
    ring: VecDeque<u8>,
    ring_index: VecDeque<(Instant, usize)>,
    stats: SinkStats,
}

impl TcpSink {
    /// A sink for `config`; it connects on the first record.
    pub fn new(config: TcpConfig) -> TcpSink {
        TcpSink {
            config,
            stream: None,
            ever_connected: false,
            ring: VecDeque::new(),
            ring_index: VecDeque::new(),
            stats: SinkStats::default(),
        }
    }

    fn remember(&mut self, record: &[u8]) {
        if self.config.replay.is_zero() {
            return;
        }
        let now = Instant::now();
        self.ring.extend(record);
        self.ring.push_back(b'\n');
        self.ring_index.push_back((now, record.len() + 1));
        while let Some(&(t, len)) = self.ring_index.front() {
            if now.duration_since(t) > self.config.replay || self.ring.len() > MAX_REPLAY_BYTES {
                self.ring.drain(..len);
                self.ring_index.pop_front();
            } else {
                break;
            }
        }
    }

    fn connect(&mut self) -> Result<(), SinkError> {
        let start = Instant::now();
        let mut backoff = INITIAL_BACKOFF;
        loop {
            match TcpStream::connect(&self.config.addr) {
                Ok(s) => {
                    let mut w = BufWriter::with_capacity(256 << 10, s);
                    if self.ever_connected {
                        self.stats.reconnects += 1;
                        // The replay includes the record being sent now (it was remembered first).
                        let (a, b) = self.ring.as_slices();
                        w.write_all(a)?;
                        w.write_all(b)?;
                        self.stats.replayed += self.ring_index.len() as u64;
                    }
                    self.ever_connected = true;
                    self.stream = Some(w);
                    return Ok(());
                }
                Err(e) if start.elapsed() >= self.config.retry_for => {
                    return Err(SinkError::Connect {
                        addr: self.config.addr.clone(),
                        waited: start.elapsed(),
                        source: e,
                    })
                }
                Err(_) => {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

impl Sink for TcpSink {
    fn send(&mut self, record: &[u8]) -> Result<(), SinkError> {
        self.remember(record);
        self.stats.bytes += record.len() as u64 + 1;
        loop {
            let replaying =
                self.stream.is_none() && self.ever_connected && !self.config.replay.is_zero();
            if self.stream.is_none() {
                self.connect()?;
                if replaying {
                    return Ok(());
                }
            }
            let Some(w) = self.stream.as_mut() else {
                continue;
            };
            match w.write_all(record).and_then(|()| w.write_all(b"\n")) {
                Ok(()) => return Ok(()),
                Err(_) => {
                    // The peer went away: reconnect (and replay) on the next turn.
                    self.stream = None;
                }
            }
        }
    }

    fn tick(&mut self) -> Result<(), SinkError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if let Some(w) = self.stream.as_mut() {
            if w.flush().is_err() {
                self.stream = None;
                // Reconnect now so that what was buffered is replayed rather than lost.
                self.connect()?;
                if let Some(w) = self.stream.as_mut() {
                    w.flush()?;
                }
            }
        }
        Ok(())
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}

impl Drop for TcpSink {
    fn drop(&mut self) {
        if let Some(mut w) = self.stream.take() {
            let _ = w.flush();
            if let Ok(s) = w.into_inner() {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
        }
    }
}

/// Settings of an [`HttpSink`].
#[derive(Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The batch URL, e.g. `https://intake.example/plain/batch?status_code=200`.
    pub url: String,
    /// The intake key, sent in `key_header`. Never logged.
    pub key: Option<String>,
    /// The header carrying the key.
    pub key_header: String,
    /// Compress batches with gzip (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// The largest batch body before compression, in bytes.
    pub batch_bytes: usize,
    /// The longest a record waits in a partial batch.
    pub batch_age: Duration,
    /// How long a batch is retried before it is dropped.
    pub retry_for: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
    /// PEM certificates of the CAs to trust for HTTPS instead of the bundled web roots
    /// (e.g. a local intake's self-signed certificate).
    pub ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("url", &self.url)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("key_header", &self.key_header)
            .field("gzip", &self.gzip)
            .field("batch_bytes", &self.batch_bytes)
            .field("batch_age", &self.batch_age)
            .field("retry_for", &self.retry_for)
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .finish()
    }
}

/// Behaves like Cloud NSS: newline-separated records in batches of at most `batch_bytes`,
/// optionally gzipped, with the intake key in a header; any answer but 200, 204 and 400 (and
/// any connection failure) is retried with backoff for up to `retry_for`; 400 drops the batch.
pub struct HttpSink {
    config: HttpConfig,
    agent: ureq::Agent,
    batch: Vec<u8>,
    batch_records: u64,
    batch_started: Option<Instant>,
    stats: SinkStats,
}

impl HttpSink {
    /// A sink for `config`; fails only on unusable CA certificates.
    pub fn new(config: HttpConfig) -> Result<HttpSink, SinkError> {
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout));
        if let Some(pem) = &config.ca_pem {
            let certs = ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(SinkError::Tls(e.to_string()))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if certs.is_empty() {
                return Err(SinkError::Tls("no certificate found".into()));
            }
            let tls = ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                .build();
            builder = builder.tls_config(tls);
        }
        let agent: ureq::Agent = builder.build().into();
        Ok(HttpSink {
            config,
            agent,
            batch: Vec::new(),
            batch_records: 0,
            batch_started: None,
            stats: SinkStats::default(),
        })
    }

    fn post_batch(&mut self) -> Result<(), SinkError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let body = if self.config.gzip {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(self.batch.len() / 4),
                flate2::Compression::fast(),
            );
            enc.write_all(&self.batch)?;
            enc.finish()?
        } else {
            std::mem::take(&mut self.batch)
        };
        let start = Instant::now();
        let mut backoff = INITIAL_BACKOFF;
        loop {
            let mut req = self
                .agent
                .post(&self.config.url)
                .header("Content-Type", "application/json");
            if self.config.gzip {
                req = req.header("Content-Encoding", "gzip");
            }
            if let Some(k) = &self.config.key {
                req = req.header(self.config.key_header.as_str(), k.as_str());
            }
            let (status, retry_after) = match req.send(&body[..]) {
                Ok(mut resp) => {
                    let ra = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    // Read the answer so that the connection can be reused.
                    let _ = resp.body_mut().with_config().limit(64 << 10).read_to_vec();
                    (Some(resp.status().as_u16()), ra)
                }
                Err(_) => (None, None),
            };
            match status {
                Some(200 | 204) => {
                    self.stats.batches += 1;
                    break;
                }
                Some(400) => {
                    self.stats.dropped += self.batch_records;
                    break;
                }
                _ if start.elapsed() >= self.config.retry_for => {
                    self.stats.dropped += self.batch_records;
                    break;
                }
                _ => {
                    self.stats.retries += 1;
                    let wait = retry_after.unwrap_or(backoff).min(MAX_BACKOFF * 6);
                    let left = self.config.retry_for.saturating_sub(start.elapsed());
                    std::thread::sleep(wait.min(left));
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        self.batch.clear();
        self.batch_records = 0;
        self.batch_started = None;
        Ok(())
    }
}

impl Sink for HttpSink {
    fn send(&mut self, record: &[u8]) -> Result<(), SinkError> {
        if !self.batch.is_empty() && self.batch.len() + record.len() + 1 > self.config.batch_bytes {
            self.post_batch()?;
        }
        if !self.batch.is_empty() {
            self.batch.push(b'\n');
        }
        self.batch.extend_from_slice(record);
        self.batch_records += 1;
        self.stats.bytes += record.len() as u64 + 1;
        let started = *self.batch_started.get_or_insert_with(Instant::now);
        if started.elapsed() >= self.config.batch_age {
            self.post_batch()?;
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<(), SinkError> {
        match self.batch_started {
            Some(t) if t.elapsed() >= self.config.batch_age => self.post_batch(),
            _ => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.post_batch()
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}
