//! The console's security, against a real `ziaxdr serve`: every console and API route refuses
//! an unauthenticated request, a read-only user cannot change anything, and a cross-site
//! request to any changing route is rejected. The route list is checked against the routes
//! the server's source declares (`the_route_list_covers_every_route_of_the_router`), so a new
//! route cannot miss these tests.

mod intake_common;

use intake_common::{console_password, request, Scratch, Serve, Session};

struct Setup {
    _dir: Scratch,
    server: Serve,
    admin: Session,
    password: String,
    intake: String,
}

fn start() -> Setup {
    let dir = Scratch::new("console-security");
    let data = dir.0.join("data");
    let (server, out) = Serve::spawn_capturing(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--syslog",
        "127.0.0.1:0",
    ]);
    let password = console_password(&out);
    let admin = Session::sign_in(server.http, "admin", &password);
    let r = admin.send(server.http, "GET", "/api/v1/intakes", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let intake = v["items"][0]["uuid"].as_str().unwrap().to_string();
    Setup {
        _dir: dir,
        server,
        admin,
        password,
        intake,
    }
}

/// Every route of the console's API and of the admin API, with a body that would be valid.
fn api_routes(intake: &str) -> Vec<(&'static str, String, &'static str)> {
    let i = intake;
    vec![
        ("GET", "/api/v1/overview".into(), ""),
        ("GET", "/api/v1/intakes".into(), ""),
        ("POST", "/api/v1/intakes".into(), r#"{"name":"x"}"#),
        ("GET", format!("/api/v1/intakes/{i}/setup"), ""),
        ("POST", format!("/api/v1/intakes/{i}/rotate"), ""),
        (
            "POST",
            format!("/api/v1/intakes/{i}/status"),
            r#"{"status":"disabled"}"#,
        ),
        ("POST", "/api/v1/events/search".into(), r#"{"query":"*"}"#),
        (
            "POST",
            "/api/v1/events/aggregate".into(),
            r#"{"aggregation":{"type":"count"}}"#,
        ),
        (
            "POST",
            "/api/v1/events/export".into(),
            r#"{"query":"*","format":"csv"}"#,
        ),
        ("GET", "/api/v1/alerts".into(), ""),
        ("GET", "/api/v1/alerts/export?format=csv".into(), ""),
        ("GET", "/api/v1/alerts/AL00000000".into(), ""),
        (
            "POST",
            "/api/v1/alerts/AL00000000/status".into(),
            r#"{"status":"Closed"}"#,
        ),
        (
            "POST",
            "/api/v1/alerts/AL00000000/comments".into(),
            r#"{"text":"x"}"#,
        ),
        ("GET", "/api/v1/rules".into(), ""),
        (
            "POST",
            "/api/v1/rules/x/enabled".into(),
            r#"{"enabled":false}"#,
        ),
        ("POST", "/api/v1/rules/x/run".into(), "{}"),
        ("GET", "/api/v1/cti/sources".into(), ""),
        ("GET", "/api/v1/cti/indicators".into(), ""),
        (
            "POST",
            "/api/v1/cti/import?name=x".into(),
            r#"{"type":"bundle","objects":[]}"#,
        ),
        ("GET", "/api/v1/session".into(), ""),
        ("DELETE", "/api/v1/session".into(), ""),
        (
            "POST",
            "/api/v1/account/password".into(),
            r#"{"current":"a","new":"b"}"#,
        ),
        ("GET", "/api/v1/users".into(), ""),
        (
            "POST",
            "/api/v1/users".into(),
            r#"{"name":"x","role":"admin","password":"0123456789abc"}"#,
        ),
        (
            "PATCH",
            "/api/v1/users/admin".into(),
            r#"{"role":"read-only"}"#,
        ),
        ("DELETE", "/api/v1/users/admin".into(), ""),
        ("GET", "/api/v1/tokens".into(), ""),
        (
            "POST",
            "/api/v1/tokens".into(),
            r#"{"name":"x","role":"admin"}"#,
        ),
        ("DELETE", "/api/v1/tokens/x".into(), ""),
        ("GET", "/api/v1/events/fields".into(), ""),
        ("GET", "/api/v1/assignees".into(), ""),
        ("GET", "/api/v1/searches".into(), ""),
        (
            "POST",
            "/api/v1/searches".into(),
            r#"{"name":"x","query":"*","shared":true}"#,
        ),
        (
            "POST",
            "/api/v1/alerts/bulk".into(),
            r#"{"ids":["AL00000000"],"status":"Closed"}"#,
        ),
        (
            "POST",
            "/api/v1/alerts/AL00000000/assignee".into(),
            r#"{"assignee":"admin"}"#,
        ),
        ("GET", "/api/v1/rules/x/source".into(), ""),
        ("GET", "/api/v1/cti/feeds".into(), ""),
        (
            "POST",
            "/api/v1/cti/feeds".into(),
            r#"{"url":"https://feeds.example/stix","every":"1h"}"#,
        ),
        ("DELETE", "/api/v1/cti/feeds?url=x".into(), ""),
        (
            "POST",
            "/api/v1/cti/indicators".into(),
            r#"{"type":"domain-name","value":"pwned.example"}"#,
        ),
        ("POST", "/api/v1/cti/indicators/x/revoke".into(), ""),
        ("GET", "/v1/sic/conf/intakes".into(), ""),
        ("POST", "/v1/sic/conf/intakes".into(), r#"{"name":"x"}"#),
        ("GET", format!("/v1/sic/conf/intakes/{i}"), ""),
        (
            "PATCH",
            format!("/v1/sic/conf/intakes/{i}"),
            r#"{"status":"disabled"}"#,
        ),
        ("DELETE", format!("/v1/sic/conf/intakes/{i}"), ""),
        ("GET", "/v1/sic/conf/entities".into(), ""),
        ("POST", "/v1/sic/conf/entities".into(), r#"{"name":"x"}"#),
        ("GET", "/api/v1/alerts/throttles".into(), ""),
        ("GET", "/api/v1/alerts/AL00000000/runs".into(), ""),
        ("GET", "/api/v1/alerts/AL00000000/zia".into(), ""),
        ("POST", "/api/v1/alerts/AL00000000/zia/block".into(), "{}"),
        ("POST", "/api/v1/alerts/AL00000000/zia/unblock".into(), "{}"),
        ("GET", "/api/v1/rules/x".into(), ""),
        ("DELETE", "/api/v1/searches/x".into(), ""),
        ("GET", "/api/v1/cti".into(), ""),
    ]
}

/// The routes the server's source declares: `(method, path)` with `{}` for a path
/// parameter. The axum routes of the console, the server's wiring and the admin API, and the
/// routes the alert, rule, CTI and Zscaler-response handlers dispatch on behind their
/// wildcards. Public routes (the intake, health, the console's files) are left out.
fn declared_routes() -> Vec<(String, String)> {
    let src = |file: &str| {
        std::fs::read_to_string(format!("{}/../{file}", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    let mut out = Vec::new();
    for file in [
        "console/src/auth.rs",
        "console/src/api.rs",
        "ziaxdr/src/wiring.rs",
        "intake/src/http.rs",
    ] {
        let text = src(file);
        for (at, _) in text.match_indices(".route(") {
            let call = &text[at + ".route(".len()..];
            let Some(call) = call.trim_start().strip_prefix('"') else {
                continue;
            };
            let path = &call[..call.find('"').unwrap()];
            if !(path.starts_with("/api/") || path.starts_with("/v1/")) || path.contains("{*") {
                continue;
            }
            // The handlers, up to the call's closing parenthesis.
            let mut depth = 1;
            let end = call
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .unwrap()
                .0;
            let handlers = &call[..end];
            let path = generic(path);
            for (word, method) in [
                ("get(", "GET"),
                ("post(", "POST"),
                ("patch(", "PATCH"),
                ("delete(", "DELETE"),
                ("any(", "GET"),
            ] {
                let named = handlers
                    .match_indices(word)
                    .any(|(i, _)| i == 0 || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric());
                if named {
                    out.push((method.to_string(), path.clone()));
                }
            }
        }
    }
    // Behind the wildcards: `("METHOD", [segments])` arms, a segment being a literal or a
    // parameter.
    let detect = src("detect/src/api.rs");
    let section = |from: &str, to: &str| {
        let start = detect.find(from).unwrap_or_else(|| panic!("{from}"));
        let len = detect[start..].find(to).unwrap_or(detect.len() - start);
        detect[start..start + len].to_string()
    };
    for (prefix, body) in [
        (
            "/api/v1/alerts",
            section(
                "pub fn handle(\n    store: &mut AlertStore",
                "pub fn rules(",
            ),
        ),
        ("/api/v1/rules", section("RULES_PREFIX) else", "\npub fn ")),
        (
            "/api/v1/cti",
            section("pub fn handle_cti(", "\nfn indicator_text("),
        ),
    ] {
        for line in body.lines() {
            let line = line.trim_start();
            let Some(rest) = line.strip_prefix("(\"") else {
                continue;
            };
            let Some((method, rest)) = rest.split_once("\", [") else {
                continue;
            };
            let Some((segments, _)) = rest.split_once("])") else {
                continue;
            };
            let mut path = prefix.to_string();
            for seg in segments.split(", ").filter(|s| !s.is_empty()) {
                path.push('/');
                path.push_str(
                    seg.strip_prefix('"')
                        .and_then(|s| s.strip_suffix('"'))
                        .unwrap_or("{}"),
                );
            }
            out.push((method.to_string(), path));
        }
    }
    let zia = section("pub fn handle_zia(", "\n}\n");
    for line in zia.lines() {
        let line = line.trim_start();
        for method in ["GET", "POST"] {
            if let Some(rest) = line.strip_prefix(&format!("(\"{method}\", \"")) {
                let action = &rest[..rest.find('"').unwrap()];
                out.push((
                    method.to_string(),
                    format!("/api/v1/alerts/{{}}/zia{action}"),
                ));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `path` with each `{name}` parameter written `{}`.
fn generic(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// True when the concrete `path` (a query string ignored) is an instance of `pattern`.
fn instance_of(path: &str, pattern: &str) -> bool {
    let path = path.split('?').next().unwrap();
    let (a, b): (Vec<&str>, Vec<&str>) = (path.split('/').collect(), pattern.split('/').collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, p)| *p == "{}" || x == p)
}

#[test]
fn the_route_list_covers_every_route_of_the_router() {
    let declared = declared_routes();
    // Enough found that the reading of the source is not silently broken.
    assert!(declared.len() >= 50, "{declared:?}");
    let listed = api_routes("some-intake");
    let missing: Vec<_> = declared
        .iter()
        .filter(|(method, pattern)| {
            // Sign-in is public (its own tests cover it).
            let sign_in = method == "POST" && pattern == "/api/v1/session";
            let covered = listed
                .iter()
                .any(|(m, path, _)| m == method && instance_of(path, pattern));
            !sign_in && !covered
        })
        .collect();
    assert!(
        missing.is_empty(),
        "routes of the router missing from api_routes, so from the security tests: {missing:?}"
    );
}

const CONSOLE_PAGES: &[&str] = &[
    "/",
    "/console/",
    "/console/events?q=x",
    "/console/alerts",
    "/console/alerts/AL00000000",
    "/console/intakes",
    "/console/intakes/x",
    "/console/rules",
    "/console/rules/x",
    "/console/dashboards",
    "/console/dashboards/web",
    "/console/cti",
    "/console/settings",
];

#[test]
fn every_api_route_refuses_an_unauthenticated_request() {
    let s = start();
    for (method, path, body) in api_routes(&s.intake) {
        let r = request(
            s.server.http,
            method,
            &path,
            &[("content-type", "application/json")],
            body,
        );
        assert_eq!(
            r.status, 401,
            "{method} {path} answered {}: {}",
            r.status, r.body
        );
    }
}

#[test]
fn every_console_page_sends_an_unauthenticated_browser_to_sign_in() {
    let s = start();
    for page in CONSOLE_PAGES {
        let r = request(s.server.http, "GET", page, &[], "");
        assert!(
            r.status == 303 || r.status == 302 || r.status == 307,
            "{page} answered {}",
            r.status
        );
        let to = r.header("location").unwrap_or_default();
        assert!(
            to.starts_with("/console/login") || to == "/console/",
            "{page} redirects to {to}"
        );
        assert!(!r.body.contains("ziaxdr.intake"), "{page} leaked data");
    }
    // The sign-in page itself and its static files are served to anyone.
    assert_eq!(
        request(s.server.http, "GET", "/console/login", &[], "").status,
        200
    );
    assert_eq!(
        request(s.server.http, "GET", "/console/assets/app.js", &[], "").status,
        200
    );
}

#[test]
fn a_forged_or_expired_session_cookie_is_refused() {
    let s = start();
    let r = request(
        s.server.http,
        "GET",
        "/api/v1/overview",
        &[("cookie", "ziaxdr_session=forged-value")],
        "",
    );
    assert_eq!(r.status, 401);
    let r = request(
        s.server.http,
        "GET",
        "/api/v1/overview",
        &[("authorization", "Bearer zxt_not-a-token")],
        "",
    );
    assert_eq!(r.status, 401);
}

#[test]
fn a_read_only_user_can_read_but_cannot_change_anything() {
    let s = start();
    let r = s.admin.send(
        s.server.http,
        "POST",
        "/api/v1/users",
        r#"{"name":"auditor","role":"read-only","password":"read-only-pass-123"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let ro = Session::sign_in(s.server.http, "auditor", "read-only-pass-123");
    for path in [
        "/api/v1/overview",
        "/api/v1/intakes",
        "/api/v1/alerts",
        "/api/v1/rules",
    ] {
        let r = ro.send(s.server.http, "GET", path, "");
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    }
    let r = ro.send(
        s.server.http,
        "POST",
        "/api/v1/events/search",
        r#"{"query":"*"}"#,
    );
    assert_eq!(r.status, 200, "search: {}", r.body);
    // Exports are reading too.
    let r = ro.send(
        s.server.http,
        "POST",
        "/api/v1/events/export",
        r#"{"query":"*","format":"csv"}"#,
    );
    assert_eq!(r.status, 200, "export: {}", r.body);
    // Streamed (chunked): the header row is in the first chunk.
    assert!(r.body.contains("@timestamp,event.dataset,"), "{}", r.body);
    assert_eq!(r.header("x-ziaxdr-export-total"), Some("0"));
    let r = ro.send(s.server.http, "GET", "/api/v1/alerts/export?format=csv", "");
    assert_eq!(r.status, 200, "alert export: {}", r.body);
    assert!(r.body.starts_with("id,uuid,title,status"), "{}", r.body);
    for (method, path, body) in api_routes(&s.intake) {
        // Deleting a saved search is for its owner, read-only or not (another user's is
        // refused: see the next test).
        let reading = method == "GET"
            || path.starts_with("/api/v1/events/")
            || path == "/api/v1/session"
            || path == "/api/v1/account/password"
            || (method == "DELETE" && path.starts_with("/api/v1/searches/"));
        if reading {
            continue;
        }
        let r = ro.send(s.server.http, method, &path, body);
        assert_eq!(
            r.status, 403,
            "read-only {method} {path} answered {}: {}",
            r.status, r.body
        );
    }
    // Nothing changed: the intake is still enabled, no user or token was added, no search
    // shared, no CTI source or indicator added.
    let shared = s.admin.send(s.server.http, "GET", "/api/v1/searches", "");
    assert_eq!(
        shared.json()["items"],
        serde_json::json!([]),
        "{}",
        shared.body
    );
    let feeds = s.admin.send(s.server.http, "GET", "/api/v1/cti/feeds", "");
    assert_eq!(
        feeds.json()["items"],
        serde_json::json!([]),
        "{}",
        feeds.body
    );
    let inds = s
        .admin
        .send(s.server.http, "GET", "/api/v1/cti/indicators?q=pwned", "");
    assert_eq!(inds.json()["total"], 0, "{}", inds.body);
    let v: serde_json::Value = serde_json::from_str(
        &s.admin
            .send(s.server.http, "GET", "/api/v1/intakes", "")
            .body,
    )
    .unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["items"][0]["status"], "enabled");
}

#[test]
fn a_read_only_user_keeps_personal_searches_but_cannot_delete_another_users() {
    let s = start();
    let r = s.admin.send(
        s.server.http,
        "POST",
        "/api/v1/users",
        r#"{"name":"auditor","role":"read-only","password":"read-only-pass-123"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let ro = Session::sign_in(s.server.http, "auditor", "read-only-pass-123");
    let mine = ro.send(
        s.server.http,
        "POST",
        "/api/v1/searches",
        r#"{"name":"mine","query":"event.dataset:dns","since":"24h"}"#,
    );
    assert_eq!(mine.status, 201, "{}", mine.body);
    let theirs = s.admin.send(
        s.server.http,
        "POST",
        "/api/v1/searches",
        r#"{"name":"team","query":"*","shared":true}"#,
    );
    assert_eq!(theirs.status, 201, "{}", theirs.body);
    let id = theirs.json()["id"].as_str().unwrap().to_string();
    let r = ro.send(
        s.server.http,
        "DELETE",
        &format!("/api/v1/searches/{id}"),
        "",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let listed = ro.send(s.server.http, "GET", "/api/v1/searches", "").json();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mine", "team"]);
}

#[test]
fn a_disabled_user_is_signed_out_at_once() {
    let s = start();
    let r = s.admin.send(
        s.server.http,
        "POST",
        "/api/v1/users",
        r#"{"name":"leaver","role":"analyst","password":"analyst-pass-1234"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let leaver = Session::sign_in(s.server.http, "leaver", "analyst-pass-1234");
    assert_eq!(
        leaver
            .send(s.server.http, "GET", "/api/v1/overview", "")
            .status,
        200
    );
    let r = s.admin.send(
        s.server.http,
        "PATCH",
        "/api/v1/users/leaver",
        r#"{"disabled":true}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["disabled"], true);
    assert_eq!(
        leaver
            .send(s.server.http, "GET", "/api/v1/overview", "")
            .status,
        401
    );
    let again = request(
        s.server.http,
        "POST",
        "/api/v1/session",
        &[("content-type", "application/json")],
        r#"{"user":"leaver","password":"analyst-pass-1234"}"#,
    );
    assert_eq!(again.status, 401, "{}", again.body);
}

#[test]
fn an_admin_cannot_disable_themselves() {
    let s = start();
    let r = s.admin.send(
        s.server.http,
        "PATCH",
        "/api/v1/users/admin",
        r#"{"disabled":true}"#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn an_analyst_cannot_register_a_cti_source() {
    let s = start();
    let r = s.admin.send(
        s.server.http,
        "POST",
        "/api/v1/users",
        r#"{"name":"ana","role":"analyst","password":"analyst-pass-1234"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let ana = Session::sign_in(s.server.http, "ana", "analyst-pass-1234");
    // The server would fetch the URL with the token of one of its environment variables.
    let r = ana.send(
        s.server.http,
        "POST",
        "/api/v1/cti/feeds",
        r#"{"url":"https://attacker.example/","every":"1h","token_env":"AWS_SECRET_ACCESS_KEY"}"#,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // Adding an indicator by hand is triage: allowed.
    let r = ana.send(
        s.server.http,
        "POST",
        "/api/v1/cti/indicators",
        r#"{"type":"domain-name","value":"c2.example"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn cross_site_requests_to_every_changing_route_are_rejected() {
    let s = start();
    // The admin's browser attaches the cookie to a form or fetch from another site.
    let forged = [
        ("cookie", s.admin.cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "http://evil.example"),
    ];
    let mut checked = 0;
    for (method, path, _) in api_routes(&s.intake) {
        // The admin API takes the admin token only (no cookie); sign-out changes nothing
        // of the victim's but their own session.
        if method == "GET" || path.starts_with("/v1/sic/") || path == "/api/v1/session" {
            continue;
        }
        let r = request(s.server.http, method, &path, &forged, "x=1");
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        checked += 1;
    }
    assert!(checked >= 25, "{checked} routes checked");
    // Still the admin, still one intake, enabled.
    let me = s.admin.send(s.server.http, "GET", "/api/v1/session", "");
    assert_eq!(me.json()["role"], "admin");
    let v = s
        .admin
        .send(s.server.http, "GET", "/api/v1/intakes", "")
        .json();
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["items"][0]["status"], "enabled");
}

#[test]
fn a_cross_site_form_post_is_rejected() {
    let s = start();
    // The victim is signed in: the browser would attach the cookie, but a form on another
    // site can neither read the CSRF token nor send JSON.
    let forged = [
        ("cookie", s.admin.cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "http://evil.example"),
    ];
    let r = request(
        s.server.http,
        "POST",
        "/api/v1/intakes",
        &forged,
        "name=pwned",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = request(
        s.server.http,
        "POST",
        &format!("/api/v1/intakes/{}/rotate", s.intake),
        &forged,
        "",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = request(
        s.server.http,
        "POST",
        "/api/v1/events/export",
        &forged,
        "query=*",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // Even with a stolen CSRF token, a foreign origin is refused.
    let r = request(
        s.server.http,
        "POST",
        "/api/v1/intakes",
        &[
            ("cookie", s.admin.cookie.as_str()),
            ("x-csrf-token", s.admin.csrf.as_str()),
            ("content-type", "application/json"),
            ("origin", "http://evil.example"),
        ],
        r#"{"name":"pwned"}"#,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // A form cannot sign anyone in either (login CSRF).
    let r = request(
        s.server.http,
        "POST",
        "/api/v1/session",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", "http://evil.example"),
        ],
        "user=admin&password=x",
    );
    assert_eq!(r.status, 415, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(
        &s.admin
            .send(s.server.http, "GET", "/api/v1/intakes", "")
            .body,
    )
    .unwrap();
    assert_eq!(
        v["items"].as_array().unwrap().len(),
        1,
        "an intake was created"
    );
}

#[test]
fn the_session_cookie_is_http_only_and_same_site() {
    let s = start();
    let r = request(
        s.server.http,
        "POST",
        "/api/v1/session",
        &[("content-type", "application/json")],
        &serde_json::json!({"user": "admin", "password": s.password}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r.header("set-cookie").unwrap().to_ascii_lowercase();
    assert!(cookie.contains("httponly"), "{cookie}");
    assert!(cookie.contains("samesite=strict"), "{cookie}");
}

#[test]
fn a_wrong_password_gets_no_session() {
    let s = start();
    let r = request(
        s.server.http,
        "POST",
        "/api/v1/session",
        &[("content-type", "application/json")],
        r#"{"user":"admin","password":"wrong-password-123"}"#,
    );
    assert_eq!(r.status, 401);
    assert!(r.header("set-cookie").is_none());
}

#[test]
fn console_pages_forbid_outside_requests_by_policy() {
    let s = start();
    let r = request(s.server.http, "GET", "/console/login", &[], "");
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("http"), "{csp}");
}

#[test]
fn a_failed_sign_in_is_logged_with_the_user_and_address_and_never_the_password() {
    let s = start();
    let wrong = "Wrong-Passw0rd-7c1f";
    let r = request(
        s.server.http,
        "POST",
        "/api/v1/session",
        &[("content-type", "application/json")],
        &serde_json::json!({"user": "admin", "password": wrong}).to_string(),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log: Vec<String> = s.server.log.lock().unwrap().iter().cloned().collect();
        assert!(
            log.iter().all(|l| !l.contains(wrong)),
            "the password was logged"
        );
        let logged = log.iter().any(|l| {
            l.contains("failed sign-in") && l.contains("admin") && l.contains("127.0.0.1")
        });
        if logged {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed sign-in in the log: {log:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
