//! The indicators of one node: tables `indicators`, `feeds` and `cti_sources` of
//! `DATA/cti.db`. The version is the latest `imported_at` (fixed-width nanosecond text, so
//! that text order is time order).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{replaces, summarize, CtiBackend, ImportReport, SourceSummary};
use crate::cti::sources::{CtiSource, PollOutcome};
use crate::cti::Indicator;
use crate::Error;

/// The indicators in `DATA/cti.db`.
pub struct SqliteCti {
    path: PathBuf,
    conn: Connection,
}

fn ts(s: Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref().and_then(super::parse)
}

impl SqliteCti {
    /// Opens (or creates) `DATA/cti.db`.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::Io(data_dir.into(), e))?;
        let path = data_dir.join("cti.db");
        let conn = Connection::open(&path)?;
        crate::db::tune(&conn)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS indicators (
                id TEXT PRIMARY KEY,
                modified TEXT,
                revoked INTEGER NOT NULL,
                source TEXT NOT NULL,
                imported_at TEXT NOT NULL,
                json TEXT NOT NULL);
             -- The version (MAX(imported_at)) is read every few seconds on the pipeline's
             -- writing thread: without this index each read scanned every indicator (100,000
             -- of them: a tenth of that thread's time in the end-to-end bench, issue 18).
             CREATE INDEX IF NOT EXISTS indicators_imported_at ON indicators (imported_at);
             CREATE TABLE IF NOT EXISTS feeds (
                url TEXT PRIMARY KEY,
                cursor TEXT,
                updated_at TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS cti_sources (
                url TEXT PRIMARY KEY,
                every_secs INTEGER NOT NULL,
                token_env TEXT,
                added_at TEXT NOT NULL,
                last_run TEXT,
                last_ok TEXT,
                last_error TEXT,
                last_seen INTEGER NOT NULL DEFAULT 0,
                last_changed INTEGER NOT NULL DEFAULT 0);",
        )?;
        Ok(Self { path, conn })
    }

    fn json_rows(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Indicator>, Error> {
        let mut st = self.conn.prepare(sql)?;
        let rows = st.query_map(params, |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }
}

impl CtiBackend for SqliteCti {
    fn reopen(&self) -> Result<Box<dyn CtiBackend>, Error> {
        let conn = Connection::open(&self.path)?;
        crate::db::tune(&conn)?;
        Ok(Box::new(Self {
            path: self.path.clone(),
            conn,
        }))
    }

    fn import_indicators(
        &mut self,
        inds: &[Indicator],
        source: &str,
        rep: &mut ImportReport,
    ) -> Result<(), Error> {
        // Fixed-width nanosecond timestamps: `version`/`imported_after` compare them as text.
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        // Immediate: takes the write lock before reading, so that an import running on another
        // connection (the API's, the poller's) is waited for instead of failing with
        // SQLITE_BUSY_SNAPSHOT when this one starts writing after reading.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for ind in inds {
            rep.seen += 1;
            if ind.revoked {
                rep.revoked += 1;
            }
            let existing: Option<Option<String>> = tx
                .query_row(
                    "SELECT modified FROM indicators WHERE id = ?1",
                    [&ind.id],
                    |r| r.get(0),
                )
                .optional()?;
            if !replaces(ind, existing.as_ref().map(Option::as_deref)) {
                rep.unchanged += 1;
                continue;
            }
            tx.execute(
                "INSERT INTO indicators (id, modified, revoked, source, imported_at, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET modified=excluded.modified,
                   revoked=excluded.revoked, source=excluded.source,
                   imported_at=excluded.imported_at, json=excluded.json",
                params![
                    ind.id,
                    ind.modified.map(|m| m.to_rfc3339()),
                    ind.revoked,
                    source,
                    now,
                    serde_json::to_string(ind)?
                ],
            )?;
            if existing.is_some() {
                rep.updated += 1;
            } else {
                rep.added += 1;
            }
            rep.changed_ids.push(ind.id.clone());
        }
        tx.commit()?;
        Ok(())
    }

    fn all(&self) -> Result<Vec<Indicator>, Error> {
        self.json_rows("SELECT json FROM indicators ORDER BY id", [])
    }

    fn by_ids(&self, ids: &[String]) -> Result<Vec<Indicator>, Error> {
        let mut st = self
            .conn
            .prepare("SELECT json FROM indicators WHERE id = ?1")?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(j) = st.query_row([id], |r| r.get::<_, String>(0)).optional()? {
                out.push(serde_json::from_str(&j)?);
            }
        }
        Ok(out)
    }

