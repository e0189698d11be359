//! Sigma v1 aggregations (`condition: selection | count(field) by group > N`), rewritten at load
//! time as the Sigma v2 correlation that means the same.
//!
//! SigmaHQ still ships rules written before correlations existed, such as "High DNS requests
//! rate" (`selection | count() by src_ip > 1000` within `timeframe: 1m`). rsigma parses only the
//! v2 form, so such a rule is split in two documents: a detection rule with the condition before
//! the pipe (it raises no alert of its own) and a correlation that keeps the original rule's id,
//! title, author, level and tags, so alerts still carry the rule's author (the Detection Rule
//! License asks for it). The mapping:
//!
//! | v1 | v2 correlation |
//! |---|---|
//! | `count()` | `event_count` |
//! | `count(field)` | `value_count` of `field` (distinct values) |
//! | `sum(field)`, `avg(field)` | `value_sum`, `value_avg` of `field` |
//! | `by a, b` | `group-by: [a, b]` |
//! | `> >= < <= =` N | `gt gte lt lte eq` N |
//! | `timeframe:` | `timespan:` (absent: [`DEFAULT_TIMESPAN`]) |
//!
//! Anything else after the pipe (`near`, `min`, `max`, a second pipe) is left alone and the rule
//! stays unsupported with rsigma's own parse error.

use yaml_serde::{Mapping, Value};

/// The window of a translated rule that names no `timeframe`. Sigma v1 left it to the backend;
/// a day bounds the state a group keeps.
pub const DEFAULT_TIMESPAN: &str = "1d";

/// The parts of a v1 aggregation condition.
#[derive(Debug, PartialEq)]
struct Aggregation {
    /// The condition before the pipe.
    base: String,
    /// `count`, `sum` or `avg`.
    function: String,
    /// The aggregated field (`count()` has none).
    field: Option<String>,
    /// The `by` fields.
    group_by: Vec<String>,
    /// `gt`, `gte`, `lt`, `lte` or `eq`.
    operator: &'static str,
    /// The threshold.
    threshold: u64,
}

/// Splits `selection | count(field) by a, b > 10` into its parts; None when the condition
/// has no aggregation this module translates.
fn parse_condition(condition: &str) -> Option<Aggregation> {
    let (base, agg) = condition.split_once('|')?;
    let (base, agg) = (base.trim(), agg.trim());
    if base.is_empty() || agg.contains('|') {
        return None;
    }
    let open = agg.find('(')?;
    let close = agg.find(')')?;
    let function = agg[..open].trim().to_ascii_lowercase();
    if !matches!(function.as_str(), "count" | "sum" | "avg") || close < open {
        return None;
    }
    let field = agg[open + 1..close].trim();
    let field = (!field.is_empty()).then(|| field.to_string());
    if function != "count" && field.is_none() {
        return None;
    }
    let rest = agg[close + 1..].trim();
    let (group_part, comparison) = match rest.strip_prefix("by ") {
        Some(r) => {
            let at = r.find(['>', '<', '='])?;
            (r[..at].trim(), r[at..].trim())
        }
        None => ("", rest),
    };
    let group_by: Vec<String> = group_part
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect();
    if group_by.iter().any(|g| g.contains(char::is_whitespace)) {
        return None;
    }
    let (operator, number) = [
        (">=", "gte"),
        ("<=", "lte"),
        ("==", "eq"),
        (">", "gt"),
        ("<", "lt"),
        ("=", "eq"),
    ]
    .into_iter()
    .find_map(|(sym, op)| comparison.strip_prefix(sym).map(|n| (op, n.trim())))?;
    let threshold = number.parse().ok()?;
    Some(Aggregation {
        base: base.to_string(),
        function,
        field,
        group_by,
        operator,
        threshold,
    })
}

fn key(k: &str) -> Value {
    Value::String(k.to_string())
}

