//! The alerts REST API (`/api/v1/alerts...`), independent of the HTTP framework: the server
//! authenticates the request (API token), then hands method, path, query and body to
//! [`handle`] and writes back the status and JSON it returns.
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/api/v1/alerts?status=&rule=&entity=&assignee=&rule_name=&text=&user=&host=&ip=&limit=` | | `{"items": [alert...], "total": N}` (N: all matches, beyond the limit; `assignee=` empty: unassigned) |
//! | GET | `/api/v1/alerts/{uuid or short id}` | | alert |
//! | POST | `/api/v1/alerts/{id}/status` | `{"status": "Acknowledged"}` | alert |
//! | POST | `/api/v1/alerts/{id}/comments` | `{"text": "..."}` | alert |
//! | POST | `/api/v1/alerts/{id}/assignee` | `{"assignee": "bob"}` (`null`: nobody) | alert |
//! | POST | `/api/v1/alerts/bulk` | `{"ids": [...], "status"?: "Closed", "assignee"?: "bob" or null}` (at most 1,000 ids) | `{"items": [{"id", "error"}...], "changed": N}` |
//! | GET | `/api/v1/alerts/{id}/runs` | | `{"items": [playbook run...]}` |
//! | GET | `/api/v1/alerts/throttles` | | `{"items": [throttle...]}` |
//! | GET | `/api/v1/alerts/{id}/zia` | | `{"configured", "values", "category", "ip_group"}`: what "Block in Zscaler" would act on |
//! | POST | `/api/v1/alerts/{id}/zia/block` | `{"dry_run"?: bool, "values"?: [...]}` | the outcome (`changed`, `unchanged`, `refused`, `activation`, `summary`); the result goes into the timeline |
//! | POST | `/api/v1/alerts/{id}/zia/unblock` | as above | as above |
//!
//! The rules routes, served by [`RulesApi::handle`] (built once from the rule directories the
//! server runs, then shared by every request):
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/api/v1/rules` | | `{"items": [{id, title, status, reason, level, author, type, enabled, hits, last_hit, source, logsource}...]}` |
//! | GET | `/api/v1/rules/{id}` | | one item as above |
//! | GET | `/api/v1/rules/{id}/source` | | `{"source": file, "text": the rule's Sigma YAML}` |
//! | POST | `/api/v1/rules/{id}/enabled` | `{"enabled": false}` | the item; the server drops the rule's matches within seconds |
//! | POST | `/api/v1/rules/{id}/run` | `{"from": rfc3339, "to": rfc3339}` | `{"matched": N, "scanned": M, "events": [first 100 matching events]}`, no alert created |
//!
//! The CTI routes, served by [`handle_cti`]:
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/api/v1/cti/sources` | | `{"items": [{source, imported_at, indicators, active}...]}` |
//! | GET | `/api/v1/cti/indicators?q=&state=&limit=` | | `{"items": [indicator with state and reason...], "total": N}` (`q`: in the id, name, pattern, labels or author; `state`: active, inactive, revoked, unsupported) |
//! | POST | `/api/v1/cti/indicators` | `{"type": "domain-name"\|"url"\|"ipv4-addr"\|"ipv6-addr"\|"file-md5"\|"file-sha1"\|"file-sha256", "value", "name"?, "description"?, "valid_days"?, "confidence"?}` | the indicator (source `manual`) |
//! | POST | `/api/v1/cti/indicators/{id}/revoke` | | the indicator, revoked (it stops matching within seconds) |
//! | GET | `/api/v1/cti/feeds` | | `{"items": [registered source with last_run, last_ok, last_error...]}` |
//! | POST | `/api/v1/cti/feeds` | `{"url", "every": "1h", "token_env"?}` | the registered sources |
//! | DELETE | `/api/v1/cti/feeds?url=` | | 204; its indicators stay |
//! | POST | `/api/v1/cti/import?name=` | a STIX 2.1 bundle | the import report (as `ziaxdr cti import --json`) |
//!
//! Each handler is synchronous (SQLite or PostgreSQL, and `run` scans stored events): call it from a
//! blocking task. Authentication is the caller's job.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::alerts::{AlertFilter, AlertStore, Status};
use crate::cti::{CtiMatcher, CtiStore, EventSource};
use crate::detector::Detector;
use crate::rulestate::{RuleState, RuleStateStore};
use crate::sigma::{LoadStatus, RuleInfo, RuleSet};
use crate::Error;

/// Prefix of the alert routes.
pub const PREFIX: &str = "/api/v1/alerts";
/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 64 * 1024;
/// Prefix of the rules routes.
pub const RULES_PREFIX: &str = "/api/v1/rules";
/// Prefix of the CTI routes.
pub const CTI_PREFIX: &str = "/api/v1/cti";
/// Largest STIX bundle `POST /api/v1/cti/import` accepts, in bytes.
pub const MAX_BUNDLE: usize = 64 * 1024 * 1024;
/// Matching events a rule run returns (the rest is counted).
pub const RUN_MAX_EVENTS: usize = 100;
/// Indicators `GET /api/v1/cti/indicators` returns when no `limit` is given.
pub const DEFAULT_INDICATOR_LIMIT: usize = 1000;

/// An HTTP answer: status code and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

fn ok(body: Value) -> ApiResponse {
    ApiResponse { status: 200, body }
}

fn fail(status: u16, msg: &str) -> ApiResponse {
    ApiResponse {
        status,
        body: json!({"error": msg}),
    }
}

fn from_err(e: Error) -> ApiResponse {
    match e {
        Error::NotFound(_) => fail(404, &e.to_string()),
        Error::InvalidTransition(_) => fail(409, &e.to_string()),
        // The cluster's state out of reach: worth retrying, not a fault of the request.
        Error::Pg(ref p) if p.is_unavailable() => fail(503, &e.to_string()),
        other => fail(500, &other.to_string()),
    }
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
}

#[derive(Deserialize)]
struct CommentBody {
    text: String,
}

#[derive(Deserialize)]
struct AssigneeBody {
    assignee: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    ids: Vec<String>,
    #[serde(default)]
    status: Option<String>,
    /// Absent: unchanged; `null`: nobody; a name: that user.
    #[serde(default, deserialize_with = "present")]
    assignee: Option<Option<String>>,
}

/// A field that is present, even as `null` (then `Some(None)`); absent is the default `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The decoded `key=value` pairs of a query string.
fn query_pairs(q: &str) -> impl Iterator<Item = (&str, String)> {
    q.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        (k, v)
    })
}

