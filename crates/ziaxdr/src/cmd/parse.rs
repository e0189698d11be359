//! `ziaxdr parse`: raw ZIA records in, ECS JSON events out.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

/// Arguments of `ziaxdr parse`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  ziaxdr parse nss-web.log > events.ndjson\n  tail -f /var/log/zscaler.log | ziaxdr parse\n\n\
A record that cannot be parsed still yields an event with `event.kind: pipeline_error`,\n\
`error.message` and `event.original`, so nothing is dropped; the exit code stays 0\n\
unless --strict is given."
)]
pub struct Args {
    /// File of raw records, one per line (syslog-prefixed or bare JSON, or tab-separated
    /// key=value). Reads standard input when absent or `-`.
    pub file: Option<PathBuf>,
    /// Exit with code 1 if any record failed to parse.
    #[arg(long)]
    pub strict: bool,
    /// Also keep each raw record in `event.original` (failed records always keep it).
    #[arg(long)]
    pub original: bool,
    /// Do not print parse warnings (unknown sourcetype, mistyped values) to stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Geolocation database (MaxMind DB format): fills source.geo.* and destination.geo.*.
    #[arg(long, value_name = "FILE.mmdb")]
    pub geoip: Option<PathBuf>,
}

/// Runs `ziaxdr parse`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let input: Box<dyn BufRead> = match &args.file {
        Some(p) if p.as_os_str() != "-" => Box::new(std::io::BufReader::new(
            std::fs::File::open(p)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", p.display()))?,
        )),
        _ => Box::new(std::io::stdin().lock()),
    };
    let geo = args
        .geoip
        .as_deref()
        .map(intake::geoip::GeoIp::open)
        .transpose()?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let (mut total, mut failed, mut warned) = (0u64, 0u64, 0u64);
    for line in input.split(b'\n') {
        let line = line?;
        // Lossy: a feed with a stray invalid byte should still yield its event.
        let text = String::from_utf8_lossy(&line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        if text.trim().is_empty() {
            continue;
        }
        total += 1;
        let ev = match zia::parse(text) {
            Ok(p) => {
                if !p.warnings.is_empty() {
                    warned += 1;
                    if !args.quiet {
                        for w in &p.warnings {
                            eprintln!("line {total}: warning: {w}");
                        }
                    }
                }
                let mut ev = p.event;
                if let Some(geo) = &geo {
                    let mut e = zia::Event::from_map(ev);
                    geo.enrich(&mut e);
                    ev = e.into_map();
                }
                if args.original {
                    if let Some(serde_json::Value::Object(e)) = ev.get_mut("event") {
                        e.insert("original".into(), text.into());
                    }
                }
                ev
            }
            Err(e) => {
                failed += 1;
                if !args.quiet {
                    eprintln!("line {total}: error: {e}");
                }
                zia::error_event(text, &e)
            }
        };
        serde_json::to_writer(&mut out, &ev)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if failed > 0 || warned > 0 {
        eprintln!("{total} records: {failed} failed to parse, {warned} with warnings");
    }
    Ok(if args.strict && failed > 0 { 1 } else { 0 })
}
