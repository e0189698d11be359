//! The ClickHouse store's schema: a column for every field of the parser's vocabulary, the
//! sort key, and the migration of a version 1 table (key/value arrays) to it.

mod common;

use std::io::Read;

use common::clickhouse::{clickhouse_url, Guard};
use common::{eq, ev};
use serde_json::json;
use store::{ClickHouseConfig, ClickHouseStore, EventSearch, EventStore, TimeSpec};

fn sql(url: &str, q: &str) -> String {
    let mut out = String::new();
    ureq::post(url)
        .send(q)
        .unwrap()
        .into_body()
        .into_reader()
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// The schema versions `db` records, oldest first, one per line.
fn versions(url: &str, db: &str) -> String {
    sql(
        url,
        &format!("SELECT version FROM {db}.schema_migrations ORDER BY version FORMAT TSV"),
    )
    .trim()
    .to_string()
}

fn all() -> TimeSpec {
    TimeSpec {
        from: Some("2024-01-01".into()),
        to: Some("2025-01-01".into()),
        since: None,
    }
}

fn guard(name: &str) -> Guard {
    let mut cfg = ClickHouseConfig::new(clickhouse_url());
    cfg.database = format!("{name}_{}", std::process::id());
    Guard { cfg }
}

#[test]
fn every_field_of_the_vocabulary_has_a_column_and_events_are_sorted_by_entity_dataset_time() {
    let g = guard("schema_cols");
    let _s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    let db = &g.cfg.database;
    let cols = sql(
        &g.cfg.url,
        &format!("SELECT name FROM system.columns WHERE database = '{db}' AND table = 'events' FORMAT TSV"),
    );
    let cols: Vec<&str> = cols.lines().collect();
    for (f, _) in store::clickhouse::columns() {
        let c = store::clickhouse::col_name(f);
        assert!(cols.contains(&c.as_str()), "{f}: no column {c}");
    }
    for f in store::schema::PARSER_FIELDS {
        assert!(
            cols.contains(&store::clickhouse::col_name(f).as_str()),
            "{f}"
        );
    }
    let create = sql(
        &g.cfg.url,
        &format!("SHOW CREATE TABLE {db}.events FORMAT TSVRaw"),
    );
    assert!(
        create.contains("ORDER BY (entity, dataset, ts, offset)"),
        "{create}"
    );
}

#[test]
fn a_table_of_this_version_gains_the_column_of_a_field_the_parser_learnt_since() {
    let g = guard("schema_added");
    drop(ClickHouseStore::open(g.cfg.clone()).unwrap());
    let db = &g.cfg.database;
    // As if the table had been made before the parser knew `srcip_country`.
    sql(
        &g.cfg.url,
        &format!("ALTER TABLE {db}.events DROP COLUMN c_zscaler_zia_srcip_country"),
    );
    let s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    s.add(
        0,
        &ev(json!({"@timestamp": "2024-06-01T12:00:00Z", "zscaler": {"zia": {"srcip_country": "France"}}})),
    )
    .unwrap();
    s.commit().unwrap();
    let row = sql(
        &g.cfg.url,
        &format!("SELECT c_zscaler_zia_srcip_country, kv_keys FROM {db}.events FORMAT TSV"),
    );
    assert_eq!(row.trim(), "['France']\t[]");
    assert_eq!(
        s.count(&eq("zscaler.zia.srcip_country:France", &all()))
            .unwrap(),
        1
    );
}

#[test]
fn a_parser_field_is_stored_in_its_column_not_in_the_key_value_arrays() {
    let g = guard("schema_generic");
    let s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    s.add(
        0,
        &ev(json!({"@timestamp": "2024-06-01T12:00:00Z", "zscaler": {"zia": {"bwthrottle": "NO"}}, "custom": {"x": "y"}})),
    )
    .unwrap();
    s.commit().unwrap();
    let db = &g.cfg.database;
    let row = sql(
        &g.cfg.url,
        &format!("SELECT c_zscaler_zia_bwthrottle, kv_keys FROM {db}.events FORMAT TSV"),
    );
    assert_eq!(row.trim(), "['NO']\t['custom.x']");
    assert_eq!(
        s.count(&eq("zscaler.zia.bwthrottle:NO", &all())).unwrap(),
        1
    );
    assert_eq!(s.count(&eq("custom.x:y", &all())).unwrap(), 1);
}

#[test]
fn a_version_1_table_is_migrated_once_with_its_fields_moved_into_their_columns() {
    let g = guard("schema_v1");
    let (url, db) = (&g.cfg.url, &g.cfg.database);
    sql(url, &format!("CREATE DATABASE {db}"));
    sql(url, &format!("CREATE TABLE {db}.schema_migrations (version UInt32, applied DateTime('UTC')) ENGINE = TinyLog"));
    sql(
        url,
        &format!("INSERT INTO {db}.schema_migrations VALUES (1, now())"),
    );
    sql(url, &format!("CREATE TABLE {db}.commits (offset UInt64, at DateTime('UTC')) ENGINE = MergeTree ORDER BY offset"));
    // The shape version 1 created (its typed columns abridged to one).
    sql(url, &format!("CREATE TABLE {db}.events (ts DateTime('UTC'), offset UInt64, source String, words String, c_event_dataset Array(String), kv_keys Array(String), kv_values Array(String), raw_fields Array(String)) ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (ts, offset)"));
    let event = ev(json!({
        "@timestamp": "2024-06-01T12:00:00Z",
        "event": {"dataset": "web"},
        "ziaxdr": {"entity": "acme"},
        "zscaler": {"zia": {"bwthrottle": "NO"}},
        "custom": {"x": "y"}
    }));
    let source = String::from_utf8(store::source::encode_json(&event).unwrap()).unwrap();
    let row = json!({
        "ts": 1_717_243_200u32, "offset": 0, "source": source, "words": " web | no | y |",
        "c_event_dataset": ["web"],
        "kv_keys": ["ziaxdr.entity", "zscaler.zia.bwthrottle", "custom.x"],
        "kv_values": ["acme", "NO", "y"],
    });
    ureq::post(format!(
        "{url}/?query=INSERT%20INTO%20{db}.events%20FORMAT%20JSONEachRow"
    ))
    .send(row.to_string())
    .unwrap();
    sql(url, &format!("INSERT INTO {db}.commits VALUES (0, now())"));

    let s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    assert_eq!(s.committed_offset(), Some(0));
    let moved = sql(
        url,
        &format!("SELECT entity, dataset, c_zscaler_zia_bwthrottle, c_ziaxdr_entity, kv_keys, kv_values FROM {db}.events FORMAT TSV"),
    );
    assert_eq!(
        moved.trim(),
        "acme\tweb\t['NO']\t['acme']\t['custom.x']\t['y']"
    );
    for q in [
        "zscaler.zia.bwthrottle:NO",
        "custom.x:y",
        "ziaxdr.entity:acme",
        "*",
    ] {
        assert_eq!(s.count(&eq(q, &all())).unwrap(), 1, "{q}");
    }
    assert_eq!(
        s.search(&eq("*", &all()), 10, None).unwrap().events,
        vec![event]
    );
    drop(s);
    // Opening again migrates nothing more.
    let _s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    assert_eq!(
        versions(url, db),
        format!("1\n{}", store::clickhouse::SCHEMA_VERSION)
    );
    let tables = sql(
        url,
        &format!("SELECT name FROM system.tables WHERE database = '{db}' ORDER BY name FORMAT TSV"),
    );
    assert_eq!(
        tables.trim(),
        "commits\nenum_values\nevents\nschema_migrations"
    );
}

#[test]
fn a_version_2_table_has_its_text_words_column_replaced_in_place_and_keeps_its_events() {
    let g = guard("schema_v2");
    let (url, db) = (&g.cfg.url, &g.cfg.database);
    let s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    s.add(
        0,
        &ev(json!({"@timestamp": "2024-06-01T12:00:00Z", "rule": {"name": "Block Social"}})),
    )
    .unwrap();
    s.commit().unwrap();
    drop(s);
    // As version 2 left it: the words column (text), and the version recorded.
    sql(url, &format!("ALTER TABLE {db}.events DROP COLUMN words"));
    sql(
        url,
        &format!("ALTER TABLE {db}.events ADD COLUMN words String AFTER source"),
    );
    sql(url, &format!("DROP TABLE {db}.schema_migrations"));
    sql(url, &format!("CREATE TABLE {db}.schema_migrations (version UInt32, applied DateTime('UTC')) ENGINE = TinyLog"));
    sql(
        url,
        &format!("INSERT INTO {db}.schema_migrations VALUES (2, now())"),
    );
    let s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    let cols = sql(
        url,
        &format!("SELECT type FROM system.columns WHERE database = '{db}' AND table = 'events' AND name = 'words' FORMAT TSV"),
    );
    assert_eq!(cols.trim(), "String");
    assert_eq!(s.count(&eq("social", &all())).unwrap(), 1);
    assert_eq!(s.committed_offset(), Some(0));
}

#[test]
fn codecs_are_used_only_from_the_version_that_has_them() {
    assert!(!store::clickhouse::codecs_supported("18.16.1"));
    assert!(!store::clickhouse::codecs_supported("19.17.4.11"));
    assert!(store::clickhouse::codecs_supported("20.1.2.4"));
    assert!(store::clickhouse::codecs_supported("24.8.4.13"));
    assert!(!store::clickhouse::codecs_supported("not a version"));
}

/// Waits (a bounded time) until the server has run every mutation of `db`.
fn mutations_done(url: &str, db: &str) -> bool {
    for _ in 0..200 {
        let left = sql(
            url,
            &format!("SELECT count() FROM system.mutations WHERE database = '{db}' AND is_done = 0 FORMAT TSV"),
        );
        if left.trim() == "0" {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

#[test]
fn a_version_3_table_gains_the_words_of_its_rows_made_by_the_server() {
    let g = guard("schema_v3");
    let (url, db) = (&g.cfg.url, &g.cfg.database);
    let s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    let event = ev(json!({
        "@timestamp": "2024-06-01T12:00:00Z",
        "user": {"name": "Alice.Smith"},
        "url": {"domain": "derived.example"},
        "zscaler": {"zia": {"threat": {"name": "Win32.Trojan"}, "bwthrottle": "NO"}},
        "custom": {"note": "Social Media", "n": "12", "tag": "media", "tags": "Smith"}
    }));
    s.add(0, &event).unwrap();
    s.commit().unwrap();
    drop(s);
    let made_here = sql(url, &format!("SELECT words FROM {db}.events FORMAT TSV"));
    // As version 3 left it: no words, and the version recorded.
    sql(url, &format!("ALTER TABLE {db}.events DROP COLUMN words"));
    sql(url, &format!("DROP TABLE {db}.schema_migrations"));
    sql(url, &format!("CREATE TABLE {db}.schema_migrations (version UInt32, applied DateTime('UTC')) ENGINE = TinyLog"));
    sql(
        url,
        &format!("INSERT INTO {db}.schema_migrations VALUES (3, now())"),
    );
    let s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    // Answered at once (the column's default), and the same once the mutation is done.
    for done in [false, true] {
        for (q, n) in [
            ("trojan", 1),
            ("\"social media\"", 1),
            ("media", 1),
            ("no", 1),
            ("tro*", 1),
            ("/alic./", 1),
            ("derived", 0),
            ("12", 0),
        ] {
            assert_eq!(
                s.count(&eq(q, &all())).unwrap(),
                n,
                "{q} (mutation done: {done})"
            );
        }
        assert!(mutations_done(url, db));
    }
    let made_there = sql(url, &format!("SELECT words FROM {db}.events FORMAT TSV"));
    assert_eq!(made_there, made_here);
    assert_eq!(
        s.search(&eq("trojan", &all()), 10, None).unwrap().events,
        vec![event]
    );
    drop(s);
    let _s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    assert_eq!(
        versions(url, db),
        format!("3\n{}", store::clickhouse::SCHEMA_VERSION)
    );
}

#[test]
fn an_enumerated_value_goes_to_the_dictionary_not_to_words_and_answers_bare_words() {
    let g = guard("schema_enums");
    let (url, db) = (&g.cfg.url, &g.cfg.database);
    let s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    s.add(
        0,
        &ev(json!({"@timestamp": "2024-06-01T12:00:00Z", "event": {"action": "Blocked"}, "user": {"name": "alice"}})),
    )
    .unwrap();
    s.commit().unwrap();
    let words = sql(url, &format!("SELECT words FROM {db}.events FORMAT TSV"));
    assert_eq!(words.trim(), "alice |");
    let dict = sql(
        url,
        &format!("SELECT field, value FROM {db}.enum_values FORMAT TSV"),
    );
    assert_eq!(dict.trim(), "event.action\tBlocked");
    assert_eq!(s.count(&eq("blocked", &all())).unwrap(), 1);
    assert_eq!(s.count(&eq("block*", &all())).unwrap(), 1);
    assert_eq!(s.count(&eq("NOT blocked", &all())).unwrap(), 0);
}

#[test]
fn a_version_4_table_is_copied_into_the_current_granularity_with_its_enumerated_values() {
    let g = guard("schema_v4");
    let (url, db) = (&g.cfg.url, &g.cfg.database);
    let s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    for (i, action) in ["Blocked", "Allowed"].iter().enumerate() {
        s.add(
            i as u64,
            &ev(json!({"@timestamp": format!("2024-06-0{}T12:00:00Z", i + 1), "event": {"action": action}, "rule": {"name": "Block Social"}})),
        )
        .unwrap();
    }
    s.commit().unwrap();
    drop(s);
    // As version 4 left it: the server's default granularity, no dictionary.
    let create = sql(url, &format!("SHOW CREATE TABLE {db}.events FORMAT TSVRaw"));
    let old = create
        .replace(&format!("{db}.events "), &format!("{db}.events_old "))
        .replace(
            &format!(
                "index_granularity = {}",
                store::clickhouse::INDEX_GRANULARITY
            ),
            "index_granularity = 8192",
        );
    assert!(old.contains("index_granularity = 8192"), "{old}");
    sql(url, &old);
    sql(
        url,
        &format!("INSERT INTO {db}.events_old SELECT * FROM {db}.events"),
    );
    sql(url, &format!("DROP TABLE {db}.events"));
    sql(url, &format!("RENAME TABLE {db}.events_old TO {db}.events"));
    sql(url, &format!("DROP TABLE {db}.enum_values"));
    sql(url, &format!("DROP TABLE {db}.schema_migrations"));
    sql(url, &format!("CREATE TABLE {db}.schema_migrations (version UInt32, applied DateTime('UTC')) ENGINE = TinyLog"));
    sql(
        url,
        &format!("INSERT INTO {db}.schema_migrations VALUES (4, now())"),
    );
    let s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    let engine = sql(
        url,
        &format!("SELECT engine_full FROM system.tables WHERE database = '{db}' AND name = 'events' FORMAT TSVRaw"),
    );
    assert!(
        engine.contains(&format!(
            "index_granularity = {}",
            store::clickhouse::INDEX_GRANULARITY
        )),
        "{engine}"
    );
    assert_eq!(s.count(&eq("*", &all())).unwrap(), 2);
    assert_eq!(s.count(&eq("blocked", &all())).unwrap(), 1);
    assert_eq!(s.count(&eq("social", &all())).unwrap(), 2);
    assert_eq!(s.committed_offset(), Some(1));
    drop(s);
    let _s = ClickHouseStore::open(g.cfg.clone()).unwrap();
    assert_eq!(
        versions(url, db),
        format!("4\n{}", store::clickhouse::SCHEMA_VERSION)
    );
}
