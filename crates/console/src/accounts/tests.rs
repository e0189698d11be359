//! One behaviour suite for the accounts, run against both stores (`pgstate::both_backends!`):
//! the SQLite file of one node and PostgreSQL. Each PostgreSQL test has a database of its own
//! (`pgstate::testing::fresh`), so the tests run in parallel on one server.

use super::*;

const PW: &str = "correct horse battery";

mod sqlite {
    use super::*;

    /// Keeps the data directory alive.
    pub struct Db(pub tempfile::TempDir);

    pub fn open() -> (Db, Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::open(dir.path()).unwrap();
        (Db(dir), a)
    }

    /// Another process (a CLI command) opening the same file.
    pub fn another_node(db: &Db) -> Accounts {
        Accounts::open(db.0.path()).unwrap()
    }

    fn conn(db: &Db) -> rusqlite::Connection {
        rusqlite::Connection::open(db.0.path().join("console.db")).unwrap()
    }

    pub fn stored_password_hash(db: &Db) -> String {
        conn(db)
            .query_row("SELECT password_hash FROM users", [], |r| r.get(0))
            .unwrap()
    }

    pub fn stored_session_hash(db: &Db) -> Vec<u8> {
        conn(db)
            .query_row("SELECT token_hash FROM sessions", [], |r| r.get(0))
            .unwrap()
    }

    pub fn stored_token_hash(db: &Db) -> Vec<u8> {
        conn(db)
            .query_row("SELECT secret_hash FROM api_tokens", [], |r| r.get(0))
            .unwrap()
    }
}

mod postgres {
    use super::*;

    /// The test's own database.
    pub struct Db(pub String);

    pub fn open() -> (Db, Accounts) {
        let url = pgstate::testing::fresh_database("accounts");
        let a = another_node(&Db(url.clone()));
        (Db(url), a)
    }

    /// Another node: its own connection pool on the same database.
    pub fn another_node(db: &Db) -> Accounts {
        let pg = pgstate::Pg::connect(&pgstate::PgConfig::new(db.0.clone())).unwrap();
        Accounts::postgres(&pg).unwrap()
    }

    fn one<T>(db: &Db, sql: &str) -> T
    where
        T: for<'a> pgstate::tokio_postgres::types::FromSql<'a>,
    {
        let pg = pgstate::Pg::connect(&pgstate::PgConfig::new(db.0.clone())).unwrap();
        let rows = pg.query(sql, vec![]).unwrap();
        assert_eq!(rows.len(), 1, "{sql}");
        rows[0].get(0)
    }

    pub fn stored_password_hash(db: &Db) -> String {
        one(db, "SELECT password_hash FROM console_users")
    }

    pub fn stored_session_hash(db: &Db) -> Vec<u8> {
        one(db, "SELECT token_hash FROM console_sessions")
    }

    pub fn stored_token_hash(db: &Db) -> Vec<u8> {
        one(db, "SELECT secret_hash FROM console_api_tokens")
    }
}

