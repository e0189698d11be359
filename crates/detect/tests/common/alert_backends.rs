//! The alert store of each backend, for the suites that run on both
//! (`pgstate::both_backends!`): `DATA/alerts.db` of one node, and PostgreSQL (each test a
//! database of its own). A test opens a `Db`, then as many managers and stores on it as it
//! needs; each is a connection of its own, as another worker, node or CLI would have.

pub mod sqlite {
    use detect::{AlertManager, AlertStore};

    /// A data directory of its own.
    pub struct Db(tempfile::TempDir);

    impl Db {
        /// A new, empty one.
        pub fn new() -> Db {
            Db(tempfile::tempdir().unwrap())
        }

        /// A manager on it.
        pub fn manager(&self) -> AlertManager {
            AlertManager::open(self.0.path()).unwrap()
        }

        /// A store on it.
        pub fn store(&self) -> AlertStore {
            AlertStore::open(self.0.path()).unwrap()
        }
    }
}

pub mod postgres {
    use detect::{AlertManager, AlertStore};

    /// A database of its own (its URL).
    pub struct Db(String);

    impl Db {
        /// A new, empty one.
        pub fn new() -> Db {
            Db(pgstate::testing::fresh_database("alerts"))
        }

        /// A manager on it, with a connection pool of its own.
        pub fn manager(&self) -> AlertManager {
            AlertManager::with_store(self.store())
        }

        /// A store on it, with a connection pool of its own.
        pub fn store(&self) -> AlertStore {
            let pg = pgstate::Pg::connect(&pgstate::PgConfig::new(self.0.clone())).unwrap();
            AlertStore::postgres(&pg).unwrap()
        }
    }
}
