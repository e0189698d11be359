//! The seeded record generator.
//!
//! Each record is drawn as a set of consistent values (the URL matches the host, a blocked
//! request has status 403 and a reason, a malicious one a threat name) and rendered through
//! the recommended NSS format of its log type, so it carries the `%HH` encoding the feed
//! escape characters cause. The same seed and mix give the same records (time apart).

use nss::recommended::{self, Transport};
use nss::render::{Compiled, DateParts, Value, DEFAULT_ESCAPES};
use nss::{Format, LogType};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;

use crate::pools::*;

macro_rules! fields {
    ($($id:ident = $name:literal,)*) => {
        /// The fields the generator knows how to fill, by their NSS base name.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum F { $($id,)* }
        const F_COUNT: usize = [$(F::$id,)*].len();
        fn f_of(name: &str) -> Option<F> {
            match name { $($name => Some(F::$id),)* _ => None }
        }
    };
}

fields! {
    reason = "reason", recordid = "recordid", proto = "proto", action = "action", totalsize = "totalsize",
    respsize = "respsize", reqsize = "reqsize", urlcat = "urlcat", sip = "sip", reqmethod = "reqmethod",
    referer = "referer", ua = "ua", location = "location", cip = "cip", respcode = "respcode", login = "login",
    url = "url", host = "host", cintip = "cintip", malwarecat = "malwarecat", threatname = "threatname",
    filetype = "filetype", appname = "appname", riskscore = "riskscore", dept = "dept", urlsupercat = "urlsupercat",
    appclass = "appclass", dlpeng = "dlpeng", urlclass = "urlclass", malwareclass = "malwareclass",
    dlpdict = "dlpdict", fileclass = "fileclass", bwthrottle = "bwthrottle", contenttype = "contenttype",
    unscannabletype = "unscannabletype", deviceowner = "deviceowner", devicehostname = "devicehostname",
    keyprotectiontype = "keyprotectiontype", rulelabel = "rulelabel", srcip_country = "srcip_country",
    dstip_country = "dstip_country", is_src_cntry_risky = "is_src_cntry_risky",
    is_dst_cntry_risky = "is_dst_cntry_risky", dnatrulelabel = "dnatrulelabel",
    cdport = "cdport", csport = "csport", sdport = "sdport", ssport = "ssport", csip = "csip", cdip = "cdip",
    ssip = "ssip", sdip = "sdip", tsip = "tsip", tsport = "tsport", ttype = "ttype", dnat = "dnat",
    stateful = "stateful", aggregate = "aggregate", nwsvc = "nwsvc", nwapp = "nwapp", ipproto = "ipproto",
    ipcat = "ipcat", destcountry = "destcountry", avgduration = "avgduration", inbytes = "inbytes",
    outbytes = "outbytes", duration = "duration", durationms = "durationms", numsessions = "numsessions",
    ipsrulelabel = "ipsrulelabel", threatcat = "threatcat",
    reqaction = "reqaction", resaction = "resaction", reqrulelabel = "reqrulelabel", resrulelabel = "resrulelabel",
    reqtype = "reqtype", req = "req", res = "res", sport = "sport", domcat = "domcat", respipcat = "respipcat",
    tunnelactionname = "tunnelactionname", tunneltype = "tunneltype", vpncredentialname = "vpncredentialname",
    locationname = "locationname", sourceip = "sourceip", destvip = "destvip", srcport = "srcport",
    event = "event", eventreason = "eventreason", ikeversion = "ikeversion", dstport = "dstport",
    lifetime = "lifetime", spi_in = "spi_in", spi_out = "spi_out", algo = "algo", authentication = "authentication",
    authtype = "authtype", srcportstart = "srcportstart", destportstart = "destportstart", srcipstart = "srcipstart",
    srcipend = "srcipend", destipstart = "destipstart", destipend = "destipend", lifebytes = "lifebytes",
    spi = "spi", protocol = "protocol", tunnelprotocol = "tunnelprotocol", policydirection = "policydirection",
    category = "category", subcategory = "subcategory", resource = "resource", interface = "interface",
    adminid = "adminid", clientip = "clientip", result = "result", errorcode = "errorcode",
    auditlogtype = "auditlogtype", preaction = "preaction", postaction = "postaction",
    company = "company", tenant = "tenant", user = "user", department = "department",
    applicationname = "applicationname", filename = "filename", filesource = "filesource", filemd5 = "filemd5",
    policy = "policy", dlpdictnames = "dlpdictnames", dlpdictcount = "dlpdictcount",
    dlpenginenames = "dlpenginenames", fullurl = "fullurl", lastmodtime = "lastmodtime",
    filescantimems = "filescantimems", filedownloadtimems = "filedownloadtimems",
    username = "username", objtype1 = "objtype1", objnames1 = "objnames1", objnames2 = "objnames2",
    eventtime = "eventtime", devicename = "devicename", deviceostype = "deviceostype",
    deviceosversion = "deviceosversion", deviceplatform = "deviceplatform", devicemodel = "devicemodel",
    channel = "channel", activitytype = "activitytype", actiontaken = "actiontaken",
    expectedaction = "expectedaction", severity = "severity", rulename = "rulename",
    dlpidentifier = "dlpidentifier", itemname = "itemname", itemtype = "itemtype",
    filesrcpath = "filesrcpath", filedstpath = "filedstpath", filesha = "filesha",
    filetypename = "filetypename", scannedbytes = "scannedbytes",
    mailsenttime = "mailsenttime", sender = "sender", subject = "subject", msgid = "msgid",
    triggeredrcpts = "triggeredrcpts", otherrcpts = "otherrcpts", filenames = "filenames",
    filemd5s = "filemd5s", filesizes = "filesizes", filetypes = "filetypes", doctypes = "doctypes",
    dlpdictcnts = "dlpdictcnts", dlpengnames = "dlpengnames", scantime = "scantime",
}

