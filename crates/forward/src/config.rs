//! What a forwarder is told: its listeners, its destinations, its buffer and its limits.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The Sekoia.io HTTP intake's batch URL, the default destination path.
pub const SEKOIA_BATCH_URL: &str = "https://intake.sekoia.io/plain/batch";
/// The path used when an HTTP destination URL has none.
pub const DEFAULT_BATCH_PATH: &str = "/plain/batch";

/// A configuration value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{what} {value:?}: {reason}")]
pub struct ConfigError {
    /// Which setting.
    pub what: &'static str,
    /// The value given (never a key: keys are cut off before it is reported).
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

fn bad(what: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        what,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// One listener: syslog `tcp://ADDR:PORT[=KEY]` or `tls://ADDR:PORT[=KEY]`, or the Cloud NSS
/// HTTP path `http://ADDR:PORT[=KEY]` or `https://ADDR:PORT[=KEY]`.
#[derive(Clone, PartialEq, Eq)]
pub struct ListenSpec {
    /// The address to bind.
    pub addr: SocketAddr,
    /// The intake key of lines that carry no `[SEKOIA@53288 intake_key=…]` element (syslog),
    /// or of requests without an `X-SEKOIAIO-INTAKE-KEY` header (HTTP).
    pub key: Option<String>,
    /// TLS (needs the server certificate and key).
    pub tls: bool,
    /// Cloud NSS HTTP batches (`POST /plain/batch`) instead of syslog.
    pub http: bool,
}

impl fmt::Debug for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for ListenSpec {
    /// The listener without its key (what logs and metrics show).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match (self.http, self.tls) {
            (false, false) => "tcp",
            (false, true) => "tls",
            (true, false) => "http",
            (true, true) => "https",
        };
        write!(f, "{scheme}://{}", self.addr)
    }
}

impl std::str::FromStr for ListenSpec {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let (spec, key) = match s.split_once('=') {
            Some((a, k)) if !k.is_empty() => (a, Some(k.to_string())),
            Some(_) => return Err(bad("--listen", s, "empty key after '='")),
            None => (s, None),
        };
        let (http, tls, addr) = if let Some(a) = spec.strip_prefix("tcp://") {
            (false, false, a)
        } else if let Some(a) = spec.strip_prefix("tls://") {
            (false, true, a)
        } else if let Some(a) = spec.strip_prefix("http://") {
            (true, false, a)
        } else if let Some(a) = spec.strip_prefix("https://") {
            (true, true, a)
        } else if spec.contains("://") {
            return Err(bad(
                "--listen",
                spec,
                "the scheme must be tcp://, tls://, http:// or https://",
            ));
        } else {
            (false, false, spec)
        };
        // A path would suggest it is served; the HTTP input serves Cloud NSS's path only.
        let addr = addr.strip_suffix('/').unwrap_or(addr);
        let addr = addr
            .parse()
            .map_err(|e| bad("--listen", spec, format!("not an IP:PORT address ({e})")))?;
        Ok(ListenSpec {
            addr,
            key,
            tls,
            http,
        })
    }
}

/// Where a destination sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestKind {
    /// HTTPS (or HTTP) batches to a Sekoia-compatible intake URL.
    Http {
        /// The full batch URL, path and query included.
        url: String,
    },
    /// RFC 5424 syslog over TLS, the key in `[SEKOIA@53288 intake_key="…"]`.
    SyslogTls {
        /// Host name (checked against the certificate) or IP.
        host: String,
        /// Port (Sekoia's syslog intake: 10514).
        port: u16,
    },
}

/// One destination: `https://HOST[:PORT]/PATH[#KEY]` or `tls://HOST:PORT[#KEY]`. A `#KEY`
/// replaces every record's own key for this destination only (a fragment is never sent).
#[derive(Clone, PartialEq, Eq)]
pub struct DestSpec {
    /// Where it sends.
    pub kind: DestKind,
    /// The key that replaces the records' own keys, if any.
    pub key: Option<String>,
}

impl DestSpec {
    /// The destination without its key, as shown in logs, metrics and `status`.
    pub fn label(&self) -> String {
        match &self.kind {
            DestKind::Http { url } => url.clone(),
            DestKind::SyslogTls { host, port } => format!("tls://{host}:{port}"),
        }
    }

