//! The "zscaler-zia" format (API sketch; the parser is being written).

use serde_json::{Map, Value};

/// A record turned into an ECS event.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The ECS event, nested objects.
    pub event: Map<String, Value>,
    /// The record's sourcetype, e.g. `zscalernss-web`, when it had one.
    pub sourcetype: Option<String>,
    /// The record's own id (`recordid`/`event_id`), used to drop replayed duplicates.
    pub record_id: Option<String>,
    /// Things worth telling the operator that did not stop parsing (e.g. unknown sourcetype).
    pub warnings: Vec<String>,
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
    let _ = raw;
    Err(ParseError::Invalid("parser not written yet".into()))
}

/// Parses one raw record, always yielding an event: a failure becomes an event with
/// `event.kind: pipeline_error`, `error.message` and `event.original`.
pub fn parse_or_error(raw: &str) -> Map<String, Value> {
    match parse(raw) {
        Ok(p) => p.event,
        Err(e) => {
            let mut ev = Map::new();
            ev.insert(
                "event".into(),
                serde_json::json!({"kind": "pipeline_error", "original": raw}),
            );
            ev.insert("error".into(), serde_json::json!({"message": e.to_string()}));
            ev
        }
    }
}
