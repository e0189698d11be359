//! The console's authentication layer, end to end through an axum router: sign-in, sessions,
//! CSRF, roles, API tokens and the admin token.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use console::accounts::{Accounts, Role};
use console::auth::{authenticate, session_router, AuthState, Principal};
use serde_json::{json, Value};
use tower::ServiceExt;

const ADMIN_TOKEN: &str = "the-servers-admin-token-0123456789";
const PASSWORD: &str = "a long enough password";
/// What `serve --public-url` tells the layer browsers use (a reverse proxy in front).
const PUBLIC_ORIGIN: &str = "https://xdr.example.com";

/// A dummy handler that tells who the layer said was asking.
async fn echo(p: Option<Extension<Principal>>) -> Json<Value> {
    Json(json!({ "principal": p.map(|Extension(p)| p.name) }))
}

struct Console {
    _dir: tempfile::TempDir,
    accounts: Arc<Accounts>,
    app: Router,
    admin_password: String,
}

fn console_with(ttl: Option<Duration>, secure_cookies: bool) -> Console {
    let dir = tempfile::tempdir().unwrap();
    let mut accounts = Accounts::open(dir.path()).unwrap();
    if let Some(ttl) = ttl {
        accounts = accounts.with_session_ttl(ttl);
    }
    let accounts = Arc::new(accounts);
    let admin_password = accounts.ensure_admin().unwrap().unwrap();
    let state = AuthState {
        accounts: accounts.clone(),
        admin_token_hash: Some(intake::registry::hash_key(ADMIN_TOKEN)),
        secure_cookies,
        public_origin: Some(PUBLIC_ORIGIN.into()),
    };
    let app = session_router(state.clone())
        .route("/api/v1/events/x", get(echo))
        .route("/api/v1/events/search", post(echo))
        .route("/api/v1/alerts/a/status", post(echo))
        .route("/v1/sic/conf/intakes", post(echo))
        .route("/console/events", get(echo))
        .route("/plain/batch", post(echo))
        .layer(axum::middleware::from_fn_with_state(state, authenticate));
    Console {
        _dir: dir,
        accounts,
        app,
        admin_password,
    }
}

fn console() -> Console {
    console_with(None, false)
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// A signed-in browser: its cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Console {
    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn try_sign_in(&self, user: &str, password: &str) -> Reply {
        self.send(json_request(
            "POST",
            "/api/v1/session",
            json!({"user": user, "password": password}),
        ))
        .await
    }

    async fn sign_in(&self, user: &str, password: &str) -> Browser {
        let r = self.try_sign_in(user, password).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let set_cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        Browser {
            cookie,
            csrf: r.body["csrf"].as_str().unwrap().to_string(),
        }
    }

    async fn user(&self, role: Role) -> Browser {
        let name = format!("user-{role}");
        self.accounts.create_user(&name, role, PASSWORD).unwrap();
        self.sign_in(&name, PASSWORD).await
    }
}

