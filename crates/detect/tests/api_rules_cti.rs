//! The rules and CTI REST handlers (`detect::api::RulesApi`, `detect::api::handle_cti`) and
//! what the running `DetectionService` makes of their changes (disabled rules, hit counts).

use std::path::{Path, PathBuf};

use detect::api::{handle_cti, RulesApi, RUN_MAX_EVENTS};
use detect::chrono::{DateTime, Utc};
use detect::cti::EventSource;
use detect::{AlertChange, AlertStore, DetectionService, RuleSet, ServiceOptions};
use serde_json::{json, Map, Value};

/// The shipped rule "Telegram Bot API Usage".
const TELEGRAM: &str = "6d0722c9-bc16-55f2-8235-e6b27911a493";

fn telegram_event(id: &str, at: &str) -> Map<String, Value> {
    let v = json!({"@timestamp": at,
      "event": {"dataset": "web", "action": "allowed", "id": id},
      "source": {"ip": "10.1.1.5"}, "destination": {"ip": "149.154.167.220"},
      "url": {"domain": "api.telegram.org", "original": "api.telegram.org/bot1:AAE/sendDocument"},
      "user": {"name": "johndoe"}});
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn quiet_event(id: &str, at: &str) -> Map<String, Value> {
    let mut m = telegram_event(id, at);
    m.insert(
        "url".into(),
        json!({"domain": "www.example.com", "original": "www.example.com/"}),
    );
    m
}

fn api() -> RulesApi {
    RulesApi::from_set(RuleSet::builtin()).unwrap()
}

fn item<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("rule {id} not listed"))
}

fn service(data: &Path) -> DetectionService {
    DetectionService::open(&ServiceOptions {
        data_dir: data.to_path_buf(),
        ..Default::default()
    })
    .unwrap()
}

/// Stored events in memory, newest first as the event store pages them.
struct Stored(Vec<Map<String, Value>>);

impl EventSource for Stored {
    fn scan_since(
        &self,
        since: DateTime<Utc>,
        visit: &mut dyn FnMut(&Map<String, Value>) -> bool,
    ) -> Result<(), String> {
        for ev in self.0.iter().rev() {
            let at: DateTime<Utc> = ev["@timestamp"].as_str().unwrap().parse().unwrap();
            if at >= since && !visit(ev) {
                break;
            }
        }
        Ok(())
    }
}

#[test]
fn rules_list_gives_every_verdict_with_state_and_type() {
    let d = tempfile::tempdir().unwrap();
    let r = api().handle(d.path(), "GET", "/api/v1/rules", "", b"", None);
    assert_eq!(r.status, 200);
    let t = item(&r.body, TELEGRAM);
    assert_eq!(t["title"], "Telegram Bot API Usage");
    assert_eq!(t["status"], "loaded");
    assert_eq!(t["type"], "detection");
    assert_eq!(t["enabled"], true);
    assert_eq!(t["hits"], 0);
    assert!(t["last_hit"].is_null());
    assert_eq!(t["author"], "ziaxdr project");
    let n = r.body["items"].as_array().unwrap().len();
    assert_eq!(n, RuleSet::builtin().compile().unwrap().infos.len());
}

