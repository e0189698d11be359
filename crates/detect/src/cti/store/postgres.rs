//! The indicators of a cluster: tables `cti_indicators`, `cti_feed_cursors`, `cti_sources`
//! and `cti_version` in PostgreSQL, shared by every node (schema component `cti`).
//!
//! Each import that writes something stamps its rows with the next value of
//! `cti_version.version`, read `FOR UPDATE` at the start of its transaction: imports take
//! turns on that row, so they commit in the order of their versions, and a node that saw
//! version N has seen every row stamped N or lower. `imported_after(N)` is then exactly what
//! the imports after N wrote, whichever node ran them. Times are RFC 3339 text, as in SQLite.
//!
//! `cti_version.hunted` is the latest version whose imports a node claimed to retrohunt: a
//! node that reloads to version N moves it to N if it is lower and hunts what was imported
//! after its old value, so each import is hunted by one node, not by every worker. The claim
//! also writes a row of `cti_hunts` (the claimed range and a lease), deleted when the hunt is
//! done: a node that dies mid-hunt leaves its row, and once the lease ran out another node
//! takes the row over (a compare-and-set on the lease) and hunts that range again.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pgstate::{p, Pg, Tx};

use super::{
    replaces, summarize, CtiBackend, HuntClaim, ImportReport, SourceSummary, RETROHUNT_LEASE,
};
use crate::cti::sources::{CtiSource, PollOutcome};
use crate::cti::Indicator;
use crate::Error;

/// The CTI schema's steps (append-only; see `pgstate::Pg::migrate`).
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE cti_indicators (
  id TEXT PRIMARY KEY,
  modified TEXT,
  revoked BOOLEAN NOT NULL,
  source TEXT NOT NULL,
  imported_at TEXT NOT NULL,
  import_version BIGINT NOT NULL,
  json TEXT NOT NULL
);
CREATE INDEX cti_indicators_import_version ON cti_indicators (import_version);
CREATE TABLE cti_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version BIGINT NOT NULL
);
INSERT INTO cti_version (id, version) VALUES (1, 0);
CREATE TABLE cti_feed_cursors (
  url TEXT PRIMARY KEY,
  cursor TEXT,
  updated_at TEXT NOT NULL
);
CREATE TABLE cti_sources (
  url TEXT PRIMARY KEY,
  every_secs BIGINT NOT NULL,
  token_env TEXT,
  added_at TEXT NOT NULL,
  last_run TEXT,
  last_ok TEXT,
  last_error TEXT,
  last_seen BIGINT NOT NULL DEFAULT 0,
  last_changed BIGINT NOT NULL DEFAULT 0
);
",
    "
ALTER TABLE cti_version ADD COLUMN hunted BIGINT NOT NULL DEFAULT 0;
",
    "
CREATE TABLE cti_hunts (
  upto BIGINT PRIMARY KEY,
  from_version BIGINT NOT NULL,
  lease_until TIMESTAMPTZ NOT NULL
);
",
];

/// Ids per statement of an import or a look-up (bounds one statement's size and time).
const CHUNK: usize = 1000;

/// The indicators in PostgreSQL.
pub struct PgCti {
    pg: Pg,
    /// How long a claimed retrohunt is this node's before another may take it over.
    lease: Duration,
}

impl PgCti {
    /// The indicators in `pg`'s database, its schema created or migrated first.
    pub fn open(pg: &Pg) -> Result<Self, Error> {
        pg.migrate("cti", MIGRATIONS)?;
        Ok(Self {
            pg: pg.clone(),
            lease: RETROHUNT_LEASE,
        })
    }

    fn json_rows(&self, rows: &[pgstate::Row]) -> Result<Vec<Indicator>, Error> {
        rows.iter()
            .map(|r| Ok(serde_json::from_str(r.get::<_, &str>(0))?))
            .collect()
    }
}

fn ts(s: Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref().and_then(super::parse)
}

