//! Prints what the index gets per event, field by field: values and words per event over
//! the first 20,000 records of a file, with the `path=value` terms (`_kv`) split by path.
//! Where an indexing cost comes from (`cargo run --release -p store --example doccount -- FILE`).
use tantivy::schema::document::{Document, Value};
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let schema = store::schema::build_schema();
    let f = store::schema::Fields::resolve(&schema).unwrap();
    let ts = tantivy::DateTime::from_timestamp_secs(0);
    let mut counts: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut n = 0;
    for l in text.lines().take(20000) {
        n += 1;
        let ev = zia::parse_or_error_event(l);
        let src = store::source::encode_parsed(l, &ev).unwrap();
        let doc = store::schema::build_parsed_document(&f, &ev, ts, 0, &src);
        for (field, v) in doc.iter_fields_and_values() {
            let name = schema.get_field_name(field).to_string();
            let name = if name == "_kv" {
                format!("kv:{}", v.as_str().unwrap().split('=').next().unwrap())
            } else {
                name
            };
            let e = counts.entry(name).or_default();
            e.0 += 1;
            if let Some(s) = v.as_str() {
                e.1 += s
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .count();
            }
        }
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by_key(|(_, (c, _))| std::cmp::Reverse(*c));
    let (mut tv, mut tw) = (0, 0);
    for (k, (c, w)) in &v {
        tv += c;
        tw += w;
        println!(
            "{k:40} values/event {:.2} words/event {:.2}",
            *c as f64 / n as f64,
            *w as f64 / n as f64
        );
    }
    println!(
        "total values {:.1} words {:.1}",
        tv as f64 / n as f64,
        tw as f64 / n as f64
    );
}
