//! One behaviour suite for the CTI store (`detect::cti::CtiStore`), run against both backends
//! (`pgstate::both_backends!`): `DATA/cti.db` of one node, and PostgreSQL (each test a
//! database of its own). "Another node" is a second store on the same data.

use chrono::{Duration, TimeZone, Utc};
use detect::cti::sources::{is_due, poll_due};
use detect::cti::{CtiStore, HuntClaim};
use serde_json::{json, Value};

mod sqlite {
    use super::*;

    /// Keeps the data directory alive.
    pub struct Db(pub tempfile::TempDir);

    pub fn open() -> (Db, CtiStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = CtiStore::open(dir.path()).unwrap();
        (Db(dir), s)
    }

    pub fn another_node(db: &Db) -> CtiStore {
        CtiStore::open(db.0.path()).unwrap()
    }
}

mod postgres {
    use super::*;

    /// The test's own database.
    pub struct Db(pub String);

    pub fn open() -> (Db, CtiStore) {
        let db = Db(pgstate::testing::fresh_database("cti"));
        let s = another_node(&db);
        (db, s)
    }

    pub fn another_node(db: &Db) -> CtiStore {
        let pg = pgstate::Pg::connect(&pgstate::PgConfig::new(db.0.clone())).unwrap();
        CtiStore::postgres(&pg).unwrap()
    }
}

/// A STIX indicator for domain `name`, its id `indicator--name`, modified at `year`.
fn ind(name: &str, year: i32) -> Value {
    json!({"type": "indicator", "id": format!("indicator--{name}"),
           "pattern": format!("[domain-name:value = '{name}.example']"), "pattern_type": "stix",
           "modified": format!("{year}-01-01T00:00:00Z")})
}

fn bundle(objects: Vec<Value>) -> Value {
    json!({"type": "bundle", "id": "bundle--t", "objects": objects})
}

fn ids(inds: &[detect::cti::Indicator]) -> Vec<&str> {
    inds.iter().map(|i| i.id.as_str()).collect()
}

