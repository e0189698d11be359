//! Value-level helpers: timestamps, percent and base64 decoding, URL splitting, public-suffix
//! domain parts, user-agent parsing.

use std::borrow::Cow;
use std::cell::RefCell;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::OnceLock;

use base64::Engine;
use chrono::{NaiveDate, NaiveDateTime};

use crate::ecs::{p, Ev};

/// True for the values NSS writes when a field has no value.
pub(crate) fn is_placeholder(v: &str) -> bool {
    // Between two visible ASCII ends there is nothing to trim (every Unicode space is either
    // an ASCII control/space byte or starts with a byte >= 0x80): skip the trim, which
    // decodes characters from both ends, for the usual value.
    let visible = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b < 0x80);
    let b = v.as_bytes();
    if visible(b.first()) && visible(b.last()) {
        return matches!(v, "NA" | "None");
    }
    matches!(v.trim(), "" | "NA" | "None")
}

/// Decodes `%HH` sequences in a human-readable value (NSS escapes the feed's escape
/// characters that way); invalid sequences and non-UTF-8 results are kept as they came.
pub(crate) fn decode_human(v: &str) -> Cow<'_, str> {
    if !v.contains('%') {
        return Cow::Borrowed(v);
    }
    percent_encoding::percent_decode_str(v).decode_utf8_lossy()
}

/// Decodes a base64 field (`b64url`, `b64referer`, `b64ua`).
pub(crate) fn decode_b64(v: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(v.trim()))
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Normalises a ZIA time to RFC 3339 UTC (`2023-08-28T15:43:14Z`). Accepts ctime
/// (`Mon Aug 28 08:04:30 2023`, `Thu Jan  9 …`, a weekday that does not match the date),
/// `2023-08-28 15:43:14`, RFC 3339, two-digit years in either form (taken as 20yy), and epoch
/// seconds or milliseconds.
pub(crate) fn normalize_time(v: &str) -> Option<String> {
    normalize_time_in(v, 0)
}

/// [`normalize_time`] for a feed whose times without an offset are `offset` seconds east of
/// UTC (the feed's `tz`).
pub(crate) fn normalize_time_in(v: &str, offset: i32) -> Option<String> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return epoch_to_rfc3339(v);
    }
    let (dt, zoned) = parse_time(v).or_else(|| {
        // A time zone name after a ctime or ISO time (`… 2023 GMT`).
        let (head, tail) = v.rsplit_once(' ')?;
        let off = tz_offset(tail)?;
        let (dt, _) = parse_time(head.trim_end())?;
        Some((dt - chrono::Duration::seconds(off.into()), true))
    })?;
    let dt = if zoned || offset == 0 {
        dt
    } else {
        dt - chrono::Duration::seconds(offset.into())
    };
    Some(rfc3339(dt))
}

