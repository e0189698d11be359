//! `POST /api/v1/events/export` and `GET /api/v1/alerts/export`: a search's events or the
//! alert list as NDJSON or CSV, as a download. Events are streamed page by page from a
//! blocking thread (memory stays one page however large the export), cut at
//! [`store::api::MAX_EXPORT`]; the headers say how many matched and how many are written
//! (`X-Ziaxdr-Export-Total`, `X-Ziaxdr-Export-Rows`) before the first row.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use console::api::StoreAccess;
use store::api::{ExportFormat, ExportRequest};

/// Bytes gathered before a chunk is sent to the client.
const CHUNK: usize = 64 * 1024;

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Sends what is written to the response body, in chunks; fails once the client is gone.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

fn download(format: ExportFormat, name: &str, total: u64, rows: u64, body: Body) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{name}.{}\"",
        format.extension()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert("x-ziaxdr-export-total", HeaderValue::from(total));
    h.insert("x-ziaxdr-export-rows", HeaderValue::from(rows));
    r
}

/// `POST /api/v1/events/export` with an [`ExportRequest`] body.
pub async fn events(State(store): State<StoreAccess>, body: Bytes) -> Response {
    let req: ExportRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("bad request body: {e}")),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let (planned, plan_rx) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let mut planned = Some(planned);
        let opened = store.with(|st| {
            let plan = match store::api::plan_export(st, &req, time::OffsetDateTime::now_utc()) {
                Ok(p) => p,
                Err(e) => {
                    let code = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
                    if let Some(p) = planned.take() {
                        let _ = p.send(Err((code, e.to_string())));
                    }
                    return Ok(());
                }
            };
            if let Some(p) = planned.take() {
                let _ = p.send(Ok((plan.format, plan.total, plan.rows)));
            }
            let mut w = ChannelWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
            };
            if let Err(e) = store::api::write_export(st, &plan, &mut w) {
                tracing::warn!(error = %e, "event export stopped");
            }
            Ok(())
        });
        if let (Err(msg), Some(p)) = (opened, planned.take()) {
            let _ = p.send(Err((StatusCode::SERVICE_UNAVAILABLE, msg)));
        }
    });
    match plan_rx.await {
        Ok(Ok((format, total, rows))) => {
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|chunk| (chunk, rx))
            });
            download(format, "events", total, rows, Body::from_stream(stream))
        }
        Ok(Err((code, msg))) => json_error(code, &msg),
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "the export failed"),
    }
}

/// The alert fields of a CSV row, as (column, JSON path).
const ALERT_COLUMNS: &[(&str, &str)] = &[
    ("id", "short_id"),
    ("uuid", "uuid"),
    ("title", "title"),
    ("status", "status"),
    ("assignee", "assignee"),
    ("urgency", "urgency"),
    ("rule", "rule.name"),
    ("rule_id", "rule.id"),
    ("entity", "entity"),
    ("source", "source"),
    ("target", "target"),
    ("similar", "similar"),
    ("first_seen", "first_seen"),
    ("last_seen", "last_seen"),
];

/// `GET /api/v1/alerts/export?format=csv|ndjson&status=&rule=&entity=&limit=…`: the alert
/// list's filters (all of them, see `detect::api`) (newest first, at most 10,000, the list's own cap).
pub async fn alerts(State(at): State<detect::alerts::AlertsAt>, uri: axum::http::Uri) -> Response {
    let query = uri.query().unwrap_or("").to_string();
    let mut format = ExportFormat::Csv;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("format", "csv")) => format = ExportFormat::Csv,
            Some(("format", "ndjson")) => format = ExportFormat::Ndjson,
            Some(("format", other)) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!("format must be csv or ndjson, not {other:?}"),
                )
            }
            _ => rest.push(pair),
        }
    }
    if !rest.iter().any(|p| p.starts_with("limit=")) {
        rest.push("limit=10000");
    }
    let list_query = rest.join("&");
    let result = tokio::task::spawn_blocking(move || {
        let mut store = at
            .open()
            .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        let r = detect::api::handle(&mut store, "GET", "/api/v1/alerts", &list_query, b"", "");
        if r.status != 200 {
            let code = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
            let msg = r.body["error"]
                .as_str()
                .unwrap_or("bad request")
                .to_string();
            return Err((code, msg));
        }
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        let total = r.body["total"].as_u64().unwrap_or(items.len() as u64);
        let mut out = Vec::new();
        match format {
            ExportFormat::Ndjson => {
                for a in &items {
                    let _ = serde_json::to_writer(&mut out, a);
                    out.push(b'\n');
                }
            }
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(&mut out);
                let fail = |e: csv::Error| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
                w.write_record(ALERT_COLUMNS.iter().map(|(c, _)| *c))
                    .map_err(fail)?;
                for a in &items {
                    let row = ALERT_COLUMNS.iter().map(|(_, path)| {
                        let v = path.split('.').try_fold(a, |v, k| v.get(k));
                        store::api::csv_cell(v)
                    });
                    w.write_record(row).map_err(fail)?;
                }
                w.flush()
                    .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            }
        }
        Ok((total, items.len() as u64, out))
    })
    .await;
    match result {
        Ok(Ok((total, rows, bytes))) => download(format, "alerts", total, rows, Body::from(bytes)),
        Ok(Err((code, msg))) => json_error(code, &msg),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
