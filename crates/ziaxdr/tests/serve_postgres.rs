//! `ziaxdr serve --postgres`: two nodes share one registry in PostgreSQL. A key created or
//! rotated with `ziaxdr intake … --postgres` works (or stops working) on both within
//! seconds, and a node whose PostgreSQL stops keeps accepting the keys it has cached while
//! `/readyz` names the missing dependency.

mod intake_common;

use intake_common::{cli, http, Scratch, Serve};
use serde_json::Value;
use std::time::{Duration, Instant};

const BATCH: &str = r#"{"sourcetype":"zscalernss-web","event":{"datetime":"2024-05-01 10:00:00","ClientIP":"10.0.0.1","url":"a.example.com/x","action":"Blocked"}}"#;

fn post(node: &Serve, key: &str) -> u16 {
    http(
        node.http,
        "POST",
        "/plain/batch?status_code=200",
        &[("X-SEKOIAIO-INTAKE-KEY", key)],
        BATCH.as_bytes(),
    )
    .unwrap()
    .status
}

/// Waits (at most 5 s) until `node` answers `want` for `key`.
fn eventually(node: &Serve, key: &str, want: u16) {
    let start = Instant::now();
    loop {
        let got = post(node, key);
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still {got} instead of {want} after 5 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn intake_cli(args: &[&str], url: &str) -> Value {
    let mut a = vec!["intake"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--postgres", url, "--json"]);
    let (code, out) = cli(&a);
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(out.trim()).unwrap()
}

#[test]
fn a_key_created_and_rotated_through_the_cli_takes_effect_on_both_nodes() {
    let url = pgstate::testing::fresh_database("serve_nodes");
    let dir = Scratch::new("serve-postgres");
    let a = Serve::start(&dir.0.join("a"), &["--no-detection", "--postgres", &url]);
    let b = Serve::start(&dir.0.join("b"), &["--no-detection", "--postgres", &url]);
    let created = intake_cli(&["create", "--name", "cluster feed"], &url);
    let (uuid, key) = (
        created["uuid"].as_str().unwrap().to_string(),
        created["intake_key"].as_str().unwrap().to_string(),
    );
    eventually(&a, &key, 200);
    eventually(&b, &key, 200);
    let rotated = intake_cli(&["rotate", &uuid], &url);
    let new_key = rotated["intake_key"].as_str().unwrap().to_string();
    eventually(&a, &new_key, 200);
    eventually(&b, &new_key, 200);
    assert_eq!(post(&a, &key), 401);
    assert_eq!(post(&b, &key), 401);
    // One registry: both nodes and the CLI list the same intakes (the first node's default
    // one, created at its first start, and this one).
    let list = intake_cli(&["list"], &url);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    a.kill();
    b.kill();
}

#[test]
fn a_node_keeps_accepting_cached_keys_while_postgres_is_down() {
    // A server of this test's own, so stopping it disturbs no other test.
    let mut server = pgstate::testing::TestServer::start().unwrap();
    let url = pgstate::testing::fresh_database_on(&server.url(), "serve_outage");
    let dir = Scratch::new("serve-postgres-down");
    let node = Serve::start(&dir.0.join("a"), &["--no-detection", "--postgres", &url]);
    let created = intake_cli(&["create"], &url);
    let key = created["intake_key"].as_str().unwrap().to_string();
    eventually(&node, &key, 200);
    assert_eq!(
        http(node.http, "GET", "/readyz", &[], b"").unwrap().status,
        200
    );

    server.stop();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        assert_eq!(post(&node, &key), 200, "a cached key was refused");
        std::thread::sleep(Duration::from_millis(200));
    }
    let ready = http(node.http, "GET", "/readyz", &[], b"").unwrap();
    assert_eq!(ready.status, 503);
    assert!(
        ready.body.to_string().contains("postgres"),
        "{:?}",
        ready.body
    );

    server.resume().unwrap();
    let start = Instant::now();
    while http(node.http, "GET", "/readyz", &[], b"").unwrap().status != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never ready again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(post(&node, &key), 200);
    node.kill();
}

#[test]
fn an_entity_created_with_the_cli_on_one_host_is_listed_from_another() {
    let url = pgstate::testing::fresh_database("entity_cli");
    let dir = Scratch::new("entity-postgres");
    let (one, other) = (dir.0.join("one"), dir.0.join("other"));
    let (code, out) = cli(&[
        "entity",
        "create",
        "branch-office",
        "--data",
        one.to_str().unwrap(),
        "--postgres",
        &url,
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    let (code, out) = cli(&[
        "entity",
        "list",
        "--data",
        other.to_str().unwrap(),
        "--postgres",
        &url,
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let list: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|e| e["uuid"] == created["uuid"] && e["name"] == "branch-office"),
        "{list}"
    );
    // A name is unique across the cluster, whichever host asks.
    let (code, _) = cli(&[
        "entity",
        "create",
        "branch-office",
        "--data",
        other.to_str().unwrap(),
        "--postgres",
        &url,
    ]);
    assert_eq!(code, 2);
}
