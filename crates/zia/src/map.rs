//! Mapping of a decoded record to ECS, per sourcetype. The table it implements is written
//! out in `docs/zia-mapping.md`; keep both in step.

use std::net::IpAddr;

use serde_json::Value;

use crate::ecs::{p, Ev, Path};
use crate::enrich::{self, decode_human, is_placeholder};
use crate::keys::{COUNT, K};
use crate::record::{Record, Val};

/// The log types ZIA sends, by sourcetype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogType {
    /// `zscalernss-web`
    Web,
    /// `zscalernss-fw`
    Firewall,
    /// `zscalernss-dns`
    Dns,
    /// `zscalernss-tunnel`
    Tunnel,
    /// `zscalernss-audit`
    Audit,
    /// `zscalernss-casb` (SaaS Security and SaaS Security Activity)
    Casb,
    /// `zscalernss-edlp` (Endpoint DLP)
    Edlp,
    /// `zscalernss-emaildlp` (Email DLP)
    EmailDlp,
    /// NSS feed-health alerts: `ZscalerNSS:` syslog messages, which carry no sourcetype
    /// (`zscalernss-alert` stands for them).
    NssAlert,
    /// `zscalernss-sandbox` (sandbox verdicts; also spelt `zscalernss-sandbox_verdict`)
    Sandbox,
}

impl LogType {
    /// Every log type.
    pub const ALL: [LogType; 10] = [
        Self::Web,
        Self::Firewall,
        Self::Dns,
        Self::Tunnel,
        Self::Audit,
        Self::Casb,
        Self::Edlp,
        Self::EmailDlp,
        Self::NssAlert,
        Self::Sandbox,
    ];
}

impl LogType {
    /// The log type of a sourcetype string, if known. Case, `_` for `-` and the spellings of
    /// the newer templates (`zscalernss-saas_security`, `zscalernss-firewall`) are accepted.
    pub fn from_sourcetype(s: &str) -> Option<Self> {
        let s = s.trim();
        let folded = s.to_ascii_lowercase().replace('_', "-");
        let alias = match folded.as_str() {
            "zscalernss-firewall" => Some(Self::Firewall),
            "zscalernss-saas-security"
            | "zscalernss-saas-security-activity"
            | "zscalernss-saas"
            | "zscalernss-casb-activity" => Some(Self::Casb),
            "zscalernss-weblog" => Some(Self::Web),
            "zscalernss-admin-audit" => Some(Self::Audit),
            "zscalernss-sandbox-verdict" | "zscalernss-sandbox-report" => Some(Self::Sandbox),
            "zscalernss-endpoint-dlp" => Some(Self::Edlp),
            "zscalernss-email-dlp" => Some(Self::EmailDlp),
            _ => None,
        };
        if alias.is_some() {
            return alias;
        }
        let s = folded.as_str();
        Self::ALL
            .into_iter()
            .find(|t| t.sourcetype().eq_ignore_ascii_case(s))
    }

    /// The ECS `event.dataset` of this log type.
    pub fn dataset(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Firewall => "firewall",
            Self::Dns => "dns",
            Self::Tunnel => "tunnel",
            Self::Audit => "audit",
            Self::Casb => "casb",
            Self::Edlp => "endpoint_dlp",
            Self::EmailDlp => "email_dlp",
            Self::NssAlert => "nss_alert",
            Self::Sandbox => "sandbox",
        }
    }

    /// The canonical sourcetype string.
    pub fn sourcetype(self) -> &'static str {
        match self {
            Self::Web => "zscalernss-web",
            Self::Firewall => "zscalernss-fw",
            Self::Dns => "zscalernss-dns",
            Self::Tunnel => "zscalernss-tunnel",
            Self::Audit => "zscalernss-audit",
            Self::Casb => "zscalernss-casb",
            Self::Edlp => "zscalernss-edlp",
            Self::EmailDlp => "zscalernss-emaildlp",
            Self::NssAlert => "zscalernss-alert",
            Self::Sandbox => "zscalernss-sandbox",
        }
    }
}

