//! The writing thread's cost per correlated event as a correlation's window fills (issue 18).
//!
//! `cargo bench -p detect --bench correlation_window` screens and finishes, on one thread,
//! `BENCH_EVENTS` (default 100,000) denied firewall connections from 20 hosts to rotating
//! ports, all within one second's timestamps, through SigmaHQ's "Network Scans Count By
//! Destination Port" (`count(dst_port) by src_ip > 10`, a day's window: a `value_count`
//! correlation), and prints the CPU µs per event of `Detector::finish` for each tenth of the
//! run. With rsigma-eval as published, which counted
//! the distinct values of a whole window at every event, each tenth cost more than the one
//! before; with the patched copy in `vendor/rsigma-eval` the tenths cost the same.

use std::path::PathBuf;
use std::time::Instant;

use detect::{Detector, RuleSet};
use serde_json::{json, Map, Value};

fn rule(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/sigma/rules/unsupported/network"
    ))
    .join(name)
}

/// CPU time of the calling thread (Linux), so that figures do not depend on the machine's
/// load; wall time elsewhere.
fn thread_cpu(wall: Instant) -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(|| wall.elapsed().as_secs_f64(), |ns| ns / 1e9)
}

fn event(i: usize) -> Map<String, Value> {
    let v = json!({"@timestamp": format!("2026-12-06T10:00:{:02}Z", (i / 5000) % 60),
        "event": {"dataset": "firewall", "action": "Block/Drop", "id": format!("fw-{i}")},
        "source": {"ip": format!("10.0.0.{}", i % 20)},
        "destination": {"ip": "203.0.113.9", "port": (i / 20) % 60_000}});
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn main() {
    let n: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut set = RuleSet::new();
    set.add_file(&rule("net_firewall_susp_network_scan_by_port.yml"))
        .expect("the shared SigmaHQ rule");
    let mut d = Detector::new(&set).expect("the rule compiles");
    let mut screen = d.screen();
    let events: Vec<Map<String, Value>> = (0..n).map(event).collect();
    let start = Instant::now();
    let tenth = (n / 10).max(1);
    println!(
        "# {n} denied connections from 20 hosts, one value_count correlation (a day's window)"
    );
    println!("# tenth  Detector::finish µs/event (CPU)");
    let mut fired = 0;
    for (k, chunk) in events.chunks(tenth).enumerate() {
        let screened: Vec<_> = chunk.iter().map(|e| screen.screen(e)).collect();
        let t0 = thread_cpu(start);
        for s in screened {
            fired += d.finish(s).len();
        }
        let t1 = thread_cpu(start);
        println!("{:>7}  {:8.2}", k + 1, (t1 - t0) / chunk.len() as f64 * 1e6);
    }
    println!("# correlation matches: {fired}");
}