#[test]
fn disabling_a_rule_is_persisted_and_listed() {
    let d = tempfile::tempdir().unwrap();
    let path = format!("/api/v1/rules/{TELEGRAM}/enabled");
    let r = api().handle(d.path(), "POST", &path, "", br#"{"enabled": false}"#, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["enabled"], false);
    // A fresh handler (another request, or a restarted server) sees it.
    let list = api().handle(d.path(), "GET", "/api/v1/rules", "", b"", None);
    assert_eq!(item(&list.body, TELEGRAM)["enabled"], false);
}

#[test]
fn enabling_an_unknown_rule_is_404_and_a_bad_body_400() {
    let d = tempfile::tempdir().unwrap();
    let a = api();
    let r = a.handle(
        d.path(),
        "POST",
        "/api/v1/rules/nope/enabled",
        "",
        br#"{"enabled": false}"#,
        None,
    );
    assert_eq!(r.status, 404);
    let path = format!("/api/v1/rules/{TELEGRAM}/enabled");
    let r = a.handle(d.path(), "POST", &path, "", br#"{"enabled": "no"}"#, None);
    assert_eq!(r.status, 400);
}

#[test]
fn a_running_service_drops_the_matches_of_a_rule_disabled_through_the_api() {
    let d = tempfile::tempdir().unwrap();
    let mut svc = service(d.path());
    let path = format!("/api/v1/rules/{TELEGRAM}/enabled");
    api().handle(d.path(), "POST", &path, "", br#"{"enabled": false}"#, None);
    svc.sync_rule_state().unwrap();
    let changes = svc
        .on_event(&telegram_event("e1", "2026-11-27T14:00:00Z"))
        .unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    api().handle(d.path(), "POST", &path, "", br#"{"enabled": true}"#, None);
    svc.sync_rule_state().unwrap();
    let changes = svc
        .on_event(&telegram_event("e2", "2026-11-27T14:00:01Z"))
        .unwrap();
    assert!(matches!(changes.as_slice(), [AlertChange::Created(_)]));
}

#[test]
fn matches_are_counted_per_rule_with_the_latest_time() {
    let d = tempfile::tempdir().unwrap();
    let mut svc = service(d.path());
    svc.on_event(&telegram_event("e1", "2026-11-27T14:00:00Z"))
        .unwrap();
    svc.on_event(&telegram_event("e2", "2026-11-27T14:05:00Z"))
        .unwrap();
    svc.on_event(&quiet_event("e3", "2026-11-27T14:06:00Z"))
        .unwrap();
    svc.sync_rule_state().unwrap();
    let list = api().handle(d.path(), "GET", "/api/v1/rules", "", b"", None);
    let t = item(&list.body, TELEGRAM);
    assert_eq!(t["hits"], 2);
    let last: DateTime<Utc> = t["last_hit"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        last,
        "2026-11-27T14:05:00Z".parse::<DateTime<Utc>>().unwrap()
    );
}

#[test]
fn counts_reach_the_rule_list_once_the_feed_goes_quiet() {
    let d = tempfile::tempdir().unwrap();
    let mut svc = service(d.path());
    svc.on_event(&telegram_event("e1", "2026-11-27T14:00:00Z"))
        .unwrap();
    svc.flush_alerts().unwrap();
    svc.idle().unwrap();
    let list = api().handle(d.path(), "GET", "/api/v1/rules", "", b"", None);
    assert_eq!(item(&list.body, TELEGRAM)["hits"], 1);
}

#[test]
fn counts_gathered_before_a_shutdown_are_kept() {
    let d = tempfile::tempdir().unwrap();
    let mut svc = service(d.path());
    svc.on_event(&telegram_event("e1", "2026-11-27T14:00:00Z"))
        .unwrap();
    svc.shutdown();
    let list = api().handle(d.path(), "GET", "/api/v1/rules", "", b"", None);
    assert_eq!(item(&list.body, TELEGRAM)["hits"], 1);
}

#[test]
fn running_a_rule_counts_matches_in_the_range_and_creates_no_alert() {
    let d = tempfile::tempdir().unwrap();
    let stored = Stored(vec![
        telegram_event("before", "2026-11-26T10:00:00Z"),
        telegram_event("in-1", "2026-11-27T10:00:00Z"),
        quiet_event("quiet", "2026-11-27T11:00:00Z"),
        telegram_event("in-2", "2026-11-27T12:00:00Z"),
        telegram_event("after", "2026-11-28T10:00:00Z"),
    ]);
    let path = format!("/api/v1/rules/{TELEGRAM}/run");
    let body = br#"{"from": "2026-11-27T00:00:00Z", "to": "2026-11-27T23:59:59Z"}"#;
    let r = api().handle(d.path(), "POST", &path, "", body, Some(&stored));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["matched"], 2);
    assert_eq!(r.body["scanned"], 3);
    let mut ids: Vec<&str> = r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["in-1", "in-2"]);
    let alerts = AlertStore::open(d.path()).unwrap();
    assert!(alerts.list(&Default::default()).unwrap().is_empty());
}

#[test]
fn a_run_returns_at_most_the_first_hundred_matching_events() {
    let d = tempfile::tempdir().unwrap();
    let n = RUN_MAX_EVENTS + 5;
    let stored = Stored(
        (0..n)
            .map(|i| telegram_event(&format!("e{i}"), "2026-11-27T10:00:00Z"))
            .collect(),
    );
    let path = format!("/api/v1/rules/{TELEGRAM}/run");
    let body = br#"{"from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z"}"#;
    let r = api().handle(d.path(), "POST", &path, "", body, Some(&stored));
    assert_eq!(r.body["matched"], n);
    assert_eq!(r.body["events"].as_array().unwrap().len(), RUN_MAX_EVENTS);
}

#[test]
fn a_run_needs_an_event_store_and_a_known_rule() {
    let d = tempfile::tempdir().unwrap();
    let a = api();
    let body = br#"{"from": "2026-11-27T00:00:00Z"}"#;
    let path = format!("/api/v1/rules/{TELEGRAM}/run");
    assert_eq!(
        a.handle(d.path(), "POST", &path, "", body, None).status,
        503
    );
    let stored = Stored(Vec::new());
    let r = a.handle(
        d.path(),
        "POST",
        "/api/v1/rules/nope/run",
        "",
        body,
        Some(&stored),
    );
    assert_eq!(r.status, 404);
    let r = a.handle(d.path(), "POST", &path, "", b"not json", Some(&stored));
    assert_eq!(r.status, 400);
}

fn cti_file(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cti")).join(rel)
}

const POISONIVY: &str = "oasis-cti-stix2-json-schemas/examples/threat-reports/poisonivy.json";
const APT1: &str = "oasis-cti-stix2-json-schemas/examples/threat-reports/apt1.json";

#[test]
fn a_bundle_posted_to_import_is_stored_under_its_name() {
    let d = tempfile::tempdir().unwrap();
    let bundle = std::fs::read(cti_file(POISONIVY)).unwrap();
    let r = handle_cti(
        d.path(),
        "POST",
        "/api/v1/cti/import",
        "name=poison%20ivy.json",
        &bundle,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let added = r.body["added"].as_u64().unwrap();
    assert!(added > 0);
    let store = detect::cti::CtiStore::open(d.path()).unwrap();
    assert_eq!(store.count().unwrap(), added);
    let again = handle_cti(d.path(), "POST", "/api/v1/cti/import", "", &bundle);
    assert_eq!(again.body["unchanged"], added);
}

#[test]
fn sources_list_one_row_per_import_with_counts() {
    let d = tempfile::tempdir().unwrap();
    let mut added = Vec::new();
    for (name, f) in [("poisonivy", POISONIVY), ("apt1", APT1)] {
        let bundle = std::fs::read(cti_file(f)).unwrap();
        let q = format!("name={name}");
        let r = handle_cti(d.path(), "POST", "/api/v1/cti/import", &q, &bundle);
        added.push((name, r.body["added"].as_u64().unwrap()));
    }
    let r = handle_cti(d.path(), "GET", "/api/v1/cti/sources", "", b"");
    assert_eq!(r.status, 200);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for (name, n) in added {
        let row = items.iter().find(|i| i["source"] == name).unwrap();
        assert_eq!(row["indicators"], n);
        assert!(row["active"].as_u64().unwrap() <= n);
        assert!(row["imported_at"].is_string());
    }
}

#[test]
fn a_revoked_indicator_is_counted_but_not_active() {
    let d = tempfile::tempdir().unwrap();
    let bundle = json!({"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "indicator", "id": "indicator--a", "pattern": "[domain-name:value = 'a.example']",
         "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"},
        {"type": "indicator", "id": "indicator--b", "pattern": "[domain-name:value = 'b.example']",
         "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z", "revoked": true},
        {"type": "indicator", "id": "indicator--c", "pattern": "[domain-name:value = 'c.example']",
         "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z",
         "valid_until": "2021-01-01T00:00:00Z"}]});
    let body = serde_json::to_vec(&bundle).unwrap();
    handle_cti(d.path(), "POST", "/api/v1/cti/import", "name=x", &body);
    let r = handle_cti(d.path(), "GET", "/api/v1/cti/sources", "", b"");
    assert_eq!(r.body["items"][0]["indicators"], 3);
    assert_eq!(r.body["items"][0]["active"], 1);
}

#[test]
fn indicators_are_listed_up_to_the_limit() {
    let d = tempfile::tempdir().unwrap();
    let bundle = std::fs::read(cti_file(APT1)).unwrap();
    handle_cti(d.path(), "POST", "/api/v1/cti/import", "name=apt1", &bundle);
    let r = handle_cti(d.path(), "GET", "/api/v1/cti/indicators", "limit=2", b"");
    assert_eq!(r.status, 200);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items[0]["state"].is_string());
}

