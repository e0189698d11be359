//! A sharper candidate filter in front of rsigma for detection rules that need a literal in
//! a field.
//!
//! rsigma keeps, per rule, one necessary condition (a "witness") and evaluates the rules
//! whose witness an event satisfies. Between the conjuncts of a rule it prefers an exact
//! value to a substring, which on proxy logs is the wrong choice: `cs-method: GET` holds on
//! most web events, `c-uri|contains: '/bot'` on almost none, yet the rule is gated on GET and
//! evaluated on every GET request. This module computes the same kind of necessary
//! condition from the compiled rule (the very matchers rsigma evaluates, after the ZIA
//! pipeline) but ranks literals by what they select on ZIA events: a literal in a field with
//! a handful of values (method, action, status...) or a very short literal is the last
//! resort. A rule whose every match needs one of its literals in one field (case-folded
//! containment, which equality, prefix and suffix also imply) is taken out of the rsigma
//! engine and evaluated by [`rsigma_eval::evaluate_rule`] only when an Aho-Corasick scan of
//! that field finds one of the literals. A literal in `event.dataset` is a gate too, of last
//! resort: it selects a whole log type, but one scan of a short value is cheaper than rsigma's
//! candidate index for the rules it keeps off the other log types.
//!
//! Rules whose condition has a necessary part reading one field only (user-agent lists and
//! patterns, with or without exceptions on other fields; `event.action: blocked`;
//! `threat.name` present and not `None`) are memoized when they have no selective gate in
//! another field: that part's verdict depends on the field's value alone (absence included),
//! and values such as user agents, actions or ports repeat from event to event, so it is
//! computed once per distinct value, and the rule is a candidate only on the events whose
//! value satisfies it.
//!
//! The remaining detection rules are candidates on every event. Every rule taken out of the
//! engine goes through [`fold_case`], which makes its case-insensitive comparisons
//! allocation-free, and each candidate is first checked by a precheck of its condition (no result built);
//! rsigma builds the result of the few that fire. The rules a correlation refers to are
//! evaluated here too; their results go to the engine's correlation layer (which still knows
//! them, but no longer evaluates them).
//!
//! The analysis only ever weakens (anything it does not understand leaves the rule in the
//! engine), mirroring rsigma's own `witness` module; the differential test
//! `gating_never_changes_what_fires` checks it against the ungated engine.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use rsigma_eval::matcher::GroupMode;
use rsigma_eval::result::EvaluationResult;
use rsigma_eval::{
    CompiledDetection, CompiledDetectionItem, CompiledMatcher, CompiledRule, Event, EventValue,
};
use rsigma_parser::{ConditionExpr, Quantifier};

/// Fields whose values are few (a literal in them selects little on ZIA events).
const LOW_CARDINALITY: &[&str] = &[
    "http.request.method",
    "http.response.status_code",
    "event.action",
    "event.dataset",
    "event.outcome",
    "event.kind",
    "dns.question.type",
    "network.protocol",
    "network.transport",
    "zscaler.zia.threat.name",
];

/// Field naming the log type: a literal in it selects a whole dataset (most events for
/// `web`), yet it is checked with one short scan, where rsigma would evaluate the rule.
const DATASET_FIELD: &str = "event.dataset";
/// Cost of a dataset gate: taken only when the rule offers nothing more selective.
const DATASET_COST: u8 = 180;

/// Fields whose values repeat from event to event (memos hit).
const REPEATING: &[&str] = &[
    "user_agent.original",
    "http.request.method",
    "http.response.status_code",
    "event.action",
    "event.outcome",
    "dns.question.type",
    "network.protocol",
    "network.transport",
    "zscaler.zia.threat.name",
    "zscaler.zia.dlpengine",
    "destination.port",
];

/// Literals shorter than this select too much to be worth a gate.
const MIN_GATE_LEN: usize = 2;
/// Literals shorter than this are a gate of last resort (`.ru`, `.cn`: still rare in most
/// fields).
const SHORT_LEN: usize = 4;
/// Gates whose worst literal costs this much are not taken.
const REJECT_COST: u8 = 190;

/// A necessary condition: the field contains (ASCII case-insensitively) one of the literals.
type Gate = Vec<(String, String)>;

/// Cost of a literal as a gate (lower is more selective).
fn cost(field: &str, literal: &str) -> u8 {
    if field == DATASET_FIELD {
        DATASET_COST
    } else if LOW_CARDINALITY.contains(&field) {
        200
    } else if literal.len() < MIN_GATE_LEN {
        REJECT_COST
    } else if literal.len() < SHORT_LEN {
        150
    } else {
        // Longer literals select more; the cap keeps the ranking coarse.
        100 - literal.len().min(40) as u8
    }
}

/// A gate is as good as its least selective literal, then as its size.
fn score(g: &Gate) -> (u8, usize) {
    let worst = g.iter().map(|(f, l)| cost(f, l)).max().unwrap_or(u8::MAX);
    (worst, g.len())
}

/// OR: every alternative must contribute; one without a gate opens the whole.
fn or_all(parts: impl IntoIterator<Item = Option<Gate>>) -> Option<Gate> {
    let mut union = Gate::new();
    for p in parts {
        union.extend(p?);
    }
    (!union.is_empty()).then_some(union)
}

/// AND: any conjunct's gate is necessary; keep the most selective.
fn and_best(parts: impl IntoIterator<Item = Option<Gate>>) -> Option<Gate> {
    parts
        .into_iter()
        .flatten()
        .filter(|g| !g.is_empty())
        .min_by_key(score)
}

/// The literal in the folded form the scan compares, or None when it cannot be folded
/// faithfully (non-ASCII with case sensitivity, as rsigma's own index does).
fn fold(value: &str, case_insensitive: bool) -> Option<String> {
    if value.is_empty() {
        None
    } else if case_insensitive {
        Some(value.to_string())
    } else if value.is_ascii() {
        Some(value.to_ascii_lowercase())
    } else {
        None
    }
}

