//! JSON request/response types of the REST API and the functions behind it:
//! `POST /api/v1/events/search` → [`search`], `POST /api/v1/events/aggregate` → [`aggregate`].
//!
//! The HTTP layer only deserializes the body, calls the function with the current time, and
//! serializes the result (or the error with [`ApiError::status`]).

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::query::Predicate;
use crate::timerange::{format_instant, parse_duration, TimeError, TimeRange, TimeSpec};
use crate::{Cursor, Event, EventQuery, EventSearch, Query, StoreError};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
pub const MAX_LIMIT: usize = 10_000;
/// Default number of values in a top-N.
pub const DEFAULT_TOP: usize = 10;
/// Largest top-N.
pub const MAX_TOP: usize = 1_000;
/// Most buckets a histogram may have.
pub const MAX_BUCKETS: i64 = 2_000;
/// Number of buckets an automatic histogram aims for.
pub const AUTO_BUCKETS: i64 = 60;

fn default_limit() -> usize {
    DEFAULT_LIMIT
}

fn default_top() -> usize {
    DEFAULT_TOP
}

/// Body of `POST /api/v1/events/search`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// Query in the Events query language (empty = everything).
    #[serde(default)]
    pub query: String,
    /// Time range (`since`, `from`, `to`); the last 24 hours by default.
    #[serde(flatten)]
    pub time: TimeSpec,
    /// Page size (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]).
    #[serde(default = "default_limit")]
    pub limit: usize,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Only return these fields of each event (dotted ECS names); all fields by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// Response of `POST /api/v1/events/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Events, newest first.
    pub events: Vec<Event>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The time range actually searched.
    pub from: String,
    /// End of the time range (exclusive).
    pub to: String,
    /// Server-side time in milliseconds.
    pub took_ms: u64,
    /// What the user should know about the query (a field no event of the range has), on
    /// the first page only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Most fields of a query checked for existence (one count each) on a first page.
pub const MAX_CHECKED_FIELDS: usize = 16;

/// The aggregation to compute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Aggregation {
    /// Number of matching events.
    Count,
    /// Events per time bucket; `interval` like `1h`, or automatic when absent.
    Histogram {
        /// Bucket width (`30s`, `5m`, `1h`, `1d`); chosen from the range when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval: Option<String>,
    },
    /// Most frequent values of a field.
    Top {
        /// Field name.
        field: String,
        /// How many values (default [`DEFAULT_TOP`]).
        #[serde(default = "default_top")]
        size: usize,
    },
    /// Number of distinct values of a field.
    Distinct {
        /// Field name.
        field: String,
    },
    /// The sum of a numeric (`long`) field, such as `http.response.bytes`.
    Sum {
        /// Field name.
        field: String,
    },
    /// The values of a field with the largest sums of numeric fields (bandwidth per user:
    /// `{"type":"top_by_sum","field":"user.email","sum":["http.response.bytes",
    /// "http.request.bytes"]}`), each with its sum and event count.
    TopBySum {
        /// Field name (any field top accepts).
        field: String,
        /// The numeric fields added up: one name or a list of 1 to [`crate::MAX_SUM_FIELDS`].
        #[serde(deserialize_with = "one_or_many")]
        sum: Vec<String>,
        /// How many values (default [`DEFAULT_TOP`]).
        #[serde(default = "default_top")]
        size: usize,
    },
}

/// A field name or a list of them.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Body of `POST /api/v1/events/aggregate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateRequest {
    /// Query in the Events query language (empty = everything).
    #[serde(default)]
    pub query: String,
    /// Time range (`since`, `from`, `to`); the last 24 hours by default.
    #[serde(flatten)]
    pub time: TimeSpec,
    /// What to compute.
    pub aggregation: Aggregation,
}

/// One histogram bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Bucket start, RFC 3339.
    pub start: String,
    /// Matching events in `[start, start + interval)`.
    pub count: u64,
}

