//! Compiles a parsed [`Query`] into a tantivy query for one partition.

use std::collections::BTreeSet;
use std::ops::Bound as B;
use std::sync::Arc;

use serde_json::Value;

use ipnet::IpNet;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, Occur, PhraseQuery, Query as TQuery,
    RangeQuery, RegexQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DateTime, Searcher, Term};

use crate::api::get_path;
use crate::query::{wildcard_to_regex, Bound, Predicate, Query};
use crate::schema::{
    has_column, id_key, ip_to_v6, looks_like_id, looks_like_ip, looks_numeric, parse_ip, FieldKind,
    Fields, ENUM_FIELDS, F_ID_KEY,
};
use crate::timerange::parse_instant;
use crate::verify::Verified;
use crate::StoreError;

/// Most distinct values a range over an untyped field may expand to.
pub const MAX_GENERIC_RANGE_TERMS: usize = 100_000;

/// Compilation context: one partition's fields and searcher.
pub struct Planner<'a> {
    /// Field handles.
    pub fields: &'a Fields,
    /// The partition's searcher (for term-dictionary lookups).
    pub searcher: &'a Searcher,
}

fn boxed(q: impl TQuery) -> Box<dyn TQuery> {
    Box::new(q)
}

fn invalid(field: &str, value: &str, expected: &str) -> StoreError {
    StoreError::InvalidValue {
        field: field.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

impl Planner<'_> {
    /// Compiles `q`.
    pub fn compile(&self, q: &Query) -> Result<Box<dyn TQuery>, StoreError> {
        Ok(match q {
            Query::All => boxed(AllQuery),
            Query::Not(inner) => boxed(BooleanQuery::new(vec![
                (Occur::Must, boxed(AllQuery)),
                (Occur::MustNot, self.compile(inner)?),
            ])),
            Query::And(qs) => {
                let mut clauses = Vec::new();
                let mut positive = false;
                for q in qs {
                    match q {
                        Query::Not(inner) => clauses.push((Occur::MustNot, self.compile(inner)?)),
                        other => {
                            positive = true;
                            clauses.push((Occur::Must, self.compile(other)?));
                        }
                    }
                }
                if !positive {
                    clauses.push((Occur::Must, boxed(AllQuery)));
                }
                boxed(BooleanQuery::new(clauses))
            }
            Query::Or(qs) => {
                if let Some(q) = self.keyword_set(qs) {
                    return Ok(q);
                }
                let mut clauses = Vec::new();
                for q in qs {
                    clauses.push((Occur::Should, self.compile(q)?));
                }
                boxed(BooleanQuery::new(clauses))
            }
            Query::Match { field: None, pred } => self.bare_match(pred)?,
            Query::Match {
                field: Some(name),
                pred,
            } => self.field_match(name, pred)?,
        })
    }

    /// Exact values of one keyword field OR-ed together (`event.dataset:(firewall OR dns)`) as
    /// one set query: its matches are a bitset, which an intersection probes in constant
    /// time, where a union of postings is advanced document by document.
    fn keyword_set(&self, qs: &[Query]) -> Option<Box<dyn TQuery>> {
        let mut field = None;
        let mut terms = Vec::with_capacity(qs.len());
        for q in qs {
            let Query::Match {
                field: Some(name),
                pred: Predicate::Term(v) | Predicate::Phrase(v),
            } = q
            else {
                return None;
            };
            let &(f, FieldKind::Keyword { .. }) = self.fields.typed.get(name.as_str())? else {
                return None;
            };
            if field.is_some_and(|prev| prev != f) {
                return None;
            }
            field = Some(f);
            terms.push(Term::from_field_text(f, v));
        }
        (terms.len() > 1).then(|| boxed(TermSetQuery::new(terms)))
    }

    /// `field:*`: the field's column or any of its terms; any `path=value` term (untyped
    /// fields, and values that did not fit their type); or a `_fields` record (raw text kept
    /// out of the index, and partitions written by older versions, which recorded every field).
    fn exists(&self, name: &str) -> Box<dyn TQuery> {
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = vec![(
            Occur::Should,
            boxed(TermQuery::new(
                Term::from_field_text(self.fields.fields, name),
                IndexRecordOption::Basic,
            )),
        )];
        let kv_prefix = format!("{}.*", escape_regex(&format!("{name}=")));
        if let Ok(q) = RegexQuery::from_pattern(&kv_prefix, self.fields.kv) {
            clauses.push((Occur::Should, boxed(q)));
        }
        match self.fields.typed.get(name) {
            Some((_, kind)) if has_column(*kind) => {
                let column = match kind {
                    FieldKind::Id => F_ID_KEY,
                    _ => name,
                };
                clauses.push((
                    Occur::Should,
                    boxed(ExistsQuery::new(column.to_string(), false)),
                ));
            }
            Some((field, _)) => {
                if let Ok(q) = RegexQuery::from_pattern(".*", *field) {
                    clauses.push((Occur::Should, boxed(q)));
                }
            }
            None => {}
        }
        boxed(BooleanQuery::new(clauses))
    }

    fn kv_term(&self, name: &str, value: &str) -> Box<dyn TQuery> {
        boxed(TermQuery::new(
            Term::from_field_text(self.fields.kv, &format!("{name}={value}")),
            IndexRecordOption::Basic,
        ))
    }

    fn field_match(&self, name: &str, pred: &Predicate) -> Result<Box<dyn TQuery>, StoreError> {
        if let Predicate::Exists = pred {
            return Ok(self.exists(name));
        }
        let Some(&(field, kind)) = self.fields.typed.get(name) else {
            return self.generic_match(name, pred);
        };
        match kind {
            FieldKind::Keyword { .. } => keyword_match(field, name, pred),
            FieldKind::Text => self.text_match(field, name, pred),
            FieldKind::Ip => self.ip_match(field, name, pred),
            FieldKind::Long => self.long_match(field, name, pred),
            FieldKind::Date => date_match(field, name, pred),
            FieldKind::Id => self.id_match(field, name, pred),
        }
    }

    /// An identifier: the key column gives the candidates, the stored event confirms them.
    fn id_match(
        &self,
        field: Field,
        name: &str,
        pred: &Predicate,
    ) -> Result<Box<dyn TQuery>, StoreError> {
        match pred {
            Predicate::Term(s) | Predicate::Phrase(s) => {
                let key = id_key(s);
                let path = name.to_string();
                let want = s.clone();
                Ok(boxed(Verified {
                    candidates: boxed(RangeQuery::new(
                        B::Included(Term::from_field_u64(field, key)),
                        B::Included(Term::from_field_u64(field, key)),
                    )),
                    source: self.fields.source,
                    check: Arc::new(move |ev| match get_path(ev, &path) {
                        Some(Value::String(v)) => *v == want,
                        Some(Value::Array(vs)) => vs.iter().any(|v| v.as_str() == Some(&want)),
                        _ => false,
                    }),
                }))
            }
            Predicate::Exists => Ok(self.exists(name)),
            _ => Err(StoreError::Unsupported(format!(
                "{name} is an identifier: search it by its exact value ({name}:VALUE) or with {name}:*"
            ))),
        }
    }

    fn analyzer(&self) -> TextAnalyzer {
        self.searcher
            .index()
            .tokenizers()
            .get("default")
            .unwrap_or_else(|| TextAnalyzer::from(tantivy::tokenizer::SimpleTokenizer::default()))
    }

    fn tokens(&self, text: &str) -> Vec<String> {
        let mut a = self.analyzer();
        let mut stream = a.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push(t.text.clone());
        }
        out
    }

    /// A bare word, phrase or pattern: the words of `_all`, plus the values of the
    /// [`ENUM_FIELDS`] (kept out of `_all`) whose words match, found in their dictionaries.
    fn bare_match(&self, pred: &Predicate) -> Result<Box<dyn TQuery>, StoreError> {
        let all = self.text_match(self.fields.all, "", pred)?;
        let matcher: Box<WordsMatcher> = match pred {
            Predicate::Term(s) | Predicate::Phrase(s) => {
                let want = self.tokens(s);
                if want.is_empty() {
                    return Ok(all);
                }
                Box::new(move |toks: &[String]| toks.windows(want.len()).any(|w| w == want))
            }
            Predicate::Wildcard(p) => {
                let re = whole_regex(&wildcard_to_regex(&p.to_lowercase()))?;
                Box::new(move |toks: &[String]| toks.iter().any(|t| re.is_match(t)))
            }
            Predicate::Regex(r) => {
                let re = whole_regex(r)?;
                Box::new(move |toks: &[String]| toks.iter().any(|t| re.is_match(t)))
            }
            _ => return Ok(all),
        };
        let mut clauses = vec![(Occur::Should, all)];
        for name in ENUM_FIELDS {
            let Some(&(field, FieldKind::Keyword { .. })) = self.fields.typed.get(name) else {
                continue;
            };
            let mut values: BTreeSet<String> = BTreeSet::new();
            for seg in self.searcher.segment_readers() {
                let inv = seg.inverted_index(field)?;
                let mut stream = inv.terms().stream().map_err(StoreError::Io)?;
                while stream.advance() {
                    let key = stream.key();
                    let Ok(value) = std::str::from_utf8(key) else {
                        continue;
                    };
                    // The words `_all` would have had for this value (see `schema::leaf_value`).
                    let v = Value::String(value.to_string());
                    if looks_numeric(&v, value) || looks_like_id(value) || looks_like_ip(value) {
                        continue;
                    }
                    if matcher(&self.tokens(value)) {
                        values.insert(value.to_string());
                    }
                }
            }
            if !values.is_empty() {
                clauses.push((
                    Occur::Should,
                    boxed(TermSetQuery::new(
                        values.iter().map(|v| Term::from_field_text(field, v)),
                    )),
                ));
            }
        }
        Ok(if clauses.len() == 1 {
            clauses
                .pop()
                .map(|(_, q)| q)
                .unwrap_or_else(|| boxed(EmptyQuery))
        } else {
            boxed(BooleanQuery::new(clauses))
        })
    }

    /// Words of a tokenized field (`_all` for bare terms, or a text field).
    fn text_match(
        &self,
        field: Field,
        name: &str,
        pred: &Predicate,
    ) -> Result<Box<dyn TQuery>, StoreError> {
        match pred {
            Predicate::Term(s) | Predicate::Phrase(s) => {
                let toks = self.tokens(s);
                Ok(match toks.len() {
                    0 => boxed(EmptyQuery),
                    1 => boxed(TermQuery::new(
                        Term::from_field_text(field, &toks[0]),
                        IndexRecordOption::Basic,
                    )),
                    _ => boxed(PhraseQuery::new(
                        toks.iter()
                            .map(|t| Term::from_field_text(field, t))
                            .collect(),
                    )),
                })
            }
            // Indexed words are lowercased: so is the pattern.
            Predicate::Wildcard(p) => regex(field, &wildcard_to_regex(&p.to_lowercase())),
            Predicate::Regex(r) => regex(field, r),
            Predicate::Exists => Ok(self.exists(name)),
            Predicate::Range { .. } => Err(StoreError::Unsupported(format!(
                "range queries are not supported on text ({})",
                if name.is_empty() { "bare terms" } else { name }
            ))),
        }
    }

    fn ip_match(
        &self,
        field: Field,
        name: &str,
        pred: &Predicate,
    ) -> Result<Box<dyn TQuery>, StoreError> {
        const EXPECTED: &str = "an IPv4/IPv6 address or a CIDR (10.0.0.0/8, 2001:db8::/32)";
        match pred {
            Predicate::Term(s) | Predicate::Phrase(s) => {
                if s.contains('/') {
                    let net: IpNet = s.trim().parse().map_err(|_| invalid(name, s, EXPECTED))?;
                    let lo = ip_to_v6(net.network());
                    let hi = ip_to_v6(net.broadcast());
                    return Ok(boxed(RangeQuery::new(
                        B::Included(Term::from_field_ip_addr(field, lo)),
                        B::Included(Term::from_field_ip_addr(field, hi)),
                    )));
                }
                match parse_ip(s) {
                    // Columnar only (see schema): an exact value is a one-value range.
                    Some(ip) => Ok(boxed(RangeQuery::new(
                        B::Included(Term::from_field_ip_addr(field, ip)),
                        B::Included(Term::from_field_ip_addr(field, ip)),
                    ))),
                    // A value that was not an IP at indexing time went to the generic field.
                    None => Ok(self.kv_term(name, s)),
                }
            }
            Predicate::Range { lower, upper } => {
                let conv = |b: &Bound| -> Result<B<Term>, StoreError> {
                    map_bound(b, |v| {
                        parse_ip(v)
                            .map(|ip| Term::from_field_ip_addr(field, ip))
                            .ok_or_else(|| invalid(name, v, EXPECTED))
                    })
                };
                range(conv(lower)?, conv(upper)?)
            }
            Predicate::Wildcard(_) | Predicate::Regex(_) => Err(StoreError::Unsupported(format!(
                "wildcards and regexes are not supported on IP field {name}: use a CIDR (10.0.0.0/8) or a range"
            ))),
            Predicate::Exists => Ok(self.exists(name)),
        }
    }

    fn long_match(
        &self,
        field: Field,
        name: &str,
        pred: &Predicate,
    ) -> Result<Box<dyn TQuery>, StoreError> {
        const EXPECTED: &str = "an integer";
        match pred {
            Predicate::Term(s) | Predicate::Phrase(s) => match s.trim().parse::<i64>() {
                Ok(n) => Ok(boxed(RangeQuery::new(
                    B::Included(Term::from_field_i64(field, n)),
                    B::Included(Term::from_field_i64(field, n)),
                ))),
                Err(_) => Ok(self.kv_term(name, s)),
            },
            Predicate::Range { lower, upper } => {
                let conv = |b: &Bound| -> Result<B<Term>, StoreError> {
                    map_bound(b, |v| {
                        v.trim()
                            .parse::<i64>()
                            .map(|n| Term::from_field_i64(field, n))
                            .map_err(|_| invalid(name, v, EXPECTED))
                    })
                };
                range(conv(lower)?, conv(upper)?)
            }
            Predicate::Wildcard(_) | Predicate::Regex(_) => Err(StoreError::Unsupported(format!(
                "wildcards and regexes are not supported on integer field {name}: use a range"
            ))),
            Predicate::Exists => Ok(self.exists(name)),
        }
    }

    /// Fields without a typed field: `path=value` terms in `_kv`.
    fn generic_match(&self, name: &str, pred: &Predicate) -> Result<Box<dyn TQuery>, StoreError> {
        let prefix = escape_regex(&format!("{name}="));
        match pred {
            Predicate::Term(s) | Predicate::Phrase(s) => Ok(self.kv_term(name, s)),
            Predicate::Wildcard(p) => regex(self.fields.kv, &(prefix + &wildcard_to_regex(p))),
            Predicate::Regex(r) => regex(self.fields.kv, &format!("{prefix}({r})")),
            Predicate::Exists => Ok(self.exists(name)),
            Predicate::Range { lower, upper } => self.generic_range(name, lower, upper),
        }
    }

    /// A range on an untyped field: the values are enumerated from the term dictionary and
    /// compared as numbers when both the bounds and the value are numbers, as strings
    /// otherwise. Slower than a typed field, and bounded by [`MAX_GENERIC_RANGE_TERMS`].
    fn generic_range(
        &self,
        name: &str,
        lower: &Bound,
        upper: &Bound,
    ) -> Result<Box<dyn TQuery>, StoreError> {
        let prefix = format!("{name}=");
        let mut matched: BTreeSet<String> = BTreeSet::new();
        for seg in self.searcher.segment_readers() {
            let inv = seg.inverted_index(self.fields.kv)?;
            let mut stream = inv
                .terms()
                .range()
                .ge(prefix.as_bytes())
                .into_stream()
                .map_err(StoreError::Io)?;
            while stream.advance() {
                let key = stream.key();
                if !key.starts_with(prefix.as_bytes()) {
                    break;
                }
                let Ok(value) = std::str::from_utf8(&key[prefix.len()..]) else {
                    continue;
                };
                if in_range(value, lower, upper) {
                    matched.insert(value.to_string());
                    if matched.len() > MAX_GENERIC_RANGE_TERMS {
                        return Err(StoreError::Unsupported(format!(
                            "range on untyped field {name} matches more than {MAX_GENERIC_RANGE_TERMS} values"
                        )));
                    }
                }
            }
        }
        Ok(boxed(TermSetQuery::new(matched.iter().map(|v| {
            Term::from_field_text(self.fields.kv, &format!("{prefix}{v}"))
        }))))
    }
}

