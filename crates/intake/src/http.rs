//! The HTTP intake, with the paths and semantics of the Sekoia.io intake (what Cloud NSS
//! posts to), plus the admin REST API, `/metrics`, `/healthz` and `/readyz`.
//!
//! | path | body | answer |
//! |---|---|---|
//! | `POST /plain` | one event | `{"event_id"}` |
//! | `POST /plain/batch` | events separated by LF, or a JSON array | `{"event_ids"}` |
//! | `POST /jsons` | JSON array of events, an object (one event), or an object plus `?path=a.b` naming the array | `{"event_ids"}` |
//! | `POST /batch` | `{"intake_key"?, "jsons": [..]}` or a JSON array | `{"event_ids"}` |
//! | `POST /array` | JSON array of events | `{"event_ids"}` |
//! | `POST /` | `{"intake_key"?, "json": ".."}` (or `"jsons"`) | `{"event_id"}` / `{"event_ids"}` |
//!
//! The key comes from `X-SEKOIAIO-INTAKE-KEY`, the HTTP Basic password, `?intake_key=`, or
//! the JSON body's `intake_key`. The answer is sent only after the events are durable in the
//! journal. Success is 202 unless `?status_code=2xx` forces another code (Cloud NSS wants 200).
//! Limits: [`Limits`]; over → 413 (per-event outcome for batches); unknown or missing key →
//! 401; disabled intake → 403; journal full or too many requests in flight → 503 with
//! `Retry-After`; a body that is not the JSON the path requires → 400; an empty probe → 200.
//!
//! Admin API (Bearer token): `GET/POST /v1/sic/conf/intakes`, `GET/PATCH/DELETE
//! /v1/sic/conf/intakes/{uuid}` (PATCH takes `{"status": "enabled"|"disabled"}`),
//! `GET/POST /v1/sic/conf/entities`.

// Handlers return `Result<_, Response>` so an early answer can use `?`-style flow; the
// response type is large but built once per request.
#![allow(clippy::result_large_err)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::auth::AuthOutcome;
use crate::ingest::Ingest;
use crate::metrics::UNKNOWN_INTAKE;
use crate::registry::{hash_key, Intake, RegistryError, Status, FORMAT_ZIA};
use pipeline::raw::Transport;

/// The header Sekoia's intake reads the key from.
pub const KEY_HEADER: &str = "x-sekoiaio-intake-key";

/// Limits of the HTTP listener and intake. All are explicit; `docs/security.md` lists each
/// with its answer.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest single event (default 250 KiB).
    pub max_event: usize,
    /// Largest request body as sent, and largest body after gzip decoding (default 10 MiB).
    pub max_request: usize,
    /// Authenticated intake requests being processed at once beyond which new ones get 503
    /// (default 512).
    pub max_inflight: usize,
    /// Intake requests whose key can only be in the body, read at once before they are
    /// authenticated; beyond it 503 (default 8). Such a body is read and scanned for its key
    /// but parsed only once the key is good.
    pub max_unauthenticated_inflight: usize,
    /// Events in one request beyond which it is refused whole with 413 (default 100 000).
    pub max_events: usize,
    /// Time a client has to send a request's headers, and to start the next request on a
    /// kept-alive connection (default 10 s); then the connection is closed.
    pub header_timeout: Duration,
    /// Time a client has to send an intake request's whole body (default 60 s); then 408.
    pub body_timeout: Duration,
    /// A connection on which nothing was read or written for this long is closed
    /// (default 120 s).
    pub idle_timeout: Duration,
    /// Open connections on the HTTP listener; further ones are closed at once (default 4096).
    pub max_connections: usize,
    /// Open connections from one source address; further ones are closed at once
    /// (default 256).
    pub max_connections_per_source: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_event: 250 * 1024,
            max_request: 10 * 1024 * 1024,
            max_inflight: 512,
            max_unauthenticated_inflight: 8,
            max_events: 100_000,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(120),
            max_connections: 4096,
            max_connections_per_source: 256,
        }
    }
}

/// Everything the HTTP handlers need.
#[derive(Clone)]
pub struct AppState {
    /// Journal, authenticator, metrics.
    pub ingest: Ingest,
    /// Size limits.
    pub limits: Limits,
    /// Hash of the admin API token; `None` disables the admin API.
    pub admin_token_hash: Option<[u8; 32]>,
    /// Set while the server accepts traffic (for `/readyz`).
    pub ready: Arc<AtomicBool>,
    /// Whether the HTTP listener is TLS (for the transport label).
    pub tls: bool,
    inflight: Arc<Semaphore>,
    unauthenticated: Arc<Semaphore>,
}

