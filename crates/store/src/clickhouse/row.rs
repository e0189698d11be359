//! How an event becomes one row of the ClickHouse events table (a `JSONEachRow` line).
//!
//! Columns: `entity`, `dataset` and `ts` (the sort key: the entity's and dataset's first
//! values, the event time, which is also the partition key), `offset` (the journal's), one
//! array column per typed field of [`crate::schema::TYPED_FIELDS`] and per other field of the
//! parser's vocabulary ([`crate::schema::PARSER_FIELDS`], exact strings; arrays because ECS
//! fields may hold several values; a missing field is an empty array), `kv_keys`/`kv_values`
//! for the rare rest and for values that do not fit their field's type, `raw_fields` for
//! the raw-text fields of parsed events (kept only inside `source`), `source` (the event as
//! [`crate::source`] encodes it), and `words`: the words of the values the embedded store
//! puts in its `_all` field (see [`Row::leaf`]), as `" w1 w2 | w3 |"` (each distinct value
//! once, in column order), which answer bare terms and phrases (see [`super::sql`]).
//!
//! Rows are sent as `RowBinary` (every column of [`insert_columns`], in that order): the
//! server reads it several times faster than `JSONEachRow`, and it needs no escaping.

use std::net::Ipv6Addr;
use std::sync::OnceLock;

use serde_json::Value;

use crate::schema::{
    is_derived, looks_like_id, looks_like_ip, looks_numeric, parse_date, parse_ip, FieldKind,
    PARSER_FIELDS, TIMESTAMP, TYPED_FIELDS,
};

/// The field whose first value is the first column of the sort key.
pub const ENTITY_FIELD: &str = "ziaxdr.entity";
/// The field whose first value is the second column of the sort key.
pub const DATASET_FIELD: &str = "event.dataset";

/// Fields whose text is the raw record: only their presence is kept for parsed events.
const RAW_TEXT_FIELDS: &[&str] = &["message", "event.original"];

/// Latest event time a `DateTime` column holds (2106-02-07).
pub const MAX_TS: i64 = u32::MAX as i64;

/// The column of a typed field: `c_` and the name with `.` and `@` made `_`. Dots are kept
/// out of column names because ClickHouse reads `a.b` array columns as a `Nested` structure.
pub fn col_name(field: &str) -> String {
    let mut s = String::with_capacity(field.len() + 2);
    s.push_str("c_");
    for c in field.chars() {
        s.push(if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    s
}

/// The ClickHouse type of a field's column (`None`: a field of [`PARSER_FIELDS`], exact
/// strings).
pub fn col_type(kind: Option<FieldKind>) -> &'static str {
    let Some(kind) = kind else {
        return "Array(String)";
    };
    match kind {
        FieldKind::Keyword { .. } | FieldKind::Text | FieldKind::Id => "Array(String)",
        // 32 hex digits of the IPv6 (IPv4-mapped) address: ordered as the addresses are,
        // so CIDRs and ranges are string ranges, and safe in JSON on every version.
        FieldKind::Ip => "Array(FixedString(32))",
        FieldKind::Long => "Array(Int64)",
        // Seconds since the epoch (a `DateTime` cannot hold dates before 1970).
        FieldKind::Date => "Array(Int64)",
    }
}

/// The fields that have a column, in order: the typed fields (all but `@timestamp`, which is
/// `ts`) with their kind, then the rest of the parser's vocabulary (kind `None`).
pub fn columns() -> &'static [(&'static str, Option<FieldKind>)] {
    static COLS: OnceLock<Vec<(&'static str, Option<FieldKind>)>> = OnceLock::new();
    COLS.get_or_init(|| {
        TYPED_FIELDS
            .iter()
            .filter(|(n, _)| *n != TIMESTAMP)
            .map(|(n, k)| (*n, Some(*k)))
            .chain(PARSER_FIELDS.iter().map(|n| (*n, None)))
            .collect()
    })
}

/// The column of an untyped field of the parser's vocabulary (exact string values), if it
/// has one; the other untyped fields are in the key/value arrays.
pub fn generic_column(field: &str) -> Option<String> {
    column_index()
        .get(field)
        .filter(|&&i| columns()[i].1.is_none())
        .map(|_| col_name(field))
}

/// Looked up for every leaf of every event: a fast hash (the keys are the schema's names).
fn column_index() -> &'static rustc_hash::FxHashMap<&'static str, usize> {
    static IDX: OnceLock<rustc_hash::FxHashMap<&'static str, usize>> = OnceLock::new();
    IDX.get_or_init(|| {
        columns()
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (*n, i))
            .collect()
    })
}

