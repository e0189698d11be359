//! How an event is kept in the document store (`_source`).
//!
//! An event that the ZIA parser made from a raw record is kept as that record plus the few
//! fields the pipeline added (its annotations), and rebuilt by the parser when it is read:
//! the parsed fields would otherwise be stored twice, once as the record and once as JSON,
//! and they were two thirds of the stored bytes. Any other event is kept as plain JSON, which
//! is also what stores written before this encoding hold, so both read back the same way.
//!
//! The rebuilt event is the one the running version's parser makes: after an upgrade that
//! changes the mapping, stored events read back with the new mapping while the index still
//! holds the terms of the old one. Writers check that the rebuild is faithful (every event in
//! debug builds, one in [`VERIFY_EVERY`] otherwise) and fall back to JSON when it is not.

use serde_json::{Map, Value};

use crate::api::{get_path, set_path};
use crate::{Event, StoreError};

/// Marks a record-encoded source of earlier versions: `[1][record length, LEB128][record]
/// [annotations as JSON]`. Still read; no longer written, since its length is not UTF-8.
const TAG_RECORD: u8 = 1;
/// Marks a record-encoded source (see [`encode_record`]). Plain JSON sources start with `{`.
const TAG_TEXT_RECORD: u8 = 2;

/// The fields the pipeline adds to a parsed event (see the `pipeline` crate), kept beside the
/// record because the parser cannot make them. `event.original` is the record itself.
pub const ANNOTATIONS: &[&str] = &["event.ingested", "ziaxdr"];

/// One event in this many has its rebuild checked in release builds.
pub const VERIFY_EVERY: u64 = 1024;

/// The plain JSON source of any event.
pub fn encode_json(event: &Event) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(event)
        .map_err(|e| StoreError::Corrupt(format!("event not serializable: {e}")))
}

/// The record source: `[TAG_TEXT_RECORD][record length, decimal]:[record][annotations as
/// JSON]`, all of it UTF-8 (stored as text: see `schema::build_schema`).
pub fn encode_record(raw: &str, event: &Event) -> Result<Vec<u8>, StoreError> {
    let mut annotations = Map::new();
    for path in ANNOTATIONS {
        if let Some(v) = get_path(event, path) {
            annotations.insert((*path).to_string(), v.clone());
        }
    }
    encode(raw, &annotations)
}

/// The record source of a parsed event (see [`encode_record`]).
pub fn encode_parsed(raw: &str, event: &zia::Event) -> Result<Vec<u8>, StoreError> {
    // Serialized from the event in place: copying the annotations into a map first cost
    // as much as writing them.
    struct Annotations<'a>(&'a zia::Event);
    impl serde::Serialize for Annotations<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(None)?;
            for path in ANNOTATIONS {
                if let Some(part) = self.0.part(path) {
                    m.serialize_entry(path, &part)?;
                }
            }
            m.end()
        }
    }
    encode(raw, &Annotations(event))
}

/// The record source of a parsed event (see [`encode_record`]) with the string at `held`, a
/// path inside the annotations, written as `null`: for a store that keeps that value in a
/// column of its own and puts it back when it reads the event (see [`restore_held`]), so
/// that it is not stored twice. Without a string there: as [`encode_parsed`].
pub fn encode_parsed_holding(
    raw: &str,
    event: &zia::Event,
    held: &str,
) -> Result<Vec<u8>, StoreError> {
    if event.get_str(held).is_none() {
        return encode_parsed(raw, event);
    }
    struct Annotations<'a>(&'a zia::Event, &'a str);
    impl serde::Serialize for Annotations<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::{Error as _, SerializeMap};
            let mut m = s.serialize_map(None)?;
            for path in ANNOTATIONS {
                let Some(part) = self.0.part(path) else {
                    continue;
                };
                match held_within(path, self.1) {
                    // Only the annotation holding it is copied, to write it as `null`.
                    Some(rest) => {
                        let mut v = serde_json::to_value(&part).map_err(S::Error::custom)?;
                        if let Value::Object(o) = &mut v {
                            set_path(o, rest, Value::Null);
                        }
                        m.serialize_entry(path, &v)?;
                    }
                    None => m.serialize_entry(path, &part)?,
                }
            }
            m.end()
        }
    }
    encode(raw, &Annotations(event, held))
}

/// The record source of an event that came from `raw` (see [`encode_record`]) with the
/// string at `held` written as `null` (see [`encode_parsed_holding`]).
pub fn encode_record_holding(raw: &str, event: &Event, held: &str) -> Result<Vec<u8>, StoreError> {
    if !matches!(get_path(event, held), Some(Value::String(_))) {
        return encode_record(raw, event);
    }
    let mut annotations = Map::new();
    for path in ANNOTATIONS {
        if let Some(v) = get_path(event, path) {
            let mut v = v.clone();
            if let (Some(rest), Value::Object(o)) = (held_within(path, held), &mut v) {
                set_path(o, rest, Value::Null);
            }
            annotations.insert((*path).to_string(), v);
        }
    }
    encode(raw, &annotations)
}