fn parse_query(q: &str) -> Result<AlertFilter, String> {
    let mut f = AlertFilter::default();
    for (k, v) in query_pairs(q) {
        match k {
            "status" => f.status = Some(v.parse::<Status>().map_err(|e| e.to_string())?),
            "rule" => f.rule = Some(v),
            "entity" => f.entity = Some(v),
            "assignee" => f.assignee = Some(v),
            "rule_name" => f.rule_name = Some(v),
            "text" => f.text = Some(v),
            "user" => f.user = Some(v),
            "host" => f.host = Some(v),
            "ip" => f.ip = Some(v),
            "limit" => {
                f.limit = Some(
                    v.parse::<usize>()
                        .map_err(|_| "limit must be a number".to_string())?
                        .min(10_000),
                )
            }
            _ => {}
        }
    }
    Ok(f)
}

/// Serves one request on the alert routes; `user` is the authenticated caller (recorded in
/// history). Paths outside [`PREFIX`] get 404.
pub fn handle(
    store: &mut AlertStore,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    user: &str,
) -> ApiResponse {
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return fail(404, "not found");
    };
    if body.len() > MAX_BODY {
        return fail(413, "body too large");
    }
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method, parts.as_slice()) {
        ("GET", []) => match parse_query(query) {
            Ok(f) => match (store.list(&f), store.count(&f)) {
                (Ok(items), Ok(total)) => ok(json!({"items": items, "total": total})),
                (Err(e), _) | (_, Err(e)) => from_err(e),
            },
            Err(e) => fail(400, &e),
        },
        ("GET", ["throttles"]) => match store.throttles() {
            Ok(items) => ok(json!({"items": items})),
            Err(e) => from_err(e),
        },
        ("GET", [id]) => match store.get(id) {
            Ok(a) => ok(json!(a)),
            Err(e) => from_err(e),
        },
        ("GET", [id, "runs"]) => match store.get(id).and_then(|a| store.runs(Some(&a.uuid))) {
            Ok(items) => ok(json!({"items": items})),
            Err(e) => from_err(e),
        },
        ("POST", ["bulk"]) => {
            let b = match serde_json::from_slice::<BulkBody>(body) {
                Ok(b) => b,
                Err(e) => {
                    return fail(
                        400,
                        &format!("expected {{\"ids\": [...], \"status\"?, \"assignee\"?}}: {e}"),
                    )
                }
            };
            let status = match b.status.as_deref().map(str::parse::<Status>).transpose() {
                Ok(s) => s,
                Err(e) => return fail(400, &e.to_string()),
            };
            if status.is_none() && b.assignee.is_none() {
                return fail(
                    400,
                    "nothing to change: send \"status\" and/or \"assignee\"",
                );
            }
            let assignee = b.assignee.as_ref().map(|a| a.as_deref());
            match store.bulk(&b.ids, status, assignee, user) {
                Ok(items) => {
                    let changed = items.iter().filter(|o| o.error.is_none()).count();
                    ok(json!({"items": items, "changed": changed}))
                }
                Err(e) => from_err(e),
            }
        }
        ("POST", [id, "assignee"]) => {
            let Ok(b) = serde_json::from_slice::<AssigneeBody>(body) else {
                return fail(400, "expected {\"assignee\": \"name\" or null}");
            };
            match store.assign(id, b.assignee.as_deref(), user) {
                Ok(a) => ok(json!(a)),
                Err(e) => from_err(e),
            }
        }
        ("POST", [id, "status"]) => {
            let Ok(b) = serde_json::from_slice::<StatusBody>(body) else {
                return fail(400, "expected {\"status\": \"...\"}");
            };
            match b.status.parse::<Status>() {
                Ok(s) => match store.set_status(id, s, user) {
                    Ok(a) => ok(json!(a)),
                    Err(e) => from_err(e),
                },
                Err(e) => fail(400, &e.to_string()),
            }
        }
        ("POST", [id, "comments"]) => {
            let Ok(b) = serde_json::from_slice::<CommentBody>(body) else {
                return fail(400, "expected {\"text\": \"...\"}");
            };
            match store.comment(id, &b.text, user) {
                Ok(a) => ok(json!(a)),
                Err(e) => from_err(e),
            }
        }
        (_, _) => fail(404, "not found"),
    }
}

