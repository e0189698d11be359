//! The input shapes and tricky values ZIA feeds really produce, one behaviour per test.

use serde_json::Value;

fn parse(raw: &str) -> Value {
    Value::Object(
        zia::parse(raw)
            .unwrap_or_else(|e| panic!("{raw}: {e}"))
            .event,
    )
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, p| cur.get(p))
}

fn s<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

const WEB: &str = r#"{"sourcetype":"zscalernss-web","event":{"datetime":"2023-08-28 15:43:14","action":"Blocked","ClientIP":"10.1.2.3","serverip":"93.184.216.34","url":"www.example.com/dl/evil.exe?x=1","hostname":"www.example.com","status":"403","user":"jdoe%40corp.com","location":"Road%20Warrior","useragent":"Mozilla/5.0%20(Windows%20NT%2010.0)","refererURL":"www.example.org/a%20b","rulelabel":"Block%20Malware","clientpublicIP":"198.51.100.7","event_id":"42"}}"#;

#[test]
fn bare_json_web_record_becomes_nested_ecs() {
    let ev = parse(WEB);
    assert_eq!(s(&ev, "event.dataset"), Some("web"));
    assert_eq!(s(&ev, "source.ip"), Some("10.1.2.3"));
    assert_eq!(s(&ev, "destination.ip"), Some("93.184.216.34"));
    assert_eq!(s(&ev, "@timestamp"), Some("2023-08-28T15:43:14Z"));
    assert!(ev.get("source.ip").is_none(), "keys are nested, not dotted");
}

#[test]
fn the_unspecified_server_ip_of_a_blocked_web_request_is_no_destination() {
    let ev = parse(&WEB.replace("93.184.216.34", "0.0.0.0"));
    assert_eq!(get(&ev, "destination.ip"), None);
    assert_eq!(get(&ev, "server.ip"), None);
    assert_eq!(
        get(&ev, "related.ip"),
        Some(&serde_json::json!(["10.1.2.3"]))
    );
    assert_eq!(s(&ev, "source.ip"), Some("10.1.2.3"));
}

#[test]
fn pretty_printed_json_over_several_lines_is_accepted() {
    let raw = "{\n  \"sourcetype\": \"zscalernss-dns\",\n  \"event\": {\n    \"dns_req\": \"a.example.com\",\n    \"clt_sip\": \"10.0.0.1\"\n  }\n}\n";
    assert_eq!(s(&parse(raw), "dns.question.name"), Some("a.example.com"));
}

#[test]
fn unquoted_numbers_are_accepted() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-web","event":{"requestsize":608,"status":200,"url":"a.com"}}"#,
    );
    assert_eq!(get(&ev, "http.request.bytes"), Some(&Value::from(608)));
    assert_eq!(
        get(&ev, "http.response.status_code"),
        Some(&Value::from(200))
    );
}

#[test]
fn null_values_are_absent() {
    let ev =
        parse(r#"{"sourcetype":"zscalernss-casb","event":{"login":"a@b.c","dlpdictnames":null}}"#);
    assert!(get(&ev, "zscaler.zia.dlpdictnames").is_none());
}

#[test]
fn raw_nul_and_control_characters_inside_strings_are_tolerated() {
    let raw = "{\"sourcetype\":\"zscalernss-web\",\"event\":{\"url\":\"a.com/x\",\"useragent\":\"bad\u{0}agent\tx\"}}";
    let ev = parse(raw);
    assert_eq!(s(&ev, "user_agent.original"), Some("bad\u{0}agent\tx"));
}

#[test]
fn bsd_syslog_header_with_nss_app_name_is_stripped() {
    let ev = parse(&format!("Aug 28 15:43:14 zscaler-nss NSS {WEB}"));
    assert_eq!(s(&ev, "source.ip"), Some("10.1.2.3"));
}

#[test]
fn bsd_syslog_header_without_app_name_and_padded_day_is_stripped() {
    let ev = parse(&format!("Aug  8 15:43:14 zscaler-nss {WEB}"));
    assert_eq!(s(&ev, "source.ip"), Some("10.1.2.3"));
}

#[test]
fn rfc5424_header_is_stripped() {
    let ev = parse(&format!(
        "<134>1 2023-08-28T15:43:14Z zscaler-nss NSS - - - {WEB}"
    ));
    assert_eq!(s(&ev, "source.ip"), Some("10.1.2.3"));
}

#[test]
fn rfc5424_header_with_event_prefix_is_stripped() {
    let ev = parse(&format!(
        "<134>1 2023-08-28T15:43:14Z zscaler-nss NSS - - - event={WEB}"
    ));
    assert_eq!(s(&ev, "source.ip"), Some("10.1.2.3"));
}

#[test]
fn tab_separated_key_value_record_is_parsed() {
    let ev = parse(
        "action=Allowed\tClientIP=192.168.1.1\turl=www.google.fr/maps\tsourcetype=zscalernss-web",
    );
    assert_eq!(s(&ev, "source.ip"), Some("192.168.1.1"));
    assert_eq!(s(&ev, "url.path"), Some("/maps"));
    assert_eq!(s(&ev, "event.dataset"), Some("web"));
}

#[test]
fn json_envelope_with_key_value_event_string_is_parsed() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-web","event":"action=Allowed\tClientIP=192.168.1.1\turl=a.com/x"}"#,
    );
    assert_eq!(s(&ev, "source.ip"), Some("192.168.1.1"));
}

