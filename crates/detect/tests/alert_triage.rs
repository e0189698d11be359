//! Triage at scale: assignment, bulk status and assignee changes, and the list filters (rule
//! name, free text, user, host, IP, assignee), through the store and the REST handler; and the
//! migration that adds the assignee to a database of an earlier version.

mod common;

use common::alert_backends::{postgres, sqlite};
use detect::alerts::AlertFilter;
use detect::api;
use detect::chrono::Utc;
use detect::detector::RuleRef;
use detect::{AlertManager, AlertStore, Match, RuleType, Status};
use serde_json::{json, Value};

fn m(rule: &str, name: &str, src: &str, dst: &str, user: &str) -> Match {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Match {
        rule: RuleRef {
            id: rule.into(),
            name: name.into(),
            author: None,
            severity: "high".into(),
            kind: RuleType::Sigma,
        },
        urgency: 60,
        description: None,
        timestamp: Utc::now(),
        entity: "default".into(),
        source: Some(user.into()),
        target: Some(dst.into()),
        source_ip: Some(src.into()),
        destination_ip: None,
        dns_name: None,
        dataset: Some("web".into()),
        event_ids: vec![format!("ev-{n}")],
        group_key: vec![],
        alert_group: vec![("source.ip".into(), src.into())],
        alert_window_secs: None,
        user: Some(user.into()),
        correlation: false,
        retrohunt: false,
        details: Value::Null,
    }
}

fn sources(store: &AlertStore, f: AlertFilter) -> Vec<String> {
    let mut v: Vec<String> = store
        .list(&f)
        .unwrap()
        .into_iter()
        .filter_map(|a| a.source)
        .collect();
    v.sort();
    v
}