#[derive(Clone, Copy)]
enum V {
    Missing,
    S(&'static str),
    Dyn,
    I(i64),
    /// A field of a user of the generator's user table.
    U(usize, UF),
}

/// A field of a [`User`].
#[derive(Clone, Copy)]
enum UF {
    Login,
    Owner,
    Host,
    Ip,
    PublicIp,
}

/// The values of one record, by field.
struct Rec {
    v: [V; F_COUNT],
    bufs: Vec<String>,
    /// The fields set since the last reset: resetting only them is cheaper than the array.
    set: Vec<F>,
}

impl Rec {
    fn new() -> Rec {
        Rec {
            v: [V::Missing; F_COUNT],
            bufs: vec![String::new(); F_COUNT],
            set: Vec::with_capacity(F_COUNT),
        }
    }
    fn reset(&mut self) {
        for f in self.set.drain(..) {
            self.v[f as usize] = V::Missing;
        }
    }
    fn s(&mut self, f: F, s: &'static str) {
        self.set.push(f);
        self.v[f as usize] = V::S(s);
    }
    fn i(&mut self, f: F, n: i64) {
        self.set.push(f);
        self.v[f as usize] = V::I(n);
    }
    /// A cleared buffer for a field whose text is built per record.
    fn w(&mut self, f: F) -> &mut String {
        self.set.push(f);
        self.v[f as usize] = V::Dyn;
        let b = &mut self.bufs[f as usize];
        b.clear();
        b
    }
    /// A field taken from a user of the table, without copying it.
    fn u(&mut self, f: F, user: usize, which: UF) {
        self.set.push(f);
        self.v[f as usize] = V::U(user, which);
    }
    fn get<'a>(&'a self, f: F, users: &'a [User]) -> Value<'a> {
        match self.v[f as usize] {
            V::Missing => Value::Missing,
            V::S(s) => Value::Text(s),
            V::Dyn => Value::Text(&self.bufs[f as usize]),
            V::I(n) => Value::Int(n),
            V::U(u, which) => users.get(u).map_or(Value::Missing, |user| {
                Value::Text(match which {
                    UF::Login => &user.login,
                    UF::Owner => &user.owner,
                    UF::Host => &user.host,
                    UF::Ip => &user.ip,
                    UF::PublicIp => &user.public_ip,
                })
            }),
        }
    }
}

/// A recommended format compiled, with the generator field behind each slot.
struct Prepared {
    compiled: Compiled,
    slots: Vec<Option<F>>,
}

struct User {
    login: String,
    owner: String,
    host: String,
    dept: &'static str,
    location: &'static str,
    ip: String,
    public_ip: String,
}

/// The settings of a [`Generator`].
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// The seed: the same seed gives the same records.
    pub seed: u64,
    /// Log types with their relative weights.
    pub mix: Vec<(LogType, u32)>,
    /// Share of records showing malicious activity, 0.0-1.0.
    pub malicious: f64,
    /// `Nss` puts the syslog header in front of each record; `CloudNss` does not.
    pub transport: Transport,
}

/// The error for a generator configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// No log type has a positive weight.
    #[error("the log type mix is empty")]
    EmptyMix,
    /// The malicious share is not within 0-1.
    #[error("the malicious share must be between 0 and 1, not {0}")]
    BadShare(f64),
    /// Structured data was asked for a framing without syslog header.
    #[error("the intake key structured data needs a syslog framing (nss or nss-rfc5424)")]
    NoHeader,
    /// A recommended format does not parse (a bug in the `nss` crate).
    #[error("recommended format {0} does not parse: {1}")]
    Format(&'static str, nss::ParseError),
}

/// Generates realistic ZIA records.
pub struct Generator {
    rng: SmallRng,
    kinds: Vec<(LogType, u32)>,
    total_weight: u32,
    malicious: f64,
    formats: Vec<(LogType, Prepared)>,
    transport: Transport,
    users: Vec<User>,
    rec: Rec,
    next_id: i64,
    date: DateParts,
}

/// The parts of [`Generator::next`]'s output a caller may want to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    /// The record's log type.
    pub log_type: LogType,
    /// Whether it shows malicious activity.
    pub malicious: bool,
}

/// Number of distinct users the generator draws from.
pub const USERS: usize = 250;

impl Generator {
    /// A generator for `config`.
    pub fn new(config: &GenConfig) -> Result<Generator, GenError> {
        if !(0.0..=1.0).contains(&config.malicious) {
            return Err(GenError::BadShare(config.malicious));
        }
        let kinds: Vec<_> = config.mix.iter().copied().filter(|(_, w)| *w > 0).collect();
        let total_weight = kinds.iter().map(|(_, w)| w).sum();
        if kinds.is_empty() {
            return Err(GenError::EmptyMix);
        }
        let formats = prepare(&kinds, config.transport, None)?;
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let users = (0..USERS)
            .map(|i| {
                let first = FIRST.choose(&mut rng).copied().unwrap_or("user");
                let last = LAST.choose(&mut rng).copied().unwrap_or("user");
                let domain = DOMAINS.choose(&mut rng).copied().unwrap_or("example.org");
                let ip = if rng.random_bool(0.1) {
                    format!("2001:db8:10::{:x}", i + 1)
                } else {
                    format!(
                        "10.{}.{}.{}",
                        rng.random_range(0..8),
                        rng.random_range(0..255),
                        rng.random_range(1..255)
                    )
                };
                User {
                    login: format!(
                        "{first}.{last}{}@{domain}",
                        if i >= 60 {
                            i.to_string()
                        } else {
                            String::new()
                        }
                    ),
                    owner: format!("{}{last}", &first[..1]),
                    host: format!("LAPTOP-{:06X}", rng.random_range(0..0xff_ffff)),
                    dept: DEPARTMENTS
                        .choose(&mut rng)
                        .copied()
                        .unwrap_or("Default Department"),
                    location: LOCATIONS
                        .choose(&mut rng)
                        .copied()
                        .unwrap_or("Road Warrior"),
                    ip,
                    public_ip: format!("198.51.100.{}", rng.random_range(1..250)),
                }
            })
            .collect();
        let next_id = 7_100_000_000_000_000_000 + (config.seed % 1_000_000) as i64 * 1_000_000_000;
        Ok(Generator {
            rng,
            kinds,
            total_weight,
            malicious: config.malicious,
            formats,
            transport: config.transport,
            users,
            rec: Rec::new(),
            next_id,
            date: DateParts::from_epoch(0),
        })
    }