fn matcher_gate(m: &CompiledMatcher, field: &str) -> Option<Gate> {
    match m {
        CompiledMatcher::Exact {
            value,
            case_insensitive,
        }
        | CompiledMatcher::Contains {
            value,
            case_insensitive,
        }
        | CompiledMatcher::StartsWith {
            value,
            case_insensitive,
        }
        | CompiledMatcher::EndsWith {
            value,
            case_insensitive,
        } => fold(value, *case_insensitive).map(|v| vec![(field.to_string(), v)]),
        CompiledMatcher::AhoCorasickSet {
            needles,
            case_insensitive,
            ..
        } => or_all(
            needles
                .iter()
                .map(|n| fold(n, *case_insensitive).map(|v| vec![(field.to_string(), v)])),
        ),
        CompiledMatcher::AnyOf(children) => or_all(children.iter().map(|c| matcher_gate(c, field))),
        CompiledMatcher::AllOf(children) => {
            and_best(children.iter().map(|c| matcher_gate(c, field)))
        }
        CompiledMatcher::CaseInsensitiveGroup { children, mode } => {
            let parts = children.iter().map(|c| matcher_gate(c, field));
            match mode {
                GroupMode::Any => or_all(parts),
                GroupMode::All => and_best(parts),
            }
        }
        CompiledMatcher::Regex(re) => regex_gate(re.as_str(), field),
        CompiledMatcher::RegexSetMatch { set, mode } => {
            let parts = set.patterns().iter().map(|p| regex_gate(p, field));
            match mode {
                GroupMode::Any => or_all(parts),
                GroupMode::All => and_best(parts),
            }
        }
        // Numbers, CIDR, negation, null, field references...: no literal is guaranteed to
        // appear in the value.
        _ => None,
    }
}

/// Literals every match of a regex contains (an OR-set), as rsigma's own index extracts
/// them; a regex is matched on the raw value, so the literals are cased: ASCII ones fold,
/// a non-ASCII one leaves the regex without a gate.
fn regex_gate(pattern: &str, field: &str) -> Option<Gate> {
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    let lits = mandatory_literals(&hir)?;
    or_all(
        lits.iter()
            .map(|l| fold(l, false).map(|v| vec![(field.to_string(), v)])),
    )
}

fn mandatory_literals(hir: &regex_syntax::hir::Hir) -> Option<Vec<String>> {
    use regex_syntax::hir::HirKind;
    match hir.kind() {
        HirKind::Literal(lit) => {
            let s = std::str::from_utf8(&lit.0).ok()?;
            (!s.is_empty()).then(|| vec![s.to_string()])
        }
        // AND: any child's set is mandatory; keep the one whose shortest literal is longest.
        HirKind::Concat(children) => {
            children
                .iter()
                .filter_map(mandatory_literals)
                .max_by_key(|lits| {
                    (
                        lits.iter().map(String::len).min().unwrap_or(0),
                        std::cmp::Reverse(lits.len()),
                    )
                })
        }
        // OR: every branch must contribute.
        HirKind::Alternation(children) => {
            let mut union = Vec::new();
            for child in children {
                union.extend(mandatory_literals(child)?);
            }
            Some(union)
        }
        HirKind::Repetition(rep) if rep.min >= 1 => mandatory_literals(&rep.sub),
        HirKind::Capture(cap) => mandatory_literals(&cap.sub),
        _ => None,
    }
}

fn detection_gate(d: &CompiledDetection) -> Option<Gate> {
    match d {
        CompiledDetection::AllOf(items) => and_best(items.iter().map(|item| {
            let field = item.field.as_deref()?;
            if item.exists.is_some() {
                return None;
            }
            matcher_gate(&item.matcher, field)
        })),
        CompiledDetection::AnyOf(subs) if !subs.is_empty() => {
            or_all(subs.iter().map(detection_gate))
        }
        CompiledDetection::And(subs) => and_best(subs.iter().map(detection_gate)),
        _ => None,
    }
}

fn condition_gate(c: &ConditionExpr, rule: &CompiledRule) -> Option<Gate> {
    let dets = &rule.detections;
    match c {
        ConditionExpr::Identifier(name) => detection_gate(dets.get(name)?),
        ConditionExpr::And(parts) => and_best(parts.iter().map(|p| condition_gate(p, rule))),
        ConditionExpr::Or(parts) => or_all(parts.iter().map(|p| condition_gate(p, rule))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let selected: Vec<&CompiledDetection> = dets
                .iter()
                .filter(|(name, _)| pattern.matches_detection_name(name))
                .map(|(_, d)| d)
                .collect();
            match quantifier {
                Quantifier::All if selected.is_empty() => None,
                Quantifier::Count(0) => None,
                Quantifier::All => and_best(selected.into_iter().map(detection_gate)),
                Quantifier::Any | Quantifier::Count(_) => {
                    or_all(selected.into_iter().map(detection_gate))
                }
            }
        }
    }
}

/// The gate of a compiled rule, when it has a selective one (None: leave it to rsigma).
pub fn rule_gate(rule: &CompiledRule) -> Option<Vec<(String, String)>> {
    if rule.conditions.is_empty() {
        return None;
    }
    let mut g = or_all(rule.conditions.iter().map(|c| condition_gate(c, rule)))?;
    // A gate with a literal most events carry would not prune: not worth a second index.
    if score(&g).0 >= REJECT_COST {
        return None;
    }
    g.sort();
    g.dedup();
    Some(g)
}

/// Whether a gate holds only dataset literals (it selects whole log types).
pub fn gate_is_dataset_only(gate: &[(String, String)]) -> bool {
    gate.iter().all(|(f, _)| f == DATASET_FIELD)
}

/// Whether a matcher's result depends on the value of its own field only.
fn self_contained(m: &CompiledMatcher) -> bool {
    match m {
        CompiledMatcher::FieldRef { .. } | CompiledMatcher::Expand { .. } => false,
        CompiledMatcher::Not(inner) => self_contained(inner),
        CompiledMatcher::TimestampPart { inner, .. } => self_contained(inner),
        CompiledMatcher::AnyOf(children)
        | CompiledMatcher::AllOf(children)
        | CompiledMatcher::CaseInsensitiveGroup { children, .. } => {
            children.iter().all(self_contained)
        }
        _ => true,
    }
}

fn detection_fields<'r>(d: &'r CompiledDetection, out: &mut Vec<&'r str>) -> bool {
    match d {
        CompiledDetection::AllOf(items) => items.iter().all(|i| match i.field.as_deref() {
            Some(f) if self_contained(&i.matcher) => {
                out.push(f);
                true
            }
            _ => false,
        }),
        CompiledDetection::AnyOf(subs) | CompiledDetection::And(subs) => {
            subs.iter().all(|s| detection_fields(s, out))
        }
        _ => false,
    }
}

/// The one field a rule reads, when its verdict depends on that field's value alone.
pub fn single_field(rule: &CompiledRule) -> Option<String> {
    let mut fields = Vec::new();
    for d in rule.detections.values() {
        if !detection_fields(d, &mut fields) {
            return None;
        }
    }
    let first = *fields.first()?;
    fields
        .iter()
        .all(|f| *f == first)
        .then(|| first.to_string())
}

