//! Compiles a parsed [`Query`] into a ClickHouse SQL condition over the events table.
//!
//! Every value of the query reaches SQL through [`lit`] (a quoted, escaped string literal),
//! as a number formatted by Rust, or as hex digits made here: nothing the user typed is
//! spliced into the SQL text as is. ClickHouse 18.16 has no bound query parameters over
//! HTTP, so escaping is the one way that works on every supported version.
//!
//! The semantics are the embedded store's (`plan.rs`): typed fields by type, every other
//! leaf as an exact `path=value` (its column for the parser's other fields, else the
//! `kv_keys`/`kv_values` arrays), bare terms over the words of the values that the embedded
//! store puts in its `_all` field (see [`bare`]), from the `words` column (the words of each
//! such value, `" w1 w2 |"`, each distinct value once) and, for the enumerated fields kept
//! out of it, from the values of the `enum_values` dictionary whose words match (as the
//! embedded store looks them up in its term dictionaries).

use std::sync::OnceLock;

use ipnet::IpNet;

use super::row::{col_name, columns, enum_fields, generic_column, ip_hex, tokens};
use crate::query::{wildcard_to_regex, Bound, Predicate, Query};
use crate::schema::{
    is_derived, looks_like_id, looks_like_ip, looks_numeric, parse_ip, typed_kind, FieldKind,
    TIMESTAMP, TYPED_FIELDS,
};
use crate::timerange::parse_instant;
use crate::StoreError;