    fn imported_after(&self, version: &str) -> Result<Vec<Indicator>, Error> {
        self.json_rows(
            "SELECT json FROM indicators WHERE imported_at > ?1 ORDER BY id",
            [version],
        )
    }

    fn sources(&self, now: DateTime<Utc>) -> Result<Vec<SourceSummary>, Error> {
        let mut st = self.conn.prepare(
            "SELECT source, imported_at, revoked, json_extract(json, '$.valid_from'),
                    json_extract(json, '$.valid_until')
             FROM indicators ORDER BY source",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        Ok(summarize(rows.collect::<Result<Vec<_>, _>>()?, now))
    }

    fn count(&self) -> Result<u64, Error> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM indicators", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn version(&self) -> Result<Option<String>, Error> {
        Ok(self
            .conn
            .prepare_cached("SELECT MAX(imported_at) FROM indicators")?
            .query_row([], |r| r.get(0))?)
    }

    fn cursor(&self, url: &str) -> Result<Option<String>, Error> {
        Ok(self
            .conn
            .query_row("SELECT cursor FROM feeds WHERE url = ?1", [url], |r| {
                r.get(0)
            })
            .optional()?
            .flatten())
    }

    fn set_cursor(&self, url: &str, cursor: Option<&str>) -> Result<(), Error> {
        self.conn.execute(
            "INSERT INTO feeds (url, cursor, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(url) DO UPDATE SET cursor=excluded.cursor, updated_at=excluded.updated_at",
            params![url, cursor, Utc::now().to_rfc3339()],
        )?;
        Ok(())
    }

    fn add_source(&self, url: &str, every_secs: u64, token_env: Option<&str>) -> Result<(), Error> {
        self.conn.execute(
            "INSERT INTO cti_sources (url, every_secs, token_env, added_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(url) DO UPDATE SET every_secs=excluded.every_secs, token_env=excluded.token_env",
            params![
                url,
                i64::try_from(every_secs).unwrap_or(i64::MAX),
                token_env,
                Utc::now().to_rfc3339()
            ],
        )?;
        Ok(())
    }

    fn remove_source(&self, url: &str) -> Result<bool, Error> {
        Ok(self
            .conn
            .execute("DELETE FROM cti_sources WHERE url = ?1", [url])?
            > 0)
    }

    fn registered_sources(&self) -> Result<Vec<CtiSource>, Error> {
        let mut st = self.conn.prepare(
            "SELECT url, every_secs, token_env, added_at, last_run, last_ok, last_error,
                    last_seen, last_changed FROM cti_sources ORDER BY url",
        )?;
        let rows = st.query_map([], |r| {
            Ok(CtiSource {
                url: r.get(0)?,
                every_secs: r.get::<_, i64>(1)?.max(0) as u64,
                token_env: r.get(2)?,
                added_at: ts(r.get(3)?).unwrap_or_else(Utc::now),
                last_run: ts(r.get(4)?),
                last_ok: ts(r.get(5)?),
                last_error: r.get(6)?,
                last_seen: r.get::<_, i64>(7)?.max(0) as u64,
                last_changed: r.get::<_, i64>(8)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn claim_source(
        &self,
        url: &str,
        seen_last_run: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        // `IS` is SQLite's null-safe equality; `last_run` was written by `to_rfc3339`, which
        // the value read back formats to again.
        Ok(self.conn.execute(
            "UPDATE cti_sources SET last_run = ?3 WHERE url = ?1 AND last_run IS ?2",
            params![url, seen_last_run.map(|t| t.to_rfc3339()), at.to_rfc3339()],
        )? == 1)
    }

    fn record_run(&self, url: &str, at: DateTime<Utc>, outcome: &PollOutcome) -> Result<(), Error> {
        let at = at.to_rfc3339();
        match outcome {
            Ok((seen, changed)) => self.conn.execute(
                "UPDATE cti_sources SET last_run = ?2, last_ok = ?2, last_error = NULL,
                 last_seen = ?3, last_changed = ?4 WHERE url = ?1",
                params![
                    url,
                    at,
                    i64::try_from(*seen).unwrap_or(i64::MAX),
                    i64::try_from(*changed).unwrap_or(i64::MAX)
                ],
            )?,
            Err(e) => self.conn.execute(
                "UPDATE cti_sources SET last_run = ?2, last_error = ?3 WHERE url = ?1",
                params![url, at, e],
            )?,
        };
        Ok(())
    }
}
