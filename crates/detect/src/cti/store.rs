//! Durable indicator storage, shared by the server and the CLI. [`CtiStore`] keeps the
//! indicators, the feeds' paging cursors and the registered sources (see [`super::sources`])
//! in a [`CtiBackend`]: `DATA/cti.db` of one node ([`SqliteCti`]), or PostgreSQL shared by a
//! cluster ([`PgCti`]), where an import through any node (API, CLI, polled feed) reaches every
//! worker's matcher, and a registered feed is polled by one node at a time.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::sources::{CtiSource, PollOutcome};
use super::{indicators_of, Indicator};
use crate::Error;

/// How long a node that claimed a retrohunt has to finish it before another node sharing the
/// store may take it over (a node that died mid-hunt leaves its claim behind). A hunt that
/// runs longer is hunted a second time, which costs work but no alert: replays are recognised.
pub const RETROHUNT_LEASE: Duration = Duration::from_secs(600);

/// A retrohunt a node has claimed: the indicators imported after `from` (None: all of them),
/// up to the version `upto`, which [`CtiStore::finish_retrohunt`] is given once it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuntClaim {
    /// Hunt the indicators imported after this version (None: every indicator).
    pub from: Option<String>,
    /// The last version the claim covers.
    pub upto: String,
}

mod postgres;
mod sqlite;

pub use postgres::PgCti;
pub use sqlite::SqliteCti;

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

/// Where the indicators live: the seam between the embedded and the cluster state. Times are
/// RFC 3339 text in both backends, as `DATA/cti.db` always stored them.
pub trait CtiBackend: Send {
    /// Another handle on the same data, for another thread (no schema work again).
    fn reopen(&self) -> Result<Box<dyn CtiBackend>, Error>;
    /// Stores indicators in one transaction, keeping the newest version of each, and counts
    /// what it did into `rep` (see [`CtiStore::import_indicators`]).
    fn import_indicators(
        &mut self,
        inds: &[Indicator],
        source: &str,
        rep: &mut ImportReport,
    ) -> Result<(), Error>;
    /// All stored indicators, by id.
    fn all(&self) -> Result<Vec<Indicator>, Error>;
    /// The stored indicators among `ids`, in the order of `ids`.
    fn by_ids(&self, ids: &[String]) -> Result<Vec<Indicator>, Error>;
    /// Indicators written by imports after the one that made `version`, by id.
    fn imported_after(&self, version: &str) -> Result<Vec<Indicator>, Error>;
    /// One row per source with its counts, by source.
    fn sources(&self, now: DateTime<Utc>) -> Result<Vec<SourceSummary>, Error>;
    /// Number of stored indicators.
    fn count(&self) -> Result<u64, Error>;
    /// An opaque value that changes with each import that wrote something (None: nothing
    /// was ever imported).
    fn version(&self) -> Result<Option<String>, Error>;
    /// The paging cursor saved for a feed URL.
    fn cursor(&self, url: &str) -> Result<Option<String>, Error>;
    /// Saves the paging cursor of a feed URL.
    fn set_cursor(&self, url: &str, cursor: Option<&str>) -> Result<(), Error>;
    /// Registers a source or changes its interval and token variable (checked by the caller).
    fn add_source(&self, url: &str, every_secs: u64, token_env: Option<&str>) -> Result<(), Error>;
    /// Unregisters a source; false when it was not registered.
    fn remove_source(&self, url: &str) -> Result<bool, Error>;
    /// Every registered source, by URL.
    fn registered_sources(&self) -> Result<Vec<CtiSource>, Error>;
    /// Claims a due source for a poll starting `at`: sets its `last_run` to `at` if it is
    /// still `seen_last_run` (what the caller read). True for the one caller that wins.
    fn claim_source(
        &self,
        url: &str,
        seen_last_run: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<bool, Error>;
    /// Records the outcome of a poll that started `at`.
    fn record_run(&self, url: &str, at: DateTime<Utc>, outcome: &PollOutcome) -> Result<(), Error>;
    /// Claims the retrohunt of the imports up to `version` for a caller whose matcher last
    /// loaded `since` (None: never). `Some(from)`: this caller hunts the indicators imported
    /// after `from` (None: all of them); `None`: the imports up to `version` were claimed by
    /// another node sharing the store already. The default, for a store of one node: always
    /// the caller's own range.
    fn claim_retrohunt(
        &self,
        since: Option<&str>,
        _version: &str,
    ) -> Result<Option<Option<String>>, Error> {
        Ok(Some(since.map(str::to_string)))
    }
    /// Takes over a retrohunt whose claimer's lease ran out without it being finished (the
    /// claimer died): the oldest such claim, leased to this caller now. The default, for a
    /// store of one node: none (the node hunts again at its next reload).
    fn take_over_retrohunt(&self) -> Result<Option<HuntClaim>, Error> {
        Ok(None)
    }
    /// Marks the claimed retrohunt up to `upto` done, so that nobody takes it over.
    fn finish_retrohunt(&self, _upto: &str) -> Result<(), Error> {
        Ok(())
    }
    /// Sets the lease of this handle's next claims (default [`RETROHUNT_LEASE`]).
    fn set_retrohunt_lease(&mut self, _lease: Duration) {}
}

/// The indicator database, over a [`CtiBackend`].
pub struct CtiStore {
    backend: Box<dyn CtiBackend>,
}

impl CtiStore {
    /// Opens (or creates) `DATA/cti.db`.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        Ok(Self::with_backend(Box::new(SqliteCti::open(data_dir)?)))
    }

