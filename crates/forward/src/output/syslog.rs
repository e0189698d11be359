//! RFC 5424 syslog over TLS, as Sekoia's syslog intake (port 10514) and `ziaxdr serve
//! --syslog-tls` take it: one line per record, the key in `[SEKOIA@53288 intake_key="…"]`.
//! An RFC 3164 line (an NSS VM's default) is rewritten with an RFC 5424 header; its message
//! is kept byte for byte. Syslog has no acknowledgement: a window counts as sent once it is
//! written and flushed, so records written just before a receiver dies can be lost; the
//! connection is checked for a close by the peer before each window to keep that short.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use intake::syslog::{header_kind, HeaderKind};
use rustls_pki_types::ServerName;

use super::OutputCtx;

/// Escapes a structured-data parameter value (RFC 5424 §6.3.3: `"`, `\` and `]`).
fn sd_escape(v: &str, out: &mut Vec<u8>) {
    for b in v.bytes() {
        if matches!(b, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

fn sd_element(key: &str) -> Vec<u8> {
    let mut sd = b"[SEKOIA@53288 intake_key=\"".to_vec();
    sd_escape(key, &mut sd);
    sd.extend_from_slice(b"\"]");
    sd
}

/// Splits `<PRI>` off a line: (PRI, rest). No header: (None, line).
fn split_pri(line: &[u8]) -> (Option<&[u8]>, &[u8]) {
    if line.first() != Some(&b'<') {
        return (None, line);
    }
    let digits = line[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    if (1..=3).contains(&digits) && line.get(1 + digits) == Some(&b'>') {
        (Some(&line[1..1 + digits]), &line[2 + digits..])
    } else {
        (None, line)
    }
}

/// True for an RFC 3164 timestamp `Mmm dd hh:mm:ss` (day space-padded or not).
fn is_3164_time(b: &[u8]) -> bool {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    b.len() >= 15
        && MONTHS.contains(&&b[..3])
        && b[3] == b' '
        && b[6] == b' '
        && b[9] == b':'
        && b[12] == b':'
}

/// Skips one space-separated token; (token, rest after the space).
fn token(b: &[u8]) -> (&[u8], &[u8]) {
    match b.iter().position(|c| *c == b' ') {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &[]),
    }
}

/// Skips the structured data of an RFC 5424 line (`-` or `[…][…]`); the index after it.
fn sd_end(b: &[u8]) -> Option<usize> {
    if b.first() == Some(&b'-') {
        return Some(1);
    }
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        let mut in_quotes = false;
        i += 1;
        loop {
            match *b.get(i)? {
                b'\\' if in_quotes => i += 2,
                b'"' => {
                    in_quotes = !in_quotes;
                    i += 1;
                }
                b']' if !in_quotes => {
                    i += 1;
                    break;
                }
                _ => i += 1,
            }
        }
    }
    (i > 0).then_some(i)
}

/// The RFC 5424 line sent for a buffered record, with `key` in the Sekoia element.
pub fn to_rfc5424(data: &[u8], key: &str, received_at_us: i64) -> Vec<u8> {
    let sd = sd_element(key);
    let mut out = Vec::with_capacity(data.len() + sd.len() + 64);
    if header_kind(data) == HeaderKind::Rfc5424 {
        // <PRI>1 TS HOST APP PROCID MSGID SD [MSG]: the element goes into SD.
        let (_, after_pri) = split_pri(data);
        let mut rest = &after_pri[2..];
        for _ in 0..5 {
            rest = token(rest).1;
        }
        let head = &data[..data.len() - rest.len()];
        if let Some(end) = sd_end(rest) {
            out.extend_from_slice(head);
            if rest[0] != b'-' {
                out.extend_from_slice(&rest[..end]);
            }
            out.extend_from_slice(&sd);
            out.extend_from_slice(&rest[end..]);
            return out;
        }
    }
    let (pri, rest) = split_pri(data);
    let time = humantime::format_rfc3339_micros(
        std::time::UNIX_EPOCH + Duration::from_micros(received_at_us.max(0) as u64),
    )
    .to_string();
    let (host, app, msg): (&[u8], &[u8], &[u8]) = if is_3164_time(rest) {
        // Mmm dd hh:mm:ss HOST TAG: MSG (the day may be space-padded: "Dec  6").
        let after_time = &rest[15..];
        let after_time = after_time.strip_prefix(b" ").unwrap_or(after_time);
        let (host, after_host) = token(after_time);
        let (tag, after_tag) = token(after_host);
        // A TAG ends at ':' or '['; a word without either belongs to the message.
        match tag.iter().position(|c| matches!(c, b':' | b'[')) {
            Some(end) if end > 0 => (host, &tag[..end], after_tag),
            _ => (host, b"-", after_host),
        }
    } else {
        (b"-", b"-", rest)
    };
    out.push(b'<');
    out.extend_from_slice(pri.unwrap_or(b"14"));
    out.extend_from_slice(b">1 ");
    out.extend_from_slice(time.as_bytes());
    for f in [host, app] {
        out.push(b' ');
        out.extend_from_slice(if f.is_empty() { b"-" } else { f });
    }
    out.extend_from_slice(b" - - ");
    out.extend_from_slice(&sd);
    if !msg.is_empty() {
        out.push(b' ');
        out.extend_from_slice(msg);
    }
    out
}

type Stream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect(
    host: &str,
    port: u16,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> std::io::Result<Stream> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host} resolves to no address")))?;
    let sock = TcpStream::connect_timeout(&addr, timeout)?;
    sock.set_nodelay(true)?;
    sock.set_write_timeout(Some(timeout))?;
    sock.set_read_timeout(Some(timeout))?;
    let name = ServerName::try_from(host.to_string()).map_err(std::io::Error::other)?;
    let conn = rustls::ClientConnection::new(tls.clone(), name).map_err(std::io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, sock);
    // Finish the handshake now, so a bad certificate shows as a connection failure.
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// False when the receiver has closed the connection (or sent an alert).
fn still_open(s: &mut Stream) -> bool {
    if s.sock.set_nonblocking(true).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    let open = match s.sock.peek(&mut b) {
        Ok(0) => false,
        Ok(_) => {
            // The receiver sent something (a TLS alert or close_notify): let rustls read it.
            let mut sink = [0u8; 256];
            !matches!(s.read(&mut sink), Ok(0) | Err(_))
        }
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    };
    s.sock.set_nonblocking(false).is_ok() && open
}

/// Sends windows to `host:port` until told to stop.
pub fn run(mut ctx: OutputCtx, host: String, port: u16, tls: Arc<rustls::ClientConfig>) {
    let mut conn: Option<Stream> = None;
    let label = ctx.label().to_string();
    while let Some(w) = ctx.next_window() {
        let mut payload = Vec::new();
        for r in w.lines() {
            payload.extend_from_slice(&to_rfc5424(r.data, ctx.key_for(r.key), r.received_at_us));
            payload.push(b'\n');
        }
        let mut attempt = 0u32;
        loop {
            if conn.as_mut().is_some_and(|c| !still_open(c)) {
                conn = None;
            }
            let result = match conn.as_mut() {
                Some(c) => c.write_all(&payload).and_then(|_| c.flush()),
                None => match connect(&host, port, &tls, ctx.tuning.request_timeout) {
                    Ok(mut c) => {
                        let r = c.write_all(&payload).and_then(|_| c.flush());
                        conn = Some(c);
                        r
                    }
                    Err(e) => Err(e),
                },
            };
            match result {
                Ok(()) => break,
                Err(e) => {
                    conn = None;
                    ctx.metrics.retried.with_label_values(&[&label]).inc();
                    if attempt == 0 {
                        tracing::warn!(destination = %label, error = %e, "syslog destination unreachable; retrying with backoff");
                    }
                    let wait = ctx.backoff(attempt, None);
                    attempt = attempt.saturating_add(1);
                    if !ctx.sleep(wait) {
                        return;
                    }
                }
            }
        }
        ctx.metrics
            .sent
            .with_label_values(&[&label])
            .inc_by(w.len() as u64);
        ctx.done_to(w.end);
        ctx.spare().recycle(w);
    }
    if let Some(mut c) = conn {
        c.conn.send_close_notify();
        let _ = c.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn a_5424_line_with_nil_sd_gets_the_sekoia_element() {
        let out = to_rfc5424(
            b"<134>1 2026-12-06T20:00:00Z nss zscaler - LOG - {\"a\":1}",
            "K",
            0,
        );
        assert_eq!(
            s(out),
            "<134>1 2026-12-06T20:00:00Z nss zscaler - LOG [SEKOIA@53288 intake_key=\"K\"] {\"a\":1}"
        );
    }

    #[test]
    fn a_5424_line_keeps_its_own_structured_data() {
        let out = to_rfc5424(b"<134>1 - h a - - [x@1 v=\"a]b\"] m", "K", 0);
        assert_eq!(
            s(out),
            "<134>1 - h a - - [x@1 v=\"a]b\"][SEKOIA@53288 intake_key=\"K\"] m"
        );
    }

    #[test]
    fn a_3164_line_gets_a_5424_header_and_keeps_its_message() {
        let out = to_rfc5424(
            b"<134>Dec 06 20:04:11 zscaler-nss NSS: {\"sourcetype\":\"x\"}",
            "K",
            1_765_051_451_000_000,
        );
        let out = s(out);
        assert!(out.starts_with("<134>1 2025-12-06T"), "{out}");
        assert!(
            out.ends_with(
                " zscaler-nss NSS - - [SEKOIA@53288 intake_key=\"K\"] {\"sourcetype\":\"x\"}"
            ),
            "{out}"
        );
    }

    #[test]
    fn a_3164_line_without_a_tag_colon_keeps_everything_after_the_host() {
        let out = s(to_rfc5424(
            b"Dec 06 20:04:11 zscaler-nss NSS {\"a\":1}",
            "K",
            0,
        ));
        assert!(out.starts_with("<14>1 1970-01-01T00:00:00"), "{out}");
        assert!(
            out.ends_with(" zscaler-nss - - - [SEKOIA@53288 intake_key=\"K\"] NSS {\"a\":1}"),
            "{out}"
        );
    }

    #[test]
    fn a_bare_record_is_wrapped_whole() {
        let out = s(to_rfc5424(b"{\"a\":1}", "K", 0));
        assert!(
            out.ends_with(" - - - - [SEKOIA@53288 intake_key=\"K\"] {\"a\":1}"),
            "{out}"
        );
    }

    #[test]
    fn the_key_is_escaped_in_the_element() {
        let out = s(to_rfc5424(b"m", "a\"b]c\\", 0));
        assert!(out.contains("intake_key=\"a\\\"b\\]c\\\\\"]"), "{out}");
        // And the intake crate's extraction reads it back.
        let (k, _) = intake::syslog::extract_intake_key(out.as_bytes()).unwrap();
        assert_eq!(k, "a\"b]c\\");
    }
}
