//! The "zscaler-zia" format: one raw Zscaler Internet Access log record in, one ECS event out.
//!
//! A record arrives in any of the shapes ZIA feeds really produce: bare JSON
//! (`{"sourcetype":"zscalernss-web","event":{…}}`, pretty-printed or not, numbers quoted or
//! not, `null`s, raw control characters inside strings), the same behind an RFC 3164 or RFC 5424
//! syslog header as an NSS VM sends it, tab-separated `key=value` feeds, SaaS records with
//! their fields at the top level, and the key vocabularies of the feed templates published for
//! other SIEMs, with nested objects or not. Broken records are repaired where the intent is
//! plain (unescaped quotes and backslashes inside JSON strings, weekdays that do not match the
//! date, `e`/`b64`/`o` variants of any field). [`parse`] decodes the shape, folds the keys onto
//! one vocabulary and maps each sourcetype (web, firewall, DNS, tunnel, admin audit, SaaS
//! security and its subtypes, Endpoint DLP, Email DLP, sandbox verdicts, and the NSS
//! feed-health alerts) to nested ECS fields,
//! following the Sekoia "Zscaler Internet Access" format and adding what an analyst needs
//! beyond it; every input key it does not map is kept under `zscaler.zia.*`. The mapping table
//! and the deliberate differences from Sekoia are documented in `docs/zia-mapping.md`.
//!
//! [`parse`] returns the event as nested `serde_json` objects; [`parse_event`] returns the
//! parser's own flat [`Event`], which the pipeline hands on because it costs less to build,
//! index and free.
//!
//! The crate does no I/O, so it can be tested and fuzzed alone.

mod ecs;
mod enrich;
mod event;
mod keys;
mod map;
mod record;
mod repair;
mod shape;
mod variants;

use serde_json::{Map, Value};

pub use event::{Event, Part};
pub use keys::VOCABULARY;
pub use map::LogType;
pub use shape::Shape;

/// A record turned into an ECS event: by default as nested objects, as an [`Event`] from
/// [`parse_event`].
#[derive(Debug, Clone)]
pub struct Parsed<E = Map<String, Value>> {
    /// The ECS event.
    pub event: E,
    /// The record's sourcetype, e.g. `zscalernss-web`, when it declared one (or the one
    /// inferred from its keys).
    pub sourcetype: Option<String>,
    /// The record's own id (`recordid`/`event_id`), used to drop replayed duplicates.
    pub record_id: Option<String>,
    /// What the operator should know that did not stop parsing (unknown sourcetype, a
    /// value of the wrong type kept under `zscaler.zia.*`, …).
    pub warnings: Vec<String>,
    /// The record's log type and key-set fingerprint, when the log type is known: for
    /// noticing feeds whose format drifted (see [`record_keys`]).
    pub shape: Option<Shape>,
}

/// Why a record could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The record is empty or only whitespace.
    #[error("empty record")]
    Empty,
    /// The record is not in any shape the format knows.
    #[error("{0}")]
    Invalid(String),
}

/// Parses one raw record.
pub fn parse(raw: &str) -> Result<Parsed, ParseError> {
    parse_event(raw).map(|p| Parsed {
        event: p.event.into_map(),
        sourcetype: p.sourcetype,
        record_id: p.record_id,
        warnings: p.warnings,
        shape: p.shape,
    })
}

/// Parses one raw record into an [`Event`], which costs less to build, index and drop than
/// nested objects.
pub fn parse_event(raw: &str) -> Result<Parsed<Event>, ParseError> {
    let mut rec = record::decode(raw)?;
    if rec.entries.is_empty() {
        return Err(ParseError::Invalid("record has no fields".into()));
    }
    let declared = rec.sourcetype.as_deref().map(str::to_owned);
    let keys = shape::fingerprint(&rec);
    let mapped = map::map(&mut rec);
    let sourcetype = declared.or_else(|| mapped.log_type.map(|t| t.sourcetype().to_owned()));
    Ok(Parsed {
        event: Event(mapped.event),
        sourcetype,
        record_id: mapped.record_id,
        warnings: mapped.warnings,
        shape: mapped.log_type.map(|t| shape::shape(t, keys)),
    })
}

/// The keys of a record as it came (those of its `event` object, or of the record when it
/// has none), in input order; empty when it does not decode. Costs a decode: meant for the
/// first record of each distinct [`Shape`].
pub fn record_keys(raw: &str) -> Vec<String> {
    record::decode(raw)
        .map(|r| r.entries.into_iter().map(|(k, _)| k.into_owned()).collect())
        .unwrap_or_default()
}

/// Parses one raw record, always yielding an event: a failure becomes an event with
/// `event.kind: pipeline_error`, `error.message` and `event.original`, so nothing is dropped.
pub fn parse_or_error(raw: &str) -> Map<String, Value> {
    match parse(raw) {
        Ok(p) => p.event,
        Err(e) => error_event(raw, &e),
    }
}

/// [`parse_or_error`] as an [`Event`].
pub fn parse_or_error_event(raw: &str) -> Event {
    match parse_event(raw) {
        Ok(p) => p.event,
        Err(e) => error_event_of(raw, &e),
    }
}

/// The event that stands for a record that could not be parsed.
pub fn error_event(raw: &str, err: &ParseError) -> Map<String, Value> {
    error_event_of(raw, err).into_map()
}

/// [`error_event`] as an [`Event`].
pub fn error_event_of(raw: &str, err: &ParseError) -> Event {
    use ecs::p;
    let mut ev = ecs::Ev::default();
    ev.s(p!("event.kind"), "pipeline_error");
    ev.s(p!("event.original"), raw);
    ev.s(p!("error.message"), err.to_string());
    ev.s(p!("observer.vendor"), "Zscaler");
    ev.s(p!("observer.product"), "Zscaler Internet Access");
    Event(ev)
}

/// True when an event stands for a record that failed to parse.
pub fn is_error_event(ev: &Map<String, Value>) -> bool {
    ev.get("event")
        .and_then(|e| e.get("kind"))
        .and_then(Value::as_str)
        == Some("pipeline_error")
}