impl AppState {
    /// Builds the state.
    pub fn new(ingest: Ingest, limits: Limits, admin_token_hash: Option<[u8; 32]>) -> AppState {
        AppState {
            inflight: Arc::new(Semaphore::new(limits.max_inflight)),
            unauthenticated: Arc::new(Semaphore::new(limits.max_unauthenticated_inflight.max(1))),
            ingest,
            limits,
            admin_token_hash,
            ready: Arc::new(AtomicBool::new(false)),
            tls: false,
        }
    }
}

/// The intake, admin, metrics and health routes. Merge other routers into it (the search
/// API, the web console) before serving.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(ingest_root))
        .route("/plain", post(ingest_plain))
        .route("/plain/batch", post(ingest_plain_batch))
        .route("/jsons", post(ingest_jsons))
        .route("/batch", post(ingest_batch))
        .route("/array", post(ingest_array))
        .route(
            "/v1/sic/conf/intakes",
            get(list_intakes).post(create_intake),
        )
        .route(
            "/v1/sic/conf/intakes/{uuid}",
            delete(delete_intake).get(get_intake).patch(patch_intake),
        )
        .route(
            "/v1/sic/conf/entities",
            get(list_entities).post(create_entity),
        )
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Root,
    Plain,
    PlainBatch,
    Jsons,
    Batch,
    Array,
}

async fn ingest_root(State(s): State<AppState>, req: Request) -> Response {
    handle(s, Endpoint::Root, req).await
}
async fn ingest_plain(State(s): State<AppState>, req: Request) -> Response {
    handle(s, Endpoint::Plain, req).await
}
async fn ingest_plain_batch(State(s): State<AppState>, req: Request) -> Response {
    handle(s, Endpoint::PlainBatch, req).await
}
async fn ingest_jsons(State(s): State<AppState>, req: Request) -> Response {
    handle(s, Endpoint::Jsons, req).await
}
async fn ingest_batch(State(s): State<AppState>, req: Request) -> Response {
    handle(s, Endpoint::Batch, req).await
}
async fn ingest_array(State(s): State<AppState>, req: Request) -> Response {
    handle(s, Endpoint::Array, req).await
}

fn error(status: StatusCode, reason: &str, message: &str) -> Response {
    (status, Json(json!({"reason": reason, "message": message}))).into_response()
}

fn unavailable(reason: &str, message: &str, retry_after: u32) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, reason, message);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    r
}

/// What the body turned into. The lines of a `/plain/batch` body are borrowed from it, not
/// copied: each is copied once, into its journal record (a copy per line here, then another
/// into the record, was a part of the receive stage's cost).
struct Parsed<'a> {
    events: Vec<Cow<'a, [u8]>>,
    single: bool,
}

fn value_to_event(v: Value) -> Cow<'static, [u8]> {
    Cow::Owned(match v {
        Value::String(s) => s.into_bytes(),
        other => other.to_string().into_bytes(),
    })
}

fn array_events(items: Vec<Value>) -> Vec<Cow<'static, [u8]>> {
    items.into_iter().map(value_to_event).collect()
}

fn take_key(obj: &mut serde_json::Map<String, Value>) -> Option<String> {
    match obj.remove("intake_key") {
        Some(Value::String(k)) => Some(k),
        _ => None,
    }
}

/// Why a body was not split into events.
#[derive(Debug)]
enum SplitError {
    /// Not what the path requires (400, with the message).
    Bad(String),
    /// More events than the per-request cap (413).
    TooMany,
}

impl From<String> for SplitError {
    fn from(m: String) -> Self {
        SplitError::Bad(m)
    }
}

/// A JSON array of at most `cap` values, refused as soon as it holds one more (so a body of
/// millions of tiny values never becomes a tree of millions of values).
struct CappedArray {
    cap: usize,
    over: std::cell::Cell<bool>,
}

impl<'de> serde::de::DeserializeSeed<'de> for &CappedArray {
    type Value = Vec<Value>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for &CappedArray {
    type Value = Vec<Value>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            if out.len() == self.cap {
                self.over.set(true);
                return Err(serde::de::Error::custom("too many events"));
            }
            out.push(v);
        }
        Ok(out)
    }
}

/// Parses a JSON array of at most `cap` elements.
fn capped_array(text: &[u8], cap: usize) -> Result<Vec<Value>, SplitError> {
    use serde::de::DeserializeSeed;
    let seed = CappedArray {
        cap,
        over: std::cell::Cell::new(false),
    };
    let mut de = serde_json::Deserializer::from_slice(text);
    let r = (&seed)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match r {
        Ok(v) => Ok(v),
        Err(_) if seed.over.get() => Err(SplitError::TooMany),
        Err(e) => Err(SplitError::Bad(format!("body is not valid JSON: {e}"))),
    }
}

