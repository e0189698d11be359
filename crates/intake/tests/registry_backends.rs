//! The registry's behaviour, once per backend (SQLite and PostgreSQL, through
//! `pgstate::both_backends!`), and what a cluster adds: a second node sees a key change
//! within seconds, and a node keeps accepting its cached keys while PostgreSQL is down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use intake::auth::{AuthOutcome, Authenticator};
use intake::registry::{
    hash_key, Registry, RegistryError, Status, DEFAULT_INTAKE_NAME, FORMAT_ZIA,
};
use intake::uuid::Uuid;

/// The embedded backend: a registry in a temporary directory.
mod sqlite {
    use super::*;

    /// Keeps the registry's files.
    pub type Guard = tempfile::TempDir;

    /// A new, empty registry.
    pub fn open() -> (Guard, Registry) {
        let d = tempfile::tempdir().unwrap();
        let r = Registry::open_in(d.path()).unwrap();
        (d, r)
    }

    /// Another handle on the same registry (another process, or another node).
    pub fn second(g: &Guard) -> Registry {
        Registry::open_in(g.path()).unwrap()
    }
}

/// The cluster backend: a database of its own per test.
mod postgres {
    use super::*;

    /// The database's URL.
    pub type Guard = String;

    /// A new, empty registry.
    pub fn open() -> (Guard, Registry) {
        let url = pgstate::testing::fresh_database("registry");
        let r = second(&url);
        (url, r)
    }

    /// Another handle on the same registry (another node, with its own pool).
    pub fn second(url: &Guard) -> Registry {
        let pg = pgstate::Pg::connect(&pgstate::PgConfig::new(url.clone())).unwrap();
        Registry::postgres(&pg).unwrap()
    }
}

