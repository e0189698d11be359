//! A Zscaler ZIA feed simulator, for tests, demos and benchmarks.
//!
//! [`gen::Generator`] draws seeded, realistic records of every ZIA log type (users,
//! departments, locations, URLs and categories, user agents, IPv4 and IPv6, allowed and
//! blocked traffic, and a configurable share of malicious activity) and renders them through
//! the recommended NSS formats of the `nss` crate, with the `%HH` encoding the feed escape
//! characters cause. [`extra::ExtraGenerator`] writes the types without a configurable feed
//! format (NSS feed-health alerts, sandbox verdicts, SaaS Security subtypes). [`sink`] sends them like an NSS VM (one TCP connection, syslog framing,
//! reconnection and replay), like Cloud NSS (HTTP batches with retries), or to a file.
//! [`run`] paces the loop (`rate`, `count`, `duration`) and reports progress; it is the load
//! generator of the project's benchmarks, so it must never be their bottleneck.

#![warn(missing_docs)]

pub mod extra;
pub mod gen;
pub mod pools;
pub mod sink;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use extra::{ExtraGenerator, ExtraKind};
pub use gen::{GenConfig, Generator};
pub use sink::{HttpConfig, HttpSink, LineSink, Sink, SinkError, SinkStats, TcpConfig, TcpSink};

/// Where the records go, parsed from `--to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output (`stdout` or `-`).
    Stdout,
    /// A file (`file:PATH`).
    File(String),
    /// An NSS-VM-like TCP stream (`tcp://HOST:PORT`).
    Tcp(String),
    /// Cloud-NSS-like HTTP batches (`http://...` or `https://...`).
    Http(String),
}

/// The error for a destination that cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error("unknown destination `{0}`: expected stdout, file:PATH, tcp://HOST:PORT, http://... or https://...")]
pub struct BadDestination(pub String);

impl std::str::FromStr for Destination {
    type Err = BadDestination;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "stdout" || s == "-" {
            Ok(Destination::Stdout)
        } else if let Some(p) = s.strip_prefix("file:").filter(|p| !p.is_empty()) {
            Ok(Destination::File(p.to_string()))
        } else if let Some(a) = s.strip_prefix("tcp://").filter(|a| a.contains(':')) {
            Ok(Destination::Tcp(a.trim_end_matches('/').to_string()))
        } else if s.starts_with("http://") || s.starts_with("https://") {
            Ok(Destination::Http(s.to_string()))
        } else {
            Err(BadDestination(s.to_string()))
        }
    }
}

/// When to stop and how fast to go.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunConfig {
    /// Stop after this many records.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// At most this many records per second (unlimited when absent).
    pub rate: Option<f64>,
}

/// How far a run has got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Records generated.
    pub records: u64,
    /// Records flagged malicious.
    pub malicious: u64,
    /// Time since the start.
    pub elapsed: Duration,
    /// The sink's counters.
    pub sink: SinkStats,
}

impl Progress {
    /// Records per second since the start.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.records as f64 / s
        } else {
            0.0
        }
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.sink;
        write!(
            f,
            "{} records ({} malicious) in {:.2}s, {:.0} records/s, {:.1} MB; batches {}, retries {}, dropped {}, reconnects {}, replayed {}",
            self.records,
            self.malicious,
            self.elapsed.as_secs_f64(),
            self.rate(),
            s.bytes as f64 / 1e6,
            s.batches,
            s.retries,
            s.dropped,
            s.reconnects,
            s.replayed
        )
    }
}

/// How often progress is reported and the sink ticked.
pub const TICK: Duration = Duration::from_millis(100);

