//! `ziaxdr zia`: respond in Zscaler through the ZIA API: block and unblock indicators (URLs
//! and domains in a custom URL category, IPs in a destination IP group), activate pending
//! changes, show the activation status. The work is `ziaapi`'s; this module reads the
//! credentials (flags, `ZIA_…` variables, the `[zia]` table of the TOML config) and prints.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ziaapi::{ClientOptions, Op, Request, Settings};

const EXAMPLES: &str = "Examples:
  export ZIA_CLIENT_ID=... ZIA_CLIENT_SECRET=... ZIA_VANITY_DOMAIN=acme     # OneAPI (ZIdentity)
  export ZIA_CLOUD=zscalertwo.net ZIA_API_KEY=... ZIA_USERNAME=... ZIA_PASSWORD=...  # or legacy
  ziaxdr zia status
  ziaxdr zia block c2.evil.example https://bad.example/payload 203.0.113.7 --dry-run
  ziaxdr zia block c2.evil.example --category ziaxdr-blocklist
  ziaxdr zia unblock c2.evil.example
  ziaxdr zia block evil.example --no-activate && ziaxdr zia activate
  ziaxdr zia block evil.example --config /etc/ziaxdr.toml     # the [zia] table of serve's config

URLs and domains go to the custom URL category (default ziaxdr-blocklist), IPs and CIDR
ranges to the destination IP group (--ip-group); both must exist in ZIA, and a URL filtering
rule must block the category (see docs/respond.md). Values on the allow-list (--allow or
allow = [...] in the config) are refused. Every action is appended to DATA/zia-audit.jsonl.
Exit status: 0 done, 2 some values refused, 1 error.";

/// Subcommands of `ziaxdr zia`.
#[derive(clap::Subcommand)]
#[command(after_help = EXAMPLES)]
pub enum Command {
    /// Block URLs, domains and IPs in ZIA, then activate.
    #[command(after_help = EXAMPLES)]
    Block(ActArgs),
    /// Remove URLs, domains and IPs from the block lists, then activate.
    #[command(after_help = EXAMPLES)]
    Unblock(ActArgs),
    /// Activate pending ZIA configuration changes.
    #[command(after_help = EXAMPLES)]
    Activate(Common),
    /// Show ZIA's activation status (ACTIVE, PENDING, INPROGRESS); checks the credentials.
    #[command(after_help = EXAMPLES)]
    Status(Common),
}

/// Arguments of `block` and `unblock`.
#[derive(clap::Args)]
pub struct ActArgs {
    /// Domains, URLs, IPs or CIDR ranges.
    #[arg(required = true, value_name = "VALUE")]
    values: Vec<String>,
    /// Custom URL category (name or id) [default: the config's, else ziaxdr-blocklist].
    #[arg(long, value_name = "NAME")]
    category: Option<String>,
    /// Destination IP group (name or id) for IPs [default: the config's].
    #[arg(long, value_name = "NAME")]
    ip_group: Option<String>,
    /// Show what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Leave the change pending (activate later with `ziaxdr zia activate`).
    #[arg(long)]
    no_activate: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

/// Credentials, targets and limits shared by every subcommand.
#[derive(clap::Args)]
pub struct Common {
    /// ziaxdr's TOML config; its `[zia]` table is read (flags and variables win).
    #[arg(long, env = "ZIAXDR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory; the audit log is DATA/zia-audit.jsonl.
    #[arg(
        long,
        env = "ZIAXDR_DATA",
        default_value = "./ziaxdr-data",
        value_name = "DIR"
    )]
    data: PathBuf,
    /// Legacy: the ZIA cloud (zscaler.net, zscalertwo.net, ...).
    #[arg(long, env = "ZIA_CLOUD")]
    cloud: Option<String>,
    /// Legacy: the API key.
    #[arg(long, env = "ZIA_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Legacy: the admin user.
    #[arg(long, env = "ZIA_USERNAME")]
    username: Option<String>,
    /// Legacy: the admin password.
    #[arg(long, env = "ZIA_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// OneAPI: the ZIdentity API client id.
    #[arg(long, env = "ZIA_CLIENT_ID")]
    client_id: Option<String>,
    /// OneAPI: the API client secret.
    #[arg(long, env = "ZIA_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// OneAPI: the ZIdentity vanity domain (acme of acme.zslogin.net).
    #[arg(long, env = "ZIA_VANITY_DOMAIN")]
    vanity_domain: Option<String>,
    /// The API base URL instead of the cloud's (tests point it at a mock).
    #[arg(long, env = "ZIA_BASE_URL", value_name = "URL")]
    base_url: Option<String>,
    /// OneAPI: the token endpoint instead of the vanity domain's.
    #[arg(long, env = "ZIA_TOKEN_URL", value_name = "URL")]
    token_url: Option<String>,
    /// A domain, IP or CIDR range never to block (repeatable; adds to the config's).
    #[arg(long, value_name = "VALUE")]
    allow: Vec<String>,
    /// Most values one action may carry [default: the config's, else 100].
    #[arg(long)]
    max_values: Option<usize>,
    /// Who acts, for the audit log [default: $USER].
    #[arg(long)]
    who: Option<String>,
}