/// Splits a (decoded) body into events according to the path, at most `cap` of them.
fn split_body<'a>(
    ep: Endpoint,
    body: &'a [u8],
    query: &HashMap<String, String>,
    cap: usize,
) -> Result<Parsed<'a>, SplitError> {
    let text_trim = body.trim_ascii();
    let plain = |events| Parsed {
        events,
        single: false,
    };
    match ep {
        Endpoint::Plain => {
            let mut b = body;
            while let Some(x) = b.strip_suffix(b"\n").or_else(|| b.strip_suffix(b"\r")) {
                b = x;
            }
            Ok(Parsed {
                events: if b.trim_ascii().is_empty() {
                    vec![]
                } else {
                    vec![Cow::Borrowed(b)]
                },
                single: true,
            })
        }
        Endpoint::PlainBatch => {
            // Cloud NSS sends a JSON array when "JSON Array Notation" is on.
            if text_trim.starts_with(b"[") {
                match capped_array(text_trim, cap) {
                    Ok(items) => return Ok(plain(array_events(items))),
                    Err(SplitError::TooMany) => return Err(SplitError::TooMany),
                    // Not an array after all: lines.
                    Err(SplitError::Bad(_)) => {}
                }
            }
            let lines = || {
                body.split(|&b| b == b'\n')
                    .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                    .filter(|l| !l.trim_ascii().is_empty())
            };
            // Counted before anything is collected.
            if lines().count() > cap {
                return Err(SplitError::TooMany);
            }
            Ok(plain(lines().map(Cow::Borrowed).collect()))
        }
        _ if text_trim.is_empty() => Ok(Parsed {
            events: vec![],
            single: ep == Endpoint::Root,
        }),
        _ if text_trim.starts_with(b"[") => Ok(plain(array_events(capped_array(text_trim, cap)?))),
        _ => {
            let v: Value = serde_json::from_slice(text_trim)
                .map_err(|e| format!("body is not valid JSON: {e}"))?;
            let p = split_json(ep, v, query)?;
            if p.events.len() > cap {
                return Err(SplitError::TooMany);
            }
            Ok(p)
        }
    }
}

fn split_json(
    ep: Endpoint,
    v: Value,
    query: &HashMap<String, String>,
) -> Result<Parsed<'static>, String> {
    let plain = |events| Parsed {
        events,
        single: false,
    };
    match (ep, v) {
        (_, Value::Array(items)) => Ok(plain(array_events(items))),
        (Endpoint::Array, _) => Err("/array expects a JSON array".into()),
        (Endpoint::Jsons, Value::Object(mut obj)) => {
            take_key(&mut obj);
            if let Some(path) = query.get("path").filter(|p| !p.is_empty()) {
                let mut cur = Value::Object(obj);
                for part in path.split('.') {
                    cur = match cur {
                        Value::Object(mut o) => o
                            .remove(part)
                            .ok_or_else(|| format!("path {path:?} not found in body"))?,
                        _ => return Err(format!("path {path:?} not found in body")),
                    };
                }
                return match cur {
                    Value::Array(items) => Ok(Parsed {
                        events: array_events(items),
                        single: false,
                    }),
                    other => Ok(Parsed {
                        events: vec![value_to_event(other)],
                        single: false,
                    }),
                };
            }
            if let Some(Value::Array(items)) = obj.remove("jsons") {
                return Ok(Parsed {
                    events: array_events(items),
                    single: false,
                });
            }
            Ok(Parsed {
                events: if obj.is_empty() {
                    vec![]
                } else {
                    vec![Cow::Owned(Value::Object(obj).to_string().into_bytes())]
                },
                single: false,
            })
        }
        (Endpoint::Batch | Endpoint::Root, Value::Object(mut obj)) => {
            take_key(&mut obj);
            if let Some(Value::Array(items)) = obj.remove("jsons") {
                return Ok(Parsed {
                    events: array_events(items),
                    single: false,
                });
            }
            if let Some(j) = obj.remove("json") {
                return Ok(Parsed {
                    events: vec![value_to_event(j)],
                    single: ep == Endpoint::Root,
                });
            }
            if obj.is_empty() {
                return Ok(Parsed {
                    events: vec![],
                    single: ep == Endpoint::Root,
                });
            }
            Err("expected an object with \"json\" or \"jsons\"".into())
        }
        _ => Err("unexpected JSON body for this path".into()),
    }
}