/// One value of a top-N.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopValue {
    /// The value, as a string (IPs in their usual notation).
    pub value: String,
    /// Occurrences among matching events.
    pub count: u64,
}

/// One value of a top-N by sum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SumValue {
    /// The value, as a string (IPs in their usual notation).
    pub value: String,
    /// The summed fields added up over its matching events.
    pub sum: i64,
    /// Its matching events (with or without the summed fields).
    pub count: u64,
}

/// Result of an aggregation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AggregateResult {
    /// Number of matching events.
    Count {
        /// The number.
        count: u64,
    },
    /// Events per bucket, every bucket of the range included (zeros too).
    Histogram {
        /// Bucket width in seconds.
        interval_seconds: i64,
        /// Buckets in time order.
        buckets: Vec<Bucket>,
    },
    /// Most frequent values.
    Top {
        /// Field name.
        field: String,
        /// Values, most frequent first.
        values: Vec<TopValue>,
        /// Occurrences of all other values.
        other_count: u64,
    },
    /// Distinct values.
    Distinct {
        /// Field name.
        field: String,
        /// Exact number of distinct values.
        count: u64,
    },
    /// The sum of a numeric field.
    Sum {
        /// Field name.
        field: String,
        /// Every value added up (saturating at the bounds of a 64-bit integer).
        sum: i64,
        /// Matching events that have the field.
        events: u64,
    },
    /// The values with the largest sums.
    TopBySum {
        /// Field name.
        field: String,
        /// The numeric fields added up.
        sum: Vec<String>,
        /// Values, largest sum first (ties: more events first, then by value).
        values: Vec<SumValue>,
        /// The sum over all other values.
        other_sum: i64,
        /// Occurrences of all other values.
        other_count: u64,
    },
}

/// Response of `POST /api/v1/events/aggregate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateResponse {
    /// Start of the time range.
    pub from: String,
    /// End of the time range (exclusive).
    pub to: String,
    /// The result.
    pub result: AggregateResult,
    /// Server-side time in milliseconds.
    pub took_ms: u64,
}

/// An API failure, with the HTTP status to answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is invalid (400): bad query, time range, cursor or field.
    #[error("{0}")]
    BadRequest(String),
    /// The search passed its deadline or was cancelled (504).
    #[error("{0}")]
    Deadline(String),
    /// The store failed (500).
    #[error("store error: {0}")]
    Internal(StoreError),
}

impl ApiError {
    /// HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Deadline(_) => 504,
            ApiError::Internal(_) => 500,
        }
    }

    /// JSON error body: `{"error": "..."}`.
    pub fn body(&self) -> Value {
        serde_json::json!({ "error": self.to_string() })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Deadline(m) = e {
            return ApiError::Deadline(m);
        }
        if e.is_client_error() {
            ApiError::BadRequest(e.to_string())
        } else {
            ApiError::Internal(e)
        }
    }
}

