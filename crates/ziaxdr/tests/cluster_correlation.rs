//! The alerts of a cluster equal those of a single node given the same records: two
//! workers share the events of every correlation group (the shipped rules, among them the
//! `event_count` correlation `zia_blocked_burst`: 50 blocked requests of one user in 5 min),
//! and one worker is SIGKILLed mid-ingest and started again, so that some events are
//! delivered twice. The cluster's alerts (PostgreSQL) are compared with those of one
//! `ziaxdr serve` (SQLite, in-memory correlations) fed the same batches: same rules, same
//! number of alerts, same number of matches in each.
//!
//! NATS and PostgreSQL from `.ci/nats.sh` and `.ci/postgres.sh` (a stream and a database of
//! the test's own), ClickHouse from `.ci/clickhouse.sh`.

mod intake_common;
#[path = "../../store/tests/common/mod.rs"]
#[allow(unused_macros, unused_imports)]
mod store_common;

use intake_common::{cli, create_intake, http, Scratch, Serve};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// The id of the shipped correlation rule the records are made to fire.
const BURST_RULE: &str = "6439d272-410f-572d-a2d1-dcc39c771e18";

/// Web records: blocked requests of five users (`login` is their `user.email`, the
/// burst rule's group key; four above its threshold, one below), interleaved so that every batch holds several users, all within 4 minutes;
/// and a few requests to the Telegram bot API (a single-event rule).
fn records() -> Vec<String> {
    let quota = [120usize, 120, 75, 60, 45];
    let mut left = quota;
    let mut out = Vec::new();
    let mut i = 0usize;
    while left.iter().any(|n| *n > 0) {
        let u = i % quota.len();
        i += 1;
        if left[u] == 0 {
            continue;
        }
        left[u] -= 1;
        let n = out.len();
        out.push(format!(
            r#"{{"sourcetype":"zscalernss-web","event":{{"datetime":"2024-05-01 10:{:02}:{:02}","ClientIP":"10.2.0.{u}","login":"user{u}@example.com","url":"blocked{n}.example.com/x","hostname":"blocked{n}.example.com","action":"Blocked","urlcategory":"Malware Sites","event_id":"{n}"}}}}"#,
            (n / 60) % 4,
            n % 60
        ));
        if n % 50 == 7 {
            let m = out.len();
            out.push(format!(
                r#"{{"sourcetype":"zscalernss-web","event":{{"datetime":"2024-05-01 10:01:{:02}","ClientIP":"10.2.1.{u}","login":"user{u}@example.com","url":"api.telegram.org/bot1:AAE/sendDocument","hostname":"api.telegram.org","action":"Allowed","event_id":"{m}"}}}}"#,
                m % 60
            ));
        }
    }
    out
}

fn post(addr: SocketAddr, key: &str, body: &str) -> u16 {
    http(
        addr,
        "POST",
        "/plain/batch?status_code=200",
        &[("X-SEKOIAIO-INTAKE-KEY", key)],
        body.as_bytes(),
    )
    .map_or(0, |a| a.status)
}

/// Per rule: the number of alerts, and the number of matches they hold (the first and the
/// similar ones), from `ziaxdr alerts list --json` with these arguments.
fn summary(args: &[&str]) -> BTreeMap<String, (u64, u64)> {
    let mut all = vec!["alerts", "list", "--json", "--limit", "10000"];
    all.extend_from_slice(args);
    let (code, out) = cli(&all);
    assert_eq!(code, 0, "{out}");
    let mut by_rule: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let a: Value = serde_json::from_str(line).unwrap();
        let rule = a["rule"]["id"].as_str().unwrap().to_string();
        let e = by_rule.entry(rule).or_default();
        e.0 += 1;
        e.1 += 1 + a["similar"].as_u64().unwrap();
    }
    by_rule
}

