//! The alerts REST API (`/api/v1/alerts...`), independent of the HTTP framework: the server
//! authenticates the request (API token), then hands method, path, query and body to
//! [`handle`] and writes back the status and JSON it returns.
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/api/v1/alerts?status=&rule=&entity=&limit=` | | `{"items": [alert...]}` |
//! | GET | `/api/v1/alerts/{uuid or short id}` | | alert |
//! | POST | `/api/v1/alerts/{id}/status` | `{"status": "Acknowledged"}` | alert |
//! | POST | `/api/v1/alerts/{id}/comments` | `{"text": "..."}` | alert |
//! | GET | `/api/v1/alerts/{id}/runs` | | `{"items": [playbook run...]}` |
//! | GET | `/api/v1/alerts/throttles` | | `{"items": [throttle...]}` |
//!
//! [`rules`] and [`indicators`] serve `GET /api/v1/rules` and `GET /api/v1/cti/indicators`.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::alerts::{AlertFilter, AlertStore, Status};
use crate::cti::{CtiMatcher, CtiStore};
use crate::sigma::RuleInfo;
use crate::Error;

/// Prefix of the alert routes.
pub const PREFIX: &str = "/api/v1/alerts";
/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

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

fn parse_query(q: &str) -> Result<AlertFilter, String> {
    let mut f = AlertFilter::default();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned();
        match k {
            "status" => f.status = Some(v.parse::<Status>().map_err(|e| e.to_string())?),
            "rule" => f.rule = Some(v),
            "entity" => f.entity = Some(v),
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
            Ok(f) => match store.list(&f) {
                Ok(items) => ok(json!({"items": items})),
                Err(e) => from_err(e),
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

/// `GET /api/v1/rules`: the verdict of every rule (`DetectionService::rules`).
pub fn rules(infos: &[RuleInfo]) -> ApiResponse {
    ok(json!({ "items": infos }))
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
