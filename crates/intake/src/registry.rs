//! The registry of entities and intakes, kept in SQLite (WAL mode, so the CLI can change it
//! while the server runs). Intake keys are 32 random alphanumerics, shown once at creation and
//! stored only as their SHA-256; authentication compares hashes in constant time.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};
use rusqlite::{params, Connection, OptionalExtension};
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

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entities (
  uuid TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS intakes (
  uuid TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  format TEXT NOT NULL,
  entity_uuid TEXT NOT NULL REFERENCES entities(uuid),
  key_hash BLOB NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
";

/// The registry handle (one SQLite connection behind a mutex).
pub struct Registry {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry")
    }
}

fn row_to_intake(r: &rusqlite::Row<'_>) -> rusqlite::Result<Intake> {
    let uuid: String = r.get(0)?;
    let entity: String = r.get(3)?;
    let hash: Vec<u8> = r.get(4)?;
    let status: String = r.get(6)?;
    let mut key_hash = [0u8; 32];
    if hash.len() == 32 {
        key_hash.copy_from_slice(&hash);
    }
    Ok(Intake {
        uuid: Uuid::parse_str(&uuid).unwrap_or_default(),
        name: r.get(1)?,
        format: r.get(2)?,
        entity_uuid: Uuid::parse_str(&entity).unwrap_or_default(),
        created_at: r.get(5)?,
        status: Status::parse(&status).unwrap_or(Status::Disabled),
        key_hash,
    })
}

const INTAKE_COLS: &str = "uuid, name, format, entity_uuid, key_hash, created_at, status";

impl Registry {
    /// Opens (creating) the registry database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Registry, RegistryError> {
        if let Some(dir) = path.as_ref().parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Registry {
            conn: Mutex::new(conn),
        })
    }

    /// Opens the registry inside a data directory (`DIR/registry.sqlite`).
    pub fn open_in(data_dir: impl AsRef<Path>) -> Result<Registry, RegistryError> {
        Registry::open(data_dir.as_ref().join("registry.sqlite"))
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (it has its own
        // transactions), so a poisoned mutex is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A number that changes whenever another connection commits a change (SQLite's
    /// `data_version`), so caches know when to reload.
    pub fn data_version(&self) -> Result<i64, RegistryError> {
        Ok(self
            .conn()
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
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
        let c = self.conn();
        match c.execute(
            "INSERT INTO entities (uuid, name, created_at) VALUES (?1, ?2, ?3)",
            params![e.uuid.to_string(), e.name, e.created_at],
        ) {
            Ok(_) => Ok(e),
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(RegistryError::Invalid(format!(
                    "an entity named {name:?} already exists"
                )))
            }
            Err(err) => Err(err.into()),
        }
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
        let c = self.conn();
        let mut st =
            c.prepare("SELECT uuid, name, created_at FROM entities ORDER BY created_at, uuid")?;
        let rows = st.query_map([], |r| {
            let u: String = r.get(0)?;
            Ok(Entity {
                uuid: Uuid::parse_str(&u).unwrap_or_default(),
                name: r.get(1)?,
                created_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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
        let c = self.conn();
        let n: i64 = c.query_row(
            "SELECT COUNT(*) FROM entities WHERE uuid = ?1",
            params![entity.to_string()],
            |r| r.get(0),
        )?;
        if n == 0 {
            return Err(RegistryError::NotFound(format!("entity {entity}")));
        }
        c.execute(
            "INSERT INTO intakes (uuid, name, format, entity_uuid, key_hash, created_at, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                intake.uuid.to_string(),
                intake.name,
                intake.format,
                intake.entity_uuid.to_string(),
                intake.key_hash.to_vec(),
                intake.created_at,
                intake.status.as_str()
            ],
        )?;
        Ok(NewIntake {
            intake,
            intake_key: key,
        })
    }

    /// All intakes, oldest first.
    pub fn list_intakes(&self) -> Result<Vec<Intake>, RegistryError> {
        let c = self.conn();
        let mut st = c.prepare(&format!(
            "SELECT {INTAKE_COLS} FROM intakes ORDER BY created_at, uuid"
        ))?;
        let rows = st.query_map([], row_to_intake)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One intake by uuid.
    pub fn get_intake(&self, uuid: Uuid) -> Result<Intake, RegistryError> {
        self.conn()
            .query_row(
                &format!("SELECT {INTAKE_COLS} FROM intakes WHERE uuid = ?1"),
                params![uuid.to_string()],
                row_to_intake,
            )
            .optional()?
            .ok_or_else(|| RegistryError::NotFound(format!("intake {uuid}")))
    }

    /// Replaces an intake's key; the old one stops working at once. Returns the new key.
    pub fn rotate_key(&self, uuid: Uuid) -> Result<NewIntake, RegistryError> {
        let key = generate_key();
        let n = self.conn().execute(
            "UPDATE intakes SET key_hash = ?1 WHERE uuid = ?2",
            params![hash_key(&key).to_vec(), uuid.to_string()],
        )?;
        if n == 0 {
            return Err(RegistryError::NotFound(format!("intake {uuid}")));
        }
        Ok(NewIntake {
            intake: self.get_intake(uuid)?,
            intake_key: key,
        })
    }

    /// Enables or disables an intake.
    pub fn set_status(&self, uuid: Uuid, status: Status) -> Result<Intake, RegistryError> {
        let n = self.conn().execute(
            "UPDATE intakes SET status = ?1 WHERE uuid = ?2",
            params![status.as_str(), uuid.to_string()],
        )?;
        if n == 0 {
            return Err(RegistryError::NotFound(format!("intake {uuid}")));
        }
        self.get_intake(uuid)
    }

    /// Deletes an intake; its key stops working.
    pub fn delete_intake(&self, uuid: Uuid) -> Result<(), RegistryError> {
        let n = self.conn().execute(
            "DELETE FROM intakes WHERE uuid = ?1",
            params![uuid.to_string()],
        )?;
        if n == 0 {
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
        self.conn().execute(
            "INSERT INTO settings (name, value) VALUES ('admin_token_hash', ?1)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            params![hash_key(token).to_vec()],
        )?;
        Ok(())
    }

    /// The stored admin-token hash, if one was set.
    pub fn admin_token_hash(&self) -> Result<Option<[u8; 32]>, RegistryError> {
        let v: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT value FROM settings WHERE name = 'admin_token_hash'",
                [],
                |r| r.get(0),
            )
            .optional()?;
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
    fn a_new_key_is_32_alphanumerics_and_authenticates_its_intake() {
        let (_d, r) = reg();
        let e = r.create_entity("acme").unwrap();
        let n = r.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
        assert_eq!(n.intake_key.len(), 32);
        assert!(n.intake_key.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(
            r.authenticate(&n.intake_key).unwrap().unwrap().uuid,
            n.intake.uuid
        );
        assert!(r.authenticate("x".repeat(32).as_str()).unwrap().is_none());
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
    fn rotating_a_key_invalidates_the_old_one() {
        let (_d, r) = reg();
        let e = r.create_entity("acme").unwrap();
        let n = r.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
        let rotated = r.rotate_key(n.intake.uuid).unwrap();
        assert!(r.authenticate(&n.intake_key).unwrap().is_none());
        assert!(r.authenticate(&rotated.intake_key).unwrap().is_some());
    }

    #[test]
    fn a_deleted_intake_no_longer_authenticates() {
        let (_d, r) = reg();
        let e = r.create_entity("acme").unwrap();
        let n = r.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
        r.delete_intake(n.intake.uuid).unwrap();
        assert!(r.authenticate(&n.intake_key).unwrap().is_none());
        assert!(matches!(
            r.delete_intake(n.intake.uuid),
            Err(RegistryError::NotFound(_))
        ));
    }

    #[test]
    fn an_unknown_format_or_entity_is_refused() {
        let (_d, r) = reg();
        let e = r.create_entity("acme").unwrap();
        assert!(matches!(
            r.create_intake("x", "cef", e.uuid),
            Err(RegistryError::Invalid(_))
        ));
        assert!(matches!(
            r.create_intake("x", FORMAT_ZIA, Uuid::now_v7()),
            Err(RegistryError::NotFound(_))
        ));
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
    fn bootstrap_runs_once_on_an_empty_registry() {
        let (_d, r) = reg();
        let b = r.bootstrap().unwrap().unwrap();
        assert_eq!(b.intake.intake.name, DEFAULT_INTAKE_NAME);
        assert_eq!(b.intake.intake.format, FORMAT_ZIA);
        assert_eq!(
            r.admin_token_hash().unwrap(),
            Some(hash_key(&b.admin_token))
        );
        assert!(r.bootstrap().unwrap().is_none());
    }

    #[test]
    fn a_second_connection_sees_changes_and_data_version_moves() {
        let (d, r) = reg();
        let v0 = r.data_version().unwrap();
        let other = Registry::open_in(d.path()).unwrap();
        let e = other.create_entity("acme").unwrap();
        other.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
        assert_ne!(r.data_version().unwrap(), v0);
        assert_eq!(r.list_intakes().unwrap().len(), 1);
    }
}