#[test]
fn saas_security_activity_record_maps_file_and_application() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-casb","event":{"login":"j@example.org","applicationname":"ONEDRIVE","object_name_1":"report.pdf"}}"#,
    );
    assert_eq!(s(&ev, "event.dataset"), Some("casb"));
    assert_eq!(s(&ev, "network.application"), Some("ONEDRIVE"));
    assert_eq!(s(&ev, "file.name"), Some("report.pdf"));
}

#[test]
fn saas_record_with_fields_at_top_level_is_parsed() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-casb","login":"j@example.org","applicationname":"BOX","filemd5":"01565bf41f1cb993d69334f409835293"}"#,
    );
    assert_eq!(s(&ev, "user.email"), Some("j@example.org"));
    assert_eq!(
        s(&ev, "file.hash.md5"),
        Some("01565bf41f1cb993d69334f409835293")
    );
}

#[test]
fn elastic_vocabulary_maps_to_the_same_fields() {
    // b64url = "www.example.com/index?q=1", b64referer = "www.example.com", b64ua = "curl/8.0"
    let raw = r#"{"version":"v9","sourcetype":"zscalernss-web","event":{"time":"Mon Oct 16 22:55:48 2023","host":"mail.google.com","cltip":"10.0.0.5","cltintip":"10.0.0.6","cltpubip":"81.2.69.142","login":"jdoe@example.com","respcode":"403","reqmethod":"POST","b64url":"d3d3LmV4YW1wbGUuY29tL2luZGV4P3E9MQ==","b64referer":"d3d3LmV4YW1wbGUuY29t","b64ua":"Y3VybC84LjA=","recordid":"123","cltsourceport":"1235","dept":"Sales","malwarecategory":"Adware"}}"#;
    let ev = parse(raw);
    assert_eq!(s(&ev, "source.ip"), Some("10.0.0.5"));
    assert_eq!(s(&ev, "source.nat.ip"), Some("81.2.69.142"));
    assert_eq!(s(&ev, "destination.domain"), Some("mail.google.com"));
    assert_eq!(s(&ev, "user.email"), Some("jdoe@example.com"));
    assert_eq!(
        get(&ev, "http.response.status_code"),
        Some(&Value::from(403))
    );
    assert_eq!(s(&ev, "http.request.method"), Some("POST"));
    assert_eq!(s(&ev, "url.original"), Some("www.example.com/index?q=1"));
    assert_eq!(s(&ev, "http.request.referrer"), Some("www.example.com"));
    assert_eq!(s(&ev, "user_agent.original"), Some("curl/8.0"));
    assert_eq!(s(&ev, "zscaler.zia.department"), Some("Sales"));
    assert_eq!(s(&ev, "zscaler.zia.threat.category"), Some("Adware"));
    assert_eq!(s(&ev, "zscaler.zia.version"), Some("v9"));
    assert_eq!(get(&ev, "source.port"), Some(&Value::from(1235)));
}

