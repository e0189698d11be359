//! Zero-copy view of an ECS event (`serde_json::Map`) for the Sigma engine, and helpers to
//! read dotted ECS paths out of nested events.

use std::borrow::Cow;

use rsigma_eval::{Event, EventValue};
use serde_json::{Map, Value};

/// Recursion cap for walks over nested values (events are shallow; this guards hostile input).
const MAX_DEPTH: usize = 32;

/// A borrowed ECS event as the Sigma engine sees it.
///
/// Field lookups accept dotted paths (`url.domain`) over nested objects, a literal flat key
/// wins over traversal (some producers emit `"url.domain": ...`), and a path crossing an
/// array collects one value per element (`dns.answers.data`). `user_agent.original` is
/// percent-decoded when the feed kept NSS's `%20` escaping, so user-agent rules written
/// against plain strings still match.
///
/// The engine asks for ~20-80 fields per event, many of them several times and most of them
/// absent, so the event is indexed once: every dotted path it holds, hashed with a
/// per-process random key (collisions cannot be crafted by whoever writes the logs), sorted.
/// A lookup is then one hash and a table probe (a binary search when slots collide) instead
/// of a walk over nested maps.
#[derive(Debug, Clone)]
pub struct EcsEvent<'a> {
    source: Source<'a>,
    /// Every dotted path of the event with its value, sorted by path hash (document order
    /// among equal hashes: the elements of an array of objects).
    index: Vec<Entry<'a>>,
    /// Direct-mapped table in front of `index`, by the low bits of the hash: the position
    /// of the first entry of that hash, [`EMPTY`], or [`SHARED`] (several hashes: binary
    /// search). The engine asks ~50 lookups per event, mostly of absent paths, which this
    /// answers in a few instructions.
    slots: [u8; SLOTS],
}

/// What an [`EcsEvent`] was built from: nested objects, the leaves of a flat event, or a
/// flat event that answers lookups itself.
#[derive(Clone)]
enum Source<'a> {
    Map(&'a Map<String, Value>),
    Leaves {
        /// Every leaf value.
        values: Vec<&'a Value>,
        /// The top-level keys, each followed by a NUL.
        tops: String,
    },
    /// Not indexed: every lookup asks the event ([`EcsEvent::from_flat`]).
    Flat(&'a dyn FlatEvent<'a>),
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Map(m) => f.debug_tuple("Map").field(m).finish(),
            Source::Leaves { values, tops } => f
                .debug_struct("Leaves")
                .field("values", values)
                .field("tops", tops)
                .finish(),
            Source::Flat(_) => f.write_str("Flat"),
        }
    }
}

/// A flat event (fields by dotted path, as the ZIA parser builds it) that finds a path's
/// values itself, faster than indexing all of its leaves: the rules and indicators read a few
/// dozen paths of an event of a hundred leaves, most of them absent.
pub trait FlatEvent<'a> {
    /// Calls `f` with every value `path` names: the leaf at that path, or, for a path that
    /// goes on below a leaf, what the leaf's value holds there (through objects, and through
    /// every element of an array of objects), in document order. An object is not a leaf:
    /// its own path names nothing. (What [`EcsEvent::from_leaves`] indexes under `path`.)
    fn values_at(&self, path: &str, f: &mut dyn FnMut(&'a Value));

    /// Calls `f` with each leaf's dotted path and value (as [`EcsEvent::from_leaves`] takes
    /// them).
    fn for_each_leaf(&self, f: &mut dyn FnMut(&str, &'a Value));
}

/// Slots of [`EcsEvent::slots`] (a power of two; events hold ~30 paths).
const SLOTS: usize = 128;
/// No path of the event has a hash with these low bits.
const EMPTY: u8 = u8::MAX;
/// Several hashes share these low bits (or the event is too large for the table).
const SHARED: u8 = u8::MAX - 1;

#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    hash: u64,
    value: &'a Value,
    /// A top-level key that itself holds a dot (`"url.domain": ...`): wins over a nested
    /// path with the same name.
    literal: bool,
}

fn path_hasher() -> &'static ahash::RandomState {
    static HASHER: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
    HASHER.get_or_init(ahash::RandomState::new)
}

fn index_map<'a>(
    map: &'a Map<String, Value>,
    buf: &mut Vec<u8>,
    out: &mut Vec<Entry<'a>>,
    depth: usize,
    top: bool,
) {
    if depth == 0 {
        return;
    }
    let hasher = path_hasher();
    for (k, v) in map {
        let len = buf.len();
        if len > 0 {
            buf.push(b'.');
        }
        buf.extend_from_slice(k.as_bytes());
        out.push(Entry {
            hash: hasher.hash_one(&buf[..]),
            value: v,
            literal: top && k.contains('.'),
        });
        match v {
            Value::Object(inner) => index_map(inner, buf, out, depth - 1, false),
            Value::Array(items) => index_array(items, buf, out, depth - 1),
            _ => {}
        }
        buf.truncate(len);
    }
}