    /// Puts `[SEKOIA@53288 intake_key="KEY"]` after the syslog header of every record, as a
    /// Sekoia forwarder does, so that a syslog intake knows the intake of each line. Only for
    /// the NSS framings (Cloud NSS records have no header to put it in).
    pub fn with_intake_key_sd(mut self, key: &str) -> Result<Generator, GenError> {
        if self.transport == Transport::CloudNss {
            return Err(GenError::NoHeader);
        }
        // The RFC 5424 parameter value (`"`, `\` and `]` escaped with `\`)...
        let mut param = String::new();
        for c in key.chars() {
            if matches!(c, '"' | '\\' | ']') {
                param.push('\\');
            }
            param.push(c);
        }
        // ...written in the format language, where `\`, `%`, `{` and `}` are special.
        let mut value = String::new();
        for c in param.chars() {
            match c {
                '\\' => value.push_str("\\\\"),
                '%' => value.push_str("%%"),
                '{' => value.push_str("\\{"),
                '}' => value.push_str("\\}"),
                c => value.push(c),
            }
        }
        let sd = format!("[SEKOIA@53288 intake_key=\"{value}\"]");
        self.formats = prepare(&self.kinds, self.transport, Some(&sd))?;
        Ok(self)
    }

    /// Numbers the records from `id` on (the next record gets `id`).
    ///
    /// Without it the ids start at a value derived from the seed, so two runs with the same
    /// seed repeat them, and an intake that de-duplicates on the record id (as it should,
    /// for NSS replays) drops the second run; [`record_id_from_clock`] gives a start that
    /// does not repeat.
    pub fn with_first_record_id(mut self, id: i64) -> Generator {
        self.next_id = id - 1;
        self
    }

    /// Appends one record, stamped with `epoch` (seconds), to `out`, without a line end.
    pub fn next(&mut self, epoch: i64, out: &mut Vec<u8>) -> Generated {
        if self.date.epoch != epoch {
            self.date = DateParts::from_epoch(epoch);
        }
        let mut pick = self.rng.random_range(0..self.total_weight);
        let mut log_type = self.kinds[0].0;
        for (lt, w) in &self.kinds {
            if pick < *w {
                log_type = *lt;
                break;
            }
            pick -= w;
        }
        let malicious = self.rng.random_bool(self.malicious);
        self.rec.reset();
        self.next_id += 1;
        let user = self.rng.random_range(0..self.users.len());
        let variant = match log_type {
            LogType::Web => self.web(user, malicious),
            LogType::Firewall => self.firewall(user, malicious),
            LogType::Dns => self.dns(user, malicious),
            LogType::Tunnel => self.tunnel(user, malicious),
            LogType::Audit => self.audit(user, malicious),
            LogType::SaasSecurity => self.saas(user, malicious),
            LogType::SaasSecurityActivity => self.activity(user),
            LogType::EndpointDlp => self.endpoint_dlp(user, malicious),
            LogType::EmailDlp => self.email_dlp(user, malicious),
        };
        let prepared = self
            .formats
            .iter()
            .filter(|(lt, _)| *lt == log_type)
            .nth(variant)
            .or_else(|| self.formats.iter().find(|(lt, _)| *lt == log_type))
            .map(|(_, p)| p);
        if let Some(p) = prepared {
            let users = &self.users;
            let rec = &self.rec;
            p.compiled.render_with(
                |i| {
                    p.slots
                        .get(i)
                        .copied()
                        .flatten()
                        .map_or(Value::Missing, |f| rec.get(f, users))
                },
                &self.date,
                out,
            );
        }
        Generated {
            log_type,
            malicious,
        }
    }

    fn common_user(&mut self, u: usize) {
        let user = &self.users[u];
        let r = &mut self.rec;
        r.u(F::login, u, UF::Login);
        r.s(F::dept, user.dept);
        r.s(F::location, user.location);
        r.u(F::deviceowner, u, UF::Owner);
        r.u(F::devicehostname, u, UF::Host);
    }

