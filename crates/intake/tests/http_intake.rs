//! The HTTP intake over real sockets: every path, every key location, gzip, limits, status
//! codes, the admin API, metrics and HTTPS.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use intake::registry::Status;
use serde_json::{json, Value};

const K: &str = "x-sekoiaio-intake-key";

#[test]
fn plain_answers_one_event_id_after_journaling_and_the_event_reaches_the_sink() {
    let s = TestServer::start();
    let a = post(&s.url("/plain"), &[(K, &s.key)], "one raw line\n");
    assert_eq!(a.status, 202);
    let id = a.body["event_id"].as_str().unwrap().to_string();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    let ev = s.wait_events(1);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["event_id"], id.as_str());
    assert_eq!(ev[0]["raw"], "one raw line");
    assert_eq!(ev[0]["intake"], s.intake_uuid.as_str());
}

#[test]
fn plain_batch_splits_lines_and_answers_one_id_per_event() {
    let s = TestServer::start();
    let a = post(&s.url("/plain/batch"), &[(K, &s.key)], "a\r\nb\n\nc\n");
    assert_eq!(a.status, 202);
    assert_eq!(a.body["event_ids"].as_array().unwrap().len(), 3);
    assert_eq!(raws(&s.wait_events(3)), ["a", "b", "c"]);
}

#[test]
fn plain_batch_accepts_a_cloud_nss_json_array() {
    let s = TestServer::start();
    let body = json!([{"sourcetype": "zscalernss-web", "event": {"a": 1}}, {"b": 2}]).to_string();
    let a = post(&s.url("/plain/batch"), &[(K, &s.key)], body);
    assert_eq!(a.body["event_ids"].as_array().unwrap().len(), 2);
    let ev = s.wait_events(2);
    let first: Value = serde_json::from_str(ev[0]["raw"].as_str().unwrap()).unwrap();
    assert_eq!(first["sourcetype"], "zscalernss-web");
}

