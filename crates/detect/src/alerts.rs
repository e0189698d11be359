//! Alerts: the model (status workflow, comments, history), durable storage in
//! `DATA/alerts.db` (SQLite in WAL mode, so the CLI works while the server runs), and the
//! manager that turns matches into alerts: a match joins the open alert with the same
//! similarity key (rule, entity and grouping values; see [`similarity_key`]) opened less than
//! a window ago instead of opening a new one, a match on an event the rule already matched
//! (a replay after a crash, a retrohunt over an event seen live) is recognised and not
//! counted again, and a rule opening too many alerts for one entity in a window is throttled
//! for that entity (its further matches are counted into its latest open alert, and the
//! throttle is recorded).
//!
//! Throttling is per (rule, entity), not per (rule, similarity key): matches with one
//! similarity key already join one open alert, so a key never floods; what floods is a rule
//! opening alerts for many different keys (many sources or destinations), which only a
//! budget shared by all the keys of the rule can stop. The entity is part of the throttle so
//! that one tenant's noise does not silence the rule for the others.

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::detector::{Match, RuleRef};
use crate::Error;

/// At most this many event ids are kept per alert (the count goes on in `similar`).
pub const MAX_EVENT_IDS: usize = 1000;
/// At most this many history entries are kept per alert (oldest dropped first, the first kept).
pub const MAX_HISTORY: usize = 500;
/// Maximum comment length, in bytes.
pub const MAX_COMMENT_LEN: usize = 16 * 1024;
/// How long the (rule, event) pairs already alerted on are remembered to recognise replays.
pub const REPLAY_MEMORY_DAYS: i64 = 7;
/// At most this many distinct users, hosts and destinations are listed per alert.
pub const MAX_INVOLVED: usize = 100;
/// How long an alert gathers the matches of its rule and grouping key, from its creation,
/// when the rule names no `ziaxdr_window`: after it, the next match opens a new alert, so
/// that an alert left open for weeks does not swallow a new incident.
pub const DEFAULT_ALERT_WINDOW_SECS: u64 = 86_400;
/// Matches ingested between two purges of the replay memory.
const REPLAY_PURGE_EVERY: u64 = 10_000;

/// Alert status. Workflow: Pending -> Acknowledged -> Ongoing -> Closed or Rejected; steps may
/// be skipped forward, never taken back, except that a Closed or Rejected alert may be
/// reopened (back to Ongoing) when it was closed too early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// New, nobody looked at it.
    Pending,
    /// Someone took it.
    Acknowledged,
    /// Under investigation.
    Ongoing,
    /// Handled (true positive).
    Closed,
    /// False positive.
    Rejected,
}

impl Status {
    fn rank(self) -> u8 {
        match self {
            Status::Pending => 0,
            Status::Acknowledged => 1,
            Status::Ongoing => 2,
            Status::Closed | Status::Rejected => 3,
        }
    }

    /// Whether the alert still gathers similar matches.
    pub fn is_open(self) -> bool {
        self.rank() < 3
    }

    /// Whether the workflow allows going from `self` to `to`.
    pub fn can_become(self, to: Status) -> bool {
        (self.is_open() && to.rank() > self.rank()) || (!self.is_open() && to == Status::Ongoing)
    }

    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "Pending",
            Status::Acknowledged => "Acknowledged",
            Status::Ongoing => "Ongoing",
            Status::Closed => "Closed",
            Status::Rejected => "Rejected",
        }
    }
}

impl FromStr for Status {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "pending" => Ok(Status::Pending),
            "acknowledged" | "ack" => Ok(Status::Acknowledged),
            "ongoing" => Ok(Status::Ongoing),
            "closed" => Ok(Status::Closed),
            "rejected" => Ok(Status::Rejected),
            _ => Err(Error::InvalidTransition(format!("unknown status {s:?}"))),
        }
    }
}

/// A comment on an alert.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comment {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub author: String,
    /// What.
    pub text: String,
}

/// One entry of an alert's history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// created, status, comment, throttled, playbook.
    pub kind: String,
    /// Human-readable description.
    pub message: String,
    /// Who (user, `system`, or `playbook:<name>`).
    pub author: String,
}