impl From<TimeError> for ApiError {
    fn from(e: TimeError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// Most wildcard and regex terms in one query: each walks a term dictionary per segment.
pub const MAX_EXPENSIVE_TERMS: usize = 32;

/// The wildcard and regex terms of a query.
fn expensive_terms(q: &Query) -> usize {
    match q {
        Query::All => 0,
        Query::Match { pred, .. } => {
            usize::from(matches!(pred, Predicate::Wildcard(_) | Predicate::Regex(_)))
        }
        Query::And(v) | Query::Or(v) => v.iter().map(expensive_terms).sum(),
        Query::Not(q) => expensive_terms(q),
    }
}

/// The deadline of this thread's search (set by a caller that can cancel it), or a new
/// one of [`crate::deadline::query_timeout`].
fn deadline() -> std::sync::Arc<crate::deadline::Deadline> {
    crate::deadline::current()
        .unwrap_or_else(|| crate::deadline::Deadline::after(crate::deadline::query_timeout()))
}

fn event_query(query: &str, time: &TimeSpec, now: OffsetDateTime) -> Result<EventQuery, ApiError> {
    let query = Query::parse(query).map_err(|e| ApiError::BadRequest(format!("query {e}")))?;
    let n = expensive_terms(&query);
    if n > MAX_EXPENSIVE_TERMS {
        return Err(ApiError::BadRequest(format!(
            "the query has {n} wildcard or regex terms; at most {MAX_EXPENSIVE_TERMS} are allowed"
        )));
    }
    Ok(EventQuery {
        query,
        range: time.resolve(now)?,
    })
}

/// Serves a search request, within its deadline ([`crate::deadline`]).
pub fn search(
    store: &dyn EventSearch,
    req: &SearchRequest,
    now: OffsetDateTime,
) -> Result<SearchResponse, ApiError> {
    crate::deadline::with_deadline(deadline(), || search_within(store, req, now))
}

fn search_within(
    store: &dyn EventSearch,
    req: &SearchRequest,
    now: OffsetDateTime,
) -> Result<SearchResponse, ApiError> {
    let started = Instant::now();
    if req.limit == 0 || req.limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let q = event_query(&req.query, &req.time, now)?;
    let after = match &req.cursor {
        Some(c) => Some(
            Cursor::decode(c)
                .ok_or_else(|| ApiError::BadRequest(format!("invalid cursor {c:?}")))?,
        ),
        None => None,
    };
    let page = store.search(&q, req.limit, after)?;
    let warnings = match after {
        None => missing_fields(store, &q)?,
        Some(_) => Vec::new(),
    };
    let events = match &req.fields {
        Some(fields) => page.events.iter().map(|e| project(e, fields)).collect(),
        None => page.events,
    };
    Ok(SearchResponse {
        events,
        next_cursor: page.next.map(|c| c.encode()),
        from: format_instant(q.range.from),
        to: format_instant(q.range.to),
        took_ms: started.elapsed().as_millis() as u64,
        warnings,
    })
}

/// A warning for each field of the query that no event of its time range has (a typo such
/// as `user.nmae:x`, or a field of another log type).
pub fn missing_fields(store: &dyn EventSearch, q: &EventQuery) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    let mut fields = q.query.fields();
    fields.sort_unstable();
    fields.dedup();
    for field in fields.into_iter().take(MAX_CHECKED_FIELDS) {
        let exists = EventQuery {
            query: Query::Match {
                field: Some(field.to_string()),
                pred: crate::query::Predicate::Exists,
            },
            range: q.range,
        };
        if store.count(&exists)? == 0 {
            out.push(format!(
                "no event of this time range has the field {field}: check its name"
            ));
        }
    }
    Ok(out)
}

/// Most events one export writes; a larger result is cut there (the answer says so).
pub const MAX_EXPORT: usize = 100_000;
/// Events read per page while exporting.
const EXPORT_PAGE: usize = 1_000;
/// Columns of a CSV export without `fields`.
pub const EXPORT_COLUMNS: &[&str] = &[
    "@timestamp",
    "event.dataset",
    "event.action",
    "user.name",
    "user.email",
    "source.ip",
    "destination.ip",
    "destination.port",
    "url.domain",
    "url.original",
    "dns.question.name",
    "rule.name",
    "zscaler.zia.url_category",
    "zscaler.zia.threat.name",
];

/// The format of an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One JSON event per line.
    #[default]
    Ndjson,
    /// A header line, then one row per event; arrays joined with `, `.
    Csv,
}

impl ExportFormat {
    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Csv => "csv",
        }
    }
}

fn default_export_limit() -> usize {
    MAX_EXPORT
}

/// Body of `POST /api/v1/events/export`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRequest {
    /// Query in the Events query language (empty = everything).
    #[serde(default)]
    pub query: String,
    /// Time range (`since`, `from`, `to`); the last 24 hours by default.
    #[serde(flatten)]
    pub time: TimeSpec,
    /// `ndjson` (default) or `csv`.
    #[serde(default)]
    pub format: ExportFormat,
    /// The fields (CSV columns); all fields in NDJSON, [`EXPORT_COLUMNS`] in CSV by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// Most events written (1 to [`MAX_EXPORT`], default [`MAX_EXPORT`]).
    #[serde(default = "default_export_limit")]
    pub limit: usize,
}

