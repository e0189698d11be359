//! Library-level end-to-end: malicious ZIA activity through the shipped rules and the sample
//! CTI bundles gives the expected alerts, grouped by similarity, and the playbook's webhook
//! reaches a receiver with a valid signature.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use detect::cti::{CtiMatcher, CtiStore};
use detect::playbook::{verify, PlaybookRunner, SIGNATURE_HEADER};
use detect::{AlertChange, AlertManager, Detector, RuleSet, RuleType, Status};
use serde_json::{json, Value};

fn cti_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cti"))
}

fn web(src: &str, domain: &str, path: &str, ua: &str, i: usize) -> Value {
    json!({"@timestamp": format!("2026-11-27T14:{:02}:{:02}Z", i / 60, i % 60),
      "event": {"dataset": "web", "action": "allowed", "id": format!("ev-web-{i}")},
      "source": {"ip": src}, "destination": {"ip": "149.154.167.220", "domain": domain},
      "url": {"domain": domain, "original": format!("{domain}{path}"), "path": path},
      "user": {"name": "johndoe"}, "user_agent": {"original": ua},
      "http": {"request": {"method": "POST", "bytes": 900}}})
}

fn dns(src: &str, name: &str, i: usize) -> Value {
    let parts: Vec<&str> = name.rsplitn(3, '.').collect();
    json!({"@timestamp": format!("2026-11-27T15:00:{:02}Z", i % 60),
      "event": {"dataset": "dns", "id": format!("ev-dns-{i}")},
      "source": {"ip": src}, "destination": {"ip": "10.0.0.53"},
      "dns": {"question": {"name": name, "registered_domain": format!("{}.{}", parts[1], parts[0])}}})
}

#[test]
fn malicious_activity_gives_grouped_alerts_and_a_signed_webhook() {
    let data = tempfile::tempdir().unwrap();

    // CTI: the sample bundles.
    let mut cti = CtiStore::open(data.path()).unwrap();
    for f in [
        "oasis-cti-stix2-json-schemas/examples/threat-reports/poisonivy.json",
        "oasis-cti-stix2-json-schemas/examples/threat-reports/apt1.json",
        "oasis-cti-documentation/examples/indicator-for-malicious-url.json",
        "opencti/stream-event-stix2-indicators.json",
    ] {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(cti_dir().join(f)).unwrap()).unwrap();
        cti.import_doc(&doc, f).unwrap();
    }
    let matcher = CtiMatcher::build(&cti.all().unwrap(), detect::chrono::Utc::now());
    assert!(
        matcher.len() >= 30,
        "{} matchable indicators",
        matcher.len()
    );

    let mut det = Detector::new(&RuleSet::builtin()).unwrap();
    det.set_cti(Arc::new(matcher));
    let mut mgr = AlertManager::open(data.path()).unwrap();

    let rx = common::receiver(vec![200]);
    let url = rx.url.clone();
    let playbooks = PlaybookRunner::from_yaml(&format!(
        r#"
playbooks:
  - name: notify-soc
    trigger:
      on: [created]
      min_urgency: 70
    actions:
      - type: webhook
        url: {url}
        secret: s3cret
        body: '{{"alert": "{{{{short_id}}}}", "rule": "{{{{rule.name}}}}", "author": "{{{{rule.author}}}}", "urgency": {{{{urgency}}}}}}'
        backoff_ms: 10
      - type: comment
        text: "sent to the SOC as {{{{short_id}}}}"
"#
    ))
    .unwrap();

    // Malicious activity: three Telegram bot calls from one host (one alert, 2 similar),
    // one from another host (a second alert), DNS tunnelling, and C2 traffic known to CTI.
    let mut events = Vec::new();
    for i in 0..3 {
        events.push(web(
            "10.1.1.5",
            "api.telegram.org",
            "/bot123:AA/sendDocument",
            "Mozilla/5.0",
            i,
        ));
    }
    events.push(web(
        "10.1.1.9",
        "api.telegram.org",
        "/bot123:AA/sendDocument",
        "Mozilla/5.0",
        10,
    ));
    for i in 0..60 {
        events.push(dns("10.1.1.7", &format!("q{i}x7f.t.exfil-example.net"), i));
    }
    events.push(web(
        "10.1.1.8",
        "www.webserver.dynssl.com",
        "/index.php",
        "Mozilla/5.0",
        20,
    ));
    // Benign traffic.
    for i in 0..20 {
        events.push(web(
            "10.1.1.5",
            "www.example.com",
            "/",
            "Mozilla/5.0",
            30 + i,
        ));
    }

    let mut changes = Vec::new();
    for ev in &events {
        for m in det.process_value(ev) {
            let change = mgr.ingest(&m).unwrap();
            playbooks.run(mgr.store(), &change).unwrap();
            changes.push(change);
        }
    }
    let created = changes
        .iter()
        .filter(|c| matches!(c, AlertChange::Created(_)))
        .count();

    let alerts = mgr.store().list(&Default::default()).unwrap();
    let telegram: Vec<_> = alerts
        .iter()
        .filter(|a| a.title == "Telegram Bot API Usage")
        .collect();
    assert_eq!(telegram.len(), 2, "one alert per source host");
    let host5 = telegram
        .iter()
        .find(|a| a.source_ip.as_deref() == Some("10.1.1.5"))
        .unwrap();
    assert_eq!(host5.similar, 2);
    assert_eq!(host5.event_ids, vec!["ev-web-0", "ev-web-1", "ev-web-2"]);
    assert_eq!(host5.rule.author.as_deref(), Some("ziaxdr project"));

    let tunnel: Vec<_> = alerts
        .iter()
        .filter(|a| a.title.starts_with("DNS Tunnelling"))
        .collect();
    assert_eq!(
        tunnel.len(),
        1,
        "the correlation groups by client and domain"
    );
    assert!(tunnel[0]
        .group_key
        .contains(&("source.ip".to_string(), "10.1.1.7".to_string())));
    // The alert names the DNS events behind the correlation, not only the last one.
    assert!(
        tunnel[0].event_ids.len() > 1
            && tunnel[0]
                .event_ids
                .iter()
                .all(|id| id.starts_with("ev-dns-")),
        "{:?}",
        tunnel[0].event_ids
    );

    let cti_alerts: Vec<_> = alerts
        .iter()
        .filter(|a| a.rule.kind == RuleType::Cti)
        .collect();
    assert!(!cti_alerts.is_empty());
    assert!(cti_alerts
        .iter()
        .all(|a| a.source_ip.as_deref() == Some("10.1.1.8")));

    assert_eq!(alerts.len(), created);
    // Rules that only feed correlations raise no alert of their own.
    assert!(alerts
        .iter()
        .all(|a| !a.title.contains("correlation input")));
    assert_eq!(
        alerts.len(),
        2 + 1 + cti_alerts.len(),
        "{:#?}",
        alerts.iter().map(|a| &a.title).collect::<Vec<_>>()
    );
    assert!(alerts.iter().all(|a| a.status == Status::Pending));

    // Webhook: one call per created alert with urgency >= 70, signed, with the rule author.
    let got = rx.stop();
    let urgent = alerts.iter().filter(|a| a.urgency >= 70).count();
    assert!(urgent >= 3);
    assert_eq!(got.len(), urgent);
    for r in got.iter() {
        let sig = r.header(SIGNATURE_HEADER).unwrap();
        assert!(verify(b"s3cret", r.body.as_bytes(), sig));
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert!(alerts.iter().any(|a| a.short_id == body["alert"]));
    }
    let runs = mgr.store().runs(Some(&host5.uuid)).unwrap();
    assert!(runs
        .iter()
        .any(|r| r.action == "webhook" && r.outcome == "ok"));
    let host5 = mgr.store().get(&host5.short_id).unwrap();
    assert_eq!(host5.comments.len(), 1);
}

