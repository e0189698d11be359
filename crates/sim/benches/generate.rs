//! Generation throughput: records per second rendered and written to a file, on one thread.
//!
//! Run with `cargo bench -p sim --bench generate`. Prints one line per log type mix.

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
    for (name, mix) in mixes {
        let mut g = Generator::new(&GenConfig {
            seed: 1,
            mix: mix.clone(),
            malicious: 0.05,
            transport: Transport::Nss,
        })
        .expect("valid config");
        let file = std::fs::File::create(&path).expect("temp file");
        let mut sink = LineSink::new(file);
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
        println!(
            "{name:<36} {:>10.0} records/s  {:>7.1} MB/s  ({} records, {:.1} MB to a file)",
            p.records as f64 / secs,
            p.sink.bytes as f64 / 1e6 / secs,
            p.records,
            p.sink.bytes as f64 / 1e6
        );
    }
    let _ = std::fs::remove_file(&path);
}
