//! STIX 2.1 patterning: the subset that describes network and file observables, compiled to
//! disjunctive normal form (an OR of ANDs of comparisons) so that a matcher can index each
//! conjunction by one of its equality comparisons.
//!
//! Supported: observation expressions `[...]` joined by `OR`/`AND` (an `AND` between
//! observations is evaluated within one event, a documented narrowing), comparisons joined by
//! `AND`/`OR` with parentheses, operators `=`, `!=`, `IN (...)`, `MATCHES`, `LIKE`, and the
//! object paths below. Qualifiers (`WITHIN`, `REPEATS`, `START/STOP`) and `FOLLOWEDBY` are
//! rejected with a reason rather than silently widened.

use std::fmt;

use regex::Regex;

/// Maximum number of conjunctions a pattern may expand to (guards against DNF blow-up).
pub const MAX_CONJUNCTIONS: usize = 256;
/// Maximum pattern length accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 64 * 1024;

/// The kind of observable a comparison reads from an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Observable {
    /// `domain-name:value` (also matches subdomains of the value).
    Domain,
    /// `url:value`.
    Url,
    /// `ipv4-addr:value` / `ipv6-addr:value` (a value may be a CIDR block).
    Ip,
    /// `file:hashes.<ALGO>`, algorithm normalised to `md5`, `sha1`, `sha256`, `sha512`.
    Hash(String),
    /// `network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'`.
    UserAgent,
    /// `file:name`.
    FileName,
    /// Any other object path: the comparison can never be true on a ZIA event.
    Other(String),
}

/// Comparison operator.
#[derive(Debug, Clone)]
pub enum Op {
    /// `=` or `IN (...)` (several accepted values).
    Eq(Vec<String>),
    /// `!=`.
    Neq(String),
    /// `MATCHES` (PCRE-like regular expression).
    Matches(Regex),
    /// `LIKE` (SQL wildcards `%` and `_`), compiled to a regex.
    Like(Regex),
}

/// One comparison of a pattern.
#[derive(Debug, Clone)]
pub struct Atom {
    /// What it reads.
    pub observable: Observable,
    /// How it compares.
    pub op: Op,
    /// `NOT` before the operator.
    pub negated: bool,
}

/// A pattern in disjunctive normal form: it matches if any conjunction holds.
#[derive(Debug, Clone)]
pub struct Dnf(pub Vec<Vec<Atom>>);

/// Why a pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBrack,
    RBrack,
    LParen,
    RParen,
    Comma,
    Word(String),
    Str(String),
    Op(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, PatternError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'[' => {
                out.push(Tok::LBrack);
                i += 1
            }
            b']' => {
                out.push(Tok::RBrack);
                i += 1
            }
            b'(' => {
                out.push(Tok::LParen);
                i += 1
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1
            }
            b'=' => {
                out.push(Tok::Op("=".into()));
                i += 1
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                out.push(Tok::Op("!=".into()));
                i += 2
            }
            b'<' | b'>' => {
                let two = b.get(i + 1) == Some(&b'=');
                out.push(Tok::Op(s[i..i + 1 + two as usize].to_string()));
                i += 1 + two as usize
            }
            b'\'' => {
                let (lit, next) = read_quoted(s, i)?;
                out.push(Tok::Str(lit));
                i = next
            }
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                // A word: keyword, number, or object path (which may hold quoted segments
                // after a dot, like file:hashes.'SHA-256', and list steps like [*]).
                let mut w = String::new();
                while i < b.len() {
                    let c = b[i];
                    if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b':' | b'.') {
                        w.push(c as char);
                        i += 1;
                    } else if c == b'\'' && w.ends_with('.') {
                        let (lit, next) = read_quoted(s, i)?;
                        w.push_str(&lit);
                        i = next;
                    } else if c == b'[' && w.contains(':') {
                        let end = s[i..].find(']').ok_or_else(|| err("unclosed [ in path"))?;
                        w.push_str(&s[i..i + end + 1]);
                        i += end + 1;
                    } else {
                        break;
                    }
                }
                // h'..', b'..', t'..' literals: keep the payload as a string.
                if matches!(w.as_str(), "h" | "b" | "t") && b.get(i) == Some(&b'\'') {
                    let (lit, next) = read_quoted(s, i)?;
                    out.push(Tok::Str(lit));
                    i = next;
                } else {
                    out.push(Tok::Word(w));
                }
            }
            _ => return Err(err(&format!("unexpected character {:?}", c as char))),
        }
    }
    Ok(out)
}

