//! The mappings of the log types added after the first six: Endpoint DLP, Email DLP, NSS
//! feed-health alerts, sandbox verdicts, and the per-application-category fields of SaaS
//! Security records (`sourcesubtype`). The table is in `docs/zia-mapping.md`.

use serde_json::{json, Map, Value};

use super::{Mapper, K};
use crate::ecs::p;
use crate::enrich::{self, decode_human, is_placeholder};

/// Splits a `|`-separated list, keeping every slot so that lists which describe the same
/// items position by position stay aligned: an empty or placeholder slot becomes `""`.
pub(super) fn split_list(v: &str) -> Vec<String> {
    v.split('|')
        .map(|s| {
            let s = s.trim();
            if is_placeholder(s) {
                String::new()
            } else {
                s.to_owned()
            }
        })
        .collect()
}

/// True for the keys (last path segment) whose values are `|`-separated lists.
pub(super) fn is_list_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    [
        "names",
        "recipients",
        "recipient_domains",
        "groups",
        "counts",
        "cnts",
        "rcpts",
        "md5s",
        "sizes",
        "types",
        "subtypes",
        "labels",
        "obfuscated",
    ]
    .iter()
    .any(|s| last.ends_with(s))
}

/// A severity name as a number for `event.severity`: Information 1, Low 2, Medium 3, High 4,
/// Critical 5.
fn severity_level(s: &str) -> Option<i64> {
    let l = s.to_ascii_lowercase();
    if l.starts_with("crit") {
        Some(5)
    } else if l.starts_with("high") {
        Some(4)
    } else if l.starts_with("med") {
        Some(3)
    } else if l.starts_with("low") {
        Some(2)
    } else if l.starts_with("info") {
        Some(1)
    } else {
        None
    }
}

/// True for an ATT&CK id of the given prefix (`TA0001`, `T1059`, `T1059.001`).
fn is_attack_id(s: &str, prefix: &str) -> bool {
    // Zscaler's sandbox verdicts number tactics its own way (`TAC028`): an id all the same.
    if prefix == "TA" {
        if let Some(n) = s.strip_prefix("TAC") {
            return (2..=4).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit());
        }
    }
    let Some(rest) = s.strip_prefix(prefix) else {
        return false;
    };
    let (main, sub) = rest.split_once('.').unwrap_or((rest, ""));
    main.len() == 4
        && main.bytes().all(|b| b.is_ascii_digit())
        && (sub.is_empty() || (sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit())))
}

fn nonempty(list: &[String]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().filter(|s| !s.is_empty()).cloned().collect();
    v.dedup();
    v
}

impl Mapper<'_, '_> {
    /// The `|`-separated list of `k`, slots kept; `None` when absent or every slot is empty.
    fn list(&mut self, k: K) -> Option<Vec<String>> {
        let v = self.f.take(k)?;
        let l = split_list(v);
        l.iter().any(|s| !s.is_empty()).then_some(l)
    }

    /// A user as ECS wants it: the name always, the e-mail address when it is one.
    fn user_name_or_email(&mut self) {
        if let Some(u) = self.f.take(K::User) {
            let u = decode_human(u).into_owned();
            if u.contains('@') {
                self.ev.s(p!("user.email"), u.as_str());
            }
            self.ev.s(p!("user.name"), u);
        }
    }

    fn severity(&mut self) {
        if let Some(s) = self.list(K::Severity) {
            let level = s.iter().filter_map(|s| severity_level(s)).max();
            if let Some(n) = level {
                self.ev.n(p!("event.severity"), n);
            }
            if s.len() == 1 {
                self.ev.s(p!("zscaler.zia.severity"), s[0].as_str());
            } else {
                self.ev.set(p!("zscaler.zia.severity"), Value::from(s));
            }
        }
    }

    /// The DLP dictionaries, their hit counts and engines, as aligned arrays.
    fn dlp(&mut self) {
        if let Some(d) = self.list(K::DlpDictNames) {
            self.ev
                .set(p!("zscaler.zia.dlp.dictionaries"), Value::from(d));
        }
        if let Some(c) = self.list(K::DlpDictCounts) {
            let counts: Vec<Value> = c
                .iter()
                .map(|n| n.parse::<i64>().map_or(Value::Null, Value::from))
                .collect();
            self.ev
                .set(p!("zscaler.zia.dlp.dictionary_hits"), Value::from(counts));
        }
        if let Some(e) = self.list(K::DlpEngineNames) {
            self.ev.set(p!("zscaler.zia.dlp.engines"), Value::from(e));
        }
        if let Some(id) = self.f.take(K::DlpIdentifier) {
            if id.trim() != "0" {
                self.ev.s(p!("zscaler.zia.dlp.identifier"), id);
            }
        }
    }