/// A ClickHouse string literal of `s`: quoted, with `\` and `'` escaped (the only two
/// characters with a meaning inside a quoted literal).
pub fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            // Not needed for correctness, but keeps the SQL text on one line in logs.
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn invalid(field: &str, value: &str, expected: &str) -> StoreError {
    StoreError::InvalidValue {
        field: field.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// Checks a regex the way the embedded store does (whole value), so that a bad one is a
/// client error with the same message; returns the anchored pattern for `match()`.
fn whole_regex(r: &str) -> Result<String, StoreError> {
    let anchored = format!("^(?:{r})$");
    regex::Regex::new(&anchored)
        .map_err(|e| StoreError::Unsupported(format!("invalid regex /{r}/: {e}")))?;
    Ok(anchored)
}

/// The values of the enumerated fields (see [`enum_fields`]) stored so far: the
/// `enum_values` table, as `(field, value)` pairs. Bare terms match those whose words match.
pub type EnumValues = [(String, String)];

/// True when `q` has a bare term, phrase or pattern (whose SQL needs [`EnumValues`]).
pub fn has_bare(q: &Query) -> bool {
    match q {
        Query::All | Query::Match { field: Some(_), .. } => false,
        Query::Match { field: None, .. } => true,
        Query::Not(inner) => has_bare(inner),
        Query::And(qs) | Query::Or(qs) => qs.iter().any(has_bare),
    }
}

/// Compiles `q` into a boolean SQL expression; `enums` answers its bare terms over the
/// enumerated fields.
pub fn compile(q: &Query, enums: &EnumValues) -> Result<String, StoreError> {
    Ok(match q {
        Query::All => "1".to_string(),
        Query::Not(inner) => format!("NOT ({})", compile(inner, enums)?),
        Query::And(qs) => join(qs, "AND", enums)?,
        Query::Or(qs) => join(qs, "OR", enums)?,
        Query::Match { field: None, pred } => bare(pred, enums)?,
        Query::Match {
            field: Some(name),
            pred,
        } => field_match(name, pred)?,
    })
}

fn join(qs: &[Query], op: &str, enums: &EnumValues) -> Result<String, StoreError> {
    let parts: Vec<String> = qs
        .iter()
        .map(|q| compile(q, enums).map(|s| format!("({s})")))
        .collect::<Result<_, _>>()?;
    Ok(parts.join(&format!(" {op} ")))
}

/// A text column holds `" w1 w2 |"` per value (see [`super::row`]): a word sequence never
/// spans two values.
fn words_phrase(col: &str, text: &str) -> String {
    let toks = tokens(text);
    if toks.is_empty() {
        return "0".to_string();
    }
    format!(
        "position({col}, {}) > 0",
        lit(&format!(" {} ", toks.join(" ")))
    )
}

fn words_regex(col_expr: &str, anchored: &str) -> String {
    format!(
        "arrayExists(w -> w != '' AND w != '|' AND match(w, {}), splitByChar(' ', {col_expr}))",
        lit(anchored)
    )
}

/// The `LIKE` patterns of the paths [`is_derived`] names (checked against it by a test):
/// their values are left out of bare terms, as they are out of the embedded store's `_all`.
const DERIVED_LIKE: &[&str] = &[
    "related.%",
    "observer.%",
    "%.address",
    "%.registered\\_domain",
    "%.top\\_level\\_domain",
    "%.subdomain",
    "url.full",
    "url.path",
    "url.domain",
    "event.kind",
    "event.category",
    "event.type",
    "event.outcome",
    "ziaxdr.%",
    "zscaler.zia.source\\_type",
    "zscaler.zia.vendor",
    "zscaler.zia.product",
    "user\\_agent.%",
];

/// Where the words of bare terms are: the columns of the string fields whose values the
/// embedded store puts in `_all` (plain values), the text columns (already words), and
/// the key/value arrays (their entries of such fields).
struct WordColumns {
    plain: Vec<String>,
    text: Vec<String>,
    /// The values of the key/value arrays whose key is neither derived nor a date field.
    kv: String,
}

fn word_columns() -> &'static WordColumns {
    static COLS: OnceLock<WordColumns> = OnceLock::new();
    COLS.get_or_init(|| {
        let mut plain = Vec::new();
        let mut text = Vec::new();
        for (name, kind) in columns() {
            // Enumerated fields are answered from the `enum_values` dictionary instead.
            if is_derived(name) || enum_fields().contains(name) {
                continue;
            }
            match kind {
                None | Some(FieldKind::Keyword { .. }) => plain.push(col_name(name)),
                Some(FieldKind::Text) => text.push(col_name(name)),
                // Identifiers, addresses, numbers and dates are not words; their values
                // that do not fit the type are in the key/value arrays.
                _ => {}
            }
        }
        let mut left_out: Vec<String> = DERIVED_LIKE
            .iter()
            .map(|p| format!("k LIKE {}", lit(p)))
            .collect();
        let dates: Vec<String> = TYPED_FIELDS
            .iter()
            .filter(|(_, k)| *k == FieldKind::Date)
            .map(|(n, _)| lit(n))
            .collect();
        left_out.push(format!("k IN ({})", dates.join(", ")));
        let kv = format!(
            "arrayFilter((v, k) -> NOT ({}), kv_values, kv_keys)",
            left_out.join(" OR ")
        );
        WordColumns { plain, text, kv }
    })
}

/// A value the embedded store keeps out of `_all` (see `schema::looks_numeric`,
/// `looks_like_id`, `looks_like_ip`): a number, an identifier, an IP address.
const NOT_WORDS: &str = "(match(v, '^[0-9.\\\\-]{1,23}$') OR (length(v) >= 16 AND match(v, '^[0-9a-fA-F\\\\-]+$')) OR (length(v) <= 45 AND position(v, ':') > 0 AND IPv6StringToNum(v) != IPv6StringToNum('::')))";

/// The `words` of a row made by the server from its other columns (for rows stored before
/// schema version 4): the words of the same values, lowercased by the server, each distinct
/// value once, in the order of [`super::row::Row::words_text`].
pub fn words_from_columns() -> String {
    let w = word_columns();
    let all = format!("arrayConcat({}, {})", w.plain.join(", "), w.kv);
    let distinct = format!(
        "arrayDistinct(arrayFilter(x -> x != '', arrayMap(v -> if({NOT_WORDS}, '', arrayStringConcat(arrayFilter(w -> w != '' AND length(w) < 40, splitByChar(' ', replaceRegexpAll(lowerUTF8(v), '[^\\\\p{{L}}\\\\p{{N}}]+', ' '))), ' ')), {all})))"
    );
    // Less the values whose words are a run of another value's (`Row::words_text`).
    let values = format!(
        "arrayFilter(x -> NOT arrayExists(y -> length(y) > length(x) AND position(concat(' ', y, ' '), concat(' ', x, ' ')) > 0, {distinct}), {distinct})"
    );
    let text = if w.text.is_empty() {
        "''".to_string()
    } else {
        format!("arrayStringConcat(arrayConcat({}), '')", w.text.join(", "))
    };
    format!(
        "concat(if(empty({values}), '', concat(' ', arrayStringConcat({values}, ' | '), ' |')), {text})"
    )
}

/// The longest run of literal characters of a wildcard pattern (`\x` is the character
/// `x`), lowercased: every word it matches contains it.
fn wildcard_literal(p: &str) -> String {
    let (mut best, mut run) = (String::new(), String::new());
    let mut it = p.chars();
    while let Some(c) = it.next() {
        match c {
            '*' | '?' => {
                if run.len() > best.len() {
                    best = std::mem::take(&mut run);
                }
                run.clear();
            }
            '\\' => run.extend(it.next()),
            c => run.push(c),
        }
    }
    if run.len() > best.len() {
        best = run;
    }
    best.to_lowercase()
}

/// A bare term, phrase or pattern: the words of one value, as the embedded store tokenizes
/// them (runs of letters and digits, lowercased; a phrase never spans two values), of the
/// fields it puts in `_all`: every string field but the derived ones, and of a value only if
/// it is not a number, an identifier or an IP address. Those are the `words` column
/// (`" w1 w2 | w3 |"`): a term or a phrase is a substring of it, a wildcard or a regex
/// matches one of its words. The enumerated fields, kept out of `words`, match by the values
/// of `enums` whose words match (see [`enum_match`]).
pub fn bare(pred: &Predicate, enums: &EnumValues) -> Result<String, StoreError> {
    let words = bare_words(pred)?;
    Ok(match enum_match(pred, enums)? {
        Some(e) => format!("({words}) OR {e}"),
        None => words,
    })
}

fn bare_words(pred: &Predicate) -> Result<String, StoreError> {
    match pred {
        Predicate::Term(s) | Predicate::Phrase(s) => Ok(words_phrase("words", s)),
        Predicate::Wildcard(p) => Ok(words_regex(
            "words",
            &whole_regex(&wildcard_to_regex(&p.to_lowercase()))?,
        )),
        Predicate::Regex(r) => Ok(words_regex("words", &whole_regex(r)?)),
        Predicate::Exists => Ok("1".to_string()),
        Predicate::Range { .. } => Err(StoreError::Unsupported(
            "range queries are not supported on text (bare terms)".into(),
        )),
    }
}

/// The condition of a bare `pred` over the enumerated fields: `hasAny(column, [values])`
/// for each field with values of `enums` whose words match, as the embedded store's
/// dictionary lookup (`plan.rs`) decides; `None` when no value matches.
fn enum_match(pred: &Predicate, enums: &EnumValues) -> Result<Option<String>, StoreError> {
    type Matcher = Box<dyn Fn(&[String]) -> bool>;
    let matcher: Matcher = match pred {
        Predicate::Term(s) | Predicate::Phrase(s) => {
            let want = tokens(s);
            if want.is_empty() {
                return Ok(None);
            }
            Box::new(move |toks: &[String]| toks.windows(want.len()).any(|w| w == want))
        }
        Predicate::Wildcard(p) => {
            let re = regex::Regex::new(&whole_regex(&wildcard_to_regex(&p.to_lowercase()))?)
                .map_err(|e| StoreError::Unsupported(e.to_string()))?;
            Box::new(move |toks: &[String]| toks.iter().any(|t| re.is_match(t)))
        }
        Predicate::Regex(r) => {
            let re = regex::Regex::new(&whole_regex(r)?)
                .map_err(|e| StoreError::Unsupported(e.to_string()))?;
            Box::new(move |toks: &[String]| toks.iter().any(|t| re.is_match(t)))
        }
        Predicate::Exists | Predicate::Range { .. } => return Ok(None),
    };
    let mut parts = Vec::new();
    for field in enum_fields() {
        let mut values: Vec<String> = enums
            .iter()
            .filter(|(f, v)| {
                f == field
                    && !looks_numeric(&serde_json::Value::String(v.clone()), v)
                    && !looks_like_id(v)
                    && !looks_like_ip(v)
                    && matcher(&tokens(v))
            })
            .map(|(_, v)| lit(v))
            .collect();
        if values.is_empty() {
            continue;
        }
        values.sort();
        values.dedup();
        parts.push(format!(
            "hasAny({}, [{}])",
            col_name(field),
            values.join(", ")
        ));
    }
    Ok((!parts.is_empty()).then(|| parts.join(" OR ")))
}

/// A necessary condition of `q` over the `words` column alone, when the query has one (its
/// bare terms), cheap to test: run as `PREWHERE`, so that a wildcard splits into words
/// only the rows whose `words` contain its literal part, and the other columns are read
/// only for the rows kept.
pub fn prefilter(q: &Query, enums: &EnumValues) -> Result<Option<String>, StoreError> {
    Ok(match q {
        Query::All | Query::Not(_) | Query::Match { field: Some(_), .. } => None,
        Query::And(qs) => {
            let parts: Vec<String> = qs
                .iter()
                .map(|q| prefilter(q, enums))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .map(|p| format!("({p})"))
                .collect();
            (!parts.is_empty()).then(|| parts.join(" AND "))
        }
        Query::Or(qs) => {
            let parts: Option<Vec<String>> = qs
                .iter()
                .map(|q| prefilter(q, enums))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(|p| p.map(|p| format!("({p})")))
                .collect();
            parts.map(|p| p.join(" OR "))
        }
        Query::Match { field: None, pred } => match pred {
            Predicate::Wildcard(p) => {
                let literal = wildcard_literal(p);
                Some(if literal.is_empty() {
                    bare(pred, enums)?
                } else {
                    let words = format!("position(words, {}) > 0", lit(&literal));
                    match enum_match(pred, enums)? {
                        Some(e) => format!("({words}) OR {e}"),
                        None => words,
                    }
                })
            }
            Predicate::Term(_) | Predicate::Phrase(_) | Predicate::Regex(_) => {
                Some(bare(pred, enums)?)
            }
            Predicate::Exists | Predicate::Range { .. } => None,
        },
    })
}

/// `field:*`: a value in the field's column, a `path=value` leaf, or a raw-text field that
/// is kept only as the record.
fn exists(name: &str) -> String {
    let mut parts = vec![
        format!("has(kv_keys, {})", lit(name)),
        format!("has(raw_fields, {})", lit(name)),
    ];
    match typed_kind(name) {
        _ if name == TIMESTAMP => return "1".to_string(),
        Some(_) => parts.insert(0, format!("notEmpty({})", col_name(name))),
        // Every value of such a field is in its column.
        None => {
            if let Some(col) = generic_column(name) {
                return format!("notEmpty({col})");
            }
        }
    }
    parts.join(" OR ")
}

/// `cond` over the values `v` of an untyped field: its column when it has one (see
/// [`generic_column`]), else its entries in the key/value arrays.
fn kv_match(name: &str, cond: &str) -> String {
    match generic_column(name) {
        Some(col) => format!("arrayExists(v -> {cond}, {col})"),
        None => format!(
            "arrayExists((k, v) -> k = {} AND {cond}, kv_keys, kv_values)",
            lit(name)
        ),
    }
}

fn field_match(name: &str, pred: &Predicate) -> Result<String, StoreError> {
    if let Predicate::Exists = pred {
        return Ok(exists(name));
    }
    let Some(kind) = typed_kind(name) else {
        return generic(name, pred);
    };
    if name == TIMESTAMP {
        return date_match(name, "toInt64(toUInt32(ts))", false, pred);
    }
    let col = col_name(name);
    match kind {
        FieldKind::Keyword { .. } => keyword(&col, pred),
        FieldKind::Text => text(&col, name, pred),
        FieldKind::Ip => ip(&col, name, pred),
        FieldKind::Long => long(&col, name, pred),
        FieldKind::Date => date_match(name, &col, true, pred),
        FieldKind::Id => match pred {
            Predicate::Term(s) | Predicate::Phrase(s) => Ok(format!("has({col}, {})", lit(s))),
            _ => Err(StoreError::Unsupported(format!(
                "{name} is an identifier: search it by its exact value ({name}:VALUE) or with {name}:*"
            ))),
        },
    }
}

/// `lower <= x <= upper` over the elements `x` of an array column, or over a scalar.
fn bounded(expr: &str, lower: Option<(String, bool)>, upper: Option<(String, bool)>) -> String {
    let mut conds = Vec::new();
    if let Some((v, inc)) = lower {
        conds.push(format!("{expr} {} {v}", if inc { ">=" } else { ">" }));
    }
    if let Some((v, inc)) = upper {
        conds.push(format!("{expr} {} {v}", if inc { "<=" } else { "<" }));
    }
    if conds.is_empty() {
        "1".to_string()
    } else {
        conds.join(" AND ")
    }
}

fn bound_sql(
    b: &Bound,
    conv: &dyn Fn(&str) -> Result<String, StoreError>,
) -> Result<Option<(String, bool)>, StoreError> {
    Ok(match b {
        Bound::Unbounded => None,
        Bound::Included(v) => Some((conv(v)?, true)),
        Bound::Excluded(v) => Some((conv(v)?, false)),
    })
}

fn array_range(col: &str, lower: Option<(String, bool)>, upper: Option<(String, bool)>) -> String {
    if lower.is_none() && upper.is_none() {
        // As in the embedded store: a range open at both ends matches everything.
        return "1".to_string();
    }
    format!("arrayExists(x -> {}, {col})", bounded("x", lower, upper))
}

fn keyword(col: &str, pred: &Predicate) -> Result<String, StoreError> {
    match pred {
        Predicate::Term(s) | Predicate::Phrase(s) => Ok(format!("has({col}, {})", lit(s))),
        Predicate::Wildcard(p) => Ok(format!(
            "arrayExists(x -> match(x, {}), {col})",
            lit(&whole_regex(&wildcard_to_regex(p))?)
        )),
        Predicate::Regex(r) => Ok(format!(
            "arrayExists(x -> match(x, {}), {col})",
            lit(&whole_regex(r)?)
        )),
        Predicate::Range { lower, upper } => {
            let conv = |v: &str| Ok(lit(v));
            Ok(array_range(
                col,
                bound_sql(lower, &conv)?,
                bound_sql(upper, &conv)?,
            ))
        }
        Predicate::Exists => Ok(format!("notEmpty({col})")),
    }
}

fn text(col: &str, name: &str, pred: &Predicate) -> Result<String, StoreError> {
    let all = format!("arrayStringConcat({col}, '')");
    match pred {
        Predicate::Term(s) | Predicate::Phrase(s) => Ok(words_phrase(&all, s)),
        Predicate::Wildcard(p) => Ok(words_regex(
            &all,
            &whole_regex(&wildcard_to_regex(&p.to_lowercase()))?,
        )),
        Predicate::Regex(r) => Ok(words_regex(&all, &whole_regex(r)?)),
        Predicate::Exists => Ok(format!("notEmpty({col})")),
        Predicate::Range { .. } => Err(StoreError::Unsupported(format!(
            "range queries are not supported on text ({name})"
        ))),
    }
}

fn ip(col: &str, name: &str, pred: &Predicate) -> Result<String, StoreError> {
    const EXPECTED: &str = "an IPv4/IPv6 address or a CIDR (10.0.0.0/8, 2001:db8::/32)";
    match pred {
        Predicate::Term(s) | Predicate::Phrase(s) => {
            if s.contains('/') {
                let net: IpNet = s.trim().parse().map_err(|_| invalid(name, s, EXPECTED))?;
                let lo = ip_hex(crate::schema::ip_to_v6(net.network()));
                let hi = ip_hex(crate::schema::ip_to_v6(net.broadcast()));
                return Ok(array_range(
                    col,
                    Some((lit(&lo), true)),
                    Some((lit(&hi), true)),
                ));
            }
            match parse_ip(s) {
                Some(ip) => Ok(format!(
                    "has({col}, toFixedString({}, 32))",
                    lit(&ip_hex(ip))
                )),
                // A value that was not an IP when stored is a `path=value` leaf.
                None => Ok(kv_match(name, &format!("v = {}", lit(s)))),
            }
        }
        Predicate::Range { lower, upper } => {
            let conv = |v: &str| {
                parse_ip(v)
                    .map(|ip| lit(&ip_hex(ip)))
                    .ok_or_else(|| invalid(name, v, EXPECTED))
            };
            Ok(array_range(
                col,
                bound_sql(lower, &conv)?,
                bound_sql(upper, &conv)?,
            ))
        }
        Predicate::Wildcard(_) | Predicate::Regex(_) => Err(StoreError::Unsupported(format!(
            "wildcards and regexes are not supported on IP field {name}: use a CIDR (10.0.0.0/8) or a range"
        ))),
        Predicate::Exists => Ok(exists(name)),
    }
}

fn long(col: &str, name: &str, pred: &Predicate) -> Result<String, StoreError> {
    match pred {
        Predicate::Term(s) | Predicate::Phrase(s) => match s.trim().parse::<i64>() {
            Ok(n) => Ok(format!("has({col}, toInt64({n}))")),
            Err(_) => Ok(kv_match(name, &format!("v = {}", lit(s)))),
        },
        Predicate::Range { lower, upper } => {
            let conv = |v: &str| {
                v.trim()
                    .parse::<i64>()
                    .map(|n| format!("toInt64({n})"))
                    .map_err(|_| invalid(name, v, "an integer"))
            };
            Ok(array_range(
                col,
                bound_sql(lower, &conv)?,
                bound_sql(upper, &conv)?,
            ))
        }
        Predicate::Wildcard(_) | Predicate::Regex(_) => Err(StoreError::Unsupported(format!(
            "wildcards and regexes are not supported on integer field {name}: use a range"
        ))),
        Predicate::Exists => Ok(exists(name)),
    }
}

/// A date field: `expr` is the column (an array of seconds when `array`) or the scalar
/// seconds of `@timestamp`.
fn date_match(name: &str, expr: &str, array: bool, pred: &Predicate) -> Result<String, StoreError> {
    const EXPECTED: &str = "an RFC 3339 time (2024-05-01T12:00:00Z) or a date (2024-05-01)";
    let parse = |v: &str| -> Result<i64, StoreError> {
        Ok(parse_instant(v)
            .map_err(|_| invalid(name, v, EXPECTED))?
            .unix_timestamp())
    };
    let (lower, upper) = match pred {
        Predicate::Term(s) | Predicate::Phrase(s) => {
            // An instant matches its whole second (the stored precision).
            let t = parse(s)?;
            (
                Some((t.to_string(), true)),
                Some(((t + 1).to_string(), false)),
            )
        }
        Predicate::Range { lower, upper } => {
            let conv = |v: &str| parse(v).map(|t| t.to_string());
            (bound_sql(lower, &conv)?, bound_sql(upper, &conv)?)
        }
        Predicate::Wildcard(_) | Predicate::Regex(_) => {
            return Err(StoreError::Unsupported(format!(
                "wildcards and regexes are not supported on date field {name}: use a range"
            )))
        }
        Predicate::Exists => return Ok(exists(name)),
    };
    Ok(if array {
        array_range(expr, lower, upper)
    } else {
        bounded(expr, lower, upper)
    })
}

/// Matches the strings Rust reads as a finite `f64` (what the embedded store's generic
/// ranges compare as numbers).
const NUMBER_RE: &str = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$";

fn generic(name: &str, pred: &Predicate) -> Result<String, StoreError> {
    match pred {
        Predicate::Term(s) | Predicate::Phrase(s) => Ok(kv_match(name, &format!("v = {}", lit(s)))),
        Predicate::Wildcard(p) => Ok(kv_match(
            name,
            &format!("match(v, {})", lit(&whole_regex(&wildcard_to_regex(p))?)),
        )),
        Predicate::Regex(r) => Ok(kv_match(
            name,
            &format!("match(v, {})", lit(&whole_regex(r)?)),
        )),
        Predicate::Exists => Ok(exists(name)),
        Predicate::Range { lower, upper } => {
            // Numbers compare as numbers when both the bound and the value are numbers,
            // as strings otherwise (the embedded store's rule).
            let side = |b: &Bound, inc_op: &str, exc_op: &str| -> Option<String> {
                let (v, op) = match b {
                    Bound::Unbounded => return None,
                    Bound::Included(v) => (v, inc_op),
                    Bound::Excluded(v) => (v, exc_op),
                };
                let as_str = format!("v {op} {}", lit(v));
                Some(match v.parse::<f64>() {
                    Ok(f) if f.is_finite() => format!(
                        "if(match(v, {}), toFloat64OrZero(v) {op} {f:?}, {as_str})",
                        lit(NUMBER_RE)
                    ),
                    _ => as_str,
                })
            };
            let conds: Vec<String> = [side(lower, ">=", ">"), side(upper, "<=", "<")]
                .into_iter()
                .flatten()
                .collect();
            if conds.is_empty() {
                return Ok("1".to_string());
            }
            Ok(kv_match(name, &conds.join(" AND ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(lit("a'b"), r"'a\'b'");
        assert_eq!(lit(r"a\'; DROP"), r"'a\\\'; DROP'");
        assert_eq!(lit("x\ny"), r"'x\ny'");
    }

    #[test]
    fn a_quote_in_a_value_stays_inside_its_literal() {
        let q = Query::parse(r#"user.name:"o'neil'; DROP TABLE events; --""#).unwrap();
        let sql = compile(&q, &[]).unwrap();
        assert_eq!(sql, r"has(c_user_name, 'o\'neil\'; DROP TABLE events; --')");
    }

    /// SQL's `LIKE` over a path (`%` any run, `\_` a literal `_`; no `_` wildcard is used).
    fn like(path: &str, pattern: &str) -> bool {
        let re = regex::escape(&pattern.replace("\\_", "\u{1}"))
            .replace('%', ".*")
            .replace('\u{1}', "_");
        regex::Regex::new(&format!("^{re}$"))
            .unwrap()
            .is_match(path)
    }

    #[test]
    fn the_like_patterns_of_derived_paths_name_what_is_derived_names() {
        let mut paths: Vec<&str> = columns().iter().map(|(n, _)| *n).collect();
        paths.extend([
            "related.ip",
            "observer.name",
            "client.address",
            "x.registered_domain",
            "x.registereddomain",
            "a.top_level_domain",
            "a.subdomain",
            "ziaxdr.anything",
            "user_agent.x",
            "useragent.x",
            "custom.field",
            "url.fullx",
            "seq",
        ]);
        for p in paths {
            let by_like = DERIVED_LIKE.iter().any(|l| like(p, l));
            assert_eq!(by_like, is_derived(p), "{p}");
        }
    }

    #[test]
    fn a_bare_word_or_phrase_is_a_substring_of_the_words_column() {
        let q = Query::parse("Trojan").unwrap();
        assert_eq!(compile(&q, &[]).unwrap(), "position(words, ' trojan ') > 0");
        assert_eq!(
            prefilter(&q, &[]).unwrap().unwrap(),
            "position(words, ' trojan ') > 0"
        );
        let q = Query::parse("\"Social-Media\"").unwrap();
        assert_eq!(
            compile(&q, &[]).unwrap(),
            "position(words, ' social media ') > 0"
        );
    }

    #[test]
    fn a_bare_wildcard_splits_the_words_only_of_the_rows_that_have_its_literal() {
        let q = Query::parse("Tro*an").unwrap();
        let sql = compile(&q, &[]).unwrap();
        assert!(sql.contains("splitByChar(' ', words)"), "{sql}");
        assert_eq!(
            prefilter(&q, &[]).unwrap().unwrap(),
            "position(words, 'tro') > 0"
        );
    }

    #[test]
    fn only_a_condition_every_match_meets_is_a_prefilter() {
        let pre = |s: &str| prefilter(&Query::parse(s).unwrap(), &[]).unwrap();
        assert_eq!(pre("user.name:x"), None);
        assert_eq!(pre("NOT trojan"), None);
        assert_eq!(pre("trojan OR user.name:x"), None);
        assert_eq!(
            pre("trojan AND user.name:x").unwrap(),
            "(position(words, ' trojan ') > 0)"
        );
        assert_eq!(
            pre("trojan OR worm").unwrap(),
            "(position(words, ' trojan ') > 0) OR (position(words, ' worm ') > 0)"
        );
    }

    #[test]
    fn the_literal_of_a_wildcard_takes_escaped_characters_as_themselves() {
        assert_eq!(wildcard_literal("Tro*an"), "tro");
        assert_eq!(wildcard_literal(r"\a*"), "a");
        assert_eq!(wildcard_literal(r"x\*yz"), "x*yz");
        assert_eq!(wildcard_literal("*"), "");
    }

    #[test]
    fn a_bare_term_matches_the_enumerated_values_whose_words_match_it() {
        let enums: Vec<(String, String)> = [
            ("zscaler.zia.url_category", "Professional Services"),
            ("zscaler.zia.url_category", "Social Networking"),
            ("event.action", "Blocked"),
            ("zscaler.zia.location", "10.1.2.3"),
        ]
        .iter()
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect();
        let sql = |s: &str| compile(&Query::parse(s).unwrap(), &enums).unwrap();
        assert_eq!(
            sql("\"professional services\""),
            "(position(words, ' professional services ') > 0) OR hasAny(c_zscaler_zia_url_category, ['Professional Services'])"
        );
        assert_eq!(
            sql("blocked"),
            "(position(words, ' blocked ') > 0) OR hasAny(c_event_action, ['Blocked'])"
        );
        // A phrase is within one value; an address is not words.
        assert_eq!(
            sql("\"services social\""),
            "position(words, ' services social ') > 0"
        );
        assert!(!sql("10").contains("hasAny"));
        assert!(sql("soc*").contains("hasAny(c_zscaler_zia_url_category, ['Social Networking'])"));
        assert!(prefilter(&Query::parse("soc*").unwrap(), &enums)
            .unwrap()
            .unwrap()
            .contains("hasAny(c_zscaler_zia_url_category"));
    }

    #[test]
    fn invalid_regex_is_a_client_error() {
        let q = Query::parse("url.domain:/(x/").unwrap();
        assert!(compile(&q, &[]).unwrap_err().is_client_error());
    }
}
