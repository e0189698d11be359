//! Alerts (similarity, throttling, workflow, durability), playbooks (retries, records), the
//! REST handler, retrohunt and TAXII paging.

mod common;

use common::alert_backends::{postgres, sqlite};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use detect::alerts::{AlertFilter, ThrottleConfig};
use detect::api;
use detect::chrono::{Duration, Utc};
use detect::cti::fetch::{fetch_into, FetchOptions};
use detect::cti::{retrohunt, CtiStore, EventSource, Indicator};
use detect::detector::RuleRef;
use detect::playbook::{render, PlaybookRunner};
use detect::{AlertChange, Match, RuleType, Status};
use serde_json::{json, Map, Value};

/// A match on a new event (each call gets its own event id).
fn m(rule: &str, src: &str, dst: &str, dataset: &str, dns: Option<&str>) -> Match {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Match {
        rule: RuleRef {
            id: rule.into(),
            name: format!("Rule {rule}"),
            author: Some("Jane Analyst".into()),
            severity: "high".into(),
            kind: RuleType::Sigma,
        },
        urgency: 75,
        description: None,
        timestamp: Utc::now(),
        entity: "default".into(),
        source: Some(src.into()),
        target: Some(dst.into()),
        source_ip: Some(src.into()),
        destination_ip: Some(dst.into()),
        dns_name: dns.map(String::from),
        dataset: Some(dataset.into()),
        event_ids: vec![format!("{src}-{dst}-{}-{n}", dns.unwrap_or(""))],
        group_key: vec![],
        alert_group: vec![("source.ip".into(), src.into())],
        alert_window_secs: None,
        user: Some(format!("user-of-{src}")),
        correlation: false,
        retrohunt: false,
        details: Value::Null,
    }
}

fn created(c: &AlertChange) -> bool {
    matches!(c, AlertChange::Created(_))
}

#[test]
fn status_workflow_only_moves_forward_and_ends_at_closed_or_rejected() {
    assert!(Status::Pending.can_become(Status::Acknowledged));
    assert!(Status::Acknowledged.can_become(Status::Ongoing));
    assert!(Status::Ongoing.can_become(Status::Rejected));
    assert!(!Status::Ongoing.can_become(Status::Pending));
    assert!(!Status::Closed.can_become(Status::Rejected));
}

#[test]
fn a_closed_or_rejected_alert_can_be_reopened_to_ongoing_only() {
    for done in [Status::Closed, Status::Rejected] {
        assert!(done.can_become(Status::Ongoing), "{done:?}");
        assert!(!done.can_become(Status::Pending), "{done:?}");
        assert!(!done.can_become(Status::Acknowledged), "{done:?}");
    }
}

#[test]
fn invalid_playbook_files_are_rejected() {
    assert!(PlaybookRunner::from_yaml(
        "playbooks:\n  - name: p\n    trigger: {on: [sometimes]}\n    actions: []\n"
    )
    .is_err());
    assert!(PlaybookRunner::from_yaml("nonsense: 1").is_err());
}