/// Generates records into `sink` until `config` says stop, calling `progress` about every
/// [`TICK`]; returns the final counts. With neither count nor duration it runs until the
/// process is stopped.
pub fn run(
    gen: &mut Generator,
    sink: &mut dyn Sink,
    config: &RunConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Progress, SinkError> {
    run_until(gen, sink, config, &AtomicBool::new(false), progress)
}

/// Like [`run`], but also stops (cleanly, sending what is buffered) once `stop` is set, e.g.
/// by a Ctrl-C handler; it is looked at every 256 records, or every record when paced.
pub fn run_until(
    gen: &mut Generator,
    sink: &mut dyn Sink,
    config: &RunConfig,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Progress, SinkError> {
    let start = Instant::now();
    let mut last_tick = start;
    let mut line = Vec::with_capacity(2048);
    let mut records = 0u64;
    let mut malicious = 0u64;
    let mut epoch = now_epoch();
    let deadline = config.duration.map(|d| start + d);
    let interval = config
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(1.0 / r));
    loop {
        if config.count.is_some_and(|c| records >= c) {
            break;
        }
        // Checking the clock costs more than a record: do it every 256 records when unpaced.
        if interval.is_some() || records.is_multiple_of(256) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let now = Instant::now();
            // Paced runs stop on the due time of the next record (below), so that a rate and a
            // duration give exactly rate x duration records; the wall clock stops them only
            // when they fall more than a second behind.
            let grace = if interval.is_some() {
                Duration::from_secs(1)
            } else {
                Duration::ZERO
            };
            if deadline.is_some_and(|d| now >= d + grace) {
                break;
            }
            if let Some(iv) = interval {
                let due = start + iv.mul_f64(records as f64);
                // A record due at or after the deadline is not sent.
                if deadline.is_some_and(|d| due >= d) {
                    break;
                }
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            if now.duration_since(last_tick) >= TICK {
                last_tick = now;
                epoch = now_epoch();
                sink.tick()?;
                progress(&Progress {
                    records,
                    malicious,
                    elapsed: now - start,
                    sink: sink.stats(),
                });
            }
        }
        let mut bad = false;
        sink.send_rendered(&mut line, &mut |out| bad = gen.next(epoch, out).malicious)?;
        malicious += u64::from(bad);
        records += 1;
    }
    sink.finish()?;
    Ok(Progress {
        records,
        malicious,
        elapsed: start.elapsed(),
        sink: sink.stats(),
    })
}

fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nss::{LogType, Transport};

    #[test]
    fn destinations_parse() {
        assert_eq!(
            "stdout".parse::<Destination>().unwrap(),
            Destination::Stdout
        );
        assert_eq!(
            "file:/tmp/x".parse::<Destination>().unwrap(),
            Destination::File("/tmp/x".into())
        );
        assert_eq!(
            "tcp://127.0.0.1:514".parse::<Destination>().unwrap(),
            Destination::Tcp("127.0.0.1:514".into())
        );
        assert!(matches!(
            "https://h/plain/batch".parse::<Destination>().unwrap(),
            Destination::Http(_)
        ));
        assert!("udp://x:1".parse::<Destination>().is_err());
        assert!("file:".parse::<Destination>().is_err());
    }

    #[test]
    fn run_stops_at_count_and_writes_one_line_per_record() {
        let mut g = Generator::new(&GenConfig {
            seed: 1,
            mix: vec![(LogType::Web, 1)],
            malicious: 0.1,
            transport: Transport::Nss,
        })
        .unwrap();
        let mut buf = Vec::new();
        let summary = {
            let mut sink = LineSink::new(&mut buf);
            run(
                &mut g,
                &mut sink,
                &RunConfig {
                    count: Some(1000),
                    ..Default::default()
                },
                &mut |_| {},
            )
            .unwrap()
        };
        assert_eq!(summary.records, 1000);
        assert_eq!(buf.iter().filter(|b| **b == b'\n').count(), 1000);
    }

    #[test]
    fn rate_and_duration_give_rate_times_duration_records() {
        let mut g = Generator::new(&GenConfig {
            seed: 1,
            mix: vec![(LogType::Dns, 1)],
            malicious: 0.0,
            transport: Transport::CloudNss,
        })
        .unwrap();
        let mut sink = LineSink::new(std::io::sink());
        let config = RunConfig {
            duration: Some(Duration::from_millis(300)),
            rate: Some(100.0),
            ..Default::default()
        };
        let s = run(&mut g, &mut sink, &config, &mut |_| {}).unwrap();
        assert_eq!(s.records, 30);
    }

    #[test]
    fn a_set_stop_flag_ends_the_run() {
        let mut g = Generator::new(&GenConfig {
            seed: 1,
            mix: vec![(LogType::Dns, 1)],
            malicious: 0.0,
            transport: Transport::CloudNss,
        })
        .unwrap();
        let mut sink = LineSink::new(std::io::sink());
        let s = run_until(
            &mut g,
            &mut sink,
            &RunConfig::default(),
            &AtomicBool::new(true),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(s.records, 0);
    }

    #[test]
    fn rate_limits_the_pace() {
        let mut g = Generator::new(&GenConfig {
            seed: 1,
            mix: vec![(LogType::Dns, 1)],
            malicious: 0.0,
            transport: Transport::CloudNss,
        })
        .unwrap();
        let mut sink = LineSink::new(std::io::sink());
        let s = run(
            &mut g,
            &mut sink,
            &RunConfig {
                count: Some(50),
                rate: Some(200.0),
                ..Default::default()
            },
            &mut |_| {},
        )
        .unwrap();
        // 50 records at 200/s cannot take less than 49 intervals of 5 ms.
        assert!(s.elapsed >= Duration::from_millis(245), "{:?}", s.elapsed);
    }
}
