//! The alerts of a cluster: tables in PostgreSQL shared by every node, so that any node's
//! console shows every alert and triage on one node is seen on all (schema component
//! `alerts`).
//!
//! Two workers may ingest matches of one similarity key at the same time. Each ingest
//! transaction first takes a transaction-scoped advisory lock per (rule, entity) of its
//! matches, in one order (sorted by key), so that the second waits until the first committed
//! and then finds the alert the first opened (READ COMMITTED: each statement sees what
//! committed before it), instead of opening another one. The lock covers all that a match
//! can change: the open alert of its similarity key (the key starts with rule and entity),
//! the rule's latest alerts for the entity, and its throttle row (so throttle counts are not
//! lost either). Alerts read for a change are locked (`FOR UPDATE`), so that a status change
//! through the API and a match folded into the same alert do not overwrite each other; the
//! API takes no advisory lock, only that row lock, so no cycle of waits can form.
//!
//! Times are fixed-width RFC 3339 UTC text, so that text order is time order.

use chrono::{DateTime, SecondsFormat, Utc};
use pgstate::{p, Param, Pg, Tx};
use sha2::Digest;

use super::{
    fill_lists, like_pattern, parse_ts, Alert, AlertBackend, AlertFilter, AlertTx, Group, Held,
    List, PlaybookRun, Throttle,
};
use crate::Error;

/// The alerts' schema steps (append-only; see `pgstate::Pg::migrate`).
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE alerts (
  uuid TEXT PRIMARY KEY,
  short_id TEXT NOT NULL UNIQUE,
  similarity_key TEXT NOT NULL,
  status TEXT NOT NULL,
  rule_id TEXT NOT NULL,
  entity TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  assignee TEXT,
  json TEXT NOT NULL
);
CREATE INDEX alerts_key ON alerts (similarity_key, status);
CREATE INDEX alerts_rule_entity ON alerts (rule_id, entity, updated_at);
CREATE INDEX alerts_updated ON alerts (updated_at);
CREATE INDEX alerts_assignee ON alerts (assignee);
CREATE TABLE alert_throttles (
  rule_id TEXT NOT NULL,
  entity TEXT NOT NULL,
  window_start TEXT NOT NULL,
  opened BIGINT NOT NULL,
  suppressed BIGINT NOT NULL,
  throttled_since TEXT,
  PRIMARY KEY (rule_id, entity)
);
CREATE TABLE alerted_events (
  rule_id TEXT NOT NULL,
  event_key TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (rule_id, event_key)
);
CREATE INDEX alerted_events_at ON alerted_events (at);
CREATE TABLE playbook_runs (
  id BIGSERIAL PRIMARY KEY,
  playbook TEXT NOT NULL,
  alert_uuid TEXT NOT NULL,
  trigger TEXT NOT NULL,
  action TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL
);
CREATE INDEX playbook_runs_alert ON playbook_runs (alert_uuid, playbook);
",
    "
CREATE TABLE correlation_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version BIGINT NOT NULL,
  snapshot TEXT
);
INSERT INTO correlation_state (id, version) VALUES (1, 0);
CREATE TABLE correlation_fed (
  event_key TEXT PRIMARY KEY,
  at TEXT NOT NULL
);
CREATE INDEX correlation_fed_at ON correlation_fed (at);
",
    // The lists that grow with matches (event ids, users, hosts, destinations; `List`
    // codes 0-3) move out of each alert's JSON, a row per value, so that a match appends
    // instead of rewriting the alert.
    "
CREATE TABLE alert_lists (
  alert_uuid TEXT NOT NULL,
  list INTEGER NOT NULL,
  pos INTEGER NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (alert_uuid, list, value)
);
INSERT INTO alert_lists (alert_uuid, list, pos, value)
SELECT a.uuid, l.code, e.ord - 1, e.value
FROM alerts a
CROSS JOIN (VALUES (0, 'event_ids'), (1, 'users'), (2, 'hosts'), (3, 'destinations'))
  AS l(code, name)
CROSS JOIN LATERAL jsonb_array_elements_text(
  CASE WHEN jsonb_typeof(a.json::jsonb -> l.name) = 'array' THEN a.json::jsonb -> l.name
       ELSE '[]'::jsonb END) WITH ORDINALITY AS e(value, ord)
