//! The embedded store and ClickHouse side by side, in the same run, on the same simulated
//! feed: ingest end to end from the journal (the intake pipeline: read, parse, write, commit,
//! as `ziaxdr import` runs it), bytes on disk per event, and p50/p95 of the same queries and
//! aggregations on both.
//!
//! Run (release profile; needs a ClickHouse server, `bench/clickhouse/run.sh` starts one):
//!
//! ```text
//! BENCH_CLICKHOUSE=http://127.0.0.1:8123 cargo bench -p store --features bench --bench backends_bench
//! ```
//!
//! Environment: `BENCH_EVENTS` (default 1 000 000), `BENCH_CLICKHOUSE` (the server's HTTP
//! URL, else `ZIAXDR_TEST_CLICKHOUSE`), `BENCH_CLICKHOUSE_PID` (the server's process, to
//! count its CPU time: the server does part of the work), `BENCH_DIR` (default
//! `$TMPDIR/ziaxdr-backends-bench`, wiped first), `BENCH_DAYS` (days the events span,
//! default 7), `BENCH_RUNS` (runs per question after a warm-up, default 10),
//! `BENCH_BACKENDS` (`tantivy,clickhouse` by default).
//!
//! Records come from the simulator (`sim`: web, firewall, DNS, tunnel, audit, SaaS in the
//! proportions of `bench/clickhouse/run.sh`), are journaled first (not timed), then each
//! store is filled from its own copy of the journal by `pipeline::run`.

// The allocator of the `ziaxdr` binary, so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipeline::raw::{RawEvent, Transport};
use pipeline::{Event, PipelineConfig, Prepared, Preparer, Sink, SinkError};
use store::{
    ClickHouseConfig, ClickHouseStore, EventQuery, EventSearch, EventStore, Query, StoreConfig,
    TantivyStore, TimeRange,
};
use time::OffsetDateTime;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time (user + system) of a process so far, from `/proc/PID/stat` (clock ticks of
/// 1/100 s, the kernel's `USER_HZ`).
fn cpu_of(pid: &str) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Times `f` `runs` times after one warm-up; returns (p50, p95, last result).
fn time_it<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut last = f();
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        last = f();
        v.push(t.elapsed());
    }
    v.sort();
    (pct(&v, 0.5), pct(&v, 0.95), last)
}

