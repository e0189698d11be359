//! Records of the ZIA log types that have no configurable NSS feed format, so no recommended
//! format in the `nss` crate to render through: NSS feed-health alerts (a fixed syslog line),
//! sandbox verdicts and SaaS Security records of each `sourcesubtype` (the nested `v1` JSON
//! templates the SIEM integrations publish). [`ExtraGenerator`] draws them seeded, like
//! [`crate::Generator`] does for the feed types.

use std::fmt::Write as _;

use nss::render::DateParts;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::pools::{DEPARTMENTS, DOMAINS, FILE_NAMES, FIRST, LAST};

/// A log type [`ExtraGenerator`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtraKind {
    /// An NSS feed-health alert: `<114>Mon DD HH:MM:SS [NSS] ZscalerNSS: … lost …`.
    NssAlert,
    /// A sandbox verdict (`zscalernss-sandbox_verdict`, nested `v1` template).
    SandboxVerdict,
    /// A SaaS Security record (`zscalernss-saas_security`) of one of [`SAAS_SUBTYPES`].
    SaasSubtype,
}

impl ExtraKind {
    /// Every kind.
    pub const ALL: [ExtraKind; 3] = [
        ExtraKind::NssAlert,
        ExtraKind::SandboxVerdict,
        ExtraKind::SaasSubtype,
    ];
}

/// The SaaS Security `sourcesubtype` values, one per application category.
pub const SAAS_SUBTYPES: &[&str] = &[
    "collaboration",
    "crm",
    "email",
    "file",
    "genai",
    "itsm",
    "public_cloud_storage",
    "repository",
];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const FEEDS: &[&str] = &["Web Feed", "Firewall Feed", "DNS Feed", "Tunnel Feed"];
const BAD_VERDICTS: &[&str] = &[
    "Malicious",
    "Suspicious",
    "Advance Threat Ransomware",
    "Sandbox Offensive Security Tools",
];
const THREATS: &[&str] = &[
    "Win32.Ransom.Demo",
    "Win64.Stealer.Demo",
    "JS.Downloader.Demo",
];
const SAAS_APPS: &[(&str, &str)] = &[
    ("collaboration", "Slack"),
    ("crm", "Salesforce"),
    ("email", "Exchange"),
    ("file", "OneDrive"),
    ("genai", "ChatGPT"),
    ("itsm", "ServiceNow"),
    ("public_cloud_storage", "Amazon S3"),
    ("repository", "GitHub"),
];

/// Generates the records of [`ExtraKind`], seeded.
pub struct ExtraGenerator {
    rng: SmallRng,
    malicious: f64,
    next_id: u64,
}

impl ExtraGenerator {
    /// A generator drawing from `seed`; `malicious` (clamped to 0-1) is the share of
    /// records showing a finding (a non-benign verdict, a DLP incident).
    pub fn new(seed: u64, malicious: f64) -> ExtraGenerator {
        ExtraGenerator {
            rng: SmallRng::seed_from_u64(seed),
            malicious: if malicious.is_nan() {
                0.0
            } else {
                malicious.clamp(0.0, 1.0)
            },
            next_id: 7_300_000_000_000_000_000 + seed % 1_000_000 * 1_000_000,
        }
    }

    /// Appends one record of `kind` at `epoch` (seconds) to `out`, without a line end.
    pub fn next(&mut self, kind: ExtraKind, epoch: i64, out: &mut String) {
        self.next_id += 1;
        let d = DateParts::from_epoch(epoch);
        match kind {
            ExtraKind::NssAlert => self.alert(&d, out),
            ExtraKind::SandboxVerdict => self.verdict(&d, out),
            ExtraKind::SaasSubtype => self.saas(epoch, out),
        }
    }

    fn user(&mut self) -> String {
        let f = FIRST.choose(&mut self.rng).copied().unwrap_or("user");
        let l = LAST.choose(&mut self.rng).copied().unwrap_or("user");
        let d = DOMAINS
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("example.org");
        format!("{f}.{l}@{d}")
    }

