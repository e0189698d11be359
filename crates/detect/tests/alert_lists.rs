//! The lists of an alert that grow with its matches (event ids, users, hosts,
//! destinations), stored apart from the alert and appended to: their caps, their order, no
//! value twice, through commits that read them whole or only count them; and the migration
//! of databases whose alerts still hold them in their JSON. Run on both backends.

mod common;

use common::alert_backends::{postgres, sqlite};
use detect::alerts::{AlertFilter, MAX_EVENT_IDS, MAX_INVOLVED};
use detect::chrono::Utc;
use detect::detector::RuleRef;
use detect::{Alert, AlertChange, Match, RuleType};
use serde_json::Value;

/// A match of rule r1 from 10.0.0.1 (one alert for all of them) on events `ids`, by `user`.
fn m(ids: &[&str], user: &str) -> Match {
    Match {
        rule: RuleRef {
            id: "r1".into(),
            name: "Rule one".into(),
            author: None,
            severity: "high".into(),
            kind: RuleType::Sigma,
        },
        urgency: 70,
        description: None,
        timestamp: Utc::now(),
        entity: "default".into(),
        source: Some(user.into()),
        target: Some("x.example".into()),
        source_ip: Some("10.0.0.1".into()),
        destination_ip: Some("203.0.113.7".into()),
        dns_name: None,
        dataset: Some("web".into()),
        event_ids: ids.iter().map(|s| s.to_string()).collect(),
        group_key: vec![],
        alert_group: vec![("source.ip".into(), "10.0.0.1".into())],
        alert_window_secs: None,
        user: Some(user.into()),
        correlation: true,
        retrohunt: false,
        details: Value::Null,
    }
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("ev-{i}")).collect()
}

fn only(all: Vec<Alert>) -> Alert {
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().unwrap()
}

