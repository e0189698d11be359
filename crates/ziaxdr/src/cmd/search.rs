//! `ziaxdr search`: query the event store from the command line.
//!
//! Opens the store read-only (no writer lock), so it works while `ziaxdr serve` writes to the
//! same data directory. All logic lives in the `store` crate; this module only maps flags to
//! a request and prints the answer.

use std::io::Write;
use std::path::PathBuf;

use store::api::{self, AggregateRequest, AggregateResult, Aggregation, ApiError, SearchRequest};
use store::timerange::now_utc;
use store::TimeSpec;

/// Arguments of `ziaxdr search`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  ziaxdr search 'event.dataset:web AND event.action:blocked' --since 7d
  ziaxdr search 'user.name:alice or user.name:bob' --top url.domain
  ziaxdr search 'event.dataset:web' --top user.email --by-sum http.response.bytes,http.request.bytes
  ziaxdr search 'event.dataset:web' --since 1d --csv --limit 100000 > web.csv
  ziaxdr search 'source.ip:10.0.0.0/8' --ndjson --fields @timestamp,source.ip,url.original")]
pub struct Args {
    /// Query in the Events query language, e.g. `user.name:alice AND source.ip:10.0.0.0/8`
    /// (`*` or empty: everything).
    #[arg(default_value = "*")]
    pub query: String,
    /// How far back to search (s, m, h, d, w); ignored when --from is given.
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// Start of the time range (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the time range, exclusive (RFC 3339 or YYYY-MM-DD); default now.
    #[arg(long)]
    pub to: Option<String>,
    /// Maximum number of events to print (newest first).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Only these fields, comma-separated (e.g. `@timestamp,user.name,url.domain`).
    #[arg(long, value_delimiter = ',')]
    pub fields: Option<Vec<String>>,
    /// Print JSON: one ECS event per line (or one JSON object for --count/--top/--histogram).
    #[arg(long, conflicts_with = "table")]
    pub json: bool,
    /// Print an aligned table (the default).
    #[arg(long)]
    pub table: bool,
    /// Export as CSV (a header, then one row per event; columns from --fields or a default
    /// set), up to --limit events (at most 100,000), read page by page.
    #[arg(long, conflicts_with_all = ["json", "table", "ndjson", "count", "top", "histogram"])]
    pub csv: bool,
    /// Export as NDJSON (every field, or --fields), up to --limit events (at most 100,000),
    /// read page by page.
    #[arg(long, conflicts_with_all = ["json", "table", "count", "top", "histogram"])]
    pub ndjson: bool,
    /// Print the number of matching events.
    #[arg(long, conflicts_with_all = ["top", "histogram"])]
    pub count: bool,
    /// Print the most frequent values of FIELD with their counts.
    #[arg(long, value_name = "FIELD", conflicts_with = "histogram")]
    pub top: Option<String>,
    /// With --top: rank the values by the sum of these numeric fields over their events
    /// (e.g. http.response.bytes,http.request.bytes: bandwidth) instead of by count; prints
    /// each value's sum and count. Up to 8 fields, comma-separated or repeated.
    #[arg(long, value_name = "FIELD", requires = "top", value_delimiter = ',')]
    pub by_sum: Vec<String>,
    /// Number of values for --top.
    #[arg(long, default_value_t = 10)]
    pub size: usize,
    /// Print the number of matching events per time bucket.
    #[arg(long)]
    pub histogram: bool,
    /// Print the sum of the numeric FIELD (e.g. http.response.bytes) over matching events.
    #[arg(long, value_name = "FIELD", conflicts_with_all = ["count", "top", "histogram", "csv", "ndjson"])]
    pub sum: Option<String>,
    /// Bucket width for --histogram (e.g. 1h); chosen automatically by default.
    #[arg(long, requires = "histogram")]
    pub interval: Option<String>,
    /// Data directory (the store is DIR/store).
    #[arg(long, default_value = "./ziaxdr-data", env = "ZIAXDR_DATA")]
    pub data: PathBuf,
    /// Where events are stored (the embedded store unless --clickhouse is given).
    #[command(flatten)]
    pub clickhouse: crate::wiring::ClickHouseArgs,
}

