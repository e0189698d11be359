//! The ZIA cloud service API client: authentication, pacing, retries, logging.
//!
//! Two authentications, as ZIA documents them:
//! - **OneAPI** (OAuth 2.0 client credentials through ZIdentity): `POST
//!   https://<vanity>.zslogin.net/oauth2/v1/token` with a form body `grant_type=
//!   client_credentials`, `client_id`, `client_secret`, `audience=https://api.zscaler.com`;
//!   the `access_token` then goes as `Authorization: Bearer` to `https://api.zsapi.net/zia/api/v1`.
//!   The token is renewed a minute before its `expires_in`.
//! - **Legacy** (API key, admin user and password): `POST https://zsapi.<cloud>/api/v1/
//!   authenticatedSession` with `{"apiKey": <obfuscated key>, "username", "password",
//!   "timestamp": <ms>}`; the `JSESSIONID` cookie it sets goes with every later call.
//!
//! Either way, a `401` on a call means the session or token expired: the client
//! authenticates again once and repeats the call. Calls are paced by ZIA's weights (GET 2 per
//! second and 1,000 per hour, POST/PUT 1 per second and 400 per hour, DELETE 1 per minute and
//! 4 per hour); a `429` is retried after the `Retry-After` ZIA gives (the header, in seconds
//! or `13s`, or the legacy body's `"Retry-After": "N seconds"`), at most
//! [`ClientOptions::max_retries`] times and never waiting more than
//! [`ClientOptions::max_wait`]; an `x-ratelimit-remaining: 0` answer holds the next call
//! until its `x-ratelimit-reset`. Each call is logged (method, path, status, time, attempt);
//! keys, passwords, tokens, cookies and bodies never are.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::settings::Secret;
use crate::Error;

/// The OneAPI audience ZIdentity issues ZIA tokens for.
pub const ONEAPI_AUDIENCE: &str = "https://api.zscaler.com";
/// The OneAPI base of the ZIA API.
pub const ONEAPI_BASE: &str = "https://api.zsapi.net/zia/api/v1";
/// A token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// How the client proves who it is.
#[derive(Clone)]
pub enum Auth {
    /// OAuth 2.0 client credentials through ZIdentity (OneAPI).
    OneApi {
        /// The ZIdentity token endpoint.
        token_url: String,
        /// API client id.
        client_id: String,
        /// API client secret.
        client_secret: Secret,
    },
    /// The legacy API key with an admin's user name and password.
    Legacy {
        /// The API key as the ZIA admin portal shows it (obfuscated at each sign-in).
        api_key: Secret,
        /// Admin user name.
        username: String,
        /// Admin password.
        password: Secret,
    },
}

impl Auth {
    /// `oneapi` or `legacy`, for logs and the audit.
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::OneApi { .. } => "oneapi",
            Auth::Legacy { .. } => "legacy",
        }
    }
}

/// Minimum gaps and hourly budgets per call weight, as ZIA documents them.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Gap between two GETs (2 per second).
    pub get_gap: Duration,
    /// GETs per hour.
    pub get_per_hour: u32,
    /// Gap between two POSTs or PUTs (1 per second).
    pub write_gap: Duration,
    /// POSTs and PUTs per hour.
    pub write_per_hour: u32,
    /// Gap between two DELETEs (1 per minute).
    pub delete_gap: Duration,
    /// DELETEs per hour.
    pub delete_per_hour: u32,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            get_gap: Duration::from_millis(500),
            get_per_hour: 1000,
            write_gap: Duration::from_secs(1),
            write_per_hour: 400,
            delete_gap: Duration::from_secs(60),
            delete_per_hour: 4,
        }
    }
}

/// Client behaviour.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries of one call after a `429`.
    pub max_retries: u32,
    /// Longest `Retry-After` waited for; a longer one fails the call at once.
    pub max_wait: Duration,
    /// Rate limits kept on the client side.
    pub pacing: Pacing,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_retries: 3,
            max_wait: Duration::from_secs(60),
            pacing: Pacing::default(),
        }
    }
}

/// The credential of the current session.
#[derive(Default)]
struct Session {
    /// `JSESSIONID=...` (legacy) or the bearer token (OneAPI).
    credential: Option<String>,
    /// When a OneAPI token must be renewed.
    renew_at: Option<Instant>,
}

#[derive(Default)]
struct Pacer {
    last: [Option<Instant>; 3],
    recent: [VecDeque<Instant>; 3],
    /// Set by `x-ratelimit-remaining: 0`.
    hold_until: Option<Instant>,
}

/// The ZIA API client. `Sync`: the session is shared by every caller.
pub struct Client {
    base: String,
    auth: Auth,
    agent: ureq::Agent,
    options: ClientOptions,
    session: Mutex<Session>,
    pacer: Mutex<Pacer>,
}

