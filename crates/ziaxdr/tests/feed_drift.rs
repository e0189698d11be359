//! End to end: a Cloud NSS feed whose format lacks keys of the recommended one is reported,
//! with since when and the format to paste, in `/metrics` and on the console's intake.

mod intake_common;

use intake_common::*;

#[test]
fn a_feed_missing_recommended_keys_is_reported_in_metrics_and_on_its_intake() {
    let dir = Scratch::new("feed-drift");
    let data = dir.0.join("data");
    let (server, out) = Serve::spawn_capturing(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--syslog",
        "127.0.0.1:0",
    ]);
    let password = console_password(&out);
    let admin = Session::sign_in(server.http, "admin", &password);
    let created = admin
        .send(
            server.http,
            "POST",
            "/api/v1/intakes",
            r#"{"name":"drift"}"#,
        )
        .json();
    let key = created["key"].as_str().unwrap().to_string();
    let uuid = created["intake"]["uuid"].as_str().unwrap().to_string();
    // A DNS feed whose admin kept only three keys of the recommended format.
    let batch: String = (0..3)
        .map(|n| {
            format!(
                "{{\"sourcetype\":\"zscalernss-dns\",\"event\":{{\"user\":\"a%40b.c\",\"dns_req\":\"x{n}.example.com\",\"clt_sip\":\"10.0.0.{n}\"}}}}\n"
            )
        })
        .collect();
    let r = http(
        server.http,
        "POST",
        "/plain/batch?status_code=200",
        &[("X-SEKOIAIO-INTAKE-KEY", key.as_str())],
        batch.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let want = format!("ziaxdr_feed_drift_records_total{{intake=\"{uuid}\",log_type=\"dns\"}} 3");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let metrics = loop {
        let m = request(server.http, "GET", "/metrics", &[], "").body;
        if m.lines().any(|l| l == want) || std::time::Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(metrics.lines().any(|l| l == want), "{metrics}");
    let comment = metrics
        .lines()
        .find(|l| l.starts_with("# ziaxdr feed drift: "))
        .unwrap_or_else(|| panic!("no drift comment in {metrics}"));
    assert!(comment.contains("dns feed: "), "{comment}");
    assert!(comment.contains(" fields missing since "), "{comment}");

    let setup = admin
        .send(
            server.http,
            "GET",
            &format!("/api/v1/intakes/{uuid}/setup"),
            "",
        )
        .json();
    let drift = &setup["drift"][0];
    assert_eq!(drift["format"], "dns", "{setup}");
    assert_eq!(drift["records"], 3);
    assert!(drift["missing"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == "recordid"));
    assert!(drift["paste"]
        .as_str()
        .unwrap()
        .starts_with("\\{\"sourcetype\":\"zscalernss-dns\""));
    let listed = admin.send(server.http, "GET", "/api/v1/intakes", "").json();
    assert!(listed.to_string().contains("dns feed: "), "{listed}");
    assert_eq!(server.terminate().0, 0);
}
