//! `detect`: the "XDR" of ziaxdr. It evaluates Sigma rules (with a processing pipeline that
//! maps the Sigma proxy/dns/firewall taxonomy to the ECS fields of ZIA events, and Sigma v2
//! correlations) and STIX 2.1 indicators on every event as it flows, turns what fires into
//! alerts grouped by similarity (with throttling of noisy rules, stored in SQLite under the
//! data directory or in a cluster's PostgreSQL), and runs declarative playbooks (signed webhooks, comments, status
//! changes, blocks in Zscaler through `ziaapi`) on alert creation and update. Sigma parsing and evaluation are delegated to
//! `rsigma-parser`/`rsigma-eval`; this crate adds the ZIA mapping, the shipped rule pack, the
//! CTI matcher, the alert model and the response layer. It does no network I/O except the
//! CTI fetch and the webhook calls, both behind explicit functions.

pub mod alerts;
pub mod api;
pub mod cti;
mod db;
pub mod detector;
pub mod event;
pub mod gate;
mod legacy;
pub mod playbook;
pub mod respond;
pub mod rulestate;
pub mod service;
pub mod sigma;

use std::path::PathBuf;

/// Re-exported so that callers build timestamps of the same `chrono` version.
pub use chrono;

/// A duration written `30s`, `15m`, `1h` or `2d`, in seconds (None: not such a duration).
pub fn parse_duration_secs(s: &str) -> Option<u64> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mult).filter(|s| *s > 0)
}

pub use alerts::{Alert, AlertChange, AlertManager, AlertStore, Status};
pub use detector::{CorrelationInput, Detector, Match, RuleRef, RuleType, Screen, Screened};
pub use service::{DetectionService, ServiceOptions, RETROHUNT_TAKEOVER_CHECK};
pub use sigma::{LoadStatus, RuleInfo, RuleSet};

/// Errors of the detect crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    /// The alert or CTI database failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// PostgreSQL (the cluster's state) failed or is out of reach.
    #[error("{0}")]
    Pg(#[from] pgstate::PgError),
    /// JSON could not be read or written.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A rule, pipeline or playbook is invalid.
    #[error("rule: {0}")]
    Rule(String),
    /// A playbook file is invalid.
    #[error("playbook: {0}")]
    Playbook(String),
    /// A CTI download failed.
    #[error("fetch: {0}")]
    Fetch(String),
    /// The event source of a retrohunt failed.
    #[error("retrohunt: {0}")]
    Retrohunt(String),
    /// No alert has this uuid or short id.
    #[error("no alert {0}")]
    NotFound(String),
    /// A status change that the workflow does not allow.
    #[error("invalid status change: {0}")]
    InvalidTransition(String),
    /// A response in Zscaler failed or was refused.
    #[error("{0}")]
    Zia(#[from] ziaapi::Error),
}