    /// `event.action` from an action, and the `event.type` and outcome it implies.
    fn dlp_action(&mut self, action: &str) {
        let a = action.to_ascii_lowercase();
        let blocked = a.contains("block") || a.contains("quarantine") || a.contains("deny");
        let ty = if blocked { "denied" } else { "allowed" };
        self.ev.set(p!("event.type"), json!(["info", ty]));
        self.ev.s(p!("event.action"), a);
    }

    /// The ECS fields of the 2024-2026 additions to the web, firewall and DNS feeds: source
    /// and destination country, page risk / threat score, client TLS version, cipher and ALPN.
    /// The records' own keys (`is_src_cntry_risky`, `client_tls_keyex_pqc_offers`,
    /// `threat_severity`, `dnatrulelabel`, `dnsgw_flags`, …) also stay under `zscaler.zia.*`.
    pub(super) fn recent_fields(&mut self) {
        if let Some(c) = self.f.peek(K::SrcCountry) {
            self.ev.s(p!("source.geo.country_name"), decode_human(c));
        }
        if !self.ev.has(p!("destination.geo.country_name")) {
            if let Some(c) = self.f.peek(K::DestCountry) {
                self.ev
                    .s(p!("destination.geo.country_name"), decode_human(c));
            }
        }
        if let Some(r) = self.f.peek(K::RiskScore) {
            if let Ok(n) = r.trim().parse::<f64>() {
                self.ev.set(p!("event.risk_score"), Value::from(n));
            }
        }
        if let Some(v) = self.f.peek(K::ClientTlsVersion) {
            if let Some((proto, ver)) = tls_version(v) {
                self.ev.s(p!("tls.version_protocol"), proto);
                self.ev.s(p!("tls.version"), ver);
            }
        }
        if let Some(c) = self.f.peek(K::ClientCipher) {
            self.ev.s(p!("tls.cipher"), c);
        }
        if let Some(a) = self.f.peek(K::Alpn) {
            self.ev.s(p!("tls.next_protocol"), a.to_ascii_lowercase());
        }
    }

    pub(super) fn edlp(&mut self) {
        self.lists = true;
        self.ev.s(p!("event.kind"), "alert");
        self.ev
            .set(p!("event.category"), json!(["intrusion_detection"]));
        self.ev.set(p!("event.type"), json!(["info"]));
        if let Some(a) = self
            .f
            .take(K::ActionTaken)
            .or_else(|| self.f.take(K::Action))
        {
            self.dlp_action(a);
        }
        if let Some(t) = self.f.take(K::EventTime) {
            match enrich::normalize_time(t) {
                // The endpoint's own time of the activity: the log time only when it is absent.
                Some(t) if !self.ev.has(p!("@timestamp")) => self.ev.s(p!("@timestamp"), t),
                Some(t) => self.ev.s(p!("event.start"), t),
                None => self.warn_raw(K::EventTime, t, "unrecognised time"),
            }
        }
        self.user_name_or_email();
        self.human(K::DeviceHost, p!("host.name"));
        self.human(K::DeviceName, p!("host.hostname"));
        if let Some(t) = self.f.take(K::DeviceOsType) {
            let l = t.to_ascii_lowercase();
            let ty = match l.as_str() {
                "windows" | "win" => Some("windows"),
                "mac" | "macos" | "osx" => Some("macos"),
                "linux" => Some("linux"),
                "ios" => Some("ios"),
                "android" => Some("android"),
                _ => None,
            };
            if let Some(ty) = ty {
                self.ev.s(p!("host.os.type"), ty);
            }
            self.ev.s(p!("host.os.name"), t);
        }
        self.str(K::DeviceOsVersion, p!("host.os.version"));
        self.str(K::DevicePlatform, p!("host.os.platform"));
        self.str(K::DeviceModel, p!("device.model.identifier"));
        self.human(K::Department, p!("zscaler.zia.department"));
        self.human(K::FileName, p!("file.name"));
        self.human(K::FileDstPath, p!("file.path"));
        self.str(K::Md5, p!("file.hash.md5"));
        self.str(K::Sha256, p!("file.hash.sha256"));
        self.int(K::FileSize, p!("file.size"));
        self.human(K::RuleLabel, p!("rule.name"));
        self.severity();
        self.dlp();
    }

