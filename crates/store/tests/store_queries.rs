//! Every query form of the Events language, against a store filled with known events.

#[macro_use]
mod common;

use common::{all_time, eq, seqs, seqs_in};
use store::{EventSearch, StoreError, TimeSpec};

both_backends! {

fn span(from: &str, to: &str) -> TimeSpec {
    TimeSpec {
        from: Some(from.into()),
        to: Some(to.into()),
        since: None,
    }
}

#[test]
fn keyword_field_matches_exact_value() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "user.name:alice"), vec![1, 3]);
}

#[test]
fn keyword_match_is_exact_not_partial() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "user.name:ali"), Vec::<u64>::new());
}

#[test]
fn bare_term_searches_the_text_of_the_whole_event() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "trojan"), vec![1]);
    assert_eq!(seqs(&s, "TIMEOUT"), vec![6]);
}

#[test]
fn bare_phrase_matches_consecutive_words() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "\"trojan agent\""), vec![1]);
    assert_eq!(seqs(&s, "\"agent trojan\""), Vec::<u64>::new());
}

#[test]
fn quoted_value_on_keyword_field_is_exact_with_spaces() {
    let (_d, s) = filled_store();
    assert_eq!(
        seqs(&s, "user_agent.original:\"Mozilla/5.0 (Windows NT 10.0)\""),
        vec![1]
    );
}

#[test]
fn wildcards_star_and_question_mark() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "url.domain:*.example.*"), vec![1]);
    assert_eq!(seqs(&s, "dns.question.name:evil.*"), vec![4]);
    assert_eq!(seqs(&s, "user.name:?ob"), vec![2]);
    assert_eq!(seqs(&s, "troj*"), vec![1]);
}

#[test]
fn regex_matches_whole_value() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, r"url.domain:/.*\.(org|ru)/"), vec![2]);
    assert_eq!(seqs(&s, "url.domain:/chat/"), Vec::<u64>::new());
}

#[test]
fn field_star_means_field_exists() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "error.message:*"), vec![5]);
    assert_eq!(seqs(&s, "source.port:*"), vec![3]);
    assert_eq!(seqs(&s, "zscaler.zia.custom_score:*"), vec![1, 2]);
}

#[test]
fn comparisons_on_integers() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "destination.port:>=443"), vec![1, 2]);
    assert_eq!(seqs(&s, "destination.port:>443"), Vec::<u64>::new());
    assert_eq!(seqs(&s, "destination.port:<100"), vec![3]);
    assert_eq!(seqs(&s, "http.response.status_code:<=200"), vec![2]);
}

#[test]
fn bracket_range_on_integers_with_exclusive_end() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "destination.port:[22 TO 443}"), vec![3]);
    assert_eq!(seqs(&s, "destination.port:[22 TO 443]"), vec![1, 2, 3]);
}

#[test]
fn range_on_ip_addresses() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "source.ip:[10.1.0.0 TO 10.1.5.255]"), vec![1]);
}

#[test]
fn ipv4_cidr() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "source.ip:10.0.0.0/8"), vec![1, 2]);
    assert_eq!(seqs(&s, "source.ip:192.168.0.0/16"), vec![4]);
    assert_eq!(seqs(&s, "source.ip:172.16.0.0/12"), vec![6]);
}

#[test]
fn ipv6_exact_and_cidr() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "source.ip:2001:db8::5"), vec![3]);
    assert_eq!(seqs(&s, "source.ip:\"2001:db8::5\""), vec![3]);
    assert_eq!(seqs(&s, "source.ip:2001:db8::/32"), vec![3]);
    assert_eq!(seqs(&s, "destination.ip:2001:db8:1::/48"), vec![3]);
    assert_eq!(
        seqs(&s, "destination.ip:2001:db8:2::/48"),
        Vec::<u64>::new()
    );
}

#[test]
fn ipv4_cidr_does_not_match_ipv6_addresses() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "source.ip:0.0.0.0/0"), vec![1, 2, 4, 6]);
}