    fn web(&mut self, u: usize, malicious: bool) -> usize {
        self.common_user(u);
        let r = &mut self.rec;
        let rng = &mut self.rng;
        r.i(F::recordid, self.next_id);
        r.u(F::cip, u, UF::Ip);
        r.u(F::cintip, u, UF::PublicIp);
        let https = rng.random_bool(0.85);
        r.s(F::proto, if https { "HTTPS" } else { "HTTP" });
        r.s(
            F::reqmethod,
            ["GET", "GET", "GET", "POST", "PUT", "CONNECT"]
                .choose(rng)
                .copied()
                .unwrap_or("GET"),
        );
        let req = rng.random_range(200..4000);
        let resp = rng.random_range(0..200_000);
        r.i(F::reqsize, req);
        r.s(F::bwthrottle, "NO");
        r.s(
            F::keyprotectiontype,
            if https { "Software Protection" } else { "N/A" },
        );
        r.s(F::unscannabletype, "None");
        r.s(F::dlpeng, "None");
        r.s(F::dlpdict, "None");
        r.s(F::fileclass, "None");
        // Fixed, not drawn, so that the seeded sequence of every other field stays as it was.
        r.s(F::srcip_country, "United States");
        r.s(F::dstip_country, "United States");
        r.s(F::is_src_cntry_risky, "No");
        r.s(F::is_dst_cntry_risky, "No");
        if malicious {
            let bad = BAD_SITES.choose(rng).unwrap_or(&BAD_SITES[0]);
            let blocked = rng.random_bool(0.8);
            let _ = write!(
                r.w(F::url),
                "{}/{}",
                bad.host,
                [
                    "payload.exe",
                    "login.php?session=1",
                    "gate.php",
                    "update/flash.msi"
                ]
                .choose(rng)
                .copied()
                .unwrap_or("")
            );
            r.s(F::host, bad.host);
            r.s(F::urlcat, bad.cat);
            r.s(F::urlsupercat, "Security");
            r.s(F::urlclass, "Security Risk");
            r.s(F::malwarecat, bad.malwarecat);
            r.s(F::threatname, bad.threat);
            r.s(F::malwareclass, bad.class);
            r.i(F::riskscore, rng.random_range(75..100));
            r.s(
                F::ua,
                BAD_USER_AGENTS.choose(rng).copied().unwrap_or("curl/8.4.0"),
            );
            r.s(F::appname, "General Browsing");
            r.s(F::appclass, "General Browsing");
            r.s(F::contenttype, "application/octet-stream");
            r.s(
                F::filetype,
                if rng.random_bool(0.5) {
                    "Windows Executables"
                } else {
                    "None"
                },
            );
            r.s(F::referer, "None");
            if blocked {
                r.s(F::action, "Blocked");
                r.s(
                    F::reason,
                    if rng.random_bool(0.6) {
                        "Virus/Spyware/Malware Blocked"
                    } else {
                        "Not allowed to browse this category"
                    },
                );
                r.s(F::respcode, "403");
                r.s(F::sip, "0.0.0.0");
                r.s(F::rulelabel, "Block Malicious Content");
                r.i(F::respsize, 0);
                r.i(F::totalsize, req);
            } else {
                r.s(F::action, "Allowed");
                r.s(F::reason, "Allowed");
                r.s(F::respcode, "200");
                server_ip(r.w(F::sip), bad.host, true);
                r.s(F::rulelabel, "None");
                r.i(F::respsize, resp);
                r.i(F::totalsize, req + resp);
            }
        } else {
            let site = SITES.choose(rng).unwrap_or(&SITES[0]);
            let path = site.paths.choose(rng).copied().unwrap_or("/");
            let url = r.w(F::url);
            url.push_str(site.host);
            url.push_str(path);
            r.s(F::host, site.host);
            r.s(F::urlcat, site.cat);
            r.s(F::urlsupercat, site.supercat);
            r.s(F::urlclass, site.class);
            r.s(F::appname, site.app);
            r.s(F::appclass, site.appclass);
            r.s(F::contenttype, site.content);
            r.s(F::malwarecat, "None");
            r.s(F::threatname, "None");
            r.s(F::malwareclass, "None");
            r.s(F::filetype, "None");
            r.i(F::riskscore, rng.random_range(0..30));
            r.s(
                F::ua,
                USER_AGENTS.choose(rng).copied().unwrap_or(USER_AGENTS[0]),
            );
            if rng.random_bool(0.3) {
                let referer = r.w(F::referer);
                referer.push_str(site.host);
                referer.push('/');
            } else {
                r.s(F::referer, "None");
            }
            if rng.random_bool(0.05) {
                r.s(F::action, "Blocked");
                r.s(F::reason, "Not allowed to browse this category");
                r.s(F::respcode, "403");
                r.s(F::sip, "0.0.0.0");
                r.s(F::rulelabel, "Block Streaming");
                r.i(F::respsize, 0);
                r.i(F::totalsize, req);
            } else {
                r.s(F::action, "Allowed");
                r.s(F::reason, "Allowed");
                r.s(
                    F::respcode,
                    ["200", "200", "200", "204", "301", "304", "404"]
                        .choose(rng)
                        .copied()
                        .unwrap_or("200"),
                );
                server_ip(r.w(F::sip), site.host, false);
                r.s(F::rulelabel, "None");
                r.i(F::respsize, resp);
                r.i(F::totalsize, req + resp);
            }
        }
        0
    }

    fn firewall(&mut self, u: usize, malicious: bool) -> usize {
        self.common_user(u);
        let r = &mut self.rec;
        let rng = &mut self.rng;
        r.i(F::recordid, self.next_id);
        let (svc, port, proto, app) = if malicious {
            *[
                NW_SERVICES[4],
                NW_SERVICES[5],
                NW_SERVICES[6],
                NW_SERVICES[0],
            ]
            .choose(rng)
            .unwrap_or(&NW_SERVICES[0])
        } else {
            *NW_SERVICES[..4].choose(rng).unwrap_or(&NW_SERVICES[0])
        };
        r.u(F::csip, u, UF::Ip);
        r.u(F::ssip, u, UF::PublicIp);
        if malicious {
            let ip = BAD_IPS.choose(rng).copied().unwrap_or(BAD_IPS[0]);
            r.s(F::cdip, ip);
            r.s(F::sdip, ip);
        } else {
            let ip = format!("203.0.113.{}", rng.random_range(1..60));
            r.w(F::cdip).push_str(&ip);
            r.w(F::sdip).push_str(&ip);
        }
        r.i(F::csport, rng.random_range(1024..65535));
        r.i(F::ssport, rng.random_range(1024..65535));
        r.i(F::cdport, i64::from(port));
        r.i(F::sdport, i64::from(port));
        r.s(F::tsip, "0.0.0.0");
        r.i(F::tsport, 0);
        r.s(
            F::ttype,
            ["ZscalerClientConnector", "GRE", "IPSec"]
                .choose(rng)
                .copied()
                .unwrap_or("GRE"),
        );
        r.s(F::dnat, "No");
        r.s(F::dnatrulelabel, "None");
        r.s(F::srcip_country, "United States");
        r.s(F::stateful, "Yes");
        r.s(F::nwsvc, svc);
        r.s(F::nwapp, app);
        r.s(F::ipproto, proto);
        r.s(F::ipcat, IP_CATS.choose(rng).copied().unwrap_or("Other"));
        r.s(
            F::destcountry,
            COUNTRIES.choose(rng).copied().unwrap_or("France"),
        );
        let sessions = if malicious { 1 } else { rng.random_range(1..6) };
        let dur = rng.random_range(0..600);
        r.i(F::numsessions, sessions);
        r.s(F::aggregate, if sessions > 1 { "Yes" } else { "No" });
        r.i(F::duration, dur);
        r.i(F::durationms, dur * 1000);
        r.i(F::avgduration, dur * 1000 / sessions);
        r.s(F::ipsrulelabel, "None");
        if malicious {
            let blocked = rng.random_bool(0.7);
            r.s(F::action, if blocked { "Block/Drop" } else { "Allow" });
            r.s(
                F::rulelabel,
                if blocked {
                    "Block Known C2"
                } else {
                    "Recommended Firewall Rule"
                },
            );
            r.s(F::threatcat, "Botnet Callback");
            r.s(
                F::threatname,
                [
                    "Win64.Backdoor.CobaltStrike",
                    "Linux.Backdoor.Tsunami",
                    "Win32.Trojan.DNSpionage",
                ]
                .choose(rng)
                .copied()
                .unwrap_or("None"),
            );
            r.i(
                F::inbytes,
                if blocked {
                    0
                } else {
                    rng.random_range(100..5000)
                },
            );
            r.i(F::outbytes, rng.random_range(60..2000));
        } else {
            r.s(F::action, "Allow");
            r.s(F::rulelabel, "Recommended Firewall Rule");
            r.s(F::threatcat, "None");
            r.s(F::threatname, "None");
            r.i(F::inbytes, rng.random_range(100..2_000_000));
            r.i(F::outbytes, rng.random_range(100..200_000));
        }
        0
    }

