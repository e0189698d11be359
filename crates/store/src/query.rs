//! The Events query language: a Lucene-like syntax parsed into a backend-neutral tree.
//!
//! The parser is pure (no I/O, no schema): it only knows the syntax. Deciding what a value
//! means for a field (an IP range from a CIDR, a date bound, a number) is the backend's job,
//! so that the same tree can be compiled to tantivy or to SQL.
//!
//! Grammar (`field` is a run of letters, digits, `_`, `.`, `@`, `-`):
//!
//! ```text
//! query    := or
//! or       := and ( ("OR" | "||") and )*
//! and      := unary ( [("AND" | "&&")] unary )*   (juxtaposition is AND)
//! unary    := ("NOT" | "-" | "!") unary | primary
//! primary  := "(" or ")" | field ":" fvalue | value
//! fvalue   := "(" or ")"                           (the group's bare values apply to field)
//!           | "*" | ">" v | ">=" v | "<" v | "<=" v
//!           | ("[" | "{") v "TO" v ("]" | "}")   (`*` as an open bound)
//!           | value
//! value    := '"' phrase '"' | "/" regex "/" | word  (a word with unescaped * or ? is a wildcard)
//! ```
//!
//! The operator words are case-insensitive (`a or b` is `a OR b`): quote them to search
//! the word itself (`"or"`).
//!
//! Limits: a query is at most [`MAX_QUERY_LEN`] bytes and nests at most [`MAX_DEPTH`] levels,
//! so that a hostile query cannot exhaust the stack.

use std::fmt;

/// Longest accepted query, in bytes.
pub const MAX_QUERY_LEN: usize = 16 * 1024;
/// Deepest accepted nesting of parentheses and NOT.
pub const MAX_DEPTH: usize = 64;

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Matches every event (`*` alone, or an empty query).
    All,
    /// A predicate on one field, or on the whole event's text when `field` is `None`.
    Match {
        /// The ECS field name (`source.ip`), or `None` for a bare term.
        field: Option<String>,
        /// What the field's value must satisfy.
        pred: Predicate,
    },
    /// Every sub-query must match.
    And(Vec<Query>),
    /// At least one sub-query must match.
    Or(Vec<Query>),
    /// The sub-query must not match.
    Not(Box<Query>),
}

/// What a value must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Predicate {
    /// An exact value (escapes resolved). For a bare term: the words of the text.
    Term(String),
    /// A quoted phrase: an exact value on a field, a word sequence in the text.
    Phrase(String),
    /// A wildcard pattern; `*` and `?` are wildcards, `\*`, `\?` and `\\` are literal.
    Wildcard(String),
    /// A regular expression that must match the whole value.
    Regex(String),
    /// The field is present (`field:*`).
    Exists,
    /// A range of values; bounds are raw strings, interpreted per field type by the backend.
    Range {
        /// Lower bound.
        lower: Bound,
        /// Upper bound.
        upper: Bound,
    },
}

/// One end of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// No bound (`*`).
    Unbounded,
    /// The value itself is in the range.
    Included(String),
    /// The value itself is not in the range.
    Excluded(String),
}

/// Why a query could not be parsed: where, and what the parser expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// Character position (0-based) in the query where the problem was found.
    pub position: usize,
    /// What the parser expected at that position.
    pub expected: String,
    /// What it found instead.
    pub found: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at position {}: expected {}, found {}",
            self.position, self.expected, self.found
        )
    }
}

impl Query {
    /// Parses a query. An empty (or all-blank) query matches everything.
    pub fn parse(input: &str) -> Result<Query, ParseError> {
        if input.len() > MAX_QUERY_LEN {
            return Err(ParseError {
                position: MAX_QUERY_LEN,
                expected: format!("a query of at most {MAX_QUERY_LEN} bytes"),
                found: format!("{} bytes", input.len()),
            });
        }
        let mut p = Parser {
            chars: input.chars().collect(),
            pos: 0,
            depth: 0,
        };
        p.skip_ws();
        if p.at_end() {
            return Ok(Query::All);
        }
        let q = p.parse_or(None)?;
        p.skip_ws();
        if !p.at_end() {
            return Err(p.error("an operator (AND, OR, NOT) or a term"));
        }
        Ok(q)
    }

