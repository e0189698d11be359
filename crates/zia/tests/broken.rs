//! Feeds that arrive broken, or in shapes the recommended formats do not produce, still parse:
//! one behaviour per test.

use serde_json::Value;

fn parse(raw: &str) -> zia::Parsed {
    zia::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
}

fn ev(raw: &str) -> Value {
    Value::Object(parse(raw).event)
}

fn s<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.')
        .try_fold(v, |cur, p| cur.get(p))
        .and_then(Value::as_str)
}

#[test]
fn an_unescaped_quote_in_a_user_agent_is_repaired() {
    let p = parse(
        r#"{"sourcetype":"zscalernss-web","event":{"useragent":"Mozilla/5.0 "Evil" Agent","url":"a.com/x","ClientIP":"10.0.0.1"}}"#,
    );
    let e = Value::Object(p.event);
    assert_eq!(
        s(&e, "user_agent.original"),
        Some(r#"Mozilla/5.0 "Evil" Agent"#)
    );
    assert_eq!(s(&e, "source.ip"), Some("10.0.0.1"));
    assert!(p.warnings.iter().any(|w| w.contains("repaired")));
}

#[test]
fn an_unescaped_backslash_in_a_url_is_repaired() {
    let e = ev(
        r#"{"sourcetype":"zscalernss-web","event":{"url":"a.com/C:\Windows\x","ClientIP":"10.0.0.1"}}"#,
    );
    assert_eq!(s(&e, "url.original"), Some(r"a.com/C:\Windows\x"));
}

#[test]
fn a_quote_and_comma_inside_a_value_stay_in_the_value() {
    let e = ev(r#"{"sourcetype":"zscalernss-web","event":{"useragent":"x", y","url":"a.com"}}"#);
    assert_eq!(s(&e, "user_agent.original"), Some(r#"x", y"#));
    assert_eq!(s(&e, "url.domain"), Some("a.com"));
}

#[test]
fn a_record_that_cannot_be_repaired_is_an_error_event_with_its_text() {
    let raw = r#"{"sourcetype":"zscalernss-web","event":{"url":"#;
    assert!(zia::parse(raw).is_err());
    let e = Value::Object(zia::parse_or_error(raw));
    assert_eq!(s(&e, "event.kind"), Some("pipeline_error"));
    assert_eq!(s(&e, "event.original"), Some(raw));
    assert!(s(&e, "error.message").is_some());
}

#[test]
fn b64_variant_of_any_field_is_decoded() {
    // "jdoe@example.com"
    let e = ev(
        r#"{"sourcetype":"zscalernss-web","event":{"url":"a.com","b64login":"amRvZUBleGFtcGxlLmNvbQ=="}}"#,
    );
    assert_eq!(s(&e, "user.email"), Some("jdoe@example.com"));
}

#[test]
fn e_variant_of_any_field_is_percent_decoded() {
    let e = ev(
        r#"{"sourcetype":"zscalernss-audit","event":{"action":"UPDATE","eresource":"Rule%20%22A%22","adminid":"a@b.c"}}"#,
    );
    assert_eq!(s(&e, "zscaler.zia.resource"), Some(r#"Rule "A""#));
}

#[test]
fn o_variant_maps_like_the_field() {
    let e = ev(r#"{"sourcetype":"zscalernss-web","event":{"url":"a.com","ologin":"7f3a9c"}}"#);
    assert_eq!(s(&e, "user.email"), Some("7f3a9c"));
}

#[test]
fn a_stray_percent_in_an_e_field_is_kept() {
    let e = ev(
        r#"{"sourcetype":"zscalernss-web","event":{"url":"a.com","location":"100% Remote%zz"}}"#,
    );
    assert_eq!(s(&e, "zscaler.zia.location"), Some("100% Remote%zz"));
}

#[test]
fn not_found_is_a_placeholder() {
    let e = ev(
        r#"{"sourcetype":"zscalernss-web","event":{"url":"a.com","deviceowner":"NotFound","devicehostname":"None","department":"NA"}}"#,
    );
    assert!(s(&e, "user.name").is_none());
    assert!(s(&e, "host.name").is_none());
    assert!(s(&e, "zscaler.zia.department").is_none());
}

#[test]
fn the_feed_time_zone_is_applied_to_the_time() {
    let e = ev(
        r#"{"sourcetype":"zscalernss-web","event":{"datetime":"2023-08-28 10:00:00","tz":"EST","url":"a.com"}}"#,
    );
    assert_eq!(s(&e, "@timestamp"), Some("2023-08-28T15:00:00Z"));
    assert_eq!(s(&e, "event.timezone"), Some("EST"));
}

#[test]
fn an_unknown_time_zone_is_a_warning_and_utc() {
    let p = parse(
        r#"{"sourcetype":"zscalernss-web","event":{"datetime":"2023-08-28 10:00:00","tz":"Nowhere","url":"a.com"}}"#,
    );
    assert!(p.warnings.iter().any(|w| w.contains("tz")));
    assert_eq!(
        Value::Object(p.event)["@timestamp"],
        Value::from("2023-08-28T10:00:00Z")
    );
}

#[test]
fn epoch_seconds_in_time_become_the_timestamp() {
    let e = ev(r#"{"sourcetype":"zscalernss-fw","event":{"time":"1700000000","nwapp":"dns"}}"#);
    assert_eq!(s(&e, "@timestamp"), Some("2023-11-14T22:13:20Z"));
}

#[test]
fn epoch_milliseconds_in_epochtime_become_the_timestamp() {
    let e =
        ev(r#"{"sourcetype":"zscalernss-fw","event":{"epochtime":1700000000123,"nwapp":"dns"}}"#);
    assert_eq!(s(&e, "@timestamp"), Some("2023-11-14T22:13:20.123Z"));
}

#[test]
fn a_weekday_that_does_not_match_the_date_keeps_the_time() {
    let p = parse(
        r#"{"sourcetype":"zscalernss-web","event":{"time":"Thu Dec 31 11:11:11 2021","url":"a.com"}}"#,
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(
        Value::Object(p.event)["@timestamp"],
        Value::from("2021-12-31T11:11:11Z")
    );
}

#[test]
fn two_spaces_before_a_two_digit_day_keep_the_time() {
    let e = ev(
        r#"{"sourcetype":"zscalernss-web","event":{"time":"Tue Dec  31 11:11:11 2021","url":"a.com"}}"#,
    );
    assert_eq!(s(&e, "@timestamp"), Some("2021-12-31T11:11:11Z"));
}

#[test]
fn nested_rule_label_maps_like_the_flat_key() {
    let e = ev(
        r#"{"sourcetype":"zscalernss-web","event":{"url":"a.com","rule":{"label":"Block Malware","type":"URL"}}}"#,
    );
    assert_eq!(s(&e, "rule.name"), Some("Block Malware"));
    assert_eq!(s(&e, "rule.category"), Some("URL"));
}

#[test]
fn nested_file_hashes_map_like_the_flat_keys() {
    let e = ev(
        r#"{"sourcetype":"zscalernss-web","event":{"url":"a.com","file":{"name":"x.exe","hash":{"md5":"01565bf41f1cb993d69334f409835293"}}}}"#,
    );
    assert_eq!(
        s(&e, "file.hash.md5"),
        Some("01565bf41f1cb993d69334f409835293")
    );
    assert_eq!(s(&e, "file.name"), Some("x.exe"));
}

#[test]
fn nested_fields_nobody_maps_are_kept_nested_under_zscaler_zia() {
    let e = ev(r#"{"sourcetype":"zscalernss-web","event":{"url":"a.com","extra":{"inner":"v"}}}"#);
    assert_eq!(s(&e, "zscaler.zia.extra.inner"), Some("v"));
}

#[test]
fn saas_security_sourcetype_with_an_underscore_is_known() {
    let p = parse(
        r#"{"sourcetype":"zscalernss-saas_security","event":{"login":"a@b.c","applicationname":"BOX"}}"#,
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let e = Value::Object(p.event);
    assert_eq!(s(&e, "event.dataset"), Some("casb"));
    assert_eq!(s(&e, "network.application"), Some("BOX"));
}
