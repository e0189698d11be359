//! Sigma rules written against the proxy/dns/firewall taxonomy match ZIA's ECS events through
//! the processing pipeline, with every modifier and condition form the SigmaHQ rules use.

use detect::{Detector, LoadStatus, RuleSet};
use serde_json::{json, Value};

fn detector(yaml: &str) -> Detector {
    let mut set = RuleSet::new();
    set.add_yaml(yaml, "test.yml");
    let d = Detector::new(&set).unwrap();
    for r in d.rules() {
        assert_eq!(r.status, LoadStatus::Loaded, "{:?}", r.reason);
    }
    d
}

fn fires(d: &mut Detector, ev: Value) -> bool {
    !d.process_value(&ev).is_empty()
}

fn web(url: &str, ua: &str, status: u64) -> Value {
    let domain = url.split('/').next().unwrap();
    json!({"event": {"dataset": "web"}, "source": {"ip": "10.2.3.4"}, "destination": {"ip": "8.8.4.4"},
           "url": {"original": url, "domain": domain}, "user_agent": {"original": ua},
           "http": {"request": {"method": "GET"}, "response": {"status_code": status}}})
}

const PROXY_RULE: &str = r#"
title: Proxy modifiers
logsource: {category: proxy}
detection:
  sel_uri:
    c-uri|contains|all: ['/gate', '.php']
  sel_host:
    cs-host|endswith: '.evil.example'
  sel_ua:
    c-useragent|startswith: 'Mozilla/4.0 (compatible; MSIE 6'
  sel_re:
    c-uri|re: '/[a-f0-9]{16}\.bin$'
  sel_wild:
    c-uri: '*/wp-content/*/shell?.php'
  filter_status:
    sc-status: 404
  filter_net:
    src_ip|cidr: '192.168.0.0/16'
  condition: (1 of sel_* ) and not (filter_status or filter_net)
"#;

#[test]
fn proxy_taxonomy_fields_reach_zia_ecs_fields_with_all_modifiers() {
    let mut d = detector(PROXY_RULE);
    assert!(fires(
        &mut d,
        web("a.example/x/gate/index.php", "Mozilla/5.0", 200)
    ));
    assert!(fires(&mut d, web("cdn.evil.example/", "Mozilla/5.0", 200)));
    assert!(fires(
        &mut d,
        web("a.example/", "Mozilla/4.0 (compatible; MSIE 6.0)", 200)
    ));
    assert!(fires(
        &mut d,
        web("a.example/0123456789abcdef.bin", "x", 200)
    ));
    assert!(fires(
        &mut d,
        web("a.example/wp-content/up/shell1.php", "x", 200)
    ));
    // |all needs both substrings; a 404 is filtered out; unrelated traffic stays quiet.
    assert!(!fires(&mut d, web("a.example/gate/index.html", "x", 200)));
    assert!(!fires(&mut d, web("a.example/gate/index.php", "x", 404)));
    assert!(!fires(&mut d, web("www.example.com/", "Mozilla/5.0", 200)));
}

#[test]
fn user_agent_escaped_by_nss_still_matches() {
    let mut d = detector(PROXY_RULE);
    assert!(fires(
        &mut d,
        web(
            "a.example/",
            "Mozilla/4.0%20(compatible;%20MSIE%206.0)",
            200
        )
    ));
}

#[test]
fn all_of_and_keywords_work() {
    let mut d = detector(
        r#"
title: all of
logsource: {category: dns}
detection:
  sel_a:
    query|endswith: '.example'
  sel_b:
    record_type: TXT
  keywords:
    - 'powershell'
  condition: all of sel_* or keywords
"#,
    );
    let q = |name: &str, t: &str| json!({"event": {"dataset": "dns"}, "dns": {"question": {"name": name, "type": t}}});
    assert!(fires(&mut d, q("x.example", "TXT")));
    assert!(!fires(&mut d, q("x.example", "A")));
    assert!(fires(&mut d, q("powershell.other", "A")));
}

#[test]
fn firewall_actions_map_to_zia_values_and_ports_compare_as_numbers() {
    let mut d = detector(
        r#"
title: fw
logsource: {category: firewall}
detection:
  selection:
    dst_port|gte: 8000
    action: block
  condition: selection
"#,
    );
    let fw = |port: u64, action: &str| json!({"event": {"dataset": "firewall", "action": action}, "destination": {"port": port}});
    assert!(fires(&mut d, fw(8443, "block/drop")));
    assert!(!fires(&mut d, fw(8443, "allow")));
    assert!(!fires(&mut d, fw(443, "block/drop")));
}

#[test]
fn a_rule_using_a_field_zia_does_not_log_is_unsupported_with_the_field_named() {
    let mut set = RuleSet::new();
    set.add_yaml(
        "title: c\nlogsource: {category: proxy}\ndetection:\n  s:\n    cs-cookie|contains: x\n  condition: s\n",
        "t.yml",
    );
    let d = Detector::new(&set).unwrap();
    assert_eq!(d.rules()[0].status, LoadStatus::Unsupported);
    assert!(d.rules()[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("cs-cookie"));
}

#[test]
fn a_windows_rule_is_unsupported_because_zia_has_no_such_logs() {
    let mut set = RuleSet::new();
    set.add_yaml(
        "title: w\nlogsource: {product: windows, category: process_creation}\ndetection:\n  s:\n    Image|endswith: x.exe\n  condition: s\n",
        "t.yml",
    );
    let d = Detector::new(&set).unwrap();
    assert!(d.rules()[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("not produced by ZIA"));
}

#[test]
fn proxy_rules_do_not_fire_on_dns_events_with_the_same_field_values() {
    let mut d = detector(
        r#"
title: by host
logsource: {category: proxy}
detection:
  selection:
    src_ip: 10.2.3.4
  condition: selection
"#,
    );
    let ev = |dataset: &str| json!({"event": {"dataset": dataset}, "source": {"ip": "10.2.3.4"}});
    assert!(fires(&mut d, ev("web")));
    assert!(!fires(&mut d, ev("dns")));
}

#[test]
fn firewall_blocked_flag_is_derived_from_the_zia_action() {
    let mut d = detector(
        r#"
title: cleartext allowed
logsource: {category: firewall}
detection:
  selection:
    dst_port: 23
  allowed:
    blocked: 'false'
  condition: selection and allowed
"#,
    );
    let fw = |action: &str| json!({"event": {"dataset": "firewall", "action": action}, "destination": {"port": 23}});
    assert!(fires(&mut d, fw("allow")));
    assert!(!fires(&mut d, fw("block/drop")));
}