/// Rewrites every case-insensitive comparison that stands alone (`Exact`, `Contains`,
/// `StartsWith`, `EndsWith`) into a case-insensitive group of one.
///
/// Same verdict: rsigma lowercases the value with `to_lowercase` for the former and with
/// `ascii_lowercase_cow` (equal results, checked by its own property test) for the latter,
/// then compares it with the same lowercased literal. But the former allocates a lowercase
/// copy of the value at every comparison, and the latter none when the value is lowercase
/// ASCII already (`web`, `allowed`...), which made a plain `event.dataset: web` check cost
/// more than the rest of a rule.
pub fn fold_case(rule: &mut CompiledRule) {
    rule.detections.values_mut().for_each(fold_detection);
}

fn fold_detection(d: &mut CompiledDetection) {
    match d {
        CompiledDetection::AllOf(items) => items
            .iter_mut()
            .filter(|i| i.exists.is_none() && i.field.is_some())
            .for_each(|i| fold_matcher(&mut i.matcher)),
        CompiledDetection::AnyOf(subs) | CompiledDetection::And(subs) => {
            subs.iter_mut().for_each(fold_detection)
        }
        // Keywords and array scopes take other paths in rsigma: left as they are.
        _ => {}
    }
}

fn fold_matcher(m: &mut CompiledMatcher) {
    match m {
        CompiledMatcher::Exact {
            case_insensitive: true,
            ..
        }
        | CompiledMatcher::Contains {
            case_insensitive: true,
            ..
        }
        | CompiledMatcher::StartsWith {
            case_insensitive: true,
            ..
        }
        | CompiledMatcher::EndsWith {
            case_insensitive: true,
            ..
        } => {
            let leaf = std::mem::replace(m, CompiledMatcher::Null);
            *m = CompiledMatcher::CaseInsensitiveGroup {
                children: vec![leaf],
                mode: GroupMode::Any,
            };
        }
        CompiledMatcher::AnyOf(children) | CompiledMatcher::AllOf(children) => {
            children.iter_mut().for_each(fold_matcher)
        }
        CompiledMatcher::Not(inner) => fold_matcher(inner),
        // Groups are lowercased once already; the other matchers do not fold case.
        _ => {}
    }
}

/// A rule's condition with its detections resolved by position, evaluated without building a
/// result: rsigma's `evaluate_rule` looks every detection up by name (SipHash) and walks
/// selectors' name patterns on every call, which cost more than the matchers themselves on
/// the rules that do not fire, i.e. nearly always. Three-valued: `None` is "cannot tell"
/// (keyword and array detections), so the rule is then left to rsigma.
#[derive(Debug, Clone)]
struct Precheck {
    detections: Vec<CompiledDetection>,
    conditions: Vec<Cond>,
}

#[derive(Debug, Clone)]
enum Cond {
    /// A detection, by position (None: a name the rule does not define, which never holds).
    Det(Option<usize>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    /// `1 of`, `all of`, `N of` over detections by position.
    Of(Quantifier, Vec<usize>),
}

/// AND of three-valued verdicts: false wins, then "cannot tell".
fn and3(parts: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    let mut out = Some(true);
    for p in parts {
        match p {
            Some(false) => return Some(false),
            None => out = None,
            Some(true) => {}
        }
    }
    out
}

/// OR of three-valued verdicts: true wins, then "cannot tell".
fn or3(parts: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    let mut out = Some(false);
    for p in parts {
        match p {
            Some(true) => return Some(true),
            None => out = None,
            Some(false) => {}
        }
    }
    out
}

impl Precheck {
    fn new(rule: &CompiledRule) -> Self {
        let names: Vec<&String> = rule.detections.keys().collect();
        let detections = names.iter().map(|n| rule.detections[*n].clone()).collect();
        let conditions = rule
            .conditions
            .iter()
            .map(|c| Self::cond(c, &names))
            .collect();
        Self {
            detections,
            conditions,
        }
    }

    /// A condition with the detections named as in `names` (the rule's detection keys, in
    /// their iteration order, as [`Precheck::new`] lays them out).
    fn cond(c: &ConditionExpr, names: &[&String]) -> Cond {
        match c {
            ConditionExpr::Identifier(name) => Cond::Det(names.iter().position(|n| *n == name)),
            ConditionExpr::And(parts) => {
                Cond::And(parts.iter().map(|p| Self::cond(p, names)).collect())
            }
            ConditionExpr::Or(parts) => {
                Cond::Or(parts.iter().map(|p| Self::cond(p, names)).collect())
            }
            ConditionExpr::Not(inner) => Cond::Not(Box::new(Self::cond(inner, names))),
            ConditionExpr::Selector {
                quantifier,
                pattern,
            } => Cond::Of(
                quantifier.clone(),
                (0..names.len())
                    .filter(|&i| pattern.matches_detection_name(names[i]))
                    .collect(),
            ),
        }
    }

    /// False when the rule cannot fire on `ev`; true or None (cannot tell) otherwise.
    fn may_fire(&self, ev: &impl Event) -> bool {
        self.verdict(ev) != Some(false)
    }

    /// Whether the rule fires on `ev`, None when this cannot tell.
    fn verdict(&self, ev: &impl Event) -> Option<bool> {
        or3(self.conditions.iter().map(|c| self.eval(c, ev)))
    }

    fn eval(&self, c: &Cond, ev: &impl Event) -> Option<bool> {
        match c {
            Cond::Det(None) => Some(false),
            Cond::Det(Some(i)) => detection3(&self.detections[*i], ev),
            Cond::And(parts) => and3(parts.iter().map(|p| self.eval(p, ev))),
            Cond::Or(parts) => or3(parts.iter().map(|p| self.eval(p, ev))),
            Cond::Not(inner) => self.eval(inner, ev).map(|v| !v),
            Cond::Of(q, dets) => {
                let verdicts = dets.iter().map(|&i| detection3(&self.detections[i], ev));
                match q {
                    Quantifier::Any => or3(verdicts),
                    Quantifier::All => and3(verdicts),
                    Quantifier::Count(0) => Some(true),
                    Quantifier::Count(n) => {
                        let (mut yes, mut unknown) = (0u64, 0u64);
                        for v in verdicts {
                            match v {
                                Some(true) => yes += 1,
                                None => unknown += 1,
                                Some(false) => {}
                            }
                            if yes >= *n {
                                return Some(true);
                            }
                        }
                        (yes + unknown < *n).then_some(false)
                    }
                }
            }
        }
    }
}

/// A detection's verdict as rsigma computes it (`eval_detection` without bloom), or None
/// for the kinds this does not reproduce.
fn detection3(d: &CompiledDetection, ev: &impl Event) -> Option<bool> {
    match d {
        CompiledDetection::AllOf(items) => and3(items.iter().map(|item| {
            let field = item.field.as_deref();
            if let Some(expect) = item.exists {
                return Some(match field {
                    Some(f) => ev.get_field(f).is_some_and(|v| !v.is_null()) == expect,
                    None => !expect,
                });
            }
            let f = field?;
            Some(match ev.get_field(f) {
                Some(v) => item.matcher.matches(&v, ev),
                None => matches!(item.matcher, CompiledMatcher::Null),
            })
        })),
        CompiledDetection::AnyOf(subs) => or3(subs.iter().map(|s| detection3(s, ev))),
        CompiledDetection::And(subs) => and3(subs.iter().map(|s| detection3(s, ev))),
        _ => None,
    }
}

/// The detections a condition refers to (by name or by pattern).
fn referenced<'r>(c: &ConditionExpr, rule: &'r CompiledRule, out: &mut Vec<&'r CompiledDetection>) {
    match c {
        // A name the rule does not define never holds: it reads nothing.
        ConditionExpr::Identifier(name) => out.extend(rule.detections.get(name)),
        ConditionExpr::And(parts) | ConditionExpr::Or(parts) => {
            parts.iter().for_each(|p| referenced(p, rule, out))
        }
        ConditionExpr::Not(inner) => referenced(inner, rule, out),
        ConditionExpr::Selector { pattern, .. } => out.extend(
            rule.detections
                .iter()
                .filter(|(name, _)| pattern.matches_detection_name(name))
                .map(|(_, d)| d),
        ),
    }
}

