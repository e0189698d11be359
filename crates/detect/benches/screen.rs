//! The detection work of a parse thread, per event, as the server does it (bench binary
//! printing figures): simulated Cloud NSS records (`ziaxdr simulate`'s defaults: web 6,
//! firewall 3, dns 1, 2 % malicious) parsed by the ZIA parser into flat events, then each
//! event indexed from its leaves and screened by the stateless rules and the indicators, with
//! the rules and indicators of `bench/e2e` (the shipped pack, every SigmaHQ proxy/dns/firewall
//! rule of `../shared/sigma`, 100,000 indicators).
//!
//! `cargo bench -p detect --bench screen` prints the CPU µs per event of the indexing alone
//! and of indexing + screening. Environment: `BENCH_EVENTS` (default 100000),
//! `BENCH_INDICATORS` (default 100000), `BENCH_ONLY=screen` (only indexing + screening, for
//! `perf stat -e instructions`: run it with two event counts and divide the difference).

use std::path::PathBuf;
use std::sync::Arc;

use detect::cti::{CtiMatcher, Indicator};
use detect::event::{EcsEvent, FlatEvent};
use detect::{Detector, RuleSet};
use serde_json::json;

fn shared() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
}

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// CPU seconds of the calling thread.
fn thread_cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns: f64 = s
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    ns / 1e9
}

/// The shipped pack plus the proxy, dns and firewall rules of the shared SigmaHQ selection.
fn rules() -> RuleSet {
    let mut set = RuleSet::builtin();
    let sigma = shared().join("sigma");
    let manifest = std::fs::read_to_string(sigma.join("MANIFEST.txt")).unwrap();
    for line in manifest.lines() {
        let parts: Vec<&str> = line.split('\t').collect();
        if parts.len() >= 2 && matches!(parts[0], "proxy" | "dns" | "firewall") {
            set.add_file(&sigma.join("rules").join(parts[1])).unwrap();
        }
    }
    set
}

/// Random indicators as bench/e2e makes them: domains, IPv4 addresses, URLs.
fn indicators(n: usize) -> Vec<Indicator> {
    let mut x: u64 = 18;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 24
    };
    (0..n)
        .map(|i| {
            let pattern = match i % 10 {
                0..=5 => format!(
                    "[domain-name:value = 'x{:x}.example-{}.net']",
                    next(),
                    i % 97
                ),
                6..=8 => format!(
                    "[ipv4-addr:value = '{}.{}.{}.{}']",
                    next() % 212 + 11,
                    next() % 256,
                    next() % 256,
                    next() % 254 + 1
                ),
                _ => format!("[url:value = 'http://u{:x}.example.org/p/{i}']", next()),
            };
            Indicator {
                name: format!("bench indicator {i}"),
                ..Indicator::new(format!("indicator--bench-{i}"), pattern)
            }
        })
        .collect()
}

/// Simulated records as the pipeline hands them to the sink: parsed and annotated.
fn events(n: usize) -> Vec<zia::Event> {
    let mut gen = sim::Generator::new(&sim::GenConfig {
        seed: 1,
        mix: vec![
            (nss::LogType::Web, 6),
            (nss::LogType::Firewall, 3),
            (nss::LogType::Dns, 1),
        ],
        malicious: 0.02,
        transport: nss::Transport::CloudNss,
    })
    .unwrap();
    let mut out = Vec::with_capacity(n);
    let mut line = Vec::new();
    for i in 0..n {
        line.clear();
        gen.next(1_765_000_000 + (i / 1000) as i64, &mut line);
        let text = String::from_utf8_lossy(&line);
        let mut ev = match zia::parse_event(text.trim_end()) {
            Ok(p) => p.event,
            Err(_) => continue,
        };
        ev.set_if_absent("event.ingested", || json!("2026-12-07T18:00:00Z"));
        ev.set(
            "ziaxdr",
            json!({"event_id": format!("{i:016x}"), "intake": {"uuid": "00000000-0000-4000-8000-000000000001"},
                   "transport": "http"}),
        );
        out.push(ev);
    }
    out
}

/// The parsed event looked up where it is, as the server's parse threads read it.
struct Flat<'a>(&'a zia::Event);

impl<'a> FlatEvent<'a> for Flat<'a> {
    fn values_at(&self, path: &str, f: &mut dyn FnMut(&'a serde_json::Value)) {
        self.0.values_at(path, f);
    }
    fn for_each_leaf(&self, f: &mut dyn FnMut(&str, &'a serde_json::Value)) {
        self.0.for_each_leaf_ref(f);
    }
}

fn main() {
    let n = env_usize("BENCH_EVENTS", 100_000);
    let evs = events(n);
    let mut det = Detector::new(&rules()).unwrap();
    det.set_cti(Arc::new(CtiMatcher::build(
        &indicators(env_usize("BENCH_INDICATORS", 100_000)),
        detect::chrono::Utc::now(),
    )));
    let mut screen = det.screen();
    let only_screen = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "screen");
    if !only_screen {
        let c0 = thread_cpu();
        let mut paths = 0usize;
        for ev in &evs {
            let idx = EcsEvent::from_leaves(|visit| ev.for_each_leaf_ref(visit));
            paths += usize::from(idx.get_str("event.dataset").is_some());
        }
        let c1 = thread_cpu();
        println!(
            "index only      : {:6.2} µs/event ({paths} with a dataset)",
            (c1 - c0) / evs.len() as f64 * 1e6
        );
    }
    for flat in [false, true] {
        if only_screen && !flat {
            continue;
        }
        let c0 = thread_cpu();
        let mut matches = 0usize;
        for ev in &evs {
            let f = Flat(ev);
            let idx = if flat {
                EcsEvent::from_flat(&f)
            } else {
                EcsEvent::from_leaves(|visit| ev.for_each_leaf_ref(visit))
            };
            let s = screen.screen_indexed(&idx, &|| ev.to_map());
            matches += s.matches().len();
        }
        let c1 = thread_cpu();
        println!(
            "{} + screen: {:6.2} µs/event ({matches} matches, {} events)",
            if flat {
                "lookups in place"
            } else {
                "index of leaves "
            },
            (c1 - c0) / evs.len() as f64 * 1e6,
            evs.len()
        );
    }
}
