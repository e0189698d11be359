//! The embedded registry store: one SQLite file (`DATA/registry.sqlite`) in WAL mode, so the
//! CLI can change it while the server runs.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::{Entity, Intake, RegistryError, RegistryStore, Status};

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

const INTAKE_COLS: &str = "uuid, name, format, entity_uuid, key_hash, created_at, status";

/// The registry in SQLite (one connection behind a mutex).
pub struct SqliteRegistry {
    conn: Mutex<Connection>,
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

impl SqliteRegistry {
    /// Opens (creating) the registry database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteRegistry, RegistryError> {
        if let Some(dir) = path.as_ref().parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteRegistry {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (it has its own
        // transactions), so a poisoned mutex is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RegistryStore for SqliteRegistry {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn data_version(&self) -> Result<i64, RegistryError> {
        // SQLite's `data_version` moves when another connection commits.
        Ok(self
            .conn()
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    fn insert_entity(&self, e: &Entity) -> Result<(), RegistryError> {
        match self.conn().execute(
            "INSERT INTO entities (uuid, name, created_at) VALUES (?1, ?2, ?3)",
            params![e.uuid.to_string(), e.name, e.created_at],
        ) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(RegistryError::Invalid(format!(
                    "an entity named {:?} already exists",
                    e.name
                )))
            }
            Err(err) => Err(err.into()),
        }
    }

    fn list_entities(&self) -> Result<Vec<Entity>, RegistryError> {
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

    fn insert_intake(&self, i: &Intake) -> Result<(), RegistryError> {
        let c = self.conn();
        let n: i64 = c.query_row(
            "SELECT COUNT(*) FROM entities WHERE uuid = ?1",
            params![i.entity_uuid.to_string()],
            |r| r.get(0),
        )?;
        if n == 0 {
            return Err(RegistryError::NotFound(format!("entity {}", i.entity_uuid)));
        }
        c.execute(
            "INSERT INTO intakes (uuid, name, format, entity_uuid, key_hash, created_at, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                i.uuid.to_string(),
                i.name,
                i.format,
                i.entity_uuid.to_string(),
                i.key_hash.to_vec(),
                i.created_at,
                i.status.as_str()
            ],
        )?;
        Ok(())
    }

    fn list_intakes(&self) -> Result<Vec<Intake>, RegistryError> {
        let c = self.conn();
        let mut st = c.prepare(&format!(
            "SELECT {INTAKE_COLS} FROM intakes ORDER BY created_at, uuid"
        ))?;
        let rows = st.query_map([], row_to_intake)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn get_intake(&self, uuid: Uuid) -> Result<Option<Intake>, RegistryError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {INTAKE_COLS} FROM intakes WHERE uuid = ?1"),
                params![uuid.to_string()],
                row_to_intake,
            )
            .optional()?)
    }

    fn set_key_hash(&self, uuid: Uuid, hash: &[u8; 32]) -> Result<bool, RegistryError> {
        Ok(self.conn().execute(
            "UPDATE intakes SET key_hash = ?1 WHERE uuid = ?2",
            params![hash.to_vec(), uuid.to_string()],
        )? > 0)
    }

    fn set_status(&self, uuid: Uuid, status: Status) -> Result<bool, RegistryError> {
        Ok(self.conn().execute(
            "UPDATE intakes SET status = ?1 WHERE uuid = ?2",
            params![status.as_str(), uuid.to_string()],
        )? > 0)
    }

    fn delete_intake(&self, uuid: Uuid) -> Result<bool, RegistryError> {
        Ok(self.conn().execute(
            "DELETE FROM intakes WHERE uuid = ?1",
            params![uuid.to_string()],
        )? > 0)
    }

    fn set_setting(&self, name: &str, value: &[u8]) -> Result<(), RegistryError> {
        self.conn().execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            params![name, value],
        )?;
        Ok(())
    }

    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, RegistryError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM settings WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn ping(&self) -> Result<(), RegistryError> {
        self.conn().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}