/// Paths through an array of objects name every element's field (`dns.answers.data`).
fn index_array<'a>(items: &'a [Value], buf: &mut Vec<u8>, out: &mut Vec<Entry<'a>>, depth: usize) {
    if depth == 0 {
        return;
    }
    for item in items {
        match item {
            Value::Object(inner) => index_map(inner, buf, out, depth, false),
            Value::Array(nested) => index_array(nested, buf, out, depth - 1),
            _ => {}
        }
    }
}

impl<'a> EcsEvent<'a> {
    /// Wraps (and indexes) a borrowed event.
    pub fn new(map: &'a Map<String, Value>) -> Self {
        let mut index = Vec::with_capacity(64);
        let mut buf = Vec::with_capacity(64);
        index_map(map, &mut buf, &mut index, MAX_DEPTH, true);
        Self::indexed(Source::Map(map), index)
    }

    /// Indexes a flat event given by its leaves: `leaves` calls its argument with each leaf's
    /// dotted path and value, as nested objects would hold them. The same view as
    /// [`EcsEvent::new`] over those objects (`to_map` of a flat event), without building them.
    pub fn from_leaves(leaves: impl FnOnce(&mut dyn FnMut(&str, &'a Value))) -> Self {
        let mut index = Vec::with_capacity(128);
        let mut values = Vec::with_capacity(128);
        let mut tops = String::new();
        let mut buf = Vec::with_capacity(64);
        let hasher = path_hasher();
        // The last top-level key seen, as a range of `tops`: a flat event's leaves come
        // grouped by object, so most leaves have that one, and comparing each leaf's with
        // every key so far (`memcmp`, `CharSearcher`) stood out in the parse threads' profile.
        let mut last_top: Option<(usize, usize)> = None;
        leaves(&mut |path: &str, value: &'a Value| {
            let top = path.split_once('.').map_or(path, |(t, _)| t);
            if last_top.is_none_or(|(a, b)| tops.get(a..b) != Some(top)) {
                let mut found = None;
                let mut start = 0;
                for t in tops.split_terminator('\0') {
                    if t == top {
                        found = Some((start, start + t.len()));
                        break;
                    }
                    start += t.len() + 1;
                }
                last_top = Some(found.unwrap_or_else(|| {
                    let a = tops.len();
                    tops.push_str(top);
                    tops.push('\0');
                    (a, a + top.len())
                }));
            }
            index.push(Entry {
                hash: hasher.hash_one(path.as_bytes()),
                value,
                literal: false,
            });
            values.push(value);
            match value {
                Value::Object(inner) => {
                    buf.clear();
                    buf.extend_from_slice(path.as_bytes());
                    index_map(inner, &mut buf, &mut index, MAX_DEPTH, false);
                }
                Value::Array(items) => {
                    buf.clear();
                    buf.extend_from_slice(path.as_bytes());
                    index_array(items, &mut buf, &mut index, MAX_DEPTH);
                }
                _ => {}
            }
        });
        Self::indexed(Source::Leaves { values, tops }, index)
    }

    /// A view of a flat event that indexes nothing: each lookup asks `flat`, which finds a
    /// path in its own structure. The same view as [`EcsEvent::from_leaves`] over the same
    /// leaves, without the walk over all of them, which cost more than the lookups detection
    /// makes.
    pub fn from_flat(flat: &'a dyn FlatEvent<'a>) -> Self {
        Self {
            source: Source::Flat(flat),
            index: Vec::new(),
            slots: [EMPTY; SLOTS],
        }
    }

    fn indexed(source: Source<'a>, mut index: Vec<Entry<'a>>) -> Self {
        // Stable: the elements of an array keep their order.
        index.sort_by_key(|e| e.hash);
        let mut slots = [EMPTY; SLOTS];
        if index.len() < SHARED as usize {
            let mut prev = None;
            for (i, e) in index.iter().enumerate() {
                if prev == Some(e.hash) {
                    continue;
                }
                prev = Some(e.hash);
                let slot = &mut slots[e.hash as usize % SLOTS];
                *slot = if *slot == EMPTY { i as u8 } else { SHARED };
            }
        } else {
            slots = [SHARED; SLOTS];
        }
        Self {
            source,
            index,
            slots,
        }
    }

    /// The values under the event's top-level keys (every leaf, for a flat event).
    fn top_values(&self) -> Box<dyn Iterator<Item = &'a Value> + '_> {
        match &self.source {
            Source::Map(m) => Box::new(m.values()),
            Source::Leaves { values, .. } => Box::new(values.iter().copied()),
            Source::Flat(flat) => {
                let mut values = Vec::new();
                flat.for_each_leaf(&mut |_, v| values.push(v));
                Box::new(values.into_iter())
            }
        }
    }

    /// The top-level keys of a flat event, in the order of its leaves, each once.
    fn flat_tops(flat: &dyn FlatEvent<'a>) -> Vec<String> {
        let mut tops: Vec<String> = Vec::new();
        flat.for_each_leaf(&mut |path, _| {
            let top = path.split_once('.').map_or(path, |(t, _)| t);
            if tops.last().is_none_or(|t| t != top) && !tops.iter().any(|t| t == top) {
                tops.push(top.to_string());
            }
        });
        tops
    }

    /// Calls `f` with the values stored under a dotted path: the literal flat key's when
    /// there is one, else every one (the elements of an array it crosses).
    fn each(&self, path: &str, f: &mut dyn FnMut(&'a Value)) {
        if let Source::Flat(flat) = &self.source {
            return flat.values_at(path, f);
        }
        let entries = self.entries(path);
        match entries.iter().find(|e| e.literal) {
            Some(lit) => f(lit.value),
            None => entries.iter().for_each(|e| f(e.value)),
        }
    }

    /// The entries stored under a dotted path (empty when the event does not have it).
    fn entries(&self, path: &str) -> &[Entry<'a>] {
        let h = path_hasher().hash_one(path.as_bytes());
        let lo = match self.slots[h as usize % SLOTS] {
            EMPTY => return &[],
            SHARED => self.index.partition_point(|e| e.hash < h),
            i => i as usize,
        };
        let n = self.index[lo..].iter().take_while(|e| e.hash == h).count();
        &self.index[lo..lo + n]
    }

    /// The value at a dotted path: one value, the literal flat key when there is one, or
    /// the values of every element of the array it crosses.
    fn lookup(&self, path: &str) -> Option<EventValue<'a>> {
        if let Source::Flat(flat) = &self.source {
            let (mut one, mut many) = (None, Vec::new());
            flat.values_at(path, &mut |v| match one {
                None => one = Some(v),
                Some(_) => many.push(v),
            });
            let first = one?;
            if many.is_empty() {
                return Some(to_event_value(first, MAX_DEPTH));
            }
            return Some(EventValue::Array(
                std::iter::once(first)
                    .chain(many)
                    .map(|v| to_event_value(v, MAX_DEPTH))
                    .collect(),
            ));
        }
        match self.entries(path) {
            [] => None,
            [one] => Some(to_event_value(one.value, MAX_DEPTH)),
            many => match many.iter().find(|e| e.literal) {
                Some(lit) => Some(to_event_value(lit.value, MAX_DEPTH)),
                None => Some(EventValue::Array(
                    many.iter()
                        .map(|e| to_event_value(e.value, MAX_DEPTH))
                        .collect(),
                )),
            },
        }
    }

    /// Calls `visit` with every string at a dotted path (arrays flattened), as [`visit_strs`]
    /// does on the map.
    pub fn visit_strs(&self, path: &str, visit: &mut dyn FnMut(&'a str)) {
        fn walk<'a>(v: &'a Value, visit: &mut dyn FnMut(&'a str), depth: usize) {
            match v {
                Value::String(s) => visit(s),
                Value::Array(items) if depth > 0 => {
                    items.iter().for_each(|i| walk(i, visit, depth - 1))
                }
                _ => {}
            }
        }
        self.each(path, &mut |v| walk(v, visit, MAX_DEPTH));
    }

    /// The string at a dotted path (first value), numbers and booleans rendered as text, as
    /// [`get_str`] does on the map.
    pub fn get_str(&self, path: &str) -> Option<Cow<'a, str>> {
        match self.first(path)? {
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            _ => None,
        }
    }

    /// The event's id: `event.id`, else the id the intake gave it (`ziaxdr.event_id`).
    pub fn event_id(&self) -> Option<Cow<'a, str>> {
        self.get_str(crate::detector::EVENT_ID_FIELD)
            .or_else(|| self.get_str(crate::detector::INTAKE_EVENT_ID_FIELD))
    }

