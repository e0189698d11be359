//! The ziaxdr event store: where parsed ECS events are kept, searched and aggregated.
//!
//! The store sits behind two traits: [`EventSearch`] (search, count, histogram, top-N,
//! distinct count over a parsed [`Query`] and a [`TimeRange`]) and [`EventStore`] (adding
//! events with their journal offsets, committing, and telling where the journal must resume
//! after a crash). The query model is deliberately small (a boolean tree of field predicates,
//! a time range, newest-first paging by `(timestamp, offset)`), so that a SQL engine such as
//! ClickHouse can implement the same traits, as [`ClickHouseStore`] does. The embedded implementation,
//! [`TantivyStore`], keeps one tantivy index per UTC day: retention deletes whole days, and
//! each commit records the journal offset it covers, so a restart neither loses nor doubles
//! events. The [`query`] module parses the Lucene-like Events query language (pure, no I/O),
//! and [`api`] has the serde request/response types and the functions behind the REST
//! endpoints `POST /api/v1/events/search` and `/api/v1/events/aggregate`.

pub mod api;
pub mod clickhouse;
mod collectors;
pub mod deadline;
pub mod doc;
mod plan;
pub mod query;
pub mod schema;
pub mod source;
mod tantivy_store;
pub mod timerange;
mod verify;

use serde_json::{Map, Value};

pub use clickhouse::{ClickHouseConfig, ClickHouseStore, PreparedRow};
pub use doc::EventDoc;
pub use query::{ParseError, Query};
pub use tantivy_store::{PreparedDoc, Retention, SpaceUsage, StoreConfig, TantivyStore};
pub use timerange::{TimeRange, TimeSpec};

/// An ECS event: a JSON object with nested ECS field names.
pub type Event = Map<String, Value>;

/// A position in the newest-first order: an event's timestamp (seconds) and journal offset.
/// Paging resumes strictly after (older than) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// Event time, seconds since the Unix epoch.
    pub ts: i64,
    /// Journal offset of the event (tie-breaker).
    pub offset: u64,
}

impl Cursor {
    /// Encodes the cursor as an opaque string for clients.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.ts, self.offset)
    }

    /// Decodes a string made by [`Cursor::encode`].
    pub fn decode(s: &str) -> Option<Cursor> {
        let (a, b) = s.split_once('.')?;
        Some(Cursor {
            ts: a.parse().ok()?,
            offset: b.parse().ok()?,
        })
    }
}

/// A query over a time range: what every search and aggregation takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// The parsed query.
    pub query: Query,
    /// The time range `[from, to)`.
    pub range: TimeRange,
}

/// One page of search results, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    /// The events, newest first (ties broken by journal offset, highest first).
    pub events: Vec<Event>,
    /// Where the next page starts, if this page was full.
    pub next: Option<Cursor>,
}

/// Top-N values of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopValues {
    /// `(value, count)`, highest count first (ties by value).
    pub values: Vec<(String, u64)>,
    /// Occurrences of all the values not in `values`.
    pub other: u64,
}

/// The sum of a numeric field over matching events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FieldSum {
    /// Every value added up (all values of a multi-valued field), saturating at the bounds
    /// of `i64`.
    pub sum: i64,
    /// Matching events that have the field.
    pub events: u64,
}

/// One value of a top-N by sum ([`EventSearch::top_by_sum`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueSum {
    /// The value, as a string (IPs in their usual notation).
    pub value: String,
    /// The summed fields added up over the matching events with this value (saturating at
    /// the bounds of `i64`).
    pub sum: i64,
    /// Matching events with this value (with or without the summed fields).
    pub count: u64,
}

/// The values of a field with the largest sums of numeric fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopSums {
    /// Largest sum first (ties: more events first, then by value).
    pub values: Vec<ValueSum>,
    /// The sum over all the values not in `values`.
    pub other_sum: i64,
    /// Occurrences of all the values not in `values`.
    pub other_count: u64,
}

/// Most numeric fields one top-N by sum adds up (bytes received and sent are two).
pub const MAX_SUM_FIELDS: usize = 8;

/// An `i128` total clamped into `i64` (the sums saturate rather than wrap).
pub(crate) fn saturate(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Orders `(value, sum, count)` by sum, then count (both descending), then value, keeps
/// `size` and totals the rest: the common tail of both backends' [`EventSearch::top_by_sum`].
pub(crate) fn rank_sums(
    mut all: Vec<(String, i128, u64)>,
    size: usize,
    total: (i128, u64),
) -> TopSums {
    all.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(b.2.cmp(&a.2))
            .then_with(|| a.0.cmp(&b.0))
    });
    all.truncate(size);
    let shown = all
        .iter()
        .fold((0i128, 0u64), |(s, n), (_, s2, n2)| (s + s2, n + n2));
    TopSums {
        values: all
            .into_iter()
            .map(|(value, sum, count)| ValueSum {
                value,
                sum: saturate(sum),
                count,
            })
            .collect(),
        other_sum: saturate(total.0 - shown.0),
        other_count: total.1.saturating_sub(shown.1),
    }
}

