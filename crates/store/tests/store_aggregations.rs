//! Paging, count, histogram, top-N and distinct count, through the traits and the REST API
//! functions.

#[macro_use]
mod common;

use common::{all_time, eq};
use store::api::{self, AggregateRequest, AggregateResult, Aggregation, SearchRequest};
use store::{Cursor, EventSearch, EventStore, StoreError};
use time::macros::datetime;

both_backends! {

fn now() -> time::OffsetDateTime {
    datetime!(2030-01-01 0:00 UTC)
}

fn seq_of(events: &[store::Event]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

/// The `seq` of every match of `q`, page after page of `size`.
fn all_pages(s: &dyn EventSearch, q: &store::EventQuery, size: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let p = s.search(q, size, cursor).unwrap();
        seen.extend(seq_of(&p.events));
        match p.next {
            Some(c) => cursor = Some(c),
            None => return seen,
        }
    }
}

#[test]
fn search_is_newest_first_and_pages_with_a_cursor() {
    let (_d, s) = filled_store();
    let q = eq("*", &all_time());
    let p1 = s.search(&q, 4, None).unwrap();
    assert_eq!(seq_of(&p1.events), vec![6, 5, 4, 3]);
    let p2 = s.search(&q, 4, p1.next).unwrap();
    assert_eq!(seq_of(&p2.events), vec![2, 1]);
    assert_eq!(p2.next, None);
}

#[test]
fn events_with_the_same_second_are_ordered_by_offset_and_paged_without_gaps() {
    let (_d, s) = new_store();
    for off in 10..20u64 {
        let e = common::ev(serde_json::json!({"@timestamp": "2024-05-01T10:00:00Z", "seq": off}));
        s.add(off, &e).unwrap();
    }
    s.commit().unwrap();
    let seen = all_pages(&s, &eq("*", &all_time()), 3);
    assert_eq!(seen, (10..20u64).rev().collect::<Vec<_>>());
}

#[test]
fn pages_over_segments_whose_times_interleave_are_newest_first_without_gaps() {
    let (_d, s) = new_store();
    // Four segments of one day (a commit each): the first three hold interleaved times, the
    // last one only older events. Pages skip segments that cannot hold a newer event.
    let mut expected = Vec::new();
    for seg in 0..4u64 {
        for i in 0..12u64 {
            let off = seg * 12 + i;
            let minute = if seg == 3 { i } else { 20 + (i * 3 + seg) % 36 };
            let e = common::ev(serde_json::json!({
                "@timestamp": format!("2024-05-01T10:{minute:02}:00Z"),
                "seq": off,
                "parity": if off % 2 == 0 { "even" } else { "odd" },
            }));
            s.add(off, &e).unwrap();
            expected.push(((minute, off), off % 2 == 0));
        }
        s.commit().unwrap();
    }
    expected.sort_by_key(|(key, _)| std::cmp::Reverse(*key));
    for (query, keep_odd) in [("*", true), ("parity:even", false)] {
        let want: Vec<u64> = expected
            .iter()
            .filter(|(_, even)| *even || keep_odd)
            .map(|((_, off), _)| *off)
            .collect();
        assert_eq!(all_pages(&s, &eq(query, &all_time()), 5), want, "{query}");
    }
}

#[test]
fn count_counts_matching_events_in_the_range() {
    let (_d, s) = filled_store();
    assert_eq!(s.count(&eq("*", &all_time())).unwrap(), 6);
    assert_eq!(s.count(&eq("user.name:alice", &all_time())).unwrap(), 2);
}

#[test]
fn histogram_counts_per_bucket() {
    let (_d, s) = filled_store();
    let h = s.histogram(&eq("*", &all_time()), 86_400).unwrap();
    let day = |d: time::Date| d.midnight().assume_utc().unix_timestamp();
    assert_eq!(
        h,
        vec![
            (day(time::macros::date!(2024 - 05 - 01)), 2),
            (day(time::macros::date!(2024 - 05 - 02)), 2),
            (day(time::macros::date!(2024 - 05 - 03)), 2),
        ]
    );
}

#[test]
fn top_values_are_exact_with_the_rest_counted() {
    let (_d, s) = filled_store();
    let t = s.top(&eq("*", &all_time()), "user.name", 2).unwrap();
    assert_eq!(
        t.values,
        vec![("alice".to_string(), 2), ("bob".to_string(), 1)]
    );
    assert_eq!(t.other, 1);
}

#[test]
fn top_on_ip_field_prints_ipv4_and_ipv6_naturally() {
    let (_d, s) = filled_store();
    let t = s
        .top(
            &eq("source.ip:2001:db8::/32 OR source.ip:10.1.2.3", &all_time()),
            "source.ip",
            10,
        )
        .unwrap();
    let vals: Vec<&str> = t.values.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(vals, vec!["10.1.2.3", "2001:db8::5"]);
}

#[test]
fn distinct_count_is_exact() {
    let (_d, s) = filled_store();
    assert_eq!(s.distinct(&eq("*", &all_time()), "user.name").unwrap(), 3);
    assert_eq!(
        s.distinct(&eq("*", &all_time()), "destination.port")
            .unwrap(),
        2
    );
}

#[test]
fn aggregating_a_text_field_is_refused() {
    let (_d, s) = filled_store();
    let e = s.top(&eq("*", &all_time()), "message", 5).unwrap_err();
    assert!(matches!(e, StoreError::NotAggregatable { .. }));
}

#[test]
fn top_values_of_a_field_without_a_column_or_a_type_are_counted() {
    let (_d, s) = filled_store();
    let q = eq("event.dataset:web", &all_time());
    let t = s.top(&q, "url.original", 5).unwrap();
    assert_eq!(
        t.values,
        vec![
            ("https://api.chat.org/bot".to_string(), 1),
            ("https://www.example.com/download/setup.exe".to_string(), 1)
        ]
    );
    let t = s.top(&q, "zscaler.zia.custom_score", 5).unwrap();
    assert_eq!(t.values, vec![("5".into(), 1), ("75".into(), 1)]);
}

#[test]
fn api_search_warns_of_a_field_no_event_has() {
    let (_d, s) = filled_store();
    let req = SearchRequest {
        query: "user.nmae:alice OR user.name:alice".into(),
        time: all_time(),
        limit: 10,
        ..Default::default()
    };
    let r = api::search(&s, &req, now()).unwrap();
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(r.warnings[0].contains("user.nmae"), "{:?}", r.warnings);
}

#[test]
fn api_search_pages_and_projects_fields() {
    let (_d, s) = filled_store();
    let req = SearchRequest {
        query: "event.dataset:web".into(),
        time: all_time(),
        limit: 1,
        fields: Some(vec!["user.name".into()]),
        ..Default::default()
    };
    let r1 = api::search(&s, &req, now()).unwrap();
    assert_eq!(
        serde_json::to_string(&r1.events).unwrap(),
        r#"[{"user":{"name":"bob"}}]"#
    );
    let req2 = SearchRequest {
        cursor: r1.next_cursor.clone(),
        ..req
    };
    let r2 = api::search(&s, &req2, now()).unwrap();
    assert_eq!(
        serde_json::to_string(&r2.events).unwrap(),
        r#"[{"user":{"name":"alice"}}]"#
    );
}

#[test]
fn api_query_error_is_a_400_with_the_position() {
    let (_d, s) = filled_store();
    let req = SearchRequest {
        query: "user.name:(alice".into(),
        time: all_time(),
        limit: 10,
        ..Default::default()
    };
    let e = api::search(&s, &req, now()).unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("position 16"), "{e}");
}

