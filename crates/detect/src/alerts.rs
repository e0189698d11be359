//! Alerts: the model (status workflow, comments, history), durable storage behind
//! [`AlertBackend`] (`DATA/alerts.db`, SQLite in WAL mode so the CLI works while the server
//! runs, [`SqliteAlerts`]; or a cluster's PostgreSQL, [`PgAlerts`]), and the manager that turns matches into alerts: a match joins the open alert with the same
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

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
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

/// The lists of an alert that grow with its matches: its event ids, and the distinct users,
/// hosts and destinations involved. They are stored apart from the alert's other fields (a
/// row per value, table `alert_lists`), so that a match appends its new values instead of
/// rewriting the alert: rewriting each alert a commit touched, with its up to
/// [`MAX_EVENT_IDS`] event ids, was most of the alert writer's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// [`Alert::event_ids`].
    EventIds,
    /// [`Alert::users`].
    Users,
    /// [`Alert::hosts`].
    Hosts,
    /// [`Alert::destinations`].
    Destinations,
}

impl List {
    /// Every list, in the order of their codes (and of [`Held::stored`]).
    pub const ALL: [List; 4] = [List::EventIds, List::Users, List::Hosts, List::Destinations];

    /// The code stored in `alert_lists.list` (and the list's index in [`List::ALL`]).
    pub fn code(self) -> usize {
        self as usize
    }

    /// The list of this code.
    pub fn from_code(code: i64) -> Option<List> {
        usize::try_from(code)
            .ok()
            .and_then(|c| List::ALL.get(c))
            .copied()
    }

    /// At most this many values are kept.
    pub fn cap(self) -> usize {
        match self {
            List::EventIds => MAX_EVENT_IDS,
            _ => MAX_INVOLVED,
        }
    }

    /// This list of `a`.
    pub fn of(self, a: &Alert) -> &Vec<String> {
        match self {
            List::EventIds => &a.event_ids,
            List::Users => &a.users,
            List::Hosts => &a.hosts,
            List::Destinations => &a.destinations,
        }
    }

    /// This list of `a`, to change.
    pub fn of_mut(self, a: &mut Alert) -> &mut Vec<String> {
        match self {
            List::EventIds => &mut a.event_ids,
            List::Users => &mut a.users,
            List::Hosts => &mut a.hosts,
            List::Destinations => &mut a.destinations,
        }
    }
}

/// An alert as an ingest transaction holds it ([`AlertTx::alert`], [`AlertTx::open_alert`]).
#[derive(Debug, Clone)]
pub struct Held {
    /// The alert. Its lists, when `whole`, are the stored values followed by those this
    /// transaction added; otherwise only the values this transaction adds (the store ignores
    /// those it holds already).
    pub alert: Alert,
    /// How many values of each list (by [`List::code`]) the store holds.
    pub stored: [usize; 4],
    /// Whether the alert's lists were read whole.
    pub whole: bool,
    /// Per list (by [`List::code`]), the values it holds, once it is longer than
    /// [`SCANNED_LIST`]: an alert that many matches join holds up to [`MAX_EVENT_IDS`] ids,
    /// and comparing each new one with all of them was a tenth of the writing thread
    /// (issue 18). Rebuilt when the list changed other than through [`Held::add`].
    seen: [Option<HashSet<String>>; 4],
}

/// Lists up to this long are scanned for a value; longer ones are looked up in a set.
const SCANNED_LIST: usize = 16;

impl Held {
    /// A new alert, not stored yet (its lists are whole).
    fn new(alert: Alert) -> Self {
        Self::read(alert, [0; 4], true)
    }

    /// An alert as read from a store: `stored` values of each list are there, and the lists
    /// of `alert` hold them all (`whole`) or none.
    pub fn read(alert: Alert, stored: [usize; 4], whole: bool) -> Self {
        Held {
            alert,
            stored,
            whole,
            seen: Default::default(),
        }
    }

