//! `ziaxdr import`: load archived NSS logs into an intake, through the same journal and
//! pipeline as live traffic, into the event store.
//!
//! Every non-empty line of each file (plain, or gzip: by the `.gz` name or the gzip magic
//! bytes) is one raw record, in any shape the `zia` format reads (bare JSON as NDJSON,
//! syslog-prefixed, key=value). Lines are journaled for the chosen intake, then the pipeline
//! (parse, deduplicate, store) drains the journal into `DATA/store`.
//!
//! While `ziaxdr serve` runs on the data directory it holds the journal; import then sends the
//! records to the server's own HTTP intake (`/plain/batch`, with the intake key, retried as
//! Cloud NSS would), so they still go through the same journal and pipeline.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use intake::uuid::Uuid;
use intake::Registry;
use pipeline::raw::{encode, now_us, Transport};
use pipeline::PipelineConfig;
use sim::Sink as _;

/// Arguments of `ziaxdr import`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["intake", "key"])))]
pub struct Args {
    /// Files to import: NSS logs, one record per line, plain or .gz (NDJSON included).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The intake the events belong to, by UUID.
    #[arg(long)]
    pub intake: Option<String>,
    /// The intake the events belong to, by its intake key.
    #[arg(long, env = "ZIAXDR_INTAKE_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Data directory (journal, registry, store).
    #[arg(long, default_value = "./ziaxdr-data", env = "ZIAXDR_DATA")]
    pub data: PathBuf,
    /// Where events are stored (the embedded store unless --clickhouse is given).
    #[command(flatten)]
    pub clickhouse: crate::wiring::ClickHouseArgs,
    /// PEM CA certificates to trust when importing through a running server that serves HTTPS
    /// with a certificate of its own.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Indexing memory in MiB, shared by the indexing threads. Each thread writes a segment
    /// of the index when its share is full; with the default, segments hold about 1.2 million
    /// events, big enough never to be merged again. Lower it on a machine with little memory
    /// (the import then spends more time merging segments). At most 8000: tantivy takes
    /// less than 4 GiB per thread. A running server indexes with its own settings.
    #[arg(long, default_value_t = 1024, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(64..=8000))]
    pub index_memory: u64,
    /// Geolocation database (MaxMind DB format): fills source.geo.* and destination.geo.*.
    /// Importing through a running server, the server's own `--geoip` applies.
    #[arg(long, value_name = "FILE.mmdb")]
    pub geoip: Option<PathBuf>,
}

/// Records journaled per append (one fsync each).
const APPEND_BATCH: usize = 2_000;
/// Appends on their way to disk while the next batches are read: reading the files and
/// syncing the journal overlap. Waiting for each append in turn left the pipeline idle
/// whenever a read or a sync waited for the disk (a file not in the page cache).
const APPENDS_IN_FLIGHT: usize = 8;
/// Longest line accepted as a record; longer lines are cut to this (and still stored).
const MAX_LINE_BYTES: usize = 1 << 20;

/// Counts bytes read from the underlying file (compressed bytes for .gz), for the progress bar.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn open_lines(path: &Path, count: Arc<AtomicU64>) -> anyhow::Result<Box<dyn BufRead>> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic)?;
    drop(f);
    let f = File::open(path)?;
    let counted = Counting { inner: f, count };
    let gz = path.extension().is_some_and(|e| e == "gz") || (n == 2 && magic == [0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(BufReader::new(counted)),
        ))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, counted))
    })
}

