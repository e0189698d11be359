//! CTI across the nodes of a cluster: with `--postgres`, the indicators live in PostgreSQL, so
//! an indicator imported through one node's REST API reaches the matcher of every other node
//! (each reloads on a new CTI version), and an event ingested by another node raises a CTI
//! alert that every node lists. Two `serve --postgres` nodes, each with detection and its own
//! event store; PostgreSQL from `.ci/postgres.sh`.

mod intake_common;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use intake_common::{console_password, Scratch, Serve, Session};
use serde_json::{json, Value};

/// A node with detection on the shared database, and the lines it prints on stdout.
fn node(data: &Path, url: &str) -> (Serve, mpsc::Receiver<String>) {
    Serve::spawn_capturing(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--syslog",
        "127.0.0.1:0",
        "--postgres",
        url,
    ])
}

/// The CTI alerts `node` lists.
fn cti_alerts(node: &Serve, admin: &Session) -> Vec<Value> {
    let r = admin.send(node.http, "GET", "/api/v1/alerts", "");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["rule"]["type"] == "cti")
        .collect()
}

#[test]
fn an_indicator_imported_through_one_node_raises_a_cti_alert_on_an_event_ingested_by_the_other() {
    let url = pgstate::testing::fresh_database("cluster_cti");
    let dir = Scratch::new("cluster-cti");
    let (_, key) = intake_common::create_intake_with(&["--postgres", &url]);
    let (a, out) = node(&dir.0.join("a"), &url);
    let admin = Session::sign_in(a.http, "admin", &console_password(&out));
    let (b, _) = node(&dir.0.join("b"), &url);
    assert!(cti_alerts(&b, &admin).is_empty());

    // The indicator goes in through node a's REST API only.
    let domain = "c2-cluster-cti.example";
    let r = admin.send(
        a.http,
        "POST",
        "/api/v1/cti/indicators",
        &json!({"type": "domain-name", "value": domain}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Node b's API sees it at once (same store).
    let r = admin.send(b.http, "GET", "/api/v1/cti/indicators", "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(domain), "{}", r.body);

    // An event to that domain, ingested by node b only, seen now (an indicator is valid
    // from its import on; b matches it live once it reloaded, or by the retrohunt of its
    // reload when the event came first).
    let datetime = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S");
    let batch = format!(
        r#"{{"sourcetype":"zscalernss-web","event":{{"datetime":"{datetime}","ClientIP":"10.1.1.9","url":"{domain}/beacon","hostname":"{domain}","action":"Allowed","login":"johndoe"}}}}"#
    );
    let sent = intake_common::http(
        b.http,
        "POST",
        "/plain/batch?status_code=200",
        &[("X-SEKOIAIO-INTAKE-KEY", &key)],
        batch.as_bytes(),
    )
    .unwrap();
    assert_eq!(sent.status, 200, "{:?}", sent.body);

    // Node b's detection raises the CTI alert; both nodes list it (one alert store).
    let deadline = Instant::now() + Duration::from_secs(30);
    let alerts = loop {
        let on_b = cti_alerts(&b, &admin);
        if !on_b.is_empty() {
            break on_b;
        }
        assert!(
            Instant::now() < deadline,
            "no CTI alert for the event node b ingested"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].to_string().contains(domain), "{:?}", alerts[0]);
    assert_eq!(cti_alerts(&a, &admin).len(), 1);
}
