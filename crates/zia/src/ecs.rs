//! A small builder for nested ECS events. Fields are set by dotted path into a trie of path
//! segments held in one arena and indexed by a hash of (parent, segment), and the trie becomes
//! nested maps once at the end. Collecting `(dotted path, value)` pairs flat and sorting them
//! at the end cost about half of the parse profile (string sorts, a `format!` per object, a
//! linear scan per read-back); here a set or a read-back costs one probe per segment, and the
//! mapping's paths are split and hashed at compile time ([`p!`]).

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Value};

/// A segment's first sixteen bytes, big-endian and zero-padded, with its length. Equal for
/// equal segments; for segments of up to sixteen bytes it decides equality and order alone,
/// and for longer ones it decides order whenever the words differ. Comparing siblings is then
/// a few integer comparisons instead of a `memcmp` call.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    w0: u64,
    w1: u64,
    len: usize,
}

impl Key {
    /// The key of a segment (usable in constants).
    pub(crate) const fn of(seg: &str) -> Key {
        let b = seg.as_bytes();
        let mut w = [0u64; 2];
        let mut i = 0;
        while i < b.len() && i < 16 {
            w[i / 8] |= (b[i] as u64) << (56 - 8 * (i % 8));
            i += 1;
        }
        Key {
            w0: w[0],
            w1: w[1],
            len: b.len(),
        }
    }

    /// [`Key::of`] for a segment known only at run time: one copy of its first sixteen bytes
    /// instead of a loop over them, which stood out in the profile of the lookups detection
    /// makes ([`Ev::values_at`]).
    #[inline]
    pub(crate) fn of_run_time(seg: &str) -> Key {
        let b = seg.as_bytes();
        let mut w = [0u8; 16];
        let n = b.len().min(16);
        w[..n].copy_from_slice(&b[..n]);
        let (hi, lo) = w.split_at(8);
        Key {
            w0: u64::from_be_bytes(hi.try_into().unwrap_or([0; 8])),
            w1: u64::from_be_bytes(lo.try_into().unwrap_or([0; 8])),
            len: b.len(),
        }
    }

    /// True when the key has all the segment's bytes.
    fn whole(self) -> bool {
        self.len <= 16
    }

