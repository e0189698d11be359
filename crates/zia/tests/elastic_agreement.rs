//! Agreement with another vendor's published pipeline fixtures of ZIA feeds: the Elastic
//! `zscaler_zia` integration's `_dev/test/pipeline/*-expected.json` files (and their `.log`
//! inputs), kept OUT of this repository. Point `ZIAXDR_ELASTIC_FIXTURES` at a directory
//! holding them (any layout; every `*-expected.json` below it is read) and run
//!
//! ```text
//! ZIAXDR_ELASTIC_FIXTURES=/tmp/elastic-zia cargo test -p zia --test elastic_agreement -- --ignored --nocapture
//! ```
//!
//! Each expected event's input is its `event.original` (or the matching line of the `.log`
//! beside it). The fields both sides have are compared: the time (`@timestamp`, as an
//! instant), the action (`event.action`, case and order aside), the user (the expected
//! `user.email`, else `user.name`, against ours), the domain (`url.domain`,
//! `dns.question.name`, `destination.domain`, against any of ours) and the addresses
//! (`source.ip`, `destination.ip`, `source.nat.ip`, `client.ip`, `server.ip`, each against the
//! same field). A field the expected event lacks is not counted. It prints every
//! disagreement and the share that agrees, per log type and in all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// The values at `path` as lowercase strings (an array gives each item).
fn texts(v: &Value, path: &str) -> Vec<String> {
    match at(v, path) {
        Some(Value::Array(a)) => a.iter().filter_map(scalar).collect(),
        Some(x) => scalar(x).into_iter().collect(),
        None => Vec::new(),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn instant(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn expected_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            expected_files(&p, out);
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with("-expected.json"))
        {
            out.push(p);
        }
    }
}

#[derive(Default)]
struct Tally {
    agreed: u32,
    total: u32,
}

#[test]
#[ignore = "needs the Elastic fixtures, kept out of the repository: set ZIAXDR_ELASTIC_FIXTURES"]
fn agreement_with_the_elastic_zscaler_zia_pipeline_fixtures() {
    let dir = std::env::var("ZIAXDR_ELASTIC_FIXTURES")
        .expect("ZIAXDR_ELASTIC_FIXTURES: a directory with the fixtures");
    let mut files = Vec::new();
    expected_files(Path::new(&dir), &mut files);
    assert!(!files.is_empty(), "no *-expected.json under {dir}");
    let mut by_type: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_field: BTreeMap<&str, Tally> = BTreeMap::new();
    let (mut records, mut failed) = (0, 0);
    // Times whose input has no year (syslog headers): the expected year is the one the other
    // vendor's test harness pinned, ours the latest that is not in the future; counted apart.
    let mut yearless = 0u32;
    for file in &files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let log = file
            .to_str()
            .and_then(|s| s.strip_suffix("-expected.json"))
            .and_then(|s| std::fs::read_to_string(s).ok());
        let lines: Vec<&str> = log.as_deref().map_or(Vec::new(), |l| l.lines().collect());
        let kind = file
            .parent()
            .and_then(|p| p.file_name())
            .map_or("?".into(), |n| n.to_string_lossy().into_owned());
        for (i, exp) in doc["expected"].as_array().into_iter().flatten().enumerate() {
            let Some(raw) = at(exp, "event.original")
                .and_then(Value::as_str)
                .or_else(|| lines.get(i).copied())
            else {
                continue;
            };
            records += 1;
            let ours = match zia::parse(raw) {
                Ok(p) => Value::Object(p.event),
                Err(e) => {
                    failed += 1;
                    println!("{kind} #{i}: does not parse: {e}");
                    Value::Null
                }
            };
            let mut check = |field: &'static str, ok: bool, want: String, got: String| {
                for t in [
                    by_type.entry(kind.clone()).or_default(),
                    by_field.entry(field).or_default(),
                ] {
                    t.total += 1;
                    t.agreed += u32::from(ok);
                }
                if !ok {
                    println!("{kind} #{i} {field}: expected {want}, got {got}");
                }
            };
            if let Some(want) = at(exp, "@timestamp").and_then(Value::as_str) {
                let got = at(&ours, "@timestamp")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let ok = instant(want).is_some() && instant(want) == instant(got);
                if !ok
                    && !raw.contains(want.get(..4).unwrap_or("?"))
                    && want.get(4..19).is_some()
                    && want.get(4..19) == got.get(4..19)
                {
                    yearless += 1;
                }
                check("time", ok, want.into(), got.into());
            }
            let want = texts(exp, "event.action");
            if !want.is_empty() {
                let mut got = texts(&ours, "event.action");
                let mut w = want.clone();
                got.sort();
                got.dedup();
                w.sort();
                w.dedup();
                check("action", w == got, format!("{w:?}"), format!("{got:?}"));
            }
            let want = texts(exp, "user.email");
            let want = if want.is_empty() {
                texts(exp, "user.name")
            } else {
                want
            };
            if let Some(w) = want.first() {
                let got: Vec<String> = ["user.email", "user.name"]
                    .iter()
                    .flat_map(|p| texts(&ours, p))
                    .collect();
                check("user", got.contains(w), w.clone(), format!("{got:?}"));
            }
            let domains = ["url.domain", "dns.question.name", "destination.domain"];
            let got: Vec<String> = domains.iter().flat_map(|p| texts(&ours, p)).collect();
            for p in domains {
                if let Some(w) = texts(exp, p).first() {
                    check(
                        "domain",
                        got.contains(w),
                        format!("{p}={w}"),
                        format!("{got:?}"),
                    );
                }
            }
            for p in [
                "source.ip",
                "destination.ip",
                "source.nat.ip",
                "client.ip",
                "server.ip",
            ] {
                if let Some(w) = texts(exp, p).first() {
                    let got = texts(&ours, p);
                    check(
                        "ip",
                        got.contains(w),
                        format!("{p}={w}"),
                        format!("{got:?}"),
                    );
                }
            }
        }
    }
    let pct = |t: &Tally| 100.0 * f64::from(t.agreed) / f64::from(t.total.max(1));
    println!(
        "\n{records} records from {} files, {failed} not parsed",
        files.len()
    );
    for (k, t) in &by_type {
        println!("{k:24} {:3}/{:3} {:5.1}%", t.agreed, t.total, pct(t));
    }
    for (k, t) in &by_field {
        println!("field {k:18} {:3}/{:3} {:5.1}%", t.agreed, t.total, pct(t));
    }
    let all = by_type.values().fold(Tally::default(), |a, t| Tally {
        agreed: a.agreed + t.agreed,
        total: a.total + t.total,
    });
    println!(
        "agreement: {}/{} = {:.1}%",
        all.agreed,
        all.total,
        pct(&all)
    );
    let lenient = Tally {
        agreed: all.agreed + yearless,
        total: all.total,
    };
    println!(
        "agreement, years of year-less inputs not compared ({yearless}): {}/{} = {:.1}%",
        lenient.agreed,
        lenient.total,
        pct(&lenient)
    );
}
