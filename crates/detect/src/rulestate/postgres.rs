//! The rule state of a cluster: table `rule_state` in PostgreSQL, shared by every node. A
//! trigger bumps `rule_state_version` when an enabled flag changes (not for hit counts, which
//! every worker adds every few seconds), so each worker re-reads the disabled set only then.
//! Times are fixed-width RFC 3339 UTC text, as in SQLite, so that `GREATEST` keeps the latest.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use pgstate::{p, Pg};

use super::{PendingHits, RuleState, RuleStateBackend};
use crate::Error;

/// The rule state's schema steps (append-only; see `pgstate::Pg::migrate`).
const MIGRATIONS: &[&str] = &["
CREATE TABLE rule_state (
  rule_id TEXT PRIMARY KEY,
  enabled BOOLEAN NOT NULL DEFAULT TRUE,
  hits BIGINT NOT NULL DEFAULT 0,
  last_hit TEXT
);
CREATE TABLE rule_state_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version BIGINT NOT NULL
);
INSERT INTO rule_state_version (id, version) VALUES (1, 0);
CREATE FUNCTION rule_state_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.enabled IS DISTINCT FROM OLD.enabled THEN
    UPDATE rule_state_version SET version = version + 1 WHERE id = 1;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER rule_state_bump AFTER INSERT OR UPDATE ON rule_state
  FOR EACH ROW EXECUTE FUNCTION rule_state_bump();
"];

/// The rule state in PostgreSQL.
pub struct PgRuleState {
    pg: Pg,
}

impl PgRuleState {
    /// The rule state in `pg`'s database, its schema created or migrated first.
    pub fn open(pg: &Pg) -> Result<Self, Error> {
        pg.migrate("rule_state", MIGRATIONS)?;
        Ok(Self { pg: pg.clone() })
    }
}

impl RuleStateBackend for PgRuleState {
    fn all(&self) -> Result<HashMap<String, RuleState>, Error> {
        let rows = self.pg.query(
            "SELECT rule_id, enabled, hits, last_hit FROM rule_state",
            vec![],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let hits: i64 = r.get(2);
                (
                    r.get::<_, String>(0),
                    RuleState {
                        enabled: r.get(1),
                        hits: hits.max(0) as u64,
                        last_hit: r
                            .get::<_, Option<String>>(3)
                            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                            .map(|d| d.with_timezone(&Utc)),
                    },
                )
            })
            .collect())
    }

    fn disabled(&self) -> Result<HashSet<String>, Error> {
        let rows = self
            .pg
            .query("SELECT rule_id FROM rule_state WHERE NOT enabled", vec![])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn set_enabled(&self, rule_id: &str, enabled: bool) -> Result<(), Error> {
        self.pg.execute(
            "INSERT INTO rule_state (rule_id, enabled) VALUES ($1, $2)
             ON CONFLICT (rule_id) DO UPDATE SET enabled = excluded.enabled",
            vec![p(rule_id.to_string()), p(enabled)],
        )?;
        Ok(())
    }

    fn add_hits(&self, pending: &PendingHits) -> Result<(), Error> {
        self.pg.transaction(|tx| {
            for (id, (n, last)) in pending.iter() {
                tx.execute(
                    "INSERT INTO rule_state (rule_id, hits, last_hit) VALUES ($1, $2, $3)
                     ON CONFLICT (rule_id) DO UPDATE SET hits = rule_state.hits + excluded.hits,
                       last_hit = GREATEST(rule_state.last_hit, excluded.last_hit)",
                    vec![
                        p(id.clone()),
                        p(i64::try_from(*n).unwrap_or(i64::MAX)),
                        // The format SQLite's store writes: fixed-width UTC, so that the
                        // greater string is the later time.
                        p(last.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn data_version(&self) -> Result<i64, Error> {
        let rows = self.pg.query(
            "SELECT version FROM rule_state_version WHERE id = 1",
            vec![],
        )?;
        Ok(rows.first().map(|r| r.get(0)).unwrap_or(0))
    }
}