#[test]
fn api_bad_cursor_is_a_400() {
    let (_d, s) = filled_store();
    let req = SearchRequest {
        time: all_time(),
        limit: 10,
        cursor: Some("garbage".into()),
        ..Default::default()
    };
    assert_eq!(api::search(&s, &req, now()).unwrap_err().status(), 400);
}

#[test]
fn api_histogram_fills_every_bucket_of_the_range() {
    let (_d, s) = filled_store();
    let req = AggregateRequest {
        query: String::new(),
        time: store::TimeSpec {
            from: Some("2024-05-01".into()),
            to: Some("2024-05-02".into()),
            since: None,
        },
        aggregation: Aggregation::Histogram {
            interval: Some("1h".into()),
        },
    };
    let r = api::aggregate(&s, &req, now()).unwrap();
    let AggregateResult::Histogram {
        interval_seconds,
        buckets,
    } = r.result
    else {
        panic!("not a histogram");
    };
    assert_eq!(interval_seconds, 3600);
    assert_eq!(buckets.len(), 24);
    assert_eq!(buckets[10].count, 1);
    assert_eq!(buckets[11].count, 1);
    assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 2);
}

/// Web events with their response sizes (one without), in two days (two partitions).
fn sized_store() -> (Guard, Store) {
    let (d, s) = new_store();
    let sizes: [(&str, &str, Option<i64>); 4] = [
        ("2024-05-01T10:00:00Z", "alice", Some(1_000)),
        ("2024-05-01T11:00:00Z", "bob", Some(2_500)),
        ("2024-05-02T09:00:00Z", "alice", Some(40_000_000_000)),
        ("2024-05-02T10:00:00Z", "alice", None),
    ];
    for (i, (ts, user, size)) in sizes.into_iter().enumerate() {
        let mut e = serde_json::json!({
            "@timestamp": ts, "seq": i, "event": {"dataset": "web"}, "user": {"name": user},
        });
        if let Some(n) = size {
            e["http"] = serde_json::json!({"response": {"bytes": n}});
        }
        s.add(i as u64 + 1, &common::ev(e)).unwrap();
    }
    s.commit().unwrap();
    (d, s)
}

