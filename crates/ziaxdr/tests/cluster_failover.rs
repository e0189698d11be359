//! The failover test of the cluster: a 3-node NATS cluster of the test's own, two intake
//! nodes, two workers. Cloud NSS batches go to both intake nodes (a failed batch is sent again
//! to the other, as Cloud NSS retries) while the test SIGKILLs one NATS node, one intake node
//! and one worker, then starts them again. Every acknowledged event is then searchable, and
//! exactly once.
//!
//! The intake nodes share their keys by sharing the registry file (copied before they start):
//! PostgreSQL-backed keys are the other half of issue 16.

mod intake_common;
#[path = "../../store/tests/common/mod.rs"]
#[allow(unused_macros, unused_imports)]
mod store_common;

use intake_common::{cli, clickhouse_count, create_intake, http, Scratch, Serve};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn args<'a>(
    role: &'a str,
    data: &'a Path,
    nats: &'a str,
    ch: &'a str,
    db: &'a str,
) -> Vec<&'a str> {
    vec![
        "serve",
        "--role",
        role,
        "--data",
        data.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--syslog",
        "127.0.0.1:0",
        "--no-detection",
        "--nats",
        nats,
        "--nats-replicas",
        "3",
        "--nats-max-bytes",
        "67108864",
        // A killed worker's messages go to the other within seconds.
        "--nats-ack-wait",
        "5",
        "--clickhouse",
        ch,
        "--clickhouse-database",
        db,
    ]
}

fn batch(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!(r#"{{"sourcetype":"zscalernss-web","event":{{"datetime":"2024-05-01 10:{:02}:{:02}","ClientIP":"10.1.{}.{}","url":"host{i}.example.com/x","action":"Blocked","event_id":"{i}"}}}}"#, (i / 60) % 60, i % 60, i / 250 % 250, i % 250))
        .collect::<Vec<_>>()
        .join("\n")
}

fn count(ch: &str, db: &str, query: &str) -> Option<u64> {
    clickhouse_count(ch, db, query).ok()
}

#[test]
fn killing_a_nats_node_an_intake_node_and_a_worker_loses_and_doubles_no_acknowledged_event() {
    let mut nats = queue::testing::NatsCluster::start(3);
    let urls = nats.urls().join(",");
    let ch = store_common::clickhouse::clickhouse_url();
    let db = format!("cluster_failover_{}", std::process::id());
    let _guard = store_common::clickhouse::Guard {
        cfg: {
            let mut c = store::ClickHouseConfig::new(ch.clone());
            c.database = db.clone();
            c
        },
    };
    let dir = Scratch::new("cluster-failover");
    let d: Vec<_> = ["i1", "i2", "w1", "w2"]
        .iter()
        .map(|n| dir.0.join(n))
        .collect();
    let (_, key) = create_intake(&d[0]);
    // The second intake node knows the same keys.
    std::fs::create_dir_all(&d[1]).unwrap();
    for f in std::fs::read_dir(&d[0]).unwrap() {
        let f = f.unwrap();
        if f.file_name()
            .to_string_lossy()
            .starts_with("registry.sqlite")
        {
            std::fs::copy(f.path(), d[1].join(f.file_name())).unwrap();
        }
    }
    let spawn = |role: &str, data: &Path| Serve::spawn(&args(role, data, &urls, &ch, &db), &[]);
    let mut i1 = spawn("intake", &d[0]);
    let i2 = spawn("intake", &d[1]);
    let mut w1 = spawn("worker", &d[2]);
    let w2 = spawn("worker", &d[3]);
    let addrs = Arc::new(Mutex::new(vec![i1.http, i2.http]));

    // The sender: batches alternately to each intake node; a failed one goes again to the
    // other until acknowledged.
    let (batches, size) = (80usize, 50usize);
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (addrs, sent, key) = (addrs.clone(), sent.clone(), key.clone());
        std::thread::spawn(move || {
            let mut retries = 0;
            for b in 0..batches {
                let body = batch(b * size, size);
                let mut target = b % 2;
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    let addr: SocketAddr = addrs.lock().unwrap()[target];
                    let status = http(
                        addr,
                        "POST",
                        "/plain/batch?status_code=200",
                        &[("X-SEKOIAIO-INTAKE-KEY", key.as_str())],
                        body.as_bytes(),
                    )
                    .map_or(0, |a| a.status);
                    if status == 200 {
                        break;
                    }
                    assert!(Instant::now() < deadline, "batch {b} never acknowledged");
                    retries += 1;
                    target = 1 - target;
                    std::thread::sleep(Duration::from_millis(200));
                }
                sent.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(40));
            }
            retries
        })
    };
    let wait_sent = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while sent.load(Ordering::Relaxed) < n {
            assert!(Instant::now() < deadline, "sender stuck at {n}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_sent(20);
    nats.kill(0);
    i1.kill();
    w1.kill();
    wait_sent(40);
    nats.restart(0);
    i1 = spawn("intake", &d[0]);
    addrs.lock().unwrap()[0] = i1.http;
    w1 = spawn("worker", &d[2]);
    let retries = sender.join().unwrap();
    let acked = (batches * size) as u64;

    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&ch, &db, "*").unwrap_or(0) < acked && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    // Longer than the ack wait, in which a double from a redelivery would show.
    std::thread::sleep(Duration::from_secs(7));
    let stored = count(&ch, &db, "*").unwrap();
    // The most frequent record id: stored once.
    let top = {
        let (code, out) = cli(&[
            "search",
            "*",
            "--since",
            "3650d",
            "--top",
            "zscaler.zia.event_id",
            "--size",
            "3",
            "--json",
            "--clickhouse",
            &ch,
            "--clickhouse-database",
            &db,
        ]);
        assert_eq!(code, 0, "{out}");
        out
    };
    assert_eq!(
        stored, acked,
        "stored {stored} of {acked} acknowledged (after {retries} retried requests); top ids: {top}"
    );
    eprintln!(
        "{retries} requests sent again; most frequent record ids: {}",
        top.trim()
    );
    let top: Value = serde_json::from_str(top.trim()).unwrap();
    assert_eq!(highest_count(&top), Some(1), "{top}");
    drop((i1, i2, w1, w2));
}

/// The count of the most frequent value in a `--top --json` answer.
fn highest_count(v: &Value) -> Option<u64> {
    let values = v.get("values")?.as_array()?;
    let first = values.first()?;
    first
        .get("count")
        .and_then(Value::as_u64)
        .or_else(|| first.as_array()?.get(1)?.as_u64())
}
