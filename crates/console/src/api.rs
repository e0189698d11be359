//! The console's own JSON endpoints, beyond the event, alert, rule and intake APIs it also
//! calls: the overview, intakes with their live status and copy-paste Zscaler settings, and
//! key rotation. Authentication happens in front of the router ([`crate::auth`]).
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/api/v1/overview` | events per minute per intake, last seen, failures, open alerts |
//! | GET | `/api/v1/intakes` | `{"items": [intake with live status], "entities": [...]}` |
//! | POST | `/api/v1/intakes` `{"name", "entity"?, "format"?}` | 201 `{"intake", "key", "setup"}` (the key only now) |
//! | GET | `/api/v1/intakes/{uuid}/setup` | the Zscaler settings, with `<intake key>` in place of the key, and the feeds' format drift |
//! | POST | `/api/v1/intakes/{uuid}/rotate` | `{"intake", "key", "setup"}` with the new key |
//! | POST | `/api/v1/intakes/{uuid}/status` `{"status": "enabled"\|"disabled"}` | the intake |
//! | GET | `/api/v1/events/fields` | `{"items": [{"name", "aggregatable"}]}`: the store's typed fields, for completion in the query box |

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use intake::ingest::Ingest;
use intake::registry::{Intake, Registry, RegistryError, Status};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{EventSearch, TantivyStore};
use uuid::Uuid;

/// Minutes shown in the overview's per-intake chart.
pub const OVERVIEW_MINUTES: i64 = 60;
/// An enabled intake with no event for this long is flagged as silent.
pub const SILENT_AFTER_MINUTES: i64 = 15;

/// How the console reads the event store.
#[derive(Clone)]
pub enum StoreAccess {
    /// The writer's own handle (the server's pipeline writes through it), of either backend.
    Shared(Arc<dyn EventSearch>),
    /// A store directory opened read-only per request (the server writes NDJSON, or tests).
    Dir(PathBuf),
}

impl StoreAccess {
    /// Runs `f` on the store.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&dyn EventSearch) -> Result<T, String>,
    ) -> Result<T, String> {
        match self {
            StoreAccess::Shared(s) => f(s.as_ref()),
            StoreAccess::Dir(d) => {
                let s = TantivyStore::open_read_only(d).map_err(|e| e.to_string())?;
                f(&s)
            }
        }
    }
}

/// Where Zscaler should send its logs: this server's addresses as the admin types them.
#[derive(Clone, Debug, Default)]
pub struct PublicEndpoints {
    /// Base URL of the HTTP intake, e.g. `https://xdr.example.com:8443`.
    pub http_base: String,
    /// Syslog TCP `host:port`, if the listener runs.
    pub syslog: Option<String>,
    /// Syslog over TLS `host:port`, if the listener runs.
    pub syslog_tls: Option<String>,
}

/// What the console's handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    /// The intake side: registry (through its authenticator), metrics.
    pub ingest: Ingest,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Where the alerts are (`DATA/alerts.db`, or the cluster's PostgreSQL).
    pub alerts: detect::alerts::AlertsAt,
    /// The event store.
    pub store: StoreAccess,
    /// This server's intake addresses.
    pub endpoints: PublicEndpoints,
}

/// The console endpoints of the table above.
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/api/v1/overview", get(overview))
        .route("/api/v1/events/fields", get(fields))
        .route("/api/v1/intakes", get(list_intakes).post(create_intake))
        .route("/api/v1/intakes/{uuid}/setup", get(intake_setup))
        .route("/api/v1/intakes/{uuid}/rotate", post(rotate_key))
        .route("/api/v1/intakes/{uuid}/status", post(set_status))
        .with_state(state)
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// A request that cannot be served: the status and message answered.
#[derive(Debug)]
struct Failure(StatusCode, String);

impl Failure {
    fn new(status: StatusCode, message: &str) -> Failure {
        Failure(status, message.to_string())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        json_error(self.0, &self.1)
    }
}

