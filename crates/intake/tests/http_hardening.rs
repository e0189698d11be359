//! The HTTP listener against slow and hostile clients: header, body and idle timeouts,
//! connection caps, the key checked before the body is read, the per-request event cap,
//! bad framing. Every client talks to 127.0.0.1 (some from the source address 127.0.0.2,
//! to stand for a second machine), in bounded numbers and for bounded times.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

const K: &str = "x-sekoiaio-intake-key";

/// A connection to `to` from the loopback address `from`.
fn connect_from(s: &TestServer, from: [u8; 4], to: SocketAddr) -> TcpStream {
    let sock = s.rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(SocketAddr::from((from, 0))).unwrap();
        sock.connect(to).await.unwrap()
    });
    let std = sock.into_std().unwrap();
    std.set_nonblocking(false).unwrap();
    std.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    std
}

/// Reads what the server sends until it closes the connection (or the read timeout).
/// `Err` when the read timed out with the connection still open.
fn read_to_close(c: &mut TcpStream) -> Result<String, String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return Ok(String::from_utf8_lossy(&out).into_owned()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Ok(String::from_utf8_lossy(&out).into_owned())
            }
            Err(e) => {
                return Err(format!(
                    "{e}; read so far: {}",
                    String::from_utf8_lossy(&out)
                ))
            }
        }
    }
}

/// Reads until the end of a response's headers.
fn read_head(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(1) => out.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An agent that gives up after one second: "answered within a second".
fn quick_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(1)))
        .build()
        .into()
}

fn quick_post(s: &TestServer, body: &str) -> u16 {
    quick_agent()
        .post(&s.url("/plain/batch?status_code=200"))
        .header(K, &s.key)
        .send(body)
        .expect("answered within a second")
        .status()
        .as_u16()
}

/// Starts a request with a body of `len` bytes and sends none of it.
fn start_body(c: &mut TcpStream, key: Option<&str>, len: usize) {
    let key = key.map_or(String::new(), |k| format!("{K}: {k}\r\n"));
    write!(
        c,
        "POST /plain/batch HTTP/1.1\r\nHost: x\r\n{key}Content-Length: {len}\r\n\r\n"
    )
    .unwrap();
    c.flush().unwrap();
}

#[test]
fn keyless_slow_bodies_are_refused_before_their_body_and_a_real_post_is_answered() {
    let s = TestServer::start_with(|c| c.limits.max_inflight = 4);
    let mut slow: Vec<TcpStream> = (0..40)
        .map(|_| connect_from(&s, [127, 0, 0, 2], s.http))
        .collect();
    for c in &mut slow {
        start_body(c, None, 1_000_000);
        c.write_all(b"x").unwrap();
    }
    // Each is answered 401 without the server waiting for its body.
    for c in &mut slow {
        let head = read_head(c);
        assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    }
    assert_eq!(quick_post(&s, "real event\n"), 200);
    assert_eq!(raws(&s.wait_events(1)), ["real event"]);
}