/// The one field a condition reads, when its verdict depends on that field's value alone.
fn condition_field(c: &ConditionExpr, rule: &CompiledRule) -> Option<String> {
    let mut dets = Vec::new();
    referenced(c, rule, &mut dets);
    let mut fields = Vec::new();
    if !dets.into_iter().all(|d| detection_fields(d, &mut fields)) {
        return None;
    }
    let first = *fields.first()?;
    fields
        .iter()
        .all(|f| *f == first)
        .then(|| first.to_string())
}

/// A necessary part of a rule's condition that reads one field only.
#[derive(Debug, Clone)]
pub enum MemoPart {
    /// A sub-condition (over whole detections).
    Condition(ConditionExpr),
    /// One item of a detection that the condition requires.
    Item(CompiledDetectionItem),
}

/// Collects the necessary one-field parts of a condition, with their field.
fn necessary_parts(c: &ConditionExpr, rule: &CompiledRule, out: &mut Vec<(String, MemoPart)>) {
    if let Some(f) = condition_field(c, rule) {
        out.push((f, MemoPart::Condition(c.clone())));
        return;
    }
    match c {
        ConditionExpr::And(parts) => parts.iter().for_each(|p| necessary_parts(p, rule, out)),
        ConditionExpr::Identifier(name) => {
            if let Some(d) = rule.detections.get(name) {
                necessary_items(d, out);
            }
        }
        _ => {}
    }
}

/// The items every match of a detection satisfies, that read one field only.
fn necessary_items(d: &CompiledDetection, out: &mut Vec<(String, MemoPart)>) {
    match d {
        CompiledDetection::AllOf(items) => {
            for item in items {
                if let Some(f) = &item.field {
                    if self_contained(&item.matcher) {
                        out.push((f.clone(), MemoPart::Item(item.clone())));
                    }
                }
            }
        }
        CompiledDetection::And(subs) => subs.iter().for_each(|s| necessary_items(s, out)),
        _ => {}
    }
}

/// The field a rule is best memoized on, with every necessary part of its condition that
/// reads that field only: a field whose values repeat (a user agent, an action, a threat
/// name: `threat.name` present and not `None`), else a whole sub-condition on any field
/// (`1 of selection*` for a user-agent list with exceptions by domain), the dataset last.
pub fn memo_condition(rule: &CompiledRule) -> Option<(String, Vec<MemoPart>)> {
    let mut parts = Vec::new();
    match rule.conditions.as_slice() {
        [] => return None,
        [one] => necessary_parts(one, rule, &mut parts),
        many => parts.push((
            single_field(rule)?,
            MemoPart::Condition(ConditionExpr::Or(many.to_vec())),
        )),
    }
    let repeating = parts
        .iter()
        .find(|(f, _)| REPEATING.contains(&f.as_str()))
        .map(|(f, _)| f.clone());
    let field = match repeating {
        Some(f) => f,
        None => {
            // Items of other fields are left to the precheck: on a field such as a URL or
            // a size, a memo would mostly miss.
            parts.retain(|(_, p)| matches!(p, MemoPart::Condition(_)));
            parts
                .iter()
                .map(|(f, _)| f)
                .find(|f| *f != DATASET_FIELD)
                .or(parts.first().map(|(f, _)| f))?
                .clone()
        }
    };
    let on_field = parts
        .into_iter()
        .filter(|(f, _)| *f == field)
        .map(|(_, p)| p)
        .collect();
    Some((field, on_field))
}

/// Distinct values remembered per field before the memo starts afresh.
const MEMO_CAPACITY: usize = 50_000;

/// The rules memoized on one field, with the rules whose memo condition holds on each value
/// seen.
#[derive(Clone)]
struct FieldMemo {
    field: String,
    rules: Vec<u32>,
    /// Per rule (as in `rules`): its condition on this field.
    conds: Vec<Precheck>,
    /// Value → rules whose memo condition holds on it.
    hold: ahash::AHashMap<String, Vec<u32>>,
    /// The same for integer values (ports, sizes, status codes).
    hold_int: ahash::AHashMap<i64, Vec<u32>>,
    /// The same when the event does not have the field.
    hold_absent: Option<Vec<u32>>,
    /// The logsource categories of its rules (see [`FieldGate::categories`]).
    categories: Categories,
}

/// The logsource categories of a set of rules: `None` when one of them has none (it meets
/// every event). An event of another category meets none of the rules (see
/// [`GatedRules::compatible`]), and its field is then not even looked up.
type Categories = Option<Vec<String>>;

/// The categories of `rules` (see [`Categories`]).
fn categories_of(all: &[CompiledRule], rules: &[u32]) -> Categories {
    let mut out: Vec<String> = Vec::new();
    for &r in rules {
        let c = all[r as usize].logsource.category.as_ref()?;
        if !out.iter().any(|o| o.eq_ignore_ascii_case(c)) {
            out.push(c.clone());
        }
    }
    Some(out)
}

/// Whether a rule of `categories` may meet an event of `category`.
fn meets(categories: &Categories, category: Option<&str>) -> bool {
    match (categories, category) {
        (Some(cs), Some(c)) => cs.iter().any(|x| x.eq_ignore_ascii_case(c)),
        _ => true,
    }
}