fn registry_error(e: RegistryError) -> Failure {
    match e {
        RegistryError::NotFound(m) => Failure(StatusCode::NOT_FOUND, format!("{m} not found")),
        RegistryError::Invalid(m) => Failure(StatusCode::BAD_REQUEST, m),
        other => {
            tracing::error!(error = %other, "registry failure");
            Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "registry failure")
        }
    }
}

/// Runs blocking work (SQLite, the store) off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())))
}

// ---- live status ----

/// An intake as the console lists it.
#[derive(Serialize, Debug)]
pub struct IntakeView {
    /// Intake UUID.
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// Format (`zscaler-zia`).
    pub format: String,
    /// Entity UUID.
    pub entity_uuid: String,
    /// Entity name.
    pub entity: String,
    /// `enabled` or `disabled`.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// Live counters since the server started.
    pub live: intake::metrics::IntakeTotals,
    /// Newest stored event of the intake (RFC 3339), within the last 30 days.
    pub last_seen: Option<String>,
    /// Enabled, and no event for [`SILENT_AFTER_MINUTES`] (or none ever).
    pub silent: bool,
    /// Stored events of the last 5 minutes, per minute (average).
    pub events_per_minute: f64,
    /// Stored events of the last 24 hours whose parsing failed.
    pub failed_24h: u64,
    /// The intake's feeds whose keys drifted from the recommended format, since the server
    /// started.
    pub drift: Vec<intake::drift::DriftReport>,
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Counts matching events over the last `since` (e.g. `24h`).
fn count(st: &dyn EventSearch, query: &str, since: &str) -> Result<u64, String> {
    let req = store::api::AggregateRequest {
        query: query.into(),
        time: store::TimeSpec {
            since: Some(since.into()),
            ..Default::default()
        },
        aggregation: store::api::Aggregation::Count,
    };
    match store::api::aggregate(st, &req, now())
        .map_err(|e| e.to_string())?
        .result
    {
        store::api::AggregateResult::Count { count } => Ok(count),
        _ => Ok(0),
    }
}

/// Events per minute of a query over the last `minutes` (oldest first).
fn per_minute(st: &dyn EventSearch, query: &str, minutes: i64) -> Result<Vec<u64>, String> {
    let req = store::api::AggregateRequest {
        query: query.into(),
        time: store::TimeSpec {
            since: Some(format!("{minutes}m")),
            ..Default::default()
        },
        aggregation: store::api::Aggregation::Histogram {
            interval: Some("1m".into()),
        },
    };
    match store::api::aggregate(st, &req, now())
        .map_err(|e| e.to_string())?
        .result
    {
        store::api::AggregateResult::Histogram { buckets, .. } => {
            Ok(buckets.into_iter().map(|b| b.count).collect())
        }
        _ => Ok(Vec::new()),
    }
}

/// The newest stored event's time of a query, within 30 days.
fn last_seen(st: &dyn EventSearch, query: &str) -> Result<Option<String>, String> {
    let req = store::api::SearchRequest {
        query: query.into(),
        time: store::TimeSpec {
            since: Some("30d".into()),
            ..Default::default()
        },
        limit: 1,
        cursor: None,
        fields: Some(vec!["@timestamp".into()]),
    };
    let r = store::api::search(st, &req, now()).map_err(|e| e.to_string())?;
    Ok(r.events
        .first()
        .and_then(|e| e.get("@timestamp"))
        .and_then(Value::as_str)
        .map(str::to_string))
}

fn intake_query(uuid: &str) -> String {
    format!("ziaxdr.intake.uuid:{uuid}")
}

fn view(
    i: &Intake,
    entities: &BTreeMap<Uuid, String>,
    ingest: &Ingest,
    st: Option<&dyn EventSearch>,
) -> IntakeView {
    let uuid = i.uuid.to_string();
    let q = intake_query(&uuid);
    let (last_seen, epm, failed) = match st {
        Some(st) => (
            last_seen(st, &q).ok().flatten(),
            count(st, &q, "5m").map(|c| c as f64 / 5.0).unwrap_or(0.0),
            count(st, &format!("{q} AND event.kind:pipeline_error"), "24h").unwrap_or(0),
        ),
        None => (None, 0.0, 0),
    };
    let silent = i.status == Status::Enabled
        && last_seen
            .as_deref()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .is_none_or(|t| now() - t > time::Duration::minutes(SILENT_AFTER_MINUTES));
    IntakeView {
        name: i.name.clone(),
        format: i.format.clone(),
        entity_uuid: i.entity_uuid.to_string(),
        entity: entities.get(&i.entity_uuid).cloned().unwrap_or_default(),
        status: i.status.as_str().to_string(),
        created_at: i.created_at.clone(),
        live: ingest.metrics.intake_totals(&uuid),
        last_seen,
        silent,
        events_per_minute: epm,
        failed_24h: failed,
        drift: ingest.metrics.drift.report(&i.uuid),
        uuid,
    }
}

fn entity_names(reg: &Registry) -> Result<BTreeMap<Uuid, String>, RegistryError> {
    Ok(reg
        .list_entities()?
        .into_iter()
        .map(|e| (e.uuid, e.name))
        .collect())
}

async fn list_intakes(State(s): State<ConsoleState>) -> Response {
    let r = blocking(move || {
        let reg = s.ingest.auth.registry();
        let entities = reg.list_entities().map_err(registry_error)?;
        let names = entities.iter().map(|e| (e.uuid, e.name.clone())).collect();
        let intakes = reg.list_intakes().map_err(registry_error)?;
        let items = s
            .store
            .with(|st| {
                Ok(intakes
                    .iter()
                    .map(|i| view(i, &names, &s.ingest, Some(st)))
                    .collect::<Vec<_>>())
            })
            .unwrap_or_else(|_| {
                // No store yet (nothing ingested) or an NDJSON sink: list without history.
                intakes
                    .iter()
                    .map(|i| view(i, &names, &s.ingest, None))
                    .collect()
            });
        Ok(json!({ "items": items, "entities": entities }))
    })
    .await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.into_response(),
    }
}

