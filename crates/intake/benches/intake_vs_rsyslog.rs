//! Throughput of the intake against rsyslog, side by side in one run on this machine.
//!
//! `cargo bench -p intake --bench intake_vs_rsyslog` (env `BENCH_EVENTS`, default 100 000;
//! `BENCH_CONNS`, default 4). It generates ZIA records from the shared conformance vectors
//! (each with a unique `recordid`), then:
//!
//! 1. NSS TCP mode: streams them as RFC 5424 syslog lines over `BENCH_CONNS` connections to
//!    the ziaxdr intake (journal fsync on, the real `zia` parser, the NDJSON sink), and times
//!    until every event is journaled (acknowledged) and until every event is in the sink;
//! 2. the same byte streams to `rsyslogd` (a separate process with `imtcp` and `omfile`,
//!    from the Debian package), timed until every line is in its output file;
//! 3. Cloud NSS mode: the same records in gzip-compressed `/plain/batch` POSTs of ~512 KB
//!    (uncompressed) from `BENCH_CONNS` clients, timed until acknowledged and until in the sink.
//!
//! It prints one line per case: events, seconds, events/s, MB/s of raw records.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use intake::registry::{Registry, FORMAT_ZIA};
use intake::{Server, ServerConfig};
use pipeline::NdjsonSink;
use serde_json::Value;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// ZIA records (one line each) from the conformance vectors, made unique by `recordid`.
fn records(n: usize) -> Vec<String> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/sekoia-zscaler-zia"
    );
    let mut templates = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("shared conformance vectors")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for p in paths {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        if let Some(m) = v["input"]["message"].as_str() {
            if let Ok(rec @ Value::Object(_)) = serde_json::from_str::<Value>(m) {
                templates.push(rec);
            }
        }
    }
    assert!(!templates.is_empty());
    (0..n)
        .map(|i| {
            let mut r = templates[i % templates.len()].clone();
            if let Some(ev) = r.get_mut("event").and_then(Value::as_object_mut) {
                // Both id fields the format reads, so no record is dropped as a duplicate.
                let id = Value::String(format!("{}", 1_000_000_000 + i));
                ev.insert("recordid".into(), id.clone());
                if ev.contains_key("event_id") {
                    ev.insert("event_id".into(), id);
                }
            }
            r.to_string()
        })
        .collect()
}

