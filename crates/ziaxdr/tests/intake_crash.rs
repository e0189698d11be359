//! Crash safety: SIGKILL the server while HTTP and TCP clients send, restart it, and check
//! that every acknowledged event reached the sink exactly once and that the sink holds
//! nothing that was never sent.

mod intake_common;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use intake_common::*;

#[derive(Default)]
struct Log {
    /// Lines whose HTTP request was answered 2xx, with the event id the server gave.
    acked: HashMap<String, String>,
    /// Every line any client tried to send.
    attempted: HashSet<String>,
}

fn http_client(
    addr: std::net::SocketAddr,
    key: String,
    who: usize,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) {
    let mut seq = 0;
    while !stop.load(Ordering::Relaxed) {
        let lines: Vec<String> = (0..5).map(|i| format!("http-{who}-{seq}-{i}")).collect();
        seq += 1;
        log.lock().unwrap().attempted.extend(lines.iter().cloned());
        let body = lines.join("\n");
        match http(
            addr,
            "POST",
            "/plain/batch?status_code=200",
            &[("X-SEKOIAIO-INTAKE-KEY", &key)],
            body.as_bytes(),
        ) {
            Ok(a) if a.status == 200 => {
                let ids = a.body["event_ids"].as_array().unwrap().clone();
                assert_eq!(ids.len(), lines.len());
                let mut l = log.lock().unwrap();
                for (line, id) in lines.into_iter().zip(ids) {
                    l.acked.insert(line, id.as_str().unwrap().to_string());
                }
            }
            Ok(a) => panic!("unexpected answer {a:?}"),
            Err(_) => return, // the server died
        }
    }
}

fn tcp_client(
    addr: std::net::SocketAddr,
    key: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) {
    let Ok(mut c) = TcpStream::connect(addr) else {
        return;
    };
    let mut seq = 0;
    while !stop.load(Ordering::Relaxed) {
        let lines: Vec<String> = (0..20).map(|i| format!("tcp-{seq}-{i}")).collect();
        seq += 1;
        log.lock().unwrap().attempted.extend(lines.iter().cloned());
        let mut buf = String::new();
        for l in &lines {
            buf.push_str(&format!(
                "<134>1 - nss zscaler - - [SEKOIA@53288 intake_key=\"{key}\"] {l}\n"
            ));
        }
        if c.write_all(buf.as_bytes()).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The stored line's payload: the text after the syslog header's nil structured data.
fn payload(raw: &str) -> String {
    raw.rsplit_once(" - ").map_or(raw, |x| x.1).to_string()
}

#[test]
fn after_sigkill_and_restart_every_acknowledged_event_is_in_the_sink_exactly_once() {
    let dir = Scratch::new("crash");
    let data = dir.0.join("data");
    let (_uuid, key) = create_intake(&data);
    let server = Serve::start(&data, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let mut clients = Vec::new();
    for who in 0..3 {
        let (k, s, l, a) = (key.clone(), stop.clone(), log.clone(), server.http);
        clients.push(std::thread::spawn(move || http_client(a, k, who, s, l)));
    }
    {
        let (k, s, l, a) = (key.clone(), stop.clone(), log.clone(), server.syslog);
        clients.push(std::thread::spawn(move || tcp_client(a, k, s, l)));
    }
    // Let traffic flow, and the pipeline commit part of it, before the crash.
    wait_sink(&data, 200);
    std::thread::sleep(Duration::from_millis(300));
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }

    // Restart, let the pipeline replay the journal, then stop cleanly (drain + checkpoint).
    let server = Serve::start(&data, &[]);
    let (code, _) = server.terminate();
    assert_eq!(code, 0);

    let events = sink_events(&data);
    let log = log.lock().unwrap();
    assert!(
        log.acked.len() >= 50,
        "too little traffic before the crash: {}",
        log.acked.len()
    );
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    for e in &events {
        let p = payload(e["raw"].as_str().unwrap());
        *seen.entry(p.clone()).or_default() += 1;
        ids.insert(p, e["event_id"].as_str().unwrap().to_string());
    }
    eprintln!(
        "acknowledged over HTTP: {}, attempted: {}, in the sink after restart: {}",
        log.acked.len(),
        log.attempted.len(),
        events.len()
    );
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicated downstream: {dups:?}");
    for (line, id) in &log.acked {
        assert_eq!(
            seen.get(line),
            Some(&1),
            "acknowledged {line} missing from the sink"
        );
        assert_eq!(ids.get(line), Some(id), "{line} stored under another id");
    }
    for p in seen.keys() {
        assert!(
            log.attempted.contains(p),
            "the sink holds {p:?}, which nobody sent"
        );
    }
    assert!(
        seen.keys().any(|p| p.starts_with("tcp-")),
        "no TCP event survived"
    );
    // Offsets are strictly increasing: nothing was replayed out of order or twice.
    let offs: Vec<u64> = events
        .iter()
        .map(|e| e["offset"].as_u64().unwrap())
        .collect();
    assert!(offs.windows(2).all(|w| w[0] < w[1]));
}