pgstate::both_backends! {
    #[test]
    fn an_import_counts_added_updated_unchanged_and_revoked_indicators() {
        let (_db, mut s) = open();
        let first = s.import_doc(&bundle(vec![ind("a", 2020), ind("b", 2020)]), "f").unwrap();
        assert_eq!((first.seen, first.added, first.updated), (2, 2, 0));
        let mut revoked_b = ind("b", 2021);
        revoked_b["revoked"] = true.into();
        let rep = s
            .import_doc(&bundle(vec![ind("a", 2020), revoked_b, ind("c", 2020)]), "f")
            .unwrap();
        assert_eq!(rep.seen, 3);
        assert_eq!(rep.added, 1, "c is new");
        assert_eq!(rep.updated, 1, "b has a newer version");
        assert_eq!(rep.unchanged, 1, "a is the same version");
        assert_eq!(rep.revoked, 1);
        assert_eq!(rep.changed_ids, vec!["indicator--b", "indicator--c"]);
        assert_eq!(s.count().unwrap(), 3);
        assert!(s.by_ids(&["indicator--b".into()]).unwrap()[0].revoked);
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let (_db, mut s) = open();
        s.import_doc(&bundle(vec![ind("a", 2021)]), "f").unwrap();
        let rep = s.import_doc(&bundle(vec![ind("a", 2020)]), "g").unwrap();
        assert_eq!(rep.unchanged, 1);
        assert_eq!(s.sources(Utc::now()).unwrap()[0].source, "f");
    }

    #[test]
    fn an_id_twice_in_one_document_keeps_its_newest_version() {
        let (_db, mut s) = open();
        let mut newer = ind("a", 2021);
        newer["name"] = "second".into();
        let rep = s.import_doc(&bundle(vec![ind("a", 2020), newer, ind("a", 2020)]), "f").unwrap();
        assert_eq!((rep.added, rep.updated, rep.unchanged), (1, 1, 1));
        let all = s.all().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].name, "second");
    }

    #[test]
    fn by_ids_returns_the_stored_indicators_in_the_order_asked() {
        let (_db, mut s) = open();
        s.import_doc(&bundle(vec![ind("a", 2020), ind("b", 2020)]), "f").unwrap();
        let found = s
            .by_ids(&["indicator--b".into(), "indicator--none".into(), "indicator--a".into()])
            .unwrap();
        assert_eq!(ids(&found), vec!["indicator--b", "indicator--a"]);
    }

    #[test]
    fn all_lists_every_indicator_by_id() {
        let (_db, mut s) = open();
        s.import_doc(&bundle(vec![ind("b", 2020), ind("a", 2020), ind("B", 2020)]), "f").unwrap();
        assert_eq!(
            ids(&s.all().unwrap()),
            vec!["indicator--B", "indicator--a", "indicator--b"]
        );
    }

    #[test]
    fn an_empty_store_has_no_version() {
        let (_db, s) = open();
        assert_eq!(s.version().unwrap(), None);
        assert_eq!(s.count().unwrap(), 0);
    }

    #[test]
    fn an_import_on_one_node_changes_the_version_the_other_node_sees() {
        let (db, mut a) = open();
        let b = another_node(&db);
        a.import_doc(&bundle(vec![ind("a", 2020)]), "f").unwrap();
        let seen = b.version().unwrap().expect("a version after an import");
        a.import_doc(&bundle(vec![ind("b", 2020), ind("a", 2021)]), "g").unwrap();
        let now = b.version().unwrap();
        assert_ne!(now.as_deref(), Some(seen.as_str()), "the other node is not told");
        assert_eq!(
            ids(&b.imported_after(&seen).unwrap()),
            vec!["indicator--a", "indicator--b"],
            "what the second import wrote"
        );
        assert!(b.imported_after(&now.unwrap()).unwrap().is_empty());
        assert_eq!(b.count().unwrap(), 2);
    }

    #[test]
    fn an_import_that_changes_nothing_keeps_the_version() {
        let (db, mut a) = open();
        a.import_doc(&bundle(vec![ind("a", 2020)]), "f").unwrap();
        let before = a.version().unwrap();
        another_node(&db).import_doc(&bundle(vec![ind("a", 2020)]), "f").unwrap();
        assert_eq!(a.version().unwrap(), before);
    }

    #[test]
    fn imports_on_two_nodes_at_once_are_all_seen_after_the_version_before_them() {
        let (db, mut a) = open();
        a.import_doc(&bundle(vec![ind("base", 2020)]), "f").unwrap();
        let before = a.version().unwrap().unwrap();
        let nodes: Vec<_> = (0..2).map(|_| another_node(&db)).collect();
        let threads: Vec<_> = nodes
            .into_iter()
            .enumerate()
            .map(|(n, mut s)| {
                std::thread::spawn(move || {
                    for i in 0..5 {
                        s.import_doc(&bundle(vec![ind(&format!("n{n}i{i}"), 2020)]), "f")
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(a.imported_after(&before).unwrap().len(), 10);
        assert_eq!(a.count().unwrap(), 11);
    }

    #[test]
    fn sources_count_the_indicators_of_each_source_and_the_active_ones() {
        let (_db, mut s) = open();
        let mut expired = ind("old", 2020);
        expired["valid_until"] = "2021-01-01T00:00:00Z".into();
        let mut revoked = ind("gone", 2020);
        revoked["revoked"] = true.into();
        let mut later = ind("later", 2020);
        later["valid_from"] = "2999-01-01T00:00:00Z".into();
        s.import_doc(&bundle(vec![ind("a", 2020), expired, revoked, later]), "feed-b").unwrap();
        s.import_doc(&bundle(vec![ind("z", 2020)]), "feed-a").unwrap();
        let sums = s.sources(Utc::now()).unwrap();
        let rows: Vec<(&str, u64, u64)> = sums
            .iter()
            .map(|x| (x.source.as_str(), x.indicators, x.active))
            .collect();
        assert_eq!(rows, vec![("feed-a", 1, 1), ("feed-b", 4, 1)]);
        assert!(sums.iter().all(|x| x.imported_at.is_some()));
    }

    #[test]
    fn a_feed_cursor_saved_on_one_node_is_read_on_the_other() {
        let (db, a) = open();
        let b = another_node(&db);
        assert_eq!(b.cursor("https://feed.example/").unwrap(), None);
        a.set_cursor("https://feed.example/", Some("c1")).unwrap();
        a.set_cursor("https://other.example/", Some("x")).unwrap();
        assert_eq!(b.cursor("https://feed.example/").unwrap().as_deref(), Some("c1"));
        b.set_cursor("https://feed.example/", None).unwrap();
        assert_eq!(a.cursor("https://feed.example/").unwrap(), None);
        assert_eq!(a.cursor("https://other.example/").unwrap().as_deref(), Some("x"));
    }

    #[test]
    fn registered_sources_are_added_changed_listed_and_removed() {
        let (db, a) = open();
        let b = another_node(&db);
        a.add_source("https://b.example/feed", 3600, Some("TOKEN")).unwrap();
        a.add_source("https://a.example/taxii/collections/c/", 60, None).unwrap();
        a.add_source("https://b.example/feed", 600, None).unwrap();
        let list = b.registered_sources().unwrap();
        let rows: Vec<(&str, u64, Option<&str>)> = list
            .iter()
            .map(|x| (x.url.as_str(), x.every_secs, x.token_env.as_deref()))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("https://a.example/taxii/collections/c/", 60, None),
                ("https://b.example/feed", 600, None)
            ]
        );
        assert!(list.iter().all(|x| x.last_run.is_none() && x.last_error.is_none()));
        assert!(b.remove_source("https://b.example/feed").unwrap());
        assert!(!a.remove_source("https://b.example/feed").unwrap());
        assert_eq!(a.registered_sources().unwrap().len(), 1);
    }

    #[test]
    fn a_source_that_is_not_http_or_polled_too_often_is_refused() {
        let (_db, s) = open();
        assert!(s.add_source("file:///etc/passwd", 3600, None).is_err());
        assert!(s.add_source("https://a.example/", 1, None).is_err());
        assert!(s.registered_sources().unwrap().is_empty());
    }

    #[test]
    fn only_one_of_two_nodes_claims_a_due_source() {
        let (db, a) = open();
        let b = another_node(&db);
        a.add_source("https://a.example/feed", 60, None).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        // Both nodes read the source, due, before either claims it.
        let seen_a = a.registered_sources().unwrap().remove(0);
        let seen_b = b.registered_sources().unwrap().remove(0);
        assert!(is_due(&seen_a, now) && is_due(&seen_b, now));
        assert!(a.claim_source(&seen_a, now).unwrap());
        assert!(!b.claim_source(&seen_b, now).unwrap(), "both nodes would poll it");
        let after = b.registered_sources().unwrap().remove(0);
        assert_eq!(after.last_run, Some(now));
        assert!(!is_due(&after, now + Duration::seconds(59)));
        // One interval later it is due again, for whichever node claims it first.
        let later = now + Duration::seconds(60);
        assert!(is_due(&after, later));
        assert!(b.claim_source(&after, later).unwrap());
        assert!(!a.claim_source(&after, later).unwrap());
    }

    #[test]
    fn a_poll_records_its_outcome_for_every_node_to_see() {
        let (db, mut a) = open();
        let b = another_node(&db);
        // Nothing listens on port 9 of the loopback: the poll fails at once.
        a.add_source("http://127.0.0.1:9/feed", 60, None).unwrap();
        let now = Utc::now();
        let runs = poll_due(&mut a, now).unwrap();
        assert_eq!(runs.len(), 1);
        assert!(runs[0].1.is_err());
        let s = b.registered_sources().unwrap().remove(0);
        assert!(s.last_run.is_some());
        assert!(s.last_error.is_some());
        assert!(s.last_ok.is_none());
        let mut b = b;
        assert!(poll_due(&mut b, now).unwrap().is_empty(), "polled again before its interval");
    }
}

/// PostgreSQL only: a store of one node (SQLite) always hunts its own range.
#[test]
fn of_two_nodes_reloading_the_same_import_one_claims_its_retrohunt() {
    let (db, mut a) = postgres::open();
    let b = postgres::another_node(&db);
    a.import_doc(&bundle(vec![ind("a", 2020)]), "f").unwrap();
    let v1 = a.version().unwrap().unwrap();
    // Both nodes load version 1 for the first time: one hunts everything, the other nothing.
    assert_eq!(a.claim_retrohunt(None, &v1).unwrap(), Some(None));
    assert_eq!(b.claim_retrohunt(None, &v1).unwrap(), None, "hunted twice");
    a.import_doc(&bundle(vec![ind("b", 2020)]), "f").unwrap();
    let v2 = a.version().unwrap().unwrap();
    a.import_doc(&bundle(vec![ind("c", 2020)]), "f").unwrap();
    let v3 = a.version().unwrap().unwrap();
    // A node that reloads at version 3 hunts what came after the last claimed version,
    // whatever it loaded last; a node that reloads at version 2 afterwards hunts nothing.
    assert_eq!(
        b.claim_retrohunt(Some(&v1), &v3).unwrap(),
        Some(Some(v1.clone()))
    );
    assert_eq!(a.claim_retrohunt(Some(&v1), &v2).unwrap(), None);
    assert_eq!(
        ids(&b.imported_after(&v1).unwrap()),
        vec!["indicator--b", "indicator--c"]
    );
}

/// PostgreSQL only: a node that died after claiming a retrohunt, before finishing it.
#[test]
fn a_retrohunt_left_unfinished_is_taken_over_with_its_range_once_its_lease_ran_out() {
    let (db, mut a) = postgres::open();
    let b = postgres::another_node(&db);
    a.import_doc(&bundle(vec![ind("a", 2020)]), "f").unwrap();
    let v1 = a.version().unwrap().unwrap();
    assert_eq!(a.claim_retrohunt(None, &v1).unwrap(), Some(None));
    a.finish_retrohunt(&v1).unwrap();
    a.import_doc(&bundle(vec![ind("b", 2020)]), "f").unwrap();
    let v2 = a.version().unwrap().unwrap();
    a.set_retrohunt_lease(std::time::Duration::ZERO);
    assert_eq!(
        a.claim_retrohunt(Some(&v1), &v2).unwrap(),
        Some(Some(v1.clone()))
    );
    // `a` dies here. Its claim is taken over by `b`, once, with the range `a` had claimed.
    assert_eq!(
        b.take_over_retrohunt().unwrap(),
        Some(HuntClaim {
            from: Some(v1),
            upto: v2
        })
    );
    let c = postgres::another_node(&db);
    assert_eq!(c.take_over_retrohunt().unwrap(), None, "taken over twice");
}

#[test]
fn a_retrohunt_within_its_lease_is_not_taken_over() {
    let (db, mut a) = postgres::open();
    let b = postgres::another_node(&db);
    a.import_doc(&bundle(vec![ind("a", 2020)]), "f").unwrap();
    let v1 = a.version().unwrap().unwrap();
    assert_eq!(a.claim_retrohunt(None, &v1).unwrap(), Some(None));
    assert_eq!(b.take_over_retrohunt().unwrap(), None);
}

#[test]
fn a_finished_retrohunt_is_not_taken_over() {
    let (db, mut a) = postgres::open();
    let b = postgres::another_node(&db);
    a.import_doc(&bundle(vec![ind("a", 2020)]), "f").unwrap();
    let v1 = a.version().unwrap().unwrap();
    a.set_retrohunt_lease(std::time::Duration::ZERO);
    assert_eq!(a.claim_retrohunt(None, &v1).unwrap(), Some(None));
    a.finish_retrohunt(&v1).unwrap();
    assert_eq!(b.take_over_retrohunt().unwrap(), None);
}

#[test]
fn a_store_of_one_node_hunts_its_own_range_at_every_reload() {
    let (_db, mut a) = sqlite::open();
    a.import_doc(&bundle(vec![ind("a", 2020)]), "f").unwrap();
    let v1 = a.version().unwrap().unwrap();
    assert_eq!(a.claim_retrohunt(None, &v1).unwrap(), Some(None));
    assert_eq!(a.claim_retrohunt(None, &v1).unwrap(), Some(None));
    assert_eq!(
        a.claim_retrohunt(Some("x"), &v1).unwrap(),
        Some(Some("x".to_string()))
    );
}
