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

/// A server with one stored firewall event towards the address of the sample C2 indicator
/// (stamped now), and no indicator yet: only a retrohunt can raise an alert on it.
fn serve_with_a_stored_event_to_the_sample_c2(name: &str) -> (Scratch, Serve, String) {
    let dir = Scratch::new(name);
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
    let d = d.to_string();
    (dir, server, d)
}

/// The sample STIX bundle holding the C2 address indicator.
const C2_BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/cti/oasis-cti-stix2-json-schemas/examples/indicator-for-c2-ip-address.json"
);

/// Waits until `deadline` for a CTI alert.
fn wait_for_a_cti_alert(d: &str, deadline: Instant, what: &str) {
    loop {
        let (_, out) = cli(&["alerts", "list", "--json", "--data", d]);
        let cti = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|a| a["rule"]["type"] == "cti");
        if cti {
            return;
        }
        assert!(Instant::now() < deadline, "no CTI alert {what}: {out}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_indicator_imported_while_the_server_is_idle_is_hunted_in_stored_events_within_5_s() {
    let (_dir, server, d) = serve_with_a_stored_event_to_the_sample_c2("serve-retrohunt");
    let (code, out) = cli(&["cti", "import", C2_BUNDLE, "--data", &d]);
    assert_eq!(code, 0, "{out}");
    // No event follows: the server picks the indicators up while idle, and its retrohunt
    // finds the stored event within 5 s of the import.
    wait_for_a_cti_alert(
        &d,
        Instant::now() + Duration::from_secs(5),
        "5 s after the import",
    );
    server.kill();
}

/// An HTTP server answering every request with `status` and `body`; counts requests.
fn feed_server(status: u16, body: String) -> (u16, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(conn);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut conn = reader.into_inner();
            let _ = conn.write_all(
                format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    (port, hits)
}

fn registered_source(d: &str) -> Value {
    let (code, out) = cli(&["cti", "source", "list", "--json", "--data", d]);
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(out.lines().next().unwrap_or("null")).unwrap()
}

#[test]
fn a_registered_feed_is_polled_by_the_server_and_its_indicators_hunted() {
    let (_dir, server, d) = serve_with_a_stored_event_to_the_sample_c2("serve-cti-source");
    let (port, hits) = feed_server(200, std::fs::read_to_string(C2_BUNDLE).unwrap());
    let url = format!("http://127.0.0.1:{port}/feed");
    let (code, out) = cli(&["cti", "source", "add", &url, "--every", "1h", "--data", &d]);
    assert_eq!(code, 0, "{out}");
    wait_for_a_cti_alert(
        &d,
        Instant::now() + Duration::from_secs(15),
        "from the polled feed",
    );
    let s = registered_source(&d);
    assert_eq!(s["url"], url.as_str());
    assert!(s["last_ok"].is_string() && s["last_error"].is_null(), "{s}");
    assert!(s["last_seen"].as_u64() >= Some(1), "{s}");
    // Polled once: the next poll is an hour away.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    server.kill();
}

#[test]
fn a_failing_feed_shows_its_last_error() {
    let (_dir, server, d) = serve_with_a_stored_event_to_the_sample_c2("serve-cti-failing");
    let (port, _) = feed_server(500, "{}".into());
    let url = format!("http://127.0.0.1:{port}/feed");
    let (code, out) = cli(&["cti", "source", "add", &url, "--every", "10s", "--data", &d]);
    assert_eq!(code, 0, "{out}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = registered_source(&d);
        if s["last_error"].is_string() {
            assert!(s["last_error"].as_str().unwrap().contains("500"), "{s}");
            assert!(s["last_ok"].is_null(), "{s}");
            break;
        }
        assert!(Instant::now() < deadline, "never polled: {s}");
        std::thread::sleep(Duration::from_millis(300));
    }
    server.kill();
}

#[test]
fn a_source_polled_more_often_than_every_10_s_is_refused() {
    let dir = Scratch::new("cti-source-too-often");
    let d = dir.0.join("data");
    let out = Command::new(BIN)
        .args([
            "cti",
            "source",
            "add",
            "http://127.0.0.1:9/feed",
            "--every",
            "5s",
            "--data",
            d.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at most every 10 s"), "{err}");
}