    pub(super) fn email_dlp(&mut self) {
        self.lists = true;
        self.ev.s(p!("event.kind"), "alert");
        self.ev.set(p!("event.category"), json!(["email"]));
        self.ev.set(p!("event.type"), json!(["info"]));
        if let Some(t) = self.f.take(K::MailSentTime) {
            match enrich::normalize_time(t) {
                Some(t) if !self.ev.has(p!("@timestamp")) => {
                    self.ev.s(p!("@timestamp"), t.as_str());
                    self.ev.s(p!("email.origination_timestamp"), t);
                }
                Some(t) => self.ev.s(p!("email.origination_timestamp"), t),
                None => self.warn_raw(K::MailSentTime, t, "unrecognised time"),
            }
        }
        self.user_name_or_email();
        self.human(K::Department, p!("zscaler.zia.department"));
        self.str(K::Company, p!("organization.name"));
        self.str(K::NwApp, p!("network.application"));
        if let Some(s) = self.f.take(K::Sender) {
            let s = decode_human(s).into_owned();
            self.ev.set(p!("email.from.address"), json!([s]));
        }
        self.human(K::Subject, p!("email.subject"));
        self.str(K::MessageId, p!("email.message_id"));
        let triggered = self.list(K::TriggeredRcpts);
        let other = self.list(K::OtherRcpts);
        let mut to: Vec<String> = Vec::new();
        for l in [&triggered, &other].into_iter().flatten() {
            to.extend(nonempty(l));
        }
        to.sort();
        to.dedup();
        if !to.is_empty() {
            self.ev.set(p!("email.to.address"), Value::from(to));
        }
        if let Some(t) = triggered {
            self.ev.set(
                p!("zscaler.zia.email_dlp.triggered_recipients"),
                Value::from(t),
            );
        }
        if let Some(o) = other {
            self.ev
                .set(p!("zscaler.zia.email_dlp.other_recipients"), Value::from(o));
        }
        let actions = self.list(K::Actions).or_else(|| self.list(K::Action));
        if let Some(a) = &actions {
            let any_block = a.iter().find(|x| x.to_ascii_lowercase().contains("block"));
            let first = a.iter().find(|x| !x.is_empty());
            if let Some(act) = any_block.or(first).cloned() {
                self.dlp_action(&act);
            }
            self.ev
                .set(p!("zscaler.zia.email_dlp.actions"), Value::from(a.clone()));
        }
        if let Some(r) = self.list(K::RuleLabel) {
            self.ev.set(p!("rule.name"), Value::from(nonempty(&r)));
            self.ev
                .set(p!("zscaler.zia.email_dlp.rules"), Value::from(r));
        }
        self.severity();
        self.dlp();
        self.attachments();
    }

