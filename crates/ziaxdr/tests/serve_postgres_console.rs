//! `ziaxdr serve --postgres`: the console's accounts, sessions and API tokens live in
//! PostgreSQL, so any node serves the console and the REST API. A session made on one node is
//! valid on the other, a user disabled on one is refused on the other at once, and an API
//! token made on one authenticates on the other. Alerts too: one ingested by a worker is listed
//! by every node, and triage on one node or with `ziaxdr alerts --postgres` is seen on all.

mod intake_common;

use std::path::Path;
use std::sync::mpsc;

use intake_common::{console_password, request, Scratch, Serve, Session};
use serde_json::json;

/// A node on the shared database, with the lines it prints on stdout.
fn node(data: &Path, url: &str) -> (Serve, mpsc::Receiver<String>) {
    node_with(data, url, &["--no-detection"])
}

/// [`node`] with these extra arguments.
fn node_with(data: &Path, url: &str, extra: &[&str]) -> (Serve, mpsc::Receiver<String>) {
    let output = data.join("events.ndjson");
    let mut args = vec![
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--syslog",
        "127.0.0.1:0",
        "--output",
        output.to_str().unwrap(),
        "--postgres",
        url,
    ];
    args.extend_from_slice(extra);
    Serve::spawn_capturing(&args)
}

/// Two nodes on one fresh database, and the admin password the first one printed.
fn two_nodes(tag: &str) -> (Scratch, Serve, Serve, String) {
    let url = pgstate::testing::fresh_database(tag);
    let dir = Scratch::new(tag);
    let (a, out) = node(&dir.0.join("a"), &url);
    // The first node creates the console's admin (and prints its password); the second
    // finds it there.
    let password = console_password(&out);
    let (b, _) = node(&dir.0.join("b"), &url);
    (dir, a, b, password)
}

/// Who a session cookie signs in as on `node`, or the status when refused.
fn whoami(node: &Serve, s: &Session) -> Result<String, u16> {
    let r = s.send(node.http, "GET", "/api/v1/session", "");
    if r.status != 200 {
        return Err(r.status);
    }
    Ok(r.json()["user"].as_str().unwrap_or_default().to_string())
}

const ANN_PASSWORD: &str = "ann's long password";