    /// The field names this query refers to (bare terms excluded), in order of appearance.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Query::All => {}
            Query::Match { field, .. } => {
                if let Some(f) = field {
                    out.push(f);
                }
            }
            Query::And(qs) | Query::Or(qs) => qs.iter().for_each(|q| q.collect_fields(out)),
            Query::Not(q) => q.collect_fields(out),
        }
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

fn is_field_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '-')
}

/// Characters that end a word wherever it is (outside quotes/regex).
fn is_word_end(c: char) -> bool {
    c.is_whitespace() || c == '(' || c == ')'
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.pos + k).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "end of query".to_string(),
            Some(_) => {
                let s: String = self.chars[self.pos..].iter().take(12).collect();
                format!("'{s}'")
            }
        }
    }

    fn error(&self, expected: &str) -> ParseError {
        ParseError {
            position: self.pos,
            expected: expected.to_string(),
            found: self.found(),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("at most {MAX_DEPTH} levels of nesting")));
        }
        Ok(())
    }

    /// True if the input at the cursor is `kw` followed by a word end (or end of input).
    fn at_keyword(&self, kw: &str) -> bool {
        let n = kw.chars().count();
        kw.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
            && self.peek_at(n).is_none_or(is_word_end)
    }

    /// The length of the operator word `kw` (any case) or `symbol` at the cursor, if there.
    fn at_operator(&self, kw: &str, symbol: &str) -> Option<usize> {
        let n = kw.chars().count();
        let word = kw
            .chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i).is_some_and(|p| p.eq_ignore_ascii_case(&c)))
            && self.peek_at(n).is_none_or(is_word_end);
        if word {
            return Some(n);
        }
        let m = symbol.chars().count();
        symbol
            .chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
            .then_some(m)
    }

    fn at_or(&self) -> Option<usize> {
        self.at_operator("OR", "||")
    }

    fn parse_or(&mut self, dfield: Option<&str>) -> Result<Query, ParseError> {
        let mut parts = vec![self.parse_and(dfield)?];
        loop {
            self.skip_ws();
            if let Some(n) = self.at_or() {
                self.pos += n;
                parts.push(self.parse_and(dfield)?);
            } else {
                break;
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::Or(parts)
        })
    }

    fn parse_and(&mut self, dfield: Option<&str>) -> Result<Query, ParseError> {
        let mut parts = vec![self.parse_unary(dfield)?];
        loop {
            self.skip_ws();
            if self.at_end() || self.peek() == Some(')') || self.at_or().is_some() {
                break;
            }
            if let Some(n) = self.at_operator("AND", "&&") {
                self.pos += n;
            }
            parts.push(self.parse_unary(dfield)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::And(parts)
        })
    }

    fn parse_unary(&mut self, dfield: Option<&str>) -> Result<Query, ParseError> {
        self.skip_ws();
        if let Some(n) = self.at_operator("NOT", "!") {
            self.pos += n;
            self.enter()?;
            let q = self.parse_unary(dfield)?;
            self.depth -= 1;
            return Ok(Query::Not(Box::new(q)));
        }
        if self.peek() == Some('-') && self.peek_at(1).is_some_and(|c| !c.is_whitespace()) {
            self.pos += 1;
            self.enter()?;
            let q = self.parse_unary(dfield)?;
            self.depth -= 1;
            return Ok(Query::Not(Box::new(q)));
        }
        self.parse_primary(dfield)
    }

    fn parse_primary(&mut self, dfield: Option<&str>) -> Result<Query, ParseError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("a term, a field:value, '(' or NOT")),
            Some('(') => self.parse_group(dfield),
            Some(')') => Err(self.error("a term, a field:value, '(' or NOT")),
            Some('"') => {
                let s = self.parse_quoted()?;
                Ok(matcher(dfield, Predicate::Phrase(s)))
            }
            Some('/') => {
                let s = self.parse_regex()?;
                Ok(matcher(dfield, Predicate::Regex(s)))
            }
            Some('[' | '{' | '>' | '<') => match dfield {
                Some(f) => {
                    let f = f.to_string();
                    self.parse_field_value(&f)
                }
                None => Err(self.error("a field name before a range (field:[A TO B], field:>N)")),
            },
            Some(_) => {
                // A field name followed by ':' (no space), unless we are inside `field:( … )`.
                if dfield.is_none() {
                    let start = self.pos;
                    let mut end = start;
                    while self.chars.get(end).copied().is_some_and(is_field_char) {
                        end += 1;
                    }
                    if end > start && self.chars.get(end) == Some(&':') {
                        let field: String = self.chars[start..end].iter().collect();
                        self.pos = end + 1;
                        return self.parse_field_value(&field);
                    }
                }
                let start = self.pos;
                let (w, wild) = self.parse_word(dfield.is_some())?;
                if w == "*" && !wild.1 {
                    return Ok(match dfield {
                        None => Query::All,
                        Some(f) => matcher(Some(f), Predicate::Exists),
                    });
                }
                if w.is_empty() {
                    self.pos = start;
                    return Err(self.error("a term"));
                }
                Ok(matcher(dfield, word_pred(w, wild.0)))
            }
        }
    }

    fn parse_group(&mut self, dfield: Option<&str>) -> Result<Query, ParseError> {
        self.pos += 1; // '('
        self.enter()?;
        self.skip_ws();
        if self.peek() == Some(')') {
            return Err(self.error("a query inside the parentheses"));
        }
        let q = self.parse_or(dfield)?;
        self.skip_ws();
        if self.peek() != Some(')') {
            return Err(self.error("')'"));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(q)
    }

    fn parse_field_value(&mut self, field: &str) -> Result<Query, ParseError> {
        match self.peek() {
            None => Err(self.error(&format!("a value after '{field}:'"))),
            Some(c) if c.is_whitespace() => {
                Err(self.error(&format!("a value right after '{field}:' (no space)")))
            }
            Some('(') => self.parse_group(Some(field)),
            Some('"') => {
                let s = self.parse_quoted()?;
                Ok(matcher(Some(field), Predicate::Phrase(s)))
            }
            Some('/') => {
                let s = self.parse_regex()?;
                Ok(matcher(Some(field), Predicate::Regex(s)))
            }
            Some('[') | Some('{') => self.parse_range(field),
            Some('>') | Some('<') => {
                let op = self.peek().unwrap_or('>');
                self.pos += 1;
                let inclusive = if self.peek() == Some('=') {
                    self.pos += 1;
                    true
                } else {
                    false
                };
                let v = self.parse_bound_value("a value after the comparison")?;
                let b = if inclusive {
                    Bound::Included(v)
                } else {
                    Bound::Excluded(v)
                };
                let (lower, upper) = if op == '>' {
                    (b, Bound::Unbounded)
                } else {
                    (Bound::Unbounded, b)
                };
                Ok(matcher(Some(field), Predicate::Range { lower, upper }))
            }
            Some(_) => {
                let (w, (wild, star_only)) = self.parse_word(true)?;
                if w == "*" && !star_only {
                    return Ok(matcher(Some(field), Predicate::Exists));
                }
                if w.is_empty() {
                    return Err(self.error(&format!("a value after '{field}:'")));
                }
                Ok(matcher(Some(field), word_pred(w, wild)))
            }
        }
    }

    fn parse_range(&mut self, field: &str) -> Result<Query, ParseError> {
        let inclusive_low = self.peek() == Some('[');
        self.pos += 1;
        self.skip_ws();
        let low = self.parse_range_word("a lower bound")?;
        self.skip_ws();
        if !self.at_keyword("TO") {
            return Err(self.error("'TO'"));
        }
        self.pos += 2;
        self.skip_ws();
        let high = self.parse_range_word("an upper bound")?;
        self.skip_ws();
        let inclusive_high = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            _ => return Err(self.error("']' or '}' closing the range")),
        };
        self.pos += 1;
        let mk = |v: String, inc: bool| {
            if v == "*" {
                Bound::Unbounded
            } else if inc {
                Bound::Included(v)
            } else {
                Bound::Excluded(v)
            }
        };
        Ok(matcher(
            Some(field),
            Predicate::Range {
                lower: mk(low, inclusive_low),
                upper: mk(high, inclusive_high),
            },
        ))
    }

    /// A bound inside `[A TO B]`: a quoted string or a word ending at a space or bracket.
    fn parse_range_word(&mut self, what: &str) -> Result<String, ParseError> {
        if self.peek() == Some('"') {
            return self.parse_quoted();
        }
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, ']' | '}') {
                break;
            }
            if c == '\\' {
                if let Some(n) = self.peek_at(1) {
                    s.push(n);
                    self.pos += 2;
                    continue;
                }
            }
            s.push(c);
            self.pos += 1;
        }
        if s.is_empty() {
            return Err(self.error(what));
        }
        Ok(s)
    }

    fn parse_bound_value(&mut self, what: &str) -> Result<String, ParseError> {
        if self.peek() == Some('"') {
            return self.parse_quoted();
        }
        let (w, _) = self.parse_word(true)?;
        if w.is_empty() {
            return Err(self.error(what));
        }
        // Comparison values are literal: undo the wildcard escaping of parse_word.
        Ok(unescape_wild(&w))
    }

    /// Reads a word. Returns the word in wildcard-canonical form (literal `*`, `?`, `\`
    /// escaped with `\`) when it has unescaped wildcards, else the plain text; plus
    /// (has_wildcards, was_escaped_star_only).
    fn parse_word(&mut self, colon_ok: bool) -> Result<(String, (bool, bool)), ParseError> {
        let mut raw: Vec<(char, bool)> = Vec::new();
        while let Some(c) = self.peek() {
            if is_word_end(c) || c == '"' || (!colon_ok && c == ':') {
                break;
            }
            if c == '\\' {
                match self.peek_at(1) {
                    Some(n) => {
                        raw.push((n, true));
                        self.pos += 2;
                        continue;
                    }
                    None => {
                        self.pos += 1;
                        return Err(self.error("a character after '\\'"));
                    }
                }
            }
            raw.push((c, false));
            self.pos += 1;
        }
        if !colon_ok && self.peek() == Some(':') {
            return Err(self.error("a field name made of letters, digits, '_', '.', '@', '-'"));
        }
        let wild = raw.iter().any(|&(c, esc)| !esc && (c == '*' || c == '?'));
        let escaped_star = raw.len() == 1 && raw[0].1;
        let s = if wild {
            let mut s = String::new();
            for (c, esc) in raw {
                if esc && matches!(c, '*' | '?' | '\\') {
                    s.push('\\');
                }
                s.push(c);
            }
            s
        } else {
            raw.into_iter().map(|(c, _)| c).collect()
        };
        Ok((s, (wild, escaped_star)))
    }

    fn parse_quoted(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => {
                    let mut e = self.error("a closing '\"'");
                    e.expected = format!("a closing '\"' for the phrase opened at {start}");
                    return Err(e);
                }
                Some('\\') => {
                    if let Some(n) = self.peek_at(1) {
                        s.push(n);
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                    }
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn parse_regex(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => {
                    let mut e = self.error("a closing '/'");
                    e.expected = format!("a closing '/' for the regex opened at {start}");
                    return Err(e);
                }
                Some('\\') if self.peek_at(1) == Some('/') => {
                    s.push('/');
                    self.pos += 2;
                }
                Some('\\') => {
                    s.push('\\');
                    if let Some(n) = self.peek_at(1) {
                        s.push(n);
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                    }
                }
                Some('/') => {
                    self.pos += 1;
                    if s.is_empty() {
                        return Err(ParseError {
                            position: start,
                            expected: "a non-empty regex".into(),
                            found: "'//'".into(),
                        });
                    }
                    return Ok(s);
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

fn matcher(field: Option<&str>, pred: Predicate) -> Query {
    Query::Match {
        field: field.map(str::to_string),
        pred,
    }
}

fn word_pred(w: String, wild: bool) -> Predicate {
    if wild {
        Predicate::Wildcard(w)
    } else {
        Predicate::Term(w)
    }
}

fn unescape_wild(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Converts a wildcard pattern (as in [`Predicate::Wildcard`]) to an anchored-by-construction
/// regex body (tantivy regexes match whole terms).
pub fn wildcard_to_regex(pattern: &str) -> String {
    let mut out = String::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                if let Some(n) = it.next() {
                    out.push_str(&regex_escape(n));
                }
            }
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex_escape(c)),
        }
    }
    out
}

fn regex_escape(c: char) -> String {
    if "\\.+*?()|[]{}^$#&-~".contains(c) {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(field: &str, pred: Predicate) -> Query {
        Query::Match {
            field: Some(field.into()),
            pred,
        }
    }
    fn bare(pred: Predicate) -> Query {
        Query::Match { field: None, pred }
    }
    fn t(s: &str) -> Predicate {
        Predicate::Term(s.into())
    }

    #[test]
    fn field_value_is_a_term() {
        assert_eq!(
            Query::parse("user.name:alice").unwrap(),
            m("user.name", t("alice"))
        );
    }

    #[test]
    fn empty_query_and_lone_star_match_all() {
        assert_eq!(Query::parse("  ").unwrap(), Query::All);
        assert_eq!(Query::parse("*").unwrap(), Query::All);
    }

    #[test]
    fn juxtaposition_is_and_and_or_binds_looser() {
        let q = Query::parse("a:1 b:2 OR c:3").unwrap();
        assert_eq!(
            q,
            Query::Or(vec![
                Query::And(vec![m("a", t("1")), m("b", t("2"))]),
                m("c", t("3"))
            ])
        );
    }

    #[test]
    fn operator_words_are_case_insensitive_and_have_symbol_forms() {
        let q = Query::parse("NOT (a:1 OR b:2) AND -c:3").unwrap();
        assert_eq!(Query::parse("not (a:1 or b:2) and -c:3").unwrap(), q);
        assert_eq!(Query::parse("Not (a:1 Or b:2) aNd -c:3").unwrap(), q);
        assert_eq!(Query::parse("!(a:1 || b:2) && -c:3").unwrap(), q);
        assert_eq!(
            Query::parse("a or b").unwrap(),
            Query::parse("a OR b").unwrap()
        );
    }

    #[test]
    fn a_quoted_operator_word_is_searched_as_the_word() {
        assert_eq!(
            Query::parse("a \"or\" b").unwrap(),
            Query::And(vec![
                Query::Match {
                    field: None,
                    pred: Predicate::Term("a".into())
                },
                Query::Match {
                    field: None,
                    pred: Predicate::Phrase("or".into())
                },
                Query::Match {
                    field: None,
                    pred: Predicate::Term("b".into())
                },
            ])
        );
        // An operator word followed by ':' is a field name.
        assert!(
            matches!(Query::parse("or:1").unwrap(), Query::Match { field: Some(f), .. } if f == "or")
        );
    }

    #[test]
    fn not_and_minus_negate_and_parentheses_group() {
        let q = Query::parse("NOT (a:1 OR b:2) AND -c:3").unwrap();
        assert_eq!(
            q,
            Query::And(vec![
                Query::Not(Box::new(Query::Or(vec![m("a", t("1")), m("b", t("2"))]))),
                Query::Not(Box::new(m("c", t("3")))),
            ])
        );
    }

    #[test]
    fn ipv6_and_cidr_values_keep_their_colons_and_slash() {
        assert_eq!(
            Query::parse("source.ip:2001:db8::/32").unwrap(),
            m("source.ip", t("2001:db8::/32"))
        );
    }

    #[test]
    fn phrases_regexes_and_wildcards_are_recognised() {
        assert_eq!(
            Query::parse("url.original:\"a b\"").unwrap(),
            m("url.original", Predicate::Phrase("a b".into()))
        );
        assert_eq!(
            Query::parse("url.domain:/.*\\.ru/").unwrap(),
            m("url.domain", Predicate::Regex(".*\\.ru".into()))
        );
        assert_eq!(
            Query::parse("url.domain:*.example.?om").unwrap(),
            m("url.domain", Predicate::Wildcard("*.example.?om".into()))
        );
        assert_eq!(
            Query::parse("\"evil corp\"").unwrap(),
            bare(Predicate::Phrase("evil corp".into()))
        );
    }

    #[test]
    fn escaped_star_is_literal() {
        assert_eq!(Query::parse("a:x\\*y").unwrap(), m("a", t("x*y")));
        assert_eq!(
            Query::parse("a:x\\*y*").unwrap(),
            m("a", Predicate::Wildcard("x\\*y*".into()))
        );
        assert_eq!(wildcard_to_regex("x\\*y*"), "x\\*y.*");
    }

    #[test]
    fn field_star_is_exists() {
        assert_eq!(
            Query::parse("error.message:*").unwrap(),
            m("error.message", Predicate::Exists)
        );
    }

    #[test]
    fn comparisons_become_half_open_ranges() {
        assert_eq!(
            Query::parse("destination.port:>=1024").unwrap(),
            m(
                "destination.port",
                Predicate::Range {
                    lower: Bound::Included("1024".into()),
                    upper: Bound::Unbounded
                }
            )
        );
        assert_eq!(
            Query::parse("x:<5").unwrap(),
            m(
                "x",
                Predicate::Range {
                    lower: Bound::Unbounded,
                    upper: Bound::Excluded("5".into())
                }
            )
        );
    }

    #[test]
    fn bracket_ranges_take_inclusive_exclusive_and_open_bounds() {
        assert_eq!(
            Query::parse("@timestamp:[2024-01-01T00:00:00Z TO *}").unwrap(),
            m(
                "@timestamp",
                Predicate::Range {
                    lower: Bound::Included("2024-01-01T00:00:00Z".into()),
                    upper: Bound::Unbounded
                }
            )
        );
        assert_eq!(
            Query::parse("source.ip:{10.0.0.1 TO 10.0.0.9]").unwrap(),
            m(
                "source.ip",
                Predicate::Range {
                    lower: Bound::Excluded("10.0.0.1".into()),
                    upper: Bound::Included("10.0.0.9".into())
                }
            )
        );
    }

    #[test]
    fn field_group_applies_the_field_to_bare_values() {
        assert_eq!(
            Query::parse("event.dataset:(web OR dns)").unwrap(),
            Query::Or(vec![
                m("event.dataset", t("web")),
                m("event.dataset", t("dns"))
            ])
        );
    }

    #[test]
    fn unclosed_parenthesis_reports_position_and_expectation() {
        let e = Query::parse("(a:1 OR b:2").unwrap_err();
        assert_eq!(e.position, 11);
        assert_eq!(e.expected, "')'");
        assert_eq!(e.found, "end of query");
    }

    #[test]
    fn range_without_to_reports_what_was_expected() {
        let e = Query::parse("x:[1 2]").unwrap_err();
        assert_eq!(e.position, 5);
        assert_eq!(e.expected, "'TO'");
    }

    #[test]
    fn unclosed_phrase_and_regex_are_errors() {
        assert!(Query::parse("\"abc")
            .unwrap_err()
            .expected
            .contains("closing '\"'"));
        assert!(Query::parse("a:/abc")
            .unwrap_err()
            .expected
            .contains("closing '/'"));
    }

    #[test]
    fn missing_value_after_colon_is_an_error() {
        let e = Query::parse("user.name: alice").unwrap_err();
        assert_eq!(e.position, 10);
        assert!(e.expected.contains("no space"));
    }

    #[test]
    fn dangling_operator_is_an_error() {
        let e = Query::parse("a:1 AND").unwrap_err();
        assert_eq!(e.position, 7);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let q = "(".repeat(100) + "a" + &")".repeat(100);
        let e = Query::parse(&q).unwrap_err();
        assert!(e.expected.contains("levels of nesting"));
    }

    #[test]
    fn range_without_field_is_an_error() {
        assert!(Query::parse(">5").is_err());
    }

    #[test]
    fn fields_lists_the_referenced_fields() {
        let q = Query::parse("a:1 (b:2 OR NOT c:*) free").unwrap();
        assert_eq!(q.fields(), vec!["a", "b", "c"]);
    }
}