pgstate::both_backends! {
    #[test]
    fn a_new_key_is_32_alphanumerics_and_authenticates_its_intake() {
        let (_g, r) = open();
        let e = r.create_entity("acme").unwrap();
        let n = r.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
        assert_eq!(n.intake_key.len(), 32);
        assert!(n.intake_key.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(r.authenticate(&n.intake_key).unwrap().unwrap().uuid, n.intake.uuid);
        assert!(r.authenticate("x".repeat(32).as_str()).unwrap().is_none());
    }

    #[test]
    fn an_intake_reads_back_as_it_was_created() {
        let (_g, r) = open();
        let e = r.create_entity("acme").unwrap();
        let n = r.create_intake("  feed one ", FORMAT_ZIA, e.uuid).unwrap();
        let got = r.get_intake(n.intake.uuid).unwrap();
        assert_eq!(got, n.intake);
        assert_eq!(got.name, "feed one");
        assert_eq!(got.key_hash, hash_key(&n.intake_key));
        assert_eq!(got.status, Status::Enabled);
    }

    #[test]
    fn rotating_a_key_invalidates_the_old_one() {
        let (_g, r) = open();
        let e = r.create_entity("acme").unwrap();
        let n = r.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
        let rotated = r.rotate_key(n.intake.uuid).unwrap();
        assert!(r.authenticate(&n.intake_key).unwrap().is_none());
        assert!(r.authenticate(&rotated.intake_key).unwrap().is_some());
    }

    #[test]
    fn a_deleted_intake_no_longer_authenticates() {
        let (_g, r) = open();
        let e = r.create_entity("acme").unwrap();
        let n = r.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
        r.delete_intake(n.intake.uuid).unwrap();
        assert!(r.authenticate(&n.intake_key).unwrap().is_none());
        assert!(matches!(r.delete_intake(n.intake.uuid), Err(RegistryError::NotFound(_))));
    }

    #[test]
    fn an_unknown_intake_is_not_found_for_every_change() {
        let (_g, r) = open();
        let u = Uuid::now_v7();
        assert!(matches!(r.get_intake(u), Err(RegistryError::NotFound(_))));
        assert!(matches!(r.rotate_key(u), Err(RegistryError::NotFound(_))));
        assert!(matches!(r.set_status(u, Status::Disabled), Err(RegistryError::NotFound(_))));
    }

    #[test]
    fn disabling_an_intake_is_stored() {
        let (_g, r) = open();
        let e = r.create_entity("acme").unwrap();
        let n = r.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
        assert_eq!(r.set_status(n.intake.uuid, Status::Disabled).unwrap().status, Status::Disabled);
        assert_eq!(r.get_intake(n.intake.uuid).unwrap().status, Status::Disabled);
        assert_eq!(r.set_status(n.intake.uuid, Status::Enabled).unwrap().status, Status::Enabled);
    }

    #[test]
    fn an_unknown_format_or_entity_is_refused() {
        let (_g, r) = open();
        let e = r.create_entity("acme").unwrap();
        assert!(matches!(r.create_intake("x", "cef", e.uuid), Err(RegistryError::Invalid(_))));
        assert!(matches!(
            r.create_intake("x", FORMAT_ZIA, Uuid::now_v7()),
            Err(RegistryError::NotFound(_))
        ));
        assert!(r.list_intakes().unwrap().is_empty());
    }

    #[test]
    fn a_duplicate_or_empty_entity_name_is_refused() {
        let (_g, r) = open();
        r.create_entity("acme").unwrap();
        assert!(matches!(r.create_entity("acme"), Err(RegistryError::Invalid(_))));
        assert!(matches!(r.create_entity("  "), Err(RegistryError::Invalid(_))));
        assert_eq!(r.list_entities().unwrap().len(), 1);
    }

    #[test]
    fn entities_and_intakes_list_oldest_first() {
        let (_g, r) = open();
        let a = r.create_entity("a").unwrap();
        let b = r.create_entity("b").unwrap();
        let names: Vec<_> = r.list_entities().unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["a", "b"]);
        let i1 = r.create_intake("one", FORMAT_ZIA, b.uuid).unwrap();
        let i2 = r.create_intake("two", FORMAT_ZIA, a.uuid).unwrap();
        let ids: Vec<_> = r.list_intakes().unwrap().into_iter().map(|i| i.uuid).collect();
        assert_eq!(ids, [i1.intake.uuid, i2.intake.uuid]);
    }

    #[test]
    fn an_entity_is_found_by_name_or_uuid() {
        let (_g, r) = open();
        let e = r.create_entity("soc").unwrap();
        assert_eq!(r.find_entity("soc").unwrap(), e);
        assert_eq!(r.find_entity(&e.uuid.to_string()).unwrap(), e);
        assert!(matches!(r.find_entity("nope"), Err(RegistryError::NotFound(_))));
    }

    #[test]
    fn ensure_entity_finds_the_entity_another_handle_created() {
        let (g, r) = open();
        let mine = r.ensure_entity("soc").unwrap();
        let other = second(&g);
        assert_eq!(other.ensure_entity("soc").unwrap().uuid, mine.uuid);
        assert_eq!(r.list_entities().unwrap().len(), 1);
    }

    #[test]
    fn bootstrap_runs_once_on_an_empty_registry() {
        let (_g, r) = open();
        let b = r.bootstrap().unwrap().unwrap();
        assert_eq!(b.intake.intake.name, DEFAULT_INTAKE_NAME);
        assert_eq!(b.intake.intake.format, FORMAT_ZIA);
        assert_eq!(r.admin_token_hash().unwrap(), Some(hash_key(&b.admin_token)));
        assert!(r.bootstrap().unwrap().is_none());
    }

    #[test]
    fn the_admin_token_hash_can_be_replaced() {
        let (_g, r) = open();
        assert_eq!(r.admin_token_hash().unwrap(), None);
        r.set_admin_token("first").unwrap();
        r.set_admin_token("second").unwrap();
        assert_eq!(r.admin_token_hash().unwrap(), Some(hash_key("second")));
    }

    #[test]
    fn another_handles_change_moves_data_version_and_is_seen() {
        let (g, r) = open();
        let v0 = r.data_version().unwrap();
        let other = second(&g);
        let e = other.create_entity("acme").unwrap();
        other.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
        assert_ne!(r.data_version().unwrap(), v0);
        assert_eq!(r.list_intakes().unwrap().len(), 1);
    }

    #[test]
    fn a_key_rotated_through_another_handle_reaches_this_cache_within_seconds() {
        let (g, r) = open();
        let e = r.create_entity("acme").unwrap();
        let n = r.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
        let auth = Authenticator::new(Arc::new(r)).unwrap();
        assert!(matches!(auth.lookup(&n.intake_key), AuthOutcome::Ok(_)));
        // Another node (or the CLI) rotates the key.
        let rotated = second(&g).rotate_key(n.intake.uuid).unwrap();
        let start = Instant::now();
        while !matches!(auth.lookup(&rotated.intake_key), AuthOutcome::Ok(_)) {
            assert!(start.elapsed() < Duration::from_secs(5), "the new key never worked here");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(auth.lookup(&n.intake_key), AuthOutcome::Unknown);
    }

    #[test]
    fn an_intake_disabled_or_deleted_elsewhere_stops_being_accepted_here() {
        let (g, r) = open();
        let e = r.create_entity("acme").unwrap();
        let a = r.create_intake("a", FORMAT_ZIA, e.uuid).unwrap();
        let b = r.create_intake("b", FORMAT_ZIA, e.uuid).unwrap();
        let auth = Authenticator::new(Arc::new(r)).unwrap();
        let other = second(&g);
        other.set_status(a.intake.uuid, Status::Disabled).unwrap();
        other.delete_intake(b.intake.uuid).unwrap();
        let start = Instant::now();
        loop {
            let disabled = matches!(auth.lookup(&a.intake_key), AuthOutcome::Disabled(_));
            let gone = auth.lookup(&b.intake_key) == AuthOutcome::Unknown;
            if disabled && gone {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "the changes never arrived");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The PostgreSQL backend of another node: key rotation there is seen here within seconds,
/// over two separate pools (what two `serve` processes have).
#[test]
fn postgres_a_key_created_on_one_node_works_on_another_within_seconds() {
    let url = pgstate::testing::fresh_database("registry_nodes");
    let node_a = postgres::second(&url);
    let node_b = postgres::second(&url);
    let e = node_a.ensure_entity("acme").unwrap();
    let auth_b = Authenticator::new(Arc::new(node_b)).unwrap();
    let n = node_a.create_intake("new", FORMAT_ZIA, e.uuid).unwrap();
    let start = Instant::now();
    while !matches!(auth_b.lookup(&n.intake_key), AuthOutcome::Ok(_)) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "node B never accepted the key"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// PostgreSQL stopped: the cached keys keep authenticating, the failure is reported (for
/// `/readyz`), and once the server is back, a key rotated then is seen again.
#[test]
fn postgres_down_keeps_cached_keys_accepted_and_recovers() {
    // A server of this test's own, so stopping it disturbs no other test.
    let mut server = pgstate::testing::TestServer::start().unwrap();
    let url = pgstate::testing::fresh_database_on(&server.url(), "registry_outage");
    let pg = pgstate::Pg::connect(&pgstate::PgConfig {
        timeout: Duration::from_secs(2),
        ..pgstate::PgConfig::new(url.clone())
    })
    .unwrap();
    let r = Registry::postgres(&pg).unwrap();
    let e = r.create_entity("acme").unwrap();
    let n = r.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
    let auth = Authenticator::new(Arc::new(r)).unwrap();
    assert!(matches!(auth.lookup(&n.intake_key), AuthOutcome::Ok(_)));

    server.stop();
    // Past the refresh interval, every lookup would want a reload; none may fail the key.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        assert!(matches!(auth.lookup(&n.intake_key), AuthOutcome::Ok(_)));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(auth.lookup("y".repeat(32).as_str()), AuthOutcome::Unknown);
    auth.refresh_if_stale();
    std::thread::sleep(Duration::from_millis(600));
    auth.refresh_if_stale();
    assert!(auth.unreachable().is_some(), "the outage is not reported");

    server.resume().unwrap();
    let rotated = postgres::second(&url).rotate_key(n.intake.uuid).unwrap();
    let start = Instant::now();
    while !matches!(auth.lookup(&rotated.intake_key), AuthOutcome::Ok(_)) {
        assert!(start.elapsed() < Duration::from_secs(10), "never recovered");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(auth.unreachable().is_none());
}