/// A lease in whole milliseconds, as PostgreSQL is given it.
fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Writes `inds` (distinct ids) stamped with `version`, in one statement.
fn upsert(
    tx: &mut Tx,
    inds: &[&Indicator],
    source: &str,
    imported_at: &str,
    version: i64,
) -> Result<(), Error> {
    let mut ids = Vec::with_capacity(inds.len());
    let mut modified = Vec::with_capacity(inds.len());
    let mut revoked = Vec::with_capacity(inds.len());
    let mut json = Vec::with_capacity(inds.len());
    for ind in inds {
        ids.push(ind.id.clone());
        modified.push(ind.modified.map(|m| m.to_rfc3339()));
        revoked.push(ind.revoked);
        json.push(serde_json::to_string(ind)?);
    }
    tx.execute(
        "INSERT INTO cti_indicators
           (id, modified, revoked, source, imported_at, import_version, json)
         SELECT u.id, u.modified, u.revoked, $5, $6, $7, u.json
         FROM UNNEST($1::text[], $2::text[], $3::bool[], $4::text[])
           AS u(id, modified, revoked, json)
         ON CONFLICT (id) DO UPDATE SET modified = excluded.modified,
           revoked = excluded.revoked, source = excluded.source,
           imported_at = excluded.imported_at, import_version = excluded.import_version,
           json = excluded.json",
        vec![
            p(ids),
            p(modified),
            p(revoked),
            p(json),
            p(source.to_string()),
            p(imported_at.to_string()),
            p(version),
        ],
    )?;
    Ok(())
}

impl CtiBackend for PgCti {
    fn reopen(&self) -> Result<Box<dyn CtiBackend>, Error> {
        Ok(Box::new(Self {
            pg: self.pg.clone(),
            lease: self.lease,
        }))
    }

    fn import_indicators(
        &mut self,
        inds: &[Indicator],
        source: &str,
        rep: &mut ImportReport,
    ) -> Result<(), Error> {
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let done = self.pg.transaction(|tx| -> Result<ImportReport, Error> {
            // Taken first and held to the commit: imports take turns (see the module's doc),
            // and the look-ups below see what the previous import wrote.
            let current: i64 = tx
                .query(
                    "SELECT version FROM cti_version WHERE id = 1 FOR UPDATE",
                    vec![],
                )?
                .first()
                .map(|r| r.get(0))
                .unwrap_or(0);
            let version = current + 1;
            let mut stored: HashMap<String, Option<String>> = HashMap::new();
            let mut ids: Vec<String> = inds.iter().map(|i| i.id.clone()).collect();
            ids.sort_unstable();
            ids.dedup();
            for chunk in ids.chunks(CHUNK) {
                for r in tx.query(
                    "SELECT id, modified FROM cti_indicators WHERE id = ANY($1)",
                    vec![p(chunk.to_vec())],
                )? {
                    stored.insert(r.get(0), r.get(1));
                }
            }
            // Decided indicator by indicator, as SQLite does, so that an id twice in one
            // document counts the same; only the last version written of each id is sent.
            let mut rep = ImportReport::default();
            let mut write: Vec<&Indicator> = Vec::new();
            let mut slot: HashMap<&str, usize> = HashMap::new();
            for ind in inds {
                rep.seen += 1;
                if ind.revoked {
                    rep.revoked += 1;
                }
                let existing = stored.get(&ind.id).map(Option::as_deref);
                if !replaces(ind, existing) {
                    rep.unchanged += 1;
                    continue;
                }
                if existing.is_some() {
                    rep.updated += 1;
                } else {
                    rep.added += 1;
                }
                rep.changed_ids.push(ind.id.clone());
                stored.insert(ind.id.clone(), ind.modified.map(|m| m.to_rfc3339()));
                match slot.get(ind.id.as_str()) {
                    Some(&i) => write[i] = ind,
                    None => {
                        slot.insert(&ind.id, write.len());
                        write.push(ind);
                    }
                }
            }
            for chunk in write.chunks(CHUNK) {
                upsert(tx, chunk, source, &now, version)?;
            }
            if !write.is_empty() {
                tx.execute(
                    "UPDATE cti_version SET version = $1 WHERE id = 1",
                    vec![p(version)],
                )?;
            }
            Ok(rep)
        })?;
        rep.seen += done.seen;
        rep.added += done.added;
        rep.updated += done.updated;
        rep.unchanged += done.unchanged;
        rep.revoked += done.revoked;
        rep.changed_ids.extend(done.changed_ids);
        Ok(())
    }

    fn all(&self) -> Result<Vec<Indicator>, Error> {
        // Byte order, as SQLite sorts, whatever the database's collation.
        let rows = self.pg.query(
            "SELECT json FROM cti_indicators ORDER BY id COLLATE \"C\"",
            vec![],
        )?;
        self.json_rows(&rows)
    }

