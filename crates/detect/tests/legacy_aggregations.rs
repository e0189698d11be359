//! SigmaHQ's Sigma v1 aggregation rules (`selection | count() by src_ip > N`) load as the
//! correlations they mean, and fire on the events that should trigger them and on no others.

use std::path::PathBuf;

use detect::{Detector, LoadStatus, RuleSet};
use serde_json::{json, Value};

fn shared_rule(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/sigma/rules/unsupported/network"
    ))
    .join(name)
}

fn detector(rule: &str) -> Detector {
    let mut set = RuleSet::new();
    set.add_file(&shared_rule(rule)).unwrap();
    let d = Detector::new(&set).unwrap();
    for r in d.rules() {
        assert_eq!(r.status, LoadStatus::Loaded, "{}: {:?}", r.title, r.reason);
    }
    d
}

/// The titles of the alerts (matches) an event raises.
fn fired(d: &mut Detector, ev: &Value) -> Vec<String> {
    d.process_value(ev)
        .into_iter()
        .map(|m| m.rule.name.clone())
        .collect()
}

fn firewall(second: u32, src: &str, port: u16, action: &str) -> Value {
    json!({"@timestamp": format!("2026-12-06T10:{:02}:{:02}Z", second / 60, second % 60),
           "event": {"dataset": "firewall", "action": action, "id": format!("fw-{second}-{port}")},
           "source": {"ip": src, "bytes": 40_000}, "destination": {"ip": "203.0.113.9", "port": port}})
}

fn dns(i: u32, src: &str) -> Value {
    json!({"@timestamp": format!("2026-12-06T11:00:{:02}.{:03}Z", i / 1000 % 60, i % 1000),
           "event": {"dataset": "dns", "id": format!("dns-{i}")},
           "source": {"ip": src}, "dns": {"question": {"name": format!("h{i}.example.com"), "type": "A"}}})
}

#[test]
fn a_count_of_distinct_ports_fires_once_the_threshold_is_passed() {
    let mut d = detector("net_firewall_susp_network_scan_by_port.yml");
    // Ten distinct denied ports is not "more than 10".
    for port in 1..=10 {
        assert!(fired(
            &mut d,
            &firewall(port.into(), "10.0.0.5", port, "Block/Drop")
        )
        .is_empty());
    }
    let titles = fired(&mut d, &firewall(11, "10.0.0.5", 11, "Block/Drop"));
    assert_eq!(titles, vec!["Network Scans Count By Destination Port"]);
}

#[test]
fn a_count_of_distinct_ports_ignores_allowed_traffic_and_other_sources() {
    let mut d = detector("net_firewall_susp_network_scan_by_port.yml");
    for port in 1..=30u16 {
        // Allowed connections are not scan attempts; blocked ones come from many sources.
        assert!(fired(&mut d, &firewall(port.into(), "10.0.0.6", port, "Allow")).is_empty());
        let src = format!("10.0.1.{port}");
        assert!(fired(&mut d, &firewall(port.into(), &src, port, "Block/Drop")).is_empty());
    }
}

#[test]
fn an_event_count_fires_past_its_threshold_within_the_window() {
    let mut d = detector("net_dns_high_requests_rate.yml");
    let mut alerts = 0;
    for i in 0..1001 {
        alerts += fired(&mut d, &dns(i, "10.0.0.7")).len();
    }
    assert_eq!(alerts, 1, "1,001 queries in a minute from one host");
}

#[test]
fn an_event_count_below_its_threshold_stays_silent() {
    let mut d = detector("net_dns_high_requests_rate.yml");
    for i in 0..1000 {
        assert!(fired(&mut d, &dns(i, "10.0.0.8")).is_empty());
    }
}

#[test]
fn a_sum_of_bytes_fires_when_the_total_passes_the_threshold() {
    let mut d = detector("net_firewall_high_dns_bytes_out.yml");
    // 40,000 bytes each to port 53: seven are 280,000, the eighth passes 300,000.
    for s in 0..7 {
        assert!(fired(&mut d, &firewall(s, "10.0.0.9", 53, "Allow")).is_empty());
    }
    assert_eq!(
        fired(&mut d, &firewall(7, "10.0.0.9", 53, "Allow")).len(),
        1
    );
    // Traffic to another port does not count.
    let mut d = detector("net_firewall_high_dns_bytes_out.yml");
    for s in 0..20 {
        assert!(fired(&mut d, &firewall(s, "10.0.0.10", 443, "Allow")).is_empty());
    }
}

#[test]
fn a_translated_rule_keeps_the_original_id_title_and_author() {
    let d = detector("net_firewall_susp_network_scan_by_port.yml");
    let corr = d
        .rules()
        .iter()
        .find(|r| r.id == "fab0ddf0-b8a9-4d70-91ce-a20547209afb")
        .expect("the correlation has the rule's id");
    assert_eq!(corr.title, "Network Scans Count By Destination Port");
    assert_eq!(corr.author.as_deref(), Some("Thomas Patzke"));
    assert_eq!(corr.group_by, vec!["src_ip"]);
}

#[test]
fn at_least_nine_tenths_of_the_shared_proxy_dns_and_firewall_rules_load() {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/sigma/rules"
    ));
    let mut set = RuleSet::new();
    set.add_dir(&root).unwrap();
    let infos = set.compile().unwrap().infos;
    // A file counts once: loaded when every rule it became (a translated aggregation is a
    // detection plus a correlation) loaded.
    let mut files: std::collections::BTreeMap<&str, bool> = Default::default();
    for i in &infos {
        let text = std::fs::read_to_string(&i.source).unwrap_or_default();
        let taxonomy = ["category: proxy", "category: dns", "category: firewall"];
        if !taxonomy.iter().any(|t| text.contains(t)) {
            continue;
        }
        let ok = files.entry(i.source.as_str()).or_insert(true);
        *ok &= i.status == LoadStatus::Loaded;
    }
    let loaded = files.values().filter(|ok| **ok).count();
    println!(
        "{loaded} of {} proxy/dns/firewall rule files load",
        files.len()
    );
    assert!(files.len() >= 80, "{} files", files.len());
    assert!(
        loaded * 10 >= files.len() * 9,
        "{loaded} of {}",
        files.len()
    );
}
