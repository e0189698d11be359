//! The syslog TCP intake over real sockets: framings, header styles, intake routing, limits,
//! TLS, idle timeouts and many connections.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::*;

fn sd(key: &str) -> String {
    format!("[SEKOIA@53288 intake_key=\"{key}\"]")
}

fn send(s: &TestServer, bytes: &[u8]) {
    let mut c = TcpStream::connect(s.syslog).unwrap();
    c.write_all(bytes).unwrap();
}

#[test]
fn newline_framed_5424_lines_are_routed_by_structured_data_and_the_key_is_removed() {
    let s = TestServer::start();
    let lines = format!(
        "<134>1 2024-11-27T10:00:00Z nss zscaler - LOG {k} {{\"n\":1}}\n<134>1 2024-11-27T10:00:01Z nss zscaler - LOG {k} {{\"n\":2}}\n",
        k = sd(&s.key)
    );
    send(&s, lines.as_bytes());
    let ev = s.wait_events(2);
    assert_eq!(
        raws(&ev),
        [
            r#"<134>1 2024-11-27T10:00:00Z nss zscaler - LOG - {"n":1}"#,
            r#"<134>1 2024-11-27T10:00:01Z nss zscaler - LOG - {"n":2}"#
        ]
    );
    assert!(!std::fs::read_to_string(s.sink_path())
        .unwrap()
        .contains(&s.key));
    assert_eq!(ev[0]["event"]["ziaxdr"]["transport"], "syslog");
}