fn keyword_match(
    field: Field,
    name: &str,
    pred: &Predicate,
) -> Result<Box<dyn TQuery>, StoreError> {
    match pred {
        Predicate::Term(s) | Predicate::Phrase(s) => Ok(boxed(TermQuery::new(
            Term::from_field_text(field, s),
            IndexRecordOption::Basic,
        ))),
        Predicate::Wildcard(p) => regex(field, &wildcard_to_regex(p)),
        Predicate::Regex(r) => regex(field, r),
        Predicate::Range { lower, upper } => {
            let conv = |b: &Bound| -> Result<B<Term>, StoreError> {
                map_bound(b, |v| Ok(Term::from_field_text(field, v)))
            };
            range(conv(lower)?, conv(upper)?)
        }
        Predicate::Exists => unreachable_exists(name),
    }
}

fn date_match(field: Field, name: &str, pred: &Predicate) -> Result<Box<dyn TQuery>, StoreError> {
    const EXPECTED: &str = "an RFC 3339 time (2024-05-01T12:00:00Z) or a date (2024-05-01)";
    let parse = |v: &str| -> Result<DateTime, StoreError> {
        let t = parse_instant(v).map_err(|_| invalid(name, v, EXPECTED))?;
        Ok(DateTime::from_timestamp_secs(t.unix_timestamp()))
    };
    match pred {
        Predicate::Term(s) | Predicate::Phrase(s) => {
            // An instant matches its whole second (the index precision).
            let t = parse(s)?;
            let next = DateTime::from_timestamp_secs(t.into_timestamp_secs() + 1);
            range(
                B::Included(Term::from_field_date_for_search(field, t)),
                B::Excluded(Term::from_field_date_for_search(field, next)),
            )
        }
        Predicate::Range { lower, upper } => {
            let conv = |b: &Bound| -> Result<B<Term>, StoreError> {
                map_bound(b, |v| {
                    Ok(Term::from_field_date_for_search(field, parse(v)?))
                })
            };
            range(conv(lower)?, conv(upper)?)
        }
        Predicate::Wildcard(_) | Predicate::Regex(_) => Err(StoreError::Unsupported(format!(
            "wildcards and regexes are not supported on date field {name}: use a range"
        ))),
        Predicate::Exists => unreachable_exists(name),
    }
}

