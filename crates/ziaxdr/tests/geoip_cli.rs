//! `--geoip FILE.mmdb` on `serve` and `parse`: events carry `source.geo.*` and
//! `destination.geo.*` from a MaxMind DB the test writes.

mod intake_common;
#[path = "../../intake/tests/common/mmdb.rs"]
#[allow(dead_code)]
mod mmdb;

use std::io::Write;
use std::process::{Command, Stdio};

use intake_common::*;

const RECORD: &str = r#"{"sourcetype":"zscalernss-web","event":{"datetime":"2026-12-06 10:42:00","action":"Allowed","ClientIP":"10.0.0.1","clientpublicIP":"81.2.3.4","serverip":"45.33.7.7","hostname":"example.com","url":"example.com/","event_id":"77"}}"#;

fn database(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("test-city.mmdb");
    std::fs::write(&p, mmdb::sample()).unwrap();
    p
}

#[test]
fn parse_with_geoip_locates_the_client_by_its_public_address_and_the_server() {
    let dir = Scratch::new("geoip-parse");
    let db = database(&dir.0);
    let mut child = Command::new(BIN)
        .args(["parse", "--geoip", db.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(RECORD.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev["source"]["geo"]["city_name"], "Paris", "{ev}");
    assert_eq!(ev["destination"]["geo"]["country_iso_code"], "DE", "{ev}");
}

#[test]
fn parse_with_a_file_that_is_not_a_database_fails_naming_it() {
    let dir = Scratch::new("geoip-bad");
    let bad = dir.0.join("bad.mmdb");
    std::fs::write(&bad, b"nope").unwrap();
    let out = Command::new(BIN)
        .args(["parse", "--geoip", bad.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.mmdb"));
}

#[test]
fn serve_with_geoip_stores_located_events() {
    let dir = Scratch::new("geoip-serve");
    let data = dir.0.join("data");
    let db = database(&dir.0);
    let (_, key) = create_intake(&data);
    let server = Serve::start(&data, &["--geoip", db.to_str().unwrap()]);
    let r = http(
        server.http,
        "POST",
        "/plain/batch?status_code=200",
        &[("X-SEKOIAIO-INTAKE-KEY", key.as_str())],
        RECORD.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let events = wait_sink(&data, 1);
    assert_eq!(server.terminate().0, 0);
    let ev = &events[0]["event"];
    assert_eq!(ev["source"]["geo"]["city_name"], "Paris", "{ev}");
    assert_eq!(ev["source"]["geo"]["location"]["lat"], 48.86, "{ev}");
    assert_eq!(ev["destination"]["geo"]["city_name"], "Berlin", "{ev}");
}