#[test]
fn sum_adds_up_a_numeric_field_over_the_matching_events_that_have_it() {
    let (_d, s) = sized_store();
    let all = s.sum(&eq("*", &all_time()), "http.response.bytes").unwrap();
    assert_eq!((all.sum, all.events), (40_000_003_500, 3));
    let alice = s
        .sum(&eq("user.name:alice", &all_time()), "http.response.bytes")
        .unwrap();
    assert_eq!((alice.sum, alice.events), (40_000_001_000, 2));
    let none = s
        .sum(&eq("user.name:nobody", &all_time()), "http.response.bytes")
        .unwrap();
    assert_eq!((none.sum, none.events), (0, 0));
}

#[test]
fn summing_a_field_that_is_not_numeric_is_refused_as_the_callers_fault() {
    let (_d, s) = sized_store();
    for field in ["user.name", "url.original", "zscaler.zia.custom_score"] {
        let e = s.sum(&eq("*", &all_time()), field).unwrap_err();
        assert!(e.is_client_error(), "{field}: {e}");
        assert!(e.to_string().contains("http.response.bytes"), "{e}");
    }
}

#[test]
fn api_sum_json_round_trip() {
    let (_d, s) = sized_store();
    let req: AggregateRequest = serde_json::from_str(
        r#"{"query":"user.name:bob","from":"2024-04-30","to":"2024-05-04","aggregation":{"type":"sum","field":"http.response.bytes"}}"#,
    )
    .unwrap();
    let r = api::aggregate(&s, &req, now()).unwrap();
    assert_eq!(
        serde_json::to_value(&r.result).unwrap(),
        serde_json::json!({"type":"sum","field":"http.response.bytes","sum":2500,"events":1})
    );
}

/// A transfer: time, user, URL, bytes received and sent (none: no sizes logged).
type Transfer = (String, &'static str, &'static str, Option<(i64, i64)>);