/// An alert.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alert {
    /// UUID.
    pub uuid: String,
    /// Short id (`AL` + 8 characters), what people type.
    pub short_id: String,
    /// Title (the rule title or indicator name).
    pub title: String,
    /// The rule (id, name, author, severity, type).
    pub rule: RuleRef,
    /// Urgency 0-100 (the highest of its matches).
    pub urgency: u8,
    /// Workflow status.
    pub status: Status,
    /// Entity (tenant) of the events.
    pub entity: String,
    /// Who: user, else source IP.
    pub source: Option<String>,
    /// What: domain, else destination IP.
    pub target: Option<String>,
    /// Source IP of the first match.
    pub source_ip: Option<String>,
    /// Destination IP of the first match.
    pub destination_ip: Option<String>,
    /// Queried name (DNS).
    pub dns_name: Option<String>,
    /// Description of the rule.
    pub description: Option<String>,
    /// Earliest event time.
    pub first_seen: DateTime<Utc>,
    /// Latest event time.
    pub last_seen: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Matches merged into this alert after the first.
    pub similar: u64,
    /// Ids of the matching events (at most [`MAX_EVENT_IDS`]).
    pub event_ids: Vec<String>,
    /// The grouping key.
    pub similarity_key: String,
    /// Correlation group-by values.
    pub group_key: Vec<(String, String)>,
    /// Distinct users involved (at most [`MAX_INVOLVED`]; `user.name`).
    #[serde(default)]
    pub users: Vec<String>,
    /// Distinct source hosts involved (at most [`MAX_INVOLVED`]; `source.ip`).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Distinct destinations involved (at most [`MAX_INVOLVED`]; domain, else IP).
    #[serde(default)]
    pub destinations: Vec<String>,
    /// The user the alert is assigned to, if any (a console user name).
    #[serde(default)]
    pub assignee: Option<String>,
    /// Details of the first match (matched fields, indicator value...).
    pub details: Value,
    /// Comments.
    pub comments: Vec<Comment>,
    /// History.
    pub history: Vec<HistoryEntry>,
}

/// Computes the similarity key of a match: rule (or indicator) + entity, then the
/// correlation's group-by values, or the detection's grouping values
/// ([`Match::alert_group`]); an indicator's matches group by indicator alone.
pub fn similarity_key(m: &Match) -> String {
    let mut parts = vec![m.rule.id.clone(), m.entity.clone()];
    let group = if m.correlation {
        &m.group_key
    } else {
        &m.alert_group
    };
    for (k, v) in group {
        parts.push(format!("{k}={v}"));
    }
    parts.join("|")
}

/// Adds a match's user, host and destination to an alert's distinct lists.
fn note_involved(a: &mut Alert, m: &Match) {
    let add = |list: &mut Vec<String>, v: &Option<String>| {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            if list.len() < MAX_INVOLVED && !list.iter().any(|x| x == v) {
                list.push(v.to_string());
            }
        }
    };
    add(&mut a.users, &m.user);
    add(&mut a.hosts, &m.source_ip);
    add(&mut a.destinations, &m.target);
}

/// Counts one more match into an existing alert.
fn fold_into(a: &mut Alert, m: &Match, now: DateTime<Utc>) {
    a.similar += 1;
    a.first_seen = a.first_seen.min(m.timestamp);
    a.last_seen = a.last_seen.max(m.timestamp);
    a.urgency = a.urgency.max(m.urgency);
    for id in &m.event_ids {
        if a.event_ids.len() < MAX_EVENT_IDS && !a.event_ids.contains(id) {
            a.event_ids.push(id.clone());
        }
    }
    note_involved(a, m);
    a.updated_at = now;
}

fn short_id() -> String {
    // Crockford base32 without ambiguous letters, from 40 random bits.
    const ALPHA: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let b = uuid::Uuid::new_v4().into_bytes();
    let mut n = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], 0, 0, 0]);
    let mut s = String::from("AL");
    for _ in 0..8 {
        s.push(ALPHA[(n & 31) as usize] as char);
        n >>= 5;
    }
    s
}