ON CONFLICT DO NOTHING;
UPDATE alerts SET json = (json::jsonb
  || '{\"event_ids\": [], \"users\": [], \"hosts\": [], \"destinations\": []}'::jsonb)::text;
",
];

/// The first key of the ingest transactions' advisory locks (an arbitrary constant; the
/// two-key lock space does not overlap the one-key space that the schema and accounts use).
const LOCK_CLASS: i32 = 72_620_016;

/// The select-list terms giving the number of values of each list of `alerts.uuid` (in the
/// order of [`List::ALL`]), in one query with the alert (one round trip).
const LIST_LENGTHS: &str =
    "(SELECT COUNT(*) FROM alert_lists l WHERE l.alert_uuid = alerts.uuid AND l.list = 0),
    (SELECT COUNT(*) FROM alert_lists l WHERE l.alert_uuid = alerts.uuid AND l.list = 1),
    (SELECT COUNT(*) FROM alert_lists l WHERE l.alert_uuid = alerts.uuid AND l.list = 2),
    (SELECT COUNT(*) FROM alert_lists l WHERE l.alert_uuid = alerts.uuid AND l.list = 3)";

const OPEN: &str = "status IN ('Pending', 'Acknowledged', 'Ongoing')";

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The second key of a group's advisory lock: the same on every node (a stable hash, not
/// the process's random one); two groups sharing one only wait for each other.
fn lock_key((rule_id, entity): &Group) -> i32 {
    let mut h = sha2::Sha256::new();
    h.update((rule_id.len() as u64).to_le_bytes());
    h.update(rule_id.as_bytes());
    h.update(entity.as_bytes());
    let d = h.finalize();
    i32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

/// The alerts in PostgreSQL. Cheap to clone (clones share the connection pool).
#[derive(Debug, Clone)]
pub struct PgAlerts {
    pg: Pg,
}

impl PgAlerts {
    /// The alerts in `pg`'s database, its schema created or migrated first.
    pub fn open(pg: &Pg) -> Result<Self, Error> {
        pg.migrate("alerts", MIGRATIONS)?;
        Ok(Self { pg: pg.clone() })
    }

    /// The schema steps of the `alerts` component, in order: a prefix of them brings a
    /// database to an earlier version (to check the migration of what such a database holds).
    pub fn schema_steps() -> &'static [&'static str] {
        MIGRATIONS
    }

    /// `select` with the WHERE clause of `f`, and its bound values.
    fn filtered(select: &str, f: &AlertFilter) -> (String, Vec<Param>) {
        let mut sql = format!("{select} WHERE TRUE");
        let mut args: Vec<Param> = Vec::new();
        let bind = |v: String, args: &mut Vec<Param>| {
            args.push(p(v));
            args.len()
        };
        if let Some(s) = f.status {
            let n = bind(s.as_str().to_string(), &mut args);
            sql.push_str(&format!(" AND status = ${n}"));
        }
        if let Some(r) = &f.rule {
            let n = bind(r.clone(), &mut args);
            sql.push_str(&format!(" AND rule_id = ${n}"));
        }
        if let Some(e) = &f.entity {
            let n = bind(e.clone(), &mut args);
            sql.push_str(&format!(" AND entity = ${n}"));
        }
        match f.assignee.as_deref() {
            Some("") => sql.push_str(" AND assignee IS NULL"),
            Some(a) => {
                let n = bind(a.to_string(), &mut args);
                sql.push_str(&format!(" AND assignee = ${n}"));
            }
            None => {}
        }
        // ILIKE: SQLite's LIKE is case-insensitive for ASCII, and so must this be.
        if let Some(name) = f.rule_name.as_deref().filter(|n| !n.is_empty()) {
            let n = bind(like_pattern(name), &mut args);
            sql.push_str(&format!(
                " AND (json::jsonb -> 'rule' ->> 'name') ILIKE ${n} ESCAPE '\\'"
            ));
        }
        if let Some(t) = f.text.as_deref().filter(|t| !t.is_empty()) {
            let n = bind(like_pattern(&super::json_needle(t)), &mut args);
            let raw = bind(like_pattern(t), &mut args);
            sql.push_str(&format!(
                " AND (json ILIKE ${n} ESCAPE '\\' OR EXISTS (SELECT 1 FROM alert_lists l
                   WHERE l.alert_uuid = alerts.uuid AND l.value ILIKE ${raw} ESCAPE '\\'))"
            ));
        }
        for (fields, lists, v) in super::involved_filters(f) {
            let n = bind(v.to_string(), &mut args);
            let mut alts: Vec<String> = fields
                .iter()
                .map(|f| format!("(json::jsonb ->> '{f}') = ${n}"))
                .collect();
            alts.extend(lists.iter().map(|l| {
                format!(
                    "EXISTS (SELECT 1 FROM alert_lists l WHERE l.alert_uuid = alerts.uuid
                       AND l.list = {} AND l.value = ${n})",
                    l.code()
                )
            }));
            sql.push_str(&format!(" AND ({})", alts.join(" OR ")));
        }
        (sql, args)
    }
}