/// The bar both ways of importing show: bytes of the files read, rate, ETA.
fn progress_bar(total_bytes: u64) -> ProgressBar {
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {msg} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// What [`next_record`] read.
enum Line {
    /// A record, now in the buffer; `cut` when it was longer than [`MAX_LINE_BYTES`].
    Record { cut: bool },
    /// A blank line, skipped.
    Empty,
    /// The end of the file.
    End,
}

/// Reads the next line of `path` into `line`, without its line end, cut to
/// [`MAX_LINE_BYTES`]. Both ways of importing read records this one way.
fn next_record(reader: &mut dyn BufRead, path: &Path, line: &mut Vec<u8>) -> anyhow::Result<Line> {
    line.clear();
    let n = reader
        .read_until(b'\n', line)
        .with_context(|| format!("reading {}", path.display()))?;
    if n == 0 {
        return Ok(Line::End);
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(Line::Empty);
    }
    let cut = line.len() > MAX_LINE_BYTES;
    line.truncate(MAX_LINE_BYTES);
    Ok(Line::Record { cut })
}

/// Runs `ziaxdr import`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let registry = Arc::new(
        Registry::open_in(&args.data)
            .with_context(|| format!("opening the registry in {}", args.data.display()))?,
    );
    let intake = match (&args.intake, &args.key) {
        (Some(u), _) => {
            let uuid =
                Uuid::parse_str(u).with_context(|| format!("--intake {u:?} is not a UUID"))?;
            registry
                .get_intake(uuid)
                .with_context(|| format!("no intake {uuid}"))?
        }
        (None, Some(k)) => match registry.authenticate(k)? {
            Some(i) => i,
            None => bail!("no intake has this key"),
        },
        (None, None) => bail!("give --intake UUID or --key KEY"),
    };
    let total_bytes: u64 = args
        .files
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .map(|m| m.len())
                .with_context(|| format!("reading {}", p.display()))
        })
        .sum::<anyhow::Result<u64>>()?;

    let journal =
        match journal::Journal::open(args.data.join("journal"), journal::Config::default()) {
            Ok(j) => j,
            Err(journal::Error::Locked(_)) => {
                return through_server(&args, &intake, total_bytes);
            }
            Err(e) => return Err(e).context("opening the journal"),
        };
    let defaults = store::StoreConfig::default();
    let threads = defaults.writer_threads.max(1);
    let sink = crate::wiring::StoreSink::open_choice(
        &args.clickhouse.choice(),
        &args.data,
        store::StoreConfig {
            writer_memory_bytes: (args.index_memory << 20) as usize / threads,
            ..defaults
        },
    )?;
    let store = sink.store();
    let written = sink.written();
    let geo = args
        .geoip
        .as_deref()
        .map(intake::geoip::GeoIp::open)
        .transpose()?
        .map(Arc::new);
    let metrics = pipeline::PipelineMetrics::new();
    let stop = Arc::new(AtomicBool::new(false));
    let pipeline = {
        let (j, m, s) = (journal.clone(), metrics.clone(), stop.clone());
        // Fewer index commits than the server's for a bulk load: each one ends the writers'
        // segments early (small segments are merged later, at a cost) and syncs the files,
        // and nobody needs the events searchable within seconds. Between two commits the
        // writers hold at most `--index-memory` per open day, and at most about 450 bytes
        // per uncommitted event in all. A crash loses nothing: the pipeline resumes from the
        // last commit, the rest is in the journal.
        let cfg = PipelineConfig {
            commit_events: 4_000_000,
            commit_interval: Duration::from_secs(120),
            registry: Some(registry.clone()),
            ..PipelineConfig::default()
        };
        let cfg = match geo {
            Some(g) => PipelineConfig {
                parser: intake::geoip::parser(cfg.parser.clone(), g),
                ..cfg
            },
            None => cfg,
        };
        std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || pipeline::run(j, Box::new(sink), cfg, m, s))?
    };

    let bar = progress_bar(total_bytes);
    let started = Instant::now();
    let read_bytes = Arc::new(AtomicU64::new(0));
    let mut lines = 0u64;
    let mut empty = 0u64;
    let mut cut = 0u64;
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(APPEND_BATCH);
    let mut in_flight = std::collections::VecDeque::with_capacity(APPENDS_IN_FLIGHT + 1);
    let mut done_before = 0u64;
    for path in &args.files {
        let peer = format!("import:{}", path.display());
        let count = Arc::new(AtomicU64::new(0));
        let mut reader = open_lines(path, count.clone())?;
        let mut line = Vec::new();
        loop {
            match next_record(reader.as_mut(), path, &mut line)? {
                Line::End => break,
                Line::Empty => {
                    empty += 1;
                    continue;
                }
                Line::Record { cut: was_cut } => cut += u64::from(was_cut),
            }
            lines += 1;
            // The peer names the file the record came from.
            batch.push(encode(
                intake.uuid,
                Uuid::now_v7(),
                now_us(),
                Transport::Import,
                &peer,
                &line,
            ));
            if batch.len() >= APPEND_BATCH {
                in_flight.push_back(journal.submit(std::mem::take(&mut batch)));
                if in_flight.len() > APPENDS_IN_FLIGHT {
                    if let Some(ack) = in_flight.pop_front() {
                        ack.wait()?;
                    }
                }
                let pos = done_before + count.load(Ordering::Relaxed);
                bar.set_position(pos);
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!(
                    "{lines} read, {} stored, {:.0} events/s",
                    written.load(Ordering::Relaxed),
                    written.load(Ordering::Relaxed) as f64 / secs
                ));
            }
        }
        done_before += count.load(Ordering::Relaxed);
        read_bytes.fetch_add(count.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    if !batch.is_empty() {
        in_flight.push_back(journal.submit(std::mem::take(&mut batch)));
    }
    for ack in in_flight {
        ack.wait()?;
    }
    bar.set_position(total_bytes);
    // Everything is journaled: let the pipeline drain it, then stop.
    stop.store(true, Ordering::Relaxed);
    while !pipeline.is_finished() {
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!(
            "{lines} read, {} stored, {:.0} events/s (indexing)",
            written.load(Ordering::Relaxed),
            written.load(Ordering::Relaxed) as f64 / secs
        ));
        std::thread::sleep(Duration::from_millis(200));
    }
    let result = pipeline
        .join()
        .map_err(|_| anyhow::anyhow!("pipeline thread panicked"))?;
    bar.finish_and_clear();
    result.context("pipeline")?;
    let secs = started.elapsed().as_secs_f64();
    let stored = written.load(Ordering::Relaxed);
    eprintln!(
        "imported {} file(s), {:.1} MB, {lines} records into intake {} ({}) in {secs:.1} s: \
         {stored} events stored ({:.0} events/s), {} parse failures (stored as pipeline_error), \
         {} duplicates dropped, {empty} empty lines skipped{}; store committed up to offset {}",
        args.files.len(),
        read_bytes.load(Ordering::Relaxed) as f64 / 1e6,
        intake.name,
        intake.uuid,
        stored as f64 / secs.max(1e-3),
        metrics.parse_failures.get(),
        metrics.duplicates.get(),
        if cut > 0 {
            format!(", {cut} lines cut to {MAX_LINE_BYTES} bytes")
        } else {
            String::new()
        },
        store
            .committed_offset()
            .map_or("-".to_string(), |o| o.to_string()),
    );
    Ok(0)
}

