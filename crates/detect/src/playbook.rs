//! Playbooks: automated response declared in a small YAML file.
//!
//! ```yaml
//! playbooks:
//!   - name: notify-soc
//!     trigger:
//!       on: [created]                 # created and/or updated
//!       rule_type: sigma              # optional: sigma | cti
//!       rule_ids: [ziaxdr-zia-...]    # optional
//!       rule_name_contains: Telegram  # optional, case-insensitive
//!       min_urgency: 50               # optional
//!       entity: default               # optional
//!     actions:
//!       - type: webhook
//!         url: https://soar.example/hook
//!         secret_env: SOAR_SECRET     # HMAC-SHA256 key (or `secret:`), never logged
//!         body: '{"alert": "{{short_id}}", "rule": "{{rule.name}}", "urgency": {{urgency}}}'
//!       - type: comment
//!         text: "sent to the SOC"
//!       - type: status
//!         status: Acknowledged
//!   - name: block-c2
//!     trigger: {on: [created], rule_type: cti, min_urgency: 80}
//!     actions:
//!       - type: zia_block             # needs the server's [zia] configuration
//!         values: ["{{target}}"]      # optional: default, the alert's indicator
//!         category: ziaxdr-blocklist  # optional: default, the configured one
//!         ip_group: ziaxdr-blocked-ips
//!         dry_run: false
//! ```
//!
//! `zia_block` / `zia_unblock` block or unblock values in Zscaler (see [`crate::respond`]):
//! each of `values` is templated like a comment; without `values`, the alert's indicator
//! (a CTI alert's matched value, else its domain or destination IP). The allow-list, the
//! cap and the audit of the `[zia]` configuration apply as to every other response.
//!
//! Webhook bodies are JSON templates: `{{path}}` is replaced by the value at that dotted path
//! of the alert (strings JSON-escaped, so a placeholder goes inside quotes), and the result
//! must be valid JSON. The request carries `X-Ziaxdr-Signature: sha256=<hex HMAC of the
//! body>`. Failed calls are retried with exponential backoff; every action run is recorded
//! in the `playbook_runs` table of `alerts.db`. On `updated`, a playbook runs at most once per
//! alert per `min_interval_secs` (default 300) so that a noisy alert does not flood a webhook.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use crate::alerts::{Alert, AlertChange, AlertStore, PlaybookRun, Status};
use crate::detector::RuleType;
use crate::respond::alert_values;
use crate::Error;
use ziaapi::{Op, Request, Responder};

/// Header carrying the body signature.
pub const SIGNATURE_HEADER: &str = "X-Ziaxdr-Signature";
/// Header naming the trigger (`alert.created` / `alert.updated`).
pub const EVENT_HEADER: &str = "X-Ziaxdr-Event";
/// Upper bound of one backoff sleep.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Which alert changes start a playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum On {
    /// A new alert.
    Created,
    /// A similar match joined an alert.
    Updated,
}

/// Conditions on the alert.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Changes that start the playbook.
    pub on: Vec<On>,
    /// Only alerts from these rule ids.
    #[serde(default)]
    pub rule_ids: Vec<String>,
    /// Only rules whose name contains this (case-insensitive).
    #[serde(default)]
    pub rule_name_contains: Option<String>,
    /// Only sigma or only cti alerts.
    #[serde(default)]
    pub rule_type: Option<RuleType>,
    /// Only alerts at least this urgent.
    #[serde(default)]
    pub min_urgency: Option<u8>,
    /// Only this entity.
    #[serde(default)]
    pub entity: Option<String>,
    /// Minimum seconds between two runs for the same alert on `updated`.
    #[serde(default = "default_interval")]
    pub min_interval_secs: u64,
}

fn default_interval() -> u64 {
    300
}
fn default_attempts() -> u32 {
    5
}
fn default_backoff() -> u64 {
    500
}
fn default_timeout() -> u64 {
    10_000
}

