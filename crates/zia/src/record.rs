//! From raw text to a flat record: syslog header stripped, JSON or key=value decoded into
//! an ordered list of `(key, value)` entries, borrowing from the input where possible.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

use crate::ParseError;

/// One value of a record: text (numbers and booleans are kept as their text, as NSS
/// sends them quoted or not) or a nested JSON value nobody expected.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    /// Text, numbers and booleans.
    Str(Cow<'a, str>),
    /// A nested object or array, kept as JSON.
    Json(serde_json::Value),
}

/// A decoded record before mapping: the sourcetype and the entries, in input order.
#[derive(Debug, Default)]
pub(crate) struct Record<'a> {
    pub sourcetype: Option<Cow<'a, str>>,
    pub entries: Vec<(Cow<'a, str>, Val<'a>)>,
    /// True when the JSON had to be repaired (unescaped quotes or backslashes) to parse.
    pub repaired: bool,
}

/// The tag of NSS feed-health alerts in their syslog messages.
const ALERT_TAG: &str = "ZscalerNSS:";

/// Decodes one raw line (syslog-prefixed or not) into a [`Record`].
pub(crate) fn decode(raw: &str) -> Result<Record<'_>, ParseError> {
    if let Some(rec) = nss_alert(raw) {
        return Ok(rec);
    }
    let msg = strip_header(raw);
    if msg.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let trimmed = msg.trim_start();
    if trimmed.starts_with('{') {
        return decode_json(trimmed);
    }
    if looks_like_kv(trimmed) {
        return Ok(decode_kv(trimmed));
    }
    // Some relays prepend text we do not know; JSON after it is still JSON.
    if let Some(i) = trimmed.find('{') {
        return decode_json(&trimmed[i..]);
    }
    Err(ParseError::Invalid(
        "not a ZIA record: expected a JSON object or tab-separated key=value pairs".into(),
    ))
}

fn decode_json(text: &str) -> Result<Record<'_>, ParseError> {
    let text = text.trim_end();
    if let Some(env) = fast::envelope(text) {
        return Ok(env.into_record());
    }
    match serde_json::from_str::<Envelope>(text) {
        Ok(env) => Ok(env.into_record()),
        Err(first) => {
            // Feeds put raw control characters (NUL, tabs, newlines) inside strings; JSON
            // forbids them, so escape them and try once more.
            if text.bytes().any(|b| b < 0x20) {
                let clean = sanitize_controls(text);
                if let Ok(env) = serde_json::from_str::<Envelope>(&clean) {
                    return Ok(env.into_record().into_owned());
                }
            }
            // Then quotes and backslashes that the feed did not escape.
            if let Some(fixed) = crate::repair::repair(text) {
                if let Ok(env) = serde_json::from_str::<Envelope>(&fixed) {
                    let mut rec = env.into_record().into_owned();
                    rec.repaired = true;
                    return Ok(rec);
                }
            }
            Err(json_error(first))
        }
    }
}

fn json_error(e: serde_json::Error) -> ParseError {
    ParseError::Invalid(format!(
        "invalid JSON at line {} column {}: {e}",
        e.line(),
        e.column()
    ))
}

/// Escapes control characters inside JSON strings (`\u00XX`) and drops those outside
/// strings that are not JSON whitespace.
fn sanitize_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_str = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_str {
            if escaped {
                escaped = false;
                out.push(c);
                continue;
            }
            match c {
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_str = false;
                    out.push(c);
                }
                c if (c as u32) < 0x20 => {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                }
                c => out.push(c),
            }
        } else {
            match c {
                '"' => {
                    in_str = true;
                    out.push(c);
                }
                ' ' | '\t' | '\n' | '\r' => out.push(c),
                c if (c as u32) < 0x20 => {}
                c => out.push(c),
            }
        }
    }
    out
}