/// 32 lowercase hex digits of an address.
pub fn ip_hex(ip: Ipv6Addr) -> String {
    // By hand, not `write!`: made for every address of every event.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for b in ip.octets() {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0xf)] as char);
    }
    s
}

/// The address of [`ip_hex`] digits.
pub fn ip_from_hex(hex: &str) -> Option<Ipv6Addr> {
    let n = u128::from_str_radix(hex.trim_end_matches('\0'), 16).ok()?;
    Some(Ipv6Addr::from(n))
}

/// The words of a text as the embedded store's default tokenizer makes them: runs of
/// alphanumeric characters, lowercased, those of 40 bytes or more dropped.
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && t.len() < 40)
        .map(str::to_lowercase)
        .collect()
}

/// The words of `text` (as [`tokens`] makes them), separated by single spaces.
fn joined_tokens(text: &str) -> String {
    let mut out = String::new();
    for t in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && t.len() < 40)
    {
        if !out.is_empty() {
            out.push(' ');
        }
        if t.bytes().all(|b| !b.is_ascii_uppercase()) {
            out.push_str(t);
        } else {
            out.push_str(&t.to_lowercase());
        }
    }
    out
}

/// True when the words of `path`'s values go to `words` (as to the embedded store's
/// `_all`: neither derived from another field, nor a date, nor an enumerated field, whose
/// values are looked up in the `enum_values` dictionary instead, as the embedded store
/// looks them up in its term dictionaries).
pub fn path_to_words(path: &str) -> bool {
    !is_derived(path)
        && !matches!(crate::schema::typed_kind(path), Some(FieldKind::Date))
        && enum_slot_of(path).is_none()
}

/// Fields of the parser's vocabulary without a type whose values are a few by definition
/// (countries, yes/no flags, the key protection type): in the `enum_values` dictionary
/// like the enumerated fields, not in `words`, where they were 40 of the 132 bytes of a web
/// event's `words` in the simulator's records (every bare term scans `words`).
const DICTIONARY_FIELDS: &[&str] = &[
    "source.geo.country_name",
    "zscaler.zia.dstip_country",
    "zscaler.zia.srcip_country",
    "zscaler.zia.is_dst_cntry_risky",
    "zscaler.zia.is_src_cntry_risky",
    "zscaler.zia.bwthrottle",
    "zscaler.zia.keyprotectiontype",
];

/// The enumerated fields (see [`crate::schema::ENUM_FIELDS`]) that have a keyword column,
/// then [`DICTIONARY_FIELDS`]: their values are kept in the `enum_values` dictionary (see
/// [`super::sql::bare`]), each field by its position here (its slot).
pub fn enum_fields() -> &'static [&'static str] {
    static F: OnceLock<Vec<&'static str>> = OnceLock::new();
    F.get_or_init(|| {
        let typed = crate::schema::ENUM_FIELDS.iter().copied().filter(|f| {
            matches!(
                crate::schema::typed_kind(f),
                Some(FieldKind::Keyword { .. })
            )
        });
        let untyped = DICTIONARY_FIELDS
            .iter()
            .copied()
            .filter(|f| crate::schema::typed_kind(f).is_none());
        typed
            .chain(untyped)
            .filter(|f| column_index().contains_key(f))
            .collect()
    })
}

/// The slot (see [`enum_fields`]) of an enumerated field.
pub fn enum_slot_of(path: &str) -> Option<usize> {
    enum_fields().iter().position(|f| *f == path)
}

