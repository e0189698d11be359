//! `ziaxdr forward` end to end: NSS syslog over TCP into the forwarder, HTTPS batches out to
//! a real `ziaxdr serve`, with the server or the forwarder stopped in the middle.

mod intake_common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use intake_common::*;
use serde_json::Value;

/// A self-signed certificate for 127.0.0.1, as PEM files in `dir`.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, ck.cert.pem()).unwrap();
    std::fs::write(&k, ck.signing_key.serialize_pem()).unwrap();
    (c, k)
}

/// A port that was free a moment ago (the server must come back on the same one).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `ziaxdr serve` over HTTPS on a fixed port, events to DATA/events.ndjson.
fn serve_https(data: &Path, port: u16, cert: &Path, key: &Path) -> Serve {
    let out = data.join("events.ndjson");
    let http = format!("127.0.0.1:{port}");
    Serve::spawn(
        &[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--http",
            &http,
            "--syslog",
            "127.0.0.1:0",
            "--output",
            out.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--no-detection",
        ],
        &[],
    )
}

/// A running `ziaxdr forward`.
struct Fwd {
    child: Child,
    syslog: SocketAddr,
    metrics: SocketAddr,
}

impl Fwd {
    fn start(data: &Path, args: &[&str]) -> Fwd {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "forward",
            "--data",
            data.to_str().unwrap(),
            "--metrics",
            "127.0.0.1:0",
            "--retry-initial",
            "100ms",
            "--retry-max",
            "500ms",
            "--batch-age",
            "100ms",
        ])
        .args(args)
        .env("ZIAXDR_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.starts_with("listening ") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("forwarder did not report its addresses");
        let mut words = line.split_whitespace().skip(1);
        let syslog = words
            .next()
            .and_then(|w| w.strip_prefix("tcp://"))
            .unwrap()
            .parse()
            .unwrap();
        let metrics = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("metrics="))
            .unwrap()
            .parse()
            .unwrap();
        Fwd {
            child,
            syslog,
            metrics,
        }
    }

    fn status(&self) -> Value {
        let r = request(self.metrics, "GET", "/status", &[], "");
        assert_eq!(r.status, 200);
        r.json()
    }

    /// Waits until `f` holds for the status, or panics with the last one.
    fn wait_status(&self, what: &str, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status();
            if f(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}: {s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn terminate(mut self) -> i32 {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Fwd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Simulated NSS web records with record ids `first..first+count`, as an NSS VM sends
/// them (RFC 3164 syslog over TCP), at `rate` records per second.
fn send_nss(to: SocketAddr, first: u64, count: u64, rate: Option<u64>) {
    let to = format!("tcp://{to}");
    let (first, count) = (first.to_string(), count.to_string());
    let mut args = vec![
        "simulate",
        "--to",
        &to,
        "--types",
        "web",
        "--count",
        &count,
        "--first-record-id",
        &first,
        "--no-progress",
    ];
    let rate = rate.map(|r| r.to_string());
    if let Some(r) = &rate {
        args.extend(["--rate", r]);
    }
    let (code, _) = cli(&args);
    assert_eq!(code, 0, "simulate failed");
}

/// How many times each record id is in the server's sink.
fn record_ids(data: &Path) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for e in sink_events(data) {
        let raw = e["raw"].as_str().unwrap();
        let json = &raw[raw.find('{').unwrap()..];
        let v: Value = serde_json::from_str(json).unwrap();
        let id = v["event"]["event_id"].as_str().unwrap().to_string();
        *ids.entry(id).or_default() += 1;
    }
    ids
}

fn assert_exactly_once(data: &Path, first: u64, count: u64) {
    let ids = record_ids(data);
    let dups: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicated at the server: {dups:?}");
    for id in first..first + count {
        assert!(
            ids.contains_key(&id.to_string()),
            "record {id} never arrived"
        );
    }
    assert_eq!(
        ids.len() as u64,
        count,
        "records that were never sent arrived"
    );
}

fn lag(s: &Value, i: usize) -> u64 {
    s["destinations"][i]["lag_records"].as_u64().unwrap()
}

#[test]
fn a_server_stopped_mid_stream_and_restarted_gets_every_record_exactly_once() {
    let dir = Scratch::new("fwd-outage");
    let (cert, key) = self_signed(&dir.0);
    let srv = dir.0.join("srv");
    let (_, ikey) = create_intake(&srv);
    let port = free_port();
    let server = serve_https(&srv, port, &cert, &key);
    let listen = format!("tcp://127.0.0.1:0={ikey}");
    let to = format!("https://127.0.0.1:{port}/plain/batch?status_code=200");
    let fwd = Fwd::start(
        &dir.0.join("fwd"),
        &[
            "--listen",
            &listen,
            "--to",
            &to,
            "--ca",
            cert.to_str().unwrap(),
        ],
    );
    let (first, count) = (9_000_000_000u64, 6000u64);
    let addr = fwd.syslog;
    // 24 s of records at 250/s, so that they keep coming through the whole outage.
    let sender = std::thread::spawn(move || send_nss(addr, first, count, Some(250)));
    // Mid-stream: some records are through, and batches are in flight.
    fwd.wait_status("nothing sent", 30, |s| {
        s["destinations"][0]["sent"].as_u64() > Some(500)
    });
    server.kill();
    // The outage the issue names: 20 s without a server.
    std::thread::sleep(Duration::from_secs(20));
    let during = fwd.status();
    assert!(
        during["destinations"][0]["retried"].as_u64() > Some(0),
        "no retry while the server was down: {during}"
    );
    let server = serve_https(&srv, port, &cert, &key);
    sender.join().unwrap();
    fwd.wait_status("not caught up", 60, |s| {
        s["buffer"]["end"].as_u64() == Some(count) && lag(s, 0) == 0
    });
    let (code, _) = server.terminate();
    assert_eq!(code, 0);
    assert_exactly_once(&srv, first, count);
    assert_eq!(fwd.terminate(), 0);
}

#[test]
fn records_read_but_not_sent_before_a_sigkill_are_sent_after_a_restart() {
    let dir = Scratch::new("fwd-kill");
    let (cert, key) = self_signed(&dir.0);
    let srv = dir.0.join("srv");
    let (_, ikey) = create_intake(&srv);
    let port = free_port();
    let fdata = dir.0.join("fwd");
    let listen = format!("tcp://127.0.0.1:0={ikey}");
    let to = format!("https://127.0.0.1:{port}/plain/batch");
    let args = [
        "--listen",
        &listen,
        "--to",
        &to,
        "--ca",
        cert.to_str().unwrap(),
    ];
    // The destination is not up yet: everything read stays in the buffer.
    let fwd = Fwd::start(&fdata, &args);
    let (first, count) = (9_100_000_000u64, 2000u64);
    send_nss(fwd.syslog, first, count, None);
    fwd.wait_status("not all journaled", 30, |s| {
        s["buffer"]["end"].as_u64() == Some(count) && lag(s, 0) == count
    });
    fwd.kill();

    let server = serve_https(&srv, port, &cert, &key);
    let fwd = Fwd::start(&fdata, &args);
    fwd.wait_status("not sent after the restart", 60, |s| lag(s, 0) == 0);
    let (code, _) = server.terminate();
    assert_eq!(code, 0);
    assert_exactly_once(&srv, first, count);
    assert_eq!(fwd.terminate(), 0);
}

#[test]
fn with_one_destination_down_the_other_keeps_flowing() {
    let dir = Scratch::new("fwd-two");
    let (cert, key) = self_signed(&dir.0);
    let srv = dir.0.join("srv");
    let (_, ikey) = create_intake(&srv);
    let port = free_port();
    let server = serve_https(&srv, port, &cert, &key);
    let listen = format!("tcp://127.0.0.1:0={ikey}");
    let up = format!("https://127.0.0.1:{port}/plain/batch");
    let down = format!("https://127.0.0.1:{}/plain/batch", free_port());
    let fwd = Fwd::start(
        &dir.0.join("fwd"),
        &[
            "--listen",
            &listen,
            "--to",
            &down,
            "--to",
            &up,
            "--ca",
            cert.to_str().unwrap(),
        ],
    );
    let (first, count) = (9_200_000_000u64, 1500u64);
    send_nss(fwd.syslog, first, count, None);
    let s = fwd.wait_status("the live destination fell behind", 60, |s| {
        s["buffer"]["end"].as_u64() == Some(count) && lag(s, 1) == 0
    });
    assert_eq!(
        lag(&s, 0),
        count,
        "the dead destination sent something: {s}"
    );
    assert!(s["destinations"][0]["retried"].as_u64() > Some(0));
    assert!(s["destinations"][0]["lag_seconds"].as_f64() > Some(0.0));
    let (code, _) = server.terminate();
    assert_eq!(code, 0);
    assert_exactly_once(&srv, first, count);
    // The unsent records stay on disk for the dead destination, beyond a clean stop.
    assert_eq!(fwd.terminate(), 0);
    let (code, out) = cli(&[
        "forward",
        "status",
        "--data",
        dir.0.join("fwd").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0);
    let st: Value = serde_json::from_str(&out).unwrap();
    let dead = st["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["destination"] == down.as_str())
        .unwrap();
    assert_eq!(dead["lag_records"].as_u64(), Some(count));
}

#[test]
fn with_block_a_full_buffer_pushes_back_on_the_sender_and_loses_nothing() {
    let dir = Scratch::new("fwd-block");
    let (cert, key) = self_signed(&dir.0);
    let srv = dir.0.join("srv");
    let (_, ikey) = create_intake(&srv);
    let port = free_port();
    let listen = format!("tcp://127.0.0.1:0={ikey}");
    let to = format!("https://127.0.0.1:{port}/plain/batch");
    let fwd = Fwd::start(
        &dir.0.join("fwd"),
        &[
            "--listen",
            &listen,
            "--to",
            &to,
            "--ca",
            cert.to_str().unwrap(),
            "--max-disk-bytes",
            "1000000",
            "--when-full",
            "block",
        ],
    );
    // About 22 MB: more than the budget and the sockets' buffers together.
    let (first, count) = (9_300_000_000u64, 20_000u64);
    let addr = fwd.syslog;
    let sender = std::thread::spawn(move || send_nss(addr, first, count, None));
    let s = fwd.wait_status("the buffer never filled", 30, |s| {
        s["buffer"]["disk_bytes"].as_u64() > Some(700_000)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!sender.is_finished(), "the sender was not held back: {s}");
    assert!(s["buffer"]["end"].as_u64() < Some(count));
    let server = serve_https(&srv, port, &cert, &key);
    sender.join().unwrap();
    fwd.wait_status("not caught up", 60, |s| {
        s["buffer"]["end"].as_u64() == Some(count) && lag(s, 0) == 0
    });
    let (code, _) = server.terminate();
    assert_eq!(code, 0);
    assert_exactly_once(&srv, first, count);
    let _ = fwd.terminate();
}

#[test]
fn with_drop_oldest_a_full_buffer_drops_and_counts_the_oldest_records() {
    let dir = Scratch::new("fwd-drop");
    let listen = "tcp://127.0.0.1:0=KEY";
    let to = format!("https://127.0.0.1:{}/plain/batch", free_port());
    let fwd = Fwd::start(
        &dir.0.join("fwd"),
        &[
            "--listen",
            listen,
            "--to",
            &to,
            "--max-disk-bytes",
            "1000000",
            "--when-full",
            "drop-oldest",
        ],
    );
    let count = 3000u64;
    let mut c = TcpStream::connect(fwd.syslog).unwrap();
    for i in 0..count {
        writeln!(c, "<134>Dec  6 20:00:00 nss NSS: {i:0>1000}").unwrap();
    }
    drop(c);
    let s = fwd.wait_status("not all read", 30, |s| {
        s["buffer"]["end"].as_u64() == Some(count)
    });
    let d = &s["destinations"][0];
    let dropped = d["dropped"].as_u64().unwrap();
    assert!(dropped > 0, "nothing dropped: {s}");
    assert_eq!(
        dropped + d["lag_records"].as_u64().unwrap(),
        count,
        "every record is either still buffered or counted as dropped: {s}"
    );
    assert!(s["buffer"]["disk_bytes"].as_u64() <= Some(1_000_000));
    let _ = fwd.terminate();
}

#[test]
fn listeners_and_destinations_come_from_the_toml_file_and_flags_win_over_it() {
    let dir = Scratch::new("fwd-toml");
    let conf = dir.0.join("forward.toml");
    std::fs::write(
        &conf,
        "listen = [\"tcp://127.0.0.1:0=FILEKEY\"]\n\
         to = [\"https://from-file.invalid/plain/batch\"]\n\
         when-full = \"drop-oldest\"\n\
         max-disk-bytes = 5000000\n",
    )
    .unwrap();
    let fwd = Fwd::start(
        &dir.0.join("fwd"),
        &[
            "--config",
            conf.to_str().unwrap(),
            "--max-disk-bytes",
            "7000000",
            "--drain-timeout",
            "1s",
        ],
    );
    let s = fwd.status();
    assert_eq!(
        s["destinations"][0]["destination"],
        "https://from-file.invalid/plain/batch"
    );
    assert_eq!(s["buffer"]["when_full"], "drop-oldest");
    assert_eq!(s["buffer"]["budget_bytes"].as_u64(), Some(7_000_000));
    // The listener from the file takes lines, with the file's key.
    let mut c = TcpStream::connect(fwd.syslog).unwrap();
    writeln!(c, "<134>Dec  6 20:00:00 nss NSS: hello").unwrap();
    drop(c);
    fwd.wait_status("the line was not journaled", 10, |s| {
        s["buffer"]["end"].as_u64() == Some(1)
    });
    assert_eq!(fwd.terminate(), 0);
}
