//! The cluster roles: `serve --role intake` publishes to NATS JetStream and answers only once
//! JetStream acknowledged, `serve --role worker` consumes, parses and stores in ClickHouse,
//! and acknowledges only after the insert. NATS from `.ci/nats.sh` (a stream of its own per
//! test) or a cluster the test starts itself when it kills nodes; ClickHouse from
//! `.ci/clickhouse.sh` (a database of its own per test).

mod intake_common;
#[path = "../../store/tests/common/mod.rs"]
#[allow(unused_macros, unused_imports)]
mod store_common;

use intake_common::{clickhouse_count, create_intake, http, request, Scratch, Serve};
use std::path::Path;
use std::time::{Duration, Instant};

struct Cluster {
    nats: String,
    stream: String,
    ch: String,
    db: String,
    _guard: store_common::clickhouse::Guard,
}

impl Cluster {
    fn new(nats: Vec<String>, tag: &str) -> Cluster {
        let ch = store_common::clickhouse::clickhouse_url();
        let db = format!("cluster_{tag}_{}", std::process::id());
        let guard = store_common::clickhouse::Guard {
            cfg: {
                let mut c = store::ClickHouseConfig::new(ch.clone());
                c.database = db.clone();
                c
            },
        };
        Cluster {
            nats: nats.join(","),
            stream: queue::testing::unique("S").to_uppercase(),
            ch,
            db,
            _guard: guard,
        }
    }

    fn args<'a>(&'a self, role: &'a str, data: &'a Path) -> Vec<&'a str> {
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
            &self.nats,
            "--nats-stream",
            &self.stream,
            "--nats-replicas",
            "3",
            "--nats-max-bytes",
            "67108864",
            "--clickhouse",
            &self.ch,
            "--clickhouse-database",
            &self.db,
        ]
    }

    fn intake(&self, data: &Path) -> Serve {
        Serve::spawn(&self.args("intake", data), &[])
    }

    fn worker(&self, data: &Path) -> Serve {
        Serve::spawn(&self.args("worker", data), &[])
    }

    fn count(&self, query: &str) -> u64 {
        // A search that fails (the table not created yet, a timeout on a loaded machine) is
        // no count: it is tried again before the answer is taken as none stored.
        for _ in 0..5 {
            if let Ok(n) = clickhouse_count(&self.ch, &self.db, query) {
                return n;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        0
    }

    /// Waits until `n` events are stored (90 s at most), then a little longer, in which a
    /// double would show; returns the count.
    fn wait_count(&self, n: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.count("*") < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(300));
        }
        std::thread::sleep(Duration::from_secs(2));
        self.count("*")
    }
}