/// An NSS feed-health alert: `<PRI>Mmm dd hh:mm:ss [HOST] ZscalerNSS: text`. The header's
/// time has no year; the year is the current one (the previous one when that would put the
/// alert more than a day in the future), as syslog receivers do.
fn nss_alert(raw: &str) -> Option<Record<'_>> {
    let (head, text) = match memchr::memmem::find(raw.as_bytes(), ALERT_TAG.as_bytes()) {
        Some(i) => (&raw[..i], raw[i + ALERT_TAG.len()..].trim()),
        None => untagged_alert(raw)?,
    };
    if head.contains('{') || head.len() > 120 {
        return None;
    }
    let mut rec = Record {
        sourcetype: Some(Cow::Borrowed("zscalernss-alert")),
        ..Record::default()
    };
    let head = strip_pri(head.trim_start()).unwrap_or(head).trim();
    let (ts, host) = match head.rsplit_once(' ') {
        Some((ts, host)) => (ts.trim(), host.trim()),
        None => ("", head),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Some(t) = syslog_time(ts) {
        rec.entries
            .push((Cow::Borrowed("time"), Val::Str(Cow::Owned(t))));
    }
    if !host.is_empty() {
        rec.entries
            .push((Cow::Borrowed("alerthost"), Val::Str(Cow::Borrowed(host))));
    }
    rec.entries
        .push((Cow::Borrowed("message"), Val::Str(Cow::Borrowed(text))));
    Some(rec)
}

/// An NSS alert without the tag, as new kinds of alert come: `<PRI>Mmm dd hh:mm:ss [HOST]
/// text`, the host in brackets and no JSON or key=value in the text. Returns the header (up to
/// the host) and the text.
fn untagged_alert(raw: &str) -> Option<(&str, &str)> {
    let s = strip_pri(raw.trim_start())?;
    let open = s.find(" [")?;
    let close = open + s[open..].find("] ")?;
    let ts = &s[..open];
    if ts.len() < 14 || !MONTHS.iter().any(|m| ts.starts_with(m)) {
        return None;
    }
    let text = s[close + 2..].trim();
    if text.is_empty() || text.contains('{') || looks_like_kv(text) {
        return None;
    }
    let head_len = raw.len() - s.len() + close + 1;
    Some((&raw[..head_len], text))
}

/// An RFC 3164 `Mmm dd hh:mm:ss` (given the year) or RFC 3339 time as `YYYY-MM-DD hh:mm:ss`
/// or RFC 3339 text.
fn syslog_time(ts: &str) -> Option<String> {
    if ts.len() > 10 && ts.as_bytes()[4] == b'-' {
        return Some(ts.to_owned());
    }
    let mut w = ts.split_whitespace();
    let mon = w.next()?;
    let month = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
    let day: u32 = w.next()?.parse().ok()?;
    let time = w.next()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    let now = chrono::DateTime::from_timestamp(now, 0)?.naive_utc();
    let t = chrono::NaiveTime::parse_from_str(time, "%H:%M:%S").ok()?;
    use chrono::Datelike;
    let mut year = now.year();
    let at = |y: i32| chrono::NaiveDate::from_ymd_opt(y, month, day).map(|d| d.and_time(t));
    if at(year)? > now + chrono::Duration::days(1) {
        year -= 1;
    }
    let dt = at(year)?;
    Some(dt.format("%Y-%m-%d %H:%M:%S").to_string())
}

fn looks_like_kv(s: &str) -> bool {
    let key_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(s.len());
    key_end > 0 && s[key_end..].starts_with('=')
}

/// Tab-separated `key=value` pairs, as NSS feeds configured with a tab-delimited format send.
fn decode_kv(s: &str) -> Record<'_> {
    let mut rec = Record::default();
    for part in s.split('\t') {
        let part = part.trim_end_matches(['\r', '\n']);
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if k.is_empty() {
            continue;
        }
        if k.eq_ignore_ascii_case("sourcetype") {
            rec.sourcetype = Some(Cow::Borrowed(v.trim()));
        } else {
            rec.entries
                .push((Cow::Borrowed(k), Val::Str(Cow::Borrowed(v))));
        }
    }
    rec
}

/// Skips a syslog header (RFC 3164 with or without PRI, or RFC 5424) and an `event=` prefix,
/// returning the message.
pub(crate) fn strip_header(raw: &str) -> &str {
    let s = raw.trim_start_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
    if s.starts_with('{') {
        return s;
    }
    let mut rest = s;
    if let Some(after) = strip_pri(rest) {
        rest = after;
        if let Some(after_v) = strip_5424_version(rest) {
            return strip_event_prefix(skip_5424(after_v));
        }
    }
    strip_event_prefix(skip_3164(rest))
}

fn strip_pri(s: &str) -> Option<&str> {
    let body = s.strip_prefix('<')?;
    let end = body.find('>')?;
    if end == 0 || end > 3 || !body[..end].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(&body[end + 1..])
}

