//! Events added with their raw record (`add_record`, as the pipeline's store sink does) are
//! kept as the record plus the pipeline's annotations and read back exactly as they were added.

mod common;

use serde_json::json;
use store::{EventSearch, EventStore, Query, StoreConfig, TantivyStore, TimeSpec};
use tantivy::Document as _;

/// The raw records of the shared conformance vectors, plus one the parser cannot read.
fn records() -> Vec<String> {
    let mut out: Vec<String> = common::conformance_vectors()
        .iter()
        .map(|v| v["input"]["message"].as_str().unwrap().to_string())
        .collect();
    out.push("<13>garbage that is no ZIA record".into());
    out
}

/// The event the pipeline hands the store sink for `raw`: parsed, annotated, with the original.
fn pipeline_event(raw: &str, seq: u64) -> store::Event {
    let mut ev = zia::parse_or_error(raw);
    let e = ev
        .entry("event")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .unwrap();
    e.insert("ingested".into(), json!("2024-06-01T10:00:00.123Z"));
    e.entry("original").or_insert_with(|| json!(raw));
    ev.insert(
        "ziaxdr".into(),
        json!({
            "event_id": format!("0190a1b2-c3d4-7e5f-8a9b-{seq:012x}"),
            "intake": {"uuid": "6f1c8a52-3c1e-4f6e-9d0b-2b8f0e7d9a11"},
            "transport": "http",
            "entity": "acme",
        }),
    );
    ev
}

fn whole_history() -> store::EventQuery {
    let time = TimeSpec {
        from: Some("1970-01-02".into()),
        to: Some("2100-01-01".into()),
        since: None,
    };
    common::eq("*", &time)
}

/// Adds every test record with `add` (offset, record → the event as it should read back),
/// commits, and returns what was added.
fn add_each(s: &TantivyStore, add: impl Fn(u64, &str) -> store::Event) -> Vec<store::Event> {
    let added = records()
        .iter()
        .enumerate()
        .map(|(i, raw)| add(i as u64, raw))
        .collect();
    s.commit().unwrap();
    added
}

fn by_seq(events: Vec<store::Event>) -> Vec<store::Event> {
    let mut events = events;
    events.sort_by_key(|e| e["ziaxdr"]["event_id"].as_str().unwrap().to_string());
    events
}

#[test]
fn events_added_with_their_record_read_back_exactly_as_added() {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    let added = add_each(&s, |i, raw| {
        let ev = pipeline_event(raw, i);
        assert!(s.add_record(i, &ev, raw).unwrap());
        ev
    });
    let page = s.search(&whole_history(), 1000, None).unwrap();
    assert_eq!(by_seq(page.events), by_seq(added.clone()));

    // The same from a second, read-only handle (what `ziaxdr search` opens).
    let ro = TantivyStore::open_read_only(d.path()).unwrap();
    let page = ro.search(&whole_history(), 1000, None).unwrap();
    assert_eq!(by_seq(page.events), by_seq(added));
}

#[test]
fn an_event_id_is_found_through_its_record_source() {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    for (i, raw) in records().iter().enumerate() {
        s.add_record(i as u64, &pipeline_event(raw, i as u64), raw)
            .unwrap();
    }
    s.commit().unwrap();
    let mut q = whole_history();
    q.query = Query::parse("ziaxdr.event_id:\"0190a1b2-c3d4-7e5f-8a9b-000000000003\"").unwrap();
    let page = s.search(&q, 10, None).unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(
        page.events[0]["ziaxdr"]["event_id"],
        "0190a1b2-c3d4-7e5f-8a9b-000000000003"
    );
}

#[test]
fn an_event_that_does_not_rebuild_from_its_record_is_stored_whole() {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    let raws = records();
    let mut changed = pipeline_event(&raws[0], 0);
    // A field added after parsing that the store does not know as an annotation.
    changed.insert("labels".into(), json!({"case": "42"}));
    s.add_record(0, &changed, &raws[0]).unwrap();
    let next = pipeline_event(&raws[1], 1);
    s.add_record(1, &next, &raws[1]).unwrap();
    s.commit().unwrap();
    let page = s.search(&whole_history(), 10, None).unwrap();
    assert_eq!(by_seq(page.events), by_seq(vec![changed, next]));
}