#[test]
fn date_range_across_partitions() {
    let (_d, s) = filled_store();
    assert_eq!(
        seqs(&s, "@timestamp:[2024-05-01T11:00:00Z TO 2024-05-03]"),
        vec![2, 3, 4]
    );
}

#[test]
fn time_range_restricts_every_query_including_partial_days() {
    let (_d, s) = filled_store();
    assert_eq!(
        seqs_in(&s, "*", &span("2024-05-02", "2024-05-03")),
        vec![3, 4]
    );
    assert_eq!(
        seqs_in(
            &s,
            "*",
            &span("2024-05-01T11:00:00Z", "2024-05-02T08:30:00Z")
        ),
        vec![2, 3]
    );
    // The end is exclusive.
    assert_eq!(
        seqs_in(
            &s,
            "*",
            &span("2024-05-01T00:00:00Z", "2024-05-01T10:00:00Z")
        ),
        Vec::<u64>::new()
    );
}

#[test]
fn and_or_not_and_parentheses() {
    let (_d, s) = filled_store();
    assert_eq!(
        seqs(&s, "user.name:alice AND NOT event.dataset:firewall"),
        vec![1]
    );
    assert_eq!(
        seqs(
            &s,
            "(user.name:bob OR user.name:carol) destination.port:443"
        ),
        vec![2]
    );
    assert_eq!(seqs(&s, "NOT user.name:*"), vec![5, 6]);
    assert_eq!(
        seqs(&s, "-event.dataset:web -event.dataset:dns"),
        vec![3, 5, 6]
    );
    assert_eq!(seqs(&s, "event.dataset:(web OR dns)"), vec![1, 2, 4]);
}

#[test]
fn untyped_fields_support_values_and_ranges() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "zscaler.zia.custom_score:75"), vec![1]);
    assert_eq!(seqs(&s, "zscaler.zia.custom_score:>10"), vec![1]);
    assert_eq!(seqs(&s, "zscaler.zia.custom_score:[1 TO 9]"), vec![2]);
    assert_eq!(seqs(&s, "seq:6"), vec![6]);
}

#[test]
fn failed_events_are_stored_and_searchable() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "event.kind:pipeline_error"), vec![5]);
    assert_eq!(seqs(&s, "secretword"), vec![5]);
    assert_eq!(seqs(&s, "error.message:token"), vec![5]);
}

#[test]
fn raw_record_of_parsed_events_is_stored_but_not_indexed() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "needle"), Vec::<u64>::new());
    assert_eq!(seqs(&s, "message:*"), vec![6]);
    let page = s.search(&eq("seq:6", &all_time()), 1, None).unwrap();
    assert_eq!(
        page.events[0]["message"],
        "raw tunnel record mentioning NEEDLE"
    );
}

#[test]
fn search_returns_the_stored_event_unchanged() {
    let (_d, s) = filled_store();
    let page = s.search(&eq("seq:1", &all_time()), 10, None).unwrap();
    assert_eq!(page.events, vec![common::known_events()[0].clone()]);
}

#[test]
fn invalid_ip_in_a_range_is_a_client_error() {
    let (_d, s) = filled_store();
    let e = s
        .count(&eq("source.ip:[10.0.0.1 TO banana]", &all_time()))
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidValue { .. }), "{e}");
    assert!(e.is_client_error());
}

#[test]
fn invalid_regex_is_a_client_error() {
    let (_d, s) = filled_store();
    let e = s
        .count(&eq("url.domain:/(unclosed/", &all_time()))
        .unwrap_err();
    assert!(e.is_client_error(), "{e}");
}

#[test]
fn wildcard_on_ip_field_is_refused_with_a_hint() {
    let (_d, s) = filled_store();
    let e = s.count(&eq("source.ip:10.*", &all_time())).unwrap_err();
    assert!(e.to_string().contains("CIDR"), "{e}");
}