/// One action.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Action {
    /// POST a templated JSON body.
    Webhook {
        /// Target URL.
        url: String,
        /// JSON template.
        body: String,
        /// HMAC key, inline.
        #[serde(default)]
        secret: Option<String>,
        /// HMAC key, read from this environment variable.
        #[serde(default)]
        secret_env: Option<String>,
        /// Attempts before giving up.
        #[serde(default = "default_attempts")]
        max_attempts: u32,
        /// First backoff, doubled after each failure.
        #[serde(default = "default_backoff")]
        backoff_ms: u64,
        /// Per-request timeout.
        #[serde(default = "default_timeout")]
        timeout_ms: u64,
    },
    /// Add a comment.
    Comment {
        /// Comment text (templated like webhook bodies, without JSON escaping).
        text: String,
    },
    /// Change the status.
    Status {
        /// Target status.
        status: Status,
    },
    /// Block values in Zscaler.
    #[serde(rename = "zia_block")]
    ZiaBlock(ZiaStep),
    /// Unblock values in Zscaler.
    #[serde(rename = "zia_unblock")]
    ZiaUnblock(ZiaStep),
}

/// A `zia_block` / `zia_unblock` step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZiaStep {
    /// Templated values; none: the alert's indicator.
    #[serde(default)]
    pub values: Option<Vec<String>>,
    /// URL category instead of the configured one.
    #[serde(default)]
    pub category: Option<String>,
    /// IP group instead of the configured one.
    #[serde(default)]
    pub ip_group: Option<String>,
    /// Only record what would change.
    #[serde(default)]
    pub dry_run: bool,
}

impl Action {
    fn kind(&self) -> &'static str {
        match self {
            Action::Webhook { .. } => "webhook",
            Action::Comment { .. } => "comment",
            Action::Status { .. } => "status",
            Action::ZiaBlock(_) => "zia_block",
            Action::ZiaUnblock(_) => "zia_unblock",
        }
    }
}

/// One playbook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// Name (in run records and history).
    pub name: String,
    /// When it runs.
    pub trigger: Trigger,
    /// What it does, in order.
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaybookFile {
    playbooks: Vec<Playbook>,
}

/// Runs playbooks on alert changes.
#[derive(Clone, Default)]
pub struct PlaybookRunner {
    playbooks: Vec<Playbook>,
    zia: Option<Arc<Responder>>,
}