fn push_history(a: &mut Alert, kind: &str, message: String, author: &str) {
    a.history.push(HistoryEntry {
        at: Utc::now(),
        kind: kind.into(),
        message,
        author: author.into(),
    });
    if a.history.len() > MAX_HISTORY {
        a.history.remove(1);
    }
}

/// Filter for [`AlertStore::list`]; the conditions given all hold.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlertFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this rule id.
    pub rule: Option<String>,
    /// Only this entity.
    pub entity: Option<String>,
    /// Only alerts assigned to this user; the empty string means unassigned ones.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Rule names containing this (ASCII case-insensitive).
    #[serde(default)]
    pub rule_name: Option<String>,
    /// Free text: alerts whose stored form contains this anywhere (title, rule, source,
    /// target, users, hosts, destinations, comments; ASCII case-insensitive).
    #[serde(default)]
    pub text: Option<String>,
    /// Only alerts involving this user (the source, or among the users).
    #[serde(default)]
    pub user: Option<String>,
    /// Only alerts involving this host (the source, or among the source hosts).
    #[serde(default)]
    pub host: Option<String>,
    /// Only alerts involving this IP (source or destination IP, among the hosts or the
    /// destinations).
    #[serde(default)]
    pub ip: Option<String>,
    /// At most this many (newest first); default 100.
    pub limit: Option<usize>,
}

/// At most this many alerts are changed by one [`AlertStore::bulk`] call.
pub const MAX_BULK: usize = 1000;

/// What a bulk change did to one alert.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BulkOutcome {
    /// The alert id as given.
    pub id: String,
    /// Why it was not changed, or None when it was.
    pub error: Option<String>,
}

/// A `LIKE` pattern matching values containing `needle` (its `%`, `_` and `\` escaped).
fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Throttle state of one rule for one entity.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Throttle {
    /// Rule id.
    pub rule_id: String,
    /// Entity whose alerts are counted.
    pub entity: String,
    /// Start of the current counting window.
    pub window_start: DateTime<Utc>,
    /// Alerts opened in the window.
    pub opened: u64,
    /// Matches suppressed since the throttle began.
    pub suppressed: u64,
    /// When the throttle began (None: not throttled).
    pub throttled_since: Option<DateTime<Utc>>,
}

/// A record of one playbook action run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlaybookRun {
    /// Row id.
    pub id: i64,
    /// Playbook name.
    pub playbook: String,
    /// Alert uuid.
    pub alert_uuid: String,
    /// created or updated.
    pub trigger: String,
    /// webhook, comment or status.
    pub action: String,
    /// Attempts made.
    pub attempts: u32,
    /// ok or failed.
    pub outcome: String,
    /// HTTP status, error message...
    pub detail: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
}

/// The alert database.
pub struct AlertStore {
    conn: Connection,
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

impl AlertStore {
    /// Opens (or creates) `DATA/alerts.db`.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::Io(data_dir.into(), e))?;
        let conn = Connection::open(data_dir.join("alerts.db"))?;
        crate::db::tune(&conn)?;
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
        Ok(())
    }

    fn save(conn: &Connection, a: &Alert) -> Result<(), Error> {
        conn.execute(
            "INSERT INTO alerts (uuid, short_id, similarity_key, status, rule_id, entity, updated_at, json, assignee)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(uuid) DO UPDATE SET status=excluded.status,
               updated_at=excluded.updated_at, json=excluded.json, assignee=excluded.assignee",
            params![
                a.uuid,
                a.short_id,
                a.similarity_key,
                a.status.as_str(),
                a.rule.id,
                a.entity,
                a.updated_at.to_rfc3339(),
                serde_json::to_string(a)?,
                a.assignee
            ],
        )?;
        Ok(())
    }