/// Web transfers: carol makes many small ones, dave one huge one, erin a few; one of
/// carol's has no sizes. Over two days (two partitions).
fn transfers_store() -> (Guard, Store) {
    let (d, s) = new_store();
    let mut rows: Vec<Transfer> = Vec::new();
    for i in 0..6 {
        rows.push((format!("2024-05-01T10:0{i}:00Z"), "carol", "https://a.example/", Some((100, 10))));
    }
    rows.push(("2024-05-01T11:00:00Z".into(), "carol", "https://a.example/", None));
    rows.push(("2024-05-02T09:00:00Z".into(), "dave", "https://big.example/iso", Some((9_000_000_000, 1_000))));
    for i in 0..3 {
        rows.push((format!("2024-05-02T10:0{i}:00Z"), "erin", "https://a.example/", Some((40, 2))));
    }
    for (i, (ts, user, url, size)) in rows.into_iter().enumerate() {
        let mut e = serde_json::json!({
            "@timestamp": ts, "seq": i, "event": {"dataset": "web"}, "user": {"name": user},
            "url": {"original": url},
        });
        if let Some((rx, tx)) = size {
            e["http"] = serde_json::json!({"response": {"bytes": rx}, "request": {"bytes": tx}});
        }
        s.add(i as u64 + 1, &common::ev(e)).unwrap();
    }
    s.commit().unwrap();
    (d, s)
}

fn bytes_fields() -> Vec<String> {
    vec!["http.response.bytes".to_string(), "http.request.bytes".to_string()]
}

fn sums_of(t: &store::TopSums) -> Vec<(&str, i64, u64)> {
    t.values.iter().map(|v| (v.value.as_str(), v.sum, v.count)).collect()
}

#[test]
fn top_by_sum_ranks_one_huge_transfer_above_many_small_ones() {
    let (_d, s) = transfers_store();
    let q = eq("*", &all_time());
    // By count, carol leads and dave is last.
    let by_count = s.top(&q, "user.name", 3).unwrap();
    assert_eq!(by_count.values[0], ("carol".to_string(), 7));
    let t = s.top_by_sum(&q, "user.name", &bytes_fields(), 10).unwrap();
    assert_eq!(
        sums_of(&t),
        vec![("dave", 9_000_001_000, 1), ("carol", 660, 7), ("erin", 126, 3)]
    );
    assert_eq!((t.other_sum, t.other_count), (0, 0));
}

#[test]
fn top_by_sum_cut_at_size_totals_the_rest() {
    let (_d, s) = transfers_store();
    let t = s
        .top_by_sum(&eq("*", &all_time()), "user.name", &bytes_fields(), 1)
        .unwrap();
    assert_eq!(sums_of(&t), vec![("dave", 9_000_001_000, 1)]);
    assert_eq!((t.other_sum, t.other_count), (786, 10));
}

#[test]
fn top_by_sum_of_a_field_without_a_column_counts_from_the_index() {
    let (_d, s) = transfers_store();
    // url.original has no column; the query keeps only day two.
    let t = s
        .top_by_sum(&eq("user.name:dave OR user.name:erin", &all_time()), "url.original", &["http.response.bytes".to_string()], 10)
        .unwrap();
    assert_eq!(
        sums_of(&t),
        vec![("https://big.example/iso", 9_000_000_000, 1), ("https://a.example/", 120, 3)]
    );
}

#[test]
fn top_by_sum_of_a_field_that_is_not_numeric_is_refused_as_the_callers_fault() {
    let (_d, s) = transfers_store();
    for sum in [vec!["user.name".to_string()], vec!["http.response.bytes".to_string(), "url.original".to_string()], vec![]] {
        let e = s.top_by_sum(&eq("*", &all_time()), "user.name", &sum, 10).unwrap_err();
        assert!(e.is_client_error(), "{sum:?}: {e}");
    }
    let req: AggregateRequest = serde_json::from_str(
        r#"{"query":"*","from":"2024-04-30","to":"2024-05-04","aggregation":{"type":"top_by_sum","field":"user.name","sum":"user.email"}}"#,
    )
    .unwrap();
    let e = api::aggregate(&s, &req, now()).unwrap_err();
    assert_eq!(e.status(), 400, "{e}");
    assert!(e.to_string().contains("http.response.bytes"), "{e}");
}

