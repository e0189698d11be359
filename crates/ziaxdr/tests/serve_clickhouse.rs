//! `ziaxdr serve --clickhouse`: events acknowledged by the intake reach ClickHouse exactly
//! once, even when the server is killed (`kill -9`) during ingestion and restarted.

mod intake_common;
#[path = "../../store/tests/common/mod.rs"]
#[allow(unused_macros, unused_imports)]
mod store_common;

use intake_common::{clickhouse_count, create_intake, http, Scratch, Serve};
use std::time::{Duration, Instant};

fn start(data: &std::path::Path, url: &str, db: &str) -> Serve {
    Serve::spawn(
        &[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "127.0.0.1:0",
            "--no-detection",
            "--clickhouse",
            url,
            "--clickhouse-database",
            db,
        ],
        &[],
    )
}

/// The count of `query` in the test's database; the test fails if the search does.
fn count(url: &str, db: &str, query: &str) -> u64 {
    clickhouse_count(url, db, query).unwrap_or_else(|out| panic!("{out}"))
}

fn batch(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!(r#"{{"sourcetype":"zscalernss-web","event":{{"datetime":"2024-05-01 10:{:02}:{:02}","ClientIP":"10.0.{}.{}","url":"host{i}.example.com/x","action":"Blocked","event_id":"{i}"}}}}"#, (i / 60) % 60, i % 60, i / 250 % 250, i % 250))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn kill_9_during_ingestion_then_restart_stores_every_acknowledged_event_once() {
    let url = store_common::clickhouse::clickhouse_url();
    let guard = store_common::clickhouse::Guard {
        cfg: {
            let mut c = store::ClickHouseConfig::new(url.clone());
            c.database = format!("serve_test_{}", std::process::id());
            c
        },
    };
    let db = guard.cfg.database.clone();
    let dir = Scratch::new("serve-clickhouse");
    let data = dir.0.join("data");
    let (_, key) = create_intake(&data);
    let server = start(&data, &url, &db);
    let (batches, size) = (20, 100);
    let mut acked = 0;
    for b in 0..batches {
        let a = http(
            server.http,
            "POST",
            "/plain/batch?status_code=200",
            &[("X-SEKOIAIO-INTAKE-KEY", key.as_str())],
            batch(b * size, size).as_bytes(),
        )
        .unwrap();
        assert_eq!(a.status, 200);
        acked += size;
    }
    // Killed right after the last acknowledgement: the pipeline is still storing.
    server.kill();
    let server = start(&data, &url, &db);
    let deadline = Instant::now() + Duration::from_secs(90);
    while count(&url, &db, "*") < acked as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    // Some more time, in which a double would show.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&url, &db, "*"), acked as u64);
    assert_eq!(
        count(&url, &db, "event.dataset:web AND source.ip:10.0.0.0/16"),
        acked as u64
    );
    server.kill();
}
