//! Who may do what: the route policy ([`required_access`]), the one authentication layer in
//! front of every route ([`authenticate`]), and the sign-in, account, user and token endpoints
//! ([`session_router`]).
//!
//! Browsers authenticate with the `ziaxdr_session` cookie (HttpOnly, SameSite=Strict) and must
//! echo the session's CSRF token on every state change; scripts send `Authorization: Bearer`
//! with an API token (`zxt_…`) or the server's admin token.

// Handlers and helpers return `Result<_, Response>` so that an early answer reads as `?`; the
// error variant is as large as a response, and it is built once per refused request.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Extension, Json, Router};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::accounts::{Accounts, Error, Role, TOKEN_PREFIX};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ziaxdr_session";
/// The header carrying the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The principal name of a request carrying the server's admin token.
pub const ADMIN_TOKEN_PRINCIPAL: &str = "admin-token";

/// What a route requires of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the intake (it checks its own key), health, static assets, the sign-in.
    Public,
    /// Any signed-in user or token.
    Read,
    /// Analysts and admins: alert triage, rules, CTI.
    Analyst,
    /// Admins only: intakes, users, tokens, and anything not listed.
    Admin,
}

impl Access {
    /// The least role that satisfies this access, if a role is needed at all.
    pub fn role(self) -> Option<Role> {
        match self {
            Access::Public => None,
            Access::Read => Some(Role::ReadOnly),
            Access::Analyst => Some(Role::Analyst),
            Access::Admin => Some(Role::Admin),
        }
    }
}

/// The Sekoia-compatible intake paths; they carry their own intake key.
const INTAKE_PATHS: &[&str] = &["/", "/plain", "/plain/batch", "/jsons", "/batch", "/array"];
/// Paths under which even reading needs an admin (secrets and who-may-do-what).
const ADMIN_READ_PREFIXES: &[&str] = &["/v1/sic/conf", "/api/v1/users", "/api/v1/tokens"];
/// Paths under which changes need an admin even inside an analyst prefix: a CTI source makes
/// the server fetch a URL with the bearer token of one of its environment variables.
const ADMIN_CHANGE_PREFIXES: &[&str] = &["/api/v1/cti/feeds"];
/// Paths under which analysts may change things.
const ANALYST_PREFIXES: &[&str] = &["/api/v1/alerts", "/api/v1/rules", "/api/v1/cti"];

/// The route policy: what `method` on `path` requires. Unknown routes require an admin.
pub fn required_access(method: &Method, path: &str) -> Access {
    // `.`/`..` or empty segments could make a prefix match name another route: refuse the
    // benefit of the doubt. (A trailing slash, as in `/console/`, is an empty last segment.)
    let Some(rest) = path.strip_prefix('/') else {
        return Access::Admin;
    };
    let mut segments = rest.split('/').peekable();
    while let Some(s) = segments.next() {
        if s == "." || s == ".." || (s.is_empty() && segments.peek().is_some()) {
            return Access::Admin;
        }
    }
    let reading = *method == Method::GET || *method == Method::HEAD;
    if *method == Method::POST && INTAKE_PATHS.contains(&path) {
        return Access::Public;
    }
    if reading
        && (matches!(
            path,
            "/healthz" | "/readyz" | "/metrics" | "/favicon.ico" | "/console/login"
        ) || under(path, "/console/assets"))
    {
        return Access::Public;
    }
    if *method == Method::POST && path == "/api/v1/session" {
        return Access::Public;
    }
    if reading {
        if ADMIN_READ_PREFIXES.iter().any(|p| under(path, p)) {
            return Access::Admin;
        }
        return Access::Read;
    }
    match (method.as_str(), path) {
        (
            "POST",
            "/api/v1/events/search" | "/api/v1/events/aggregate" | "/api/v1/events/export",
        )
        | ("DELETE", "/api/v1/session")
        | ("POST", "/api/v1/account/password")
        | ("POST", "/api/v1/searches") => return Access::Read,
        _ => {}
    }
    // Anyone may delete their own saved searches (the handler checks the owner).
    if *method == Method::DELETE && under(path, "/api/v1/searches") {
        return Access::Read;
    }
    let changing = matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
    if ADMIN_CHANGE_PREFIXES.iter().any(|p| under(path, p)) {
        return Access::Admin;
    }
    if changing && ANALYST_PREFIXES.iter().any(|p| under(path, p)) {
        return Access::Analyst;
    }
    Access::Admin
}