// ---- overview ----

/// Urgency bands of the overview (alerts carry an urgency from 0 to 100).
pub fn urgency_band(urgency: u8) -> &'static str {
    match urgency {
        80.. => "critical",
        60..=79 => "high",
        40..=59 => "medium",
        _ => "low",
    }
}

async fn overview(State(s): State<ConsoleState>) -> Response {
    let r = blocking(move || {
        let reg = s.ingest.auth.registry();
        let names = entity_names(reg).map_err(registry_error)?;
        let intakes = reg.list_intakes().map_err(registry_error)?;
        let mut rows = Vec::new();
        let mut totals = json!({"events_24h": 0, "parse_failures_24h": 0});
        let store_result = s.store.with(|st| {
            for i in &intakes {
                let v = view(i, &names, &s.ingest, Some(st));
                let series = per_minute(st, &intake_query(&v.uuid), OVERVIEW_MINUTES)?;
                rows.push(json!({"intake": v, "per_minute": series}));
            }
            totals = json!({
                "events_24h": count(st, "", "24h")?,
                "parse_failures_24h": count(st, "event.kind:pipeline_error", "24h")?,
            });
            Ok(())
        });
        if store_result.is_err() {
            rows = intakes
                .iter()
                .map(|i| json!({"intake": view(i, &names, &s.ingest, None), "per_minute": []}))
                .collect();
        }
        let alerts = alert_summary(&s.alerts);
        Ok(json!({
            "now": rfc3339(now()),
            "minutes": OVERVIEW_MINUTES,
            "intakes": rows,
            "totals": totals,
            "parse_failures_since_start": s.ingest.metrics.parse_failures.get(),
            "alerts": alerts,
        }))
    })
    .await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.into_response(),
    }
}

/// The store's typed fields (every event field is searchable; these are the ones the store
/// knows by name), sorted, each with whether top values and distinct counts accept it.
async fn fields() -> Response {
    let mut items: Vec<Value> = store::schema::TYPED_FIELDS
        .iter()
        .map(
            |(name, _)| json!({"name": name, "aggregatable": store::schema::is_aggregatable(name)}),
        )
        .collect();
    items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Json(json!({ "items": items })).into_response()
}

