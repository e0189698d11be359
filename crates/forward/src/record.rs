//! A buffered record as the forwarder's journal keeps it: receipt time, intake key, line.

/// Format version of a buffered record.
const VERSION: u8 = 1;
const FIXED: usize = 1 + 8 + 2;

/// A journal payload that is not a buffered record.
#[derive(Debug, thiserror::Error)]
#[error("bad buffered record: {0}")]
pub struct DecodeError(&'static str);

/// Encodes a record for the journal.
pub fn encode(received_at_us: i64, key: &str, data: &[u8]) -> Vec<u8> {
    let key = &key.as_bytes()[..key.len().min(u16::MAX as usize)];
    let mut out = Vec::with_capacity(FIXED + key.len() + data.len());
    out.push(VERSION);
    out.extend_from_slice(&received_at_us.to_le_bytes());
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(data);
    out
}

/// A journal payload's parts, borrowed: receipt time, key bytes (UTF-8 unless cut at the
/// length limit mid-character), line.
pub fn split(b: &[u8]) -> Result<(i64, &[u8], &[u8]), DecodeError> {
    if b.len() < FIXED {
        return Err(DecodeError("too short"));
    }
    if b[0] != VERSION {
        return Err(DecodeError("unknown version"));
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&b[1..9]);
    let klen = u16::from_le_bytes([b[9], b[10]]) as usize;
    if b.len() - FIXED < klen {
        return Err(DecodeError("key overruns record"));
    }
    let data_at = FIXED + klen;
    Ok((i64::from_le_bytes(ts), &b[FIXED..data_at], &b[data_at..]))
}

/// A key's bytes as text: a key cut mid-character is decoded lossily.
pub fn key_text(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_encoding() {
        let b = encode(1_700_000_000_000_001, "KEY", b"<134>line");
        let (received_at_us, key, data) = split(&b).unwrap();
        assert_eq!(received_at_us, 1_700_000_000_000_001);
        assert_eq!(key_text(key), "KEY");
        assert_eq!(data, b"<134>line");
    }

    #[test]
    fn a_truncated_record_is_an_error() {
        let b = encode(0, "KEYKEYKEY", b"");
        assert!(split(&b[..b.len() - 3]).is_err());
        assert!(split(&b[..4]).is_err());
    }

    #[test]
    fn a_key_cut_mid_character_decodes_lossily() {
        let mut b = encode(0, "é", b"line");
        b[9] = 1; // the key's length: only the first byte of `é`
        b.remove(FIXED + 1);
        let (_, key, data) = split(&b).unwrap();
        assert_eq!(key_text(key), "\u{fffd}");
        assert_eq!(data, b"line");
    }
}
