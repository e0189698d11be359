//! Block and unblock indicators in ZIA, with the safety rules around it.
//!
//! An action takes raw values (domains, URLs, IPs), sorts them into the custom URL category
//! and the destination IP group ([`crate::values`]), refuses the invalid and the
//! allow-listed ones, refuses the whole action beyond [`Policy::max_values`], reads the lists'
//! current contents, and changes only what differs: `PUT /urlCategories/{id}?action=
//! ADD_TO_LIST` (or `REMOVE_FROM_LIST`) with the values to add (remove), and `PUT
//! /ipDestinationGroups/{id}` with the group's new address list (that endpoint has no
//! incremental form). Then, unless told not to, `POST /status/activate`. A dry run stops
//! after reading: its outcome lists what would change.
//!
//! Every action, refused, failed, dry or done, is appended to the audit log as one JSON line
//! (who, through what, when, which values, what changed, the result). The log is opened
//! before any call: an action that could not be audited is not made.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value as Json};

use crate::client::Client;
use crate::values::{AllowList, Value, ValueKind};
use crate::Error;

/// What the responder may do and where.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Custom URL category (name or id).
    pub category: String,
    /// Destination IP group (name or id); without it IPs are refused.
    pub ip_group: Option<String>,
    /// Values never blocked.
    pub allow: AllowList,
    /// Most values one action may carry.
    pub max_values: usize,
    /// Activate after a change.
    pub activate: bool,
    /// Audit log (JSON lines); none: actions are only logged.
    pub audit_log: Option<PathBuf>,
}

/// Block or unblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Add to the lists.
    Block,
    /// Remove from the lists.
    Unblock,
}

impl Op {
    /// `block` or `unblock`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Block => "block",
            Op::Unblock => "unblock",
        }
    }
}

/// One action.
#[derive(Debug, Clone)]
pub struct Request {
    /// Block or unblock.
    pub op: Op,
    /// Raw values.
    pub values: Vec<String>,
    /// Another URL category than the policy's.
    pub category: Option<String>,
    /// Another IP group than the policy's.
    pub ip_group: Option<String>,
    /// Only show what would change.
    pub dry_run: bool,
    /// Override the policy's activation.
    pub activate: Option<bool>,
    /// Who asks (a console user, `playbook:NAME`, the CLI's user).
    pub who: String,
    /// Through what: `console`, `playbook`, `cli`.
    pub via: String,
    /// The alert it is for, if any.
    pub alert: Option<String>,
}

impl Request {
    /// A request with defaults: the policy's lists and activation, not a dry run.
    pub fn new(op: Op, values: Vec<String>, who: &str, via: &str) -> Request {
        Request {
            op,
            values,
            category: None,
            ip_group: None,
            dry_run: false,
            activate: None,
            who: who.into(),
            via: via.into(),
            alert: None,
        }
    }
}

/// A value not acted on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The value as given.
    pub value: String,
    /// Why.
    pub reason: String,
}

/// What an action did (or, dry, would do).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Outcome {
    /// Block or unblock.
    pub op: Op,
    /// Nothing was changed.
    pub dry_run: bool,
    /// The URL category, when URLs were involved.
    pub category: Option<String>,
    /// The IP group, when IPs were involved.
    pub ip_group: Option<String>,
    /// Added (block) or removed (unblock), or would be.
    pub changed: Vec<String>,
    /// Already blocked (block) or not there (unblock).
    pub unchanged: Vec<String>,
    /// Refused values.
    pub refused: Vec<Refusal>,
    /// The activation status after activating, if it was done.
    pub activation: Option<String>,
}

