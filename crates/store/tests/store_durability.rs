//! Crash consistency with the journal offsets, read-only access, and retention.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::{eq, ev};
use serde_json::json;
use store::{EventSearch, EventStore, Retention, StoreConfig, StoreError, TantivyStore, TimeSpec};
use time::macros::datetime;

fn all() -> TimeSpec {
    TimeSpec {
        from: Some("2024-01-01".into()),
        to: Some("2025-01-01".into()),
        since: None,
    }
}

/// Event number `off`: spread over three days so that several partitions are involved; the
/// offset is also stored in a typed integer field so that duplicates can be counted.
fn event(off: u64) -> store::Event {
    let day = 1 + (off % 3);
    ev(json!({
        "@timestamp": format!("2024-06-0{day}T12:00:00Z"),
        "source": {"port": off},
        "event": {"dataset": "web"}
    }))
}

fn count_and_distinct(s: &dyn EventSearch) -> (u64, u64) {
    let q = eq("*", &all());
    (s.count(&q).unwrap(), s.distinct(&q, "source.port").unwrap())
}

/// Tantivy only: the embedded store discards uncommitted writes after a failed one (a full
/// disk); ClickHouse writes nothing before its commit.
#[test]
fn discarding_after_a_failure_drops_only_uncommitted_events_which_are_added_again_once() {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    for off in 0..100 {
        s.add(off, &event(off)).unwrap();
    }
    assert_eq!(s.commit().unwrap(), Some(99));
    for off in 100..150 {
        s.add(off, &event(off)).unwrap();
    }
    // A write failed (a full disk): the pipeline has the store discard, then replays.
    s.discard_uncommitted().unwrap();
    assert_eq!(s.committed_offset(), Some(99));
    for off in 100..200 {
        s.add(off, &event(off)).unwrap();
    }
    assert_eq!(s.commit().unwrap(), Some(199));
    assert_eq!(count_and_distinct(&s), (200, 200));
}

/// ClickHouse only: a server that becomes unreachable during a commit, then returns. The
/// store discards what it had not committed without needing the server, refuses to write
/// while it is away, and once back finds what reached it before the pipeline replays.
#[test]
fn clickhouse_unreachable_during_a_commit_then_back_loses_nothing_and_doubles_nothing() {
    use common::proxy::{host_port, Proxy};
    let url = common::clickhouse::clickhouse_url();
    let proxy = Proxy::start(&host_port(&url));
    let mut cfg = store::ClickHouseConfig::new(proxy.url());
    cfg.database = format!("outage_{}", std::process::id());
    cfg.timeout = std::time::Duration::from_secs(10);
    let _guard = common::clickhouse::Guard {
        cfg: {
            let mut c = cfg.clone();
            c.url = url.clone();
            c
        },
    };
    let s = store::ClickHouseStore::open(cfg).unwrap();
    for off in 0..100 {
        s.add(off, &event(off)).unwrap();
    }
    assert_eq!(s.commit().unwrap(), Some(99));
    for off in 100..150 {
        s.add(off, &event(off)).unwrap();
    }
    proxy.set_up(false);
    let e = s.commit().unwrap_err().to_string();
    assert!(e.contains("clickhouse unreachable"), "{e}");
    // What the pipeline does after a failed write: discard, then replay from the commit.
    s.discard_uncommitted();
    assert_eq!(s.committed_offset(), Some(99));
    assert!(
        s.add(100, &event(100)).is_err(),
        "written while unreachable"
    );
    proxy.set_up(true);
    let from = s.committed_offset().map_or(0, |c| c + 1);
    for off in from..200 {
        s.add(off, &event(off)).unwrap();
    }
    assert_eq!(s.commit().unwrap(), Some(199));
    assert_eq!(count_and_distinct(&s), (200, 200));
}

