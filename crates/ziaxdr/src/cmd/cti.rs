//! `ziaxdr cti`: import STIX 2.1 indicators (file, TAXII 2.1 collection, paged feed) into
//! `DATA/cti.db`, or the cluster's PostgreSQL with `--postgres`, and list them. A running
//! server (every node of a cluster) picks up new indicators and retrohunts them.

use std::path::PathBuf;

use chrono::Utc;
use detect::cti::fetch::{fetch_into, FetchOptions};
use detect::cti::{CtiMatcher, CtiStore};

/// Where the indicators are: options shared by the cti subcommands.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// Data directory (indicators and registered sources, in cti.db).
    #[arg(long, default_value = "./ziaxdr-data", value_name = "DIR")]
    pub data: PathBuf,
    /// The cluster's state: indicators and registered sources in PostgreSQL.
    #[command(flatten)]
    pub postgres: crate::wiring::PostgresArgs,
}

impl StoreArgs {
    fn open(&self) -> anyhow::Result<CtiStore> {
        self.postgres.open()?.cti(&self.data)
    }
}

/// Subcommands of `ziaxdr cti`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Import a STIX 2.1 bundle file, a TAXII 2.1 collection URL or a feed URL.
    Import {
        /// File path, or http(s) URL (a TAXII URL contains /collections/<id>/).
        source: String,
        /// Environment variable holding a bearer token for the URL (never printed).
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        /// Print the import report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One line per imported source (file, URL or API import name) with its counts.
    Sources {
        #[command(flatten)]
        store: StoreArgs,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Register TAXII 2.1 collections and feeds that `serve` polls on a schedule.
    #[command(subcommand)]
    Source(SourceCommand),
    /// List stored indicators.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// Subcommands of `ziaxdr cti source`.
#[derive(clap::Subcommand)]
pub enum SourceCommand {
    /// Register a TAXII 2.1 collection or a feed URL; a running `serve` polls it from now on
    /// (the first poll within seconds) and imports what is new.
    #[command(
        after_help = "Examples:\n  ziaxdr cti source add https://taxii.example/api1/collections/91a7b528/ --every 1h --token-env TAXII_TOKEN\n  ziaxdr cti source add https://feeds.example/stix --every 30m"
    )]
    Add {
        /// TAXII collection URL (contains /collections/<id>/) or feed URL.
        url: String,
        /// Polling interval: 10s at least, e.g. 15m, 1h, 1d.
        #[arg(long, default_value = "1h", value_name = "DURATION")]
        every: String,
        /// Environment variable of the server holding a bearer token (the token is never stored).
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List registered sources with the outcome of their last poll.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Unregister a source (the indicators it brought stay).
    Remove {
        /// The URL as registered.
        url: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn run_source(cmd: SourceCommand) -> anyhow::Result<i32> {
    match cmd {
        SourceCommand::Add {
            url,
            every,
            token_env,
            store,
        } => {
            let secs = detect::parse_duration_secs(&every).ok_or_else(|| {
                anyhow::anyhow!("--every {every:?} is not a duration such as 15m, 1h or 1d")
            })?;
            store.open()?.add_source(&url, secs, token_env.as_deref())?;
            println!("registered {url}, polled every {secs} s by a running `ziaxdr serve`");
            Ok(0)
        }
        SourceCommand::List { store, json } => {
            let store = store.open()?;
            for s in store.registered_sources()? {
                if json {
                    println!("{}", serde_json::to_string(&s)?);
                } else {
                    let state = match (&s.last_run, &s.last_error) {
                        (None, _) => "not polled yet".to_string(),
                        (Some(_), Some(e)) => format!("failing: {e}"),
                        (Some(_), None) => format!("ok, {} indicators", s.last_seen),
                    };
                    let last = s.last_run.map(|t| t.to_rfc3339()).unwrap_or_default();
                    println!(
                        "every {:>6} s  {last:<32}  {state}  {}",
                        s.every_secs, s.url
                    );
                }
            }
            Ok(0)
        }
        SourceCommand::Remove { url, store } => {
            if store.open()?.remove_source(&url)? {
                println!("removed {url}");
                Ok(0)
            } else {
                eprintln!("no source {url} is registered (see `ziaxdr cti source list`)");
                Ok(1)
            }
        }
    }
}

/// Runs `ziaxdr cti`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Source(c) => run_source(c),
        Command::Import {
            source,
            token_env,
            store,
            json,
        } => {
            let mut store = store.open()?;
            let report = if source.starts_with("http://") || source.starts_with("https://") {
                let opts = FetchOptions {
                    token: token_env.and_then(|v| std::env::var(v).ok()),
                    ..Default::default()
                };
                fetch_into(&mut store, &source, &opts)?
            } else {
                let text = std::fs::read_to_string(&source)?;
                let doc: serde_json::Value = serde_json::from_str(&text)?;
                store.import_doc(&doc, &source)?
            };
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{} indicators: {} added, {} updated, {} unchanged, {} revoked, {} skipped",
                    report.seen,
                    report.added,
                    report.updated,
                    report.unchanged,
                    report.revoked,
                    report.skipped.len()
                );
                for (id, why) in &report.skipped {
                    println!("skipped {id}: {why}");
                }
            }
            Ok(0)
        }
        Command::Sources { store, json } => {
            let store = store.open()?;
            for s in store.sources(Utc::now())? {
                if json {
                    println!("{}", serde_json::to_string(&s)?);
                } else {
                    println!(
                        "{:>7} indicators {:>7} active  {}  {}",
                        s.indicators,
                        s.active,
                        s.imported_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                        s.source
                    );
                }
            }
            Ok(0)
        }
        Command::List { store, json } => {
            let store = store.open()?;
            let all = store.all()?;
            let now = Utc::now();
            let matcher = CtiMatcher::build(&all, now);
            let unsupported: std::collections::HashMap<_, _> =
                matcher.unsupported().iter().cloned().collect();
            for i in &all {
                let state = if i.revoked {
                    "revoked"
                } else if !i.is_active(now) {
                    "inactive"
                } else if unsupported.contains_key(&i.id) {
                    "unsupported"
                } else {
                    "active"
                };
                if json {
                    let mut v = serde_json::to_value(i)?;
                    v["state"] = state.into();
                    if let Some(r) = unsupported.get(&i.id) {
                        v["reason"] = r.clone().into();
                    }
                    println!("{v}");
                } else {
                    println!("{state:<11} {} {}", i.id, i.pattern);
                }
            }
            eprintln!("{} indicators, {} matchable", all.len(), matcher.len());
            Ok(0)
        }
    }
}