/// A record's entries indexed by canonical key; tracks which entries the mapping consumed
/// so that every other one lands under `zscaler.zia.*`.
struct Fields<'r, 'a> {
    rec: &'r Record<'a>,
    slot: [u16; COUNT],
    used: Vec<bool>,
}

impl<'r, 'a> Fields<'r, 'a> {
    fn new(rec: &'r Record<'a>, canon: &[Option<(K, bool)>]) -> Self {
        let mut slot = [0u16; COUNT];
        let empty = |i: usize| matches!(&rec.entries[i].1, Val::Str(s) if is_placeholder(s));
        for (i, c) in canon.iter().enumerate().take(u16::MAX as usize - 1) {
            let Some((c, direct)) = *c else { continue };
            let s = &mut slot[c as usize];
            // The first entry of a key wins, except that a key named directly beats a variant
            // (`user` over `ouser`) and a value beats a placeholder before it.
            let take = match *s {
                0 => true,
                cur => {
                    let cur = cur as usize - 1;
                    let cur_direct = canon[cur].is_some_and(|(_, d)| d);
                    (direct && !cur_direct) || (empty(cur) && !empty(i))
                }
            };
            if take {
                *s = i as u16 + 1;
            }
        }
        Fields {
            rec,
            slot,
            used: vec![false; rec.entries.len()],
        }
    }

    fn index(&self, k: K) -> Option<usize> {
        match self.slot[k as usize] {
            0 => None,
            s => Some(s as usize - 1),
        }
    }

    /// The text of key `k`, or None when absent or a placeholder. Either way the entry is
    /// consumed.
    fn take(&mut self, k: K) -> Option<&'r str> {
        let i = self.index(k)?;
        self.used[i] = true;
        match &self.rec.entries[i].1 {
            // `NotFound` stands for no value too (device fields), except where it is the
            // value: a DNS response code.
            Val::Str(s) if s == "NotFound" && k != K::DnsResp => None,
            Val::Str(s) if !is_placeholder(s) => Some(s.as_ref()),
            _ => None,
        }
    }

    /// The text of key `k` without consuming it: the entry also stays under `zscaler.zia.*`.
    fn peek(&self, k: K) -> Option<&'r str> {
        let i = self.index(k)?;
        match &self.rec.entries[i].1 {
            Val::Str(s) if !is_placeholder(s) => Some(s.as_ref()),
            _ => None,
        }
    }

    /// The original key name of `k` in this record.
    fn key(&self, k: K) -> Option<&'r str> {
        self.index(k).map(|i| self.rec.entries[i].0.as_ref())
    }

    fn has(&self, k: K) -> bool {
        self.index(k).is_some()
    }
}

mod extra;

struct Mapper<'r, 'a> {
    f: Fields<'r, 'a>,
    ev: Ev,
    warnings: Vec<String>,
    /// Hashes and users beyond the ECS fields `related()` reads (attachments, dropped files).
    related_hashes: Vec<String>,
    related_users: Vec<String>,
    /// True for log types whose unmapped `|`-separated lists are kept as arrays.
    lists: bool,
}

/// Result of mapping one record.
pub(crate) struct Mapped {
    pub event: crate::ecs::Ev,
    pub warnings: Vec<String>,
    pub log_type: Option<LogType>,
    pub record_id: Option<String>,
}

/// Where every input field the mapping does not consume is kept.
const ZIA: &Path = p!("zscaler.zia");