#[test]
fn value_not_fitting_its_type_is_still_found_and_exists() {
    let (_d, s) = new_store();
    let e = common::ev(serde_json::json!({
        "@timestamp": "2024-05-01T10:00:00Z", "seq": 1,
        "source": {"port": "not-a-port", "ip": "unknown"}
    }));
    use store::EventStore;
    s.add(1, &e).unwrap();
    s.commit().unwrap();
    assert_eq!(seqs(&s, "source.port:*"), vec![1]);
    assert_eq!(seqs(&s, "source.port:not-a-port"), vec![1]);
    assert_eq!(seqs(&s, "source.ip:unknown"), vec![1]);
    assert_eq!(seqs(&s, "destination.port:*"), Vec::<u64>::new());
}

#[test]
fn identifiers_and_dates_are_searched_by_field() {
    let (_d, s) = new_store();
    let e = common::ev(serde_json::json!({
        "@timestamp": "2024-05-01T10:00:00Z", "seq": 1,
        "event": {"ingested": "2024-05-01T10:00:02.5Z"},
        "ziaxdr": {"event_id": "01a21f9f-1c14-7069-94dc-6a2965d0094b"}
    }));
    use store::EventStore;
    s.add(1, &e).unwrap();
    s.commit().unwrap();
    assert_eq!(
        seqs(&s, "ziaxdr.event_id:01a21f9f-1c14-7069-94dc-6a2965d0094b"),
        vec![1]
    );
    assert_eq!(
        seqs(
            &s,
            "event.ingested:[2024-05-01T10:00:02Z TO 2024-05-01T10:00:03Z]"
        ),
        vec![1]
    );
    assert_eq!(
        seqs(&s, "event.ingested:>2024-05-01T10:00:03Z"),
        Vec::<u64>::new()
    );
}

/// Two events whose UUIDv7 ids share the millisecond and the last 16 bits, so the same key in
/// the id column, plus one with an id that is not a UUID.
fn store_with_colliding_ids() -> (Guard, Store) {
    let (_d, s) = new_store();
    let ids = [
        "018fd118-971d-791f-bb99-2631cdc86d07",
        "018fd118-971d-7aaa-8000-000000006d07",
        "legacy-record-42",
    ];
    use store::EventStore;
    for (i, id) in ids.iter().enumerate() {
        let e = common::ev(serde_json::json!({
            "@timestamp": "2024-05-01T10:00:00Z", "seq": i + 1,
            "user": {"name": if i == 0 { "alice" } else { "bob" }},
            "ziaxdr": {"event_id": id}
        }));
        s.add(i as u64 + 1, &e).unwrap();
    }
    s.commit().unwrap();
    (_d, s)
}

#[test]
fn event_ids_with_the_same_key_are_told_apart_by_the_stored_event() {
    let (_d, s) = store_with_colliding_ids();
    assert_eq!(
        seqs(&s, "ziaxdr.event_id:018fd118-971d-791f-bb99-2631cdc86d07"),
        vec![1]
    );
    assert_eq!(
        seqs(&s, "ziaxdr.event_id:018fd118-971d-7aaa-8000-000000006d07"),
        vec![2]
    );
    assert_eq!(
        seqs(&s, "ziaxdr.event_id:018fd118-971d-7bbb-8000-000000006d07"),
        Vec::<u64>::new()
    );
}

#[test]
fn event_ids_that_are_not_uuids_are_found_too() {
    let (_d, s) = store_with_colliding_ids();
    assert_eq!(seqs(&s, "ziaxdr.event_id:legacy-record-42"), vec![3]);
    assert_eq!(
        seqs(&s, "ziaxdr.event_id:legacy-record-43"),
        Vec::<u64>::new()
    );
}

#[test]
fn event_id_combines_with_other_predicates_and_exists() {
    let (_d, s) = store_with_colliding_ids();
    let q = "ziaxdr.event_id:018fd118-971d-7aaa-8000-000000006d07";
    assert_eq!(seqs(&s, &format!("{q} AND user.name:bob")), vec![2]);
    assert_eq!(
        seqs(&s, &format!("{q} AND user.name:alice")),
        Vec::<u64>::new()
    );
    assert_eq!(seqs(&s, &format!("user.name:bob AND NOT {q}")), vec![3]);
    assert_eq!(seqs(&s, "ziaxdr.event_id:*"), vec![1, 2, 3]);
    assert_eq!(
        s.count(&eq(q, &all_time())).unwrap(),
        1,
        "count agrees with search"
    );
}