/// `field:*` is handled before dispatching on the type; kept total for safety.
fn unreachable_exists(name: &str) -> Result<Box<dyn TQuery>, StoreError> {
    Err(StoreError::Unsupported(format!(
        "internal: exists on {name} not planned"
    )))
}

fn map_bound(
    b: &Bound,
    f: impl Fn(&str) -> Result<Term, StoreError>,
) -> Result<B<Term>, StoreError> {
    Ok(match b {
        Bound::Unbounded => B::Unbounded,
        Bound::Included(v) => B::Included(f(v)?),
        Bound::Excluded(v) => B::Excluded(f(v)?),
    })
}

fn range(lo: B<Term>, hi: B<Term>) -> Result<Box<dyn TQuery>, StoreError> {
    if matches!((&lo, &hi), (B::Unbounded, B::Unbounded)) {
        return Ok(boxed(AllQuery));
    }
    Ok(boxed(RangeQuery::new(lo, hi)))
}

fn regex(field: Field, pattern: &str) -> Result<Box<dyn TQuery>, StoreError> {
    RegexQuery::from_pattern(pattern, field)
        .map(|q| crate::deadline::guard(boxed(q)))
        .map_err(|e| StoreError::Unsupported(format!("invalid regex /{pattern}/: {e}")))
}