#[test]
fn unknown_sourcetype_keeps_every_field_under_zscaler_zia_with_a_warning() {
    let p = zia::parse(r#"{"sourcetype":"zscalernss-future","event":{"foo":"bar","Baz":"1"}}"#)
        .expect("parses");
    let ev = Value::Object(p.event);
    assert_eq!(s(&ev, "zscaler.zia.foo"), Some("bar"));
    assert_eq!(s(&ev, "zscaler.zia.baz"), Some("1"));
    assert_eq!(s(&ev, "zscaler.zia.source_type"), Some("zscalernss-future"));
    assert!(p.warnings.iter().any(|w| w.contains("unknown sourcetype")));
}

#[test]
fn placeholder_values_are_absent() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-web","event":{"url":"a.com","threatname":"None","devicehostname":" ","deviceowner":"NA","filetype":""}}"#,
    );
    assert!(get(&ev, "zscaler.zia.threat").is_none());
    assert!(get(&ev, "host").is_none());
    assert!(get(&ev, "user").is_none());
    assert!(get(&ev, "file").is_none());
    assert!(get(&ev, "zscaler.zia.filetype").is_none());
}

#[test]
fn ctime_with_space_padded_day_becomes_rfc3339_utc() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-fw","event":{"datetime":"Thu Jan  9 08:04:30 2025","csip":"10.0.0.1"}}"#,
    );
    assert_eq!(s(&ev, "@timestamp"), Some("2025-01-09T08:04:30Z"));
}

#[test]
fn two_digit_year_becomes_rfc3339_utc() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-fw","event":{"datetime":"25-01-09 08:04:30","csip":"10.0.0.1"}}"#,
    );
    assert_eq!(s(&ev, "@timestamp"), Some("2025-01-09T08:04:30Z"));
}

#[test]
fn human_readable_fields_are_percent_decoded() {
    let ev = parse(WEB);
    assert_eq!(s(&ev, "user.email"), Some("jdoe@corp.com"));
    assert_eq!(s(&ev, "zscaler.zia.location"), Some("Road Warrior"));
    assert_eq!(
        s(&ev, "user_agent.original"),
        Some("Mozilla/5.0 (Windows NT 10.0)")
    );
    assert_eq!(s(&ev, "rule.name"), Some("Block Malware"));
}

#[test]
fn url_fields_are_never_percent_decoded() {
    let ev = parse(WEB);
    assert_eq!(
        s(&ev, "http.request.referrer"),
        Some("www.example.org/a%20b")
    );
    let ev = parse(r#"{"sourcetype":"zscalernss-web","event":{"url":"a.com/x%20y"}}"#);
    assert_eq!(s(&ev, "url.path"), Some("/x%20y"));
}

#[test]
fn url_path_starts_with_a_slash() {
    assert_eq!(s(&parse(WEB), "url.path"), Some("/dl/evil.exe"));
    assert_eq!(s(&parse(WEB), "url.extension"), Some("exe"));
}

#[test]
fn url_path_is_absent_when_the_url_has_none() {
    let ev = parse(r#"{"sourcetype":"zscalernss-web","event":{"url":"a.et.nytimes.com"}}"#);
    assert_eq!(s(&ev, "url.domain"), Some("a.et.nytimes.com"));
    assert!(get(&ev, "url.path").is_none());
}

#[test]
fn web_adds_status_code_outcome_rule_nat_ip_and_observer() {
    let ev = parse(WEB);
    assert_eq!(
        get(&ev, "http.response.status_code"),
        Some(&Value::from(403))
    );
    assert_eq!(s(&ev, "event.outcome"), Some("failure"));
    assert_eq!(s(&ev, "source.nat.ip"), Some("198.51.100.7"));
    assert_eq!(s(&ev, "observer.vendor"), Some("Zscaler"));
    assert_eq!(s(&ev, "observer.product"), Some("Zscaler Internet Access"));
}

#[test]
fn firewall_adds_outcome_and_network_application() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-fw","event":{"action":"Block/Drop","nwapp":"telnet","csip":"10.0.0.1","sdip":"10.0.1.2","sdport":"23","rulelabel":"Default%20Deny"}}"#,
    );
    assert_eq!(s(&ev, "event.outcome"), Some("failure"));
    assert_eq!(s(&ev, "network.application"), Some("telnet"));
    assert_eq!(s(&ev, "rule.name"), Some("Default Deny"));
    assert_eq!(get(&ev, "destination.port"), Some(&Value::from(23)));
}

