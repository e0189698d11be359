//! Correlations over a state shared by the workers of a cluster (alerts in PostgreSQL): each
//! worker's `DetectionService` feeds the events it saw to one correlation state at each
//! flush, in the alert transaction. Two workers splitting a group's events raise what one
//! node raises; an event fed twice (redelivered) counts once; the matches of a flush while
//! PostgreSQL is away are kept and written once it is back.
//!
//! PostgreSQL from `.ci/postgres.sh` (a database of each test's own).

use std::collections::BTreeMap;

use detect::alerts::{AlertFilter, AlertsAt};
use detect::cti::CtiStore;
use detect::{DetectionService, ServiceOptions};
use serde_json::{json, Map, Value};

/// The shipped `event_count` correlation: 50 blocked web requests of one `user.name` in 5 min.
const BURST_RULE: &str = "6439d272-410f-572d-a2d1-dcc39c771e18";

/// A blocked web request of `user`, `n` seconds after 10:00, with its own event id.
fn blocked(user: &str, n: usize) -> Map<String, Value> {
    let v = json!({
        "@timestamp": format!("2024-05-01T10:{:02}:{:02}Z", (n / 60) % 4, n % 60),
        "event": {"dataset": "web", "action": "blocked", "kind": "event"},
        "user": {"name": user},
        "source": {"ip": "10.9.0.1"},
        "url": {"domain": format!("b{n}.example.com")},
        "ziaxdr": {"event_id": format!("00000000-0000-4000-8000-{n:012}")},
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn options() -> (tempfile::TempDir, ServiceOptions) {
    let dir = tempfile::tempdir().unwrap();
    let opts = ServiceOptions {
        data_dir: dir.path().to_path_buf(),
        ..ServiceOptions::default()
    };
    (dir, opts)
}

/// A worker of the cluster on `url`'s database (a connection pool of its own).
fn worker(url: &str) -> (tempfile::TempDir, DetectionService) {
    let pg = pgstate::Pg::connect(&pgstate::PgConfig::new(url.to_string())).unwrap();
    let (dir, opts) = options();
    let svc = DetectionService::open_in(
        &opts,
        None,
        &AlertsAt::postgres(&pg).unwrap(),
        CtiStore::postgres(&pg).unwrap(),
    )
    .unwrap();
    assert!(svc.correlates_shared());
    (dir, svc)
}

fn feed(svc: &mut DetectionService, ev: &Map<String, Value>) {
    let screened = svc.screen().screen(ev);
    svc.on_screened(screened).unwrap();
}

/// Per rule: (alerts, matches they hold).
fn summary(svc: &mut DetectionService) -> BTreeMap<String, (u64, u64)> {
    let all = svc
        .alerts()
        .list(&AlertFilter {
            limit: Some(10_000),
            ..Default::default()
        })
        .unwrap();
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for a in all {
        let e = out.entry(a.rule.id.clone()).or_default();
        e.0 += 1;
        e.1 += 1 + a.similar;
    }
    out
}

/// Three users' events, interleaved: 120, 70 and 30 of them.
fn events() -> Vec<Map<String, Value>> {
    let mut left = [120usize, 70, 30];
    let mut out = Vec::new();
    let mut i = 0;
    while left.iter().any(|n| *n > 0) {
        let u = i % 3;
        i += 1;
        if left[u] > 0 {
            left[u] -= 1;
            out.push(blocked(&format!("user{u}"), out.len()));
        }
    }
    out
}

#[test]
fn two_workers_splitting_the_events_of_each_group_raise_the_alerts_of_one_node() {
    let (_dir, opts) = options();
    let mut single = DetectionService::open(&opts).unwrap();
    assert!(!single.correlates_shared());
    for ev in events() {
        feed(&mut single, &ev);
    }
    single.flush_alerts().unwrap();
    let expected = summary(&mut single);
    assert_eq!(
        expected.get(BURST_RULE),
        Some(&(2, (120 - 49) + (70 - 49))),
        "{expected:?}"
    );

    let url = pgstate::testing::fresh_database("correlation_split");
    let (_a_dir, mut a) = worker(&url);
    let (_b_dir, mut b) = worker(&url);
    // Batches of 7 alternate between the workers, each flushing at its own commits.
    for (n, chunk) in events().chunks(7).enumerate() {
        let w = if n % 2 == 0 { &mut a } else { &mut b };
        for ev in chunk {
            feed(w, ev);
        }
        w.flush_alerts().unwrap();
    }
    assert_eq!(summary(&mut a), expected);
}

#[test]
fn an_event_fed_again_by_another_worker_counts_once() {
    let url = pgstate::testing::fresh_database("correlation_redelivery");
    let (_a_dir, mut a) = worker(&url);
    let (_b_dir, mut b) = worker(&url);
    let evs: Vec<_> = (0..50).map(|n| blocked("user7", n)).collect();
    for ev in &evs[..49] {
        feed(&mut a, ev);
    }
    a.flush_alerts().unwrap();
    // Worker a's acknowledgements were lost: b gets the 49 events again, then the 50th.
    for ev in &evs {
        feed(&mut b, ev);
    }
    b.flush_alerts().unwrap();
    assert_eq!(summary(&mut b).get(BURST_RULE), Some(&(1, 1)));
}

#[test]
fn matches_of_a_flush_while_postgres_is_down_are_kept_and_written_when_it_is_back() {
    let mut server = pgstate::testing::TestServer::start().unwrap();
    let url = pgstate::testing::fresh_database_on(&server.url(), "correlation_outage");
    let (_dir, mut svc) = worker(&url);
    let evs: Vec<_> = (0..60).map(|n| blocked("user8", n)).collect();
    for ev in &evs[..30] {
        feed(&mut svc, ev);
    }
    svc.flush_alerts().unwrap();
    for ev in &evs[30..] {
        feed(&mut svc, ev);
    }
    server.stop();
    assert!(svc.flush_alerts().is_err());
    assert!(svc.pending_matches() > 0, "the matches were dropped");
    server.resume().unwrap();
    let start = std::time::Instant::now();
    while let Err(e) = svc.flush_alerts() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "PostgreSQL did not come back: {e}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(svc.pending_matches(), 0);
    assert_eq!(summary(&mut svc).get(BURST_RULE), Some(&(1, 60 - 49)));
}
