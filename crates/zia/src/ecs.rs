//! A small builder for nested ECS events. Fields are set by dotted path into a trie of path
//! segments held in one arena and indexed by a hash of (parent, segment), and the trie becomes
//! nested maps once at the end. Collecting `(dotted path, value)` pairs flat and sorting them
//! at the end cost about half of the parse profile (string sorts, a `format!` per object, a
//! linear scan per read-back); here a set or a read-back costs one probe per segment.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// Index of a node in the arena; the root is 0 and is nobody's child, so 0 also means "none"
/// in the links and in the index.
type Id = u32;
const ROOT: Id = 0;
const NONE: Id = 0;

/// A segment's first eight bytes, big-endian, zero-padded: with the length it tells apart
/// (and orders) segments of up to eight bytes without a `memcmp` call, and it is the hash.
fn head(seg: &str) -> u64 {
    let b = seg.as_bytes();
    match b.first_chunk::<8>() {
        Some(first) => u64::from_be_bytes(*first),
        None => b
            .iter()
            .enumerate()
            .fold(0, |h, (i, &x)| h | u64::from(x) << (56 - 8 * i)),
    }
}

/// The index slot where the search for a segment of `parent` starts (before masking).
fn slot(parent: Id, head: u64, len: usize) -> usize {
    let x = head ^ (len as u64).rotate_left(40) ^ u64::from(parent).wrapping_mul(0x9E37_79B9);
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize
}

/// One path segment. A node with children becomes an object in the event, whatever its own
/// value (the object keeps more data); a node without children always has a value.
struct Node {
    seg: Cow<'static, str>,
    head: u64,
    len: usize,
    parent: Id,
    value: Option<Value>,
    first_child: Id,
    next_sibling: Id,
}

impl Node {
    fn is(&self, parent: Id, head: u64, seg: &str) -> bool {
        self.parent == parent
            && self.head == head
            && self.len == seg.len()
            && (seg.len() <= 8 || self.seg.as_ref() == seg)
    }
}

/// Sibling order: byte order of the names, decided by the heads when they differ.
fn order(a: &Node, b: &Node) -> std::cmp::Ordering {
    a.head.cmp(&b.head).then_with(|| {
        if a.len <= 8 && b.len <= 8 {
            a.len.cmp(&b.len)
        } else {
            a.seg.as_ref().cmp(b.seg.as_ref())
        }
    })
}

/// An ECS event under construction.
pub(crate) struct Ev {
    nodes: Vec<Node>,
    /// Open addressing over `nodes` by (parent, segment); a power of two long and at most
    /// half full, so every probe sequence reaches an empty slot.
    index: Vec<Id>,
}

impl Default for Ev {
    fn default() -> Self {
        // A web record makes about 110 nodes: one allocation each up front.
        let mut nodes = Vec::with_capacity(128);
        nodes.push(Node {
            seg: Cow::Borrowed(""),
            head: 0,
            len: 0,
            parent: NONE,
            value: None,
            first_child: NONE,
            next_sibling: NONE,
        });
        Ev {
            nodes,
            index: vec![NONE; 256],
        }
    }
}

/// The segments of a dotted path (`a..b` has an empty middle segment). A byte scan: paths
/// are short, and `str::split` with a `char` pattern costs a searcher set-up per call.
fn segments(path: &str) -> Segments<'_> {
    Segments { rest: Some(path) }
}

struct Segments<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|b| b == b'.') {
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i)
            }
            None => self.rest.take(),
        }
    }
}