    fn dns(&mut self, u: usize, malicious: bool) -> usize {
        self.common_user(u);
        let r = &mut self.rec;
        let rng = &mut self.rng;
        r.i(F::recordid, self.next_id);
        r.u(F::cip, u, UF::Ip);
        r.s(
            F::sip,
            ["192.0.2.53", "192.0.2.54"]
                .choose(rng)
                .copied()
                .unwrap_or("192.0.2.53"),
        );
        r.i(F::sport, 53);
        r.i(F::durationms, rng.random_range(0..120));
        let qtype = DNS_TYPES.choose(rng).copied().unwrap_or("A");
        r.s(F::reqtype, qtype);
        if malicious {
            let bad = BAD_SITES.choose(rng).unwrap_or(&BAD_SITES[0]);
            r.s(F::req, bad.host);
            r.s(F::domcat, bad.cat);
            r.s(F::reqaction, "Block");
            r.s(F::resaction, "Block");
            r.s(F::reqrulelabel, "Block Malicious Domains");
            r.s(F::resrulelabel, "None");
            r.s(F::res, "EMPTY_RESP");
            r.s(F::respipcat, "Malicious Content");
        } else {
            let site = SITES.choose(rng).unwrap_or(&SITES[0]);
            r.s(F::req, site.host);
            r.s(F::domcat, site.cat);
            r.s(F::reqaction, "Allow");
            r.s(F::resaction, "Allow");
            r.s(F::reqrulelabel, "DNS_1");
            r.s(F::resrulelabel, "Zscaler Bypass Traffic");
            if qtype == "AAAA" {
                let _ = write!(
                    r.w(F::res),
                    "2001:db8:53::{:x}",
                    rng.random_range(1..0xffff)
                );
            } else if qtype == "A" {
                server_ip(r.w(F::res), site.host, false);
            } else {
                r.s(F::res, "NotFound");
            }
            r.s(F::respipcat, site.cat);
        }
        0
    }

    fn tunnel(&mut self, u: usize, malicious: bool) -> usize {
        let r = &mut self.rec;
        let rng = &mut self.rng;
        let user = &self.users[u];
        r.i(F::recordid, self.next_id);
        let _ = write!(r.w(F::vpncredentialname), "{}", user.login);
        r.s(F::locationname, user.location);
        r.u(F::sourceip, u, UF::PublicIp);
        r.s(
            F::destvip,
            ["203.0.113.10", "203.0.113.11"]
                .choose(rng)
                .copied()
                .unwrap_or("203.0.113.10"),
        );
        r.i(F::srcport, rng.random_range(500..4600));
        let variant = rng.random_range(0..3);
        match variant {
            0 => {
                r.s(F::tunnelactionname, "WL_TUNNEL_EVENT");
                r.s(
                    F::tunneltype,
                    ["GRE", "IPSEC_IKEV1", "IPSEC_IKEV2"]
                        .choose(rng)
                        .copied()
                        .unwrap_or("GRE"),
                );
                if malicious {
                    r.s(F::event, "PHASE1_ERROR");
                    r.s(
                        F::eventreason,
                        ["PSKEY_MISMATCH", "PSKEY_NOTFOUND", "INVALID_PROPOSAL"]
                            .choose(rng)
                            .copied()
                            .unwrap_or("PSKEY_MISMATCH"),
                    );
                } else {
                    r.s(
                        F::event,
                        ["UP", "DOWN", "REKEY"].choose(rng).copied().unwrap_or("UP"),
                    );
                    r.s(
                        F::eventreason,
                        ["None", "EXPIRED", "DPD_TIMEOUT", "TIMEOUT"]
                            .choose(rng)
                            .copied()
                            .unwrap_or("None"),
                    );
                }
            }
            _ => {
                let ike = rng.random_range(1..3);
                r.i(F::ikeversion, ike);
                r.i(F::dstport, 500);
                r.s(
                    F::algo,
                    ["AES_CBC", "THREE_DES_CBC", "BLOWFISH_CBC"]
                        .choose(rng)
                        .copied()
                        .unwrap_or("AES_CBC"),
                );
                r.s(
                    F::authentication,
                    ["HMAC_SHA256", "HMAC_SHA", "HMAC_SHA384"]
                        .choose(rng)
                        .copied()
                        .unwrap_or("HMAC_SHA256"),
                );
                r.s(F::authtype, "PSKEY");
                if variant == 1 {
                    r.s(F::tunnelactionname, "WL_TUNNEL_IPSECPHASE1");
                    r.i(F::lifetime, 86_400);
                    r.i(F::spi_in, rng.random_range(1..i64::MAX));
                    r.i(F::spi_out, rng.random_range(1..i64::MAX));
                } else {
                    r.s(F::tunnelactionname, "WL_TUNNEL_IPSECPHASE2");
                    r.i(F::lifetime, 28_800);
                    r.i(F::spi, rng.random_range(1..i64::from(u32::MAX)));
                    r.i(F::srcportstart, 0);
                    r.i(F::destportstart, 0);
                    r.s(F::srcipstart, "10.0.0.0");
                    r.s(F::srcipend, "10.255.255.255");
                    r.s(F::destipstart, "0.0.0.0");
                    r.s(F::destipend, "255.255.255.255");
                    r.i(F::lifebytes, 0);
                    r.s(F::protocol, "Any");
                    r.s(F::tunnelprotocol, "ESP");
                    r.s(F::policydirection, "Outbound");
                }
            }
        }
        variant
    }

