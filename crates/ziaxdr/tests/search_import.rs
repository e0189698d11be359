//! `ziaxdr import` end to end: archived records (plain and .gz) go through the journal and
//! the pipeline into the store, where `ziaxdr search` finds them.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ziaxdr");

fn conformance_records() -> Vec<String> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/sekoia-zscaler-zia"
    );
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    names
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            let raw = v["input"]["message"].as_str().unwrap();
            // One record per line, as an NSS feed writes them. The vectors share record ids
            // (which the pipeline deduplicates on): give each its own.
            let mut rec: Value = serde_json::from_str(raw).unwrap();
            if let Some(ev) = rec.get_mut("event").and_then(Value::as_object_mut) {
                for id in ["recordid", "event_id"] {
                    if ev.contains_key(id) {
                        ev.insert(id.into(), Value::String(format!("{}", 9_000 + i)));
                    }
                }
            }
            serde_json::to_string(&rec).unwrap()
        })
        .collect()
}

fn intake_key(data: &Path) -> String {
    let out = Command::new(BIN)
        .args(["intake", "create", "--json", "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["intake_key"].as_str().unwrap().to_string()
}

/// Runs `ziaxdr import FILES… FLAGS… --data DATA`.
fn import(files: &[&Path], flags: &[&str], data: &Path) -> std::process::Output {
    Command::new(BIN)
        .arg("import")
        .args(files)
        .args(flags)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap()
}

fn count(data: &Path, query: &str) -> u64 {
    let out = Command::new(BIN)
        .args([
            "search",
            query,
            "--from",
            "2000-01-01",
            "--count",
            "--json",
            "--data",
        ])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["count"].as_u64().unwrap()
}

#[test]
fn import_of_plain_and_gzip_files_stores_every_record_once() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let key = intake_key(&data);
    let recs = conformance_records();
    let plain = d.path().join("a.log");
    let mut text = recs[..5].join("\n");
    text.push_str("\n\nthis line is not a ZIA record\n");
    std::fs::write(&plain, text).unwrap();
    let gz = d.path().join("b.log.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(recs[5..].join("\n").as_bytes()).unwrap();
    enc.finish().unwrap();

    let out = import(&[&plain, &gz], &["--key", &key], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("1 parse failures"), "{summary}");

    // Every record plus the unparseable line; no duplicate from the replay-safe pipeline.
    assert_eq!(count(&data, "*"), recs.len() as u64 + 1);
    assert_eq!(count(&data, "event.kind:pipeline_error"), 1);
    assert_eq!(count(&data, "event.dataset:audit"), 3);
}

#[test]
fn import_with_an_unknown_key_fails_without_storing() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    intake_key(&data);
    let f = d.path().join("x.log");
    std::fs::write(&f, "{}\n").unwrap();
    let out = import(&[&f], &["--key", "not-a-key"], &data);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no intake has this key"));
}

#[test]
fn import_with_the_least_index_memory_stores_every_record() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let key = intake_key(&data);
    let recs = conformance_records();
    let f = d.path().join("a.log");
    std::fs::write(&f, recs.join("\n")).unwrap();
    let out = import(&[&f], &["--index-memory", "64", "--key", &key], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(&data, "*"), recs.len() as u64);
}

#[test]
fn import_refuses_less_index_memory_than_it_can_work_with() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("x.log");
    std::fs::write(&f, "{}\n").unwrap();
    let flags = ["--index-memory", "16", "--key", "k"];
    let out = import(&[&f], &flags, &d.path().join("data"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--index-memory") && err.contains("64..=8000"),
        "{err}"
    );
}