    /// Adds `v` to a list of the alert, unless the list holds it or is full.
    fn add(&mut self, list: List, v: &str) {
        let full = !self.whole && self.stored[list.code()] >= list.cap();
        let l = list.of_mut(&mut self.alert);
        if full || l.len() >= list.cap() {
            return;
        }
        let seen = &mut self.seen[list.code()];
        let held = if l.len() <= SCANNED_LIST {
            l.iter().any(|x| x == v)
        } else {
            let set = seen.get_or_insert_with(HashSet::new);
            if set.len() != l.len() {
                *set = l.iter().cloned().collect();
            }
            set.contains(v)
        };
        if !held {
            l.push(v.to_string());
            if let Some(set) = seen.as_mut().filter(|s| s.len() + 1 == l.len()) {
                set.insert(v.to_string());
            }
        }
    }

    /// The values of each list that the store does not hold yet (by [`List::code`]; when
    /// not `whole`, some may be held already, and the store skips them).
    fn unsaved(&self) -> [&[String]; 4] {
        List::ALL.map(|l| {
            let v = l.of(&self.alert);
            if self.whole {
                &v[self.stored[l.code()].min(v.len())..]
            } else {
                &v[..]
            }
        })
    }
}

/// The stored form of an alert's own fields: its JSON without its lists (they are in
/// `alert_lists`), which are taken out for the time of the serialisation.
pub fn head_json(a: &mut Alert) -> Result<String, Error> {
    let lists = List::ALL.map(|l| std::mem::take(l.of_mut(a)));
    let json = serde_json::to_string(a);
    for (l, v) in List::ALL.into_iter().zip(lists) {
        *l.of_mut(a) = v;
    }
    Ok(json?)
}

/// Fills the lists of an alert read without them from its `alert_lists` rows (list code,
/// position, value), in any order.
fn fill_lists(a: &mut Alert, mut rows: Vec<(i64, i64, String)>) {
    rows.sort_unstable_by_key(|r| (r.0, r.1));
    for (code, _, v) in rows {
        if let Some(l) = List::from_code(code) {
            l.of_mut(a).push(v);
        }
    }
}

/// Adds a match's user, host and destination to an alert's distinct lists.
fn note_involved(h: &mut Held, m: &Match) {
    for (list, v) in [
        (List::Users, &m.user),
        (List::Hosts, &m.source_ip),
        (List::Destinations, &m.target),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            h.add(list, v);
        }
    }
}