/// The slot of each column of [`columns`] that is an enumerated field.
fn column_enum_slots() -> &'static [Option<usize>] {
    static S: OnceLock<Vec<Option<usize>>> = OnceLock::new();
    S.get_or_init(|| columns().iter().map(|(n, _)| enum_slot_of(n)).collect())
}

/// [`path_to_words`] of each column of [`columns`], decided once.
fn column_to_words() -> &'static [bool] {
    static TO: OnceLock<Vec<bool>> = OnceLock::new();
    TO.get_or_init(|| columns().iter().map(|(n, _)| path_to_words(n)).collect())
}

/// Appends the words of one value as `" w1 w2 |"` (nothing when it has none).
fn push_words(out: &mut String, text: &str) {
    let mut any = false;
    for t in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && t.len() < 40)
    {
        out.push(' ');
        for c in t.chars() {
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else {
                out.extend(c.to_lowercase());
            }
        }
        any = true;
    }
    if any {
        out.push_str(" |");
    }
}

enum Cell {
    Str(String),
    Int(i64),
}

/// One event's row, being built.
pub struct Row {
    cols: Vec<Vec<Cell>>,
    kv_keys: Vec<String>,
    kv_values: Vec<String>,
    raw_fields: Vec<&'static str>,
    /// The words of each value that has some, with where the value goes in `words`:
    /// the string columns in order, then the key/value leaves, then the text columns.
    words: Vec<(usize, String)>,
    entity: Option<String>,
    dataset: Option<String>,
    failed: bool,
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Nesting limit when walking an event: deeper values are still stored, just not indexed.
const MAX_EVENT_DEPTH: usize = 32;

impl Row {
    /// An empty row; `failed` for an event that stands for a record that did not parse
    /// (its raw text is then searchable, being all there is).
    pub fn new(failed: bool) -> Row {
        Row {
            cols: columns().iter().map(|_| Vec::new()).collect(),
            kv_keys: Vec::new(),
            kv_values: Vec::new(),
            raw_fields: Vec::new(),
            words: Vec::new(),
            entity: None,
            dataset: None,
            failed,
        }
    }

    /// Adds every leaf of a JSON event.
    pub fn add_object(&mut self, obj: &serde_json::Map<String, Value>) {
        let mut path = String::new();
        self.walk(obj, &mut path, 0);
    }

    fn walk(&mut self, obj: &serde_json::Map<String, Value>, path: &mut String, depth: usize) {
        if depth > MAX_EVENT_DEPTH {
            return;
        }
        for (k, v) in obj {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            self.add_value(path, v, depth);
            path.truncate(len);
        }
    }