/// Checks the summed fields of a top-N by sum: 1 to [`MAX_SUM_FIELDS`] numeric fields.
pub(crate) fn check_sum_fields(fields: &[String]) -> Result<(), StoreError> {
    if fields.is_empty() || fields.len() > MAX_SUM_FIELDS {
        return Err(StoreError::Unsupported(format!(
            "a top by sum adds up 1 to {MAX_SUM_FIELDS} numeric fields, not {}",
            fields.len()
        )));
    }
    for f in fields {
        if schema::typed_kind(f) != Some(schema::FieldKind::Long) {
            return Err(schema::not_summable(f));
        }
    }
    Ok(())
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The search passed its deadline or its client went away (see [`deadline`]).
    #[error("{0}")]
    Deadline(String),
    /// The query text is not valid.
    #[error("invalid query: {0}")]
    Parse(#[from] ParseError),
    /// A value in the query does not fit the field's type.
    #[error("invalid value '{value}' for field {field}: expected {expected}")]
    InvalidValue {
        /// Field name.
        field: String,
        /// The offending value.
        value: String,
        /// What the field accepts.
        expected: String,
    },
    /// The operation is not supported on that field.
    #[error("{0}")]
    Unsupported(String),
    /// The field cannot be aggregated on.
    #[error("field {field} cannot be aggregated; aggregatable fields: {allowed}")]
    NotAggregatable {
        /// Field name.
        field: String,
        /// Comma-separated list of the fields that can.
        allowed: String,
    },
    /// A write was attempted on a store opened read-only.
    #[error("the store is open read-only")]
    ReadOnly,
    /// The index engine failed.
    #[error("index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// A file operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The ClickHouse server failed or could not be reached.
    #[error("ClickHouse error: {0}")]
    Backend(String),
    /// Stored data is not what the store wrote (corruption or an incompatible version).
    #[error("corrupt store data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when the caller's request is at fault (HTTP 400), false for server faults.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            StoreError::Parse(_)
                | StoreError::InvalidValue { .. }
                | StoreError::Unsupported(_)
                | StoreError::NotAggregatable { .. }
        )
    }
}

/// Read access to stored events. Every method takes a query over a time range.
pub trait EventSearch: Send + Sync {
    /// Up to `limit` events, newest first, strictly older than `after` when given.
    fn search(
        &self,
        q: &EventQuery,
        limit: usize,
        after: Option<Cursor>,
    ) -> Result<SearchPage, StoreError>;
    /// Number of matching events.
    fn count(&self, q: &EventQuery) -> Result<u64, StoreError>;
    /// Matching events per time bucket of `interval_secs` (aligned on the Unix epoch):
    /// `(bucket start in seconds, count)`, ascending, empty buckets omitted.
    fn histogram(&self, q: &EventQuery, interval_secs: i64) -> Result<Vec<(i64, u64)>, StoreError>;
    /// The `size` most frequent values of `field` among matching events.
    fn top(&self, q: &EventQuery, field: &str, size: usize) -> Result<TopValues, StoreError>;
    /// Number of distinct values of `field` among matching events (exact).
    fn distinct(&self, q: &EventQuery, field: &str) -> Result<u64, StoreError>;
    /// The sum of the numeric (`long`) field `field` over matching events; a store without
    /// it says so.
    fn sum(&self, q: &EventQuery, field: &str) -> Result<FieldSum, StoreError> {
        let _ = (q, field);
        Err(StoreError::Unsupported(
            "this store cannot sum a field".to_string(),
        ))
    }
    /// The `size` values of `field` whose matching events have the largest sum of the
    /// numeric fields `sum_fields` (added together: bytes received and sent), each with its
    /// sum and its event count; an event with several values of `field` counts for each.
    /// A store without it says so.
    fn top_by_sum(
        &self,
        q: &EventQuery,
        field: &str,
        sum_fields: &[String],
        size: usize,
    ) -> Result<TopSums, StoreError> {
        let _ = (q, field, sum_fields, size);
        Err(StoreError::Unsupported(
            "this store cannot rank values by a sum".to_string(),
        ))
    }
}

/// Write access: the sink of the pipeline.
///
/// Offsets are the journal's, strictly increasing across calls. After a crash,
/// [`EventStore::committed_offset`] tells the last offset durably committed: the pipeline
/// replays the journal from the next one. Replaying an event that was in fact committed is
/// harmless: the store recognises it and skips it, so nothing is doubled.
pub trait EventStore: EventSearch {
    /// Adds an event; `Ok(false)` when it was already committed (a replayed duplicate).
    fn add(&self, offset: u64, event: &Event) -> Result<bool, StoreError>;
    /// Adds an event that is `zia::parse_or_error(raw)` plus the pipeline's annotations
    /// ([`source::ANNOTATIONS`]) and `event.original`: a store may keep only the record and
    /// the annotations and rebuild the event when it is read. Same result as [`EventStore::add`].
    fn add_record(&self, offset: u64, event: &Event, raw: &str) -> Result<bool, StoreError> {
        let _ = raw;
        self.add(offset, event)
    }
    /// Adds the event `zia::parse_or_error_event(raw)` plus the pipeline's annotations
    /// ([`source::ANNOTATIONS`]), without `event.original`: the event stored is the one with
    /// the record as `event.original`. Same result as [`EventStore::add_record`].
    fn add_parsed(&self, offset: u64, event: &zia::Event, raw: &str) -> Result<bool, StoreError> {
        self.add_record(offset, &source::with_original(event, raw), raw)
    }
    /// Makes everything added so far durable and searchable; returns the committed offset.
    fn commit(&self) -> Result<Option<u64>, StoreError>;
    /// The last offset durably committed, `None` if nothing ever was.
    fn committed_offset(&self) -> Option<u64>;
    /// True when the commit policy (events or time since the last commit) asks for a commit.
    fn commit_due(&self) -> bool;
}