/// True when `path` is `prefix` or below it (segment-wise: `/api/v1/alertsx` is not under
/// `/api/v1/alerts`).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// How a principal proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A browser session; state changes must echo this CSRF token.
    Session {
        /// The session's CSRF token.
        csrf: String,
    },
    /// An API token (`zxt_…`).
    ApiToken {
        /// The user the token acts for (`None`: one made with the server's admin token).
        owner: Option<String>,
    },
    /// The server's admin token.
    AdminToken,
}

/// Who is asking, inserted into the request extensions for handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user name, `token:<name>` for an API token, or `admin-token`.
    pub name: String,
    /// What the principal may do.
    pub role: Role,
    /// How it authenticated.
    pub via: Via,
}

/// What the authentication layer and the session endpoints need.
#[derive(Clone)]
pub struct AuthState {
    /// Users, sessions and API tokens.
    pub accounts: Arc<Accounts>,
    /// SHA-256 of the server's admin token (`intake::registry::hash_key`), if there is one.
    pub admin_token_hash: Option<[u8; 32]>,
    /// Mark the session cookie `Secure` (the server speaks HTTPS).
    pub secure_cookies: bool,
    /// The origin browsers reach the server at when it differs from the `Host` header it
    /// receives (behind a reverse proxy): `https://xdr.example.com`, from `serve --public-url`.
    pub public_origin: Option<String>,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("admin_token", &self.admin_token_hash.map(|_| "<set>"))
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn internal() -> Response {
    json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// Runs account work (SQLite, argon2) on the blocking pool.
async fn blocking<T, F>(f: F) -> Result<T, Response>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(account_error(e)),
        Err(e) => {
            tracing::error!(error = %e, "account task failed");
            Err(internal())
        }
    }
}

/// `Retry-After` (seconds) of a 503 answered while the accounts' PostgreSQL is out of reach.
pub const ACCOUNTS_RETRY_AFTER: u64 = 5;

fn account_error(e: Error) -> Response {
    match e {
        Error::Invalid(m) => json_error(StatusCode::BAD_REQUEST, &m),
        Error::NotFound(m) => json_error(StatusCode::NOT_FOUND, &format!("{m} not found")),
        Error::Forbidden(m) => json_error(StatusCode::FORBIDDEN, &m),
        Error::LockedOut => {
            let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, &Error::LockedOut.to_string());
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::accounts::LOCKOUT_WINDOW.as_secs()),
            );
            r
        }
        Error::Throttled(wait) => {
            let mut r = json_error(
                StatusCode::TOO_MANY_REQUESTS,
                &Error::Throttled(wait).to_string(),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
            r
        }
        // The cluster's PostgreSQL is out of reach: a state with an answer, not a fault.
        Error::Pg(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "accounts unavailable");
            let mut r = json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the accounts database is unavailable; try again shortly",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(ACCOUNTS_RETRY_AFTER));
            r
        }
        other => {
            tracing::error!(error = %other, "accounts failure");
            internal()
        }
    }
}