#[test]
fn tunnel_records_of_every_kind_are_mapped() {
    for (rt, ty, ev_name, outcome) in [
        ("Tunnel Event", "GRE", "TUNNEL_DOWN", "failure"),
        ("IKE Phase1", "IPSec", "PHASE1_ERROR", "failure"),
        ("IKE Phase2", "IPSec", "PHASE2_UP", "success"),
        ("Tunnel Samples", "GRE", "SAMPLE", "success"),
    ] {
        let raw = format!(
            r#"{{"sourcetype":"zscalernss-tunnel","event":{{"Recordtype":"{rt}","tunneltype":"{ty}","event":"{ev_name}","sourceip":"203.0.113.1","destinationip":"198.51.100.2"}}}}"#
        );
        let ev = parse(&raw);
        assert_eq!(s(&ev, "network.type"), Some(ty));
        assert_eq!(s(&ev, "zscaler.zia.recordtype"), Some(rt));
        assert_eq!(s(&ev, "zscaler.zia.tunnel.status"), Some(ev_name));
        assert_eq!(s(&ev, "event.outcome"), Some(outcome), "{rt}");
    }
}

#[test]
fn admin_sign_in_failure_is_an_authentication_failure() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-audit","event":{"time":"Mon Mar 31 11:13:00 2025","action":"SIGN_IN","result":"FAILURE","adminid":"admin%40corp.com","clientip":"1.2.3.4"}}"#,
    );
    assert_eq!(
        get(&ev, "event.category"),
        Some(&serde_json::json!(["authentication"]))
    );
    assert_eq!(s(&ev, "event.outcome"), Some("failure"));
    assert_eq!(s(&ev, "user.email"), Some("admin@corp.com"));
}

#[test]
fn dns_record_maps_question_and_resolved_ip() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-dns","event":{"dns_req":"x.example.co.uk","dns_reqtype":"A","dns_resp":"203.0.113.9","clt_sip":"10.0.0.1","reqaction":"Allow"}}"#,
    );
    assert_eq!(
        s(&ev, "dns.question.registered_domain"),
        Some("example.co.uk")
    );
    assert_eq!(s(&ev, "dns.question.top_level_domain"), Some("co.uk"));
    assert_eq!(
        get(&ev, "dns.resolved_ip"),
        Some(&serde_json::json!(["203.0.113.9"]))
    );
    assert_eq!(s(&ev, "event.action"), Some("allow"));
}

#[test]
fn invalid_ip_is_kept_under_zscaler_zia_with_a_warning() {
    let p = zia::parse(
        r#"{"sourcetype":"zscalernss-web","event":{"ClientIP":"not-an-ip","url":"a.com"}}"#,
    )
    .expect("parses");
    let ev = Value::Object(p.event);
    assert!(get(&ev, "source.ip").is_none());
    assert_eq!(s(&ev, "zscaler.zia.clientip"), Some("not-an-ip"));
    assert!(!p.warnings.is_empty());
}

#[test]
fn record_id_is_reported_for_deduplication_except_zero() {
    assert_eq!(
        zia::parse(WEB).expect("parses").record_id.as_deref(),
        Some("42")
    );
    let audit = r#"{"sourcetype":"zscalernss-audit","event":{"recordid":"0","action":"UPDATE"}}"#;
    assert_eq!(zia::parse(audit).expect("parses").record_id, None);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for raw in [
        "",
        "   ",
        "hello world",
        "{\"sourcetype\":",
        "<134>1 - - - - - -",
        "{}",
    ] {
        assert!(zia::parse(raw).is_err(), "{raw:?} should not parse");
    }
}

#[test]
fn a_failed_record_still_yields_a_pipeline_error_event_with_its_text() {
    let ev = Value::Object(zia::parse_or_error("hello world"));
    assert_eq!(s(&ev, "event.kind"), Some("pipeline_error"));
    assert_eq!(s(&ev, "event.original"), Some("hello world"));
    assert!(s(&ev, "error.message").is_some());
    assert!(zia::is_error_event(ev.as_object().expect("object")));
}

#[test]
fn related_fields_collect_ips_hosts_and_users() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-web","event":{"ClientIP":"10.0.0.1","serverip":"10.0.0.2","url":"b.example.com/x","hostname":"a.example.com","deviceowner":"jdoe"}}"#,
    );
    assert_eq!(
        get(&ev, "related.ip"),
        Some(&serde_json::json!(["10.0.0.1", "10.0.0.2"]))
    );
    assert_eq!(
        get(&ev, "related.hosts"),
        Some(&serde_json::json!(["a.example.com", "b.example.com"]))
    );
    assert_eq!(get(&ev, "related.user"), Some(&serde_json::json!(["jdoe"])));
    assert_eq!(s(&ev, "destination.address"), Some("a.example.com"));
}

