//! What the console's Rules and CTI pages call: a rule's Sigma source, indicators added by
//! hand (every type the form offers matches), searched and revoked, and registered CTI
//! sources added, listed and removed.

use detect::api::{self, RulesApi};
use detect::RuleSet;
use serde_json::{json, Value};

fn cti(
    dir: &std::path::Path,
    method: &str,
    path: &str,
    query: &str,
    body: Value,
) -> api::ApiResponse {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    api::handle_cti(dir, method, path, query, &body)
}

#[test]
fn a_rule_shows_the_sigma_document_it_came_from() {
    let mut set = RuleSet::new();
    set.add_yaml(
        "title: First\nid: 11111111-1111-4111-8111-111111111111\nlogsource: {category: proxy}\ndetection: {sel: {c-uri|contains: a}, condition: sel}\n---\ntitle: Second\nid: 22222222-2222-4222-8222-222222222222\nlogsource: {category: proxy}\ndetection: {sel: {c-uri|contains: b}, condition: sel}\n",
        "two.yml",
    );
    let rules = RulesApi::from_set(set).unwrap();
    let d = tempfile::tempdir().unwrap();
    let r = rules.handle(
        d.path(),
        "GET",
        "/api/v1/rules/22222222-2222-4222-8222-222222222222/source",
        "",
        b"",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let text = r.body["text"].as_str().unwrap();
    assert!(text.starts_with("title: Second"), "{text}");
    assert!(!text.contains("First"), "{text}");
    assert_eq!(r.body["source"], "two.yml");
}

#[test]
fn every_shipped_rule_has_its_source() {
    let rules = RulesApi::from_set(RuleSet::builtin()).unwrap();
    let d = tempfile::tempdir().unwrap();
    let list = rules.handle(d.path(), "GET", "/api/v1/rules", "", b"", None);
    for item in list.body["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let r = rules.handle(
            d.path(),
            "GET",
            &format!("/api/v1/rules/{id}/source"),
            "",
            b"",
            None,
        );
        assert_eq!(r.status, 200, "{id}: {}", r.body);
        let text = r.body["text"].as_str().unwrap();
        assert!(text.contains(&format!("id: {id}")), "{id}: {text}");
        assert!(
            text.contains("detection:") || text.contains("correlation:"),
            "{id}"
        );
    }
}

#[test]
fn an_indicator_of_each_type_added_by_hand_is_active() {
    let d = tempfile::tempdir().unwrap();
    for (kind, value) in [
        ("domain-name", "evil.example"),
        ("url", "http://evil.example/payload.exe"),
        ("ipv4-addr", "203.0.113.7"),
        ("ipv6-addr", "2001:db8::7"),
        ("file-md5", "d41d8cd98f00b204e9800998ecf8427e"),
        ("file-sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        (
            "file-sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
    ] {
        let r = cti(
            d.path(),
            "POST",
            "/api/v1/cti/indicators",
            "",
            json!({"type": kind, "value": value, "confidence": 80}),
        );
        assert_eq!(r.status, 200, "{kind}: {}", r.body);
        let id = r.body["id"].as_str().unwrap().to_string();
        let list = cti(
            d.path(),
            "GET",
            "/api/v1/cti/indicators",
            &format!("q={value}"),
            Value::Null,
        );
        let found: Vec<&Value> = list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["id"] == id.as_str())
            .collect();
        assert_eq!(found.len(), 1, "{kind}: {}", list.body);
        assert_eq!(found[0]["state"], "active", "{kind}: {}", found[0]);
    }
}

#[test]
fn a_value_that_does_not_fit_its_type_is_refused() {
    let d = tempfile::tempdir().unwrap();
    for (kind, value) in [
        ("ipv4-addr", "not an ip"),
        ("file-sha256", "abc"),
        ("hostname", "x.example"),
        ("url", ""),
    ] {
        let r = cti(
            d.path(),
            "POST",
            "/api/v1/cti/indicators",
            "",
            json!({"type": kind, "value": value}),
        );
        assert_eq!(r.status, 400, "{kind} {value:?}: {}", r.body);
    }
}

#[test]
fn a_revoked_indicator_is_listed_as_revoked() {
    let d = tempfile::tempdir().unwrap();
    let r = cti(
        d.path(),
        "POST",
        "/api/v1/cti/indicators",
        "",
        json!({"type": "domain-name", "value": "revoke-me.example"}),
    );
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = cti(
        d.path(),
        "POST",
        &format!("/api/v1/cti/indicators/{id}/revoke"),
        "",
        Value::Null,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let list = cti(
        d.path(),
        "GET",
        "/api/v1/cti/indicators",
        "state=revoked",
        Value::Null,
    );
    assert_eq!(list.body["total"], 1, "{}", list.body);
    assert_eq!(list.body["items"][0]["id"], id.as_str());
    let active = cti(
        d.path(),
        "GET",
        "/api/v1/cti/indicators",
        "state=active",
        Value::Null,
    );
    assert_eq!(active.body["total"], 0);
}

#[test]
fn revoking_an_unknown_indicator_is_not_found() {
    let d = tempfile::tempdir().unwrap();
    let r = cti(
        d.path(),
        "POST",
        "/api/v1/cti/indicators/indicator--nope/revoke",
        "",
        Value::Null,
    );
    assert_eq!(r.status, 404);
}

#[test]
fn a_cti_source_is_added_listed_and_removed() {
    let d = tempfile::tempdir().unwrap();
    let r = cti(
        d.path(),
        "POST",
        "/api/v1/cti/feeds",
        "",
        json!({"url": "https://feeds.example/stix", "every": "1h"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let list = cti(d.path(), "GET", "/api/v1/cti/feeds", "", Value::Null);
    assert_eq!(list.body["items"][0]["url"], "https://feeds.example/stix");
    assert_eq!(list.body["items"][0]["every_secs"], 3600);
    assert_eq!(list.body["items"][0]["last_error"], Value::Null);
    let r = cti(
        d.path(),
        "DELETE",
        "/api/v1/cti/feeds",
        "url=https%3A%2F%2Ffeeds.example%2Fstix",
        Value::Null,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let list = cti(d.path(), "GET", "/api/v1/cti/feeds", "", Value::Null);
    assert_eq!(list.body["items"], json!([]));
}

#[test]
fn a_cti_source_needs_an_http_url_and_a_duration() {
    let d = tempfile::tempdir().unwrap();
    let r = cti(
        d.path(),
        "POST",
        "/api/v1/cti/feeds",
        "",
        json!({"url": "file:///etc/passwd", "every": "1h"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = cti(
        d.path(),
        "POST",
        "/api/v1/cti/feeds",
        "",
        json!({"url": "https://x.example/", "every": "often"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
}
