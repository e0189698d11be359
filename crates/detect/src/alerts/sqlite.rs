//! The alerts of one node: `DATA/alerts.db` (SQLite in WAL mode, so the CLI works while the
//! server runs). Its file format is that of every earlier version; [`SqliteAlerts::open`]
//! migrates older files in place.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    fill_lists, head_json, like_pattern, parse_ts, Alert, AlertBackend, AlertFilter, AlertTx,
    Group, Held, List, PlaybookRun, Throttle,
};
use crate::Error;

/// The alerts in `DATA/alerts.db`.
pub struct SqliteAlerts {
    conn: Connection,
}

impl SqliteAlerts {
    /// Opens (or creates) `DATA/alerts.db`.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::Io(data_dir.into(), e))?;
        let conn = Connection::open(data_dir.join("alerts.db"))?;
        crate::db::tune(&conn)?;
        // Plans that do not depend on the values bound: otherwise SQLite prepares a cached
        // statement again whenever a new value is bound to a parameter its plan looked at,
        // and the alert lookup of each commit (`open_alert`) spent more time being prepared
        // than being run (issue 18). Every query here is a lookup by an indexed key.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS alerts (
                uuid TEXT PRIMARY KEY,
                short_id TEXT NOT NULL UNIQUE,
                similarity_key TEXT NOT NULL,
                status TEXT NOT NULL,
                rule_id TEXT NOT NULL,
                entity TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                json TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS alerts_key ON alerts (similarity_key, status);
             CREATE INDEX IF NOT EXISTS alerts_updated ON alerts (updated_at);
             CREATE TABLE IF NOT EXISTS rule_throttle (
                rule_id TEXT NOT NULL,
                entity TEXT NOT NULL,
                window_start TEXT NOT NULL,
                opened INTEGER NOT NULL,
                suppressed INTEGER NOT NULL,
                throttled_since TEXT,
                PRIMARY KEY (rule_id, entity));
             CREATE TABLE IF NOT EXISTS alerted_events (
                rule_id TEXT NOT NULL,
                event_key TEXT NOT NULL,
                at TEXT NOT NULL,
                PRIMARY KEY (rule_id, event_key)) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS alerted_events_at ON alerted_events (at);
             CREATE TABLE IF NOT EXISTS playbook_runs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                playbook TEXT NOT NULL,
                alert_uuid TEXT NOT NULL,
                trigger TEXT NOT NULL,
                action TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                outcome TEXT NOT NULL,
                detail TEXT NOT NULL,
                started_at TEXT NOT NULL,
                finished_at TEXT NOT NULL);",
        )?;
        Self::migrate(&conn)?;
        Ok(Self { conn })
    }

    /// Migrations of databases created by earlier versions, each idempotent. 1: the
    /// `assignee` column (the alert's JSON carries it too), indexed for "assigned to me".
    /// 2: the lists that grow with matches (event ids, users, hosts, destinations) move out
    /// of each alert's JSON into `alert_lists`, a row per value.
    fn migrate(conn: &Connection) -> Result<(), Error> {
        let has_assignee: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('alerts') WHERE name = 'assignee')",
            [],
            |r| r.get(0),
        )?;
        if !has_assignee {
            conn.execute_batch("ALTER TABLE alerts ADD COLUMN assignee TEXT;")?;
        }
        conn.execute_batch("CREATE INDEX IF NOT EXISTS alerts_assignee ON alerts (assignee);")?;
        Self::migrate_lists(conn)
    }

    /// Migration 2: creates `alert_lists` and moves the lists of the alerts stored before it
    /// there, in one transaction (a server and a CLI opening the file together: the second
    /// waits, then finds the table).
    fn migrate_lists(conn: &Connection) -> Result<(), Error> {
        let exists = |c: &Connection| -> Result<bool, Error> {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alert_lists')",
                [],
                |r| r.get(0),
            )?)
        };
        if exists(conn)? {
            return Ok(());
        }
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        if exists(&tx)? {
            return Ok(());
        }
        // The key finds whether a list holds a value and counts a list; `pos` keeps the
        // order values came in.
        tx.execute_batch(
            "CREATE TABLE alert_lists (
                alert_uuid TEXT NOT NULL,
                list INTEGER NOT NULL,
                pos INTEGER NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (alert_uuid, list, value)) WITHOUT ROWID;",
        )?;
        let old: Vec<(String, String)> = tx
            .prepare("SELECT uuid, json FROM alerts")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (uuid, json) in old {
            let mut a: Alert = serde_json::from_str(&json)?;
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO alert_lists (alert_uuid, list, pos, value) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for l in List::ALL {
                for (pos, v) in l.of(&a).iter().enumerate() {
                    insert.execute(params![uuid, l.code() as i64, pos as i64, v])?;
                }
            }
            let head = head_json(&mut a)?;
            tx.execute(
                "UPDATE alerts SET json = ?2 WHERE uuid = ?1",
                params![uuid, head],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// `select` with the WHERE clause of `f`, and its bound values.
    fn filtered(select: &str, f: &AlertFilter) -> (String, Vec<String>) {
        let mut sql = format!("{select} WHERE 1=1");
        let mut args: Vec<String> = Vec::new();
        if let Some(s) = f.status {
            args.push(s.as_str().to_string());
            sql.push_str(&format!(" AND status = ?{}", args.len()));
        }
        if let Some(r) = &f.rule {
            args.push(r.clone());
            sql.push_str(&format!(" AND rule_id = ?{}", args.len()));
        }
        if let Some(e) = &f.entity {
            args.push(e.clone());
            sql.push_str(&format!(" AND entity = ?{}", args.len()));
        }
        match f.assignee.as_deref() {
            Some("") => sql.push_str(" AND assignee IS NULL"),
            Some(a) => {
                args.push(a.to_string());
                sql.push_str(&format!(" AND assignee = ?{}", args.len()));
            }
            None => {}
        }
        if let Some(n) = f.rule_name.as_deref().filter(|n| !n.is_empty()) {
            args.push(like_pattern(n));
            sql.push_str(&format!(
                " AND json_extract(json, '$.rule.name') LIKE ?{} ESCAPE '\\'",
                args.len()
            ));
        }
        if let Some(t) = f.text.as_deref().filter(|t| !t.is_empty()) {
            args.push(like_pattern(&super::json_needle(t)));
            args.push(like_pattern(t));
            sql.push_str(&format!(
                " AND (json LIKE ?{} ESCAPE '\\' OR EXISTS (SELECT 1 FROM alert_lists l
                   WHERE l.alert_uuid = alerts.uuid AND l.value LIKE ?{} ESCAPE '\\'))",
                args.len() - 1,
                args.len()
            ));
        }
        // "Involved": the alert's own field, or one of its distinct lists.
        let involved =
            |fields: &[&str], lists: &[List], v: &str, sql: &mut String, args: &mut Vec<String>| {
                args.push(v.to_string());
                let n = args.len();
                let mut alts: Vec<String> = fields
                    .iter()
                    .map(|f| format!("json_extract(json, '$.{f}') = ?{n}"))
                    .collect();
                alts.extend(lists.iter().map(|l| {
                    format!(
                        "EXISTS (SELECT 1 FROM alert_lists l WHERE l.alert_uuid = alerts.uuid
                           AND l.list = {} AND l.value = ?{n})",
                        l.code()
                    )
                }));
                sql.push_str(&format!(" AND ({})", alts.join(" OR ")));
            };
        for (fields, lists, v) in super::involved_filters(f) {
            involved(fields, lists, v, &mut sql, &mut args);
        }
        (sql, args)
    }
}