/// The rest of `held` below the annotation `path` (`ziaxdr.event_id` below `ziaxdr`:
/// `event_id`).
fn held_within<'a>(path: &str, held: &'a str) -> Option<&'a str> {
    held.strip_prefix(path)?.strip_prefix('.')
}

/// Puts back the value a source made by [`encode_parsed_holding`] or
/// [`encode_record_holding`] holds out (`null` at `held`), from where the store keeps it;
/// any other event is left as it is.
pub fn restore_held(event: &mut Event, held: &str, value: Option<&str>) {
    if let (Some(Value::Null), Some(v)) = (get_path(event, held), value) {
        set_path(event, held, Value::String(v.to_string()));
    }
}

/// The event a parsed event stands for: with its record as `event.original`, as the
/// pipeline's other sinks see it and as [`decode`] rebuilds it.
pub fn with_original(event: &zia::Event, raw: &str) -> Event {
    let mut m = event.to_map();
    set_path(&mut m, "event.original", Value::String(raw.to_string()));
    m
}

fn encode(raw: &str, annotations: &impl serde::Serialize) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(raw.len() + 200);
    out.push(TAG_TEXT_RECORD);
    out.extend_from_slice(raw.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(raw.as_bytes());
    serde_json::to_writer(&mut out, annotations)
        .map_err(|e| StoreError::Corrupt(format!("annotations not serializable: {e}")))?;
    Ok(out)
}

/// The event a source stands for.
pub fn decode(bytes: &[u8]) -> Result<Event, StoreError> {
    match bytes.first() {
        Some(&TAG_RECORD) => decode_record(&bytes[1..]),
        Some(&TAG_TEXT_RECORD) => decode_text_record(&bytes[1..]),
        _ => serde_json::from_slice(bytes)
            .map_err(|e| StoreError::Corrupt(format!("stored event: {e}"))),
    }
}

fn decode_record(mut b: &[u8]) -> Result<Event, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("stored record: {what}"));
    let mut len = 0u64;
    let mut shift = 0;
    loop {
        let (&byte, rest) = b.split_first().ok_or_else(|| corrupt("truncated length"))?;
        b = rest;
        if shift > 56 {
            return Err(corrupt("length too long"));
        }
        len |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let len = usize::try_from(len).map_err(|_| corrupt("length too long"))?;
    record_and_annotations(b, len)
}

fn decode_text_record(b: &[u8]) -> Result<Event, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("stored record: {what}"));
    let colon = b
        .iter()
        .take(21)
        .position(|&c| c == b':')
        .ok_or_else(|| corrupt("truncated length"))?;
    let len = std::str::from_utf8(&b[..colon])
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| corrupt("bad length"))?;
    record_and_annotations(&b[colon + 1..], len)
}

/// The event of a record source: its first `len` bytes are the record, then the annotations.
fn record_and_annotations(b: &[u8], len: usize) -> Result<Event, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("stored record: {what}"));
    if len > b.len() {
        return Err(corrupt("truncated record"));
    }
    let (raw, rest) = b.split_at(len);
    let raw = std::str::from_utf8(raw).map_err(|_| corrupt("record is not UTF-8"))?;
    let annotations: Map<String, Value> =
        serde_json::from_slice(rest).map_err(|e| corrupt(&format!("annotations: {e}")))?;
    Ok(rebuild(raw, annotations))
}

/// The event of `raw` as the pipeline makes it: parsed, with the record as `event.original`
/// and the annotations set.
fn rebuild(raw: &str, annotations: Map<String, Value>) -> Event {
    let mut event = zia::parse_or_error(raw);
    // An event that failed to parse already has it, with the same text.
    set_path(&mut event, "event.original", Value::String(raw.to_string()));
    for (path, v) in annotations {
        set_path(&mut event, &path, v);
    }
    event
}

/// True when `source` reads back as exactly `event`.
pub fn faithful(source: &[u8], event: &Event) -> bool {
    decode(source).is_ok_and(|e| e == *event)
}

