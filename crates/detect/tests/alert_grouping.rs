//! How matches become alerts an analyst can work: one open alert per rule and grouping key,
//! grouping fields configurable per rule, indicators grouped by indicator.

use std::path::PathBuf;
use std::sync::Arc;

use detect::alerts::AlertFilter;
use detect::cti::{CtiMatcher, CtiStore};
use detect::{AlertManager, Detector, RuleSet};
use serde_json::{json, Value};

fn web(i: usize, src: &str, user: &str, domain: &str) -> Value {
    json!({"@timestamp": format!("2026-12-06T10:00:{:02}Z", i % 60),
      "event": {"dataset": "web", "action": "allowed", "id": format!("ev-{i}")},
      "source": {"ip": src}, "user": {"name": user},
      "url": {"domain": domain, "original": format!("{domain}/x")}, "destination": {"domain": domain}})
}

fn alerts_of(rules: &str, cti: Option<&str>, events: &[Value]) -> Vec<detect::Alert> {
    let data = tempfile::tempdir().unwrap();
    let mut set = RuleSet::new();
    set.add_yaml(rules, "rules.yml");
    let mut det = Detector::new(&set).unwrap();
    if let Some(f) = cti {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cti"));
        let mut store = CtiStore::open(data.path()).unwrap();
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap();
        store.import_doc(&doc, f).unwrap();
        det.set_cti(Arc::new(CtiMatcher::build(
            &store.all().unwrap(),
            detect::chrono::Utc::now(),
        )));
    }
    let mut mgr = AlertManager::open(data.path()).unwrap();
    for ev in events {
        for m in det.process_value(ev) {
            mgr.ingest(&m).unwrap();
        }
    }
    mgr.store().list(&AlertFilter::default()).unwrap()
}

const BY_DEFAULT: &str = "title: Bad domain\nid: r-default\nlogsource: {product: zscaler, service: zia}\ndetection:\n  sel:\n    url.domain|endswith: '.bad.example'\n  condition: sel\nlevel: high\n";

#[test]
fn a_rule_opens_one_alert_per_window_by_default_listing_who_was_involved() {
    let events: Vec<Value> = (0..6)
        .map(|i| {
            web(
                i,
                ["10.0.0.1", "10.0.0.2"][i % 2],
                "u",
                &format!("h{i}.bad.example"),
            )
        })
        .collect();
    let alerts = alerts_of(BY_DEFAULT, None, &events);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].similar, 5);
    assert_eq!(alerts[0].hosts, vec!["10.0.0.1", "10.0.0.2"]);
    assert_eq!(alerts[0].destinations.len(), 6);
}

#[test]
fn a_rule_grouping_by_source_host_opens_one_alert_per_host() {
    let rule = BY_DEFAULT.replace("level: high\n", "level: high\nziaxdr_group_by: source.ip\n");
    let events: Vec<Value> = (0..6)
        .map(|i| {
            web(
                i,
                ["10.0.0.1", "10.0.0.2"][i % 2],
                "u",
                &format!("h{i}.bad.example"),
            )
        })
        .collect();
    let alerts = alerts_of(&rule, None, &events);
    assert_eq!(alerts.len(), 2, "one alert per source host");
    assert!(alerts
        .iter()
        .all(|a| a.similar == 2 && a.destinations.len() == 3));
}

#[test]
fn a_rule_may_name_its_own_grouping_fields() {
    let rule = BY_DEFAULT.replace(
        "level: high\n",
        "level: high\nziaxdr_group_by: [user.name]\n",
    );
    let events: Vec<Value> = (0..6)
        .map(|i| {
            web(
                i,
                &format!("10.0.0.{i}"),
                ["ana", "bob", "cy"][i % 3],
                "x.bad.example",
            )
        })
        .collect();
    let alerts = alerts_of(&rule, None, &events);
    assert_eq!(alerts.len(), 3, "one alert per user");
    assert!(alerts
        .iter()
        .all(|a| a.hosts.len() == 2 && a.users.len() == 1));
}

#[test]
fn a_rule_with_an_invalid_window_is_reported_not_loaded() {
    let rule = BY_DEFAULT.replace("level: high\n", "level: high\nziaxdr_window: soon\n");
    let mut set = RuleSet::new();
    set.add_yaml(&rule, "rules.yml");
    let infos = set.compile().unwrap().infos;
    assert!(infos[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("ziaxdr_window"));
}

#[test]
fn an_indicator_hit_by_many_users_is_one_alert() {
    // The sample indicator matches URLs of one malicious domain.
    let f = "oasis-cti-documentation/examples/indicator-for-malicious-url.json";
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cti"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap();
    let pattern = doc.to_string();
    let url = pattern
        .split("url:value = '")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .expect("the sample is a URL indicator")
        .to_string();
    let domain = url
        .split("://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let events: Vec<Value> = (0..8)
        .map(|i| {
            let mut e = web(i, &format!("10.0.1.{i}"), &format!("user{i}"), &domain);
            e["url"]["original"] = json!(url);
            e["url"]["full"] = json!(url);
            e
        })
        .collect();
    let alerts = alerts_of("title: none\nid: none\nlogsource: {product: zscaler}\ndetection:\n  sel:\n    event.dataset: nothing\n  condition: sel\n", Some(f), &events);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].similar, 7);
    assert_eq!(alerts[0].users.len(), 8);
}
