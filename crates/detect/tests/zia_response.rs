//! Response in Zscaler from alerts: the playbook steps and the alert API routes, against the
//! mock ZIA API.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use detect::playbook::PlaybookRunner;
use detect::{AlertChange, AlertManager, Match, RuleRef, RuleType};
use serde_json::{json, Value};
use ziaapi::mock::{self, MockZia};
use ziaapi::{ClientOptions, Pacing, Responder};

fn responder(zia: &MockZia, allow: &[&str]) -> Arc<Responder> {
    let mut s = zia.legacy_settings();
    s.allow = allow.iter().map(|a| a.to_string()).collect();
    let opts = ClientOptions {
        pacing: Pacing {
            get_gap: Duration::ZERO,
            write_gap: Duration::ZERO,
            ..Pacing::default()
        },
        ..ClientOptions::default()
    };
    Arc::new(s.responder(opts).unwrap())
}

fn c2_match(kind: RuleType, domain: &str, details: Value) -> Match {
    Match {
        rule: RuleRef {
            id: "c2-rule".into(),
            name: "C2 beacon".into(),
            author: None,
            severity: "high".into(),
            kind,
        },
        urgency: 90,
        description: None,
        timestamp: Utc::now(),
        entity: "default".into(),
        source: Some("10.0.0.5".into()),
        target: Some(domain.into()),
        source_ip: Some("10.0.0.5".into()),
        destination_ip: Some("203.0.113.7".into()),
        dns_name: None,
        dataset: Some("web".into()),
        event_ids: vec![format!("ev-{domain}")],
        group_key: vec![],
        // One alert per domain, as a rule grouping by `url.domain` gives.
        alert_group: vec![("url.domain".into(), domain.into())],
        alert_window_secs: None,
        user: None,
        correlation: false,
        retrohunt: false,
        details,
    }
}

fn created(mgr: &mut AlertManager, m: &Match) -> AlertChange {
    let c = mgr.ingest(m).unwrap();
    assert!(matches!(c, AlertChange::Created(_)));
    c
}

#[test]
fn a_zia_block_step_blocks_the_alerts_domain_and_records_the_run() {
    let zia = MockZia::start();
    let dir = tempfile::tempdir().unwrap();
    let mut mgr = AlertManager::open(dir.path()).unwrap();
    let change = created(
        &mut mgr,
        &c2_match(RuleType::Sigma, "c2.evil.example", Value::Null),
    );
    let runner = PlaybookRunner::from_yaml(
        "playbooks:\n  - name: block-c2\n    trigger: {on: [created]}\n    actions:\n      - type: zia_block\n",
    )
    .unwrap()
    .with_zia(Some(responder(&zia, &[])));
    let runs = runner.run(mgr.store(), &change).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].action.as_str(), runs[0].outcome.as_str()),
        ("zia_block", "ok")
    );
    assert!(runs[0].detail.starts_with("blocked c2.evil.example"));
    assert!(zia.urls(mock::CATEGORY).contains(&"c2.evil.example".into()));
    let AlertChange::Created(a) = &change else {
        unreachable!()
    };
    let a = mgr.store().get(&a.uuid).unwrap();
    assert!(a.history.iter().any(|h| h.message.contains("zia_block ok")));
}

#[test]
fn a_zia_unblock_step_takes_templated_values() {
    let zia = MockZia::start();
    let dir = tempfile::tempdir().unwrap();
    let mut mgr = AlertManager::open(dir.path()).unwrap();
    let change = created(
        &mut mgr,
        &c2_match(RuleType::Sigma, "x.example", Value::Null),
    );
    let runner = PlaybookRunner::from_yaml(
        "playbooks:\n  - name: undo\n    trigger: {on: [created]}\n    actions:\n      - type: zia_unblock\n        values: ['{{destination_ip}}']\n        ip_group: ziaxdr-blocked-ips\n",
    )
    .unwrap()
    .with_zia(Some(responder(&zia, &[])));
    // The mock's group starts with 192.0.2.99; block the alert's IP first, then the step unblocks it.
    let r = responder(&zia, &[]);
    r.run(&ziaapi::Request::new(
        ziaapi::Op::Block,
        vec!["203.0.113.7".into()],
        "t",
        "test",
    ))
    .unwrap();
    let runs = runner.run(mgr.store(), &change).unwrap();
    assert_eq!(runs[0].outcome, "ok", "{}", runs[0].detail);
    assert_eq!(zia.addresses(mock::IP_GROUP), ["192.0.2.99"]);
}