    fn by_ids(&self, ids: &[String]) -> Result<Vec<Indicator>, Error> {
        let mut found: HashMap<String, String> = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            for r in self.pg.query(
                "SELECT id, json FROM cti_indicators WHERE id = ANY($1)",
                vec![p(chunk.to_vec())],
            )? {
                found.insert(r.get(0), r.get(1));
            }
        }
        ids.iter()
            .filter_map(|id| found.get(id))
            .map(|j| Ok(serde_json::from_str(j)?))
            .collect()
    }

    fn imported_after(&self, version: &str) -> Result<Vec<Indicator>, Error> {
        // Versions come from `version()`; anything else is taken as "before every import".
        let after: i64 = version.parse().unwrap_or(0);
        let rows = self.pg.query(
            "SELECT json FROM cti_indicators WHERE import_version > $1 ORDER BY id COLLATE \"C\"",
            vec![p(after)],
        )?;
        self.json_rows(&rows)
    }

    fn sources(&self, now: DateTime<Utc>) -> Result<Vec<SourceSummary>, Error> {
        let rows = self.pg.query(
            "SELECT source, imported_at, revoked, (json::jsonb)->>'valid_from',
                    (json::jsonb)->>'valid_until'
             FROM cti_indicators ORDER BY source COLLATE \"C\"",
            vec![],
        )?;
        Ok(summarize(
            rows.iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))),
            now,
        ))
    }

    fn count(&self) -> Result<u64, Error> {
        let rows = self
            .pg
            .query("SELECT COUNT(*) FROM cti_indicators", vec![])?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0).max(0) as u64)
    }

    fn version(&self) -> Result<Option<String>, Error> {
        let rows = self
            .pg
            .query("SELECT version FROM cti_version WHERE id = 1", vec![])?;
        let v: i64 = rows.first().map(|r| r.get(0)).unwrap_or(0);
        Ok((v > 0).then(|| v.to_string()))
    }

    fn cursor(&self, url: &str) -> Result<Option<String>, Error> {
        let rows = self.pg.query(
            "SELECT cursor FROM cti_feed_cursors WHERE url = $1",
            vec![p(url.to_string())],
        )?;
        Ok(rows.first().and_then(|r| r.get(0)))
    }

    fn set_cursor(&self, url: &str, cursor: Option<&str>) -> Result<(), Error> {
        self.pg.execute(
            "INSERT INTO cti_feed_cursors (url, cursor, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (url) DO UPDATE SET cursor = excluded.cursor,
               updated_at = excluded.updated_at",
            vec![
                p(url.to_string()),
                p(cursor.map(String::from)),
                p(Utc::now().to_rfc3339()),
            ],
        )?;
        Ok(())
    }

    fn add_source(&self, url: &str, every_secs: u64, token_env: Option<&str>) -> Result<(), Error> {
        self.pg.execute(
            "INSERT INTO cti_sources (url, every_secs, token_env, added_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (url) DO UPDATE SET every_secs = excluded.every_secs,
               token_env = excluded.token_env",
            vec![
                p(url.to_string()),
                p(count(every_secs)),
                p(token_env.map(String::from)),
                p(Utc::now().to_rfc3339()),
            ],
        )?;
        Ok(())
    }

    fn remove_source(&self, url: &str) -> Result<bool, Error> {
        Ok(self.pg.execute(
            "DELETE FROM cti_sources WHERE url = $1",
            vec![p(url.to_string())],
        )? > 0)
    }

    fn registered_sources(&self) -> Result<Vec<CtiSource>, Error> {
        let rows = self.pg.query(
            "SELECT url, every_secs, token_env, added_at, last_run, last_ok, last_error,
                    last_seen, last_changed FROM cti_sources ORDER BY url COLLATE \"C\"",
            vec![],
        )?;
        Ok(rows
            .iter()
            .map(|r| CtiSource {
                url: r.get(0),
                every_secs: r.get::<_, i64>(1).max(0) as u64,
                token_env: r.get(2),
                added_at: ts(r.get(3)).unwrap_or_else(Utc::now),
                last_run: ts(r.get(4)),
                last_ok: ts(r.get(5)),
                last_error: r.get(6),
                last_seen: r.get::<_, i64>(7).max(0) as u64,
                last_changed: r.get::<_, i64>(8).max(0) as u64,
            })
            .collect())
    }

    fn claim_source(
        &self,
        url: &str,
        seen_last_run: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        // A compare-and-set: of two nodes updating at once, the second waits for the first's
        // row lock, then finds `last_run` changed and updates nothing. No lock outlives this
        // statement, so a long fetch blocks nobody (see `sources::poll_due`).
        Ok(self.pg.execute(
            "UPDATE cti_sources SET last_run = $3
             WHERE url = $1 AND last_run IS NOT DISTINCT FROM $2",
            vec![
                p(url.to_string()),
                p(seen_last_run.map(|t| t.to_rfc3339())),
                p(at.to_rfc3339()),
            ],
        )? == 1)
    }

    fn claim_retrohunt(
        &self,
        _since: Option<&str>,
        version: &str,
    ) -> Result<Option<Option<String>>, Error> {
        let Ok(version) = version.parse::<i64>() else {
            return Err(Error::Retrohunt(format!(
                "not a CTI version of PostgreSQL: {version:?}"
            )));
        };
        let lease = lease_ms(self.lease);
        self.pg.transaction(|tx| -> Result<_, Error> {
            // A compare-and-set that also reads the old value: the row lock makes a second
            // node wait for the first's update, then find `hunted` already at `version` and
            // update nothing. The winner hunts from the old value, which covers imports that
            // a node reloading less often than the others skipped over; its own `since` is
            // not needed.
            let rows = tx.query(
                "WITH old AS (SELECT hunted FROM cti_version WHERE id = 1 FOR UPDATE)
                 UPDATE cti_version SET hunted = $1 FROM old
                 WHERE cti_version.id = 1 AND old.hunted < $1
                 RETURNING old.hunted",
                vec![p(version)],
            )?;
            let Some(from) = rows.first().map(|r| r.get::<_, i64>(0)) else {
                return Ok(None);
            };
            // Committed with the claim: if this node dies before the hunt is done, the row
            // outlives it and its lease runs out.
            tx.execute(
                "INSERT INTO cti_hunts (upto, from_version, lease_until)
                 VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond')
                 ON CONFLICT (upto) DO NOTHING",
                vec![p(version), p(from), p(lease)],
            )?;
            Ok(Some((from > 0).then(|| from.to_string())))
        })
    }

    fn take_over_retrohunt(&self) -> Result<Option<HuntClaim>, Error> {
        // The oldest range whose lease ran out, re-leased to this node. SKIP LOCKED lets two
        // nodes checking at once take two different ranges; the lease test in the UPDATE is
        // what makes the take-over a compare-and-set.
        let rows = self.pg.query(
            "UPDATE cti_hunts SET lease_until = now() + $1::bigint * interval '1 millisecond'
             WHERE upto = (SELECT upto FROM cti_hunts WHERE lease_until < now()
                           ORDER BY upto LIMIT 1 FOR UPDATE SKIP LOCKED)
               AND lease_until < now()
             RETURNING from_version, upto",
            vec![p(lease_ms(self.lease))],
        )?;
        Ok(rows.first().map(|r| {
            let (from, upto): (i64, i64) = (r.get(0), r.get(1));
            HuntClaim {
                from: (from > 0).then(|| from.to_string()),
                upto: upto.to_string(),
            }
        }))
    }

    fn finish_retrohunt(&self, upto: &str) -> Result<(), Error> {
        let Ok(upto) = upto.parse::<i64>() else {
            return Err(Error::Retrohunt(format!(
                "not a CTI version of PostgreSQL: {upto:?}"
            )));
        };
        self.pg
            .execute("DELETE FROM cti_hunts WHERE upto = $1", vec![p(upto)])?;
        Ok(())
    }

    fn set_retrohunt_lease(&mut self, lease: Duration) {
        self.lease = lease;
    }

    fn record_run(&self, url: &str, at: DateTime<Utc>, outcome: &PollOutcome) -> Result<(), Error> {
        let (sql, params) = match outcome {
            Ok((seen, changed)) => (
                "UPDATE cti_sources SET last_run = $2, last_ok = $2, last_error = NULL,
                 last_seen = $3, last_changed = $4 WHERE url = $1",
                vec![
                    p(url.to_string()),
                    p(at.to_rfc3339()),
                    p(count(*seen)),
                    p(count(*changed)),
                ],
            ),
            Err(e) => (
                "UPDATE cti_sources SET last_run = $2, last_error = $3 WHERE url = $1",
                vec![p(url.to_string()), p(at.to_rfc3339()), p(e.clone())],
            ),
        };
        self.pg.execute(sql, params)?;
        Ok(())
    }
}
