//! The tantivy document of one event.
//!
//! tantivy's own `TantivyDocument` encodes every value into a compact byte buffer, which its
//! indexer then decodes again, value by value, three times per document (inverted index,
//! columns, stored fields): encoding and decoding were about 4% of the CPU samples of a
//! 1M-record import. [`EventDoc`] keeps the values as a plain list over one text buffer, which
//! the indexer walks without decoding. Stored documents read back as `TantivyDocument`: the
//! stored form is tantivy's, whatever type was indexed.

use std::net::Ipv6Addr;

use tantivy::schema::document::{Document, ReferenceValue, ReferenceValueLeaf, Value};
use tantivy::schema::Field;
use tantivy::DateTime;

/// One event's document: its field values, in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct EventDoc {
    values: Vec<(Field, Slot)>,
    /// The text of every string value, one after the other.
    text: String,
    /// The bytes of every bytes value (the stored event).
    bytes: Vec<u8>,
}

/// A value, with its text or bytes as a range (start, end) of the document's buffers.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Str(usize, usize),
    Bytes(usize, usize),
    U64(u64),
    I64(i64),
    Date(DateTime),
    Ip(Ipv6Addr),
}

/// Values of an event carry about 1.5 KB of text (a web event): room for it at once.
const TEXT_CAPACITY: usize = 2048;
/// Values of an event: about 60 for a web event.
const VALUES_CAPACITY: usize = 64;

impl EventDoc {
    /// An empty document with room for an event's values, plus `text` bytes of text and
    /// `bytes` bytes of bytes values (its stored source).
    pub fn with_capacity(text: usize, bytes: usize) -> EventDoc {
        EventDoc {
            values: Vec::with_capacity(VALUES_CAPACITY),
            text: String::with_capacity(TEXT_CAPACITY + text),
            bytes: Vec::with_capacity(bytes),
        }
    }

    /// Adds a string value.
    pub fn add_text(&mut self, field: Field, text: &str) {
        let start = self.text.len();
        self.text.push_str(text);
        self.values.push((field, Slot::Str(start, self.text.len())));
    }

    /// Adds a string value made of `parts` one after the other.
    pub fn add_text_parts(&mut self, field: Field, parts: &[&str]) {
        let start = self.text.len();
        for p in parts {
            self.text.push_str(p);
        }
        self.values.push((field, Slot::Str(start, self.text.len())));
    }

    /// Adds a bytes value.
    pub fn add_bytes(&mut self, field: Field, bytes: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        self.values
            .push((field, Slot::Bytes(start, self.bytes.len())));
    }

    /// Adds an unsigned integer.
    pub fn add_u64(&mut self, field: Field, v: u64) {
        self.values.push((field, Slot::U64(v)));
    }

    /// Adds a signed integer.
    pub fn add_i64(&mut self, field: Field, v: i64) {
        self.values.push((field, Slot::I64(v)));
    }

    /// Adds an instant.
    pub fn add_date(&mut self, field: Field, v: DateTime) {
        self.values.push((field, Slot::Date(v)));
    }

    /// Adds an IP address (IPv4 mapped into IPv6, as tantivy stores it).
    pub fn add_ip_addr(&mut self, field: Field, v: Ipv6Addr) {
        self.values.push((field, Slot::Ip(v)));
    }

    /// Orders the values by field, each field's values staying in the order they were
    /// added. tantivy groups a document's values by field with a stable sort of its own,
    /// which was 2% of the instructions of indexing an event: on values already in order it
    /// only checks them. Field numbers are small, so this is a counting sort.
    pub fn sort_by_field(&mut self) {
        const FIELDS: usize = 256;
        let Some(&first) = self.values.first() else {
            return;
        };
        if self.values.is_sorted_by_key(|(f, _)| *f) {
            return;
        }
        // counts[f + 1]: the values of field f; then, summed, where field f's values start.
        let mut counts = [0u16; FIELDS + 1];
        let mut top = 0;
        for (f, _) in &self.values {
            let i = f.field_id() as usize + 1;
            match counts.get_mut(i) {
                Some(c) if self.values.len() < usize::from(u16::MAX) => *c += 1,
                // A schema this large is not ziaxdr's: a comparison sort will do.
                _ => return self.values.sort_by_key(|(f, _)| *f),
            }
            top = top.max(i);
        }
        for i in 1..=top {
            counts[i] += counts[i - 1];
        }
        let mut sorted = vec![first; self.values.len()];
        for v in &self.values {
            let at = &mut counts[v.0.field_id() as usize];
            if let Some(dst) = sorted.get_mut(usize::from(*at)) {
                *dst = *v;
            }
            *at += 1;
        }
        self.values = sorted;
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the document has no value.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    #[inline]
    fn leaf(&self, slot: &Slot) -> Leaf<'_> {
        match slot {
            // The ranges were made from these buffers, so they are in bounds (and on char
            // boundaries); an empty value stands in rather than a panic.
            Slot::Str(a, b) => Leaf::Str(self.text.get(*a..*b).unwrap_or_default()),
            Slot::Bytes(a, b) => Leaf::Bytes(self.bytes.get(*a..*b).unwrap_or_default()),
            Slot::U64(v) => Leaf::U64(*v),
            Slot::I64(v) => Leaf::I64(*v),
            Slot::Date(v) => Leaf::Date(*v),
            Slot::Ip(v) => Leaf::Ip(*v),
        }
    }
}

/// A value of an [`EventDoc`], as the indexer reads it.
#[derive(Debug, Clone, Copy)]
pub struct DocValue<'a>(Leaf<'a>);