fn alert_of(json: &str) -> Result<Alert, Error> {
    Ok(serde_json::from_str(json)?)
}

/// Runs a query, on the pool or in a transaction.
type Query<'a> = &'a mut dyn FnMut(&str, Vec<Param>) -> Result<Vec<pgstate::Row>, Error>;

/// The alerts of these stored JSONs with their lists, read from `alert_lists` in one query.
fn whole(q: Query<'_>, jsons: &[String]) -> Result<Vec<Alert>, Error> {
    let mut alerts = jsons
        .iter()
        .map(|j| alert_of(j))
        .collect::<Result<Vec<_>, _>>()?;
    if alerts.is_empty() {
        return Ok(alerts);
    }
    let uuids: Vec<String> = alerts.iter().map(|a| a.uuid.clone()).collect();
    let rows = q(
        "SELECT alert_uuid, list, pos, value FROM alert_lists WHERE alert_uuid = ANY($1)",
        vec![p(uuids)],
    )?;
    let mut by_alert: std::collections::HashMap<String, Vec<(i64, i64, String)>> =
        Default::default();
    for r in &rows {
        by_alert.entry(r.get(0)).or_default().push((
            i64::from(r.get::<_, i32>(1)),
            i64::from(r.get::<_, i32>(2)),
            r.get(3),
        ));
    }
    for a in &mut alerts {
        if let Some(rows) = by_alert.remove(&a.uuid) {
            fill_lists(a, rows);
        }
    }
    Ok(alerts)
}

fn run_of(r: &pgstate::Row) -> PlaybookRun {
    PlaybookRun {
        id: r.get(0),
        playbook: r.get(1),
        alert_uuid: r.get(2),
        trigger: r.get(3),
        action: r.get(4),
        attempts: r.get::<_, i32>(5).max(0) as u32,
        outcome: r.get(6),
        detail: r.get(7),
        started_at: parse_ts(&r.get::<_, String>(8)),
        finished_at: parse_ts(&r.get::<_, String>(9)),
    }
}

impl PgAlerts {
    /// The alerts whose JSON `sql` selects, whole.
    fn list_where(&self, sql: String, args: Vec<Param>) -> Result<Vec<Alert>, Error> {
        let jsons: Vec<String> = self.pg.query(sql, args)?.iter().map(|r| r.get(0)).collect();
        whole(&mut |sql, args| Ok(self.pg.query(sql, args)?), &jsons)
    }
}

impl AlertBackend for PgAlerts {
    fn get(&self, id: &str) -> Result<Option<Alert>, Error> {
        Ok(self
            .list_where(
                "SELECT json FROM alerts WHERE uuid = $1 OR short_id = $1".into(),
                vec![p(id.to_string())],
            )?
            .pop())
    }

    fn list(&self, f: &AlertFilter) -> Result<Vec<Alert>, Error> {
        let (mut sql, mut args) = Self::filtered("SELECT json FROM alerts", f);
        args.push(p(i64::try_from(f.limit.unwrap_or(100)).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" ORDER BY updated_at DESC LIMIT ${}", args.len()));
        self.list_where(sql, args)
    }