/// Rewrites one YAML document holding a v1 aggregation rule as a detection rule plus a v2
/// correlation (two documents of one YAML text). None when the document is not such a rule.
pub fn translate(text: &str) -> Option<String> {
    // Every rule text passes here: decode YAML only for one with an aggregation after a pipe
    // (a modifier's `|` is followed by a modifier name, never by `count(`).
    let aggregates = text.split('|').skip(1).any(|rest| {
        let rest = rest.trim_start().as_bytes();
        ["count(", "sum(", "avg("].iter().any(|f| {
            rest.get(..f.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(f.as_bytes()))
        })
    });
    if !aggregates {
        return None;
    }
    let doc: Value = yaml_serde::from_str(text).ok()?;
    let rule = doc.as_mapping()?;
    let detection = rule.get("detection")?.as_mapping()?;
    let agg = parse_condition(detection.get("condition")?.as_str()?)?;
    let id = rule
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            rule.get("title")
                .and_then(Value::as_str)
                .map(str::to_string)
        })?;
    let base_name = format!(
        "legacy_{}_events",
        id.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );

    // The detection rule: the original's detection and logsource, no aggregation, no window.
    let mut base_detection = detection.clone();
    base_detection.remove("timeframe");
    base_detection.insert(key("condition"), Value::String(agg.base.clone()));
    let mut base = Mapping::new();
    let title = rule.get("title").and_then(Value::as_str).unwrap_or(&id);
    base.insert(
        key("title"),
        Value::String(format!("{title} (events counted)")),
    );
    // rsigma ties a detection's results to the correlations that count them by the rule's
    // id: a rule with only a name feeds none. The id is derived, so it is stable.
    let base_id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{id}/events").as_bytes(),
    );
    base.insert(key("id"), Value::String(base_id.to_string()));
    base.insert(key("name"), Value::String(base_name.clone()));
    for k in ["author", "logsource"] {
        if let Some(v) = rule.get(k) {
            base.insert(key(k), v.clone());
        }
    }
    base.insert(key("detection"), Value::Mapping(base_detection));
    if let Some(v) = rule.get("level") {
        base.insert(key("level"), v.clone());
    }

    // The correlation: the original's identity and metadata, the aggregation as v2.
    let mut correlation = Mapping::new();
    let kind = match (agg.function.as_str(), &agg.field) {
        ("count", None) => "event_count",
        ("count", Some(_)) => "value_count",
        ("sum", _) => "value_sum",
        _ => "value_avg",
    };
    correlation.insert(key("type"), key(kind));
    correlation.insert(key("rules"), Value::Sequence(vec![key(&base_name)]));
    if !agg.group_by.is_empty() {
        correlation.insert(
            key("group-by"),
            Value::Sequence(agg.group_by.iter().map(|g| key(g)).collect()),
        );
    }
    let timespan = detection
        .get("timeframe")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_TIMESPAN);
    correlation.insert(key("timespan"), key(timespan));
    let mut condition = Mapping::new();
    condition.insert(key(agg.operator), Value::Number(agg.threshold.into()));
    if let Some(f) = &agg.field {
        condition.insert(key("field"), key(f));
    }
    correlation.insert(key("condition"), Value::Mapping(condition));

    let mut corr = Mapping::new();
    for (k, v) in rule {
        match k.as_str() {
            // SigmaHQ marks these rules `status: unsupported` (for its v1 aggregation).
            Some("detection" | "logsource" | "fields" | "status") => {}
            _ => {
                corr.insert(k.clone(), v.clone());
            }
        }
    }
    corr.insert(key("correlation"), Value::Mapping(correlation));

    let base = yaml_serde::to_string(&Value::Mapping(base)).ok()?;
    let corr = yaml_serde::to_string(&Value::Mapping(corr)).ok()?;
    Some(format!("{base}---\n{corr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_by_group_is_an_event_count() {
        let a = parse_condition("selection | count() by src_ip > 1000").unwrap();
        assert_eq!(a.base, "selection");
        assert_eq!((a.function.as_str(), a.field.as_deref()), ("count", None));
        assert_eq!(a.group_by, vec!["src_ip"]);
        assert_eq!((a.operator, a.threshold), ("gt", 1000));
    }

    #[test]
    fn count_of_a_field_keeps_the_field_and_a_compound_base() {
        let a = parse_condition("selection and filter1 and filter2 | count(answer) by src_ip > 3")
            .unwrap();
        assert_eq!(a.base, "selection and filter1 and filter2");
        assert_eq!(a.field.as_deref(), Some("answer"));
    }

    #[test]
    fn comparison_operators_map_to_their_names() {
        for (sym, op) in [
            (">=", "gte"),
            ("<=", "lte"),
            ("<", "lt"),
            ("=", "eq"),
            ("==", "eq"),
        ] {
            let a = parse_condition(&format!("sel | count() by a {sym} 5")).unwrap();
            assert_eq!(a.operator, op, "{sym}");
        }
    }

    #[test]
    fn a_condition_without_a_pipe_or_with_an_unknown_function_is_not_translated() {
        assert_eq!(parse_condition("selection and not filter"), None);
        assert_eq!(parse_condition("selection | near other"), None);
        assert_eq!(parse_condition("selection | max(x) by y > 3"), None);
        assert_eq!(parse_condition("count(x) per a per b > 200"), None);
        assert_eq!(parse_condition("selection | sum() by y > 3"), None);
    }

    #[test]
    fn a_translated_rule_is_a_detection_and_a_correlation_with_the_original_identity() {
        let text = "title: High rate\nid: abc-1\nauthor: Someone\nlevel: medium\nlogsource: {category: dns}\ndetection:\n  selection:\n    query: '*'\n  timeframe: 1m\n  condition: selection | count() by src_ip > 10\n";
        let out = translate(text).unwrap();
        let docs: Vec<Value> = yaml_serde::Deserializer::from_str(&out)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["name"].as_str(), Some("legacy_abc_1_events"));
        assert_eq!(
            docs[0]["detection"]["condition"].as_str(),
            Some("selection")
        );
        assert!(docs[0]["detection"].get("timeframe").is_none());
        assert_eq!(docs[1]["id"].as_str(), Some("abc-1"));
        assert_eq!(docs[1]["author"].as_str(), Some("Someone"));
        assert_eq!(docs[1]["correlation"]["type"].as_str(), Some("event_count"));
        assert_eq!(docs[1]["correlation"]["timespan"].as_str(), Some("1m"));
        assert_eq!(docs[1]["correlation"]["condition"]["gt"].as_u64(), Some(10));
    }
}
