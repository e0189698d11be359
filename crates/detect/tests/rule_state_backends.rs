//! One behaviour suite for the rule state (`detect::rulestate::RuleStateStore`), run against
//! both backends (`pgstate::both_backends!`): `DATA/alerts.db` of one node, and PostgreSQL
//! (each test a database of its own). "Another node" is a second store on the same data.

use chrono::{TimeZone, Utc};
use detect::rulestate::{PendingHits, RuleStateStore};

mod sqlite {
    use super::*;

    /// Keeps the data directory alive.
    pub struct Db(pub tempfile::TempDir);

    pub fn open() -> (Db, RuleStateStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = RuleStateStore::open(dir.path()).unwrap();
        (Db(dir), s)
    }

    pub fn another_node(db: &Db) -> RuleStateStore {
        RuleStateStore::open(db.0.path()).unwrap()
    }
}

mod postgres {
    use super::*;

    /// The test's own database.
    pub struct Db(pub String);

    pub fn open() -> (Db, RuleStateStore) {
        let db = Db(pgstate::testing::fresh_database("rule_state"));
        let s = another_node(&db);
        (db, s)
    }

    pub fn another_node(db: &Db) -> RuleStateStore {
        let pg = pgstate::Pg::connect(&pgstate::PgConfig::new(db.0.clone())).unwrap();
        RuleStateStore::postgres(&pg).unwrap()
    }
}

fn hits(rule: &str, n: u64, minute: u32) -> PendingHits {
    let mut h = PendingHits::new();
    h.insert(
        rule.to_string(),
        (n, Utc.with_ymd_and_hms(2024, 5, 1, 10, minute, 0).unwrap()),
    );
    h
}

pgstate::both_backends! {
    #[test]
    fn a_rule_never_seen_is_enabled_and_not_listed() {
        let (_db, s) = open();
        assert!(s.all().unwrap().is_empty());
        assert!(s.disabled().unwrap().is_empty());
    }

    #[test]
    fn a_rule_disabled_on_one_node_is_disabled_for_another() {
        let (db, a) = open();
        let b = another_node(&db);
        let before = b.data_version().unwrap();
        a.set_enabled("r1", false).unwrap();
        assert_ne!(b.data_version().unwrap(), before, "the other node is not told");
        assert!(b.disabled().unwrap().contains("r1"));
        a.set_enabled("r1", true).unwrap();
        assert!(b.disabled().unwrap().is_empty());
        assert!(b.all().unwrap()["r1"].enabled);
    }

    #[test]
    fn hits_of_every_node_add_up_and_the_latest_time_is_kept() {
        let (db, mut a) = open();
        let mut b = another_node(&db);
        let mut h = hits("r1", 3, 20);
        a.add_hits(&mut h).unwrap();
        assert!(h.is_empty(), "pending hits are emptied once written");
        b.add_hits(&mut hits("r1", 4, 10)).unwrap();
        let st = a.all().unwrap()["r1"].clone();
        assert_eq!(st.hits, 7);
        assert_eq!(
            st.last_hit,
            Some(Utc.with_ymd_and_hms(2024, 5, 1, 10, 20, 0).unwrap())
        );
        assert!(st.enabled);
    }

    #[test]
    fn counting_hits_keeps_a_rule_disabled() {
        let (_db, mut s) = open();
        s.set_enabled("r1", false).unwrap();
        s.add_hits(&mut hits("r1", 2, 0)).unwrap();
        assert!(s.disabled().unwrap().contains("r1"));
        assert_eq!(s.all().unwrap()["r1"].hits, 2);
    }
}
