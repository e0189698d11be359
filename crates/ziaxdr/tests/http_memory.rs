//! Memory under a burst of large bogus requests against the real `ziaxdr serve` process:
//! bounded while it lasts, returned to the system after it. The figures are printed
//! (`cargo test -p ziaxdr --test http_memory -- --nocapture`).

mod intake_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use intake_common::*;

const MB: u64 = 1024 * 1024;
const BODY_BYTES: usize = 10_000_000;
const CLIENTS: usize = 16;

fn rss_bytes(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Sends one request with `body`, whatever the server does with it, and returns the status.
fn send(addr: SocketAddr, path: &str, key: Option<&str>, body: &[u8]) -> u16 {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let key = key.map_or(String::new(), |k| format!("x-sekoiaio-intake-key: {k}\r\n"));
    write!(
        c,
        "POST {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n{key}content-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    // The server may answer and close before the body is all sent.
    let _ = c.write_all(body);
    let mut resp = Vec::new();
    let _ = c.read_to_end(&mut resp);
    String::from_utf8_lossy(&resp)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Runs `CLIENTS` concurrent requests while sampling the server's RSS; returns the statuses
/// and the highest RSS seen.
fn burst(serve: &Serve, path: &str, key: Option<&str>, body: Arc<Vec<u8>>) -> (Vec<u16>, u64) {
    let pid = serve.child.id();
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (body, path, key, addr) = (
                body.clone(),
                path.to_string(),
                key.map(String::from),
                serve.http,
            );
            std::thread::spawn(move || send(addr, &path, key.as_deref(), &body))
        })
        .collect();
    let statuses = clients.into_iter().map(|c| c.join().unwrap()).collect();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    (statuses, peak.load(Ordering::Relaxed))
}

/// A body of `[0,0,…]` (the amplification case: millions of tiny JSON values).
fn zeros_array(prefix: &str, suffix: &str) -> Vec<u8> {
    let mut b = prefix.as_bytes().to_vec();
    b.push(b'[');
    while b.len() < BODY_BYTES - 2 - suffix.len() {
        b.extend_from_slice(b"0,");
    }
    b.push(b'0');
    b.push(b']');
    b.extend_from_slice(suffix.as_bytes());
    b
}

fn settle(pid: u32, below: u64, within: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let r = rss_bytes(pid);
        if r <= below || start.elapsed() > within {
            return r;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sixteen_10mb_bodies_with_bogus_keys_keep_memory_bounded_and_it_is_returned() {
    let data = Scratch::new("http-memory");
    let serve = Serve::start(&data.0, &[]);
    let pid = serve.child.id();
    // Warm up: a few small requests, so that what the first ones allocate for good (thread
    // heaps, caches) is in the base.
    for _ in 0..CLIENTS {
        send(serve.http, "/plain/batch", Some("bogus"), b"x");
    }
    std::thread::sleep(Duration::from_secs(1));
    let base = rss_bytes(pid);

    // A wrong key in the header: refused before the body is read.
    let (st, peak_header) = burst(
        &serve,
        "/plain/batch",
        Some("bogus"),
        Arc::new(zeros_array("", "")),
    );
    assert!(st.iter().all(|s| *s == 401), "{st:?}");

    // The key in the body: each body is read (10 MB), scanned for its key, never parsed.
    let body = zeros_array(r#"{"intake_key":"bogus","jsons":"#, "}");
    let (st, peak_body) = burst(&serve, "/batch", None, Arc::new(body));
    assert!(st.iter().all(|s| *s == 401 || *s == 503), "{st:?}");
    assert!(st.contains(&401));
    let after = settle(pid, base + 32 * MB, Duration::from_secs(20));

    eprintln!(
        "RSS: base {} MB; 16 x 10 MB bogus header key: peak +{} MB; 16 x 10 MB bogus body key: \
         peak +{} MB; after the burst {} MB (+{} MB)",
        base / MB,
        peak_header.saturating_sub(base) / MB,
        peak_body.saturating_sub(base) / MB,
        after / MB,
        after.saturating_sub(base) / MB,
    );
    assert!(
        peak_header < base + 32 * MB,
        "header-key burst peak {peak_header}"
    );
    // At most the bodies read at once (8 slots; the others are 503) and some slack: no
    // tree of them.
    let bodies = (8 * BODY_BYTES) as u64;
    assert!(
        peak_body < base + bodies + 64 * MB,
        "body-key burst peak {peak_body}"
    );
    assert!(
        after <= base + 32 * MB,
        "after the burst {after}, base {base}"
    );
}