    fn md5(&mut self) -> String {
        format!(
            "{:016x}{:016x}",
            self.rng.random::<u64>(),
            self.rng.random::<u64>()
        )
    }

    fn alert(&mut self, d: &DateParts, out: &mut String) {
        let nss = format!("10.20.0.{}", self.rng.random_range(2..250));
        let _ = write!(
            out,
            "<114>{} {:2} {:02}:{:02}:{:02} [{nss}] ZscalerNSS: ",
            MONTHS[usize::from(d.month.clamp(1, 12)) - 1],
            d.day,
            d.hour,
            d.minute,
            d.second
        );
        let minutes = self.rng.random_range(5..3000);
        let port = [514u16, 9010, 9011, 9012]
            .choose(&mut self.rng)
            .copied()
            .unwrap_or(514);
        let to = format!("192.0.2.{}:{port}", self.rng.random_range(1..250));
        if self.rng.random_bool(0.25) {
            // The NSS lost its own link to the Zscaler cloud: two spaces before the address,
            // as the NSS writes this message.
            let _ = write!(
                out,
                "Zscaler cloud configuration connection to  {to} lost and unavailable for the past {minutes}.00 minutes"
            );
        } else {
            let feed = FEEDS.choose(&mut self.rng).copied().unwrap_or("Web Feed");
            let _ = write!(
                out,
                "SIEM Feed connection \"{feed}\" to {to} lost and unavailable for the past {minutes}.00 minutes"
            );
        }
    }

    fn ctime(d: &DateParts) -> String {
        format!(
            "{} {} {:2} {:02}:{:02}:{:02} {}",
            DAYS[usize::from(d.weekday) % 7],
            MONTHS[usize::from(d.month.clamp(1, 12)) - 1],
            d.day,
            d.hour,
            d.minute,
            d.second,
            d.year
        )
    }

    fn verdict(&mut self, d: &DateParts, out: &mut String) {
        let bad = self.rng.random_bool(self.malicious);
        let t = Self::ctime(d);
        let (verdict, threat, tactic, technique) = if bad {
            (
                BAD_VERDICTS
                    .choose(&mut self.rng)
                    .copied()
                    .unwrap_or("Malicious"),
                THREATS
                    .choose(&mut self.rng)
                    .copied()
                    .unwrap_or("Win32.Demo"),
                "TAC007|TAC011",
                "T1555|T1041.001",
            )
        } else {
            ("Benign", "None", "None", "None")
        };
        let md5 = self.md5();
        let sha = format!("{}{}", self.md5(), self.md5());
        let children = if bad {
            format!("{}|{}", self.md5(), self.md5())
        } else {
            "Null".to_owned()
        };
        let ext = ["exe", "dll", "pdf", "js"]
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("exe");
        let _ = write!(
            out,
            r#"{{"version":"v1","sourcetype":"zscalernss-sandbox_verdict","time":"{t}","tz":"GMT","event_time":"{t}","record_id":"{}","company":{{"name":"Example Corp"}},"verdict":"{verdict}","threat":{{"indicator":{{"name":"{threat}"}},"tactic":{{"id":"{tactic}"}},"technique":{{"id":"{technique}"}}}},"file":{{"extension":"{ext}","hash":{{"md5":"{md5}","sha256":"{sha}","children_md5":"{children}"}}}}}}"#,
            self.next_id
        );
    }

