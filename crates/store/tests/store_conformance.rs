//! The ECS events of the shared conformance vectors (what the `zia` parser must produce) are
//! stored and found by their typed fields.

#[macro_use]
mod common;

use common::eq;
use serde_json::Value;
use store::{EventSearch, EventStore, TimeSpec};

fn expected_events() -> Vec<store::Event> {
    common::conformance_vectors()
        .iter()
        .map(|v| match &v["expected"] {
            Value::Object(m) => m.clone(),
            _ => panic!("a vector has no expected object"),
        })
        .collect()
}

both_backends! {
fn store_with_vectors() -> (Guard, Store, usize) {
    let (d, s) = new_store();
    let evs = expected_events();
    for (i, e) in evs.iter().enumerate() {
        let mut e = e.clone();
        e.insert("seq".into(), Value::from(i as u64));
        s.add(i as u64, &e).unwrap();
    }
    s.commit().unwrap();
    (d, s, evs.len())
}

fn whole_history() -> TimeSpec {
    TimeSpec {
        from: Some("2000-01-01".into()),
        to: Some("2100-01-01".into()),
        since: None,
    }
}

#[test]
fn every_vector_event_is_stored() {
    let (_d, s, n) = store_with_vectors();
    assert_eq!(s.count(&eq("*", &whole_history())).unwrap(), n as u64);
}

#[test]
fn datasets_of_the_vectors_are_counted_exactly() {
    let (_d, s, _) = store_with_vectors();
    let t = s
        .top(&eq("*", &whole_history()), "event.dataset", 10)
        .unwrap();
    let get = |k: &str| t.values.iter().find(|(v, _)| v == k).map(|(_, n)| *n);
    assert_eq!(get("audit"), Some(3));
    assert_eq!(get("tunnel"), Some(3));
    assert_eq!(get("web"), Some(3));
}

#[test]
fn vector_fields_are_searchable_by_type() {
    let (_d, s, _) = store_with_vectors();
    let q = |query: &str| s.count(&eq(query, &whole_history())).unwrap();
    assert!(q("source.ip:1.2.3.0/24") > 0);
    assert!(q("destination.port:443") > 0);
    assert!(q("user.email:john.doe@example.org") > 0);
    assert_eq!(q("zscaler.zia.source_type:zscalernss-tunnel"), 3);
    assert_eq!(q("file.hash.md5:01565bf41f1cb993d69334f409835293"), 1);
}
}