#[derive(Debug, Clone, Copy)]
enum Leaf<'a> {
    Str(&'a str),
    Bytes(&'a [u8]),
    U64(u64),
    I64(i64),
    Date(DateTime),
    Ip(Ipv6Addr),
}

impl<'a> Value<'a> for DocValue<'a> {
    type ArrayIter = std::iter::Empty<Self>;
    type ObjectIter = std::iter::Empty<(&'a str, Self)>;

    #[inline]
    fn as_value(&self) -> ReferenceValue<'a, Self> {
        ReferenceValue::Leaf(match self.0 {
            Leaf::Str(s) => ReferenceValueLeaf::Str(s),
            Leaf::Bytes(b) => ReferenceValueLeaf::Bytes(b),
            Leaf::U64(v) => ReferenceValueLeaf::U64(v),
            Leaf::I64(v) => ReferenceValueLeaf::I64(v),
            Leaf::Date(v) => ReferenceValueLeaf::Date(v),
            Leaf::Ip(v) => ReferenceValueLeaf::IpAddr(v),
        })
    }
}

/// The values of an [`EventDoc`] with their fields, in the order they were added.
pub struct DocValues<'a> {
    doc: &'a EventDoc,
    values: std::slice::Iter<'a, (Field, Slot)>,
}

impl<'a> Iterator for DocValues<'a> {
    type Item = (Field, DocValue<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (field, slot) = self.values.next()?;
        Some((*field, DocValue(self.doc.leaf(slot))))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.values.size_hint()
    }
}

impl Document for EventDoc {
    type Value<'a> = DocValue<'a>;
    type FieldsValuesIter<'a> = DocValues<'a>;

    fn iter_fields_and_values(&self) -> DocValues<'_> {
        DocValues {
            doc: self,
            values: self.values.iter(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::{Schema, STORED, STRING};
    use tantivy::TantivyDocument;

    #[test]
    fn values_come_back_in_the_order_they_were_added() {
        let (a, b) = (Field::from_field_id(0), Field::from_field_id(1));
        let mut doc = EventDoc::with_capacity(0, 0);
        doc.add_text(a, "first");
        doc.add_i64(b, -3);
        doc.add_text(a, "");
        doc.add_text(b, "ünïcode");
        doc.add_text_parts(a, &["path", "=", "välue"]);
        doc.add_bytes(a, b"\x00\xff");
        doc.add_ip_addr(b, "::1".parse().unwrap());
        let got: Vec<String> = doc
            .iter_fields_and_values()
            .map(|(f, v)| format!("{}:{:?}", f.field_id(), v.as_value().as_leaf()))
            .collect();
        assert_eq!(
            got,
            [
                r#"0:Some(Str("first"))"#,
                "1:Some(I64(-3))",
                r#"0:Some(Str(""))"#,
                r#"1:Some(Str("ünïcode"))"#,
                r#"0:Some(Str("path=välue"))"#,
                "0:Some(Bytes([0, 255]))",
                "1:Some(IpAddr(::1))",
            ]
        );
        assert_eq!(doc.len(), 7);
    }

    /// The (field, text) values of a document of `values`, once sorted by field.
    fn sorted(values: &[(u32, &'static str)]) -> Vec<(u32, String)> {
        let mut doc = EventDoc::with_capacity(0, 0);
        for (field, text) in values {
            doc.add_text(Field::from_field_id(*field), text);
        }
        doc.sort_by_field();
        doc.iter_fields_and_values()
            .map(|(f, v)| {
                (
                    f.field_id(),
                    v.as_value().as_str().unwrap_or("?").to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn sorting_by_field_keeps_the_order_of_each_fields_values() {
        let got = sorted(&[(3, "a"), (1, "b"), (3, "c"), (0, "d"), (1, "e"), (200, "f")]);
        let want = [(0, "d"), (1, "b"), (1, "e"), (3, "a"), (3, "c"), (200, "f")];
        assert_eq!(got, want.map(|(f, t)| (f, t.to_owned())));
    }

    #[test]
    fn fields_beyond_the_counting_range_are_sorted_too() {
        let got = sorted(&[(300, "a"), (2, "b"), (300, "c"), (1, "d")]);
        let want = [(1, "d"), (2, "b"), (300, "a"), (300, "c")];
        assert_eq!(got, want.map(|(f, t)| (f, t.to_owned())));
    }

    #[test]
    fn an_event_doc_indexes_and_stores_like_a_tantivy_document() {
        let mut sb = Schema::builder();
        let name = sb.add_text_field("name", STRING | STORED);
        let schema = sb.build();
        let index = tantivy::Index::create_in_ram(schema.clone());
        let mut w: tantivy::IndexWriter<EventDoc> = index.writer(15_000_000).unwrap();
        let mut doc = EventDoc::with_capacity(0, 0);
        doc.add_text(name, "alice");
        doc.add_text(name, "bob");
        w.add_document(doc).unwrap();
        w.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let q = tantivy::query::TermQuery::new(
            tantivy::Term::from_field_text(name, "bob"),
            tantivy::schema::IndexRecordOption::Basic,
        );
        let hits = searcher
            .search(
                &q,
                &tantivy::collector::TopDocs::with_limit(1).order_by_score(),
            )
            .unwrap();
        assert_eq!(hits.len(), 1);
        let stored: TantivyDocument = searcher.doc(hits[0].1).unwrap();
        assert_eq!(stored.to_json(&schema), r#"{"name":["alice","bob"]}"#);
    }
}
