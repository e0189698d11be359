//! Prints `N` simulated records of one log type, one a line, as Cloud NSS sends them:
//! `cargo run -p sim --example extra -- TYPE [N]`, TYPE a feed type (`web`, `email-dlp`, …)
//! or one without a feed format (`nss-alert`, `sandbox`, `saas-subtypes`). Test data and
//! benchmark input; `ziaxdr simulate` is the tool that sends feeds.
use std::io::Write;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let extra = match name.as_str() {
        "nss-alert" => Some(sim::ExtraKind::NssAlert),
        "sandbox" => Some(sim::ExtraKind::SandboxVerdict),
        "saas-subtypes" => Some(sim::ExtraKind::SaasSubtype),
        _ => None,
    };
    let feed = nss::LogType::ALL.into_iter().find(|lt| lt.name() == name);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut put = |line: &[u8]| out.write_all(line).and_then(|()| out.write_all(b"\n"));
    if let Some(kind) = extra {
        let mut g = sim::ExtraGenerator::new(11, 0.2);
        let mut line = String::new();
        for i in 0..n {
            line.clear();
            g.next(kind, 1_700_000_000 + i as i64, &mut line);
            if put(line.as_bytes()).is_err() {
                break;
            }
        }
    } else if let Some(lt) = feed {
        let Ok(mut g) = sim::Generator::new(&sim::GenConfig {
            seed: 11,
            mix: vec![(lt, 1)],
            malicious: 0.2,
            transport: nss::Transport::CloudNss,
        }) else {
            return std::process::ExitCode::from(2);
        };
        let mut line = Vec::new();
        for i in 0..n {
            line.clear();
            g.next(1_700_000_000 + i as i64, &mut line);
            let l = line.strip_suffix(b"\n").unwrap_or(&line);
            if put(l).is_err() {
                break;
            }
        }
    } else {
        eprintln!("usage: extra TYPE [N]: a feed type or nss-alert, sandbox, saas-subtypes");
        return std::process::ExitCode::from(2);
    }
    std::process::ExitCode::SUCCESS
}