/// The offset east of UTC, in seconds, of a time zone as a feed's `tz` gives it: `GMT`,
/// `UTC`, a common abbreviation (`PST`, `CEST`, `IST`…), or a fixed offset (`+05:30`,
/// `GMT-8`, `UTC+0100`). `None` for anything else (IANA names included).
pub(crate) fn tz_offset(tz: &str) -> Option<i32> {
    let t = tz.trim();
    let upper = t.to_ascii_uppercase();
    const H: i32 = 3600;
    let named = match upper.as_str() {
        "GMT" | "UTC" | "Z" | "UT" | "WET" | "ETC/UTC" | "ETC/GMT" => Some(0),
        "BST" | "CET" | "WEST" | "MET" => Some(H),
        "CEST" | "EET" | "SAST" | "MEST" => Some(2 * H),
        "EEST" | "MSK" | "AST3" => Some(3 * H),
        "GST" => Some(4 * H),
        "PKT" => Some(5 * H),
        "IST" => Some(5 * H + 1800),
        "ICT" | "WIB" => Some(7 * H),
        "SGT" | "HKT" | "AWST" | "CST8" => Some(8 * H),
        "JST" | "KST" => Some(9 * H),
        "ACST" => Some(9 * H + 1800),
        "AEST" => Some(10 * H),
        "AEDT" => Some(11 * H),
        "NZST" => Some(12 * H),
        "NZDT" => Some(13 * H),
        "ADT" => Some(-3 * H),
        "EDT" => Some(-4 * H),
        "EST" | "CDT" => Some(-5 * H),
        "CST" | "MDT" => Some(-6 * H),
        "MST" | "PDT" => Some(-7 * H),
        "PST" | "AKDT" => Some(-8 * H),
        "AKST" => Some(-9 * H),
        "HST" => Some(-10 * H),
        _ => None,
    };
    if named.is_some() {
        return named;
    }
    let rest = upper
        .strip_prefix("GMT")
        .or_else(|| upper.strip_prefix("UTC"))
        .unwrap_or(&upper);
    let (sign, digits) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    let (h, m) = match digits.split_once(':') {
        Some((h, m)) => (h, m),
        None if digits.len() == 4 => digits.split_at(2),
        None => (digits, "0"),
    };
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    Some(sign * (h * H + m * 60))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, written directly: chrono's `format` re-parses its pattern on
/// every call, which showed in the parse profile.
fn rfc3339(dt: NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    if (0..=9999).contains(&dt.year()) {
        // The usual case, without the formatting machinery.
        let mut b = *b"0000-00-00T00:00:00Z";
        let year = dt.year() as u32;
        for (i, v) in [year / 100, year % 100, dt.month(), dt.day()]
            .into_iter()
            .chain([dt.hour(), dt.minute(), dt.second()])
            .enumerate()
        {
            // Positions of the two-digit groups: 0 2 5 8 11 14 17.
            let at = [0, 2, 5, 8, 11, 14, 17][i];
            b[at] = b'0' + (v / 10 % 10) as u8;
            b[at + 1] = b'0' + (v % 10) as u8;
        }
        // Only ASCII digits and separators: always UTF-8.
        return std::str::from_utf8(&b)
            .map(str::to_owned)
            .unwrap_or_default();
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// `YYYY-MM-DD HH:MM:SS` (or with `T`), the web feed's form, without chrono's pattern parser.
fn parse_iso_fast(v: &str) -> Option<NaiveDateTime> {
    let b = v.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b' ' || b[10] == b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)
}

/// `Www Mmm DD HH:MM:SS YYYY` (the day may be space-padded or one digit) with a four-digit
/// year, the ctime form most feeds send, without chrono's pattern parser. The weekday is
/// not checked against the date: feeds have been seen to send ones that do not match, and the
/// date is what counts. Anything else is left to the general path.
fn parse_ctime_fast(v: &str) -> Option<NaiveDateTime> {
    let b = v.as_bytes();
    if b.len() < 23 || b[3] != b' ' || b[7] != b' ' {
        return None;
    }
    DAYS.iter().position(|d| d.as_bytes() == &b[..3])?;
    let month = MONTHS.iter().position(|m| m.as_bytes() == &b[4..7])? as u32 + 1;
    let digit = |c: u8| c.is_ascii_digit().then(|| u32::from(c - b'0'));
    let (day, rest) = match (b[8], b[9], b[10]) {
        (b' ', d, b' ') => (digit(d)?, &b[11..]),
        (d1, d2, b' ') => (digit(d1)? * 10 + digit(d2)?, &b[11..]),
        (d, b' ', _) => (digit(d)?, &b[10..]),
        _ => return None,
    };
    // "HH:MM:SS YYYY", the year not starting with 0 (two-digit and padded years go the
    // general way).
    if rest.len() != 13 || rest[2] != b':' || rest[5] != b':' || rest[8] != b' ' || rest[9] == b'0'
    {
        return None;
    }
    let two = |i: usize| Some(digit(rest[i])? * 10 + digit(rest[i + 1])?);
    let year = two(9)? * 100 + two(11)?;
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    date.and_hms_opt(two(0)?, two(3)?, two(6)?)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// The time, and whether the text carried its own offset (then it is already UTC).
fn parse_time(v: &str) -> Option<(NaiveDateTime, bool)> {
    let first = *v.as_bytes().first()?;
    if first.is_ascii_alphabetic() {
        if let Some(dt) = parse_ctime_fast(v) {
            return Some((dt, false));
        }
        // ctime: collapse padding spaces (`Dec  31`, `Jan  9`) and drop the weekday, which
        // chrono would check against the date.
        let mut words: Vec<&str> = v.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| w.len() >= 3 && DAYS.iter().any(|d| w[..3].eq_ignore_ascii_case(d)))
        {
            words.remove(0);
        }
        let norm = words.join(" ");
        if let Ok(dt) = NaiveDateTime::parse_from_str(&norm, "%b %d %H:%M:%S %Y") {
            return Some((fix_two_digit_year(dt, &norm), false));
        }
        return None;
    }
    if let Some(dt) = parse_iso_fast(v) {
        return Some((dt, false));
    }
    if v.len() > 10
        && (v.ends_with('Z') || v.contains('+') || v.get(10..).is_some_and(|t| t.contains('-')))
    {
        if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(v) {
            return Some((dt.naive_utc(), true));
        }
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y/%m/%d %H:%M:%S",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(v, f) {
            return Some((fix_two_digit_year(dt, v), false));
        }
    }
    None
}

/// chrono reads `23` in `%Y` as the year 23; NSS `%d{yy}` means 2023.
fn fix_two_digit_year(dt: NaiveDateTime, text: &str) -> NaiveDateTime {
    use chrono::Datelike;
    if dt.year() >= 100 {
        return dt;
    }
    let _ = text;
    NaiveDate::from_ymd_opt(2000 + dt.year(), dt.month(), dt.day())
        .map(|d| d.and_time(dt.time()))
        .unwrap_or(dt)
}

/// Seconds since 1970 to RFC 3339 UTC; a value of 13 digits or more is milliseconds, written
/// with them (`…:14.123Z`).
pub(crate) fn epoch_to_rfc3339(v: &str) -> Option<String> {
    let n: i64 = v.trim().parse().ok()?;
    if n >= 100_000_000_000 {
        let dt = chrono::DateTime::from_timestamp_millis(n)?;
        let base = rfc3339(dt.naive_utc());
        let ms = n.rem_euclid(1000);
        return Some(format!("{}.{ms:03}Z", base.trim_end_matches('Z')));
    }
    let dt = chrono::DateTime::from_timestamp(n, 0)?;
    Some(rfc3339(dt.naive_utc()))
}

/// What an NSS feed-health alert says.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct NssAlert<'a> {
    /// The connection it is about (`SIEM Feed`, `Zscaler cloud configuration`).
    pub connection: Option<&'a str>,
    /// The feed's name, for a SIEM feed connection.
    pub feed: Option<&'a str>,
    pub ip: Option<String>,
    pub port: Option<u16>,
    /// For how long the connection has been lost, when it says so.
    pub lost_minutes: Option<f64>,
}