    /// The event cut down to `paths`, as nested objects: for each path, the value of its
    /// shortest prefix that is not an object (an array of objects whole, since a path
    /// through it names every element), so that each path reads the same in the copy as
    /// here. Paths the event lacks are left out.
    pub fn pick(&self, paths: &[String]) -> Map<String, Value> {
        let mut out = Map::new();
        for path in paths {
            let ends = path.match_indices('.').map(|(i, _)| i).chain([path.len()]);
            for end in ends {
                let prefix = &path[..end];
                match self.first(prefix) {
                    Some(Value::Object(_)) if end < path.len() => {}
                    Some(v) => {
                        insert_path(&mut out, prefix, v);
                        break;
                    }
                    None => {}
                }
            }
        }
        out
    }

    /// The first value at a dotted path, as `get_path` gives it.
    fn first(&self, path: &str) -> Option<&'a Value> {
        if let Source::Flat(flat) = &self.source {
            let mut first = None;
            flat.values_at(path, &mut |v| {
                first.get_or_insert(v);
            });
            return first;
        }
        let entries = self.entries(path);
        entries
            .iter()
            .find(|e| e.literal)
            .or(entries.first())
            .map(|e| e.value)
    }
}

/// Sets `path` in nested objects to a copy of `v`, unless something is there already.
fn insert_path(map: &mut Map<String, Value>, path: &str, v: &Value) {
    let mut at = map;
    let mut segs = path.split('.').peekable();
    while let Some(seg) = segs.next() {
        if segs.peek().is_none() {
            at.entry(seg).or_insert_with(|| v.clone());
            return;
        }
        let next = at.entry(seg).or_insert_with(|| Value::Object(Map::new()));
        match next {
            Value::Object(m) => at = m,
            // A value where the path goes on: the copy keeps that value.
            _ => return,
        }
    }
}

