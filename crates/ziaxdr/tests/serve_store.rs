//! `ziaxdr serve` with its default sink, the event store: events sent to the intake become
//! searchable through the REST API and `ziaxdr search`, and the API refuses a missing token.

mod intake_common;

use intake_common::{cli, create_intake, http, Scratch, Serve};
use serde_json::Value;
use std::time::{Duration, Instant};

const TOKEN: &str = "test-admin-token-0123456789";

fn start(data: &std::path::Path) -> Serve {
    Serve::spawn(
        &[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "127.0.0.1:0",
            "--admin-token",
            TOKEN,
        ],
        &[],
    )
}

fn search(server: &Serve, query: &str) -> (u16, Value) {
    let body = serde_json::json!({"query": query, "since": "3650d", "limit": 100}).to_string();
    let auth = format!("Bearer {TOKEN}");
    let a = http(
        server.http,
        "POST",
        "/api/v1/events/search",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .unwrap();
    (a.status, a.body)
}

#[test]
fn events_sent_to_the_intake_are_searchable_through_the_api_and_the_cli() {
    let dir = Scratch::new("serve-store");
    let data = dir.0.join("data");
    let (_, key) = create_intake(&data);
    let server = start(&data);
    let batch = (0..20)
        .map(|i| format!(r#"{{"sourcetype":"zscalernss-web","event":{{"datetime":"2024-05-01 10:00:{i:02}","ClientIP":"10.0.0.{i}","url":"host{i}.example.com/x","action":"Blocked","event_id":"{i}"}}}}"#))
        .collect::<Vec<_>>()
        .join("\n");
    let a = http(
        server.http,
        "POST",
        "/plain/batch?status_code=200",
        &[("X-SEKOIAIO-INTAKE-KEY", key.as_str())],
        batch.as_bytes(),
    )
    .unwrap();
    assert_eq!(a.status, 200);

    let deadline = Instant::now() + Duration::from_secs(60);
    let events = loop {
        let (status, body) = search(&server, "event.dataset:web AND event.outcome:failure");
        assert_eq!(status, 200, "{body}");
        let events = body["events"].as_array().cloned().unwrap_or_default();
        if events.len() == 20 || Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(events.len(), 20);
    assert!(
        events.iter().all(|e| e["event"]["original"].is_string()),
        "raw record kept"
    );

    let (code, out) = cli(&[
        "search",
        "source.ip:10.0.0.0/24",
        "--since",
        "3650d",
        "--count",
        "--json",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap()["count"],
        20
    );
    server.kill();
}

#[test]
fn the_search_api_refuses_a_request_without_the_token() {
    let dir = Scratch::new("serve-store-auth");
    let data = dir.0.join("data");
    let server = start(&data);
    let body = br#"{"query":"*"}"#;
    for path in ["/api/v1/events/search", "/api/v1/events/aggregate"] {
        let a = http(
            server.http,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body,
        )
        .unwrap();
        assert_eq!(a.status, 401, "{path}");
        let a = http(
            server.http,
            "POST",
            path,
            &[
                ("Authorization", "Bearer wrong"),
                ("Content-Type", "application/json"),
            ],
            body,
        )
        .unwrap();
        assert_eq!(a.status, 401, "{path}");
    }
    server.kill();
}
