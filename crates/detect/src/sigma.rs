//! Sigma rule loading: the shipped ZIA pack (embedded), user directories, the ZIA field
//! mapping pipeline, and the verdict for every rule (loaded, or unsupported with a reason).
//!
//! Parsing and evaluation are done by `rsigma-parser` / `rsigma-eval` (MIT): they implement
//! every modifier the SigmaHQ rules use and Sigma v2 correlations, so we only add what is
//! specific to ziaxdr: which log sources ZIA produces, which taxonomy fields have an ECS
//! counterpart in ZIA events, and the rule metadata (author) that every alert must carry.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};
use rsigma_eval::pipeline::Pipeline;
use rsigma_eval::{CorrelationConfig, CorrelationEngine, CorrelationEventMode};
use rsigma_parser::{CorrelationRule, Detection, SigmaCollection, SigmaRule};
use serde::Serialize;

use crate::gate::GatedRules;
use crate::Error;

/// The shipped ZIA rule pack (YAML files under `crates/detect/rules/`).
pub static BUILTIN_RULES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/rules");

/// The processing pipeline mapping the Sigma taxonomy to ZIA's ECS fields.
pub const ZIA_PIPELINE_YAML: &str = include_str!("../pipelines/zia.yml");

/// Taxonomy fields with an ECS counterpart in ZIA proxy (web) events.
const PROXY_FIELDS: &[&str] = &[
    "c-uri",
    "cs-uri",
    "c-uri-query",
    "cs-uri-query",
    "c-uri-extension",
    "c-uri-stem",
    "cs-uri-stem",
    "c-useragent",
    "cs-host",
    "r-dns",
    "cs-method",
    "sc-status",
    "cs-referer",
    "cs-bytes",
    "sc-bytes",
    "src_ip",
    "dst_ip",
];
/// Taxonomy fields with an ECS counterpart in ZIA DNS events.
const DNS_FIELDS: &[&str] = &[
    "query",
    "answer",
    "record_type",
    "parent_domain",
    "dns_query",
    "src_ip",
    "dst_ip",
];
/// Taxonomy fields with an ECS counterpart in ZIA firewall events.
const FIREWALL_FIELDS: &[&str] = &[
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "action",
    "blocked",
    "message_size",
];
/// Zeek http fields we can map onto ZIA web events.
const ZEEK_HTTP_FIELDS: &[&str] = &[
    "uri",
    "host",
    "user_agent",
    "method",
    "status_code",
    "referrer",
    "request_body_len",
    "resp_mime_types",
    "id.orig_h",
    "id.resp_h",
    "id.resp_p",
];
/// Zeek dns fields we can map onto ZIA DNS events.
const ZEEK_DNS_FIELDS: &[&str] = &["query", "answers", "qtype_name", "id.orig_h", "id.resp_h"];

/// Whether a rule was loaded into the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadStatus {
    /// Compiled and evaluated on every event.
    Loaded,
    /// Not evaluated; `reason` says why.
    Unsupported,
}

/// Detection rule or correlation rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// A stateless detection rule.
    Detection,
    /// A Sigma v2 correlation rule (event_count, value_count, temporal...).
    Correlation,
}

/// What `ziaxdr rules list` shows about one rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    /// Rule id (the Sigma `id`, else its `name`, else its title).
    pub id: String,
    /// Rule title.
    pub title: String,
    /// Loaded or unsupported.
    pub status: LoadStatus,
    /// Why a rule is unsupported (None when loaded).
    pub reason: Option<String>,
    /// Rule author (the Detection Rule License requires it in alerts).
    pub author: Option<String>,
    /// Sigma level (informational..critical).
    pub level: Option<String>,
    /// Detection or correlation.
    pub kind: RuleKind,
    /// Where the rule came from (`builtin:<file>` or a path).
    pub source: String,
    /// The rule's logsource, as `product/category/service`.
    pub logsource: String,
    /// Correlation group-by fields (similarity key of its alerts).
    pub group_by: Vec<String>,
    /// Rule description.
    pub description: Option<String>,
    /// The fields that group this rule's matches into one alert (`ziaxdr_group_by`; None: the
    /// default, [`crate::detector::DEFAULT_ALERT_GROUP_BY`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_group_by: Option<Vec<String>>,
    /// How long one of its alerts gathers matches, in seconds (`ziaxdr_window`, e.g. `1h`;
    /// None: the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_window_secs: Option<u64>,
}