/// Returns the value at a dotted ECS path (first value when the path crosses an array).
pub fn get_path<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = map.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    match map.get(head)? {
        Value::Object(inner) => get_path(inner, rest),
        Value::Array(items) => items.iter().find_map(|item| match item {
            Value::Object(inner) => get_path(inner, rest),
            _ => None,
        }),
        _ => None,
    }
}

/// Returns the string at a dotted ECS path, numbers and booleans rendered as text.
pub fn get_str<'a>(map: &'a Map<String, Value>, path: &str) -> Option<Cow<'a, str>> {
    match get_path(map, path)? {
        Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// Calls `visit` with every string found at a dotted path (arrays are flattened).
pub fn visit_strs<'a>(map: &'a Map<String, Value>, path: &str, visit: &mut dyn FnMut(&'a str)) {
    fn walk<'a>(v: &'a Value, visit: &mut dyn FnMut(&'a str), depth: usize) {
        if depth == 0 {
            return;
        }
        match v {
            Value::String(s) => visit(s),
            Value::Array(items) => items.iter().for_each(|i| walk(i, visit, depth - 1)),
            _ => {}
        }
    }
    collect_path(map, path, MAX_DEPTH, &mut |v| walk(v, visit, MAX_DEPTH));
}

fn collect_path<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    depth: usize,
    out: &mut dyn FnMut(&'a Value),
) {
    if depth == 0 {
        return;
    }
    if let Some(v) = map.get(path) {
        out(v);
        return;
    }
    let Some((head, rest)) = path.split_once('.') else {
        return;
    };
    match map.get(head) {
        Some(Value::Object(inner)) => collect_path(inner, rest, depth - 1, out),
        Some(Value::Array(items)) => {
            for item in items {
                if let Value::Object(inner) = item {
                    collect_path(inner, rest, depth - 1, out);
                }
            }
        }
        _ => {}
    }
}

fn to_event_value(v: &Value, depth: usize) -> EventValue<'_> {
    match v {
        Value::String(s) => EventValue::Str(Cow::Borrowed(s)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                EventValue::Int(i)
            } else {
                EventValue::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::Bool(b) => EventValue::Bool(*b),
        Value::Null => EventValue::Null,
        Value::Array(items) if depth > 0 => {
            EventValue::Array(items.iter().map(|i| to_event_value(i, depth - 1)).collect())
        }
        Value::Object(m) if depth > 0 => EventValue::Map(
            m.iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), to_event_value(v, depth - 1)))
                .collect(),
        ),
        _ => EventValue::Null,
    }
}