/// The bearer token of a request, if it sends one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The session cookie's value, if the request carries one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// Who the request's credentials name: the bearer token if there is one, else the session
/// cookie. `Ok(None)` when there are none or they are not valid.
async fn find_principal(
    state: &AuthState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, Response> {
    if let Some(token) = bearer(headers) {
        if token.starts_with(TOKEN_PREFIX) {
            let accounts = state.accounts.clone();
            let secret = token.to_string();
            if let Some(info) = blocking(move || accounts.token(&secret)).await? {
                return Ok(Some(Principal {
                    name: format!("token:{}", info.name),
                    role: info.role,
                    via: Via::ApiToken { owner: info.owner },
                }));
            }
        }
        let is_admin = state
            .admin_token_hash
            .is_some_and(|h| bool::from(intake::registry::hash_key(token).ct_eq(&h)));
        return Ok(is_admin.then(|| Principal {
            name: ADMIN_TOKEN_PRINCIPAL.to_string(),
            role: Role::Admin,
            via: Via::AdminToken,
        }));
    }
    let Some(cookie) = session_cookie(headers) else {
        return Ok(None);
    };
    let accounts = state.accounts.clone();
    let cookie = cookie.to_string();
    let session = blocking(move || accounts.session(&cookie)).await?;
    Ok(session.map(|s| Principal {
        name: s.user,
        role: s.role,
        via: Via::Session { csrf: s.csrf },
    }))
}

/// True when a state-changing request from a session principal is same-site: it echoes the
/// CSRF token, and its `Origin`, if any, is this server.
fn same_site(
    headers: &HeaderMap,
    csrf: &str,
    uri: &axum::http::Uri,
    public_origin: Option<&str>,
) -> bool {
    let echoed = headers
        .get(CSRF_HEADER)
        .is_some_and(|v| bool::from(v.as_bytes().ct_eq(csrf.as_bytes())));
    if !echoed {
        return false;
    }
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    if public_origin.is_some_and(|p| origin.as_bytes() == p.as_bytes()) {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let (Some(host), Ok(origin)) = (host, origin.to_str()) else {
        return false;
    };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// The characters left as they are in the `next` parameter of the sign-in redirect.
const NEXT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The authentication layer, for `axum::middleware::from_fn_with_state`: finds the principal,
/// applies the route policy and CSRF checks, and inserts the [`Principal`] for handlers.
pub async fn authenticate(
    State(state): State<AuthState>,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let access = required_access(&method, req.uri().path());
    let reading = method == Method::GET || method == Method::HEAD;
    let principal = match find_principal(&state, req.headers()).await {
        Ok(p) => p,
        // On a public route a failing account store must not stop the intake.
        Err(_) if access == Access::Public => None,
        Err(r) => return r,
    };
    let Some(needed) = access.role() else {
        // Public: still tell handlers who is asking, when that holds up (a session must pass
        // the CSRF check to count on a state change).
        if let Some(p) = principal {
            let trusted = match &p.via {
                Via::Session { csrf } => {
                    reading
                        || same_site(
                            req.headers(),
                            csrf,
                            req.uri(),
                            state.public_origin.as_deref(),
                        )
                }
                _ => true,
            };
            if trusted {
                req.extensions_mut().insert(p);
            }
        }
        return next.run(req).await;
    };
    let Some(principal) = principal else {
        let path = req.uri().path();
        // `GET /` too: it is where a browser pointed at the server lands.
        if method == Method::GET
            && (path == "/" || path == "/console" || path.starts_with("/console/"))
        {
            let target = req
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or(path);
            let location = format!("/console/login?next={}", utf8_percent_encode(target, NEXT));
            return match HeaderValue::from_str(&location) {
                Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
                Err(_) => internal(),
            };
        }
        let mut r = json_error(StatusCode::UNAUTHORIZED, "sign in or send an API token");
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    };
    if let Via::Session { csrf } = &principal.via {
        if !reading
            && !same_site(
                req.headers(),
                csrf,
                req.uri(),
                state.public_origin.as_deref(),
            )
        {
            return json_error(StatusCode::FORBIDDEN, "cross-site request refused");
        }
    }
    if !principal.role.allows(needed) {
        return json_error(
            StatusCode::FORBIDDEN,
            &format!("your role ({}) cannot do this", principal.role),
        );
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// The sign-in, sign-out, own-password, user and token endpoints; mount behind
/// [`authenticate`].
pub fn session_router(state: AuthState) -> Router {
    Router::new()
        .route(
            "/api/v1/session",
            post(sign_in).get(whoami).delete(sign_out),
        )
        .route("/api/v1/account/password", post(change_own_password))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route(
            "/api/v1/users/{name}",
            patch(update_user).delete(delete_user),
        )
        .route("/api/v1/assignees", get(list_assignees))
        .route("/api/v1/searches", get(list_searches).post(save_search))
        .route(
            "/api/v1/searches/{id}",
            axum::routing::delete(delete_search),
        )
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .with_state(state)
}

/// Parses a JSON body, refusing other content types: a cross-site HTML form cannot send JSON.
fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send JSON (Content-Type: application/json)",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| json_error(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")))
}

fn session_cookie_header(state: &AuthState, value: &str, max_age: u64) -> Response {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    );
    match HeaderValue::from_str(&cookie) {
        Ok(v) => ([(header::SET_COOKIE, v)]).into_response(),
        Err(_) => internal(),
    }
}