#[test]
fn wildcard_on_event_id_is_refused_with_a_hint() {
    let (_d, s) = store_with_colliding_ids();
    let e = s
        .search(&eq("ziaxdr.event_id:018fd118*", &all_time()), 10, None)
        .unwrap_err();
    assert!(e.is_client_error());
    assert!(e.to_string().contains("exact value"), "{e}");
}

#[test]
fn zia_record_ids_are_integers_searched_exactly_and_by_range() {
    let (_d, s) = new_store();
    use store::EventStore;
    for (i, rid) in ["7000000001", "7000000002", "7000000010"]
        .iter()
        .enumerate()
    {
        let e = common::ev(serde_json::json!({
            "@timestamp": "2024-05-01T10:00:00Z", "seq": i + 1,
            "zscaler": {"zia": {"recordid": rid}}
        }));
        s.add(i as u64 + 1, &e).unwrap();
    }
    s.commit().unwrap();
    assert_eq!(seqs(&s, "zscaler.zia.recordid:7000000002"), vec![2]);
    assert_eq!(seqs(&s, "zscaler.zia.recordid:>=7000000002"), vec![2, 3]);
    assert_eq!(seqs(&s, "zscaler.zia.recordid:*"), vec![1, 2, 3]);
}

#[test]
fn bare_phrase_does_not_span_two_values() {
    let (_d, s) = new_store();
    let e = common::ev(serde_json::json!({
        "@timestamp": "2024-05-01T10:00:00Z", "seq": 1,
        "a": "first alpha", "b": "beta last"
    }));
    use store::EventStore;
    s.add(1, &e).unwrap();
    s.commit().unwrap();
    assert_eq!(seqs(&s, "\"first alpha\""), vec![1]);
    assert_eq!(seqs(&s, "\"alpha beta\""), Vec::<u64>::new());
}

#[test]
fn ip_addresses_are_searched_by_field_not_as_bare_words() {
    let (_d, s) = new_store();
    let e = common::ev(serde_json::json!({
        "@timestamp": "2024-05-01T10:00:00Z", "seq": 1,
        "source": {"ip": "2001:db8:77::5"},
        "zscaler": {"zia": {"note": "gateway fe80::1 seen"}}
    }));
    use store::EventStore;
    s.add(1, &e).unwrap();
    s.commit().unwrap();
    assert_eq!(seqs(&s, "source.ip:2001:db8:77::5"), vec![1]);
    assert_eq!(seqs(&s, "db8"), Vec::<u64>::new());
    // An address inside free text is still a word of that text.
    assert_eq!(seqs(&s, "fe80"), vec![1]);
}

#[test]
fn numbers_identifiers_dates_and_derived_fields_are_not_bare_words() {
    let (_d, s) = new_store();
    let e = common::ev(serde_json::json!({
        "@timestamp": "2024-05-01T10:00:00Z", "seq": 1,
        "event": {"created": "2024-05-01T09:59:00Z"},
        "custom": {"num": "12345", "hex": "0123456789abcdef0123", "word": "Plain-Text"},
        "related": {"user": ["zed"]}
    }));
    use store::EventStore;
    s.add(1, &e).unwrap();
    s.commit().unwrap();
    for q in ["12345", "0123456789abcdef0123", "zed", "2024", "123*", "/zed/"] {
        assert_eq!(seqs(&s, q), Vec::<u64>::new(), "{q}");
    }
    for q in ["plain", "\"plain text\"", "pla*", "/t.xt/", "custom.hex:0123456789abcdef0123"] {
        assert_eq!(seqs(&s, q), vec![1], "{q}");
    }
}

/// One event whose words are only in an enumerated keyword field (kept out of `_all`).
fn store_with_rule_name() -> (Guard, Store) {
    let (_d, s) = new_store();
    use store::EventStore;
    let events = [
        serde_json::json!({"@timestamp": "2024-05-01T10:00:00Z", "seq": 1,
            "rule": {"name": "Block Social Media"}, "event": {"action": "blocked"}}),
        serde_json::json!({"@timestamp": "2024-05-01T11:00:00Z", "seq": 2,
            "rule": {"name": "Allow Updates"}, "event": {"action": "allowed"}}),
    ];
    for (i, e) in events.into_iter().enumerate() {
        s.add(i as u64 + 1, &common::ev(e)).unwrap();
    }
    s.commit().unwrap();
    (_d, s)
}