    /// Adds the value of `path`, whatever its shape (the leaves of [`zia::Event`] may be
    /// arrays or empty objects).
    pub fn add_value(&mut self, path: &mut String, v: &Value, depth: usize) {
        match v {
            Value::Object(m) => self.walk(m, path, depth + 1),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Object(m) => self.walk(m, path, depth + 1),
                        Value::Array(_) => {} // nested arrays are not ECS; stored only
                        leaf => self.leaf(path, leaf),
                    }
                }
            }
            leaf => self.leaf(path, leaf),
        }
    }

    /// The values of the row's enumerated fields that `known` (one set per slot of
    /// [`enum_fields`]) does not hold yet.
    pub fn new_enum_values(&self, known: &[rustc_hash::FxHashSet<String>]) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for (cells, slot) in self.cols.iter().zip(column_enum_slots()) {
            let Some(slot) = *slot else { continue };
            for c in cells {
                if let Cell::Str(v) = c {
                    if !known.get(slot).is_some_and(|k| k.contains(v))
                        && !out.iter().any(|(s, x)| *s == slot && x == v)
                    {
                        out.push((slot, v.clone()));
                    }
                }
            }
        }
        out
    }

    /// Marks a raw-text field as present (it is kept only in the source).
    pub fn mark_raw(&mut self, path: &'static str) {
        if !self.raw_fields.contains(&path) {
            self.raw_fields.push(path);
        }
    }

    fn leaf(&mut self, path: &str, v: &Value) {
        if v.is_null() {
            return;
        }
        if !self.failed {
            if let Some(raw) = RAW_TEXT_FIELDS.iter().find(|f| **f == path) {
                self.mark_raw(raw);
                return;
            }
        }
        let column = column_index().get(path).map(|&i| (i, columns()[i].1));
        let typed = column.and_then(|(i, k)| Some((i, k?)));
        if let (Value::Number(n), Some((i, FieldKind::Long))) = (v, typed) {
            if let Some(n) = n.as_i64() {
                self.cols[i].push(Cell::Int(n));
                return;
            }
        }
        let text: std::borrow::Cow<'_, str> = match v {
            Value::String(s) => s.as_str().into(),
            other => other.to_string().into(),
        };
        // The embedded store's rule for `_all` (`schema::leaf_value`): numbers, identifiers
        // and addresses are searched by field, not as words.
        let to_words = match column {
            Some((i, _)) => column_to_words()[i],
            None => path != TIMESTAMP && path_to_words(path),
        };
        if to_words && !looks_numeric(v, &text) && !looks_like_id(&text) && !looks_like_ip(&text) {
            let n = columns().len();
            let place = match column {
                Some((i, Some(FieldKind::Text))) => 2 * n + i,
                Some((i, _)) => i,
                None => n,
            };
            let w = joined_tokens(&text);
            if !w.is_empty() {
                self.words.push((place, w));
            }
        }
        if path == ENTITY_FIELD && self.entity.is_none() {
            self.entity = Some(text.to_string());
        } else if path == DATASET_FIELD && self.dataset.is_none() {
            self.dataset = Some(text.to_string());
        }
        let stored = match typed {
            // A field of the parser's vocabulary without a type: its exact text.
            None if column.is_some() => {
                if let Some((i, _)) = column {
                    self.cols[i].push(Cell::Str(text.to_string()));
                }
                true
            }
            Some((i, FieldKind::Keyword { .. })) => {
                self.cols[i].push(Cell::Str(text.to_string()));
                true
            }
            Some((i, FieldKind::Id)) => match v {
                Value::String(s) => {
                    self.cols[i].push(Cell::Str(s.clone()));
                    true
                }
                _ => false,
            },
            Some((i, FieldKind::Text)) => {
                let mut w = String::new();
                push_words(&mut w, &text);
                self.cols[i].push(Cell::Str(w));
                true
            }
            Some((i, FieldKind::Ip)) => match parse_ip(&text) {
                Some(ip) => {
                    self.cols[i].push(Cell::Str(ip_hex(ip)));
                    true
                }
                None => false,
            },
            Some((i, FieldKind::Long)) => match as_i64(v) {
                Some(n) => {
                    self.cols[i].push(Cell::Int(n));
                    true
                }
                None => false,
            },
            Some((i, FieldKind::Date)) => match v.as_str().and_then(parse_date) {
                Some(d) => {
                    self.cols[i].push(Cell::Int(d.into_timestamp_secs()));
                    true
                }
                None => false,
            },
            // `@timestamp` is the `ts` column.
            None if path == TIMESTAMP => true,
            _ => false,
        };
        if !stored {
            self.kv_keys.push(path.to_string());
            self.kv_values.push(text.into_owned());
        }
    }

    /// Appends the row in `RowBinary` to `out`: every column of [`insert_columns`], in order.
    pub fn write_binary(&mut self, out: &mut Vec<u8>, ts: i64, offset: u64, source: &[u8]) {
        let ts = ts.clamp(0, MAX_TS) as u32;
        bin_str(out, self.entity.as_deref().unwrap_or("").as_bytes());
        bin_str(out, self.dataset.as_deref().unwrap_or("").as_bytes());
        out.extend_from_slice(&ts.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        bin_str(out, source);
        for (cells, (_, kind)) in self.cols.iter().zip(columns()) {
            varint(out, cells.len() as u64);
            for c in cells {
                match (c, kind) {
                    // `FixedString(32)`: the 32 hex digits exactly (see `ip_hex`).
                    (Cell::Str(s), Some(FieldKind::Ip)) => {
                        let mut b = [b'0'; 32];
                        let n = s.len().min(32);
                        b[..n].copy_from_slice(&s.as_bytes()[..n]);
                        out.extend_from_slice(&b);
                    }
                    (Cell::Str(s), _) => bin_str(out, s.as_bytes()),
                    (Cell::Int(n), _) => out.extend_from_slice(&n.to_le_bytes()),
                }
            }
        }
        for list in [&self.kv_keys, &self.kv_values] {
            varint(out, list.len() as u64);
            for s in list {
                bin_str(out, s.as_bytes());
            }
        }
        varint(out, self.raw_fields.len() as u64);
        for s in &self.raw_fields {
            bin_str(out, s.as_bytes());
        }
        bin_str(out, self.words_text().as_bytes());
    }

    /// The `words` column of the event: `" w1 w2 |"` per value, the values in the order of
    /// their columns (rows alike in shape compress well), each distinct value once and only
    /// if its words are not a run of another value's (`jdoe` beside `jdoe example com`: every
    /// word, phrase or pattern that matches it matches the other), the text columns' values
    /// every time, as the server makes them for older rows (see
    /// [`super::sql::words_from_columns`]).
    pub fn words_text(&mut self) -> String {
        self.words.sort_by_key(|(place, _)| *place);
        let text_from = 2 * columns().len();
        let mut plain: Vec<&str> = Vec::with_capacity(self.words.len());
        for (place, w) in &self.words {
            if *place < text_from && !plain.contains(&w.as_str()) {
                plain.push(w);
            }
        }
        let mut out = String::new();
        for (i, w) in plain.iter().enumerate() {
            let inside_another = plain
                .iter()
                .enumerate()
                .any(|(j, x)| j != i && x.len() > w.len() && words_within(w, x));
            if !inside_another {
                out.push(' ');
                out.push_str(w);
                out.push_str(" |");
            }
        }
        for (_, w) in self.words.iter().filter(|(place, _)| *place >= text_from) {
            out.push(' ');
            out.push_str(w);
            out.push_str(" |");
        }
        out
    }
}