/// Counts one more match into an existing alert.
fn fold_into(h: &mut Held, m: &Match, now: DateTime<Utc>) {
    let a = &mut h.alert;
    a.similar += 1;
    a.first_seen = a.first_seen.min(m.timestamp);
    a.last_seen = a.last_seen.max(m.timestamp);
    a.urgency = a.urgency.max(m.urgency);
    a.updated_at = now;
    for id in &m.event_ids {
        h.add(List::EventIds, id);
    }
    note_involved(h, m);
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

mod postgres;
mod sqlite;

pub use postgres::PgAlerts;
pub use sqlite::SqliteAlerts;

/// A rule and an entity: the alerts and the throttle one ingest transaction may change for a
/// match (see [`AlertBackend::transaction`]).
pub type Group = (String, String);

/// Where alerts live: the seam between one node's `DATA/alerts.db` ([`SqliteAlerts`]) and a
/// cluster's PostgreSQL ([`PgAlerts`]). Only storage is behind it: the workflow, similarity,
/// replay and throttle decisions are [`AlertStore`]'s and [`AlertManager`]'s, the same for
/// both.
pub trait AlertBackend: Send {
    /// The alert with this uuid or short id.
    fn get(&self, id: &str) -> Result<Option<Alert>, Error>;
    /// Alerts matching `f`, most recently updated first, at most `f.limit` (default 100).
    fn list(&self, f: &AlertFilter) -> Result<Vec<Alert>, Error>;
    /// Number of alerts matching `f` (its limit ignored).
    fn count(&self, f: &AlertFilter) -> Result<u64, Error>;
    /// Throttle state of every (rule, entity) that was ever throttled or opened alerts.
    fn throttles(&self) -> Result<Vec<Throttle>, Error>;
    /// Records a playbook action run; returns its id.
    fn record_run(&self, run: &PlaybookRun) -> Result<i64, Error>;
    /// Playbook runs, newest first, at most 1,000 (optionally for one alert).
    fn runs(&self, alert_uuid: Option<&str>) -> Result<Vec<PlaybookRun>, Error>;
    /// When a playbook last ran for an alert.
    fn last_run(&self, playbook: &str, alert_uuid: &str) -> Result<Option<DateTime<Utc>>, Error>;
    /// Forgets the (rule, event) pairs remembered before `horizon`.
    fn forget_replays_before(&self, horizon: DateTime<Utc>) -> Result<(), Error>;
    /// Runs `f` in one write transaction, committed when `f` returns `Ok`, rolled back
    /// otherwise. `groups` (sorted, distinct) are the (rule, entity) pairs whose alerts and
    /// throttles `f` may open or fold matches into: transactions of other connections over
    /// one of them wait for this one to end, so that two workers never both find no open
    /// alert for one similarity key and both open one.
    fn transaction(
        &mut self,
        groups: &[Group],
        f: &mut dyn FnMut(&mut dyn AlertTx) -> Result<(), Error>,
    ) -> Result<(), Error>;
}

/// The storage operations of one [`AlertBackend::transaction`].
pub trait AlertTx {
    /// The alert with this uuid or short id, held for this transaction (a concurrent change
    /// of it waits for the end); its lists read too when `whole`, else only their lengths.
    fn alert(&mut self, id: &str, whole: bool) -> Result<Option<Held>, Error>;
    /// The open alert (Pending, Acknowledged, Ongoing) with this similarity key updated
    /// last, held for this transaction; its lists read too when `whole`.
    fn open_alert(&mut self, key: &str, whole: bool) -> Result<Option<Held>, Error>;
    /// The uuid of the rule's alert for the entity updated last (only open ones if
    /// `open_only`).
    fn latest_alert(
        &mut self,
        rule_id: &str,
        entity: &str,
        open_only: bool,
    ) -> Result<Option<String>, Error>;
    /// Inserts or replaces an alert's own fields: `head` is its stored form without its
    /// lists ([`head_json`]); the lists are left as they are (see [`AlertTx::append`]).
    fn save(&mut self, a: &Alert, head: &str) -> Result<(), Error>;
    /// Appends to each list of the alert `uuid` (by [`List::code`]) those of `values` it
    /// does not hold yet, in order, while it holds fewer than the list's cap; `stored` is how
    /// many values each holds now. Returns how many each holds after.
    fn append(
        &mut self,
        uuid: &str,
        stored: [usize; 4],
        values: [&[String]; 4],
    ) -> Result<[usize; 4], Error>;
    /// Remembers that the rule matched these events; true when one at least was new.
    fn remember(
        &mut self,
        rule_id: &str,
        event_keys: &[String],
        at: DateTime<Utc>,
    ) -> Result<bool, Error>;
    /// The rule's throttle state for the entity.
    fn throttle(&mut self, rule_id: &str, entity: &str) -> Result<Option<Throttle>, Error>;
    /// Inserts or replaces a throttle state.
    fn save_throttle(&mut self, t: &Throttle) -> Result<(), Error>;
    /// The correlation state shared by the nodes of a cluster, held for this transaction
    /// (another one asking for it waits for the end): its version (0 before the first save)
    /// and its snapshot. A backend one node owns keeps correlations in that node's memory
    /// and has none.
    fn correlation_state(&mut self) -> Result<(i64, Option<String>), Error> {
        Err(Error::Rule(
            "this alert store keeps no shared correlation state".into(),
        ))
    }
    /// Replaces the shared correlation state (see [`AlertTx::correlation_state`]).
    fn save_correlation_state(&mut self, _version: i64, _snapshot: &str) -> Result<(), Error> {
        Err(Error::Rule(
            "this alert store keeps no shared correlation state".into(),
        ))
    }
    /// Remembers that these events were fed to the shared correlation state; returns those
    /// that were not fed before (an event delivered again is fed once).
    fn feed_once(
        &mut self,
        _event_keys: &[String],
        _at: DateTime<Utc>,
    ) -> Result<HashSet<String>, Error> {
        Err(Error::Rule(
            "this alert store keeps no shared correlation state".into(),
        ))
    }
}

/// What [`AlertManager::ingest_correlating`] did: the correlation matches, what each match
/// did, and the changes (with `detail`).
pub type Correlated = (Vec<Match>, Vec<ChangeKind>, Vec<AlertChange>);

/// Runs the shared correlations inside an alert transaction: given the transaction, it
/// returns the matches of the correlations that fired ([`AlertManager::ingest_correlating`]).
pub type Correlate<'a> = &'a mut dyn FnMut(&mut dyn AlertTx) -> Result<Vec<Match>, Error>;

/// Where the alerts are, to open stores on (one per thread or request): a node's data
/// directory, or a cluster's PostgreSQL with its schema ready.
#[derive(Debug, Clone)]
pub enum AlertsAt {
    /// `DATA/alerts.db` of this directory.
    Sqlite(std::path::PathBuf),
    /// The cluster's tables in PostgreSQL.
    Postgres(PgAlerts),
}

impl AlertsAt {
    /// The alerts of a data directory.
    pub fn sqlite(data_dir: &Path) -> Self {
        AlertsAt::Sqlite(data_dir.to_path_buf())
    }

    /// The alerts in PostgreSQL (schema created or migrated now, once).
    pub fn postgres(pg: &pgstate::Pg) -> Result<Self, Error> {
        Ok(AlertsAt::Postgres(PgAlerts::open(pg)?))
    }

    /// PostgreSQL's when `pg` is given, else `DATA/alerts.db`'s.
    pub fn at(data_dir: &Path, pg: Option<&pgstate::Pg>) -> Result<Self, Error> {
        match pg {
            Some(pg) => Self::postgres(pg),
            None => Ok(Self::sqlite(data_dir)),
        }
    }

    /// A store over these alerts.
    pub fn open(&self) -> Result<AlertStore, Error> {
        match self {
            AlertsAt::Sqlite(dir) => AlertStore::open(dir),
            AlertsAt::Postgres(pg) => Ok(AlertStore::with_backend(Box::new(pg.clone()))),
        }
    }
}

/// The alerts, over an [`AlertBackend`]: reads, and the triage workflow (status, assignee,
/// comments, history), each change in one transaction.
pub struct AlertStore {
    backend: Box<dyn AlertBackend>,
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

/// `t` as JSON escapes it inside a string, so that a search over the stored JSON text finds
/// values with quotes or backslashes.
fn json_needle(t: &str) -> String {
    let escaped = serde_json::to_string(t).unwrap_or_default();
    escaped
        .strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .unwrap_or(t)
        .to_string()
}

/// The "involved" conditions of a filter: (the alert's own fields, its distinct lists, the
/// value one of them must equal), all to hold.
fn involved_filters(f: &AlertFilter) -> Vec<(&'static [&'static str], &'static [List], &str)> {
    let mut out: Vec<(&'static [&'static str], &'static [List], &str)> = Vec::new();
    if let Some(u) = f.user.as_deref().filter(|v| !v.is_empty()) {
        out.push((&["source"], &[List::Users], u));
    }
    if let Some(h) = f.host.as_deref().filter(|v| !v.is_empty()) {
        out.push((&["source", "source_ip"], &[List::Hosts], h));
    }
    if let Some(ip) = f.ip.as_deref().filter(|v| !v.is_empty()) {
        out.push((
            &["source_ip", "destination_ip", "source", "target"],
            &[List::Hosts, List::Destinations],
            ip,
        ));
    }
    out
}

impl AlertStore {
    /// Opens (or creates) `DATA/alerts.db`.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        Ok(Self::with_backend(Box::new(SqliteAlerts::open(data_dir)?)))
    }

    /// The alerts in PostgreSQL (schema created or migrated first).
    pub fn postgres(pg: &pgstate::Pg) -> Result<Self, Error> {
        Ok(Self::with_backend(Box::new(PgAlerts::open(pg)?)))
    }

    /// PostgreSQL's when `pg` is given, else `DATA/alerts.db`'s.
    pub fn open_at(data_dir: &Path, pg: Option<&pgstate::Pg>) -> Result<Self, Error> {
        match pg {
            Some(pg) => Self::postgres(pg),
            None => Self::open(data_dir),
        }
    }

    /// The alerts over any backend.
    pub fn with_backend(backend: Box<dyn AlertBackend>) -> Self {
        Self { backend }
    }

    /// Finds an alert by uuid or short id.
    pub fn get(&self, id: &str) -> Result<Alert, Error> {
        self.backend
            .get(id)?
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    /// Lists alerts, most recently updated first.
    pub fn list(&self, f: &AlertFilter) -> Result<Vec<Alert>, Error> {
        self.backend.list(f)
    }

    /// Number of alerts matching `f` (its limit ignored), for "first N of total".
    pub fn count(&self, f: &AlertFilter) -> Result<u64, Error> {
        self.backend.count(f)
    }

    fn modify(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut Alert) -> Result<(), Error>,
    ) -> Result<Alert, Error> {
        let mut f = Some(f);
        let mut out = None;
        self.backend.transaction(&[], &mut |tx| {
            let Some(Held { alert: mut a, .. }) = tx.alert(id, true)? else {
                return Err(Error::NotFound(id.to_string()));
            };
            if let Some(f) = f.take() {
                f(&mut a)?;
            }
            a.updated_at = Utc::now();
            let head = head_json(&mut a)?;
            tx.save(&a, &head)?;
            out = Some(a);
            Ok(())
        })?;
        out.ok_or_else(|| Error::NotFound(id.to_string()))
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
        self.backend.throttles()
    }

    /// Records a playbook action run.
    pub fn record_run(&self, run: &PlaybookRun) -> Result<i64, Error> {
        self.backend.record_run(run)
    }

    /// Playbook runs, newest first (optionally for one alert).
    pub fn runs(&self, alert_uuid: Option<&str>) -> Result<Vec<PlaybookRun>, Error> {
        self.backend.runs(alert_uuid)
    }

    /// When a playbook last ran for an alert.
    pub fn last_run(
        &self,
        playbook: &str,
        alert_uuid: &str,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        self.backend.last_run(playbook, alert_uuid)
    }
}