pgstate::both_backends! {
    /// Three alerts: two of "Suspicious Download" (alice, bob), one of "DNS Tunnel" (carol).
    fn three() -> (Db, AlertManager) {
        let d = Db::new();
        let mut mgr = d.manager();
        for (rule, name, src, dst, user) in [
            (
                "r1",
                "Suspicious Download",
                "10.0.0.1",
                "evil.example",
                "alice",
            ),
            (
                "r1",
                "Suspicious Download",
                "10.0.0.2",
                "bad.example",
                "bob",
            ),
            ("r2", "DNS Tunnel", "10.0.0.3", "203.0.113.9", "carol"),
        ] {
            mgr.ingest(&m(rule, name, src, dst, user)).unwrap();
        }
        (d, mgr)
    }

    #[test]
    fn an_alert_is_assigned_and_unassigned_with_its_history() {
        let (_d, mut mgr) = three();
        let id = mgr.store().list(&AlertFilter::default()).unwrap()[0]
            .uuid
            .clone();
        let a = mgr.store().assign(&id, Some("dave"), "erin").unwrap();
        assert_eq!(a.assignee.as_deref(), Some("dave"));
        let a = mgr.store().assign(&id, None, "erin").unwrap();
        assert_eq!(a.assignee, None);
        let kinds: Vec<&str> = a
            .history
            .iter()
            .filter(|h| h.kind == "assigned")
            .map(|h| h.message.as_str())
            .collect();
        assert_eq!(kinds, ["assigned to dave", "unassigned (was dave)"]);
    }

    #[test]
    fn the_list_filters_by_assignee_and_by_unassigned() {
        let (_d, mut mgr) = three();
        let all = mgr.store().list(&AlertFilter::default()).unwrap();
        let bob = all
            .iter()
            .find(|a| a.source.as_deref() == Some("bob"))
            .unwrap();
        mgr.store().assign(&bob.uuid, Some("dave"), "erin").unwrap();
        let mine = AlertFilter {
            assignee: Some("dave".into()),
            ..Default::default()
        };
        assert_eq!(sources(mgr.store(), mine), ["bob"]);
        let nobody = AlertFilter {
            assignee: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(sources(mgr.store(), nobody), ["alice", "carol"]);
    }

    #[test]
    fn the_list_filters_by_rule_name_text_user_host_and_ip() {
        let (_d, mut mgr) = three();
        let st = mgr.store();
        let f = |g: fn(&mut AlertFilter)| {
            let mut f = AlertFilter::default();
            g(&mut f);
            f
        };
        assert_eq!(
            sources(st, f(|f| f.rule_name = Some("download".into()))),
            ["alice", "bob"]
        );
        assert_eq!(
            sources(st, f(|f| f.text = Some("EVIL.example".into()))),
            ["alice"]
        );
        assert_eq!(
            sources(st, f(|f| f.text = Some("100%".into()))),
            Vec::<String>::new()
        );
        assert_eq!(sources(st, f(|f| f.user = Some("carol".into()))), ["carol"]);
        assert_eq!(
            sources(st, f(|f| f.host = Some("10.0.0.2".into()))),
            ["bob"]
        );
        assert_eq!(
            sources(st, f(|f| f.ip = Some("203.0.113.9".into()))),
            ["carol"]
        );
        assert_eq!(
            sources(st, f(|f| f.ip = Some("10.0.0.1".into()))),
            ["alice"]
        );
        assert_eq!(st.count(&f(|f| f.user = Some("nobody".into()))).unwrap(), 0);
    }

    #[test]
    fn a_bulk_change_reports_each_alert_and_does_not_stop_at_a_refusal() {
        let (_d, mut mgr) = three();
        let all = mgr.store().list(&AlertFilter::default()).unwrap();
        let closed = &all[0].uuid;
        mgr.store()
            .set_status(closed, Status::Closed, "erin")
            .unwrap();
        let ids: Vec<String> = all
            .iter()
            .map(|a| a.uuid.clone())
            .chain(["AL-missing".to_string()])
            .collect();
        let out = mgr
            .store()
            .bulk(&ids, Some(Status::Acknowledged), Some(Some("dave")), "erin")
            .unwrap();
        let failed: Vec<&str> = out
            .iter()
            .filter(|o| o.error.is_some())
            .map(|o| o.id.as_str())
            .collect();
        assert_eq!(failed, [closed.as_str(), "AL-missing"]);
        for a in &all[1..] {
            let a = mgr.store().get(&a.uuid).unwrap();
            assert_eq!(a.status, Status::Acknowledged);
            assert_eq!(a.assignee.as_deref(), Some("dave"));
        }
    }

    #[test]
    fn a_bulk_change_of_too_many_alerts_is_refused() {
        let (_d, mut mgr) = three();
        let ids = vec!["x".to_string(); detect::alerts::MAX_BULK + 1];
        assert!(mgr
            .store()
            .bulk(&ids, Some(Status::Closed), None, "erin")
            .is_err());
    }

    #[test]
    fn rest_bulk_reopens_closed_alerts_and_assigns_them() {
        let (_d, mut mgr) = three();
        let ids: Vec<String> = mgr
            .store()
            .list(&AlertFilter::default())
            .unwrap()
            .into_iter()
            .map(|a| a.uuid)
            .collect();
        let body = json!({"ids": ids, "status": "Closed"}).to_string();
        let r = api::handle(
            mgr.store(),
            "POST",
            "/api/v1/alerts/bulk",
            "",
            body.as_bytes(),
            "erin",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["changed"], 3);
        let body = json!({"ids": ids, "status": "Ongoing", "assignee": "dave"}).to_string();
        let r = api::handle(
            mgr.store(),
            "POST",
            "/api/v1/alerts/bulk",
            "",
            body.as_bytes(),
            "erin",
        );
        assert_eq!(r.body["changed"], 3, "{}", r.body);
        let r = api::handle(
            mgr.store(),
            "GET",
            "/api/v1/alerts",
            "assignee=dave&status=Ongoing",
            b"",
            "erin",
        );
        assert_eq!(r.body["total"], 3, "{}", r.body);
    }

    #[test]
    fn rest_bulk_with_nothing_to_change_is_a_bad_request() {
        let (_d, mut mgr) = three();
        let r = api::handle(
            mgr.store(),
            "POST",
            "/api/v1/alerts/bulk",
            "",
            br#"{"ids": []}"#,
            "erin",
        );
        assert_eq!(r.status, 400);
    }

    #[test]
    fn rest_assignee_null_unassigns() {
        let (_d, mut mgr) = three();
        let id = mgr.store().list(&AlertFilter::default()).unwrap()[0]
            .uuid
            .clone();
        let path = format!("/api/v1/alerts/{id}/assignee");
        let r = api::handle(
            mgr.store(),
            "POST",
            &path,
            "",
            br#"{"assignee": "dave"}"#,
            "erin",
        );
        assert_eq!(r.body["assignee"], "dave", "{}", r.body);
        let r = api::handle(
            mgr.store(),
            "POST",
            &path,
            "",
            br#"{"assignee": null}"#,
            "erin",
        );
        assert_eq!(r.body["assignee"], Value::Null, "{}", r.body);
    }
}

#[test]
fn a_database_without_the_assignee_column_is_migrated_on_open() {
    let d = tempfile::tempdir().unwrap();
    {
        let c = rusqlite::Connection::open(d.path().join("alerts.db")).unwrap();
        c.execute_batch(
            "CREATE TABLE alerts (uuid TEXT PRIMARY KEY, short_id TEXT NOT NULL UNIQUE,
             similarity_key TEXT NOT NULL, status TEXT NOT NULL, rule_id TEXT NOT NULL,
             entity TEXT NOT NULL, updated_at TEXT NOT NULL, json TEXT NOT NULL);",
        )
        .unwrap();
    }
    let mut mgr = AlertManager::open(d.path()).unwrap();
    mgr.ingest(&m("r1", "One", "10.0.0.1", "x.example", "alice"))
        .unwrap();
    let id = mgr.store().list(&AlertFilter::default()).unwrap()[0]
        .uuid
        .clone();
    mgr.store().assign(&id, Some("dave"), "erin").unwrap();
    drop(mgr);
    // Opening again finds the column there and leaves it.
    let store = AlertStore::open(d.path()).unwrap();
    let f = AlertFilter {
        assignee: Some("dave".into()),
        ..Default::default()
    };
    assert_eq!(store.count(&f).unwrap(), 1);
}