struct Stored(Vec<Value>);
impl detect::cti::EventSource for Stored {
    fn scan_since(
        &self,
        _since: detect::chrono::DateTime<detect::chrono::Utc>,
        visit: &mut dyn FnMut(&serde_json::Map<String, Value>) -> bool,
    ) -> Result<(), String> {
        for e in &self.0 {
            if !visit(e.as_object().unwrap()) {
                break;
            }
        }
        Ok(())
    }
}

#[test]
fn service_reloads_imported_indicators_retrohunts_them_and_runs_playbooks() {
    let data = tempfile::tempdir().unwrap();
    let rx = common::receiver(vec![200]);
    let pb = data.path().join("playbooks.yml");
    std::fs::write(
        &pb,
        format!(
            "playbooks:\n  - name: hook\n    trigger: {{on: [created], rule_type: cti}}\n    actions:\n      - {{type: webhook, url: '{}', body: '{{\"id\": \"{{{{short_id}}}}\"}}'}}\n",
            rx.url
        ),
    )
    .unwrap();
    let mut svc = detect::DetectionService::open(&detect::ServiceOptions {
        data_dir: data.path().to_path_buf(),
        rule_dirs: vec![],
        playbooks: Some(pb),
        retrohunt_days: 30,
    })
    .unwrap();
    let now = detect::chrono::Utc::now().to_rfc3339();
    let past = json!({"@timestamp": now, "event": {"dataset": "web", "id": "old-1"},
                      "source": {"ip": "10.9.9.9"}, "url": {"domain": "www.hugesoft.org"}});
    // The event went by before the indicator existed: no alert.
    assert!(svc.on_event(past.as_object().unwrap()).unwrap().is_empty());
    // `ziaxdr cti import` runs (another process, same data dir).
    let mut cti = CtiStore::open(data.path()).unwrap();
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(
            cti_dir().join("oasis-cti-stix2-json-schemas/examples/threat-reports/apt1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    cti.import_doc(&doc, "apt1").unwrap();
    let hunt = svc
        .reload_cti(Some(&Stored(vec![past.clone()])))
        .unwrap()
        .unwrap();
    assert_eq!(hunt.matches.len(), 1);
    // And live traffic now matches too (joining the same alert: same source/destination).
    let mut live = past.clone();
    live["event"]["id"] = "new-1".into();
    let changes = svc.on_event(live.as_object().unwrap()).unwrap();
    assert!(matches!(changes[0], AlertChange::Updated(_)));
    // The event the retrohunt found, seen again, is not counted twice.
    let changes = svc.on_event(past.as_object().unwrap()).unwrap();
    assert!(matches!(changes[0], AlertChange::Replayed { .. }));
    assert_eq!(svc.stats().alerts_created, 1);
    svc.shutdown();
    let got = rx.stop();
    assert_eq!(got.len(), 1);
}

#[test]
fn the_service_can_move_to_a_worker_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<detect::DetectionService>();
    assert_send::<detect::Detector>();
}