#[test]
fn an_import_that_is_not_json_is_400() {
    let d = tempfile::tempdir().unwrap();
    let r = handle_cti(d.path(), "POST", "/api/v1/cti/import", "name=x", b"<xml/>");
    assert_eq!(r.status, 400);
}

#[test]
fn an_event_without_event_id_is_named_by_the_intake_id() {
    let d = tempfile::tempdir().unwrap();
    let mut svc = service(d.path());
    let mut ev = telegram_event("unused", "2026-11-27T14:00:00Z");
    ev.remove("event");
    ev.insert(
        "event".into(),
        json!({"dataset": "web", "action": "allowed"}),
    );
    ev.insert("ziaxdr".into(), json!({"event_id": "0190-intake-id"}));
    let changes = svc.on_event(&ev).unwrap();
    let [AlertChange::Created(a)] = changes.as_slice() else {
        panic!("expected one new alert, got {changes:?}")
    };
    assert_eq!(a.event_ids, ["0190-intake-id"]);
}

#[test]
fn running_a_correlation_rule_runs_the_rules_it_refers_to() {
    let d = tempfile::tempdir().unwrap();
    // 60 distinct names under one domain from one client within a minute: DNS tunnelling.
    let stored = Stored(
        (0..60)
            .map(|i| {
                let v = json!({"@timestamp": format!("2026-11-27T10:00:{:02}Z", i % 60),
                    "event": {"dataset": "dns", "id": format!("d{i}")},
                    "source": {"ip": "10.1.1.7"}, "destination": {"ip": "10.0.0.53"},
                    "dns": {"question": {"name": format!("x{i}.tunnel.example"),
                                         "registered_domain": "tunnel.example"}}});
                match v {
                    Value::Object(m) => m,
                    _ => unreachable!(),
                }
            })
            .collect(),
    );
    let path = "/api/v1/rules/9fdd9034-be5b-5539-b729-db6d74de7f4f/run";
    let body = br#"{"from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z"}"#;
    let r = api().handle(d.path(), "POST", path, "", body, Some(&stored));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scanned"], 60);
    assert!(r.body["matched"].as_u64().unwrap() >= 1, "{}", r.body);
}