/// Where a running `ziaxdr serve` listens, as it records it in `DATA/serve.json`.
#[derive(serde::Deserialize)]
struct Running {
    http: String,
    https: bool,
}

/// Imports through the HTTP intake of the server that holds the journal.
fn through_server(
    args: &Args,
    intake: &intake::registry::Intake,
    total: u64,
) -> anyhow::Result<i32> {
    let info = args.data.join(crate::cmd::serve::RUNNING_FILE);
    let running: Running = std::fs::read(&info)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .with_context(|| {
            format!(
                "the journal in {} is locked by another process, and {} does not say where a \
                 server listens: stop the other process first",
                args.data.display(),
                info.display()
            )
        })?;
    let Some(key) = args.key.clone() else {
        bail!(
            "`ziaxdr serve` is running on {}: give the intake's key (--key) to import through it, \
             or stop the server",
            args.data.display()
        );
    };
    let scheme = if running.https { "https" } else { "http" };
    let url = format!("{scheme}://{}/plain/batch?status_code=200", running.http);
    let mut sink = sim::HttpSink::new(sim::HttpConfig {
        url: url.clone(),
        key: Some(key),
        key_header: nss::recommended::INTAKE_KEY_HEADER.into(),
        gzip: true,
        batch_bytes: 4 << 20,
        batch_age: Duration::from_secs(1),
        retry_for: Duration::from_secs(600),
        timeout: Duration::from_secs(60),
        ca_pem: match &args.ca_file {
            Some(p) => {
                Some(std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?)
            }
            None => None,
        },
    })?;
    let bar = progress_bar(total);
    let started = Instant::now();
    let mut lines = 0u64;
    let mut done_before = 0u64;
    for path in &args.files {
        let count = Arc::new(AtomicU64::new(0));
        let mut reader = open_lines(path, count.clone())?;
        let mut line = Vec::new();
        loop {
            match next_record(reader.as_mut(), path, &mut line)? {
                Line::End => break,
                Line::Empty => continue,
                Line::Record { .. } => {}
            }
            lines += 1;
            sink.send(&line)
                .context("sending records to the running server")?;
            if lines.is_multiple_of(10_000) {
                sink.tick()
                    .context("sending records to the running server")?;
                bar.set_position(done_before + count.load(Ordering::Relaxed));
                bar.set_message(format!(
                    "{lines} sent, {:.0} records/s",
                    lines as f64 / started.elapsed().as_secs_f64().max(1e-3)
                ));
            }
        }
        done_before += count.load(Ordering::Relaxed);
    }
    sink.finish().context("sending the last batch")?;
    bar.finish_and_clear();
    let stats = sim::Sink::stats(&sink);
    eprintln!(
        "imported {} file(s), {lines} records into intake {} ({}) through the running server at \
         {url} in {:.1} s: {} batches accepted, {} retries, {} records dropped; the server \
         journaled them before answering and stores them as its pipeline drains",
        args.files.len(),
        intake.name,
        intake.uuid,
        started.elapsed().as_secs_f64(),
        stats.batches,
        stats.retries,
        stats.dropped,
    );
    Ok(if stats.dropped > 0 { 1 } else { 0 })
}
