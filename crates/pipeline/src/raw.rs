//! The raw event as stored in the journal: intake, id, receipt time, source and the bytes.

use uuid::Uuid;

/// Format version of the journal payload; bumped if the encoding ever changes.
const VERSION: u8 = 1;
const FIXED: usize = 1 + 16 + 16 + 8 + 1 + 2;

/// How an event reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The HTTP intake (plain HTTP).
    Http,
    /// The HTTP intake over TLS.
    Https,
    /// A plain syslog TCP listener.
    Syslog,
    /// A syslog TCP listener over TLS.
    SyslogTls,
    /// `ziaxdr import` of archived logs.
    Import,
}

impl Transport {
    /// The label used in metrics and sink output.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Https => "https",
            Transport::Syslog => "syslog",
            Transport::SyslogTls => "syslog-tls",
            Transport::Import => "import",
        }
    }

    fn code(self) -> u8 {
        match self {
            Transport::Http => 0,
            Transport::Https => 1,
            Transport::Syslog => 2,
            Transport::SyslogTls => 3,
            Transport::Import => 4,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Transport::Http,
            1 => Transport::Https,
            2 => Transport::Syslog,
            3 => Transport::SyslogTls,
            4 => Transport::Import,
            _ => return None,
        })
    }
}

/// One received event, exactly as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// The intake the event was authenticated for.
    pub intake: Uuid,
    /// The event id returned to the sender (UUIDv7, so it sorts by receipt time).
    pub id: Uuid,
    /// Receipt time, microseconds since the Unix epoch.
    pub received_at_us: i64,
    /// The transport it came over.
    pub transport: Transport,
    /// The sender's address (`ip:port`).
    pub peer: String,
    /// The event bytes as received (after gzip decoding and framing).
    pub data: Vec<u8>,
}

/// Why a journal payload could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("bad raw event encoding: {0}")]
pub struct DecodeError(&'static str);

impl RawEvent {
    /// The record as text, invalid UTF-8 replaced by U+FFFD: what the parser reads and the
    /// store keeps.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        // `from_utf8` checks ASCII a word at a time; `from_utf8_lossy` goes byte by byte even
        // when nothing needs replacing, and was 6% of the pipeline thread.
        match std::str::from_utf8(&self.data) {
            Ok(s) => s.into(),
            Err(_) => String::from_utf8_lossy(&self.data),
        }
    }

    /// Encodes for the journal.
    pub fn encode(&self) -> Vec<u8> {
        encode(
            self.intake,
            self.id,
            self.received_at_us,
            self.transport,
            &self.peer,
            &self.data,
        )
    }

    /// Decodes a journal payload.
    pub fn decode(b: &[u8]) -> Result<RawEvent, DecodeError> {
        if b.len() < FIXED {
            return Err(DecodeError("too short"));
        }
        if b[0] != VERSION {
            return Err(DecodeError("unknown version"));
        }
        let uuid = |r: &[u8]| {
            let mut a = [0u8; 16];
            a.copy_from_slice(r);
            Uuid::from_bytes(a)
        };
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[33..41]);
        let transport = Transport::from_code(b[41]).ok_or(DecodeError("unknown transport"))?;
        let plen = u16::from_le_bytes([b[42], b[43]]) as usize;
        let rest = &b[FIXED..];
        if rest.len() < plen {
            return Err(DecodeError("peer overruns record"));
        }
        Ok(RawEvent {
            intake: uuid(&b[1..17]),
            id: uuid(&b[17..33]),
            received_at_us: i64::from_le_bytes(ts),
            transport,
            peer: String::from_utf8_lossy(&rest[..plen]).into_owned(),
            data: rest[plen..].to_vec(),
        })
    }

    /// The receipt time in RFC 3339 UTC.
    pub fn received_at_rfc3339(&self) -> String {
        let t = std::time::UNIX_EPOCH
            + std::time::Duration::from_micros(self.received_at_us.max(0) as u64);
        humantime::format_rfc3339_micros(t).to_string()
    }
}

/// Encodes a raw event from its parts without building a [`RawEvent`] first.
pub fn encode(
    intake: Uuid,
    id: Uuid,
    received_at_us: i64,
    transport: Transport,
    peer: &str,
    data: &[u8],
) -> Vec<u8> {
    let peer = peer.as_bytes();
    let peer = &peer[..peer.len().min(u16::MAX as usize)];
    let mut out = Vec::with_capacity(FIXED + peer.len() + data.len());
    out.push(VERSION);
    out.extend_from_slice(intake.as_bytes());
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&received_at_us.to_le_bytes());
    out.push(transport.code());
    out.extend_from_slice(&(peer.len() as u16).to_le_bytes());
    out.extend_from_slice(peer);
    out.extend_from_slice(data);
    out
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
    fn a_raw_event_survives_encoding() {
        let e = RawEvent {
            intake: Uuid::now_v7(),
            id: Uuid::now_v7(),
            received_at_us: 1_700_000_000_123_456,
            transport: Transport::SyslogTls,
            peer: "10.0.0.1:5140".into(),
            data: b"hello\nworld".to_vec(),
        };
        assert_eq!(RawEvent::decode(&e.encode()).unwrap(), e);
    }

    #[test]
    fn every_transport_survives_encoding() {
        for t in [
            Transport::Http,
            Transport::Https,
            Transport::Syslog,
            Transport::SyslogTls,
            Transport::Import,
        ] {
            let e = RawEvent {
                intake: Uuid::nil(),
                id: Uuid::nil(),
                received_at_us: 0,
                transport: t,
                peer: "import:/var/log/zia.log.gz".into(),
                data: b"{}".to_vec(),
            };
            assert_eq!(RawEvent::decode(&e.encode()).unwrap().transport, t);
        }
    }

    #[test]
    fn a_truncated_payload_is_an_error_not_a_panic() {
        let e = RawEvent {
            intake: Uuid::nil(),
            id: Uuid::nil(),
            received_at_us: 0,
            transport: Transport::Http,
            peer: "x".repeat(50),
            data: vec![],
        };
        let b = e.encode();
        assert!(RawEvent::decode(&b[..b.len() - 10]).is_err());
        assert!(RawEvent::decode(&b[..5]).is_err());
    }
}