    fn audit(&mut self, u: usize, malicious: bool) -> usize {
        let r = &mut self.rec;
        let rng = &mut self.rng;
        r.i(F::recordid, self.next_id);
        r.u(F::adminid, u % 8, UF::Login);
        r.s(
            F::interface,
            if rng.random_bool(0.8) { "UI" } else { "API" },
        );
        r.s(F::auditlogtype, "ZIA");
        if malicious {
            r.s(F::action, "SIGN_IN");
            r.s(F::category, "LOGIN");
            r.s(F::subcategory, "LOGIN");
            r.s(F::resource, "None");
            r.s(F::result, "FAILURE");
            r.s(F::errorcode, "AUTHENTICATION_FAILED");
            r.s(
                F::clientip,
                BAD_IPS.choose(rng).copied().unwrap_or(BAD_IPS[0]),
            );
            r.s(F::preaction, "{}");
            r.s(F::postaction, "{}");
        } else {
            let (a, c, s) = *AUDIT_ACTIONS.choose(rng).unwrap_or(&AUDIT_ACTIONS[0]);
            r.s(F::action, a);
            r.s(F::category, c);
            r.s(F::subcategory, s);
            r.u(F::clientip, u % 8, UF::PublicIp);
            r.s(F::result, "SUCCESS");
            r.s(F::errorcode, "None");
            if c == "LOGIN" || a == "ACTIVATE" || a == "DOWNLOAD" {
                r.s(F::resource, "None");
                r.s(F::preaction, "{}");
                r.s(F::postaction, "{}");
            } else {
                let n = rng.random_range(1..50);
                let _ = write!(r.w(F::resource), "Rule {n}");
                let _ = write!(
                    r.w(F::preaction),
                    r#"{{"name":"Rule {n}","state":"DISABLED"}}"#
                );
                let _ = write!(
                    r.w(F::postaction),
                    r#"{{"name":"Rule {n}","state":"ENABLED"}}"#
                );
            }
        }
        0
    }

    fn saas(&mut self, u: usize, malicious: bool) -> usize {
        let r = &mut self.rec;
        let rng = &mut self.rng;
        let user = &self.users[u];
        r.i(F::recordid, self.next_id);
        r.s(F::company, "Example Corp");
        r.s(F::tenant, "example-tenant");
        r.u(F::user, u, UF::Login);
        r.s(F::department, user.dept);
        let app = SAAS_APPS.choose(rng).copied().unwrap_or("ONEDRIVE");
        r.s(F::applicationname, app);
        let file = FILE_NAMES.choose(rng).copied().unwrap_or("file.pdf");
        r.s(F::filename, file);
        let _ = write!(r.w(F::filesource), "/sites/{}/Shared Documents", user.owner);
        let md5 = r.w(F::filemd5);
        for _ in 0..4 {
            let _ = write!(md5, "{:08x}", rng.random::<u32>());
        }
        let _ = write!(
            r.w(F::fullurl),
            "https://example.sharepoint.com/sites/{}/",
            user.owner
        );
        r.s(F::lastmodtime, "Tue Aug 16 14:03:13 2022");
        r.i(F::filescantimems, rng.random_range(50..3000));
        r.i(F::filedownloadtimems, rng.random_range(50..3000));
        if malicious {
            r.s(
                F::threatname,
                ["malpdf", "EICAR Test File", "Win32.Ransom.LockBit"]
                    .choose(rng)
                    .copied()
                    .unwrap_or("malpdf"),
            );
            r.s(F::policy, "Quarantine Malware");
            r.s(F::dlpdictnames, "None");
            r.s(F::dlpdictcount, "None");
            r.s(F::dlpenginenames, "None");
        } else if rng.random_bool(0.3) {
            r.s(F::threatname, "None");
            r.s(F::policy, "Revoke Sharing/Make Private");
            r.s(F::dlpdictnames, "Credit Cards|Social Security Numbers");
            r.s(F::dlpdictcount, "3|1");
            r.s(F::dlpenginenames, "PCI");
        } else {
            r.s(F::threatname, "None");
            r.s(F::policy, "None");
            r.s(F::dlpdictnames, "None");
            r.s(F::dlpdictcount, "None");
            r.s(F::dlpenginenames, "None");
        }
        0
    }