fn create_ann(node: &Serve, admin: &Session) {
    let r = admin.send(
        node.http,
        "POST",
        "/api/v1/users",
        &json!({"name": "ann", "role": "analyst", "password": ANN_PASSWORD}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn a_session_made_on_one_node_is_valid_on_the_other() {
    let (_dir, a, b, password) = two_nodes("console_sessions");
    let admin = Session::sign_in(a.http, "admin", &password);
    assert_eq!(whoami(&b, &admin), Ok("admin".to_string()));
    // A user created on one node signs in on the other, and that session is good on both.
    create_ann(&b, &admin);
    let ann = Session::sign_in(a.http, "ann", ANN_PASSWORD);
    assert_eq!(whoami(&b, &ann), Ok("ann".to_string()));
    // Signing out on one node ends the session on the other.
    let r = ann.send(b.http, "DELETE", "/api/v1/session", "");
    assert!(r.status < 300, "{} {}", r.status, r.body);
    assert_eq!(whoami(&a, &ann), Err(401));
}

#[test]
fn a_user_disabled_on_one_node_is_refused_on_the_other() {
    let (_dir, a, b, password) = two_nodes("console_disabled");
    let admin = Session::sign_in(a.http, "admin", &password);
    create_ann(&a, &admin);
    let ann = Session::sign_in(b.http, "ann", ANN_PASSWORD);
    assert_eq!(whoami(&b, &ann), Ok("ann".to_string()));
    let r = admin.send(
        a.http,
        "PATCH",
        "/api/v1/users/ann",
        &json!({"disabled": true}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // At once, nothing cached: her session and a new sign-in are refused on the other node.
    assert_eq!(whoami(&b, &ann), Err(401));
    let r = request(
        b.http,
        "POST",
        "/api/v1/session",
        &[("content-type", "application/json")],
        &json!({"user": "ann", "password": ANN_PASSWORD}).to_string(),
    );
    assert_eq!(r.status, 401, "{}", r.body);
}

#[test]
fn an_api_token_made_on_one_node_authenticates_on_the_other() {
    let (_dir, a, b, password) = two_nodes("console_tokens");
    let admin = Session::sign_in(a.http, "admin", &password);
    let r = admin.send(
        a.http,
        "POST",
        "/api/v1/tokens",
        &json!({"name": "export", "role": "read-only"}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let secret = v["secret"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {secret}");
    let r = request(
        b.http,
        "GET",
        "/api/v1/tokens",
        &[("authorization", &bearer)],
        "",
    );
    // Read-only may not list tokens (admin only): 403 says it was recognised, 401 would not.
    assert_eq!(r.status, 403, "{}", r.body);
    let r = request(
        b.http,
        "GET",
        "/api/v1/assignees",
        &[("authorization", &bearer)],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn the_console_answers_503_while_postgres_is_down_and_recovers_by_itself() {
    // A server of this test's own, so stopping it disturbs no other test.
    let mut server = pgstate::testing::TestServer::start().unwrap();
    let url = pgstate::testing::fresh_database_on(&server.url(), "console_outage");
    let dir = Scratch::new("console-outage");
    let (a, out) = node(&dir.0.join("a"), &url);
    let admin = Session::sign_in(a.http, "admin", &console_password(&out));
    server.stop();
    let r = admin.send(a.http, "GET", "/api/v1/session", "");
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    server.resume().unwrap();
    // The session was in PostgreSQL all along: it is good again once the server is back.
    let start = std::time::Instant::now();
    while whoami(&a, &admin) != Ok("admin".to_string()) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "the session never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `ziaxdr rules list --json` against `data` (and PostgreSQL when given): one object a rule.
fn rules_list(data: &Path, url: Option<&str>) -> Vec<serde_json::Value> {
    let mut args = vec!["rules", "list", "--json", "--data", data.to_str().unwrap()];
    if let Some(u) = url {
        args.extend_from_slice(&["--postgres", u]);
    }
    let (code, out) = intake_common::cli(&args);
    assert_eq!(code, 0, "{out}");
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn enabled(rules: &[serde_json::Value], id: &str) -> bool {
    rules
        .iter()
        .find(|r| r["id"] == id)
        .and_then(|r| r["enabled"].as_bool())
        .unwrap()
}

#[test]
fn a_rule_disabled_with_the_cli_is_disabled_for_every_node_of_the_cluster() {
    let url = pgstate::testing::fresh_database("rules_cli");
    let dir = Scratch::new("rules-postgres");
    let (one, other) = (dir.0.join("one"), dir.0.join("other"));
    let id = rules_list(&one, None)
        .iter()
        .find_map(|r| r["id"].as_str().filter(|s| !s.is_empty()).map(String::from))
        .expect("the shipped pack has rules");
    let (code, out) = intake_common::cli(&[
        "rules",
        "disable",
        &id,
        "--data",
        one.to_str().unwrap(),
        "--postgres",
        &url,
    ]);
    assert_eq!(code, 0, "{out}");
    // Another host's CLI and a node's REST API, on the same PostgreSQL, see it disabled;
    // a data directory without PostgreSQL knows nothing of it.
    assert!(!enabled(&rules_list(&other, Some(&url)), &id));
    assert!(enabled(&rules_list(&one, None), &id));
    // With detection: its rule state is PostgreSQL's too.
    let (node, out) = node_with(&dir.0.join("node"), &url, &[]);
    let admin = Session::sign_in(node.http, "admin", &console_password(&out));
    let r = admin.send(node.http, "GET", "/api/v1/rules", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.json()["items"].as_array().unwrap().clone();
    assert!(!enabled(&items, &id));
    // Enabled again through that node's API: the CLI of another host sees it at once.
    let r = admin.send(
        node.http,
        "POST",
        &format!("/api/v1/rules/{id}/enabled"),
        &json!({"enabled": true}).to_string(),
    );
    assert!(r.status < 300, "{} {}", r.status, r.body);
    assert!(enabled(&rules_list(&other, Some(&url)), &id));
}

/// `ziaxdr alerts <args> --data DATA --postgres URL`: its exit code and output.
fn alerts_cli(args: &[&str], data: &Path, url: &str) -> (i32, String) {
    let mut all = vec!["alerts"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data", data.to_str().unwrap(), "--postgres", url]);
    intake_common::cli(&all)
}

/// Opens one alert in the cluster's PostgreSQL, as a worker would; returns its short id.
fn alert_of_a_worker(url: &str) -> String {
    let pg = pgstate::Pg::connect(&pgstate::PgConfig::new(url.to_string())).unwrap();
    let mut worker = detect::AlertManager::with_store(detect::AlertStore::postgres(&pg).unwrap());
    let m = detect::Match {
        rule: detect::RuleRef {
            id: "r-cluster".into(),
            name: "Cluster rule".into(),
            author: None,
            severity: "high".into(),
            kind: detect::RuleType::Sigma,
        },
        urgency: 80,
        description: None,
        timestamp: detect::chrono::Utc::now(),
        entity: "default".into(),
        source: Some("alice".into()),
        target: Some("evil.example".into()),
        source_ip: Some("10.0.0.1".into()),
        destination_ip: None,
        dns_name: None,
        dataset: Some("web".into()),
        event_ids: vec!["ev-cluster-1".into()],
        group_key: vec![],
        alert_group: vec![],
        alert_window_secs: None,
        user: Some("alice".into()),
        correlation: false,
        retrohunt: false,
        details: serde_json::Value::Null,
    };
    match worker.ingest(&m).unwrap() {
        detect::AlertChange::Created(a) => a.short_id,
        other => panic!("no alert created: {other:?}"),
    }
}

#[test]
fn an_alert_of_the_cluster_is_triaged_on_one_node_and_seen_on_the_other_and_by_the_cli() {
    let url = pgstate::testing::fresh_database("alerts_nodes");
    let dir = Scratch::new("alerts-postgres");
    let (a, out) = node(&dir.0.join("a"), &url);
    let admin = Session::sign_in(a.http, "admin", &console_password(&out));
    let (b, _) = node(&dir.0.join("b"), &url);
    let id = alert_of_a_worker(&url);
    // Each node lists it, though neither ingested it.
    for n in [&a, &b] {
        let r = admin.send(n.http, "GET", "/api/v1/alerts", "");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["total"], 1, "{}", r.body);
    }
    let r = admin.send(
        a.http,
        "POST",
        &format!("/api/v1/alerts/{id}/status"),
        &json!({"status": "Acknowledged"}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin.send(b.http, "GET", &format!("/api/v1/alerts/{id}"), "");
    assert_eq!(r.json()["status"], "Acknowledged", "{}", r.body);
    // Another host's CLI sees and changes the same alert; the nodes see its change.
    let elsewhere = dir.0.join("cli");
    let (code, shown) = alerts_cli(&["show", &id, "--json"], &elsewhere, &url);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("\"Acknowledged\""), "{shown}");
    let (code, out) = alerts_cli(&["status", &id, "Ongoing"], &elsewhere, &url);
    assert_eq!(code, 0, "{out}");
    let r = admin.send(a.http, "GET", &format!("/api/v1/alerts/{id}"), "");
    assert_eq!(r.json()["status"], "Ongoing", "{}", r.body);
    // A data directory without PostgreSQL has no alert of the cluster.
    let (code, listed) =
        intake_common::cli(&["alerts", "list", "--data", elsewhere.to_str().unwrap()]);
    assert_eq!(code, 0, "{listed}");
    assert!(!listed.contains(&id), "{listed}");
}

#[test]
fn an_alert_raised_by_one_node_s_detection_is_listed_by_another_node() {
    let url = pgstate::testing::fresh_database("alerts_detect");
    let dir = Scratch::new("alerts-detect-postgres");
    let (_, key) = intake_common::create_intake_with(&["--postgres", &url]);
    // Node a runs detection; node b does not, and shows what a's detection raised.
    let (a, out) = node_with(&dir.0.join("a"), &url, &[]);
    let admin = Session::sign_in(a.http, "admin", &console_password(&out));
    let (b, _) = node(&dir.0.join("b"), &url);
    let batch = r#"{"sourcetype":"zscalernss-web","event":{"datetime":"2024-05-01 10:00:00","ClientIP":"10.1.1.5","url":"api.telegram.org/bot1:AAE/sendDocument","hostname":"api.telegram.org","action":"Allowed","login":"johndoe"}}"#;
    let sent = intake_common::http(
        a.http,
        "POST",
        "/plain/batch?status_code=200",
        &[("X-SEKOIAIO-INTAKE-KEY", &key)],
        batch.as_bytes(),
    )
    .unwrap();
    assert_eq!(sent.status, 200, "{:?}", sent.body);
    let start = std::time::Instant::now();
    loop {
        let r = admin.send(b.http, "GET", "/api/v1/alerts", "");
        assert_eq!(r.status, 200, "{}", r.body);
        if r.json()["total"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(15),
            "node b shows no alert of node a's detection: {}",
            r.body
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
