//! Response in Zscaler for alerts: which indicator values an alert offers to block, and the
//! block/unblock of those values through [`ziaapi::Responder`] with the result in the
//! alert's timeline. Used by the console's "Block in Zscaler" button (through
//! [`crate::api::handle_zia`]) and by the playbooks' `zia_block` / `zia_unblock` steps.

use ziaapi::{Op, Outcome, Request, Responder};

use crate::alerts::{Alert, AlertStore};
use crate::detector::RuleType;
use crate::Error;

/// Timeline kind of response entries.
pub const HISTORY_KIND: &str = "zscaler";

/// The values an alert offers to block: a CTI alert's matched indicator value, else its
/// target (domain, else destination IP), and the queried name of a DNS event when it
/// differs.
pub fn alert_values(a: &Alert) -> Vec<String> {
    fn push(out: &mut Vec<String>, v: Option<&str>) {
        if let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(v)) {
                out.push(v.to_string());
            }
        }
    }
    let mut out: Vec<String> = Vec::new();
    if a.rule.kind == RuleType::Cti {
        push(&mut out, a.details.get("value").and_then(|v| v.as_str()));
    }
    if out.is_empty() {
        push(&mut out, a.target.as_deref());
        push(&mut out, a.dns_name.as_deref());
    }
    out
}

/// Blocks or unblocks `values` (default: [`alert_values`]) for an alert; unless it is a dry
/// run, the result (or the failure) goes into the alert's timeline.
#[allow(clippy::too_many_arguments)]
pub fn respond(
    store: &mut AlertStore,
    zia: &Responder,
    alert_id: &str,
    op: Op,
    values: Option<Vec<String>>,
    dry_run: bool,
    who: &str,
    via: &str,
) -> Result<Outcome, Error> {
    let alert = store.get(alert_id)?;
    let values = values.unwrap_or_else(|| alert_values(&alert));
    let req = Request {
        dry_run,
        alert: Some(alert.short_id.clone()),
        ..Request::new(op, values, who, via)
    };
    let result = zia.run(&req);
    if !dry_run {
        let message = match &result {
            Ok(o) => o.summary(),
            Err(e) => format!("{} in Zscaler failed: {e}", op.as_str()),
        };
        store.note(&alert.uuid, HISTORY_KIND, &message, who)?;
    }
    Ok(result?)
}