/// Maps a decoded record to an ECS event.
pub(crate) fn map(rec: &mut Record<'_>) -> Mapped {
    let canon = crate::variants::normalize(rec);
    let rec = &*rec;
    let mut m = Mapper {
        f: Fields::new(rec, &canon),
        ev: Ev::default(),
        warnings: Vec::new(),
        related_hashes: Vec::new(),
        related_users: Vec::new(),
        lists: false,
    };
    let declared = rec.sourcetype.as_deref().map(str::trim);
    let log_type = match declared {
        Some(st) => LogType::from_sourcetype(st),
        None => infer(&m.f),
    };
    match (declared, log_type) {
        (Some(st), None) => m.warnings.push(format!(
            "unknown sourcetype {st:?}: fields kept under zscaler.zia.*"
        )),
        (None, None) => m.warnings.push(
            "no sourcetype and no recognisable fields: fields kept under zscaler.zia.*".into(),
        ),
        _ => {}
    }

    if rec.repaired {
        m.warnings.push(
            "the record's JSON had unescaped quotes or backslashes and was repaired: use the e-variant fields of `ziaxdr nss formats`".into(),
        );
    }
    m.time();
    let record_id = m.f.take(K::RecordId).map(str::to_owned);
    if let Some(id) = &record_id {
        let key =
            m.f.key(K::RecordId)
                .unwrap_or("recordid")
                .to_ascii_lowercase();
        m.ev.set_under(ZIA, key, Value::String(id.clone()));
    }
    if let Some(lt) = log_type {
        m.ev.s(p!("event.kind"), "event");
        m.ev.s(p!("event.dataset"), lt.dataset());
        match lt {
            LogType::Web => m.web(),
            LogType::Firewall => m.firewall(),
            LogType::Dns => m.dns(),
            LogType::Tunnel => m.tunnel(),
            LogType::Audit => m.audit(),
            LogType::Casb => m.casb(),
            LogType::Edlp => m.edlp(),
            LogType::EmailDlp => m.email_dlp(),
            LogType::NssAlert => m.nss_alert(),
            LogType::Sandbox => m.sandbox(),
        }
    }
    m.ev.s(p!("observer.vendor"), "Zscaler");
    m.ev.s(p!("observer.product"), "Zscaler Internet Access");
    match (declared, log_type) {
        (_, Some(lt)) => m.ev.s(p!("zscaler.zia.source_type"), lt.sourcetype()),
        (Some(st), None) => m.ev.s(p!("zscaler.zia.source_type"), st),
        _ => {}
    }
    m.rest();
    m.related();
    Mapped {
        event: m.ev,
        warnings: m.warnings,
        log_type,
        // "0" is what audit feeds send for every record: not an id to deduplicate on.
        record_id: record_id.filter(|id| id != "0"),
    }
}

/// Guesses the log type of a record without sourcetype from keys only one type has.
fn infer(f: &Fields) -> Option<LogType> {
    if f.has(K::DnsQuery) {
        Some(LogType::Dns)
    } else if f.has(K::NwApp) && (f.has(K::InBytes) || f.has(K::ClientDstIp)) {
        Some(LogType::Firewall)
    } else if f.has(K::Url) || f.has(K::B64Url) || f.has(K::Host) {
        Some(LogType::Web)
    } else if f.has(K::AuditLogType) || f.has(K::AdminId) {
        Some(LogType::Audit)
    } else if f.has(K::TunnelType) {
        Some(LogType::Tunnel)
    } else if f.has(K::Verdict) || f.has(K::SandboxCategory) {
        Some(LogType::Sandbox)
    } else if f.has(K::TriggeredRcpts) || f.has(K::MailSentTime) {
        Some(LogType::EmailDlp)
    } else if f.has(K::ActionTaken) && f.has(K::Channel) {
        Some(LogType::Edlp)
    } else {
        None
    }
}

