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
    let cpu0 = cpu_seconds();
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
    // On a shared machine the wall rate depends on the neighbours; the CPU time this process
    // spent does much less.
    let cpu = match (cpu0, cpu_seconds()) {
        (Some(a), Some(b)) => format!(", {:.2} CPU µs/record", (b - a) * 1e6 / n.max(1) as f64),
        _ => String::new(),
    };
    println!(
        "{n} records ({ok} ok) in {secs:.3}s: {:.0} records/s{cpu}",
        n as f64 / secs
    );
}

/// User plus system CPU time of this process, from `/proc/self/stat` (Linux; `None`
/// elsewhere). Fields 14 and 15 after the command name count clock ticks of 1/100 s, the
/// value of `USER_HZ` on Linux.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
