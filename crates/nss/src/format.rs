//! Parsing the NSS feed output format language.
//!
//! A format is literal text with field variables: `%` [`0`] [width] conversion `{name}`,
//! where the conversion is one of `s d x u ld lu lld llu`. Literal braces, which NSS would
//! otherwise take for the start of a variable, are written `\{` and `\}`; `\t`, `\n` and
//! `\r` stand for control characters and `%%` for a percent sign.

use std::fmt;

/// A printf conversion of a field variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    /// `%s`: text.
    S,
    /// `%d`: signed integer.
    D,
    /// `%x`: hexadecimal integer.
    X,
    /// `%u`: unsigned integer.
    U,
    /// `%ld`: long integer.
    Ld,
    /// `%lu`: unsigned long integer.
    Lu,
    /// `%lld`: long long integer.
    Lld,
    /// `%llu`: unsigned long long integer.
    Llu,
}

impl Conv {
    /// Whether the conversion prints a number.
    pub fn is_numeric(self) -> bool {
        self != Conv::S
    }

    /// The conversion as written after `%`.
    pub fn as_str(self) -> &'static str {
        match self {
            Conv::S => "s",
            Conv::D => "d",
            Conv::X => "x",
            Conv::U => "u",
            Conv::Ld => "ld",
            Conv::Lu => "lu",
            Conv::Lld => "lld",
            Conv::Llu => "llu",
        }
    }
}

/// The conversion with its padding, e.g. `%02d` is `D`, zero-padded, width 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The conversion.
    pub conv: Conv,
    /// Pad with zeros rather than spaces.
    pub zero: bool,
    /// Minimum width (0 for none).
    pub width: u8,
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("%")?;
        if self.zero {
            f.write_str("0")?;
        }
        if self.width > 0 {
            write!(f, "{}", self.width)?;
        }
        f.write_str(self.conv.as_str())
    }
}

/// A byte range of the format source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// One piece of a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text, escapes already resolved.
    Literal {
        /// The text as NSS outputs it.
        text: String,
        /// Where it is in the source.
        span: Span,
    },
    /// A field variable such as `%s{login}`.
    Field {
        /// Conversion and padding.
        spec: Spec,
        /// The variable name.
        name: String,
        /// The whole `%...{...}` in the source.
        span: Span,
        /// The `%...` part (before the brace) in the source.
        spec_span: Span,
        /// The name (between the braces) in the source.
        name_span: Span,
    },
}

/// A syntax problem found while parsing, with its place in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxIssue {
    /// Where it is.
    pub span: Span,
    /// What it is.
    pub kind: SyntaxIssueKind,
}

/// The kinds of syntax problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntaxIssueKind {
    /// A `{` or `}` in literal text without a backslash: NSS reads it as a variable brace.
    UnescapedBrace(char),
    /// A `%` not followed by a known conversion and `{name}`.
    StrayPercent,
    /// A conversion that NSS does not know, e.g. `%q{x}`.
    UnknownConversion(String),
    /// A `%s{name` without its closing brace.
    UnterminatedField,
    /// A `%s{}` with no name.
    EmptyFieldName,
    /// A line break inside the format: NSS would print it and split the record in two.
    RawLineBreak,
}

impl fmt::Display for SyntaxIssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxIssueKind::UnescapedBrace(c) => {
                write!(f, "`{c}` must be written `\\{c}` in a feed output format")
            }
            SyntaxIssueKind::StrayPercent => f.write_str(
                "`%` must start a variable such as `%s{name}`; write `%%` for a percent sign",
            ),
            SyntaxIssueKind::UnknownConversion(c) => write!(f, "unknown conversion `%{c}`"),
            SyntaxIssueKind::UnterminatedField => f.write_str("variable name is not closed by `}`"),
            SyntaxIssueKind::EmptyFieldName => f.write_str("variable has no name"),
            SyntaxIssueKind::RawLineBreak => f.write_str(
                "line break inside the format (NSS would split the record); join the lines",
            ),
        }
    }
}

/// A parsed format: its segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// The segments in order.
    pub segments: Vec<Segment>,
}

/// The error for a format that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub kind: SyntaxIssueKind,
}

