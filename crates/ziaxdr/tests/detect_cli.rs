//! `ziaxdr rules`, `ziaxdr cti` and `ziaxdr alerts` from the command line.

use std::path::PathBuf;
use std::process::{Command, Output};

use detect::{AlertManager, Detector, RuleSet};
use serde_json::{json, Value};

fn ziaxdr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ziaxdr"))
        .args(args)
        .env("ZIAXDR_LOG", "error")
        .output()
        .unwrap()
}

fn shared(p: &str) -> String {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
        .join(p)
        .display()
        .to_string()
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn telegram_event() -> Value {
    json!({"@timestamp": "2026-11-27T14:00:00Z", "event": {"dataset": "web", "action": "allowed", "id": "e1"},
           "source": {"ip": "10.1.1.5"}, "destination": {"ip": "149.154.167.220"},
           "url": {"domain": "api.telegram.org", "original": "api.telegram.org/bot1:A/sendMessage"}})
}

#[test]
fn rules_list_json_gives_a_status_per_rule_and_a_reason_for_unsupported_ones() {
    let out = ziaxdr(&["rules", "list", "--json", "--rules", &shared("sigma/rules")]);
    assert!(out.status.success());
    let rules = json_lines(&out);
    assert!(rules.len() > 123);
    for r in &rules {
        assert!(r["title"].is_string());
        match r["status"].as_str().unwrap() {
            "loaded" => assert!(r["reason"].is_null()),
            "unsupported" => assert!(r["reason"].as_str().is_some_and(|s| !s.is_empty())),
            other => panic!("status {other}"),
        }
    }
    assert!(rules
        .iter()
        .any(|r| r["status"] == "loaded" && r["source"].as_str().unwrap().contains("proxy")));
}

#[test]
fn rules_test_prints_the_matches_of_a_rule_over_ndjson_events() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    std::fs::write(
        &events,
        format!(
            "{}\n{{\"event\":{{\"dataset\":\"web\"}}}}\n",
            telegram_event()
        ),
    )
    .unwrap();
    let rule = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../detect/rules/zia_telegram_bot_api.yml"
    );
    let out = ziaxdr(&["rules", "test", rule, events.to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.contains("line 1: Telegram Bot API Usage"));
    assert!(stdout.contains("ziaxdr project"));
}

#[test]
fn cti_import_then_list_shows_the_indicators_and_why_some_cannot_match() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let bundle = shared("cti/oasis-cti-stix2-json-schemas/examples/threat-reports/apt1.json");
    let out = ziaxdr(&["cti", "import", &bundle, "--data", data, "--json"]);
    assert!(out.status.success());
    let rep = &json_lines(&out)[0];
    assert_eq!(rep["added"], 12);
    // A second import of the same bundle changes nothing.
    let out = ziaxdr(&["cti", "import", &bundle, "--data", data, "--json"]);
    assert_eq!(json_lines(&out)[0]["unchanged"], 12);
    let out = ziaxdr(&["cti", "list", "--data", data, "--json"]);
    let list = json_lines(&out);
    assert_eq!(list.len(), 12);
    let x509 = list.iter().filter(|i| i["state"] == "unsupported").count();
    assert_eq!(x509, 2);
}

#[test]
fn alerts_can_be_listed_triaged_and_commented_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    {
        let mut det = Detector::new(&RuleSet::builtin()).unwrap();
        let mut mgr = AlertManager::open(dir.path()).unwrap();
        for m in det.process_value(&telegram_event()) {
            mgr.ingest(&m).unwrap();
        }
    }
    let out = ziaxdr(&["alerts", "list", "--data", data, "--json"]);
    let alerts = json_lines(&out);
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    for key in ["uuid", "short_id", "status", "urgency", "similar"] {
        assert!(!a[key].is_null(), "{key}");
    }
    assert_eq!(a["rule"]["type"], "sigma");
    assert_eq!(a["rule"]["author"], "ziaxdr project");
    assert!(a["rule"]["id"].is_string() && a["rule"]["name"].is_string());
    let short = a["short_id"].as_str().unwrap();

    assert!(
        ziaxdr(&["alerts", "status", short, "Acknowledged", "--data", data])
            .status
            .success()
    );
    assert!(
        ziaxdr(&["alerts", "comment", short, "looking", "--data", data, "--author", "ana"])
            .status
            .success()
    );
    // The workflow never goes back.
    assert!(
        !ziaxdr(&["alerts", "status", short, "Pending", "--data", data])
            .status
            .success()
    );

    let out = ziaxdr(&["alerts", "show", short, "--data", data, "--json"]);
    let shown = &json_lines(&out)[0];
    assert_eq!(shown["status"], "Acknowledged");
    assert_eq!(shown["comments"][0]["author"], "ana");
    assert!(shown["history"].as_array().unwrap().len() >= 3);
}

/// The shipped rule "Telegram Bot API Usage".
const TELEGRAM: &str = "6d0722c9-bc16-55f2-8235-e6b27911a493";

#[test]
fn a_rule_disabled_from_the_cli_is_listed_disabled_until_enabled_again() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().to_str().unwrap();
    let listed = |data: &str| -> Value {
        let out = ziaxdr(&["rules", "list", "--json", "--data", data]);
        assert!(out.status.success());
        json_lines(&out)
            .into_iter()
            .find(|r| r["id"] == TELEGRAM)
            .unwrap()
    };
    assert_eq!(listed(data)["enabled"], true);
    let out = ziaxdr(&["rules", "disable", TELEGRAM, "--data", data]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(listed(data)["enabled"], false);
    assert!(ziaxdr(&["rules", "enable", TELEGRAM, "--data", data])
        .status
        .success());
    assert_eq!(listed(data)["enabled"], true);
}

#[test]
fn disabling_an_unknown_rule_fails() {
    let d = tempfile::tempdir().unwrap();
    let out = ziaxdr(&[
        "rules",
        "disable",
        "no-such-rule",
        "--data",
        d.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn cti_sources_gives_one_line_per_imported_file_with_counts() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().to_str().unwrap();
    let file = shared("cti/oasis-cti-stix2-json-schemas/examples/threat-reports/apt1.json");
    let out = ziaxdr(&["cti", "import", &file, "--data", data, "--json"]);
    assert!(out.status.success());
    let added = json_lines(&out)[0]["added"].as_u64().unwrap();
    let out = ziaxdr(&["cti", "sources", "--data", data, "--json"]);
    assert!(out.status.success());
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["source"], file.as_str());
    assert_eq!(rows[0]["indicators"], added);
}