/// Waits until `f` gives the same answer twice, 3 s apart (90 s at most).
fn settled(f: impl Fn() -> BTreeMap<String, (u64, u64)>) -> BTreeMap<String, (u64, u64)> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = f();
    loop {
        std::thread::sleep(Duration::from_secs(3));
        let now = f();
        if (now == last && !now.is_empty()) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

fn cluster_args<'a>(
    role: &'a str,
    data: &'a Path,
    nats: &'a str,
    stream: &'a str,
    pg: &'a str,
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
        "--nats",
        nats,
        "--nats-stream",
        stream,
        // A killed worker's messages go to the other within seconds.
        "--nats-ack-wait",
        "5",
        "--postgres",
        pg,
        "--clickhouse",
        ch,
        "--clickhouse-database",
        db,
    ]
}

#[test]
fn two_workers_one_of_them_killed_raise_the_alerts_of_a_single_node_correlations_included() {
    let nats = queue::testing::shared_urls().join(",");
    let stream = queue::testing::unique("CORR").to_uppercase();
    let pg = pgstate::testing::fresh_database("cluster_correlation");
    let ch = store_common::clickhouse::clickhouse_url();
    let db = format!("cluster_correlation_{}", std::process::id());
    let _guard = store_common::clickhouse::Guard {
        cfg: {
            let mut c = store::ClickHouseConfig::new(ch.clone());
            c.database = db.clone();
            c
        },
    };
    let dir = Scratch::new("cluster-correlation");
    let d: Vec<_> = ["single", "i1", "i2", "w1", "w2"]
        .iter()
        .map(|n| dir.0.join(n))
        .collect();
    let records = records();
    let batches: Vec<String> = records.chunks(20).map(|c| c.join("\n")).collect();

    // The single node: the reference.
    let (_, single_key) = create_intake(&d[0]);
    let single = Serve::spawn(
        &[
            "serve",
            "--data",
            d[0].to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "127.0.0.1:0",
        ],
        &[],
    );
    for (b, body) in batches.iter().enumerate() {
        assert_eq!(post(single.http, &single_key, body), 200, "batch {b}");
    }

    // The cluster: keys from PostgreSQL.
    let (_, key) = intake_common::create_intake_with(&["--postgres", &pg]);
    let spawn = |role: &str, data: &Path| {
        Serve::spawn(
            &cluster_args(role, data, &nats, &stream, &pg, &ch, &db),
            &[],
        )
    };
    let i1 = spawn("intake", &d[1]);
    let i2 = spawn("intake", &d[2]);
    let mut w1 = Some(spawn("worker", &d[3]));
    let w2 = spawn("worker", &d[4]);
    let third = batches.len() / 3;
    for (b, body) in batches.iter().enumerate() {
        if b == third {
            // Its fetched, unacknowledged messages go to the other worker, or to itself
            // again once restarted: some are delivered twice.
            if let Some(w) = w1.take() {
                w.kill();
            }
        }
        if b == 2 * third {
            w1 = Some(spawn("worker", &d[3]));
        }
        let addr = if b % 2 == 0 { i1.http } else { i2.http };
        assert_eq!(post(addr, &key, body), 200, "batch {b}");
        std::thread::sleep(Duration::from_millis(30));
    }

    let single_alerts = settled(|| summary(&["--data", d[0].to_str().unwrap()]));
    assert!(
        single_alerts.get(BURST_RULE).is_some_and(|(n, _)| *n > 0),
        "the records fire no correlation on the single node: {single_alerts:?}"
    );
    let elsewhere = dir.0.join("cli");
    let deadline = Instant::now() + Duration::from_secs(90);
    let cluster_alerts = loop {
        let now = summary(&["--data", elsewhere.to_str().unwrap(), "--postgres", &pg]);
        if now == single_alerts || Instant::now() > deadline {
            // Longer than the ack wait, in which a match counted twice would show.
            std::thread::sleep(Duration::from_secs(7));
            break summary(&["--data", elsewhere.to_str().unwrap(), "--postgres", &pg]);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!("per rule (alerts, matches): {single_alerts:?}");
    assert_eq!(
        cluster_alerts, single_alerts,
        "per rule (alerts, matches): cluster left, single node right"
    );
    drop((single, i1, i2, w1, w2));
}