    /// `email.attachments`: one object per slot of the attachment lists, aligned by position
    /// (an empty slot leaves its field out, never shifts the others).
    fn attachments(&mut self) {
        let names = self.list(K::AttNames);
        let md5s = self.list(K::AttMd5s);
        let sizes = self.list(K::AttSizes);
        let types = self.list(K::AttTypes);
        let docs = self.list(K::AttDocTypes);
        let n = [&names, &md5s, &sizes, &types, &docs]
            .iter()
            .filter_map(|l| l.as_ref().map(Vec::len))
            .max()
            .unwrap_or(0);
        if n == 0 {
            return;
        }
        let at = |l: &Option<Vec<String>>, i: usize| -> Option<String> {
            l.as_ref()
                .and_then(|l| l.get(i))
                .filter(|s| !s.is_empty())
                .cloned()
        };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let mut file = Map::new();
            if let Some(v) = at(&names, i) {
                file.insert("name".into(), Value::from(decode_human(&v).into_owned()));
            }
            if let Some(v) = at(&md5s, i) {
                self.related_hashes.push(v.clone());
                file.insert("hash".into(), json!({ "md5": v }));
            }
            if let Some(v) = at(&sizes, i) {
                match v.parse::<i64>() {
                    Ok(n) => file.insert("size".into(), Value::from(n)),
                    Err(_) => file.insert("size".into(), Value::from(v)),
                };
            }
            if let Some(v) = at(&types, i) {
                file.insert("extension".into(), Value::from(v));
            }
            out.push(json!({ "file": file }));
        }
        self.ev.set(p!("email.attachments"), Value::from(out));
        if let Some(d) = docs {
            self.ev.set(
                p!("zscaler.zia.email_dlp.attachment_doc_types"),
                Value::from(d),
            );
        }
    }

    pub(super) fn nss_alert(&mut self) {
        self.ev.s(p!("event.kind"), "alert");
        self.ev.set(p!("event.category"), json!(["network"]));
        self.ev
            .set(p!("event.type"), json!(["connection", "error"]));
        self.human(K::AlertHost, p!("observer.hostname"));
        if let Some(h) = self.ev.get_str(p!("observer.hostname")) {
            if let Ok(ip) = h.parse::<std::net::IpAddr>() {
                let ip = ip.to_string();
                self.ev.s(p!("observer.ip"), ip);
            }
        }
        let Some(msg) = self.f.take(K::Message) else {
            return;
        };
        self.ev.s(p!("message"), msg);
        let a = enrich::nss_alert(msg);
        match a.lost_minutes {
            Some(min) => {
                self.ev.s(p!("event.action"), "nss-connection-lost");
                self.ev.s(p!("event.outcome"), "failure");
                self.ev
                    .set(p!("zscaler.zia.nss_alert.lost_minutes"), Value::from(min));
                // ECS durations are nanoseconds.
                self.ev
                    .n(p!("event.duration"), (min * 60.0 * 1e9).round() as i64);
            }
            None => self.ev.s(p!("event.action"), "nss-alert"),
        }
        if let Some(c) = a.connection {
            self.ev.s(p!("zscaler.zia.nss_alert.connection"), c);
        }
        if let Some(f) = a.feed {
            self.ev.s(p!("zscaler.zia.nss_alert.feed"), f);
        }
        if let Some(ip) = a.ip {
            self.ev.s(p!("destination.ip"), ip);
        }
        if let Some(port) = a.port {
            self.ev.n(p!("destination.port"), port.into());
        }
    }

    pub(super) fn sandbox(&mut self) {
        self.ev.set(p!("event.category"), json!(["malware"]));
        self.ev.set(p!("event.type"), json!(["info"]));
        let verdict = self
            .f
            .take(K::Verdict)
            .map(|v| v.trim().to_ascii_uppercase());
        let category = self.f.take(K::SandboxCategory);
        if let Some(c) = category {
            self.ev.s(p!("zscaler.zia.sandbox.category"), c);
        }
        let verdict = verdict.or_else(|| category.map(|c| c.trim().to_ascii_uppercase()));
        if let Some(v) = verdict {
            // The verdict feed names its classes ("Advance Threat Ransomware", "Sandbox
            // Offensive Security Tools", "Threat Category"): anything but a benign or empty
            // verdict is a finding.
            let bad = !matches!(v.as_str(), "BENIGN" | "CLEAN" | "NONE" | "UNKNOWN" | "NULL");
            self.ev
                .s(p!("event.kind"), if bad { "alert" } else { "event" });
            self.ev.s(p!("zscaler.zia.sandbox.verdict"), v.as_str());
            self.ev.s(p!("event.action"), v.to_ascii_lowercase());
        }
        if let Some(sc) = self.f.take(K::Score) {
            match sc.trim().parse::<f64>() {
                Ok(n) => {
                    self.ev.set(p!("event.risk_score"), Value::from(n));
                    self.ev.set(p!("zscaler.zia.sandbox.score"), Value::from(n));
                }
                Err(_) => self.warn_raw(K::Score, sc, "not a number"),
            }
        }
        self.threat();
        if let Some(n) = self.ev.get_str(p!("zscaler.zia.threat.name")) {
            let n = n.to_owned();
            self.ev.s(p!("threat.software.name"), n);
        }
        self.human(K::FileName, p!("file.name"));
        self.str(K::FileExtension, p!("file.extension"));
        self.str(K::FileType, p!("zscaler.zia.sandbox.file_type"));
        self.int(K::FileSize, p!("file.size"));
        self.str(K::Md5, p!("file.hash.md5"));
        self.str(K::Sha1, p!("file.hash.sha1"));
        self.str(K::Sha256, p!("file.hash.sha256"));
        let split = |v: &str| -> Vec<String> {
            v.split(['|', ','])
                .map(str::trim)
                // The verdict feed writes `Null` for a sample that dropped nothing.
                .filter(|s| !s.is_empty() && !is_placeholder(s) && !s.eq_ignore_ascii_case("null"))
                .map(str::to_owned)
                .collect()
        };
        let mut framework = false;
        if let Some(t) = self.f.take(K::Tactic) {
            let (ids, names): (Vec<String>, Vec<String>) =
                split(t).into_iter().partition(|s| is_attack_id(s, "TA"));
            framework |= !ids.is_empty() || !names.is_empty();
            if !ids.is_empty() {
                self.ev.set(p!("threat.tactic.id"), Value::from(ids));
            }
            if !names.is_empty() {
                self.ev.set(p!("threat.tactic.name"), Value::from(names));
            }
        }
        if let Some(t) = self.f.take(K::Technique) {
            let (ids, names): (Vec<String>, Vec<String>) =
                split(t).into_iter().partition(|s| is_attack_id(s, "T"));
            framework |= !ids.is_empty() || !names.is_empty();
            if !ids.is_empty() {
                self.ev.set(p!("threat.technique.id"), Value::from(ids));
            }
            if !names.is_empty() {
                self.ev.set(p!("threat.technique.name"), Value::from(names));
            }
        }
        if framework {
            self.ev.s(p!("threat.framework"), "MITRE ATT&CK");
        }
        if let Some(c) = self.f.take(K::ChildHashes) {
            let hashes = split(c);
            if !hashes.is_empty() {
                self.related_hashes.extend(hashes.iter().cloned());
                self.ev
                    .set(p!("zscaler.zia.sandbox.child_hashes"), Value::from(hashes));
            }
        }
        if let Some(u) = self.f.take(K::FullUrl) {
            self.url(u);
        }
        self.human(K::User, p!("user.email"));
        self.ip(K::ClientIp, p!("source.ip"));
    }

    /// The fields of a SaaS Security record that only some application categories have,
    /// chosen by its `sourcesubtype`.
    pub(super) fn saas_subtype(&mut self) {
        let Some(st) = self.f.take(K::SourceSubtype) else {
            return;
        };
        self.lists = true;
        let st = st.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        self.ev.s(p!("zscaler.zia.saas.subtype"), st.as_str());
        self.severity();
        self.dlp();
        self.int(K::FileSize, p!("file.size"));
        self.str(K::FileExtension, p!("file.extension"));
        self.human(K::FileOwner, p!("file.owner"));
        if let Some(h) = self.f.take(K::Host) {
            let h = decode_human(h);
            enrich::domain_parts(&mut self.ev, "destination", &h);
            self.ev.s(p!("destination.domain"), h);
        }
        match st.as_str() {
            "email" => {
                self.ev.set(p!("event.category"), json!(["email"]));
                self.str(K::MessageId, p!("email.message_id"));
                if let Some(s) = self.f.take(K::Sender) {
                    self.ev.set(p!("email.from.address"), json!([s]));
                }
                if let Some(i) = self.f.take(K::IsInbound) {
                    let dir = if i.eq_ignore_ascii_case("yes") || i == "1" || i == "true" {
                        "inbound"
                    } else {
                        "outbound"
                    };
                    self.ev.s(p!("email.direction"), dir);
                }
                self.attachments();
            }
            "file" | "public_cloud_storage" | "repository" | "collaboration" | "crm"
            | "itsm" | "genai" => {}
            other => self.warnings.push(format!(
                "sourcesubtype: unknown SaaS category {other:?}: its fields kept under zscaler.zia.*"
            )),
        }
    }
}