/// Open alerts by urgency band and all alerts by status.
fn alert_summary(at: &detect::alerts::AlertsAt) -> Value {
    let Ok(store) = at.open() else {
        return json!({"open": 0, "by_urgency": {}, "by_status": {}});
    };
    let all = store
        .list(&detect::alerts::AlertFilter {
            limit: Some(100_000),
            ..Default::default()
        })
        .unwrap_or_default();
    let mut by_urgency: BTreeMap<&str, u64> = ["critical", "high", "medium", "low"]
        .into_iter()
        .map(|b| (b, 0))
        .collect();
    let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
    let mut open = 0;
    for a in &all {
        *by_status.entry(a.status.as_str()).or_default() += 1;
        if a.status.is_open() {
            open += 1;
            *by_urgency.entry(urgency_band(a.urgency)).or_default() += 1;
        }
    }
    json!({"open": open, "by_urgency": by_urgency, "by_status": by_status})
}

// ---- intakes: create, setup, rotate ----

#[derive(Deserialize)]
struct CreateIntake {
    name: String,
    /// Entity name or UUID; the first entity when absent.
    #[serde(default)]
    entity: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// The format intakes are created with by default.
const FORMAT_ZIA: &str = "zscaler-zia";

/// The Zscaler settings for an intake: what the admin types into the ZIA Admin Portal.
pub fn setup(endpoints: &PublicEndpoints, key: Option<&str>) -> Value {
    use nss::recommended as rec;
    let shown_key = key.unwrap_or("<intake key>");
    let api_url = format!("{}/plain/batch?status_code=200", endpoints.http_base);
    let sd = format!("[SEKOIA@53288 intake_key=\"{shown_key}\"]");
    let formats: Vec<Value> = rec::RECOMMENDED
        .iter()
        .map(|r| {
            // The RFC 5424 header's structured-data slot carries the key, so one NSS VM can
            // feed several intakes over the same listener.
            let rfc5424 = r.format(nss::Transport::NssRfc5424).replacen(
                " - event=",
                &format!(" {sd} event="),
                1,
            );
            json!({
                "log_type": r.log_type.name(),
                "name": r.name,
                "version": r.version,
                "record_type": r.record_type,
                "nss_type": r.log_type.nss_type(),
                "cloud_nss": r.format(nss::Transport::CloudNss),
                "nss": r.format(nss::Transport::Nss),
                "nss_rfc5424": rfc5424,
            })
        })
        .collect();
    json!({
        "cloud_nss": {
            "key_shown": key.is_some(),
            "warning": cloud_nss_warning(&endpoints.http_base),
            "siem_type": "Other",
            "oauth": false,
            "max_batch_size_kb": rec::CLOUD_NSS_BATCH_KB,
            "api_url": api_url,
            "http_headers": [{"name": rec::INTAKE_KEY_HEADER, "value": shown_key}],
            "feed_output_type": "JSON",
            "json_array_notation": false,
            "feed_escape_character": ",\\\"",
            "timezone": "GMT",
        },
        "nss_vm": {
            "syslog": endpoints.syslog,
            "syslog_tls": endpoints.syslog_tls,
            "feed_output_type": "Custom",
            "feed_escape_character": ",\\\"",
            "timezone": "GMT",
            "structured_data": sd,
        },
        "formats": formats,
    })
}

/// Why Zscaler's cloud cannot reach `http_base`, if it cannot: Cloud NSS posts from the
/// internet, over HTTPS only.
pub fn cloud_nss_warning(http_base: &str) -> Option<String> {
    let lower = http_base.to_ascii_lowercase();
    let host = lower
        .split_once("://")
        .map_or(lower.as_str(), |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let local = host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| match ip {
            std::net::IpAddr::V4(v4) => {
                v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
            }
            std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified(),
        });
    let https = lower.starts_with("https://");
    match (https, local) {
        (true, false) => None,
        _ => Some(format!(
            "Cloud NSS posts from Zscaler's cloud and needs a public HTTPS address; {http_base} is {}. \
             Serve HTTPS on a reachable address and give it with `ziaxdr serve --public-url https://…`.",
            if local { "not reachable from the internet" } else { "not HTTPS" }
        )),
    }
}

async fn create_intake(State(s): State<ConsoleState>, body: axum::body::Bytes) -> Response {
    let req: CreateIntake = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("bad request body: {e}")),
    };
    if req.name.trim().is_empty() {
        return json_error(StatusCode::BAD_REQUEST, "the intake needs a name");
    }
    let ingest = s.ingest.clone();
    let r = blocking(move || {
        let reg = ingest.auth.registry();
        let entity = match req
            .entity
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            // Naming a new entity creates it: the form offers existing ones or a new name.
            Some(e) => reg.ensure_entity(e).map_err(registry_error)?,
            None => reg
                .list_entities()
                .map_err(registry_error)?
                .into_iter()
                .next()
                .ok_or_else(|| Failure::new(StatusCode::BAD_REQUEST, "create an entity first"))?,
        };
        reg.create_intake(
            req.name.trim(),
            req.format.as_deref().unwrap_or(FORMAT_ZIA),
            entity.uuid,
        )
        .map_err(registry_error)
    })
    .await;
    s.ingest.auth.invalidate();
    match r {
        Ok(n) => (
            StatusCode::CREATED,
            Json(json!({
                "intake": n.intake,
                "key": n.intake_key,
                "setup": setup(&s.endpoints, Some(&n.intake_key)),
            })),
        )
            .into_response(),
        Err(f) => f.into_response(),
    }
}