fn require_admin(p: &Principal) -> Result<(), Response> {
    if p.role.allows(Role::Admin) {
        Ok(())
    } else {
        Err(json_error(
            StatusCode::FORBIDDEN,
            &format!("your role ({}) cannot do this", p.role),
        ))
    }
}

#[derive(Deserialize)]
struct SignIn {
    user: String,
    password: String,
}

async fn sign_in(
    State(state): State<AuthState>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The address the connection came from (the intake's listeners set it).
    let addr = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(String::new(), |p| p.0.ip().to_string());
    let result = async {
        let form: SignIn = parse_json(&headers, &body)?;
        let accounts = state.accounts.clone();
        let started = blocking(move || {
            let _permit = match accounts.throttle_sign_in(&addr) {
                Ok(p) => p,
                Err(wait) => return Err(Error::Throttled(wait)),
            };
            let Some(user) = accounts.verify_password_from(&form.user, &form.password, &addr)?
            else {
                return Ok(None);
            };
            let session = accounts.create_session(&user)?;
            Ok(Some((user, session)))
        })
        .await?;
        let Some((user, session)) = started else {
            return Err(json_error(
                StatusCode::UNAUTHORIZED,
                "wrong user name or password",
            ));
        };
        let (mut parts, _) = session_cookie_header(
            &state,
            &session.token,
            state.accounts.session_ttl().as_secs(),
        )
        .into_parts();
        parts.status = StatusCode::OK;
        let body = Json(json!({"user": user.name, "role": user.role, "csrf": session.csrf}));
        Ok((parts, body).into_response())
    }
    .await;
    result.unwrap_or_else(|r| r)
}

async fn whoami(principal: Option<Extension<Principal>>) -> Response {
    let Some(Extension(p)) = principal else {
        return json_error(StatusCode::UNAUTHORIZED, "sign in or send an API token");
    };
    let csrf = match &p.via {
        Via::Session { csrf } => Some(csrf.clone()),
        _ => None,
    };
    Json(json!({"user": p.name, "role": p.role, "csrf": csrf})).into_response()
}

async fn sign_out(State(state): State<AuthState>, headers: HeaderMap) -> Response {
    if let Some(token) = session_cookie(&headers) {
        let accounts = state.accounts.clone();
        let token = token.to_string();
        if let Err(r) = blocking(move || accounts.end_session(&token)).await {
            return r;
        }
    }
    let (mut parts, _) = session_cookie_header(&state, "", 0).into_parts();
    parts.status = StatusCode::NO_CONTENT;
    (parts, ()).into_response()
}

#[derive(Deserialize)]
struct PasswordChange {
    current: String,
    new: String,
}

async fn change_own_password(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        if !matches!(p.via, Via::Session { .. }) {
            return Err(json_error(
                StatusCode::FORBIDDEN,
                "only a signed-in user can change their password",
            ));
        }
        let change: PasswordChange = parse_json(&headers, &body)?;
        let keep = session_cookie(&headers).map(str::to_string);
        let accounts = state.accounts.clone();
        let name = p.name.clone();
        let changed = blocking(move || {
            if accounts.verify_password(&name, &change.current)?.is_none() {
                return Ok(false);
            }
            accounts.set_password_keeping(&name, &change.new, keep.as_deref())?;
            Ok(true)
        })
        .await?;
        if !changed {
            return Err(json_error(
                StatusCode::UNAUTHORIZED,
                "the current password is wrong",
            ));
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    result.unwrap_or_else(|r| r)
}

async fn list_users(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
) -> Response {
    if let Err(r) = require_admin(&p) {
        return r;
    }
    let accounts = state.accounts.clone();
    match blocking(move || accounts.list_users()).await {
        Ok(items) => Json(json!({ "items": items })).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    role: Role,
    password: String,
}

async fn create_user(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        require_admin(&p)?;
        let new: NewUser = parse_json(&headers, &body)?;
        let accounts = state.accounts.clone();
        let user =
            blocking(move || accounts.create_user(&new.name, new.role, &new.password)).await?;
        tracing::info!(user = %user.name, role = %user.role, by = %p.name, "console user created");
        Ok((StatusCode::CREATED, Json(user)).into_response())
    }
    .await;
    result.unwrap_or_else(|r| r)
}

#[derive(Deserialize)]
struct UserChange {
    role: Option<Role>,
    password: Option<String>,
    disabled: Option<bool>,
}

async fn update_user(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        require_admin(&p)?;
        let change: UserChange = parse_json(&headers, &body)?;
        if change.role.is_none() && change.password.is_none() && change.disabled.is_none() {
            return Err(json_error(
                StatusCode::BAD_REQUEST,
                "nothing to change: send \"role\", \"password\" and/or \"disabled\"",
            ));
        }
        if change.disabled == Some(true) && name.eq_ignore_ascii_case(&p.name) {
            return Err(json_error(
                StatusCode::BAD_REQUEST,
                "you cannot disable yourself",
            ));
        }
        let change_password = change.password.is_some();
        let accounts = state.accounts.clone();
        let target = name.clone();
        let user = blocking(move || {
            if let Some(role) = change.role {
                accounts.set_role(&target, role)?;
            }
            if let Some(password) = &change.password {
                accounts.set_password(&target, password)?;
            }
            if let Some(disabled) = change.disabled {
                accounts.set_disabled(&target, disabled)?;
            }
            accounts
                .user(&target)?
                .ok_or_else(|| Error::NotFound(format!("user {target}")))
        })
        .await?;
        tracing::info!(user = %user.name, role = %user.role, disabled = user.disabled,
            password_reset = change_password, by = %p.name, "console user changed");
        Ok(Json(user).into_response())
    }
    .await;
    result.unwrap_or_else(|r| r)
}

async fn delete_user(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    if let Err(r) = require_admin(&p) {
        return r;
    }
    let accounts = state.accounts.clone();
    let target = name.clone();
    match blocking(move || accounts.delete_user(&target)).await {
        Ok(()) => {
            tracing::info!(user = %name, by = %p.name, "console user deleted");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r,
    }
}

/// `GET /api/v1/assignees`: the users alerts can be assigned to (any signed-in caller: an
/// analyst assigns without seeing the user administration).
async fn list_assignees(State(state): State<AuthState>) -> Response {
    let accounts = state.accounts.clone();
    match blocking(move || accounts.active_user_names()).await {
        Ok(items) => Json(json!({ "items": items })).into_response(),
        Err(r) => r,
    }
}

async fn list_searches(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
) -> Response {
    let accounts = state.accounts.clone();
    match blocking(move || accounts.saved_searches(&p.name)).await {
        Ok(items) => Json(json!({ "items": items })).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct NewSearch {
    name: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    columns: String,
    #[serde(default)]
    shared: bool,
}

async fn save_search(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let new: NewSearch = parse_json(&headers, &body)?;
        // A personal search changes nothing for anyone else; sharing one does.
        if new.shared && !p.role.allows(Role::Analyst) {
            return Err(json_error(
                StatusCode::FORBIDDEN,
                &format!("your role ({}) cannot share a search", p.role),
            ));
        }
        let accounts = state.accounts.clone();
        let saved = blocking(move || {
            accounts.save_search(
                &p.name,
                &new.name,
                &new.query,
                &new.since,
                &new.columns,
                new.shared,
            )
        })
        .await?;
        Ok((StatusCode::CREATED, Json(saved)).into_response())
    }
    .await;
    result.unwrap_or_else(|r| r)
}

async fn delete_search(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let accounts = state.accounts.clone();
    let admin = p.role.allows(Role::Admin);
    match blocking(move || accounts.delete_search(&id, &p.name, admin)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

async fn list_tokens(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
) -> Response {
    if let Err(r) = require_admin(&p) {
        return r;
    }
    let accounts = state.accounts.clone();
    match blocking(move || accounts.list_tokens()).await {
        Ok(items) => Json(json!({ "items": items })).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
    role: Role,
}

async fn create_token(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        require_admin(&p)?;
        let new: NewToken = parse_json(&headers, &body)?;
        let accounts = state.accounts.clone();
        let by = p.name.clone();
        // The new token acts for whoever acts here: a token made by a token has its owner.
        let owner = match &p.via {
            Via::Session { .. } => Some(p.name.clone()),
            Via::ApiToken { owner } => owner.clone(),
            Via::AdminToken => None,
        };
        let (info, secret) =
            blocking(move || accounts.create_token(&new.name, new.role, &by, owner.as_deref()))
                .await?;
        tracing::info!(token = %info.id, role = %info.role, by = %p.name, "API token created");
        Ok((
            StatusCode::CREATED,
            Json(json!({ "token": info, "secret": secret })),
        )
            .into_response())
    }
    .await;
    result.unwrap_or_else(|r| r)
}

async fn revoke_token(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = require_admin(&p) {
        return r;
    }
    let accounts = state.accounts.clone();
    let target = id.clone();
    match blocking(move || accounts.revoke_token(&target)).await {
        Ok(()) => {
            tracing::info!(token = %id, by = %p.name, "API token revoked");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(method: &str, path: &str) -> Access {
        required_access(&method.parse().unwrap(), path)
    }

    #[test]
    fn intake_posts_are_public() {
        for path in INTAKE_PATHS {
            assert_eq!(access("POST", path), Access::Public, "{path}");
        }
    }

    #[test]
    fn health_assets_and_sign_in_are_public() {
        for (m, p) in [
            ("GET", "/healthz"),
            ("GET", "/readyz"),
            ("GET", "/metrics"),
            ("GET", "/favicon.ico"),
            ("GET", "/console/login"),
            ("GET", "/console/assets/app.js"),
            ("POST", "/api/v1/session"),
        ] {
            assert_eq!(access(m, p), Access::Public, "{m} {p}");
        }
    }

    #[test]
    fn reading_data_needs_a_signed_in_principal() {
        for (m, p) in [
            ("GET", "/"),
            ("GET", "/console/"),
            ("GET", "/console/events"),
            ("GET", "/api/v1/alerts"),
            ("HEAD", "/api/v1/events/x"),
            ("POST", "/api/v1/events/search"),
            ("POST", "/api/v1/events/aggregate"),
            ("POST", "/api/v1/events/export"),
            ("GET", "/api/v1/alerts/export"),
            ("DELETE", "/api/v1/session"),
            ("POST", "/api/v1/account/password"),
            ("GET", "/api/v1/assignees"),
            ("GET", "/api/v1/searches"),
            ("POST", "/api/v1/searches"),
            ("DELETE", "/api/v1/searches/abc"),
        ] {
            assert_eq!(access(m, p), Access::Read, "{m} {p}");
        }
    }

    #[test]
    fn triage_needs_an_analyst() {
        for (m, p) in [
            ("POST", "/api/v1/alerts/a/status"),
            ("POST", "/api/v1/alerts/bulk"),
            ("POST", "/api/v1/alerts/a/assignee"),
            ("POST", "/api/v1/cti/indicators"),
            ("POST", "/api/v1/cti/indicators/x/revoke"),
            ("PATCH", "/api/v1/rules/r1"),
            ("PUT", "/api/v1/cti/sources/x"),
            ("DELETE", "/api/v1/alerts/a"),
        ] {
            assert_eq!(access(m, p), Access::Analyst, "{m} {p}");
        }
    }

    #[test]
    fn administration_and_unknown_routes_need_an_admin() {
        for (m, p) in [
            ("POST", "/v1/sic/conf/intakes"),
            ("GET", "/v1/sic/conf/intakes"),
            ("POST", "/api/v1/intakes"),
            ("GET", "/api/v1/users"),
            ("DELETE", "/api/v1/users/bob"),
            ("GET", "/api/v1/tokens"),
            ("POST", "/api/v1/tokens"),
            ("POST", "/api/v1/somewhere"),
            ("OPTIONS", "/api/v1/alerts"),
            ("POST", "/api/v1/alertsx"),
            ("PATCH", "/api/v1/searches/abc"),
            ("POST", "/api/v1/cti/feeds"),
            ("DELETE", "/api/v1/cti/feeds"),
            ("POST", "/api/v1/searches/abc"),
        ] {
            assert_eq!(access(m, p), Access::Admin, "{m} {p}");
        }
    }

    #[test]
    fn dot_segments_cannot_borrow_a_weaker_rule() {
        assert_eq!(access("POST", "/api/v1/alerts/../users"), Access::Admin);
        assert_eq!(access("GET", "/console/assets/../events"), Access::Admin);
        assert_eq!(access("POST", "/plain//batch"), Access::Admin);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ziaxdr_session=abc; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
    }
}