fn basic_password(headers: &HeaderMap) -> Option<String> {
    use base64::Engine;
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let dec = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(dec).ok()?;
    let (_, pass) = s.split_once(':')?;
    Some(pass.to_string())
}

fn header_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Why a Cloud NSS batch body was not turned into events.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The body is not what `/plain/batch` takes (answered 400).
    #[error("{0}")]
    Bad(String),
    /// More events than the cap (answered 413).
    #[error("more than {0} events in one request")]
    TooMany(usize),
    /// Larger than the cap once inflated (answered 413).
    #[error("the body inflates to more than {0} bytes")]
    TooLarge(usize),
}

/// The events of a `/plain/batch` body as Cloud NSS posts it: gzip recognised by its magic
/// bytes, then one event per non-blank line, or the items of a JSON array ("JSON Array
/// Notation"); at most `max_events` events and `max_bytes` inflated bytes. The log
/// concentrator's HTTP input shares this with the intake so both read a batch the same way.
pub fn plain_batch_events(
    body: Bytes,
    max_bytes: usize,
    max_events: usize,
) -> Result<Vec<Vec<u8>>, BatchError> {
    let body = maybe_gunzip(body, max_bytes)
        .map_err(BatchError::Bad)?
        .ok_or(BatchError::TooLarge(max_bytes))?;
    match split_body(Endpoint::PlainBatch, &body, &HashMap::new(), max_events) {
        Ok(p) => Ok(p.events.into_iter().map(Cow::into_owned).collect()),
        Err(SplitError::TooMany) => Err(BatchError::TooMany(max_events)),
        Err(SplitError::Bad(m)) => Err(BatchError::Bad(m)),
    }
}

/// Decodes a gzip body (recognised by its magic bytes, whatever the headers say), refusing
/// to inflate beyond `cap` bytes. `Ok(None)` means over the cap.
fn maybe_gunzip(body: Bytes, cap: usize) -> Result<Option<Bytes>, String> {
    if body.len() < 2 || body[0] != 0x1f || body[1] != 0x8b {
        return Ok(Some(body));
    }
    // A gzip member ends with its inflated size mod 2^32 (ISIZE): for the usual one-member
    // body that is the exact size, so the output is allocated once instead of growing by
    // doubling (each step a copy of everything inflated so far). It is only a hint: a lying
    // or multi-member trailer just means the buffer grows as before, and the hint is bounded
    // by deflate's largest ratio (1032:1) and the cap, so a small body cannot reserve more.
    let n = body.len();
    let hint = match body.get(n.saturating_sub(4)..) {
        Some(t) if n >= 18 => u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize,
        _ => n * 4,
    };
    let hint = hint.min(n.saturating_mul(1032)).max(n);
    let mut out = Vec::with_capacity(hint.min(cap.saturating_add(1)));
    let dec = flate2::read::MultiGzDecoder::new(&body[..]);
    dec.take(cap as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("bad gzip body: {e}"))?;
    if out.len() > cap {
        return Ok(None);
    }
    Ok(Some(Bytes::from(out)))
}

/// `?` for handlers that answer early with a response.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

/// The intake `key` belongs to, or the answer to a bad key (401) or disabled intake (403).
fn authenticate(s: &AppState, key: &str, tr: &str) -> Result<Intake, Response> {
    let m = &s.ingest.metrics;
    match s.ingest.auth.lookup(key) {
        AuthOutcome::Ok(i) => Ok(i),
        AuthOutcome::Disabled(i) => {
            m.reject(&i.uuid.to_string(), tr, "intake_disabled", 1);
            Err(error(
                StatusCode::FORBIDDEN,
                "intake_disabled",
                "intake is disabled",
            ))
        }
        AuthOutcome::Unknown => {
            m.reject(UNKNOWN_INTAKE, tr, "unknown_key", 1);
            Err(error(
                StatusCode::UNAUTHORIZED,
                "unknown_key",
                "unknown intake key",
            ))
        }
    }
}

/// The key of an object body, found without building the body's tree (every other value is
/// skipped): what an unauthenticated body is allowed to cost.
fn body_key(body: &[u8]) -> Result<Option<String>, String> {
    #[derive(serde::Deserialize)]
    struct KeyOnly {
        #[serde(default)]
        intake_key: Option<Value>,
    }
    let t = body.trim_ascii();
    if !t.starts_with(b"{") {
        return Ok(None);
    }
    let k: KeyOnly =
        serde_json::from_slice(t).map_err(|e| format!("body is not valid JSON: {e}"))?;
    Ok(match k.intake_key {
        Some(Value::String(k)) => Some(k),
        _ => None,
    })
}