    fn count(&self, f: &AlertFilter) -> Result<u64, Error> {
        let (sql, args) = Self::filtered("SELECT COUNT(*) FROM alerts", f);
        let rows = self.pg.query(sql, args)?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0).max(0) as u64)
    }

    fn throttles(&self) -> Result<Vec<Throttle>, Error> {
        let rows = self.pg.query(
            "SELECT rule_id, entity, window_start, opened, suppressed, throttled_since
             FROM alert_throttles ORDER BY rule_id, entity",
            vec![],
        )?;
        Ok(rows
            .iter()
            .map(|r| Throttle {
                rule_id: r.get(0),
                entity: r.get(1),
                window_start: parse_ts(&r.get::<_, String>(2)),
                opened: r.get::<_, i64>(3).max(0) as u64,
                suppressed: r.get::<_, i64>(4).max(0) as u64,
                throttled_since: r.get::<_, Option<String>>(5).map(|s| parse_ts(&s)),
            })
            .collect())
    }

    fn record_run(&self, run: &PlaybookRun) -> Result<i64, Error> {
        let rows = self.pg.query(
            "INSERT INTO playbook_runs (playbook, alert_uuid, trigger, action, attempts, outcome,
               detail, started_at, finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            vec![
                p(run.playbook.clone()),
                p(run.alert_uuid.clone()),
                p(run.trigger.clone()),
                p(run.action.clone()),
                p(i32::try_from(run.attempts).unwrap_or(i32::MAX)),
                p(run.outcome.clone()),
                p(run.detail.clone()),
                p(ts(run.started_at)),
                p(ts(run.finished_at)),
            ],
        )?;
        Ok(rows.first().map(|r| r.get(0)).unwrap_or_default())
    }

    fn runs(&self, alert_uuid: Option<&str>) -> Result<Vec<PlaybookRun>, Error> {
        let rows = self.pg.query(
            "SELECT id, playbook, alert_uuid, trigger, action, attempts, outcome, detail,
               started_at, finished_at
             FROM playbook_runs WHERE $1::text IS NULL OR alert_uuid = $1
             ORDER BY id DESC LIMIT 1000",
            vec![p(alert_uuid.map(str::to_string))],
        )?;
        Ok(rows.iter().map(run_of).collect())
    }

    fn last_run(&self, playbook: &str, alert_uuid: &str) -> Result<Option<DateTime<Utc>>, Error> {
        let rows = self.pg.query(
            "SELECT MAX(started_at) FROM playbook_runs WHERE playbook = $1 AND alert_uuid = $2",
            vec![p(playbook.to_string()), p(alert_uuid.to_string())],
        )?;
        Ok(rows
            .first()
            .and_then(|r| r.get::<_, Option<String>>(0))
            .map(|s| parse_ts(&s)))
    }

    fn forget_replays_before(&self, horizon: DateTime<Utc>) -> Result<(), Error> {
        self.pg.execute(
            "DELETE FROM alerted_events WHERE at < $1",
            vec![p(ts(horizon))],
        )?;
        self.pg.execute(
            "DELETE FROM correlation_fed WHERE at < $1",
            vec![p(ts(horizon))],
        )?;
        Ok(())
    }

    fn transaction(
        &mut self,
        groups: &[Group],
        f: &mut dyn FnMut(&mut dyn AlertTx) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.pg.transaction(|tx| {
            if !groups.is_empty() {
                // One order for every transaction, so that two never wait for each other.
                let mut keys: Vec<i32> = groups.iter().map(lock_key).collect();
                keys.sort_unstable();
                keys.dedup();
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) AS k",
                    vec![p(LOCK_CLASS), p(keys)],
                )?;
            }
            f(&mut PgTx { tx })
        })
    }
}

/// An open transaction of [`PgAlerts`].
struct PgTx<'a> {
    tx: &'a mut Tx,
}