fn dir_bytes(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Journals `n` simulated records spread over `days` days ending now (not timed).
fn fill_journal(dir: &Path, n: u64, days: u64) -> journal::Journal {
    let j = journal::Journal::open(
        dir,
        journal::Config {
            fsync: false,
            max_disk_bytes: u64::MAX / 2,
            ..journal::Config::default()
        },
    )
    .expect("journal");
    let mix = [
        (nss::LogType::Web, 6),
        (nss::LogType::Firewall, 3),
        (nss::LogType::Dns, 2),
        (nss::LogType::Tunnel, 1),
        (nss::LogType::Audit, 1),
        (nss::LogType::SaasSecurity, 1),
        (nss::LogType::SaasSecurityActivity, 1),
    ];
    let mut g = sim::Generator::new(&sim::GenConfig {
        seed: 1,
        mix: mix.to_vec(),
        malicious: 0.05,
        transport: nss::recommended::Transport::CloudNss,
    })
    .expect("generator");
    let intake = uuid::Uuid::from_u128(0x2a);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let span = (days * 86_400) as i64;
    let start = now - span;
    let mut batch = Vec::with_capacity(2_000);
    let mut buf = Vec::new();
    for i in 0..n {
        buf.clear();
        let ts = start + (i as i64 * span) / n.max(1) as i64;
        g.next(ts, &mut buf);
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        batch.push(pipeline::raw::encode(
            intake,
            uuid::Uuid::now_v7(),
            ts * 1_000_000,
            Transport::Import,
            "bench",
            line,
        ));
        if batch.len() == 2_000 {
            j.append_blocking(std::mem::take(&mut batch))
                .expect("append");
        }
    }
    if !batch.is_empty() {
        j.append_blocking(batch).expect("append");
    }
    j
}

/// The pipeline's sink over a store, as `ziaxdr`'s `StoreSink` (both stores prepare their
/// documents or rows on the parse threads).
struct BenchSink {
    writer: Arc<dyn EventStore + Send + Sync>,
    tantivy: Option<Arc<TantivyStore>>,
    clickhouse: Option<Arc<ClickHouseStore>>,
}

impl Sink for BenchSink {
    fn committed_offset(&self) -> Result<Option<u64>, SinkError> {
        Ok(self.writer.committed_offset())
    }
    fn write(&mut self, offset: u64, raw: &RawEvent, event: &mut Event) -> Result<(), SinkError> {
        self.write_prepared(offset, raw, event, None)
    }
    fn commit(&mut self) -> Result<(), SinkError> {
        self.writer
            .commit()
            .map(|_| ())
            .map_err(|e| SinkError::Other(e.to_string()))
    }
    fn preparer(&self) -> Option<Preparer> {
        if let Some(ch) = self.clickhouse.clone() {
            return Some(Arc::new(move |offset, _raw, text, event| {
                let row = ch.prepare_parsed(offset, event, text).ok().flatten();
                Prepared {
                    needs_event: row.is_none(),
                    ..Prepared::with_event(row)
                }
            }));
        }
        let store = self.tantivy.clone()?;
        Some(Arc::new(move |offset, _raw, text, event| {
            let doc = store.prepare_parsed(offset, event, text).ok();
            Prepared {
                needs_event: !doc.as_ref().is_some_and(store::PreparedDoc::is_complete),
                ..Prepared::with_event(doc)
            }
        }))
    }
    fn write_prepared(
        &mut self,
        offset: u64,
        raw: &RawEvent,
        event: &mut Event,
        prepared: Option<Prepared>,
    ) -> Result<(), SinkError> {
        let record = raw.text();
        if let Some(ch) = &self.clickhouse {
            let row = prepared.and_then(|p| p.value.downcast::<Option<store::PreparedRow>>().ok());
            return match row.and_then(|r| *r) {
                Some(row) => ch.add_prepared(row),
                None => ch.add_parsed(offset, event, &record),
            }
            .map(|_| ())
            .map_err(|e| SinkError::Other(e.to_string()));
        }
        let doc = prepared.and_then(|p| p.value.downcast::<Option<store::PreparedDoc>>().ok());
        match (&self.tantivy, doc.and_then(|d| *d)) {
            (Some(s), Some(doc)) => s.add_prepared(offset, event, &record, doc),
            _ => self.writer.add_parsed(offset, event, &record),
        }
        .map(|_| ())
        .map_err(|e| SinkError::Other(e.to_string()))
    }
}

struct Ingest {
    wall: Duration,
    cpu: Duration,
    server_cpu: Option<Duration>,
}

/// Runs the pipeline over the whole journal into the sink, as `ziaxdr import` does.
fn ingest(j: journal::Journal, sink: BenchSink, server_pid: Option<&str>) -> Ingest {
    let cpu0 = cpu_of("self").unwrap_or_default();
    let srv0 = server_pid.and_then(cpu_of);
    let t = Instant::now();
    // Stop is set from the start: the pipeline drains everything durable, commits and ends.
    let stop = Arc::new(AtomicBool::new(true));
    let cfg = PipelineConfig {
        commit_events: 4_000_000,
        commit_interval: Duration::from_secs(120),
        ..PipelineConfig::default()
    };
    pipeline::run(
        j,
        Box::new(sink),
        cfg,
        pipeline::PipelineMetrics::new(),
        stop,
    )
    .expect("pipeline");
    Ingest {
        wall: t.elapsed(),
        cpu: cpu_of("self").unwrap_or_default().saturating_sub(cpu0),
        server_cpu: srv0.and_then(|s0| server_pid.and_then(cpu_of).map(|s| s.saturating_sub(s0))),
    }
}

fn ch_sql(url: &str, sql: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .post(url)
        .send(sql)
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default()
}

fn main() {
    let n = env_u64("BENCH_EVENTS", 1_000_000);
    let days = env_u64("BENCH_DAYS", 7);
    let runs = env_u64("BENCH_RUNS", 10) as usize;
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or("tantivy,clickhouse".into());
    let url = std::env::var("BENCH_CLICKHOUSE")
        .or_else(|_| std::env::var("ZIAXDR_TEST_CLICKHOUSE"))
        .ok();
    let pid = std::env::var("BENCH_CLICKHOUSE_PID").ok();
    let dir = std::env::var("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("ziaxdr-backends-bench"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("bench dir");
    let cores = std::thread::available_parallelism().map_or(1, |p| p.get());
    println!("# Event stores side by side: {n} simulated events over {days} days, {cores} cores");

    let mut stores: Vec<(&str, Arc<dyn EventSearch>)> = Vec::new();
    let mut rows: Vec<String> = Vec::new();
    if backends.contains("tantivy") {
        let j = fill_journal(&dir.join("journal-tantivy"), n, days);
        let s =
            Arc::new(TantivyStore::open(dir.join("store"), StoreConfig::default()).expect("store"));
        let r = ingest(
            j,
            BenchSink {
                writer: s.clone(),
                tantivy: Some(s.clone()),
                clickhouse: None,
            },
            None,
        );
        let bytes = dir_bytes(&dir.join("store"));
        rows.push(format!(
            "| tantivy | {:.0} | {:.1} | - | {:.1} |",
            n as f64 / r.wall.as_secs_f64(),
            r.cpu.as_secs_f64() * 1e6 / n as f64,
            bytes as f64 / n as f64
        ));
        let _ = fs::remove_dir_all(dir.join("journal-tantivy"));
        stores.push(("tantivy", s));
    }
    let mut ch_db = None;
    if backends.contains("clickhouse") {
        let url = url
            .clone()
            .expect("BENCH_CLICKHOUSE or ZIAXDR_TEST_CLICKHOUSE");
        let db = format!("bench_{}", std::process::id());
        let mut cfg = ClickHouseConfig::new(url.clone());
        cfg.database = db.clone();
        let s = Arc::new(ClickHouseStore::open(cfg).expect("clickhouse"));
        println!("ClickHouse {} at {url}, database {db}", s.server_version());
        let j = fill_journal(&dir.join("journal-clickhouse"), n, days);
        let r = ingest(
            j,
            BenchSink {
                writer: s.clone(),
                tantivy: None,
                clickhouse: Some(s.clone()),
            },
            pid.as_deref(),
        );
        let before = s.disk_bytes().unwrap_or(0);
        // Merged as the server eventually merges them by itself, as the embedded store's
        // segments are merged; the server's CPU for it (the merges that ingest left to do)
        // is shown apart: with a high `min_part_size` for zstd, most of the compression
        // moves from the merges during ingest to these.
        let merge0 = pid.as_deref().and_then(cpu_of);
        // A part being merged in the background cannot take part in `OPTIMIZE`, which then
        // does nothing, silently by default (`optimize_throw_if_noop`): at 10M events
        // nothing was merged, probably so (results-10m-2.md). So the background merges are
        // waited for first, and a refusal is printed. `OPTIMIZE TABLE … FINAL` without a
        // partition makes one merge, of the parts the merge selector picks (on 18.16): with
        // level 9 only above 100 MB, 15 % of 1M events of one day were left in LZ4 parts.
        // So each partition is merged by its ID, until each is one part.
        let merging = || {
            ch_sql(
                &url,
                &format!("SELECT count() FROM system.merges WHERE database = '{db}' FORMAT TSV"),
            )
            .trim()
            .parse::<u64>()
            .is_ok_and(|n| n > 0)
        };
        for _ in 0..5 {
            while merging() {
                std::thread::sleep(Duration::from_millis(500));
            }
            let split = ch_sql(
                &url,
                &format!("SELECT partition_id FROM system.parts WHERE database = '{db}' AND table = 'events' AND active GROUP BY partition_id HAVING count() > 1 FORMAT TSV"),
            );
            let ids: Vec<&str> = split
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            if ids.is_empty() {
                break;
            }
            for id in ids {
                // Partition IDs are the server's own (`20240501`): digits only.
                if !id.bytes().all(|b| b.is_ascii_digit()) {
                    println!("unexpected partition id {id:?}");
                    continue;
                }
                let answer = ch_sql(
                    &format!("{}/?optimize_throw_if_noop=1", url.trim_end_matches('/')),
                    &format!("OPTIMIZE TABLE {db}.events PARTITION ID '{id}' FINAL"),
                );
                if !answer.trim().is_empty() {
                    println!("OPTIMIZE of partition {id} refused: {}", answer.trim());
                }
            }
        }
        let parts = ch_sql(
            &url,
            &format!("SELECT count() FROM system.parts WHERE database = '{db}' AND table = 'events' AND active FORMAT TSV"),
        );
        println!("Active parts after the final merge: {}", parts.trim());
        let merge_cpu = merge0.and_then(|c0| {
            pid.as_deref()
                .and_then(cpu_of)
                .map(|c| c.saturating_sub(c0))
        });
        let after = s.disk_bytes().unwrap_or(0);
        let per_event = |c: Option<Duration>| {
            c.map(|c| format!("{:.1}", c.as_secs_f64() * 1e6 / n as f64))
                .unwrap_or("-".into())
        };
        rows.push(format!(
            "| ClickHouse | {:.0} | {:.1} | {} (final merge {}) | {:.1} (before the final merge {:.1}) |",
            n as f64 / r.wall.as_secs_f64(),
            r.cpu.as_secs_f64() * 1e6 / n as f64,
            per_event(r.server_cpu),
            per_event(merge_cpu),
            after as f64 / n as f64,
            before as f64 / n as f64,
        ));
        let _ = fs::remove_dir_all(dir.join("journal-clickhouse"));
        println!("\n## ClickHouse columns by compressed size (bytes per event)");
        let cols = ch_sql(
            &url,
            &format!("SELECT name, data_compressed_bytes, data_uncompressed_bytes FROM system.columns WHERE database = '{db}' AND table = 'events' ORDER BY data_compressed_bytes DESC LIMIT 15 FORMAT TSV"),
        );
        println!("| column | compressed | uncompressed |\n|---|---|---|");
        for l in cols.lines() {
            let f: Vec<&str> = l.split('\t').collect();
            if let [name, c, u] = f[..] {
                let per = |v: &str| v.parse::<f64>().unwrap_or(0.0) / n as f64;
                println!("| {name} | {:.1} | {:.1} |", per(c), per(u));
            }
        }
        ch_db = Some((url, db));
        stores.push(("ClickHouse", s));
    }
    println!("\n## Ingest end to end from the journal, and disk");
    println!("| store | events/s (wall) | ziaxdr CPU µs/event | server CPU µs/event | bytes/event on disk |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!("{r}");
    }

    let now = OffsetDateTime::now_utc();
    let range = TimeRange {
        from: now - time::Duration::days(days as i64 + 1),
        to: now + time::Duration::days(1),
    };
    let all = EventQuery {
        query: Query::All,
        range,
    };
    // Values that occur in the data, from the first store.
    let first = stores.first().map(|(_, s)| s.clone()).expect("a backend");
    let top1 = |f: &str| {
        first
            .top(&all, f, 3)
            .ok()
            .and_then(|t| t.values.get(1).or(t.values.first()).map(|v| v.0.clone()))
            .unwrap_or_else(|| "none".into())
    };
    let user = top1("user.name");
    let domain = top1("url.domain");
    let category = top1("zscaler.zia.url_category");
    let throttle = top1("zscaler.zia.bwthrottle");
    let word = domain
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| w.len() >= 4 && *w != "www")
        .unwrap_or("google")
        .to_lowercase();
    let quote = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
    let queries: Vec<(&str, String)> = vec![
        ("everything", "*".into()),
        ("one user", format!("user.name:{}", quote(&user))),
        ("one domain", format!("url.domain:{}", quote(&domain))),
        ("blocked", "event.action:Blocked".into()),
        ("CIDR", "source.ip:10.0.0.0/8".into()),
        ("port range", "destination.port:[1000 TO 2000]".into()),
        ("status >= 400", "http.response.status_code:>=400".into()),
        ("threat present", "zscaler.zia.threat.name:*".into()),
        (
            "category",
            format!("zscaler.zia.url_category:{}", quote(&category)),
        ),
        (
            "untyped NSS field",
            format!("zscaler.zia.bwthrottle:{}", quote(&throttle)),
        ),
        ("wildcard", format!("url.domain:*{word}*")),
        ("bare word", word.clone()),
        (
            "bare wildcard",
            format!("{}*", word.chars().take(5).collect::<String>()),
        ),
        ("bare phrase", quote(&category.to_lowercase())),
        (
            "bare word AND user",
            format!("{word} AND user.name:{}", quote(&user)),
        ),
        (
            "user AND NOT allowed",
            format!("user.name:{} AND NOT event.action:Allowed", quote(&user)),
        ),
        ("failed events", "event.kind:pipeline_error".into()),
    ];
    println!("\n## Queries over all {n} events ({runs} runs each after a warm-up; count of all matches, and the newest page of 100)");
    let names: Vec<&str> = stores.iter().map(|(n, _)| *n).collect();
    print!("| question | query | matches |");
    for b in &names {
        print!(" {b} count p50/p95 ms | {b} page p50/p95 ms |");
    }
    println!();
    println!("|---|---|---|{}", "---|---|".repeat(names.len()));
    for (name, q) in &queries {
        let eq = EventQuery {
            query: Query::parse(q).expect("query"),
            range,
        };
        let mut line = String::new();
        let mut counts = Vec::new();
        for (_, s) in &stores {
            let (c50, c95, c) = time_it(runs, || s.count(&eq).expect("count"));
            let (p50, p95, _) = time_it(runs, || {
                s.search(&eq, 100, None).expect("page").events.len()
            });
            counts.push(c.to_string());
            line.push_str(&format!(
                " {} / {} | {} / {} |",
                ms(c50),
                ms(c95),
                ms(p50),
                ms(p95)
            ));
        }
        println!(
            "| {name} | `{}` | {} |{line}",
            q.replace('|', "\\|"),
            counts.join(" / ")
        );
    }
    println!("\n## Aggregations over all {n} events ({runs} runs each after a warm-up)");
    print!("| aggregation | answer |");
    for b in &names {
        print!(" {b} p50/p95 ms |");
    }
    println!();
    println!("|---|---|{}", "---|".repeat(names.len()));
    type Agg<'a> = Box<dyn Fn(&dyn EventSearch) -> String + 'a>;
    let all = &all;
    let first_of = |t: store::TopValues| {
        t.values
            .first()
            .map(|(v, n)| format!("{v} {n}"))
            .unwrap_or_default()
    };
    let aggs: Vec<(&str, Agg)> = vec![
        (
            "top 10 user.name",
            Box::new(move |s| first_of(s.top(all, "user.name", 10).expect("top"))),
        ),
        (
            "top 10 url.domain",
            Box::new(move |s| first_of(s.top(all, "url.domain", 10).expect("top"))),
        ),
        (
            "top 10 zscaler.zia.bwthrottle (untyped)",
            Box::new(move |s| first_of(s.top(all, "zscaler.zia.bwthrottle", 10).expect("top"))),
        ),
        (
            "distinct source.ip",
            Box::new(move |s| s.distinct(all, "source.ip").expect("distinct").to_string()),
        ),
        (
            "histogram, 1 h buckets",
            Box::new(move |s| {
                format!(
                    "{} buckets",
                    s.histogram(all, 3_600).expect("histogram").len()
                )
            }),
        ),
    ];
    for (name, f) in &aggs {
        let mut line = String::new();
        let mut answers = Vec::new();
        for (_, s) in &stores {
            let (p50, p95, a) = time_it(runs, || f(s.as_ref()));
            answers.push(a);
            line.push_str(&format!(" {} / {} |", ms(p50), ms(p95)));
        }
        answers.dedup();
        println!("| {name} | {} |{line}", answers.join(" / "));
    }
    drop(stores);
    if let Some((url, db)) = ch_db {
        if std::env::var("BENCH_KEEP").is_err() {
            ch_sql(&url, &format!("DROP DATABASE IF EXISTS {db}"));
        }
    }
    if std::env::var("BENCH_KEEP").is_err() {
        let _ = fs::remove_dir_all(&dir);
    }
}
