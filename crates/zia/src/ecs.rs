//! A small builder for nested ECS events: set a dotted path, read it back.

use serde_json::{Map, Value};

/// An ECS event under construction.
#[derive(Default)]
pub(crate) struct Ev {
    pub root: Map<String, Value>,
}

impl Ev {
    /// Sets `path` (dotted) to `v`, creating intermediate objects; an existing non-object on
    /// the way is replaced, since the mapping never writes both `a` and `a.b`.
    pub fn set(&mut self, path: &str, v: Value) {
        let mut cur = &mut self.root;
        let mut parts = path.split('.').peekable();
        while let Some(p) = parts.next() {
            if parts.peek().is_none() {
                cur.insert(p.to_owned(), v);
                return;
            }
            let slot = cur
                .entry(p.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            cur = match slot {
                Value::Object(m) => m,
                _ => unreachable!("slot was just made an object"),
            };
        }
    }

    /// Sets a string.
    pub fn s(&mut self, path: &str, v: impl Into<String>) {
        self.set(path, Value::String(v.into()));
    }

    /// Sets an integer.
    pub fn n(&mut self, path: &str, v: i64) {
        self.set(path, Value::from(v));
    }

    /// Reads a value back.
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut cur = self.root.get(parts.next()?)?;
        for p in parts {
            cur = cur.as_object()?.get(p)?;
        }
        Some(cur)
    }

    /// Reads a string back.
    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// True when the path is set.
    pub fn has(&self, path: &str) -> bool {
        self.get(path).is_some()
    }
}