/// The `[zia]` table of a ziaxdr TOML config.
pub(crate) fn settings_from_file(path: &Path) -> anyhow::Result<Settings> {
    let v: toml::Table = super::read_toml(path)?;
    match v.get("zia") {
        Some(t) => t
            .clone()
            .try_into()
            .with_context(|| format!("bad [zia] table in {}", path.display())),
        None => Ok(Settings::default()),
    }
}

impl Common {
    fn settings(&self) -> anyhow::Result<Settings> {
        let mut s = match &self.config {
            Some(p) => settings_from_file(p)?,
            None => Settings::default(),
        };
        macro_rules! over {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { s.$f = Some(v.clone()); } )* };
        }
        over!(
            cloud,
            username,
            client_id,
            vanity_domain,
            base_url,
            token_url
        );
        if let Some(v) = &self.api_key {
            s.api_key = Some(ziaapi::Secret::new(v));
        }
        if let Some(v) = &self.password {
            s.password = Some(ziaapi::Secret::new(v));
        }
        if let Some(v) = &self.client_secret {
            s.client_secret = Some(ziaapi::Secret::new(v));
        }
        s.allow.extend(self.allow.iter().cloned());
        if self.max_values.is_some() {
            s.max_values = self.max_values;
        }
        if s.audit_log.is_none() {
            s.audit_log = Some(self.data.join(AUDIT_FILE));
        }
        Ok(s.with_env())
    }

    fn who(&self) -> String {
        self.who
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "cli".into())
    }

    fn responder(&self) -> anyhow::Result<ziaapi::Responder> {
        Ok(self.settings()?.responder(ClientOptions::default())?)
    }
}

/// The audit log's name under the data directory.
pub(crate) const AUDIT_FILE: &str = "zia-audit.jsonl";

/// Runs `ziaxdr zia`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Block(a) => act(Op::Block, a),
        Command::Unblock(a) => act(Op::Unblock, a),
        Command::Activate(c) => {
            let status = c.responder()?.activate(&c.who(), "cli")?;
            println!("activation {status}");
            Ok(0)
        }
        Command::Status(c) => {
            let r = c.responder()?;
            let status = r.status()?;
            println!(
                "ZIA {} ({} authentication): activation {status}",
                r.client().base(),
                r.client().auth_kind()
            );
            Ok(0)
        }
    }
}

fn act(op: Op, a: ActArgs) -> anyhow::Result<i32> {
    let r = a.common.responder()?;
    let req = Request {
        category: a.category.clone(),
        ip_group: a.ip_group.clone(),
        dry_run: a.dry_run,
        activate: a.no_activate.then_some(false),
        ..Request::new(op, a.values.clone(), &a.common.who(), "cli")
    };
    let out = match r.run(&req) {
        Ok(o) => o,
        Err(ziaapi::Error::Refused(m)) => {
            eprintln!("refused: {m}");
            return Ok(2);
        }
        Err(e) => return Err(e.into()),
    };
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{}", out.summary());
    }
    Ok(if out.refused.is_empty() { 0 } else { 2 })
}

/// The server's responder: from the `[zia]` table and the `ZIA_…` variables, auditing to
/// DATA/zia-audit.jsonl; none when no credential is configured.
pub(crate) fn server_responder(
    settings: Option<&Settings>,
    data_dir: &Path,
) -> anyhow::Result<Option<Arc<ziaapi::Responder>>> {
    let mut s = settings.cloned().unwrap_or_default().with_env();
    if !s.is_configured() {
        return Ok(None);
    }
    if s.audit_log.is_none() {
        s.audit_log = Some(data_dir.join(AUDIT_FILE));
    }
    let r = s
        .responder(ClientOptions::default())
        .context("bad ZIA configuration ([zia] table or ZIA_* variables)")?;
    tracing::info!(api = r.client().base(), auth = r.client().auth_kind(), category = %r.policy().category,
        "response in Zscaler enabled");
    Ok(Some(Arc::new(r)))
}
