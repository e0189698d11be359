//! The parser is the source of truth for field names: every field the `zia` parser emits
//! from records of every log type (the simulator's, rendered through the recommended NSS
//! formats, and the Sekoia conformance vectors) can be aggregated, and every `zscaler.zia.*`
//! field the schema types is one the parser emits.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use store::schema::{is_aggregatable, TYPED_FIELDS};
use store::{EventQuery, EventSearch, EventStore, StoreConfig, TantivyStore};

/// Raw records of every log type: 40 of each from the simulator, and the conformance inputs.
fn records() -> Vec<String> {
    let mut out = Vec::new();
    for lt in nss::LogType::ALL {
        let mut g = sim::Generator::new(&sim::GenConfig {
            seed: 7,
            mix: vec![(lt, 1)],
            malicious: 0.3,
            transport: nss::recommended::Transport::CloudNss,
        })
        .unwrap();
        for i in 0..40 {
            let mut buf = Vec::new();
            g.next(1_700_000_000 + i, &mut buf);
            out.push(String::from_utf8(buf).unwrap().trim().to_string());
        }
    }
    for v in common::conformance_vectors() {
        out.push(v["input"]["message"].as_str().unwrap().to_string());
    }
    out
}

/// Every leaf the parser emits, with one of its values (text as the store shows it).
fn emitted(records: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut fields: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in records {
        let p = zia::parse_event(r).unwrap();
        p.event.for_each_leaf(|path, v| {
            let vals = fields.entry(path.to_string()).or_default();
            let mut add = |v: &Value| match v {
                Value::String(s) => {
                    vals.insert(s.clone());
                }
                Value::Null | Value::Object(_) | Value::Array(_) => {}
                other => {
                    vals.insert(other.to_string());
                }
            };
            match v {
                Value::Array(items) => items.iter().for_each(&mut add),
                v => add(v),
            }
        });
    }
    fields
}

fn store_of(records: &[String]) -> (tempfile::TempDir, TantivyStore) {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    for (i, r) in records.iter().enumerate() {
        let p = zia::parse_event(r).unwrap();
        s.add_parsed(i as u64, &p.event, r).unwrap();
    }
    s.commit().unwrap();
    (d, s)
}

fn all() -> EventQuery {
    common::eq(
        "*",
        &store::TimeSpec {
            from: Some("2000-01-01".into()),
            to: Some("2100-01-01".into()),
            since: None,
        },
    )
}

#[test]
fn every_field_the_parser_emits_has_top_values_and_a_distinct_count() {
    let recs = records();
    let fields = emitted(&recs);
    let (_d, s) = store_of(&recs);
    let q = all();
    let mut failures = Vec::new();
    for (field, values) in &fields {
        // Text (the raw record, messages) and unique ids are refused by design.
        if !is_aggregatable(field) || field == "@timestamp" || values.is_empty() {
            continue;
        }
        match s.top(&q, field, 1000) {
            Ok(t) if t.values.is_empty() => failures.push(format!("{field}: no values")),
            Ok(_) => {}
            Err(e) => failures.push(format!("{field}: {e}")),
        }
        match s.distinct(&q, field) {
            Ok(0) => failures.push(format!("{field}: distinct 0")),
            Ok(_) => {}
            Err(e) => failures.push(format!("{field}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn top_values_of_untyped_and_unindexed_keyword_fields_count_each_value() {
    let recs = records();
    let (_d, s) = store_of(&recs);
    let q = all();
    for field in [
        "url.original",
        "zscaler.zia.bwthrottle",
        "zscaler.zia.urlclass",
    ] {
        let mut expected: BTreeMap<String, u64> = BTreeMap::new();
        for r in &recs {
            let ev = zia::parse(r).unwrap().event;
            if let Some(v) = store::api::get_path(&ev, field).and_then(Value::as_str) {
                *expected.entry(v.to_string()).or_default() += 1;
            }
        }
        assert!(!expected.is_empty(), "{field}");
        let top = s.top(&q, field, 100_000).unwrap();
        let got: BTreeMap<String, u64> = top.values.into_iter().collect();
        assert_eq!(got, expected, "{field}");
        assert_eq!(s.distinct(&q, field).unwrap(), expected.len() as u64);
    }
}

#[test]
fn the_zscaler_fields_the_schema_types_are_named_as_the_parser_emits_them() {
    let fields = emitted(&records());
    // A feed format of one's own may name an NSS variable itself (`"riskscore":"%d{riskscore}"`),
    // which the parser keeps as `zscaler.zia.riskscore`.
    let variable = |n: &str| {
        nss::LogType::ALL.iter().any(|lt| {
            lt.fields()
                .iter()
                .any(|f| Some(f.name) == n.strip_prefix("zscaler.zia."))
        })
    };
    let unknown: Vec<&str> = TYPED_FIELDS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| n.starts_with("zscaler.zia.") && !fields.contains_key(*n) && !variable(n))
        .collect();
    assert!(unknown.is_empty(), "typed but never emitted: {unknown:?}");
}

#[test]
fn text_and_identifier_fields_are_refused_with_the_reason() {
    let (_d, s) = store_of(&records()[..3]);
    let e = s.top(&all(), "message", 10).unwrap_err().to_string();
    assert!(e.contains("cannot be aggregated"), "{e}");
    assert!(e.contains("text"), "{e}");
}

#[test]
fn every_field_the_parser_emits_is_typed_or_in_the_parser_vocabulary() {
    // The ClickHouse store gives each of them a column; anything else falls back to its
    // key/value arrays, meant for the rare fields nobody declared.
    let missing: Vec<String> = emitted(&records())
        .into_keys()
        .filter(|f| {
            store::schema::typed_kind(f).is_none()
                && !store::schema::PARSER_FIELDS.contains(&f.as_str())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "add to store::schema::PARSER_FIELDS: {missing:?}"
    );
}
