//! The detection stage: every event goes through the Sigma engine (detections and
//! correlations) and the CTI matcher, and comes out as zero or more [`Match`]es that the
//! alert manager turns into alerts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rsigma_eval::result::ResultBody;
use rsigma_eval::{CorrelationEngine, Event, EventValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cti::{CtiHit, CtiMatcher};
use crate::event::{get_str, EcsEvent, SIGMA_CATEGORY_FIELD};
use crate::gate::GatedRules;
use crate::sigma::{RuleInfo, RuleSet};
use crate::Error;

/// Event field naming the entity (tenant) an event belongs to; the server sets it from the
/// intake the event came through. Events without it belong to [`DEFAULT_ENTITY`].
pub const ENTITY_FIELD: &str = "ziaxdr.entity";
/// Entity of events that carry none.
pub const DEFAULT_ENTITY: &str = "default";
/// Event field holding the stored event's id (listed in alerts).
pub const EVENT_ID_FIELD: &str = "event.id";
/// Event field holding the id the intake answered with (set by the pipeline): the event's
/// id when `event.id` is absent.
pub const INTAKE_EVENT_ID_FIELD: &str = "ziaxdr.event_id";

/// Sigma rule or CTI indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleType {
    /// A Sigma detection or correlation rule.
    Sigma,
    /// A STIX indicator.
    Cti,
}

/// The rule an alert comes from. `author` is kept as the Detection Rule License requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRef {
    /// Rule id (Sigma id, or STIX indicator id).
    pub id: String,
    /// Rule title or indicator name.
    pub name: String,
    /// Rule author (Sigma `author`, or the indicator's creator identity).
    pub author: Option<String>,
    /// Severity (Sigma level: informational, low, medium, high, critical).
    pub severity: String,
    /// sigma or cti.
    #[serde(rename = "type")]
    pub kind: RuleType,
}

/// One rule or indicator firing on one event (or on a correlation window).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Match {
    /// What fired.
    pub rule: RuleRef,
    /// Urgency 0-100 derived from the level (or indicator confidence).
    pub urgency: u8,
    /// Rule description.
    pub description: Option<String>,
    /// Event time (`@timestamp`), or now when the event has none.
    pub timestamp: DateTime<Utc>,
    /// Entity the event belongs to.
    pub entity: String,
    /// Who did it: user name, else source IP.
    pub source: Option<String>,
    /// What it was done to: domain, else destination IP.
    pub target: Option<String>,
    /// `source.ip`.
    pub source_ip: Option<String>,
    /// `destination.ip`.
    pub destination_ip: Option<String>,
    /// `dns.question.name` (DNS events).
    pub dns_name: Option<String>,
    /// `event.dataset` (web, dns, firewall, tunnel, audit, casb).
    pub dataset: Option<String>,
    /// Ids of the events involved (`event.id`).
    pub event_ids: Vec<String>,
    /// Correlation group-by values (empty for detections).
    pub group_key: Vec<(String, String)>,
    /// The values that group a detection's matches into one alert: the rule's
    /// `ziaxdr_group_by` fields, [`DEFAULT_ALERT_GROUP_BY`] by default; empty for an indicator
    /// (its alerts group by indicator) and for a correlation (its `group_key` groups).
    #[serde(default)]
    pub alert_group: Vec<(String, String)>,
    /// How long an alert gathers matches from its creation: the rule's `ziaxdr_window`, else
    /// [`crate::alerts::DEFAULT_ALERT_WINDOW_SECS`].
    #[serde(default)]
    pub alert_window_secs: Option<u64>,
    /// `user.name` (else `user.email`).
    #[serde(default)]
    pub user: Option<String>,
    /// True for a correlation rule firing.
    pub correlation: bool,
    /// True when found by a retrohunt.
    pub retrohunt: bool,
    /// Matched fields, indicator pattern and value...
    pub details: Value,
}

/// The fields whose values group a Sigma detection's matches into one alert, for a rule that
/// names none (`ziaxdr_group_by`): none, so that a rule opens one alert per entity and window,
/// which lists the users, hosts and destinations involved. Grouping by host or user opened
/// hundreds of alerts in 27,000 simulated records, one per host for every rule.
pub const DEFAULT_ALERT_GROUP_BY: &[&str] = &[];

/// Maps a Sigma level to an urgency (0-100).
pub fn level_urgency(level: &str) -> u8 {
    match level {
        "critical" => 100,
        "high" => 75,
        "medium" => 50,
        "low" => 25,
        _ => 10,
    }
}