pgstate::both_backends! {
    #[test]
    fn an_alert_keeps_its_first_event_ids_in_order_up_to_the_cap_across_commits() {
        let db = Db::new();
        let mut mgr = db.manager();
        let all = ids(0..MAX_EVENT_IDS + 200);
        for chunk in all.chunks(150) {
            let batch: Vec<Match> = chunk.iter().map(|id| m(&[id], "alice")).collect();
            mgr.ingest_counted(&batch).unwrap();
        }
        let a = only(db.store().list(&AlertFilter::default()).unwrap());
        assert_eq!(a.event_ids, all[..MAX_EVENT_IDS]);
        assert_eq!(a.similar, (MAX_EVENT_IDS + 200 - 1) as u64);
    }

    #[test]
    fn an_event_id_the_alert_holds_is_not_added_again() {
        let db = Db::new();
        let mut mgr = db.manager();
        mgr.ingest_counted(&[m(&["a", "b"], "alice")]).unwrap();
        // Overlapping windows of a correlation, in one commit and across commits.
        mgr.ingest_counted(&[m(&["b", "c"], "alice"), m(&["c", "d"], "alice")])
            .unwrap();
        mgr.ingest_counted(&[m(&["a", "d", "e"], "alice")]).unwrap();
        let a = db.store().get(&only(db.store().list(&AlertFilter::default()).unwrap()).uuid);
        assert_eq!(a.unwrap().event_ids, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn an_event_id_a_long_list_holds_is_not_added_again() {
        let db = Db::new();
        let mut mgr = db.manager();
        let window = |r: std::ops::Range<usize>| {
            let ids = ids(r);
            m(&ids.iter().map(String::as_str).collect::<Vec<_>>(), "alice")
        };
        // Past the length where a list is looked up rather than scanned, in one commit (the
        // list read whole) and across commits (only counted).
        mgr.ingest_all(&[window(0..40), window(30..60), window(0..60)])
            .unwrap();
        mgr.ingest_counted(&[window(50..80), window(70..90), window(85..90)])
            .unwrap();
        let a = db.store().get(&only(db.store().list(&AlertFilter::default()).unwrap()).uuid);
        assert_eq!(a.unwrap().event_ids, ids(0..90));
    }

    #[test]
    fn the_involved_users_are_distinct_in_order_and_capped() {
        let db = Db::new();
        let mut mgr = db.manager();
        let users: Vec<String> = (0..MAX_INVOLVED + 20).map(|i| format!("user{i}")).collect();
        for (i, chunk) in users.chunks(30).enumerate() {
            let batch: Vec<Match> = chunk
                .iter()
                .chain(chunk)
                .enumerate()
                .map(|(j, u)| m(&[&format!("ev-{i}-{j}")], u))
                .collect();
            mgr.ingest_counted(&batch).unwrap();
        }
        let a = only(db.store().list(&AlertFilter::default()).unwrap());
        assert_eq!(a.users, users[..MAX_INVOLVED]);
        assert_eq!(a.hosts, ["10.0.0.1"]);
        assert_eq!(a.destinations, ["x.example"]);
    }

    #[test]
    fn a_change_handed_out_holds_the_lists_of_earlier_commits() {
        let db = Db::new();
        let mut mgr = db.manager();
        mgr.ingest_counted(&[m(&["a"], "alice"), m(&["b"], "bob")]).unwrap();
        let changes = mgr.ingest_all(&[m(&["c"], "carol")]).unwrap();
        let [AlertChange::Updated(a)] = &changes[..] else {
            panic!("{changes:?}");
        };
        assert_eq!(a.event_ids, ["a", "b", "c"]);
        assert_eq!(a.users, ["alice", "bob", "carol"]);
    }

    #[test]
    fn triage_leaves_the_lists_as_they_are() {
        let db = Db::new();
        let mut mgr = db.manager();
        mgr.ingest_counted(&[m(&["a"], "alice"), m(&["b"], "bob")]).unwrap();
        let id = only(db.store().list(&AlertFilter::default()).unwrap()).uuid;
        let mut store = db.store();
        let commented = store.comment(&id, "looking", "erin").unwrap();
        assert_eq!(commented.event_ids, ["a", "b"]);
        mgr.ingest_counted(&[m(&["c"], "carol")]).unwrap();
        let a = store.get(&id).unwrap();
        assert_eq!(a.event_ids, ["a", "b", "c"]);
        assert_eq!(a.users, ["alice", "bob", "carol"]);
        assert_eq!(a.comments.len(), 1);
    }

    #[test]
    fn the_text_filter_finds_a_value_of_the_lists() {
        let db = Db::new();
        let mut mgr = db.manager();
        mgr.ingest_counted(&[m(&["ev-first"], "alice"), m(&["ev-second"], "Bob.Smith")])
            .unwrap();
        let f = |t: &str| AlertFilter {
            text: Some(t.into()),
            ..Default::default()
        };
        assert_eq!(db.store().count(&f("bob.smith")).unwrap(), 1);
        assert_eq!(db.store().count(&f("ev-second")).unwrap(), 1);
        assert_eq!(db.store().count(&f("mallory")).unwrap(), 0);
    }
}

/// An alert as versions before `alert_lists` stored it: whole, lists included, in its JSON.
fn old_alert(uuid: &str) -> Alert {
    let db = sqlite::Db::new();
    let mut mgr = db.manager();
    mgr.ingest_counted(&[m(&["a", "b"], "alice"), m(&["c"], "bob")])
        .unwrap();
    let mut a = only(db.store().list(&AlertFilter::default()).unwrap());
    a.uuid = uuid.into();
    a
}

#[test]
fn an_alerts_db_with_the_lists_in_the_json_is_migrated_on_open() {
    let d = tempfile::tempdir().unwrap();
    let old = old_alert("9d7c1e4e-0000-4000-8000-000000000001");
    {
        let c = rusqlite::Connection::open(d.path().join("alerts.db")).unwrap();
        c.execute_batch(
            "CREATE TABLE alerts (uuid TEXT PRIMARY KEY, short_id TEXT NOT NULL UNIQUE,
             similarity_key TEXT NOT NULL, status TEXT NOT NULL, rule_id TEXT NOT NULL,
             entity TEXT NOT NULL, updated_at TEXT NOT NULL, json TEXT NOT NULL,
             assignee TEXT);",
        )
        .unwrap();
        c.execute(
            "INSERT INTO alerts VALUES (?1, ?2, ?3, 'Pending', ?4, ?5, ?6, ?7, NULL)",
            rusqlite::params![
                old.uuid,
                old.short_id,
                old.similarity_key,
                old.rule.id,
                old.entity,
                old.updated_at.to_rfc3339(),
                serde_json::to_string(&old).unwrap()
            ],
        )
        .unwrap();
    }
    let mut mgr = detect::AlertManager::open(d.path()).unwrap();
    assert_eq!(mgr.store().get(&old.uuid).unwrap(), old);
    mgr.ingest_counted(&[m(&["b", "d"], "carol")]).unwrap();
    let a = mgr.store().get(&old.uuid).unwrap();
    assert_eq!(a.event_ids, ["a", "b", "c", "d"]);
    assert_eq!(a.users, ["alice", "bob", "carol"]);
}

#[test]
fn a_postgres_alerts_schema_with_the_lists_in_the_json_is_migrated() {
    let pg = pgstate::testing::fresh("alerts_lists");
    let steps = detect::alerts::PgAlerts::schema_steps();
    // The version before `alert_lists`: the first two steps.
    pg.migrate("alerts", &steps[..2]).unwrap();
    let old = old_alert("9d7c1e4e-0000-4000-8000-000000000002");
    pg.execute(
        "INSERT INTO alerts (uuid, short_id, similarity_key, status, rule_id, entity, updated_at,
           json) VALUES ($1, $2, $3, 'Pending', $4, $5, $6, $7)",
        vec![
            pgstate::p(old.uuid.clone()),
            pgstate::p(old.short_id.clone()),
            pgstate::p(old.similarity_key.clone()),
            pgstate::p(old.rule.id.clone()),
            pgstate::p(old.entity.clone()),
            pgstate::p(old.updated_at.to_rfc3339()),
            pgstate::p(serde_json::to_string(&old).unwrap()),
        ],
    )
    .unwrap();
    let mut mgr = detect::AlertManager::with_store(detect::AlertStore::postgres(&pg).unwrap());
    assert_eq!(mgr.store().get(&old.uuid).unwrap(), old);
    mgr.ingest_counted(&[m(&["b", "d"], "carol")]).unwrap();
    let a = mgr.store().get(&old.uuid).unwrap();
    assert_eq!(a.event_ids, ["a", "b", "c", "d"]);
    assert_eq!(a.users, ["alice", "bob", "carol"]);
}