/// Reads an NSS alert message such as `SIEM Feed connection "Web" to 10.0.0.1:514 lost and
/// unavailable for the past 12.00 minutes`; parts it cannot find are `None`.
pub(crate) fn nss_alert(msg: &str) -> NssAlert<'_> {
    let mut a = NssAlert::default();
    if let Some(i) = msg.find(" connection") {
        a.connection = Some(msg[..i].trim()).filter(|c| !c.is_empty());
    }
    if let Some(start) = msg.find('"') {
        if let Some(len) = msg[start + 1..].find('"') {
            a.feed = Some(&msg[start + 1..start + 1 + len]);
        }
    }
    if let Some(i) = msg.find(" to ") {
        let target = msg[i + 4..].trim_start().split(' ').next().unwrap_or("");
        let (host, port) = match target.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => (h, p.parse().ok()),
            _ => (target, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            a.ip = Some(ip.to_string());
        }
        a.port = port;
    }
    if msg.contains(" lost") {
        a.lost_minutes = msg
            .split_once("for the past ")
            .and_then(|(_, r)| r.split_whitespace().next())
            .and_then(|n| n.parse().ok());
    }
    a
}

/// The parts of a URL as NSS writes it (usually without a scheme).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct UrlParts<'a> {
    pub scheme: Option<&'a str>,
    pub host: Option<&'a str>,
    pub port: Option<u16>,
    pub path: Option<&'a str>,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

