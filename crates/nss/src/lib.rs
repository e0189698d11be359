//! The Zscaler NSS feed output format language, as code.
//!
//! Zscaler's Nanolog Streaming Service (NSS) turns each log record into text through a
//! "feed output format" that the admin pastes into the ZIA portal: literal text with
//! printf-like field variables (`%s{login}`, `%02d{dd}`) and escaped braces (`\{`). This
//! crate parses that language ([`format`]), knows the field variables of each log type
//! ([`dict`]), renders a format with values the way NSS does, including the `%HH` encoding
//! of the `e`-prefixed fields ([`render`]), finds the mistakes that copying a format from a
//! PDF introduces ([`lint`]), and holds the recommended, copy-paste-safe formats and Cloud
//! NSS settings ([`recommended`]), and tells how a record's keys drifted from them ([`drift`]).
//! It does no I/O.

#![warn(missing_docs)]

pub mod dict;
pub mod drift;
pub mod format;
pub mod lint;
pub mod recommended;
pub mod render;

pub use dict::{Kind, LogType};
pub use format::{Format, ParseError};
pub use lint::{lint, Finding, Report, Severity};
pub use recommended::{Recommended, Transport, RECOMMENDED};
pub use render::{Compiled, DateParts, Value};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recommended_format_lints_clean_for_both_transports() {
        for r in RECOMMENDED {
            for t in [Transport::Nss, Transport::NssRfc5424, Transport::CloudNss] {
                let report = lint(&r.format(t), Some(r.log_type));
                assert!(
                    report.is_clean(),
                    "{} ({t:?}): {:?}",
                    r.name,
                    report.findings
                );
            }
        }
    }

    #[test]
    fn recommended_formats_render_json_whose_keys_include_the_sourcetype() {
        for r in RECOMMENDED {
            let f = Format::parse(r.body).unwrap();
            let c = Compiled::new(&f, Some(r.log_type), render::DEFAULT_ESCAPES);
            let vals: Vec<Value<'_>> = c
                .slots()
                .iter()
                .map(
                    |n| match dict::resolve(r.log_type, n).and_then(|x| x.kind()) {
                        Some(Kind::Number) => Value::Int(7),
                        _ => Value::Text("a b, c"),
                    },
                )
                .collect();
            let mut out = Vec::new();
            c.render(&vals, &DateParts::from_epoch(1_700_000_000), &mut out);
            let v: serde_json::Value =
                serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{}: {e}", r.name));
            assert_eq!(v["sourcetype"], r.log_type.sourcetype());
        }
    }
}