impl std::fmt::Debug for PlaybookRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybookRunner")
            .field("playbooks", &self.playbooks)
            .field("zia", &self.zia.is_some())
            .finish()
    }
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.strip_prefix("alert.").unwrap_or(path);
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Renders `{{path}}` placeholders with values of the alert; `json` escapes strings for use
/// inside a JSON string literal.
pub fn render(template: &str, alert: &Alert, json: bool) -> Result<String, Error> {
    let v = serde_json::to_value(alert)?;
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(Error::Playbook("unclosed {{ in template".into()));
        };
        let path = after[..end].trim();
        let text = match lookup(&v, path) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) if json => {
                let q = serde_json::to_string(s)?;
                q[1..q.len() - 1].to_string()
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        out.push_str(&text);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `sha256=<hex>` HMAC-SHA256 of `body` under `key`.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header in constant time (for receivers, and tests).
pub fn verify(key: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hexsig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hexsig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

impl PlaybookRunner {
    /// Parses a playbook file's text.
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        let f: PlaybookFile =
            yaml_serde::from_str(text).map_err(|e| Error::Playbook(e.to_string()))?;
        for p in &f.playbooks {
            for a in &p.actions {
                if let Action::Webhook { body, .. } = a {
                    if body.matches("{{").count() != body.matches("}}").count() {
                        return Err(Error::Playbook(format!(
                            "{}: unbalanced placeholders in webhook body",
                            p.name
                        )));
                    }
                }
            }
        }
        Ok(Self {
            playbooks: f.playbooks,
            zia: None,
        })
    }

    /// Gives the `zia_block` / `zia_unblock` steps their responder.
    pub fn with_zia(mut self, zia: Option<Arc<Responder>>) -> Self {
        self.zia = zia;
        self
    }

    /// Whether a playbook has a step that needs Zscaler.
    pub fn uses_zia(&self) -> bool {
        self.playbooks.iter().any(|p| {
            p.actions
                .iter()
                .any(|a| matches!(a, Action::ZiaBlock(_) | Action::ZiaUnblock(_)))
        })
    }

    /// Reads a playbook file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io(path.into(), e))?;
        Self::from_yaml(&text)
    }

    /// The playbooks.
    pub fn playbooks(&self) -> &[Playbook] {
        &self.playbooks
    }

    fn applies(p: &Playbook, on: On, a: &Alert) -> bool {
        let t = &p.trigger;
        t.on.contains(&on)
            && (t.rule_ids.is_empty() || t.rule_ids.contains(&a.rule.id))
            && t.rule_name_contains
                .as_ref()
                .is_none_or(|s| a.rule.name.to_lowercase().contains(&s.to_lowercase()))
            && t.rule_type.is_none_or(|k| k == a.rule.kind)
            && t.min_urgency.is_none_or(|u| a.urgency >= u)
            && t.entity.as_ref().is_none_or(|e| *e == a.entity)
    }

    /// Runs the playbooks an alert change triggers; blocking (webhook calls and backoff
    /// sleeps), so an async server calls it from a blocking task. Returns the run records.
    pub fn run(
        &self,
        store: &mut AlertStore,
        change: &AlertChange,
    ) -> Result<Vec<PlaybookRun>, Error> {
        let (on, alert) = match change {
            AlertChange::Created(a) => (On::Created, a.as_ref()),
            AlertChange::Updated(a) => (On::Updated, a.as_ref()),
            AlertChange::Throttled { .. } | AlertChange::Replayed { .. } => return Ok(Vec::new()),
        };
        let mut runs = Vec::new();
        for p in self
            .playbooks
            .iter()
            .filter(|p| Self::applies(p, on, alert))
        {
            if on == On::Updated {
                if let Some(last) = store.last_run(&p.name, &alert.uuid)? {
                    let gap = (Utc::now() - last).num_seconds();
                    if gap >= 0 && (gap as u64) < p.trigger.min_interval_secs {
                        continue;
                    }
                }
            }
            let trigger = match on {
                On::Created => "created",
                On::Updated => "updated",
            };
            for action in &p.actions {
                let started = Utc::now();
                let author = format!("playbook:{}", p.name);
                let (attempts, result) = match action {
                    Action::Webhook {
                        url,
                        body,
                        secret,
                        secret_env,
                        max_attempts,
                        backoff_ms,
                        timeout_ms,
                    } => {
                        let key = secret
                            .clone()
                            .or_else(|| secret_env.as_ref().and_then(|e| std::env::var(e).ok()));
                        match render(body, alert, true).and_then(|b| {
                            serde_json::from_str::<Value>(&b)
                                .map(|_| b)
                                .map_err(|e| Error::Playbook(format!("body is not JSON: {e}")))
                        }) {
                            Ok(b) => call_webhook(
                                url,
                                &b,
                                key.as_deref(),
                                trigger,
                                (*max_attempts).max(1),
                                Duration::from_millis(*backoff_ms),
                                Duration::from_millis(*timeout_ms),
                            ),
                            Err(e) => (0, Err(e.to_string())),
                        }
                    }
                    Action::Comment { text } => {
                        let r = render(text, alert, false)
                            .and_then(|t| store.comment(&alert.uuid, &t, &author).map(|_| ()))
                            .map(|()| "comment added".to_string())
                            .map_err(|e| e.to_string());
                        (1, r)
                    }
                    Action::Status { status } => {
                        let r = store
                            .set_status(&alert.uuid, *status, &author)
                            .map(|a| format!("status {}", a.status.as_str()))
                            .map_err(|e| e.to_string());
                        (1, r)
                    }
                    Action::ZiaBlock(step) => (1, self.zia_step(Op::Block, step, alert, &author)),
                    Action::ZiaUnblock(step) => {
                        (1, self.zia_step(Op::Unblock, step, alert, &author))
                    }
                };
                let (outcome, detail) = match &result {
                    Ok(d) => ("ok", d.clone()),
                    Err(e) => ("failed", e.clone()),
                };
                let mut run = PlaybookRun {
                    id: 0,
                    playbook: p.name.clone(),
                    alert_uuid: alert.uuid.clone(),
                    trigger: trigger.into(),
                    action: action.kind().into(),
                    attempts,
                    outcome: outcome.into(),
                    detail: detail.clone(),
                    started_at: started,
                    finished_at: Utc::now(),
                };
                run.id = store.record_run(&run)?;
                let _ = store.note(
                    &alert.uuid,
                    "playbook",
                    &format!("{}: {} {} ({})", p.name, action.kind(), outcome, detail),
                    &author,
                );
                runs.push(run);
            }
        }
        Ok(runs)
    }
}