/// Obfuscates a legacy API key with a millisecond timestamp, as ZIA's sign-in expects: the
/// digits of the timestamp's last six digits, and of that number halved (zero-padded to six),
/// pick characters of the key (the latter shifted by two).
pub fn obfuscate_api_key(api_key: &str, timestamp_ms: u128) -> Result<String, Error> {
    let key: Vec<char> = api_key.chars().collect();
    if key.len() < 12 {
        return Err(Error::Config("the ZIA API key is too short".into()));
    }
    let n = format!("{:06}", timestamp_ms % 1_000_000);
    let r = format!("{:06}", (timestamp_ms % 1_000_000) >> 1);
    let mut out = String::with_capacity(12);
    for d in n.bytes() {
        out.push(key[(d - b'0') as usize]);
    }
    for d in r.bytes() {
        out.push(key[(d - b'0') as usize + 2]);
    }
    Ok(out)
}

fn weight(method: &str) -> usize {
    match method {
        "GET" | "HEAD" => 0,
        "DELETE" => 2,
        _ => 1,
    }
}

/// Seconds to wait from a `429`: the `Retry-After` header (`5`, `5s`) or the legacy body's
/// `"Retry-After": "5 seconds"`; 1 when neither says.
pub fn retry_after_secs(header: Option<&str>, body: &str) -> u64 {
    fn leading_number(s: &str) -> Option<u64> {
        let digits: String = s
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    }
    if let Some(n) = header.and_then(leading_number) {
        return n;
    }
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let field = v
            .get("Retry-After")
            .or_else(|| v.get("retry-after"))
            .or_else(|| v.get("retryAfter"));
        match field {
            Some(Value::String(s)) => {
                if let Some(n) = leading_number(s) {
                    return n;
                }
            }
            Some(Value::Number(n)) => {
                if let Some(n) = n.as_u64() {
                    return n;
                }
            }
            _ => {}
        }
    }
    1
}

/// ZIA's error message from a body (`{"code", "message"}`), else the body's start.
fn message_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

enum Sent {
    Ok(ureq::Response),
    Status(u16, ureq::Response),
}

