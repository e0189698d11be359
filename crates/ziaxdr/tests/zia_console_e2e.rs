//! "Block in Zscaler" on an alert, end to end in headless Chromium: `ziaxdr serve` with a
//! `[zia]` table pointing at the mock ZIA API, an alert for a C2 domain, an analyst who blocks
//! it (a dry run shown in the confirmation, then the change), sees the result in the alert's
//! timeline, and unblocks it; a read-only user is refused. Screenshots go to
//! `target/console-screenshots/` (or `$ZIAXDR_SCREENSHOTS`).
//!
//! Needs Debian's `chromium` and `chromium-driver` like `console_e2e.rs`; without them the
//! test says so and passes, unless `ZIAXDR_E2E=require` (set by `.ci/run`).

mod browser_common;
mod intake_common;

use std::path::Path;
use std::time::{Duration, Instant};

use browser_common::{browser, browser_available, shot, sign_in, wait_text, Driver};
use detect::{AlertChange, AlertManager, Match, RuleRef, RuleType};
use fantoccini::{Client, Locator};
use intake_common::{console_password, Scratch, Serve, Session};
use ziaapi::mock::{self, MockZia};

/// Waits for a confirmation dialog, returns its text and accepts it.
async fn accept_confirmation(c: &Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = c.get_alert_text().await {
            c.accept_alert().await.unwrap();
            return text;
        }
        assert!(Instant::now() < deadline, "no confirmation was asked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An alert on a C2 domain, written before the server starts.
fn c2_alert(data: &Path) -> String {
    let mut mgr = AlertManager::open(data).unwrap();
    let m = Match {
        rule: RuleRef {
            id: "e2e-c2".into(),
            name: "C2 beacon to c2.evil.example".into(),
            author: None,
            severity: "high".into(),
            kind: RuleType::Sigma,
        },
        urgency: 90,
        description: None,
        timestamp: detect::chrono::Utc::now(),
        entity: "default".into(),
        source: Some("10.0.0.5".into()),
        target: Some("c2.evil.example".into()),
        source_ip: Some("10.0.0.5".into()),
        destination_ip: Some("203.0.113.7".into()),
        dns_name: None,
        dataset: Some("web".into()),
        event_ids: vec![],
        group_key: vec![],
        alert_group: vec![],
        alert_window_secs: None,
        user: None,
        correlation: false,
        retrohunt: false,
        details: serde_json::Value::Null,
    };
    match mgr.ingest(&m).unwrap() {
        AlertChange::Created(a) => a.uuid,
        other => panic!("no alert created: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_blocks_and_unblocks_an_alerts_domain_in_zscaler() {
    if !browser_available("zia_console_e2e") {
        return;
    }
    let zia = MockZia::start();
    let dir = Scratch::new("zia-console-e2e");
    let data = dir.0.join("data");
    let uuid = c2_alert(&data);
    let cfg = dir.0.join("ziaxdr.toml");
    std::fs::write(
        &cfg,
        format!(
            "[zia]\ncloud = \"zscaler.net\"\napi-key = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\nbase-url = \"{}\"\nip-group = \"{}\"\nallow = [\"acme.example\"]\n",
            mock::API_KEY,
            mock::USERNAME,
            mock::PASSWORD,
            zia.legacy_base(),
            mock::IP_GROUP,
        ),
    )
    .unwrap();
    let (server, out) = Serve::spawn_capturing(&[
        "serve",
        "--config",
        cfg.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--syslog",
        "127.0.0.1:0",
        "--no-detection",
    ]);
    let password = console_password(&out);
    let base = format!("http://{}", server.http);

    // A read-only user may look, not respond.
    let admin = Session::sign_in(server.http, "admin", &password);
    let r = admin.send(
        server.http,
        "POST",
        "/api/v1/users",
        r#"{"name": "viewer", "role": "read-only", "password": "viewer-password-1"}"#,
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.body);
    let viewer = Session::sign_in(server.http, "viewer", "viewer-password-1");
    let r = viewer.send(
        server.http,
        "POST",
        &format!("/api/v1/alerts/{uuid}/zia/block"),
        "{}",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(zia.urls(mock::CATEGORY), ["old.example"]);

    let driver = Driver::start();
    let c = browser(&driver, &dir.0.join("chromium"), true).await;
    c.goto(&format!("{base}/console/login")).await.unwrap();
    sign_in(&c, "admin", &password).await;

    c.goto(&format!("{base}/console/alerts/{uuid}"))
        .await
        .unwrap();
    wait_text(&c, "#zscaler-values", "c2.evil.example").await;
    shot(&c, "zia-01-alert").await;
    c.find(Locator::Css("#zia-block"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let question = accept_confirmation(&c).await;
    assert!(question.starts_with("Block in Zscaler?"), "{question}");
    assert!(
        question.contains("would block c2.evil.example in Zscaler (ziaxdr-blocklist)"),
        "{question}"
    );
    let line = wait_text(&c, "#timeline", "zscaler: blocked c2.evil.example").await;
    assert!(line.contains("activation ACTIVE"), "{line}");
    assert!(zia
        .urls(mock::CATEGORY)
        .contains(&"c2.evil.example".to_string()));
    shot(&c, "zia-02-blocked").await;

    c.find(Locator::Css("#zia-unblock"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let question = accept_confirmation(&c).await;
    assert!(question.starts_with("Unblock in Zscaler?"), "{question}");
    wait_text(&c, "#timeline", "zscaler: unblocked c2.evil.example").await;
    assert_eq!(zia.urls(mock::CATEGORY), ["old.example"]);
    shot(&c, "zia-03-unblocked").await;

    let audit = ziaapi::respond::read_audit(&data.join("zia-audit.jsonl")).unwrap();
    let done: Vec<(&str, &str, bool)> = audit
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap(),
                l["who"].as_str().unwrap(),
                l["dry_run"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        done,
        [
            ("block", "admin", true),
            ("block", "admin", false),
            ("unblock", "admin", true),
            ("unblock", "admin", false)
        ]
    );
    c.close().await.unwrap();
    server.terminate();
}