/// Reads the whole body within the body timeout and the size limit, and decodes gzip.
async fn read_body(s: &AppState, body: Body, tr: &str) -> Result<Bytes, Response> {
    let m = &s.ingest.metrics;
    let read = axum::body::to_bytes(body, s.limits.max_request);
    let body = match tokio::time::timeout(s.limits.body_timeout, read).await {
        Err(_) => {
            m.reject(UNKNOWN_INTAKE, tr, "body_timeout", 1);
            return Err(error(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                &format!(
                    "the body was not received within {} s",
                    s.limits.body_timeout.as_secs_f64()
                ),
            ));
        }
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Err(body_error(m, tr, &e, s.limits.max_request)),
    };
    match maybe_gunzip(body, s.limits.max_request) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => {
            m.reject(UNKNOWN_INTAKE, tr, "request_too_large", 1);
            Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                &format!("decompressed body over {} bytes", s.limits.max_request),
            ))
        }
        Err(msg) => {
            m.reject(UNKNOWN_INTAKE, tr, "bad_request", 1);
            Err(error(StatusCode::BAD_REQUEST, "bad_request", &msg))
        }
    }
}

/// The answer to a body that could not be read: 413 over the size limit, 400 for a body
/// that is not valid HTTP framing (bad chunked encoding) or was cut short.
fn body_error(m: &crate::metrics::Metrics, tr: &str, e: &axum::Error, max: usize) -> Response {
    use std::error::Error as _;
    let mut src: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(x) = src {
        if x.is::<http_body_util::LengthLimitError>() {
            m.reject(UNKNOWN_INTAKE, tr, "request_too_large", 1);
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                &format!("request body over {max} bytes"),
            );
        }
        src = x.source();
    }
    m.reject(UNKNOWN_INTAKE, tr, "bad_request", 1);
    error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        &format!("the body could not be read: {e}"),
    )
}

fn too_many_events(m: &crate::metrics::Metrics, label: &str, tr: &str, max: usize) -> Response {
    m.reject(label, tr, "too_many_events", 1);
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_events",
        &format!("the request holds more than {max} events; send them in smaller batches"),
    )
}