#[test]
fn jsons_takes_an_array_or_the_array_at_path() {
    let s = TestServer::start();
    let a = post(&s.url("/jsons"), &[(K, &s.key)], r#"[{"x":1},{"x":2}]"#);
    assert_eq!(a.body["event_ids"].as_array().unwrap().len(), 2);
    let a = post(
        &s.url("/jsons?path=data.logs"),
        &[(K, &s.key)],
        r#"{"data":{"logs":[{"x":3}]}}"#,
    );
    assert_eq!(a.body["event_ids"].as_array().unwrap().len(), 1);
    assert_eq!(raws(&s.wait_events(3))[2], r#"{"x":3}"#);
}

#[test]
fn batch_reads_events_and_the_key_from_the_body() {
    let s = TestServer::start();
    let body = json!({"intake_key": s.key, "jsons": ["e1", "e2"]}).to_string();
    let a = post(&s.url("/batch"), &[], body);
    assert_eq!(a.status, 202);
    assert_eq!(raws(&s.wait_events(2)), ["e1", "e2"]);
}

#[test]
fn array_takes_a_json_array() {
    let s = TestServer::start();
    let a = post(&s.url("/array"), &[(K, &s.key)], r#"["l1", {"k":"v"}]"#);
    assert_eq!(a.body["event_ids"].as_array().unwrap().len(), 2);
    assert_eq!(raws(&s.wait_events(2)), ["l1", r#"{"k":"v"}"#]);
}

#[test]
fn root_takes_one_json_event_with_the_key_in_the_body() {
    let s = TestServer::start();
    let body = json!({"intake_key": s.key, "json": "{\"single\":true}"}).to_string();
    let a = post(&s.url("/"), &[], body);
    assert_eq!(a.status, 202);
    assert!(a.body["event_id"].is_string());
    assert_eq!(raws(&s.wait_events(1)), [r#"{"single":true}"#]);
}

#[test]
fn the_key_is_accepted_as_the_http_basic_password() {
    use base64::Engine;
    let s = TestServer::start();
    let cred = base64::engine::general_purpose::STANDARD.encode(format!("nss:{}", s.key));
    let a = post(
        &s.url("/plain"),
        &[("authorization", &format!("Basic {cred}"))],
        "x",
    );
    assert_eq!(a.status, 202);
}

#[test]
fn the_key_is_accepted_as_a_query_parameter() {
    let s = TestServer::start();
    let a = post(&s.url(&format!("/plain?intake_key={}", s.key)), &[], "x");
    assert_eq!(a.status, 202);
}

#[test]
fn a_missing_key_is_401() {
    let s = TestServer::start();
    assert_eq!(post(&s.url("/plain"), &[], "x").status, 401);
}

#[test]
fn a_bad_key_is_401_and_nothing_is_stored() {
    let s = TestServer::start();
    let a = post(
        &s.url("/plain"),
        &[(K, "0123456789abcdef0123456789abcdef")],
        "x",
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.body["reason"], "unknown_key");
    post(&s.url("/plain"), &[(K, &s.key)], "marker");
    assert_eq!(raws(&s.wait_events(1)), ["marker"]);
}

#[test]
fn a_disabled_intake_is_403_and_works_again_when_enabled() {
    let s = TestServer::start();
    let uuid = uuid::Uuid::parse_str(&s.intake_uuid).unwrap();
    s.registry().set_status(uuid, Status::Disabled).unwrap();
    std::thread::sleep(Duration::from_millis(600)); // the server's registry cache refresh
    assert_eq!(post(&s.url("/plain"), &[(K, &s.key)], "x").status, 403);
    s.registry().set_status(uuid, Status::Enabled).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(post(&s.url("/plain"), &[(K, &s.key)], "x").status, 202);
}

#[test]
fn an_intake_created_while_the_server_runs_is_usable_at_once() {
    let s = TestServer::start();
    let reg = s.registry();
    let e = reg.list_entities().unwrap().remove(0);
    let n = reg.create_intake("second", "zscaler-zia", e.uuid).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        post(&s.url("/plain"), &[(K, &n.intake_key)], "x").status,
        202
    );
}

#[test]
fn gzip_with_content_encoding_is_decoded() {
    let s = TestServer::start();
    let a = post(
        &s.url("/plain/batch"),
        &[(K, &s.key), ("content-encoding", "gzip")],
        gzip(b"g1\ng2\n"),
    );
    assert_eq!(a.status, 202);
    assert_eq!(raws(&s.wait_events(2)), ["g1", "g2"]);
}

#[test]
fn gzip_without_a_header_is_recognised_by_its_magic_bytes() {
    let s = TestServer::start();
    let a = post(&s.url("/plain/batch"), &[(K, &s.key)], gzip(b"h1\nh2\n"));
    assert_eq!(a.status, 202);
    assert_eq!(raws(&s.wait_events(2)), ["h1", "h2"]);
}

#[test]
fn a_gzip_body_inflating_past_the_request_limit_is_413() {
    let s = TestServer::start();
    // Compressed at the best level: how small a bomb is depends on the gzip backend's fast
    // level (zlib-rs's is larger than miniz_oxide's), not on what is tested here.
    let bomb = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![b'a'; 10 * 1024 * 1024 + 1]).unwrap();
        e.finish().unwrap()
    };
    assert!(bomb.len() < 100_000);
    let a = post(&s.url("/plain/batch"), &[(K, &s.key)], bomb);
    assert_eq!(a.status, 413);
}

#[test]
fn a_request_over_10_mib_is_413() {
    let s = TestServer::start();
    let body = vec![b'a'; 10 * 1024 * 1024 + 1];
    let a = post(&s.url("/plain/batch"), &[(K, &s.key)], body);
    assert_eq!(a.status, 413);
    assert_eq!(a.body["reason"], "request_too_large");
}

#[test]
fn a_single_event_over_250_kib_is_413() {
    let s = TestServer::start();
    let a = post(&s.url("/plain"), &[(K, &s.key)], vec![b'a'; 250 * 1024 + 1]);
    assert_eq!(a.status, 413);
    assert_eq!(a.body["rejected"][0]["reason"], "event_too_large");
}

#[test]
fn a_batch_with_an_oversized_event_is_413_with_per_event_outcome_and_keeps_the_others() {
    let s = TestServer::start();
    let big = "b".repeat(250 * 1024 + 1);
    let body = format!("small1\n{big}\nsmall2\n");
    let a = post(&s.url("/plain/batch"), &[(K, &s.key)], body);
    assert_eq!(a.status, 413);
    let ids = a.body["event_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids[0].is_string() && ids[1].is_null() && ids[2].is_string());
    assert_eq!(a.body["rejected"][0]["index"], 1);
    assert_eq!(raws(&s.wait_events(2)), ["small1", "small2"]);
}

#[test]
fn an_event_of_exactly_250_kib_is_accepted() {
    let s = TestServer::start();
    let a = post(&s.url("/plain"), &[(K, &s.key)], vec![b'a'; 250 * 1024]);
    assert_eq!(a.status, 202);
}

#[test]
fn status_code_200_is_forced_for_cloud_nss() {
    let s = TestServer::start();
    let a = post(
        &s.url("/plain/batch?status_code=200"),
        &[(K, &s.key)],
        "x\n",
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.body["event_ids"].as_array().unwrap().len(), 1);
}

#[test]
fn an_empty_probe_is_200() {
    let s = TestServer::start();
    assert_eq!(post(&s.url("/plain/batch"), &[(K, &s.key)], "").status, 200);
    assert_eq!(post(&s.url("/jsons"), &[(K, &s.key)], "  \n").status, 200);
}

#[test]
fn a_body_that_is_not_the_required_json_is_400() {
    let s = TestServer::start();
    assert_eq!(
        post(&s.url("/array"), &[(K, &s.key)], "not json").status,
        400
    );
    assert_eq!(
        post(&s.url("/jsons"), &[(K, &s.key)], "{broken").status,
        400
    );
}

#[test]
fn a_full_journal_answers_503_with_retry_after() {
    // A budget of 300 bytes: this one batch of three 100-byte events (plus headers) cannot fit,
    // whatever the pipeline has freed meanwhile.
    let s = TestServer::start_with(|c| c.journal.max_disk_bytes = 300);
    let line = "y".repeat(100);
    let a = post(
        &s.url("/plain/batch"),
        &[(K, &s.key)],
        format!("{line}\n{line}\n{line}\n"),
    );
    assert_eq!(a.status, 503);
    assert_eq!(a.body["reason"], "journal_full");
    assert_eq!(a.retry_after.as_deref(), Some("30"));
    assert_eq!(
        post(&s.url("/plain"), &[(K, &s.key)], "small").status,
        202,
        "what fits still fits"
    );
}

/// Sends the headers of a request and part of its body, and keeps the connection open.
fn slow_request(s: &TestServer) -> TcpStream {
    let mut c = TcpStream::connect(s.http).unwrap();
    write!(
        c,
        "POST /plain HTTP/1.1\r\nhost: x\r\n{K}: {}\r\ncontent-length: 100\r\n\r\nonly-part",
        s.key
    )
    .unwrap();
    c
}

#[test]
fn a_slow_client_does_not_block_others() {
    let s = TestServer::start();
    let _slow = slow_request(&s);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(post(&s.url("/plain"), &[(K, &s.key)], "fast").status, 202);
}

#[test]
fn a_slow_client_that_finishes_gets_its_answer() {
    let s = TestServer::start();
    let mut c = slow_request(&s);
    std::thread::sleep(Duration::from_millis(200));
    c.write_all(&[b'.'; 91]).unwrap();
    let mut resp = String::new();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    let n = c.read(&mut buf).unwrap();
    resp.push_str(&String::from_utf8_lossy(&buf[..n]));
    assert!(resp.starts_with("HTTP/1.1 202"), "{resp}");
}

#[test]
fn too_many_requests_in_flight_answer_503_with_retry_after() {
    let s = TestServer::start_with(|c| c.limits.max_inflight = 1);
    let _slow = slow_request(&s);
    // Until the server has picked up the slow request, a fast one may still get the slot.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let a = loop {
        std::thread::sleep(Duration::from_millis(50));
        let a = post(&s.url("/plain"), &[(K, &s.key)], "x");
        if a.status != 202 || std::time::Instant::now() > deadline {
            break a;
        }
    };
    assert_eq!(a.status, 503);
    assert_eq!(a.body["reason"], "overloaded");
    assert!(a.retry_after.is_some());
}

#[test]
fn the_admin_api_requires_the_bearer_token() {
    let s = TestServer::start();
    assert_eq!(get(&s.url("/v1/sic/conf/intakes"), &[]).0, 401);
    assert_eq!(
        get(
            &s.url("/v1/sic/conf/intakes"),
            &[("authorization", "Bearer wrong")]
        )
        .0,
        401
    );
}

#[test]
fn the_admin_api_creates_lists_and_deletes_intakes() {
    let s = TestServer::start();
    let auth = format!("Bearer {}", s.admin_token);
    let h = [("authorization", auth.as_str())];
    let a = post(&s.url("/v1/sic/conf/intakes"), &h, r#"{"name":"via api"}"#);
    assert_eq!(a.status, 201);
    let key = a.body["intake_key"].as_str().unwrap().to_string();
    let uuid = a.body["uuid"].as_str().unwrap().to_string();
    assert_eq!(post(&s.url("/plain"), &[(K, &key)], "x").status, 202);
    let (st, list) = get(&s.url("/v1/sic/conf/intakes"), &h);
    assert_eq!(st, 200);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["total"], 2);
    assert!(!list.to_string().contains(&key), "keys are never listed");
    let resp = agent()
        .delete(&s.url(&format!("/v1/sic/conf/intakes/{uuid}")))
        .header("authorization", &auth)
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(post(&s.url("/plain"), &[(K, &key)], "x").status, 401);
}

#[test]
fn the_admin_api_disables_an_intake_at_once() {
    let s = TestServer::start();
    let auth = format!("Bearer {}", s.admin_token);
    let mut resp = agent()
        .patch(&s.url(&format!("/v1/sic/conf/intakes/{}", s.intake_uuid)))
        .header("authorization", &auth)
        .send(r#"{"status":"disabled"}"#)
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("disabled"));
    assert_eq!(post(&s.url("/plain"), &[(K, &s.key)], "x").status, 403);
}

#[test]
fn the_admin_api_creates_and_lists_entities() {
    let s = TestServer::start();
    let auth = format!("Bearer {}", s.admin_token);
    let h = [("authorization", auth.as_str())];
    assert_eq!(
        post(&s.url("/v1/sic/conf/entities"), &h, r#"{"name":"branch"}"#).status,
        201
    );
    let (st, body) = get(&s.url("/v1/sic/conf/entities"), &h);
    assert_eq!(st, 200);
    assert!(body.contains("branch"));
}

#[test]
fn metrics_count_accepted_and_rejected_events_per_intake_and_reason() {
    let s = TestServer::start();
    post(&s.url("/plain/batch"), &[(K, &s.key)], "a\nb\n");
    post(&s.url("/plain"), &[(K, "nope")], "x");
    s.wait_events(2);
    let (st, m) = get(&s.url("/metrics"), &[]);
    assert_eq!(st, 200);
    let accepted = format!(
        "ziaxdr_intake_events_accepted_total{{intake=\"{}\",transport=\"http\"}} 2",
        s.intake_uuid
    );
    assert!(m.contains(&accepted), "{m}");
    assert!(m.contains("reason=\"unknown_key\""), "{m}");
    assert!(m.contains("ziaxdr_pipeline_events_total 2"), "{m}");
    assert!(m.contains("ziaxdr_pipeline_parse_failures_total"), "{m}");
    assert!(m.contains("ziaxdr_journal_lag_events"), "{m}");
}

#[test]
fn health_and_readiness_answer_200_while_serving() {
    let s = TestServer::start();
    assert_eq!(get(&s.url("/healthz"), &[]).0, 200);
    assert_eq!(get(&s.url("/readyz"), &[]).0, 200);
}

#[test]
fn https_serves_the_intake_with_a_configured_certificate() {
    let tls = self_signed();
    let cert = tls.dir.path().join("cert.pem");
    let key = tls.dir.path().join("key.pem");
    let s = TestServer::start_with(|c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
    });
    let roots = vec![ureq::tls::Certificate::from_der(&tls.cert_der).to_owned()];
    let tls_cfg = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(roots)))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls_cfg)
        .build()
        .into();
    let url = format!("https://localhost:{}/plain?status_code=200", s.http.port());
    let mut resp = agent.post(&url).header(K, &s.key).send("over tls").unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("event_id"));
    let ev = s.wait_events(1);
    assert_eq!(raws(&ev), ["over tls"]);
    assert_eq!(ev[0]["event"]["ziaxdr"]["transport"], "https");
}

fn vector(name: &str) -> String {
    let p = format!(
        "{}/../../../shared/conformance/sekoia-zscaler-zia/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let rec: Value = serde_json::from_str(v["input"]["message"].as_str().unwrap()).unwrap();
    rec.to_string()
}

#[test]
fn a_cloud_nss_retry_of_the_same_records_is_dropped_as_duplicates() {
    let s = TestServer::start();
    let batch = format!(
        "{}\n{}\n",
        vector("test_event_web.json"),
        vector("test_tunnel_gre.json")
    );
    assert_eq!(
        post(&s.url("/plain/batch"), &[(K, &s.key)], &batch).status,
        202
    );
    assert_eq!(
        post(&s.url("/plain/batch"), &[(K, &s.key)], &batch).status,
        202
    );
    post(&s.url("/plain"), &[(K, &s.key)], "marker");
    let ev = s.wait_events(3);
    assert_eq!(ev.len(), 3, "two records once each, and the marker");
    assert_eq!(
        ev[0]["event"]["event"]["dataset"], "web",
        "parsed by the zia format"
    );
    let (_, m) = get(&s.url("/metrics"), &[]);
    assert!(m.contains("ziaxdr_pipeline_duplicates_total 2"), "{m}");
}