impl Outcome {
    /// One line for humans (alert timeline, CLI).
    pub fn summary(&self) -> String {
        let verb = match (self.op, self.dry_run) {
            (Op::Block, false) => "blocked",
            (Op::Unblock, false) => "unblocked",
            (Op::Block, true) => "would block",
            (Op::Unblock, true) => "would unblock",
        };
        let lists: Vec<&str> = [self.category.as_deref(), self.ip_group.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let mut parts = vec![if self.changed.is_empty() {
            format!("{verb} nothing")
        } else {
            format!("{verb} {}", self.changed.join(", "))
        }];
        if !lists.is_empty() {
            parts[0].push_str(&format!(" in Zscaler ({})", lists.join(", ")));
        }
        if !self.unchanged.is_empty() {
            let how = match self.op {
                Op::Block => "already blocked",
                Op::Unblock => "not blocked",
            };
            parts.push(format!("{how}: {}", self.unchanged.join(", ")));
        }
        for r in &self.refused {
            parts.push(format!("refused {}: {}", r.value, r.reason));
        }
        if let Some(a) = &self.activation {
            parts.push(format!("activation {a}"));
        }
        parts.join("; ")
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditRecord {
    /// When the action ended.
    pub at: DateTime<Utc>,
    /// Who asked.
    pub who: String,
    /// `console`, `playbook`, `cli`.
    pub via: String,
    /// The alert, if any.
    pub alert: Option<String>,
    /// `block`, `unblock` or `activate`.
    pub action: String,
    /// Values as given.
    pub values: Vec<String>,
    /// A dry run.
    pub dry_run: bool,
    /// `ok`, `refused` or `failed`.
    pub result: String,
    /// The outcome, when there is one.
    pub outcome: Option<Outcome>,
    /// The error, when there is one.
    pub error: Option<String>,
    /// `oneapi` or `legacy`.
    pub auth: String,
}

/// Opens the audit log for appending (private to its owner).
fn open_audit(path: &Path) -> Result<std::fs::File, Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Audit(path.into(), e))?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map_err(|e| Error::Audit(path.into(), e))
}

/// Reads an audit log (for tests and tools).
pub fn read_audit(path: &Path) -> Result<Vec<Json>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Audit(path.into(), e))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// The client plus the policy: the one way ziaxdr changes ZIA.
pub struct Responder {
    client: Client,
    policy: Policy,
}

fn find<'a>(items: &'a [Json], wanted: &str, name_field: &str) -> Option<&'a Json> {
    let id_matches = |v: &Json| match v.get("id") {
        Some(Json::String(s)) => s == wanted,
        Some(Json::Number(n)) => n.to_string() == wanted,
        _ => false,
    };
    let name = |v: &Json| v.get(name_field).and_then(|n| n.as_str()).map(String::from);
    items
        .iter()
        .find(|v| id_matches(v) || name(v).as_deref() == Some(wanted))
        .or_else(|| {
            items
                .iter()
                .find(|v| name(v).is_some_and(|n| n.eq_ignore_ascii_case(wanted)))
        })
}