    /// The indicators in PostgreSQL (schema created or migrated first).
    pub fn postgres(pg: &pgstate::Pg) -> Result<Self, Error> {
        Ok(Self::with_backend(Box::new(PgCti::open(pg)?)))
    }

    /// PostgreSQL's when `pg` is given, else `DATA/cti.db`.
    pub fn open_at(data_dir: &Path, pg: Option<&pgstate::Pg>) -> Result<Self, Error> {
        match pg {
            Some(pg) => Self::postgres(pg),
            None => Self::open(data_dir),
        }
    }

    /// The store over any backend.
    pub fn with_backend(backend: Box<dyn CtiBackend>) -> Self {
        Self { backend }
    }

    /// Another handle on the same indicators, for another thread or request.
    pub fn reopen(&self) -> Result<Self, Error> {
        Ok(Self::with_backend(self.backend.reopen()?))
    }

    pub(crate) fn backend(&self) -> &dyn CtiBackend {
        self.backend.as_ref()
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
        self.backend.import_indicators(inds, source, rep)
    }

    /// All stored indicators.
    pub fn all(&self) -> Result<Vec<Indicator>, Error> {
        self.backend.all()
    }

    /// The indicators with the given ids.
    pub fn by_ids(&self, ids: &[String]) -> Result<Vec<Indicator>, Error> {
        self.backend.by_ids(ids)
    }

    /// Indicators imported after the given version (see [`CtiStore::version`]).
    pub fn imported_after(&self, version: &str) -> Result<Vec<Indicator>, Error> {
        self.backend.imported_after(version)
    }

    /// One row per source indicators came from, sorted by source; `now` decides which are
    /// active.
    pub fn sources(&self, now: DateTime<Utc>) -> Result<Vec<SourceSummary>, Error> {
        self.backend.sources(now)
    }

    /// Number of stored indicators.
    pub fn count(&self) -> Result<u64, Error> {
        self.backend.count()
    }

    /// Changes with each import that wrote something: the server reloads its matcher when it
    /// changes, and hunts for [`CtiStore::imported_after`] the previous one.
    pub fn version(&self) -> Result<Option<String>, Error> {
        self.backend.version()
    }

    /// Claims the retrohunt of the imports up to `version` (see
    /// [`CtiBackend::claim_retrohunt`]): `Some(from)` when this caller should hunt the
    /// indicators imported after `from` (None: all), `None` when another node did.
    pub fn claim_retrohunt(
        &self,
        since: Option<&str>,
        version: &str,
    ) -> Result<Option<Option<String>>, Error> {
        self.backend.claim_retrohunt(since, version)
    }

    /// Takes over a retrohunt claimed by a node that did not finish it within its lease
    /// (see [`CtiBackend::take_over_retrohunt`]).
    pub fn take_over_retrohunt(&self) -> Result<Option<HuntClaim>, Error> {
        self.backend.take_over_retrohunt()
    }

    /// Marks the claimed retrohunt up to `upto` done.
    pub fn finish_retrohunt(&self, upto: &str) -> Result<(), Error> {
        self.backend.finish_retrohunt(upto)
    }

    /// Sets how long this handle's claims are its own before another node may take them over
    /// (default [`RETROHUNT_LEASE`]).
    pub fn set_retrohunt_lease(&mut self, lease: Duration) {
        self.backend.set_retrohunt_lease(lease)
    }

    /// The paging cursor saved for a feed URL.
    pub fn cursor(&self, url: &str) -> Result<Option<String>, Error> {
        self.backend.cursor(url)
    }

    /// Saves the paging cursor of a feed URL.
    pub fn set_cursor(&self, url: &str, cursor: Option<&str>) -> Result<(), Error> {
        self.backend.set_cursor(url, cursor)
    }
}

/// Whether an indicator replaces the stored one: `existing` is None when none is stored, else
/// its `modified` text. Only a strictly newer `modified` replaces (a copy without one never
/// does), so re-importing a feed changes nothing.
fn replaces(ind: &Indicator, existing: Option<Option<&str>>) -> bool {
    match existing {
        None => true,
        Some(old) => match (&ind.modified, old.and_then(parse)) {
            (Some(new), Some(old)) => *new > old,
            (Some(_), None) => true,
            _ => false,
        },
    }
}

/// One stored indicator as [`CtiStore::sources`] counts it: source, `imported_at`, revoked,
/// `valid_from`, `valid_until` (text as stored).
type SourceRow = (String, Option<String>, bool, Option<String>, Option<String>);

/// Folds rows sorted by source into one summary per source.
fn summarize(rows: impl IntoIterator<Item = SourceRow>, now: DateTime<Utc>) -> Vec<SourceSummary> {
    let mut out: Vec<SourceSummary> = Vec::new();
    for (source, imported, revoked, from, until) in rows {
        let imported = imported.as_deref().and_then(parse);
        let from = from.as_deref().and_then(parse);
        let until = until.as_deref().and_then(parse);
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
    out
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}
