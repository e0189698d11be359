//! Detection-stage benchmark (bench binary printing figures).
//!
//! `cargo bench -p detect --bench detect` runs, on one thread: every loadable rule of
//! `../shared/sigma` plus the shipped ZIA pack, plus 100,000 synthetic STIX indicators (and
//! the sample bundles), over synthetic ZIA events (web 70 %, dns 20 %, firewall 10 %; one web
//! event in 200 goes to a domain some rule looks for, as real traffic is mostly benign). It
//! prints events/s for Sigma only, CTI only and both, and both without the literal gate in
//! front of rsigma (`Detector::new_ungated`). If the `rsigma` command line is found
//! (`$RSIGMA`, else `/tmp/rsigma/bin/rsigma`), the same rules and pipeline are run by it over
//! the same events (written to NDJSON) pinned to one core, and its events/s is printed too.
//! Environment: `BENCH_EVENTS` (default 200000), `BENCH_INDICATORS` (default 100000),
//! `BENCH_PER_RULE=1` (instead: the CPU cost of each rule file alone, slowest first),
//! `RSIGMA` (path of the rsigma binary), `RSIGMA_ARGS` (its arguments, with {rules},
//! {pipeline} and {input} placeholders), `BENCH_ONLY=both` (only Sigma + CTI, no peer: for
//! `valgrind --tool=callgrind`, whose instruction counts do not depend on the machine's load;
//! run it with two event counts and divide the difference to get instructions per event).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use detect::cti::{CtiMatcher, Indicator};
use detect::{Detector, LoadStatus, RuleSet};
use serde_json::{json, Map, Value};

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
}

const DOMAINS: &[&str] = &[
    "www.example.com",
    "outlook.office365.com",
    "www.google.com",
    "cdn.jsdelivr.net",
    "api.github.com",
    "a.et.nytimes.com",
    "login.microsoftonline.com",
    "updates.vendor.example",
    "static.xx.fbcdn.net",
    "teams.microsoft.com",
    "www.wikipedia.org",
    "fonts.gstatic.com",
];
/// Values some rule or indicator looks for; one event in MALICIOUS_ONE_IN carries one.
const BAD_DOMAINS: &[&str] = &["pastebin.com", "api.telegram.org", "c2.evilbox.duckdns.org"];
const MALICIOUS_ONE_IN: u64 = 200;
const UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
];
const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/api/v1/items?id=42",
    "/static/app.js",
    "/images/logo.png",
    "/download/setup.exe",
];

fn events(n: usize) -> Vec<Map<String, Value>> {
    let mut r = Lcg(42);
    (0..n)
        .map(|i| {
            let ts = format!(
                "2026-11-27T{:02}:{:02}:{:02}Z",
                (i / 3600) % 24,
                (i / 60) % 60,
                i % 60
            );
            let src = format!("10.{}.{}.{}", r.next() % 4, r.next() % 250, r.next() % 250);
            let dst = format!(
                "{}.{}.{}.{}",
                r.next() % 223 + 1,
                r.next() % 250,
                r.next() % 250,
                r.next() % 250
            );
            let kind = r.next() % 10;
            let bad = r.next().is_multiple_of(MALICIOUS_ONE_IN);
            let v = if kind < 7 {
                let d = if bad { r.pick(BAD_DOMAINS) } else { r.pick(DOMAINS) };
                let p = r.pick(PATHS);
                json!({"@timestamp": ts, "event": {"dataset": "web", "action": "allowed", "id": i.to_string()},
                  "source": {"ip": src}, "destination": {"ip": dst, "domain": d},
                  "url": {"domain": d, "original": format!("{d}{p}"), "path": p},
                  "user": {"name": format!("user{}", r.next() % 500)},
                  "user_agent": {"original": r.pick(UAS)},
                  "http": {"request": {"method": "GET", "bytes": r.next() % 5000}, "response": {"status_code": 200}},
                  "zscaler": {"zia": {"url_category": "News and Media", "threat": {"name": "None"}}}})
            } else if kind < 9 {
                let q = format!("h{}.{}", r.next() % 1000, r.pick(DOMAINS));
                json!({"@timestamp": ts, "event": {"dataset": "dns", "id": i.to_string()},
                  "source": {"ip": src}, "destination": {"ip": "10.0.0.53", "port": 53},
                  "dns": {"question": {"name": q, "type": "A", "registered_domain": "example.com"}}})
            } else {
                let port = [443u64, 80, 53, 22, 8080][(r.next() % 5) as usize];
                json!({"@timestamp": ts, "event": {"dataset": "firewall", "action": "allow", "id": i.to_string()},
                  "source": {"ip": src, "port": 40000 + r.next() % 20000},
                  "destination": {"ip": dst, "port": port},
                  "network": {"protocol": "TCP"}})
            };
            match v {
                Value::Object(m) => m,
                _ => unreachable!(),
            }
        })
        .collect()
}