impl PlaybookRunner {
    /// Runs one `zia_block` / `zia_unblock` step; the summary or the error.
    fn zia_step(
        &self,
        op: Op,
        step: &ZiaStep,
        alert: &Alert,
        author: &str,
    ) -> Result<String, String> {
        let zia = self
            .zia
            .as_ref()
            .ok_or("Zscaler is not configured (the [zia] table of the server's config)")?;
        let values = match &step.values {
            Some(templates) => {
                let mut vs = Vec::new();
                for t in templates {
                    let v = render(t, alert, false).map_err(|e| e.to_string())?;
                    if !v.trim().is_empty() {
                        vs.push(v);
                    }
                }
                vs
            }
            None => alert_values(alert),
        };
        let req = Request {
            category: step.category.clone(),
            ip_group: step.ip_group.clone(),
            dry_run: step.dry_run,
            alert: Some(alert.short_id.clone()),
            ..Request::new(op, values, author, "playbook")
        };
        match zia.run(&req) {
            Ok(o) if o.changed.is_empty() && !o.refused.is_empty() => Err(o.summary()),
            Ok(o) => Ok(o.summary()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// POSTs `body`, retrying with exponential backoff on network errors, 5xx, 408 and 429.
/// Returns the attempts made and the final HTTP status or error.
fn call_webhook(
    url: &str,
    body: &str,
    key: Option<&str>,
    trigger: &str,
    max_attempts: u32,
    backoff: Duration,
    timeout: Duration,
) -> (u32, Result<String, String>) {
    let agent = ureq::AgentBuilder::new().timeout(timeout).build();
    let mut wait = backoff;
    let mut last = String::new();
    for attempt in 1..=max_attempts {
        let mut req = agent
            .post(url)
            .set("Content-Type", "application/json")
            .set(EVENT_HEADER, &format!("alert.{trigger}"));
        if let Some(k) = key {
            req = req.set(SIGNATURE_HEADER, &sign(k.as_bytes(), body.as_bytes()));
        }
        match req.send_string(body) {
            Ok(resp) => return (attempt, Ok(format!("HTTP {}", resp.status()))),
            Err(ureq::Error::Status(code, _)) => {
                last = format!("HTTP {code}");
                if !(code >= 500 || code == 408 || code == 429) {
                    return (attempt, Err(last));
                }
            }
            Err(e) => last = e.to_string(),
        }
        if attempt < max_attempts {
            std::thread::sleep(wait);
            wait = (wait * 2).min(MAX_BACKOFF);
        }
    }
    (max_attempts, Err(last))
}