/// A rule's alert grouping, read from its custom attributes `ziaxdr_group_by` (a field or a
/// list of fields) and `ziaxdr_window` (`30m`, `1h`, `2d`...).
fn alert_grouping(
    attrs: &HashMap<String, yaml_serde::Value>,
) -> Result<(Option<Vec<String>>, Option<u64>), String> {
    let group_by = match attrs.get("ziaxdr_group_by") {
        None => None,
        Some(yaml_serde::Value::String(f)) => Some(vec![f.clone()]),
        Some(yaml_serde::Value::Sequence(fs)) => Some(
            fs.iter()
                .map(|f| f.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or("ziaxdr_group_by must be a field name or a list of field names")?,
        ),
        Some(_) => {
            return Err("ziaxdr_group_by must be a field name or a list of field names".into())
        }
    };
    let window = match attrs.get("ziaxdr_window") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .and_then(crate::parse_duration_secs)
                .ok_or("ziaxdr_window must be a duration such as 30m, 1h or 2d")?,
        ),
    };
    Ok((group_by, window))
}

/// A parsed rule document with its origin.
#[derive(Debug, Clone)]
enum Doc {
    Rule(Box<SigmaRule>),
    Correlation(Box<CorrelationRule>),
}

/// A set of rules read from the shipped pack and user directories, with a verdict per rule.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    docs: Vec<(Doc, String)>,
    broken: Vec<RuleInfo>,
    /// The YAML text of each source (file) added, by source name, for reading a rule's
    /// Sigma source in the console.
    texts: std::collections::HashMap<String, std::sync::Arc<str>>,
}

fn rule_key(id: &Option<String>, name: &Option<String>, title: &str) -> String {
    id.clone()
        .or_else(|| name.clone())
        .unwrap_or_else(|| title.to_string())
}

fn logsource_str(ls: &rsigma_parser::LogSource) -> String {
    [&ls.product, &ls.category, &ls.service]
        .iter()
        .map(|v| v.as_deref().unwrap_or("*"))
        .collect::<Vec<_>>()
        .join("/")
}

/// Collects every field name a detection tree references.
fn detection_fields(d: &Detection, out: &mut Vec<String>) {
    match d {
        Detection::AllOf(items) => {
            for item in items {
                if let Some(name) = &item.field.name {
                    out.push(name.clone());
                }
            }
        }
        Detection::AnyOf(ds) | Detection::And(ds) => {
            ds.iter().for_each(|d| detection_fields(d, out))
        }
        Detection::Keywords(_) => {}
        Detection::ArrayMatch { field, .. } => out.push(field.clone()),
        Detection::Conditional { named, .. } => {
            named.values().for_each(|d| detection_fields(d, out))
        }
    }
}

