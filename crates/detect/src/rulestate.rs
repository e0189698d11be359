//! Per-rule state kept beside the alerts (`DATA/alerts.db`, table `rule_state`): whether a
//! rule is enabled, and how many matches it produced. The REST API and the CLI write the
//! enabled flag; the running [`crate::DetectionService`] reads it back when the database
//! changes and adds its match counts every few seconds.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use serde::Serialize;

use crate::Error;

/// What is stored about one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleState {
    /// False while the rule is disabled (its matches are dropped).
    pub enabled: bool,
    /// Matches produced so far.
    pub hits: u64,
    /// Time of the latest match.
    pub last_hit: Option<DateTime<Utc>>,
}

impl Default for RuleState {
    fn default() -> Self {
        Self {
            enabled: true,
            hits: 0,
            last_hit: None,
        }
    }
}

/// Hit counts gathered in memory between two writes: rule id → (matches, latest match).
pub type PendingHits = HashMap<String, (u64, DateTime<Utc>)>;

/// The rule state table.
pub struct RuleStateStore {
    conn: Connection,
}

impl RuleStateStore {
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

    /// The state of every rule that was ever disabled or matched (others are enabled, 0 hits).
    pub fn all(&self) -> Result<HashMap<String, RuleState>, Error> {
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

    /// Ids of the disabled rules.
    pub fn disabled(&self) -> Result<HashSet<String>, Error> {
        let mut st = self
            .conn
            .prepare("SELECT rule_id FROM rule_state WHERE enabled = 0")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Enables or disables a rule.
    pub fn set_enabled(&self, rule_id: &str, enabled: bool) -> Result<(), Error> {
        self.conn.execute(
            "INSERT INTO rule_state (rule_id, enabled) VALUES (?1, ?2)
             ON CONFLICT(rule_id) DO UPDATE SET enabled = excluded.enabled",
            params![rule_id, enabled],
        )?;
        Ok(())
    }

    /// Adds match counts (one transaction) and empties `pending`.
    pub fn add_hits(&mut self, pending: &mut PendingHits) -> Result<(), Error> {
        if pending.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
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
        pending.clear();
        Ok(())
    }

    /// A number that changes whenever another connection (API, CLI) committed to the
    /// database: the cue to read the disabled set again.
    pub fn data_version(&self) -> Result<i64, Error> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }
}