    fn endpoint_dlp(&mut self, u: usize, malicious: bool) -> usize {
        let r = &mut self.rec;
        let rng = &mut self.rng;
        let user = &self.users[u];
        r.i(F::recordid, self.next_id);
        r.u(F::user, u, UF::Login);
        r.s(F::department, user.dept);
        r.u(F::devicename, u, UF::Host);
        r.u(F::devicehostname, u, UF::Host);
        r.u(F::deviceowner, u, UF::Owner);
        // macOS devices: their paths have no backslash, which the plain (not hex-encoded)
        // path fields of this log type would write into the JSON unescaped.
        r.s(F::deviceostype, "macOS");
        r.s(F::deviceosversion, "14.5");
        r.s(F::deviceplatform, "Mac");
        r.s(F::devicemodel, "MacBookPro18,3");
        ctime(&self.date, r.w(F::eventtime));
        let (channel, dst) = [
            ("Removable Media", "/Volumes/USB/"),
            ("Network Drive Transfer", "/Volumes/share/"),
            ("Printing", "printer://floor2/"),
            ("Personal Cloud Storage", "/Users/Shared/Dropbox/"),
        ]
        .choose(rng)
        .copied()
        .unwrap_or(("Removable Media", "/Volumes/USB/"));
        r.s(F::channel, channel);
        r.s(F::activitytype, "file_copy");
        r.s(F::itemtype, "file");
        let file = FILE_NAMES.choose(rng).copied().unwrap_or("file.pdf");
        r.s(F::itemname, file);
        let _ = write!(
            r.w(F::filesrcpath),
            "/Users/{}/Documents/{file}",
            user.owner
        );
        let _ = write!(r.w(F::filedstpath), "{dst}{file}");
        let md5 = r.w(F::filemd5);
        for _ in 0..4 {
            let _ = write!(md5, "{:08x}", rng.random::<u32>());
        }
        let sha = r.w(F::filesha);
        for _ in 0..8 {
            let _ = write!(sha, "{:08x}", rng.random::<u32>());
        }
        r.s(F::filetypename, file.rsplit('.').next().unwrap_or("pdf"));
        r.i(F::scannedbytes, rng.random_range(1_000..5_000_000));
        if malicious {
            r.s(F::actiontaken, "block");
            r.s(F::expectedaction, "block");
            r.s(F::severity, "High Severity");
            r.s(F::rulename, "Block card data to removable media");
            r.s(F::dlpdictnames, "Credit Cards|Social Security Numbers");
            r.s(F::dlpdictcount, "12|3");
            r.s(F::dlpenginenames, "PCI");
            r.i(
                F::dlpidentifier,
                7_000_000_000_000_000_000 + self.next_id % 1_000_000,
            );
        } else {
            r.s(F::actiontaken, "allow");
            r.s(F::expectedaction, "allow");
            r.s(F::severity, "Information");
            r.s(F::rulename, "None");
            r.s(F::dlpdictnames, "None");
            r.s(F::dlpdictcount, "None");
            r.s(F::dlpenginenames, "None");
            r.i(F::dlpidentifier, 0);
        }
        0
    }

    fn email_dlp(&mut self, u: usize, malicious: bool) -> usize {
        let r = &mut self.rec;
        let rng = &mut self.rng;
        let user = &self.users[u];
        r.i(F::recordid, self.next_id);
        r.s(F::company, "Example Corp");
        r.s(F::tenant, "example.onmicrosoft.com");
        r.u(F::user, u, UF::Login);
        r.u(F::sender, u, UF::Login);
        r.s(F::dept, user.dept);
        ctime(&self.date, r.w(F::mailsenttime));
        r.s(
            F::subject,
            [
                "Quarterly numbers",
                "Customer list",
                "Re: contract",
                "Invoice",
            ]
            .choose(rng)
            .copied()
            .unwrap_or("Invoice"),
        );
        let _ = write!(
            r.w(F::msgid),
            "<{:016x}@mail.example.com>",
            rng.random::<u64>()
        );
        let n = rng.random_range(1..=3usize);
        let (names, md5s, sizes, types) = (
            &mut String::new(),
            &mut String::new(),
            &mut String::new(),
            &mut String::new(),
        );
        for i in 0..n {
            let sep = if i == 0 { "" } else { "|" };
            let file = FILE_NAMES.choose(rng).copied().unwrap_or("file.pdf");
            let _ = write!(names, "{sep}{file}");
            let _ = write!(
                md5s,
                "{sep}{:08x}{:08x}{:08x}{:08x}",
                rng.random::<u32>(),
                rng.random::<u32>(),
                rng.random::<u32>(),
                rng.random::<u32>()
            );
            let _ = write!(sizes, "{sep}{}", rng.random_range(1_000..2_000_000));
            let _ = write!(types, "{sep}{}", file.rsplit('.').next().unwrap_or("pdf"));
        }
        r.w(F::filenames).push_str(names);
        r.w(F::filemd5s).push_str(md5s);
        r.w(F::filesizes).push_str(sizes);
        r.w(F::filetypes).push_str(types);
        r.s(F::doctypes, "Unknown");
        r.s(F::otherrcpts, "None");
        r.i(F::scantime, rng.random_range(100..5000));
        if malicious {
            r.s(
                F::triggeredrcpts,
                "someone@gmail.example|partner@other.example",
            );
            r.s(F::action, "Block|Block");
            r.s(F::rulename, "Outbound cards|Outbound cards");
            r.s(F::severity, "High Severity|High Severity");
            r.s(F::dlpdictnames, "Credit Cards");
            r.s(F::dlpdictcnts, "7");
            r.s(F::dlpengnames, "PCI");
            r.i(
                F::dlpidentifier,
                7_100_000_000_000_000_000 + self.next_id % 1_000_000,
            );
        } else {
            r.s(F::triggeredrcpts, "None");
            r.s(F::action, "None");
            r.s(F::rulename, "None");
            r.s(F::severity, "None");
            r.s(F::dlpdictnames, "None");
            r.s(F::dlpdictcnts, "None");
            r.s(F::dlpengnames, "None");
            r.i(F::dlpidentifier, 0);
        }
        0
    }

    fn activity(&mut self, u: usize) -> usize {
        let r = &mut self.rec;
        let rng = &mut self.rng;
        r.u(F::username, u, UF::Login);
        r.s(F::tenant, "example-tenant");
        r.i(F::objtype1, rng.random_range(0..3));
        r.s(
            F::appname,
            SAAS_APPS.choose(rng).copied().unwrap_or("ONEDRIVE"),
        );
        r.s(
            F::objnames1,
            FILE_NAMES.choose(rng).copied().unwrap_or("file.pdf"),
        );
        r.s(
            F::objnames2,
            ["Shared", "Projects", "Maverick"]
                .choose(rng)
                .copied()
                .unwrap_or("Shared"),
        );
        0
    }
}

/// Compiles the recommended formats of the log types in `kinds`, with `sd` (format-language
/// text) in the structured-data place of the syslog header when given.
/// Writes the time as NSS `%s{time}` does (`Mon Oct 16 22:55:48 2023`).
fn ctime(d: &DateParts, out: &mut String) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let _ = write!(
        out,
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[usize::from(d.weekday) % 7],
        MONTHS[usize::from(d.month.clamp(1, 12)) - 1],
        d.day,
        d.hour,
        d.minute,
        d.second,
        d.year
    );
}