/// `GET /api/v1/rules` without state: the verdict of every rule (`DetectionService::rules`).
pub fn rules(infos: &[RuleInfo]) -> ApiResponse {
    ok(json!({ "items": infos }))
}

#[derive(Deserialize)]
struct EnabledBody {
    enabled: bool,
}

#[derive(Deserialize)]
struct RunBody {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// The rules routes over the rule set the server runs (the shipped pack plus `--rules`).
pub struct RulesApi {
    set: RuleSet,
    infos: Vec<RuleInfo>,
    /// The rule state of a cluster, opened once (else `DATA/alerts.db`, at each request).
    pg_state: Option<RuleStateStore>,
}

impl RulesApi {
    /// Reads and compiles the shipped pack plus `rule_dirs` once, for every later request.
    pub fn new(rule_dirs: &[PathBuf]) -> Result<Self, Error> {
        let mut set = RuleSet::builtin();
        for d in rule_dirs {
            set.add_dir(d)?;
        }
        Self::from_set(set)
    }

    /// The routes over a given rule set.
    pub fn from_set(set: RuleSet) -> Result<Self, Error> {
        let infos = set.compile()?.infos;
        Ok(Self {
            set,
            infos,
            pg_state: None,
        })
    }

    /// The same routes with the rule state in PostgreSQL when `pg` is given (its schema
    /// created or migrated now).
    pub fn with_postgres(mut self, pg: Option<pgstate::Pg>) -> Result<Self, Error> {
        self.pg_state = pg.as_ref().map(RuleStateStore::postgres).transpose()?;
        Ok(self)
    }

    fn item(info: &RuleInfo, state: &RuleState) -> Value {
        json!({
            "id": info.id,
            "title": info.title,
            "status": info.status,
            "reason": info.reason,
            "level": info.level,
            "author": info.author,
            "type": info.kind,
            "enabled": state.enabled,
            "hits": state.hits,
            "last_hit": state.last_hit,
            "source": info.source,
            "logsource": info.logsource,
        })
    }

