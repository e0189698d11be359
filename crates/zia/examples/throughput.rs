//! Parses every line of a file N times without writing output and prints records/s: a quick
//! profiling harness (`perf record target/release/examples/throughput FILE`). The benchmark
//! of record is `cargo bench -p vrl-peer --bench parse`.
// The binary runs on mimalloc too: an event is many small allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: throughput FILE [ROUNDS] [event]");
    let rounds: usize = args.next().map_or(1, |r| r.parse().expect("rounds"));
    // `event`: parse into the flat `zia::Event` the pipeline uses, not nested maps.
    let flat = args.next().as_deref() == Some("event");
    let text = std::fs::read_to_string(&path).expect("read file");
    let lines: Vec<&str> = text.lines().collect();
    let _ = zia::parse(lines[0]); // warm the user-agent parser
    let start = Instant::now();
    let mut ok = 0usize;
    for _ in 0..rounds {
        for l in &lines {
            ok += if flat {
                zia::parse_event(l).is_ok()
            } else {
                zia::parse(l).is_ok()
            } as usize;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = lines.len() * rounds;
    println!(
        "{n} records ({ok} ok) in {secs:.3}s: {:.0} records/s",
        n as f64 / secs
    );
}