fn strip_5424_version(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_digit() && b[1] == b' ' {
        Some(&s[2..])
    } else {
        None
    }
}

/// Splits off one space-delimited token.
fn token(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(' ');
    match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

/// RFC 5424 after the version: TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG.
fn skip_5424(s: &str) -> &str {
    let mut rest = s;
    for _ in 0..5 {
        rest = token(rest).1;
    }
    let rest = rest.trim_start_matches(' ');
    let rest = if let Some(r) = rest.strip_prefix('-') {
        r
    } else {
        skip_structured_data(rest)
    };
    rest.trim_start_matches(' ').trim_start_matches('\u{feff}')
}

fn skip_structured_data(s: &str) -> &str {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i] == b'[' {
        let mut in_quotes = false;
        i += 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 1,
                b'"' => in_quotes = !in_quotes,
                b']' if !in_quotes => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    s.get(i.min(s.len())..).unwrap_or("")
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 3164: `Mmm dd hh:mm:ss HOST [TAG[:]] MSG`, the day space-padded; the timestamp may
/// also be RFC 3339. Returns the input unchanged when it does not look like a header.
fn skip_3164(s: &str) -> &str {
    let after_ts =
        if s.len() >= 16 && MONTHS.iter().any(|m| s.starts_with(m)) && s.as_bytes()[3] == b' ' {
            // "Aug 28 08:04:30 " or "Aug  8 08:04:30 ": the time token is the third.
            let (_, r) = token(&s[4..]);
            let (time, r) = token(r);
            if time.len() != 8 || time.as_bytes()[2] != b':' {
                return s;
            }
            r
        } else if s.len() > 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[0].is_ascii_digit() {
            token(s).1
        } else {
            return s;
        };
    // HOST
    let (_, r) = token(after_ts);
    let r = r.trim_start_matches(' ');
    if r.starts_with('{') || looks_like_kv(r) || r.starts_with('<') {
        return r;
    }
    // TAG, e.g. "NSS", "NSS:", "zscaler[123]:"
    let (_, r) = token(r);
    r.trim_start_matches(' ')
}

fn strip_event_prefix(s: &str) -> &str {
    match s.strip_prefix("event=") {
        Some(r) if r.trim_start().starts_with('{') => r.trim_start(),
        _ => s,
    }
}

impl Record<'_> {
    /// Copies every borrowed string, detaching the record from its input.
    fn into_owned(self) -> Record<'static> {
        Record {
            sourcetype: self.sourcetype.map(|s| Cow::Owned(s.into_owned())),
            repaired: self.repaired,
            entries: self
                .entries
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
                        Val::Json(j) => Val::Json(j),
                    };
                    (Cow::Owned(k.into_owned()), v)
                })
                .collect(),
        }
    }
}

/// A scanner for the shape nearly every record has: an object of string (or null) values
/// whose `event` is an object of string (or null) values, no escapes, no control characters.
/// It builds exactly the [`Envelope`] the serde decoder below would, at a fraction of the
/// cost; on anything else (numbers, escapes, nesting, a syntax error) it gives up and the serde
/// decoder, with its error messages, takes over.
mod fast {
    use super::{Envelope, EventVal, Val};
    use std::borrow::Cow;