fn indicators(n: usize) -> Vec<Indicator> {
    let mut r = Lcg(7);
    (0..n)
        .map(|i| {
            let pattern = match i % 5 {
                0 => format!("[domain-name:value = 'bad{i}.example-c2.net']"),
                1 => format!(
                    "[ipv4-addr:value = '{}.{}.{}.{}']",
                    r.next() % 223 + 1,
                    r.next() % 250,
                    r.next() % 250,
                    r.next() % 250
                ),
                2 => format!("[url:value = 'http://drop{i}.example-mal.org/payload.bin']"),
                3 => format!("[file:hashes.'SHA-256' = '{:064x}']", i as u128 * 7919),
                _ => format!(
                    "[domain-name:value = 'x{i}.example-dga.com' OR ipv4-addr:value = '198.51.{}.{}']",
                    r.next() % 250,
                    r.next() % 250
                ),
            };
            Indicator {
                name: format!("bench {i}"),
                confidence: Some(80),
                author: Some("bench".into()),
                ..Indicator::new(format!("indicator--bench-{i}"), pattern)
            }
        })
        .collect()
}

fn shared() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
}

/// CPU time of the calling thread (Linux `/proc/thread-self/schedstat`), so that figures do
/// not depend on how busy the shared machine is; None elsewhere.
fn thread_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

/// Returns (events/s wall, events/s of CPU time, matches).
fn run(det: &mut Detector, evs: &[Map<String, Value>]) -> (f64, f64, usize) {
    let cpu0 = thread_cpu();
    let t = Instant::now();
    let mut hits = 0;
    for e in evs {
        hits += det.process(e).len();
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wall,
    };
    (evs.len() as f64 / wall, evs.len() as f64 / cpu, hits)
}

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing we care about.
    let n = env_usize("BENCH_EVENTS", 200_000);
    let n_ind = env_usize("BENCH_INDICATORS", 100_000);
    let evs = events(n);

    if std::env::var("BENCH_PER_RULE").is_ok() {
        per_rule(&evs[..evs.len().min(20_000)]);
        return;
    }

    let mut set = RuleSet::builtin();
    set.add_dir(&shared().join("sigma/rules")).unwrap();
    let compiled = set.compile().unwrap();
    let loaded = compiled
        .infos
        .iter()
        .filter(|i| i.status == LoadStatus::Loaded)
        .count();
    println!(
        "rules: {} verdicts, {loaded} loaded (shipped pack + ../shared/sigma)",
        compiled.infos.len()
    );

    let mut inds = indicators(n_ind);
    for f in [
        "cti/oasis-cti-stix2-json-schemas/examples/threat-reports/poisonivy.json",
        "cti/oasis-cti-stix2-json-schemas/examples/threat-reports/apt1.json",
    ] {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(shared().join(f)).unwrap()).unwrap();
        inds.extend(detect::cti::indicators_of(&doc).0);
    }
    let t = Instant::now();
    let matcher = Arc::new(CtiMatcher::build(&inds, detect::chrono::Utc::now()));
    println!(
        "cti: {} indicators compiled in {:.2} s",
        matcher.len(),
        t.elapsed().as_secs_f64()
    );

    let only_both = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "both");
    if only_both {
        let mut both = Detector::new(&set).unwrap();
        both.set_cti(matcher.clone());
        let (eps, cpu, hits) = run(&mut both, &evs);
        println!("sigma + cti     : {eps:>10.0} events/s wall, {cpu:>10.0} events/CPU-s ({hits} matches)");
        return;
    }

    let mut sigma_only = Detector::new(&set).unwrap();
    let (eps, cpu, hits) = run(&mut sigma_only, &evs);
    println!("sigma only      : {eps:>10.0} events/s wall, {cpu:>10.0} events/CPU-s ({hits} matches, {n} events)");

    let mut bloom = Detector::new(&set).unwrap();
    bloom.set_bloom_prefilter(true);
    let (eps, cpu, hits) = run(&mut bloom, &evs);
    println!(
        "sigma only bloom: {eps:>10.0} events/s wall, {cpu:>10.0} events/CPU-s ({hits} matches)"
    );

    let mut cti_only = Detector::new(&RuleSet::new()).unwrap();
    cti_only.set_cti(matcher.clone());
    let (eps, cpu, hits) = run(&mut cti_only, &evs);
    println!(
        "cti only        : {eps:>10.0} events/s wall, {cpu:>10.0} events/CPU-s ({hits} matches)"
    );

    let mut both = Detector::new(&set).unwrap();
    both.set_cti(matcher.clone());
    let (eps, cpu, hits) = run(&mut both, &evs);
    println!(
        "sigma + cti     : {eps:>10.0} events/s wall, {cpu:>10.0} events/CPU-s ({hits} matches)"
    );

    // The same without the literal gate and memo in front of rsigma (every rule in its
    // engine): what the gate buys, measured in the same run.
    let mut ungated = Detector::new_ungated(&set).unwrap();
    ungated.set_cti(matcher.clone());
    let (eps, cpu, hits) = run(&mut ungated, &evs);
    println!(
        "ungated s + cti : {eps:>10.0} events/s wall, {cpu:>10.0} events/CPU-s ({hits} matches)"
    );

    // Like the rsigma CLI, start from NDJSON text: JSON parsing + detection.
    let lines: Vec<String> = evs
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let mut parsed = Detector::new(&set).unwrap();
    parsed.set_cti(matcher);
    let cpu0 = thread_cpu();
    let t = Instant::now();
    let mut hits = 0;
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap();
        hits += parsed.process_value(&v).len();
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wall,
    };
    println!(
        "json + sigma+cti: {:>10.0} events/s wall, {:>10.0} events/CPU-s ({hits} matches)",
        n as f64 / wall,
        n as f64 / cpu
    );

    rsigma_peer(&evs);
}