    /// A stable file name for the destination's cursor (a digest of its label).
    pub fn cursor_name(&self) -> String {
        use sha2::Digest;
        let d = sha2::Sha256::digest(self.label().as_bytes());
        d[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for DestSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_some() { "#<key>" } else { "" };
        write!(f, "{}{key}", self.label())
    }
}

impl std::str::FromStr for DestSpec {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let (spec, key) = match s.split_once('#') {
            Some((a, k)) if !k.is_empty() => (a, Some(k.to_string())),
            Some(_) => return Err(bad("--to", s, "empty key after '#'")),
            None => (s, None),
        };
        if let Some(rest) = spec.strip_prefix("tls://") {
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| bad("--to", spec, "tls:// needs HOST:PORT"))?;
            let port: u16 = port
                .trim_end_matches('/')
                .parse()
                .map_err(|_| bad("--to", spec, "bad port"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(bad("--to", spec, "empty host"));
            }
            return Ok(DestSpec {
                kind: DestKind::SyslogTls {
                    host: host.to_string(),
                    port,
                },
                key,
            });
        }
        let rest = spec
            .strip_prefix("https://")
            .or_else(|| spec.strip_prefix("http://"))
            .ok_or_else(|| {
                bad(
                    "--to",
                    spec,
                    "the scheme must be https:// (or http://) for an HTTP intake, tls:// for syslog",
                )
            })?;
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        if authority.is_empty() {
            return Err(bad("--to", spec, "empty host"));
        }
        let url = if rest.len() == authority.len() || rest[authority.len()..].starts_with('?') {
            // No path: the Sekoia batch path.
            let scheme_len = spec.len() - rest.len();
            format!(
                "{}{authority}{DEFAULT_BATCH_PATH}{}",
                &spec[..scheme_len],
                &rest[authority.len()..]
            )
        } else {
            spec.to_string()
        };
        Ok(DestSpec {
            kind: DestKind::Http { url },
            key,
        })
    }
}

/// What to do when the disk budget is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// Stop reading (TCP back-pressure) until a destination frees space.
    #[default]
    Block,
    /// Delete the oldest unsent segment (counted per destination as `dropped`) and go on.
    DropOldest,
}

impl std::str::FromStr for WhenFull {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "block" => Ok(WhenFull::Block),
            "drop-oldest" => Ok(WhenFull::DropOldest),
            _ => Err(bad("--when-full", s, "expected block or drop-oldest")),
        }
    }
}

/// Client-side TLS of the destinations.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// PEM CA certificates to trust instead of the bundled web roots.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain (mutual TLS).
    pub cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key: Option<PathBuf>,
}

/// Batching and retry limits of the outputs.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Largest HTTP batch body before compression (default 1 MiB).
    pub batch_bytes: usize,
    /// Most records in one batch (default 10 000).
    pub batch_records: usize,
    /// Longest a record waits for its batch to fill (default 1 s).
    pub batch_age: Duration,
    /// A batch not full is sent once no record has arrived for this long (default 100 ms):
    /// the end of a burst goes out at once rather than after `batch_age`, and a trickle still
    /// costs at most one request per `batch_linger`. Zero counts as 1 ms.
    pub batch_linger: Duration,
    /// First retry delay (default 1 s); doubled after each failure, with jitter.
    pub retry_initial: Duration,
    /// Longest retry delay (default 60 s); a `Retry-After` is honoured up to 10 times this.
    pub retry_max: Duration,
    /// Timeout of one HTTP request or TLS connection attempt (default 30 s).
    pub request_timeout: Duration,
    /// At SIGTERM, how long the outputs keep sending what is buffered (default 10 s).
    pub drain_timeout: Duration,
    /// Gzip HTTP batches (default true).
    pub gzip: bool,
    /// HTTP batches in flight at once per destination (default 4); the cursor still advances
    /// in order, past a batch only once it and every batch before it are accepted.
    pub http_inflight: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            batch_bytes: 1024 * 1024,
            batch_records: 10_000,
            batch_age: Duration::from_secs(1),
            batch_linger: Duration::from_millis(100),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            gzip: true,
            http_inflight: 4,
        }
    }
}

/// Limits of the syslog listeners.
#[derive(Debug, Clone)]
pub struct InputLimits {
    /// Longest accepted line (default 250 KiB); longer ones are counted and skipped.
    pub max_line: usize,
    /// A connection quiet this long is closed (default 5 min).
    pub idle_timeout: Duration,
    /// Most concurrent connections per listener (default 1 000).
    pub max_connections: usize,
    /// Largest socket read, and so the most data journaled per group commit per connection
    /// (default 1 MiB).
    pub read_chunk: usize,
    /// HTTP input: largest request body, as sent and after gzip decoding (default 10 MiB,
    /// as the intake); larger ones are answered 413.
    pub max_request: usize,
    /// HTTP input: events in one request beyond which it is refused whole with 413
    /// (default 100 000, as the intake).
    pub max_events: usize,
}

impl Default for InputLimits {
    fn default() -> Self {
        InputLimits {
            max_line: 250 * 1024,
            idle_timeout: Duration::from_secs(300),
            max_connections: 1000,
            read_chunk: 1024 * 1024,
            max_request: 10 * 1024 * 1024,
            max_events: 100_000,
        }
    }
}