fn parse_uuid(s: &str) -> Result<Uuid, Failure> {
    Uuid::parse_str(s).map_err(|_| Failure::new(StatusCode::BAD_REQUEST, "not an intake UUID"))
}

async fn intake_setup(State(s): State<ConsoleState>, Path(uuid): Path<String>) -> Response {
    let uuid = match parse_uuid(&uuid) {
        Ok(u) => u,
        Err(f) => return f.into_response(),
    };
    let ingest = s.ingest.clone();
    match blocking(move || {
        ingest
            .auth
            .registry()
            .get_intake(uuid)
            .map_err(registry_error)
    })
    .await
    {
        Ok(i) => Json(json!({
            "intake": i,
            "setup": setup(&s.endpoints, None),
            "drift": s.ingest.metrics.drift.report(&uuid),
        }))
        .into_response(),
        Err(f) => f.into_response(),
    }
}

async fn rotate_key(State(s): State<ConsoleState>, Path(uuid): Path<String>) -> Response {
    let uuid = match parse_uuid(&uuid) {
        Ok(u) => u,
        Err(f) => return f.into_response(),
    };
    let ingest = s.ingest.clone();
    let r = blocking(move || {
        ingest
            .auth
            .registry()
            .rotate_key(uuid)
            .map_err(registry_error)
    })
    .await;
    // The old key must stop working now, not when the cache expires.
    s.ingest.auth.invalidate();
    match r {
        Ok(n) => Json(json!({
            "intake": n.intake,
            "key": n.intake_key,
            "setup": setup(&s.endpoints, Some(&n.intake_key)),
        }))
        .into_response(),
        Err(f) => f.into_response(),
    }
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
}

