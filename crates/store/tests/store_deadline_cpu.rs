//! A query stopped by its deadline leaves no work behind: the answer comes within the
//! deadline, and the process is idle again afterwards. Alone in its test binary, so that no
//! other test's work is counted.

mod common;

use std::time::{Duration, Instant};

use common::{all_time, ev};
use serde_json::json;
use store::api::{self, SearchRequest, MAX_EXPENSIVE_TERMS};
use store::deadline::{with_deadline, Deadline};
use store::{EventStore, StoreConfig, TantivyStore};

/// CPU time of this process so far (user + system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name (which may hold spaces) start after its ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports these in clock ticks of 1/100 s (USER_HZ).
    Duration::from_millis(ticks * 10)
}

#[test]
fn a_query_stopped_by_its_deadline_answers_in_time_and_leaves_the_cpu_idle() {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    for i in 0..20_000u64 {
        s.add(
            i,
            &ev(json!({
                "@timestamp": "2024-05-01T12:00:00Z",
                "user": {"name": format!("user{i}")},
                "event": {"dataset": "web"}
            })),
        )
        .unwrap();
    }
    s.commit().unwrap();
    // Let the index settle (segment merges) before anything is measured.
    std::thread::sleep(Duration::from_secs(2));
    let query = (0..MAX_EXPENSIVE_TERMS)
        .map(|i| format!("user.name:*{}*{}*", i % 10, (i + 3) % 10))
        .collect::<Vec<_>>()
        .join(" OR ");
    let req = SearchRequest {
        query,
        time: all_time(),
        limit: 10,
        ..Default::default()
    };
    let now = time::macros::datetime!(2024-12-01 00:00 UTC);
    let started = Instant::now();
    let e = with_deadline(Deadline::after(Duration::from_millis(200)), || {
        api::search(&s, &req, now)
    })
    .unwrap_err();
    let answered = started.elapsed();
    assert_eq!(e.status(), 504, "{e}");
    assert!(
        answered < Duration::from_secs(2),
        "answered after {answered:?}"
    );
    let before = cpu_time();
    std::thread::sleep(Duration::from_secs(1));
    let busy = cpu_time() - before;
    assert!(
        busy < Duration::from_millis(300),
        "{busy:?} of CPU in the second after"
    );
}
