//! A mock ZIA API server for tests (feature `mock`): both authentications and the endpoints
//! ziaapi calls, with the documented paths, bodies and answers, on 127.0.0.1.
//!
//! - `POST /oauth2/v1/token` (ZIdentity): form `grant_type=client_credentials`, `client_id`,
//!   `client_secret`, `audience=https://api.zscaler.com`; answers `{access_token, token_type,
//!   expires_in}`. The API is then under `/zia/api/v1` with `Authorization: Bearer`.
//! - `POST /api/v1/authenticatedSession` (legacy): `{apiKey, username, password, timestamp}`,
//!   the key checked against the obfuscation of the configured one with that timestamp;
//!   sets `JSESSIONID`. The API is then under `/api/v1` with the cookie.
//! - `GET /urlCategories?customOnly=true`, `PUT /urlCategories/{id}?action=ADD_TO_LIST|
//!   REMOVE_FROM_LIST`, `GET /ipDestinationGroups`, `PUT /ipDestinationGroups/{id}`,
//!   `POST /status/activate`, `GET /status`.
//!
//! Tests can expire every session and token ([`MockZia::expire_sessions`]), make the next
//! calls answer `429` ([`MockZia::throttle_next`]: legacy style with the wait in the body,
//! OneAPI style in a `retry-after` header), and read what was called.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::client::{obfuscate_api_key, ONEAPI_AUDIENCE};
use crate::settings::{Secret, Settings};

/// The legacy API key the mock accepts.
pub const API_KEY: &str = "mockapikey0123456789";
/// The legacy admin.
pub const USERNAME: &str = "api-admin@acme.example";
/// The legacy admin's password.
pub const PASSWORD: &str = "mock-password";
/// The OneAPI client id.
pub const CLIENT_ID: &str = "mock-client";
/// The OneAPI client secret.
pub const CLIENT_SECRET: &str = "mock-client-secret";
/// The custom URL category the mock starts with.
pub const CATEGORY: &str = "ziaxdr-blocklist";
/// Its id.
pub const CATEGORY_ID: &str = "CUSTOM_01";
/// The destination IP group the mock starts with.
pub const IP_GROUP: &str = "ziaxdr-blocked-ips";

/// One request the mock served.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Method.
    pub method: String,
    /// Path, with its prefix (`/api/v1/...`, `/zia/api/v1/...`).
    pub path: String,
    /// Query string.
    pub query: String,
    /// Status answered.
    pub status: u16,
    /// JSON body of API calls (not of sign-ins).
    pub body: Option<Value>,
    /// When it arrived.
    pub at: Instant,
}

struct State {
    sessions: HashSet<String>,
    tokens: HashSet<String>,
    counter: u64,
    categories: Vec<Value>,
    ip_groups: Vec<Value>,
    activation: String,
    throttle: VecDeque<u64>,
    log: Vec<Logged>,
    sign_ins: u32,
}