/// The literals gating some rules in one field.
#[derive(Clone)]
struct FieldGate {
    field: String,
    automaton: AhoCorasick,
    /// Pattern index → rules.
    pattern_rules: Vec<Vec<u32>>,
    /// Every rule gated on this field (when its value cannot be scanned as text).
    all_rules: Vec<u32>,
    /// The logsource categories of those rules: on an event of another one, none of them
    /// is a candidate, and the field is skipped (most SigmaHQ rules are of one category,
    /// and the lookups and scans of fields no rule of the event's category reads were a
    /// third of the gated rules' time, issue 18).
    categories: Categories,
}

/// How a rule taken out of the engine becomes a candidate.
#[derive(Debug, Clone)]
pub enum Route {
    /// When a scan finds one of these (field, literal) pairs.
    Gate(Vec<(String, String)>),
    /// When these necessary parts of the condition, which read this field only, hold on
    /// its value.
    Memo(String, Vec<MemoPart>),
    /// On every event.
    Always,
}

/// Detection rules evaluated only when their gate holds, once per distinct value of the
/// one field they read, or (with neither) on every event. A clone shares nothing mutable (its
/// memos and scratch are its own): the parse threads each evaluate with their own clone.
#[derive(Default, Clone)]
pub struct GatedRules {
    rules: Vec<CompiledRule>,
    /// Per rule: its condition, evaluated before rsigma is asked for a result.
    prechecks: Vec<Precheck>,
    /// Per rule: its gate (empty for a memoized rule).
    gates: Vec<Gate>,
    /// Per rule: the field a memoized rule is memoized on, with its condition on it.
    memo_field: Vec<Option<(String, Precheck)>>,
    fields: Vec<FieldGate>,
    memos: Vec<FieldMemo>,
    /// Per rule: whether its results feed the correlation engine.
    feeds: Vec<bool>,
    /// Per rule: whether its results only feed correlations (dropped afterwards).
    correlation_only: Vec<bool>,
    /// Rules with neither gate nor memo: candidates on every event.
    always: Vec<u32>,
    /// Per-event scratch: which rules are already candidates.
    marked: Vec<bool>,
    candidates: Vec<u32>,
}

impl std::fmt::Debug for GatedRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatedRules")
            .field("rules", &self.rules.len())
            .field("fields", &self.fields.len())
            .finish()
    }
}

fn for_each_text(v: &EventValue<'_>, visit: &mut dyn FnMut(Option<&str>)) {
    match v {
        EventValue::Str(s) => visit(Some(s)),
        EventValue::Array(items) => items.iter().for_each(|i| for_each_text(i, visit)),
        // Numbers, booleans, maps: the matchers compare textual forms the scan does not
        // reproduce; every rule of the field stays a candidate.
        _ => visit(None),
    }
}

impl GatedRules {
    /// Number of rules evaluated here (gated or memoized).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when no rule is gated.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Adds a rule taken out of rsigma's engine, with how it becomes a candidate; call
    /// [`GatedRules::build`] after the last one. The results of a rule that
    /// `feeds_correlation` go to the correlation engine rather than out.
    pub fn add(&mut self, mut rule: CompiledRule, route: Route, feeds_correlation: bool) {
        fold_case(&mut rule);
        let pre = Precheck::new(&rule);
        let (gate, memo) = match route {
            Route::Gate(g) => (g, None),
            Route::Memo(field, parts) => {
                let mut on_field = pre.clone();
                let names: Vec<&String> = rule.detections.keys().collect();
                let mut conds = Vec::new();
                for part in parts {
                    match part {
                        MemoPart::Condition(c) => conds.push(Precheck::cond(&c, &names)),
                        MemoPart::Item(item) => {
                            let mut d = CompiledDetection::AllOf(vec![item]);
                            fold_detection(&mut d);
                            conds.push(Cond::Det(Some(on_field.detections.len())));
                            on_field.detections.push(d);
                        }
                    }
                }
                on_field.conditions = vec![Cond::And(conds)];
                (Gate::new(), Some((field, on_field)))
            }
            Route::Always => (Gate::new(), None),
        };
        self.prechecks.push(pre);
        self.rules.push(rule);
        self.gates.push(gate);
        self.memo_field.push(memo);
        self.feeds.push(feeds_correlation);
    }

    /// How a rule is best routed: a selective gate, else a memo (one lookup per event), else
    /// a dataset gate (an evaluation on every event of the dataset), else every event.
    pub fn route(rule: &CompiledRule) -> Route {
        let gate = rule_gate(rule);
        match (gate, memo_condition(rule)) {
            // A gate in the very field a memo is on (whose values repeat): the memo computes
            // what the gate would only narrow (its literals can be common in user agents).
            (Some(g), Some((field, parts)))
                if REPEATING.contains(&field.as_str()) && g.iter().all(|(f, _)| *f == field) =>
            {
                Route::Memo(field, parts)
            }
            (Some(g), _) if !gate_is_dataset_only(&g) => Route::Gate(g),
            (_, Some((field, parts))) => Route::Memo(field, parts),
            (Some(g), None) => Route::Gate(g),
            (None, None) => Route::Always,
        }
    }

    /// Builds the per-field automata; the rules whose id `correlation_only` names (among
    /// those that feed correlations) get results without match details.
    pub fn build(
        &mut self,
        correlation_only: &std::collections::HashSet<String>,
    ) -> Result<(), crate::Error> {
        self.correlation_only = self
            .rules
            .iter()
            .zip(&self.feeds)
            .map(|(r, feeds)| {
                *feeds
                    && r.id
                        .as_ref()
                        .is_some_and(|id| correlation_only.contains(id))
            })
            .collect();
        let mut by_field: std::collections::BTreeMap<&str, Vec<(&str, u32)>> = Default::default();
        for (i, g) in self.gates.iter().enumerate() {
            for (f, lit) in g {
                by_field.entry(f).or_default().push((lit, i as u32));
            }
        }
        let mut fields = Vec::new();
        for (field, lits) in by_field {
            let mut patterns: Vec<&str> = Vec::new();
            let mut pattern_rules: Vec<Vec<u32>> = Vec::new();
            for (lit, rule) in &lits {
                match patterns.iter().position(|p| p == lit) {
                    Some(i) => pattern_rules[i].push(*rule),
                    None => {
                        patterns.push(lit);
                        pattern_rules.push(vec![*rule]);
                    }
                }
            }
            // A DFA: one transition per byte, whatever the number of literals. No prefilter:
            // field values are short, and setting one up cost more than walking the bytes.
            let automaton = AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                .prefilter(false)
                .build(&patterns)
                .map_err(|e| crate::Error::Rule(format!("gate automaton for {field}: {e}")))?;
            let mut all_rules: Vec<u32> = lits.iter().map(|(_, r)| *r).collect();
            all_rules.sort_unstable();
            all_rules.dedup();
            let categories = categories_of(&self.rules, &all_rules);
            fields.push(FieldGate {
                field: field.to_string(),
                automaton,
                pattern_rules,
                all_rules,
                categories,
            });
        }
        self.fields = fields;
        let mut memos: Vec<FieldMemo> = Vec::new();
        for (i, m) in self.memo_field.iter().enumerate() {
            let Some((f, cond)) = m else { continue };
            match memos.iter_mut().find(|m| &m.field == f) {
                Some(m) => {
                    m.rules.push(i as u32);
                    m.conds.push(cond.clone());
                }
                None => memos.push(FieldMemo {
                    field: f.clone(),
                    rules: vec![i as u32],
                    conds: vec![cond.clone()],
                    hold: Default::default(),
                    hold_int: Default::default(),
                    hold_absent: None,
                    categories: None,
                }),
            }
        }
        for m in &mut memos {
            m.categories = categories_of(&self.rules, &m.rules);
        }
        self.memos = memos;
        self.always = (0..self.rules.len() as u32)
            .filter(|&i| self.gates[i as usize].is_empty() && self.memo_field[i as usize].is_none())
            .collect();
        self.marked = vec![false; self.rules.len()];
        Ok(())
    }