/// True when the words `w` (single spaces between them) are a run of the words `x`
/// (`"b c"` within `"a b c d"`, not within `"ab c"`). Compared at each word of `x` in turn,
/// not with a substring searcher, whose setup was ~1.2 µs per event (`perf`, 300k events).
fn words_within(w: &str, x: &str) -> bool {
    let (b, want) = (x.as_bytes(), w.as_bytes());
    let mut at = 0;
    loop {
        let rest = &b[at..];
        if rest.starts_with(want) && rest.get(want.len()).is_none_or(|c| *c == b' ') {
            return true;
        }
        match rest.iter().position(|c| *c == b' ') {
            Some(i) => at += i + 1,
            None => return false,
        }
    }
}

/// Every column of the events table with its ClickHouse type, in the order of
/// [`Row::write_binary`].
pub fn insert_columns() -> &'static [(String, &'static str)] {
    static COLS: OnceLock<Vec<(String, &'static str)>> = OnceLock::new();
    COLS.get_or_init(|| {
        let mut cols: Vec<(String, &'static str)> = vec![
            ("entity".into(), "String"),
            ("dataset".into(), "String"),
            ("ts".into(), "DateTime('UTC')"),
            ("offset".into(), "UInt64"),
            ("source".into(), "String"),
        ];
        for (name, kind) in columns() {
            cols.push((col_name(name), col_type(*kind)));
        }
        for c in ["kv_keys", "kv_values", "raw_fields"] {
            cols.push((c.into(), "Array(String)"));
        }
        cols.push(("words".into(), "String"));
        cols
    })
}

/// An unsigned LEB128 integer (the lengths of `RowBinary` and `Native`).
pub(super) fn varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// A `RowBinary` string: its length, then its bytes.
fn bin_str(out: &mut Vec<u8>, s: &[u8]) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_and_without_dots() {
        let mut names: Vec<String> = columns().iter().map(|(n, _)| col_name(n)).collect();
        assert!(names.iter().all(|n| !n.contains('.') && !n.contains('@')));
        let before = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), before);
    }

    #[test]
    fn ip_hex_orders_like_the_addresses_and_reads_back() {
        let a = ip_hex(parse_ip("10.0.0.9").unwrap());
        let b = ip_hex(parse_ip("10.0.0.10").unwrap());
        assert!(a < b);
        assert_eq!(ip_from_hex(&a), parse_ip("10.0.0.9"));
    }

    #[test]
    fn varints_are_leb128() {
        let mut out = Vec::new();
        varint(&mut out, 0);
        varint(&mut out, 127);
        varint(&mut out, 300);
        assert_eq!(out, vec![0, 0x7f, 0xac, 0x02]);
    }

    #[test]
    fn words_of_a_value_are_lowercased_and_closed_by_a_bar() {
        let mut w = String::new();
        push_words(&mut w, "Win32.Trojan.Agent");
        push_words(&mut w, "x");
        assert_eq!(w, " win32 trojan agent | x |");
        assert_eq!(tokens("Win32.Trojan"), vec!["win32", "trojan"]);
    }

    #[test]
    fn every_dictionary_field_of_the_vocabulary_is_an_enumerated_field_with_a_column() {
        for f in DICTIONARY_FIELDS {
            assert!(enum_slot_of(f).is_some(), "{f}");
        }
    }

    #[test]
    fn a_country_or_a_yes_no_flag_goes_to_the_dictionary_not_to_words() {
        let event = serde_json::json!({
            "user": {"name": "jdoe"},
            "source": {"geo": {"country_name": "United States"}},
            "zscaler": {"zia": {"bwthrottle": "NO"}},
        });
        let mut r = Row::new(false);
        r.add_object(event.as_object().unwrap());
        assert_eq!(r.words_text(), " jdoe |");
        let mut new = r.new_enum_values(&[]);
        new.sort();
        let slot = |f| enum_slot_of(f).unwrap();
        let mut want = vec![
            (slot("source.geo.country_name"), "United States".to_string()),
            (slot("zscaler.zia.bwthrottle"), "NO".to_string()),
        ];
        want.sort();
        assert_eq!(new, want);
    }

    #[test]
    fn words_within_takes_whole_words_in_a_run_only() {
        assert!(words_within("b c", "a b c d"));
        assert!(words_within("a", "a b"));
        assert!(words_within("b", "a b"));
        assert!(!words_within("b", "ab c"));
        assert!(!words_within("a c", "a b c"));
        assert!(words_within("c d", "a b c d"));
        assert!(!words_within("b c", "a b cd"));
    }

    #[test]
    fn a_value_whose_words_are_a_run_of_another_values_is_left_out_of_words() {
        let event = serde_json::json!({
            "user": {"name": "jdoe", "email": "jdoe@example.com"},
            "custom": {"a": "Example", "b": "com example", "c": "ex"},
        });
        let mut r = Row::new(false);
        r.add_object(event.as_object().unwrap());
        assert_eq!(r.words_text(), " jdoe example com | com example | ex |");
    }

    #[test]
    fn the_words_of_an_event_are_those_of_the_embedded_stores_all_field_each_once() {
        let event = serde_json::json!({
            "@timestamp": "2024-05-01T10:00:00Z",
            "event": {"action": "Blocked", "dataset": "web", "kind": "event"},
            "user": {"name": "Alice.Smith"},
            "url": {"domain": "derived.example", "original": "https://Alice.example/x"},
            "zscaler": {"zia": {"threat": {"name": "Win32.Trojan"}}},
            "source": {"ip": "10.1.2.3", "port": 443},
            "ziaxdr": {"event_id": "0123456789abcdef0123"},
            "custom": {"n": "12.5", "v6": "2001:db8::1", "w": "Trojan", "big": "a".repeat(40), "again": "alice SMITH"},
        });
        let mut r = Row::new(false);
        r.add_object(event.as_object().unwrap());
        assert_eq!(
            r.words_text(),
            " https alice example x | alice smith | win32 trojan |"
        );
    }
}