fn read_quoted(s: &str, start: usize) -> Result<(String, usize), PatternError> {
    let mut out = String::new();
    let mut chars = s[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            },
            '\'' => return Ok((out, start + 1 + off + 1)),
            c => out.push(c),
        }
    }
    Err(err("unterminated string literal"))
}

fn err(msg: &str) -> PatternError {
    PatternError(msg.to_string())
}

#[derive(Debug, Clone)]
enum Expr {
    Atom(Atom),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn expect(&mut self, t: Tok) -> Result<(), PatternError> {
        match self.next() {
            Some(got) if got == t => Ok(()),
            got => Err(err(&format!("expected {t:?}, found {got:?}"))),
        }
    }

    fn obs_or(&mut self) -> Result<Expr, PatternError> {
        let mut parts = vec![self.obs_and()?];
        while self.keyword("OR") {
            self.pos += 1;
            parts.push(self.obs_and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn obs_and(&mut self) -> Result<Expr, PatternError> {
        let mut parts = vec![self.obs_atom()?];
        loop {
            if self.keyword("AND") {
                self.pos += 1;
                parts.push(self.obs_atom()?);
            } else if self.keyword("FOLLOWEDBY") {
                return Err(err("FOLLOWEDBY (ordered observations) is not supported"));
            } else {
                break;
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn obs_atom(&mut self) -> Result<Expr, PatternError> {
        let e = match self.next() {
            Some(Tok::LBrack) => {
                let e = self.comp_or()?;
                self.expect(Tok::RBrack)?;
                e
            }
            Some(Tok::LParen) => {
                let e = self.obs_or()?;
                self.expect(Tok::RParen)?;
                e
            }
            t => return Err(err(&format!("expected [ or (, found {t:?}"))),
        };
        for q in ["WITHIN", "REPEATS", "START"] {
            if self.keyword(q) {
                return Err(err(&format!("qualifier {q} is not supported")));
            }
        }
        Ok(e)
    }

    fn comp_or(&mut self) -> Result<Expr, PatternError> {
        let mut parts = vec![self.comp_and()?];
        while self.keyword("OR") {
            self.pos += 1;
            parts.push(self.comp_and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn comp_and(&mut self) -> Result<Expr, PatternError> {
        let mut parts = vec![self.comp_atom()?];
        while self.keyword("AND") {
            self.pos += 1;
            parts.push(self.comp_atom()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn comp_atom(&mut self) -> Result<Expr, PatternError> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.comp_or()?;
            self.expect(Tok::RParen)?;
            return Ok(e);
        }
        let path = match self.next() {
            Some(Tok::Word(w)) if w.contains(':') => w,
            t => return Err(err(&format!("expected an object path, found {t:?}"))),
        };
        let mut negated = false;
        if self.keyword("NOT") {
            self.pos += 1;
            negated = true;
        }
        let observable = classify(&path);
        let op = match self.next() {
            Some(Tok::Op(o)) if o == "=" => Op::Eq(vec![self.string()?]),
            Some(Tok::Op(o)) if o == "!=" => Op::Neq(self.string()?),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IN") => {
                self.expect(Tok::LParen)?;
                let mut vals = vec![self.string()?];
                while self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                    vals.push(self.string()?);
                }
                self.expect(Tok::RParen)?;
                Op::Eq(vals)
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("MATCHES") => {
                let re = self.string()?;
                Op::Matches(Regex::new(&re).map_err(|e| err(&format!("bad MATCHES regex: {e}")))?)
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("LIKE") => {
                let like = self.string()?;
                let mut re = String::from("(?i)^");
                for c in like.chars() {
                    match c {
                        '%' => re.push_str(".*"),
                        '_' => re.push('.'),
                        c => re.push_str(&regex::escape(&c.to_string())),
                    }
                }
                re.push('$');
                Op::Like(Regex::new(&re).map_err(|e| err(&e.to_string()))?)
            }
            t => return Err(err(&format!("unsupported comparison operator {t:?}"))),
        };
        Ok(Expr::Atom(Atom {
            observable,
            op,
            negated,
        }))
    }

    fn string(&mut self) -> Result<String, PatternError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            Some(Tok::Word(w)) => Ok(w),
            t => Err(err(&format!("expected a value, found {t:?}"))),
        }
    }
}

/// Maps a STIX object path to the observable it reads.
fn classify(path: &str) -> Observable {
    let lower = path.to_ascii_lowercase();
    match lower.as_str() {
        "domain-name:value" => Observable::Domain,
        "url:value" => Observable::Url,
        "ipv4-addr:value" | "ipv6-addr:value" => Observable::Ip,
        "network-traffic:dst_ref.value" | "network-traffic:src_ref.value" => Observable::Ip,
        "file:name" => Observable::FileName,
        p if p.starts_with("network-traffic:extensions.")
            && p.ends_with("request_header.user-agent") =>
        {
            Observable::UserAgent
        }
        p if p.starts_with("file:hashes.") => {
            let algo: String = p["file:hashes.".len()..]
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect();
            Observable::Hash(algo)
        }
        _ => Observable::Other(path.to_string()),
    }
}

fn dnf(e: Expr) -> Result<Vec<Vec<Atom>>, PatternError> {
    match e {
        Expr::Atom(a) => Ok(vec![vec![a]]),
        Expr::Or(parts) => {
            let mut out = Vec::new();
            for p in parts {
                out.extend(dnf(p)?);
                if out.len() > MAX_CONJUNCTIONS {
                    return Err(err("pattern expands to too many alternatives"));
                }
            }
            Ok(out)
        }
        Expr::And(parts) => {
            let mut acc: Vec<Vec<Atom>> = vec![Vec::new()];
            for p in parts {
                let alts = dnf(p)?;
                let mut next = Vec::new();
                for a in &acc {
                    for b in &alts {
                        let mut c = a.clone();
                        c.extend(b.iter().cloned());
                        next.push(c);
                    }
                }
                if next.len() > MAX_CONJUNCTIONS {
                    return Err(err("pattern expands to too many alternatives"));
                }
                acc = next;
            }
            Ok(acc)
        }
    }
}

/// Parses a STIX 2.1 pattern into disjunctive normal form.
pub fn parse(pattern: &str) -> Result<Dnf, PatternError> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(err("pattern too long"));
    }
    let toks = lex(pattern)?;
    let mut p = Parser { toks, pos: 0 };
    let e = p.obs_or()?;
    if p.pos < p.toks.len() {
        return Err(err(&format!("unexpected {:?}", p.toks[p.pos])));
    }
    Ok(Dnf(dnf(e)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_equality_is_one_conjunction() {
        let d = parse("[domain-name:value = 'evil.example']").unwrap();
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0][0].observable, Observable::Domain);
    }

    #[test]
    fn or_between_observations_gives_alternatives() {
        let d =
            parse("[domain-name:value = 'a.example'] OR [ipv4-addr:value = '1.2.3.4']").unwrap();
        assert_eq!(d.0.len(), 2);
    }

    #[test]
    fn and_inside_observation_gives_one_conjunction_of_two() {
        let d =
            parse("[x509-certificate:issuer = 'CN=x' AND x509-certificate:serial_number = '01']")
                .unwrap();
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].len(), 2);
    }

    #[test]
    fn quoted_hash_algorithm_is_normalised() {
        let d = parse("[file:hashes.'SHA-256' = 'AB']").unwrap();
        assert_eq!(d.0[0][0].observable, Observable::Hash("sha256".into()));
    }

    #[test]
    fn in_list_holds_every_value() {
        let d = parse("[ipv4-addr:value IN ('1.1.1.1', '2.2.2.2')]").unwrap();
        match &d.0[0][0].op {
            Op::Eq(v) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn followedby_is_rejected_with_a_reason() {
        let e = parse("[url:value = 'a'] FOLLOWEDBY [url:value = 'b']").unwrap_err();
        assert!(e.0.contains("FOLLOWEDBY"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse("[[[ ' ").is_err());
        assert!(parse("").is_err());
    }
}
