//! Time ranges: every query runs over one, given as `since` (a duration back from now) or as
//! RFC 3339 `from`/`to` instants.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, UtcOffset};

/// Default look-back when a request gives no time bound at all.
pub const DEFAULT_SINCE: Duration = Duration::hours(24);

/// A half-open time interval `[from, to)`, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: OffsetDateTime,
    /// Exclusive end.
    pub to: OffsetDateTime,
}

/// A time range as written by a user or an API client, before it is resolved against "now".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeSpec {
    /// How far back from now, e.g. `24h`, `15m`, `7d` (ignored when `from` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Start, RFC 3339 (or `YYYY-MM-DD`, meaning midnight UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// End (exclusive), RFC 3339 (or `YYYY-MM-DD`); defaults to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Why a time specification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// A duration such as `24h` could not be read.
    #[error("invalid duration '{0}': expected a number followed by s, m, h, d or w (e.g. 24h)")]
    Duration(String),
    /// An instant could not be read.
    #[error("invalid time '{0}': expected RFC 3339 (2024-05-01T12:00:00Z) or a date (2024-05-01)")]
    Instant(String),
    /// The start is not before the end.
    #[error("empty time range: from ({from}) is not before to ({to})")]
    Empty {
        /// Resolved start.
        from: String,
        /// Resolved end.
        to: String,
    },
}

/// Parses a duration like `90s`, `15m`, `24h`, `7d`, `2w`, or a sum such as `1d12h`.
pub fn parse_duration(s: &str) -> Result<Duration, TimeError> {
    let err = || TimeError::Duration(s.to_string());
    let s = s.trim();
    if s.is_empty() {
        return Err(err());
    }
    let mut total = Duration::ZERO;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().map_err(|_| err())?;
        num.clear();
        let unit_secs: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(err()),
        };
        // Bounded so that arithmetic cannot overflow: 100 years is plenty for a look-back.
        let secs = n.checked_mul(unit_secs).ok_or_else(err)?;
        total += Duration::seconds(secs);
        if total > Duration::days(36_500) {
            return Err(err());
        }
    }
    if !num.is_empty() {
        return Err(err());
    }
    Ok(total)
}

/// Parses an instant: RFC 3339, or a bare date meaning midnight UTC.
pub fn parse_instant(s: &str) -> Result<OffsetDateTime, TimeError> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.to_offset(UtcOffset::UTC));
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = Date::parse(s, &fmt) {
        return Ok(d.midnight().assume_utc());
    }
    Err(TimeError::Instant(s.to_string()))
}

/// The current time (UTC), for resolving `since` (re-exported so that callers need not
/// depend on the `time` crate).
pub fn now_utc() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Formats an instant as RFC 3339 UTC.
pub fn format_instant(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

impl TimeSpec {
    /// Resolves against `now`: `from` wins over `since`; no bound at all means the last 24 hours.
    pub fn resolve(&self, now: OffsetDateTime) -> Result<TimeRange, TimeError> {
        let to = match &self.to {
            Some(t) => parse_instant(t)?,
            None => now,
        };
        let from = match (&self.from, &self.since) {
            (Some(f), _) => parse_instant(f)?,
            (None, Some(s)) => to - parse_duration(s)?,
            (None, None) => to - DEFAULT_SINCE,
        };
        if from >= to {
            return Err(TimeError::Empty {
                from: format_instant(from),
                to: format_instant(to),
            });
        }
        Ok(TimeRange { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn durations_accept_units_and_sums() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::hours(24));
        assert_eq!(parse_duration("1d12h").unwrap(), Duration::hours(36));
        assert_eq!(parse_duration("90s").unwrap(), Duration::seconds(90));
    }

    #[test]
    fn durations_without_unit_or_with_unknown_unit_are_refused() {
        assert!(parse_duration("24").is_err());
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn since_counts_back_from_now() {
        let now = datetime!(2024-05-02 12:00 UTC);
        let r = TimeSpec {
            since: Some("1h".into()),
            ..Default::default()
        }
        .resolve(now)
        .unwrap();
        assert_eq!(r.from, datetime!(2024-05-02 11:00 UTC));
        assert_eq!(r.to, now);
    }

    #[test]
    fn no_bounds_means_last_24_hours() {
        let now = datetime!(2024-05-02 12:00 UTC);
        let r = TimeSpec::default().resolve(now).unwrap();
        assert_eq!(r.from, datetime!(2024-05-01 12:00 UTC));
    }

    #[test]
    fn from_and_to_accept_rfc3339_with_offsets_and_dates() {
        let r = TimeSpec {
            from: Some("2024-05-01".into()),
            to: Some("2024-05-01T14:00:00+02:00".into()),
            since: None,
        }
        .resolve(datetime!(2030-01-01 0:00 UTC))
        .unwrap();
        assert_eq!(r.from, datetime!(2024-05-01 0:00 UTC));
        assert_eq!(r.to, datetime!(2024-05-01 12:00 UTC));
    }

    #[test]
    fn inverted_range_is_an_error() {
        let e = TimeSpec {
            from: Some("2024-05-02".into()),
            to: Some("2024-05-01".into()),
            since: None,
        }
        .resolve(datetime!(2030-01-01 0:00 UTC));
        assert!(matches!(e, Err(TimeError::Empty { .. })));
    }
}
