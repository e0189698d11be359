//! The recommended formats carry every JSON key of the Sekoia.io conformance vectors, so the
//! `zia` parser, which maps those keys, sees all of them.

use std::collections::BTreeSet;
use std::path::Path;

use nss::recommended::RECOMMENDED;
use nss::render::DEFAULT_ESCAPES;
use nss::{Compiled, DateParts, Format, Value};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/sekoia-zscaler-zia"
);

/// The `sourcetype` and event keys of each vector's raw message.
fn vector_keys(dir: &Path) -> Vec<(String, String, BTreeSet<String>)> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("vector directory")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let msg = v["input"]["message"].as_str().expect("message");
        let Ok(raw) = serde_json::from_str::<serde_json::Value>(msg) else {
            continue;
        }; // key=value vectors
        let st = raw["sourcetype"].as_str().expect("sourcetype").to_string();
        let keys = raw["event"]
            .as_object()
            .expect("event")
            .keys()
            .cloned()
            .collect();
        out.push((
            path.file_name().unwrap().to_string_lossy().into_owned(),
            st,
            keys,
        ));
    }
    out
}

/// The event keys of each recommended format, by sourcetype.
fn recommended_keys() -> Vec<(&'static str, &'static str, BTreeSet<String>)> {
    RECOMMENDED
        .iter()
        .map(|r| {
            let c = Compiled::new(
                &Format::parse(r.body).expect("parses"),
                Some(r.log_type),
                DEFAULT_ESCAPES,
            );
            let mut out = Vec::new();
            c.render_with(|_| Value::Text("x"), &DateParts::from_epoch(0), &mut out);
            let v: serde_json::Value = serde_json::from_slice(&out).expect("renders JSON");
            (
                r.name,
                r.log_type.sourcetype(),
                v["event"]
                    .as_object()
                    .expect("event")
                    .keys()
                    .cloned()
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn every_vector_key_is_in_a_recommended_format_of_its_sourcetype() {
    let formats = recommended_keys();
    let mut checked = 0;
    for dir in ["", "docs-v1.1.0"] {
        for (file, st, keys) in vector_keys(&Path::new(VECTORS).join(dir)) {
            let covering: Vec<_> = formats
                .iter()
                .filter(|(_, s, k)| *s == st && keys.is_subset(k))
                .map(|(n, _, _)| *n)
                .collect();
            let closest = formats
                .iter()
                .filter(|(_, s, _)| *s == st)
                .map(|(n, _, k)| {
                    (
                        keys.difference(k).count(),
                        *n,
                        keys.difference(k).cloned().collect::<Vec<_>>(),
                    )
                })
                .min();
            assert!(
                !covering.is_empty(),
                "{dir}/{file} ({st}): no recommended format has all its keys; closest: {closest:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} vectors found");
}