    /// Finds an alert by uuid or short id.
    pub fn get(&self, id: &str) -> Result<Alert, Error> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT json FROM alerts WHERE uuid = ?1 OR short_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        match json {
            Some(j) => Ok(serde_json::from_str(&j)?),
            None => Err(Error::NotFound(id.to_string())),
        }
    }

    /// Lists alerts, most recently updated first.
    pub fn list(&self, f: &AlertFilter) -> Result<Vec<Alert>, Error> {
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
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    /// Number of alerts matching `f` (its limit ignored), for "first N of total".
    pub fn count(&self, f: &AlertFilter) -> Result<u64, Error> {
        let (sql, args) = Self::filtered("SELECT COUNT(*) FROM alerts", f);
        let n: i64 = self
            .conn
            .query_row(&sql, rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
        Ok(n.max(0) as u64)
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
            // Over the JSON text: a value with quotes or backslashes is escaped there, so
            // the needle is escaped the same way.
            let escaped = serde_json::to_string(t).unwrap_or_default();
            let inner = escaped
                .strip_prefix('"')
                .and_then(|e| e.strip_suffix('"'))
                .unwrap_or(t);
            args.push(like_pattern(inner));
            sql.push_str(&format!(" AND json LIKE ?{} ESCAPE '\\'", args.len()));
        }
        // "Involved": the alert's own field, or one of its distinct lists.
        let involved =
            |fields: &[&str], lists: &[&str], v: &str, sql: &mut String, args: &mut Vec<String>| {
                args.push(v.to_string());
                let n = args.len();
                let mut alts: Vec<String> = fields
                    .iter()
                    .map(|f| format!("json_extract(json, '$.{f}') = ?{n}"))
                    .collect();
                alts.extend(lists.iter().map(|l| {
                    format!("EXISTS (SELECT 1 FROM json_each(json, '$.{l}') WHERE value = ?{n})")
                }));
                sql.push_str(&format!(" AND ({})", alts.join(" OR ")));
            };
        if let Some(u) = f.user.as_deref().filter(|v| !v.is_empty()) {
            involved(&["source"], &["users"], u, &mut sql, &mut args);
        }
        if let Some(h) = f.host.as_deref().filter(|v| !v.is_empty()) {
            involved(&["source", "source_ip"], &["hosts"], h, &mut sql, &mut args);
        }
        if let Some(ip) = f.ip.as_deref().filter(|v| !v.is_empty()) {
            involved(
                &["source_ip", "destination_ip", "source", "target"],
                &["hosts", "destinations"],
                ip,
                &mut sql,
                &mut args,
            );
        }
        (sql, args)
    }

    fn modify(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut Alert) -> Result<(), Error>,
    ) -> Result<Alert, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let json: Option<String> = tx
            .query_row(
                "SELECT json FROM alerts WHERE uuid = ?1 OR short_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let mut a: Alert = match json {
            Some(j) => serde_json::from_str(&j)?,
            None => return Err(Error::NotFound(id.to_string())),
        };
        f(&mut a)?;
        a.updated_at = Utc::now();
        Self::save(&tx, &a)?;
        tx.commit()?;
        Ok(a)
    }

    /// Changes an alert's status (workflow enforced), recording who did it.
    pub fn set_status(&mut self, id: &str, to: Status, author: &str) -> Result<Alert, Error> {
        self.modify(id, |a| {
            if !a.status.can_become(to) {
                return Err(Error::InvalidTransition(format!(
                    "{} -> {}",
                    a.status.as_str(),
                    to.as_str()
                )));
            }
            let reopened = if a.status.is_open() {
                ""
            } else {
                " (reopened)"
            };
            let msg = format!("status {} -> {}{reopened}", a.status.as_str(), to.as_str());
            a.status = to;
            push_history(a, "status", msg, author);
            Ok(())
        })
    }

    /// Assigns an alert to a user (`None`: nobody), recording who did it. Any status.
    pub fn assign(
        &mut self,
        id: &str,
        assignee: Option<&str>,
        author: &str,
    ) -> Result<Alert, Error> {
        let assignee = assignee.map(str::trim).filter(|a| !a.is_empty());
        if assignee.is_some_and(|a| a.len() > 64 || a.chars().any(char::is_control)) {
            return Err(Error::InvalidTransition(
                "an assignee is a user name of at most 64 characters".into(),
            ));
        }
        self.modify(id, |a| {
            let msg = match (a.assignee.as_deref(), assignee) {
                (old, new) if old == new => return Ok(()),
                (_, Some(new)) => format!("assigned to {new}"),
                (Some(old), None) => format!("unassigned (was {old})"),
                (None, None) => return Ok(()),
            };
            a.assignee = assignee.map(str::to_string);
            push_history(a, "assigned", msg, author);
            Ok(())
        })
    }

    /// Changes the status and/or the assignee of many alerts (at most [`MAX_BULK`]), each on
    /// its own: one that cannot change (not found, a workflow step back) is reported and
    /// does not stop the others.
    pub fn bulk(
        &mut self,
        ids: &[String],
        status: Option<Status>,
        assignee: Option<Option<&str>>,
        author: &str,
    ) -> Result<Vec<BulkOutcome>, Error> {
        if ids.len() > MAX_BULK {
            return Err(Error::InvalidTransition(format!(
                "at most {MAX_BULK} alerts at once"
            )));
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut r = Ok(());
            if let Some(to) = status {
                r = self.set_status(id, to, author).map(|_| ());
            }
            if let (Ok(()), Some(who)) = (&r, assignee) {
                r = self.assign(id, who, author).map(|_| ());
            }
            out.push(BulkOutcome {
                id: id.clone(),
                error: r.err().map(|e| e.to_string()),
            });
        }
        Ok(out)
    }

    /// Adds a comment.
    pub fn comment(&mut self, id: &str, text: &str, author: &str) -> Result<Alert, Error> {
        if text.len() > MAX_COMMENT_LEN {
            return Err(Error::InvalidTransition(format!(
                "comment longer than {MAX_COMMENT_LEN} bytes"
            )));
        }
        self.modify(id, |a| {
            a.comments.push(Comment {
                at: Utc::now(),
                author: author.into(),
                text: text.into(),
            });
            push_history(a, "comment", "comment added".into(), author);
            Ok(())
        })
    }

    /// Adds a history entry (used by playbooks).
    pub fn note(&mut self, id: &str, kind: &str, message: &str, author: &str) -> Result<(), Error> {
        self.modify(id, |a| {
            push_history(a, kind, message.into(), author);
            Ok(())
        })?;
        Ok(())
    }

    /// Throttle state of every (rule, entity) that was ever throttled or opened alerts.
    pub fn throttles(&self) -> Result<Vec<Throttle>, Error> {
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

    /// Records a playbook action run.
    pub fn record_run(&self, run: &PlaybookRun) -> Result<i64, Error> {
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

    /// Playbook runs, newest first (optionally for one alert).
    pub fn runs(&self, alert_uuid: Option<&str>) -> Result<Vec<PlaybookRun>, Error> {
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

    /// When a playbook last ran for an alert.
    pub fn last_run(
        &self,
        playbook: &str,
        alert_uuid: &str,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        let s: Option<String> = self.conn.query_row(
            "SELECT MAX(started_at) FROM playbook_runs WHERE playbook = ?1 AND alert_uuid = ?2",
            [playbook, alert_uuid],
            |r| r.get(0),
        )?;
        Ok(s.map(|s| parse_ts(&s)))
    }
}

/// What a match did to the alerts.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum AlertChange {
    /// A new alert was opened.
    Created(Box<Alert>),
    /// An open alert gathered a similar match.
    Updated(Box<Alert>),
    /// The rule is throttled for the entity: the match was counted, no alert was opened.
    Throttled {
        /// Rule id.
        rule_id: String,
        /// Matches suppressed so far.
        suppressed: u64,
    },
    /// The rule had already matched the same event(s): a replay, nothing changed.
    Replayed {
        /// Rule id.
        rule_id: String,
    },
}

/// Throttling limits: a rule may open `max_alerts` new alerts per entity and `window`.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    /// New alerts allowed per rule, entity and window.
    pub max_alerts: u64,
    /// Window length.
    pub window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_alerts: 50,
            window: Duration::minutes(10),
        }
    }
}

