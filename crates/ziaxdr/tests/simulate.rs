//! `ziaxdr simulate` against small TCP and HTTP listeners run by the test: newline framing,
//! replay on reconnect (NSS VM), gzip, retry on 503 and none on 400 (Cloud NSS).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

fn simulate(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ziaxdr"))
        .arg("simulate")
        .args(args)
        .env("ZIAXDR_LOG", "error")
        .output()
        .expect("run ziaxdr simulate");
    assert!(
        out.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn summary(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find(|l| l.starts_with("simulate: "))
        .unwrap_or_else(|| panic!("no summary line in {stderr}"))
        .to_string()
}

/// The JSON part of a record (after the syslog header, if any).
fn json_of(line: &str) -> serde_json::Value {
    let start = line
        .find('{')
        .unwrap_or_else(|| panic!("no JSON in {line}"));
    serde_json::from_str(&line[start..]).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn record_id(line: &str) -> String {
    json_of(line)["event"]["recordid"]
        .as_str()
        .expect("recordid")
        .to_string()
}

/// Accepts `connections` connections in turn; reads each to the end, or only `cut_after`
/// lines of the first one before closing it. Returns the lines of each connection.
fn tcp_listener(
    connections: usize,
    cut_after: Option<usize>,
) -> (String, JoinHandle<Vec<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let handle = std::thread::spawn(move || {
        let mut all = Vec::new();
        for i in 0..connections {
            let (stream, _) = listener.accept().expect("accept");
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
            let mut lines = Vec::new();
            let mut reader = BufReader::new(stream);
            loop {
                if i == 0 && cut_after == Some(lines.len()) {
                    break; // dropping the reader closes the connection with data unread
                }
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => lines.push(line.trim_end_matches('\n').to_string()),
                }
            }
            all.push(lines);
        }
        all
    });
    (addr, handle)
}

#[test]
fn tcp_sends_one_syslog_framed_record_per_line_on_one_connection() {
    let (addr, server) = tcp_listener(1, None);
    let out = simulate(&[
        "--to",
        &format!("tcp://{addr}"),
        "--count",
        "500",
        "--types",
        "dns",
    ]);
    let conns = server.join().expect("server");
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].len(), 500);
    for line in &conns[0] {
        // `Nov 28 00:12:05 zscaler-nss NSS {"sourcetype":...}`
        assert_eq!(&line[15..33], " zscaler-nss NSS {", "{line}");
        assert_eq!(json_of(line)["sourcetype"], "zscalernss-dns");
    }
    assert!(summary(&out).contains("reconnects 0"), "{}", summary(&out));
}

#[test]
fn tcp_lines_carry_the_intake_key_as_structured_data_when_given_one() {
    let (addr, server) = tcp_listener(1, None);
    simulate(&[
        "--to",
        &format!("tcp://{addr}"),
        "--count",
        "20",
        "--key",
        "K123",
    ]);
    let conns = server.join().expect("server");
    assert_eq!(conns[0].len(), 20);
    for line in &conns[0] {
        assert!(
            line.contains(r#" zscaler-nss NSS [SEKOIA@53288 intake_key="K123"] {"#),
            "{line}"
        );
    }
}

#[test]
fn tcp_reconnects_and_replays_recent_records_so_none_is_lost() {
    let (addr, server) = tcp_listener(2, Some(200));
    let out = simulate(&[
        "--to",
        &format!("tcp://{addr}"),
        "--count",
        "3000",
        "--rate",
        "6000",
        "--types",
        "dns",
        "--replay",
        "60s",
    ]);
    let conns = server.join().expect("server");
    let first: HashSet<String> = conns[0].iter().map(|l| record_id(l)).collect();
    let second: Vec<String> = conns[1].iter().map(|l| record_id(l)).collect();
    let replayed = second.iter().filter(|id| first.contains(*id)).count();
    assert!(
        replayed >= 200,
        "the second connection repeats the records of the first: {replayed}"
    );
    let unique: HashSet<&String> = first.iter().chain(second.iter()).collect();
    assert_eq!(unique.len(), 3000, "every record arrived at least once");
    let s = summary(&out);
    assert!(s.contains("reconnects 1"), "{s}");
}

#[test]
fn an_interrupted_endless_run_still_prints_its_summary() {
    let file = std::env::temp_dir().join(format!("simulate-int-{}.log", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_ziaxdr"))
        .args(["simulate", "--rate", "200", "--no-progress", "--to"])
        .arg(format!("file:{}", file.display()))
        .env("ZIAXDR_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Records in the file mean the run loop (and so the signal handler) is up.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&file).map_or(0, |m| m.len()) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "simulate wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The shell's built-in `kill`, so that the test needs no procps.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "{:?}", out.status);
    let s = summary(&out);
    assert!(s.contains(" records ("), "{s}");
}

#[derive(Debug, Clone)]
struct Request {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct HttpServer {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Answers the n-th request with `statuses[n]` (the last one repeated).
    fn start(statuses: Vec<u16>) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!(
            "http://{}/plain/batch?status_code=200",
            listener.local_addr().expect("addr")
        );
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, stop2) = (requests.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let (reqs, statuses) = (reqs.clone(), statuses.clone());
                        conns.push(std::thread::spawn(move || serve(s, &reqs, &statuses)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        HttpServer {
            url,
            requests,
            stop,
            handle: Some(handle),
        }
    }

    fn requests(mut self) -> Vec<Request> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().expect("server");
        }
        let r = self.requests.lock().expect("lock").clone();
        r
    }
}

fn serve(stream: TcpStream, reqs: &Mutex<Vec<Request>>, statuses: &[u16]) {
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let n = {
            let mut r = reqs.lock().expect("lock");
            r.push(Request { headers, body });
            r.len()
        };
        let status = statuses
            .get(n - 1)
            .or(statuses.last())
            .copied()
            .unwrap_or(200);
        let reply = format!("HTTP/1.1 {status} Status\r\nContent-Length: 0\r\n\r\n");
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut s)
        .expect("gzip body");
    s
}

#[test]
fn http_batches_are_gzipped_json_lines_carrying_the_intake_key() {
    let server = HttpServer::start(vec![200]);
    let out = simulate(&[
        "--to",
        &server.url,
        "--count",
        "100",
        "--gzip",
        "--key",
        "s3cret",
        "--batch-age",
        "1h",
    ]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "one batch");
    let r = &reqs[0];
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("x-sekoiaio-intake-key"), Some("s3cret"));
    let body = gunzip(&r.body);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 100);
    for l in lines {
        assert!(
            l.starts_with("{\"sourcetype\":\"zscalernss-"),
            "Cloud NSS records are bare JSON: {l}"
        );
        json_of(l);
    }
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("s3cret"),
        "the key is never printed"
    );
}

