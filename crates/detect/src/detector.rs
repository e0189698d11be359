//! The detection stage: every event goes through the Sigma engine (detections and
//! correlations) and the CTI matcher, and comes out as zero or more [`Match`]es that the
//! alert manager turns into alerts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rsigma_eval::result::ResultBody;
use rsigma_eval::{CorrelationEngine, EvaluationResult, Event, EventValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cti::{CtiHit, CtiMatcher};
use crate::event::{EcsEvent, SIGMA_CATEGORY_FIELD};
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

fn opt(ev: &EcsEvent<'_>, path: &str) -> Option<String> {
    ev.get_str(path).map(|c| c.into_owned())
}

/// Fills the event-derived fields of a match.
fn base_match(rule: RuleRef, urgency: u8, ev: &EcsEvent<'_>) -> Match {
    let source_ip = opt(ev, "source.ip");
    let destination_ip = opt(ev, "destination.ip");
    let dns_name = opt(ev, "dns.question.name");
    let user = opt(ev, "user.name").or_else(|| opt(ev, "user.email"));
    let domain = opt(ev, "url.domain")
        .or_else(|| opt(ev, "destination.domain"))
        .or_else(|| dns_name.clone());
    let timestamp = ev
        .get_str("@timestamp")
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
    cti_match_indexed(hit, &EcsEvent::new(ev), retrohunt)
}

/// [`cti_match`] on an indexed event.
fn cti_match_indexed(hit: &CtiHit<'_>, ev: &EcsEvent<'_>, retrohunt: bool) -> Match {
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

/// The rules' metadata, shared by a detector and its screens.
struct RuleMeta {
    /// Metadata of loaded rules, by id and by title.
    meta: HashMap<String, RuleInfo>,
    /// Ids of detection rules that only feed correlations (their own matches raise no alert).
    correlation_only: HashSet<String>,
    /// The fields correlations read of an event (None: any), see
    /// [`crate::sigma::Compiled::correlation_fields`].
    correlation_fields: Option<Vec<String>>,
}

/// The indicators in force, with a generation that changes at each replacement, shared by a
/// detector and its screens (a screen on a parse thread picks a replacement up at its next
/// event).
struct CtiSlot {
    current: std::sync::RwLock<(u64, Arc<CtiMatcher>)>,
    /// The generation in `current`, readable without the lock: a screen keeps its own
    /// handle on the indicators and takes the lock only when this changed (locking and
    /// cloning the handle on every event made two parse threads contend for its cache line).
    generation: std::sync::atomic::AtomicU64,
}

impl Default for CtiSlot {
    fn default() -> Self {
        CtiSlot {
            current: std::sync::RwLock::new((0, Arc::new(CtiMatcher::empty()))),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl CtiSlot {
    fn get(&self) -> (u64, Arc<CtiMatcher>) {
        let g = self.current.read().unwrap_or_else(|e| e.into_inner());
        (g.0, g.1.clone())
    }

    fn set(&self, cti: Arc<CtiMatcher>) -> u64 {
        let mut g = self.current.write().unwrap_or_else(|e| e.into_inner());
        g.0 += 1;
        g.1 = cti;
        self.generation
            .store(g.0, std::sync::atomic::Ordering::Release);
        g.0
    }

    /// The indicators in force with their generation, from `held` when it is of the
    /// current generation (else read, and kept in `held`).
    fn refresh<'h>(
        &self,
        held: &'h mut Option<(u64, Arc<CtiMatcher>)>,
    ) -> &'h (u64, Arc<CtiMatcher>) {
        let now = self.generation.load(std::sync::atomic::Ordering::Acquire);
        if held.as_ref().is_some_and(|(g, _)| *g != now) {
            *held = None;
        }
        held.get_or_insert_with(|| self.get())
    }
}

/// The half of detection that reads only the event, the rules and the indicators: the
/// detection rules that feed no correlation and the indicators. It can run anywhere, in
/// parallel (each thread with its own clone: the rules' memos are per clone); what it finds
/// goes to [`Detector::finish`], on the one thread that keeps what depends on the order of
/// events (correlations).
#[derive(Clone)]
pub struct Screen {
    gated: GatedRules,
    rules: Arc<RuleMeta>,
    cti: Arc<CtiSlot>,
    /// This screen's handle on the indicators of `cti` (see [`CtiSlot::refresh`]).
    held_cti: Option<(u64, Arc<CtiMatcher>)>,
    /// Whether rsigma's engine evaluates rules itself (then [`Detector::finish`] needs the
    /// event of every screened one).
    engine_evaluates: bool,
}

/// What a [`Screen`] found in one event, for [`Detector::finish`].
pub struct Screened {
    /// Matches of the stateless rules and of the indicators, final.
    matches: Vec<Match>,
    /// Results of the rules that feed correlations, for the correlation engine.
    correlated: Vec<rsigma_eval::EvaluationResult>,
    /// The event, kept only when the correlation engine needs it.
    event: Option<Map<String, Value>>,
    /// The generation of the indicators it was matched against.
    cti_generation: u64,
    /// The event's entity ([`ENTITY_FIELD`]), to rebuild the event for [`Screened::rematch_cti`].
    entity: Option<String>,
    sigma_matches: u64,
    cti_matches: u64,
}

impl Screened {
    /// The matches found so far (stateless rules and indicators).
    pub fn matches(&self) -> &[Match] {
        &self.matches
    }

    /// The generation of the indicators the event was matched against (see
    /// [`Detector::cti_generation`]).
    pub fn cti_generation(&self) -> u64 {
        self.cti_generation
    }

    /// The event's entity (its [`ENTITY_FIELD`]).
    pub fn entity(&self) -> Option<&str> {
        self.entity.as_deref()
    }

    /// Replaces the indicator matches with those of the detector's current indicators, for
    /// an event screened before they were replaced (`ev` is that event again).
    pub fn rematch_cti(&mut self, detector: &Detector, ev: &Map<String, Value>) {
        self.matches.retain(|m| m.rule.kind != RuleType::Cti);
        let (generation, cti) = detector.screen.cti.get();
        let event = EcsEvent::new(ev);
        let hits = cti.match_indexed(&event);
        self.cti_matches = hits.len() as u64;
        self.matches
            .extend(hits.iter().map(|hit| cti_match_indexed(hit, &event, false)));
        self.cti_generation = generation;
    }
}

impl Screen {
    /// Runs the stateless rules and the indicators on one ECS event.
    pub fn screen(&mut self, ev: &Map<String, Value>) -> Screened {
        self.screen_indexed(&EcsEvent::new(ev), &|| ev.clone())
    }

    /// [`Screen::screen`] on an indexed event (e.g. built from a flat event's leaves with
    /// [`EcsEvent::from_leaves`]); `to_map` gives the event as nested objects, asked only for
    /// an event the correlations need.
    pub fn screen_indexed(
        &mut self,
        event: &EcsEvent<'_>,
        to_map: &dyn Fn() -> Map<String, Value>,
    ) -> Screened {
        let ev = event;
        let mut gated = Vec::new();
        let mut correlated = Vec::new();
        if !self.gated.is_empty() {
            let category = match event.get_field(SIGMA_CATEGORY_FIELD) {
                Some(EventValue::Str(c)) => Some(c),
                _ => None,
            };
            self.gated
                .evaluate(event, category.as_deref(), &mut gated, &mut correlated);
        }
        let mut matches = Vec::with_capacity(gated.len());
        for r in gated {
            if let Some(m) = sigma_match(&self.rules, r, ev) {
                matches.push(m);
            }
        }
        let sigma_matches = matches.len() as u64;
        let (cti_generation, cti) = self.cti.refresh(&mut self.held_cti);
        let cti_generation = *cti_generation;
        for hit in cti.match_indexed(event) {
            matches.push(cti_match_indexed(&hit, ev, false));
        }
        let cti_matches = matches.len() as u64 - sigma_matches;
        // The correlation layer reads the event time and updates windows only for events
        // some rule matched; most events match none, and need no copy. Those it reads get
        // only the fields it reads.
        let event = if self.engine_evaluates {
            Some(to_map())
        } else if correlated.is_empty() {
            None
        } else {
            Some(match &self.rules.correlation_fields {
                Some(fields) => event.pick(fields),
                None => to_map(),
            })
        };
        Screened {
            matches,
            correlated,
            event,
            cti_generation,
            entity: opt(ev, ENTITY_FIELD),
            sigma_matches,
            cti_matches,
        }
    }
}

/// Turns a rule's result on `ev` into a match (None for a rule that only feeds correlations).
fn sigma_match(rules: &RuleMeta, r: EvaluationResult, ev: &EcsEvent<'_>) -> Option<Match> {
    let key = r.header.rule_id.as_deref().unwrap_or(&r.header.rule_title);
    let info = rules
        .meta
        .get(key)
        .or_else(|| rules.meta.get(&r.header.rule_title));
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
    if !r.is_correlation() && rules.correlation_only.contains(&rule.id) {
        return None;
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
                let mut ids: Vec<String> = refs.iter().filter_map(|r| r.id.clone()).collect();
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
    Some(m)
}

/// What the correlations need of one event: the event and the results of the rules that
/// feed them ([`Detector::split`]).
pub struct CorrelationInput {
    event: Map<String, Value>,
    detections: Vec<EvaluationResult>,
}

impl CorrelationInput {
    /// The key under which a shared correlation state remembers that this event was fed to
    /// it: the id the intake answered with, else `event.id` (None without either: such an
    /// event is fed again if delivered again).
    pub fn event_key(&self) -> Option<String> {
        let ev = EcsEvent::new(&self.event);
        opt(&ev, INTAKE_EVENT_ID_FIELD).or_else(|| opt(&ev, EVENT_ID_FIELD))
    }
}

/// Sigma engine + CTI matcher over a stream of events.
///
/// [`Detector::process`] does everything on one thread. To spread the work, each thread
/// takes a [`Detector::screen`] and runs [`Screen::screen`] on its events; the results go, in
/// the events' order, to [`Detector::finish`] (correlations), which gives the same matches.
pub struct Detector {
    engine: CorrelationEngine,
    infos: Vec<RuleInfo>,
    screen: Screen,
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
            infos: c.infos,
            screen: Screen {
                gated: c.gated,
                rules: Arc::new(RuleMeta {
                    meta: c.meta,
                    correlation_only: c.correlation_only,
                    correlation_fields: c.correlation_fields,
                }),
                cti: Arc::new(CtiSlot::default()),
                held_cti: None,
                engine_evaluates: c.engine_evaluates,
            },
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

    /// Replaces the indicator matcher (after an import), for this detector and every screen
    /// taken from it.
    pub fn set_cti(&mut self, cti: Arc<CtiMatcher>) {
        self.screen.cti.set(cti);
    }

    /// The generation of the indicators in force: it changes with each [`Detector::set_cti`].
    pub fn cti_generation(&self) -> u64 {
        self.screen.cti.get().0
    }

    /// A screen for another thread: the stateless half of this detector, which follows its
    /// indicator replacements.
    pub fn screen(&self) -> Screen {
        self.screen.clone()
    }

    /// The verdict of every rule (loaded or unsupported, with reasons).
    pub fn rules(&self) -> &[RuleInfo] {
        &self.infos
    }

    /// Counters so far.
    pub fn stats(&self) -> DetectorStats {
        self.stats
    }

    /// Completes the detection of a screened event: correlations (and rules rsigma's engine
    /// evaluates itself). Events must come in their order.
    pub fn finish(&mut self, screened: Screened) -> Vec<Match> {
        let (mut matches, input) = self.split(screened);
        if let Some(CorrelationInput { event, detections }) = input {
            // Owned here: the detections go to the engine without a copy.
            let mut out = self.correlate_owned(&event, detections);
            out.append(&mut matches);
            return out;
        }
        matches
    }

    /// The half of [`Detector::finish`] that keeps no state: the final matches of a screened
    /// event, and what the correlations need of it (None when no correlation rule matched).
    /// [`Detector::correlate`] completes it, in the events' order, here or on another node
    /// that holds the correlation state ([`Detector::correlation_state`]).
    pub fn split(&mut self, screened: Screened) -> (Vec<Match>, Option<CorrelationInput>) {
        let Screened {
            matches,
            correlated,
            event,
            sigma_matches,
            cti_matches,
            ..
        } = screened;
        self.stats.events += 1;
        self.stats.sigma_matches += sigma_matches;
        self.stats.cti_matches += cti_matches;
        let Some(ev) = event else {
            return (matches, None);
        };
        let mut detections = if self.screen.engine_evaluates {
            self.engine.evaluate(&EcsEvent::new(&ev))
        } else {
            Vec::new()
        };
        detections.extend(correlated);
        if detections.is_empty() {
            return (matches, None);
        }
        (
            matches,
            Some(CorrelationInput {
                event: ev,
                detections,
            }),
        )
    }

    /// Feeds one event's detections to the correlation state machines; returns the
    /// correlations that fired.
    pub fn correlate(&mut self, input: &CorrelationInput) -> Vec<Match> {
        self.correlate_owned(&input.event, input.detections.clone())
    }

    fn correlate_owned(
        &mut self,
        event: &Map<String, Value>,
        detections: Vec<EvaluationResult>,
    ) -> Vec<Match> {
        let event = EcsEvent::new(event);
        let out: Vec<Match> = self
            .engine
            .correlate_detections(&event, detections)
            .into_iter()
            .filter_map(|r| sigma_match(&self.screen.rules, r, &event))
            .collect();
        self.stats.sigma_matches += out.len() as u64;
        out
    }

    /// Whether any correlation rule is loaded.
    pub fn has_correlations(&self) -> bool {
        self.engine.correlation_rule_count() > 0
    }

    /// The state of every correlation (windows, suppression, event references), as JSON that
    /// [`Detector::set_correlation_state`] takes back, on this node or another one with the
    /// same rules.
    pub fn correlation_state(&self) -> Result<String, Error> {
        serde_json::to_string(&self.engine.export_state())
            .map_err(|e| Error::Rule(format!("correlation state: {e}")))
    }

    /// Replaces the correlation state with `snapshot` (from [`Detector::correlation_state`]),
    /// or empties it (None). A snapshot of another format version is refused, leaving the
    /// state empty.
    pub fn set_correlation_state(&mut self, snapshot: Option<&str>) -> Result<(), Error> {
        // Evicting at the end of time drops every window, buffer and suppression entry: the
        // engine has no other way to be emptied.
        self.engine.evict_expired(i64::MAX / 2);
        let Some(text) = snapshot else {
            return Ok(());
        };
        let snap: rsigma_eval::CorrelationSnapshot = serde_json::from_str(text)
            .map_err(|e| Error::Rule(format!("correlation state: {e}")))?;
        if !self.engine.import_state(snap) {
            return Err(Error::Rule(
                "correlation state of another format version".into(),
            ));
        }
        Ok(())
    }

    /// Runs all rules and indicators on one ECS event.
    pub fn process(&mut self, ev: &Map<String, Value>) -> Vec<Match> {
        let screened = self.screen.screen(ev);
        self.finish(screened)
    }

    /// Same as [`Detector::process`] for an event held as a `Value` (non-objects match nothing).
    pub fn process_value(&mut self, ev: &Value) -> Vec<Match> {
        match ev {
            Value::Object(m) => self.process(m),
            _ => Vec::new(),
        }
    }
}