impl<'r> Mapper<'r, '_> {
    fn warn_raw(&mut self, k: K, v: &str, what: &str) {
        let key = self.f.key(k).unwrap_or("?").to_ascii_lowercase();
        self.warnings
            .push(format!("{key}: {what}: {v:?} kept under zscaler.zia.{key}"));
        self.ev.set_under(ZIA, key, Value::String(v.to_owned()));
    }

    fn str(&mut self, k: K, path: &'static Path) -> Option<&'r str> {
        let v = self.f.take(k)?;
        self.ev.s(path, v);
        Some(v)
    }

    /// A human-readable field: percent-decoded.
    fn human(&mut self, k: K, path: &'static Path) {
        if let Some(v) = self.f.take(k) {
            self.ev.s(path, decode_human(v));
        }
    }

    /// The action, lower-cased, as `event.action`, and the outcome it implies.
    fn action_and_outcome(&mut self) {
        let Some(a) = self.f.take(K::Action) else {
            return;
        };
        let a = a.to_lowercase();
        // `to_lowercase` leaves no ASCII upper case, so no second lower-casing is needed.
        let outcome = if a.starts_with("allow") {
            "success"
        } else if a.starts_with("block") || a.starts_with("drop") || a.contains("reject") {
            "failure"
        } else {
            "unknown"
        };
        self.ev.s(p!("event.action"), a);
        self.ev.s(p!("event.outcome"), outcome);
    }

    fn int(&mut self, k: K, path: &'static Path) -> Option<i64> {
        let v = self.f.take(k)?;
        match v.trim().parse::<i64>() {
            Ok(n) => {
                self.ev.n(path, n);
                Some(n)
            }
            Err(_) => {
                self.warn_raw(k, v, "not an integer");
                None
            }
        }
    }

    fn port(&mut self, k: K, path: &'static Path) -> Option<u16> {
        let v = self.f.take(k)?;
        match v.trim().parse::<u16>() {
            Ok(n) => {
                self.ev.n(path, n.into());
                Some(n)
            }
            Err(_) => {
                self.warn_raw(k, v, "not a port");
                None
            }
        }
    }

    /// An IP address in its canonical text form; a warning when it is not one.
    fn ip_text(&mut self, k: K) -> Option<String> {
        let v = self.f.take(k)?.trim();
        match v.parse::<IpAddr>() {
            // The IPv4 parser accepts only the canonical dotted quad (no leading zeros, no
            // other radix), so the text is already what `to_string` would print.
            Ok(IpAddr::V4(_)) => Some(v.to_owned()),
            Ok(ip) => Some(ip.to_string()),
            Err(_) => {
                self.warn_raw(k, v, "not an IP address");
                None
            }
        }
    }

    /// Sets `path` to the IP address of `k`; true when it was one.
    fn ip(&mut self, k: K, path: &'static Path) -> bool {
        match self.ip_text(k) {
            Some(s) => {
                self.ev.s(path, s);
                true
            }
            None => false,
        }
    }

    fn time(&mut self) {
        let mut offset = 0;
        if let Some(tz) = self.f.take(K::Tz) {
            self.ev.s(p!("event.timezone"), tz);
            match enrich::tz_offset(tz) {
                Some(o) => offset = o,
                None => self
                    .warnings
                    .push(format!("tz: unknown time zone {tz:?}: times taken as UTC")),
            }
        }
        if let Some(v) = self.f.take(K::Time) {
            match enrich::normalize_time_in(v, offset) {
                Some(t) => self.ev.s(p!("@timestamp"), t),
                None => self.warn_raw(K::Time, v, "unrecognised time"),
            }
        }
        if let Some(v) = self.f.take(K::EpochTime) {
            match enrich::epoch_to_rfc3339(v) {
                Some(t) if !self.ev.has(p!("@timestamp")) => self.ev.s(p!("@timestamp"), t),
                Some(_) => self.ev.s(p!("zscaler.zia.epochtime"), v),
                None => self.warn_raw(K::EpochTime, v, "unrecognised epoch time"),
            }
        }
    }

    fn event_kind(&mut self, category: &str, ty: &str) {
        let one = |s: &str| Value::Array(vec![Value::String(s.to_owned())]);
        self.ev.set(p!("event.category"), one(category));
        self.ev.set(p!("event.type"), one(ty));
    }

    fn user(&mut self) {
        self.human(K::User, p!("user.email"));
        self.human(K::DeviceOwner, p!("user.name"));
        self.human(K::DeviceHost, p!("host.name"));
    }

    fn threat(&mut self) {
        self.human(K::ThreatCategory, p!("zscaler.zia.threat.category"));
        self.human(K::ThreatClass, p!("zscaler.zia.threat.class"));
        self.human(K::ThreatName, p!("zscaler.zia.threat.name"));
    }

    /// A URL: `url.original` as sent, and its parts; never percent-decoded.
    fn url(&mut self, original: &str) {
        self.ev.s(p!("url.original"), original);
        let p = enrich::split_url(original);
        if let Some(s) = p.scheme {
            self.ev.s(p!("url.scheme"), s.to_ascii_lowercase());
            self.ev.s(p!("url.full"), original);
        }
        if let Some(h) = p.host {
            self.ev.s(p!("url.domain"), h);
            enrich::domain_parts(&mut self.ev, "url", h);
        }
        if let Some(port) = p.port {
            self.ev.n(p!("url.port"), port.into());
        }
        if let Some(path) = p.path {
            self.ev.s(p!("url.path"), path);
            if let Some(ext) = enrich::extension(path) {
                self.ev.s(p!("url.extension"), ext);
            }
        }
        if let Some(q) = p.query {
            self.ev.s(p!("url.query"), q);
        }
        if let Some(f) = p.fragment {
            self.ev.s(p!("url.fragment"), f);
        }
    }

    fn b64(&mut self, k: K) -> Option<String> {
        let v = self.f.take(k)?;
        match enrich::decode_b64(v) {
            Some(s) if !is_placeholder(&s) => Some(s),
            Some(_) => None,
            None => {
                self.warn_raw(k, v, "invalid base64");
                None
            }
        }
    }

    fn user_agent(&mut self) {
        let ua = match self.f.take(K::UserAgent) {
            Some(v) => Some(decode_human(v).into_owned()),
            None => self.b64(K::B64Ua),
        };
        let Some(ua) = ua else { return };
        if let Some(info) = enrich::parse_ua(&ua) {
            self.ev.s(p!("user_agent.name"), info.name);
            if let Some(v) = info.version {
                self.ev.s(p!("user_agent.version"), v);
            }
            self.ev.s(p!("user_agent.os.name"), info.os_name);
            if let Some(v) = info.os_version {
                self.ev.s(p!("user_agent.os.version"), v);
            }
            self.ev.s(p!("user_agent.device.name"), info.device);
        }
        self.ev.s(p!("user_agent.original"), ua);
    }

    fn web(&mut self) {
        self.event_kind("network", "info");
        self.action_and_outcome();
        self.str(K::Reason, p!("event.reason"));
        self.str(K::Protocol, p!("network.protocol"));
        self.int(K::ReqSize, p!("http.request.bytes"));
        self.int(K::RespSize, p!("http.response.bytes"));
        self.str(K::UrlCategory, p!("zscaler.zia.url_category"));
        // A blocked request never reached a server: ZIA then writes 0.0.0.0, which is no
        // destination (and would be the most frequent "IP" of every pivot).
        let server = self.ip_text(K::ServerIp);
        if let Some(ip) =
            server.filter(|ip| !ip.parse::<IpAddr>().is_ok_and(|a| a.is_unspecified()))
        {
            self.ev.s(p!("destination.ip"), ip.as_str());
            self.ev.s(p!("server.ip"), ip);
        }
        self.ip(K::ClientIp, p!("source.ip"));
        if !self.ev.has(p!("source.ip")) {
            self.ip(K::ClientIntIp, p!("source.ip"));
        }
        self.ip(K::ClientPubIp, p!("source.nat.ip"));
        self.port(K::ClientPort, p!("source.port"));
        self.str(K::Method, p!("http.request.method"));
        match self.f.take(K::Referer) {
            Some(r) => self.ev.s(p!("http.request.referrer"), r),
            None => {
                if let Some(r) = self.b64(K::B64Referer) {
                    self.ev.s(p!("http.request.referrer"), r);
                }
            }
        }
        self.user_agent();
        if let Some(s) = self.f.take(K::Status) {
            match s.trim().parse::<u16>() {
                Ok(code) if code > 0 => self.ev.n(p!("http.response.status_code"), code.into()),
                _ => self.warn_raw(K::Status, s, "not an HTTP status"),
            }
        }
        self.user();
        self.human(K::Location, p!("zscaler.zia.location"));
        self.human(K::Department, p!("zscaler.zia.department"));
        let url = match self.f.take(K::Url) {
            Some(u) => Some(u.to_owned()),
            None => self.b64(K::B64Url),
        };
        if let Some(u) = url {
            self.url(&u);
        }
        if let Some(h) = self.f.take(K::Host) {
            let h = decode_human(h);
            enrich::domain_parts(&mut self.ev, "destination", &h);
            self.ev.s(p!("destination.domain"), h);
        }
        self.threat();
        self.str(K::FileType, p!("file.type"));
        self.human(K::FileName, p!("file.name"));
        self.str(K::Md5, p!("file.hash.md5"));
        self.str(K::Sha256, p!("file.hash.sha256"));
        self.str(K::AppName, p!("zscaler.zia.appname"));
        self.str(K::ContentType, p!("http.response.mime_type"));
        self.human(K::RuleLabel, p!("rule.name"));
        self.str(K::RuleType, p!("rule.category"));
        self.str(K::Company, p!("organization.name"));
        self.recent_fields();
    }

    fn firewall(&mut self) {
        self.event_kind("network", "connection");
        self.action_and_outcome();
        self.user();
        self.human(K::Department, p!("zscaler.zia.department"));
        self.human(K::Location, p!("zscaler.zia.location"));
        self.ip(K::ClientIp, p!("source.ip"));
        self.port(K::ClientPort, p!("source.port"));
        // sdip/sdport are where the session really went; cdip/cdport what the client
        // asked for. They differ under DNAT; ECS destination is the real one.
        if !self.ip(K::ServerIp, p!("destination.ip")) {
            self.ip(K::ClientDstIp, p!("destination.ip"));
        }
        if self.port(K::ServerPort, p!("destination.port")).is_none() {
            self.port(K::ClientDstPort, p!("destination.port"));
        }
        // The client's address after its own NAT is the tunnel's public source (what ECS
        // means by source.nat.ip, and what geolocation falls back to); Client Connector
        // sessions have none (0.0.0.0). Zscaler's own egress (ssip) stays under zscaler.zia.
        if self
            .f
            .peek(K::TunnelIp)
            .is_some_and(|t| t.trim() != "0.0.0.0")
        {
            self.ip(K::TunnelIp, p!("source.nat.ip"));
        }
        if let Some(d) = self.f.take(K::CltDomain) {
            let d = decode_human(d).to_ascii_lowercase();
            self.ev.s(p!("destination.domain"), d);
        }
        self.str(K::NwApp, p!("network.application"));
        self.str(K::Protocol, p!("network.protocol"));
        self.str(K::DestCountry, p!("destination.geo.country_name"));
        self.human(K::RuleLabel, p!("rule.name"));
        self.int(K::InBytes, p!("source.bytes"));
        self.int(K::OutBytes, p!("destination.bytes"));
        self.int(K::Duration, p!("event.duration"));
        self.threat();
        self.recent_fields();
    }

    fn dns(&mut self) {
        self.event_kind("network", "info");
        self.user();
        self.human(K::Department, p!("zscaler.zia.department"));
        self.human(K::Location, p!("zscaler.zia.location"));
        if let Some(a) = self.f.take(K::DnsReqAction) {
            self.ev.s(p!("event.action"), a.to_lowercase());
            self.ev.s(p!("zscaler.zia.reqaction"), a);
        }
        self.human(K::RuleLabel, p!("rule.name"));
        self.str(K::DnsType, p!("dns.question.type"));
        if let Some(q) = self.str(K::DnsQuery, p!("dns.question.name")) {
            enrich::domain_parts(&mut self.ev, "dns.question", q);
        }
        if let Some(r) = self.str(K::DnsResp, p!("dns.response_code")) {
            if let Ok(ip) = r.trim().parse::<IpAddr>() {
                self.ev
                    .set(p!("dns.resolved_ip"), Value::from(vec![ip.to_string()]));
            }
        }
        self.port(K::ServerPort, p!("destination.port"));
        self.ip(K::ClientIp, p!("source.ip"));
        self.ip(K::ServerIp, p!("destination.ip"));
        self.str(K::Category, p!("zscaler.zia.category"));
        self.recent_fields();
    }

    fn tunnel(&mut self) {
        self.event_kind("network", "connection");
        self.str(K::TunnelType, p!("network.type"));
        self.human(K::User, p!("user.email"));
        self.human(K::Location, p!("zscaler.zia.location"));
        self.ip(K::ClientIp, p!("source.ip"));
        self.ip(K::ServerIp, p!("destination.ip"));
        self.port(K::ClientPort, p!("source.port"));
        self.port(K::ServerPort, p!("destination.port"));
        self.str(K::Protocol, p!("network.protocol"));
        let status = self.str(K::TunnelEvent, p!("zscaler.zia.tunnel.status"));
        // What happened to the tunnel ("IPsec tunnel is up") is the event's action.
        if let Some(s) = status {
            self.ev.s(p!("event.action"), s);
        }
        self.str(K::EventReason, p!("error.code"));
        self.str(K::IkeVersion, p!("zscaler.zia.tunnel.ikeversion"));
        let failed = status.is_some_and(|s| {
            let s = s.to_ascii_uppercase();
            s.contains("ERROR") || s.contains("FAIL") || s.contains("DOWN")
        });
        let outcome = if failed { "failure" } else { "success" };
        self.ev.s(p!("zscaler.zia.event.outcome"), outcome);
        self.ev.s(p!("event.outcome"), outcome);
    }

    fn audit(&mut self) {
        let action = self.f.take(K::Action);
        let (category, ty) = match action.map(str::to_ascii_uppercase).as_deref() {
            Some("SIGN_IN") | Some("LOGIN") => ("authentication", "start"),
            Some("SIGN_OUT") | Some("LOGOUT") => ("authentication", "end"),
            Some("CREATE") => ("configuration", "creation"),
            Some("DELETE") => ("configuration", "deletion"),
            _ => ("configuration", "change"),
        };
        self.event_kind(category, ty);
        if let Some(a) = action {
            self.ev.s(p!("event.action"), a.to_lowercase());
        }
        self.str(K::Category, p!("zscaler.zia.category"));
        self.str(K::SubCategory, p!("zscaler.zia.sub_category"));
        self.str(K::Resource, p!("zscaler.zia.resource"));
        self.human(K::AdminId, p!("user.email"));
        self.ip(K::ClientIp, p!("source.ip"));
        if let Some(r) = self.str(K::Result, p!("zscaler.zia.event.outcome")) {
            let l = r.to_ascii_lowercase();
            if matches!(l.as_str(), "success" | "failure" | "unknown") {
                self.ev.s(p!("event.outcome"), l);
            }
        }
        self.str(K::ErrorCode, p!("error.code"));
        self.str(K::AuditLogType, p!("zscaler.zia.audit.log_type"));
    }

    fn casb(&mut self) {
        self.event_kind("process", "info");
        self.human(K::User, p!("user.email"));
        self.str(K::NwApp, p!("network.application"));
        self.human(K::FileName, p!("file.name"));
        // A folder is read by people: decoded like the other human-readable fields (Sekoia
        // keeps the `%20`s).
        self.human(K::FileSource, p!("file.directory"));
        self.str(K::Md5, p!("file.hash.md5"));
        self.str(K::Sha256, p!("file.hash.sha256"));
        self.str(K::Company, p!("organization.name"));
        self.human(K::Department, p!("zscaler.zia.department"));
        self.threat();
        self.human(K::RuleLabel, p!("rule.name"));
        if self.ev.has(p!("rule.name")) {
            self.str(K::Policy, p!("zscaler.zia.policy"));
        } else {
            self.human(K::Policy, p!("rule.name"));
        }
        self.saas_subtype();
        if let Some(u) = self.f.take(K::FullUrl) {
            self.url(u);
        }
        if let Some(t) = self.f.take(K::LastModTime) {
            match enrich::normalize_time(t) {
                Some(t) => self.ev.s(p!("file.mtime"), t),
                None => self.warn_raw(K::LastModTime, t, "unrecognised time"),
            }
        }
        self.user_agent();
        self.ip(K::ClientIp, p!("source.ip"));
        // The nested activity template says what the user did; it is the event's action.
        if let Some(a) = self.f.take(K::Activity) {
            self.ev.s(p!("event.action"), a.to_ascii_lowercase());
            self.ev.s(p!("zscaler.zia.activity.type"), a);
        }
    }

    /// Every entry the mapping did not consume, under `zscaler.zia.<key>` (lower-cased),
    /// placeholders excepted.
    fn rest(&mut self) {
        let entries = &self.f.rec.entries;
        for (i, (k, v)) in entries.iter().enumerate() {
            if self.f.used[i] || matches!(v, Val::Str(s) if is_placeholder(s)) {
                continue;
            }
            // A mapped field of the same name (e.g. `zscaler.zia.location`) stays.
            let lists = self.lists;
            self.ev
                .set_new_under(ZIA, k.to_ascii_lowercase(), || match v {
                    Val::Str(s) if lists && s.contains('|') && extra::is_list_key(k) => {
                        Value::from(extra::split_list(s))
                    }
                    Val::Str(s) => Value::String(s.as_ref().to_owned()),
                    Val::Json(j) => j.clone(),
                });
        }
    }

    /// `related.*` and `*.address`, as the Sekoia platform derives them.
    fn related(&mut self) {
        let mut ips: Vec<String> = Vec::new();
        for p in [
            p!("source.ip"),
            p!("destination.ip"),
            p!("server.ip"),
            p!("client.ip"),
        ] {
            if let Some(ip) = self.ev.get_str(p) {
                ips.push(ip.to_owned());
            }
        }
        let mut hosts: Vec<String> = Vec::new();
        for p in [
            p!("destination.domain"),
            p!("url.domain"),
            p!("dns.question.name"),
        ] {
            if let Some(h) = self.ev.get_str(p) {
                hosts.push(h.to_owned());
            }
        }
        let mut users: Vec<String> = std::mem::take(&mut self.related_users);
        if let Some(u) = self.ev.get_str(p!("user.name")) {
            users.push(u.to_owned());
        }
        let mut hashes: Vec<String> = std::mem::take(&mut self.related_hashes);
        for p in [
            p!("file.hash.md5"),
            p!("file.hash.sha1"),
            p!("file.hash.sha256"),
        ] {
            if let Some(h) = self.ev.get_str(p) {
                hashes.push(h.to_owned());
            }
        }
        for (path, mut list) in [
            (p!("related.ip"), ips),
            (p!("related.hosts"), hosts),
            (p!("related.user"), users),
            (p!("related.hash"), hashes),
        ] {
            if list.is_empty() {
                continue;
            }
            list.sort();
            list.dedup();
            self.ev.set(path, Value::from(list));
        }
        for (domain, ip, address) in [
            (p!("source.domain"), p!("source.ip"), p!("source.address")),
            (
                p!("destination.domain"),
                p!("destination.ip"),
                p!("destination.address"),
            ),
        ] {
            let addr = self.ev.get_str(domain).or_else(|| self.ev.get_str(ip));
            if let Some(a) = addr.map(str::to_owned) {
                self.ev.s(address, a);
            }
        }
    }
}