#[test]
fn a_bogus_key_with_a_large_body_is_refused_before_the_body_is_sent() {
    let s = TestServer::start();
    let mut c = connect_from(&s, [127, 0, 0, 1], s.http);
    start_body(&mut c, Some("not-a-key"), 10 * 1024 * 1024);
    let head = read_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

#[test]
fn a_keyed_slow_body_gets_408_at_the_body_timeout_and_frees_its_slot() {
    let s = TestServer::start_with(|c| {
        c.limits.max_inflight = 2;
        c.limits.body_timeout = Duration::from_millis(800);
    });
    let mut slow: Vec<TcpStream> = (0..2)
        .map(|_| connect_from(&s, [127, 0, 0, 2], s.http))
        .collect();
    for c in &mut slow {
        start_body(c, Some(&s.key), 1000);
        c.write_all(b"x").unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    // Both slots are taken by bodies that are still coming.
    let busy = post(&s.url("/plain/batch"), &[(K, &s.key)], "e\n");
    assert_eq!(busy.status, 503);
    for c in &mut slow {
        let head = read_head(c);
        assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    }
    assert_eq!(quick_post(&s, "after\n"), 200);
}

#[test]
fn slow_header_clients_are_closed_at_the_header_timeout() {
    let s = TestServer::start_with(|c| c.limits.header_timeout = Duration::from_millis(500));
    let mut slow: Vec<TcpStream> = (0..30)
        .map(|_| connect_from(&s, [127, 0, 0, 2], s.http))
        .collect();
    for c in &mut slow {
        c.write_all(b"POST /plain/batch HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
    }
    assert_eq!(quick_post(&s, "while they trickle\n"), 200);
    let start = Instant::now();
    for c in &mut slow {
        read_to_close(c).expect("closed by the server");
    }
    // Closed by the header timeout, well before the 10 s read timeout.
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(quick_post(&s, "after\n"), 200);
}

#[test]
fn an_idle_connection_is_closed_at_the_idle_timeout() {
    let s = TestServer::start_with(|c| {
        c.limits.header_timeout = Duration::from_secs(30);
        c.limits.idle_timeout = Duration::from_millis(500);
    });
    let mut c = connect_from(&s, [127, 0, 0, 1], s.http);
    let start = Instant::now();
    read_to_close(&mut c).expect("closed by the server");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn connections_over_the_per_source_cap_are_closed_and_other_sources_still_connect() {
    let s = TestServer::start_with(|c| c.limits.max_connections_per_source = 8);
    let held: Vec<TcpStream> = (0..8)
        .map(|_| connect_from(&s, [127, 0, 0, 2], s.http))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut ninth = connect_from(&s, [127, 0, 0, 2], s.http);
    assert_eq!(read_to_close(&mut ninth).expect("closed at once"), "");
    assert_eq!(quick_post(&s, "other source\n"), 200);
    let (_, metrics) = get(&s.url("/metrics"), &[]);
    assert!(
        metrics
            .contains(r#"ziaxdr_http_connections_refused_total{cap="connections_per_source"} 1"#),
        "{metrics}"
    );
    drop(held);
}

#[test]
fn connections_over_the_total_cap_are_closed() {
    let s = TestServer::start_with(|c| c.limits.max_connections = 4);
    let _held: Vec<TcpStream> = (0..4)
        .map(|_| connect_from(&s, [127, 0, 0, 2], s.http))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fifth = connect_from(&s, [127, 0, 0, 3], s.http);
    assert_eq!(read_to_close(&mut fifth).expect("closed at once"), "");
}

#[test]
fn a_request_over_the_event_cap_is_refused_whole_with_413() {
    let s = TestServer::start_with(|c| c.limits.max_events = 10);
    let lines: String = (0..11).map(|i| format!("e{i}\n")).collect();
    let a = post(&s.url("/plain/batch"), &[(K, &s.key)], &lines);
    assert_eq!(a.status, 413);
    assert_eq!(a.body["reason"], "too_many_events");
    assert!(a.body["message"].as_str().unwrap().contains("10 events"));
    let arr = serde_json::to_string(&(0..11).collect::<Vec<_>>()).unwrap();
    let a = post(&s.url("/plain/batch"), &[(K, &s.key)], &arr);
    assert_eq!(a.body["reason"], "too_many_events");
    let a = post(&s.url("/array"), &[(K, &s.key)], &arr);
    assert_eq!(a.body["reason"], "too_many_events");
    // At the cap, accepted.
    let ten: String = (0..10).map(|i| format!("e{i}\n")).collect();
    assert_eq!(
        post(&s.url("/plain/batch"), &[(K, &s.key)], &ten).status,
        202
    );
}

#[test]
fn malformed_chunked_encoding_is_400() {
    let s = TestServer::start();
    let mut c = connect_from(&s, [127, 0, 0, 1], s.http);
    write!(
        c,
        "POST /plain/batch HTTP/1.1\r\nHost: x\r\n{K}: {}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        s.key
    )
    .unwrap();
    let head = read_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}

#[test]
fn a_key_in_the_body_still_works_and_a_wrong_one_is_401() {
    let s = TestServer::start();
    let body = format!(r#"{{"intake_key":"{}","jsons":["a","b"]}}"#, s.key);
    assert_eq!(post(&s.url("/batch"), &[], &body).status, 202);
    let a = post(
        &s.url("/batch"),
        &[],
        r#"{"intake_key":"nope","jsons":["a"]}"#,
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.body["reason"], "unknown_key");
}
