//! Shared fixtures: a store filled with known events.
#![allow(dead_code)]

use serde_json::{json, Value};
use store::{
    Event, EventQuery, EventSearch, EventStore, Query, StoreConfig, TantivyStore, TimeSpec,
};
use time::macros::datetime;

/// Turns a `json!` object into an event.
pub fn ev(v: Value) -> Event {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

/// The known events; `seq` equals the journal offset each is added with.
pub fn known_events() -> Vec<Event> {
    vec![
        ev(json!({
            "@timestamp": "2024-05-01T10:00:00Z", "seq": 1,
            "event": {"dataset": "web", "action": "blocked", "category": ["network"]},
            "source": {"ip": "10.1.2.3"},
            "destination": {"ip": "93.184.216.34", "port": 443},
            "url": {"domain": "www.example.com", "original": "https://www.example.com/download/setup.exe"},
            "user": {"name": "alice", "email": "alice@corp.example"},
            "user_agent": {"original": "Mozilla/5.0 (Windows NT 10.0)"},
            "http": {"response": {"status_code": 403}},
            "zscaler": {"zia": {"threat": {"name": "Win32.Trojan.Agent"}, "custom_score": 75}}
        })),
        ev(json!({
            "@timestamp": "2024-05-01T11:30:00Z", "seq": 2,
            "event": {"dataset": "web", "action": "allowed"},
            "source": {"ip": "10.1.9.9"},
            "destination": {"ip": "5.6.7.8", "port": 443},
            "url": {"domain": "api.chat.org", "original": "https://api.chat.org/bot"},
            "user": {"name": "bob"},
            "http": {"response": {"status_code": 200}},
            "zscaler": {"zia": {"custom_score": 5}}
        })),
        ev(json!({
            "@timestamp": "2024-05-02T08:00:00Z", "seq": 3,
            "event": {"dataset": "firewall", "action": "allow"},
            "source": {"ip": "2001:db8::5", "port": 51000},
            "destination": {"ip": "2001:db8:1::1", "port": 22},
            "network": {"protocol": "TCP"},
            "user": {"name": "alice"}
        })),
        ev(json!({
            "@timestamp": "2024-05-02T09:15:00Z", "seq": 4,
            "event": {"dataset": "dns"},
            "source": {"ip": "192.168.1.10"},
            "dns": {"question": {"name": "evil.example.ru"}},
            "user": {"name": "carol"}
        })),
        ev(json!({
            "@timestamp": "2024-05-03T00:00:05Z", "seq": 5,
            "event": {"kind": "pipeline_error"},
            "error": {"message": "unexpected token at column 7"},
            "event.original": "garbage line with SECRETWORD inside"
        })),
        ev(json!({
            "@timestamp": "2024-05-03T12:00:00Z", "seq": 6,
            "event": {"dataset": "tunnel"},
            "source": {"ip": "172.16.0.1"},
            "error": {"code": "TIMEOUT"},
            "user": {"email": "bob@corp.example"},
            "message": "raw tunnel record mentioning NEEDLE"
        })),
    ]
}

/// A fresh store in a temporary directory, filled with [`known_events`] and committed.
pub fn filled_store() -> (tempfile::TempDir, TantivyStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = TantivyStore::open(dir.path(), StoreConfig::default()).unwrap();
    for e in known_events() {
        let off = e["seq"].as_u64().unwrap();
        assert!(store.add(off, &e).unwrap());
    }
    store.commit().unwrap();
    (dir, store)
}

/// The whole fixture period.
pub fn all_time() -> TimeSpec {
    TimeSpec {
        from: Some("2024-04-30".into()),
        to: Some("2024-05-04".into()),
        since: None,
    }
}

/// A parsed query over `time`.
pub fn eq(query: &str, time: &TimeSpec) -> EventQuery {
    EventQuery {
        query: Query::parse(query).unwrap(),
        range: time.resolve(datetime!(2030-01-01 0:00 UTC)).unwrap(),
    }
}

/// The `seq` of every event matching `query` over the fixture period, sorted.
pub fn seqs(store: &dyn EventSearch, query: &str) -> Vec<u64> {
    seqs_in(store, query, &all_time())
}

/// The `seq` of every event matching `query` over `time`, sorted.
pub fn seqs_in(store: &dyn EventSearch, query: &str, time: &TimeSpec) -> Vec<u64> {
    let page = store.search(&eq(query, time), 1000, None).unwrap();
    let mut v: Vec<u64> = page
        .events
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    v.sort();
    v
}

/// The shared Sekoia conformance vectors (`{"input": {"message": RAW}, "expected": EVENT}`),
/// sorted by file name.
pub fn conformance_vectors() -> Vec<Value> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/sekoia-zscaler-zia"
    );
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}
