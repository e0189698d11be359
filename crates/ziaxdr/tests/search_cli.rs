//! `ziaxdr search` end to end: a store written through the library, read by the binary.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use store::{EventStore, StoreConfig, TantivyStore};

fn events() -> Vec<Value> {
    vec![
        json!({"@timestamp": "2024-05-01T10:00:00Z", "event": {"dataset": "web", "action": "blocked"},
               "source": {"ip": "10.1.2.3"}, "url": {"domain": "evil.example.ru"}, "user": {"name": "alice"},
               "http": {"response": {"bytes": 1200}}}),
        json!({"@timestamp": "2024-05-01T11:00:00Z", "event": {"dataset": "web", "action": "allowed"},
               "source": {"ip": "10.1.9.9"}, "url": {"domain": "www.example.com"}, "user": {"name": "bob"},
               "http": {"response": {"bytes": 34}, "request": {"bytes": 5000}}}),
        json!({"@timestamp": "2024-05-02T09:00:00Z", "event": {"dataset": "dns"},
               "source": {"ip": "2001:db8::7"}, "dns": {"question": {"name": "evil.example.ru"}}, "user": {"name": "alice"}}),
    ]
}

/// A data directory with the events committed in `DIR/store`.
fn data_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path().join("store"), StoreConfig::default()).unwrap();
    for (i, e) in events().into_iter().enumerate() {
        let Value::Object(m) = e else { unreachable!() };
        s.add(i as u64, &m).unwrap();
    }
    s.commit().unwrap();
    d
}

fn search(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ziaxdr"))
        .arg("search")
        .args(args)
        .args(["--from", "2024-04-30", "--to", "2024-05-03", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn json_prints_one_event_per_line_newest_first() {
    let d = data_dir();
    let (code, out, _) = search(d.path(), &["user.name:alice", "--json"]);
    assert_eq!(code, 0);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["event"]["dataset"], "dns");
    assert_eq!(lines[1]["event"]["dataset"], "web");
}

#[test]
fn count_json_prints_a_count_object() {
    let d = data_dir();
    let (code, out, _) = search(d.path(), &["source.ip:10.0.0.0/8", "--count", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), r#"{"count":2}"#);
}

#[test]
fn table_shows_selected_fields_as_columns() {
    let d = data_dir();
    let (code, out, _) = search(
        d.path(),
        &["*", "--fields", "user.name,source.ip", "--table"],
    );
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        vec!["user.name", "source.ip"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        vec!["alice", "2001:db8::7"]
    );
    assert_eq!(lines.len(), 4);
}

#[test]
fn limit_caps_the_number_of_events() {
    let d = data_dir();
    let (_, out, _) = search(d.path(), &["*", "--json", "--limit", "1"]);
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn top_counts_values_of_a_field() {
    let d = data_dir();
    let (code, out, _) = search(d.path(), &["*", "--top", "user.name", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["values"][0], json!({"value": "alice", "count": 2}));
    assert_eq!(v["values"][1], json!({"value": "bob", "count": 1}));
}

#[test]
fn top_by_sum_ranks_values_by_the_bytes_of_their_events() {
    let d = data_dir();
    let by_sum = ["--by-sum", "http.response.bytes,http.request.bytes"];
    let (code, out, err) = search(
        d.path(),
        &[&["*", "--top", "user.name", "--json"][..], &by_sum].concat(),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    // By count alice leads (2 events); by bytes bob's one transfer does.
    assert_eq!(
        v["values"],
        json!([{"value": "bob", "sum": 5034, "count": 1}, {"value": "alice", "sum": 1200, "count": 2}])
    );
    let (code, out, _) = search(
        d.path(),
        &[&["*", "--top", "user.name", "--size", "1"][..], &by_sum].concat(),
    );
    assert_eq!(code, 0);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["user.name", "sum", "count"],
            vec!["bob", "5034", "1"],
            vec!["(other)", "1200", "2"]
        ]
    );
}

#[test]
fn sum_adds_up_a_numeric_field() {
    let d = data_dir();
    let (code, out, _) = search(d.path(), &["*", "--sum", "http.response.bytes", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v,
        json!({"field": "http.response.bytes", "sum": 1234, "events": 2})
    );
    let (code, out, _) = search(d.path(), &["user.name:bob", "--sum", "http.response.bytes"]);
    assert_eq!((code, out.trim()), (0, "34"));
}

#[test]
fn histogram_prints_buckets() {
    let d = data_dir();
    let (code, out, _) = search(
        d.path(),
        &["*", "--histogram", "--interval", "1d", "--json"],
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let counts: Vec<u64> = v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![0, 2, 1]);
}

#[test]
fn query_error_exits_2_and_points_at_the_position() {
    let d = data_dir();
    let (code, _, err) = search(d.path(), &["(user.name:alice"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected ')'"), "{err}");
    assert!(err.contains("                ^"), "{err}");
}

#[test]
fn missing_store_is_an_empty_result_not_an_error() {
    let d = tempfile::tempdir().unwrap();
    let (code, out, _) = search(d.path(), &["*", "--count", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), r#"{"count":0}"#);
}

#[test]
fn csv_exports_a_header_and_one_row_per_event() {
    let d = data_dir();
    let (code, out, err) = search(
        d.path(),
        &[
            "user.name:alice",
            "--csv",
            "--fields",
            "user.name,source.ip,url.domain",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            "user.name,source.ip,url.domain",
            "alice,2001:db8::7,",
            "alice,10.1.2.3,evil.example.ru"
        ]
    );
    assert!(err.contains("2 of 2 matching"), "{err}");
}

#[test]
fn ndjson_export_stops_at_the_limit_and_says_how_many_matched() {
    let d = data_dir();
    let (code, out, err) = search(d.path(), &["*", "--ndjson", "--limit", "2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2);
    assert!(err.contains("2 of 3 matching"), "{err}");
    assert!(err.contains("raise --limit"), "{err}");
}
