//! `ziaxdr rules`: list, lint and test detection rules (the shipped ZIA pack plus `--rules DIR`),
//! and enable or disable them (a running server notices within seconds).

use std::io::BufRead;
use std::path::PathBuf;

use detect::rulestate::RuleState;
use detect::{Detector, LoadStatus, RuleSet};

/// Options shared by the rules subcommands.
#[derive(clap::Args)]
pub struct RuleDirs {
    /// Extra rule directory or file (repeatable), added to the shipped ZIA pack.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Leave out the shipped ZIA rule pack.
    #[arg(long)]
    pub no_builtin: bool,
    /// Data directory (enabled flags and match counts, in alerts.db).
    #[arg(long, default_value = "./ziaxdr-data", value_name = "DIR")]
    pub data: PathBuf,
    /// The cluster's state: enabled flags and match counts in PostgreSQL.
    #[command(flatten)]
    pub postgres: crate::wiring::PostgresArgs,
}

impl RuleDirs {
    fn load(&self) -> anyhow::Result<RuleSet> {
        let mut set = if self.no_builtin {
            RuleSet::new()
        } else {
            RuleSet::builtin()
        };
        for d in &self.rules {
            set.add_dir(d)?;
        }
        Ok(set)
    }
}

/// Subcommands of `ziaxdr rules`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Show every rule: loaded, or unsupported with the reason; enabled or not, and matches.
    List {
        #[command(flatten)]
        dirs: RuleDirs,
        /// One JSON object per line: id, title, status, reason, author, level, kind, source,
        /// enabled, hits, last_hit.
        #[arg(long)]
        json: bool,
    },
    /// Enable a rule that was disabled.
    Enable {
        /// Rule id (as `rules list` shows it).
        id: String,
        #[command(flatten)]
        dirs: RuleDirs,
    },
    /// Disable a rule: its matches raise no alert until it is enabled again.
    Disable {
        /// Rule id (as `rules list` shows it).
        id: String,
        #[command(flatten)]
        dirs: RuleDirs,
    },
    /// Check rule files against the Sigma specification and the ZIA field mapping.
    Lint {
        /// Rule files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run rules over NDJSON ECS events and print the matches.
    Test {
        /// A rule file or directory (only these rules run, without the shipped pack).
        rule: PathBuf,
        /// Events, one ECS JSON object per line ("-" for stdin).
        events: PathBuf,
        /// Print matches as JSON lines.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `ziaxdr rules`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Enable { id, dirs } => set_enabled(&dirs, &id, true),
        Command::Disable { id, dirs } => set_enabled(&dirs, &id, false),
        Command::List { dirs, json } => {
            let compiled = dirs.load()?.compile()?;
            let state = dirs.postgres.open()?;
            let states = if state.pg.is_some() || dirs.data.join("alerts.db").exists() {
                state.rule_state(&dirs.data)?.all()?
            } else {
                Default::default()
            };
            let default = RuleState::default();
            for i in &compiled.infos {
                let state = states.get(&i.id).unwrap_or(&default);
                if json {
                    let mut v = serde_json::to_value(i)?;
                    v["enabled"] = state.enabled.into();
                    v["hits"] = state.hits.into();
                    v["last_hit"] = serde_json::to_value(state.last_hit)?;
                    println!("{v}");
                } else {
                    let status = match (i.status, state.enabled) {
                        (LoadStatus::Loaded, true) => "loaded",
                        (LoadStatus::Loaded, false) => "disabled",
                        (LoadStatus::Unsupported, _) => "unsupported",
                    };
                    println!(
                        "{status:<11} {:<36} {}{}",
                        i.id,
                        i.title,
                        i.reason
                            .as_deref()
                            .map(|r| format!("  ({r})"))
                            .unwrap_or_default()
                    );
                }
            }
            let loaded = compiled
                .infos
                .iter()
                .filter(|i| i.status == LoadStatus::Loaded)
                .count();
            eprintln!(
                "{} rules: {loaded} loaded, {} unsupported",
                compiled.infos.len(),
                compiled.infos.len() - loaded
            );
            Ok(0)
        }
        Command::Lint { paths } => {
            let mut problems = 0usize;
            for p in &paths {
                let mut set = RuleSet::new();
                set.add_dir(p)?;
                for i in set.compile()?.infos {
                    if let Some(r) = &i.reason {
                        problems += 1;
                        println!("{}: {}: unsupported: {r}", i.source, i.title);
                    }
                }
                for file in yaml_files(p)? {
                    let text = std::fs::read_to_string(&file)?;
                    for w in detect::sigma::lint_text(&text) {
                        problems += 1;
                        println!("{}: {w}", file.display());
                    }
                }
            }
            Ok(if problems == 0 { 0 } else { 1 })
        }
        Command::Test { rule, events, json } => {
            let mut set = RuleSet::new();
            set.add_dir(&rule)?;
            let mut det = Detector::new(&set)?;
            for i in det.rules() {
                if let Some(r) = &i.reason {
                    eprintln!("unsupported: {} ({r})", i.title);
                }
            }
            let reader: Box<dyn BufRead> = if events.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::new(std::fs::File::open(&events)?))
            };
            let (mut n, mut hits) = (0u64, 0u64);
            for (lineno, line) in reader.lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let ev: serde_json::Value = match serde_json::from_str(&line) {
                    Ok(v) => v,
                    Err(e) => {
                        eprintln!("line {}: not JSON: {e}", lineno + 1);
                        continue;
                    }
                };
                n += 1;
                for m in det.process_value(&ev) {
                    hits += 1;
                    if json {
                        println!("{}", serde_json::json!({"line": lineno + 1, "match": m}));
                    } else {
                        println!(
                            "line {}: {} [{}] by {}",
                            lineno + 1,
                            m.rule.name,
                            m.rule.severity,
                            m.rule.author.as_deref().unwrap_or("unknown author")
                        );
                    }
                }
            }
            eprintln!("{n} events, {hits} matches");
            Ok(if hits > 0 { 0 } else { 1 })
        }
    }
}

/// Records a rule's enabled flag after checking that the rule exists.
fn set_enabled(dirs: &RuleDirs, id: &str, enabled: bool) -> anyhow::Result<i32> {
    let compiled = dirs.load()?.compile()?;
    if !compiled
        .infos
        .iter()
        .any(|i| !i.id.is_empty() && i.id == id)
    {
        eprintln!("no rule {id} (see `ziaxdr rules list`)");
        return Ok(2);
    }
    dirs.postgres
        .open()?
        .rule_state(&dirs.data)?
        .set_enabled(id, enabled)?;
    println!("{id} {}", if enabled { "enabled" } else { "disabled" });
    Ok(0)
}

fn yaml_files(p: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if p.is_file() {
        out.push(p.to_path_buf());
        return Ok(out);
    }
    let mut stack = vec![p.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let path = e?.path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