struct Ziaxdr {
    rt: tokio::runtime::Runtime,
    http: SocketAddr,
    syslog: SocketAddr,
    key: String,
    ingest: intake::ingest::Ingest,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Ziaxdr {
    fn start() -> Ziaxdr {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open_in(dir.path()).unwrap();
        let e = reg.create_entity("bench").unwrap();
        let key = reg
            .create_intake("bench", FORMAT_ZIA, e.uuid)
            .unwrap()
            .intake_key;
        drop(reg);
        let cfg = ServerConfig::new(
            dir.path().to_path_buf(),
            "127.0.0.1:0".parse().unwrap(),
            Some("127.0.0.1:0".parse().unwrap()),
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(Server::bind(cfg)).unwrap();
        let http = server.http_addr().unwrap();
        let syslog = server.syslog_addr().unwrap();
        let ingest = server.ingest().clone();
        let sink = Box::new(NdjsonSink::open(dir.path().join("events.ndjson")).unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let done = rt.spawn(async move {
            server
                .run(sink, None, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Ziaxdr {
            rt,
            http,
            syslog,
            key,
            ingest,
            stop: Some(tx),
            done: Some(done),
            _dir: dir,
        }
    }

    fn accepted(&self) -> u64 {
        let uuid = self.ingest.auth.registry().list_intakes().unwrap()[0]
            .uuid
            .to_string();
        ["syslog", "http"]
            .iter()
            .map(|t| {
                self.ingest
                    .metrics
                    .accepted
                    .with_label_values(&[uuid.as_str(), t])
                    .get()
            })
            .sum()
    }

    /// Records the pipeline is done with (written to the sink, or dropped as duplicates).
    fn processed(&self) -> u64 {
        self.ingest.metrics.processed.get() + self.ingest.metrics.duplicates.get()
    }

    fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            self.rt.block_on(d).unwrap();
        }
    }
}

fn wait_until(what: &str, deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while !f() {
        if Instant::now() > end {
            eprintln!("timed out waiting for {what}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Sends `streams[i]` on connection i, all in parallel; returns when all are written.
fn send_tcp(addr: SocketAddr, streams: &[Arc<Vec<u8>>]) {
    let handles: Vec<_> = streams
        .iter()
        .cloned()
        .map(|s| {
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                for chunk in s.chunks(64 * 1024) {
                    c.write_all(chunk).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn report(case: &str, n: usize, bytes: usize, d: Duration) {
    let s = d.as_secs_f64();
    println!(
        "{case:<58} {n:>8} events {s:>7.2} s {:>10.0} events/s {:>7.1} MB/s",
        n as f64 / s,
        bytes as f64 / s / 1e6
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn count_lines(p: &Path) -> usize {
    std::fs::File::open(p)
        .map(|f| BufReader::new(f).lines().count())
        .unwrap_or(0)
}

fn rsyslog(streams: &[Arc<Vec<u8>>], n: usize, bytes: usize) {
    let Ok(bin) = which("rsyslogd") else {
        println!("rsyslog: rsyslogd not found (apt-get install -y rsyslog); skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = dir.path().join("out.log");
    let conf = dir.path().join("rsyslog.conf");
    std::fs::create_dir_all(dir.path().join("work")).unwrap();
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}" maxMessageSize="256k")
module(load="imtcp" MaxSessions="10000")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="bench") {{
  action(type="omfile" file="{out}" template="raw")
}}
input(type="imtcp" port="{port}" address="127.0.0.1" ruleset="bench")
"#,
            work = dir.path().join("work").display(),
            out = out.display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(bin)
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.path().join("pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_until("rsyslog to listen", Duration::from_secs(10), || {
        TcpStream::connect(addr).is_ok()
    });
    let t0 = Instant::now();
    send_tcp(addr, streams);
    let ok = wait_until("rsyslog output", Duration::from_secs(600), || {
        count_lines(&out) >= n
    });
    let d = t0.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    if ok {
        report("rsyslog imtcp -> omfile (no fsync)", n, bytes, d);
    }
}

fn which(name: &str) -> Result<String, ()> {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = format!("{dir}/{name}");
        if Path::new(&p).exists() {
            return Ok(p);
        }
    }
    Err(())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let n = env_usize("BENCH_EVENTS", 100_000);
    let conns = env_usize("BENCH_CONNS", 4).max(1);
    let recs = records(n);
    let bytes: usize = recs.iter().map(String::len).sum();
    println!(
        "{n} ZIA records, {:.1} MB raw, {conns} connections, {} CPUs",
        bytes as f64 / 1e6,
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );

    // The format alone, one thread: what bounds the "+ parsed" figures below.
    let t0 = Instant::now();
    let mut ok = 0usize;
    for r in &recs {
        ok += usize::from(zia::parse(r).is_ok());
    }
    report(
        "zia::parse alone (1 thread, for reference)",
        n,
        bytes,
        t0.elapsed(),
    );
    assert_eq!(ok, n, "every generated record parses");

    // NSS TCP mode.
    let z = Ziaxdr::start();
    let prefix = format!(
        "<134>1 2026-11-28T00:00:00Z nss zscaler - LOG [SEKOIA@53288 intake_key=\"{}\"] ",
        z.key
    );
    let mut streams = vec![Vec::new(); conns];
    for (i, r) in recs.iter().enumerate() {
        let s = &mut streams[i % conns];
        s.extend_from_slice(prefix.as_bytes());
        s.extend_from_slice(r.as_bytes());
        s.push(b'\n');
    }
    let streams: Vec<Arc<Vec<u8>>> = streams.into_iter().map(Arc::new).collect();
    let t0 = Instant::now();
    send_tcp(z.syslog, &streams);
    let ok = wait_until("ziaxdr journal", Duration::from_secs(600), || {
        z.accepted() >= n as u64
    });
    let acked = t0.elapsed();
    let ok2 = wait_until("ziaxdr sink", Duration::from_secs(600), || {
        z.processed() >= n as u64
    });
    let processed = t0.elapsed();
    if ok {
        report(
            "ziaxdr syslog TCP: accepted + journaled (fsync)",
            n,
            bytes,
            acked,
        );
    }
    if ok2 {
        report(
            "ziaxdr syslog TCP: + parsed (zia) + NDJSON sink",
            n,
            bytes,
            processed,
        );
    }
    if z.ingest.metrics.duplicates.get() > 0 {
        println!(
            "(dropped as duplicates: {})",
            z.ingest.metrics.duplicates.get()
        );
    }
    z.stop();

    rsyslog(&streams, n, bytes);

    // Cloud NSS mode: ~512 KB batches, gzip.
    let z = Ziaxdr::start();
    let mut batches: Vec<Vec<u8>> = Vec::new();
    let mut cur = Vec::new();
    for r in &recs {
        if cur.len() + r.len() + 1 > 512 * 1024 {
            batches.push(gzip(&cur));
            cur.clear();
        }
        cur.extend_from_slice(r.as_bytes());
        cur.push(b'\n');
    }
    if !cur.is_empty() {
        batches.push(gzip(&cur));
    }
    let batches = Arc::new(batches);
    let url = format!("http://{}/plain/batch?status_code=200", z.http);
    let t0 = Instant::now();
    let handles: Vec<_> = (0..conns)
        .map(|c| {
            let batches = batches.clone();
            let url = url.clone();
            let key = z.key.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                for b in batches.iter().skip(c).step_by(conns) {
                    loop {
                        let resp = agent
                            .post(&url)
                            .header("X-SEKOIAIO-INTAKE-KEY", &key)
                            .send(&b[..])
                            .unwrap();
                        if resp.status().as_u16() == 200 {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let acked = t0.elapsed();
    let ok = wait_until("ziaxdr sink (http)", Duration::from_secs(600), || {
        z.processed() >= n as u64
    });
    let processed = t0.elapsed();
    let wire: usize = batches.iter().map(Vec::len).sum();
    report(
        &format!(
            "ziaxdr HTTP gzip batches ({} x ~512 KB): accepted",
            batches.len()
        ),
        n,
        bytes,
        acked,
    );
    if ok {
        report(
            "ziaxdr HTTP gzip batches: + parsed + NDJSON sink",
            n,
            bytes,
            processed,
        );
    }
    println!("(HTTP wire bytes after gzip: {:.1} MB)", wire as f64 / 1e6);
    z.stop();
}