fn prepare(
    kinds: &[(LogType, u32)],
    transport: Transport,
    sd: Option<&str>,
) -> Result<Vec<(LogType, Prepared)>, GenError> {
    let mut formats = Vec::new();
    for r in recommended::RECOMMENDED
        .iter()
        .filter(|r| kinds.iter().any(|(lt, _)| *lt == r.log_type))
    {
        let text = match (transport, sd) {
            (Transport::Nss, Some(sd)) => format!("{}{sd} {}", recommended::SYSLOG_HEADER, r.body),
            (Transport::NssRfc5424, Some(sd)) => {
                let header =
                    recommended::SYSLOG_HEADER_RFC5424.replace(" - - - ", &format!(" - - {sd} "));
                format!("{header}{}", r.body)
            }
            _ => r.format(transport),
        };
        let f = Format::parse(&text).map_err(|e| GenError::Format(r.name, e))?;
        let compiled = Compiled::new(&f, Some(r.log_type), DEFAULT_ESCAPES);
        let slots = compiled.slots().iter().map(|s| f_of(s)).collect();
        formats.push((r.log_type, Prepared { compiled, slots }));
    }
    Ok(formats)
}

/// A first record id from the clock: 7e18 plus a thousand per millisecond since the epoch,
/// which keeps 19-digit ids like Zscaler's, and never repeats ids across runs as long as a run
/// stays below a million records per second.
pub fn record_id_from_clock() -> i64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    7_000_000_000_000_000_000 + ms * 1000
}

/// A stable documentation-range address for a host name.
fn server_ip(out: &mut String, host: &str, bad: bool) {
    let h = host
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    out.push_str(if bad { "203.0.113." } else { "192.0.2." });
    out.push_str(itoa::Buffer::new().format(h % 250 + 1));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mix: Vec<(LogType, u32)>) -> GenConfig {
        GenConfig {
            seed: 7,
            mix,
            malicious: 0.2,
            transport: Transport::CloudNss,
        }
    }

    fn lines(g: &mut Generator, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let mut out = Vec::new();
                g.next(1_700_000_000, &mut out);
                String::from_utf8(out).unwrap()
            })
            .collect()
    }

    #[test]
    fn same_seed_gives_same_records() {
        let all: Vec<_> = LogType::ALL.iter().map(|lt| (*lt, 1)).collect();
        let a = lines(&mut Generator::new(&config(all.clone())).unwrap(), 200);
        let b = lines(&mut Generator::new(&config(all)).unwrap(), 200);
        assert_eq!(a, b);
    }

    #[test]
    fn every_log_type_renders_valid_json_with_its_sourcetype() {
        for lt in LogType::ALL {
            let mut g = Generator::new(&config(vec![(lt, 1)])).unwrap();
            for line in lines(&mut g, 300) {
                let v: serde_json::Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{lt}: {e}: {line}"));
                assert_eq!(v["sourcetype"], lt.sourcetype(), "{line}");
                assert!(
                    !line.contains("\"None\",\"None\",\"None\",\"None\",\"None\",\"None\""),
                    "mostly empty: {line}"
                );
            }
        }
    }

    #[test]
    fn hex_encoded_fields_carry_percent_encoding() {
        let mut g = Generator::new(&config(vec![(LogType::Web, 1)])).unwrap();
        let text = lines(&mut g, 500).join("\n");
        assert!(text.contains("%20"), "no encoded space");
        assert!(text.contains("%2c"), "no encoded comma");
    }

    #[test]
    fn nss_transport_puts_a_syslog_header_first() {
        let mut c = config(vec![(LogType::Dns, 1)]);
        c.transport = Transport::Nss;
        let mut g = Generator::new(&c).unwrap();
        let line = &lines(&mut g, 1)[0];
        assert!(
            line.starts_with("Nov 14 22:13:20 zscaler-nss NSS {\"sourcetype\""),
            "{line}"
        );
    }

    #[test]
    fn malicious_share_is_respected() {
        let mut g = Generator::new(&config(vec![(LogType::Web, 1)])).unwrap();
        let mut out = Vec::new();
        let bad = (0..10_000)
            .filter(|_| g.next(0, &mut out).malicious)
            .count();
        assert!((1_500..2_500).contains(&bad), "{bad}");
    }

    #[test]
    fn records_are_numbered_from_the_first_record_id() {
        let g = Generator::new(&config(vec![(LogType::Dns, 1)])).unwrap();
        let mut g = g.with_first_record_id(7_000_000_000_000_000_042);
        let lines = lines(&mut g, 2);
        assert!(
            lines[0].contains("\"recordid\":\"7000000000000000042\""),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains("\"recordid\":\"7000000000000000043\""),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn intake_key_structured_data_follows_the_syslog_header() {
        let mut c = config(vec![(LogType::Dns, 1)]);
        c.transport = Transport::Nss;
        let mut g = Generator::new(&c)
            .unwrap()
            .with_intake_key_sd("K%1{\\\"")
            .unwrap();
        let line = &lines(&mut g, 1)[0];
        assert!(
            line.contains(r#" zscaler-nss NSS [SEKOIA@53288 intake_key="K%1{\\\""] {"sourcetype""#),
            "{line}"
        );
        c.transport = Transport::NssRfc5424;
        let mut g = Generator::new(&c)
            .unwrap()
            .with_intake_key_sd("K1")
            .unwrap();
        let line = &lines(&mut g, 1)[0];
        assert!(
            line.contains(r#" zscaler-nss NSS - - [SEKOIA@53288 intake_key="K1"] event={"#),
            "{line}"
        );
        c.transport = Transport::CloudNss;
        assert!(matches!(
            Generator::new(&c).unwrap().with_intake_key_sd("K1"),
            Err(GenError::NoHeader)
        ));
    }

    #[test]
    fn rejects_empty_mix_and_bad_share() {
        assert!(matches!(
            Generator::new(&config(vec![])),
            Err(GenError::EmptyMix)
        ));
        let mut c = config(vec![(LogType::Web, 1)]);
        c.malicious = 1.5;
        assert!(matches!(Generator::new(&c), Err(GenError::BadShare(_))));
    }
}
