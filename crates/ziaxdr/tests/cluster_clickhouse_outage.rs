//! ClickHouse stopped for 20 s in the middle of ingestion on a cluster: the intake node keeps
//! acknowledging (the events wait in JetStream), the worker stops acknowledging and says so
//! on `/readyz`, and once ClickHouse is back the backlog drains by itself: every acknowledged
//! event stored, none twice. The ClickHouse server is the test's own (started from Debian's
//! `clickhouse-server`, as `.ci/clickhouse.sh` does), so stopping it disturbs no other test.

mod intake_common;

use intake_common::{cli, create_intake, http, request, Scratch, Serve};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A ClickHouse server of this test, stopped and started again on the same ports and data.
struct OwnClickHouse {
    dir: tempfile::TempDir,
    ports: (u16, u16, u16),
    child: Option<Child>,
}

impl OwnClickHouse {
    fn start() -> OwnClickHouse {
        let port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let mut c = OwnClickHouse {
            dir: tempfile::Builder::new()
                .prefix("ziaxdr-test-ch-outage")
                .tempdir()
                .unwrap(),
            ports: (port(), port(), port()),
            child: None,
        };
        c.run();
        c
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.0)
    }

    fn run(&mut self) {
        let bin = ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("clickhouse-server is not installed (apt install clickhouse-server)");
        let d = self.dir.path();
        for sub in ["tmp", "uf", "fs"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let (http, tcp, inter) = self.ports;
        let child = Command::new(bin)
            .arg("--config-file=/etc/clickhouse-server/config.xml")
            .arg("--")
            .arg(format!("--path={}/", d.display()))
            .arg(format!("--tmp_path={}/tmp/", d.display()))
            .arg(format!("--user_files_path={}/uf/", d.display()))
            .arg(format!("--format_schema_path={}/fs/", d.display()))
            .arg(format!("--logger.log={}/ch.log", d.display()))
            .arg(format!("--logger.errorlog={}/err.log", d.display()))
            .arg("--listen_host=127.0.0.1")
            .arg(format!("--http_port={http}"))
            .arg(format!("--tcp_port={tcp}"))
            .arg(format!("--interserver_http_port={inter}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(mut r) = ureq::get(format!("{}/ping", self.url())).call() {
                if r.body_mut().read_to_string().is_ok_and(|b| b == "Ok.\n") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("ClickHouse did not start (log in {})", d.display());
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while c.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for OwnClickHouse {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn batch(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!(r#"{{"sourcetype":"zscalernss-web","event":{{"datetime":"2024-05-01 10:{:02}:{:02}","ClientIP":"10.2.{}.{}","url":"host{i}.example.com/x","action":"Blocked","event_id":"{i}"}}}}"#, (i / 60) % 60, i % 60, i / 250 % 250, i % 250))
        .collect::<Vec<_>>()
        .join("\n")
}

fn search(ch: &str, extra: &[&str]) -> Option<Value> {
    let mut a = vec![
        "search",
        "*",
        "--since",
        "3650d",
        "--json",
        "--clickhouse",
        ch,
    ];
    a.extend_from_slice(extra);
    let (code, out) = cli(&a);
    if code != 0 {
        return None;
    }
    serde_json::from_str(out.trim()).ok()
}

#[test]
fn clickhouse_stopped_for_20_s_mid_ingest_loses_nothing_and_the_backlog_drains() {
    let mut ch = OwnClickHouse::start();
    let url = ch.url();
    let nats = queue::testing::shared_urls().join(",");
    let stream = queue::testing::unique("CHO").to_uppercase();
    let dir = Scratch::new("cluster-ch-outage");
    let (idata, wdata) = (dir.0.join("intake"), dir.0.join("worker"));
    let (_, key) = create_intake(&idata);
    let args = |role: &'static str, data: &std::path::Path| -> Vec<String> {
        [
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
            &nats,
            "--nats-stream",
            &stream,
            "--nats-replicas",
            "3",
            "--nats-max-bytes",
            "67108864",
            "--clickhouse",
            &url,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let spawn = |role, data| {
        let a = args(role, data);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        Serve::spawn(&a, &[])
    };
    let intake = spawn("intake", &idata);
    let worker = spawn("worker", &wdata);
    // The intake node connects to NATS in the background; until then it answers 503, which
    // Cloud NSS would retry. The test starts sending once it says it is ready.
    let up = Instant::now();
    while request(intake.http, "GET", "/readyz", &[], "").status != 200 {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "the intake node never became ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let (batches, size) = (60usize, 50usize);
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (sent, key, addr) = (sent.clone(), key.clone(), intake.http);
        std::thread::spawn(move || {
            for b in 0..batches {
                let a = http(
                    addr,
                    "POST",
                    "/plain/batch?status_code=200",
                    &[("X-SEKOIAIO-INTAKE-KEY", key.as_str())],
                    batch(b * size, size).as_bytes(),
                )
                .unwrap();
                assert_eq!(a.status, 200, "{:?}", a.body);
                sent.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    while sent.load(Ordering::Relaxed) < 10 {
        // A refused batch ends the sender: fail here rather than wait for ever.
        assert!(!sender.is_finished(), "the sender stopped early");
        std::thread::sleep(Duration::from_millis(20));
    }
    ch.stop();
    let stopped = Instant::now();
    // While ClickHouse is down the worker says so, and the intake keeps acknowledging.
    let mut said = String::new();
    while stopped.elapsed() < Duration::from_secs(20) {
        let r = request(worker.http, "GET", "/readyz", &[], "");
        if r.status == 503 {
            said = r.body;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let sent_during = sent.load(Ordering::Relaxed);
    assert!(
        sent_during > 20,
        "the intake stopped acknowledging: {sent_during}"
    );
    assert!(said.contains("pipeline"), "worker /readyz said {said:?}");
    ch.run();
    sender.join().unwrap();
    let acked = (batches * size) as u64;
    let count = || {
        search(&url, &["--count"])
            .and_then(|v| v["count"].as_u64())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while count() < acked && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    let stored = count();
    if stored != acked {
        let log = worker.log.lock().unwrap();
        let tail: Vec<&String> = log
            .iter()
            .filter(|l| !l.contains(" INFO ") || l.contains("pipeline"))
            .rev()
            .take(40)
            .collect();
        let m = request(worker.http, "GET", "/metrics", &[], "").body;
        let m: Vec<&str> = m
            .lines()
            .filter(|l| l.starts_with("ziaxdr_") && !l.contains("bucket"))
            .collect();
        let q = |sql: &str| {
            ureq::post(&url)
                .send(sql)
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
        };
        let rows = q("SELECT count(), min(offset), max(offset) FROM ziaxdr.events");
        let commits = q("SELECT count(), max(offset) FROM ziaxdr.commits");
        panic!("stored {stored} of {acked}; rows {rows:?}; commits {commits:?}; metrics {m:#?}; worker log (newest first): {tail:#?}");
    }
    let top = search(&url, &["--top", "zscaler.zia.event_id", "--size", "1"]).unwrap();
    assert_eq!(top["values"][0]["count"], 1, "{top}");
    let ready = request(worker.http, "GET", "/readyz", &[], "");
    assert_eq!(ready.status, 200, "{}", ready.body);
    drop((intake, worker));
}