/// What an export will write, known before the first byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPlan {
    /// The parsed query and range.
    pub query: EventQuery,
    /// Events matching.
    pub total: u64,
    /// Events that will be written (`total` cut at the limit).
    pub rows: u64,
    /// The CSV columns or NDJSON fields (`None`: all).
    pub fields: Option<Vec<String>>,
    /// The format.
    pub format: ExportFormat,
}

/// Checks an export request and counts what it will write.
pub fn plan_export(
    store: &dyn EventSearch,
    req: &ExportRequest,
    now: OffsetDateTime,
) -> Result<ExportPlan, ApiError> {
    if req.limit == 0 || req.limit > MAX_EXPORT {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_EXPORT}"
        )));
    }
    let query = event_query(&req.query, &req.time, now)?;
    let total = store.count(&query)?;
    let fields = match (&req.fields, req.format) {
        (Some(f), _) if !f.is_empty() => Some(f.clone()),
        (_, ExportFormat::Csv) => Some(EXPORT_COLUMNS.iter().map(|c| c.to_string()).collect()),
        _ => None,
    };
    Ok(ExportPlan {
        query,
        total,
        rows: total.min(req.limit as u64),
        fields,
        format: req.format,
    })
}

/// Writes the events of `plan`, newest first, page by page (memory stays one page); returns
/// the number written. Stops at the first write error (the reader went away).
pub fn write_export(
    store: &dyn EventSearch,
    plan: &ExportPlan,
    out: &mut dyn std::io::Write,
) -> Result<u64, ExportError> {
    let cols: &[String] = plan.fields.as_deref().unwrap_or(&[]);
    enum Sink<'a> {
        Csv(Box<csv::Writer<&'a mut dyn std::io::Write>>),
        Ndjson(&'a mut dyn std::io::Write),
    }
    let mut sink = match plan.format {
        ExportFormat::Csv => {
            let mut w = Box::new(csv::Writer::from_writer(out));
            w.write_record(cols)?;
            Sink::Csv(w)
        }
        ExportFormat::Ndjson => Sink::Ndjson(out),
    };
    let mut written = 0u64;
    let mut cursor = None;
    while written < plan.rows {
        let want = EXPORT_PAGE.min((plan.rows - written) as usize);
        let page = store.search(&plan.query, want, cursor)?;
        for e in page.events.iter().take((plan.rows - written) as usize) {
            match &mut sink {
                Sink::Csv(w) => w.write_record(cols.iter().map(|c| csv_cell(get_path(e, c))))?,
                Sink::Ndjson(out) => {
                    let line = match &plan.fields {
                        Some(f) => serde_json::to_vec(&project(e, f)),
                        None => serde_json::to_vec(e),
                    }
                    .map_err(|e| ExportError::Write(std::io::Error::other(e)))?;
                    out.write_all(&line)?;
                    out.write_all(b"\n")?;
                }
            }
            written += 1;
        }
        match page.next {
            Some(c) if !page.events.is_empty() => cursor = Some(c),
            _ => break,
        }
    }
    match sink {
        Sink::Csv(mut w) => w.flush()?,
        Sink::Ndjson(out) => out.flush()?,
    }
    Ok(written)
}

/// A CSV cell: text as is, arrays joined with `, `, objects as JSON. A value a spreadsheet
/// would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`.
pub fn csv_cell(v: Option<&Value>) -> String {
    let s = match v {
        None | Some(Value::Null) => return String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => return other.to_string(),
    };
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s
    }
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing failed (the reader went away, a full disk).
    #[error("writing the export: {0}")]
    Write(#[from] std::io::Error),
    /// The store failed.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

impl From<csv::Error> for ExportError {
    fn from(e: csv::Error) -> Self {
        ExportError::Write(std::io::Error::other(e))
    }
}

/// Serves an aggregation request, within its deadline ([`crate::deadline`]).
pub fn aggregate(
    store: &dyn EventSearch,
    req: &AggregateRequest,
    now: OffsetDateTime,
) -> Result<AggregateResponse, ApiError> {
    crate::deadline::with_deadline(deadline(), || aggregate_within(store, req, now))
}

fn aggregate_within(
    store: &dyn EventSearch,
    req: &AggregateRequest,
    now: OffsetDateTime,
) -> Result<AggregateResponse, ApiError> {
    let started = Instant::now();
    let q = event_query(&req.query, &req.time, now)?;
    let result = match &req.aggregation {
        Aggregation::Count => AggregateResult::Count {
            count: store.count(&q)?,
        },
        Aggregation::Histogram { interval } => {
            let secs = match interval {
                Some(i) => parse_duration(i)?.whole_seconds(),
                None => auto_interval(&q.range),
            };
            if secs <= 0 {
                return Err(ApiError::BadRequest("interval must be positive".into()));
            }
            let span = (q.range.to - q.range.from).whole_seconds();
            if span / secs > MAX_BUCKETS {
                return Err(ApiError::BadRequest(format!(
                    "interval too small: more than {MAX_BUCKETS} buckets"
                )));
            }
            let counts = store.histogram(&q, secs)?;
            AggregateResult::Histogram {
                interval_seconds: secs,
                buckets: fill_buckets(&q.range, secs, &counts),
            }
        }
        Aggregation::Top { field, size } => {
            if *size == 0 || *size > MAX_TOP {
                return Err(ApiError::BadRequest(format!(
                    "size must be between 1 and {MAX_TOP}"
                )));
            }
            let t = store.top(&q, field, *size)?;
            AggregateResult::Top {
                field: field.clone(),
                values: t
                    .values
                    .into_iter()
                    .map(|(value, count)| TopValue { value, count })
                    .collect(),
                other_count: t.other,
            }
        }
        Aggregation::Distinct { field } => AggregateResult::Distinct {
            field: field.clone(),
            count: store.distinct(&q, field)?,
        },
        Aggregation::TopBySum { field, sum, size } => {
            if *size == 0 || *size > MAX_TOP {
                return Err(ApiError::BadRequest(format!(
                    "size must be between 1 and {MAX_TOP}"
                )));
            }
            let t = store.top_by_sum(&q, field, sum, *size)?;
            AggregateResult::TopBySum {
                field: field.clone(),
                sum: sum.clone(),
                values: t
                    .values
                    .into_iter()
                    .map(|v| SumValue {
                        value: v.value,
                        sum: v.sum,
                        count: v.count,
                    })
                    .collect(),
                other_sum: t.other_sum,
                other_count: t.other_count,
            }
        }
        Aggregation::Sum { field } => {
            let s = store.sum(&q, field)?;
            AggregateResult::Sum {
                field: field.clone(),
                sum: s.sum,
                events: s.events,
            }
        }
    };
    Ok(AggregateResponse {
        from: format_instant(q.range.from),
        to: format_instant(q.range.to),
        result,
        took_ms: started.elapsed().as_millis() as u64,
    })
}

/// Nice bucket widths, in seconds, for automatic histograms.
const NICE_INTERVALS: &[i64] = &[
    1, 5, 10, 30, 60, 300, 600, 1_800, 3_600, 10_800, 21_600, 43_200, 86_400, 604_800,
];

/// The smallest nice width giving at most [`AUTO_BUCKETS`] buckets over the range.
pub fn auto_interval(range: &TimeRange) -> i64 {
    let span = (range.to - range.from).whole_seconds().max(1);
    for &i in NICE_INTERVALS {
        if span / i <= AUTO_BUCKETS {
            return i;
        }
    }
    let week = 604_800;
    (span / AUTO_BUCKETS / week + 1) * week
}

/// Every bucket from the one containing `from` to the one containing `to` (exclusive),
/// with the counts found (zero elsewhere).
pub fn fill_buckets(range: &TimeRange, secs: i64, counts: &[(i64, u64)]) -> Vec<Bucket> {
    let map: std::collections::HashMap<i64, u64> = counts.iter().copied().collect();
    let start = range.from.unix_timestamp().div_euclid(secs) * secs;
    let end = range.to.unix_timestamp();
    let mut out = Vec::new();
    let mut t = start;
    while t < end {
        let label = OffsetDateTime::from_unix_timestamp(t)
            .map(format_instant)
            .unwrap_or_else(|_| t.to_string());
        out.push(Bucket {
            start: label,
            count: map.get(&t).copied().unwrap_or(0),
        });
        t += secs;
    }
    out
}

/// Keeps only `fields` (dotted names) of an event, nesting preserved.
pub fn project(event: &Event, fields: &[String]) -> Event {
    let mut out = Event::new();
    for f in fields {
        if let Some(v) = get_path(event, f) {
            set_path(&mut out, f, v.clone());
        }
    }
    out
}

/// Looks a dotted path up in an event (`source.ip`), also accepting flat dotted keys.
pub fn get_path<'a>(event: &'a Event, path: &str) -> Option<&'a Value> {
    if let Some(v) = event.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    match event.get(head)? {
        Value::Object(m) => get_path(m, rest),
        _ => None,
    }
}

