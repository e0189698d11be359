//! Linting feed output formats: the mistakes that copying a format from a PDF or a web page
//! introduces, and the ones that make NSS send records an intake cannot parse.
//!
//! Each finding has a line and column in the source (1-based, columns in characters) and,
//! where the fix is certain, an edit; [`Report::fixed`] is the source with all edits applied.

use std::fmt;

use crate::dict::{self, Encoding, Kind, LogType, Resolved};
use crate::format::{line_col, parse_lenient, Format, Segment, Span, SyntaxIssueKind};
use crate::render::{Compiled, DateParts, Value, DEFAULT_ESCAPES};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The feed will send broken or unparseable records.
    Error,
    /// The feed works, but some records may break or lose information.
    Warning,
    /// Information about the lint itself (e.g. the log type it assumed).
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One problem found in a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// A stable identifier (`curly-quote`, `unknown-field`, ...).
    pub code: &'static str,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The explanation.
    pub message: String,
    /// Whether `--fix` corrects it.
    pub fixable: bool,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}[{}]: {}",
            self.line, self.column, self.severity, self.code, self.message
        )?;
        if self.fixable {
            f.write_str(" (fixable with --fix)")?;
        }
        Ok(())
    }
}

/// The outcome of linting one format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The log type the format was checked against, given or inferred.
    pub log_type: Option<LogType>,
    /// The findings, in source order.
    pub findings: Vec<Finding>,
    /// The format with every fixable finding fixed.
    pub fixed: String,
}

impl Report {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Whether there is any error or warning.
    pub fn is_clean(&self) -> bool {
        !self
            .findings
            .iter()
            .any(|f| f.severity <= Severity::Warning)
    }
}

struct Edit {
    span: Span,
    text: String,
}

struct Ctx<'a> {
    src: &'a str,
    findings: Vec<(usize, Finding)>,
    edits: Vec<Edit>,
}

impl Ctx<'_> {
    fn add(
        &mut self,
        sev: Severity,
        code: &'static str,
        at: usize,
        message: String,
        fix: Option<Edit>,
    ) {
        let (line, column) = line_col(self.src, at);
        let fixable = fix.is_some();
        if let Some(e) = fix {
            self.edits.push(e);
        }
        self.findings.push((
            at,
            Finding {
                severity: sev,
                code,
                line,
                column,
                message,
                fixable,
            },
        ));
    }
}