/// Percent-decodes a user agent when NSS kept its URL escaping (`Mozilla/5.0%20(Windows...`).
fn decode_user_agent(ua: &str) -> Cow<'_, str> {
    if !ua.contains('%') {
        return Cow::Borrowed(ua);
    }
    match percent_encoding::percent_decode_str(ua).decode_utf8() {
        Ok(Cow::Owned(s)) => Cow::Owned(s),
        _ => Cow::Borrowed(ua),
    }
}

fn any_string(v: &Value, pred: &dyn Fn(&str) -> bool, depth: usize) -> bool {
    if depth == 0 {
        return false;
    }
    match v {
        Value::String(s) => pred(s),
        Value::Array(items) => items.iter().any(|i| any_string(i, pred, depth - 1)),
        Value::Object(m) => m.values().any(|i| any_string(i, pred, depth - 1)),
        _ => false,
    }
}

fn visit_strings<'a>(v: &'a Value, visit: &mut dyn FnMut(&'a str), depth: usize) {
    if depth == 0 {
        return;
    }
    match v {
        Value::String(s) => visit(s),
        Value::Array(items) => items
            .iter()
            .for_each(|i| visit_strings(i, visit, depth - 1)),
        Value::Object(m) => m.values().for_each(|i| visit_strings(i, visit, depth - 1)),
        _ => {}
    }
}

/// Virtual field giving the Sigma logsource category of a ZIA event (from `event.dataset`),
/// read by the engine's logsource pruning so that proxy rules skip DNS events and so on.
pub const SIGMA_CATEGORY_FIELD: &str = "ziaxdr.sigma_category";

/// Root of the virtual (computed) fields.
const VIRTUAL_ROOT: &str = "ziaxdr";

/// Virtual field for the Sigma firewall taxonomy's `blocked` (`"true"`/`"false"`), derived
/// from ZIA's `event.action` (`allow`, `block/drop`...), which has no separate flag.
pub const BLOCKED_FIELD: &str = "ziaxdr.blocked";

/// Maps `event.dataset` to the Sigma category; datasets without a Sigma category keep their
/// own name, which conflicts with (and so prunes) proxy/dns/firewall rules.
fn sigma_category(dataset: &str) -> &str {
    match dataset {
        "web" => "proxy",
        other => other,
    }
}