impl Client {
    /// A client of the API at `base` (e.g. `https://zsapi.zscaler.net/api/v1`).
    pub fn new(base: &str, auth: Auth, options: ClientOptions) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout(options.timeout)
            // A redirect could carry the session cookie or token elsewhere.
            .redirects(0)
            .build();
        Client {
            base: base.trim_end_matches('/').to_string(),
            auth,
            agent,
            options,
            session: Mutex::new(Session::default()),
            pacer: Mutex::new(Pacer::default()),
        }
    }

    /// The API base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `oneapi` or `legacy`.
    pub fn auth_kind(&self) -> &'static str {
        self.auth.kind()
    }

    /// Waits for the pacing of `method`'s weight; fails when its hourly budget is spent.
    fn pace(&self, method: &str) -> Result<(), Error> {
        let w = weight(method);
        let p = &self.options.pacing;
        let (gap, per_hour) = match w {
            0 => (p.get_gap, p.get_per_hour),
            1 => (p.write_gap, p.write_per_hour),
            _ => (p.delete_gap, p.delete_per_hour),
        };
        let mut pacer = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        while pacer.recent[w]
            .front()
            .is_some_and(|t| now.duration_since(*t) >= hour)
        {
            pacer.recent[w].pop_front();
        }
        if pacer.recent[w].len() as u32 >= per_hour {
            let oldest = pacer.recent[w].front().copied().unwrap_or(now);
            let wait = hour.saturating_sub(now.duration_since(oldest));
            return Err(Error::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        let mut not_before = pacer.last[w].map(|t| t + gap).unwrap_or(now);
        if let Some(h) = pacer.hold_until {
            not_before = not_before.max(h);
        }
        if not_before > now {
            let wait = not_before - now;
            if wait > self.options.max_wait {
                return Err(Error::RateLimited {
                    retry_after_secs: wait.as_secs().max(1),
                });
            }
            std::thread::sleep(wait);
        }
        let at = Instant::now();
        pacer.last[w] = Some(at);
        pacer.recent[w].push_back(at);
        pacer.hold_until = None;
        Ok(())
    }

    fn note_rate_headers(&self, resp: &ureq::Response) {
        let remaining = resp
            .header("x-ratelimit-remaining")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if remaining == Some(0) {
            let reset = resp
                .header("x-ratelimit-reset")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1);
            let mut pacer = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
            pacer.hold_until = Some(Instant::now() + Duration::from_secs(reset));
        }
    }

    fn send(&self, req: ureq::Request, body: Option<(&str, &str)>) -> Result<Sent, Error> {
        let r = match body {
            Some((ct, b)) => req.set("Content-Type", ct).send_string(b),
            None => req.call(),
        };
        match r {
            Ok(resp) => Ok(Sent::Ok(resp)),
            Err(ureq::Error::Status(code, resp)) => Ok(Sent::Status(code, resp)),
            Err(ureq::Error::Transport(t)) => Err(Error::Transport(t.to_string())),
        }
    }

    /// Signs in (a new session or token) and returns the credential.
    fn authenticate(&self) -> Result<(String, Option<Instant>), Error> {
        let started = Instant::now();
        match &self.auth {
            Auth::OneApi {
                token_url,
                client_id,
                client_secret,
            } => {
                self.pace("POST")?;
                let form = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("client_id", client_id)
                    .append_pair("client_secret", client_secret.expose())
                    .append_pair("audience", ONEAPI_AUDIENCE)
                    .finish();
                let sent = self.send(
                    self.agent.post(token_url),
                    Some(("application/x-www-form-urlencoded", &form)),
                )?;
                let resp = match sent {
                    Sent::Ok(r) => r,
                    Sent::Status(429, r) => return Err(rate_limited(r)),
                    Sent::Status(code, r) => {
                        let msg = r.into_string().unwrap_or_default();
                        tracing::warn!(auth = "oneapi", status = code, "ZIA token request refused");
                        return Err(Error::Auth(format!(
                            "ZIdentity token endpoint answered HTTP {code}: {}",
                            oauth_error(&msg)
                        )));
                    }
                };
                let text = resp
                    .into_string()
                    .map_err(|e| Error::Protocol(e.to_string()))?;
                let v: Value = serde_json::from_str(&text)
                    .map_err(|e| Error::Protocol(format!("token answer: {e}")))?;
                let token = v
                    .get("access_token")
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| Error::Protocol("token answer without access_token".into()))?;
                let expires_in = v.get("expires_in").and_then(|e| e.as_u64()).unwrap_or(3600);
                let renew =
                    Instant::now() + Duration::from_secs(expires_in).saturating_sub(TOKEN_MARGIN);
                tracing::info!(
                    auth = "oneapi",
                    expires_in,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "ZIA token obtained"
                );
                Ok((format!("Bearer {token}"), Some(renew)))
            }
            Auth::Legacy {
                api_key,
                username,
                password,
            } => {
                self.pace("POST")?;
                let ts = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis();
                let body = serde_json::json!({
                    "apiKey": obfuscate_api_key(api_key.expose(), ts)?,
                    "username": username,
                    "password": password.expose(),
                    "timestamp": ts.to_string(),
                });
                let url = format!("{}/authenticatedSession", self.base);
                let sent = self.send(
                    self.agent.post(&url),
                    Some(("application/json", &body.to_string())),
                )?;
                let resp = match sent {
                    Sent::Ok(r) => r,
                    Sent::Status(429, r) => return Err(rate_limited(r)),
                    Sent::Status(code, r) => {
                        let msg = message_of(&r.into_string().unwrap_or_default());
                        tracing::warn!(auth = "legacy", status = code, "ZIA sign-in refused");
                        return Err(Error::Auth(format!("HTTP {code}: {msg}")));
                    }
                };
                let cookie = resp
                    .all("set-cookie")
                    .into_iter()
                    .find_map(|c| {
                        let first = c.split(';').next()?.trim();
                        first.starts_with("JSESSIONID=").then(|| first.to_string())
                    })
                    .ok_or_else(|| {
                        Error::Protocol("sign-in answer without a JSESSIONID cookie".into())
                    })?;
                tracing::info!(
                    auth = "legacy",
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "ZIA session opened"
                );
                Ok((cookie, None))
            }
        }
    }

    /// The current credential, signing in when there is none or it is due for renewal.
    fn credential(&self) -> Result<String, Error> {
        let mut s = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = s.credential.is_some() && s.renew_at.is_none_or(|t| Instant::now() < t);
        if !fresh {
            let (c, renew) = self.authenticate()?;
            s.credential = Some(c);
            s.renew_at = renew;
        }
        Ok(s.credential.clone().unwrap_or_default())
    }

    fn forget_session(&self) {
        let mut s = self.session.lock().unwrap_or_else(|e| e.into_inner());
        s.credential = None;
        s.renew_at = None;
    }

    /// Calls `method path?query` with an optional JSON body and returns the JSON answer
    /// (`null` when empty).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let url = format!("{}{}", self.base, path);
        let body_text = body.map(|b| b.to_string());
        let mut reauthed = false;
        let mut retries = 0;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let credential = self.credential()?;
            self.pace(method)?;
            let started = Instant::now();
            let mut req = self.agent.request(method, &url);
            for (k, v) in query {
                req = req.query(k, v);
            }
            req = req.set("Accept", "application/json");
            req = match &self.auth {
                Auth::OneApi { .. } => req.set("Authorization", &credential),
                Auth::Legacy { .. } => req.set("Cookie", &credential),
            };
            let sent = self.send(req, body_text.as_deref().map(|b| ("application/json", b)));
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let sent = match sent {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%method, %path, attempt, elapsed_ms, error = %e, "ZIA API call failed");
                    return Err(e);
                }
            };
            match sent {
                Sent::Ok(resp) => {
                    tracing::info!(%method, %path, status = resp.status(), attempt, elapsed_ms, auth = self.auth.kind(), "ZIA API call");
                    self.note_rate_headers(&resp);
                    let text = resp
                        .into_string()
                        .map_err(|e| Error::Protocol(e.to_string()))?;
                    if text.trim().is_empty() {
                        return Ok(Value::Null);
                    }
                    return serde_json::from_str(&text)
                        .map_err(|e| Error::Protocol(format!("{method} {path}: not JSON: {e}")));
                }
                Sent::Status(code, resp) => {
                    tracing::warn!(%method, %path, status = code, attempt, elapsed_ms, auth = self.auth.kind(), "ZIA API call");
                    let header = resp.header("retry-after").map(String::from);
                    let text = resp.into_string().unwrap_or_default();
                    if code == 401 && !reauthed {
                        // The session or token expired (or was revoked): sign in again once.
                        reauthed = true;
                        self.forget_session();
                        continue;
                    }
                    if code == 429 {
                        let secs = retry_after_secs(header.as_deref(), &text);
                        let wait = Duration::from_secs(secs);
                        if retries >= self.options.max_retries || wait > self.options.max_wait {
                            return Err(Error::RateLimited {
                                retry_after_secs: secs,
                            });
                        }
                        retries += 1;
                        tracing::info!(%method, %path, retry_after_secs = secs, "ZIA API rate limit: waiting");
                        std::thread::sleep(wait);
                        continue;
                    }
                    if code == 401 {
                        return Err(Error::Auth(format!(
                            "{method} {path} still answered 401 after signing in again: {}",
                            message_of(&text)
                        )));
                    }
                    return Err(Error::Http {
                        method: method.into(),
                        path: path.into(),
                        status: code,
                        message: message_of(&text),
                    });
                }
            }
        }
    }
}