/// Decides whether ZIA events can satisfy a rule: its log source must be one ZIA produces and
/// every field it uses must have an ECS counterpart. Returns the reason when it cannot.
pub fn field_support(rule: &SigmaRule) -> Result<(), String> {
    let ls = &rule.logsource;
    let category = ls.category.as_deref().unwrap_or("");
    let service = ls.service.as_deref().unwrap_or("");
    if let Some(allowed) = taxonomy_fields(ls)? {
        let mut fields = Vec::new();
        for d in rule.detection.named.values() {
            detection_fields(d, &mut fields);
        }
        let mut missing: Vec<String> = fields
            .into_iter()
            .filter(|f| !allowed.contains(&f.as_str()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        missing.sort();
        if !missing.is_empty() {
            return Err(format!(
                "field(s) {} have no equivalent in ZIA {} logs",
                missing.join(", "),
                if category.is_empty() {
                    service
                } else {
                    category
                }
            ));
        }
    }
    if rule.detection.timeframe.is_some() {
        return Err("deprecated Sigma v1 aggregation (timeframe); use a correlation rule".into());
    }
    Ok(())
}

/// The taxonomy fields a rule of this logsource may use (None: any field, as for product
/// zscaler, whose rules name ECS fields), or why ZIA produces no such logs.
fn taxonomy_fields(
    ls: &rsigma_parser::LogSource,
) -> Result<Option<&'static [&'static str]>, String> {
    let product = ls.product.as_deref().unwrap_or("");
    let category = ls.category.as_deref().unwrap_or("");
    let service = ls.service.as_deref().unwrap_or("");
    Ok(match (product, category, service) {
        ("zscaler", _, _) => None,
        (_, "proxy", _) => Some(PROXY_FIELDS),
        (_, "dns", _) => Some(DNS_FIELDS),
        (_, "firewall", _) => Some(FIREWALL_FIELDS),
        ("zeek", _, "http") => Some(ZEEK_HTTP_FIELDS),
        ("zeek", _, "dns") => Some(ZEEK_DNS_FIELDS),
        _ => {
            return Err(format!(
                "logsource {} is not produced by ZIA (ziaxdr reads web/proxy, dns, firewall, \
                 tunnel, audit and casb logs; rules for them use category proxy|dns|firewall or \
                 product zscaler)",
                logsource_str(ls)
            ))
        }
    })
}

/// Whether the fields a correlation groups by and aggregates exist in the events of the rules
/// it refers to (`allowed`: those rules' taxonomy fields, None for any field). A correlation
/// over an absent field would load and never fire.
fn correlation_field_support(
    corr: &rsigma_parser::CorrelationRule,
    allowed: &[Option<&'static [&'static str]>],
) -> Result<(), String> {
    let mut fields: Vec<&String> = corr.group_by.iter().collect();
    if let rsigma_parser::CorrelationCondition::Threshold { field: Some(f), .. } = &corr.condition {
        fields.extend(f);
    }
    let mut missing: Vec<&str> = fields
        .into_iter()
        .filter(|f| allowed.iter().flatten().any(|a| !a.contains(&f.as_str())))
        .map(String::as_str)
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "correlation field(s) {} have no equivalent in the events of the rules it counts",
            missing.join(", ")
        ))
    }
}

/// The taxonomy-to-ECS field names of the ZIA pipeline, per logsource category (the first
/// ECS field where the pipeline names several).
fn category_field_maps() -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let Ok(doc) = yaml_serde::from_str::<yaml_serde::Value>(ZIA_PIPELINE_YAML) else {
        return out;
    };
    let Some(transformations) = doc.get("transformations").and_then(|t| t.as_sequence()) else {
        return out;
    };
    for t in transformations {
        if t.get("type").and_then(|v| v.as_str()) != Some("field_name_mapping") {
            continue;
        }
        let category = t
            .get("rule_conditions")
            .and_then(|c| c.as_sequence())
            .and_then(|c| c.first())
            .and_then(|c| c.get("category"))
            .and_then(|c| c.as_str());
        let (Some(category), Some(mapping)) =
            (category, t.get("mapping").and_then(|m| m.as_mapping()))
        else {
            continue;
        };
        let fields = out.entry(category.to_string()).or_default();
        for (from, to) in mapping {
            let to = to
                .as_str()
                .or_else(|| to.as_sequence().and_then(|s| s.first()?.as_str()));
            if let (Some(from), Some(to)) = (from.as_str(), to) {
                fields.insert(from.to_string(), to.to_string());
            }
        }
    }
    out
}