pgstate::both_backends! {
    #[test]
    fn a_disabled_user_cannot_sign_in_and_loses_their_sessions() {
        let (_db, a) = open();
        let bob = a.create_user("bob", Role::Analyst, PW).unwrap();
        let s = a.create_session(&bob).unwrap();
        assert!(a.set_disabled("bob", true).unwrap().disabled);
        assert_eq!(a.session(&s.token).unwrap(), None);
        assert_eq!(a.verify_password("bob", PW).unwrap(), None);
        assert!(a.create_session(&bob).is_err());
        assert!(!a.set_disabled("bob", false).unwrap().disabled);
        assert!(a.verify_password("bob", PW).unwrap().is_some());
    }

    #[test]
    fn the_last_admin_who_can_sign_in_cannot_be_disabled() {
        let (_db, a) = open();
        a.create_user("root", Role::Admin, PW).unwrap();
        a.create_user("second", Role::Admin, PW).unwrap();
        a.set_disabled("second", true).unwrap();
        assert!(matches!(
            a.set_disabled("root", true),
            Err(Error::Invalid(_))
        ));
        // Nor demoted: the disabled admin does not count.
        assert!(matches!(
            a.set_role("root", Role::Analyst),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn a_user_sees_their_own_saved_searches_and_the_shared_ones() {
        let (_db, a) = open();
        a.save_search("bob", "mine", "user.name:x", "24h", "", false)
            .unwrap();
        a.save_search("carol", "hers", "q", "1h", "", false)
            .unwrap();
        a.save_search("carol", "for all", "q2", "7d", "", true)
            .unwrap();
        let names = |who| -> Vec<String> {
            a.saved_searches(who)
                .unwrap()
                .into_iter()
                .map(|s| s.name)
                .collect()
        };
        assert_eq!(names("bob"), ["for all", "mine"]);
        assert_eq!(names("carol"), ["for all", "hers"]);
    }

    #[test]
    fn only_its_owner_or_an_admin_deletes_a_saved_search() {
        let (_db, a) = open();
        let s = a
            .save_search("carol", "shared", "q", "24h", "", true)
            .unwrap();
        assert!(matches!(
            a.delete_search(&s.id, "bob", false),
            Err(Error::Forbidden(_))
        ));
        a.delete_search(&s.id, "CAROL", false).unwrap();
        let t = a
            .save_search("carol", "again", "q", "24h", "", true)
            .unwrap();
        a.delete_search(&t.id, "admin", true).unwrap();
        assert!(a.saved_searches("carol").unwrap().is_empty());
    }

    #[test]
    fn saved_searches_are_bounded_per_user() {
        let (_db, a) = open();
        for i in 0..MAX_SAVED_SEARCHES {
            a.save_search("bob", &format!("s{i}"), "q", "24h", "", false)
                .unwrap();
        }
        assert!(matches!(
            a.save_search("bob", "one more", "q", "24h", "", false),
            Err(Error::Invalid(_))
        ));
        assert!(a
            .save_search(
                "bob",
                "x",
                &"a".repeat(MAX_SAVED_QUERY_LEN + 1),
                "",
                "",
                false
            )
            .is_err());
        assert!(a
            .save_search("bob", "x", "q", "24h; DROP", "", false)
            .is_err());
    }

    #[test]
    fn ensure_admin_creates_an_admin_whose_password_verifies() {
        let (_db, a) = open();
        let pw = a.ensure_admin().unwrap().expect("a first admin");
        assert_eq!(pw.len(), 20);
        let user = a.verify_password("admin", &pw).unwrap().expect("signs in");
        assert_eq!(user.role, Role::Admin);
    }

    #[test]
    fn names_outside_the_allowed_characters_are_refused() {
        let (_db, a) = open();
        for bad in ["", "a b", "ünïcode", &"x".repeat(65), "a/b"] {
            assert!(
                matches!(
                    a.create_user(bad, Role::Analyst, PW),
                    Err(Error::Invalid(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn short_passwords_are_refused() {
        let (_db, a) = open();
        assert!(matches!(
            a.create_user("ann", Role::Analyst, "elevenchars"),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn names_are_unique_regardless_of_case() {
        let (_db, a) = open();
        a.create_user("Ann", Role::Analyst, PW).unwrap();
        assert!(matches!(
            a.create_user("ann", Role::Analyst, PW),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn passwords_are_stored_as_argon2id_hashes() {
        let (db, a) = open();
        a.create_user("ann", Role::Analyst, PW).unwrap();
        let h = stored_password_hash(&db);
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains(PW));
    }

    #[test]
    fn failures_from_one_address_do_not_lock_the_user_out_from_another() {
        let (_db, a) = open();
        a.create_user("ann", Role::Admin, PW).unwrap();
        for _ in 0..LOCKOUT_ATTEMPTS {
            let r = a.verify_password_from("ann", "wrong password!", "203.0.113.9");
            assert!(r.unwrap().is_none());
        }
        assert!(matches!(
            a.verify_password_from("ann", PW, "203.0.113.9"),
            Err(Error::LockedOut)
        ));
        let ok = a.verify_password_from("ann", PW, "198.51.100.1").unwrap();
        assert_eq!(ok.unwrap().name, "ann");
    }

    #[test]
    fn sign_ins_are_throttled_per_address_and_other_addresses_still_sign_in() {
        let (_db, a) = open();
        for _ in 0..SIGN_INS_PER_ADDRESS_PER_MINUTE {
            assert!(a.throttle_sign_in("203.0.113.9").is_ok());
        }
        let wait = a.throttle_sign_in("203.0.113.9").err().unwrap();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(a.throttle_sign_in("198.51.100.1").is_ok());
        a.advance_clock(60);
        assert!(a.throttle_sign_in("203.0.113.9").is_ok());
    }

    #[test]
    fn at_most_a_few_sign_ins_are_verified_at_once() {
        let (_db, a) = open();
        let held: Vec<_> = (0..MAX_CONCURRENT_SIGN_INS)
            .map(|i| a.throttle_sign_in(&format!("10.0.0.{i}")).unwrap())
            .collect();
        assert!(a.throttle_sign_in("10.0.1.1").is_err());
        drop(held);
        assert!(a.throttle_sign_in("10.0.1.1").is_ok());
    }

    #[test]
    fn a_lockout_ends_when_the_window_has_passed() {
        let (_db, a) = open();
        a.create_user("ann", Role::Analyst, PW).unwrap();
        for _ in 0..LOCKOUT_ATTEMPTS {
            assert!(a
                .verify_password("ann", "wrong password!")
                .unwrap()
                .is_none());
        }
        assert!(matches!(
            a.verify_password("ann", PW),
            Err(Error::LockedOut)
        ));
        a.advance_clock(LOCKOUT_WINDOW.as_secs() as i64 + 1);
        assert!(a.verify_password("ann", PW).unwrap().is_some());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let (_db, a) = open();
        a.create_user("ann", Role::Analyst, PW).unwrap();
        for _ in 0..LOCKOUT_ATTEMPTS - 1 {
            a.verify_password("ann", "wrong password!").unwrap();
        }
        assert!(a.verify_password("ann", PW).unwrap().is_some());
        for _ in 0..LOCKOUT_ATTEMPTS - 1 {
            a.verify_password("ann", "wrong password!").unwrap();
        }
        assert!(a.verify_password("ann", PW).unwrap().is_some());
    }

    #[test]
    fn only_the_hash_of_a_session_token_is_stored() {
        let (db, a) = open();
        let user = a.create_user("ann", Role::Analyst, PW).unwrap();
        let s = a.create_session(&user).unwrap();
        assert_eq!(stored_session_hash(&db), sha256(&s.token).to_vec());
    }

    #[test]
    fn a_session_carries_the_users_current_role() {
        let (_db, a) = open();
        a.ensure_admin().unwrap();
        let user = a.create_user("ann", Role::Analyst, PW).unwrap();
        let s = a.create_session(&user).unwrap();
        a.set_role("ann", Role::ReadOnly).unwrap();
        assert_eq!(a.session(&s.token).unwrap().unwrap().role, Role::ReadOnly);
    }

    #[test]
    fn a_session_expires_after_its_ttl() {
        let (_db, a) = open();
        let user = a.create_user("ann", Role::Analyst, PW).unwrap();
        let s = a.create_session(&user).unwrap();
        assert!(a.session(&s.token).unwrap().is_some());
        a.advance_clock(SESSION_TTL.as_secs() as i64);
        assert!(a.session(&s.token).unwrap().is_none());
    }

    #[test]
    fn deleting_a_user_ends_their_sessions() {
        let (_db, a) = open();
        a.ensure_admin().unwrap();
        let user = a.create_user("ann", Role::Analyst, PW).unwrap();
        let s = a.create_session(&user).unwrap();
        a.delete_user("ann").unwrap();
        assert!(a.session(&s.token).unwrap().is_none());
    }

    #[test]
    fn a_password_reset_ends_other_sessions_but_keeps_the_given_one() {
        let (_db, a) = open();
        let user = a.create_user("ann", Role::Analyst, PW).unwrap();
        let mine = a.create_session(&user).unwrap();
        let other = a.create_session(&user).unwrap();
        a.set_password_keeping("ann", "another long password", Some(&mine.token))
            .unwrap();
        assert!(a.session(&mine.token).unwrap().is_some());
        assert!(a.session(&other.token).unwrap().is_none());
    }

    #[test]
    fn the_last_admin_cannot_be_demoted() {
        let (_db, a) = open();
        a.ensure_admin().unwrap();
        assert!(matches!(
            a.set_role("admin", Role::Analyst),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn an_admin_can_be_demoted_when_another_remains() {
        let (_db, a) = open();
        a.ensure_admin().unwrap();
        a.create_user("bob", Role::Admin, PW).unwrap();
        assert_eq!(
            a.set_role("admin", Role::Analyst).unwrap().role,
            Role::Analyst
        );
    }

    #[test]
    fn token_secrets_have_the_prefix_and_only_their_hash_is_stored() {
        let (db, a) = open();
        let (info, secret) = a
            .create_token("export", Role::ReadOnly, "admin-token", None)
            .unwrap();
        assert!(secret.starts_with(TOKEN_PREFIX));
        assert_eq!(a.token(&secret).unwrap().unwrap().id, info.id);
        assert_eq!(stored_token_hash(&db), sha256(&secret).to_vec());
    }

    #[test]
    fn token_use_is_recorded_at_most_once_a_minute() {
        let (_db, a) = open();
        let (_info, secret) = a
            .create_token("export", Role::ReadOnly, "admin-token", None)
            .unwrap();
        let first = a.token(&secret).unwrap().unwrap().last_used_at;
        assert!(first.is_some());
        a.advance_clock(30);
        assert_eq!(a.token(&secret).unwrap().unwrap().last_used_at, first);
        a.advance_clock(31);
        assert_ne!(a.token(&secret).unwrap().unwrap().last_used_at, first);
    }

    #[test]
    fn a_revoked_token_is_not_found() {
        let (_db, a) = open();
        let (info, secret) = a
            .create_token("export", Role::ReadOnly, "admin-token", None)
            .unwrap();
        a.revoke_token(&info.id).unwrap();
        assert!(a.token(&secret).unwrap().is_none());
        assert!(a.list_tokens().unwrap().is_empty());
    }

    #[test]
    fn a_disabled_users_tokens_are_refused_until_they_are_enabled_again() {
        let (_db, a) = open();
        a.create_user("root", Role::Admin, PW).unwrap();
        a.create_user("bob", Role::Admin, PW).unwrap();
        let (_, secret) = a
            .create_token("siem", Role::Analyst, "bob", Some("bob"))
            .unwrap();
        assert!(a.token(&secret).unwrap().is_some());
        a.set_disabled("bob", true).unwrap();
        assert_eq!(a.token(&secret).unwrap(), None);
        assert!(!a.list_tokens().unwrap()[0].usable);
        a.set_disabled("bob", false).unwrap();
        assert!(a.token(&secret).unwrap().is_some());
    }

    #[test]
    fn a_deleted_users_tokens_are_refused() {
        let (_db, a) = open();
        a.create_user("root", Role::Admin, PW).unwrap();
        a.create_user("bob", Role::Admin, PW).unwrap();
        let (_, secret) = a
            .create_token("siem", Role::ReadOnly, "bob", Some("bob"))
            .unwrap();
        a.delete_user("bob").unwrap();
        assert_eq!(a.token(&secret).unwrap(), None);
        // Gone with the user, so that a new user of that name inherits none of them.
        assert!(a.list_tokens().unwrap().is_empty());
        a.create_user("bob", Role::Admin, PW).unwrap();
        assert_eq!(a.token(&secret).unwrap(), None);
    }

    #[test]
    fn a_token_never_has_more_than_its_owners_current_role() {
        let (_db, a) = open();
        a.create_user("root", Role::Admin, PW).unwrap();
        a.create_user("bob", Role::Admin, PW).unwrap();
        let (_, secret) = a
            .create_token("siem", Role::Admin, "bob", Some("bob"))
            .unwrap();
        a.set_role("bob", Role::ReadOnly).unwrap();
        assert_eq!(a.token(&secret).unwrap().unwrap().role, Role::ReadOnly);
        a.set_role("bob", Role::Admin).unwrap();
        assert_eq!(a.token(&secret).unwrap().unwrap().role, Role::Admin);
    }

    #[test]
    fn a_token_cannot_be_made_for_a_disabled_or_unknown_user() {
        let (_db, a) = open();
        a.create_user("root", Role::Admin, PW).unwrap();
        a.create_user("bob", Role::Analyst, PW).unwrap();
        a.set_disabled("bob", true).unwrap();
        for owner in ["bob", "nobody"] {
            assert!(matches!(
                a.create_token("siem", Role::ReadOnly, "root", Some(owner)),
                Err(Error::Invalid(_))
            ));
        }
    }

    #[test]
    fn a_token_whose_owner_is_disabled_on_one_node_is_refused_on_another() {
        let (db, a) = open();
        let b = another_node(&db);
        a.create_user("root", Role::Admin, PW).unwrap();
        a.create_user("bob", Role::Analyst, PW).unwrap();
        let (_, secret) = a
            .create_token("siem", Role::Analyst, "bob", Some("bob"))
            .unwrap();
        assert!(b.token(&secret).unwrap().is_some());
        a.set_disabled("bob", true).unwrap();
        assert_eq!(b.token(&secret).unwrap(), None);
    }

    #[test]
    fn a_session_made_on_one_node_is_valid_on_another() {
        let (db, a) = open();
        let b = another_node(&db);
        let ann = a.create_user("ann", Role::Analyst, PW).unwrap();
        let s = a.create_session(&ann).unwrap();
        let seen = b.session(&s.token).unwrap().expect("the other node knows the session");
        assert_eq!((seen.user.as_str(), seen.csrf.as_str()), ("ann", s.csrf.as_str()));
        b.end_session(&s.token).unwrap();
        assert_eq!(a.session(&s.token).unwrap(), None);
    }

    #[test]
    fn a_user_disabled_on_one_node_is_refused_on_another() {
        let (db, a) = open();
        let b = another_node(&db);
        a.ensure_admin().unwrap();
        let ann = a.create_user("ann", Role::Analyst, PW).unwrap();
        let s = a.create_session(&ann).unwrap();
        b.set_disabled("ann", true).unwrap();
        assert_eq!(a.session(&s.token).unwrap(), None);
        assert_eq!(a.verify_password("ann", PW).unwrap(), None);
    }

    #[test]
    fn failed_sign_ins_on_one_node_count_on_another() {
        let (db, a) = open();
        let b = another_node(&db);
        a.create_user("ann", Role::Analyst, PW).unwrap();
        for _ in 0..LOCKOUT_ATTEMPTS {
            assert!(a.verify_password("ann", "wrong password!").unwrap().is_none());
        }
        assert!(matches!(b.verify_password("ann", PW), Err(Error::LockedOut)));
    }

    #[test]
    fn names_compare_regardless_of_case_everywhere() {
        let (_db, a) = open();
        a.ensure_admin().unwrap();
        a.create_user("Ann", Role::Analyst, PW).unwrap();
        assert_eq!(a.user("ANN").unwrap().unwrap().name, "Ann");
        assert!(a.verify_password("ann", PW).unwrap().is_some());
        a.set_role("aNN", Role::ReadOnly).unwrap();
        assert_eq!(a.user("ann").unwrap().unwrap().role, Role::ReadOnly);
        a.delete_user("ann").unwrap();
        assert!(a.user("Ann").unwrap().is_none());
    }

    #[test]
    fn users_are_listed_by_name_regardless_of_case() {
        let (_db, a) = open();
        for n in ["bob", "Carol", "alice"] {
            a.create_user(n, Role::Analyst, PW).unwrap();
        }
        let names: Vec<String> = a.list_users().unwrap().into_iter().map(|u| u.name).collect();
        assert_eq!(names, ["alice", "bob", "Carol"]);
        a.set_disabled("bob", true).unwrap();
        assert_eq!(a.active_user_names().unwrap(), ["alice", "Carol"]);
    }

    #[test]
    fn ensure_admin_creates_one_admin_only_once() {
        let (db, a) = open();
        let b = another_node(&db);
        assert!(a.ensure_admin().unwrap().is_some());
        assert!(b.ensure_admin().unwrap().is_none());
        assert_eq!(a.list_users().unwrap().len(), 1);
    }
}

#[test]
fn the_dummy_hash_costs_what_a_real_hash_costs() {
    let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
    let real_hash = hash_password(PW).unwrap();
    let real = PasswordHash::new(&real_hash).unwrap();
    assert_eq!(dummy.algorithm, real.algorithm);
    assert_eq!(dummy.params, real.params);
    assert_eq!(dummy.version, real.version);
    assert!(!verify_hash(DUMMY_HASH, PW).unwrap());
}

#[test]
fn roles_round_trip_through_their_names() {
    for role in [Role::Admin, Role::Analyst, Role::ReadOnly] {
        assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
        let json = serde_json::to_value(role).unwrap();
        assert_eq!(json, serde_json::Value::String(role.to_string()));
    }
    assert_eq!(Role::ReadOnly.to_string(), "read-only");
}

#[test]
fn each_role_includes_the_ones_below_it() {
    assert!(Role::Admin.allows(Role::Analyst));
    assert!(Role::Analyst.allows(Role::ReadOnly));
    assert!(!Role::Analyst.allows(Role::Admin));
    assert!(!Role::ReadOnly.allows(Role::Analyst));
}

#[test]
fn a_database_from_before_gets_the_disabled_column() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = rusqlite::Connection::open(dir.path().join("console.db")).unwrap();
        c.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
             role TEXT NOT NULL, password_hash TEXT NOT NULL, created_at TEXT NOT NULL);",
        )
        .unwrap();
    }
    let a = Accounts::open(dir.path()).unwrap();
    a.create_user("bob", Role::Analyst, PW).unwrap();
    assert!(!a.user("bob").unwrap().unwrap().disabled);
    drop(a);
    Accounts::open(dir.path()).unwrap();
}

#[test]
fn a_database_from_before_gives_each_token_its_creator_as_owner() {
    let dir = tempfile::tempdir().unwrap();
    let (by_user, by_admin_token) = {
        let a = Accounts::open(dir.path()).unwrap();
        a.create_user("root", Role::Admin, PW).unwrap();
        a.create_user("bob", Role::Admin, PW).unwrap();
        let by_user = a.create_token("u", Role::Analyst, "bob", None).unwrap().1;
        let by_admin_token = a
            .create_token("t", Role::Analyst, crate::auth::ADMIN_TOKEN_PRINCIPAL, None)
            .unwrap()
            .1;
        drop(a);
        // Back to the schema of before: no owner column.
        let c = rusqlite::Connection::open(dir.path().join("console.db")).unwrap();
        c.execute_batch("ALTER TABLE api_tokens DROP COLUMN owner;")
            .unwrap();
        (by_user, by_admin_token)
    };
    let a = Accounts::open(dir.path()).unwrap();
    assert_eq!(
        a.token(&by_user).unwrap().unwrap().owner.as_deref(),
        Some("bob")
    );
    assert_eq!(a.token(&by_admin_token).unwrap().unwrap().owner, None);
    a.set_disabled("bob", true).unwrap();
    assert_eq!(a.token(&by_user).unwrap(), None);
    assert!(a.token(&by_admin_token).unwrap().is_some());
}
