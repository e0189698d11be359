//! One store handle shared between the writer (the pipeline) and searches (the REST API):
//! searches on the writer's own handle see every commit, and run safely while another thread
//! adds and commits.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{eq, ev};
use serde_json::json;
use store::{EventSearch, EventStore, StoreConfig, TantivyStore, TimeSpec};

fn all() -> TimeSpec {
    TimeSpec {
        from: Some("2024-01-01".into()),
        to: Some("2025-01-01".into()),
        since: None,
    }
}

/// Event number `off`, alternating between two days (two partitions).
fn event(off: u64) -> store::Event {
    let day = 1 + (off % 2);
    ev(json!({
        "@timestamp": format!("2024-06-0{day}T12:00:{:02}Z", off % 60),
        "source": {"port": off},
        "user": {"name": format!("user{}", off % 7)},
        "event": {"dataset": "web"}
    }))
}

#[test]
fn search_on_the_writer_handle_sees_each_commit_at_once() {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    let q = eq("*", &all());
    for off in 0..10 {
        s.add(off, &event(off)).unwrap();
    }
    assert_eq!(
        s.count(&q).unwrap(),
        0,
        "nothing is visible before a commit"
    );
    s.commit().unwrap();
    assert_eq!(s.count(&q).unwrap(), 10);
    for off in 10..25 {
        s.add(off, &event(off)).unwrap();
    }
    s.commit().unwrap();
    assert_eq!(s.count(&q).unwrap(), 25);
    assert_eq!(s.search(&q, 100, None).unwrap().events.len(), 25);
}

#[test]
fn searches_run_concurrently_with_adds_and_commits_and_never_go_backwards() {
    const BATCHES: u64 = 30;
    const PER_BATCH: u64 = 40;
    let d = tempfile::tempdir().unwrap();
    let s = Arc::new(TantivyStore::open(d.path(), StoreConfig::default()).unwrap());
    // Lower bound: events committed before a search starts must be counted by it.
    let committed = Arc::new(AtomicU64::new(0));
    // Upper bound: a search can never count more than was added when it finished.
    let added = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (s, committed, added, done) =
                (s.clone(), committed.clone(), added.clone(), done.clone());
            std::thread::spawn(move || {
                let q = eq("*", &all());
                let by_user = eq("user.name:user3", &all());
                let mut last = 0;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let low = committed.load(Ordering::Acquire);
                    let n = s.count(&q).unwrap();
                    let high = added.load(Ordering::Acquire);
                    assert!(n >= low, "count {n} below the {low} committed events");
                    assert!(n <= high, "count {n} above the {high} added events");
                    assert!(n >= last, "count went back from {last} to {n}");
                    last = n;
                    s.search(&by_user, 20, None).unwrap();
                    s.top(&q, "user.name", 3).unwrap();
                    if finished {
                        break;
                    }
                }
            })
        })
        .collect();
    for b in 0..BATCHES {
        for i in 0..PER_BATCH {
            let off = b * PER_BATCH + i;
            s.add(off, &event(off)).unwrap();
            added.fetch_add(1, Ordering::Release);
        }
        s.commit().unwrap();
        committed.store((b + 1) * PER_BATCH, Ordering::Release);
    }
    done.store(true, Ordering::Release);
    for r in readers {
        r.join().expect("a reader failed");
    }
    let q = eq("*", &all());
    assert_eq!(s.count(&q).unwrap(), BATCHES * PER_BATCH);
    assert_eq!(s.distinct(&q, "source.port").unwrap(), BATCHES * PER_BATCH);
}