#[test]
fn ipv6_addresses_are_accepted() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-web","event":{"ClientIP":"2001:db8::1","serverip":"2001:DB8::2","url":"a.com"}}"#,
    );
    assert_eq!(s(&ev, "source.ip"), Some("2001:db8::1"));
    assert_eq!(s(&ev, "destination.ip"), Some("2001:db8::2"));
}

#[test]
fn non_ascii_time_is_an_unrecognised_time_not_a_panic() {
    // Found by the fuzzer: a multi-byte character where an ISO time has its separator.
    let raw = "{\"sourcetype\":\"zscalernss-web\",\"event\":{\"datetime\":\"20\u{fffd}\u{fffd}23-08-28 15:43:14\",\"url\":\"a.com\"}}";
    let p = zia::parse(raw).expect("parses");
    assert!(p.warnings.iter().any(|w| w.contains("unrecognised time")));
}

#[test]
fn a_key_with_thousands_of_dots_is_kept_flat_instead_of_nesting_without_end() {
    let key = vec!["a"; 40_000].join(".");
    let raw =
        format!(r#"{{"sourcetype":"zscalernss-web","event":{{"action":"Allowed","{key}":"x"}}}}"#);
    let ev = zia::parse(&raw).unwrap().event;
    let flat = key.replace('.', "_");
    assert_eq!(ev["zscaler"]["zia"][flat.as_str()], "x");
    // And the event can be serialized and dropped (both recurse per level).
    assert!(serde_json::to_string(&ev).unwrap().len() > 40_000);
}

#[test]
fn a_key_with_a_few_dots_still_nests() {
    let raw = r#"{"sourcetype":"zscalernss-web","event":{"action":"Allowed","x.y.z":"1"}}"#;
    let ev = zia::parse(raw).unwrap().event;
    assert_eq!(ev["zscaler"]["zia"]["x"]["y"]["z"], "1");
}

#[test]
fn firewall_cltdomain_is_the_destination_domain() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-fw","event":{"datetime":"Mon Oct 16 22:55:48 2023","action":"Blocked","csip":"10.0.0.1","sdip":"1.128.0.0","cltdomain":"WWW.Example.com"}}"#,
    );
    assert_eq!(s(&ev, "destination.domain"), Some("www.example.com"));
}

#[test]
fn firewall_tunnel_source_is_the_nat_address_and_zscaler_egress_stays_under_zscaler_zia() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-fw","event":{"datetime":"Mon Oct 16 22:55:48 2023","csip":"10.0.0.1","ssip":"165.225.1.1","tsip":"89.160.20.128"}}"#,
    );
    assert_eq!(s(&ev, "source.nat.ip"), Some("89.160.20.128"));
    assert_eq!(s(&ev, "zscaler.zia.ssip"), Some("165.225.1.1"));
}

#[test]
fn firewall_client_connector_sessions_have_no_nat_address() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-fw","event":{"datetime":"Mon Oct 16 22:55:48 2023","csip":"10.0.0.1","tsip":"0.0.0.0"}}"#,
    );
    assert!(get(&ev, "source.nat.ip").is_none());
}

#[test]
fn a_tunnel_event_is_the_event_action() {
    let ev = parse(
        r#"{"sourcetype":"zscalernss-tunnel","event":{"datetime":"Thu Dec 31 11:11:11 2021","Recordtype":"Tunnel Event","sourceip":"81.2.69.145","event":"IPsec tunnel is up"}}"#,
    );
    assert_eq!(s(&ev, "event.action"), Some("IPsec tunnel is up"));
    assert_eq!(
        s(&ev, "zscaler.zia.tunnel.status"),
        Some("IPsec tunnel is up")
    );
}

#[test]
fn a_saas_activity_records_activity_type_is_the_action_and_src_ip_the_source() {
    let ev = parse(
        r#"{"version":"v1","sourcetype":"zscalernss-saas_security_activity","time":"Wed Apr  3 09:58:51 2024","tz":"GMT","activity":{"type":"Download","count":"1"},"application":{"name":"ONEDRIVE"},"user_name":"alice@example.com","src_ip":"81.2.69.142"}"#,
    );
    assert_eq!(s(&ev, "event.action"), Some("download"));
    assert_eq!(s(&ev, "source.ip"), Some("81.2.69.142"));
}
