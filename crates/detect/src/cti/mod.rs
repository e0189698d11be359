//! Cyber Threat Intelligence: STIX 2.1 indicators (import from files, TAXII 2.1 collections
//! and paged feeds), durable storage, a matcher that costs a handful of hash lookups per
//! event whatever the number of indicators, and retrohunt over stored events.

pub mod fetch;
pub mod matcher;
pub mod pattern;
pub mod sources;
pub mod store;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use matcher::{CtiHit, CtiMatcher};
pub use store::{CtiStore, HuntClaim, ImportReport, SourceSummary, RETROHUNT_LEASE};

/// A STIX 2.1 indicator as ziaxdr keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Indicator {
    /// STIX id (`indicator--<uuid>`).
    pub id: String,
    /// Name, or the pattern when the indicator has none.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// The STIX pattern.
    pub pattern: String,
    /// Valid from (inclusive).
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// Valid until (exclusive).
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
    /// Revoked indicators never match.
    #[serde(default)]
    pub revoked: bool,
    /// Last modification (newer versions replace older ones on import).
    #[serde(default)]
    pub modified: Option<DateTime<Utc>>,
    /// Confidence 0-100 (or the OpenCTI score), used as alert urgency.
    #[serde(default)]
    pub confidence: Option<u8>,
    /// Author: the name of the `created_by_ref` identity when the bundle has it.
    #[serde(default)]
    pub author: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<String>,
}

impl Indicator {
    /// An indicator of `pattern`, named by its pattern, always valid, with no other detail.
    pub fn new(id: impl Into<String>, pattern: impl Into<String>) -> Self {
        let pattern = pattern.into();
        Indicator {
            id: id.into(),
            name: pattern.clone(),
            description: None,
            pattern,
            valid_from: None,
            valid_until: None,
            revoked: false,
            modified: None,
            confidence: None,
            author: None,
            labels: Vec::new(),
        }
    }

    /// Whether the indicator may match at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        !self.revoked
            && self.valid_from.is_none_or(|f| f <= now)
            && self.valid_until.is_none_or(|u| u > now)
    }
}