/// A `429` on a sign-in: the wait ZIA asks for (sign-ins are not retried, the caller is
/// told when to try again).
fn rate_limited(r: ureq::Response) -> Error {
    let header = r.header("retry-after").map(String::from);
    let body = r.into_string().unwrap_or_default();
    Error::RateLimited {
        retry_after_secs: retry_after_secs(header.as_deref(), &body),
    }
}

/// The `error`/`error_description` of an OAuth error answer (never echoes a secret: the
/// token endpoint does not).
fn oauth_error(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let e = v.get("error").and_then(|e| e.as_str()).unwrap_or("error");
            match v.get("error_description").and_then(|d| d.as_str()) {
                Some(d) => format!("{e}: {d}"),
                None => e.to_string(),
            }
        }
        Err(_) => body.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_key_is_obfuscated_from_the_timestamps_last_six_digits() {
        // 1700000123456: n = "123456", r = 123456 >> 1 = "061728".
        let key = "abcdefghijklmnopqrstuvwxyz";
        let n: String = "123456"
            .bytes()
            .map(|d| key.as_bytes()[(d - b'0') as usize] as char)
            .collect();
        let r: String = "061728"
            .bytes()
            .map(|d| key.as_bytes()[(d - b'0') as usize + 2] as char)
            .collect();
        assert_eq!(
            obfuscate_api_key(key, 1_700_000_123_456).unwrap(),
            format!("{n}{r}")
        );
        assert_eq!(
            obfuscate_api_key(key, 1_700_000_123_456).unwrap(),
            "bcdefgcidjek"
        );
    }

    #[test]
    fn a_short_timestamp_tail_is_zero_padded() {
        // n = "000010", r = 5 -> "000005".
        let key = "0123456789ABCDEF";
        assert_eq!(
            obfuscate_api_key(key, 1_700_000_000_010).unwrap(),
            "000010222227"
        );
    }

    #[test]
    fn retry_after_is_read_from_the_header_or_the_legacy_body() {
        assert_eq!(retry_after_secs(Some("7"), ""), 7);
        assert_eq!(retry_after_secs(Some("13s"), ""), 13);
        assert_eq!(retry_after_secs(None, r#"{"Retry-After": "4 seconds"}"#), 4);
        assert_eq!(retry_after_secs(None, "busy"), 1);
    }
}
