//! The same queries and aggregations on the embedded store and on ClickHouse, side by side:
//! p50 and p95 of RUNS runs each (after one warm-up), over every stored event.
//! `cargo run --release -p store --example backends_bench -- STORE_DIR CLICKHOUSE_URL DATABASE [RUNS]`
//! (bench/clickhouse/run.sh fills both stores from the same feed first).

use std::time::{Duration, Instant};

use store::{
    ClickHouseConfig, ClickHouseStore, EventQuery, EventSearch, Query, TantivyStore, TimeRange,
};
use time::OffsetDateTime;

/// Term, phrase, wildcard, regex, exists, range, CIDR, boolean and bare-word queries.
const QUERIES: &[&str] = &[
    "event.dataset:firewall",
    "user.name:*",
    "event.action:blocked AND url.domain:*.com",
    "source.ip:10.0.0.0/8 AND destination.port:443",
    "http.response.status_code:[400 TO 499]",
    "url.domain:/.*\\.(ru|cn)/",
    "zscaler.zia.threat.name:*",
    "NOT event.dataset:web AND network.transport:udp",
    "malware",
    "\"social networking\"",
    "event.kind:pipeline_error",
];

/// Aggregations: (label, kind, field).
const AGGS: &[(&str, &str, &str)] = &[
    ("top-10 user.name", "top", "user.name"),
    ("top-10 url.domain", "top", "url.domain"),
    ("distinct source.ip", "distinct", "source.ip"),
    ("histogram 1h", "histogram", ""),
];

fn pct(v: &[Duration], p: f64) -> f64 {
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn time_it(runs: usize, op: &dyn Fn() -> u64) -> (u64, f64, f64) {
    let answer = op();
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            op();
            t.elapsed()
        })
        .collect();
    v.sort();
    (answer, pct(&v, 0.5), pct(&v, 0.95))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(url), Some(db)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: backends_bench STORE_DIR CLICKHOUSE_URL DATABASE [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(10);
    let fail = |e: &dyn std::fmt::Display| -> ! {
        eprintln!("{e}");
        std::process::exit(1)
    };
    let tantivy = TantivyStore::open_read_only(dir).unwrap_or_else(|e| fail(&e));
    let mut cfg = ClickHouseConfig::new(url.clone());
    cfg.database = db.clone();
    let ch = ClickHouseStore::open(cfg).unwrap_or_else(|e| fail(&e));
    let stores: [(&str, &dyn EventSearch); 2] = [("tantivy", &tantivy), ("clickhouse", &ch)];
    let range = TimeRange {
        from: OffsetDateTime::UNIX_EPOCH,
        to: OffsetDateTime::now_utc() + time::Duration::days(1),
    };
    println!(
        "{:<48} {:>10} {:>16} {:>10} {:>16}",
        "operation (ms: p50 / p95)", "tantivy n", "tantivy", "ch n", "clickhouse"
    );
    let row = |label: &str, op: &dyn Fn(&dyn EventSearch) -> u64| {
        let mut cells = Vec::new();
        for (_, s) in &stores {
            let (n, p50, p95) = time_it(runs, &|| op(*s));
            cells.push(format!("{n:>10} {:>16}", format!("{p50:.1} / {p95:.1}")));
        }
        println!("{label:<48} {}", cells.join(" "));
    };
    for text in QUERIES {
        let q = EventQuery {
            query: Query::parse(text).unwrap_or_else(|e| fail(&e)),
            range,
        };
        row(&format!("count {text}"), &|s| {
            s.count(&q).unwrap_or_else(|e| fail(&e))
        });
        row(&format!("page-100 {text}"), &|s| {
            s.search(&q, 100, None)
                .unwrap_or_else(|e| fail(&e))
                .events
                .len() as u64
        });
    }
    let all = EventQuery {
        query: Query::All,
        range,
    };
    for (label, kind, field) in AGGS {
        row(label, &|s| match *kind {
            "top" => s
                .top(&all, field, 10)
                .unwrap_or_else(|e| fail(&e))
                .values
                .first()
                .map_or(0, |v| v.1),
            "distinct" => s.distinct(&all, field).unwrap_or_else(|e| fail(&e)),
            _ => s.histogram(&all, 3600).unwrap_or_else(|e| fail(&e)).len() as u64,
        });
    }
}