/// Lints a format. Without a log type, it is inferred from the `sourcetype` the format
/// carries or from its field names.
pub fn lint(src: &str, log_type: Option<LogType>) -> Report {
    // Stage 1: straighten look-alike characters one for one, so that offsets keep their
    // line and column and the later checks see what the admin meant.
    let mut stage1 = String::with_capacity(src.len());
    let mut ctx = Ctx {
        src,
        findings: Vec::new(),
        edits: Vec::new(),
    };
    for (i, ch) in src.char_indices() {
        let (repl, sev, code, what) = match ch {
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
            | '\u{00BB}' | '\u{FF02}' => (
                '"',
                Severity::Error,
                "curly-quote",
                "typographic double quote",
            ),
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' => (
                '\'',
                Severity::Error,
                "curly-quote",
                "typographic single quote",
            ),
            '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{3000}' => (
                ' ',
                Severity::Warning,
                "non-ascii-space",
                "non-breaking or typographic space",
            ),
            '\u{2010}'..='\u{2015}' | '\u{2212}' => {
                ('-', Severity::Warning, "non-ascii-char", "typographic dash")
            }
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => {
                ctx.add(
                    Severity::Warning,
                    "non-ascii-char",
                    i,
                    format!("invisible character U+{:04X}", ch as u32),
                    Some(Edit {
                        span: Span {
                            start: i,
                            end: i + ch.len_utf8(),
                        },
                        text: String::new(),
                    }),
                );
                stage1.push(ch);
                continue;
            }
            c if !c.is_ascii() => {
                ctx.add(
                    Severity::Warning,
                    "non-ascii-char",
                    i,
                    format!("non-ASCII character `{c}` (U+{:04X})", c as u32),
                    None,
                );
                stage1.push(c);
                continue;
            }
            c => {
                stage1.push(c);
                continue;
            }
        };
        let msg = format!(
            "{what} `{ch}` (U+{:04X}); NSS needs the ASCII `{repl}`",
            ch as u32
        );
        ctx.add(
            sev,
            code,
            i,
            msg,
            Some(Edit {
                span: Span {
                    start: i,
                    end: i + ch.len_utf8(),
                },
                text: repl.to_string(),
            }),
        );
        stage1.push(repl);
    }
    // Edits so far are in `src` offsets; the rest are in `stage1` offsets. Apply the first
    // set now so that one set of offsets remains.
    let char_edits = std::mem::take(&mut ctx.edits);
    let lint_src = stage1;
    let mut ctx = Ctx {
        src: &lint_src,
        findings: ctx.findings,
        edits: Vec::new(),
    };
    // Recompute the earlier findings' positions: straightening keeps char counts, so they
    // are unchanged; only their byte offsets differ, which matter only for ordering.
    let mut remap: Vec<(usize, Finding)> = Vec::new();
    for (_, f) in ctx.findings.drain(..) {
        let at = byte_of_line_col(&lint_src, f.line, f.column);
        remap.push((at, f));
    }
    ctx.findings = remap;
    for e in &char_edits {
        if e.text.is_empty() {
            // Removal of an invisible character: re-express in stage-1 offsets.
            let (l, c) = line_col(src, e.span.start);
            let at = byte_of_line_col(&lint_src, l, c);
            let len = lint_src[at..].chars().next().map_or(0, char::len_utf8);
            ctx.edits.push(Edit {
                span: Span {
                    start: at,
                    end: at + len,
                },
                text: String::new(),
            });
        }
    }

    let (format, issues) = parse_lenient(&lint_src);
    for issue in issues {
        let fix = match &issue.kind {
            SyntaxIssueKind::UnescapedBrace(c) => Some(Edit {
                span: issue.span,
                text: format!("\\{c}"),
            }),
            SyntaxIssueKind::RawLineBreak => Some(Edit {
                span: issue.span,
                text: String::new(),
            }),
            _ => None,
        };
        let code = match issue.kind {
            SyntaxIssueKind::UnescapedBrace(_) => "unescaped-brace",
            SyntaxIssueKind::RawLineBreak => "line-break",
            SyntaxIssueKind::UnknownConversion(_) => "unknown-conversion",
            _ => "syntax",
        };
        ctx.add(
            Severity::Error,
            code,
            issue.span.start,
            issue.kind.to_string(),
            fix,
        );
    }

    let (log_type, how) = match log_type {
        Some(lt) => (Some(lt), None),
        None => infer_log_type(&format),
    };
    if let (Some(lt), Some(how)) = (log_type, how) {
        ctx.add(
            Severity::Note,
            "log-type",
            0,
            format!("checked as {lt} fields ({how}); pass --log-type to choose"),
            None,
        );
    }

    let json_start = json_start(&format, &lint_src);
    if let Some(lt) = log_type {
        check_fields(&mut ctx, &format, lt, json_start);
    }
    if let Some(js) = json_start {
        check_json(&mut ctx, &format, log_type, js);
    }

    let mut findings = ctx.findings;
    findings.sort_by_key(|(at, f)| (*at, f.severity));
    let fixed = apply_edits(&lint_src, ctx.edits);
    Report {
        log_type,
        findings: findings.into_iter().map(|(_, f)| f).collect(),
        fixed,
    }
}

fn byte_of_line_col(s: &str, line: usize, column: usize) -> usize {
    let mut l = 1;
    let mut c = 1;
    for (i, ch) in s.char_indices() {
        if l == line && c == column {
            return i;
        }
        if ch == '\n' {
            l += 1;
            c = 1;
        } else {
            c += 1;
        }
    }
    s.len()
}

fn apply_edits(src: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    let mut out = String::with_capacity(src.len() + 16);
    let mut pos = 0;
    for e in edits {
        if e.span.start < pos {
            continue; // overlapping edit: the first one wins
        }
        out.push_str(&src[pos..e.span.start]);
        out.push_str(&e.text);
        pos = e.span.end;
    }
    out.push_str(&src[pos..]);
    out
}

