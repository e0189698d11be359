//! The rule state beside one node's alerts: table `rule_state` of `DATA/alerts.db`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::{PendingHits, RuleState, RuleStateBackend};
use crate::Error;

/// The rule state in `DATA/alerts.db`.
pub struct SqliteRuleState {
    conn: Connection,
}

impl SqliteRuleState {
    /// Opens (or creates) the table in `DATA/alerts.db`.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::Io(data_dir.into(), e))?;
        let conn = Connection::open(data_dir.join("alerts.db"))?;
        crate::db::tune(&conn)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS rule_state (
                rule_id TEXT PRIMARY KEY,
                enabled INTEGER NOT NULL DEFAULT 1,
                hits INTEGER NOT NULL DEFAULT 0,
                last_hit TEXT);",
        )?;
        Ok(Self { conn })
    }
}

impl RuleStateBackend for SqliteRuleState {
    fn all(&self) -> Result<HashMap<String, RuleState>, Error> {
        let mut st = self
            .conn
            .prepare("SELECT rule_id, enabled, hits, last_hit FROM rule_state")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                RuleState {
                    enabled: r.get::<_, i64>(1)? != 0,
                    hits: r.get::<_, i64>(2)?.max(0) as u64,
                    last_hit: r
                        .get::<_, Option<String>>(3)?
                        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                        .map(|d| d.with_timezone(&Utc)),
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn disabled(&self) -> Result<HashSet<String>, Error> {
        let mut st = self
            .conn
            .prepare("SELECT rule_id FROM rule_state WHERE enabled = 0")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set_enabled(&self, rule_id: &str, enabled: bool) -> Result<(), Error> {
        self.conn.execute(
            "INSERT INTO rule_state (rule_id, enabled) VALUES (?1, ?2)
             ON CONFLICT(rule_id) DO UPDATE SET enabled = excluded.enabled",
            params![rule_id, enabled],
        )?;
        Ok(())
    }

    fn add_hits(&self, pending: &PendingHits) -> Result<(), Error> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut st = tx.prepare(
                "INSERT INTO rule_state (rule_id, hits, last_hit) VALUES (?1, ?2, ?3)
                 ON CONFLICT(rule_id) DO UPDATE SET hits = hits + excluded.hits,
                   last_hit = MAX(COALESCE(last_hit, ''), excluded.last_hit)",
            )?;
            for (id, (n, last)) in pending.iter() {
                st.execute(params![
                    id,
                    i64::try_from(*n).unwrap_or(i64::MAX),
                    last.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn data_version(&self) -> Result<i64, Error> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }
}
