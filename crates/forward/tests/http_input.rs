//! The Cloud NSS HTTP input: batches posted to `/plain/batch` are answered once buffered,
//! forwarded with their key, refused with a reason when they cannot be taken, and answered
//! 503 with `Retry-After` while a `--when-full block` buffer is full.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use forward::config::{DestSpec, ListenSpec, WhenFull};
use forward::{ForwardConfig, Forwarder};

/// What the test destination received: (key header, decoded lines) per request.
type Received = Arc<Mutex<Vec<(String, Vec<String>)>>>;

/// A Sekoia-like intake on 127.0.0.1 that records every batch and answers 200.
async fn destination() -> (SocketAddr, Received) {
    let got: Received = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/plain/batch",
        axum::routing::post(move |h: HeaderMap, body: Bytes| {
            let g = g.clone();
            async move {
                let key = h
                    .get("x-sekoiaio-intake-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let mut text = String::new();
                let mut d = flate2::read::GzDecoder::new(&body[..]);
                if std::io::Read::read_to_string(&mut d, &mut text).is_err() {
                    text = String::from_utf8_lossy(&body).into_owned();
                }
                g.lock()
                    .unwrap()
                    .push((key, text.lines().map(str::to_string).collect()));
                "{}"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, got)
}

fn gzip(s: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(s.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// Posts a body the way Cloud NSS does; returns the status, the Retry-After header and the body.
async fn post(
    url: String,
    key: Option<&str>,
    body: Vec<u8>,
    agent: ureq::Agent,
) -> (u16, Option<String>, String) {
    let key = key.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut req = agent.post(&url).header("Content-Encoding", "gzip");
        if let Some(k) = &key {
            req = req.header("X-SEKOIAIO-INTAKE-KEY", k);
        }
        let mut resp = req.send(&body[..]).expect("the request got no answer");
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (resp.status().as_u16(), retry, text)
    })
    .await
    .unwrap()
}

fn agent(tls: Option<ureq::tls::TlsConfig>) -> ureq::Agent {
    let mut b = ureq::Agent::config_builder().http_status_as_error(false);
    if let Some(t) = tls {
        b = b.tls_config(t);
    }
    b.build().into()
}

struct Running {
    input: SocketAddr,
    buffer: Arc<forward::Buffer>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    run: tokio::task::JoinHandle<Result<(), forward::ForwardError>>,
}

impl Running {
    async fn start(cfg: ForwardConfig) -> Running {
        let fwd = Forwarder::bind(cfg).await.unwrap();
        let input = fwd.listeners()[0].addr;
        let buffer = Arc::clone(fwd.buffer());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(fwd.run(async {
            let _ = rx.await;
        }));
        Running {
            input,
            buffer,
            stop: Some(tx),
            run,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(30), self.run)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

fn config(dir: &std::path::Path, listen: &str, to: String) -> ForwardConfig {
    let listen: ListenSpec = listen.parse().unwrap();
    let to: DestSpec = to.parse().unwrap();
    let mut cfg = ForwardConfig::new(dir.join("data"), vec![listen], vec![to]);
    cfg.metrics_addr = None;
    cfg.tuning.batch_age = Duration::from_millis(50);
    cfg.tuning.retry_initial = Duration::from_millis(50);
    cfg.tuning.drain_timeout = Duration::from_millis(500);
    cfg
}

/// A forwarder listening on `listen` that sends to a fresh recording destination.
async fn forwarder_to_destination(listen: &str) -> (tempfile::TempDir, Running, Received) {
    let dir = tempfile::tempdir().unwrap();
    let (dest, got) = destination().await;
    let cfg = config(dir.path(), listen, format!("http://{dest}/plain/batch"));
    (dir, Running::start(cfg).await, got)
}

async fn wait_for_lines(got: &Received, n: usize) -> Vec<(String, String)> {
    for _ in 0..400 {
        let lines: Vec<(String, String)> = got
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(k, ls)| ls.iter().map(move |l| (k.clone(), l.clone())))
            .collect();
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the destination got fewer than {n} lines: {:?}",
        got.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_nss_batch_is_answered_with_the_status_asked_and_forwarded_with_its_key() {
    let (_dir, r, got) = forwarder_to_destination("http://127.0.0.1:0").await;
    let url = format!("http://{}/plain/batch?status_code=200", r.input);
    let body = gzip("{\"n\":1}\n{\"n\":2}\r\n\n{\"n\":3}\n");
    let (status, _, text) = post(url, Some("CLOUD-NSS-KEY"), body, agent(None)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"accepted\":3"), "{text}");
    let lines = wait_for_lines(&got, 3).await;
    let want: Vec<(String, String)> = (1..=3)
        .map(|n| ("CLOUD-NSS-KEY".to_string(), format!("{{\"n\":{n}}}")))
        .collect();
    assert_eq!(lines, want);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_array_batch_is_split_into_its_items() {
    let (_dir, r, got) = forwarder_to_destination("http://127.0.0.1:0").await;
    let url = format!("http://{}/plain/batch", r.input);
    let (status, _, _) = post(url, Some("K"), gzip("[{\"a\":1},{\"b\":2}]"), agent(None)).await;
    assert_eq!(
        status, 202,
        "without ?status_code the intake's 202 is answered"
    );
    let lines = wait_for_lines(&got, 2).await;
    assert_eq!(lines[0].1, "{\"a\":1}");
    assert_eq!(lines[1].1, "{\"b\":2}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_key_is_refused_with_401_and_nothing_is_buffered() {
    let (_dir, r, _got) = forwarder_to_destination("http://127.0.0.1:0").await;
    let url = format!("http://{}/plain/batch", r.input);
    let (status, _, text) = post(url, None, gzip("{\"n\":1}\n"), agent(None)).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("missing_key"), "{text}");
    assert_eq!(r.buffer.journal.end_offset(), 0);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_key_is_used_for_requests_without_a_header() {
    let (_dir, r, got) = forwarder_to_destination("http://127.0.0.1:0=LISTENER-KEY").await;
    let url = format!("http://{}/plain/batch", r.input);
    let (status, _, _) = post(url, None, gzip("x\n"), agent(None)).await;
    assert_eq!(status, 202);
    let lines = wait_for_lines(&got, 1).await;
    assert_eq!(lines, vec![("LISTENER-KEY".to_string(), "x".to_string())]);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_block_a_full_buffer_answers_503_with_retry_after_and_keeps_what_it_accepted() {
    let dir = tempfile::tempdir().unwrap();
    // A destination nobody listens on: nothing leaves the buffer.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = config(
        dir.path(),
        "http://127.0.0.1:0",
        format!("http://127.0.0.1:{port}/plain/batch"),
    );
    cfg.max_disk_bytes = 64 * 1024;
    cfg.when_full = WhenFull::Block;
    let r = Running::start(cfg).await;
    let url = format!("http://{}/plain/batch", r.input);
    let line = format!("{{\"pad\":\"{}\"}}", "x".repeat(200));
    let batch: String = (0..20).map(|_| format!("{line}\n")).collect();
    let mut accepted = 0u64;
    let mut refusal = None;
    for _ in 0..100 {
        let (status, retry, text) = post(url.clone(), Some("K"), gzip(&batch), agent(None)).await;
        match status {
            202 => accepted += 20,
            503 => {
                refusal = Some((retry, text));
                break;
            }
            other => panic!("unexpected answer {other}: {text}"),
        }
    }
    let (retry, text) = refusal.expect("a 64 KiB buffer never filled");
    assert!(accepted > 0, "the first batches fit the buffer");
    assert_eq!(retry.as_deref(), Some("5"));
    assert!(text.contains("buffer_full"), "{text}");
    // Every accepted record is still waiting for its destination; the refused batch is not.
    assert_eq!(r.buffer.lag(0), accepted);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_listener_takes_cloud_nss_batches_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let (dest, got) = destination().await;
    let mut cfg = config(
        dir.path(),
        "https://127.0.0.1:0",
        format!("http://{dest}/plain/batch"),
    );
    cfg.server_cert = Some((cert.clone(), key));
    let r = Running::start(cfg).await;
    let tls = forward::output::tls::ureq_tls(&forward::config::ClientTls {
        ca: Some(cert),
        ..Default::default()
    })
    .unwrap();
    let url = format!(
        "https://localhost:{}/plain/batch?status_code=200",
        r.input.port()
    );
    let (status, _, text) = post(url, Some("TLS-KEY"), gzip("secure\n"), agent(Some(tls))).await;
    assert_eq!(status, 200, "{text}");
    let lines = wait_for_lines(&got, 1).await;
    assert_eq!(lines, vec![("TLS-KEY".to_string(), "secure".to_string())]);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_not_full_goes_out_once_the_input_goes_quiet_not_after_its_age() {
    let dir = tempfile::tempdir().unwrap();
    let (dest, got) = destination().await;
    let mut cfg = config(
        dir.path(),
        "http://127.0.0.1:0",
        format!("http://{dest}/plain/batch"),
    );
    cfg.tuning.batch_age = Duration::from_secs(600);
    cfg.tuning.batch_linger = Duration::from_millis(50);
    let r = Running::start(cfg).await;
    let url = format!("http://{}/plain/batch", r.input);
    let (status, _, _) = post(url, Some("K"), gzip("a\nb\n"), agent(None)).await;
    assert_eq!(status, 202);
    // wait_for_lines gives up after 20 s, far below the batch's age of ten minutes.
    let lines = wait_for_lines(&got, 2).await;
    assert_eq!(lines.len(), 2);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_buffered_longer_ago_than_the_linger_go_out_without_waiting_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (dest, got) = destination().await;
    let mut cfg = config(
        dir.path(),
        "http://127.0.0.1:0",
        format!("http://{dest}/plain/batch"),
    );
    cfg.tuning.batch_age = Duration::from_secs(600);
    cfg.tuning.batch_linger = Duration::from_secs(120);
    // Two records a forwarder buffered an hour ago and stopped before sending.
    {
        let buffer = forward::Buffer::open(
            &cfg.data_dir,
            journal::Config::default(),
            &cfg.to,
            WhenFull::Block,
            forward::Metrics::new(),
        )
        .unwrap();
        let hour_ago = forward::record::now_us() - 3_600_000_000;
        let old = |data: &[u8]| forward::record::encode(hour_ago, "OLD-KEY", data);
        buffer
            .append(&[old(b"old-1"), old(b"old-2")])
            .await
            .unwrap();
    }
    let r = Running::start(cfg).await;
    // wait_for_lines gives up after 20 s, far below the linger of two minutes: the records
    // have been quiet for an hour, so their batch has nothing left to wait for.
    let lines = wait_for_lines(&got, 2).await;
    assert_eq!(
        lines,
        vec![
            ("OLD-KEY".to_string(), "old-1".to_string()),
            ("OLD-KEY".to_string(), "old-2".to_string())
        ]
    );
    r.stop().await;
}