    fn compatible(rule: &CompiledRule, category: Option<&str>) -> bool {
        match (&rule.logsource.category, category) {
            (Some(rc), Some(ec)) => rc.eq_ignore_ascii_case(ec),
            _ => true,
        }
    }

    /// Marks the memoized rules whose condition holds on the event's value of their field,
    /// computing it on values not seen before.
    fn mark_memos(
        memos: &mut [FieldMemo],
        ev: &impl Event,
        category: Option<&str>,
        marked: &mut [bool],
        candidates: &mut Vec<u32>,
    ) {
        for memo in memos {
            if !meets(&memo.categories, category) {
                continue;
            }
            let holding = |memo: &FieldMemo| -> Vec<u32> {
                memo.rules
                    .iter()
                    .zip(&memo.conds)
                    .filter(|(_, c)| c.may_fire(ev))
                    .map(|(r, _)| *r)
                    .collect()
            };
            match ev.get_field(&memo.field) {
                Some(EventValue::Str(value)) => {
                    if let Some(hold) = memo.hold.get(value.as_ref()) {
                        Self::mark(marked, candidates, hold);
                        continue;
                    }
                    let hold = holding(memo);
                    Self::mark(marked, candidates, &hold);
                    if memo.hold.len() >= MEMO_CAPACITY {
                        memo.hold.clear();
                    }
                    memo.hold.insert(value.into_owned(), hold);
                }
                Some(EventValue::Int(value)) => {
                    if let Some(hold) = memo.hold_int.get(&value) {
                        Self::mark(marked, candidates, hold);
                        continue;
                    }
                    let hold = holding(memo);
                    Self::mark(marked, candidates, &hold);
                    if memo.hold_int.len() >= MEMO_CAPACITY {
                        memo.hold_int.clear();
                    }
                    memo.hold_int.insert(value, hold);
                }
                None => {
                    if memo.hold_absent.is_none() {
                        memo.hold_absent = Some(holding(memo));
                    }
                    if let Some(hold) = &memo.hold_absent {
                        Self::mark(marked, candidates, hold);
                    }
                }
                // Other kinds of values (floats, arrays, maps...): no memo, every rule is a
                // candidate.
                Some(_) => Self::mark(marked, candidates, &memo.rules),
            }
        }
    }

    fn mark(marked: &mut [bool], candidates: &mut Vec<u32>, rules: &[u32]) {
        for &r in rules {
            if !std::mem::replace(&mut marked[r as usize], true) {
                candidates.push(r);
            }
        }
    }

    /// Evaluates the rules whose gate holds on `ev` (and whose logsource category does not
    /// conflict with the event's `category`), appending what fires to `out`, or to
    /// `correlated` for the rules that feed correlations.
    pub fn evaluate(
        &mut self,
        ev: &impl Event,
        category: Option<&str>,
        out: &mut Vec<EvaluationResult>,
        correlated: &mut Vec<EvaluationResult>,
    ) {
        if self.rules.is_empty() {
            return;
        }
        let (marked, candidates) = (&mut self.marked, &mut self.candidates);
        candidates.clear();
        Self::mark(marked, candidates, &self.always);
        Self::mark_memos(&mut self.memos, ev, category, marked, candidates);
        for fg in &self.fields {
            if !meets(&fg.categories, category) {
                continue;
            }
            let Some(v) = ev.get_field(&fg.field) else {
                continue;
            };
            for_each_text(&v, &mut |text| match text {
                Some(s) => {
                    for m in fg.automaton.find_overlapping_iter(s) {
                        Self::mark(
                            marked,
                            candidates,
                            &fg.pattern_rules[m.pattern().as_usize()],
                        );
                    }
                }
                None => Self::mark(marked, candidates, &fg.all_rules),
            });
        }
        candidates.sort_unstable();
        for &r in candidates.iter() {
            marked[r as usize] = false;
            let rule = &self.rules[r as usize];
            if !Self::compatible(rule, category) {
                continue;
            }
            let pre = &self.prechecks[r as usize];
            if self.correlation_only[r as usize] {
                correlated.extend(run_for_correlation(pre, rule, ev));
            } else if let Some(res) = run(pre, rule, ev) {
                if self.feeds[r as usize] {
                    correlated.push(res);
                } else {
                    out.push(res);
                }
            }
        }
    }
}

/// rsigma's result for a rule, asked only when the precheck says the rule may fire.
fn run(pre: &Precheck, rule: &CompiledRule, ev: &impl Event) -> Option<EvaluationResult> {
    if pre.may_fire(ev) {
        rsigma_eval::evaluate_rule(rule, ev)
    } else {
        None
    }
}

