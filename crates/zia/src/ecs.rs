//! A small builder for nested ECS events. Fields are collected flat, as `(dotted path, value)`,
//! and nested once at the end: walking and inserting into nested maps for every field was the
//! largest cost in the parse profile.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// An ECS event under construction.
#[derive(Default)]
pub(crate) struct Ev {
    fields: Vec<(Cow<'static, str>, Value)>,
}

impl Ev {
    /// Sets `path` (dotted) to `v`; a later set of the same path wins.
    pub fn set(&mut self, path: impl Into<Cow<'static, str>>, v: Value) {
        self.fields.push((path.into(), v));
    }

    /// Sets a string.
    pub fn s(&mut self, path: impl Into<Cow<'static, str>>, v: impl Into<String>) {
        self.set(path, Value::String(v.into()));
    }

    /// Sets an integer.
    pub fn n(&mut self, path: impl Into<Cow<'static, str>>, v: i64) {
        self.set(path, Value::from(v));
    }

    /// Reads a value back (the last one set).
    pub fn get(&self, path: &str) -> Option<&Value> {
        self.fields
            .iter()
            .rev()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v)
    }

    /// Reads a string back.
    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// True when the path is set.
    pub fn has(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// The nested event. Where a path is both a value and a parent (`a.b` and `a.b.c`), the
    /// object wins: the mapping never produces that, and an object keeps more data.
    pub fn finish(mut self) -> Map<String, Value> {
        // Stable sort keeps set order among equal paths; dedup keeps the first of a run, so
        // hand it the later value.
        self.fields.sort_by(|a, b| a.0.cmp(&b.0));
        self.fields.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        nest(&mut self.fields.into_iter().peekable(), "")
    }
}

type Items = std::iter::Peekable<std::vec::IntoIter<(Cow<'static, str>, Value)>>;

/// Builds the object under `prefix` (empty, or ending with `.`) from the items sorted by path:
/// in byte order every path under one prefix is contiguous, so one pass suffices.
fn nest(items: &mut Items, prefix: &str) -> Map<String, Value> {
    let mut out: Vec<(String, Value)> = Vec::new();
    while let Some((path, _)) = items.peek() {
        let Some(rel) = path.strip_prefix(prefix) else {
            break;
        };
        match rel.split_once('.') {
            None => {
                let key = rel.to_owned();
                let (_, v) = items.next().expect("peeked");
                out.push((key, v));
            }
            Some((head, _)) => {
                let head = head.to_owned();
                let child_prefix = format!("{prefix}{head}.");
                let child = nest(items, &child_prefix);
                // A value of the same name set earlier gives way to the object.
                if out.last().is_some_and(|(k, _)| *k == head) {
                    out.pop();
                }
                out.push((head, Value::Object(child)));
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nests_dotted_paths() {
        let mut ev = Ev::default();
        ev.s("a.b", "1");
        ev.s("a.c.d", "2");
        ev.s("a-b", "3");
        ev.s("a.b-c", "4");
        let v = Value::Object(ev.finish());
        assert_eq!(
            v,
            serde_json::json!({"a": {"b": "1", "b-c": "4", "c": {"d": "2"}}, "a-b": "3"})
        );
    }

    #[test]
    fn the_last_set_of_a_path_wins() {
        let mut ev = Ev::default();
        ev.s("x.y", "old");
        ev.s("x.y", "new");
        assert_eq!(ev.get_str("x.y"), Some("new"));
        assert_eq!(
            Value::Object(ev.finish()),
            serde_json::json!({"x": {"y": "new"}})
        );
    }
}
