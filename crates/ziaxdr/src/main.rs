//! `ziaxdr`: the thin binary that wires the ziaxdr library crates into a command line.
//!
//! Every subcommand lives in its own module under `cmd/`; this file only declares them.

mod alloc;
mod cmd;
mod export;
mod wiring;
mod worker;

use clap::{Parser, Subcommand};

/// Self-hosted XDR intake for Zscaler Internet Access (ZIA) logs.
///
/// Receives ZIA logs from an NSS VM (syslog over TCP) or Cloud NSS (HTTPS batches),
/// wire-compatible with the Sekoia.io intake, parses them to ECS, stores, searches and
/// detects threats in them.
#[derive(Parser)]
#[command(name = "ziaxdr", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse raw ZIA records (one per line) into ECS JSON events (one per line).
    Parse(cmd::parse::Args),
    /// Work with NSS feed output formats: lint them, print the recommended ones.
    #[command(subcommand)]
    Nss(cmd::nss::Command),
    /// Emulate a Zscaler NSS VM or Cloud NSS feed (to a file, stdout, TCP or HTTPS).
    Simulate(cmd::simulate::Args),
    /// Run the server: HTTP (Sekoia-compatible) and syslog intakes, event store, detection
    /// and the web console.
    Serve(cmd::serve::Args),
    /// The on-prem log concentrator: NSS syslog in, a disk buffer, HTTPS batches or TLS
    /// syslog out to Sekoia.io or to a ziaxdr.
    Forward(cmd::forward::Args),
    /// Try ziaxdr: the server with a simulated feed, the shipped rules and sample CTI.
    Demo(cmd::demo::Args),
    /// Manage intakes (create, list, rotate, delete).
    #[command(subcommand)]
    Intake(cmd::intake::Command),
    /// Manage entities (create, list).
    #[command(subcommand)]
    Entity(cmd::entity::Command),
    /// Search stored events with the query language.
    Search(cmd::search::Args),
    /// Import archived NSS logs (plain, .gz or NDJSON) into an intake.
    Import(cmd::import::Args),
    /// List, lint and test detection rules.
    #[command(subcommand)]
    Rules(cmd::rules::Command),
    /// Import and list Cyber Threat Intelligence (STIX 2.1).
    #[command(subcommand)]
    Cti(cmd::cti::Command),
    /// List and triage alerts.
    #[command(subcommand)]
    Alerts(cmd::alerts::Command),
    /// Respond in Zscaler: block and unblock indicators through the ZIA API.
    #[command(subcommand)]
    Zia(cmd::zia::Command),
}

fn main() -> anyhow::Result<()> {
    // Everything this process creates (journal, databases, index, exports) is private to
    // its user: directories 0700, files 0600.
    // SAFETY: umask only sets the process's file mode creation mask.
    unsafe { libc::umask(0o077) };
    let cli = Cli::parse();
    // Parsing the command line starts no thread, so the allocator can still be set up.
    // A server returns what a burst made it allocate; the batch commands keep it, and so
    // does a cluster worker (no request bodies; returning and faulting pages again, zeroed,
    // was a quarter of its CPU time).
    match cli.command {
        Command::Serve(ref a) if cmd::serve::worker_only(a) => alloc::keep_freed_memory(),
        Command::Serve(_) | Command::Demo(_) => alloc::return_freed_memory(),
        _ => alloc::keep_freed_memory(),
    }
    init_tracing();
    if matches!(cli.command, Command::Serve(ref a) if !cmd::serve::worker_only(a))
        || matches!(cli.command, Command::Demo(_))
    {
        alloc::start_purge_thread();
    }
    let code = match cli.command {
        Command::Parse(a) => cmd::parse::run(a)?,
        Command::Nss(c) => cmd::nss::run(c)?,
        Command::Simulate(a) => cmd::simulate::run(a)?,
        Command::Serve(a) => cmd::serve::run(a)?,
        Command::Demo(a) => cmd::demo::run(a)?,
        Command::Forward(a) => cmd::forward::run(a)?,
        Command::Intake(c) => cmd::intake::run(c)?,
        Command::Entity(c) => cmd::entity::run(c)?,
        Command::Search(a) => cmd::search::run(a)?,
        Command::Import(a) => cmd::import::run(a)?,
        Command::Rules(c) => cmd::rules::run(c)?,
        Command::Cti(c) => cmd::cti::run(c)?,
        Command::Alerts(c) => cmd::alerts::run(c)?,
        Command::Zia(c) => cmd::zia::run(c)?,
    };
    std::process::exit(code);
}

/// Logs go to stderr so that stdout stays clean for data (`parse`, `search --json`).
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ZIAXDR_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
