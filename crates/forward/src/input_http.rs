//! The Cloud NSS HTTP input: `POST /plain/batch` with the key in `X-SEKOIAIO-INTAKE-KEY`,
//! as Cloud NSS posts to Sekoia's intake, so a site can point Cloud NSS (or another
//! forwarder) at its concentrator. A request is answered only once every event of it is
//! fsynced in the buffer; a full buffer under `--when-full block` answers 503 with
//! `Retry-After` (Cloud NSS then retries the whole batch), never a silent loss. The key is
//! not checked here — the concentrator does not know the intakes — it travels with the
//! records to the destination, which checks it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::accept::{accept_loop, AcceptLimits};

use crate::buffer::BufferError;
use crate::config::ListenSpec;
use crate::input::InputContext;
use crate::record::{encode, now_us};

/// The header Cloud NSS sends the intake key in.
pub const KEY_HEADER: &str = "x-sekoiaio-intake-key";
/// A request's headers and body must arrive within this; then the connection is closed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// What a client is told to wait before retrying while the buffer is full.
const RETRY_AFTER_FULL_S: u32 = 5;

#[derive(Clone)]
struct HttpState {
    ctx: InputContext,
    label: Arc<str>,
    key: Option<Arc<str>>,
}

/// The router of one HTTP listener.
fn router(st: HttpState) -> Router {
    Router::new()
        .route("/plain/batch", post(batch))
        .with_state(st)
}

/// Accepts connections (HTTPS with `tls`) until `shutdown` turns true, then lets requests in
/// flight finish for a few seconds.
pub async fn serve(
    listener: TcpListener,
    spec: ListenSpec,
    tls: Option<TlsAcceptor>,
    ctx: InputContext,
    shutdown: watch::Receiver<bool>,
) {
    let label: Arc<str> = spec.to_string().into();
    let limits = AcceptLimits {
        max_connections: ctx.limits.max_connections,
        handshake_timeout: REQUEST_TIMEOUT,
        drain: Duration::from_secs(10),
    };
    let app = router(HttpState {
        label: label.clone(),
        key: spec.key.as_deref().map(Arc::from),
        ctx,
    });
    accept_loop(
        listener,
        tls,
        limits,
        label,
        shutdown,
        move |io, peer, stop| connection(io, peer, app.clone(), stop),
    )
    .await;
}

/// Serves one connection (HTTP/1.1) until the peer closes it or the forwarder stops.
async fn connection<S>(io: S, peer: SocketAddr, app: Router, mut stop: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        app.clone().oneshot(req.map(Body::new))
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(REQUEST_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

fn answer(status: StatusCode, reason: &str, message: &str) -> Response {
    (status, Json(json!({"reason": reason, "message": message}))).into_response()
}

fn unavailable(reason: &str, message: &str, retry_after: u32) -> Response {
    let mut r = answer(StatusCode::SERVICE_UNAVAILABLE, reason, message);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    r
}

async fn batch(
    State(st): State<HttpState>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let m = &st.ctx.metrics;
    let reject = |reason: &str| m.rejected.with_label_values(&[reason]).inc();
    let key: Arc<str> = match headers
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(k) => Arc::from(k),
        None => match &st.key {
            Some(k) => k.clone(),
            None => {
                reject("no_intake_key");
                return answer(StatusCode::UNAUTHORIZED, "missing_key", "no intake key");
            }
        },
    };
    let max_request = st.ctx.limits.max_request;
    let body: Bytes = match tokio::time::timeout(
        REQUEST_TIMEOUT,
        axum::body::to_bytes(body, max_request),
    )
    .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            reject("request_too_large");
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                &format!("the body is over {max_request} bytes"),
            );
        }
        Err(_) => {
            reject("body_timeout");
            return answer(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the body was not received in time",
            );
        }
    };
    let events = match intake::http::plain_batch_events(body, max_request, st.ctx.limits.max_events)
    {
        Ok(e) => e,
        Err(intake::http::BatchError::Bad(msg)) => {
            reject("bad_request");
            return answer(StatusCode::BAD_REQUEST, "bad_request", &msg);
        }
        Err(e) => {
            reject("request_too_large");
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                &e.to_string(),
            );
        }
    };
    let max_line = st.ctx.limits.max_line;
    if let Some(big) = events.iter().find(|e| e.len() > max_line) {
        // Refused whole: Cloud NSS does not split a batch, and a 413 tells its admin why.
        reject("line_too_long");
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            "event_too_large",
            &format!("an event of {} bytes is over {max_line}", big.len()),
        );
    }
    let now = now_us();
    let records: Vec<Vec<u8>> = events.iter().map(|e| encode(now, &key, e)).collect();
    m.received
        .with_label_values(&[&st.label])
        .inc_by(records.len() as u64);
    if !records.is_empty() {
        match st.ctx.buffer.append(&records).await {
            Ok(()) => {}
            Err(BufferError::Journal(e)) if e.is_full() => {
                // `block`, or `drop-oldest` with nothing left to drop (one segment): either
                // way Cloud NSS keeps the batch and retries.
                m.full_waits.inc();
                return unavailable(
                    "buffer_full",
                    "the concentrator's buffer is full; retry later",
                    RETRY_AFTER_FULL_S,
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "buffer failed; answering 503");
                return unavailable(
                    "buffer_error",
                    "the concentrator cannot store; retry later",
                    30,
                );
            }
        }
    }
    // Cloud NSS asks for the status it wants (`?status_code=200`), as Sekoia's intake allows.
    let status = query
        .get("status_code")
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (200..300).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::ACCEPTED);
    if status == StatusCode::NO_CONTENT {
        return status.into_response();
    }
    (status, Json(json!({"accepted": records.len()}))).into_response()
}