impl Event for EcsEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if path == BLOCKED_FIELD {
            return match self.first("event.action")? {
                Value::String(a) => {
                    let a = a.to_ascii_lowercase();
                    let blocked = a.starts_with("block") || a.starts_with("drop") || a == "deny";
                    Some(EventValue::Str(Cow::Borrowed(if blocked {
                        "true"
                    } else {
                        "false"
                    })))
                }
                _ => None,
            };
        }
        if path == SIGMA_CATEGORY_FIELD {
            return match self.first("event.dataset")? {
                Value::String(d) => Some(EventValue::Str(Cow::Borrowed(sigma_category(d)))),
                _ => None,
            };
        }
        if path == "user_agent.original" {
            return match self.first(path)? {
                Value::String(ua) => Some(EventValue::Str(decode_user_agent(ua))),
                other => Some(to_event_value(other, MAX_DEPTH)),
            };
        }
        self.lookup(path)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.top_values().any(|v| any_string(v, pred, MAX_DEPTH))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        for v in self.top_values() {
            visit_strings(v, &mut |s| out.push(Cow::Borrowed(s)), MAX_DEPTH);
        }
        out
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        for v in self.top_values() {
            visit_strings(v, &mut |s| visit(s), MAX_DEPTH);
        }
    }

    /// Only the event's id (`{"event.id": ...}`), not the event: the engine is configured to
    /// keep references to the events behind a correlation (never their content, and never the
    /// event in a detection result), and a reference needs nothing else. Copying the whole
    /// event here cost more than evaluating it.
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(id) = self.event_id() {
            m.insert("event.id".into(), Value::String(id.into_owned()));
        }
        Value::Object(m)
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        let mut keys: Vec<Cow<'_, str>> = match &self.source {
            Source::Map(m) => m.keys().map(|k| Cow::Borrowed(k.as_str())).collect(),
            Source::Leaves { tops, .. } => tops.split_terminator('\0').map(Cow::Borrowed).collect(),
            Source::Flat(flat) => Self::flat_tops(*flat).into_iter().map(Cow::Owned).collect(),
        };
        keys.push(Cow::Borrowed(VIRTUAL_ROOT));
        Some(keys)
    }

    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        match &self.source {
            Source::Map(m) => m.keys().for_each(|k| visit(k)),
            Source::Leaves { tops, .. } => tops.split_terminator('\0').for_each(&mut *visit),
            Source::Flat(flat) => Self::flat_tops(*flat).iter().for_each(|t| visit(t)),
        }
        // The virtual fields live under "ziaxdr."; the engine must not skip that root.
        visit(VIRTUAL_ROOT);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn dotted_path_reads_nested_objects() {
        let m = obj(json!({"url": {"domain": "a.example"}}));
        let ev = EcsEvent::new(&m);
        assert_eq!(
            ev.get_field("url.domain"),
            Some(EventValue::Str(Cow::Borrowed("a.example")))
        );
    }

    #[test]
    fn absent_fields_are_absent_and_present_ones_found_at_any_depth() {
        let m = obj(json!({"a": {"b": {"c": 1}}, "x": [1, 2], "s": "v"}));
        let ev = EcsEvent::new(&m);
        assert_eq!(ev.get_field("a.b.c"), Some(EventValue::Int(1)));
        assert_eq!(ev.get_field("s"), Some(EventValue::Str(Cow::Borrowed("v"))));
        assert!(ev.get_field("x").is_some());
        assert_eq!(ev.get_field("a.b.d"), None);
        assert_eq!(ev.get_field("a.c"), None);
        assert_eq!(ev.get_field("zz"), None);
    }

    #[test]
    fn a_flat_dotted_key_is_found_too() {
        let m = obj(json!({"url.domain": "flat.example", "event": {"dataset": "web"}}));
        let ev = EcsEvent::new(&m);
        assert_eq!(
            ev.get_field("url.domain"),
            Some(EventValue::Str(Cow::Borrowed("flat.example")))
        );
        assert_eq!(
            ev.get_field("event.dataset"),
            Some(EventValue::Str(Cow::Borrowed("web")))
        );
    }

    #[test]
    fn path_crossing_an_array_yields_every_member() {
        let m = obj(json!({"dns": {"answers": [{"data": "1.1.1.1"}, {"data": "2.2.2.2"}]}}));
        let ev = EcsEvent::new(&m);
        match ev.get_field("dns.answers.data") {
            Some(EventValue::Array(v)) => assert_eq!(v.len(), 2),
            other => panic!("expected an array, got {other:?}"),
        }
    }

    #[test]
    fn every_path_is_found_in_events_of_any_size() {
        // 100 paths share some of the table's slots; 300 overflow it.
        for n in [100, 300] {
            let m: Map<String, Value> = (0..n).map(|i| (format!("k{i}"), json!(i))).collect();
            let ev = EcsEvent::new(&m);
            for i in 0..n {
                assert_eq!(
                    ev.get_field(&format!("k{i}")),
                    Some(EventValue::Int(i)),
                    "{n}"
                );
            }
            assert_eq!(ev.get_field(&format!("k{n}")), None);
        }
    }

    #[test]
    fn escaped_user_agent_is_decoded() {
        let m = obj(json!({"user_agent": {"original": "Mozilla/5.0%20(X11)"}}));
        let ev = EcsEvent::new(&m);
        assert_eq!(
            ev.get_field("user_agent.original"),
            Some(EventValue::Str(Cow::Owned("Mozilla/5.0 (X11)".into())))
        );
    }

    #[test]
    fn visit_strs_flattens_arrays() {
        let m = obj(json!({"related": {"ip": ["1.2.3.4", "5.6.7.8"]}}));
        let mut seen = Vec::new();
        visit_strs(&m, "related.ip", &mut |s| seen.push(s.to_string()));
        assert_eq!(seen, vec!["1.2.3.4", "5.6.7.8"]);
    }
}
