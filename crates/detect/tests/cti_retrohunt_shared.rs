//! The retrohunt of a new CTI import in a cluster: the workers read one event store
//! (ClickHouse, an `EventSource` that says it is shared) and one CTI store in PostgreSQL, so
//! of the workers that reload the import, one hunts it and the others only reload their
//! matcher. A node's own store (not shared) is always hunted by that node.
//!
//! PostgreSQL from `.ci/postgres.sh` (a database of each test's own).

use std::cell::Cell;

use detect::alerts::AlertsAt;
use detect::cti::CtiStore;
use detect::{DetectionService, ServiceOptions};
use serde_json::{json, Map, Value};

/// Stored events, counting the scans a retrohunt makes of them.
struct Stored {
    events: Vec<Value>,
    shared: bool,
    scans: Cell<usize>,
}

impl detect::cti::EventSource for Stored {
    fn scan_since(
        &self,
        _since: detect::chrono::DateTime<detect::chrono::Utc>,
        visit: &mut dyn FnMut(&Map<String, Value>) -> bool,
    ) -> Result<(), String> {
        self.scans.set(self.scans.get() + 1);
        for e in &self.events {
            if let Some(m) = e.as_object() {
                if !visit(m) {
                    break;
                }
            }
        }
        Ok(())
    }

    fn shared(&self) -> bool {
        self.shared
    }
}

/// A worker of the cluster on `url`'s database (a connection pool of its own).
fn worker(url: &str) -> (tempfile::TempDir, DetectionService) {
    let pg = pgstate::Pg::connect(&pgstate::PgConfig::new(url.to_string())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = ServiceOptions {
        data_dir: dir.path().to_path_buf(),
        retrohunt_days: 30,
        ..ServiceOptions::default()
    };
    let svc = DetectionService::open_in(
        &opts,
        None,
        &AlertsAt::postgres(&pg).unwrap(),
        CtiStore::postgres(&pg).unwrap(),
    )
    .unwrap();
    (dir, svc)
}

/// A stored web event to `domain`, seen now.
fn event_to(domain: &str) -> Value {
    json!({"@timestamp": detect::chrono::Utc::now().to_rfc3339(),
           "event": {"dataset": "web", "kind": "event"},
           "source": {"ip": "10.9.9.9"}, "url": {"domain": domain},
           "ziaxdr": {"event_id": "00000000-0000-4000-8000-000000000001"}})
}

/// Imports a domain indicator through a third handle on the cluster's CTI store.
fn import(url: &str, domain: &str) {
    let pg = pgstate::Pg::connect(&pgstate::PgConfig::new(url.to_string())).unwrap();
    let mut cti = CtiStore::postgres(&pg).unwrap();
    let doc = json!({"type": "bundle", "id": "bundle--t", "objects": [{
        "type": "indicator", "id": format!("indicator--{domain}"),
        "pattern": format!("[domain-name:value = '{domain}']"), "pattern_type": "stix",
        "modified": "2020-01-01T00:00:00Z"}]});
    cti.import_doc(&doc, "feed").unwrap();
}

fn stored(events: Vec<Value>, shared: bool) -> Stored {
    Stored {
        events,
        shared,
        scans: Cell::new(0),
    }
}

#[test]
fn of_two_workers_reading_one_store_only_one_retrohunts_an_import() {
    let url = pgstate::testing::fresh_database("cti_hunt_shared");
    let (_a_dir, mut a) = worker(&url);
    let (_b_dir, mut b) = worker(&url);
    let clickhouse = stored(vec![event_to("c2-one.example")], true);
    import(&url, "c2-one.example");
    let hunt_a = a.reload_cti(Some(&clickhouse)).unwrap();
    let hunt_b = b.reload_cti(Some(&clickhouse)).unwrap();
    assert_eq!(
        clickhouse.scans.get(),
        1,
        "the store was hunted by both workers"
    );
    let hunt = hunt_a.or(hunt_b).expect("one of them hunts");
    assert_eq!(hunt.matches.len(), 1);
    // The next import is hunted once too, by whichever worker reloads first.
    import(&url, "c2-two.example");
    let hunt_b = b.reload_cti(Some(&clickhouse)).unwrap();
    let hunt_a = a.reload_cti(Some(&clickhouse)).unwrap();
    assert_eq!(clickhouse.scans.get(), 2);
    assert!(hunt_b.is_some() && hunt_a.is_none());
}

#[test]
fn each_node_retrohunts_its_own_store() {
    let url = pgstate::testing::fresh_database("cti_hunt_own");
    let (_a_dir, mut a) = worker(&url);
    let (_b_dir, mut b) = worker(&url);
    let (own_a, own_b) = (
        stored(vec![event_to("c2-own.example")], false),
        stored(vec![], false),
    );
    import(&url, "c2-own.example");
    let hunt_a = a
        .reload_cti(Some(&own_a))
        .unwrap()
        .expect("a hunts its store");
    assert_eq!(hunt_a.matches.len(), 1);
    assert!(b.reload_cti(Some(&own_b)).unwrap().is_some());
    assert_eq!((own_a.scans.get(), own_b.scans.get()), (1, 1));
}

#[test]
fn a_retrohunt_whose_worker_died_mid_hunt_is_taken_over_by_another_worker() {
    let url = pgstate::testing::fresh_database("cti_hunt_takeover");
    let (_b_dir, mut b) = worker(&url);
    let clickhouse = stored(vec![event_to("c2-dead.example")], true);
    import(&url, "c2-dead.example");
    // A worker reloads the import, claims its retrohunt with a lease that runs out at once,
    // and dies before hunting.
    let pg = pgstate::Pg::connect(&pgstate::PgConfig::new(url.clone())).unwrap();
    let mut dead = CtiStore::postgres(&pg).unwrap();
    dead.set_retrohunt_lease(std::time::Duration::ZERO);
    let version = dead.version().unwrap().unwrap();
    assert_eq!(dead.claim_retrohunt(None, &version).unwrap(), Some(None));
    drop(dead);
    let hunt = b
        .reload_cti(Some(&clickhouse))
        .unwrap()
        .expect("the other worker takes the hunt over");
    assert_eq!(hunt.matches.len(), 1);
    let alerts = b.alerts().list(&Default::default()).unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
}