#[test]
fn api_top_by_sum_json_round_trip() {
    let (_d, s) = transfers_store();
    let req: AggregateRequest = serde_json::from_str(
        r#"{"query":"*","from":"2024-04-30","to":"2024-05-04","aggregation":{"type":"top_by_sum","field":"user.name","sum":"http.response.bytes","size":2}}"#,
    )
    .unwrap();
    let r = api::aggregate(&s, &req, now()).unwrap();
    assert_eq!(
        serde_json::to_value(&r.result).unwrap(),
        serde_json::json!({"type":"top_by_sum","field":"user.name","sum":["http.response.bytes"],
            "values":[{"value":"dave","sum":9_000_000_000i64,"count":1},{"value":"carol","sum":600,"count":7}],
            "other_sum":120,"other_count":3})
    );
}

#[test]
fn api_aggregate_json_round_trip() {
    let (_d, s) = filled_store();
    let req: AggregateRequest = serde_json::from_str(
        r#"{"query":"*","from":"2024-04-30","to":"2024-05-04","aggregation":{"type":"distinct","field":"user.name"}}"#,
    )
    .unwrap();
    let r = api::aggregate(&s, &req, now()).unwrap();
    let json = serde_json::to_value(&r.result).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type":"distinct","field":"user.name","count":3})
    );
}
fn export(s: &dyn store::EventSearch, req: &api::ExportRequest) -> (api::ExportPlan, String) {
    let plan = api::plan_export(s, req, now()).unwrap();
    let mut out = Vec::new();
    let n = api::write_export(s, &plan, &mut out).unwrap();
    assert_eq!(n, plan.rows);
    (plan, String::from_utf8(out).unwrap())
}

#[test]
fn an_ndjson_export_writes_every_match_newest_first() {
    let (_d, s) = filled_store();
    let req = api::ExportRequest {
        query: "*".into(),
        time: all_time(),
        limit: api::MAX_EXPORT,
        ..Default::default()
    };
    let (plan, text) = export(&s, &req);
    assert_eq!((plan.total, plan.rows), (6, 6));
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, vec![6, 5, 4, 3, 2, 1]);
}

#[test]
fn an_export_stops_at_its_limit_and_says_how_many_matched() {
    let (_d, s) = filled_store();
    let req = api::ExportRequest {
        time: all_time(),
        limit: 2,
        ..Default::default()
    };
    let (plan, text) = export(&s, &req);
    assert_eq!((plan.total, plan.rows), (6, 2));
    assert_eq!(text.lines().count(), 2);
    let too_many = api::ExportRequest {
        limit: api::MAX_EXPORT + 1,
        ..req
    };
    assert_eq!(
        api::plan_export(&s, &too_many, now()).unwrap_err().status(),
        400
    );
}

#[test]
fn a_csv_export_has_a_header_quoted_cells_and_no_formula() {
    let (_d, s) = filled_store();
    let req = api::ExportRequest {
        query: "user.name:alice AND seq:1".into(),
        time: all_time(),
        format: api::ExportFormat::Csv,
        fields: Some(vec![
            "user.name".into(),
            "user_agent.original".into(),
            "seq".into(),
        ]),
        limit: 10,
    };
    let (_, text) = export(&s, &req);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("user.name,user_agent.original,seq"));
    assert_eq!(lines.next(), Some("alice,Mozilla/5.0 (Windows NT 10.0),1"));
    assert_eq!(
        api::csv_cell(Some(&serde_json::json!("=HYPERLINK(\"x\")"))),
        "'=HYPERLINK(\"x\")"
    );
    assert_eq!(
        api::csv_cell(Some(&serde_json::json!(["10.0.0.1", "10.0.0.2"]))),
        "10.0.0.1, 10.0.0.2"
    );
}
}

#[test]
fn clickhouse_top_n_and_distinct_work_on_any_keyword_and_on_untyped_leaves() {
    let (_d, s) = common::clickhouse::filled_store();
    let q = eq("*", &all_time());
    let t = s.top(&q, "url.original", 1).unwrap();
    assert_eq!(t.values.len(), 1);
    assert_eq!(t.other, 1);
    let t = s.top(&q, "zscaler.zia.custom_score", 5).unwrap();
    assert_eq!(t.values, vec![("5".to_string(), 1), ("75".to_string(), 1)]);
    assert_eq!(t.other, 0);
    assert_eq!(s.distinct(&q, "zscaler.zia.custom_score").unwrap(), 2);
}