/// The result of a rule whose results only feed correlations and are then dropped: the
/// correlation layer reads its rule id (and the event), not the matched fields, which cost
/// more to collect than the rest of the evaluation ("any DNS query" fires on every DNS event).
fn run_for_correlation(
    pre: &Precheck,
    rule: &CompiledRule,
    ev: &impl Event,
) -> Option<EvaluationResult> {
    match pre.verdict(ev) {
        Some(false) => None,
        None => rsigma_eval::evaluate_rule(rule, ev),
        Some(true) => Some(EvaluationResult {
            header: rsigma_eval::RuleHeader {
                rule_title: rule.title.clone(),
                rule_id: rule.id.clone(),
                level: rule.level,
                tags: Vec::new(),
                custom_attributes: rule.custom_attributes.clone(),
                enrichments: None,
            },
            body: rsigma_eval::ResultBody::Detection(rsigma_eval::DetectionBody {
                matched_selections: Vec::new(),
                matched_fields: Vec::new(),
                event: None,
            }),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EcsEvent;
    use serde_json::json;

    fn compiled(yaml: &str) -> CompiledRule {
        let col = rsigma_parser::parse_sigma_yaml(yaml).unwrap();
        rsigma_eval::compile_rule(&col.rules[0]).unwrap()
    }

    #[test]
    fn a_substring_is_preferred_to_a_common_exact_value() {
        let r = compiled(
            "title: t\nlogsource: {category: proxy}\ndetection:\n  sel:\n    http.request.method: GET\n    url.original|contains: '/bot'\n  condition: sel\n",
        );
        assert_eq!(
            rule_gate(&r),
            Some(vec![("url.original".to_string(), "/bot".to_string())])
        );
    }

    #[test]
    fn every_branch_of_an_or_contributes_to_the_gate() {
        let r = compiled(
            "title: t\nlogsource: {category: proxy}\ndetection:\n  a:\n    url.domain: pastebin.com\n  b:\n    url.original|contains: 'telegram.org'\n  condition: a or b\n",
        );
        let g = rule_gate(&r).unwrap();
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn a_regex_is_gated_on_the_literals_every_match_contains() {
        let r = compiled(
            "title: t\nlogsource: {category: proxy}\ndetection:\n  a:\n    url.original|re: '/(payload|dropper)\\.bin$'\n  condition: a\n",
        );
        let g = rule_gate(&r).unwrap();
        let lits: Vec<&str> = g.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(lits, ["dropper", "payload"]);
    }

    #[test]
    fn a_negation_or_a_literal_free_regex_leaves_the_rule_to_rsigma() {
        let negated = compiled(
            "title: t\nlogsource: {category: proxy}\ndetection:\n  a:\n    url.domain: pastebin.com\n  condition: not a\n",
        );
        assert_eq!(rule_gate(&negated), None);
        let regex = compiled(
            "title: t\nlogsource: {category: proxy}\ndetection:\n  a:\n    url.original|re: '^/[a-z]{12}$'\n  condition: a\n",
        );
        assert_eq!(rule_gate(&regex), None);
    }

    #[test]
    fn a_rule_reading_one_field_only_can_be_memoized_and_one_reading_two_cannot() {
        let one = compiled(
            "title: t\nlogsource: {category: proxy}\ndetection:\n  a:\n    user_agent.original|re: '^[a-z]{3}$'\n  b:\n    user_agent.original: ''\n  condition: a or b\n",
        );
        assert_eq!(single_field(&one).as_deref(), Some("user_agent.original"));
        let two = compiled(
            "title: t\nlogsource: {category: proxy}\ndetection:\n  a:\n    user_agent.original|re: '^[a-z]{3}$'\n    url.domain|re: 'x'\n  condition: a\n",
        );
        assert_eq!(single_field(&two), None);
    }

    #[test]
    fn folding_case_keeps_every_verdict() {
        let yaml = "title: t\nlogsource: {category: proxy}\ndetection:\n  a:\n    event.dataset: web\n    url.domain|endswith: '.onion'\n  b:\n    http.request.method: CONNECT\n    url.original|contains:\n      - '/x'\n      - '/y'\n  f:\n    user_agent.original|startswith: 'curl'\n  condition: (a or b) and not f\n";
        let original = compiled(yaml);
        let mut folded = original.clone();
        fold_case(&mut folded);
        let values = [
            json!({"event": {"dataset": "web"}, "url": {"domain": "abc.onion"}}),
            json!({"event": {"dataset": "WEB"}, "url": {"domain": "ABC.ONION"}}),
            json!({"event": {"dataset": "web"}, "url": {"domain": "x.onion"}, "user_agent": {"original": "Curl/8"}}),
            // U+212A KELVIN SIGN lowercases to an ASCII 'k'.
            json!({"event": {"dataset": "web"}, "url": {"domain": "\u{212A}.onion"}}),
            json!({"event": {"dataset": "w\u{c9}b"}, "url": {"domain": "a.onion"}}),
            json!({"http": {"request": {"method": "connect"}}, "url": {"original": "/X/1"}}),
            json!({"http": {"request": {"method": ["GET", "Connect"]}}, "url": {"original": "/y"}}),
            json!({"http": {"request": {"method": 5}}, "url": {"original": "/y"}}),
            json!({"event": {"dataset": "dns"}, "url": {"domain": "a.onion"}}),
        ];
        let mut fired = 0;
        for v in &values {
            let ev = rsigma_eval::JsonEvent::borrow(v);
            let want = rsigma_eval::evaluate_rule(&original, &ev).is_some();
            assert_eq!(
                rsigma_eval::evaluate_rule(&folded, &ev).is_some(),
                want,
                "{v}"
            );
            fired += usize::from(want);
        }
        // Both verdicts occur, or the comparison proves little.
        assert!(fired > 0 && fired < values.len(), "{fired} fired");
    }

    #[test]
    fn folding_case_wraps_a_lone_case_insensitive_comparison_in_a_group() {
        let mut r = compiled(
            "title: t\nlogsource: {category: proxy}\ndetection:\n  a:\n    event.dataset: web\n  condition: a\n",
        );
        fold_case(&mut r);
        let CompiledDetection::AllOf(items) = &r.detections["a"] else {
            panic!("expected one item");
        };
        assert!(matches!(
            items[0].matcher,
            CompiledMatcher::CaseInsensitiveGroup { .. }
        ));
    }

    #[test]
    fn a_dataset_alone_is_a_gate() {
        let r = compiled(
            "title: t\nlogsource: {product: zscaler}\ndetection:\n  a:\n    event.dataset: audit\n    event.outcome: failure\n  condition: a\n",
        );
        assert_eq!(
            rule_gate(&r),
            Some(vec![("event.dataset".to_string(), "audit".to_string())])
        );
    }

    #[test]
    fn a_rule_with_exceptions_in_other_fields_is_memoized_on_its_selections() {
        let r = compiled(
            "title: t\nlogsource: {category: proxy}\ndetection:\n  selection_a:\n    user_agent.original|startswith: 'curl'\n  selection_b:\n    user_agent.original|contains: 'loader'\n  filter:\n    url.domain|endswith: '.example.com'\n  condition: 1 of selection_* and not filter\n",
        );
        assert_eq!(single_field(&r), None);
        let (field, parts) = memo_condition(&r).unwrap();
        assert_eq!(field, "user_agent.original");
        assert!(
            matches!(
                parts.as_slice(),
                [MemoPart::Condition(ConditionExpr::Selector { .. })]
            ),
            "{parts:?}"
        );
    }

    #[test]
    fn a_required_item_on_a_field_whose_values_repeat_is_memoized() {
        let r = compiled(
            "title: t\nlogsource: {product: zscaler}\ndetection:\n  selection:\n    event.dataset: web\n    event.action: blocked\n  condition: selection\n",
        );
        let (field, parts) = memo_condition(&r).unwrap();
        assert_eq!(field, "event.action");
        assert!(matches!(parts.as_slice(), [MemoPart::Item(_)]), "{parts:?}");
    }

    #[test]
    fn a_memoized_rule_fires_as_rsigma_says_on_absent_integer_and_repeated_values() {
        let r = compiled(
            "title: t\nlogsource: {product: zscaler}\ndetection:\n  selection:\n    event.dataset: firewall\n    destination.port:\n      - 23\n      - 3389\n  condition: selection\n",
        );
        let mut gated = GatedRules::default();
        let route = GatedRules::route(&r);
        assert!(
            matches!(&route, Route::Memo(f, _) if f == "destination.port"),
            "{route:?}"
        );
        gated.add(r.clone(), route, false);
        gated.build(&Default::default()).unwrap();
        let events = [
            json!({"event": {"dataset": "firewall"}}),
            json!({"event": {"dataset": "firewall"}, "destination": {"port": 23}}),
            json!({"event": {"dataset": "firewall"}, "destination": {"port": 443}}),
            json!({"event": {"dataset": "firewall"}, "destination": {"port": 23}}),
            json!({"event": {"dataset": "web"}, "destination": {"port": 3389}}),
            json!({"event": {"dataset": "firewall"}, "destination": {"port": "3389"}}),
            json!({"event": {"dataset": "firewall"}}),
        ];
        let mut fired = 0;
        for v in &events {
            let ev = rsigma_eval::JsonEvent::borrow(v);
            let (mut out, mut corr) = (Vec::new(), Vec::new());
            gated.evaluate(&ev, None, &mut out, &mut corr);
            let want = rsigma_eval::evaluate_rule(&r, &ev).is_some();
            assert_eq!(out.len(), usize::from(want), "{v}");
            assert!(corr.is_empty());
            fired += usize::from(want);
        }
        assert!(fired > 0 && fired < events.len(), "{fired} fired");
    }

    #[test]
    fn a_precheck_gives_the_verdict_rsigma_gives() {
        let r = compiled(
            "title: t\nlogsource: {category: proxy}\ndetection:\n  sel_a:\n    url.domain|endswith: '.onion'\n  sel_b:\n    http.request.method: CONNECT\n  sel_c:\n    destination.port: 9050\n  present:\n    user.name|exists: true\n  filter:\n    user.name: 'svc'\n  condition: 2 of sel_* and present and not filter\n",
        );
        let pre = Precheck::new(&r);
        let events = [
            json!({"url": {"domain": "a.onion"}, "http": {"request": {"method": "CONNECT"}}, "user": {"name": "bob"}}),
            json!({"url": {"domain": "a.onion"}, "destination": {"port": "9050"}, "user": {"name": "bob"}}),
            json!({"url": {"domain": "a.onion"}, "http": {"request": {"method": "CONNECT"}}, "user": {"name": "SVC"}}),
            json!({"url": {"domain": "a.onion"}, "http": {"request": {"method": "CONNECT"}}}),
            json!({"url": {"domain": "a.onion"}, "user": {"name": "bob"}}),
            json!({"destination": {"port": 9050}, "http": {"request": {"method": ["GET", "connect"]}}, "user": {"name": null}}),
        ];
        let mut fired = 0;
        for v in &events {
            let ev = rsigma_eval::JsonEvent::borrow(v);
            let want = rsigma_eval::evaluate_rule(&r, &ev).is_some();
            assert_eq!(pre.may_fire(&ev), want, "{v}");
            fired += usize::from(want);
        }
        assert!(fired > 0 && fired < events.len(), "{fired} fired");
    }

    #[test]
    fn a_keyword_detection_leaves_the_verdict_to_rsigma() {
        let r = compiled(
            "title: t\nlogsource: {category: proxy}\ndetection:\n  keywords:\n    - 'evil'\n  condition: not keywords\n",
        );
        let v = json!({"message": "evil"});
        let ev = rsigma_eval::JsonEvent::borrow(&v);
        assert!(Precheck::new(&r).may_fire(&ev));
    }

    /// An event that records the fields asked of it.
    struct Asked<'a> {
        ev: EcsEvent<'a>,
        asked: std::cell::RefCell<Vec<String>>,
    }

    impl Event for Asked<'_> {
        fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
            self.asked.borrow_mut().push(path.to_string());
            self.ev.get_field(path)
        }

        fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
            self.ev.any_string_value(pred)
        }

        fn all_string_values(&self) -> Vec<std::borrow::Cow<'_, str>> {
            self.ev.all_string_values()
        }

        fn to_json(&self) -> serde_json::Value {
            self.ev.to_json()
        }
    }

    #[test]
    fn a_field_only_rules_of_another_category_read_is_not_looked_up() {
        let mut g = GatedRules::default();
        for yaml in [
            "title: d\nlogsource: {category: dns}\ndetection:\n  a:\n    dns.question.name|endswith: '.onion'\n  condition: a\n",
            "title: p\nlogsource: {category: proxy}\ndetection:\n  a:\n    url.domain|endswith: '.onion'\n  condition: a\n",
        ] {
            let r = compiled(yaml);
            let route = GatedRules::route(&r);
            g.add(r, route, false);
        }
        g.build(&Default::default()).unwrap();
        let v = json!({"url": {"domain": "x.onion"}, "dns": {"question": {"name": "y.onion"}}});
        let ev = Asked {
            ev: EcsEvent::new(v.as_object().unwrap()),
            asked: Default::default(),
        };
        let (mut out, mut correlated) = (Vec::new(), Vec::new());
        g.evaluate(&ev, Some("proxy"), &mut out, &mut correlated);
        let fired: Vec<&str> = out.iter().map(|r| r.header.rule_title.as_str()).collect();
        assert_eq!(fired, ["p"]);
        assert!(
            !ev.asked.borrow().iter().any(|f| f.starts_with("dns.")),
            "{:?}",
            ev.asked.borrow()
        );
    }

    #[test]
    fn a_gate_of_only_common_values_is_not_taken() {
        let r = compiled(
            "title: t\nlogsource: {category: proxy}\ndetection:\n  a:\n    http.request.method: POST\n  condition: a\n",
        );
        assert_eq!(rule_gate(&r), None);
    }
}