async fn set_status(
    State(s): State<ConsoleState>,
    Path(uuid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let uuid = match parse_uuid(&uuid) {
        Ok(u) => u,
        Err(f) => return f.into_response(),
    };
    let status = match serde_json::from_slice::<StatusBody>(&body)
        .ok()
        .and_then(|b| Status::parse(&b.status))
    {
        Some(st) => st,
        None => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "status must be enabled or disabled",
            )
        }
    };
    let ingest = s.ingest.clone();
    let r = blocking(move || {
        ingest
            .auth
            .registry()
            .set_status(uuid, status)
            .map_err(registry_error)
    })
    .await;
    s.ingest.auth.invalidate();
    match r {
        Ok(i) => Json(i).into_response(),
        Err(f) => f.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> PublicEndpoints {
        PublicEndpoints {
            http_base: "https://xdr.example.com:8443".into(),
            syslog: Some("xdr.example.com:10514".into()),
            syslog_tls: None,
        }
    }

    #[test]
    fn setup_gives_the_cloud_nss_url_header_and_key() {
        let s = setup(&endpoints(), Some("KEY123"));
        assert_eq!(
            s["cloud_nss"]["api_url"],
            "https://xdr.example.com:8443/plain/batch?status_code=200"
        );
        assert_eq!(
            s["cloud_nss"]["http_headers"][0]["name"],
            "X-SEKOIAIO-INTAKE-KEY"
        );
        assert_eq!(s["cloud_nss"]["http_headers"][0]["value"], "KEY123");
        assert_eq!(s["cloud_nss"]["json_array_notation"], false);
        assert_eq!(s["cloud_nss"]["timezone"], "GMT");
    }

    #[test]
    fn setup_says_whether_it_shows_the_key() {
        assert_eq!(
            setup(&endpoints(), Some("K")).get("cloud_nss").unwrap()["key_shown"],
            true
        );
        assert_eq!(setup(&endpoints(), None)["cloud_nss"]["key_shown"], false);
    }

    #[test]
    fn a_loopback_or_plain_http_address_is_flagged_for_cloud_nss() {
        assert_eq!(cloud_nss_warning("https://xdr.example.com:8443"), None);
        assert_eq!(cloud_nss_warning("https://203.0.113.7"), None);
        for local in [
            "http://127.0.0.1:8080",
            "https://127.0.0.1:8443",
            "https://localhost:8443",
            "https://[::1]:8443",
            "https://10.0.0.5",
            "http://xdr.example.com",
        ] {
            let w = cloud_nss_warning(local).unwrap_or_default();
            assert!(w.contains("--public-url"), "{local}: {w}");
        }
        let s = setup(
            &PublicEndpoints {
                http_base: "http://127.0.0.1:8080".into(),
                ..Default::default()
            },
            None,
        );
        assert!(s["cloud_nss"]["warning"]
            .as_str()
            .unwrap()
            .contains("public HTTPS"));
    }

    #[test]
    fn setup_without_a_key_shows_a_placeholder() {
        let s = setup(&endpoints(), None);
        assert_eq!(s["cloud_nss"]["http_headers"][0]["value"], "<intake key>");
    }

    #[test]
    fn every_nss_vm_format_carries_the_key_and_lints_clean() {
        let s = setup(&endpoints(), Some("KEY123"));
        let formats = s["formats"].as_array().unwrap();
        assert_eq!(formats.len(), nss::RECOMMENDED.len());
        for f in formats {
            let text = f["nss_rfc5424"].as_str().unwrap();
            assert!(
                text.contains("[SEKOIA@53288 intake_key=\"KEY123\"] event="),
                "{text}"
            );
            let report = nss::lint(text, None);
            let errors: Vec<_> = report
                .findings
                .iter()
                .filter(|x| x.severity == nss::Severity::Error)
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", f["name"]);
            let key = intake::syslog::extract_intake_key(
                b"<134>1 2024-01-01T00:00:00Z zscaler-nss NSS - - [SEKOIA@53288 intake_key=\"KEY123\"] event={}",
            );
            assert_eq!(key.map(|k| k.0).as_deref(), Some("KEY123"));
        }
    }

    #[test]
    fn formats_use_straight_quotes_only() {
        let s = setup(&endpoints(), Some("K"));
        let text = s["formats"].to_string();
        for bad in ['\u{201c}', '\u{201d}', '\u{2018}', '\u{2019}'] {
            assert!(!text.contains(bad));
        }
    }

    #[test]
    fn urgency_bands_cover_zero_to_one_hundred() {
        assert_eq!(urgency_band(0), "low");
        assert_eq!(urgency_band(40), "medium");
        assert_eq!(urgency_band(60), "high");
        assert_eq!(urgency_band(80), "critical");
        assert_eq!(urgency_band(100), "critical");
    }
}
