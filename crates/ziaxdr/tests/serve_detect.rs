//! End to end: `ziaxdr simulate` with malicious activity into `ziaxdr serve` with the shipped
//! rules and the sample CTI bundles → alerts exist, grouped by similarity, carrying the rule
//! author, and the playbook's webhook reached a receiver in the test.

mod intake_common;

use intake_common::{cli, create_intake, Scratch, Serve, BIN};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A one-thread HTTP receiver that answers 200 and forwards each request body.
fn webhook_receiver() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(conn);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let mut conn = reader.into_inner();
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (port, rx)
}

#[test]
fn simulated_malicious_feed_raises_grouped_alerts_and_calls_the_playbook() {
    let dir = Scratch::new("serve-detect");
    let data = dir.0.join("data");
    let d = data.to_str().unwrap();
    let (_, key) = create_intake(&data);
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cti/oasis-cti-stix2-json-schemas/examples/indicator-for-c2-ip-address.json");
    let (code, out) = cli(&["cti", "import", shared, "--data", d]);
    assert_eq!(code, 0, "{out}");

    let (port, hooks) = webhook_receiver();
    let playbooks = dir.0.join("playbooks.yml");
    std::fs::write(
        &playbooks,
        format!(
            "playbooks:\n  - name: notify\n    trigger: {{on: [created]}}\n    actions:\n      - type: webhook\n        url: http://127.0.0.1:{port}/hook\n        body: '{{\"alert\": \"{{{{short_id}}}}\", \"author\": \"{{{{rule.author}}}}\"}}'\n"
        ),
    )
    .unwrap();
    let server = Serve::spawn(
        &[
            "serve",
            "--data",
            d,
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "127.0.0.1:0",
            "--playbooks",
            playbooks.to_str().unwrap(),
            "--admin-token",
            "t0ken-for-the-detect-test",
        ],
        &[],
    );
    let url = format!("http://{}/plain/batch?status_code=200", server.http);
    let sim = Command::new(BIN)
        .args([
            "simulate",
            "--to",
            &url,
            "--key",
            &key,
            "--count",
            "3000",
            "--malicious",
            "0.2",
            "--seed",
            "7",
        ])
        .output()
        .unwrap();
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );

    // Wait until the pipeline has stored every record: detection runs before the store.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, out) = cli(&[
            "search", "*", "--since", "3650d", "--count", "--json", "--data", d,
        ]);
        let n = serde_json::from_str::<Value>(out.trim())
            .map(|v| v["count"].as_u64().unwrap_or(0))
            .unwrap_or(0);
        if n >= 3000 {
            break;
        }
        assert!(Instant::now() < deadline, "only {n} of 3000 events stored");
        std::thread::sleep(Duration::from_millis(500));
    }
    let (code, out) = cli(&["alerts", "list", "--json", "--data", d]);
    assert_eq!(code, 0, "{out}");
    let alerts: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        alerts.len() >= 3,
        "expected alerts from the malicious share, got {}",
        alerts.len()
    );
    for a in &alerts {
        for field in ["uuid", "short_id", "status", "urgency", "similar"] {
            assert!(!a[field].is_null(), "alert lacks {field}: {a}");
        }
        assert!(
            a["rule"]["author"].is_string(),
            "the rule author is in every alert: {a}"
        );
        assert!(
            matches!(a["rule"]["type"].as_str(), Some("sigma") | Some("cti")),
            "{a}"
        );
    }
    // Similarity: more matching events than alerts means matches were grouped.
    let similar: u64 = alerts
        .iter()
        .map(|a| a["similar"].as_u64().unwrap_or(0))
        .sum();
    assert!(similar > 0, "no alert gathered similar events: {alerts:?}");

    // The same alerts through the REST API, which refuses a request without the token.
    let a = intake_common::http(server.http, "GET", "/api/v1/alerts", &[], b"").unwrap();
    assert_eq!(a.status, 401);
    let a = intake_common::http(
        server.http,
        "GET",
        "/api/v1/alerts",
        &[("Authorization", "Bearer t0ken-for-the-detect-test")],
        b"",
    )
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);

    let hook = hooks
        .recv_timeout(Duration::from_secs(60))
        .expect("the playbook called the webhook");
    let body: Value = serde_json::from_str(&hook).expect("webhook body is the templated JSON");
    assert!(
        body["alert"].is_string() && body["author"].is_string(),
        "{body}"
    );
    server.kill();
}

#[test]
fn an_indicator_imported_while_the_server_is_idle_is_hunted_in_stored_events_within_5_s() {
    let dir = Scratch::new("serve-retrohunt");
    let data = dir.0.join("data");
    let d = data.to_str().unwrap();
    let (_, key) = create_intake(&data);
    let server = Serve::spawn(
        &[
            "serve",
            "--data",
            d,
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "127.0.0.1:0",
            "--admin-token",
            "retro-token-0123456789",
        ],
        &[],
    );
    // A firewall event towards the address of the sample C2 indicator, stamped now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let secs = now % 86_400;
    let days = now / 86_400;
    // Civil date from days since 1970 (Howard Hinnant's algorithm), to write a ZIA datetime.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let datetime = format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    let record = format!(
        r#"{{"sourcetype":"zscalernss-fw","event":{{"datetime":"{datetime}","csip":"192.168.1.5","sdip":"10.0.0.0","sdport":"443","action":"Allow","recordid":"99"}}}}"#
    );
    let a = intake_common::http(
        server.http,
        "POST",
        "/plain",
        &[("X-SEKOIAIO-INTAKE-KEY", key.as_str())],
        record.as_bytes(),
    )
    .unwrap();
    assert!(a.status < 300, "{}", a.body);
    // Wait until the event is stored, so that only a retrohunt can find it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, out) = cli(&[
            "search",
            "destination.ip:10.0.0.0",
            "--since",
            "2d",
            "--count",
            "--json",
            "--data",
            d,
        ]);
        if serde_json::from_str::<Value>(out.trim())
            .map(|v| v["count"] == 1)
            .unwrap_or(false)
        {
            break;
        }
        assert!(Instant::now() < deadline, "event never stored: {out}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let bundle = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cti/oasis-cti-stix2-json-schemas/examples/indicator-for-c2-ip-address.json");
    let (code, out) = cli(&["cti", "import", bundle, "--data", d]);
    assert_eq!(code, 0, "{out}");
    // No event follows: the server picks the indicators up while idle, and its retrohunt
    // finds the stored event within 5 s of the import.
    let imported = Instant::now();
    let deadline = imported + Duration::from_secs(5);
    loop {
        let (_, out) = cli(&["alerts", "list", "--json", "--data", d]);
        let cti: Vec<Value> = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|a| a["rule"]["type"] == "cti")
            .collect();
        if !cti.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no CTI alert from the retrohunt 5 s after the import: {out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    server.kill();
}
