//! A buffered record as the forwarder's journal keeps it: receipt time, intake key, line.

/// Format version of a buffered record.
const VERSION: u8 = 1;
const FIXED: usize = 1 + 8 + 2;

/// One received line waiting to be forwarded. It keeps the journal payload it was decoded
/// from and points into it, so decoding copies neither the line nor the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// Receipt time, microseconds since the Unix epoch.
    pub received_at_us: i64,
    /// The journal payload: header, key, line.
    buf: Vec<u8>,
    /// Where the line starts in `buf` (the key ends there).
    data_at: usize,
    /// The key, when its bytes are not UTF-8 (a key cut at the length limit mid-character).
    lossy_key: Option<String>,
}
impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("received_at_us", &self.received_at_us)
            .field("key", &"<redacted>")
            .field("data", &String::from_utf8_lossy(self.data()))
            .finish()
    }
}

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

impl Record {
    /// Decodes a journal payload, keeping it.
    pub fn decode(b: Vec<u8>) -> Result<Record, DecodeError> {
        let (received_at_us, key, data) = split(&b)?;
        let data_at = b.len() - data.len();
        let lossy_key = match std::str::from_utf8(key) {
            Ok(_) => None,
            Err(_) => Some(key_text(key)),
        };
        Ok(Record {
            received_at_us,
            buf: b,
            data_at,
            lossy_key,
        })
    }

    /// The intake key the line is for (the listener's, or its own `SEKOIA@53288` one).
    pub fn key(&self) -> &str {
        match &self.lossy_key {
            Some(k) => k,
            // Checked UTF-8 when decoded.
            None => std::str::from_utf8(&self.buf[FIXED..self.data_at]).unwrap_or_default(),
        }
    }

    /// The line as received, its `SEKOIA@53288` element removed.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.data_at..]
    }
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
        let r = Record::decode(b).unwrap();
        assert_eq!(r.received_at_us, 1_700_000_000_000_001);
        assert_eq!(r.key(), "KEY");
        assert_eq!(r.data(), b"<134>line");
    }

    #[test]
    fn a_truncated_record_is_an_error() {
        let b = encode(0, "KEYKEYKEY", b"");
        assert!(Record::decode(b[..b.len() - 3].to_vec()).is_err());
        assert!(Record::decode(b[..4].to_vec()).is_err());
    }

    #[test]
    fn a_key_cut_mid_character_decodes_lossily() {
        let mut b = encode(0, "é", b"line");
        b[9] = 1; // the key's length: only the first byte of `é`
        b.remove(FIXED + 1);
        let r = Record::decode(b).unwrap();
        assert_eq!(r.key(), "\u{fffd}");
        assert_eq!(r.data(), b"line");
    }

    #[test]
    fn debug_output_hides_the_key() {
        let r = Record::decode(encode(0, "SECRET", b"x")).unwrap();
        assert!(!format!("{r:?}").contains("SECRET"));
    }
}