    struct Scan<'a> {
        text: &'a str,
        pos: usize,
        /// No backslash and no control character anywhere in the text: then the end of a
        /// string is simply the next quote.
        plain: bool,
    }

    impl<'a> Scan<'a> {
        fn peek(&self) -> Option<u8> {
            self.text.as_bytes().get(self.pos).copied()
        }

        /// Skips JSON whitespace.
        fn ws(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
                self.pos += 1;
            }
        }

        fn eat(&mut self, b: u8) -> Option<()> {
            (self.peek()? == b).then(|| self.pos += 1)
        }

        /// A string without escapes or control characters, borrowed.
        fn string(&mut self) -> Option<&'a str> {
            self.eat(b'"')?;
            let start = self.pos;
            let rest = &self.text.as_bytes()[start..];
            let len = if self.plain {
                memchr::memchr(b'"', rest)?
            } else {
                rest.iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?
            };
            let end = start + len;
            if self.text.as_bytes()[end] != b'"' {
                return None;
            }
            self.pos = end + 1;
            // Both ends sit next to an ASCII quote, so they are char boundaries.
            self.text.get(start..end)
        }

        /// A string value (`Some`), or `null` (`None`).
        fn value(&mut self) -> Option<Option<&'a str>> {
            if self.peek()? == b'n' {
                let rest = self.text.as_bytes().get(self.pos..self.pos + 4)?;
                if rest != b"null" {
                    return None;
                }
                self.pos += 4;
                return Some(None);
            }
            self.string().map(Some)
        }

        /// After a member: true on `,`, false on the closing `}`.
        fn more(&mut self) -> Option<bool> {
            self.ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    Some(true)
                }
                b'}' => {
                    self.pos += 1;
                    Some(false)
                }
                _ => None,
            }
        }

        /// `{` already seen and whitespace skipped: true when the object is empty.
        fn empty(&mut self) -> bool {
            if self.peek() == Some(b'}') {
                self.pos += 1;
                true
            } else {
                false
            }
        }

        /// A `"key": ` prefix.
        fn key(&mut self) -> Option<&'a str> {
            self.ws();
            let k = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            Some(k)
        }

        /// An object of string or null values; nulls are dropped, as the serde decoder does.
        fn fields(&mut self) -> Option<Vec<(Cow<'a, str>, Val<'a>)>> {
            self.eat(b'{')?;
            let mut out = Vec::with_capacity(48);
            self.ws();
            if self.empty() {
                return Some(out);
            }
            loop {
                let k = self.key()?;
                if let Some(v) = self.value()? {
                    out.push((Cow::Borrowed(k), Val::Str(Cow::Borrowed(v))));
                }
                if !self.more()? {
                    return Some(out);
                }
            }
        }
    }

    /// The envelope of `text` (trimmed at the end), when it has the common shape.
    pub(super) fn envelope(text: &str) -> Option<Envelope<'_>> {
        // A fold, not `any`, so that the check compiles to a vectorised pass.
        let special = text
            .bytes()
            .fold(false, |acc, b| acc | (b < 0x20) | (b == b'\\'));
        let mut s = Scan {
            text,
            pos: 0,
            plain: !special,
        };
        let mut env = Envelope {
            sourcetype: None,
            event: None,
            top: Vec::new(),
        };
        s.eat(b'{')?;
        s.ws();
        if !s.empty() {
            loop {
                let k = s.key()?;
                // The same decisions, in the same order, as `Envelope::deserialize`.
                if k == "sourcetype" {
                    if let Some(v) = s.value()? {
                        env.sourcetype = Some(Cow::Borrowed(v));
                    }
                } else if k == "event" && env.event.is_none() {
                    if s.peek()? == b'{' {
                        env.event = Some(EventVal::Fields(s.fields()?));
                    } else if s.value()?.is_some() {
                        // An event given as text: rare, left to the serde decoder.
                        return None;
                    }
                } else if let Some(v) = s.value()? {
                    env.top.push((Cow::Borrowed(k), Val::Str(Cow::Borrowed(v))));
                }
                if !s.more()? {
                    break;
                }
            }
        }
        s.ws();
        (s.pos == text.len()).then_some(env)
    }
}

// ---- serde plumbing: a borrowing, order-preserving decoder for the envelope ----

/// `{"sourcetype": …, "event": {…} | "k=v…", other top-level keys…}`
struct Envelope<'a> {
    sourcetype: Option<Cow<'a, str>>,
    event: Option<EventVal<'a>>,
    top: Vec<(Cow<'a, str>, Val<'a>)>,
}

enum EventVal<'a> {
    Fields(Vec<(Cow<'a, str>, Val<'a>)>),
    Text(Cow<'a, str>),
}

impl<'a> Envelope<'a> {
    fn into_record(self) -> Record<'a> {
        let mut rec = Record {
            sourcetype: self.sourcetype,
            entries: Vec::new(),
            repaired: false,
        };
        match self.event {
            Some(EventVal::Fields(f)) => {
                rec.entries = f;
                // Keys beside "event" (e.g. a leading "version") are kept after the event's own.
                rec.entries.extend(self.top);
            }
            Some(EventVal::Text(t)) => {
                // A JSON envelope whose event is itself a key=value or JSON string.
                let inner = match decode(&t) {
                    Ok(r) => r.into_owned(),
                    Err(_) => Record {
                        sourcetype: None,
                        repaired: false,
                        entries: vec![(
                            Cow::Borrowed("event"),
                            Val::Str(Cow::Owned(t.into_owned())),
                        )],
                    },
                };
                if rec.sourcetype.is_none() {
                    rec.sourcetype = inner.sourcetype;
                }
                rec.entries = inner.entries;
                rec.entries.extend(self.top);
            }
            // SaaS records whose fields sit at the top level.
            None => rec.entries = self.top,
        }
        rec
    }
}