/// Splits a URL with or without scheme.
pub(crate) fn split_url(u: &str) -> UrlParts<'_> {
    let mut p = UrlParts::default();
    let mut rest = u.trim();
    // The first "://", found from the colons: `str::find` with a string pattern sets up a
    // two-way searcher on every call.
    let sep = memchr::memchr_iter(b':', rest.as_bytes())
        .find(|&i| rest.as_bytes().get(i + 1..i + 3) == Some(b"//"));
    if let Some(i) = sep {
        let scheme = &rest[..i];
        if !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
        {
            p.scheme = Some(scheme);
            rest = &rest[i + 3..];
        }
    }
    if let Some(i) = rest.find('#') {
        p.fragment = Some(&rest[i + 1..]).filter(|f| !f.is_empty());
        rest = &rest[..i];
    }
    if let Some(i) = rest.find('?') {
        p.query = Some(&rest[i + 1..]).filter(|q| !q.is_empty());
        rest = &rest[..i];
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    p.path = path;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(end) = authority.strip_prefix('[').and_then(|a| a.find(']')) {
        let host = &authority[1..end + 1];
        let port = authority[end + 2..]
            .strip_prefix(':')
            .and_then(|p| p.parse().ok());
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) if !h.contains(':') => (h, port.parse().ok()),
            _ => (authority, None),
        }
    };
    p.host = Some(host).filter(|h| !h.is_empty());
    p.port = port.or_else(|| match p.scheme.map(str::to_ascii_lowercase).as_deref() {
        Some("https") | Some("wss") => Some(443),
        Some("http") | Some("ws") => Some(80),
        Some("ftp") => Some(21),
        _ => None,
    });
    p
}

/// The file extension of a URL path's last segment, without the dot.
pub(crate) fn extension(path: &str) -> Option<&str> {
    let last = path.rsplit('/').next()?;
    let (_, ext) = last.rsplit_once('.')?;
    (!ext.is_empty() && ext.len() <= 16 && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(ext)
}

/// Writes `<prefix>.registered_domain`, `.subdomain` and `.top_level_domain` for a host name
/// (nothing for IP addresses), using the public-suffix list. `prefix` is `url`,
/// `destination` or `dns.question`.
pub(crate) fn domain_parts(ev: &mut Ev, prefix: &str, host: &str) {
    if host.parse::<IpAddr>().is_ok() || !host.contains('.') {
        return;
    }
    let lower: Cow<str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    };
    let host = lower.trim_end_matches('.');
    // One walk of the suffix list: the registrable domain carries its suffix (the same one
    // `suffix_str` finds); only a host that is itself a suffix needs the second lookup.
    let domain = psl::domain(host.as_bytes()).map(psl::Domain::trim);
    let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_owned);
    let (suffix, reg) = match domain {
        Some(d) => (text(d.suffix().as_bytes()), text(d.as_bytes())),
        None => (psl::suffix_str(host).map(str::to_owned), None),
    };
    let Some(suffix) = suffix else {
        return;
    };
    let [tld, registered, sub] = match prefix {
        "url" => [
            p!("url.top_level_domain"),
            p!("url.registered_domain"),
            p!("url.subdomain"),
        ],
        "destination" => [
            p!("destination.top_level_domain"),
            p!("destination.registered_domain"),
            p!("destination.subdomain"),
        ],
        _ => [
            p!("dns.question.top_level_domain"),
            p!("dns.question.registered_domain"),
            p!("dns.question.subdomain"),
        ],
    };
    ev.s(tld, suffix);
    if let Some(reg) = reg {
        if host.len() > reg.len() + 1 {
            ev.s(sub, &host[..host.len() - reg.len() - 1]);
        }
        ev.s(registered, reg);
    }
}

