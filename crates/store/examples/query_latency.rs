//! Times a query on an existing store: the count, then the first page of 100 newest, each run
//! RUNS times after a warm-up, over the whole store (every partition). With AGGREGATION
//! (`top:FIELD`, `distinct:FIELD` or `histogram`, hourly), times that aggregation instead.
//! `cargo run --release -p store --example query_latency -- DATA/store 'QUERY' [RUNS] [AGGREGATION]`

use std::time::{Duration, Instant};

use store::{EventQuery, EventSearch, Query, TantivyStore, TimeRange};
use time::OffsetDateTime;

fn pct(v: &[Duration], p: f64) -> f64 {
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(text)) = (args.first(), args.get(1)) else {
        eprintln!("usage: query_latency STORE_DIR QUERY [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(20);
    let fail = |e: &dyn std::fmt::Display| -> ! {
        eprintln!("{e}");
        std::process::exit(1)
    };
    let store = TantivyStore::open_read_only(dir).unwrap_or_else(|e| fail(&e));
    let query = Query::parse(text).unwrap_or_else(|e| fail(&e));
    let q = EventQuery {
        query,
        range: TimeRange {
            from: OffsetDateTime::UNIX_EPOCH,
            to: OffsetDateTime::now_utc(),
        },
    };
    type Op<'a> = Box<dyn Fn() -> usize + 'a>;
    let agg = args.get(3).map(String::as_str);
    let aggregation: Option<(&str, Op)> = match agg.map(|a| a.split_once(':').unwrap_or((a, ""))) {
        None => None,
        Some(("top", field)) => Some((
            "top-10",
            Box::new(|| {
                store
                    .top(&q, field, 10)
                    .unwrap_or_else(|e| fail(&e))
                    .values
                    .len()
            }),
        )),
        Some(("distinct", field)) => Some((
            "distinct",
            Box::new(|| store.distinct(&q, field).unwrap_or_else(|e| fail(&e)) as usize),
        )),
        Some(("histogram", _)) => Some((
            "histogram-1h",
            Box::new(|| store.histogram(&q, 3600).unwrap_or_else(|e| fail(&e)).len()),
        )),
        Some(_) => fail(&"AGGREGATION is top:FIELD, distinct:FIELD or histogram"),
    };
    let ops: Vec<(&str, Op)> = match aggregation {
        Some(a) => vec![a],
        None => vec![
            (
                "count",
                Box::new(|| store.count(&q).unwrap_or_else(|e| fail(&e)) as usize),
            ),
            (
                "page-100",
                Box::new(|| {
                    store
                        .search(&q, 100, None)
                        .unwrap_or_else(|e| fail(&e))
                        .events
                        .len()
                }),
            ),
        ],
    };
    for (name, op) in ops {
        let answer = op();
        let mut v: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                op();
                t.elapsed()
            })
            .collect();
        v.sort();
        println!(
            "{name}: {answer}  median {:.1} ms  p95 {:.1} ms  ({runs} runs)",
            pct(&v, 0.5),
            pct(&v, 0.95)
        );
    }
}