fn opt(ev: &Map<String, Value>, path: &str) -> Option<String> {
    get_str(ev, path).map(|c| c.into_owned())
}

/// Fills the event-derived fields of a match.
fn base_match(rule: RuleRef, urgency: u8, ev: &Map<String, Value>) -> Match {
    let source_ip = opt(ev, "source.ip");
    let destination_ip = opt(ev, "destination.ip");
    let dns_name = opt(ev, "dns.question.name");
    let user = opt(ev, "user.name").or_else(|| opt(ev, "user.email"));
    let domain = opt(ev, "url.domain")
        .or_else(|| opt(ev, "destination.domain"))
        .or_else(|| dns_name.clone());
    let timestamp = get_str(ev, "@timestamp")
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    Match {
        rule,
        urgency,
        description: None,
        timestamp,
        entity: opt(ev, ENTITY_FIELD).unwrap_or_else(|| DEFAULT_ENTITY.to_string()),
        source: user.clone().or_else(|| source_ip.clone()),
        user,
        target: domain.or_else(|| destination_ip.clone()),
        source_ip,
        destination_ip,
        dns_name,
        dataset: opt(ev, "event.dataset"),
        event_ids: opt(ev, EVENT_ID_FIELD)
            .or_else(|| opt(ev, INTAKE_EVENT_ID_FIELD))
            .into_iter()
            .collect(),
        group_key: Vec::new(),
        alert_group: Vec::new(),
        alert_window_secs: None,
        correlation: false,
        retrohunt: false,
        details: Value::Null,
    }
}

/// Turns an indicator hit into a match.
pub fn cti_match(hit: &CtiHit<'_>, ev: &Map<String, Value>, retrohunt: bool) -> Match {
    let ind = hit.indicator;
    let urgency = ind.confidence.unwrap_or(75);
    let severity = match urgency {
        90.. => "critical",
        70..=89 => "high",
        40..=69 => "medium",
        _ => "low",
    };
    let rule = RuleRef {
        id: ind.id.clone(),
        name: ind.name.clone(),
        author: ind.author.clone(),
        severity: severity.to_string(),
        kind: RuleType::Cti,
    };
    let mut m = base_match(rule, urgency, ev);
    m.description = ind.description.clone();
    m.retrohunt = retrohunt;
    m.details = serde_json::json!({"pattern": ind.pattern, "value": hit.value});
    m
}

/// Counters of the detection stage.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct DetectorStats {
    /// Events processed.
    pub events: u64,
    /// Sigma matches produced (detections and correlations).
    pub sigma_matches: u64,
    /// CTI matches produced.
    pub cti_matches: u64,
}

/// Sigma engine + CTI matcher over a stream of events.
pub struct Detector {
    engine: CorrelationEngine,
    engine_evaluates: bool,
    gated: GatedRules,
    meta: HashMap<String, RuleInfo>,
    infos: Vec<RuleInfo>,
    correlation_only: HashSet<String>,
    cti: Arc<CtiMatcher>,
    stats: DetectorStats,
}

impl Detector {
    /// Compiles a rule set (use [`RuleSet::builtin`] plus `add_dir` for `--rules DIR`).
    pub fn new(rules: &RuleSet) -> Result<Self, Error> {
        Self::from_compiled(rules.compile()?)
    }

    /// Compiles a rule set with every rule in rsigma's engine (no literal gate), the
    /// reference behaviour the gated detector must reproduce.
    pub fn new_ungated(rules: &RuleSet) -> Result<Self, Error> {
        Self::from_compiled(rules.compile_ungated()?)
    }

    fn from_compiled(c: crate::sigma::Compiled) -> Result<Self, Error> {
        Ok(Self {
            engine: c.engine,
            engine_evaluates: c.engine_evaluates,
            gated: c.gated,
            meta: c.meta,
            infos: c.infos,
            correlation_only: c.correlation_only,
            cti: Arc::new(CtiMatcher::empty()),
            stats: DetectorStats::default(),
        })
    }

    /// The shipped rules plus the given directories.
    pub fn with_dirs(dirs: &[std::path::PathBuf]) -> Result<Self, Error> {
        let mut set = RuleSet::builtin();
        for d in dirs {
            set.add_dir(d)?;
        }
        Self::new(&set)
    }

