//! `ziaxdr nss`: lint feed output formats and print the recommended ones.

use std::io::Read;
use std::path::PathBuf;

use nss::recommended::{self, CloudNssSettings, NssSettings};
use nss::{LogType, Severity, Transport};

/// Subcommands of `ziaxdr nss`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Check a feed output format (as pasted into the ZIA portal) for the mistakes that break a
    /// feed: curly quotes, unknown fields, wrong types, unescaped braces, invalid JSON, raw
    /// fields that should be hex-encoded. Exits 1 when there are errors.
    Lint(LintArgs),
    /// Print the recommended, copy-paste-safe feed output formats and feed settings.
    Formats(FormatsArgs),
}

/// Arguments of `ziaxdr nss lint`.
#[derive(clap::Args)]
pub struct LintArgs {
    /// File holding one format; `-` reads standard input. Output of `ziaxdr nss formats`
    /// (lines starting with `#` are comments) is linted one format a line.
    pub file: PathBuf,
    /// Log type to check the fields against (default: inferred from the sourcetype or fields).
    #[arg(long, value_parser = parse_log_type)]
    pub log_type: Option<LogType>,
    /// Print the corrected format on standard output (findings go to standard error).
    #[arg(long)]
    pub fix: bool,
}

/// Arguments of `ziaxdr nss formats`.
#[derive(clap::Args)]
pub struct FormatsArgs {
    /// Only this log type (web, firewall, dns, tunnel, audit, saas-security,
    /// saas-security-activity, endpoint-dlp, email-dlp).
    #[arg(long, value_parser = parse_log_type)]
    pub log_type: Option<LogType>,
    /// Print only the formats, one a line, without the `#` comments and settings.
    #[arg(long)]
    pub format_only: bool,
    /// `nss` (NSS VM, RFC 3164 syslog header in front), `nss-rfc5424` (RFC 5424 header) or
    /// `cloud-nss` (Cloud NSS, bare JSON).
    #[arg(long, default_value = "nss")]
    pub transport: Transport,
}

fn parse_log_type(s: &str) -> Result<LogType, String> {
    s.parse()
        .map_err(|e: nss::dict::UnknownLogType| e.to_string())
}

/// The largest format file accepted; real formats are a few kilobytes.
const MAX_FORMAT_BYTES: u64 = 1 << 20;

/// Runs `ziaxdr nss`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Lint(a) => lint(a),
        Command::Formats(a) => formats(a),
    }
}

fn lint(args: LintArgs) -> anyhow::Result<i32> {
    let mut bytes = Vec::new();
    let name = args.file.display().to_string();
    if args.file.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_FORMAT_BYTES)
            .read_to_end(&mut bytes)?;
    } else {
        std::fs::File::open(&args.file)
            .map_err(|e| anyhow::anyhow!("cannot open {name}: {e}"))?
            .take(MAX_FORMAT_BYTES)
            .read_to_end(&mut bytes)?;
    }
    let text = String::from_utf8_lossy(&bytes);
    // The line break that ends the file is not part of the format.
    let src = text.trim_end_matches(['\n', '\r']);
    // `ziaxdr nss formats` output: comment lines, and one format per other non-empty line.
    let commented = src.lines().any(|l| l.starts_with('#'));
    let formats: Vec<(String, &str)> = if commented {
        src.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|(i, l)| (format!("{name}:{}", i + 1), l.trim_end_matches('\r')))
            .collect()
    } else {
        vec![(name.clone(), src)]
    };
    let (mut errors, mut warnings) = (0, 0);
    for (at, src) in &formats {
        let report = nss::lint(src, args.log_type);
        for f in &report.findings {
            match f.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
                Severity::Note => {}
            }
            if args.fix {
                eprintln!("{at}:{f}");
            } else {
                println!("{at}:{f}");
            }
        }
        if args.fix {
            println!("{}", report.fixed);
        }
    }
    eprintln!("{name}: {errors} error(s), {warnings} warning(s)");
    Ok(if errors > 0 { 1 } else { 0 })
}

fn formats(args: FormatsArgs) -> anyhow::Result<i32> {
    let wanted = |lt: LogType| args.log_type.is_none_or(|w| w == lt);
    for r in recommended::RECOMMENDED
        .iter()
        .filter(|r| wanted(r.log_type))
    {
        let record = r
            .record_type
            .map(|t| format!(", record type {t}"))
            .unwrap_or_default();
        if args.format_only {
            println!("{}", r.format(args.transport));
            continue;
        }
        let nss_type = match args.transport {
            Transport::CloudNss => format!(", {}", r.log_type.nss_type()),
            Transport::Nss | Transport::NssRfc5424 => String::new(),
        };
        println!(
            "# {} v{} ({}{record}{nss_type})",
            r.name,
            r.version,
            r.log_type.sourcetype()
        );
        println!("{}", r.format(args.transport));
        println!();
    }
    if args.format_only {
        return Ok(0);
    }
    let settings = match args.transport {
        Transport::CloudNss => CloudNssSettings.to_string(),
        Transport::Nss | Transport::NssRfc5424 => NssSettings.to_string(),
    };
    for line in settings.lines() {
        println!("# {line}");
    }
    Ok(0)
}