async fn handle(s: AppState, ep: Endpoint, req: Request) -> Response {
    let transport = if s.tls {
        Transport::Https
    } else {
        Transport::Http
    };
    let tr = transport.as_str();
    let m = &s.ingest.metrics;
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let query: HashMap<String, String> = Query::try_from_uri(req.uri())
        .map(|Query(q)| q)
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let outer_key = header_key(&headers)
        .or_else(|| basic_password(&headers))
        .or_else(|| query.get("intake_key").cloned().filter(|k| !k.is_empty()));
    // A key outside the body is checked before anything of the body is read or a slot is
    // taken: a client without a good key costs no more than its headers.
    let (intake, body, _permit) = match outer_key {
        Some(key) => {
            let intake = tri!(authenticate(&s, &key, tr));
            let Ok(permit) = s.inflight.clone().try_acquire_owned() else {
                m.reject(UNKNOWN_INTAKE, tr, "overloaded", 1);
                return unavailable("overloaded", "too many requests in flight; retry later", 1);
            };
            (intake, tri!(read_body(&s, body, tr).await), permit)
        }
        None if matches!(ep, Endpoint::Root | Endpoint::Batch | Endpoint::Jsons) => {
            // The key may be in the body: such bodies are read in a pool of their own, and
            // only scanned for the key until it is found good.
            let Ok(permit) = s.unauthenticated.clone().try_acquire_owned() else {
                m.reject(UNKNOWN_INTAKE, tr, "overloaded", 1);
                return unavailable(
                    "overloaded",
                    "too many unauthenticated requests in flight; send the key in the X-SEKOIAIO-INTAKE-KEY header",
                    1,
                );
            };
            let body = tri!(read_body(&s, body, tr).await);
            let key = match body_key(&body) {
                Ok(Some(k)) => k,
                Ok(None) => {
                    m.reject(UNKNOWN_INTAKE, tr, "missing_key", 1);
                    return error(StatusCode::UNAUTHORIZED, "missing_key", "no intake key");
                }
                Err(msg) => {
                    m.reject(UNKNOWN_INTAKE, tr, "bad_request", 1);
                    return error(StatusCode::BAD_REQUEST, "bad_request", &msg);
                }
            };
            (tri!(authenticate(&s, &key, tr)), body, permit)
        }
        None => {
            m.reject(UNKNOWN_INTAKE, tr, "missing_key", 1);
            return error(StatusCode::UNAUTHORIZED, "missing_key", "no intake key");
        }
    };
    let label = intake.uuid.to_string();
    let parsed = match split_body(ep, &body, &query, s.limits.max_events) {
        Ok(p) => p,
        Err(SplitError::TooMany) => return too_many_events(m, &label, tr, s.limits.max_events),
        Err(SplitError::Bad(msg)) => {
            m.reject(&label, tr, "bad_request", 1);
            return error(StatusCode::BAD_REQUEST, "bad_request", &msg);
        }
    };
    let labels = [label.as_str(), tr];
    m.received
        .with_label_values(&labels)
        .inc_by(parsed.events.len() as u64);
    m.bytes_received
        .with_label_values(&labels)
        .inc_by(parsed.events.iter().map(|e| e.len() as u64).sum());
    if parsed.events.is_empty() {
        // The "test connectivity" probe.
        return (StatusCode::OK, Json(json!({"event_ids": []}))).into_response();
    }
    let max = s.limits.max_event;
    let too_big: Vec<(usize, usize)> = parsed
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.len() > max)
        .map(|(i, e)| (i, e.len()))
        .collect();
    let n_events = parsed.events.len();
    let good: Vec<Cow<[u8]>> = parsed
        .events
        .into_iter()
        .filter(|e| e.len() <= max)
        .collect();
    let ids = if good.is_empty() {
        vec![]
    } else {
        match s.ingest.append(intake.uuid, transport, &peer, &good).await {
            Ok(ids) => ids,
            Err(e @ queue::QueueError::NoSpace) => {
                return unavailable(
                    e.reason(),
                    "the server's disk is full; retry later",
                    e.retry_after_secs(),
                )
            }
            Err(e @ queue::QueueError::Full) => {
                return unavailable(
                    e.reason(),
                    "storage is full; retry later",
                    e.retry_after_secs(),
                )
            }
            Err(e @ queue::QueueError::Unavailable(_)) => {
                tracing::warn!(error = %e, "queue unavailable; answering 503");
                return unavailable(
                    e.reason(),
                    "the queue is unavailable; retry later",
                    e.retry_after_secs(),
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "journal append failed");
                return unavailable(
                    e.reason(),
                    "storage unavailable; retry later",
                    e.retry_after_secs(),
                );
            }
        }
    };
    if !too_big.is_empty() {
        m.reject(&label, tr, "event_too_large", too_big.len() as u64);
        let mut it = ids.into_iter();
        let outcome: Vec<Value> = (0..n_events)
            .map(|i| {
                if too_big.iter().any(|(j, _)| *j == i) {
                    Value::Null
                } else {
                    it.next()
                        .map_or(Value::Null, |id| Value::String(id.to_string()))
                }
            })
            .collect();
        let rejected: Vec<Value> = too_big
            .iter()
            .map(|(i, n)| json!({"index": i, "reason": "event_too_large", "size": n, "limit": max}))
            .collect();
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({
                "reason": "event_too_large",
                "message": format!("{} event(s) over {max} bytes were refused; the others were accepted", rejected.len()),
                "event_ids": outcome,
                "rejected": rejected,
            })),
        )
            .into_response();
    }
    let status = query
        .get("status_code")
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (200..300).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::ACCEPTED);
    if status == StatusCode::NO_CONTENT {
        return StatusCode::NO_CONTENT.into_response();
    }
    if parsed.single && ids.len() == 1 {
        return (status, Json(json!({"event_id": ids[0].to_string()}))).into_response();
    }
    let mut r = Response::new(Body::from(event_ids_json(&ids)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `{"event_ids":[…]}`, the JSON `Json(json!(…))` writes, written straight into one buffer:
/// a batch's hundreds of ids were each a `String`, then a `Value`, then serialized.
fn event_ids_json(ids: &[Uuid]) -> String {
    const HEAD: &str = "{\"event_ids\":[";
    let mut out = String::with_capacity(HEAD.len() + ids.len() * 39 + 2);
    out.push_str(HEAD);
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(id.hyphenated().encode_lower(&mut buf));
        out.push('"');
    }
    out.push_str("]}");
    out
}

async fn metrics(State(s): State<AppState>) -> Response {
    if let Some(j) = s.ingest.queue.journal() {
        s.ingest.metrics.journal_bytes.set(j.disk_usage() as i64);
    }
    let mut r = Response::new(Body::from(s.ingest.metrics.render()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

async fn readyz(State(s): State<AppState>) -> Response {
    if !s.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting or stopping\n").into_response();
    }
    if let Some(p) = s.ingest.queue.problem() {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{p}\n")).into_response();
    }
    let fault = s
        .ingest
        .metrics
        .pipeline_fault
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(f) = fault {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("pipeline: {f}\n")).into_response();
    }
    // The registry (PostgreSQL in a cluster) is read off the async threads: a server that
    // does not answer costs its timeout.
    let auth = s.ingest.auth.clone();
    let unreachable = tokio::task::spawn_blocking(move || {
        auth.refresh_if_stale();
        auth.unreachable()
    })
    .await
    .unwrap_or(None);
    if let Some(e) = unreachable {
        let backend = s.ingest.auth.registry().backend();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{backend}: the registry cannot be read ({e}); cached intake keys are still accepted\n"
            ),
        )
            .into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}

// ---- admin API ----

/// Request extension an authentication layer in front of [`router`] sets for a caller it
/// has found allowed to use the admin API (a console administrator, an admin API token).
#[derive(Debug, Clone, Copy)]
pub struct AdminAuthorized;

fn admin_ok(s: &AppState, headers: &HeaderMap, ext: &Extensions) -> Result<(), Response> {
    if ext.get::<AdminAuthorized>().is_some() {
        return Ok(());
    }
    let Some(expected) = s.admin_token_hash else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "admin_disabled",
            "the admin API has no token configured",
        ));
    };
    if bearer_matches(&expected, headers) {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "bad or missing bearer token",
        ))
    }
}

