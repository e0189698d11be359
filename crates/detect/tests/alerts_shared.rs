//! Alerts shared by several connections: workers ingesting into one store at the same time,
//! and triage through one handle seen through another. Run on both backends
//! (`pgstate::both_backends!`); on PostgreSQL each handle is a node of a cluster, on SQLite a
//! process of one node (the server, the CLI).

mod common;

use std::sync::{Arc, Barrier};

use common::alert_backends::{postgres, sqlite};
use detect::alerts::{AlertFilter, ThrottleConfig};
use detect::chrono::Utc;
use detect::detector::RuleRef;
use detect::{AlertChange, AlertManager, Match, RuleType, Status};
use serde_json::Value;

/// A match of rule `rule` from `src` on a new event (each call its own event id).
fn m(rule: &str, src: &str) -> Match {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Match {
        rule: RuleRef {
            id: rule.into(),
            name: format!("Rule {rule}"),
            author: None,
            severity: "high".into(),
            kind: RuleType::Sigma,
        },
        urgency: 70,
        description: None,
        timestamp: Utc::now(),
        entity: "default".into(),
        source: Some(src.into()),
        target: Some("203.0.113.7".into()),
        source_ip: Some(src.into()),
        destination_ip: Some("203.0.113.7".into()),
        dns_name: None,
        dataset: Some("web".into()),
        event_ids: vec![format!("shared-{n}")],
        group_key: vec![],
        alert_group: vec![("source.ip".into(), src.into())],
        alert_window_secs: None,
        user: None,
        correlation: false,
        retrohunt: false,
        details: Value::Null,
    }
}

/// Runs `work` on two threads at once, each with one of the `workers` (its index too).
fn two_workers(
    workers: [AlertManager; 2],
    work: impl Fn(usize, &mut AlertManager) + Send + Sync + 'static,
) {
    let work = Arc::new(work);
    let start = Arc::new(Barrier::new(2));
    let handles: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(w, mut mgr)| {
            let (work, start) = (work.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                work(w, &mut mgr);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

pgstate::both_backends! {
    #[test]
    fn two_workers_ingesting_one_similarity_key_at_once_open_exactly_one_alert() {
        let db = Db::new();
        two_workers([db.manager(), db.manager()], |_, mgr| {
            for _ in 0..20 {
                let batch: Vec<Match> = (0..5).map(|_| m("r1", "10.0.0.1")).collect();
                mgr.ingest_all(&batch).unwrap();
            }
        });
        let all = db.store().list(&AlertFilter::default()).unwrap();
        assert_eq!(all.len(), 1, "one open alert per similarity key");
        assert_eq!(all[0].similar, 2 * 20 * 5 - 1, "every match is counted once");
    }

    #[test]
    fn the_alerts_two_workers_open_for_one_rule_all_count_against_its_throttle() {
        let db = Db::new();
        two_workers([db.manager(), db.manager()], |w, mgr| {
            mgr.set_throttle(ThrottleConfig {
                max_alerts: 1000,
                ..Default::default()
            });
            for i in 0..15 {
                mgr.ingest(&m("r1", &format!("10.{w}.0.{i}"))).unwrap();
            }
        });
        let t = db.store().throttles().unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].opened, 30, "no worker's count overwrote the other's");
    }

    #[test]
    fn an_event_one_worker_alerted_on_is_a_replay_for_another() {
        let db = Db::new();
        let first = m("r1", "10.0.0.1");
        db.manager().ingest(&first).unwrap();
        assert!(matches!(
            db.manager().ingest(&first).unwrap(),
            AlertChange::Replayed { .. }
        ));
    }

    #[test]
    fn a_status_change_through_one_handle_is_seen_through_another() {
        let db = Db::new();
        let AlertChange::Created(a) = db.manager().ingest(&m("r1", "10.0.0.1")).unwrap() else {
            panic!("no alert created")
        };
        db.store().set_status(&a.short_id, Status::Acknowledged, "ana").unwrap();
        db.store().assign(&a.uuid, Some("bob"), "ana").unwrap();
        let seen = db.store().get(&a.uuid).unwrap();
        assert_eq!(seen.status, Status::Acknowledged);
        assert_eq!(seen.assignee.as_deref(), Some("bob"));
        assert_eq!(seen.history.last().unwrap().author, "ana");
    }

    #[test]
    fn an_alert_closed_through_another_handle_gathers_no_more_matches_of_a_running_worker() {
        let db = Db::new();
        let mut worker = db.manager();
        let AlertChange::Created(a) = worker.ingest(&m("r1", "10.0.0.1")).unwrap() else {
            panic!("no alert created")
        };
        db.store().set_status(&a.uuid, Status::Closed, "ana").unwrap();
        assert!(matches!(
            worker.ingest(&m("r1", "10.0.0.1")).unwrap(),
            AlertChange::Created(_)
        ));
        let closed = db.store().get(&a.uuid).unwrap();
        assert_eq!((closed.status, closed.similar), (Status::Closed, 0));
    }
}