    /// The index slot where the search for this segment under `parent` starts.
    fn slot(self, parent: Id) -> usize {
        let x = (self.w0 ^ self.w1.rotate_left(17) ^ (self.len as u64).rotate_left(40))
            .wrapping_add(u64::from(parent).wrapping_mul(0x9E37_79B9));
        (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize
    }
}

/// Byte order of two segments, given their keys.
fn order(a: Key, a_text: &str, b: Key, b_text: &str) -> Ordering {
    (a.w0, a.w1).cmp(&(b.w0, b.w1)).then_with(|| {
        if a.whole() && b.whole() {
            a.len.cmp(&b.len)
        } else {
            a_text.cmp(b_text)
        }
    })
}

/// Most segments of a mapping path.
const MAX_SEGMENTS: usize = 5;

/// A dotted path split into segments, with their keys, at compile time: build it with
/// [`p!`].
pub(crate) struct Path {
    segs: [(&'static str, Key); MAX_SEGMENTS],
    n: usize,
}

impl Path {
    /// Splits `path` at its dots (`a..b` has an empty middle segment).
    pub(crate) const fn new(path: &'static str) -> Path {
        let b = path.as_bytes();
        let mut segs = [("", Key::of("")); MAX_SEGMENTS];
        let mut n = 0;
        let mut start = 0;
        let mut i = 0;
        while i <= b.len() {
            if i == b.len() || b[i] == b'.' {
                assert!(n < MAX_SEGMENTS, "path has too many segments");
                let (_, rest) = b.split_at(start);
                let (seg, _) = rest.split_at(i - start);
                let seg = match std::str::from_utf8(seg) {
                    Ok(s) => s,
                    Err(_) => panic!("a path splits at ASCII dots"),
                };
                segs[n] = (seg, Key::of(seg));
                n += 1;
                start = i + 1;
            }
            i += 1;
        }
        Path { segs, n }
    }

    fn segments(&self) -> &[(&'static str, Key)] {
        &self.segs[..self.n.min(MAX_SEGMENTS)]
    }
}

/// A `&'static` [`Path`] from a string literal, split at compile time.
macro_rules! p {
    ($path:literal) => {{
        const PATH: $crate::ecs::Path = $crate::ecs::Path::new($path);
        &PATH
    }};
}
pub(crate) use p;

/// Index of a node in the arena; the root is 0 and is nobody's child, so 0 also means "none"
/// in the links and in the index.
type Id = u32;
pub(crate) const ROOT: Id = 0;
const NONE: Id = 0;
/// The parent of a detached node: no lookup ever asks for it.
const DEAD: Id = Id::MAX;

/// One path segment. A node with children becomes an object in the event, whatever its own
/// value (the object keeps more data); a node without children always has a value.
#[derive(Clone)]
struct Node {
    seg: Cow<'static, str>,
    key: Key,
    parent: Id,
    value: Option<Value>,
    first_child: Id,
    /// The last child, where the next one is linked: children are linked in the order they
    /// were added, and sorted by name only where an order is needed ([`Ev::sorted_children`]).
    last_child: Id,
    next_sibling: Id,
}

/// An ECS event under construction.
#[derive(Clone)]
pub(crate) struct Ev {
    nodes: Vec<Node>,
    /// Open addressing over `nodes` by (parent, segment); a power of two long and at most
    /// half full, so every probe sequence reaches an empty slot.
    index: Vec<Id>,
    /// The last base path of `set_under`/`set_new_under` and its node.
    base: Option<(&'static Path, Id)>,
    /// Some segment holds a dot (a key of an object set whole, [`Ev::put`]): a dotted path
    /// then does not name its node segment by segment.
    dotted: bool,
}

impl Default for Ev {
    fn default() -> Self {
        // A web record makes about 110 nodes: one allocation each up front.
        Ev::with_capacity(128)
    }
}

impl Ev {
    /// An event with room for `nodes` path segments before it grows.
    fn with_capacity(nodes: usize) -> Ev {
        let mut arena = Vec::with_capacity(nodes.max(1));
        arena.push(Node {
            seg: Cow::Borrowed(""),
            key: Key::of(""),
            parent: NONE,
            value: None,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
        });
        Ev {
            nodes: arena,
            // At most half full (see `index`).
            index: vec![NONE; (2 * nodes).next_power_of_two().max(2)],
            base: None,
            dotted: false,
        }
    }

    /// An event without fields that takes as little memory as can be: a stand-in for one
    /// that was freed.
    pub(crate) fn empty() -> Ev {
        Ev::with_capacity(1)
    }

    /// True when the event has no fields.
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes[ROOT as usize].first_child == NONE
    }
}

/// The segments of a dotted path given at run time.
fn split(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(path);
    std::iter::from_fn(move || {
        let r = rest?;
        let (seg, tail) = split_dot(r);
        rest = tail;
        Some(seg)
    })
}

/// A dotted path's first segment and what follows its first dot (None without one).
///
/// Searched for byte by byte: `str::split_once('.')` goes through the `char` searcher,
/// whose `memchr` and one-byte `memcmp` per dot were a few percent of the detection
/// profile (every rule's and indicator's field lookup walks its path here). A dot is ASCII,
/// so the indices are character boundaries.
#[inline]
fn split_dot(path: &str) -> (&str, Option<&str>) {
    match path.bytes().position(|b| b == b'.') {
        Some(i) => (&path[..i], Some(&path[i + 1..])),
        None => (path, None),
    }
}

impl Ev {
    /// The child of `parent` named `seg` (with key `key`), or the empty index slot where it
    /// would go.
    fn find(&self, parent: Id, seg: &str, key: Key) -> Result<Id, usize> {
        let mask = self.index.len() - 1;
        let mut i = key.slot(parent) & mask;
        loop {
            match self.index[i] {
                NONE => return Err(i),
                c => {
                    let n = &self.nodes[c as usize];
                    if n.parent == parent && n.key == key && (key.whole() || n.seg == seg) {
                        return Ok(c);
                    }
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds a child named `seg` to `parent`, at index slot `at` (from [`Ev::find`]), after
    /// its last child. Keeping siblings sorted as they came cost a walk down the list per
    /// insert, a chain of dependent loads that was a third of the parse profile.
    fn insert(&mut self, parent: Id, seg: Cow<'static, str>, key: Key, at: usize) -> Id {
        let id = self.nodes.len() as Id;
        match self.nodes[parent as usize].last_child {
            NONE => self.nodes[parent as usize].first_child = id,
            last => self.nodes[last as usize].next_sibling = id,
        }
        self.nodes[parent as usize].last_child = id;
        self.nodes.push(Node {
            seg,
            key,
            parent,
            value: None,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
        });
        self.index[at] = id;
        if self.nodes.len() * 2 > self.index.len() {
            self.grow();
        }
        id
    }

    /// Appends the children of `id` to `out`, in byte order of their names (the order of
    /// the keys of the nested object).
    fn sorted_children(&self, id: Id, out: &mut Vec<Id>) {
        let start = out.len();
        self.linked_children(id, out);
        let kids = &mut out[start..];
        let cmp = |a: &Id, b: &Id| {
            let (a, b) = (&self.nodes[*a as usize], &self.nodes[*b as usize]);
            order(a.key, &a.seg, b.key, &b.seg)
        };
        if !kids.is_sorted_by(|a, b| cmp(a, b) != Ordering::Greater) {
            kids.sort_unstable_by(cmp);
        }
    }

    /// Appends the children of `id` to `out`, in the order they were added.
    fn linked_children(&self, id: Id, out: &mut Vec<Id>) {
        let mut c = self.nodes[id as usize].first_child;
        while c != NONE {
            out.push(c);
            c = self.nodes[c as usize].next_sibling;
        }
    }

    /// Doubles the index and re-inserts every node.
    fn grow(&mut self) {
        let len = self.index.len() * 2;
        let mask = len - 1;
        let mut index = vec![NONE; len];
        for (id, n) in self.nodes.iter().enumerate().skip(1) {
            let mut i = n.key.slot(n.parent) & mask;
            while index[i] != NONE {
                i = (i + 1) & mask;
            }
            index[i] = id as Id;
        }
        self.index = index;
    }

    /// The child of `parent` named `seg`, created when missing (named by `owned`).
    fn child_or_insert(
        &mut self,
        parent: Id,
        seg: &str,
        key: Key,
        owned: impl FnOnce() -> Cow<'static, str>,
    ) -> Id {
        match self.find(parent, seg, key) {
            Ok(c) => c,
            Err(at) => self.insert(parent, owned(), key, at),
        }
    }

    /// The node of a path, created when missing.
    fn node_or_insert(&mut self, path: &'static Path) -> Id {
        path.segments().iter().fold(ROOT, |cur, &(seg, key)| {
            self.child_or_insert(cur, seg, key, || Cow::Borrowed(seg))
        })
    }

    /// The node of a dotted run-time path below `from`, created when missing.
    fn node_or_insert_dyn(&mut self, from: Id, path: String) -> Id {
        if !path.bytes().any(|b| b == b'.') {
            // One segment: the path itself names the node, no copy.
            let key = Key::of_run_time(&path);
            return match self.find(from, &path, key) {
                Ok(c) => c,
                Err(at) => self.insert(from, Cow::Owned(path), key, at),
            };
        }
        split(&path).fold(from, |cur, seg| {
            self.child_or_insert(cur, seg, Key::of_run_time(seg), || {
                Cow::Owned(seg.to_owned())
            })
        })
    }

    /// The node of a path, if any.
    fn node(&self, path: &Path) -> Option<Id> {
        path.segments()
            .iter()
            .try_fold(ROOT, |cur, &(seg, key)| self.find(cur, seg, key).ok())
    }

    /// Sets `path` to `v`; a later set of the same path wins.
    pub fn set(&mut self, path: &'static Path, v: Value) {
        let id = self.node_or_insert(path);
        self.nodes[id as usize].value = Some(v);
    }

    /// The node of a base path, remembered from the previous call: the same path (same
    /// address, so the same segments) comes for every kept input field.
    fn base(&mut self, base: &'static Path) -> Id {
        match self.base {
            Some((b, id)) if std::ptr::eq(b, base) => id,
            _ => {
                let id = self.node_or_insert(base);
                self.base = Some((base, id));
                id
            }
        }
    }

    /// Sets `<base>.<key>` (`key` dotted, see [`shallow`]) to `v` unless that path already has a value: the
    /// zscaler.zia.* fields kept from the input never replace a mapped one.
    pub fn set_new_under(&mut self, base: &'static Path, key: String, v: impl FnOnce() -> Value) {
        let base = self.base(base);
        let id = self.node_or_insert_dyn(base, shallow(key));
        let slot = &mut self.nodes[id as usize].value;
        if slot.is_none() {
            *slot = Some(v());
        }
    }

    /// Sets `<base>.<key>` (`key` dotted) to `v`; a later set of the same path wins.
    pub fn set_under(&mut self, base: &'static Path, key: String, v: Value) {
        let base = self.base(base);
        let id = self.node_or_insert_dyn(base, shallow(key));
        self.nodes[id as usize].value = Some(v);
    }

    /// Sets a string.
    pub fn s(&mut self, path: &'static Path, v: impl Into<String>) {
        self.set(path, Value::String(v.into()));
    }

    /// Sets an integer.
    pub fn n(&mut self, path: &'static Path, v: i64) {
        self.set(path, Value::from(v));
    }

    /// Reads a value back (the last one set).
    pub fn get(&self, path: &Path) -> Option<&Value> {
        let id = self.node(path)?;
        self.nodes[id as usize].value.as_ref()
    }

    /// Reads a string back.
    pub fn get_str(&self, path: &Path) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// True when the path is set.
    pub fn has(&self, path: &Path) -> bool {
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
        self.sorted_children(id, scratch);
        let end = scratch.len();
        let mut map = Map::new();
        // Inserted from the greatest key down: each insert then stops at the first key of
        // the tree's leftmost node, with no pair vector, no sort and no dedup pass, which
        // `collect` would all do.
        for k in (start..end).rev() {
            let c = scratch[k];
            let n = &mut self.nodes[c as usize];
            let key = std::mem::take(&mut n.seg).into_owned();
            let v = if n.first_child != NONE {
                Value::Object(self.build(c, scratch))
            } else {
                // A childless node was made by a set, so it has a value.
                n.value.take().unwrap_or(Value::Null)
            };
            map.insert(key, v);
        }
        scratch.truncate(start);
        map
    }
}

/// Run-time access for [`crate::Event`]: dotted paths given as text, whole values in and
/// out, with the semantics of nested JSON objects.
impl Ev {
    /// The node of a dotted run-time path, if any.
    pub(crate) fn node_dyn(&self, path: &str) -> Option<Id> {
        split(path).try_fold(ROOT, |cur, seg| {
            self.find(cur, seg, Key::of_run_time(seg)).ok()
        })
    }

    /// The node of a dotted run-time path, created when missing.
    fn node_or_insert_path(&mut self, path: &str) -> Id {
        split(path).fold(ROOT, |cur, seg| {
            self.child_or_insert(cur, seg, Key::of_run_time(seg), || {
                Cow::Owned(seg.to_owned())
            })
        })
    }

    /// Unlinks a node's children: marked dead, they are never found again (their slots in
    /// the arena stay until the event is dropped).
    fn detach_children(&mut self, id: Id) {
        self.nodes[id as usize].last_child = NONE;
        let mut c = std::mem::replace(&mut self.nodes[id as usize].first_child, NONE);
        while c != NONE {
            let n = &mut self.nodes[c as usize];
            n.parent = DEAD;
            c = n.next_sibling;
        }
        self.base = None;
    }

    /// Makes a node hold `v`, replacing what it held; a non-empty object becomes children.
    fn put(&mut self, id: Id, v: Value) {
        self.detach_children(id);
        match v {
            Value::Object(m) if !m.is_empty() => {
                self.nodes[id as usize].value = None;
                for (k, v) in m {
                    self.dotted |= k.contains('.');
                    let key = Key::of_run_time(&k);
                    let c = match self.find(id, &k, key) {
                        Ok(c) => c,
                        Err(at) => self.insert(id, Cow::Owned(k), key, at),
                    };
                    self.put(c, v);
                }
            }
            v => self.nodes[id as usize].value = Some(v),
        }
    }

    /// Sets a dotted path to `v`, replacing what it held, as on nested objects.
    pub(crate) fn set_path(&mut self, path: &str, v: Value) {
        let id = self.node_or_insert_path(path);
        self.put(id, v);
    }

    /// The value at a dotted path: borrowed for a leaf, built for an object.
    pub(crate) fn get_path(&self, path: &str) -> Option<Cow<'_, Value>> {
        let id = self.node_dyn(path)?;
        let n = &self.nodes[id as usize];
        if n.first_child != NONE {
            Some(Cow::Owned(Value::Object(self.to_map_at(id))))
        } else {
            n.value.as_ref().map(Cow::Borrowed)
        }
    }

    /// Serializes one node: its object, or its value.
    pub(crate) fn serialize_node<S: serde::Serializer>(
        &self,
        id: Id,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let n = &self.nodes[id as usize];
        if n.first_child != NONE || id == ROOT {
            self.serialize_at(id, s)
        } else {
            serde::Serialize::serialize(n.value.as_ref().unwrap_or(&Value::Null), s)
        }
    }

    /// The value of a leaf at a dotted path (`None` for an object).
    pub(crate) fn leaf(&self, path: &str) -> Option<&Value> {
        let n = &self.nodes[self.node_dyn(path)? as usize];
        match n.first_child {
            NONE => n.value.as_ref(),
            _ => None,
        }
    }

    /// Calls `f` with every value a dotted path names among the leaves and what they hold:
    /// the leaf at that path, or, for a path that goes on below a leaf, what its value holds
    /// there (through objects, and through every element of an array of objects), in
    /// document order. An object node is not a leaf: nothing.
    pub(crate) fn values_at<'a>(&'a self, path: &str, f: &mut dyn FnMut(&'a Value)) {
        if self.dotted {
            // Segments with dots: compare whole leaf paths.
            self.for_each_leaf_ref(&mut |leaf, v| {
                if leaf == path {
                    f(v);
                } else if let Some(rest) = path.strip_prefix(leaf).and_then(|r| r.strip_prefix('.'))
                {
                    values_below(v, rest, f);
                }
            });
            return;
        }
        let mut cur = ROOT;
        let mut rest = path;
        loop {
            let (seg, tail) = split_dot(rest);
            let Ok(id) = self.find(cur, seg, Key::of_run_time(seg)) else {
                return;
            };
            let n = &self.nodes[id as usize];
            match (n.first_child != NONE, tail) {
                (true, Some(tail)) => {
                    cur = id;
                    rest = tail;
                }
                (true, None) => return,
                (false, None) => return f(n.value.as_ref().unwrap_or(&NULL)),
                (false, Some(tail)) => {
                    return values_below(n.value.as_ref().unwrap_or(&NULL), tail, f)
                }
            }
        }
    }

    /// The children of a node, in byte order of their names.
    fn children(&self, id: Id) -> Vec<Id> {
        let mut kids = Vec::new();
        self.sorted_children(id, &mut kids);
        kids
    }

    /// A copy of the event as nested objects.
    pub(crate) fn to_map(&self) -> Map<String, Value> {
        self.to_map_at(ROOT)
    }

    fn to_map_at(&self, id: Id) -> Map<String, Value> {
        let mut map = Map::new();
        // Greatest key first, as in `build`.
        for &c in self.children(id).iter().rev() {
            let n = &self.nodes[c as usize];
            let v = if n.first_child != NONE {
                Value::Object(self.to_map_at(c))
            } else {
                n.value.clone().unwrap_or(Value::Null)
            };
            map.insert(n.seg.to_string(), v);
        }
        map
    }

    /// Calls `f` with the dotted path and value of every leaf, in the order of the nested
    /// objects' keys. A leaf's value may itself be an array, or an empty object.
    pub(crate) fn for_each_leaf(&self, f: &mut dyn FnMut(&str, &Value)) {
        self.for_each_leaf_in(true, f);
    }

    /// [`Ev::for_each_leaf`] in the order the fields were set (no sorting).
    pub(crate) fn for_each_leaf_as_set(&self, f: &mut dyn FnMut(&str, &Value)) {
        self.for_each_leaf_in(false, f);
    }

    /// [`Ev::for_each_leaf_as_set`], with values borrowed for as long as the event.
    pub(crate) fn for_each_leaf_ref<'a>(&'a self, f: &mut dyn FnMut(&str, &'a Value)) {
        self.for_each_leaf_in(false, f);
    }

    fn for_each_leaf_in<'a>(&'a self, sorted: bool, f: &mut dyn FnMut(&str, &'a Value)) {
        let mut path = String::with_capacity(64);
        let mut scratch = Vec::with_capacity(self.nodes.len());
        self.leaves_at(ROOT, &mut path, &mut scratch, sorted, f);
    }

    fn leaves_at<'a>(
        &'a self,
        id: Id,
        path: &mut String,
        scratch: &mut Vec<Id>,
        sorted: bool,
        f: &mut dyn FnMut(&str, &'a Value),
    ) {
        let start = scratch.len();
        if sorted {
            self.sorted_children(id, scratch);
        } else {
            self.linked_children(id, scratch);
        }
        for k in start..scratch.len() {
            let c = scratch[k];
            let n = &self.nodes[c as usize];
            let len = path.len();
            if id != ROOT {
                path.push('.');
            }
            path.push_str(&n.seg);
            if n.first_child != NONE {
                self.leaves_at(c, path, scratch, sorted, f);
            } else {
                f(path, n.value.as_ref().unwrap_or(&Value::Null));
            }
            path.truncate(len);
        }
        scratch.truncate(start);
    }

    /// Serializes the event as the nested object [`Ev::finish`] would make.
    pub(crate) fn serialize_at<S: serde::Serializer>(
        &self,
        id: Id,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let kids = self.children(id);
        let mut m = s.serialize_map(Some(kids.len()))?;
        for c in kids {
            let n = &self.nodes[c as usize];
            if n.first_child != NONE {
                m.serialize_entry(&*n.seg, &Sub(self, c))?;
            } else {
                m.serialize_entry(&*n.seg, n.value.as_ref().unwrap_or(&Value::Null))?;
            }
        }
        m.end()
    }

    /// An event holding the fields of `map`.
    pub(crate) fn from_map(map: Map<String, Value>) -> Ev {
        let mut ev = Ev::default();
        ev.put(ROOT, Value::Object(map));
        ev
    }
}

/// The value of a childless node that was never given one.
static NULL: Value = Value::Null;

/// Nesting followed below a leaf's value (values are shallow; this guards hostile input).
const MAX_VALUE_DEPTH: usize = 32;

/// The values at the dotted path `rest` below a leaf's value `v`: through an object's keys
/// (a key may itself hold dots), and through every element of an array.
fn values_below<'a>(v: &'a Value, rest: &str, f: &mut dyn FnMut(&'a Value)) {
    match v {
        Value::Object(m) => in_object(m, rest, f, MAX_VALUE_DEPTH),
        Value::Array(items) => in_array(items, rest, f, MAX_VALUE_DEPTH),
        _ => {}
    }
}

fn in_object<'a>(
    m: &'a Map<String, Value>,
    rest: &str,
    f: &mut dyn FnMut(&'a Value),
    depth: usize,
) {
    if depth == 0 {
        return;
    }
    for (k, v) in m {
        if k == rest {
            f(v);
        } else if let Some(tail) = rest
            .strip_prefix(k.as_str())
            .and_then(|r| r.strip_prefix('.'))
        {
            match v {
                Value::Object(inner) => in_object(inner, tail, f, depth - 1),
                Value::Array(items) => in_array(items, tail, f, depth - 1),
                _ => {}
            }
        }
    }
}

fn in_array<'a>(items: &'a [Value], rest: &str, f: &mut dyn FnMut(&'a Value), depth: usize) {
    if depth == 0 {
        return;
    }
    for item in items {
        match item {
            Value::Object(inner) => in_object(inner, rest, f, depth),
            Value::Array(nested) => in_array(nested, rest, f, depth - 1),
            _ => {}
        }
    }
}

/// A node's subtree, serialized as an object.
struct Sub<'a>(&'a Ev, Id);

impl serde::Serialize for Sub<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_at(self.1, s)
    }
}

/// Segments a kept input key may nest into (`a.b.c` is three).
pub(crate) const MAX_KEY_DEPTH: usize = 8;

/// A kept input key as it will nest: dotted keys nest (`a.b` becomes `a: {b}`), up to
/// [`MAX_KEY_DEPTH`] segments; a deeper key stays one flat field, its dots made `_`. Every
/// later step (building, indexing, serializing, dropping the event) walks the nesting
/// recursively, and a record with a key of tens of thousands of dots overflowed the stack.
fn shallow(key: String) -> String {
    if key.bytes().filter(|&b| b == b'.').count() < MAX_KEY_DEPTH {
        key
    } else {
        key.replace('.', "_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_time_path_splits_at_every_dot_as_str_split_does() {
        for path in ["", "a", "a.b", "a..b", ".a", "a.", "url.domain.x", "é.ü.b"] {
            let ours: Vec<&str> = split(path).collect();
            let std: Vec<&str> = path.split('.').collect();
            assert_eq!(ours, std, "{path:?}");
        }
    }

    #[test]
    fn nests_dotted_paths() {
        let mut ev = Ev::default();
        ev.s(p!("a.b"), "1");
        ev.s(p!("a.c.d"), "2");
        ev.s(p!("a-b"), "3");
        ev.s(p!("a.b-c"), "4");
        let v = Value::Object(ev.finish());
        assert_eq!(
            v,
            serde_json::json!({"a": {"b": "1", "b-c": "4", "c": {"d": "2"}}, "a-b": "3"})
        );
    }

    #[test]
    fn an_empty_event_grows_to_hold_as_many_fields_as_any_other() {
        let mut ev = Ev::empty();
        assert!(ev.is_empty());
        assert_eq!(Value::Object(ev.clone().finish()), serde_json::json!({}));
        for i in 0..300 {
            ev.set_path(&format!("f{}.v{i}", i % 7), Value::from(i));
        }
        for i in 0..300 {
            assert_eq!(
                ev.get_path(&format!("f{}.v{i}", i % 7)).as_deref(),
                Some(&Value::from(i))
            );
        }
        assert!(!ev.is_empty());
    }

    #[test]
    fn the_last_set_of_a_path_wins() {
        let mut ev = Ev::default();
        ev.s(p!("x.y"), "old");
        ev.s(p!("x.y"), "new");
        assert_eq!(ev.get_str(p!("x.y")), Some("new"));
        assert_eq!(
            Value::Object(ev.finish()),
            serde_json::json!({"x": {"y": "new"}})
        );
    }

    #[test]
    fn an_object_wins_over_a_value_of_the_same_path() {
        let mut ev = Ev::default();
        ev.s(p!("a.b.c"), "1");
        ev.s(p!("a.b"), "2");
        ev.set_under(p!("a"), String::from(".x"), Value::from("3"));
        assert_eq!(ev.get_str(p!("a.b")), Some("2"));
        assert_eq!(
            Value::Object(ev.finish()),
            serde_json::json!({"a": {"b": {"c": "1"}, "": {"x": "3"}}})
        );
    }

    #[test]
    fn long_and_short_segments_keep_byte_order() {
        let mut ev = Ev::default();
        for k in [
            "destination_long_name_x",
            "destination_long_name",
            "destination",
            "dest",
            "d\u{0}",
            "d",
            "",
            "destination_long_name_a",
            "zz",
        ] {
            ev.set_under(p!("r"), k.to_owned(), Value::from(k));
            assert_eq!(
                ev.node(p!("r")).and_then(|r| ev
                    .find(r, k, Key::of(k))
                    .ok()
                    .and_then(|id| ev.nodes[id as usize].value.as_ref())),
                Some(&Value::from(k))
            );
        }
        // Siblings come out in byte order.
        let r = ev.node(p!("r")).expect("r");
        let names: Vec<String> = ev
            .children(r)
            .iter()
            .map(|&c| ev.nodes[c as usize].seg.to_string())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 9);
    }

    fn values(ev: &Ev, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        ev.values_at(path, &mut |v| out.push(v.clone()));
        out
    }

    #[test]
    fn a_path_names_its_leaf_and_an_object_names_nothing() {
        let mut ev = Ev::default();
        ev.s(p!("url.domain"), "a.example");
        ev.n(p!("http.response.status_code"), 200);
        assert_eq!(values(&ev, "url.domain"), [Value::from("a.example")]);
        assert_eq!(values(&ev, "http.response.status_code"), [Value::from(200)]);
        assert!(values(&ev, "url").is_empty());
        assert!(values(&ev, "url.path").is_empty());
        assert!(values(&ev, "url.domain.x").is_empty());
    }

    #[test]
    fn a_path_below_a_leaf_names_what_its_value_holds_in_every_element() {
        let mut ev = Ev::default();
        ev.set_path(
            "dns.answers",
            serde_json::json!([{"data": "1.1.1.1"}, {"ttl": 5}, [{"data": "2.2.2.2"}], "x",
                               {"a.b": {"c": 1}}, {"a": {"b.c": 2}}]),
        );
        assert_eq!(
            values(&ev, "dns.answers.data"),
            [Value::from("1.1.1.1"), Value::from("2.2.2.2")]
        );
        assert_eq!(
            values(&ev, "dns.answers.a.b.c"),
            [Value::from(1), Value::from(2)]
        );
        assert_eq!(values(&ev, "dns.answers").len(), 1);
    }

    #[test]
    fn a_key_with_dots_set_whole_is_found_by_its_dotted_path() {
        let mut m = Map::new();
        m.insert("url.domain".into(), Value::from("flat.example"));
        m.insert(
            "url".into(),
            serde_json::json!({"domain": "nested.example", "path": "/"}),
        );
        let ev = Ev::from_map(m);
        assert_eq!(
            values(&ev, "url.domain"),
            [Value::from("nested.example"), Value::from("flat.example")]
        );
        assert_eq!(values(&ev, "url.path"), [Value::from("/")]);
    }

    #[test]
    fn a_key_made_at_run_time_is_the_key_made_at_compile_time() {
        for seg in [
            "",
            "a",
            "domain",
            "12345678",
            "123456789",
            "destination_long",
            "destination_long_",
            "a_segment_of_forty_bytes_and_some_more_x",
            "d\u{e9}j\u{e0}",
        ] {
            assert!(Key::of_run_time(seg) == Key::of(seg), "{seg}");
        }
    }
}