    fn find(&self, id: &str) -> Option<&RuleInfo> {
        self.infos.iter().find(|i| !i.id.is_empty() && i.id == id)
    }

    /// Serves one request on the rules routes (paths outside [`RULES_PREFIX`] get 404).
    /// `data_dir` holds `alerts.db` (enabled flags, hit counts; PostgreSQL holds them instead
    /// after [`RulesApi::with_postgres`]); `source` is the event store,
    /// needed by `run` only (503 without it).
    pub fn handle(
        &self,
        data_dir: &Path,
        method: &str,
        path: &str,
        _query: &str,
        body: &[u8],
        source: Option<&dyn EventSource>,
    ) -> ApiResponse {
        let Some(rest) = path.strip_prefix(RULES_PREFIX) else {
            return fail(404, "not found");
        };
        if body.len() > MAX_BODY {
            return fail(413, "body too large");
        }
        let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let opened;
        let state = match &self.pg_state {
            Some(s) => s,
            None => match RuleStateStore::open(data_dir) {
                Ok(s) => {
                    opened = s;
                    &opened
                }
                Err(e) => return from_err(e),
            },
        };
        match (method, parts.as_slice()) {
            ("GET", []) => match state.all() {
                Ok(states) => {
                    let items: Vec<Value> = self
                        .infos
                        .iter()
                        .map(|i| Self::item(i, states.get(&i.id).unwrap_or(&RuleState::default())))
                        .collect();
                    ok(json!({ "items": items }))
                }
                Err(e) => from_err(e),
            },
            ("GET", [id]) => {
                let Some(info) = self.find(id) else {
                    return fail(404, &format!("no rule {id}"));
                };
                match state.all() {
                    Ok(s) => ok(Self::item(
                        info,
                        s.get(*id).unwrap_or(&RuleState::default()),
                    )),
                    Err(e) => from_err(e),
                }
            }
            ("GET", [id, "source"]) => {
                let Some(info) = self.find(id) else {
                    return fail(404, &format!("no rule {id}"));
                };
                match self.set.source_text(info) {
                    Some(text) => ok(json!({"source": info.source, "text": text})),
                    None => fail(404, &format!("the source of rule {id} is not kept")),
                }
            }
            ("POST", [id, "enabled"]) => {
                let Some(info) = self.find(id) else {
                    return fail(404, &format!("no rule {id}"));
                };
                let Ok(b) = serde_json::from_slice::<EnabledBody>(body) else {
                    return fail(400, "expected {\"enabled\": true|false}");
                };
                match state.set_enabled(id, b.enabled).and_then(|()| state.all()) {
                    Ok(s) => ok(Self::item(
                        info,
                        s.get(*id).unwrap_or(&RuleState::default()),
                    )),
                    Err(e) => from_err(e),
                }
            }
            ("POST", [id, "run"]) => {
                let Ok(b) = serde_json::from_slice::<RunBody>(body) else {
                    return fail(400, "expected {\"from\": rfc3339, \"to\": rfc3339}");
                };
                let Some(src) = source else {
                    return fail(503, "no event store to run the rule on");
                };
                self.run(id, b, src)
            }
            (_, _) => fail(404, "not found"),
        }
    }