fn parse_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// Reads the STIX objects out of a document: a bundle, a TAXII envelope, a JSON array of
/// objects (the OpenCTI stream), or a single object.
pub fn objects_of(doc: &Value) -> Vec<&Value> {
    match doc {
        Value::Array(items) => items.iter().collect(),
        Value::Object(m) => match m.get("objects") {
            Some(Value::Array(items)) => items.iter().collect(),
            _ if m.contains_key("type") => vec![doc],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Extracts the indicators of a document (only `pattern_type: stix` ones; others are
/// reported in `skipped` with a reason).
pub fn indicators_of(doc: &Value) -> (Vec<Indicator>, Vec<(String, String)>) {
    let objects = objects_of(doc);
    let identities: std::collections::HashMap<&str, &str> = objects
        .iter()
        .filter(|o| o.get("type").and_then(Value::as_str) == Some("identity"))
        .filter_map(|o| Some((o.get("id")?.as_str()?, o.get("name")?.as_str()?)))
        .collect();
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for o in objects {
        if o.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        let id = o
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let pattern_type = o
            .get("pattern_type")
            .and_then(Value::as_str)
            .unwrap_or("stix");
        if pattern_type != "stix" {
            skipped.push((id, format!("pattern_type {pattern_type} is not supported")));
            continue;
        }
        let Some(pattern) = o.get("pattern").and_then(Value::as_str) else {
            skipped.push((id, "indicator has no pattern".into()));
            continue;
        };
        if id.is_empty() {
            skipped.push((id, "indicator has no id".into()));
            continue;
        }
        let score = o
            .get("extensions")
            .and_then(Value::as_object)
            .and_then(|ext| ext.values().find_map(|e| e.get("score")?.as_u64()));
        let confidence = score
            .or_else(|| o.get("confidence").and_then(Value::as_u64))
            .map(|c| c.min(100) as u8);
        out.push(Indicator {
            name: o
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(pattern)
                .to_string(),
            description: o
                .get("description")
                .and_then(Value::as_str)
                .map(String::from),
            pattern: pattern.to_string(),
            valid_from: parse_time(o.get("valid_from")),
            valid_until: parse_time(o.get("valid_until")),
            revoked: o.get("revoked").and_then(Value::as_bool).unwrap_or(false),
            modified: parse_time(o.get("modified")),
            confidence,
            author: o.get("created_by_ref").and_then(Value::as_str).map(|r| {
                identities
                    .get(r)
                    .map(|n| n.to_string())
                    .unwrap_or(r.to_string())
            }),
            labels: o
                .get("labels")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            id,
        });
    }
    (out, skipped)
}

/// Where retrohunt and rule runs read stored events: the lead wires this to the event store.
pub trait EventSource {
    /// Calls `visit` with every stored event whose `@timestamp` is at or after `since`, until
    /// `visit` returns false.
    fn scan_since(
        &self,
        since: DateTime<Utc>,
        visit: &mut dyn FnMut(&serde_json::Map<String, Value>) -> bool,
    ) -> Result<(), String>;

    /// Calls `visit` with every stored event whose `@timestamp` is in `[from, to]`, until
    /// `visit` returns false. The default filters [`EventSource::scan_since`]; a store that
    /// can bound its scan on both sides should override it.
    fn scan_range(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        visit: &mut dyn FnMut(&serde_json::Map<String, Value>) -> bool,
    ) -> Result<(), String> {
        self.scan_since(from, &mut |ev| {
            let at = crate::event::get_str(ev, "@timestamp")
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc));
            match at {
                Some(t) if t < from || t > to => true,
                _ => visit(ev),
            }
        })
    }
    /// True when every node sharing the CTI store reads these same events (a cluster's
    /// ClickHouse): the retrohunt of an import then runs on the one node that claims it
    /// ([`CtiStore::claim_retrohunt`]) instead of on each. False (the default) for a node's
    /// own store, which only that node can hunt.
    fn shared(&self) -> bool {
        false
    }
}

/// Maximum number of hits one retrohunt returns (the rest is counted, not kept).
pub const MAX_RETROHUNT_HITS: usize = 100_000;

/// Result of a retrohunt.
#[derive(Debug, Default)]
pub struct Retrohunt {
    /// Events scanned.
    pub scanned: u64,
    /// Matches found (at most [`MAX_RETROHUNT_HITS`]).
    pub matches: Vec<crate::Match>,
    /// Matches beyond the cap, counted only.
    pub dropped: u64,
}

/// Runs the given (newly imported) indicators over stored events of the last `days` days.
/// Validity windows are ignored (an indicator published today is about past traffic too);
/// revoked indicators never match.
pub fn retrohunt(
    source: &dyn EventSource,
    indicators: &[Indicator],
    days: u32,
    now: DateTime<Utc>,
) -> Result<Retrohunt, crate::Error> {
    let usable: Vec<Indicator> = indicators
        .iter()
        .filter(|i| !i.revoked)
        .cloned()
        .map(|mut i| {
            i.valid_from = None;
            i.valid_until = None;
            i
        })
        .collect();
    let matcher = CtiMatcher::build(&usable, now);
    let since = now - chrono::Duration::days(i64::from(days));
    let mut out = Retrohunt::default();
    source
        .scan_since(since, &mut |ev| {
            out.scanned += 1;
            for hit in matcher.match_event(ev) {
                if out.matches.len() < MAX_RETROHUNT_HITS {
                    out.matches.push(crate::detector::cti_match(&hit, ev, true));
                } else {
                    out.dropped += 1;
                }
            }
            true
        })
        .map_err(crate::Error::Retrohunt)?;
    Ok(out)
}