impl PgTx<'_> {
    /// The alert of the first row of `sql` (selecting the JSON, then the list lengths), whole
    /// or with its list lengths only.
    fn held_where(
        &mut self,
        sql: &str,
        args: Vec<Param>,
        read_whole: bool,
    ) -> Result<Option<Held>, Error> {
        let rows = self.tx.query(sql, args)?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let json: String = r.get(0);
        let stored = [1, 2, 3, 4].map(|i| r.get::<_, i64>(i).max(0) as usize);
        let alert = if read_whole {
            let tx = &mut *self.tx;
            whole(&mut |sql, args| Ok(tx.query(sql, args)?), &[json])?
                .pop()
                .ok_or_else(|| Error::Rule("an alert read went missing".into()))?
        } else {
            alert_of(&json)?
        };
        Ok(Some(Held::read(alert, stored, read_whole)))
    }
}

impl AlertTx for PgTx<'_> {
    fn alert(&mut self, id: &str, whole: bool) -> Result<Option<Held>, Error> {
        self.held_where(
            &format!(
                "SELECT json, {LIST_LENGTHS} FROM alerts WHERE uuid = $1 OR short_id = $1
                 FOR UPDATE"
            ),
            vec![p(id.to_string())],
            whole,
        )
    }

    fn open_alert(&mut self, key: &str, whole: bool) -> Result<Option<Held>, Error> {
        self.held_where(
            &format!(
                "SELECT json, {LIST_LENGTHS} FROM alerts WHERE similarity_key = $1 AND {OPEN}
                 ORDER BY updated_at DESC LIMIT 1 FOR UPDATE"
            ),
            vec![p(key.to_string())],
            whole,
        )
    }

    fn latest_alert(
        &mut self,
        rule_id: &str,
        entity: &str,
        open_only: bool,
    ) -> Result<Option<String>, Error> {
        let sql = format!(
            "SELECT uuid FROM alerts WHERE rule_id = $1 AND entity = $2 {}
             ORDER BY updated_at DESC LIMIT 1",
            if open_only {
                format!("AND {OPEN}")
            } else {
                String::new()
            }
        );
        let rows = self
            .tx
            .query(sql, vec![p(rule_id.to_string()), p(entity.to_string())])?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn save(&mut self, a: &Alert, head: &str) -> Result<(), Error> {
        self.tx.execute(
            "INSERT INTO alerts (uuid, short_id, similarity_key, status, rule_id, entity,
               updated_at, json, assignee)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (uuid) DO UPDATE SET status = excluded.status,
               updated_at = excluded.updated_at, json = excluded.json,
               assignee = excluded.assignee",
            vec![
                p(a.uuid.clone()),
                p(a.short_id.clone()),
                p(a.similarity_key.clone()),
                p(a.status.as_str().to_string()),
                p(a.rule.id.clone()),
                p(a.entity.clone()),
                p(ts(a.updated_at)),
                p(head.to_string()),
                p(a.assignee.clone()),
            ],
        )?;
        Ok(())
    }

    fn append(
        &mut self,
        uuid: &str,
        stored: [usize; 4],
        values: [&[String]; 4],
    ) -> Result<[usize; 4], Error> {
        // One round trip for the four lists: the values not held yet, numbered per list in
        // their order, are inserted while the list has room.
        let mut codes: Vec<i32> = Vec::new();
        let mut vals: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for l in List::ALL {
            if stored[l.code()] >= l.cap() {
                continue;
            }
            for v in values[l.code()] {
                if seen.insert((l.code(), v.as_str())) {
                    codes.push(l.code() as i32);
                    vals.push(v.clone());
                }
            }
        }
        if vals.is_empty() {
            return Ok(stored);
        }
        let held: Vec<i32> = stored
            .iter()
            .map(|&n| i32::try_from(n).unwrap_or(i32::MAX))
            .collect();
        let caps: Vec<i32> = List::ALL.iter().map(|l| l.cap() as i32).collect();
        let rows = self.tx.query(
            "WITH c AS (
               SELECT c.l, c.v, row_number() OVER (PARTITION BY c.l ORDER BY c.o) AS r
               FROM unnest($2::int4[], $3::text[]) WITH ORDINALITY AS c(l, v, o)
               WHERE NOT EXISTS (SELECT 1 FROM alert_lists x
                 WHERE x.alert_uuid = $1 AND x.list = c.l AND x.value = c.v)
             ), ins AS (
               INSERT INTO alert_lists (alert_uuid, list, pos, value)
               SELECT $1, c.l, ($4::int4[])[c.l + 1] + c.r - 1, c.v FROM c
               WHERE ($4::int4[])[c.l + 1] + c.r <= ($5::int4[])[c.l + 1]
               RETURNING list
             )
             SELECT list, COUNT(*) FROM ins GROUP BY list",
            vec![p(uuid.to_string()), p(codes), p(vals), p(held), p(caps)],
        )?;
        let mut out = stored;
        for r in &rows {
            if let Some(l) = List::from_code(i64::from(r.get::<_, i32>(0))) {
                out[l.code()] += r.get::<_, i64>(1).max(0) as usize;
            }
        }
        Ok(out)
    }

    fn remember(
        &mut self,
        rule_id: &str,
        event_keys: &[String],
        at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        // One statement for all the keys; a key another worker inserts meanwhile waits for
        // that worker's commit, then counts as seen.
        let n = self.tx.execute(
            "INSERT INTO alerted_events (rule_id, event_key, at)
             SELECT $1, k, $3 FROM unnest($2::text[]) AS k
             ON CONFLICT (rule_id, event_key) DO NOTHING",
            vec![p(rule_id.to_string()), p(event_keys.to_vec()), p(ts(at))],
        )?;
        Ok(n > 0)
    }

    fn throttle(&mut self, rule_id: &str, entity: &str) -> Result<Option<Throttle>, Error> {
        let rows = self.tx.query(
            "SELECT window_start, opened, suppressed, throttled_since FROM alert_throttles
             WHERE rule_id = $1 AND entity = $2",
            vec![p(rule_id.to_string()), p(entity.to_string())],
        )?;
        Ok(rows.first().map(|r| Throttle {
            rule_id: rule_id.to_string(),
            entity: entity.to_string(),
            window_start: parse_ts(&r.get::<_, String>(0)),
            opened: r.get::<_, i64>(1).max(0) as u64,
            suppressed: r.get::<_, i64>(2).max(0) as u64,
            throttled_since: r.get::<_, Option<String>>(3).map(|s| parse_ts(&s)),
        }))
    }

    fn save_throttle(&mut self, t: &Throttle) -> Result<(), Error> {
        self.tx.execute(
            "INSERT INTO alert_throttles (rule_id, entity, window_start, opened, suppressed,
               throttled_since)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (rule_id, entity) DO UPDATE SET window_start = excluded.window_start,
               opened = excluded.opened, suppressed = excluded.suppressed,
               throttled_since = excluded.throttled_since",
            vec![
                p(t.rule_id.clone()),
                p(t.entity.clone()),
                p(ts(t.window_start)),
                p(i64::try_from(t.opened).unwrap_or(i64::MAX)),
                p(i64::try_from(t.suppressed).unwrap_or(i64::MAX)),
                p(t.throttled_since.map(ts)),
            ],
        )?;
        Ok(())
    }

    fn correlation_state(&mut self) -> Result<(i64, Option<String>), Error> {
        // The row lock is what serialises the workers' correlation steps.
        let rows = self.tx.query(
            "SELECT version, snapshot FROM correlation_state WHERE id = 1 FOR UPDATE",
            vec![],
        )?;
        Ok(rows
            .first()
            .map(|r| (r.get::<_, i64>(0), r.get::<_, Option<String>>(1)))
            .unwrap_or((0, None)))
    }

    fn save_correlation_state(&mut self, version: i64, snapshot: &str) -> Result<(), Error> {
        self.tx.execute(
            "UPDATE correlation_state SET version = $1, snapshot = $2 WHERE id = 1",
            vec![p(version), p(snapshot.to_string())],
        )?;
        Ok(())
    }

    fn feed_once(
        &mut self,
        event_keys: &[String],
        at: DateTime<Utc>,
    ) -> Result<std::collections::HashSet<String>, Error> {
        if event_keys.is_empty() {
            return Ok(Default::default());
        }
        let rows = self.tx.query(
            "INSERT INTO correlation_fed (event_key, at)
             SELECT k, $2 FROM unnest($1::text[]) AS k
             ON CONFLICT (event_key) DO NOTHING RETURNING event_key",
            vec![p(event_keys.to_vec()), p(ts(at))],
        )?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }
}