/// Columns of the default table, shown when at least one event has a value for them.
const DEFAULT_COLUMNS: &[&str] = &[
    "@timestamp",
    "event.dataset",
    "event.action",
    "source.ip",
    "user.name",
    "url.domain",
    "dns.question.name",
    "destination.ip",
    "destination.port",
    "error.message",
];

/// Longest cell printed in a table; longer values are cut with `…`.
const MAX_CELL: usize = 60;

/// Runs `ziaxdr search`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    match run_inner(args) {
        // `ziaxdr search … | head`: the reader left, which is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(0)
        }
        other => other,
    }
}

fn run_inner(args: Args) -> anyhow::Result<i32> {
    let store = args.clickhouse.choice().open_read_only(&args.data)?;
    let store = &*store;
    let time = TimeSpec {
        since: Some(args.since.clone()),
        from: args.from.clone(),
        to: args.to.clone(),
    };
    let now = now_utc();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();

    let aggregation = if args.count {
        Some(Aggregation::Count)
    } else if let (Some(field), false) = (&args.top, args.by_sum.is_empty()) {
        Some(Aggregation::TopBySum {
            field: field.clone(),
            sum: args.by_sum.clone(),
            size: args.size,
        })
    } else if let Some(field) = &args.top {
        Some(Aggregation::Top {
            field: field.clone(),
            size: args.size,
        })
    } else if args.histogram {
        Some(Aggregation::Histogram {
            interval: args.interval.clone(),
        })
    } else {
        args.sum.as_ref().map(|field| Aggregation::Sum {
            field: field.clone(),
        })
    };

    if let Some(aggregation) = aggregation {
        let req = AggregateRequest {
            query: args.query.clone(),
            time,
            aggregation,
        };
        let resp = match api::aggregate(store, &req, now) {
            Ok(r) => r,
            Err(e) => return report(&args.query, e),
        };
        print_aggregate(&mut out, &resp.result, args.json)?;
        return Ok(0);
    }

    if args.csv || args.ndjson {
        let req = api::ExportRequest {
            query: args.query.clone(),
            time,
            format: if args.csv {
                api::ExportFormat::Csv
            } else {
                api::ExportFormat::Ndjson
            },
            fields: args.fields.clone(),
            limit: args.limit,
        };
        let plan = match api::plan_export(store, &req, now) {
            Ok(p) => p,
            Err(e) => return report(&args.query, e),
        };
        let mut w = std::io::BufWriter::new(out);
        let written = match api::write_export(store, &plan, &mut w) {
            Ok(n) => n,
            Err(api::ExportError::Write(io)) => return Err(io.into()),
            Err(e) => return Err(anyhow::anyhow!(e)),
        };
        eprintln!(
            "{written} of {} matching event(s){}",
            plan.total,
            if written < plan.total {
                " (raise --limit, at most 100000, or narrow the range)"
            } else {
                ""
            }
        );
        return Ok(0);
    }

    let req = SearchRequest {
        query: args.query.clone(),
        time,
        limit: args.limit,
        cursor: None,
        fields: args.fields.clone(),
    };
    let resp = match api::search(store, &req, now) {
        Ok(r) => r,
        Err(e) => return report(&args.query, e),
    };
    if args.json {
        for e in &resp.events {
            serde_json::to_writer(&mut out, e).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
    } else {
        let cols: Vec<String> = match &args.fields {
            Some(f) => f.clone(),
            None => DEFAULT_COLUMNS
                .iter()
                .filter(|c| resp.events.iter().any(|e| api::get_path(e, c).is_some()))
                .map(|c| c.to_string())
                .collect(),
        };
        let rows: Vec<Vec<String>> = resp
            .events
            .iter()
            .map(|e| cols.iter().map(|c| cell(api::get_path(e, c))).collect())
            .collect();
        print_table(&mut out, &cols, &rows)?;
        eprintln!(
            "{} event(s) from {} to {}{}",
            resp.events.len(),
            resp.from,
            resp.to,
            if resp.next_cursor.is_some() {
                " (more: raise --limit or narrow the range)"
            } else {
                ""
            }
        );
    }
    Ok(0)
}

/// Prints a request error; for a query error, points at the position. Exit code 2.
fn report(query: &str, e: ApiError) -> anyhow::Result<i32> {
    if let ApiError::Internal(inner) = e {
        return Err(anyhow::anyhow!(inner).context("searching the event store"));
    }
    let msg = e.to_string();
    eprintln!("error: {msg}");
    if let Some(pos) = msg
        .split("at position ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse::<usize>().ok())
    {
        eprintln!("  {query}");
        eprintln!("  {}^", " ".repeat(pos));
    }
    Ok(2)
}

fn cell(v: Option<&serde_json::Value>) -> String {
    let s = match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| cell(Some(x)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    };
    let s = s.replace(['\n', '\t'], " ");
    if s.chars().count() > MAX_CELL {
        let cut: String = s.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn print_table(out: &mut impl Write, cols: &[String], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = cols.iter().map(|c| c.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(cols))?;
    for r in rows {
        writeln!(out, "{}", line(r))?;
    }
    Ok(())
}

fn print_aggregate(out: &mut impl Write, r: &AggregateResult, json: bool) -> anyhow::Result<()> {
    if json {
        let v = match r {
            AggregateResult::Count { count } => serde_json::json!({ "count": count }),
            AggregateResult::Histogram {
                interval_seconds,
                buckets,
            } => serde_json::json!({ "interval_seconds": interval_seconds, "buckets": buckets }),
            AggregateResult::Top {
                field,
                values,
                other_count,
            } => {
                serde_json::json!({ "field": field, "values": values, "other_count": other_count })
            }
            AggregateResult::Distinct { field, count } => {
                serde_json::json!({ "field": field, "distinct": count })
            }
            AggregateResult::Sum { field, sum, events } => {
                serde_json::json!({ "field": field, "sum": sum, "events": events })
            }
            AggregateResult::TopBySum {
                field,
                sum,
                values,
                other_sum,
                other_count,
            } => serde_json::json!({
                "field": field, "sum": sum, "values": values,
                "other_sum": other_sum, "other_count": other_count,
            }),
        };
        serde_json::to_writer(&mut *out, &v).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        return Ok(());
    }
    match r {
        AggregateResult::Count { count } => writeln!(out, "{count}")?,
        AggregateResult::Histogram { buckets, .. } => {
            let rows: Vec<Vec<String>> = buckets
                .iter()
                .map(|b| vec![b.start.clone(), b.count.to_string()])
                .collect();
            print_table(out, &["start".into(), "count".into()], &rows)?;
        }
        AggregateResult::Top {
            field,
            values,
            other_count,
        } => {
            let mut rows: Vec<Vec<String>> = values
                .iter()
                .map(|v| {
                    vec![
                        cell(Some(&serde_json::Value::String(v.value.clone()))),
                        v.count.to_string(),
                    ]
                })
                .collect();
            if *other_count > 0 {
                rows.push(vec!["(other)".into(), other_count.to_string()]);
            }
            print_table(out, &[field.clone(), "count".into()], &rows)?;
        }
        AggregateResult::Distinct { count, .. } => writeln!(out, "{count}")?,
        AggregateResult::Sum { sum, .. } => writeln!(out, "{sum}")?,
        AggregateResult::TopBySum {
            field,
            values,
            other_sum,
            other_count,
            ..
        } => {
            let mut rows: Vec<Vec<String>> = values
                .iter()
                .map(|v| {
                    vec![
                        cell(Some(&serde_json::Value::String(v.value.clone()))),
                        v.sum.to_string(),
                        v.count.to_string(),
                    ]
                })
                .collect();
            if *other_count > 0 {
                rows.push(vec![
                    "(other)".into(),
                    other_sum.to_string(),
                    other_count.to_string(),
                ]);
            }
            print_table(out, &[field.clone(), "sum".into(), "count".into()], &rows)?;
        }
    }
    Ok(())
}