#[test]
fn http_retries_a_503_until_the_batch_is_accepted() {
    let server = HttpServer::start(vec![503, 503, 200]);
    let out = simulate(&[
        "--to",
        &server.url,
        "--count",
        "50",
        "--batch-age",
        "1h",
        "--retry-for",
        "30s",
    ]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert!(
        reqs.iter().all(|r| r.body == reqs[0].body),
        "the same batch is sent again"
    );
    let s = summary(&out);
    assert!(s.contains("batches 1, retries 2, dropped 0"), "{s}");
}

#[test]
fn http_drops_a_batch_answered_400_without_retrying() {
    let server = HttpServer::start(vec![400, 200]);
    let out = simulate(&[
        "--to",
        &server.url,
        "--count",
        "50",
        "--batch-age",
        "1h",
        "--retry-for",
        "30s",
    ]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "no retry after 400");
    let s = summary(&out);
    assert!(s.contains("batches 0, retries 0, dropped 50"), "{s}");
}

#[test]
fn http_batches_never_exceed_batch_kb() {
    let server = HttpServer::start(vec![200]);
    simulate(&[
        "--to",
        &server.url,
        "--count",
        "300",
        "--batch-kb",
        "16",
        "--batch-age",
        "1h",
    ]);
    let reqs = server.requests();
    assert!(reqs.len() > 3, "{} batches", reqs.len());
    assert!(reqs.iter().all(|r| r.body.len() <= 16 * 1024));
    let total: usize = reqs
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).lines().count())
        .sum();
    assert_eq!(total, 300);
}

#[test]
fn a_ca_file_without_certificates_is_refused_before_sending() {
    let file = std::env::temp_dir().join(format!("simulate-ca-{}.pem", std::process::id()));
    std::fs::write(&file, "not a certificate\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_ziaxdr"))
        .args([
            "simulate",
            "--to",
            "https://127.0.0.1:9/plain/batch",
            "--count",
            "1",
            "--ca-file",
        ])
        .arg(&file)
        .env("ZIAXDR_LOG", "error")
        .output()
        .expect("run");
    let _ = std::fs::remove_file(&file);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CA certificates: no certificate found"),
        "{stderr}"
    );
}

#[test]
fn two_runs_with_the_same_seed_never_share_a_record_id() {
    let ids = || -> HashSet<String> {
        let out = simulate(&["--count", "200", "--types", "dns", "--seed", "5"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(record_id)
            .collect()
    };
    let (a, b) = (ids(), ids());
    assert_eq!(a.len(), 200);
    assert!(
        a.is_disjoint(&b),
        "an intake would drop the second run as duplicates"
    );
}
