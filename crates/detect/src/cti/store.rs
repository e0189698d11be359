//! Durable indicator storage (SQLite, `DATA/cti.db`), shared by the server and the CLI.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::{indicators_of, Indicator};
use crate::Error;

/// What an import did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ImportReport {
    /// Indicators seen in the document(s).
    pub seen: usize,
    /// Indicators stored for the first time.
    pub added: usize,
    /// Indicators replaced by a newer version.
    pub updated: usize,
    /// Indicators already stored with the same or a newer version.
    pub unchanged: usize,
    /// Indicators that are revoked (kept, never matched).
    pub revoked: usize,
    /// Indicators skipped, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Ids of added or updated indicators (the ones a retrohunt should run).
    pub changed_ids: Vec<String>,
}

/// One imported source (file name, URL or API import name) and what it holds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceSummary {
    /// File name, URL, or the `name` of an API import.
    pub source: String,
    /// Latest import from it.
    pub imported_at: Option<DateTime<Utc>>,
    /// Indicators stored from it.
    pub indicators: u64,
    /// Those that may match now (not revoked, inside their validity window).
    pub active: u64,
}

/// The indicator database.
pub struct CtiStore {
    conn: Connection,
}

impl CtiStore {
    /// The database, for the other tables of `cti.db` (registered sources).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Opens (or creates) `DATA/cti.db`.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::Io(data_dir.into(), e))?;
        let conn = Connection::open(data_dir.join("cti.db"))?;
        crate::db::tune(&conn)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS indicators (
                id TEXT PRIMARY KEY,
                modified TEXT,
                revoked INTEGER NOT NULL,
                source TEXT NOT NULL,
                imported_at TEXT NOT NULL,
                json TEXT NOT NULL);
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
        Ok(Self { conn })
    }

    /// Imports the indicators of a STIX document (bundle, envelope or array).
    pub fn import_doc(
        &mut self,
        doc: &serde_json::Value,
        source: &str,
    ) -> Result<ImportReport, Error> {
        let (inds, skipped) = indicators_of(doc);
        let mut rep = ImportReport {
            skipped,
            ..Default::default()
        };
        self.import_indicators(&inds, source, &mut rep)?;
        Ok(rep)
    }

    /// Stores indicators, keeping the newest version of each.
    pub fn import_indicators(
        &mut self,
        inds: &[Indicator],
        source: &str,
        rep: &mut ImportReport,
    ) -> Result<(), Error> {
        // Fixed-width nanosecond timestamps: `version`/`imported_after` compare them as text.
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let tx = self.conn.transaction()?;
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
            let modified = ind.modified.map(|m| m.to_rfc3339());
            let newer = match &existing {
                None => true,
                Some(old) => match (&ind.modified, old.as_deref().and_then(parse)) {
                    (Some(new), Some(old)) => *new > old,
                    (Some(_), None) => true,
                    _ => false,
                },
            };
            if !newer {
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
                    modified,
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

    /// All stored indicators.
    pub fn all(&self) -> Result<Vec<Indicator>, Error> {
        let mut st = self
            .conn
            .prepare("SELECT json FROM indicators ORDER BY id")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    /// The indicators with the given ids.
    pub fn by_ids(&self, ids: &[String]) -> Result<Vec<Indicator>, Error> {
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

    /// Indicators imported after the given `imported_at` version (see [`CtiStore::version`]).
    pub fn imported_after(&self, version: &str) -> Result<Vec<Indicator>, Error> {
        let mut st = self
            .conn
            .prepare("SELECT json FROM indicators WHERE imported_at > ?1 ORDER BY id")?;
        let rows = st.query_map([version], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    /// One row per source indicators came from, sorted by source; `now` decides which are
    /// active.
    pub fn sources(&self, now: DateTime<Utc>) -> Result<Vec<SourceSummary>, Error> {
        let mut st = self.conn.prepare(
            "SELECT source, imported_at, revoked, json_extract(json, '$.valid_from'),
                    json_extract(json, '$.valid_until')
             FROM indicators ORDER BY source",
        )?;
        let mut rows = st.query([])?;
        let mut out: Vec<SourceSummary> = Vec::new();
        while let Some(r) = rows.next()? {
            let source: String = r.get(0)?;
            let imported = r.get::<_, String>(1).ok().as_deref().and_then(parse);
            let revoked: bool = r.get(2)?;
            let from = r.get::<_, Option<String>>(3)?.as_deref().and_then(parse);
            let until = r.get::<_, Option<String>>(4)?.as_deref().and_then(parse);
            let active = !revoked && from.is_none_or(|f| f <= now) && until.is_none_or(|u| u > now);
            if out.last().is_none_or(|s| s.source != source) {
                out.push(SourceSummary {
                    source,
                    imported_at: None,
                    indicators: 0,
                    active: 0,
                });
            }
            if let Some(s) = out.last_mut() {
                s.indicators += 1;
                s.active += u64::from(active);
                s.imported_at = s.imported_at.max(imported);
            }
        }
        Ok(out)
    }

    /// Number of stored indicators.
    pub fn count(&self) -> Result<u64, Error> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM indicators", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Max of `imported_at`: the server reloads its matcher when this changes.
    pub fn version(&self) -> Result<Option<String>, Error> {
        Ok(self
            .conn
            .query_row("SELECT MAX(imported_at) FROM indicators", [], |r| r.get(0))?)
    }

    /// The paging cursor saved for a feed URL.
    pub fn cursor(&self, url: &str) -> Result<Option<String>, Error> {
        Ok(self
            .conn
            .query_row("SELECT cursor FROM feeds WHERE url = ?1", [url], |r| {
                r.get(0)
            })
            .optional()?
            .flatten())
    }

    /// Saves the paging cursor of a feed URL.
    pub fn set_cursor(&self, url: &str, cursor: Option<&str>) -> Result<(), Error> {
        self.conn.execute(
            "INSERT INTO feeds (url, cursor, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(url) DO UPDATE SET cursor=excluded.cursor, updated_at=excluded.updated_at",
            params![url, cursor, Utc::now().to_rfc3339()],
        )?;
        Ok(())
    }
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}