/// What a match did to the alerts, without the alert ([`AlertManager::ingest_counted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new alert was opened.
    Created,
    /// An open alert gathered a similar match.
    Updated,
    /// The rule is throttled for the entity: the match was counted in its latest open alert.
    Throttled,
    /// The rule had already matched the same event(s).
    Replayed,
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

impl AlertChange {
    /// What kind of change it is.
    pub fn kind(&self) -> ChangeKind {
        match self {
            AlertChange::Created(_) => ChangeKind::Created,
            AlertChange::Updated(_) => ChangeKind::Updated,
            AlertChange::Throttled { .. } => ChangeKind::Throttled,
            AlertChange::Replayed { .. } => ChangeKind::Replayed,
        }
    }
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
        Ok(Self::with_store(AlertStore::open(data_dir)?))
    }

    /// A manager over any store (PostgreSQL's on a cluster) with default throttling.
    pub fn with_store(store: AlertStore) -> Self {
        Self {
            store,
            throttle: ThrottleConfig::default(),
            ingested: 0,
        }
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
        let mut changes = self.ingest_all(std::slice::from_ref(m))?;
        changes
            .pop()
            .ok_or_else(|| Error::Rule("no alert change for a match".into()))
    }

    /// Applies matches in order, as [`AlertManager::ingest`] would one after the other, in one
    /// transaction: an alert that several of them join is read and written once, not once
    /// per match (an alert holds up to [`MAX_EVENT_IDS`] event ids; rewriting it per match
    /// made the alert database's writes, and their fsyncs, the pipeline's bottleneck). The
    /// changes come in the order of the matches, an update with the alert as it was then.
    pub fn ingest_all(&mut self, matches: &[Match]) -> Result<Vec<AlertChange>, Error> {
        let mut changes = Vec::with_capacity(matches.len());
        self.ingest_with(matches, &mut |_, c| changes.extend(c), true, None)?;
        Ok(changes)
    }

    /// As [`AlertManager::ingest_all`] (`detail`) or [`AlertManager::ingest_counted`], and,
    /// in the same transaction and before them, runs `correlate` (which feeds events to the
    /// cluster's shared correlation state, [`AlertTx::correlation_state`]): the matches it
    /// returns are ingested after `matches`, so that the correlation state, the events it
    /// was fed and the alerts they raise are committed together or not at all. Returns the
    /// correlation matches, then what each match (of `matches`, then of those) did.
    ///
    /// The advisory locks cover the groups of `matches` only: the correlations' own alerts
    /// are written only by transactions that hold the correlation state's row lock, which
    /// serialises them (and no cycle of waits can form: the state's lock is taken after the
    /// groups', and its holder waits for no other group).
    pub fn ingest_correlating(
        &mut self,
        matches: &[Match],
        correlate: Correlate<'_>,
        detail: bool,
    ) -> Result<Correlated, Error> {
        let mut kinds = Vec::with_capacity(matches.len());
        let mut changes = Vec::new();
        let fired = self.ingest_with(
            matches,
            &mut |k, c| {
                kinds.push(k);
                changes.extend(c)
            },
            detail,
            Some(correlate),
        )?;
        Ok((fired, kinds, changes))
    }

    /// [`AlertManager::ingest_all`] saying only what each match did: without a copy of the
    /// alert per match (an alert holds up to [`MAX_EVENT_IDS`] event ids and
    /// [`MAX_HISTORY`] history entries), for a caller that runs no playbook.
    pub fn ingest_counted(&mut self, matches: &[Match]) -> Result<Vec<ChangeKind>, Error> {
        let mut kinds = Vec::with_capacity(matches.len());
        self.ingest_with(matches, &mut |k, _| kinds.push(k), false, None)?;
        Ok(kinds)
    }

    fn ingest_with(
        &mut self,
        matches: &[Match],
        out: &mut dyn FnMut(ChangeKind, Option<AlertChange>),
        detail: bool,
        mut correlate: Option<Correlate<'_>>,
    ) -> Result<Vec<Match>, Error> {
        if matches.is_empty() && correlate.is_none() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let before = self.ingested;
        self.ingested += matches.len() as u64;
        if before / REPLAY_PURGE_EVERY != self.ingested / REPLAY_PURGE_EVERY {
            self.store
                .backend
                .forget_replays_before(now - Duration::days(REPLAY_MEMORY_DAYS))?;
        }
        // Every alert and throttle a match can touch is of its rule and entity: the open
        // alert of its similarity key (which starts with both), the rule's latest alerts for
        // the entity, its throttle row.
        let groups: Vec<Group> = matches
            .iter()
            .map(|m| (m.rule.id.clone(), m.entity.clone()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let throttle = self.throttle;
        // The changes are handed out once the transaction committed: a failed one said
        // nothing happened.
        let mut done: Vec<(ChangeKind, Option<AlertChange>)> = Vec::new();
        let mut fired: Vec<Match> = Vec::new();
        self.store.backend.transaction(&groups, &mut |tx| {
            done.clear();
            fired = match correlate.as_mut() {
                Some(f) => f(tx)?,
                None => Vec::new(),
            };
            let mut batch = Batch {
                whole: detail,
                ..Batch::default()
            };
            for m in matches.iter().chain(&fired) {
                // A time per match, as one by one: a throttled match joins the alert updated
                // last.
                done.push(Self::ingest_in(
                    tx,
                    &throttle,
                    &mut batch,
                    m,
                    Utc::now(),
                    detail,
                )?);
            }
            batch.save(tx)
        })?;
        for (kind, change) in done {
            out(kind, change);
        }
        Ok(fired)
    }

    fn ingest_in(
        tx: &mut dyn AlertTx,
        throttle: &ThrottleConfig,
        batch: &mut Batch,
        m: &Match,
        now: DateTime<Utc>,
        detail: bool,
    ) -> Result<(ChangeKind, Option<AlertChange>), Error> {
        let key = similarity_key(m);
        // A match counts once per (rule, event): an event replayed after a crash, or found
        // again by a retrohunt, is recognised here before it inflates `similar`.
        let keys = replay_keys(m);
        if !keys.is_empty() && !tx.remember(&m.rule.id, &keys, now)? {
            let change = detail.then(|| AlertChange::Replayed {
                rule_id: m.rule.id.clone(),
            });
            return Ok((ChangeKind::Replayed, change));
        }
        let window = Duration::seconds(
            m.alert_window_secs
                .unwrap_or(DEFAULT_ALERT_WINDOW_SECS)
                .min(i64::MAX as u64) as i64,
        );
        let open = match batch.open_by_key.get(&key) {
            Some(uuid) => Some(uuid.clone()),
            None => match tx.open_alert(&key, batch.whole)? {
                Some(h) => {
                    let uuid = h.alert.uuid.clone();
                    batch.open_by_key.insert(key.clone(), uuid.clone());
                    batch.alerts.entry(uuid.clone()).or_insert(h);
                    Some(uuid)
                }
                None => None,
            },
        };
        if let Some(uuid) = open {
            if let Some(h) = batch
                .alerts
                .get_mut(&uuid)
                .filter(|h| now - h.alert.created_at < window)
            {
                fold_into(h, m, now);
                let change = detail.then(|| AlertChange::Updated(Box::new(h.alert.clone())));
                batch.touched_open(&m.rule.id, &m.entity, &uuid);
                batch.dirty.insert(uuid);
                return Ok((ChangeKind::Updated, change));
            }
        }
        // Throttle bookkeeping: count alerts opened by the rule for the entity in the current
        // window.
        let tkey = (m.rule.id.clone(), m.entity.clone());
        let row = match batch.throttles.get(&tkey) {
            Some(row) => Some(row.clone()),
            None => tx.throttle(&m.rule.id, &m.entity)?,
        };
        let mut t = row.unwrap_or(Throttle {
            rule_id: m.rule.id.clone(),
            entity: m.entity.clone(),
            window_start: now,
            opened: 0,
            suppressed: 0,
            throttled_since: None,
        });
        if now - t.window_start >= throttle.window {
            t.window_start = now;
            t.opened = 0;
            if t.throttled_since.is_some() {
                t.throttled_since = None;
                t.suppressed = 0;
            }
        }
        if t.opened >= throttle.max_alerts {
            t.suppressed += 1;
            let newly = t.throttled_since.is_none();
            if newly {
                // The rule's latest alerts are looked up in the table: what this batch
                // changed goes there first.
                batch.save(tx)?;
                t.throttled_since = Some(now);
                tracing::warn!(rule = %m.rule.id, entity = %m.entity, max = throttle.max_alerts,
                    "rule throttled: too many alerts in the window");
                // Say so on the rule's latest alert for the entity.
                let latest = tx.latest_alert(&m.rule.id, &m.entity, false)?;
                if let Some(h) = latest.and_then(|u| batch.load(tx, &u).transpose()) {
                    let a = &mut h?.alert;
                    push_history(
                        a,
                        "throttled",
                        format!(
                            "rule throttled for this entity: more than {} alerts in {} s; further matches are counted into its latest open alert",
                            throttle.max_alerts,
                            throttle.window.num_seconds()
                        ),
                        "system",
                    );
                    a.updated_at = now;
                    let open = a.status.is_open();
                    let uuid = a.uuid.clone();
                    // Updated last of the rule's alerts for the entity: if open, it is now
                    // the latest open one too.
                    if open {
                        batch.latest_open.insert(tkey.clone(), Some(uuid.clone()));
                    }
                    batch.dirty.insert(uuid);
                    batch.save(tx)?;
                }
            }
            // Nothing is dropped: the match still counts, in the rule's latest open alert for
            // the entity (its users, hosts and destinations lists say who else was involved).
            // Looked up in the table once per transaction and group: then this batch knows
            // it (every alert it opens or folds a match into is updated after all the
            // others). A lookup per throttled match, with the batch's changes written before
            // it, was a tenth of the pipeline's writing thread (issue 18).
            let latest_open = match batch.latest_open.get(&tkey) {
                Some(known) => known.clone(),
                None => {
                    batch.save(tx)?;
                    let found = tx.latest_alert(&m.rule.id, &m.entity, true)?;
                    batch.latest_open.insert(tkey.clone(), found.clone());
                    found
                }
            };
            if let Some(h) = latest_open.and_then(|u| batch.load(tx, &u).transpose()) {
                let h = h?;
                fold_into(h, m, now);
                let uuid = h.alert.uuid.clone();
                batch.dirty.insert(uuid);
            }
            let suppressed = t.suppressed;
            batch.throttles.insert(tkey.clone(), t);
            batch.dirty_throttles.insert(tkey);
            let change = detail.then(|| AlertChange::Throttled {
                rule_id: m.rule.id.clone(),
                suppressed,
            });
            return Ok((ChangeKind::Throttled, change));
        }
        t.opened += 1;
        batch.throttles.insert(tkey.clone(), t);
        batch.dirty_throttles.insert(tkey);
        let mut h = Held::new(Alert {
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
            event_ids: Vec::new(),
            similarity_key: key.clone(),
            group_key: m.group_key.clone(),
            users: Vec::new(),
            hosts: Vec::new(),
            destinations: Vec::new(),
            assignee: None,
            details: m.details.clone(),
            comments: Vec::new(),
            history: Vec::new(),
        });
        for id in &m.event_ids {
            h.add(List::EventIds, id);
        }
        note_involved(&mut h, m);
        push_history(
            &mut h.alert,
            "created",
            if m.retrohunt {
                "created by a retrohunt".into()
            } else {
                "created".into()
            },
            "system",
        );
        let uuid = h.alert.uuid.clone();
        let change = detail.then(|| AlertChange::Created(Box::new(h.alert.clone())));
        batch.touched_open(&m.rule.id, &m.entity, &uuid);
        batch.open_by_key.insert(key, uuid.clone());
        batch.alerts.insert(uuid.clone(), h);
        batch.dirty.insert(uuid);
        Ok((ChangeKind::Created, change))
    }
}

/// The alerts and throttle rows an [`AlertManager::ingest_all`] read or changed, written back
/// once at its end.
#[derive(Default)]
struct Batch {
    /// Alerts read or created, by uuid.
    alerts: HashMap<String, Held>,
    /// Whether alerts are read with their lists whole (to hand out each change's alert).
    whole: bool,
    /// The open alert of each similarity key looked up.
    open_by_key: HashMap<String, String>,
    dirty: HashSet<String>,
    throttles: HashMap<Group, Throttle>,
    dirty_throttles: HashSet<Group>,
    /// The latest open alert of each (rule, entity) whose throttled matches this batch
    /// counted (None: it has none), kept up to date as the batch opens alerts and folds
    /// matches into them, so that it is looked up in the table once per batch.
    latest_open: HashMap<Group, Option<String>>,
}

impl Batch {
    /// Notes that the open alert `uuid` of `rule` and `entity` was just opened or updated:
    /// it is now their latest open alert.
    fn touched_open(&mut self, rule: &str, entity: &str, uuid: &str) {
        if self.latest_open.is_empty() {
            return;
        }
        // Only groups already looked up are followed: the others are looked up in the
        // table, after this batch's changes are written there.
        if let Some(latest) = self
            .latest_open
            .get_mut(&(rule.to_string(), entity.to_string()))
        {
            *latest = Some(uuid.to_string());
        }
    }

    /// The alert `uuid`, from this batch or the table (None if there is none).
    fn load(&mut self, tx: &mut dyn AlertTx, uuid: &str) -> Result<Option<&mut Held>, Error> {
        if !self.alerts.contains_key(uuid) {
            let Some(h) = tx.alert(uuid, self.whole)? else {
                return Ok(None);
            };
            self.alerts.insert(uuid.to_string(), h);
        }
        Ok(self.alerts.get_mut(uuid))
    }

    /// Writes what changed: each changed alert's own fields, and the values its lists
    /// gained.
    fn save(&mut self, tx: &mut dyn AlertTx) -> Result<(), Error> {
        for uuid in self.dirty.drain() {
            if let Some(h) = self.alerts.get_mut(&uuid) {
                let head = head_json(&mut h.alert)?;
                tx.save(&h.alert, &head)?;
                let unsaved = h.unsaved();
                if unsaved.iter().any(|v| !v.is_empty()) {
                    h.stored = tx.append(&uuid, h.stored, unsaved)?;
                }
                if !h.whole {
                    for l in List::ALL {
                        l.of_mut(&mut h.alert).clear();
                    }
                }
            }
        }
        for k in self.dirty_throttles.drain() {
            if let Some(t) = self.throttles.get(&k) {
                tx.save_throttle(t)?;
            }
        }
        Ok(())
    }
}
