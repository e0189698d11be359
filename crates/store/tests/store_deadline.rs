//! Query deadlines, cancellation and the cap on expensive terms, through the search API.

mod common;

use std::time::{Duration, Instant};

use common::{all_time, ev};
use serde_json::json;
use store::api::{self, SearchRequest, MAX_EXPENSIVE_TERMS};
use store::deadline::{with_deadline, Deadline};
use store::{EventStore, StoreConfig, TantivyStore};

/// A store of `n` events with distinct user names and URLs (many terms to walk).
fn store_of(n: u64) -> (tempfile::TempDir, TantivyStore) {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    for i in 0..n {
        s.add(
            i,
            &ev(json!({
                "@timestamp": "2024-05-01T12:00:00Z",
                "user": {"name": format!("user{i}")},
                "url": {"domain": format!("host{i}.example{}.com", i % 97)},
                "event": {"dataset": "web"}
            })),
        )
        .unwrap();
    }
    s.commit().unwrap();
    (d, s)
}

fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2024-12-01 00:00 UTC)
}

/// `n` wildcard terms that each match nearly every name.
fn wildcards(n: usize) -> String {
    (0..n)
        .map(|i| format!("user.name:*{}*", i % 10))
        .collect::<Vec<_>>()
        .join(" OR ")
}

fn request(query: String) -> SearchRequest {
    SearchRequest {
        query,
        time: all_time(),
        limit: 10,
        ..Default::default()
    }
}

#[test]
fn a_query_over_its_deadline_is_answered_with_a_504_naming_the_deadline() {
    let (_d, s) = store_of(3000);
    let req = request(wildcards(MAX_EXPENSIVE_TERMS));
    let started = Instant::now();
    let e = with_deadline(Deadline::after(Duration::from_millis(1)), || {
        std::thread::sleep(Duration::from_millis(2));
        api::search(&s, &req, now())
    })
    .unwrap_err();
    assert_eq!(e.status(), 504);
    assert!(e.to_string().contains("0.001 s deadline"), "{e}");
    // It stopped at once instead of finishing the query.
    assert!(started.elapsed() < Duration::from_secs(5));
    // Within the default deadline the same query is answered.
    assert_eq!(api::search(&s, &req, now()).unwrap().events.len(), 10);
}

#[test]
fn a_cancelled_query_stops_with_an_error_saying_so() {
    let (_d, s) = store_of(500);
    let d = Deadline::after(Duration::from_secs(30));
    d.cancel();
    let e = with_deadline(d, || api::search(&s, &request(wildcards(4)), now())).unwrap_err();
    assert_eq!(e.status(), 504);
    assert!(e.to_string().contains("cancelled"), "{e}");
}

#[test]
fn more_wildcard_terms_than_the_cap_are_refused_with_400() {
    let (_d, s) = store_of(10);
    let e = api::search(&s, &request(wildcards(MAX_EXPENSIVE_TERMS + 1)), now()).unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(
        e.to_string()
            .contains(&format!("at most {MAX_EXPENSIVE_TERMS}")),
        "{e}"
    );
}
