//! Generation throughput: records per second rendered and written to a file, on one thread.
//!
//! Run with `cargo bench -p sim --bench generate`. Prints one line per log type mix: records
//! per second of wall time, and per second of CPU time used by this process (user + system,
//! from /proc/self/stat), which is the figure that counts on a machine shared with other load.

use std::time::Instant;

use nss::{LogType, Transport};
use sim::{run, GenConfig, Generator, LineSink, RunConfig};

const RECORDS: u64 = 1_000_000;

fn main() {
    let mixes: &[(&str, Vec<(LogType, u32)>)] = &[
        ("web", vec![(LogType::Web, 1)]),
        ("firewall", vec![(LogType::Firewall, 1)]),
        ("dns", vec![(LogType::Dns, 1)]),
        (
            "default mix web=6,firewall=3,dns=1",
            vec![(LogType::Web, 6), (LogType::Firewall, 3), (LogType::Dns, 1)],
        ),
        (
            "all seven log types",
            LogType::ALL.iter().map(|lt| (*lt, 1)).collect(),
        ),
    ];
    let path = std::env::temp_dir().join(format!("sim-bench-{}.log", std::process::id()));
    // SIM_BENCH_ONLY=web runs only the mixes whose name starts with that (for profiling).
    let only = std::env::var("SIM_BENCH_ONLY").unwrap_or_default();
    for (name, mix) in mixes.iter().filter(|(n, _)| n.starts_with(only.as_str())) {
        let mut g = Generator::new(&GenConfig {
            seed: 1,
            mix: mix.clone(),
            malicious: 0.05,
            transport: Transport::Nss,
        })
        .expect("valid config");
        let file = std::fs::File::create(&path).expect("temp file");
        let mut sink = LineSink::new(file);
        let cpu0 = cpu_seconds();
        let start = Instant::now();
        let p = run(
            &mut g,
            &mut sink,
            &RunConfig {
                count: Some(RECORDS),
                ..Default::default()
            },
            &mut |_| {},
        )
        .expect("run");
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        println!(
            "{name:<36} {:>10.0} records/s wall  {:>10.0} records/CPU-s  {:>7.1} MB/s  ({} records, {:.1} MB to a file)",
            p.records as f64 / secs,
            p.records as f64 / cpu.max(1e-9),
            p.sink.bytes as f64 / 1e6 / secs,
            p.records,
            p.sink.bytes as f64 / 1e6
        );
    }
    let _ = std::fs::remove_file(&path);
}

/// User + system CPU time of this process, in seconds (0 where /proc is missing).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0);
    ticks / 100.0 // USER_HZ is 100 on Linux
}