    /// Runs one rule over the stored events of a time range, without creating alerts.
    fn run(&self, id: &str, b: RunBody, src: &dyn EventSource) -> ApiResponse {
        match self.find(id) {
            None => return fail(404, &format!("no rule {id}")),
            Some(i) if i.status != LoadStatus::Loaded => {
                return fail(
                    409,
                    &format!(
                        "rule {id} is unsupported: {}",
                        i.reason.as_deref().unwrap_or("")
                    ),
                )
            }
            Some(_) => {}
        }
        let to = b.to.unwrap_or_else(Utc::now);
        let from = b.from.unwrap_or(to - chrono::Duration::days(1));
        if from > to {
            return fail(400, "from is after to");
        }
        let Some(one) = self.set.subset(id) else {
            return fail(404, &format!("no rule {id}"));
        };
        let mut det = match Detector::new(&one) {
            Ok(d) => d,
            Err(e) => return from_err(e),
        };
        let (mut scanned, mut matched) = (0u64, 0u64);
        let mut events = Vec::new();
        let r = src.scan_range(from, to, &mut |ev| {
            scanned += 1;
            if !det.process(ev).is_empty() {
                matched += 1;
                if events.len() < RUN_MAX_EVENTS {
                    events.push(Value::Object(ev.clone()));
                }
            }
            true
        });
        match r {
            Ok(()) => ok(json!({"matched": matched, "scanned": scanned, "events": events})),
            Err(e) => fail(502, &format!("event store: {e}")),
        }
    }
}

/// Serves one request on the CTI routes (paths outside [`CTI_PREFIX`] get 404) over the
/// indicators of `data_dir` (`cti.db`). A running server picks imported indicators up and
/// retrohunts them, as after `ziaxdr cti import`.
pub fn handle_cti(
    data_dir: &Path,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> ApiResponse {
    let mut store = match CtiStore::open(data_dir) {
        Ok(s) => s,
        Err(e) => return from_err(e),
    };
    handle_cti_with(&mut store, method, path, query, body)
}

/// Serves one request on the CTI routes, as [`handle_cti`] does, over `store` (PostgreSQL's
/// on a cluster: an import through any node reaches every node's matcher).
pub fn handle_cti_with(
    store: &mut CtiStore,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> ApiResponse {
    let Some(rest) = path.strip_prefix(CTI_PREFIX) else {
        return fail(404, "not found");
    };
    if body.len() > MAX_BUNDLE {
        return fail(413, "body too large");
    }
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method, parts.as_slice()) {
        ("GET", ["sources"]) => match store.sources(Utc::now()) {
            Ok(items) => ok(json!({ "items": items })),
            Err(e) => from_err(e),
        },
        ("GET", ["indicators"]) => {
            let mut limit = DEFAULT_INDICATOR_LIMIT;
            let (mut needle, mut state) = (String::new(), String::new());
            for (k, v) in query_pairs(query) {
                match k {
                    "limit" => match v.parse::<usize>() {
                        Ok(n) => limit = n,
                        Err(_) => return fail(400, "limit must be a number"),
                    },
                    "q" => needle = v.to_lowercase(),
                    "state" => state = v,
                    _ => {}
                }
            }
            let mut r = indicators(store);
            if let Some(Value::Array(items)) = r.body.get_mut("items") {
                items.retain(|i| {
                    (state.is_empty() || i["state"] == state.as_str())
                        && (needle.is_empty() || indicator_text(i).contains(&needle))
                });
                let total = items.len();
                items.truncate(limit);
                r.body["total"] = total.into();
            }
            r
        }
        ("POST", ["indicators"]) => {
            let b = match serde_json::from_slice::<ManualIndicator>(body) {
                Ok(b) => b,
                Err(e) => return fail(400, &format!("expected {{\"type\", \"value\", ...}}: {e}")),
            };
            let ind = match manual_indicator(&b, Utc::now()) {
                Ok(i) => i,
                Err(e) => return fail(400, &e),
            };
            let mut rep = crate::cti::ImportReport::default();
            match store.import_indicators(std::slice::from_ref(&ind), MANUAL_SOURCE, &mut rep) {
                Ok(()) => ok(json!(ind)),
                Err(e) => from_err(e),
            }
        }
        ("POST", ["indicators", id, "revoke"]) => {
            let found = match store.by_ids(&[id.to_string()]) {
                Ok(mut v) => v.pop(),
                Err(e) => return from_err(e),
            };
            let Some(mut ind) = found else {
                return fail(404, &format!("no indicator {id}"));
            };
            ind.revoked = true;
            // Newer than any version stored, so the import replaces it.
            ind.modified = Some(
                Utc::now()
                    .max(ind.modified.unwrap_or_default() + chrono::Duration::milliseconds(1)),
            );
            let mut rep = crate::cti::ImportReport::default();
            match store.import_indicators(std::slice::from_ref(&ind), MANUAL_SOURCE, &mut rep) {
                Ok(()) => ok(json!(ind)),
                Err(e) => from_err(e),
            }
        }
        ("GET", ["feeds"]) => match store.registered_sources() {
            Ok(items) => ok(json!({ "items": items })),
            Err(e) => from_err(e),
        },
        ("POST", ["feeds"]) => {
            let Ok(b) = serde_json::from_slice::<NewFeed>(body) else {
                return fail(400, "expected {\"url\", \"every\": \"1h\", \"token_env\"?}");
            };
            let Some(secs) = crate::parse_duration_secs(&b.every) else {
                return fail(
                    400,
                    &format!(
                        "every {:?} is not a duration such as 15m, 1h or 1d",
                        b.every
                    ),
                );
            };
            let token_env = b.token_env.as_deref().filter(|t| !t.is_empty());
            match store
                .add_source(b.url.trim(), secs, token_env)
                .and_then(|()| store.registered_sources())
            {
                Ok(items) => ok(json!({ "items": items })),
                Err(Error::Fetch(m)) => fail(400, &m),
                Err(e) => from_err(e),
            }
        }
        ("DELETE", ["feeds"]) => {
            let Some(url) = query_pairs(query)
                .find(|(k, _)| *k == "url")
                .map(|(_, v)| v)
            else {
                return fail(400, "which source? send ?url=");
            };
            match store.remove_source(&url) {
                Ok(true) => ApiResponse {
                    status: 204,
                    body: Value::Null,
                },
                Ok(false) => fail(404, &format!("no registered source {url}")),
                Err(e) => from_err(e),
            }
        }
        ("POST", ["import"]) => {
            let name = query_pairs(query)
                .find(|(k, _)| *k == "name")
                .map(|(_, v)| v)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "api".to_string());
            let Ok(doc) = serde_json::from_slice::<Value>(body) else {
                return fail(400, "expected a STIX 2.1 bundle (JSON)");
            };
            match store.import_doc(&doc, &name) {
                Ok(report) => ok(json!(report)),
                Err(e) => from_err(e),
            }
        }
        (_, _) => fail(404, "not found"),
    }
}

/// The source name of indicators added and revoked by hand (console or REST).
pub const MANUAL_SOURCE: &str = "manual";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualIndicator {
    #[serde(rename = "type")]
    kind: String,
    value: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    valid_days: Option<u32>,
    #[serde(default)]
    confidence: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewFeed {
    url: String,
    every: String,
    #[serde(default)]
    token_env: Option<String>,
}

/// The lowercase text an indicator search looks in.
fn indicator_text(i: &Value) -> String {
    let mut t = String::new();
    for k in ["id", "name", "pattern", "author", "description"] {
        if let Some(s) = i[k].as_str() {
            t.push_str(s);
            t.push('\n');
        }
    }
    if let Some(labels) = i["labels"].as_array() {
        for l in labels.iter().filter_map(Value::as_str) {
            t.push_str(l);
            t.push('\n');
        }
    }
    t.to_lowercase()
}

/// The STIX indicator for one value typed by hand; refused when the value does not fit its
/// type or ziaxdr could not match it.
fn manual_indicator(
    b: &ManualIndicator,
    now: DateTime<Utc>,
) -> Result<crate::cti::Indicator, String> {
    let value = b.value.trim();
    if value.is_empty() || value.len() > 2048 || value.chars().any(char::is_control) {
        return Err("the value is 1 to 2048 characters, without control characters".into());
    }
    let hex = |n: usize| value.len() == n && value.bytes().all(|c| c.is_ascii_hexdigit());
    let path = match b.kind.as_str() {
        "domain-name" if value.contains('.') && !value.contains(['/', ' ', ':']) => "domain-name:value",
        "url" if value.contains("://") => "url:value",
        "ipv4-addr" if value.parse::<std::net::Ipv4Addr>().is_ok() || value.contains('/') => "ipv4-addr:value",
        "ipv6-addr" if value.contains(':') => "ipv6-addr:value",
        "file-md5" if hex(32) => "file:hashes.MD5",
        "file-sha1" if hex(40) => "file:hashes.'SHA-1'",
        "file-sha256" if hex(64) => "file:hashes.'SHA-256'",
        "domain-name" | "url" | "ipv4-addr" | "ipv6-addr" | "file-md5" | "file-sha1" | "file-sha256" => {
            return Err(format!("{value:?} is not a valid {}", b.kind))
        }
        other => {
            return Err(format!(
                "unknown type {other:?}: use domain-name, url, ipv4-addr, ipv6-addr, file-md5, file-sha1 or file-sha256"
            ))
        }
    };
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    let ind = crate::cti::Indicator {
        id: format!("indicator--{}", uuid::Uuid::new_v4()),
        name: b
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| value.to_string()),
        description: b.description.clone().filter(|d| !d.trim().is_empty()),
        pattern: format!("[{path} = '{escaped}']"),
        valid_from: Some(now),
        valid_until: b
            .valid_days
            .map(|d| now + chrono::Duration::days(i64::from(d))),
        revoked: false,
        modified: Some(now),
        confidence: b.confidence.map(|c| c.min(100)),
        author: None,
        labels: vec!["manual".into()],
    };
    let m = CtiMatcher::build(std::slice::from_ref(&ind), now);
    if let Some((_, reason)) = m.unsupported().first() {
        return Err(format!("ziaxdr cannot match this indicator: {reason}"));
    }
    Ok(ind)
}

/// `GET /api/v1/cti/indicators`: stored indicators with their state (active, inactive,
/// revoked, unsupported with the reason).
pub fn indicators(store: &CtiStore) -> ApiResponse {
    let all = match store.all() {
        Ok(a) => a,
        Err(e) => return from_err(e),
    };
    let now = chrono::Utc::now();
    let matcher = CtiMatcher::build(&all, now);
    let unsupported: std::collections::HashMap<&str, &str> = matcher
        .unsupported()
        .iter()
        .map(|(i, r)| (i.as_str(), r.as_str()))
        .collect();
    let items: Vec<Value> = all
        .iter()
        .map(|i| {
            let mut v = json!(i);
            let state = if i.revoked {
                "revoked"
            } else if !i.is_active(now) {
                "inactive"
            } else if unsupported.contains_key(i.id.as_str()) {
                "unsupported"
            } else {
                "active"
            };
            v["state"] = state.into();
            if let Some(r) = unsupported.get(i.id.as_str()) {
                v["reason"] = (*r).into();
            }
            v
        })
        .collect();
    ok(json!({ "items": items }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ZiaBody {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    values: Option<Vec<String>>,
}

/// The Zscaler response routes of an alert (`/api/v1/alerts/{id}/zia...`, table above);
/// `None` for any other path. Blocking (it calls the ZIA API): run it on a blocking task.
pub fn handle_zia(
    store: &mut AlertStore,
    zia: Option<&ziaapi::Responder>,
    method: &str,
    path: &str,
    body: &[u8],
    user: &str,
) -> Option<ApiResponse> {
    let rest = path.strip_prefix(PREFIX)?.strip_prefix('/')?;
    let (id, action) = rest.split_once("/zia")?;
    if id.is_empty() || id.contains('/') {
        return None;
    }
    let op = match (method, action) {
        ("GET", "") => {
            return Some(match store.get(id) {
                Ok(a) => ok(json!({
                    "configured": zia.is_some(),
                    "values": crate::respond::alert_values(&a),
                    "category": zia.map(|z| z.policy().category.clone()),
                    "ip_group": zia.and_then(|z| z.policy().ip_group.clone()),
                })),
                Err(e) => from_err(e),
            })
        }
        ("POST", "/block") => ziaapi::Op::Block,
        ("POST", "/unblock") => ziaapi::Op::Unblock,
        (_, "" | "/block" | "/unblock") => return Some(fail(405, "method not allowed")),
        _ => return None,
    };
    let Some(zia) = zia else {
        return Some(fail(
            503,
            "Zscaler response is not configured: add a [zia] table to the server's config",
        ));
    };
    if body.len() > MAX_BODY {
        return Some(fail(413, "body too large"));
    }
    let b: ZiaBody = if body.iter().all(|c| c.is_ascii_whitespace()) {
        ZiaBody::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(b) => b,
            Err(e) => return Some(fail(400, &format!("bad body: {e}"))),
        }
    };
    Some(
        match crate::respond::respond(store, zia, id, op, b.values, b.dry_run, user, "console") {
            Ok(o) => {
                let mut v = serde_json::to_value(&o).unwrap_or_default();
                v["summary"] = json!(o.summary());
                ok(v)
            }
            Err(Error::NotFound(m)) => fail(404, &format!("no alert {m}")),
            Err(Error::Zia(ziaapi::Error::Refused(m))) => fail(422, &format!("refused: {m}")),
            Err(Error::Zia(e @ ziaapi::Error::RateLimited { .. })) => fail(429, &e.to_string()),
            Err(Error::Zia(e)) => fail(502, &e.to_string()),
            Err(e) => from_err(e),
        },
    )
}
