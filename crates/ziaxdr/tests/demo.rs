//! `ziaxdr demo`, the README's first command: within a minute the console has events of every
//! log type and alerts, and the printed sign-in works.

mod intake_common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use intake_common::{Scratch, Session, BIN};

/// A free port on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `ziaxdr demo` in `dir` on `port`, with `extra` arguments, its stdout piped.
fn spawn_demo(dir: &Scratch, port: u16, extra: &[&str]) -> std::process::Child {
    Command::new(BIN)
        .args([
            "demo",
            "--data",
            dir.0.join("demo").to_str().unwrap(),
            "--http",
            &format!("127.0.0.1:{port}"),
        ])
        .args(extra)
        .env("ZIAXDR_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until something listens on `port`, for at most 30 s.
fn wait_listening(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "demo never listened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn demo_shows_events_of_every_log_type_and_alerts_within_a_minute() {
    let dir = Scratch::new("demo");
    let port = free_port();
    let cti = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cti");
    let mut child = spawn_demo(
        &dir,
        port,
        &["--rate", "200", "--duration", "25s", "--cti", cti],
    );
    let mut password = None;
    for line in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if let Some(p) = line.trim().strip_prefix("password:") {
            password = Some(p.trim().to_string());
        }
        if line.contains("Ctrl-C stops the demo") {
            break;
        }
    }
    let password = password.expect("the demo printed no password");
    wait_listening(port);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let session = Session::sign_in(addr, "admin", &password);

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let top = session
            .send(
                addr,
                "POST",
                "/api/v1/events/aggregate",
                r#"{"since":"1h","aggregation":{"type":"top","field":"event.dataset","size":10}}"#,
            )
            .json();
        let overview = session.send(addr, "GET", "/api/v1/overview", "").json();
        let names: Vec<String> = top["result"]["values"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|x| x["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let alerts = overview["alerts"]["open"].as_u64().unwrap_or(0);
        // Every log type, however rare in the feed's mix (tunnel events are), within the minute.
        let missing: Vec<&str> = ["web", "firewall", "dns", "tunnel", "audit", "casb"]
            .into_iter()
            .filter(|d| !names.iter().any(|x| x == d))
            .collect();
        if missing.is_empty() && alerts > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after a minute: datasets {names:?} (no {missing:?}), {alerts} open alerts"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let sources = session.send(addr, "GET", "/api/v1/cti/sources", "").json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        sources.len() >= 2,
        "simulator and sample indicators: {sources:?}"
    );

    // The demo stops by itself after --duration, cleanly.
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the demo did not stop");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn a_demo_stops_soon_after_sigterm() {
    let dir = Scratch::new("demo-term");
    let port = free_port();
    let mut child = spawn_demo(&dir, port, &[]);
    // Its banner is not read: dropping the pipe's reader must not make its writes fail.
    let out = child.stdout.take();
    wait_listening(port);
    // Long enough for the feed to have sent batches, and to be sending when the server stops.
    std::thread::sleep(Duration::from_secs(3));
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let stopping = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if stopping.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the demo was still running 30 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    drop(out);
}