/// A running mock; stops when dropped.
pub struct MockZia {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockZia {
    /// Starts the mock on a free loopback port.
    pub fn start() -> MockZia {
        let state = Arc::new(Mutex::new(State {
            sessions: HashSet::new(),
            tokens: HashSet::new(),
            counter: 0,
            categories: vec![
                json!({"id": CATEGORY_ID, "configuredName": CATEGORY, "superCategory": "USER_DEFINED",
                    "customCategory": true, "type": "URL_CATEGORY", "urls": ["old.example"],
                    "dbCategorizedUrls": [], "editable": true, "val": 128}),
                json!({"id": "CUSTOM_02", "configuredName": "other", "superCategory": "USER_DEFINED",
                    "customCategory": true, "type": "URL_CATEGORY", "urls": [], "editable": true, "val": 129}),
            ],
            ip_groups: vec![json!({"id": 7001, "name": IP_GROUP, "type": "DSTN_IP",
                "addresses": ["192.0.2.99"], "description": "", "ipCategories": [], "countries": []})],
            activation: "ACTIVE".into(),
            throttle: VecDeque::new(),
            log: Vec::new(),
            sign_ins: 0,
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the mock ZIA");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("mock address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("mock runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().fallback(
                    move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                        let st = st.clone();
                        async move { handle(&st, method, uri, headers, body) }
                    },
                );
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        MockZia {
            addr,
            state,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The legacy API base.
    pub fn legacy_base(&self) -> String {
        format!("{}/api/v1", self.url())
    }

    /// The OneAPI base.
    pub fn oneapi_base(&self) -> String {
        format!("{}/zia/api/v1", self.url())
    }

    /// The ZIdentity token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/v1/token", self.url())
    }

    /// Settings for the legacy authentication against this mock.
    pub fn legacy_settings(&self) -> Settings {
        Settings {
            cloud: Some("zscaler.net".into()),
            api_key: Some(Secret::new(API_KEY)),
            username: Some(USERNAME.into()),
            password: Some(Secret::new(PASSWORD)),
            base_url: Some(self.legacy_base()),
            ip_group: Some(IP_GROUP.into()),
            ..Default::default()
        }
    }

    /// Settings for OneAPI against this mock.
    pub fn oneapi_settings(&self) -> Settings {
        Settings {
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some(Secret::new(CLIENT_SECRET)),
            vanity_domain: Some("acme".into()),
            base_url: Some(self.oneapi_base()),
            token_url: Some(self.token_url()),
            ip_group: Some(IP_GROUP.into()),
            ..Default::default()
        }
    }

    /// Ends every session and token, as their expiry would.
    pub fn expire_sessions(&self) {
        let mut s = self.st();
        s.sessions.clear();
        s.tokens.clear();
    }

    /// The next `n` calls (sign-ins included) answer `429`, asking to wait `retry_after_secs`.
    pub fn throttle_next(&self, n: usize, retry_after_secs: u64) {
        let mut s = self.st();
        for _ in 0..n {
            s.throttle.push_back(retry_after_secs);
        }
    }

    /// The URLs of a category (by name).
    pub fn urls(&self, category: &str) -> Vec<String> {
        self.st()
            .categories
            .iter()
            .find(|c| c["configuredName"] == category)
            .map(|c| strings(&c["urls"]))
            .unwrap_or_default()
    }

    /// The addresses of an IP group (by name).
    pub fn addresses(&self, group: &str) -> Vec<String> {
        self.st()
            .ip_groups
            .iter()
            .find(|g| g["name"] == group)
            .map(|g| strings(&g["addresses"]))
            .unwrap_or_default()
    }

    /// `ACTIVE` or `PENDING`.
    pub fn activation(&self) -> String {
        self.st().activation.clone()
    }

    /// Every request served so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.st().log.clone()
    }

    /// Successful sign-ins and tokens issued.
    pub fn sign_ins(&self) -> u32 {
        self.st().sign_ins
    }
}

impl Drop for MockZia {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn handle(
    state: &Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let at = Instant::now();
    let (resp, logged_body) = route(&mut st, &method, &path, &query, &headers, &body);
    st.log.push(Logged {
        method: method.to_string(),
        path,
        query,
        status: resp.status().as_u16(),
        body: logged_body,
        at,
    });
    resp
}

fn route(
    st: &mut State,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (Response, Option<Value>) {
    let signing_in = method == Method::POST
        && (path == "/oauth2/v1/token" || path == "/api/v1/authenticatedSession");
    if signing_in {
        if let Some(secs) = st.throttle.pop_front() {
            let mut r = answer(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"message": "rate limit exceeded"}),
            );
            r.headers_mut().insert(
                "retry-after",
                HeaderValue::from_str(&secs.to_string()).expect("header"),
            );
            return (r, None);
        }
    }
    if path == "/oauth2/v1/token" && method == Method::POST {
        return (token(st, body), None);
    }
    if path == "/api/v1/authenticatedSession" && method == Method::POST {
        return (sign_in(st, body), None);
    }
    let (rest, legacy) = if let Some(r) = path.strip_prefix("/zia/api/v1") {
        (r, false)
    } else if let Some(r) = path.strip_prefix("/api/v1") {
        (r, true)
    } else {
        return (
            answer(StatusCode::NOT_FOUND, json!({"message": "no such path"})),
            None,
        );
    };
    let authorised = if legacy {
        headers
            .get("cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| {
                c.split(';')
                    .find_map(|p| p.trim().strip_prefix("JSESSIONID=").map(String::from))
            })
            .is_some_and(|s| st.sessions.contains(&s))
    } else {
        headers
            .get("authorization")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.strip_prefix("Bearer "))
            .is_some_and(|t| st.tokens.contains(t))
    };
    if !authorised {
        return (
            answer(
                StatusCode::UNAUTHORIZED,
                json!({"code": "AUTHENTICATION_FAILED", "message": "Request is not authenticated due to session timeout or invalid credentials"}),
            ),
            None,
        );
    }
    let json_body: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(secs) = st.throttle.pop_front() {
        let mut r = if legacy {
            answer(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"message": "Rate Limit (1/SECOND) exceeded", "Retry-After": format!("{secs} seconds")}),
            )
        } else {
            answer(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"message": "rate limit exceeded"}),
            )
        };
        if !legacy {
            r.headers_mut().insert(
                "retry-after",
                HeaderValue::from_str(&format!("{secs}s")).expect("header"),
            );
        }
        return (r, json_body);
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let resp = match (method.as_str(), rest) {
        ("GET", "/status") => answer(StatusCode::OK, json!({"status": st.activation})),
        ("POST", "/status/activate") => {
            st.activation = "ACTIVE".into();
            answer(StatusCode::OK, json!({"status": "ACTIVE"}))
        }
        ("GET", "/urlCategories") => {
            let custom_only = param("customOnly").as_deref() == Some("true");
            let items: Vec<Value> = st
                .categories
                .iter()
                .filter(|c| !custom_only || c["customCategory"] == true)
                .cloned()
                .collect();
            answer(StatusCode::OK, Value::Array(items))
        }
        ("PUT", r) if r.starts_with("/urlCategories/") => {
            let id = percent_encoding::percent_decode_str(&r["/urlCategories/".len()..])
                .decode_utf8_lossy()
                .into_owned();
            put_category(st, &id, param("action").as_deref(), json_body.as_ref())
        }
        ("GET", "/ipDestinationGroups") => {
            answer(StatusCode::OK, Value::Array(st.ip_groups.clone()))
        }
        ("PUT", r) if r.starts_with("/ipDestinationGroups/") => {
            put_ip_group(st, &r["/ipDestinationGroups/".len()..], json_body.as_ref())
        }
        _ => answer(
            StatusCode::NOT_FOUND,
            json!({"code": "RESOURCE_NOT_FOUND", "message": "Resource not found"}),
        ),
    };
    (resp, json_body)
}

