//! `ziaxdr parse`: raw ZIA records in, ECS JSON events out.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

/// Arguments of `ziaxdr parse`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  ziaxdr parse nss-web.log > events.ndjson\n  tail -f /var/log/zscaler.log | ziaxdr parse\n\n\
A record that cannot be parsed still yields an event with `event.kind: pipeline_error`,\n\
`error.message` and `event.original`, so nothing is dropped; the exit code stays 0\n\
unless --strict is given.")]
pub struct Args {
    /// File of raw records, one per line (syslog-prefixed or bare JSON, or tab-separated
    /// key=value). Reads standard input when absent or `-`.
    pub file: Option<PathBuf>,
    /// Exit with code 1 if any record failed to parse.
    #[arg(long)]
    pub strict: bool,
}

/// Runs `ziaxdr parse`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let input: Box<dyn BufRead> = match &args.file {
        Some(p) if p.as_os_str() != "-" => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", p.display()))?,
        )),
        _ => Box::new(std::io::stdin().lock()),
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = 0u64;
    for line in input.split(b'\n') {
        let line = line?;
        // Lossy: a feed with a stray invalid byte should still yield its event.
        let text = String::from_utf8_lossy(&line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        if text.trim().is_empty() {
            continue;
        }
        let ev = zia::parse_or_error(text);
        if ev.contains_key("error") {
            failed += 1;
        }
        serde_json::to_writer(&mut out, &ev)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if failed > 0 {
        tracing::warn!(failed, "records failed to parse");
    }
    Ok(if args.strict && failed > 0 { 1 } else { 0 })
}
