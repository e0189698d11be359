//! `ziaxdr cti`: import STIX 2.1 indicators (file, TAXII 2.1 collection, paged feed) into
//! `DATA/cti.db` and list them. A running server picks up new indicators and retrohunts them.

use std::path::PathBuf;

use chrono::Utc;
use detect::cti::fetch::{fetch_into, FetchOptions};
use detect::cti::{CtiMatcher, CtiStore};

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
        /// Data directory.
        #[arg(long, default_value = "./ziaxdr-data", value_name = "DIR")]
        data: PathBuf,
        /// Print the import report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One line per imported source (file, URL or API import name) with its counts.
    Sources {
        /// Data directory.
        #[arg(long, default_value = "./ziaxdr-data", value_name = "DIR")]
        data: PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// List stored indicators.
    List {
        /// Data directory.
        #[arg(long, default_value = "./ziaxdr-data", value_name = "DIR")]
        data: PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `ziaxdr cti`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Import {
            source,
            token_env,
            data,
            json,
        } => {
            let mut store = CtiStore::open(&data)?;
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
        Command::Sources { data, json } => {
            let store = CtiStore::open(&data)?;
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
        Command::List { data, json } => {
            let store = CtiStore::open(&data)?;
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