/// True when `headers` carry `Authorization: Bearer <token>` and the token's hash is
/// `expected`, compared in constant time. Shared by every API behind the admin token.
pub fn bearer_matches(expected: &[u8; 32], headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .is_some_and(|t| bool::from(hash_key(t).ct_eq(expected)))
}

fn registry_error(e: RegistryError) -> Response {
    match e {
        RegistryError::NotFound(m) => error(StatusCode::NOT_FOUND, "not_found", &m),
        RegistryError::Invalid(m) => error(StatusCode::BAD_REQUEST, "invalid", &m),
        other => {
            tracing::error!(error = %other, "registry failure");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "registry failure",
            )
        }
    }
}

/// Runs a registry call on the blocking pool (SQLite may wait on a CLI's write lock).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(registry_error),
        Err(_) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "task failed",
        )),
    }
}

async fn list_intakes(State(s): State<AppState>, headers: HeaderMap, ext: Extensions) -> Response {
    if let Err(r) = admin_ok(&s, &headers, &ext) {
        return r;
    }
    let reg = s.ingest.auth.registry().clone();
    match blocking(move || reg.list_intakes()).await {
        Ok(items) => Json(json!({"items": items, "total": items.len()})).into_response(),
        Err(r) => r,
    }
}

async fn get_intake(
    State(s): State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    Path(uuid): Path<String>,
) -> Response {
    if let Err(r) = admin_ok(&s, &headers, &ext) {
        return r;
    }
    let Ok(uuid) = Uuid::parse_str(&uuid) else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such intake");
    };
    let reg = s.ingest.auth.registry().clone();
    match blocking(move || reg.get_intake(uuid)).await {
        Ok(i) => Json(i).into_response(),
        Err(r) => r,
    }
}

#[derive(serde::Deserialize)]
struct CreateIntake {
    name: String,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    entity_uuid: Option<String>,
}

async fn create_intake(
    State(s): State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    body: Bytes,
) -> Response {
    if let Err(r) = admin_ok(&s, &headers, &ext) {
        return r;
    }
    let req: CreateIntake = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid", &e.to_string()),
    };
    let reg = s.ingest.auth.registry().clone();
    let res = blocking(move || {
        let entity = match req.entity_uuid {
            Some(e) => reg.find_entity(&e)?,
            None => reg
                .list_entities()?
                .into_iter()
                .next()
                .ok_or_else(|| RegistryError::NotFound("entity (none exists)".into()))?,
        };
        reg.create_intake(
            &req.name,
            req.format.as_deref().unwrap_or(FORMAT_ZIA),
            entity.uuid,
        )
    })
    .await;
    s.ingest.auth.invalidate();
    match res {
        Ok(n) => (StatusCode::CREATED, Json(n)).into_response(),
        Err(r) => r,
    }
}