impl Ev {
    /// The child of `parent` named `seg`, or the empty index slot where it would go.
    fn find(&self, parent: Id, seg: &str) -> Result<Id, usize> {
        let h = head(seg);
        let mask = self.index.len() - 1;
        let mut i = slot(parent, h, seg.len()) & mask;
        loop {
            match self.index[i] {
                NONE => return Err(i),
                c if self.nodes[c as usize].is(parent, h, seg) => return Ok(c),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// The child of `parent` named `seg`.
    fn child(&self, parent: Id, seg: &str) -> Option<Id> {
        self.find(parent, seg).ok()
    }

    /// Adds a child named `seg` to `parent`, at index slot `at` (from [`Ev::find`]).
    fn insert(&mut self, parent: Id, seg: Cow<'static, str>, at: usize) -> Id {
        let id = self.nodes.len() as Id;
        let p = &mut self.nodes[parent as usize];
        // Children are linked newest first; `build` puts them in order.
        let next_sibling = std::mem::replace(&mut p.first_child, id);
        self.nodes.push(Node {
            head: head(&seg),
            len: seg.len(),
            seg,
            parent,
            value: None,
            first_child: NONE,
            next_sibling,
        });
        self.index[at] = id;
        if self.nodes.len() * 2 > self.index.len() {
            self.grow();
        }
        id
    }

    /// Doubles the index and re-inserts every node.
    fn grow(&mut self) {
        let len = self.index.len() * 2;
        let mask = len - 1;
        let mut index = vec![NONE; len];
        for (id, n) in self.nodes.iter().enumerate().skip(1) {
            let mut i = slot(n.parent, n.head, n.len) & mask;
            while index[i] != NONE {
                i = (i + 1) & mask;
            }
            index[i] = id as Id;
        }
        self.index = index;
    }

    /// The node of a dotted path below `from`, created when missing.
    fn node_or_insert(&mut self, from: Id, path: Cow<'static, str>) -> Id {
        let mut cur = from;
        match path {
            Cow::Borrowed(p) => {
                for seg in segments(p) {
                    cur = match self.find(cur, seg) {
                        Ok(c) => c,
                        Err(at) => self.insert(cur, Cow::Borrowed(seg), at),
                    };
                }
            }
            Cow::Owned(p) => {
                if !p.bytes().any(|b| b == b'.') {
                    // One segment: the path itself names the node, no copy.
                    return match self.find(cur, &p) {
                        Ok(c) => c,
                        Err(at) => self.insert(cur, Cow::Owned(p), at),
                    };
                }
                for seg in segments(&p) {
                    cur = match self.find(cur, seg) {
                        Ok(c) => c,
                        Err(at) => self.insert(cur, Cow::Owned(seg.to_owned()), at),
                    };
                }
            }
        }
        cur
    }

    /// The node of a dotted path below `from`, if any.
    fn node(&self, from: Id, path: &str) -> Option<Id> {
        segments(path).try_fold(from, |cur, seg| self.child(cur, seg))
    }

    /// Sets `path` (dotted) to `v`; a later set of the same path wins.
    pub fn set(&mut self, path: impl Into<Cow<'static, str>>, v: Value) {
        let id = self.node_or_insert(ROOT, path.into());
        self.nodes[id as usize].value = Some(v);
    }

    /// Sets `<base>.<key>` (both dotted) to `v` unless that path already has a value: the
    /// zscaler.zia.* fields kept from the input never replace a mapped one.
    pub fn set_new_under(&mut self, base: &'static str, key: String, v: impl FnOnce() -> Value) {
        let base = self.node_or_insert(ROOT, Cow::Borrowed(base));
        let id = self.node_or_insert(base, Cow::Owned(key));
        let slot = &mut self.nodes[id as usize].value;
        if slot.is_none() {
            *slot = Some(v());
        }
    }

    /// Sets `<base>.<key>` (both dotted) to `v`; a later set of the same path wins.
    pub fn set_under(&mut self, base: &'static str, key: String, v: Value) {
        let base = self.node_or_insert(ROOT, Cow::Borrowed(base));
        let id = self.node_or_insert(base, Cow::Owned(key));
        self.nodes[id as usize].value = Some(v);
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
        let id = self.node(ROOT, path)?;
        self.nodes[id as usize].value.as_ref()
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
        let mut scratch = Vec::with_capacity(self.nodes.len());
        self.build(ROOT, &mut scratch)
    }

    /// The object of a node's children. `scratch` is a stack of child lists shared by the
    /// recursion, which is one level per path segment, as the nesting itself is.
    fn build(&mut self, id: Id, scratch: &mut Vec<Id>) -> Map<String, Value> {
        let start = scratch.len();
        let mut c = self.nodes[id as usize].first_child;
        while c != NONE {
            scratch.push(c);
            c = self.nodes[c as usize].next_sibling;
        }
        let nodes = &self.nodes;
        // Sorted here with the cheap head comparison, the map's own sort only confirms it.
        scratch[start..].sort_unstable_by(|&a, &b| order(&nodes[a as usize], &nodes[b as usize]));
        let end = scratch.len();
        let mut items: Vec<(String, Value)> = Vec::with_capacity(end - start);
        for k in start..end {
            let c = scratch[k];
            let n = &mut self.nodes[c as usize];
            let key = std::mem::take(&mut n.seg).into_owned();
            let v = if n.first_child != NONE {
                Value::Object(self.build(c, scratch))
            } else {
                // A childless node was made by a set, so it has a value.
                n.value.take().unwrap_or(Value::Null)
            };
            items.push((key, v));
        }
        scratch.truncate(start);
        // Keys are distinct and in order: the map's own sort only confirms it, and it builds
        // its tree in bulk.
        items.into_iter().collect()
    }
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

    #[test]
    fn an_object_wins_over_a_value_of_the_same_path() {
        let mut ev = Ev::default();
        ev.s("a.b.c", "1");
        ev.s("a.b", "2");
        ev.s(String::from("a..x"), "3");
        assert_eq!(ev.get_str("a.b"), Some("2"));
        assert_eq!(
            Value::Object(ev.finish()),
            serde_json::json!({"a": {"b": {"c": "1"}, "": {"x": "3"}}})
        );
    }
}