/// The parser's event for `raw` as the pipeline annotates it, without `event.original`.
fn parsed_event(raw: &str, seq: u64) -> zia::Event {
    let mut ev = zia::parse_or_error_event(raw);
    ev.set_if_absent("event.ingested", || json!("2024-06-01T10:00:00.123Z"));
    ev.set(
        "ziaxdr",
        json!({
            "event_id": format!("0190a1b2-c3d4-7e5f-8a9b-{seq:012x}"),
            "intake": {"uuid": "6f1c8a52-3c1e-4f6e-9d0b-2b8f0e7d9a11"},
            "transport": "http",
            "entity": "acme",
        }),
    );
    ev
}

#[test]
fn a_parsed_event_is_indexed_as_the_event_with_its_record_as_original() {
    let schema = store::schema::build_schema();
    let f = store::schema::Fields::resolve(&schema).unwrap();
    let ts = tantivy::DateTime::from_timestamp_secs(1_717_236_000);
    let named = |doc: store::EventDoc| {
        let mut n = doc.to_named_doc(&schema);
        // The values of each field are a multiset: a parsed event's leaves are walked in the
        // order the parser set them, a JSON event's in key order, and the order of a field's
        // values means nothing to the index (no phrase spans two values).
        for v in n.0.values_mut() {
            v.sort_by_key(|x| format!("{x:?}"));
        }
        serde_json::to_value(&n).unwrap()
    };
    for (i, raw) in records().iter().enumerate() {
        let ev = parsed_event(raw, i as u64);
        let whole = store::source::with_original(&ev, raw);
        let a = store::schema::build_parsed_document(&f, &ev, ts, i as u64, b"src");
        let b = store::schema::build_document(&f, &whole, ts, i as u64, b"src");
        assert_eq!(named(a), named(b), "{raw}");
    }
}

/// A document as a comparable value: the values of the fields whose order means nothing
/// (exact terms and field names, no positions) sorted; every other field keeps its order.
fn comparable(schema: &tantivy::schema::Schema, doc: store::EventDoc) -> serde_json::Value {
    let mut n = doc.to_named_doc(schema);
    for name in [store::schema::F_FIELDS, store::schema::F_KV] {
        if let Some(v) = n.0.get_mut(name) {
            v.sort_by_key(|x| format!("{x:?}"));
        }
    }
    serde_json::to_value(&n).unwrap()
}

#[test]
fn a_document_prepared_off_the_stores_lock_is_the_one_built_under_it() {
    let schema = store::schema::build_schema();
    let f = store::schema::Fields::resolve(&schema).unwrap();
    let ts = tantivy::DateTime::from_timestamp_secs(1_717_236_000);
    for (i, raw) in records().iter().enumerate() {
        let ev = parsed_event(raw, i as u64);
        let a = store::schema::prepare_parsed_document(&f, &ev, ts, i as u64, b"src");
        let b = store::schema::build_parsed_document(&f, &ev, ts, i as u64, b"src");
        assert_eq!(comparable(&schema, a), comparable(&schema, b), "{raw}");
    }
}

#[test]
fn a_document_prepared_for_another_offset_is_built_again_from_the_event() {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    let recs = records();
    let (first, second) = (&recs[0], &recs[1]);
    let stale = s.prepare_parsed(0, &parsed_event(first, 0), first).unwrap();
    let ev = parsed_event(second, 1);
    assert!(s.add_prepared(1, &ev, second, stale).unwrap());
    s.commit().unwrap();
    let page = s.search(&whole_history(), 10, None).unwrap();
    assert_eq!(page.events, vec![store::source::with_original(&ev, second)]);
}

#[test]
fn a_complete_prepared_document_is_added_without_its_event() {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    let added = add_each(&s, |i, raw| {
        let ev = parsed_event(raw, i);
        let doc = s.prepare_parsed(i, &ev, raw).unwrap();
        assert!(doc.is_complete(), "every partition is of this version");
        // What the pipeline hands on once the sink said it is done with the event.
        assert!(s.add_prepared(i, &zia::Event::empty(), raw, doc).unwrap());
        store::source::with_original(&ev, raw)
    });
    let page = s.search(&whole_history(), 1000, None).unwrap();
    assert_eq!(by_seq(page.events), by_seq(added));
}