/// Everything a forwarder needs.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// Data directory: `journal/` and `cursors/` (made private, mode 0700).
    pub data_dir: PathBuf,
    /// The listeners (syslog and Cloud NSS HTTP).
    pub listen: Vec<ListenSpec>,
    /// PEM certificate chain and key of the `tls://` and `https://` listeners.
    pub server_cert: Option<(PathBuf, PathBuf)>,
    /// The destinations, each with its own cursor.
    pub to: Vec<DestSpec>,
    /// TLS of the destinations.
    pub client_tls: ClientTls,
    /// The buffer's disk budget in bytes (default 10 GiB).
    pub max_disk_bytes: u64,
    /// Journal segment size (default 64 MiB, at most a sixteenth of the budget): the unit
    /// `drop-oldest` drops.
    pub segment_bytes: u64,
    /// The policy when the budget is used up.
    pub when_full: WhenFull,
    /// fsync before a record counts as received (default true; false only in benchmarks).
    pub fsync: bool,
    /// Output batching and retries.
    pub tuning: Tuning,
    /// Listener limits.
    pub input: InputLimits,
    /// Where `/metrics`, `/healthz` and `/status` are served (none: not served).
    pub metrics_addr: Option<SocketAddr>,
}

impl ForwardConfig {
    /// A configuration with the defaults for everything but the listeners and destinations.
    pub fn new(data_dir: PathBuf, listen: Vec<ListenSpec>, to: Vec<DestSpec>) -> ForwardConfig {
        ForwardConfig {
            data_dir,
            listen,
            server_cert: None,
            to,
            client_tls: ClientTls::default(),
            max_disk_bytes: 10 * 1024 * 1024 * 1024,
            segment_bytes: 64 * 1024 * 1024,
            when_full: WhenFull::Block,
            fsync: true,
            tuning: Tuning::default(),
            input: InputLimits::default(),
            metrics_addr: Some(([127, 0, 0, 1], 9514).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_takes_an_address_and_an_optional_key() {
        let l: ListenSpec = "tcp://0.0.0.0:5514=K1".parse().unwrap();
        assert_eq!(l.addr, "0.0.0.0:5514".parse().unwrap());
        assert_eq!(l.key.as_deref(), Some("K1"));
        assert!(!l.tls);
        let l: ListenSpec = "tls://127.0.0.1:6514".parse().unwrap();
        assert!(l.tls && l.key.is_none());
        assert!("udp://1.2.3.4:5".parse::<ListenSpec>().is_err());
        assert!("tcp://nohost".parse::<ListenSpec>().is_err());
    }

    #[test]
    fn an_http_listener_is_told_by_its_scheme() {
        let l: ListenSpec = "https://0.0.0.0:8443=K".parse().unwrap();
        assert!(l.http && l.tls);
        assert_eq!(l.to_string(), "https://0.0.0.0:8443");
        let l: ListenSpec = "http://127.0.0.1:8080/".parse().unwrap();
        assert!(l.http && !l.tls && l.key.is_none());
        let l: ListenSpec = "tcp://127.0.0.1:5514".parse().unwrap();
        assert!(!l.http);
    }

    #[test]
    fn a_listener_shows_no_key() {
        let l: ListenSpec = "tcp://127.0.0.1:5514=SECRET".parse().unwrap();
        assert!(!format!("{l} {l:?}").contains("SECRET"));
    }

    #[test]
    fn an_http_destination_without_a_path_gets_the_batch_path() {
        let d: DestSpec = "https://intake.example:8443".parse().unwrap();
        assert_eq!(
            d.kind,
            DestKind::Http {
                url: "https://intake.example:8443/plain/batch".into()
            }
        );
        let d: DestSpec = "https://h/plain/batch?status_code=200".parse().unwrap();
        assert_eq!(d.label(), "https://h/plain/batch?status_code=200");
    }

    #[test]
    fn a_destination_key_follows_a_hash_and_is_never_shown() {
        let d: DestSpec = "tls://intake.sekoia.io:10514#SECRET".parse().unwrap();
        assert_eq!(
            d.kind,
            DestKind::SyslogTls {
                host: "intake.sekoia.io".into(),
                port: 10514
            }
        );
        assert_eq!(d.key.as_deref(), Some("SECRET"));
        assert!(!format!("{} {d:?}", d.label()).contains("SECRET"));
    }

    #[test]
    fn a_destination_needs_a_known_scheme() {
        assert!("ftp://x/".parse::<DestSpec>().is_err());
        assert!("tls://nohostport".parse::<DestSpec>().is_err());
    }

    #[test]
    fn cursor_names_differ_per_destination() {
        let a: DestSpec = "https://a/plain/batch".parse().unwrap();
        let b: DestSpec = "https://b/plain/batch".parse().unwrap();
        assert_ne!(a.cursor_name(), b.cursor_name());
        assert_eq!(a.cursor_name().len(), 16);
    }
}
