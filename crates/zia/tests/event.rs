//! [`zia::Event`], the parser's flat event, stands for exactly the nested objects
//! [`zia::parse`] returns: same fields, same leaves in the same order, same JSON, and setting
//! a path behaves as setting it in nested objects.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

/// Every record of the Sekoia vectors, plus records of odd shapes.
fn records() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/sekoia-zscaler-zia");
    let mut out = Vec::new();
    for sub in ["", "docs-v1.1.0", "pending-pr-2175"] {
        let dir = root.join(sub);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).expect("read"))
                .expect("vector is JSON");
            out.push(v["input"]["message"].as_str().expect("message").to_owned());
        }
    }
    assert!(out.len() > 20, "too few vectors: {}", out.len());
    out.extend(
        [
            // Dotted keys that nest, a key that is both a value and a parent, nulls, arrays,
            // an empty object, a key deeper than the nesting limit.
            r#"{"sourcetype":"zscalernss-web","event":{"a.b":"1","a.b.c":"2","n":null,"arr":[1,{"x":"y"}],"e":{},"k.1.2.3.4.5.6.7.8.9.10":"deep","login":"bob@example.com"}}"#,
            "not a record at all",
            "",
        ]
        .map(String::from),
    );
    out
}

/// Leaves of nested objects as (dotted path, value), in key order; arrays and empty objects
/// are leaves.
fn map_leaves(prefix: &str, m: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (k, v) in m {
        let p = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(o) if !o.is_empty() => map_leaves(&p, o, out),
            other => out.push((p, other.clone())),
        }
    }
}

#[test]
fn a_parsed_event_holds_the_same_fields_as_the_nested_objects_of_parse() {
    for raw in records() {
        let nested = zia::parse_or_error(&raw);
        let flat = zia::parse_or_error_event(&raw);
        assert_eq!(flat.to_map(), nested, "{raw}");
        assert_eq!(flat.clone().into_map(), nested, "{raw}");
    }
}

#[test]
fn an_event_serializes_to_the_same_json_as_its_nested_objects() {
    for raw in records() {
        let flat = zia::parse_or_error_event(&raw);
        assert_eq!(
            serde_json::to_string(&flat).unwrap(),
            serde_json::to_string(&zia::parse_or_error(&raw)).unwrap(),
            "{raw}"
        );
    }
}

#[test]
fn leaves_are_visited_in_the_key_order_of_the_nested_objects() {
    for raw in records() {
        let mut expected = Vec::new();
        map_leaves("", &zia::parse_or_error(&raw), &mut expected);
        let mut seen = Vec::new();
        zia::parse_or_error_event(&raw).for_each_leaf(|p, v| seen.push((p.to_owned(), v.clone())));
        assert_eq!(seen, expected, "{raw}");
    }
}

#[test]
fn unordered_leaves_are_the_ordered_leaves() {
    for raw in records() {
        let ev = zia::parse_or_error_event(&raw);
        let (mut ordered, mut unordered) = (Vec::new(), Vec::new());
        ev.for_each_leaf(|p, v| ordered.push((p.to_owned(), v.to_string())));
        ev.for_each_leaf_unordered(|p, v| unordered.push((p.to_owned(), v.to_string())));
        ordered.sort();
        unordered.sort();
        assert_eq!(unordered, ordered, "{raw}");
    }
}

#[test]
fn get_reads_leaves_and_builds_objects() {
    let mut ev = zia::Event::from_map(
        json!({"event": {"kind": "event", "action": "blocked"}, "n": 1})
            .as_object()
            .unwrap()
            .clone(),
    );
    assert_eq!(ev.get_str("event.kind"), Some("event"));
    assert_eq!(
        ev.get("event").as_deref(),
        Some(&json!({"kind": "event", "action": "blocked"}))
    );
    assert_eq!(ev.leaf("event"), None, "an object is not a leaf");
    assert_eq!(ev.get("event.missing"), None);
    assert_eq!(ev.get("n.deeper"), None);
    ev.set("n", json!(2));
    assert_eq!(ev.leaf("n"), Some(&json!(2)));
}

#[test]
fn setting_a_path_replaces_what_it_held_as_in_nested_objects() {
    let mut ev = zia::parse_or_error_event(
        r#"{"sourcetype":"zscalernss-web","event":{"login":"alice@example.com","action":"Allowed"}}"#,
    );
    let mut nested = ev.to_map();
    let meta = json!({"event_id": "e1", "intake": {"uuid": "u1"}});
    ev.set("ziaxdr", meta.clone());
    nested.insert("ziaxdr".into(), meta);
    assert_eq!(ev.to_map(), nested);
    // A value replaces an object, and an object a value, whole.
    let replacement = json!({"other": true});
    ev.set("ziaxdr", replacement.clone());
    nested.insert("ziaxdr".into(), replacement);
    assert_eq!(ev.to_map(), nested);
    ev.set("user", json!("x"));
    nested.insert("user".into(), json!("x"));
    assert_eq!(ev.to_map(), nested);
    assert_eq!(ev.get("ziaxdr.event_id"), None, "replaced fields are gone");
    assert_eq!(ev.get("user.email"), None);
}

#[test]
fn set_if_absent_keeps_a_value_already_there() {
    let mut ev = zia::Event::from_map(Map::new());
    ev.set_if_absent("event.ingested", || json!("first"));
    ev.set_if_absent("event.ingested", || json!("second"));
    assert_eq!(ev.get_str("event.ingested"), Some("first"));
    assert_eq!(
        ev.to_map(),
        *json!({"event": {"ingested": "first"}}).as_object().unwrap()
    );
}

#[test]
fn an_event_made_from_nested_objects_gives_them_back() {
    let m = json!({"b": {"y": [1, {"z": 2}], "x": {}}, "a": null, "a.b": "dotted key"});
    let m = m.as_object().unwrap().clone();
    let ev = zia::Event::from_map(m.clone());
    assert_eq!(ev.to_map(), m);
    assert_eq!(serde_json::to_value(&ev).unwrap(), Value::Object(m));
}

#[test]
fn a_failed_record_is_an_error_event() {
    assert!(zia::parse_or_error_event("garbage").is_error());
    assert!(!zia::parse_or_error_event(
        r#"{"sourcetype":"zscalernss-dns","event":{"req":"example.com"}}"#
    )
    .is_error());
}

#[test]
fn a_part_serializes_as_the_value_at_its_path() {
    let ev = zia::parse_or_error_event(
        r#"{"sourcetype":"zscalernss-web","event":{"login":"alice@example.com","action":"Allowed","reqsize":"12"}}"#,
    );
    for path in ["user", "user.email", "event", "http.request.bytes", ""] {
        match ev.get(path) {
            Some(v) => assert_eq!(
                serde_json::to_value(ev.part(path).expect("part")).unwrap(),
                *v,
                "{path}"
            ),
            None => assert!(ev.part(path).is_none(), "{path}"),
        }
    }
    assert!(ev.part("no.such.path").is_none());
}
