//! `ziaxdr simulate`: emulate a Zscaler NSS VM or Cloud NSS feed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nss::{LogType, Transport};
use sim::{
    Destination, GenConfig, Generator, HttpConfig, HttpSink, LineSink, RunConfig, Sink, TcpConfig,
    TcpSink,
};

/// Arguments of `ziaxdr simulate`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
ziaxdr simulate --count 1000 > nss.log\n  \
ziaxdr simulate --to tcp://127.0.0.1:5514 --rate 500 --duration 10m\n  \
ziaxdr simulate --to https://intake.example/plain/batch?status_code=200 --key $KEY --gzip --types web=1,audit=1\n\n\
A summary line is printed on standard error at the end; a progress bar too when it is a terminal.")]
pub struct Args {
    /// Destination: stdout, file:PATH, tcp://HOST:PORT (NSS VM) or http(s)://URL (Cloud NSS).
    #[arg(long, default_value = "stdout")]
    pub to: Destination,
    /// Log types with relative weights, e.g. `web=6,firewall=3,dns=1` or `web,audit`.
    /// Types: web, firewall, dns, tunnel, audit, saas-security, saas-security-activity.
    #[arg(long, default_value = "web=6,firewall=3,dns=1")]
    pub types: String,
    /// Seed of the generator: the same seed gives the same records (timestamps apart).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of records showing malicious activity (0-1).
    #[arg(long, default_value_t = 0.02)]
    pub malicious: f64,
    /// At most this many records per second (default: as fast as possible).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop after this many records.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this long (e.g. `30s`, `10m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Record framing: `nss` (RFC 3164 syslog header, the default for TCP, files and stdout),
    /// `nss-rfc5424` (RFC 5424 header) or `cloud-nss` (bare JSON, the default for HTTP).
    #[arg(long)]
    pub framing: Option<Transport>,
    /// Intake key: sent in the key header to HTTP destinations, and to TCP destinations as
    /// `[SEKOIA@53288 intake_key="…"]` after each syslog header, as a Sekoia forwarder adds it.
    #[arg(long, env = "ZIAXDR_INTAKE_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Header that carries the intake key.
    #[arg(long, default_value = nss::recommended::INTAKE_KEY_HEADER)]
    pub key_header: String,
    /// Gzip HTTP batches (Content-Encoding: gzip).
    #[arg(long)]
    pub gzip: bool,
    /// Largest HTTP batch before compression, in KB.
    #[arg(long, default_value_t = nss::recommended::CLOUD_NSS_BATCH_KB as usize)]
    pub batch_kb: usize,
    /// Longest a record waits in a partial HTTP batch.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub batch_age: Duration,
    /// How long a failed HTTP batch (any answer but 200, 204, 400) or a TCP connection is retried.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub retry_for: Duration,
    /// After a TCP reconnection, send again the records of this last stretch (0 for none).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub replay: Duration,
    /// Record id of the first record (default: from the clock, so that runs never repeat
    /// ids, which an intake would drop as duplicates).
    #[arg(long)]
    pub first_record_id: Option<i64>,
    /// PEM file of the CA certificates to trust for HTTPS instead of the bundled web roots
    /// (e.g. the self-signed certificate of a local `ziaxdr serve`).
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// Parses `web=6,firewall=3` (a type without weight counts 1).
fn parse_mix(s: &str) -> anyhow::Result<Vec<(LogType, u32)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|part| {
            let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
            let lt: LogType = name.trim().parse()?;
            let w: u32 = weight
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("bad weight `{weight}` for {lt}"))?;
            Ok((lt, w))
        })
        .collect()
}

/// Runs `ziaxdr simulate`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let framing = args.framing.unwrap_or(match args.to {
        Destination::Http(_) => Transport::CloudNss,
        _ => Transport::Nss,
    });
    let mut gen = Generator::new(&GenConfig {
        seed: args.seed,
        mix: parse_mix(&args.types)?,
        malicious: args.malicious,
        transport: framing,
    })?
    .with_first_record_id(
        args.first_record_id
            .unwrap_or_else(sim::gen::record_id_from_clock),
    );
    if let (Destination::Tcp(_), Some(key)) = (&args.to, &args.key) {
        gen = gen.with_intake_key_sd(key)?;
    }
    let mut sink: Box<dyn Sink> = match &args.to {
        Destination::Stdout => Box::new(LineSink::new(std::io::stdout().lock())),
        Destination::File(p) => Box::new(LineSink::new(
            std::fs::File::create(p).map_err(|e| anyhow::anyhow!("cannot create {p}: {e}"))?,
        )),
        Destination::Tcp(addr) => Box::new(TcpSink::new(TcpConfig {
            addr: addr.clone(),
            replay: args.replay,
            retry_for: args.retry_for,
        })),
        Destination::Http(url) => Box::new(HttpSink::new(HttpConfig {
            url: url.clone(),
            key: args.key.clone(),
            key_header: args.key_header.clone(),
            gzip: args.gzip,
            batch_bytes: args.batch_kb.max(1) * 1024,
            batch_age: args.batch_age,
            retry_for: args.retry_for,
            timeout: Duration::from_secs(30),
            ca_pem: match &args.ca_file {
                Some(p) => Some(
                    std::fs::read(p)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?,
                ),
                None => None,
            },
        })?),
    };
    let config = RunConfig {
        count: args.count,
        duration: args.duration,
        rate: args.rate,
    };
    let bar = if args.no_progress {
        ProgressBar::hidden()
    } else {
        // Draws only when standard error is a terminal.
        ProgressBar::with_draw_target(args.count, ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} {wide_bar} {human_pos} records {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Ctrl-C or SIGTERM end the run cleanly, so that buffers are sent and the summary printed.
    static STOP: AtomicBool = AtomicBool::new(false);
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    let result = sim::run_until(&mut gen, sink.as_mut(), &config, &STOP, &mut |p| {
        bar.set_position(p.records);
        bar.set_message(format!("{:.0}/s", p.rate()));
    });
    bar.finish_and_clear();
    let summary = result?;
    eprintln!("simulate: {summary}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_weights_and_defaults_to_one() {
        assert_eq!(
            parse_mix("web=6,fw=3,dns").unwrap(),
            [(LogType::Web, 6), (LogType::Firewall, 3), (LogType::Dns, 1)]
        );
        assert!(parse_mix("web=x").is_err());
        assert!(parse_mix("nope").is_err());
    }
}