    fn saas(&mut self, epoch: i64, out: &mut String) {
        let (subtype, app) = SAAS_APPS
            .choose(&mut self.rng)
            .copied()
            .unwrap_or(("file", "OneDrive"));
        let user = self.user();
        let dept = DEPARTMENTS
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("Sales");
        let incident = self.rng.random_bool(self.malicious);
        let (severity, rule, dicts, counts) = if incident {
            (
                "High",
                "DLP-Rule-1",
                "Credit Cards|Social Security Numbers",
                "3|1",
            )
        } else {
            ("Information", "None", "None", "None")
        };
        let _ = write!(
            out,
            r#"{{"version":"v1","sourcetype":"zscalernss-saas_security","sourcesubtype":"{subtype}","time":"{epoch}","tz":"GMT","record_id":"{}","severity":"{severity}","policy":"None","rule":{{"label":"{rule}","type":"OfflineCASBDLP"}},"company":{{"name":"Example Corp"}},"tenant":"example-tenant","department":"{dept}","application":{{"name":"{app}"}},"dlp":{{"dict_names":"{dicts}","dict_counts":"{counts}"}},"user_name":"{user}""#,
            self.next_id
        );
        let file = FILE_NAMES
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("file.pdf");
        let md5 = self.md5();
        let other = self.user();
        match subtype {
            "email" => {
                let _ = write!(
                    out,
                    r#","message_id":"<{}@mail.example.com>","email":{{"is_inbound":"No","internal_recipients":"{other}","external_recipients":"None","attachments":{{"file_names":"{file}","md5s":"{md5}","file_sizes":"{}"}}}}"#,
                    self.next_id,
                    self.rng.random_range(100..100_000)
                );
            }
            "collaboration" => {
                let _ = write!(
                    out,
                    r#","collaboration":{{"channel":{{"name":"general"}},"internal_recipients":"{other}","external_recipients":"None","sender":"{user}"}}"#
                );
            }
            "genai" => {
                let _ = write!(
                    out,
                    r#","component":"Message","genai":{{"bot_name":"PREDEFINED_GPT","run_id":"{}","sender_type":"User"}}"#,
                    self.rng.random_range(1..1000)
                );
            }
            "crm" | "itsm" => {
                let _ = write!(
                    out,
                    r#","object":{{"name":"Record {}","type":"task"}},"file":{{"name":"{file}","hash":{{"md5":"{md5}"}}}}"#,
                    self.rng.random_range(1..10_000)
                );
            }
            _ => {
                let _ = write!(
                    out,
                    r#","hostname":"example-tenant.example.com","file":{{"owner":"{user}","name":"{file}","directory":"/Shared%20Documents","size":"{}","hash":{{"md5":"{md5}"}},"full_url":"https://example-tenant.example.com/v/{}"}}"#,
                    self.rng.random_range(100..10_000_000),
                    self.next_id
                );
            }
        }
        out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(kind: ExtraKind, n: usize) -> Vec<String> {
        let mut g = ExtraGenerator::new(3, 0.5);
        (0..n)
            .map(|i| {
                let mut s = String::new();
                g.next(kind, 1_700_000_000 + i as i64 * 61, &mut s);
                s
            })
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_records() {
        for k in ExtraKind::ALL {
            assert_eq!(lines(k, 20), lines(k, 20));
        }
    }

    #[test]
    fn json_kinds_render_valid_json() {
        for k in [ExtraKind::SandboxVerdict, ExtraKind::SaasSubtype] {
            for l in lines(k, 200) {
                serde_json::from_str::<serde_json::Value>(&l)
                    .unwrap_or_else(|e| panic!("{e}: {l}"));
            }
        }
    }

    #[test]
    fn every_saas_subtype_is_drawn() {
        let all = lines(ExtraKind::SaasSubtype, 400).join("\n");
        for st in SAAS_SUBTYPES {
            assert!(all.contains(&format!(r#""sourcesubtype":"{st}""#)), "{st}");
        }
    }

    #[test]
    fn an_alert_line_is_a_syslog_line_without_year() {
        for l in lines(ExtraKind::NssAlert, 50) {
            assert!(l.starts_with("<114>"), "{l}");
            assert!(l.contains("] ZscalerNSS: "), "{l}");
        }
    }
}