#[test]
fn bare_words_find_values_of_enumerated_fields() {
    let (_d, s) = store_with_rule_name();
    assert_eq!(seqs(&s, "social"), vec![1]);
    assert_eq!(seqs(&s, "BLOCKED"), vec![1]);
    assert_eq!(seqs(&s, "soc*"), vec![1]);
    assert_eq!(seqs(&s, "/upd.*/"), vec![2]);
    assert_eq!(seqs(&s, "NOT social"), vec![2]);
}

#[test]
fn bare_phrases_in_enumerated_fields_keep_their_word_order() {
    let (_d, s) = store_with_rule_name();
    assert_eq!(seqs(&s, "\"social media\""), vec![1]);
    assert_eq!(seqs(&s, "\"media social\""), Vec::<u64>::new());
    assert_eq!(seqs(&s, "\"block media\""), Vec::<u64>::new());
}

#[test]
fn alternatives_of_one_keyword_field_match_any_of_the_values() {
    let (_d, s) = filled_store();
    assert_eq!(seqs(&s, "event.dataset:(firewall OR dns)"), vec![3, 4]);
    assert_eq!(
        seqs(
            &s,
            "(event.dataset:firewall OR event.dataset:dns) AND NOT user.name:carol"
        ),
        vec![3]
    );
    assert_eq!(
        seqs(&s, "event.dataset:web OR user.name:carol"),
        vec![1, 2, 4]
    );
}

/// Values with SQL quotes, backslashes and statements in them.
const HOSTILE: &[&str] = &[
    r"o'neil",
    r"x\'; DROP TABLE events; --",
    r"back\\slash\",
    r#"'); DROP DATABASE ziaxdr; SELECT ('"#,
];

#[test]
fn quotes_backslashes_and_statements_in_values_are_only_values() {
    let (_d, s) = new_store();
    use store::EventStore;
    for (i, v) in HOSTILE.iter().enumerate() {
        let e = common::ev(serde_json::json!({
            "@timestamp": "2024-05-01T10:00:00Z", "seq": i + 1,
            "user": {"name": v}, "custom": {"note": v}
        }));
        s.add(i as u64 + 1, &e).unwrap();
    }
    s.commit().unwrap();
    for (i, v) in HOSTILE.iter().enumerate() {
        let quoted = format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        let seq = vec![i as u64 + 1];
        assert_eq!(seqs(&s, &format!("user.name:{quoted}")), seq, "{v}");
        assert_eq!(seqs(&s, &format!("custom.note:{quoted}")), seq, "{v}");
        // Every other form takes the value too; they must run, whatever they match.
        let escaped: String = v
            .chars()
            .flat_map(|c| {
                if c.is_alphanumeric() {
                    vec![c]
                } else {
                    vec!['\\', c]
                }
            })
            .collect();
        for q in [
            escaped.clone(),
            format!("{escaped}*"),
            format!("user.name:{escaped}*"),
            format!("custom.note:{escaped}?"),
            format!("user.name:[{quoted} TO *]"),
            format!("custom.note:>={quoted}"),
            format!("user.name:/{}/", regex::escape(v).replace('/', "\\/")),
            format!("/{}/", regex::escape(v).replace('/', "\\/")),
            format!("{escaped} AND NOT custom.note:{quoted}"),
            quoted.clone(),
            format!("NOT (user.name:{quoted} OR custom.note:{quoted})"),
            "user.name:*".to_string(),
        ] {
            s.count(&eq(&q, &all_time()))
                .unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }
    assert_eq!(s.count(&eq("*", &all_time())).unwrap(), HOSTILE.len() as u64);
    assert_eq!(
        seqs(&s, &format!("user.name:/{}/", regex::escape(HOSTILE[1]))),
        vec![2]
    );
}
}