/// What the user-agent parser found.
#[derive(Clone, Debug)]
pub(crate) struct UaInfo {
    pub name: String,
    pub version: Option<String>,
    pub os_name: String,
    pub os_version: Option<String>,
    pub device: String,
}

static EXTRACTOR: OnceLock<Option<ua_parser::Extractor<'static>>> = OnceLock::new();

/// uap-core's regexes, embedded (Apache-2.0, see data/uap-core/LICENSE).
static REGEXES: &str = include_str!("../data/uap-core/regexes.json");

fn extractor() -> Option<&'static ua_parser::Extractor<'static>> {
    EXTRACTOR
        .get_or_init(|| {
            let regexes: ua_parser::Regexes<'static> = serde_json::from_str(REGEXES).ok()?;
            ua_parser::Extractor::try_from(regexes).ok()
        })
        .as_ref()
}

/// Distinct user agents per thread whose parse is cached: real traffic repeats a few
/// hundred agents, and a regex pass over uap-core costs tens of microseconds.
const UA_CACHE: usize = 4096;

thread_local! {
    static CACHE: RefCell<lru::LruCache<String, UaInfo>> =
        RefCell::new(lru::LruCache::new(NonZeroUsize::new(UA_CACHE).expect("non-zero")));
}

/// Parses a user agent with uap-core semantics ("Other" when nothing matches).
pub(crate) fn parse_ua(ua: &str) -> Option<UaInfo> {
    if let Some(hit) = CACHE.with(|c| c.borrow_mut().get(ua).cloned()) {
        return Some(hit);
    }
    let ex = extractor()?;
    let (u, o, d) = ex.extract(ua);
    let join = |parts: [Option<&str>; 3]| -> Option<String> {
        let v: Vec<&str> = parts
            .into_iter()
            .map_while(|p| p.filter(|s| !s.is_empty()))
            .collect();
        (!v.is_empty()).then(|| v.join("."))
    };
    let info = UaInfo {
        name: u
            .as_ref()
            .map_or("Other".to_owned(), |u| u.family.to_string()),
        version: u.as_ref().and_then(|u| join([u.major, u.minor, u.patch])),
        os_name: o.as_ref().map_or("Other".to_owned(), |o| o.os.to_string()),
        os_version: o
            .as_ref()
            .and_then(|o| join([o.major.as_deref(), o.minor.as_deref(), o.patch.as_deref()])),
        device: d
            .as_ref()
            .map_or("Other".to_owned(), |d| d.device.to_string()),
    };
    CACHE.with(|c| c.borrow_mut().put(ua.to_owned(), info.clone()));
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_with_padded_day_becomes_rfc3339() {
        assert_eq!(
            normalize_time("Thu Jan  9 08:04:30 2025").as_deref(),
            Some("2025-01-09T08:04:30Z")
        );
    }

    #[test]
    fn iso_like_time_becomes_rfc3339() {
        assert_eq!(
            normalize_time("2023-08-28 15:43:14").as_deref(),
            Some("2023-08-28T15:43:14Z")
        );
    }

    #[test]
    fn two_digit_year_is_this_century() {
        assert_eq!(
            normalize_time("23-08-28 15:43:14").as_deref(),
            Some("2023-08-28T15:43:14Z")
        );
        assert_eq!(
            normalize_time("Mon Aug 28 08:04:30 23").as_deref(),
            Some("2023-08-28T08:04:30Z")
        );
    }

    #[test]
    fn a_weekday_that_does_not_match_the_date_is_ignored() {
        assert_eq!(
            normalize_time("Thu Dec 31 11:11:11 2021").as_deref(),
            Some("2021-12-31T11:11:11Z")
        );
    }

    #[test]
    fn two_spaces_before_a_two_digit_day_are_accepted() {
        assert_eq!(
            normalize_time("Tue Dec  31 11:11:11 2021").as_deref(),
            Some("2021-12-31T11:11:11Z")
        );
    }

    #[test]
    fn epoch_seconds_and_milliseconds_become_rfc3339() {
        assert_eq!(
            normalize_time("1700000000").as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            normalize_time("1700000000123").as_deref(),
            Some("2023-11-14T22:13:20.123Z")
        );
    }

    #[test]
    fn a_feed_time_zone_shifts_times_without_an_offset() {
        let pst = tz_offset("PST").unwrap();
        assert_eq!(
            normalize_time_in("2023-08-28 15:43:14", pst).as_deref(),
            Some("2023-08-28T23:43:14Z")
        );
        // A time that carries its own offset is already UTC.
        assert_eq!(
            normalize_time_in("2023-08-28T15:43:14Z", pst).as_deref(),
            Some("2023-08-28T15:43:14Z")
        );
    }

    #[test]
    fn time_zones_are_read_as_names_or_offsets() {
        assert_eq!(tz_offset("GMT"), Some(0));
        assert_eq!(tz_offset("IST"), Some(19_800));
        assert_eq!(tz_offset("+05:30"), Some(19_800));
        assert_eq!(tz_offset("GMT-8"), Some(-28_800));
        assert_eq!(tz_offset("UTC+0100"), Some(3600));
        assert_eq!(tz_offset("Mars/Olympus"), None);
    }

    #[test]
    fn a_time_zone_name_after_the_time_is_applied() {
        assert_eq!(
            normalize_time("Mon Aug 28 08:04:30 2023 CEST").as_deref(),
            Some("2023-08-28T06:04:30Z")
        );
    }

    #[test]
    fn an_nss_feed_alert_is_read() {
        let a = nss_alert(
            r#"SIEM Feed connection "DNS Feed" to 192.0.2.7:9012 lost and unavailable for the past 12.50 minutes"#,
        );
        assert_eq!(a.connection, Some("SIEM Feed"));
        assert_eq!(a.feed, Some("DNS Feed"));
        assert_eq!(a.ip.as_deref(), Some("192.0.2.7"));
        assert_eq!(a.port, Some(9012));
        assert_eq!(a.lost_minutes, Some(12.5));
    }

    #[test]
    fn garbage_time_is_rejected() {
        assert_eq!(normalize_time("yesterday"), None);
    }

    #[test]
    fn url_without_scheme_splits_into_host_path_query() {
        let p = split_url("www.google.fr/maps/vt?x=1&y=2");
        assert_eq!(p.host, Some("www.google.fr"));
        assert_eq!(p.path, Some("/maps/vt"));
        assert_eq!(p.query, Some("x=1&y=2"));
        assert_eq!(p.port, None);
    }

    #[test]
    fn bare_host_has_no_path() {
        let p = split_url("a.et.nytimes.com");
        assert_eq!(p.host, Some("a.et.nytimes.com"));
        assert_eq!(p.path, None);
    }

    #[test]
    fn host_with_port_and_https_default_port() {
        assert_eq!(split_url("www.example.com:443").port, Some(443));
        let p = split_url("https://example.org/sites/");
        assert_eq!(
            (p.scheme, p.port, p.path),
            (Some("https"), Some(443), Some("/sites/"))
        );
    }

    #[test]
    fn ipv6_host_in_brackets() {
        let p = split_url("[2001:db8::1]:8080/x");
        assert_eq!((p.host, p.port), (Some("2001:db8::1"), Some(8080)));
    }

    #[test]
    fn percent_decoding_keeps_invalid_sequences() {
        assert_eq!(decode_human("Road%20Warrior"), "Road Warrior");
        assert_eq!(decode_human("100%"), "100%");
    }

    #[test]
    fn extension_of_path() {
        assert_eq!(extension("/a/b/pinrulesstl.cab"), Some("cab"));
        assert_eq!(extension("/a/b/"), None);
    }
}