fn infer_log_type(format: &Format) -> (Option<LogType>, Option<String>) {
    let text: String = format
        .segments
        .iter()
        .filter_map(|s| match s {
            Segment::Literal { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let by_fields = |candidates: &[LogType]| {
        candidates
            .iter()
            .map(|lt| {
                (
                    format
                        .fields()
                        .filter(|(_, n, _)| dict::resolve(*lt, n).is_some())
                        .count(),
                    *lt,
                )
            })
            .max_by_key(|(n, _)| *n)
            .filter(|(n, _)| *n > 0)
            .map(|(_, lt)| lt)
    };
    if let Some(p) = text.find("zscalernss-") {
        let st: String = text[p..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if let Some(lt) = LogType::from_sourcetype(&st) {
            return (Some(lt), Some(format!("from sourcetype {st}")));
        }
        if st == "zscalernss-casb" {
            let lt = by_fields(&[LogType::SaasSecurity, LogType::SaasSecurityActivity]);
            return (lt, Some(format!("from sourcetype {st} and its fields")));
        }
    }
    let lt = by_fields(&LogType::ALL);
    (lt, lt.map(|_| "from its field names".to_string()))
}

/// The byte offset (in the format source) where a JSON body starts: the first literal `{`.
fn json_start(format: &Format, src: &str) -> Option<usize> {
    for seg in &format.segments {
        if let Segment::Literal { text, span } = seg {
            if text.contains('{') {
                // Escapes are resolved in `text`; the first `{` of the text is the first `{`
                // (escaped or not) of its source span.
                let p = src[span.start..span.end].find('{')?;
                let p = if p > 0 && src.as_bytes()[span.start + p - 1] == b'\\' {
                    p - 1
                } else {
                    p
                };
                return Some(span.start + p);
            }
        }
    }
    None
}

fn check_fields(ctx: &mut Ctx<'_>, format: &Format, lt: LogType, json_start: Option<usize>) {
    let segs = &format.segments;
    for (idx, seg) in segs.iter().enumerate() {
        let Segment::Field {
            spec,
            name,
            span,
            spec_span,
            name_span,
        } = seg
        else {
            continue;
        };
        let Some(resolved) = dict::resolve(lt, name) else {
            let mut msg = format!("`{name}` is not a {lt} field");
            let elsewhere: Vec<_> = LogType::ALL
                .iter()
                .filter(|o| **o != lt && dict::resolve(**o, name).is_some())
                .map(|o| o.name())
                .collect();
            if !elsewhere.is_empty() {
                msg.push_str(&format!(" (it is a {} field)", elsewhere.join("/")));
            }
            let mut best: Vec<(usize, &str)> = dict::all_names(lt)
                .map(|n| (strsim::levenshtein(n, name), n))
                .filter(|(d, _)| *d <= 2)
                .collect();
            best.sort();
            let fix = match best.as_slice() {
                [(d, n), rest @ ..] if rest.first().is_none_or(|(d2, _)| d2 > d) => {
                    msg.push_str(&format!("; did you mean `{n}`?"));
                    Some(Edit {
                        span: *name_span,
                        text: n.to_string(),
                    })
                }
                [(_, n), ..] => {
                    msg.push_str(&format!("; did you mean `{n}`?"));
                    None
                }
                [] => None,
            };
            ctx.add(Severity::Error, "unknown-field", span.start, msg, fix);
            continue;
        };
        match (resolved.kind(), spec.conv.is_numeric()) {
            (Some(Kind::Text), true) => {
                let fix = Edit {
                    span: *spec_span,
                    text: "%s".into(),
                };
                ctx.add(
                    Severity::Error,
                    "type-mismatch",
                    span.start,
                    format!("`{spec}` prints a number but `{name}` is text; use `%s{{{name}}}`"),
                    Some(fix),
                );
            }
            (Some(Kind::Number), false) => {
                let fix = Edit {
                    span: *spec_span,
                    text: "%d".into(),
                };
                ctx.add(
                    Severity::Warning,
                    "type-mismatch",
                    span.start,
                    format!("`{name}` is a number; `%d{{{name}}}` is its documented form"),
                    Some(fix),
                );
            }
            _ => {}
        }
        if let Resolved::Field {
            def,
            encoding: Encoding::Raw,
        } = resolved
        {
            if json_start.is_some_and(|js| span.start > js) {
                if let Some(e) = dict::hex_variant(lt, def.name) {
                    let fix = Edit {
                        span: *name_span,
                        text: e.to_string(),
                    };
                    ctx.add(Severity::Warning, "raw-field", span.start, format!("`{name}` is sent as is, so a `\"` or `\\` in it breaks the JSON record; use the hex-encoded `%s{{{e}}}`"), Some(fix));
                }
            }
        }
        // `mm` is minutes: in a date such as `%d{yyyy}-%02d{mm}-%02d{dd}` the month (`mth`) was meant.
        if name == "mm" && idx >= 2 {
            if let (Segment::Field { name: prev, .. }, Segment::Literal { text, .. }) =
                (&segs[idx - 2], &segs[idx - 1])
            {
                if (prev == "yy" || prev == "yyyy") && (text == "-" || text == "/") {
                    let fix = Edit {
                        span: *name_span,
                        text: "mth".into(),
                    };
                    ctx.add(
                        Severity::Warning,
                        "minutes-as-month",
                        span.start,
                        "`mm` is the minutes; the month after the year is `mth`".into(),
                        Some(fix),
                    );
                }
            }
        }
    }
}

fn check_json(ctx: &mut Ctx<'_>, format: &Format, lt: Option<LogType>, json_start: usize) {
    // Render the JSON part with sample values, remembering which segment produced which
    // bytes so that a JSON error points back into the source.
    let mut out = Vec::new();
    let mut map: Vec<(usize, usize)> = Vec::new(); // (output offset, source offset)
    let time = DateParts::from_epoch(1_700_000_000);
    for seg in &format.segments {
        let (sub, src_at) = match seg {
            Segment::Literal { span, .. } if span.end <= json_start => continue,
            Segment::Literal { text, span } if span.start < json_start => {
                let p = text.find('{').unwrap_or(0);
                (
                    Segment::Literal {
                        text: text[p..].to_string(),
                        span: *span,
                    },
                    json_start,
                )
            }
            Segment::Field { span, .. } if span.start < json_start => continue,
            s @ Segment::Literal { span, .. } | s @ Segment::Field { span, .. } => {
                (s.clone(), span.start)
            }
        };
        let compiled = Compiled::new(
            &Format {
                segments: vec![sub],
            },
            lt,
            DEFAULT_ESCAPES,
        );
        let values: Vec<Value<'_>> = compiled
            .slots()
            .iter()
            .map(|name| {
                match lt
                    .and_then(|lt| dict::resolve(lt, name))
                    .and_then(|r| r.kind())
                {
                    Some(Kind::Number) => Value::Int(1),
                    _ => Value::Text("x"),
                }
            })
            .collect();
        map.push((out.len(), src_at));
        compiled.render(&values, &time, &mut out);
    }
    match serde_json::from_slice::<serde_json::Value>(&out) {
        Ok(v) => {
            if v.get("sourcetype").is_none() {
                ctx.add(Severity::Warning, "no-sourcetype", json_start, "the JSON record has no top-level \"sourcetype\" key, which tells the intake the log type".into(), None);
            }
        }
        Err(e) => {
            let rendered = String::from_utf8_lossy(&out);
            let off = byte_of_line_col(&rendered, e.line(), e.column().max(1))
                .min(out.len().saturating_sub(1));
            let src_at = map
                .iter()
                .rev()
                .find(|(o, _)| *o <= off)
                .map_or(json_start, |(_, s)| *s);
            let mut from = off.saturating_sub(30).min(rendered.len());
            while !rendered.is_char_boundary(from) {
                from -= 1;
            }
            let excerpt: String = rendered[from..].chars().take(50).collect();
            ctx.add(
                Severity::Error,
                "invalid-json",
                src_at,
                format!("a rendered record is not valid JSON: {e} (near `{excerpt}`)"),
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(r: &Report) -> Vec<&'static str> {
        r.findings
            .iter()
            .filter(|f| f.severity != Severity::Note)
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn clean_format_has_no_findings() {
        let r = lint(
            r#"\{"sourcetype":"zscalernss-dns","event":\{"user":"%s{elogin}","n":"%d{recordid}"\}\}"#,
            None,
        );
        assert_eq!(codes(&r), Vec::<&str>::new());
        assert_eq!(r.log_type, Some(LogType::Dns));
    }

    #[test]
    fn curly_quotes_are_errors_and_fixed_to_straight_quotes() {
        let r = lint("\\{\u{201C}sourcetype\u{201D}:\"zscalernss-web\"\\}", None);
        assert_eq!(codes(&r), ["curly-quote", "curly-quote"]);
        assert_eq!((r.findings[1].line, r.findings[1].column), (1, 3));
        assert_eq!(r.fixed, r#"\{"sourcetype":"zscalernss-web"\}"#);
    }

    #[test]
    fn unknown_field_suggests_the_closest_name() {
        let r = lint("%s{elogn}", Some(LogType::Web));
        assert_eq!(codes(&r), ["unknown-field"]);
        assert!(
            r.findings[0].message.contains("did you mean `elogin`"),
            "{}",
            r.findings[0].message
        );
        assert_eq!(r.fixed, "%s{elogin}");
    }

    #[test]
    fn numeric_conversion_on_a_text_field_is_an_error() {
        let r = lint("%d{login}", Some(LogType::Web));
        assert_eq!(codes(&r), ["type-mismatch"]);
        assert!(r.has_errors());
        assert_eq!(r.fixed, "%s{login}");
    }

    #[test]
    fn unescaped_braces_are_errors_and_fixed_with_backslashes() {
        let r = lint(
            r#"{"sourcetype":"zscalernss-web","event":{"u":"%s{elogin}"}}"#,
            None,
        );
        assert_eq!(
            codes(&r),
            [
                "unescaped-brace",
                "unescaped-brace",
                "unescaped-brace",
                "unescaped-brace"
            ]
        );
        assert_eq!(
            r.fixed,
            r#"\{"sourcetype":"zscalernss-web","event":\{"u":"%s{elogin}"\}\}"#
        );
    }

    #[test]
    fn unquoted_text_field_makes_invalid_json() {
        let r = lint(
            r#"\{"sourcetype":"zscalernss-audit","event":\{"preaction":%s{preaction}\}\}"#,
            None,
        );
        assert!(codes(&r).contains(&"invalid-json"), "{:?}", r.findings);
        let f = r
            .findings
            .iter()
            .find(|f| f.code == "invalid-json")
            .unwrap();
        assert_eq!(f.column, 57, "{f}");
    }

    #[test]
    fn raw_field_with_a_hex_variant_in_json_is_a_warning() {
        let r = lint(
            r#"\{"sourcetype":"zscalernss-dns","event":\{"user":"%s{login}"\}\}"#,
            None,
        );
        assert_eq!(codes(&r), ["raw-field"]);
        assert!(!r.has_errors());
        assert!(r.fixed.contains("%s{elogin}"));
    }

    #[test]
    fn minutes_in_the_month_position_are_flagged() {
        let r = lint(
            "%d{yyyy}-%02d{mm}-%02d{dd}T%02d{hh}:%02d{mm}",
            Some(LogType::Web),
        );
        assert_eq!(codes(&r), ["minutes-as-month"]);
        assert_eq!(r.fixed, "%d{yyyy}-%02d{mth}-%02d{dd}T%02d{hh}:%02d{mm}");
    }

    #[test]
    fn line_breaks_inside_a_format_are_errors() {
        let r = lint("%s{login}\n%s{dept}", Some(LogType::Web));
        assert_eq!(codes(&r), ["line-break"]);
        assert_eq!(r.fixed, "%s{login}%s{dept}");
    }

    #[test]
    fn lint_never_panics_and_fix_never_adds_errors_of_its_own_kind() {
        const PIECES: &[&str] = &[
            "%",
            "{",
            "}",
            "\\",
            "\\{",
            "\u{201C}",
            "\u{2019}",
            "é",
            "😀",
            "\n",
            "%s{",
            "login",
            "\"",
            ":",
            ",",
            "%02d{mm}",
            "%d{yyyy}-",
            "\u{200B}",
            "\u{00A0}",
            "%q{x}",
            "%s{elogn}",
            "}}",
            "%%",
            "zscalernss-web",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            let mut src = String::new();
            for _ in 0..(seed % 24) {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                src.push_str(PIECES[(seed >> 33) as usize % PIECES.len()]);
            }
            let r = lint(&src, None);
            let again = lint(&r.fixed, r.log_type);
            // Fixing curly quotes and braces never leaves those findings behind.
            assert!(
                !again
                    .findings
                    .iter()
                    .any(|f| f.code == "curly-quote" || f.code == "unescaped-brace"),
                "{src:?} -> {:?}: {:?}",
                r.fixed,
                again.findings
            );
        }
    }

    #[test]
    fn json_without_sourcetype_is_a_warning() {
        let r = lint(r#"\{"user":"%s{elogin}"\}"#, Some(LogType::Web));
        assert_eq!(codes(&r), ["no-sourcetype"]);
    }
}
