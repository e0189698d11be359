//! Feed-format drift: how the keys of a record differ from the recommended format of its log
//! type. A feed drifts when its admin pasted an older version of a format, edited it, or
//! copied a template made for another SIEM; the parser copes, but fields go missing without a
//! word, so the intake says which keys are missing or extra and which format to paste.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::dict::LogType;
use crate::format::Format;
use crate::recommended::{Recommended, RECOMMENDED};
use crate::render::{Compiled, DateParts, Value, DEFAULT_ESCAPES};

/// How a record's keys compare with the nearest recommended format of its log type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The recommended format the record is nearest to (the one to paste).
    pub format: &'static Recommended,
    /// Keys of the format's current version that the record lacks, sorted.
    pub missing: Vec<String>,
    /// Keys of the record that the format's current version lacks, sorted.
    pub extra: Vec<String>,
    /// The version of the format whose keys the record has exactly, if any.
    pub matches: Option<u32>,
}

impl Drift {
    /// True when the record has exactly the keys of the format's current version.
    pub fn is_current(&self) -> bool {
        self.matches == Some(self.format.version)
    }

    /// True when the record has exactly the keys of an earlier version of the format.
    pub fn is_old_version(&self) -> bool {
        self.matches.is_some_and(|v| v < self.format.version)
    }
}

/// The JSON keys of the `event` object of each recommended format, in [`RECOMMENDED`] order,
/// computed once by rendering the format.
fn current_keys() -> &'static [BTreeSet<String>] {
    static KEYS: OnceLock<Vec<BTreeSet<String>>> = OnceLock::new();
    KEYS.get_or_init(|| RECOMMENDED.iter().map(render_keys).collect())
}

fn render_keys(r: &Recommended) -> BTreeSet<String> {
    let Ok(f) = Format::parse(r.body) else {
        return BTreeSet::new();
    };
    let c = Compiled::new(&f, Some(r.log_type), DEFAULT_ESCAPES);
    let mut out = Vec::new();
    c.render_with(|_| Value::Text("x"), &DateParts::from_epoch(0), &mut out);
    serde_json::from_slice::<serde_json::Value>(&out)
        .ok()
        .and_then(|v| {
            v.get("event")
                .and_then(|e| e.as_object())
                .map(|o| o.keys().cloned().collect())
        })
        .unwrap_or_default()
}

/// The `event` keys of a recommended format's current version.
pub fn format_keys(r: &Recommended) -> BTreeSet<String> {
    RECOMMENDED
        .iter()
        .position(|x| x == r)
        .map(|i| current_keys()[i].clone())
        .unwrap_or_else(|| render_keys(r))
}

/// Compares the keys of one record (the keys of its `event` object, or of the record when it
/// has none) with the recommended formats of `log_type`; `None` when the log type has no
/// recommended format. Among several formats (tunnel records, SaaS Security's two), the one
/// with the fewest differing keys, over all its versions, is the one compared with.
pub fn check<'a>(log_type: LogType, keys: impl IntoIterator<Item = &'a str>) -> Option<Drift> {
    let keys: BTreeSet<&str> = keys.into_iter().collect();
    check_in(
        RECOMMENDED.iter().enumerate().filter(|(_, r)| {
            r.log_type == log_type
            // SaaS Security and its activity logs share one sourcetype.
            || matches!(
                (r.log_type, log_type),
                (LogType::SaasSecurity, LogType::SaasSecurityActivity)
                    | (LogType::SaasSecurityActivity, LogType::SaasSecurity)
            )
        }),
        &keys,
    )
}

fn check_in(
    formats: impl Iterator<Item = (usize, &'static Recommended)>,
    keys: &BTreeSet<&str>,
) -> Option<Drift> {
    let all = current_keys();
    let mut best: Option<(usize, Drift)> = None;
    for (i, r) in formats {
        let current = &all[i];
        let mut versions = vec![(r.version, current.clone())];
        for (v, added) in r.earlier {
            let mut k = current.clone();
            for a in *added {
                k.remove(*a);
            }
            versions.push((*v, k));
        }
        for (v, want) in versions {
            let missing = want.iter().filter(|k| !keys.contains(k.as_str())).count();
            let extra = keys.iter().filter(|k| !want.contains(**k)).count();
            let distance = missing + extra;
            if best.as_ref().is_some_and(|(d, _)| *d <= distance) {
                continue;
            }
            let drift = Drift {
                format: r,
                missing: current
                    .iter()
                    .filter(|k| !keys.contains(k.as_str()))
                    .cloned()
                    .collect(),
                extra: keys
                    .iter()
                    .filter(|k| !current.contains(**k))
                    .map(|k| k.to_string())
                    .collect(),
                matches: (distance == 0).then_some(v),
            };
            best = Some((distance, drift));
        }
    }
    best.map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommended::by_name;

    fn keys_of(name: &str) -> BTreeSet<String> {
        format_keys(by_name(name).unwrap())
    }

    #[test]
    fn a_record_with_the_current_keys_is_current() {
        let k = keys_of("web");
        let d = check(LogType::Web, k.iter().map(String::as_str)).unwrap();
        assert!(d.is_current(), "{d:?}");
        assert!(d.missing.is_empty() && d.extra.is_empty());
    }

    #[test]
    fn a_record_with_the_keys_of_an_earlier_version_is_an_old_version_missing_what_was_added() {
        let mut k = keys_of("web");
        for a in [
            "srcip_country",
            "dstip_country",
            "is_src_cntry_risky",
            "is_dst_cntry_risky",
        ] {
            k.remove(a);
        }
        let d = check(LogType::Web, k.iter().map(String::as_str)).unwrap();
        assert!(d.is_old_version(), "{d:?}");
        assert_eq!(d.matches, Some(1));
        assert_eq!(
            d.missing,
            [
                "dstip_country",
                "is_dst_cntry_risky",
                "is_src_cntry_risky",
                "srcip_country"
            ]
        );
    }

    #[test]
    fn missing_and_extra_keys_are_listed_against_the_current_version() {
        let mut k = keys_of("dns");
        k.remove("recordid");
        k.insert("my_field".into());
        let d = check(LogType::Dns, k.iter().map(String::as_str)).unwrap();
        assert_eq!(d.matches, None);
        assert_eq!(d.missing, ["recordid"]);
        assert_eq!(d.extra, ["my_field"]);
    }

    #[test]
    fn a_tunnel_record_is_compared_with_the_tunnel_format_it_is_nearest_to() {
        let k = keys_of("tunnel-ike-phase2");
        let d = check(LogType::Tunnel, k.iter().map(String::as_str)).unwrap();
        assert_eq!(d.format.name, "tunnel-ike-phase2");
        assert!(d.is_current());
    }

    #[test]
    fn a_saas_activity_record_is_compared_with_the_activity_format() {
        let k = keys_of("saas-security-activity");
        let d = check(LogType::SaasSecurity, k.iter().map(String::as_str)).unwrap();
        assert_eq!(d.format.name, "saas-security-activity");
        assert!(d.is_current());
    }

    #[test]
    fn every_earlier_version_names_keys_its_format_has() {
        for r in RECOMMENDED {
            let k = format_keys(r);
            for (v, added) in r.earlier {
                assert!(*v < r.version, "{}", r.name);
                for a in *added {
                    assert!(k.contains(*a), "{} v{v}: {a}", r.name);
                }
            }
        }
    }
}