/// ClickHouse only: full buffers are inserted in the background while the next rows are
/// made; one whose insert fails (the server away) goes back in front of the buffer, and the
/// next commit stores each of its events once.
#[test]
fn clickhouse_background_insert_that_fails_is_sent_again_by_the_next_commit_once() {
    use common::proxy::{host_port, Proxy};
    let url = common::clickhouse::clickhouse_url();
    let proxy = Proxy::start(&host_port(&url));
    let mut cfg = store::ClickHouseConfig::new(proxy.url());
    cfg.database = format!("background_{}", std::process::id());
    cfg.timeout = std::time::Duration::from_secs(30);
    cfg.insert_every_rows = 10;
    let _guard = common::clickhouse::Guard {
        cfg: {
            let mut c = cfg.clone();
            c.url = url.clone();
            c
        },
    };
    let s = store::ClickHouseStore::open(cfg).unwrap();
    for off in 0..35 {
        s.add(off, &event(off)).unwrap();
    }
    assert_eq!(s.commit().unwrap(), Some(34));
    assert_eq!(count_and_distinct(&s), (35, 35));
    proxy.set_up(false);
    // The buffer fills at 40: its insert fails in the background, found at the next insert
    // or at the commit.
    let mut failed = false;
    for off in 35..55 {
        failed |= s.add(off, &event(off)).is_err();
    }
    failed |= s.commit().is_err();
    assert!(failed, "an insert while the server is away must fail");
    proxy.set_up(true);
    assert_eq!(s.commit().unwrap(), Some(54));
    assert_eq!(count_and_distinct(&s), (55, 55));
}

#[test]
fn closing_a_writer_for_too_many_open_days_commits_it_and_replay_skips_its_events() {
    let d = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        max_open_writers: 2,
        ..StoreConfig::default()
    };
    {
        let s = TantivyStore::open(d.path(), cfg.clone()).unwrap();
        for off in 0..30 {
            // Three days, one writer too many: the third day closes (commits) another.
            s.add(off, &event(off)).unwrap();
        }
    }
    let s = TantivyStore::open(d.path(), cfg).unwrap();
    assert_eq!(s.committed_offset(), None);
    let (survived, _) = count_and_distinct(&s);
    assert!(survived > 0, "evicted writers must have been committed");
    let mut readded = 0;
    for off in 0..30 {
        if s.add(off, &event(off)).unwrap() {
            readded += 1;
        }
    }
    assert_eq!(readded, 30 - survived);
    s.commit().unwrap();
    assert_eq!(count_and_distinct(&s), (30, 30));
}

#[test]
fn read_only_store_sees_committed_events_while_the_writer_is_open() {
    let d = tempfile::tempdir().unwrap();
    let w = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    for off in 0..10 {
        w.add(off, &event(off)).unwrap();
    }
    w.commit().unwrap();
    w.add(10, &event(10)).unwrap(); // not committed: invisible to readers
    let r = TantivyStore::open_read_only(d.path()).unwrap();
    assert_eq!(r.count(&eq("*", &all())).unwrap(), 10);
    assert!(matches!(r.add(11, &event(11)), Err(StoreError::ReadOnly)));
}

#[test]
fn read_only_open_of_a_missing_directory_is_an_empty_store() {
    let d = tempfile::tempdir().unwrap();
    let r = TantivyStore::open_read_only(d.path().join("nothing")).unwrap();
    assert_eq!(r.count(&eq("*", &all())).unwrap(), 0);
}