/// True when `source`, written with `held` kept out (see [`encode_record_holding`]), reads
/// back as exactly `event` once `held` is put back from `event`.
pub fn faithful_holding(source: &[u8], event: &Event, held: &str) -> bool {
    let value = get_path(event, held).and_then(Value::as_str);
    decode(source).is_ok_and(|mut e| {
        restore_held(&mut e, held, value);
        e == *event
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WEB: &str = r#"{"sourcetype":"zscalernss-web","event":{"datetime":"2024-06-01 10:00:00","action":"Blocked","url":"www.example.com/x","hostname":"www.example.com","login":"alice@example.com","cip":"10.0.0.1","sip":"192.0.2.1","reqmethod":"GET","respcode":"403","threatname":"EICAR","recordid":"77"}}"#;

    fn pipeline_event(raw: &str) -> Event {
        let mut ev = zia::parse_or_error(raw);
        set_path(&mut ev, "event.ingested", json!("2024-06-01T10:00:01Z"));
        ev.insert(
            "ziaxdr".into(),
            json!({"event_id": "0190-aa", "intake": {"uuid": "u"}, "transport": "http"}),
        );
        set_path(&mut ev, "event.original", json!(raw));
        ev
    }

    #[test]
    fn a_parsed_event_reads_back_from_its_record_and_annotations() {
        let ev = pipeline_event(WEB);
        let src = encode_record(WEB, &ev).unwrap();
        assert_eq!(decode(&src).unwrap(), ev);
        assert!(faithful(&src, &ev));
    }

    #[test]
    fn a_held_value_is_not_in_the_source_and_is_put_back_from_the_store() {
        let ev = pipeline_event(WEB);
        let src = encode_record_holding(WEB, &ev, "ziaxdr.event_id").unwrap();
        assert!(!String::from_utf8_lossy(&src).contains("0190-aa"));
        let mut back = decode(&src).unwrap();
        assert_eq!(back["ziaxdr"]["event_id"], Value::Null);
        restore_held(&mut back, "ziaxdr.event_id", Some("0190-aa"));
        assert_eq!(back, ev);
        let parsed = zia::Event::from_map(ev.clone());
        let src = encode_parsed_holding(WEB, &parsed, "ziaxdr.event_id").unwrap();
        assert!(!String::from_utf8_lossy(&src).contains("0190-aa"));
        let mut back = decode(&src).unwrap();
        restore_held(&mut back, "ziaxdr.event_id", Some("0190-aa"));
        assert_eq!(back, ev);
    }

    #[test]
    fn a_source_that_holds_nothing_out_is_left_as_it_is() {
        let ev = pipeline_event(WEB);
        let mut back = decode(&encode_record(WEB, &ev).unwrap()).unwrap();
        restore_held(&mut back, "ziaxdr.event_id", Some("other"));
        assert_eq!(back, ev);
    }

    #[test]
    fn a_record_that_failed_to_parse_reads_back_as_its_error_event() {
        let raw = "not a zia record";
        let ev = pipeline_event(raw);
        assert!(zia::is_error_event(&ev));
        let src = encode_record(raw, &ev).unwrap();
        assert_eq!(decode(&src).unwrap(), ev);
    }

    #[test]
    fn the_record_source_is_smaller_than_the_json_source() {
        let ev = pipeline_event(WEB);
        let rec = encode_record(WEB, &ev).unwrap().len();
        let js = encode_json(&ev).unwrap().len();
        assert!(rec * 3 < js * 2, "record {rec} B, JSON {js} B");
    }

    #[test]
    fn an_event_changed_after_parsing_is_not_faithful_to_its_record() {
        let mut ev = pipeline_event(WEB);
        let src = encode_record(WEB, &ev).unwrap();
        ev.insert("labels".into(), json!({"x": "y"}));
        assert!(!faithful(&src, &ev));
    }

    #[test]
    fn a_record_source_is_utf8() {
        let ev = pipeline_event("caf\u{e9} \u{201c}quoted\u{201d}");
        let src = encode_record("caf\u{e9} \u{201c}quoted\u{201d}", &ev).unwrap();
        assert!(std::str::from_utf8(&src).is_ok());
        let long = "x".repeat(300);
        let src = encode_record(&long, &pipeline_event(&long)).unwrap();
        assert!(std::str::from_utf8(&src).is_ok());
    }

    #[test]
    fn record_sources_of_earlier_versions_still_decode() {
        let ev = pipeline_event(WEB);
        let annotations = json!({"event.ingested": "2024-06-01T10:00:01Z",
            "ziaxdr": {"event_id": "0190-aa", "intake": {"uuid": "u"}, "transport": "http"}});
        // `[1][LEB128 length][record][annotations]`, as written before sources were text.
        let mut src = vec![TAG_RECORD];
        let mut n = WEB.len();
        while n >= 0x80 {
            src.push((n & 0x7f) as u8 | 0x80);
            n >>= 7;
        }
        src.push(n as u8);
        src.extend_from_slice(WEB.as_bytes());
        src.extend_from_slice(annotations.to_string().as_bytes());
        assert_eq!(decode(&src).unwrap(), ev);
    }

    #[test]
    fn plain_json_sources_still_decode() {
        let ev = json!({"@timestamp": "2024-06-01T00:00:00Z", "a": {"b": 1}});
        let ev = ev.as_object().unwrap().clone();
        assert_eq!(decode(&encode_json(&ev).unwrap()).unwrap(), ev);
    }

    #[test]
    fn truncated_record_sources_are_corrupt_not_a_panic() {
        let ev = pipeline_event(WEB);
        let src = encode_record(WEB, &ev).unwrap();
        for cut in [1, 2, 3, 50, src.len() - 1] {
            assert!(
                matches!(decode(&src[..cut]), Err(StoreError::Corrupt(_))),
                "cut at {cut}"
            );
        }
        assert!(
            decode(&[TAG_RECORD, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
                .is_err()
        );
        for bad in [
            "\u{2}99999999999999999999999:x",
            "\u{2}12",
            "\u{2}-1:x",
            "\u{2}:x",
        ] {
            assert!(
                matches!(decode(bad.as_bytes()), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
    }
}
