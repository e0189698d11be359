//! Per-rule state: whether a rule is enabled, and how many matches it produced. The REST API
//! and the CLI write the enabled flag; the running [`crate::DetectionService`] reads it back
//! when the store changes and adds its match counts every few seconds. [`RuleStateStore`]
//! keeps it in a [`RuleStateBackend`]: beside the alerts of one node (`DATA/alerts.db`, table
//! `rule_state`, [`SqliteRuleState`]) or in PostgreSQL shared by a cluster
//! ([`PgRuleState`]), where a rule disabled through any node stops alerting on every worker
//! and every worker's matches add up to one count.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
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

mod postgres;
mod sqlite;

pub use postgres::PgRuleState;
pub use sqlite::SqliteRuleState;

/// Where the rule state lives: the seam between the embedded and the cluster state.
pub trait RuleStateBackend: Send {
    /// The state of every rule that was ever disabled or matched.
    fn all(&self) -> Result<HashMap<String, RuleState>, Error>;
    /// Ids of the disabled rules.
    fn disabled(&self) -> Result<HashSet<String>, Error>;
    /// Enables or disables a rule.
    fn set_enabled(&self, rule_id: &str, enabled: bool) -> Result<(), Error>;
    /// Adds match counts (one transaction): `hits` grows by each count, `last_hit` keeps the
    /// latest time.
    fn add_hits(&self, pending: &PendingHits) -> Result<(), Error>;
    /// A number that changes when another connection (API, CLI, node) changed the enabled
    /// flags: the cue to read the disabled set again.
    fn data_version(&self) -> Result<i64, Error>;
}

/// The rule state over a [`RuleStateBackend`].
pub struct RuleStateStore {
    backend: Mutex<Box<dyn RuleStateBackend>>,
}

impl RuleStateStore {
    /// Opens (or creates) the table in `DATA/alerts.db`.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        Ok(Self::with_backend(Box::new(SqliteRuleState::open(
            data_dir,
        )?)))
    }

    /// The rule state in PostgreSQL (schema created or migrated first).
    pub fn postgres(pg: &pgstate::Pg) -> Result<Self, Error> {
        Ok(Self::with_backend(Box::new(PgRuleState::open(pg)?)))
    }

    /// PostgreSQL's when `pg` is given, else `DATA/alerts.db`'s.
    pub fn open_at(data_dir: &Path, pg: Option<&pgstate::Pg>) -> Result<Self, Error> {
        match pg {
            Some(pg) => Self::postgres(pg),
            None => Self::open(data_dir),
        }
    }

    /// The rule state over any backend.
    pub fn with_backend(backend: Box<dyn RuleStateBackend>) -> Self {
        Self {
            backend: Mutex::new(backend),
        }
    }

    fn backend(&self) -> std::sync::MutexGuard<'_, Box<dyn RuleStateBackend>> {
        // A panic while holding the lock cannot leave the store inconsistent (transactions
        // roll back), so a poisoned lock is still usable.
        self.backend.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state of every rule that was ever disabled or matched (others are enabled, 0 hits).
    pub fn all(&self) -> Result<HashMap<String, RuleState>, Error> {
        self.backend().all()
    }

    /// Ids of the disabled rules.
    pub fn disabled(&self) -> Result<HashSet<String>, Error> {
        self.backend().disabled()
    }

    /// Enables or disables a rule.
    pub fn set_enabled(&self, rule_id: &str, enabled: bool) -> Result<(), Error> {
        self.backend().set_enabled(rule_id, enabled)
    }

    /// Adds match counts (one transaction) and empties `pending`.
    pub fn add_hits(&mut self, pending: &mut PendingHits) -> Result<(), Error> {
        if pending.is_empty() {
            return Ok(());
        }
        self.backend().add_hits(pending)?;
        pending.clear();
        Ok(())
    }

    /// A number that changes whenever another connection (API, CLI, another node) changed the
    /// enabled flags: the cue to read the disabled set again.
    pub fn data_version(&self) -> Result<i64, Error> {
        self.backend().data_version()
    }
}