#[test]
fn a_zia_step_on_an_allow_listed_value_fails_and_blocks_nothing() {
    let zia = MockZia::start();
    let dir = tempfile::tempdir().unwrap();
    let mut mgr = AlertManager::open(dir.path()).unwrap();
    let change = created(
        &mut mgr,
        &c2_match(RuleType::Sigma, "sso.acme.example", Value::Null),
    );
    let runner = PlaybookRunner::from_yaml(
        "playbooks:\n  - name: block\n    trigger: {on: [created]}\n    actions:\n      - type: zia_block\n",
    )
    .unwrap()
    .with_zia(Some(responder(&zia, &["acme.example"])));
    let runs = runner.run(mgr.store(), &change).unwrap();
    assert_eq!(runs[0].outcome, "failed");
    assert!(
        runs[0].detail.contains("allow-listed"),
        "{}",
        runs[0].detail
    );
    assert_eq!(zia.urls(mock::CATEGORY), ["old.example"]);
}

#[test]
fn a_playbook_with_zia_steps_needs_a_responder() {
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("pb.yml");
    std::fs::write(
        &pb,
        "playbooks:\n  - name: b\n    trigger: {on: [created]}\n    actions:\n      - {type: zia_block}\n",
    )
    .unwrap();
    let opts = detect::ServiceOptions {
        data_dir: dir.path().join("data"),
        playbooks: Some(pb),
        ..Default::default()
    };
    let e = detect::DetectionService::open(&opts)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("[zia]"), "{e}");
}

#[test]
fn a_cti_alert_offers_its_indicator_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut mgr = AlertManager::open(dir.path()).unwrap();
    let m = c2_match(
        RuleType::Cti,
        "host.evil.example",
        json!({"pattern": "[url:value = 'http://evil.example/x']", "value": "http://evil.example/x"}),
    );
    let AlertChange::Created(a) = created(&mut mgr, &m) else {
        unreachable!()
    };
    assert_eq!(detect::respond::alert_values(&a), ["http://evil.example/x"]);
    let mut m = c2_match(RuleType::Sigma, "c2.example", Value::Null);
    m.rule.id = "another-rule".into();
    let AlertChange::Created(a) = created(&mut mgr, &m) else {
        unreachable!()
    };
    assert_eq!(detect::respond::alert_values(&a), ["c2.example"]);
}

#[test]
fn the_alert_api_blocks_dry_runs_and_unblocks_with_the_result_in_the_timeline() {
    let zia = MockZia::start();
    let dir = tempfile::tempdir().unwrap();
    let mut mgr = AlertManager::open(dir.path()).unwrap();
    let AlertChange::Created(a) = created(
        &mut mgr,
        &c2_match(RuleType::Sigma, "c2.evil.example", Value::Null),
    ) else {
        unreachable!()
    };
    let r = responder(&zia, &[]);
    let path = |p: &str| format!("/api/v1/alerts/{}/zia{p}", a.short_id);
    let store = mgr.store();
    let info = detect::api::handle_zia(store, Some(&r), "GET", &path(""), b"", "ann").unwrap();
    assert_eq!(info.body["values"], json!(["c2.evil.example"]));
    assert_eq!(info.body["configured"], true);
    let dry = detect::api::handle_zia(
        store,
        Some(&r),
        "POST",
        &path("/block"),
        br#"{"dry_run": true}"#,
        "ann",
    )
    .unwrap();
    assert_eq!(dry.status, 200);
    assert_eq!(
        dry.body["summary"],
        "would block c2.evil.example in Zscaler (ziaxdr-blocklist)"
    );
    assert_eq!(zia.urls(mock::CATEGORY), ["old.example"]);
    let done =
        detect::api::handle_zia(store, Some(&r), "POST", &path("/block"), b"", "ann").unwrap();
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert!(zia.urls(mock::CATEGORY).contains(&"c2.evil.example".into()));
    let undone =
        detect::api::handle_zia(store, Some(&r), "POST", &path("/unblock"), b"{}", "ann").unwrap();
    assert_eq!(undone.body["changed"], json!(["c2.evil.example"]));
    let a = store.get(&a.uuid).unwrap();
    let entries: Vec<(&str, &str, &str)> = a
        .history
        .iter()
        .filter(|h| h.kind == "zscaler")
        .map(|h| (h.kind.as_str(), h.author.as_str(), h.message.as_str()))
        .collect();
    assert_eq!(entries.len(), 2, "the dry run is not recorded: {entries:?}");
    assert!(entries[0].2.starts_with("blocked c2.evil.example") && entries[0].1 == "ann");
    assert!(entries[1].2.starts_with("unblocked c2.evil.example"));
}

#[test]
fn the_alert_api_without_zia_configured_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let mut mgr = AlertManager::open(dir.path()).unwrap();
    let AlertChange::Created(a) = created(
        &mut mgr,
        &c2_match(RuleType::Sigma, "c.example", Value::Null),
    ) else {
        unreachable!()
    };
    let p = format!("/api/v1/alerts/{}/zia/block", a.short_id);
    let r = detect::api::handle_zia(mgr.store(), None, "POST", &p, b"", "ann").unwrap();
    assert_eq!(r.status, 503);
    assert!(detect::api::handle_zia(
        mgr.store(),
        None,
        "GET",
        "/api/v1/alerts/x/comments",
        b"",
        "ann"
    )
    .is_none());
}