pgstate::both_backends! {
    #[test]
    fn same_rule_and_grouping_values_join_one_alert() {
        let d = Db::new();
        let mut mgr = d.manager();
        assert!(created(
            &mgr.ingest(&m("r1", "10.0.0.1", "1.1.1.1", "web", None))
                .unwrap()
        ));
        // The same host reaching another destination is the same alert.
        assert!(!created(
            &mgr.ingest(&m("r1", "10.0.0.1", "2.2.2.2", "web", None))
                .unwrap()
        ));
        assert!(created(
            &mgr.ingest(&m("r1", "10.0.0.2", "1.1.1.1", "web", None))
                .unwrap()
        ));
        let all = mgr.store().list(&AlertFilter::default()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all.iter().map(|a| a.similar).sum::<u64>(), 1);
    }

    #[test]
    fn an_alert_lists_the_distinct_users_hosts_and_destinations_of_its_matches() {
        let d = Db::new();
        let mut mgr = d.manager();
        for dst in ["1.1.1.1", "2.2.2.2", "1.1.1.1"] {
            let mut x = m("r1", "10.0.0.1", dst, "web", None);
            x.alert_group = vec![];
            mgr.ingest(&x).unwrap();
        }
        let mut other = m("r1", "10.0.0.9", "3.3.3.3", "web", None);
        other.alert_group = vec![];
        mgr.ingest(&other).unwrap();
        let all = mgr.store().list(&AlertFilter::default()).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].similar, 3);
        assert_eq!(all[0].hosts, vec!["10.0.0.1", "10.0.0.9"]);
        assert_eq!(all[0].users, vec!["user-of-10.0.0.1", "user-of-10.0.0.9"]);
        assert_eq!(all[0].destinations, vec!["1.1.1.1", "2.2.2.2", "3.3.3.3"]);
    }

    #[test]
    fn a_rule_grouping_by_the_queried_name_opens_one_alert_per_name() {
        let d = Db::new();
        let mut mgr = d.manager();
        let by_name = |name: &str| {
            let mut x = m("r1", "10.0.0.1", "10.0.0.53", "dns", Some(name));
            x.alert_group = vec![("dns.question.name".into(), name.into())];
            x
        };
        assert!(created(&mgr.ingest(&by_name("a.evil")).unwrap()));
        assert!(created(&mgr.ingest(&by_name("b.evil")).unwrap()));
        assert!(!created(&mgr.ingest(&by_name("a.evil")).unwrap()));
    }

    #[test]
    fn a_match_after_the_alert_window_opens_a_new_alert() {
        let d = Db::new();
        let mut mgr = d.manager();
        let mut first = m("r1", "10.0.0.1", "1.1.1.1", "web", None);
        first.alert_window_secs = Some(1);
        assert!(created(&mgr.ingest(&first).unwrap()));
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let mut later = m("r1", "10.0.0.1", "1.1.1.1", "web", None);
        later.alert_window_secs = Some(1);
        assert!(created(&mgr.ingest(&later).unwrap()));
    }

    #[test]
    fn a_closed_alert_does_not_gather_new_matches() {
        let d = Db::new();
        let mut mgr = d.manager();
        let AlertChange::Created(a) = mgr
            .ingest(&m("r1", "10.0.0.1", "1.1.1.1", "web", None))
            .unwrap()
        else {
            panic!("expected a new alert")
        };
        mgr.store()
            .set_status(&a.uuid, Status::Closed, "ana")
            .unwrap();
        assert!(created(
            &mgr.ingest(&m("r1", "10.0.0.1", "1.1.1.1", "web", None))
                .unwrap()
        ));
    }

    #[test]
    fn a_noisy_rule_is_throttled_and_says_so() {
        let d = Db::new();
        let mut mgr = d.manager();
        mgr.set_throttle(ThrottleConfig {
            max_alerts: 3,
            window: Duration::minutes(10),
        });
        for i in 0..10 {
            mgr.ingest(&m("noisy", &format!("10.0.0.{i}"), "1.1.1.1", "web", None))
                .unwrap();
        }
        let store = mgr.store();
        assert_eq!(store.list(&AlertFilter::default()).unwrap().len(), 3);
        assert_eq!(store.count(&AlertFilter::default()).unwrap(), 3);
        let t = &store.throttles().unwrap()[0];
        assert_eq!((t.opened, t.suppressed), (3, 7));
        assert!(t.throttled_since.is_some());
        let latest = &store.list(&AlertFilter::default()).unwrap()[0];
        assert!(latest.history.iter().any(|h| h.kind == "throttled"));
    }

    #[test]
    fn a_throttled_rule_still_counts_every_match_into_an_open_alert() {
        let d = Db::new();
        let mut mgr = d.manager();
        mgr.set_throttle(ThrottleConfig {
            max_alerts: 3,
            window: Duration::minutes(10),
        });
        for i in 0..10 {
            mgr.ingest(&m("noisy", &format!("10.0.0.{i}"), "1.1.1.1", "web", None))
                .unwrap();
        }
        let alerts = mgr.store().list(&AlertFilter::default()).unwrap();
        let counted: u64 = alerts.iter().map(|a| a.similar + 1).sum();
        assert_eq!(counted, 10, "three opened, seven counted into them");
        let hosts: usize = alerts.iter().map(|a| a.hosts.len()).sum();
        assert_eq!(hosts, 10, "every host involved is listed");
    }

    #[test]
    fn a_throttled_rule_gives_the_same_alerts_whatever_the_commits_its_matches_are_split_into() {
        // Three alerts opened, then throttled matches, one of them joining the first alert
        // (its similarity key) between the others: the throttled ones after it go into
        // that alert, now the latest open one.
        let mut matches: Vec<Match> = (0..12)
            .map(|i| m("noisy", &format!("10.0.0.{i}"), "1.1.1.1", "web", None))
            .collect();
        matches.insert(7, m("noisy", "10.0.0.0", "1.1.1.1", "web", None));
        let outcome = |split: usize| {
            let d = Db::new();
            let mut mgr = d.manager();
            mgr.set_throttle(ThrottleConfig {
                max_alerts: 3,
                window: Duration::minutes(10),
            });
            for chunk in matches.chunks(split) {
                mgr.ingest_counted(chunk).unwrap();
            }
            let store = mgr.store();
            let mut alerts: Vec<(u64, Vec<String>)> = store
                .list(&AlertFilter::default())
                .unwrap()
                .into_iter()
                .map(|a| {
                    let mut hosts = a.hosts.clone();
                    hosts.sort();
                    (a.similar, hosts)
                })
                .collect();
            alerts.sort();
            let t = &store.throttles().unwrap()[0];
            (alerts, t.opened, t.suppressed)
        };
        let one_by_one = outcome(1);
        let similar: Vec<u64> = one_by_one.0.iter().map(|a| a.0).collect();
        assert_eq!(similar, vec![0, 4, 6], "13 matches: 3 alerts, 10 counted into them");
        assert_eq!((one_by_one.1, one_by_one.2), (3, 9));
        assert_eq!(outcome(13), one_by_one, "all in one commit");
        assert_eq!(outcome(4), one_by_one, "in commits of four");
    }

    #[test]
    fn the_alert_list_says_how_many_match_beyond_its_limit() {
        let d = Db::new();
        let mut mgr = d.manager();
        for i in 0..5 {
            mgr.ingest(&m(&format!("r{i}"), "10.0.0.1", "1.1.1.1", "web", None))
                .unwrap();
        }
        let mut store = d.store();
        let r = api::handle(&mut store, "GET", "/api/v1/alerts", "limit=2", b"", "u");
        assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
        assert_eq!(r.body["total"], 5);
    }

    #[test]
    fn a_replayed_event_is_not_counted_twice() {
        let d = Db::new();
        let mut mgr = d.manager();
        let first = m("r1", "10.0.0.1", "1.1.1.1", "web", None);
        assert!(created(&mgr.ingest(&first).unwrap()));
        assert!(matches!(
            mgr.ingest(&first).unwrap(),
            AlertChange::Replayed { .. }
        ));
        mgr.ingest(&m("r1", "10.0.0.1", "1.1.1.1", "web", None))
            .unwrap();
        let all = mgr.store().list(&AlertFilter::default()).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0].similar, 1,
            "one new event joined, the replay did not"
        );
    }

    #[test]
    fn a_replay_is_recognised_after_reopening_the_database() {
        let d = Db::new();
        let first = m("r1", "10.0.0.1", "1.1.1.1", "web", None);
        d.manager()
            .ingest(&first)
            .unwrap();
        let mut mgr = d.manager();
        assert!(matches!(
            mgr.ingest(&first).unwrap(),
            AlertChange::Replayed { .. }
        ));
    }

    #[test]
    fn another_rule_on_the_same_event_is_not_a_replay() {
        let d = Db::new();
        let mut mgr = d.manager();
        let a = m("r1", "10.0.0.1", "1.1.1.1", "web", None);
        let mut b = a.clone();
        b.rule.id = "r2".into();
        assert!(created(&mgr.ingest(&a).unwrap()));
        assert!(created(&mgr.ingest(&b).unwrap()));
    }

    #[test]
    fn a_rule_throttled_for_one_entity_still_alerts_for_another() {
        let d = Db::new();
        let mut mgr = d.manager();
        mgr.set_throttle(ThrottleConfig {
            max_alerts: 2,
            window: Duration::minutes(10),
        });
        for i in 0..5 {
            let mut x = m("noisy", &format!("10.0.0.{i}"), "1.1.1.1", "web", None);
            x.entity = "acme".into();
            mgr.ingest(&x).unwrap();
        }
        let mut other = m("noisy", "10.9.9.9", "1.1.1.1", "web", None);
        other.entity = "globex".into();
        assert!(created(&mgr.ingest(&other).unwrap()));
        let throttles = mgr.store().throttles().unwrap();
        let acme = throttles.iter().find(|t| t.entity == "acme").unwrap();
        assert_eq!((acme.opened, acme.suppressed), (2, 3));
        let globex = throttles.iter().find(|t| t.entity == "globex").unwrap();
        assert!(globex.throttled_since.is_none());
    }

    #[test]
    fn alerts_survive_reopening_the_database() {
        let d = Db::new();
        let uuid = {
            let mut mgr = d.manager();
            let AlertChange::Created(a) = mgr
                .ingest(&m("r1", "10.0.0.1", "1.1.1.1", "web", None))
                .unwrap()
            else {
                panic!()
            };
            mgr.store().comment(&a.uuid, "seen", "ana").unwrap();
            a.uuid
        };
        let store = d.store();
        let a = store.get(&uuid).unwrap();
        assert_eq!(a.comments[0].text, "seen");
        assert_eq!(a.rule.author.as_deref(), Some("Jane Analyst"));
    }

    #[test]
    fn webhook_is_retried_with_backoff_until_it_succeeds_and_every_run_is_recorded() {
        let d = Db::new();
        let mut mgr = d.manager();
        let rx = common::receiver(vec![503, 500, 200]);
        let pb = PlaybookRunner::from_yaml(&format!(
            "playbooks:\n  - name: p\n    trigger: {{on: [created]}}\n    actions:\n      - {{type: webhook, url: '{}', body: '{{\"id\": \"{{{{uuid}}}}\"}}', backoff_ms: 5}}\n      - {{type: status, status: Acknowledged}}\n",
            rx.url
        ))
        .unwrap();
        let change = mgr
            .ingest(&m("r1", "10.0.0.1", "1.1.1.1", "web", None))
            .unwrap();
        let runs = pb.run(mgr.store(), &change).unwrap();
        let got = rx.stop();
        assert_eq!(got.len(), 3);
        assert_eq!(runs[0].attempts, 3);
        assert_eq!(runs[0].outcome, "ok");
        assert_eq!(runs[1].action, "status");
        let AlertChange::Created(a) = change else {
            panic!()
        };
        assert_eq!(
            mgr.store().get(&a.uuid).unwrap().status,
            Status::Acknowledged
        );
        assert_eq!(mgr.store().runs(Some(&a.uuid)).unwrap().len(), 2);
    }

    #[test]
    fn webhook_gives_up_after_max_attempts_and_records_the_failure() {
        let d = Db::new();
        let mut mgr = d.manager();
        let rx = common::receiver(vec![500]);
        let pb = PlaybookRunner::from_yaml(&format!(
            "playbooks:\n  - name: p\n    trigger: {{on: [created]}}\n    actions:\n      - {{type: webhook, url: '{}', body: '{{}}', backoff_ms: 1, max_attempts: 2}}\n",
            rx.url
        ))
        .unwrap();
        let change = mgr
            .ingest(&m("r1", "10.0.0.1", "1.1.1.1", "web", None))
            .unwrap();
        let runs = pb.run(mgr.store(), &change).unwrap();
        rx.stop();
        assert_eq!((runs[0].attempts, runs[0].outcome.as_str()), (2, "failed"));
        assert_eq!(runs[0].detail, "HTTP 500");
    }

    #[test]
    fn playbook_conditions_filter_on_urgency_and_rule_type() {
        let d = Db::new();
        let mut mgr = d.manager();
        let pb = PlaybookRunner::from_yaml(
            "playbooks:\n  - name: p\n    trigger: {on: [created], min_urgency: 90, rule_type: cti}\n    actions:\n      - {type: comment, text: x}\n",
        )
        .unwrap();
        let change = mgr
            .ingest(&m("r1", "10.0.0.1", "1.1.1.1", "web", None))
            .unwrap();
        assert!(pb.run(mgr.store(), &change).unwrap().is_empty());
    }

    #[test]
    fn templates_escape_strings_so_the_body_stays_json() {
        let d = Db::new();
        let mut mgr = d.manager();
        let mut x = m("r1", "10.0.0.1", "1.1.1.1", "web", None);
        x.rule.name = "quote \" and \\ backslash".into();
        let AlertChange::Created(a) = mgr.ingest(&x).unwrap() else {
            panic!()
        };
        let body = render("{\"t\": \"{{rule.name}}\", \"u\": {{urgency}}}", &a, true).unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["t"], "quote \" and \\ backslash");
        assert_eq!(v["u"], 75);
    }

    #[test]
    fn rest_handler_lists_triages_and_comments() {
        let d = Db::new();
        let mut mgr = d.manager();
        let AlertChange::Created(a) = mgr
            .ingest(&m("r1", "10.0.0.1", "1.1.1.1", "web", None))
            .unwrap()
        else {
            panic!()
        };
        let mut store = d.store();
        let r = api::handle(
            &mut store,
            "GET",
            "/api/v1/alerts",
            "status=Pending",
            b"",
            "u",
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
        let path = format!("/api/v1/alerts/{}/status", a.short_id);
        let r = api::handle(
            &mut store,
            "POST",
            &path,
            "",
            br#"{"status": "Ongoing"}"#,
            "u",
        );
        assert_eq!(
            (r.status, r.body["status"].as_str()),
            (200, Some("Ongoing"))
        );
        let r = api::handle(
            &mut store,
            "POST",
            &path,
            "",
            br#"{"status": "Pending"}"#,
            "u",
        );
        assert_eq!(r.status, 409);
        let cpath = format!("/api/v1/alerts/{}/comments", a.uuid);
        let r = api::handle(&mut store, "POST", &cpath, "", br#"{"text": "hi"}"#, "bob");
        assert_eq!(r.body["comments"][0]["author"], "bob");
        assert_eq!(
            api::handle(&mut store, "GET", "/api/v1/alerts/nope", "", b"", "u").status,
            404
        );
        assert_eq!(
            api::handle(&mut store, "POST", &path, "", b"not json", "u").status,
            400
        );
    }
}

struct Events(Vec<Value>);
impl EventSource for Events {
    fn scan_since(
        &self,
        since: detect::chrono::DateTime<Utc>,
        visit: &mut dyn FnMut(&Map<String, Value>) -> bool,
    ) -> Result<(), String> {
        for e in &self.0 {
            let t: detect::chrono::DateTime<Utc> =
                e["@timestamp"].as_str().unwrap().parse().unwrap();
            if t >= since && !visit(e.as_object().unwrap()) {
                break;
            }
        }
        Ok(())
    }
}

#[test]
fn retrohunt_finds_stored_events_of_the_last_days_only() {
    let now = Utc::now();
    let recent = (now - Duration::days(2)).to_rfc3339();
    let old = (now - Duration::days(40)).to_rfc3339();
    let src = Events(vec![
        json!({"@timestamp": recent, "url": {"domain": "www.hugesoft.org"}, "event": {"id": "a"}}),
        json!({"@timestamp": old, "url": {"domain": "www.hugesoft.org"}, "event": {"id": "b"}}),
        json!({"@timestamp": recent, "url": {"domain": "example.org"}, "event": {"id": "c"}}),
    ]);
    // An indicator published today (valid_from now) still finds past traffic.
    let ind = Indicator {
        name: "APT1 domain".into(),
        valid_from: Some(now),
        ..Indicator::new("indicator--1", "[domain-name:value = 'hugesoft.org']")
    };
    let r = retrohunt(&src, &[ind], 30, now).unwrap();
    assert_eq!(r.scanned, 2);
    assert_eq!(r.matches.len(), 1);
    assert_eq!(r.matches[0].event_ids, vec!["a"]);
    assert!(r.matches[0].retrohunt);
}

#[test]
fn newer_indicator_versions_replace_older_ones_on_import() {
    let d = tempfile::tempdir().unwrap();
    let mut s = CtiStore::open(d.path()).unwrap();
    let v1 = json!([{"type": "indicator", "id": "indicator--x", "pattern": "[domain-name:value = 'a.example']",
                     "pattern_type": "stix", "modified": "2020-01-01T00:00:00Z"}]);
    let v2 = json!([{"type": "indicator", "id": "indicator--x", "pattern": "[domain-name:value = 'a.example']",
                     "pattern_type": "stix", "modified": "2021-01-01T00:00:00Z", "revoked": true}]);
    assert_eq!(s.import_doc(&v1, "t").unwrap().added, 1);
    assert_eq!(s.import_doc(&v2, "t").unwrap().updated, 1);
    assert_eq!(s.import_doc(&v1, "t").unwrap().unchanged, 1);
    assert!(s.all().unwrap()[0].revoked);
}

/// A TAXII 2.1 collection served in two pages (more/next).
#[test]
fn taxii_collection_is_fetched_page_by_page() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!(
        "http://{}/taxii2/api1/collections/c1/",
        listener.local_addr().unwrap()
    );
    let server = std::thread::spawn(move || {
        let mut paths = Vec::new();
        for _ in 0..2 {
            let (s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap().to_string();
            let body = if path.contains("next=p2") {
                json!({"more": false, "objects": [{"type": "indicator", "id": "indicator--2",
                       "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix"}]})
            } else {
                json!({"more": true, "next": "p2", "objects": [{"type": "indicator", "id": "indicator--1",
                       "pattern": "[domain-name:value = 'c2.example']", "pattern_type": "stix"}]})
            };
            let body = body.to_string();
            let mut s = s;
            write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/taxii+json;version=2.1\r\nX-TAXII-Date-Added-Last: 2026-11-27T00:00:00Z\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", body.len(), body).unwrap();
            let _ = r.read(&mut [0u8; 0]);
            paths.push(path);
        }
        paths
    });
    let d = tempfile::tempdir().unwrap();
    let mut s = CtiStore::open(d.path()).unwrap();
    let rep = fetch_into(&mut s, &base, &FetchOptions::default()).unwrap();
    let paths = server.join().unwrap();
    assert_eq!(rep.added, 2);
    assert!(paths[0].ends_with("/collections/c1/objects/"));
    assert_eq!(
        s.cursor(&base).unwrap().as_deref(),
        Some("2026-11-27T00:00:00Z")
    );
}

#[test]
fn rest_lists_indicators_with_their_state() {
    let d = tempfile::tempdir().unwrap();
    let mut s = CtiStore::open(d.path()).unwrap();
    let doc = json!([
        {"type": "indicator", "id": "indicator--a", "pattern": "[domain-name:value = 'a.example']", "pattern_type": "stix"},
        {"type": "indicator", "id": "indicator--b", "pattern": "[x509-certificate:issuer = 'CN=x']", "pattern_type": "stix"},
        {"type": "indicator", "id": "indicator--c", "pattern": "[url:value = 'http://c.example/']", "pattern_type": "stix", "revoked": true}
    ]);
    s.import_doc(&doc, "t").unwrap();
    let r = api::indicators(&s);
    let states: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["active", "unsupported", "revoked"]);
}
