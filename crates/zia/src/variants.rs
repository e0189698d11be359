//! Key variants folded onto the vocabulary before mapping: NSS offers every field as is, as
//! `e<field>` (non-printable bytes and the feed's escape characters as `%HH`), as
//! `b64<field>` (base64) and as `o<field>` (obfuscated), and the newer published templates
//! nest fields in objects (`"rule":{"label":…}`, `"file":{"hash":{"md5":…}}`). A key the
//! vocabulary does not know is tried as one of these; its value is decoded when the variant
//! encodes it.

use std::borrow::Cow;

use serde_json::Value;

use crate::enrich::{decode_b64, decode_human};
use crate::keys::{lookup, K};
use crate::record::{Record, Val};

/// Keys whose value the mapping percent-decodes itself, or must never decode (URLs): an `e`
/// variant of them is left as it came.
const DECODED_LATER_OR_NEVER: &[K] = &[
    K::User,
    K::DeviceOwner,
    K::DeviceHost,
    K::Location,
    K::Department,
    K::ThreatCategory,
    K::ThreatClass,
    K::ThreatName,
    K::FileName,
    K::FileSource,
    K::RuleLabel,
    K::AdminId,
    K::UserAgent,
    K::Host,
    K::Url,
    K::Referer,
    K::FullUrl,
];

/// Deepest nesting of objects that is flattened into dotted keys.
const MAX_DEPTH: usize = 8;

/// The canonical key of every entry of `rec`, in entry order, with `true` when the key named
/// it directly (not through a variant), after flattening nested objects and decoding the
/// values of encoded variants in place.
pub(crate) fn normalize(rec: &mut Record<'_>) -> Vec<Option<(K, bool)>> {
    if rec
        .entries
        .iter()
        .any(|(_, v)| matches!(v, Val::Json(Value::Object(_))))
    {
        flatten(rec);
    }
    LAST_KEYS.with(|memo| {
        let Ok(mut memo) = memo.try_borrow_mut() else {
            return canonical(rec, &mut Vec::new());
        };
        canonical(rec, &mut memo)
    })
}

/// Most keys a record's memo remembers (a record with more looks the rest up every time).
const MEMO_KEYS: usize = 256;

thread_local! {
    /// The keys of the last record this thread normalized, in entry order, each with what
    /// the vocabulary says of it. A feed sends the same keys in the same order record after
    /// record, so a key is mostly compared with the one at its place in the previous record
    /// (a few bytes) instead of being folded to lower case and hashed.
    static LAST_KEYS: std::cell::RefCell<Vec<(String, Option<K>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn canonical(rec: &mut Record<'_>, memo: &mut Vec<(String, Option<K>)>) -> Vec<Option<(K, bool)>> {
    rec.entries
        .iter_mut()
        .enumerate()
        .map(|(i, (k, v))| {
            let direct = match memo.get_mut(i) {
                Some((key, c)) if key == k => *c,
                Some((key, c)) => {
                    key.clear();
                    key.push_str(k);
                    *c = lookup(k);
                    *c
                }
                None if i < MEMO_KEYS => {
                    let c = lookup(k);
                    memo.push((k.to_string(), c));
                    c
                }
                None => lookup(k),
            };
            match direct {
                Some(c) => Some((c, true)),
                None => variant(k, v).map(|c| (c, false)),
            }
        })
        .collect()
}

/// Replaces each entry holding an object by its leaves, keyed by dotted path.
fn flatten(rec: &mut Record<'_>) {
    let entries = std::mem::take(&mut rec.entries);
    for (k, v) in entries {
        match v {
            Val::Json(Value::Object(m)) => {
                let mut out = Vec::new();
                leaves(k.as_ref(), Value::Object(m), 0, &mut out);
                rec.entries
                    .extend(out.into_iter().map(|(k, v)| (Cow::Owned(k), v)));
            }
            v => rec.entries.push((k, v)),
        }
    }
}

fn leaves(prefix: &str, v: Value, depth: usize, out: &mut Vec<(String, Val<'static>)>) {
    match v {
        Value::Object(m) if depth < MAX_DEPTH && !m.is_empty() => {
            for (k, v) in m {
                leaves(&format!("{prefix}.{k}"), v, depth + 1, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_owned(), Val::Str(Cow::Owned(s)))),
        Value::Number(n) => out.push((prefix.to_owned(), Val::Str(Cow::Owned(n.to_string())))),
        Value::Bool(b) => out.push((prefix.to_owned(), Val::Str(Cow::Owned(b.to_string())))),
        v => out.push((prefix.to_owned(), Val::Json(v))),
    }
}

/// The canonical key of a key the vocabulary does not know directly: a nested path, or an
/// `e`, `b64` or `o` variant (whose value is then decoded).
fn variant(k: &str, v: &mut Val<'_>) -> Option<K> {
    if k.contains('.') {
        // `rule.label` is `rulelabel`; `file.hash.md5` is `md5`.
        let joined: String = k.chars().filter(|&c| c != '.').collect();
        return lookup(&joined).or_else(|| k.rsplit('.').next().and_then(lookup));
    }
    let lower = k.to_ascii_lowercase();
    if let Some(base) = lower.strip_prefix("b64") {
        let c = lookup(base)?;
        if let Val::Str(s) = v {
            // An undecodable value stays under its own key, unmapped.
            let decoded = decode_b64(s)?;
            *s = Cow::Owned(decoded);
        }
        return Some(c);
    }
    if let Some(base) = lower.strip_prefix('e') {
        let c = lookup(base)?;
        if let Val::Str(s) = v {
            if !DECODED_LATER_OR_NEVER.contains(&c) {
                if let Cow::Owned(d) = decode_human(s) {
                    *s = Cow::Owned(d);
                }
            }
        }
        return Some(c);
    }
    // An obfuscated value is still the same identity, pseudonymised: it maps like the field.
    lower.strip_prefix('o').and_then(lookup)
}

#[cfg(test)]
mod tests {
    fn get(raw: &str, path: &str) -> Option<String> {
        crate::parse_event(raw)
            .unwrap()
            .event
            .get_str(path)
            .map(str::to_owned)
    }

    #[test]
    fn a_key_at_the_place_of_another_in_the_previous_record_is_looked_up_afresh() {
        // Same thread, so the second record meets the memo of the first one's keys.
        let a = r#"{"sourcetype":"zscalernss-web","event":{"user":"a@example.com","hostname":"a.example.com"}}"#;
        let b = r#"{"sourcetype":"zscalernss-web","event":{"login":"b@example.com","ehostname":"b.example.com"}}"#;
        let c = r#"{"sourcetype":"zscalernss-web","event":{"xuser":"c@example.com","hostname":"c.example.com"}}"#;
        assert_eq!(get(a, "user.email").as_deref(), Some("a@example.com"));
        assert_eq!(get(b, "user.email").as_deref(), Some("b@example.com"));
        assert_eq!(
            get(b, "destination.domain").as_deref(),
            Some("b.example.com")
        );
        assert_eq!(get(c, "user.email"), None);
        assert_eq!(
            get(c, "zscaler.zia.xuser").as_deref(),
            Some("c@example.com")
        );
        assert_eq!(get(a, "user.email").as_deref(), Some("a@example.com"));
    }
}
