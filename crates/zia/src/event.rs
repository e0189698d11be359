//! [`Event`]: a parsed event as the parser builds it, handed on without turning it into
//! nested JSON maps.
//!
//! Building the nested `serde_json` maps at the end of a parse, then walking them to index the
//! event and freeing them afterwards, was about half of the work of ingesting a record: every
//! key became its own allocation, every object a B-tree. An [`Event`] keeps the parser's flat
//! arena of path segments instead. Whoever needs nested JSON (detection, an NDJSON file) asks
//! for it ([`Event::to_map`], or serializes the event, which writes the same JSON).

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::ecs::Ev;

/// An ECS event: the fields of nested JSON objects, addressed by dotted path.
#[derive(Clone, Default)]
pub struct Event(pub(crate) Ev);

impl Event {
    /// An event holding the fields of `map`.
    pub fn from_map(map: Map<String, Value>) -> Event {
        Event(Ev::from_map(map))
    }

    /// The event as nested objects (a copy).
    pub fn to_map(&self) -> Map<String, Value> {
        self.0.to_map()
    }

    /// The event as nested objects.
    pub fn into_map(self) -> Map<String, Value> {
        self.0.finish()
    }

    /// The value at a dotted path (`event.kind`): borrowed for a leaf, built for an object
    /// (`ziaxdr`), `None` when absent.
    pub fn get(&self, path: &str) -> Option<Cow<'_, Value>> {
        self.0.get_path(path)
    }

    /// The leaf value at a dotted path; `None` when absent or an object.
    pub fn leaf(&self, path: &str) -> Option<&Value> {
        self.0.leaf(path)
    }

    /// The string at a dotted path.
    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.leaf(path).and_then(Value::as_str)
    }

    /// Sets a dotted path to `v`, replacing what was there (an object included), as setting
    /// the key in nested objects would.
    pub fn set(&mut self, path: &str, v: Value) {
        self.0.set_path(path, v);
    }

    /// Sets a dotted path to `v` unless it already has a value.
    pub fn set_if_absent(&mut self, path: &str, v: impl FnOnce() -> Value) {
        if self.0.get_path(path).is_none() {
            self.0.set_path(path, v());
        }
    }

    /// Calls `f` with the dotted path and value of every leaf, in the order the keys of the
    /// nested objects sort in. A leaf's value may be an array (whose items may be objects) or
    /// an empty object, never a non-empty object.
    pub fn for_each_leaf(&self, mut f: impl FnMut(&str, &Value)) {
        self.0.for_each_leaf(&mut f);
    }

    /// [`Event::for_each_leaf`] in no particular order (the order the fields were set), for
    /// callers to whom the order means nothing: sorting the keys of every object was a few
    /// percent of indexing an event.
    pub fn for_each_leaf_unordered(&self, mut f: impl FnMut(&str, &Value)) {
        self.0.for_each_leaf_as_set(&mut f);
    }

    /// [`Event::for_each_leaf_unordered`], with each value borrowed for as long as the event
    /// (a view of the event can then index its leaves without copying them).
    pub fn for_each_leaf_ref<'a>(&'a self, f: &mut dyn FnMut(&str, &'a Value)) {
        self.0.for_each_leaf_ref(f);
    }

    /// Calls `f` with every value a dotted path names among the leaves
    /// ([`Event::for_each_leaf_ref`]) and what they hold: the leaf at that path, or, for a
    /// path that goes on below a leaf, what the leaf's value holds there (through objects,
    /// and through every element of an array of objects), in document order. An object of
    /// the event is not a leaf: its path names nothing. Detection reads an event's fields
    /// this way without indexing all of them first.
    pub fn values_at<'a>(&'a self, path: &str, f: &mut dyn FnMut(&'a Value)) {
        self.0.values_at(path, f);
    }

    /// The value at a dotted path, to serialize without copying it; `None` when absent.
    pub fn part(&self, path: &str) -> Option<Part<'_>> {
        self.0.node_dyn(path).map(|id| Part(&self.0, id))
    }

    /// An event without fields. Unlike [`Event::default`], which makes room for a parsed
    /// record's hundred or so fields up front, it allocates next to nothing.
    pub fn empty() -> Event {
        Event(Ev::empty())
    }

    /// True when the event has no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when the event stands for a record that failed to parse.
    pub fn is_error(&self) -> bool {
        self.get_str("event.kind") == Some("pipeline_error")
    }
}

/// The value at a path of an [`Event`] (a leaf or an object), serializable as JSON.
pub struct Part<'a>(&'a Ev, u32);

impl serde::Serialize for Part<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_node(self.1, s)
    }
}

impl serde::Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_at(crate::ecs::ROOT, s)
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.to_map(), f)
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.to_map() == other.to_map()
    }
}

impl PartialEq<Map<String, Value>> for Event {
    fn eq(&self, other: &Map<String, Value>) -> bool {
        self.to_map() == *other
    }
}

impl From<Map<String, Value>> for Event {
    fn from(map: Map<String, Value>) -> Event {
        Event::from_map(map)
    }
}

impl From<Event> for Map<String, Value> {
    fn from(e: Event) -> Map<String, Value> {
        e.into_map()
    }
}
