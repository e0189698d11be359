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
#[derive(Debug, Clone)]
pub struct EcsEvent<'a> {
    map: &'a Map<String, Value>,
    /// Whether some top-level key holds a dot (`"url.domain": ...`); when none does (the
    /// normal case for nested ECS), lookups skip the flat-key probe at each level.
    flat_keys: bool,
    /// Sorted hashes of every dotted path in the event. Most lookups the engine makes are
    /// for fields the event does not have; a miss here answers them without walking the
    /// nested maps. A hit is always confirmed by the walk, so a collision costs time only.
    paths: Vec<u64>,
    /// False when an array holds objects (paths through it are not hashed): no fast miss.
    fast_miss: bool,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

fn hash_paths(
    map: &Map<String, Value>,
    prefix: Option<u64>,
    out: &mut Vec<u64>,
    depth: usize,
) -> bool {
    if depth == 0 {
        return false;
    }
    let mut ok = true;
    for (k, v) in map {
        let h = match prefix {
            Some(p) => fnv(fnv(p, b"."), k.as_bytes()),
            None => fnv(FNV_OFFSET, k.as_bytes()),
        };
        out.push(h);
        match v {
            Value::Object(inner) => ok &= hash_paths(inner, Some(h), out, depth - 1),
            Value::Array(items) if items.iter().any(Value::is_object) => ok = false,
            _ => {}
        }
    }
    ok
}

impl<'a> EcsEvent<'a> {
    /// Wraps a borrowed event.
    pub fn new(map: &'a Map<String, Value>) -> Self {
        let flat_keys = map.keys().any(|k| k.contains('.'));
        let mut paths = Vec::with_capacity(64);
        let fast_miss = hash_paths(map, None, &mut paths, MAX_DEPTH);
        paths.sort_unstable();
        Self {
            map,
            flat_keys,
            paths,
            fast_miss,
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
            return match get_path(self.map, "event.action")? {
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
            return match get_path(self.map, "event.dataset")? {
                Value::String(d) => Some(EventValue::Str(Cow::Borrowed(sigma_category(d)))),
                _ => None,
            };
        }
        if path == "user_agent.original" {
            return get_str(self.map, path).map(|ua| match ua {
                Cow::Borrowed(s) => EventValue::Str(decode_user_agent(s)),
                Cow::Owned(s) => EventValue::Str(Cow::Owned(decode_user_agent(&s).into_owned())),
            });
        }
        if self.fast_miss
            && self
                .paths
                .binary_search(&fnv(FNV_OFFSET, path.as_bytes()))
                .is_err()
        {
            return None;
        }
        // Walk the dotted path without allocating unless it crosses an array.
        let mut cur = self.map;
        let mut rest = path;
        for level in 0..MAX_DEPTH {
            if level == 0 && self.flat_keys || !rest.contains('.') {
                if let Some(v) = cur.get(rest) {
                    return Some(to_event_value(v, MAX_DEPTH));
                }
            }
            let (head, tail) = rest.split_once('.')?;
            match cur.get(head)? {
                Value::Object(inner) => {
                    cur = inner;
                    rest = tail;
                }
                Value::Array(_) => {
                    let mut found: Vec<&Value> = Vec::new();
                    collect_path(cur, rest, MAX_DEPTH, &mut |v| found.push(v));
                    return match found.len() {
                        0 => None,
                        1 => Some(to_event_value(found[0], MAX_DEPTH)),
                        _ => Some(EventValue::Array(
                            found
                                .into_iter()
                                .map(|v| to_event_value(v, MAX_DEPTH))
                                .collect(),
                        )),
                    };
                }
                _ => return None,
            }
        }
        None
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.map.values().any(|v| any_string(v, pred, MAX_DEPTH))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        for v in self.map.values() {
            visit_strings(v, &mut |s| out.push(Cow::Borrowed(s)), MAX_DEPTH);
        }
        out
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        for v in self.map.values() {
            visit_strings(v, &mut |s| visit(s), MAX_DEPTH);
        }
    }

    fn to_json(&self) -> Value {
        Value::Object(self.map.clone())
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        let mut keys: Vec<Cow<'_, str>> =
            self.map.keys().map(|k| Cow::Borrowed(k.as_str())).collect();
        keys.push(Cow::Borrowed(VIRTUAL_ROOT));
        Some(keys)
    }

    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        for k in self.map.keys() {
            visit(k);
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