/// Renames a correlation's group-by and aggregated fields through `map`.
fn rename_correlation_fields(
    corr: &mut rsigma_parser::CorrelationRule,
    map: &HashMap<String, String>,
) {
    let rename = |f: &mut String| {
        if let Some(to) = map.get(f.as_str()) {
            *f = to.clone();
        }
    };
    corr.group_by.iter_mut().for_each(rename);
    if let rsigma_parser::CorrelationCondition::Threshold { field: Some(f), .. } =
        &mut corr.condition
    {
        f.iter_mut().for_each(rename);
    }
}

impl RuleSet {
    /// An empty rule set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shipped ZIA rule pack.
    pub fn builtin() -> Self {
        let mut set = Self::new();
        let mut files: Vec<_> = BUILTIN_RULES
            .files()
            .filter(|f| is_yaml(f.path()))
            .collect();
        files.sort_by_key(|f| f.path().to_path_buf());
        for f in files {
            let src = format!("builtin:{}", f.path().display());
            match f.contents_utf8() {
                Some(text) => set.add_yaml(text, &src),
                None => set.broken.push(broken_info(&src, "not UTF-8")),
            }
        }
        set
    }

    /// Adds every `*.yml`/`*.yaml` file under `dir` (recursively).
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), Error> {
        let mut files = Vec::new();
        walk_yaml(dir, &mut files, 0)?;
        files.sort();
        for path in files {
            self.add_file(&path)?;
        }
        Ok(())
    }

    /// Adds one rule file (it may hold several YAML documents).
    pub fn add_file(&mut self, path: &Path) -> Result<(), Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io(path.into(), e))?;
        self.add_yaml(&text, &path.display().to_string());
        Ok(())
    }

    /// Adds the rules in a YAML text (`source` names it in reports).
    pub fn add_yaml(&mut self, text: &str, source: &str) {
        self.texts.insert(source.to_string(), text.into());
        let before = self.broken.len();
        // A Sigma v1 aggregation rule is loaded as the v2 correlation that means the same.
        let translated = crate::legacy::translate(text);
        match rsigma_parser::parse_sigma_yaml(translated.as_deref().unwrap_or(text)) {
            Ok(col) => self.add_collection(col, source),
            Err(e) => self.broken.push(broken_info(source, &e.to_string())),
        }
        // A document that did not parse still has its id and title in the text: report them.
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        };
        for b in &mut self.broken[before..] {
            if let Some(id) = field("id:") {
                b.id = id;
            }
            if let Some(title) = field("title:") {
                b.title = title;
            }
        }
    }

    /// The Sigma YAML of the rule whose [`RuleInfo`] this is: the document of its file
    /// naming its id (or title), else the whole file; None when the file is unknown.
    pub fn source_text(&self, info: &RuleInfo) -> Option<String> {
        let text = self.texts.get(&info.source)?;
        let docs: Vec<&str> = text.split("\n---").collect();
        if docs.len() == 1 {
            return Some(text.to_string());
        }
        let names = |d: &str, key: &str, want: &str| {
            d.lines().any(|l| {
                l.strip_prefix(key)
                    .is_some_and(|v| v.trim().trim_matches(|c| c == '\'' || c == '"') == want)
            })
        };
        let found = docs
            .iter()
            .find(|d| names(d, "id:", &info.id))
            .or_else(|| docs.iter().find(|d| names(d, "title:", &info.title)));
        Some(found.map_or_else(
            || text.to_string(),
            |d| d.trim_start_matches('\n').to_string(),
        ))
    }

    /// The rule with this id alone, plus the rules it references when it is a correlation;
    /// None when no rule has this id.
    pub fn subset(&self, id: &str) -> Option<RuleSet> {
        let doc_key = |d: &Doc| match d {
            Doc::Rule(r) => rule_key(&r.id, &r.name, &r.title),
            Doc::Correlation(c) => rule_key(&c.id, &c.name, &c.title),
        };
        let (doc, source) = self.docs.iter().find(|(d, _)| doc_key(d) == id)?;
        let mut out = RuleSet::new();
        if let Doc::Correlation(c) = doc {
            for (d, src) in &self.docs {
                if let Doc::Rule(r) = d {
                    let names = [&r.id, &r.name, &Some(r.title.clone())];
                    if names.into_iter().flatten().any(|n| c.rules.contains(n)) {
                        out.docs.push((d.clone(), src.clone()));
                    }
                }
            }
        }
        out.docs.push((doc.clone(), source.clone()));
        Some(out)
    }

    fn add_collection(&mut self, col: SigmaCollection, source: &str) {
        for err in &col.errors {
            self.broken.push(broken_info(source, err));
        }
        if !col.filters.is_empty() {
            self.broken.push(broken_info(
                source,
                "Sigma filter documents are not applied by ziaxdr",
            ));
        }
        for r in col.rules {
            self.docs.push((Doc::Rule(Box::new(r)), source.to_string()));
        }
        for c in col.correlations {
            self.docs
                .push((Doc::Correlation(Box::new(c)), source.to_string()));
        }
    }

    /// Compiles the rule set: returns the detector engine, the metadata of loaded rules and a
    /// verdict for every rule. Detection rules no correlation refers to are evaluated outside
    /// the engine, only when their gate holds when they have one (see [`crate::gate`]).
    pub fn compile(&self) -> Result<Compiled, Error> {
        self.compile_with(true)
    }

    /// Like [`RuleSet::compile`], with every rule in rsigma's engine (no gate): the reference
    /// the gated evaluation is compared with.
    pub fn compile_ungated(&self) -> Result<Compiled, Error> {
        self.compile_with(false)
    }

    fn compile_with(&self, gating: bool) -> Result<Compiled, Error> {
        let pipeline = zia_pipeline()?;
        // Rules a correlation refers to must feed the engine's correlation state.
        let referenced: HashSet<&str> = self
            .docs
            .iter()
            .filter_map(|(d, _)| match d {
                Doc::Correlation(c) => Some(c.rules.iter().map(String::as_str)),
                Doc::Rule(_) => None,
            })
            .flatten()
            .collect();
        // Compiles each rule through the same pipeline to read its gate.
        let mut probe = rsigma_eval::Engine::new_with_pipeline(zia_pipeline()?);
        let mut gated = GatedRules::default();
        // Correlations keep references to their events (the `event.id` field) so that an
        // alert can list the events that made it fire, at ~40 bytes per event. Rules that
        // only feed correlations (e.g. "any DNS query") must not raise alerts on their own;
        // a correlation can still ask for them with `generate: true`.
        let config = CorrelationConfig {
            correlation_event_mode: CorrelationEventMode::Refs,
            max_correlation_events: 50,
            emit_detections: false,
            ..Default::default()
        };
        let mut engine = CorrelationEngine::new(config);
        engine.add_pipeline(pipeline);
        // Logsource pruning: an event only meets the rules of its category (and the
        // category-less ones: the shipped pack, Zeek rules). Product and service are read from
        // fields that never exist, so they never prune.
        engine.set_logsource_extractor(Some(
            rsigma_eval::LogSourceExtractor::new().with_field_names(
                "ziaxdr.sigma_product",
                "ziaxdr.sigma_service",
                crate::event::SIGMA_CATEGORY_FIELD,
            ),
        ));
        let mut infos = self.broken.clone();
        let mut engine_evaluates = false;
        let mut meta = HashMap::new();
        // Loaded rules by every name they go by, with the fields their events have.
        let mut loaded_keys: HashMap<String, (Option<&[&str]>, Option<String>)> = HashMap::new();
        let field_maps = category_field_maps();
        let mut correlation_only_refs: Vec<String> = Vec::new();
        // The fields the correlations read of an event (see `Compiled::correlation_fields`);
        // None when one of them cannot be told.
        let mut correlation_fields: Option<BTreeSet<String>> = Some(
            CORRELATION_BASE_FIELDS
                .iter()
                .map(|f| f.to_string())
                .collect(),
        );
        for (doc, source) in &self.docs {
            let Doc::Rule(rule) = doc else { continue };
            let mut info = RuleInfo {
                id: rule_key(&rule.id, &rule.name, &rule.title),
                title: rule.title.clone(),
                status: LoadStatus::Loaded,
                reason: None,
                author: rule.author.clone(),
                level: rule.level.map(|l| l.as_str().to_string()),
                kind: RuleKind::Detection,
                source: source.clone(),
                logsource: logsource_str(&rule.logsource),
                group_by: Vec::new(),
                description: rule.description.clone(),
                alert_group_by: None,
                alert_window_secs: None,
            };
            let verdict = alert_grouping(&rule.custom_attributes)
                .map(|(g, w)| {
                    info.alert_group_by = g;
                    info.alert_window_secs = w;
                })
                .and_then(|()| field_support(rule))
                .and_then(|()| {
                    let is_referenced = [&rule.id, &rule.name, &Some(rule.title.clone())]
                        .into_iter()
                        .flatten()
                        .any(|k| referenced.contains(k.as_str()));
                    if gating {
                        let before = probe.rule_count();
                        probe.add_rule(rule).map_err(|e| e.to_string())?;
                        if probe.rule_count() == before + 1 {
                            let c = &probe.rules()[before];
                            gated.add(c.clone(), GatedRules::route(c), is_referenced);
                            if !is_referenced {
                                return Ok(());
                            }
                            // The engine still knows the rule, to tie its results to the
                            // correlations that refer to it, but does not evaluate it.
                        } else {
                            engine_evaluates = true;
                        }
                    } else {
                        engine_evaluates = true;
                    }
                    engine.add_rule(rule).map_err(|e| e.to_string())
                });
            match verdict {
                Ok(()) => {
                    for key in [&rule.id, &rule.name, &Some(rule.title.clone())]
                        .into_iter()
                        .flatten()
                    {
                        loaded_keys.insert(
                            key.clone(),
                            (
                                taxonomy_fields(&rule.logsource).ok().flatten(),
                                rule.logsource.category.clone(),
                            ),
                        );
                    }
                    meta.insert(info.title.clone(), info.clone());
                    for key in [&rule.id, &rule.name].into_iter().flatten() {
                        meta.insert(key.clone(), info.clone());
                    }
                }
                Err(reason) => {
                    info.status = LoadStatus::Unsupported;
                    info.reason = Some(reason);
                }
            }
            infos.push(info);
        }
        for (doc, source) in &self.docs {
            let Doc::Correlation(corr) = doc else {
                continue;
            };
            let mut info = RuleInfo {
                id: rule_key(&corr.id, &corr.name, &corr.title),
                title: corr.title.clone(),
                status: LoadStatus::Loaded,
                reason: None,
                author: corr.author.clone(),
                level: corr.level.map(|l| l.as_str().to_string()),
                kind: RuleKind::Correlation,
                source: source.clone(),
                logsource: "correlation".into(),
                group_by: corr.group_by.clone(),
                description: corr.description.clone(),
                alert_group_by: None,
                alert_window_secs: alert_grouping(&corr.custom_attributes)
                    .ok()
                    .and_then(|(_, w)| w),
            };
            let missing: Vec<&String> = corr
                .rules
                .iter()
                .filter(|r| !loaded_keys.contains_key(*r))
                .collect();
            let verdict = if missing.is_empty() {
                let allowed: Vec<_> = corr.rules.iter().map(|r| loaded_keys[r].0).collect();
                // The pipeline renames the fields of detection rules, not of correlations
                // (they have no logsource): a correlation over taxonomy fields is renamed
                // here, by the category of the rules it counts.
                let categories: HashSet<_> = corr
                    .rules
                    .iter()
                    .map(|r| loaded_keys[r].1.as_deref())
                    .collect();
                correlation_field_support(corr, &allowed).and_then(|()| {
                    let mut corr = corr.clone();
                    if let [Some(category)] = categories.into_iter().collect::<Vec<_>>()[..] {
                        if let Some(map) = field_maps.get(category) {
                            rename_correlation_fields(&mut corr, map);
                        }
                    }
                    engine.add_correlation(&corr).map_err(|e| e.to_string())?;
                    if let Some(fields) = &mut correlation_fields {
                        if !read_by_correlation(&corr, fields) {
                            correlation_fields = None;
                        }
                    }
                    Ok(())
                })
            } else {
                Err(format!(
                    "references rule(s) that are not loaded: {}",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            };
            match verdict {
                Ok(()) => {
                    meta.insert(info.title.clone(), info.clone());
                    if let Some(id) = &corr.id {
                        meta.insert(id.clone(), info.clone());
                    }
                    if !corr.generate {
                        correlation_only_refs.extend(corr.rules.iter().cloned());
                    }
                }
                Err(reason) => {
                    info.status = LoadStatus::Unsupported;
                    info.reason = Some(reason);
                }
            }
            infos.push(info);
        }
        // Rules that only feed correlations (generate: false, the default) raise no alerts of
        // their own. rsigma filters them by the reference as written, which misses rules
        // referenced by `name`; resolve every reference to the rule id here.
        let correlation_only = correlation_only_refs
            .iter()
            .filter_map(|r| meta.get(r).map(|i| i.id.clone()))
            .collect();
        gated.build(&correlation_only)?;
        if let Some(fields) = &mut correlation_fields {
            // A detection a correlation generates (`generate: true`) becomes an alert
            // grouped by its rule's fields; an attribute of a rule may name the timestamp.
            for info in meta.values() {
                fields.extend(info.alert_group_by.iter().flatten().cloned());
            }
            for (doc, _) in &self.docs {
                let attrs = match doc {
                    Doc::Rule(r) => &r.custom_attributes,
                    Doc::Correlation(c) => &c.custom_attributes,
                };
                if let Some(f) = attrs.get(TIMESTAMP_ATTRIBUTE).and_then(|v| v.as_str()) {
                    fields.insert(f.to_string());
                }
            }
        }
        Ok(Compiled {
            engine,
            // Rules rsigma evaluates itself read any field.
            correlation_fields: correlation_fields
                .filter(|_| !engine_evaluates)
                .map(|f| f.into_iter().collect()),
            engine_evaluates,
            gated,
            meta,
            infos,
            correlation_only,
        })
    }
}

/// The result of compiling a [`RuleSet`].
pub struct Compiled {
    /// The evaluation engine (detection + correlation state).
    pub engine: CorrelationEngine,
    /// Whether the engine evaluates rules itself (false: it only correlates the results of
    /// the rules in `gated` that feed correlations).
    pub engine_evaluates: bool,
    /// Detection rules evaluated outside the engine, when their gate holds.
    pub gated: GatedRules,
    /// Metadata of loaded rules, by id and by title.
    pub meta: HashMap<String, RuleInfo>,
    /// Verdict for every rule, in load order.
    pub infos: Vec<RuleInfo>,
    /// Ids of detection rules that only feed correlations (their matches raise no alert).
    pub correlation_only: HashSet<String>,
    /// Every field the correlations, and the matches they make, read of an event (None:
    /// any field). The event a correlation gets is cut down to them on the parse threads:
    /// copying whole events (a hundred values each) for the writing thread, then indexing
    /// and freeing them there, was most of that thread's work with detection.
    pub correlation_fields: Option<Vec<String>>,
}

/// The fields every correlation reads: rsigma's timestamp fields
/// (`CorrelationConfig::default().timestamp_fields`), the event ids a correlation keeps, and
/// what a match is made of (`detector::base_match`, the virtual fields of `event`).
const CORRELATION_BASE_FIELDS: &[&str] = &[
    "@timestamp",
    "timestamp",
    "EventTime",
    "TimeCreated",
    "eventTime",
    "event.id",
    "ziaxdr.event_id",
    "ziaxdr.entity",
    "source.ip",
    "destination.ip",
    "dns.question.name",
    "user.name",
    "user.email",
    "url.domain",
    "destination.domain",
    "event.dataset",
    "event.action",
];

/// The custom attribute naming the field rsigma reads an event's time from.
const TIMESTAMP_ATTRIBUTE: &str = "rsigma.timestamp_field";

/// Adds the fields `corr` (as its engine compiled it) reads of an event to `fields`: its
/// group-by fields and their aliases, and the field it counts or sums. False when its
/// fields cannot be told (the pipeline fails on it).
fn read_by_correlation(corr: &CorrelationRule, fields: &mut BTreeSet<String>) -> bool {
    let mut corr = corr.clone();
    let Ok(pipeline) = zia_pipeline() else {
        return false;
    };
    if rsigma_eval::pipeline::apply_pipelines_to_correlation(&[pipeline], &mut corr).is_err() {
        return false;
    }
    fields.extend(corr.group_by.iter().cloned());
    for a in &corr.aliases {
        fields.insert(a.alias.clone());
        fields.extend(a.mapping.values().cloned());
    }
    if let rsigma_parser::CorrelationCondition::Threshold {
        field: Some(counted),
        ..
    } = &corr.condition
    {
        fields.extend(counted.iter().cloned());
    }
    true
}

/// Parses the embedded ZIA pipeline.
pub fn zia_pipeline() -> Result<Pipeline, Error> {
    rsigma_eval::parse_pipeline(ZIA_PIPELINE_YAML).map_err(|e| Error::Rule(e.to_string()))
}

fn broken_info(source: &str, reason: &str) -> RuleInfo {
    // Parser errors span several lines (with a caret diagram); reports keep one line.
    let mut reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if reason.contains("Condition parse error") && reason.contains("| ") {
        reason = format!(
            "deprecated Sigma v1 aggregation in the condition (`| count() ...`), which Sigma v2 \
             expresses as a correlation rule: {reason}"
        );
    }
    RuleInfo {
        id: String::new(),
        title: Path::new(source)
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| source.to_string()),
        status: LoadStatus::Unsupported,
        reason: Some(reason),
        author: None,
        level: None,
        kind: RuleKind::Detection,
        source: source.to_string(),
        logsource: String::new(),
        group_by: Vec::new(),
        description: None,
        alert_group_by: None,
        alert_window_secs: None,
    }
}

fn is_yaml(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yml") | Some("yaml")
    )
}

/// Directory depth limit for rule trees (a SigmaHQ checkout is 6 levels deep).
const MAX_DIR_DEPTH: usize = 16;

fn walk_yaml(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), Error> {
    if depth > MAX_DIR_DEPTH {
        return Ok(());
    }
    let meta = std::fs::metadata(dir).map_err(|e| Error::Io(dir.into(), e))?;
    if meta.is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(|e| Error::Io(dir.into(), e))? {
        let entry = entry.map_err(|e| Error::Io(dir.into(), e))?;
        let path = entry.path();
        if path.is_dir() {
            walk_yaml(&path, out, depth + 1)?;
        } else if is_yaml(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Lints rule files with the Sigma specification checks of `rsigma-parser`.
pub fn lint_text(text: &str) -> Vec<String> {
    rsigma_parser::lint_yaml_str(text)
        .into_iter()
        .map(|w| w.to_string())
        .collect()
}