/// Tells whether the words of a value match a bare predicate.
type WordsMatcher = dyn Fn(&[String]) -> bool;

/// A regex that must match a whole word.
fn whole_regex(r: &str) -> Result<regex::Regex, StoreError> {
    regex::Regex::new(&format!("^(?:{r})$"))
        .map_err(|e| StoreError::Unsupported(format!("invalid regex /{r}/: {e}")))
}

fn escape_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn in_range(value: &str, lower: &Bound, upper: &Bound) -> bool {
    let num = value.parse::<f64>().ok();
    let cmp = |bound: &str| -> Option<std::cmp::Ordering> {
        match (num, bound.parse::<f64>().ok()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => Some(value.cmp(bound)),
        }
    };
    use std::cmp::Ordering::*;
    let lo_ok = match lower {
        Bound::Unbounded => true,
        Bound::Included(b) => matches!(cmp(b), Some(Greater | Equal)),
        Bound::Excluded(b) => matches!(cmp(b), Some(Greater)),
    };
    let hi_ok = match upper {
        Bound::Unbounded => true,
        Bound::Included(b) => matches!(cmp(b), Some(Less | Equal)),
        Bound::Excluded(b) => matches!(cmp(b), Some(Less)),
    };
    lo_ok && hi_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_ranges_compare_numbers_numerically() {
        let lo = Bound::Included("9".into());
        let hi = Bound::Excluded("100".into());
        assert!(in_range("10", &lo, &hi));
        assert!(!in_range("100", &lo, &hi));
        assert!(!in_range("8", &lo, &hi));
    }

    #[test]
    fn generic_ranges_compare_strings_lexically() {
        let lo = Bound::Included("b".into());
        assert!(in_range("bz", &lo, &Bound::Unbounded));
        assert!(!in_range("a", &lo, &Bound::Unbounded));
    }
}