fn next_id(st: &mut State, prefix: &str) -> String {
    st.counter += 1;
    format!(
        "{prefix}{:016x}{:08x}",
        st.counter,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos()
    )
}

fn token(st: &mut State, body: &[u8]) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("grant_type") != Some("client_credentials") {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"}),
        );
    }
    if get("audience") != Some(ONEAPI_AUDIENCE) {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": "audience"}),
        );
    }
    if get("client_id") != Some(CLIENT_ID) || get("client_secret") != Some(CLIENT_SECRET) {
        return answer(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
    }
    let t = next_id(st, "tok");
    st.tokens.insert(t.clone());
    st.sign_ins += 1;
    answer(
        StatusCode::OK,
        json!({"access_token": t, "token_type": "Bearer", "expires_in": 3600}),
    )
}

fn sign_in(st: &mut State, body: &[u8]) -> Response {
    let refuse = |m: &str| {
        answer(
            StatusCode::UNAUTHORIZED,
            json!({"code": "AUTHENTICATION_FAILED", "message": m}),
        )
    };
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return answer(StatusCode::BAD_REQUEST, json!({"message": "not JSON"}));
    };
    let ts: Option<u128> = v["timestamp"].as_str().and_then(|t| t.parse().ok());
    let Some(ts) = ts else {
        return answer(StatusCode::BAD_REQUEST, json!({"message": "timestamp"}));
    };
    let expected = obfuscate_api_key(API_KEY, ts).unwrap_or_default();
    if v["apiKey"].as_str() != Some(expected.as_str()) {
        return refuse("Invalid API key");
    }
    if v["username"] != USERNAME || v["password"] != PASSWORD {
        return refuse("Invalid username or password");
    }
    let sid = next_id(st, "");
    st.sessions.insert(sid.clone());
    st.sign_ins += 1;
    let mut r = answer(
        StatusCode::OK,
        json!({"authType": "ADMIN_LOGIN", "obfuscateApiKey": false, "passwordExpiryTime": 0, "passwordExpiryDays": 0}),
    );
    r.headers_mut().insert(
        "set-cookie",
        HeaderValue::from_str(&format!("JSESSIONID={sid}; Path=/; Secure; HttpOnly"))
            .expect("cookie"),
    );
    r
}

fn put_category(st: &mut State, id: &str, action: Option<&str>, body: Option<&Value>) -> Response {
    let Some(cat) = st.categories.iter_mut().find(|c| c["id"] == id) else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"code": "RESOURCE_NOT_FOUND", "message": "category"}),
        );
    };
    let Some(body) = body else {
        return answer(StatusCode::BAD_REQUEST, json!({"message": "body"}));
    };
    if body["configuredName"] != cat["configuredName"] || !body["urls"].is_array() {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"code": "INVALID_INPUT_ARGUMENT", "message": "configuredName and urls are required"}),
        );
    }
    let given = strings(&body["urls"]);
    let mut urls = strings(&cat["urls"]);
    match action {
        Some("ADD_TO_LIST") => {
            for u in given {
                if !urls.contains(&u) {
                    urls.push(u);
                }
            }
        }
        Some("REMOVE_FROM_LIST") => urls.retain(|u| !given.contains(u)),
        None => urls = given,
        Some(_) => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"message": "unknown action"}),
            )
        }
    }
    cat["urls"] = json!(urls);
    let out = cat.clone();
    st.activation = "PENDING".into();
    answer(StatusCode::OK, out)
}

fn put_ip_group(st: &mut State, id: &str, body: Option<&Value>) -> Response {
    let Some(g) = st
        .ip_groups
        .iter_mut()
        .find(|g| g["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(id))
    else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"code": "RESOURCE_NOT_FOUND", "message": "group"}),
        );
    };
    let Some(body) = body else {
        return answer(StatusCode::BAD_REQUEST, json!({"message": "body"}));
    };
    if body["name"] != g["name"] || body["type"] != "DSTN_IP" || !body["addresses"].is_array() {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"code": "INVALID_INPUT_ARGUMENT", "message": "name, type and addresses are required"}),
        );
    }
    g["addresses"] = body["addresses"].clone();
    let out = g.clone();
    st.activation = "PENDING".into();
    answer(StatusCode::OK, out)
}