both_backends! {
#[test]
fn new_store_has_no_committed_offset() {
    let (_d, s) = new_store();
    assert_eq!(s.committed_offset(), None);
}

#[test]
fn crash_before_commit_loses_only_uncommitted_events_which_replay_once() {
    let (d, s) = new_store();
    {
        for off in 0..100 {
            s.add(off, &event(off)).unwrap();
        }
        assert_eq!(s.commit().unwrap(), Some(99));
        for off in 100..150 {
            s.add(off, &event(off)).unwrap();
        }
        // Dropped without commit: a crash between add and commit.
        drop(s);
    }
    let s = reopen(&d);
    assert_eq!(s.committed_offset(), Some(99));
    assert_eq!(count_and_distinct(&s), (100, 100));
    for off in 100..150 {
        assert!(
            s.add(off, &event(off)).unwrap(),
            "offset {off} must be re-added"
        );
    }
    s.commit().unwrap();
    assert_eq!(count_and_distinct(&s), (150, 150));
}

#[test]
fn replay_after_partitions_committed_but_checkpoint_not_written_adds_nothing_twice() {
    let (d, s) = new_store();
    {
        for off in 0..100 {
            s.add(off, &event(off)).unwrap();
        }
        s.commit().unwrap();
        for off in 100..150 {
            s.add(off, &event(off)).unwrap();
        }
        s.commit().unwrap();
        drop(s);
    }
    // Simulate the crash window: the events are stored up to 149, the committed offset
    // still says 99.
    set_committed_offset(&d, 99);
    let s = reopen(&d);
    assert_eq!(s.committed_offset(), Some(99));
    for off in 100..150 {
        assert!(
            !s.add(off, &event(off)).unwrap(),
            "offset {off} is a duplicate"
        );
    }
    assert_eq!(s.commit().unwrap(), Some(149));
    assert_eq!(count_and_distinct(&s), (150, 150));
}

/// Five days of 2024 written without retention, then reopened with `cfg` (so that only the
/// explicit `apply_retention` calls of the tests delete anything).
fn five_days(retention: Retention) -> (Guard, Store) {
    let (d, s) = new_store();
    for (i, day) in (1..=5).enumerate() {
        let e = ev(json!({"@timestamp": format!("2024-06-0{day}T08:00:00Z"), "n": i}));
        s.add(i as u64, &e).unwrap();
    }
    s.commit().unwrap();
    drop(s);
    let s = open_with_retention(&d, retention, std::time::Duration::from_secs(3600));
    (d, s)
}

/// An event `days_ago` days before now.
fn event_days_ago(days_ago: i64) -> store::Event {
    let t = time::OffsetDateTime::now_utc() - time::Duration::days(days_ago);
    ev(json!({"@timestamp": store::timerange::format_instant(t), "n": days_ago}))
}

fn keep_two_days() -> Retention {
    Retention {
        max_age_days: Some(2),
        max_total_bytes: None,
    }
}

fn partition_count(s: &Store) -> usize {
    partition_days(s).len()
}

#[test]
fn commit_enforces_the_configured_retention_by_deleting_old_days() {
    let (d, _) = new_store();
    let s = open_with_retention(&d, keep_two_days(), std::time::Duration::ZERO);
    for (off, days_ago) in [10, 5, 0].into_iter().enumerate() {
        s.add(off as u64, &event_days_ago(days_ago)).unwrap();
    }
    s.commit().unwrap();
    assert_eq!(partition_count(&s), 1);
    let any_time = TimeSpec {
        since: None,
        from: Some("2000-01-01".into()),
        to: Some("2100-01-01".into()),
    };
    assert_eq!(s.count(&eq("*", &any_time)).unwrap(), 1);
}

#[test]
fn commit_enforces_retention_at_most_once_per_interval() {
    let (d, _) = new_store();
    let s = open_with_retention(&d, keep_two_days(), std::time::Duration::from_secs(3600));
    s.add(0, &event_days_ago(10)).unwrap();
    s.commit().unwrap(); // the first commit after opening enforces it
    assert_eq!(partition_count(&s), 0);
    s.add(1, &event_days_ago(10)).unwrap();
    s.commit().unwrap(); // within the interval: kept until the next pass
    assert_eq!(partition_count(&s), 1);
    s.apply_retention(time::OffsetDateTime::now_utc()).unwrap();
    assert_eq!(partition_count(&s), 0);
}

#[test]
fn commit_without_a_retention_policy_keeps_every_day() {
    let (d, _) = new_store();
    let s = open_with_retention(&d, Retention::default(), std::time::Duration::ZERO);
    for (off, days_ago) in [400, 10, 0].into_iter().enumerate() {
        s.add(off as u64, &event_days_ago(days_ago)).unwrap();
    }
    s.commit().unwrap();
    assert_eq!(partition_count(&s), 3);
}

#[test]
fn retention_by_age_deletes_whole_old_partitions() {
    let (_d, s) = five_days(Retention {
        max_age_days: Some(2),
        max_total_bytes: None,
    });
    let deleted = s.apply_retention(datetime!(2024-06-05 12:00 UTC)).unwrap();
    assert_eq!(deleted, vec!["2024-06-01", "2024-06-02"]);
    assert_eq!(s.count(&eq("*", &all())).unwrap(), 3);
    let names = partition_days(&s);
    assert_eq!(names, vec!["2024-06-03", "2024-06-04", "2024-06-05"]);
}

#[test]
fn retention_by_size_deletes_oldest_first_and_keeps_the_newest_day() {
    let (_d, s) = five_days(Retention {
        max_age_days: None,
        max_total_bytes: Some(1),
    });
    let deleted = s.apply_retention(datetime!(2024-06-05 12:00 UTC)).unwrap();
    assert_eq!(deleted.len(), 4);
    assert_eq!(deleted[0], "2024-06-01");
    let names = partition_days(&s);
    assert_eq!(names, vec!["2024-06-05"]);
}

#[test]
fn retention_within_budget_deletes_nothing() {
    let (_d, s) = five_days(Retention {
        max_age_days: Some(30),
        max_total_bytes: Some(u64::MAX),
    });
    assert!(s
        .apply_retention(datetime!(2024-06-05 12:00 UTC))
        .unwrap()
        .is_empty());
    assert_eq!(partition_count(&s), 5);
}

const CHILD_ENV: &str = "STORE_CRASH_CHILD_DIR";
const BATCH: u64 = 300;

/// Not a test on its own: the child process of
/// `kill_9_during_commit_then_replay_loses_nothing_and_doubles_nothing`, which writes and
/// commits batches forever until killed.
#[test]
#[ignore = "child process of the kill -9 test"]
fn crash_child_writer() {
    let Ok(id) = std::env::var(CHILD_ENV) else {
        return;
    };
    let s = open_for_crash_child(&id);
    let mut out = std::io::stdout();
    let mut off = s.committed_offset().map_or(0, |c| c + 1);
    loop {
        for _ in 0..BATCH {
            s.add(off, &event(off)).unwrap();
            off += 1;
        }
        writeln!(out, "committing").unwrap();
        out.flush().unwrap();
        s.commit().unwrap();
        writeln!(out, "committed {}", off - 1).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn kill_9_during_commit_then_replay_loses_nothing_and_doubles_nothing() {
    let (d, s) = new_store();
    drop(s);
    // This module's child test, named as the harness names it (without the crate).
    let here = module_path!();
    let child_test = format!("{}::crash_child_writer", &here[here.find("::").unwrap() + 2..]);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            &child_test,
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, crash_child_id(&d))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut commits_started = 0;
    let mut last_reported: Option<u64> = None;
    while let Some(Ok(line)) = lines.next() {
        if line == "committing" {
            commits_started += 1;
            if commits_started == 4 {
                // Inside the fourth commit.
                std::thread::sleep(std::time::Duration::from_millis(3));
                break;
            }
        } else if let Some(n) = line.strip_prefix("committed ") {
            last_reported = Some(n.parse().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(commits_started, 4, "child did not get far enough");

    let s = reopen(&d);
    let c = s
        .committed_offset()
        .expect("some commit must have completed");
    // Everything the child reported committed is committed; the fourth commit may or may not
    // have completed.
    assert!(
        c >= last_reported.unwrap(),
        "committed {c} < reported {last_reported:?}"
    );
    // Replay the journal from the committed offset, as the pipeline does, past anything the
    // child could have added.
    let end = c + 2 * BATCH;
    for off in c + 1..=end {
        s.add(off, &event(off)).unwrap();
    }
    s.commit().unwrap();
    assert_eq!(count_and_distinct(&s), (end + 1, end + 1));
}
}
