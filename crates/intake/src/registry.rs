//! The registry of entities and intakes. Intake keys are 32 random alphanumerics, shown once at
//! creation and stored only as their SHA-256; authentication compares hashes in constant time.
//!
//! [`Registry`] holds the rules (validation, key generation, first-start bootstrap) and keeps
//! its rows in a [`RegistryStore`], the seam between the embedded and the cluster state:
//! [`SqliteRegistry`] (`DATA/registry.sqlite`, WAL mode, so the CLI can change it while the
//! server runs) or [`PgRegistry`] (PostgreSQL, shared by every node of a cluster).

use std::path::Path;
use std::sync::Arc;

use rand::distr::{Alphanumeric, SampleString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Length of a generated intake key or admin token.
pub const KEY_LEN: usize = 32;
/// The only format this build knows.
pub const FORMAT_ZIA: &str = "zscaler-zia";
/// Name of the intake created on first start.
pub const DEFAULT_INTAKE_NAME: &str = "Zscaler Internet Access";
/// Name of the entity created on first start.
pub const DEFAULT_ENTITY_NAME: &str = "default";

/// Errors of the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The database failed.
    #[error("registry database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// PostgreSQL failed or is out of reach.
    #[error("registry: {0}")]
    Pg(#[from] pgstate::PgError),
    /// Creating the data directory failed.
    #[error("registry I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// No such entity or intake.
    #[error("{0} not found")]
    NotFound(String),
    /// Invalid input (empty name, unknown format, duplicate name).
    #[error("{0}")]
    Invalid(String),
}

/// Whether an intake accepts events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepts events.
    Enabled,
    /// Refuses events with 403.
    Disabled,
}

impl Status {
    /// `enabled` or `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enabled => "enabled",
            Status::Disabled => "disabled",
        }
    }

    /// Parses `enabled` / `disabled`.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "enabled" => Some(Status::Enabled),
            "disabled" => Some(Status::Disabled),
            _ => None,
        }
    }
}

/// A tenant: intakes belong to an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entity {
    /// Identifier.
    pub uuid: Uuid,
    /// Unique name.
    pub name: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
}

/// An intake: a key that authenticates a feed, and the format its events are parsed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Intake {
    /// Identifier.
    pub uuid: Uuid,
    /// Display name.
    pub name: String,
    /// Format name (`zscaler-zia`).
    pub format: String,
    /// Owning entity.
    pub entity_uuid: Uuid,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Enabled or disabled.
    pub status: Status,
    /// SHA-256 of the key; never serialized.
    #[serde(skip)]
    pub key_hash: [u8; 32],
}

/// An intake together with its key, as returned once at creation or rotation.
#[derive(Debug, Clone, Serialize)]
pub struct NewIntake {
    /// The intake.
    #[serde(flatten)]
    pub intake: Intake,
    /// The clear-text key; shown once, never stored.
    pub intake_key: String,
}

/// What first start created.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The default entity.
    pub entity: Entity,
    /// The default intake and its key.
    pub intake: NewIntake,
    /// The generated admin API token.
    pub admin_token: String,
}

/// Generates a fresh 32-character alphanumeric secret.
pub fn generate_key() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), KEY_LEN)
}

/// SHA-256 of a key. Keys carry ~190 bits of entropy, so an unsalted hash is enough.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

mod postgres;
mod sqlite;

pub use postgres::PgRegistry;
pub use sqlite::SqliteRegistry;

/// Where the registry's rows live: the seam between the embedded (SQLite) and the cluster
/// (PostgreSQL) state. Implementations store and fetch; [`Registry`] holds the rules.
pub trait RegistryStore: Send + Sync {
    /// `sqlite` or `postgres`, for logs and `/readyz`.
    fn backend(&self) -> &'static str;
    /// A number that changes when the intakes change, so caches know when to reload. SQLite's
    /// moves only for other connections' commits; PostgreSQL's for every commit.
    fn data_version(&self) -> Result<i64, RegistryError>;
    /// Stores a new entity; `Invalid` when its name is taken.
    fn insert_entity(&self, e: &Entity) -> Result<(), RegistryError>;
    /// All entities, oldest first.
    fn list_entities(&self) -> Result<Vec<Entity>, RegistryError>;
    /// Stores a new intake; `NotFound` when its entity does not exist.
    fn insert_intake(&self, i: &Intake) -> Result<(), RegistryError>;
    /// All intakes, oldest first.
    fn list_intakes(&self) -> Result<Vec<Intake>, RegistryError>;
    /// One intake.
    fn get_intake(&self, uuid: Uuid) -> Result<Option<Intake>, RegistryError>;
    /// Replaces an intake's key hash; false when there is no such intake.
    fn set_key_hash(&self, uuid: Uuid, hash: &[u8; 32]) -> Result<bool, RegistryError>;
    /// Sets an intake's status; false when there is no such intake.
    fn set_status(&self, uuid: Uuid, status: Status) -> Result<bool, RegistryError>;
    /// Deletes an intake; false when there was none.
    fn delete_intake(&self, uuid: Uuid) -> Result<bool, RegistryError>;
    /// Stores a named setting.
    fn set_setting(&self, name: &str, value: &[u8]) -> Result<(), RegistryError>;
    /// A named setting.
    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, RegistryError>;
    /// Checks that the storage answers (for `/readyz`).
    fn ping(&self) -> Result<(), RegistryError>;
}