async fn delete_intake(
    State(s): State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    Path(uuid): Path<String>,
) -> Response {
    if let Err(r) = admin_ok(&s, &headers, &ext) {
        return r;
    }
    let Ok(uuid) = Uuid::parse_str(&uuid) else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such intake");
    };
    let reg = s.ingest.auth.registry().clone();
    let res = blocking(move || reg.delete_intake(uuid)).await;
    s.ingest.auth.invalidate();
    match res {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

#[derive(serde::Deserialize)]
struct PatchIntake {
    status: String,
}

/// `PATCH /v1/sic/conf/intakes/{uuid}` with `{"status": "enabled" | "disabled"}`.
async fn patch_intake(
    State(s): State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = admin_ok(&s, &headers, &ext) {
        return r;
    }
    let Ok(uuid) = Uuid::parse_str(&uuid) else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such intake");
    };
    let status = match serde_json::from_slice::<PatchIntake>(&body)
        .ok()
        .and_then(|p| Status::parse(&p.status))
    {
        Some(st) => st,
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "expected {\"status\": \"enabled\" | \"disabled\"}",
            )
        }
    };
    let reg = s.ingest.auth.registry().clone();
    let res = blocking(move || reg.set_status(uuid, status)).await;
    s.ingest.auth.invalidate();
    match res {
        Ok(i) => Json(i).into_response(),
        Err(r) => r,
    }
}

async fn list_entities(State(s): State<AppState>, headers: HeaderMap, ext: Extensions) -> Response {
    if let Err(r) = admin_ok(&s, &headers, &ext) {
        return r;
    }
    let reg = s.ingest.auth.registry().clone();
    match blocking(move || reg.list_entities()).await {
        Ok(items) => Json(json!({"items": items, "total": items.len()})).into_response(),
        Err(r) => r,
    }
}

#[derive(serde::Deserialize)]
struct CreateEntity {
    name: String,
}

async fn create_entity(
    State(s): State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    body: Bytes,
) -> Response {
    if let Err(r) = admin_ok(&s, &headers, &ext) {
        return r;
    }
    let req: CreateEntity = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid", &e.to_string()),
    };
    let reg = s.ingest.auth.registry().clone();
    match blocking(move || reg.create_entity(&req.name)).await {
        Ok(e) => (StatusCode::CREATED, Json(e)).into_response(),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn events(p: &Parsed) -> Vec<String> {
        p.events
            .iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    #[test]
    fn event_ids_are_written_as_serde_json_writes_them() {
        for n in [0, 1, 3] {
            let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
            let expected =
                json!({"event_ids": ids.iter().map(Uuid::to_string).collect::<Vec<_>>()});
            assert_eq!(event_ids_json(&ids), expected.to_string());
        }
    }

    #[test]
    fn plain_batch_splits_on_newlines_and_skips_blank_lines() {
        let p = split_body(Endpoint::PlainBatch, b"a\r\n\nb\n", &q(&[]), 100).unwrap();
        assert_eq!(events(&p), ["a", "b"]);
    }

    #[test]
    fn plain_batch_accepts_a_json_array() {
        let p = split_body(
            Endpoint::PlainBatch,
            br#"[{"a":1},"raw line"]"#,
            &q(&[]),
            100,
        )
        .unwrap();
        assert_eq!(events(&p), [r#"{"a":1}"#, "raw line"]);
    }

    #[test]
    fn jsons_follows_the_path_parameter() {
        let p = split_body(
            Endpoint::Jsons,
            br#"{"data":{"logs":[{"x":1},{"x":2}]}}"#,
            &q(&[("path", "data.logs")]),
            100,
        )
        .unwrap();
        assert_eq!(events(&p), [r#"{"x":1}"#, r#"{"x":2}"#]);
    }

    #[test]
    fn batch_reads_the_key_and_events_from_the_body() {
        let p = split_body(
            Endpoint::Batch,
            br#"{"intake_key":"K","jsons":["e1","e2"]}"#,
            &q(&[]),
            100,
        )
        .unwrap();
        let key = body_key(br#"{"intake_key":"K","jsons":["e1","e2"]}"#).unwrap();
        assert_eq!(key.as_deref(), Some("K"));
        assert_eq!(events(&p), ["e1", "e2"]);
    }

    #[test]
    fn array_refuses_a_non_array() {
        assert!(split_body(Endpoint::Array, br#"{"a":1}"#, &q(&[]), 100).is_err());
    }

    #[test]
    fn gzip_is_recognised_by_magic_and_capped() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&[b'a'; 1000]).unwrap();
        let gz = Bytes::from(enc.finish().unwrap());
        assert_eq!(maybe_gunzip(gz.clone(), 1000).unwrap().unwrap().len(), 1000);
        assert!(maybe_gunzip(gz, 999).unwrap().is_none());
        assert_eq!(
            maybe_gunzip(Bytes::from_static(b"plain"), 10)
                .unwrap()
                .unwrap(),
            "plain"
        );
    }
}
