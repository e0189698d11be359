//! Helpers for the tests that run the built `ziaxdr` binary: a scratch data directory, a
//! server process on free ports, and a tiny HTTP/1.1 client over `TcpStream`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_ziaxdr");

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "ziaxdr-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `ziaxdr ARGS`, returning (exit code, stdout).
pub fn cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("ZIAXDR_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `ziaxdr search QUERY --count` over every stored day of a ClickHouse database: the count,
/// or the command's output when it failed or printed no count.
pub fn clickhouse_count(url: &str, db: &str, query: &str) -> Result<u64, String> {
    let (code, out) = cli(&[
        "search",
        query,
        "--since",
        "3650d",
        "--count",
        "--json",
        "--clickhouse",
        url,
        "--clickhouse-database",
        db,
    ]);
    if code != 0 {
        return Err(out);
    }
    serde_json::from_str::<Value>(out.trim())
        .ok()
        .and_then(|v| v["count"].as_u64())
        .ok_or(out)
}

/// Creates an intake in `data` and returns (uuid, key).
pub fn create_intake(data: &Path) -> (String, String) {
    create_intake_with(&["--data", data.to_str().unwrap()])
}

/// Creates an intake in the registry these flags choose (`--data DIR`, `--postgres URL`) and
/// returns (uuid, key).
pub fn create_intake_with(registry: &[&str]) -> (String, String) {
    let mut args = vec!["intake", "create", "--json"];
    args.extend_from_slice(registry);
    let (code, out) = cli(&args);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    (
        v["uuid"].as_str().unwrap().to_string(),
        v["intake_key"].as_str().unwrap().to_string(),
    )
}

/// A running `ziaxdr serve`.
pub struct Serve {
    pub child: Child,
    pub http: SocketAddr,
    pub syslog: SocketAddr,
    pub stdout: String,
    /// Every line the server logged on stderr so far (the last 10,000).
    pub log: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
}

impl Serve {
    /// Starts `ziaxdr serve --data DATA --http 127.0.0.1:0 --syslog 127.0.0.1:0 EXTRA`.
    pub fn start(data: &Path, extra: &[&str]) -> Serve {
        Serve::start_env(data, extra, &[])
    }

    /// Starts `serve` writing events to DATA/events.ndjson (the NDJSON sink), which these
    /// tests read; the event-store sink has its own tests (`serve_store.rs`).
    pub fn start_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Serve {
        let output = data.join("events.ndjson");
        let mut args = vec![
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "127.0.0.1:0",
            "--output",
            output.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Serve::spawn(&args, env)
    }

    /// Starts `ziaxdr` with exactly these arguments and waits for its `listening` line.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("ZIAXDR_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let keep = log.clone();
        std::thread::spawn(move || {
            // Keep draining stderr so the server never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.starts_with("listening ") {
                    let _ = tx.send(line.clone());
                }
                let mut l = keep.lock().unwrap();
                if l.len() == 10_000 {
                    l.pop_front();
                }
                l.push_back(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server did not report its addresses");
        let field = |name: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .unwrap()
                .parse()
                .unwrap()
        };
        let http = field("http");
        // A worker node (`--role worker`) has no syslog listener.
        let syslog = if line.contains("syslog=") {
            field("syslog")
        } else {
            ([0, 0, 0, 0], 0).into()
        };
        Serve {
            child,
            http,
            syslog,
            stdout: String::new(),
            log,
        }
    }

    /// Like [`Serve::spawn`], with the lines the server prints on stdout sent to the returned
    /// channel as they come (first-start secrets: intake key, admin token, console password).
    pub fn spawn_capturing(args: &[&str]) -> (Serve, mpsc::Receiver<String>) {
        let mut server = Serve::spawn(args, &[]);
        let stdout = server.child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        (server, rx)
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit code and stdout.
    pub fn terminate(mut self) -> (i32, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut out = String::new();
                if let Some(mut o) = self.child.stdout.take() {
                    let _ = o.read_to_string(&mut out);
                }
                return (st.code().unwrap_or(-1), out);
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, as a crash.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// One HTTP/1.1 request with `Connection: close`.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Answer> {
    let mut c = TcpStream::connect(addr)?;
    c.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    c.write_all(req.as_bytes())?;
    c.write_all(body)?;
    let mut resp = Vec::new();
    c.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    Ok(Answer {
        status,
        body: serde_json::from_str(body).unwrap_or(Value::String(body.to_string())),
    })
}

/// The events in the NDJSON sink.
pub fn sink_events(data: &Path) -> Vec<Value> {
    std::fs::read_to_string(data.join("events.ndjson"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until the sink holds at least `n` events (a line being written is skipped).
pub fn wait_sink(data: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ev: Vec<Value> = std::fs::read_to_string(data.join("events.ndjson"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if ev.len() >= n || Instant::now() > deadline {
            return ev;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// An HTTP answer with its headers and body as text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One HTTP/1.1 request with `Connection: close` and `Host` set to `addr`, keeping the headers
/// of the answer (cookies, redirects, security headers).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    c.write_all(req.as_bytes()).unwrap();
    c.write_all(body.as_bytes()).unwrap();
    let mut resp = Vec::new();
    c.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// The console's admin password, from the lines a first start prints (`password: …`).
pub fn console_password(out: &mpsc::Receiver<String>) -> String {
    loop {
        let line = out
            .recv_timeout(Duration::from_secs(60))
            .expect("no console password printed");
        if let Some(p) = line.trim().strip_prefix("password:") {
            return p.trim().to_string();
        }
    }
}

/// A signed-in console session: its cookie and CSRF token, sent as a browser would.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    /// Signs in with the console's JSON sign-in.
    pub fn sign_in(addr: SocketAddr, user: &str, password: &str) -> Session {
        let r = request(
            addr,
            "POST",
            "/api/v1/session",
            &[("content-type", "application/json")],
            &serde_json::json!({"user": user, "password": password}).to_string(),
        );
        assert_eq!(r.status, 200, "sign-in of {user} failed: {}", r.body);
        let cookie = r
            .header("set-cookie")
            .expect("no session cookie")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let csrf = r.json()["csrf"].as_str().unwrap().to_string();
        Session { cookie, csrf }
    }

    /// A request from the signed-in browser (same origin, CSRF token, JSON body).
    pub fn send(&self, addr: SocketAddr, method: &str, path: &str, body: &str) -> Reply {
        request(
            addr,
            method,
            path,
            &[
                ("cookie", &self.cookie),
                ("x-csrf-token", &self.csrf),
                ("content-type", "application/json"),
                ("origin", &format!("http://{addr}")),
            ],
            body,
        )
    }
}
