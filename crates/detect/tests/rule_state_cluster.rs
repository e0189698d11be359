//! The rule state of a cluster in PostgreSQL: two workers' `DetectionService`s (each with a
//! data directory of its own) and a third node's REST handler share one database, so a rule
//! disabled through the API stops alerting on both workers, and both workers' matches add
//! up in the listing.

use std::path::Path;

use detect::api::RulesApi;
use detect::rulestate::RuleStateStore;
use detect::{AlertChange, DetectionService, RuleSet, ServiceOptions};
use serde_json::{json, Map, Value};

/// The shipped rule "Telegram Bot API Usage".
const TELEGRAM: &str = "6d0722c9-bc16-55f2-8235-e6b27911a493";

fn telegram_event(id: &str, at: &str) -> Map<String, Value> {
    match json!({"@timestamp": at,
      "event": {"dataset": "web", "action": "allowed", "id": id},
      "source": {"ip": "10.1.1.5"}, "destination": {"ip": "149.154.167.220"},
      "url": {"domain": "api.telegram.org", "original": "api.telegram.org/bot1:AAE/sendDocument"},
      "user": {"name": "johndoe"}})
    {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn pg(url: &str) -> pgstate::Pg {
    pgstate::Pg::connect(&pgstate::PgConfig::new(url.to_string())).unwrap()
}

fn worker(data: &Path, url: &str) -> DetectionService {
    DetectionService::open(&ServiceOptions {
        data_dir: data.to_path_buf(),
        ..Default::default()
    })
    .unwrap()
    .with_rule_state(RuleStateStore::postgres(&pg(url)).unwrap())
    .unwrap()
}

fn api(url: &str) -> RulesApi {
    RulesApi::from_set(RuleSet::builtin())
        .unwrap()
        .with_postgres(Some(pg(url)))
        .unwrap()
}

fn telegram(api: &RulesApi, data: &Path) -> Value {
    let r = api.handle(data, "GET", "/api/v1/rules", "", b"", None);
    assert_eq!(r.status, 200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == TELEGRAM)
        .unwrap()
        .clone()
}

#[test]
fn a_rule_disabled_through_one_nodes_api_stops_alerting_on_every_worker() {
    let url = pgstate::testing::fresh_database("rule_state_cluster");
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut w1 = worker(dirs[0].path(), &url);
    let mut w2 = worker(dirs[1].path(), &url);
    let api = api(&url);
    let path = format!("/api/v1/rules/{TELEGRAM}/enabled");
    let r = api.handle(
        dirs[2].path(),
        "POST",
        &path,
        "",
        br#"{"enabled": false}"#,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for (w, id) in [(&mut w1, "e1"), (&mut w2, "e2")] {
        w.sync_rule_state().unwrap();
        let changes = w
            .on_event(&telegram_event(id, "2026-11-27T14:00:00Z"))
            .unwrap();
        assert!(changes.is_empty(), "{changes:?}");
    }
    api.handle(
        dirs[2].path(),
        "POST",
        &path,
        "",
        br#"{"enabled": true}"#,
        None,
    );
    w2.sync_rule_state().unwrap();
    let changes = w2
        .on_event(&telegram_event("e3", "2026-11-27T14:00:01Z"))
        .unwrap();
    assert!(matches!(changes.as_slice(), [AlertChange::Created(_)]));
}

#[test]
fn the_matches_of_every_worker_add_up_in_the_listing() {
    let url = pgstate::testing::fresh_database("rule_hits_cluster");
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut w1 = worker(dirs[0].path(), &url);
    let mut w2 = worker(dirs[1].path(), &url);
    w1.on_event(&telegram_event("e1", "2026-11-27T14:00:00Z"))
        .unwrap();
    w2.on_event(&telegram_event("e2", "2026-11-27T14:05:00Z"))
        .unwrap();
    w2.on_event(&telegram_event("e3", "2026-11-27T14:06:00Z"))
        .unwrap();
    w1.sync_rule_state().unwrap();
    w2.sync_rule_state().unwrap();
    let t = telegram(&api(&url), dirs[2].path());
    assert_eq!(t["hits"], 3);
    assert_eq!(t["enabled"], true);
}