/// Sets a dotted path, creating the objects on the way (a non-object in the way: nothing set).
pub(crate) fn set_path(event: &mut Event, path: &str, v: Value) {
    match path.split_once('.') {
        None => {
            event.insert(path.to_string(), v);
        }
        Some((head, rest)) => {
            let entry = event
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Event::new()));
            if let Value::Object(m) = entry {
                set_path(m, rest, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn auto_interval_aims_for_about_sixty_buckets() {
        let r = TimeRange {
            from: datetime!(2024-05-01 0:00 UTC),
            to: datetime!(2024-05-02 0:00 UTC),
        };
        assert_eq!(auto_interval(&r), 1_800);
        let r = TimeRange {
            from: datetime!(2024-05-01 0:00 UTC),
            to: datetime!(2024-05-01 0:15 UTC),
        };
        assert_eq!(auto_interval(&r), 30);
    }

    #[test]
    fn fill_buckets_includes_empty_buckets() {
        let r = TimeRange {
            from: datetime!(2024-05-01 0:00 UTC),
            to: datetime!(2024-05-01 3:00 UTC),
        };
        let t1 = datetime!(2024-05-01 1:00 UTC).unix_timestamp();
        let b = fill_buckets(&r, 3_600, &[(t1, 7)]);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].count, 0);
        assert_eq!(b[1].count, 7);
        assert_eq!(b[1].start, "2024-05-01T01:00:00Z");
    }

    #[test]
    fn project_keeps_nesting_of_selected_fields() {
        let e: Event =
            serde_json::from_str(r#"{"source":{"ip":"1.2.3.4","port":5},"a":1}"#).unwrap();
        let p = project(&e, &["source.ip".to_string()]);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"source":{"ip":"1.2.3.4"}}"#
        );
    }

    #[test]
    fn requests_deserialize_with_defaults() {
        let r: SearchRequest = serde_json::from_str(r#"{"query":"a:1","since":"1h"}"#).unwrap();
        assert_eq!(r.limit, DEFAULT_LIMIT);
        assert_eq!(r.time.since.as_deref(), Some("1h"));
        let a: AggregateRequest =
            serde_json::from_str(r#"{"aggregation":{"type":"top","field":"user.name"}}"#).unwrap();
        assert_eq!(
            a.aggregation,
            Aggregation::Top {
                field: "user.name".into(),
                size: DEFAULT_TOP
            }
        );
    }
}
