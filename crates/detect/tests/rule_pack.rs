//! The shipped ZIA rule pack: every rule loads, and each alerting rule has a test case
//! (`rules/tests/<name>.json`) with events that fire it and events that must not.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use detect::{Detector, LoadStatus, RuleSet};
use serde_json::Value;

fn tests_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/tests"))
}

fn subst(v: &Value, i: usize) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("{i}", &i.to_string())),
        Value::Array(a) => Value::Array(a.iter().map(|x| subst(x, i)).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), subst(x, i))).collect())
        }
        other => other.clone(),
    }
}

/// Expands `{"repeat": n, "event": {...}}` into n events, `{i}` substituted and `@timestamp`
/// advanced by i seconds.
fn expand(list: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for item in list.as_array().expect("a list of events") {
        if let Some(n) = item.get("repeat").and_then(Value::as_u64) {
            for i in 0..n as usize {
                let mut ev = subst(&item["event"], i);
                if let Some(ts) = ev.get("@timestamp").and_then(Value::as_str) {
                    let t: DateTime<Utc> = ts.parse().expect("rfc3339");
                    ev["@timestamp"] =
                        Value::String((t + Duration::seconds(i as i64)).to_rfc3339());
                }
                out.push(ev);
            }
        } else {
            out.push(item.clone());
        }
    }
    out
}

fn fired_ids(events: &[Value]) -> Vec<String> {
    let mut d = Detector::new(&RuleSet::builtin()).unwrap();
    events
        .iter()
        .flat_map(|e| d.process_value(e))
        .map(|m| m.rule.id)
        .collect()
}

#[test]
fn every_shipped_rule_loads() {
    let d = Detector::new(&RuleSet::builtin()).unwrap();
    let bad: Vec<_> = d
        .rules()
        .iter()
        .filter(|r| r.status != LoadStatus::Loaded)
        .map(|r| format!("{}: {:?}", r.source, r.reason))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(d.rules().len() >= 15);
}

#[test]
fn every_shipped_rule_has_an_author_for_the_alerts() {
    let d = Detector::new(&RuleSet::builtin()).unwrap();
    assert!(d.rules().iter().all(|r| r.author.is_some()));
}

#[test]
fn each_rule_fires_on_its_positive_case_and_not_on_its_negative_case() {
    let set = RuleSet::builtin();
    let infos = set.compile().unwrap().infos;
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(tests_dir()).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let info = infos
            .iter()
            .find(|i| i.source == format!("builtin:{stem}.yml"))
            .unwrap_or_else(|| panic!("no rule for test case {stem}"));
        let fires = fired_ids(&expand(&case["fires"]));
        if !fires.contains(&info.id) {
            failures.push(format!("{stem}: did not fire (got {fires:?})"));
        }
        let quiet = fired_ids(&expand(&case["quiet"]));
        if quiet.contains(&info.id) {
            failures.push(format!("{stem}: fired on its negative case"));
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(checked >= 15, "only {checked} rule test cases");
}