/// The longest variable name accepted; longer ones mean a missing `}`.
pub const MAX_NAME_LEN: usize = 64;

impl Format {
    /// Parses a format, failing on the first syntax issue.
    pub fn parse(src: &str) -> Result<Format, ParseError> {
        let (format, issues) = parse_lenient(src);
        match issues.into_iter().next() {
            None => Ok(format),
            Some(i) => {
                let (line, column) = line_col(src, i.span.start);
                Err(ParseError {
                    line,
                    column,
                    kind: i.kind,
                })
            }
        }
    }

    /// The field variables of the format, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&Spec, &str, Span)> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Field {
                spec, name, span, ..
            } => Some((spec, name.as_str(), *span)),
            Segment::Literal { .. } => None,
        })
    }
}

/// Parses a format, keeping going after syntax issues so that all of them can be reported.
///
/// Unescaped braces and stray percents are kept as literal text.
pub fn parse_lenient(src: &str) -> (Format, Vec<SyntaxIssue>) {
    let bytes = src.as_bytes();
    let mut segments = Vec::new();
    let mut issues = Vec::new();
    let mut lit = String::new();
    let mut lit_start = 0;
    let mut i = 0;
    let flush = |lit: &mut String, start: usize, end: usize, segs: &mut Vec<Segment>| {
        if !lit.is_empty() {
            segs.push(Segment::Literal {
                text: std::mem::take(lit),
                span: Span { start, end },
            });
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\\' if i + 1 < bytes.len() => {
                let repl = match bytes[i + 1] {
                    b'{' => Some('{'),
                    b'}' => Some('}'),
                    b't' => Some('\t'),
                    b'n' => Some('\n'),
                    b'r' => Some('\r'),
                    b'\\' => Some('\\'),
                    _ => None,
                };
                match repl {
                    Some(c) => {
                        lit.push(c);
                        i += 2;
                    }
                    None => {
                        lit.push('\\');
                        i += 1;
                    }
                }
            }
            b'{' | b'}' => {
                issues.push(SyntaxIssue {
                    span: Span {
                        start: i,
                        end: i + 1,
                    },
                    kind: SyntaxIssueKind::UnescapedBrace(b as char),
                });
                lit.push(b as char);
                i += 1;
            }
            b'\n' | b'\r' => {
                issues.push(SyntaxIssue {
                    span: Span {
                        start: i,
                        end: i + 1,
                    },
                    kind: SyntaxIssueKind::RawLineBreak,
                });
                lit.push(b as char);
                i += 1;
            }
            b'%' => {
                if bytes.get(i + 1) == Some(&b'%') {
                    lit.push('%');
                    i += 2;
                    continue;
                }
                match parse_field(src, i) {
                    FieldParse::Ok {
                        spec,
                        name_start,
                        name_end,
                        end,
                    } => {
                        flush(&mut lit, lit_start, i, &mut segments);
                        segments.push(Segment::Field {
                            spec,
                            name: src[name_start..name_end].to_string(),
                            span: Span { start: i, end },
                            spec_span: Span {
                                start: i,
                                end: name_start - 1,
                            },
                            name_span: Span {
                                start: name_start,
                                end: name_end,
                            },
                        });
                        i = end;
                        lit_start = i;
                    }
                    FieldParse::Issue { kind, end } => {
                        issues.push(SyntaxIssue {
                            span: Span { start: i, end },
                            kind,
                        });
                        lit.push('%');
                        i += 1;
                    }
                }
            }
            _ => {
                // Copy a whole UTF-8 character.
                let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
                lit.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
    }
    flush(&mut lit, lit_start, src.len(), &mut segments);
    (Format { segments }, issues)
}

enum FieldParse {
    Ok {
        spec: Spec,
        name_start: usize,
        name_end: usize,
        end: usize,
    },
    Issue {
        kind: SyntaxIssueKind,
        end: usize,
    },
}

fn parse_field(src: &str, start: usize) -> FieldParse {
    let bytes = src.as_bytes();
    let mut i = start + 1;
    let zero = bytes.get(i) == Some(&b'0');
    if zero {
        i += 1;
    }
    let mut width: u32 = 0;
    while let Some(d) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
        width = (width * 10 + u32::from(d - b'0')).min(255);
        i += 1;
    }
    let conv_start = i;
    while bytes.get(i).is_some_and(|b| b.is_ascii_alphabetic()) {
        i += 1;
    }
    let conv_text = &src[conv_start..i];
    if bytes.get(i) != Some(&b'{') {
        return FieldParse::Issue {
            kind: SyntaxIssueKind::StrayPercent,
            end: i.max(start + 1),
        };
    }
    let conv = match conv_text {
        "s" => Conv::S,
        "d" => Conv::D,
        "x" => Conv::X,
        "u" => Conv::U,
        "ld" => Conv::Ld,
        "lu" => Conv::Lu,
        "lld" => Conv::Lld,
        "llu" => Conv::Llu,
        "" => {
            return FieldParse::Issue {
                kind: SyntaxIssueKind::StrayPercent,
                end: i,
            }
        }
        other => {
            return FieldParse::Issue {
                kind: SyntaxIssueKind::UnknownConversion(other.to_string()),
                end: i,
            }
        }
    };
    let name_start = i + 1;
    let mut j = name_start;
    while bytes
        .get(j)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        && j - name_start <= MAX_NAME_LEN
    {
        j += 1;
    }
    if bytes.get(j) != Some(&b'}') {
        return FieldParse::Issue {
            kind: SyntaxIssueKind::UnterminatedField,
            end: j,
        };
    }
    if j == name_start {
        return FieldParse::Issue {
            kind: SyntaxIssueKind::EmptyFieldName,
            end: j + 1,
        };
    }
    FieldParse::Ok {
        spec: Spec {
            conv,
            zero,
            width: width as u8,
        },
        name_start,
        name_end: j,
        end: j + 1,
    }
}

