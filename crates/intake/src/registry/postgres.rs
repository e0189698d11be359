//! The cluster registry store: tables in PostgreSQL shared by every node. A statement trigger
//! bumps `registry_version` on every change, so each node's key cache (`auth::Authenticator`)
//! sees a key created, rotated, disabled or deleted on any node at its next poll.

use pgstate::{p, Pg, PgError, Row};
use uuid::Uuid;

use super::{Entity, Intake, RegistryError, RegistryStore, Status};

/// The registry's schema steps (append-only; see `pgstate::Pg::migrate`).
const MIGRATIONS: &[&str] = &["
CREATE TABLE registry_entities (
  uuid TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
CREATE TABLE registry_intakes (
  uuid TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  format TEXT NOT NULL,
  entity_uuid TEXT NOT NULL REFERENCES registry_entities(uuid),
  key_hash BYTEA NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  status TEXT NOT NULL
);
CREATE TABLE registry_settings (
  name TEXT PRIMARY KEY,
  value BYTEA NOT NULL
);
CREATE TABLE registry_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version BIGINT NOT NULL
);
INSERT INTO registry_version (id, version) VALUES (1, 0);
CREATE FUNCTION registry_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE registry_version SET version = version + 1 WHERE id = 1;
  RETURN NULL;
END $$;
CREATE TRIGGER registry_intakes_bump AFTER INSERT OR UPDATE OR DELETE ON registry_intakes
  FOR EACH STATEMENT EXECUTE FUNCTION registry_bump();
CREATE TRIGGER registry_entities_bump AFTER INSERT OR UPDATE OR DELETE ON registry_entities
  FOR EACH STATEMENT EXECUTE FUNCTION registry_bump();
CREATE TRIGGER registry_settings_bump AFTER INSERT OR UPDATE OR DELETE ON registry_settings
  FOR EACH STATEMENT EXECUTE FUNCTION registry_bump();
"];

// `COLLATE "C"`: the order must not depend on the database's locale.
const INTAKE_COLS: &str = "uuid, name, format, entity_uuid, key_hash, created_at, status";

/// The registry in PostgreSQL.
pub struct PgRegistry {
    pg: Pg,
}

fn row_to_intake(r: &Row) -> Intake {
    let uuid: String = r.get(0);
    let entity: String = r.get(3);
    let hash: Vec<u8> = r.get(4);
    let status: String = r.get(6);
    let mut key_hash = [0u8; 32];
    if hash.len() == 32 {
        key_hash.copy_from_slice(&hash);
    }
    Intake {
        uuid: Uuid::parse_str(&uuid).unwrap_or_default(),
        name: r.get(1),
        format: r.get(2),
        entity_uuid: Uuid::parse_str(&entity).unwrap_or_default(),
        created_at: r.get(5),
        status: Status::parse(&status).unwrap_or(Status::Disabled),
        key_hash,
    }
}

impl PgRegistry {
    /// The registry in `pg`'s database, its schema created or migrated first.
    pub fn open(pg: &Pg) -> Result<PgRegistry, RegistryError> {
        pg.migrate("registry", MIGRATIONS)?;
        Ok(PgRegistry { pg: pg.clone() })
    }
}

impl RegistryStore for PgRegistry {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn data_version(&self) -> Result<i64, RegistryError> {
        let rows = self
            .pg
            .query("SELECT version FROM registry_version WHERE id = 1", vec![])?;
        Ok(rows.first().map(|r| r.get(0)).unwrap_or(0))
    }

    fn insert_entity(&self, e: &Entity) -> Result<(), RegistryError> {
        match self.pg.execute(
            "INSERT INTO registry_entities (uuid, name, created_at) VALUES ($1, $2, $3)",
            vec![
                p(e.uuid.to_string()),
                p(e.name.clone()),
                p(e.created_at.clone()),
            ],
        ) {
            Ok(_) => Ok(()),
            Err(err) if err.is_unique_violation() => Err(RegistryError::Invalid(format!(
                "an entity named {:?} already exists",
                e.name
            ))),
            Err(err) => Err(err.into()),
        }
    }

    fn list_entities(&self) -> Result<Vec<Entity>, RegistryError> {
        let rows = self.pg.query(
            "SELECT uuid, name, created_at FROM registry_entities
             ORDER BY created_at COLLATE \"C\", uuid COLLATE \"C\"",
            vec![],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let u: String = r.get(0);
                Entity {
                    uuid: Uuid::parse_str(&u).unwrap_or_default(),
                    name: r.get(1),
                    created_at: r.get(2),
                }
            })
            .collect())
    }

    fn insert_intake(&self, i: &Intake) -> Result<(), RegistryError> {
        match self.pg.execute(
            "INSERT INTO registry_intakes
               (uuid, name, format, entity_uuid, key_hash, created_at, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                p(i.uuid.to_string()),
                p(i.name.clone()),
                p(i.format.clone()),
                p(i.entity_uuid.to_string()),
                p(i.key_hash.to_vec()),
                p(i.created_at.clone()),
                p(i.status.as_str()),
            ],
        ) {
            Ok(_) => Ok(()),
            // SQLSTATE 23503: the entity does not exist.
            Err(PgError::Db { code: Some(c), .. }) if c == "23503" => {
                Err(RegistryError::NotFound(format!("entity {}", i.entity_uuid)))
            }
            Err(err) => Err(err.into()),
        }
    }

    fn list_intakes(&self) -> Result<Vec<Intake>, RegistryError> {
        let rows = self.pg.query(
            format!(
                "SELECT {INTAKE_COLS} FROM registry_intakes
                 ORDER BY created_at COLLATE \"C\", uuid COLLATE \"C\""
            ),
            vec![],
        )?;
        Ok(rows.iter().map(row_to_intake).collect())
    }

    fn get_intake(&self, uuid: Uuid) -> Result<Option<Intake>, RegistryError> {
        let rows = self.pg.query(
            format!("SELECT {INTAKE_COLS} FROM registry_intakes WHERE uuid = $1"),
            vec![p(uuid.to_string())],
        )?;
        Ok(rows.first().map(row_to_intake))
    }

    fn set_key_hash(&self, uuid: Uuid, hash: &[u8; 32]) -> Result<bool, RegistryError> {
        Ok(self.pg.execute(
            "UPDATE registry_intakes SET key_hash = $1 WHERE uuid = $2",
            vec![p(hash.to_vec()), p(uuid.to_string())],
        )? > 0)
    }

    fn set_status(&self, uuid: Uuid, status: Status) -> Result<bool, RegistryError> {
        Ok(self.pg.execute(
            "UPDATE registry_intakes SET status = $1 WHERE uuid = $2",
            vec![p(status.as_str()), p(uuid.to_string())],
        )? > 0)
    }

    fn delete_intake(&self, uuid: Uuid) -> Result<bool, RegistryError> {
        Ok(self.pg.execute(
            "DELETE FROM registry_intakes WHERE uuid = $1",
            vec![p(uuid.to_string())],
        )? > 0)
    }

    fn set_setting(&self, name: &str, value: &[u8]) -> Result<(), RegistryError> {
        self.pg.execute(
            "INSERT INTO registry_settings (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            vec![p(name.to_string()), p(value.to_vec())],
        )?;
        Ok(())
    }

    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, RegistryError> {
        let rows = self.pg.query(
            "SELECT value FROM registry_settings WHERE name = $1",
            vec![p(name.to_string())],
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn ping(&self) -> Result<(), RegistryError> {
        Ok(self.pg.ping()?)
    }
}