/// Turns matches into alerts (similarity, throttling) in the store.
pub struct AlertManager {
    store: AlertStore,
    throttle: ThrottleConfig,
    ingested: u64,
}

/// The keys under which a match's events are remembered for replay detection: one per event
/// for a detection or an indicator, one for the whole event set of a correlation (the same
/// window fired again). Empty when the events carry no id.
fn replay_keys(m: &Match) -> Vec<String> {
    if m.event_ids.is_empty() {
        return Vec::new();
    }
    if !m.correlation {
        return m.event_ids.clone();
    }
    use sha2::Digest;
    let mut ids: Vec<&str> = m.event_ids.iter().map(String::as_str).collect();
    ids.sort_unstable();
    let mut h = sha2::Sha256::new();
    for id in ids {
        h.update((id.len() as u64).to_le_bytes());
        h.update(id.as_bytes());
    }
    vec![format!("correlation:{}", hex::encode(h.finalize()))]
}

impl AlertManager {
    /// A manager over `DATA/alerts.db` with default throttling.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        Ok(Self {
            store: AlertStore::open(data_dir)?,
            throttle: ThrottleConfig::default(),
            ingested: 0,
        })
    }

    /// Changes the throttling limits.
    pub fn set_throttle(&mut self, t: ThrottleConfig) {
        self.throttle = t;
    }

    /// The underlying store.
    pub fn store(&mut self) -> &mut AlertStore {
        &mut self.store
    }

    /// Applies one match: recognises a replay, or joins the open similar alert, or opens one,
    /// or counts it against a throttled rule.
    pub fn ingest(&mut self, m: &Match) -> Result<AlertChange, Error> {
        let key = similarity_key(m);
        let now = Utc::now();
        self.ingested += 1;
        if self.ingested.is_multiple_of(REPLAY_PURGE_EVERY) {
            let horizon = now - Duration::days(REPLAY_MEMORY_DAYS);
            self.store.conn.execute(
                "DELETE FROM alerted_events WHERE at < ?1",
                [horizon.to_rfc3339()],
            )?;
        }
        let tx = self
            .store
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // A match counts once per (rule, event): an event replayed after a crash, or found
        // again by a retrohunt, is recognised here before it inflates `similar`.
        let keys = replay_keys(m);
        if !keys.is_empty() {
            let mut fresh = false;
            let at = now.to_rfc3339();
            for k in &keys {
                fresh |= tx.execute(
                    "INSERT OR IGNORE INTO alerted_events (rule_id, event_key, at) VALUES (?1, ?2, ?3)",
                    params![m.rule.id, k, at],
                )? > 0;
            }
            if !fresh {
                tx.commit()?;
                return Ok(AlertChange::Replayed {
                    rule_id: m.rule.id.clone(),
                });
            }
        }
        let open: Option<String> = tx
            .query_row(
                "SELECT json FROM alerts WHERE similarity_key = ?1
                 AND status IN ('Pending', 'Acknowledged', 'Ongoing')
                 ORDER BY updated_at DESC LIMIT 1",
                [&key],
                |r| r.get(0),
            )
            .optional()?;
        let window = Duration::seconds(
            m.alert_window_secs
                .unwrap_or(DEFAULT_ALERT_WINDOW_SECS)
                .min(i64::MAX as u64) as i64,
        );
        let open = open
            .map(|j| serde_json::from_str::<Alert>(&j))
            .transpose()?
            .filter(|a| now - a.created_at < window);
        if let Some(mut a) = open {
            fold_into(&mut a, m, now);
            AlertStore::save(&tx, &a)?;
            tx.commit()?;
            return Ok(AlertChange::Updated(Box::new(a)));
        }
        // Throttle bookkeeping: count alerts opened by the rule for the entity in the current
        // window.
        let row: Option<(String, i64, i64, Option<String>)> = tx
            .query_row(
                "SELECT window_start, opened, suppressed, throttled_since FROM rule_throttle
                 WHERE rule_id = ?1 AND entity = ?2",
                [&m.rule.id, &m.entity],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (mut start, mut opened, mut suppressed, mut since) = match row {
            Some((s, o, su, th)) => (parse_ts(&s), o as u64, su as u64, th.map(|t| parse_ts(&t))),
            None => (now, 0, 0, None),
        };
        if now - start >= self.throttle.window {
            start = now;
            opened = 0;
            if since.is_some() {
                since = None;
                suppressed = 0;
            }
        }
        if opened >= self.throttle.max_alerts {
            suppressed += 1;
            let newly = since.is_none();
            if newly {
                since = Some(now);
                tracing::warn!(rule = %m.rule.id, entity = %m.entity, max = self.throttle.max_alerts,
                    "rule throttled: too many alerts in the window");
                // Say so on the rule's latest alert for the entity.
                let latest: Option<String> = tx
                    .query_row(
                        "SELECT json FROM alerts WHERE rule_id = ?1 AND entity = ?2
                         ORDER BY updated_at DESC LIMIT 1",
                        [&m.rule.id, &m.entity],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(j) = latest {
                    let mut a: Alert = serde_json::from_str(&j)?;
                    push_history(
                        &mut a,
                        "throttled",
                        format!(
                            "rule throttled for this entity: more than {} alerts in {} s; further matches are counted into its latest open alert",
                            self.throttle.max_alerts,
                            self.throttle.window.num_seconds()
                        ),
                        "system",
                    );
                    a.updated_at = now;
                    AlertStore::save(&tx, &a)?;
                }
            }
            // Nothing is dropped: the match still counts, in the rule's latest open alert for
            // the entity (its users, hosts and destinations lists say who else was involved).
            let latest_open: Option<String> = tx
                .query_row(
                    "SELECT json FROM alerts WHERE rule_id = ?1 AND entity = ?2
                     AND status IN ('Pending', 'Acknowledged', 'Ongoing')
                     ORDER BY updated_at DESC LIMIT 1",
                    [&m.rule.id, &m.entity],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(j) = latest_open {
                let mut a: Alert = serde_json::from_str(&j)?;
                fold_into(&mut a, m, now);
                AlertStore::save(&tx, &a)?;
            }
            Self::save_throttle(&tx, m, start, opened, suppressed, since)?;
            tx.commit()?;
            return Ok(AlertChange::Throttled {
                rule_id: m.rule.id.clone(),
                suppressed,
            });
        }
        opened += 1;
        Self::save_throttle(&tx, m, start, opened, suppressed, since)?;
        let mut a = Alert {
            uuid: uuid::Uuid::new_v4().to_string(),
            short_id: short_id(),
            title: m.rule.name.clone(),
            rule: m.rule.clone(),
            urgency: m.urgency,
            status: Status::Pending,
            entity: m.entity.clone(),
            source: m.source.clone(),
            target: m.target.clone(),
            source_ip: m.source_ip.clone(),
            destination_ip: m.destination_ip.clone(),
            dns_name: m.dns_name.clone(),
            description: m.description.clone(),
            first_seen: m.timestamp,
            last_seen: m.timestamp,
            created_at: now,
            updated_at: now,
            similar: 0,
            event_ids: m.event_ids.iter().take(MAX_EVENT_IDS).cloned().collect(),
            similarity_key: key,
            group_key: m.group_key.clone(),
            users: Vec::new(),
            hosts: Vec::new(),
            destinations: Vec::new(),
            assignee: None,
            details: m.details.clone(),
            comments: Vec::new(),
            history: Vec::new(),
        };
        note_involved(&mut a, m);
        push_history(
            &mut a,
            "created",
            if m.retrohunt {
                "created by a retrohunt".into()
            } else {
                "created".into()
            },
            "system",
        );
        AlertStore::save(&tx, &a)?;
        tx.commit()?;
        Ok(AlertChange::Created(Box::new(a)))
    }

    fn save_throttle(
        conn: &Connection,
        m: &Match,
        start: DateTime<Utc>,
        opened: u64,
        suppressed: u64,
        since: Option<DateTime<Utc>>,
    ) -> Result<(), Error> {
        conn.execute(
            "INSERT INTO rule_throttle (rule_id, entity, window_start, opened, suppressed, throttled_since)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(rule_id, entity) DO UPDATE SET window_start=excluded.window_start,
               opened=excluded.opened, suppressed=excluded.suppressed,
               throttled_since=excluded.throttled_since",
            params![
                m.rule.id,
                m.entity,
                start.to_rfc3339(),
                opened as i64,
                suppressed as i64,
                since.map(|s| s.to_rfc3339())
            ],
        )?;
        Ok(())
    }
}