    /// Turns rsigma's bloom-filter pre-filter of substring matchers on or off (off by default).
    pub fn set_bloom_prefilter(&mut self, on: bool) {
        self.engine.set_bloom_prefilter(on);
    }

    /// Replaces the indicator matcher (after an import; cheap to share across threads).
    pub fn set_cti(&mut self, cti: Arc<CtiMatcher>) {
        self.cti = cti;
    }

    /// The verdict of every rule (loaded or unsupported, with reasons).
    pub fn rules(&self) -> &[RuleInfo] {
        &self.infos
    }

    /// Counters so far.
    pub fn stats(&self) -> DetectorStats {
        self.stats
    }

    /// Runs all rules and indicators on one ECS event.
    pub fn process(&mut self, ev: &Map<String, Value>) -> Vec<Match> {
        self.stats.events += 1;
        let event = EcsEvent::new(ev);
        // The correlation layer reads the event time and updates windows only for events
        // some rule matched; most events match none, so skip it for them.
        let mut detections = if self.engine_evaluates {
            self.engine.evaluate(&event)
        } else {
            Vec::new()
        };
        let mut gated = Vec::new();
        if !self.gated.is_empty() {
            let category = match event.get_field(SIGMA_CATEGORY_FIELD) {
                Some(EventValue::Str(c)) => Some(c),
                _ => None,
            };
            self.gated
                .evaluate(&event, category.as_deref(), &mut gated, &mut detections);
        }
        let mut results = if detections.is_empty() {
            Vec::new()
        } else {
            self.engine.correlate_detections(&event, detections)
        };
        results.append(&mut gated);
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            let key = r.header.rule_id.as_deref().unwrap_or(&r.header.rule_title);
            let info = self
                .meta
                .get(key)
                .or_else(|| self.meta.get(&r.header.rule_title));
            let level = r
                .header
                .level
                .map(|l| l.as_str().to_string())
                .or_else(|| info.and_then(|i| i.level.clone()))
                .unwrap_or_else(|| "medium".into());
            let rule = RuleRef {
                id: info
                    .map(|i| i.id.clone())
                    .unwrap_or_else(|| key.to_string()),
                name: r.header.rule_title.clone(),
                author: info.and_then(|i| i.author.clone()),
                severity: level.clone(),
                kind: RuleType::Sigma,
            };
            if !r.is_correlation() && self.correlation_only.contains(&rule.id) {
                continue;
            }
            let mut m = base_match(rule, level_urgency(&level), ev);
            m.description = info.and_then(|i| i.description.clone());
            m.alert_window_secs = info.and_then(|i| i.alert_window_secs);
            if !r.is_correlation() {
                let fields = info.and_then(|i| i.alert_group_by.as_ref());
                m.alert_group = match fields {
                    Some(f) => f
                        .iter()
                        .map(|f| (f.clone(), opt(ev, f).unwrap_or_default()))
                        .collect(),
                    None => DEFAULT_ALERT_GROUP_BY
                        .iter()
                        .map(|f| (f.to_string(), opt(ev, f).unwrap_or_default()))
                        .collect(),
                };
            }
            match &r.body {
                ResultBody::Detection(d) => {
                    m.details = serde_json::json!({
                        "matched_selections": d.matched_selections,
                        "matched_fields": d.matched_fields,
                    });
                }
                ResultBody::Correlation(c) => {
                    m.correlation = true;
                    m.group_key = c.group_key.clone();
                    if let Some(refs) = &c.event_refs {
                        let mut ids: Vec<String> =
                            refs.iter().filter_map(|r| r.id.clone()).collect();
                        for id in m.event_ids.drain(..) {
                            if !ids.contains(&id) {
                                ids.push(id);
                            }
                        }
                        m.event_ids = ids;
                    }
                    m.details = serde_json::json!({
                        "correlation_type": c.correlation_type.as_str(),
                        "aggregated_value": c.aggregated_value,
                        "timespan_secs": c.timespan_secs,
                    });
                }
            }
            out.push(m);
        }
        self.stats.sigma_matches += out.len() as u64;
        let before = out.len();
        for hit in self.cti.match_indexed(&event) {
            out.push(cti_match(&hit, ev, false));
        }
        self.stats.cti_matches += (out.len() - before) as u64;
        out
    }

    /// Same as [`Detector::process`] for an event held as a `Value` (non-objects match nothing).
    pub fn process_value(&mut self, ev: &Value) -> Vec<Match> {
        match ev {
            Value::Object(m) => self.process(m),
            _ => Vec::new(),
        }
    }
}