#[test]
fn rfc3164_lines_are_accepted() {
    let s = TestServer::start();
    let line = format!(
        "<134>Nov 27 10:00:00 nss zscaler: {} {{\"n\":1}}\n",
        sd(&s.key)
    );
    send(&s, line.as_bytes());
    assert_eq!(
        raws(&s.wait_events(1)),
        [r#"<134>Nov 27 10:00:00 nss zscaler: {"n":1}"#]
    );
}

#[test]
fn octet_counted_frames_are_accepted_even_with_embedded_newlines() {
    let s = TestServer::start();
    let m1 = format!("<134>1 - nss z - - {} multi\nline", sd(&s.key));
    let m2 = format!("<134>1 - nss z - - {} second", sd(&s.key));
    let stream = format!("{} {m1}{} {m2}", m1.len(), m2.len());
    send(&s, stream.as_bytes());
    assert_eq!(
        raws(&s.wait_events(2)),
        [
            "<134>1 - nss z - - - multi\nline",
            "<134>1 - nss z - - - second"
        ]
    );
}

#[test]
fn the_listener_key_routes_lines_without_structured_data() {
    let s = TestServer::start_keyed(|c, key| c.syslog.default_key = Some(key.to_string()));
    send(&s, b"{\"bare\":1}\n");
    let ev = s.wait_events(1);
    assert_eq!(raws(&ev), [r#"{"bare":1}"#]);
    assert_eq!(ev[0]["intake"], s.intake_uuid.as_str());
}

#[test]
fn without_a_listener_key_a_line_without_structured_data_is_refused() {
    let s = TestServer::start();
    send(&s, b"{\"bare\":1}\n");
    let marker = format!("<134>1 - h a - - {} marker\n", sd(&s.key));
    send(&s, marker.as_bytes());
    assert_eq!(raws(&s.wait_events(1)), ["<134>1 - h a - - - marker"]);
    let (_, m) = get(&s.url("/metrics"), &[]);
    assert!(m.contains("reason=\"no_intake_key\""), "{m}");
}

#[test]
fn lines_with_an_unknown_key_are_refused_and_counted() {
    let s = TestServer::start();
    let line = format!(
        "<134>1 - h a - - {} refused\n",
        sd("0123456789abcdef0123456789abcdef")
    );
    let ok = format!("<134>1 - h a - - {} accepted\n", sd(&s.key));
    send(&s, format!("{line}{ok}").as_bytes());
    assert_eq!(raws(&s.wait_events(1)), ["<134>1 - h a - - - accepted"]);
    let (_, m) = get(&s.url("/metrics"), &[]);
    assert!(m.contains("reason=\"unknown_key\""), "{m}");
}

#[test]
fn an_over_long_line_is_counted_and_the_connection_survives() {
    let s = TestServer::start();
    let mut c = TcpStream::connect(s.syslog).unwrap();
    let long = format!(
        "<134>1 - h a - - {} {}\n",
        sd(&s.key),
        "x".repeat(300 * 1024)
    );
    c.write_all(long.as_bytes()).unwrap();
    let after = format!("<134>1 - h a - - {} after\n", sd(&s.key));
    c.write_all(after.as_bytes()).unwrap();
    assert_eq!(raws(&s.wait_events(1)), ["<134>1 - h a - - - after"]);
    let (_, m) = get(&s.url("/metrics"), &[]);
    assert!(m.contains("reason=\"line_too_long\""), "{m}");
}

#[test]
fn an_idle_connection_is_closed() {
    let s = TestServer::start_with(|c| c.syslog.idle_timeout = Duration::from_millis(300));
    let mut c = TcpStream::connect(s.syslog).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 1];
    assert_eq!(
        c.read(&mut b).unwrap(),
        0,
        "server closed the idle connection"
    );
}

#[test]
fn a_slow_sender_trickling_bytes_is_still_framed_correctly() {
    let s = TestServer::start();
    let mut c = TcpStream::connect(s.syslog).unwrap();
    let line = format!("<134>1 - h a - - {} trickled\n", sd(&s.key));
    for chunk in line.as_bytes().chunks(7) {
        c.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(raws(&s.wait_events(1)), ["<134>1 - h a - - - trickled"]);
}

#[test]
fn many_concurrent_connections_are_all_served() {
    let s = TestServer::start();
    let n = 1000;
    let conns: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(s.syslog).unwrap())
        .collect();
    for (i, mut c) in conns.into_iter().enumerate() {
        let line = format!("<134>1 - h a - - {} conn-{i}\n", sd(&s.key));
        c.write_all(line.as_bytes()).unwrap();
    }
    let ev = s.wait_events(n);
    assert_eq!(ev.len(), n);
}

#[test]
fn a_full_journal_pauses_the_reader_until_the_pipeline_frees_space_and_nothing_is_lost() {
    // A budget of a few KiB in 512-byte segments: the stream below is ten times larger, so the
    // reader must pause repeatedly while the pipeline commits and old segments are deleted.
    let s = TestServer::start_with(|c| {
        c.journal.max_disk_bytes = 4096;
        c.journal.segment_bytes = 512;
    });
    let mut c = TcpStream::connect(s.syslog).unwrap();
    let n = 400;
    let mut stream = String::new();
    for i in 0..n {
        stream.push_str(&format!("<134>1 - h a - - {} bp-{i:04}\n", sd(&s.key)));
    }
    c.write_all(stream.as_bytes()).unwrap();
    let ev = s.wait_events(n);
    let got = raws(&ev);
    let want: Vec<String> = (0..n)
        .map(|i| format!("<134>1 - h a - - - bp-{i:04}"))
        .collect();
    assert_eq!(got.len(), n, "events delivered");
    assert!(got == want, "events out of order or altered");
    let (_, m) = get(&s.url("/metrics"), &[]);
    assert!(
        m.contains("reason=\"journal_full\""),
        "the budget was never hit: {m}"
    );
}

#[test]
fn lines_sent_while_the_server_stops_are_still_delivered() {
    let mut s = TestServer::start();
    let mut c = TcpStream::connect(s.syslog).unwrap();
    let line = |i: usize| format!("<134>1 - h a - - {} stop-{i:02}\n", sd(&s.key));
    for i in 0..10 {
        c.write_all(line(i).as_bytes()).unwrap();
    }
    s.wait_events(10);
    let later: String = (10..20).map(line).collect();
    let path = s.sink_path();
    let stopping = std::thread::spawn(move || {
        s.stop();
        s
    });
    // The server has begun to stop: these lines reach a connection that is draining.
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(later.as_bytes()).unwrap();
    drop(c);
    let s = stopping.join().unwrap();
    let want: Vec<String> = (0..20)
        .map(|i| format!("<134>1 - h a - - - stop-{i:02}"))
        .collect();
    assert_eq!(raws(&read_events(&path)), want);
    drop(s);
}

#[test]
fn syslog_over_tls_is_accepted() {
    let tls = self_signed();
    let cert = tls.dir.path().join("cert.pem");
    let key = tls.dir.path().join("key.pem");
    let s = TestServer::start_with(|c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
        c.syslog_tls_addr = Some("127.0.0.1:0".parse().unwrap());
    });
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(tls.cert_der.clone()))
        .unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let sock = TcpStream::connect(s.syslog_tls.unwrap()).unwrap();
    let mut tls_stream = rustls::StreamOwned::new(conn, sock);
    let line = format!("<134>1 - h a - - {} secret-channel\n", sd(&s.key));
    tls_stream.write_all(line.as_bytes()).unwrap();
    tls_stream.flush().unwrap();
    let ev = s.wait_events(1);
    assert_eq!(raws(&ev), ["<134>1 - h a - - - secret-channel"]);
    assert_eq!(ev[0]["event"]["ziaxdr"]["transport"], "syslog-tls");
}

#[test]
fn a_tls_connection_that_never_completes_its_handshake_does_not_hold_up_the_stop() {
    let tls = self_signed();
    let cert = tls.dir.path().join("cert.pem");
    let key = tls.dir.path().join("key.pem");
    let mut s = TestServer::start_with(|c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
        c.syslog_tls_addr = Some("127.0.0.1:0".parse().unwrap());
        c.syslog.idle_timeout = Duration::from_secs(120);
    });
    // Connected, silent: the server waits for its TLS hello until the idle timeout.
    let _silent = TcpStream::connect(s.syslog_tls.unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = std::time::Instant::now();
    s.stop();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopping took {:?}",
        started.elapsed()
    );
}