/// Runs the `rsigma` CLI over the same rules, pipeline and events, if it is installed.
fn rsigma_peer(evs: &[Map<String, Value>]) {
    let bin = std::env::var("RSIGMA").unwrap_or_else(|_| "/tmp/rsigma/bin/rsigma".into());
    if !Path::new(&bin).exists() {
        println!("rsigma          : not installed ({bin}); see the crate's bench docs");
        return;
    }
    let dir = std::env::temp_dir().join(format!("ziaxdr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("events.ndjson");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for e in evs {
            serde_json::to_writer(&mut f, e).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }
    // The same rule files (the shipped pack and the SigmaHQ selection, copied into one
    // directory as `--rules` takes one path; rsigma skips what it cannot load) and the same
    // pipeline file.
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/zia.yml");
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let mut stack = vec![
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"),
        shared().join("sigma/rules"),
    ];
    let mut copied = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("tests") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "yml") {
                copied += 1;
                std::fs::copy(
                    &p,
                    rules.join(format!(
                        "{copied}_{}",
                        p.file_name().unwrap().to_string_lossy()
                    )),
                )
                .unwrap();
            }
        }
    }
    let args_tpl = std::env::var("RSIGMA_ARGS").unwrap_or_else(|_| {
        "engine eval --rules {rules} --pipeline {pipeline} --event @{input} --output-format ndjson --no-stats"
            .into()
    });
    let args: Vec<String> = args_tpl
        .split_whitespace()
        .map(|a| {
            a.replace("{rules}", &rules.display().to_string())
                .replace("{pipeline}", &pipeline.display().to_string())
                .replace("{input}", &input.display().to_string())
        })
        .collect();
    // Pinned to one core; /usr/bin/time reports its CPU time (user + system).
    let cpu_file = dir.join("cpu.txt");
    let mut cmd = std::process::Command::new("/usr/bin/time");
    cmd.arg("-f").arg("%U %S").arg("-o").arg(&cpu_file);
    if Path::new("/usr/bin/taskset").exists() {
        cmd.arg("/usr/bin/taskset").arg("-c").arg("0");
    }
    cmd.arg(&bin);
    cmd.args(&args)
        .env("RAYON_NUM_THREADS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let t = Instant::now();
    match cmd.output() {
        Ok(out) => {
            let secs = t.elapsed().as_secs_f64();
            let matches = out
                .stdout
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            let cpu: Option<f64> = std::fs::read_to_string(&cpu_file).ok().and_then(|t| {
                let v: Vec<f64> = t
                    .lines()
                    .last()?
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                (v.len() == 2).then(|| v[0] + v[1])
            });
            println!(
                "rsigma CLI      : {:>10.0} events/s wall, {:>10.0} events/CPU-s ({} output lines, {}, {:.2} s wall incl. start-up, rule loading, JSON parsing and output)",
                evs.len() as f64 / secs,
                cpu.map(|c| evs.len() as f64 / c).unwrap_or(f64::NAN),
                matches,
                out.status,
                secs
            );
            println!("rsigma command  : {bin} {}", args.join(" "));
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                println!(
                    "rsigma stderr   : {}",
                    err.lines().take(5).collect::<Vec<_>>().join(" | ")
                );
            }
        }
        Err(e) => println!("rsigma          : failed to start: {e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `BENCH_PER_RULE=1`: the cost of each loadable rule file alone, slowest first.
fn per_rule(evs: &[Map<String, Value>]) {
    let mut files = Vec::new();
    let mut stack = vec![
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"),
        shared().join("sigma/rules"),
    ];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("tests") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "yml") {
                files.push(p);
            }
        }
    }
    let mut empty = Detector::new(&RuleSet::new()).unwrap();
    // CPU time, not wall time: the shared machine's load would drown the differences.
    let (_, base, _) = run(&mut empty, evs);
    let mut costs = Vec::new();
    for f in files {
        let mut set = RuleSet::new();
        set.add_file(&f).unwrap();
        let mut d = Detector::new(&set).unwrap();
        if d.rules().iter().all(|r| r.status != LoadStatus::Loaded) {
            continue;
        }
        let (_, eps, _) = run(&mut d, evs);
        // Nanoseconds per event above the empty detector.
        costs.push((1e9 / eps - 1e9 / base, f));
    }
    costs.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ns, f) in costs.iter().take(15) {
        println!("{ns:>8.0} ns/event  {}", f.display());
    }
    let total: f64 = costs.iter().map(|c| c.0).sum();
    println!("sum over {} rule files: {total:.0} ns/event", costs.len());
}