/// A ZIA TLS version (`TLS1_2`, `TLSv1.3`, `SSL3`) as ECS `tls.version_protocol` and
/// `tls.version` (`tls`, `1.2`).
fn tls_version(v: &str) -> Option<(&'static str, String)> {
    let l = v.trim().to_ascii_lowercase();
    let (proto, rest) = if let Some(r) = l.strip_prefix("tls") {
        ("tls", r)
    } else if let Some(r) = l.strip_prefix("ssl") {
        ("ssl", r)
    } else {
        return None;
    };
    let rest = rest.trim_start_matches(['v', ' ']).replace('_', ".");
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let ver = if rest.contains('.') {
        rest
    } else {
        format!("{rest}.0")
    };
    Some((proto, ver))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keep_empty_slots_aligned() {
        assert_eq!(split_list("a||None|b"), vec!["a", "", "", "b"]);
    }

    #[test]
    fn attack_ids_are_told_from_names() {
        assert!(is_attack_id("T1059.001", "T"));
        assert!(is_attack_id("TA0002", "TA"));
        assert!(!is_attack_id("Execution", "TA"));
        assert!(!is_attack_id("T10", "T"));
    }

    #[test]
    fn tls_versions_become_ecs() {
        assert_eq!(tls_version("TLS1_2"), Some(("tls", "1.2".into())));
        assert_eq!(tls_version("TLSv1.3"), Some(("tls", "1.3".into())));
        assert_eq!(tls_version("SSL3"), Some(("ssl", "3.0".into())));
        assert_eq!(tls_version("None"), None);
    }

    #[test]
    fn severities_are_ordered() {
        assert!(severity_level("High Severity") > severity_level("Medium"));
        assert_eq!(severity_level("whatever"), None);
    }
}