struct BorrowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for BorrowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BorrowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(BorrowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A value that may be null (then `None`).
struct OptVal<'a>(Option<Val<'a>>);

impl<'de> Deserialize<'de> for OptVal<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OptVal<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(OptVal(Some(Val::Str(Cow::Borrowed(v)))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OptVal(Some(Val::Str(Cow::Owned(v.to_owned())))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(OptVal(Some(Val::Str(Cow::Owned(v)))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(OptVal(Some(Val::Str(Cow::Owned(v.to_string())))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(OptVal(Some(Val::Str(Cow::Owned(v.to_string())))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(OptVal(Some(Val::Str(Cow::Owned(v.to_string())))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(OptVal(Some(Val::Str(Cow::Borrowed(if v {
                    "true"
                } else {
                    "false"
                })))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptVal(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptVal(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(OptVal(Some(Val::Json(v))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(OptVal(Some(Val::Json(v))))
            }
        }
        d.deserialize_any(V)
    }
}

struct Fields<'a>(Vec<(Cow<'a, str>, Val<'a>)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(48));
                while let Some(BorrowStr(k)) = map.next_key()? {
                    let OptVal(v) = map.next_value()?;
                    if let Some(v) = v {
                        out.push((k, v));
                    }
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V)
    }
}

struct OptEvent<'a>(Option<EventVal<'a>>);

impl<'de> Deserialize<'de> for OptEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OptEvent<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an event object or string")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let Fields(f) = Fields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(OptEvent(Some(EventVal::Fields(f))))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(OptEvent(Some(EventVal::Text(Cow::Borrowed(v)))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OptEvent(Some(EventVal::Text(Cow::Owned(v.to_owned())))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptEvent(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Envelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a ZIA record object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut env = Envelope {
                    sourcetype: None,
                    event: None,
                    top: Vec::new(),
                };
                while let Some(BorrowStr(k)) = map.next_key()? {
                    if k == "sourcetype" {
                        if let OptVal(Some(Val::Str(s))) = map.next_value()? {
                            env.sourcetype = Some(s);
                        }
                    } else if k == "event" && env.event.is_none() {
                        let OptEvent(e) = map.next_value()?;
                        env.event = e;
                    } else {
                        let OptVal(v) = map.next_value()?;
                        if let Some(v) = v {
                            env.top.push((k, v));
                        }
                    }
                }
                Ok(env)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_bsd_header_with_app_name() {
        assert_eq!(
            strip_header("Aug 28 15:43:14 zscaler-nss NSS {\"a\":1}"),
            "{\"a\":1}"
        );
    }

    #[test]
    fn strips_bsd_header_without_app_name_and_padded_day() {
        assert_eq!(
            strip_header("Jan  9 08:04:30 zscaler-nss {\"a\":1}"),
            "{\"a\":1}"
        );
    }

    #[test]
    fn strips_rfc5424_header() {
        assert_eq!(
            strip_header("<134>1 2023-08-28T15:43:14Z zscaler-nss NSS - - - {\"a\":1}"),
            "{\"a\":1}"
        );
    }

    #[test]
    fn strips_rfc5424_structured_data_and_event_prefix() {
        assert_eq!(
            strip_header(
                "<134>1 2023-08-28T15:43:14Z zscaler-nss NSS - - [SEKOIA@53288 intake_key=\"k]\"] event={\"a\":1}"
            ),
            "{\"a\":1}"
        );
    }

    #[test]
    fn strips_bsd_header_before_key_value_pairs() {
        assert_eq!(
            strip_header("Aug 28 15:43:14 nss reason=Allowed\tx=1"),
            "reason=Allowed\tx=1"
        );
    }

    #[test]
    fn escapes_control_characters_inside_strings() {
        assert_eq!(
            sanitize_controls("{\"a\":\"x\u{0}y\"}\u{1}"),
            "{\"a\":\"x\\u0000y\"}"
        );
    }
}