fn strings(v: Option<&Json>) -> Vec<String> {
    v.and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Characters escaped in a path segment: all but RFC 3986's unreserved ones.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn path_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

impl Responder {
    /// A responder over `client` under `policy`.
    pub fn new(client: Client, policy: Policy) -> Responder {
        Responder { client, policy }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn audit(
        &self,
        file: Option<&mut std::fs::File>,
        req: &Request,
        action: &str,
        outcome: Option<&Outcome>,
        error: Option<&Error>,
    ) {
        let label = match (outcome, error) {
            (Some(o), _) if o.changed.is_empty() && !o.refused.is_empty() => "refused",
            (Some(_), _) => "ok",
            (None, Some(Error::Refused(_))) => "refused",
            (None, _) => "failed",
        };
        let rec = AuditRecord {
            at: Utc::now(),
            who: req.who.clone(),
            via: req.via.clone(),
            alert: req.alert.clone(),
            action: action.into(),
            values: req.values.clone(),
            dry_run: req.dry_run,
            result: label.into(),
            outcome: outcome.cloned(),
            error: error.map(|e| e.to_string()),
            auth: self.client.auth_kind().into(),
        };
        tracing::info!(who = %rec.who, via = %rec.via, action, values = ?rec.values, dry_run = rec.dry_run,
            result = label, alert = ?rec.alert, "ZIA response action");
        if let Some(f) = file {
            let mut line = serde_json::to_string(&rec).unwrap_or_default();
            line.push('\n');
            if let Err(e) = f.write_all(line.as_bytes()).and_then(|()| f.sync_data()) {
                tracing::error!(error = %e, "cannot write the ZIA audit log");
            }
        }
    }

    fn audit_file(&self) -> Result<Option<std::fs::File>, Error> {
        self.policy.audit_log.as_deref().map(open_audit).transpose()
    }

    /// Runs a block or unblock.
    pub fn run(&self, req: &Request) -> Result<Outcome, Error> {
        let mut file = self.audit_file()?;
        let result = self.run_inner(req);
        self.audit(
            file.as_mut(),
            req,
            req.op.as_str(),
            result.as_ref().ok(),
            result.as_ref().err(),
        );
        result
    }

    /// Activates pending changes; returns the status ZIA reports.
    pub fn activate(&self, who: &str, via: &str) -> Result<String, Error> {
        let mut file = self.audit_file()?;
        let req = Request::new(Op::Block, Vec::new(), who, via);
        let r = self.activate_now();
        let outcome = r.as_ref().ok().map(|s| Outcome {
            op: Op::Block,
            dry_run: false,
            category: None,
            ip_group: None,
            changed: Vec::new(),
            unchanged: Vec::new(),
            refused: Vec::new(),
            activation: Some(s.clone()),
        });
        self.audit(
            file.as_mut(),
            &req,
            "activate",
            outcome.as_ref(),
            r.as_ref().err(),
        );
        r
    }

    fn activate_now(&self) -> Result<String, Error> {
        let v = self.client.call("POST", "/status/activate", &[], None)?;
        Ok(v.get("status")
            .and_then(|s| s.as_str())
            .unwrap_or("unknown")
            .to_string())
    }

    /// The activation status (`ACTIVE`, `PENDING`, `INPROGRESS`).
    pub fn status(&self) -> Result<String, Error> {
        let v = self.client.call("GET", "/status", &[], None)?;
        v.get("status")
            .and_then(|s| s.as_str())
            .map(String::from)
            .ok_or_else(|| Error::Protocol("GET /status without a status".into()))
    }

    /// The configured custom URL category, as ZIA returns it.
    pub fn category(&self, name: &str) -> Result<Json, Error> {
        let all = self
            .client
            .call("GET", "/urlCategories", &[("customOnly", "true")], None)?;
        let items = all
            .as_array()
            .ok_or_else(|| Error::Protocol("GET /urlCategories is not a list".into()))?;
        find(items, name, "configuredName")
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("custom URL category {name:?}")))
    }

    /// The configured destination IP group, as ZIA returns it.
    pub fn ip_group(&self, name: &str) -> Result<Json, Error> {
        let all = self.client.call("GET", "/ipDestinationGroups", &[], None)?;
        let items = all
            .as_array()
            .ok_or_else(|| Error::Protocol("GET /ipDestinationGroups is not a list".into()))?;
        find(items, name, "name")
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("IP destination group {name:?}")))
    }

    fn run_inner(&self, req: &Request) -> Result<Outcome, Error> {
        let distinct: BTreeSet<&str> = req
            .values
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .collect();
        if distinct.is_empty() {
            return Err(Error::Refused("no value to act on".into()));
        }
        if distinct.len() > self.policy.max_values {
            return Err(Error::Refused(format!(
                "{} values, more than the {} one action may carry",
                distinct.len(),
                self.policy.max_values
            )));
        }
        let mut refused = Vec::new();
        let mut urls: Vec<String> = Vec::new();
        let mut ips: Vec<String> = Vec::new();
        let ip_group = req
            .ip_group
            .clone()
            .or_else(|| self.policy.ip_group.clone());
        for raw in distinct {
            let v = match Value::parse(raw) {
                Ok(v) => v,
                Err(reason) => {
                    refused.push(Refusal {
                        value: raw.into(),
                        reason,
                    });
                    continue;
                }
            };
            if req.op == Op::Block {
                if let Some(reason) = self.policy.allow.refuses(&v) {
                    refused.push(Refusal {
                        value: raw.into(),
                        reason,
                    });
                    continue;
                }
            }
            if v.is_ipv6() {
                refused.push(Refusal {
                    value: raw.into(),
                    reason: "an IPv6 address: ZIA keeps those in IPv6 destination groups, which ziaxdr does not change".into(),
                });
                continue;
            }
            match v.kind {
                ValueKind::Url if !urls.contains(&v.text) => urls.push(v.text),
                ValueKind::Ip if ip_group.is_none() => refused.push(Refusal {
                    value: raw.into(),
                    reason: "an IP, and no IP destination group is configured".into(),
                }),
                ValueKind::Ip if !ips.contains(&v.text) => ips.push(v.text),
                _ => {}
            }
        }
        let category = req
            .category
            .clone()
            .unwrap_or_else(|| self.policy.category.clone());
        let mut out = Outcome {
            op: req.op,
            dry_run: req.dry_run,
            category: (!urls.is_empty()).then(|| category.clone()),
            ip_group: (!ips.is_empty()).then(|| ip_group.clone().unwrap_or_default()),
            changed: Vec::new(),
            unchanged: Vec::new(),
            refused,
            activation: None,
        };
        if !urls.is_empty() {
            self.change_category(req, &category, &urls, &mut out)?;
        }
        if !ips.is_empty() {
            let group = ip_group.unwrap_or_default();
            self.change_ip_group(req, &group, &ips, &mut out)?;
        }
        let activate = req.activate.unwrap_or(self.policy.activate);
        if !req.dry_run && activate && !out.changed.is_empty() {
            out.activation = Some(self.activate_now()?);
        }
        Ok(out)
    }

    fn change_category(
        &self,
        req: &Request,
        name: &str,
        urls: &[String],
        out: &mut Outcome,
    ) -> Result<(), Error> {
        let cat = self.category(name)?;
        let present: BTreeSet<String> = strings(cat.get("urls"))
            .into_iter()
            .map(|u| u.to_ascii_lowercase())
            .collect();
        let (change, same): (Vec<String>, Vec<String>) = urls
            .iter()
            .cloned()
            .partition(|u| present.contains(u) != (req.op == Op::Block));
        out.unchanged.extend(same);
        if change.is_empty() {
            return Ok(());
        }
        if !req.dry_run {
            let id = match cat.get("id") {
                Some(Json::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => return Err(Error::Protocol("URL category without an id".into())),
            };
            let mut body = json!({
                "id": id,
                "configuredName": cat.get("configuredName").cloned().unwrap_or(Json::Null),
                "customCategory": true,
                "urls": change,
            });
            if let Some(s) = cat.get("superCategory") {
                body["superCategory"] = s.clone();
            }
            let action = match req.op {
                Op::Block => "ADD_TO_LIST",
                Op::Unblock => "REMOVE_FROM_LIST",
            };
            self.client.call(
                "PUT",
                &format!("/urlCategories/{}", path_segment(&id)),
                &[("action", action)],
                Some(&body),
            )?;
        }
        out.changed.extend(change);
        Ok(())
    }

    fn change_ip_group(
        &self,
        req: &Request,
        name: &str,
        ips: &[String],
        out: &mut Outcome,
    ) -> Result<(), Error> {
        let mut group = self.ip_group(name)?;
        if let Some(t) = group.get("type").and_then(|t| t.as_str()) {
            if t != "DSTN_IP" {
                return Err(Error::Config(format!(
                    "IP destination group {name:?} is of type {t}, not DSTN_IP"
                )));
            }
        }
        let addresses = strings(group.get("addresses"));
        let (change, same): (Vec<String>, Vec<String>) = ips
            .iter()
            .cloned()
            .partition(|ip| addresses.contains(ip) != (req.op == Op::Block));
        out.unchanged.extend(same);
        if change.is_empty() {
            return Ok(());
        }
        if !req.dry_run {
            let new: Vec<String> = match req.op {
                Op::Block => addresses.iter().chain(change.iter()).cloned().collect(),
                Op::Unblock => addresses
                    .into_iter()
                    .filter(|a| !change.contains(a))
                    .collect(),
            };
            let id = group
                .get("id")
                .map(|i| match i {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .ok_or_else(|| Error::Protocol("IP group without an id".into()))?;
            group["addresses"] = json!(new);
            self.client.call(
                "PUT",
                &format!("/ipDestinationGroups/{}", path_segment(&id)),
                &[],
                Some(&group),
            )?;
        }
        out.changed.extend(change);
        Ok(())
    }
}
