//! The shape of a record: which keys it has. A feed keeps one shape per log type while its
//! output format stays the same, so a fingerprint of the key set lets a caller check a
//! record's keys against the recommended format once per distinct shape, not per record.

use crate::map::LogType;
use crate::record::Record;

/// A record's log type and a fingerprint of its set of keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// The record's log type.
    pub log_type: LogType,
    /// The same for every record of this log type with the same set of keys, in any order;
    /// different, but for a 64-bit hash collision, for a different set.
    pub fingerprint: u64,
}

/// FNV-1a of one key, finished with a multiply-xorshift so that summing the keys' hashes
/// (which makes the fingerprint independent of key order) does not cancel bits out.
fn key_hash(k: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in k.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// The fingerprint of the record's key set, before nested objects are flattened.
pub(crate) fn fingerprint(rec: &Record<'_>) -> u64 {
    rec.entries
        .iter()
        .fold(rec.entries.len() as u64, |acc, (k, _)| {
            acc.wrapping_add(key_hash(k))
        })
}

/// The [`Shape`] of a record of `log_type` with that key fingerprint.
pub(crate) fn shape(log_type: LogType, keys: u64) -> Shape {
    Shape {
        log_type,
        fingerprint: keys ^ key_hash(log_type.sourcetype()),
    }
}

#[cfg(test)]
mod tests {
    fn shape(raw: &str) -> crate::Shape {
        crate::parse_event(raw).unwrap().shape.unwrap()
    }

    #[test]
    fn the_same_keys_in_another_order_have_the_same_shape() {
        let a = shape(
            r#"{"sourcetype":"zscalernss-dns","event":{"user":"a","clt_sip":"10.0.0.1","dns_req":"x.com"}}"#,
        );
        let b = shape(
            r#"{"sourcetype":"zscalernss-dns","event":{"dns_req":"y.org","user":"b","clt_sip":"10.0.0.2"}}"#,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn one_key_more_is_another_shape() {
        let a = shape(r#"{"sourcetype":"zscalernss-dns","event":{"user":"a","dns_req":"x.com"}}"#);
        let b = shape(
            r#"{"sourcetype":"zscalernss-dns","event":{"user":"a","dns_req":"x.com","recordid":"1"}}"#,
        );
        assert_ne!(a.fingerprint, b.fingerprint);
    }

    #[test]
    fn the_same_keys_under_another_log_type_are_another_shape() {
        let a = shape(r#"{"sourcetype":"zscalernss-dns","event":{"user":"a","action":"Allowed"}}"#);
        let b = shape(r#"{"sourcetype":"zscalernss-fw","event":{"user":"a","action":"Allowed"}}"#);
        assert_ne!(a, b);
    }

    #[test]
    fn record_keys_are_the_event_keys_in_input_order() {
        let k = crate::record_keys(
            r#"<134>Dec 06 10:42:00 zscaler-nss NSS {"sourcetype":"zscalernss-dns","event":{"user":"a","dns_req":"x.com"}}"#,
        );
        assert_eq!(k, ["user", "dns_req"]);
    }
}