/// The 1-based line and column (in characters) of a byte offset in `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..floor_char_boundary(src, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_padding_and_long_conversions() {
        let f = Format::parse("%02d{dd} %2d{hh} %lu{spi_in} %llu{x} %ld{inbytes}").unwrap();
        let specs: Vec<_> = f
            .fields()
            .map(|(s, n, _)| (s.to_string(), n.to_string()))
            .collect();
        assert_eq!(
            specs,
            [
                ("%02d".into(), "dd".into()),
                ("%2d".into(), "hh".into()),
                ("%lu".into(), "spi_in".into()),
                ("%llu".into(), "x".into()),
                ("%ld".into(), "inbytes".into())
            ]
        );
    }

    #[test]
    fn resolves_escapes_in_literals() {
        let f = Format::parse(r"\{a\}\t%%\n").unwrap();
        assert_eq!(
            f.segments,
            [Segment::Literal {
                text: "{a}\t%\n".into(),
                span: Span { start: 0, end: 11 }
            }]
        );
    }

    #[test]
    fn reports_unescaped_brace_with_line_and_column() {
        let (_, issues) = parse_lenient("ab\n c{");
        let brace = issues
            .iter()
            .find(|i| i.kind == SyntaxIssueKind::UnescapedBrace('{'))
            .unwrap();
        assert_eq!(line_col("ab\n c{", brace.span.start), (2, 3));
        let err = Format::parse("abc {").unwrap_err();
        assert_eq!(err.kind, SyntaxIssueKind::UnescapedBrace('{'));
        assert_eq!((err.line, err.column), (1, 5));
    }

    #[test]
    fn reports_unknown_conversion_and_unterminated_field() {
        assert_eq!(
            Format::parse("%q{x}").unwrap_err().kind,
            SyntaxIssueKind::UnknownConversion("q".into())
        );
        assert_eq!(
            Format::parse("%s{login").unwrap_err().kind,
            SyntaxIssueKind::UnterminatedField
        );
        assert_eq!(
            Format::parse("%s{}").unwrap_err().kind,
            SyntaxIssueKind::EmptyFieldName
        );
        assert_eq!(
            Format::parse("100% sure").unwrap_err().kind,
            SyntaxIssueKind::StrayPercent
        );
    }

    #[test]
    fn lenient_parse_collects_every_issue() {
        let (_, issues) = parse_lenient("{ %s{a} }");
        assert_eq!(issues.len(), 2);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(line_col("“ab", 4), (1, 3));
    }
}
