//! A real server on loopback ports, started in its own runtime, for the socket-level tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use intake::registry::{Registry, FORMAT_ZIA};
use intake::{Server, ServerConfig};
use pipeline::NdjsonSink;
use serde_json::Value;

pub struct TestServer {
    pub rt: tokio::runtime::Runtime,
    pub http: SocketAddr,
    pub syslog: SocketAddr,
    pub syslog_tls: Option<SocketAddr>,
    pub key: String,
    pub intake_uuid: String,
    pub admin_token: String,
    pub data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

pub struct Tls {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub dir: tempfile::TempDir,
}

/// A self-signed certificate for `localhost`, written to PEM files.
pub fn self_signed() -> Tls {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    Tls {
        cert_pem: ck.cert.pem(),
        cert_der: ck.cert.der().to_vec(),
        dir,
    }
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        TestServer::start_keyed(|c, _| tweak(c))
    }

    /// Like `start_with`, the tweak also getting the test intake's key.
    pub fn start_keyed(tweak: impl FnOnce(&mut ServerConfig, &str)) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let reg = Registry::open_in(data.path()).unwrap();
        let e = reg.create_entity("test").unwrap();
        let n = reg.create_intake("zia", FORMAT_ZIA, e.uuid).unwrap();
        drop(reg);
        let mut cfg = ServerConfig::new(
            data.path().to_path_buf(),
            "127.0.0.1:0".parse().unwrap(),
            Some("127.0.0.1:0".parse().unwrap()),
        );
        cfg.admin_token = Some("admin-token-for-tests-0123456789".into());
        tweak(&mut cfg, &n.intake_key);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sink_path = data.path().join("events.ndjson");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = rt.block_on(Server::bind(cfg)).unwrap();
        let http = server.http_addr().unwrap();
        let syslog = server.syslog_addr().unwrap();
        let syslog_tls = server.syslog_tls_addr();
        let done = rt.spawn(async move {
            let sink = Box::new(NdjsonSink::open(&sink_path).unwrap());
            server
                .run(sink, None, async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
        });
        TestServer {
            rt,
            http,
            syslog,
            syslog_tls,
            key: n.intake_key,
            intake_uuid: n.intake.uuid.to_string(),
            admin_token: "admin-token-for-tests-0123456789".into(),
            data,
            stop: Some(stop_tx),
            done: Some(done),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    pub fn sink_path(&self) -> PathBuf {
        self.data.path().join("events.ndjson")
    }

    pub fn registry(&self) -> Registry {
        Registry::open_in(self.data.path()).unwrap()
    }

    /// Waits until the sink holds at least `n` events, returning them all.
    pub fn wait_events(&self, n: usize) -> Vec<Value> {
        wait_events(&self.sink_path(), n)
    }

    /// Stops the server gracefully (drain and checkpoint).
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            self.rt.block_on(d).unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.stop();
        }
    }
}

pub fn read_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn wait_events(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ev = read_events(path);
        if ev.len() >= n || Instant::now() > deadline {
            return ev;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP client that reports every status instead of failing on non-2xx.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

pub fn post(url: &str, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Answer {
    let mut req = agent().post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body.as_ref()).unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        retry_after,
    }
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.call().unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The raw texts found in the sink.
pub fn raws(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["raw"].as_str().unwrap_or_default().to_string())
        .collect()
}