fn json_request(method: &str, uri: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn request(method: &str, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap()
}

/// A same-site browser request: cookie, CSRF header and this server's Origin.
fn from_browser(b: &Browser, mut req: Request<Body>) -> Request<Body> {
    let h = req.headers_mut();
    h.insert(header::COOKIE, b.cookie.parse().unwrap());
    h.insert("x-csrf-token", b.csrf.parse().unwrap());
    h.insert(header::HOST, "console.example:8080".parse().unwrap());
    h.insert(
        header::ORIGIN,
        "http://console.example:8080".parse().unwrap(),
    );
    req
}

fn with_bearer(token: &str, mut req: Request<Body>) -> Request<Body> {
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    req
}

#[tokio::test]
async fn first_start_creates_an_admin_with_a_one_time_password_only_once() {
    let c = console();
    assert!(c.admin_password.len() >= 20);
    assert_eq!(c.accounts.ensure_admin().unwrap(), None);
    let users = c.accounts.list_users().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(
        (users[0].name.as_str(), users[0].role),
        ("admin", Role::Admin)
    );
    c.sign_in("admin", &c.admin_password).await;
}

#[tokio::test]
async fn sign_in_sets_an_http_only_same_site_strict_cookie() {
    let c = console();
    let r = c.try_sign_in("admin", &c.admin_password).await;
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("ziaxdr_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_eq!(r.body["user"], "admin");
    assert_eq!(r.body["role"], "admin");
}

#[tokio::test]
async fn sign_in_cookie_is_secure_under_tls() {
    let c = console_with(None, true);
    let r = c.try_sign_in("admin", &c.admin_password).await;
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let c = console();
    let wrong = c.try_sign_in("admin", "not the password at all").await;
    let unknown = c.try_sign_in("nobody", "not the password at all").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!((wrong.status, &wrong.body), (unknown.status, &unknown.body));
    assert!(!wrong.headers.contains_key(header::SET_COOKIE));
}

#[tokio::test]
async fn sign_in_is_locked_out_after_five_failures() {
    let c = console();
    for _ in 0..5 {
        let r = c.try_sign_in("admin", "not the password at all").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = c.try_sign_in("admin", &c.admin_password).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn form_encoded_sign_in_is_unsupported_media_type() {
    let c = console();
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/session")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "user=admin&password={}",
            c.admin_password
        )))
        .unwrap();
    assert_eq!(c.send(req).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn unauthenticated_api_request_gets_401() {
    let c = console();
    let r = c.send(request("GET", "/api/v1/events/x")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"], "sign in or send an API token");
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer");
}

#[tokio::test]
async fn unauthenticated_console_page_redirects_to_login_with_next() {
    let c = console();
    let r = c
        .send(request("GET", "/console/events?q=a%20b&range=24h"))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers[header::LOCATION],
        "/console/login?next=/console/events%3Fq%3Da%2520b%26range%3D24h"
    );
}

#[tokio::test]
async fn the_server_root_sends_an_unauthenticated_browser_to_sign_in() {
    let c = console();
    let r = c.send(request("GET", "/")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/console/login?next=/");
}

#[tokio::test]
async fn public_intake_path_passes_without_auth() {
    let c = console();
    let r = c.send(request("POST", "/plain/batch")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["principal"], Value::Null);
}

#[tokio::test]
async fn handlers_see_the_signed_in_user() {
    let c = console();
    let b = c.user(Role::Analyst).await;
    let r = c
        .send(from_browser(&b, request("GET", "/api/v1/events/x")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["principal"], "user-analyst");
}

#[tokio::test]
async fn session_post_with_csrf_and_same_origin_passes() {
    let c = console();
    let b = c.user(Role::Analyst).await;
    let r = c
        .send(from_browser(&b, request("POST", "/api/v1/alerts/a/status")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn session_post_without_csrf_header_is_refused() {
    let c = console();
    let b = c.user(Role::Analyst).await;
    let mut req = from_browser(&b, request("POST", "/api/v1/alerts/a/status"));
    req.headers_mut().remove("x-csrf-token");
    let r = c.send(req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"], "cross-site request refused");
}

#[tokio::test]
async fn session_post_with_a_wrong_csrf_token_is_refused() {
    let c = console();
    let b = c.user(Role::Analyst).await;
    let mut req = from_browser(&b, request("POST", "/api/v1/alerts/a/status"));
    req.headers_mut()
        .insert("x-csrf-token", "guessed".parse().unwrap());
    assert_eq!(c.send(req).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn session_post_with_a_foreign_origin_is_refused() {
    let c = console();
    let b = c.user(Role::Analyst).await;
    let mut req = from_browser(&b, request("POST", "/api/v1/alerts/a/status"));
    req.headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    let r = c.send(req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"], "cross-site request refused");
}

#[tokio::test]
async fn session_post_from_the_public_origin_behind_a_proxy_is_accepted() {
    let c = console();
    let b = c.user(Role::Analyst).await;
    let mut req = from_browser(&b, request("POST", "/api/v1/alerts/a/status"));
    req.headers_mut()
        .insert(header::ORIGIN, PUBLIC_ORIGIN.parse().unwrap());
    req.headers_mut()
        .insert(header::HOST, "10.0.0.5:8080".parse().unwrap());
    assert_eq!(c.send(req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn read_only_user_cannot_change_alerts() {
    let c = console();
    let b = c.user(Role::ReadOnly).await;
    let r = c
        .send(from_browser(&b, request("POST", "/api/v1/alerts/a/status")))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"], "your role (read-only) cannot do this");
}

#[tokio::test]
async fn read_only_user_can_search() {
    let c = console();
    let b = c.user(Role::ReadOnly).await;
    let r = c
        .send(from_browser(&b, request("POST", "/api/v1/events/search")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn analyst_cannot_create_intakes() {
    let c = console();
    let b = c.user(Role::Analyst).await;
    let r = c
        .send(from_browser(&b, request("POST", "/v1/sic/conf/intakes")))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"], "your role (analyst) cannot do this");
}

#[tokio::test]
async fn a_role_change_applies_to_an_open_session_at_once() {
    let c = console();
    let b = c.user(Role::Analyst).await;
    c.accounts.set_role("user-analyst", Role::ReadOnly).unwrap();
    let r = c
        .send(from_browser(&b, request("POST", "/api/v1/alerts/a/status")))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admin_token_bearer_is_admin() {
    let c = console();
    let r = c
        .send(with_bearer(
            ADMIN_TOKEN,
            request("POST", "/v1/sic/conf/intakes"),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["principal"], "admin-token");
}

#[tokio::test]
async fn an_unknown_bearer_token_is_refused() {
    let c = console();
    let r = c
        .send(with_bearer(
            "not-the-admin-token",
            request("GET", "/api/v1/events/x"),
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn api_token_of_role_read_only_is_read_only() {
    let c = console();
    let (_, secret) = c
        .accounts
        .create_token("export", Role::ReadOnly, "admin", Some("admin"))
        .unwrap();
    let search = c
        .send(with_bearer(
            &secret,
            request("POST", "/api/v1/events/search"),
        ))
        .await;
    assert_eq!(search.status, StatusCode::OK);
    let triage = c
        .send(with_bearer(
            &secret,
            request("POST", "/api/v1/alerts/a/status"),
        ))
        .await;
    assert_eq!(triage.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn revoked_token_is_refused() {
    let c = console();
    let (info, secret) = c
        .accounts
        .create_token("export", Role::Analyst, "admin", Some("admin"))
        .unwrap();
    c.accounts.revoke_token(&info.id).unwrap();
    let r = c
        .send(with_bearer(&secret, request("GET", "/api/v1/events/x")))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_admin_creates_a_token_that_then_works() {
    let c = console();
    let admin = c.sign_in("admin", &c.admin_password).await;
    let r = c
        .send(from_browser(
            &admin,
            json_request(
                "POST",
                "/api/v1/tokens",
                json!({"name": "siem", "role": "analyst"}),
            ),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["created_by"], "admin");
    let secret = r.body["secret"].as_str().unwrap();
    let used = c
        .send(with_bearer(
            secret,
            request("POST", "/api/v1/alerts/a/status"),
        ))
        .await;
    assert_eq!(used.status, StatusCode::OK);
    assert_eq!(used.body["principal"], "token:siem");
}

/// Has `by` create an API token of `role` through REST; returns its secret.
async fn token_made_by(c: &Console, by: &Browser, name: &str, role: &str) -> String {
    let r = c
        .send(from_browser(
            by,
            json_request(
                "POST",
                "/api/v1/tokens",
                json!({"name": name, "role": role}),
            ),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["secret"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_disabled_users_token_is_refused_at_once() {
    let c = console();
    c.accounts
        .create_user("bob", Role::Admin, PASSWORD)
        .unwrap();
    let bob = c.sign_in("bob", PASSWORD).await;
    let secret = token_made_by(&c, &bob, "bobs-script", "analyst").await;
    let used = with_bearer(&secret, request("POST", "/api/v1/alerts/a/status"));
    assert_eq!(c.send(used).await.status, StatusCode::OK);

    let admin = c.sign_in("admin", &c.admin_password).await;
    let disable = c
        .send(from_browser(
            &admin,
            json_request("PATCH", "/api/v1/users/bob", json!({"disabled": true})),
        ))
        .await;
    assert_eq!(disable.status, StatusCode::OK, "{}", disable.body);
    for req in [
        request("POST", "/api/v1/alerts/a/status"),
        request("GET", "/api/v1/events/x"),
    ] {
        let r = c.send(with_bearer(&secret, req)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let tokens = c
        .send(from_browser(&admin, request("GET", "/api/v1/tokens")))
        .await;
    assert_eq!(tokens.body["items"][0]["owner"], "bob");
    assert_eq!(tokens.body["items"][0]["usable"], false);
}

#[tokio::test]
async fn a_token_made_with_a_token_stops_with_the_user_behind_the_first() {
    let c = console();
    c.accounts
        .create_user("bob", Role::Admin, PASSWORD)
        .unwrap();
    let bob = c.sign_in("bob", PASSWORD).await;
    let first = token_made_by(&c, &bob, "provisioner", "admin").await;
    let r = c
        .send(with_bearer(
            &first,
            json_request(
                "POST",
                "/api/v1/tokens",
                json!({"name": "child", "role": "read-only"}),
            ),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["owner"], "bob");
    let child = r.body["secret"].as_str().unwrap().to_string();
    c.accounts.set_disabled("bob", true).unwrap();
    let r = c
        .send(with_bearer(&child, request("GET", "/api/v1/events/x")))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_demoted_users_token_loses_the_rights_they_lost() {
    let c = console();
    c.accounts
        .create_user("bob", Role::Admin, PASSWORD)
        .unwrap();
    let bob = c.sign_in("bob", PASSWORD).await;
    let secret = token_made_by(&c, &bob, "bobs-script", "analyst").await;
    c.accounts.set_role("bob", Role::ReadOnly).unwrap();
    let triage = c
        .send(with_bearer(
            &secret,
            request("POST", "/api/v1/alerts/a/status"),
        ))
        .await;
    assert_eq!(triage.status, StatusCode::FORBIDDEN);
    let read = c
        .send(with_bearer(&secret, request("GET", "/api/v1/events/x")))
        .await;
    assert_eq!(read.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_made_with_the_servers_admin_token_acts_for_no_user() {
    let c = console();
    let r = c
        .send(with_bearer(
            ADMIN_TOKEN,
            json_request(
                "POST",
                "/api/v1/tokens",
                json!({"name": "ops", "role": "analyst"}),
            ),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["owner"], Value::Null);
    let secret = r.body["secret"].as_str().unwrap();
    let used = c
        .send(with_bearer(
            secret,
            request("POST", "/api/v1/alerts/a/status"),
        ))
        .await;
    assert_eq!(used.status, StatusCode::OK);
}

#[tokio::test]
async fn the_token_list_never_shows_secrets() {
    let c = console();
    let (_, secret) = c
        .accounts
        .create_token("export", Role::ReadOnly, "admin", Some("admin"))
        .unwrap();
    let r = c
        .send(with_bearer(ADMIN_TOKEN, request("GET", "/api/v1/tokens")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert!(!r.body.to_string().contains(&secret[4..]));
}

#[tokio::test]
async fn bearer_requests_need_no_csrf_token() {
    let c = console();
    let (_, secret) = c
        .accounts
        .create_token("bot", Role::Analyst, "admin", Some("admin"))
        .unwrap();
    let mut req = with_bearer(&secret, request("POST", "/api/v1/alerts/a/status"));
    req.headers_mut()
        .insert(header::ORIGIN, "https://elsewhere.example".parse().unwrap());
    assert_eq!(c.send(req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_session_endpoint_tells_who_is_signed_in() {
    let c = console();
    let b = c.user(Role::Analyst).await;
    let r = c
        .send(from_browser(&b, request("GET", "/api/v1/session")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({"user": "user-analyst", "role": "analyst", "csrf": b.csrf})
    );
}

#[tokio::test]
async fn the_session_endpoint_has_no_csrf_for_bearers() {
    let c = console();
    let r = c
        .send(with_bearer(ADMIN_TOKEN, request("GET", "/api/v1/session")))
        .await;
    assert_eq!(
        r.body,
        json!({"user": "admin-token", "role": "admin", "csrf": null})
    );
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let c = console();
    let b = c.user(Role::Analyst).await;
    let out = c
        .send(from_browser(&b, request("DELETE", "/api/v1/session")))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let cleared = out.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let after = c
        .send(from_browser(&b, request("GET", "/api/v1/events/x")))
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_session_is_refused() {
    let c = console_with(Some(Duration::ZERO), false);
    let b = c.sign_in("admin", &c.admin_password).await;
    let r = c
        .send(from_browser(&b, request("GET", "/api/v1/events/x")))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deleting_the_last_admin_is_refused() {
    let c = console();
    let r = c
        .send(with_bearer(
            ADMIN_TOKEN,
            request("DELETE", "/api/v1/users/admin"),
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(c.accounts.list_users().unwrap().len(), 1);
}

#[tokio::test]
async fn an_admin_creates_a_user_who_can_then_sign_in() {
    let c = console();
    let r = c
        .send(with_bearer(
            ADMIN_TOKEN,
            json_request(
                "POST",
                "/api/v1/users",
                json!({"name": "ann", "role": "read-only", "password": PASSWORD}),
            ),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["role"], "read-only");
    c.sign_in("ann", PASSWORD).await;
}

#[tokio::test]
async fn an_analyst_cannot_list_users() {
    let c = console();
    let b = c.user(Role::Analyst).await;
    let r = c
        .send(from_browser(&b, request("GET", "/api/v1/users")))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_user_changes_their_own_password_and_stays_signed_in() {
    let c = console();
    let b = c.user(Role::ReadOnly).await;
    let r = c
        .send(from_browser(
            &b,
            json_request(
                "POST",
                "/api/v1/account/password",
                json!({"current": PASSWORD, "new": "a brand new passphrase"}),
            ),
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let still = c
        .send(from_browser(&b, request("GET", "/api/v1/events/x")))
        .await;
    assert_eq!(still.status, StatusCode::OK);
    let old = c.try_sign_in("user-read-only", PASSWORD).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    c.sign_in("user-read-only", "a brand new passphrase").await;
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing() {
    let c = console();
    let b = c.user(Role::ReadOnly).await;
    let r = c
        .send(from_browser(
            &b,
            json_request(
                "POST",
                "/api/v1/account/password",
                json!({"current": "not my password!", "new": "a brand new passphrase"}),
            ),
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    c.sign_in("user-read-only", PASSWORD).await;
}
