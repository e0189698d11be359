//! Prints `N` simulated records of a log type without a feed format, one a line:
//! `cargo run -p sim --example extra -- nss-alert|sandbox|saas-subtypes [N]` (test data and
//! benchmark input; `ziaxdr simulate` is the tool for the feed types).
use std::io::Write;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let kind = match args.next().as_deref() {
        Some("nss-alert") => sim::ExtraKind::NssAlert,
        Some("sandbox") => sim::ExtraKind::SandboxVerdict,
        Some("saas-subtypes") => sim::ExtraKind::SaasSubtype,
        _ => {
            eprintln!("usage: extra nss-alert|sandbox|saas-subtypes [N]");
            return std::process::ExitCode::from(2);
        }
    };
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let mut g = sim::ExtraGenerator::new(11, 0.2);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = String::new();
    for i in 0..n {
        line.clear();
        g.next(kind, 1_700_000_000 + i as i64, &mut line);
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    std::process::ExitCode::SUCCESS
}