/// The registry: entities, intakes and the admin token, over a [`RegistryStore`].
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn RegistryStore>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registry({})", self.store.backend())
    }
}

const ADMIN_TOKEN_SETTING: &str = "admin_token_hash";

/// The pipeline names each event's entity from its intake through the registry.
impl pipeline::IntakeEntities for Registry {
    fn intake_entities(
        &self,
    ) -> Result<std::collections::HashMap<uuid::Uuid, std::sync::Arc<str>>, String> {
        let entities: std::collections::HashMap<uuid::Uuid, String> = self
            .list_entities()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|e| (e.uuid, e.name))
            .collect();
        Ok(self
            .list_intakes()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter_map(|i| {
                let name = entities.get(&i.entity_uuid)?;
                Some((i.uuid, std::sync::Arc::from(name.as_str())))
            })
            .collect())
    }
}

impl Registry {
    /// Opens (creating) the SQLite registry database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Registry, RegistryError> {
        Ok(Registry::with_store(Arc::new(SqliteRegistry::open(path)?)))
    }

    /// Opens the SQLite registry inside a data directory (`DIR/registry.sqlite`).
    pub fn open_in(data_dir: impl AsRef<Path>) -> Result<Registry, RegistryError> {
        Registry::open(data_dir.as_ref().join("registry.sqlite"))
    }

    /// The registry kept in PostgreSQL (its schema created or migrated first).
    pub fn postgres(pg: &pgstate::Pg) -> Result<Registry, RegistryError> {
        Ok(Registry::with_store(Arc::new(PgRegistry::open(pg)?)))
    }

    /// A registry over any store.
    pub fn with_store(store: Arc<dyn RegistryStore>) -> Registry {
        Registry { store }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Checks that the storage answers (for `/readyz`).
    pub fn ping(&self) -> Result<(), RegistryError> {
        self.store.ping()
    }

    /// A number that changes whenever the intakes change (see [`RegistryStore::data_version`]),
    /// so caches know when to reload.
    pub fn data_version(&self) -> Result<i64, RegistryError> {
        self.store.data_version()
    }

    /// Creates an entity.
    pub fn create_entity(&self, name: &str) -> Result<Entity, RegistryError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(RegistryError::Invalid("entity name is empty".into()));
        }
        let e = Entity {
            uuid: Uuid::now_v7(),
            name: name.to_string(),
            created_at: now_rfc3339(),
        };
        self.store.insert_entity(&e)?;
        Ok(e)
    }

    /// The entity named `name`, created if there is none. Safe against another process
    /// creating it at the same moment (the server's first start and the CLI, say).
    pub fn ensure_entity(&self, name: &str) -> Result<Entity, RegistryError> {
        match self.find_entity(name.trim()) {
            Ok(e) => Ok(e),
            Err(RegistryError::NotFound(_)) => match self.create_entity(name) {
                Ok(e) => Ok(e),
                // Created by someone else between the two statements.
                Err(RegistryError::Invalid(_)) => self.find_entity(name.trim()),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// All entities, oldest first.
    pub fn list_entities(&self) -> Result<Vec<Entity>, RegistryError> {
        self.store.list_entities()
    }

    /// Finds an entity by uuid or by name.
    pub fn find_entity(&self, uuid_or_name: &str) -> Result<Entity, RegistryError> {
        self.list_entities()?
            .into_iter()
            .find(|e| e.uuid.to_string() == uuid_or_name || e.name == uuid_or_name)
            .ok_or_else(|| RegistryError::NotFound(format!("entity {uuid_or_name:?}")))
    }

    /// Creates an intake with a fresh key, returned once.
    pub fn create_intake(
        &self,
        name: &str,
        format: &str,
        entity: Uuid,
    ) -> Result<NewIntake, RegistryError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(RegistryError::Invalid("intake name is empty".into()));
        }
        if format != FORMAT_ZIA {
            return Err(RegistryError::Invalid(format!(
                "unknown format {format:?} (known: {FORMAT_ZIA})"
            )));
        }
        let key = generate_key();
        let intake = Intake {
            uuid: Uuid::now_v7(),
            name: name.to_string(),
            format: format.to_string(),
            entity_uuid: entity,
            created_at: now_rfc3339(),
            status: Status::Enabled,
            key_hash: hash_key(&key),
        };
        self.store.insert_intake(&intake)?;
        Ok(NewIntake {
            intake,
            intake_key: key,
        })
    }

    /// All intakes, oldest first.
    pub fn list_intakes(&self) -> Result<Vec<Intake>, RegistryError> {
        self.store.list_intakes()
    }

    /// One intake by uuid.
    pub fn get_intake(&self, uuid: Uuid) -> Result<Intake, RegistryError> {
        self.store
            .get_intake(uuid)?
            .ok_or_else(|| RegistryError::NotFound(format!("intake {uuid}")))
    }

    /// Replaces an intake's key; the old one stops working at once. Returns the new key.
    pub fn rotate_key(&self, uuid: Uuid) -> Result<NewIntake, RegistryError> {
        let key = generate_key();
        if !self.store.set_key_hash(uuid, &hash_key(&key))? {
            return Err(RegistryError::NotFound(format!("intake {uuid}")));
        }
        Ok(NewIntake {
            intake: self.get_intake(uuid)?,
            intake_key: key,
        })
    }

    /// Enables or disables an intake.
    pub fn set_status(&self, uuid: Uuid, status: Status) -> Result<Intake, RegistryError> {
        if !self.store.set_status(uuid, status)? {
            return Err(RegistryError::NotFound(format!("intake {uuid}")));
        }
        self.get_intake(uuid)
    }

    /// Deletes an intake; its key stops working.
    pub fn delete_intake(&self, uuid: Uuid) -> Result<(), RegistryError> {
        if !self.store.delete_intake(uuid)? {
            return Err(RegistryError::NotFound(format!("intake {uuid}")));
        }
        Ok(())
    }

    /// Finds the intake whose key is `key`, comparing hashes in constant time.
    pub fn authenticate(&self, key: &str) -> Result<Option<Intake>, RegistryError> {
        Ok(find_by_key(&self.list_intakes()?, key).cloned())
    }

    /// Stores the hash of the admin API token.
    pub fn set_admin_token(&self, token: &str) -> Result<(), RegistryError> {
        self.store
            .set_setting(ADMIN_TOKEN_SETTING, &hash_key(token))
    }

    /// The stored admin-token hash, if one was set.
    pub fn admin_token_hash(&self) -> Result<Option<[u8; 32]>, RegistryError> {
        let v = self.store.setting(ADMIN_TOKEN_SETTING)?;
        Ok(v.filter(|v| v.len() == 32).map(|v| {
            let mut a = [0u8; 32];
            a.copy_from_slice(&v);
            a
        }))
    }

    /// On an empty registry, creates the default entity, the "Zscaler Internet Access"
    /// intake and an admin token, returning the secrets to print once. `None` if the registry
    /// already has intakes.
    pub fn bootstrap(&self) -> Result<Option<Bootstrap>, RegistryError> {
        if !self.list_intakes()?.is_empty() {
            return Ok(None);
        }
        let entity = self.ensure_entity(DEFAULT_ENTITY_NAME)?;
        let intake = self.create_intake(DEFAULT_INTAKE_NAME, FORMAT_ZIA, entity.uuid)?;
        let admin_token = generate_key();
        if self.admin_token_hash()?.is_none() {
            self.set_admin_token(&admin_token)?;
        }
        Ok(Some(Bootstrap {
            entity,
            intake,
            admin_token,
        }))
    }
}