/// The alert of this stored JSON with its lists read from `alert_lists`.
fn whole(conn: &Connection, json: &str) -> Result<Alert, Error> {
    let mut a: Alert = serde_json::from_str(json)?;
    let rows = conn
        .prepare_cached("SELECT list, pos, value FROM alert_lists WHERE alert_uuid = ?1")?
        .query_map([&a.uuid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    fill_lists(&mut a, rows);
    Ok(a)
}

/// The alert of the first row of `sql` (selecting its JSON), whole or with its list lengths
/// only.
fn held(conn: &Connection, sql: &str, arg: &str, read_whole: bool) -> Result<Option<Held>, Error> {
    let json: Option<String> = conn
        .prepare_cached(sql)?
        .query_row([arg], |r| r.get(0))
        .optional()?;
    let Some(json) = json else {
        return Ok(None);
    };
    let alert = if read_whole {
        whole(conn, &json)?
    } else {
        serde_json::from_str(&json)?
    };
    // A query of its own: with the counts as subqueries of the alert's query, SQLite
    // prepared that statement again at every step, which cost more than the counts.
    let mut stored = [0; 4];
    let mut st = conn.prepare_cached(
        "SELECT list, COUNT(*) FROM alert_lists WHERE alert_uuid = ?1 GROUP BY list",
    )?;
    let mut rows = st.query([&alert.uuid])?;
    while let Some(r) = rows.next()? {
        if let Some(l) = List::from_code(r.get(0)?) {
            stored[l.code()] = r.get::<_, i64>(1)?.max(0) as usize;
        }
    }
    Ok(Some(Held::read(alert, stored, read_whole)))
}

impl AlertBackend for SqliteAlerts {
    fn get(&self, id: &str) -> Result<Option<Alert>, Error> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT json FROM alerts WHERE uuid = ?1 OR short_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        json.map(|j| whole(&self.conn, &j)).transpose()
    }

    fn list(&self, f: &AlertFilter) -> Result<Vec<Alert>, Error> {
        let (mut sql, args) = Self::filtered("SELECT json FROM alerts", f);
        sql.push_str(&format!(
            " ORDER BY updated_at DESC LIMIT {}",
            f.limit.unwrap_or(100)
        ));
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(whole(&self.conn, &row?)?);
        }
        Ok(out)
    }

    fn count(&self, f: &AlertFilter) -> Result<u64, Error> {
        let (sql, args) = Self::filtered("SELECT COUNT(*) FROM alerts", f);
        let n: i64 = self
            .conn
            .query_row(&sql, rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn throttles(&self) -> Result<Vec<Throttle>, Error> {
        let mut st = self.conn.prepare(
            "SELECT rule_id, entity, window_start, opened, suppressed, throttled_since
             FROM rule_throttle ORDER BY rule_id, entity",
        )?;
        let rows = st.query_map([], |r| {
            Ok(Throttle {
                rule_id: r.get(0)?,
                entity: r.get(1)?,
                window_start: parse_ts(&r.get::<_, String>(2)?),
                opened: r.get::<_, i64>(3)? as u64,
                suppressed: r.get::<_, i64>(4)? as u64,
                throttled_since: r.get::<_, Option<String>>(5)?.map(|s| parse_ts(&s)),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_run(&self, run: &PlaybookRun) -> Result<i64, Error> {
        self.conn.execute(
            "INSERT INTO playbook_runs (playbook, alert_uuid, trigger, action, attempts, outcome, detail, started_at, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                run.playbook,
                run.alert_uuid,
                run.trigger,
                run.action,
                run.attempts,
                run.outcome,
                run.detail,
                run.started_at.to_rfc3339(),
                run.finished_at.to_rfc3339()
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn runs(&self, alert_uuid: Option<&str>) -> Result<Vec<PlaybookRun>, Error> {
        let mut st = self.conn.prepare(
            "SELECT id, playbook, alert_uuid, trigger, action, attempts, outcome, detail, started_at, finished_at
             FROM playbook_runs WHERE ?1 IS NULL OR alert_uuid = ?1 ORDER BY id DESC LIMIT 1000",
        )?;
        let rows = st.query_map([alert_uuid], |r| {
            Ok(PlaybookRun {
                id: r.get(0)?,
                playbook: r.get(1)?,
                alert_uuid: r.get(2)?,
                trigger: r.get(3)?,
                action: r.get(4)?,
                attempts: r.get::<_, i64>(5)? as u32,
                outcome: r.get(6)?,
                detail: r.get(7)?,
                started_at: parse_ts(&r.get::<_, String>(8)?),
                finished_at: parse_ts(&r.get::<_, String>(9)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn last_run(&self, playbook: &str, alert_uuid: &str) -> Result<Option<DateTime<Utc>>, Error> {
        let s: Option<String> = self.conn.query_row(
            "SELECT MAX(started_at) FROM playbook_runs WHERE playbook = ?1 AND alert_uuid = ?2",
            [playbook, alert_uuid],
            |r| r.get(0),
        )?;
        Ok(s.map(|s| parse_ts(&s)))
    }

    fn forget_replays_before(&self, horizon: DateTime<Utc>) -> Result<(), Error> {
        self.conn.execute(
            "DELETE FROM alerted_events WHERE at < ?1",
            [horizon.to_rfc3339()],
        )?;
        Ok(())
    }

    fn transaction(
        &mut self,
        _groups: &[Group],
        f: &mut dyn FnMut(&mut dyn AlertTx) -> Result<(), Error>,
    ) -> Result<(), Error> {
        // IMMEDIATE: the write lock from the start, so the transaction is serialised with
        // every other writer (server, CLI, API handlers) and no group lock is needed.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        f(&mut SqliteTx { conn: &tx })?;
        tx.commit()?;
        Ok(())
    }
}

/// A write transaction of `DATA/alerts.db`.
struct SqliteTx<'a> {
    conn: &'a Connection,
}

impl AlertTx for SqliteTx<'_> {
    fn alert(&mut self, id: &str, whole: bool) -> Result<Option<Held>, Error> {
        held(
            self.conn,
            "SELECT json FROM alerts WHERE uuid = ?1 OR short_id = ?1",
            id,
            whole,
        )
    }

    fn open_alert(&mut self, key: &str, whole: bool) -> Result<Option<Held>, Error> {
        held(
            self.conn,
            "SELECT json FROM alerts WHERE similarity_key = ?1
             AND status IN ('Pending', 'Acknowledged', 'Ongoing')
             ORDER BY updated_at DESC LIMIT 1",
            key,
            whole,
        )
    }

    fn latest_alert(
        &mut self,
        rule_id: &str,
        entity: &str,
        open_only: bool,
    ) -> Result<Option<String>, Error> {
        let sql = if open_only {
            "SELECT uuid FROM alerts WHERE rule_id = ?1 AND entity = ?2
             AND status IN ('Pending', 'Acknowledged', 'Ongoing')
             ORDER BY updated_at DESC LIMIT 1"
        } else {
            "SELECT uuid FROM alerts WHERE rule_id = ?1 AND entity = ?2
             ORDER BY updated_at DESC LIMIT 1"
        };
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row([rule_id, entity], |r| r.get(0))
            .optional()?)
    }

    fn save(&mut self, a: &Alert, head: &str) -> Result<(), Error> {
        self.conn
            .prepare_cached(
                "INSERT INTO alerts (uuid, short_id, similarity_key, status, rule_id, entity, updated_at, json, assignee)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(uuid) DO UPDATE SET status=excluded.status,
                   updated_at=excluded.updated_at, json=excluded.json, assignee=excluded.assignee",
            )?
            .execute(params![
                a.uuid,
                a.short_id,
                a.similarity_key,
                a.status.as_str(),
                a.rule.id,
                a.entity,
                a.updated_at.to_rfc3339(),
                head,
                a.assignee
            ])?;
        Ok(())
    }

    fn append(
        &mut self,
        uuid: &str,
        mut stored: [usize; 4],
        values: [&[String]; 4],
    ) -> Result<[usize; 4], Error> {
        // The key ignores a value the list holds; the count moves only for the others.
        let mut insert = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO alert_lists (alert_uuid, list, pos, value) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for l in List::ALL {
            let n = &mut stored[l.code()];
            for v in values[l.code()] {
                if *n >= l.cap() {
                    break;
                }
                *n += insert.execute(params![uuid, l.code() as i64, *n as i64, v])?;
            }
        }
        Ok(stored)
    }

    fn remember(
        &mut self,
        rule_id: &str,
        event_keys: &[String],
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let at = at.to_rfc3339();
        let mut insert = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO alerted_events (rule_id, event_key, at) VALUES (?1, ?2, ?3)",
        )?;
        let mut fresh = false;
        for k in event_keys {
            fresh |= insert.execute(params![rule_id, k, at])? > 0;
        }
        Ok(fresh)
    }

    fn throttle(&mut self, rule_id: &str, entity: &str) -> Result<Option<Throttle>, Error> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT window_start, opened, suppressed, throttled_since FROM rule_throttle
                 WHERE rule_id = ?1 AND entity = ?2",
            )?
            .query_row([rule_id, entity], |r| {
                Ok(Throttle {
                    rule_id: rule_id.to_string(),
                    entity: entity.to_string(),
                    window_start: parse_ts(&r.get::<_, String>(0)?),
                    opened: r.get::<_, i64>(1)? as u64,
                    suppressed: r.get::<_, i64>(2)? as u64,
                    throttled_since: r.get::<_, Option<String>>(3)?.map(|t| parse_ts(&t)),
                })
            })
            .optional()?)
    }

    fn save_throttle(&mut self, t: &Throttle) -> Result<(), Error> {
        self.conn.prepare_cached(
            "INSERT INTO rule_throttle (rule_id, entity, window_start, opened, suppressed, throttled_since)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(rule_id, entity) DO UPDATE SET window_start=excluded.window_start,
               opened=excluded.opened, suppressed=excluded.suppressed,
               throttled_since=excluded.throttled_since",
        )?
        .execute(params![
            t.rule_id,
            t.entity,
            t.window_start.to_rfc3339(),
            t.opened as i64,
            t.suppressed as i64,
            t.throttled_since.map(|s| s.to_rfc3339())
        ])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// The alert lookup a commit makes, with a similarity key of its own each time.
    const OPEN_ALERT: &str = "SELECT json FROM alerts WHERE similarity_key = ?1
             AND status IN ('Pending', 'Acknowledged', 'Ongoing')
             ORDER BY updated_at DESC LIMIT 1";

    #[test]
    fn the_open_alert_lookup_is_prepared_once_whatever_key_it_is_given() {
        let d = tempfile::tempdir().unwrap();
        let mut alerts = SqliteAlerts::open(d.path()).unwrap();
        for key in ["r1|a", "r2|b", "r1|c"] {
            alerts
                .transaction(&[], &mut |tx| tx.open_alert(key, false).map(drop))
                .unwrap();
        }
        let st = alerts.conn.prepare_cached(OPEN_ALERT).unwrap();
        assert_eq!(st.get_status(StatementStatus::RePrepare), 0);
    }
}
