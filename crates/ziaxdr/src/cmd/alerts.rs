//! `ziaxdr alerts`: list and triage alerts stored in `DATA/alerts.db` (works while the server
//! runs: the database is in WAL mode and writes wait for the lock), or, with `--postgres`, the
//! alerts of a cluster.

use std::path::PathBuf;

use detect::alerts::AlertFilter;
use detect::{AlertStore, Status};

use crate::wiring::PostgresArgs;

/// Subcommands of `ziaxdr alerts`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// List alerts, most recently updated first.
    List {
        /// Data directory.
        #[arg(long, default_value = "./ziaxdr-data", value_name = "DIR")]
        data: PathBuf,
        /// The cluster's alerts, in PostgreSQL.
        #[command(flatten)]
        postgres: PostgresArgs,
        /// Only alerts with this status (Pending, Acknowledged, Ongoing, Closed, Rejected).
        #[arg(long)]
        status: Option<String>,
        /// Only alerts of this rule id.
        #[arg(long)]
        rule: Option<String>,
        /// Only alerts of this entity.
        #[arg(long)]
        entity: Option<String>,
        /// At most this many alerts.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON alert per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one alert (uuid or short id) with its comments, history and playbook runs.
    Show {
        /// Alert uuid or short id.
        id: String,
        /// Data directory.
        #[arg(long, default_value = "./ziaxdr-data", value_name = "DIR")]
        data: PathBuf,
        /// The cluster's alerts, in PostgreSQL.
        #[command(flatten)]
        postgres: PostgresArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change an alert's status.
    Status {
        /// Alert uuid or short id.
        id: String,
        /// New status: Acknowledged, Ongoing, Closed or Rejected.
        status: String,
        /// Data directory.
        #[arg(long, default_value = "./ziaxdr-data", value_name = "DIR")]
        data: PathBuf,
        /// The cluster's alerts, in PostgreSQL.
        #[command(flatten)]
        postgres: PostgresArgs,
        /// Who makes the change (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
    /// Add a comment to an alert.
    Comment {
        /// Alert uuid or short id.
        id: String,
        /// Comment text.
        text: String,
        /// Data directory.
        #[arg(long, default_value = "./ziaxdr-data", value_name = "DIR")]
        data: PathBuf,
        /// The cluster's alerts, in PostgreSQL.
        #[command(flatten)]
        postgres: PostgresArgs,
        /// Comment author (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
}

fn author(a: Option<String>) -> String {
    a.or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".to_string())
}

/// The alerts `postgres` chooses (see `wiring::StateChoice`), else `data`'s.
fn open(data: &std::path::Path, postgres: &PostgresArgs) -> anyhow::Result<AlertStore> {
    Ok(postgres.open()?.alerts(data)?.open()?)
}

/// Runs `ziaxdr alerts`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::List {
            data,
            status,
            rule,
            entity,
            limit,
            json,
            postgres,
        } => {
            let store = open(&data, &postgres)?;
            let filter = AlertFilter {
                status: status.map(|s| s.parse::<Status>()).transpose()?,
                rule,
                entity,
                limit: Some(limit),
                ..Default::default()
            };
            for a in store.list(&filter)? {
                if json {
                    println!("{}", serde_json::to_string(&a)?);
                } else {
                    println!(
                        "{} {:<12} urgency {:>3} similar {:>5} {} ({}, by {})",
                        a.short_id,
                        a.status.as_str(),
                        a.urgency,
                        a.similar,
                        a.title,
                        a.entity,
                        a.rule.author.as_deref().unwrap_or("unknown author")
                    );
                }
            }
            Ok(0)
        }
        Command::Show {
            id,
            data,
            json,
            postgres,
        } => {
            let store = open(&data, &postgres)?;
            let a = store.get(&id)?;
            let runs = store.runs(Some(&a.uuid))?;
            if json {
                let mut v = serde_json::to_value(&a)?;
                v["playbook_runs"] = serde_json::to_value(&runs)?;
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&a)?);
                for r in runs {
                    println!(
                        "playbook {} {} {} after {} attempt(s): {}",
                        r.playbook, r.action, r.outcome, r.attempts, r.detail
                    );
                }
            }
            Ok(0)
        }
        Command::Status {
            id,
            status,
            data,
            author: who,
            postgres,
        } => {
            let mut store = open(&data, &postgres)?;
            let a = store.set_status(&id, status.parse()?, &author(who))?;
            println!("{} {}", a.short_id, a.status.as_str());
            Ok(0)
        }
        Command::Comment {
            id,
            text,
            data,
            author: who,
            postgres,
        } => {
            let mut store = open(&data, &postgres)?;
            let a = store.comment(&id, &text, &author(who))?;
            println!("{} {} comment(s)", a.short_id, a.comments.len());
            Ok(0)
        }
    }
}