/// Finds the intake whose key hash matches `key`. Every candidate is compared in constant
/// time and the scan never stops early, so timing says nothing about which hash matched.
pub fn find_by_key<'a>(intakes: &'a [Intake], key: &str) -> Option<&'a Intake> {
    let h = hash_key(key);
    let mut found = None;
    for i in intakes {
        if bool::from(i.key_hash.ct_eq(&h)) {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> (tempfile::TempDir, Registry) {
        let d = tempfile::tempdir().unwrap();
        let r = Registry::open_in(d.path()).unwrap();
        (d, r)
    }

    #[test]
    fn the_key_is_stored_only_as_a_hash() {
        let (d, r) = reg();
        let e = r.create_entity("acme").unwrap();
        let n = r.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
        drop(r);
        let db = std::fs::read(d.path().join("registry.sqlite")).unwrap();
        let wal = std::fs::read(d.path().join("registry.sqlite-wal")).unwrap_or_default();
        let needle = n.intake_key.as_bytes();
        for bytes in [db, wal] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
    }
    #[test]
    fn ensure_entity_finds_the_entity_another_process_created() {
        let (d, r) = reg();
        let mine = r.ensure_entity("soc").unwrap();
        // Another process with its own connection asks for the same name.
        let other = Registry::open_in(d.path()).unwrap();
        assert_eq!(other.ensure_entity("soc").unwrap().uuid, mine.uuid);
        assert_eq!(r.list_entities().unwrap().len(), 1);
    }

    #[test]
    fn the_pipeline_learns_the_entity_of_each_intake_from_the_registry() {
        use pipeline::IntakeEntities;
        let (_d, r) = reg();
        let acme = r.create_entity("acme").unwrap();
        let globex = r.create_entity("globex").unwrap();
        let a = r.create_intake("a", FORMAT_ZIA, acme.uuid).unwrap();
        let g = r.create_intake("g", FORMAT_ZIA, globex.uuid).unwrap();
        let names = r.intake_entities().unwrap();
        assert_eq!(names.len(), 2);
        assert_eq!(&*names[&a.intake.uuid], "acme");
        assert_eq!(&*names[&g.intake.uuid], "globex");
    }
}