#[test]
fn a_prepared_document_that_cannot_be_used_without_its_event_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    let recs = records();
    let stale = s
        .prepare_parsed(0, &parsed_event(&recs[0], 0), &recs[0])
        .unwrap();
    let err = s
        .add_prepared(1, &zia::Event::empty(), &recs[1], stale)
        .unwrap_err();
    assert!(err.to_string().contains("event was freed"), "{err}");
    s.commit().unwrap();
    assert!(s
        .search(&whole_history(), 10, None)
        .unwrap()
        .events
        .is_empty());
}

#[test]
fn events_added_with_a_prepared_document_read_back_and_are_found_by_their_annotations() {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    let added = add_each(&s, |i, raw| {
        let ev = parsed_event(raw, i);
        let doc = s.prepare_parsed(i, &ev, raw).unwrap();
        assert!(s.add_prepared(i, &ev, raw, doc).unwrap());
        store::source::with_original(&ev, raw)
    });
    let page = s.search(&whole_history(), 1000, None).unwrap();
    assert_eq!(by_seq(page.events), by_seq(added.clone()));
    let time = TimeSpec {
        from: Some("1970-01-02".into()),
        to: Some("2100-01-01".into()),
        since: None,
    };
    for q in [
        "ziaxdr.entity:acme",
        "ziaxdr.transport:http",
        "event.original:*",
    ] {
        let hits = s.search(&common::eq(q, &time), 1000, None).unwrap().events;
        assert_eq!(hits.len(), added.len(), "{q}");
    }
}

#[test]
fn events_added_parsed_read_back_with_their_record_as_original() {
    let d = tempfile::tempdir().unwrap();
    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    let added = add_each(&s, |i, raw| {
        let ev = parsed_event(raw, i);
        assert!(s.add_parsed(i, &ev, raw).unwrap());
        store::source::with_original(&ev, raw)
    });
    assert!(s.keeps_records());
    let page = s.search(&whole_history(), 1000, None).unwrap();
    assert_eq!(by_seq(page.events), by_seq(added));
}

/// The schema of partitions written before sources were stored as text: `_source` a bytes
/// field, everything else as now.
fn schema_with_bytes_source() -> tantivy::schema::Schema {
    let mut b = tantivy::schema::Schema::builder();
    for (_, entry) in store::schema::build_schema().fields() {
        if entry.name() == store::schema::F_SOURCE {
            b.add_bytes_field(store::schema::F_SOURCE, tantivy::schema::STORED);
        } else {
            b.add_field(entry.clone());
        }
    }
    b.build()
}

#[test]
fn a_partition_of_an_earlier_version_keeps_bytes_sources_that_read_back() {
    let d = tempfile::tempdir().unwrap();
    let raws = records();
    let first = parsed_event(&raws[0], 0);
    let day = &first.get_str("@timestamp").unwrap()[..10];
    let old = d.path().join("partitions").join(day);
    std::fs::create_dir_all(&old).unwrap();
    tantivy::Index::create_in_dir(&old, schema_with_bytes_source()).unwrap();

    let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
    let added = add_each(&s, |i, raw| {
        let ev = parsed_event(raw, i);
        let prepared = s.prepare_parsed(i, &ev, raw).unwrap();
        // Built again from the event for the old partition: the event must stay.
        let old_day = ev.get_str("@timestamp").is_some_and(|t| t.starts_with(day));
        assert_eq!(prepared.is_complete(), !old_day, "{raw}");
        assert!(s.add_prepared(i, &ev, raw, prepared).unwrap());
        store::source::with_original(&ev, raw)
    });
    let page = s.search(&whole_history(), 1000, None).unwrap();
    assert_eq!(by_seq(page.events), by_seq(added));

    let index = tantivy::Index::open_in_dir(&old).unwrap();
    let schema = index.schema();
    let source = schema.get_field(store::schema::F_SOURCE).unwrap();
    assert_eq!(
        schema.get_field_entry(source).field_type().value_type(),
        tantivy::schema::Type::Bytes
    );
    let searcher = index.reader().unwrap().searcher();
    assert!(
        searcher.num_docs() >= 1,
        "no event went to the old partition"
    );
    let doc: tantivy::TantivyDocument = searcher.doc(tantivy::DocAddress::new(0, 0)).unwrap();
    use tantivy::schema::Value as _;
    assert!(doc.get_first(source).unwrap().as_bytes().is_some());
}
