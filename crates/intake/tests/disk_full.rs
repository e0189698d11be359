//! A full disk is a state, not a crash: the journal's file-system layer is made to fail with
//! ENOSPC, then space "returns". Intake answers 503 with Retry-After, syslog pushes back,
//! `/readyz` says why, and everything resumes by itself with nothing lost or doubled.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

const K: &str = "x-sekoiaio-intake-key";

#[test]
fn fill_answers_503_and_pauses_syslog_then_free_resumes_with_every_event_once() {
    let full = Arc::new(AtomicBool::new(false));
    let s = {
        let full = full.clone();
        TestServer::start_keyed(move |c, key| {
            c.journal.inject_no_space = Some(full);
            c.syslog.default_key = Some(key.to_string());
        })
    };
    let before: String = (0..100).map(|i| format!("before {i}\n")).collect();
    assert_eq!(
        post(&s.url("/plain/batch"), &[(K, &s.key)], &before).status,
        202
    );
    s.wait_events(100);

    // Fill.
    full.store(true, Ordering::Relaxed);
    let a = post(&s.url("/plain/batch"), &[(K, &s.key)], "refused\n");
    assert_eq!(a.status, 503);
    assert_eq!(a.body["reason"], "disk_full");
    assert_eq!(a.retry_after.as_deref(), Some("30"));
    let (code, why) = get(&s.url("/readyz"), &[]);
    assert_eq!(code, 503);
    assert!(why.contains("disk full"), "{why}");
    // Syslog lines sent while the disk is full wait in the connection.
    let mut c = TcpStream::connect(s.syslog).unwrap();
    for i in 0..50 {
        writeln!(c, "<13>Oct 11 22:14:15 nss during {i}").unwrap();
    }
    c.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        read_events(&s.sink_path()).len(),
        100,
        "nothing journaled while full"
    );

    // Free: everything resumes without a restart.
    full.store(false, Ordering::Relaxed);
    let after: String = (0..100).map(|i| format!("after {i}\n")).collect();
    let mut status = 0;
    for _ in 0..50 {
        status = post(&s.url("/plain/batch"), &[(K, &s.key)], &after).status;
        if status == 202 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(status, 202);
    let events = s.wait_events(250);
    let raws = raws(&events);
    let unique: BTreeSet<&String> = raws.iter().collect();
    assert_eq!(raws.len(), 250, "100 before + 50 syslog lines + 100 after");
    assert_eq!(unique.len(), 250, "nothing doubled");
    assert!(
        !raws.iter().any(|r| r == "refused"),
        "the refused POST was not kept"
    );
    assert_eq!(raws.iter().filter(|r| r.contains("during")).count(), 50);
    assert_eq!(get(&s.url("/readyz"), &[]).0, 200);
}