/// Web records with their own ids (`event_id`), `first..first + n`.
fn batch(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!(r#"{{"sourcetype":"zscalernss-web","event":{{"datetime":"2024-05-01 10:{:02}:{:02}","ClientIP":"10.0.{}.{}","url":"host{i}.example.com/x","action":"Blocked","event_id":"{i}"}}}}"#, (i / 60) % 60, i % 60, i / 250 % 250, i % 250))
        .collect::<Vec<_>>()
        .join("\n")
}

fn post(server: &Serve, key: &str, body: &str) -> u16 {
    http(
        server.http,
        "POST",
        "/plain/batch?status_code=200",
        &[("X-SEKOIAIO-INTAKE-KEY", key)],
        body.as_bytes(),
    )
    .map(|a| a.status)
    .unwrap_or(0)
}

/// Posts as Cloud NSS does: a 503 (the node not yet connected to JetStream, or its
/// stream not yet created on a loaded machine) accepted nothing and is tried again after a
/// pause, for 60 s at most; returns the last status.
fn post_until_accepted(server: &Serve, key: &str, body: &str) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = post(server, key, body);
        if status != 503 || Instant::now() >= deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn events_acknowledged_by_an_intake_node_are_stored_once_by_a_worker() {
    let c = Cluster::new(queue::testing::shared_urls(), "e2e");
    let dir = Scratch::new("cluster-e2e");
    let (idata, wdata) = (dir.0.join("intake"), dir.0.join("worker"));
    let (_, key) = create_intake(&idata);
    let intake = c.intake(&idata);
    let worker = c.worker(&wdata);
    let mut acked = 0u64;
    for b in 0..10 {
        assert_eq!(
            post_until_accepted(&intake, &key, &batch(b * 100, 100)),
            200
        );
        acked += 100;
    }
    assert_eq!(c.wait_count(acked), acked);
    assert_eq!(
        c.count("event.dataset:web AND source.ip:10.0.0.0/16"),
        acked
    );
    drop(worker);
    drop(intake);
}

#[test]
fn an_intake_node_answers_503_with_retry_after_while_nats_is_unreachable() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Cluster::new(vec![format!("nats://127.0.0.1:{port}")], "down");
    let dir = Scratch::new("cluster-down");
    let data = dir.0.join("intake");
    let (_, key) = create_intake(&data);
    let intake = c.intake(&data);
    let r = request(
        intake.http,
        "POST",
        "/plain/batch?status_code=200",
        &[("X-SEKOIAIO-INTAKE-KEY", key.as_str())],
        &batch(0, 3),
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.json()["reason"], "queue_unavailable");
    let ready = request(intake.http, "GET", "/readyz", &[], "");
    assert_eq!(ready.status, 503);
    assert!(ready.body.contains("nats"), "{}", ready.body);
}

#[test]
fn a_worker_node_says_on_readyz_that_nats_is_missing() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Cluster::new(vec![format!("nats://127.0.0.1:{port}")], "wdown");
    let dir = Scratch::new("cluster-wdown");
    let worker = c.worker(&dir.0.join("worker"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ready = request(worker.http, "GET", "/readyz", &[], "");
    while ready.status != 503 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        ready = request(worker.http, "GET", "/readyz", &[], "");
    }
    assert_eq!(ready.status, 503);
    assert!(ready.body.contains("nats"), "{}", ready.body);
}

/// The value of a metric without labels in `/metrics` of `node`.
fn metric(node: &Serve, name: &str) -> Option<u64> {
    let r = request(node.http, "GET", "/metrics", &[], "");
    r.body
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Waits (30 s at most) until `node`'s metric `name` satisfies `ok`; returns its value.
fn wait_metric(node: &Serve, name: &str, ok: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = metric(node, name);
        match v {
            Some(v) if ok(v) => return v,
            _ if Instant::now() > deadline => panic!("{name} is {v:?} after 30 s"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[test]
fn metrics_of_intake_and_worker_nodes_show_the_jetstream_backlog() {
    let c = Cluster::new(queue::testing::shared_urls(), "backlog");
    let dir = Scratch::new("cluster-backlog");
    let (idata, wdata) = (dir.0.join("intake"), dir.0.join("worker"));
    let (_, key) = create_intake(&idata);
    let intake = c.intake(&idata);
    // No worker yet: what is acknowledged waits in the stream, the 300 events of the
    // request packed in one message.
    assert_eq!(post_until_accepted(&intake, &key, &batch(0, 300)), 200);
    assert_eq!(
        wait_metric(&intake, "ziaxdr_queue_backlog_messages", |v| v > 0),
        1
    );
    assert!(wait_metric(&intake, "ziaxdr_queue_backlog_bytes", |v| v > 0) > 300);
    let worker = c.worker(&wdata);
    // Once the worker stored and acknowledged them, both nodes say the backlog is empty.
    assert_eq!(c.wait_count(300), 300);
    wait_metric(&worker, "ziaxdr_queue_backlog_messages", |v| v == 0);
    wait_metric(&intake, "ziaxdr_queue_backlog_messages", |v| v == 0);
    assert_eq!(metric(&worker, "ziaxdr_queue_backlog_bytes"), Some(0));
    drop(worker);
    drop(intake);
}
