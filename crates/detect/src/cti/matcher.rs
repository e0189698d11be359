//! The indicator matcher: every conjunction of every indicator pattern is indexed by one of
//! its equality comparisons, so an event costs one hash lookup per observable it carries
//! (plus one per parent domain and per distinct CIDR prefix length), independent of the
//! number of indicators. The other comparisons of a conjunction are checked only on a hit.

use std::borrow::Cow;
use std::net::IpAddr;

use ahash::{AHashMap, AHashSet};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::pattern::{self, Atom, Observable, Op};
use super::Indicator;
use crate::event::{get_str, visit_strs, EcsEvent};

/// Read access to an event's fields: the map itself, or its index when the detector built one.
trait Fields<'a> {
    fn strs(&self, path: &str, visit: &mut dyn FnMut(&'a str));
    fn str_at(&self, path: &str) -> Option<Cow<'a, str>>;
}

impl<'a> Fields<'a> for &'a Map<String, Value> {
    fn strs(&self, path: &str, visit: &mut dyn FnMut(&'a str)) {
        visit_strs(self, path, visit)
    }
    fn str_at(&self, path: &str) -> Option<Cow<'a, str>> {
        get_str(self, path)
    }
}

impl<'a> Fields<'a> for EcsEvent<'a> {
    fn strs(&self, path: &str, visit: &mut dyn FnMut(&'a str)) {
        self.visit_strs(path, visit)
    }
    fn str_at(&self, path: &str) -> Option<Cow<'a, str>> {
        self.get_str(path)
    }
}

/// Event fields holding domain names.
const DOMAIN_FIELDS: &[&str] = &[
    "url.domain",
    "destination.domain",
    "dns.question.name",
    "server.domain",
];
/// Event fields holding URLs.
const URL_FIELDS: &[&str] = &["url.original", "url.full"];
/// Event fields holding IP addresses.
const IP_FIELDS: &[&str] = &[
    "source.ip",
    "destination.ip",
    "server.ip",
    "client.ip",
    "dns.resolved_ip",
    "dns.answers.data",
];
/// Event fields holding file hashes, by algorithm.
const HASH_FIELDS: &[(&str, &str)] = &[
    ("md5", "file.hash.md5"),
    ("sha1", "file.hash.sha1"),
    ("sha256", "file.hash.sha256"),
    ("sha512", "file.hash.sha512"),
];

/// Where a conjunction lives: (indicator index, conjunction index).
type Ref = (u32, u32);

/// One indicator hit on an event.
#[derive(Debug, Clone)]
pub struct CtiHit<'m> {
    /// The indicator.
    pub indicator: &'m Indicator,
    /// The observable value that was found in the event.
    pub value: String,
}

/// Observables of one event, read once.
#[derive(Default)]
struct Observed<'a> {
    domains: Vec<Cow<'a, str>>,
    urls: Vec<Cow<'a, str>>,
    ips: Vec<IpAddr>,
    hashes: Vec<(&'static str, Cow<'a, str>)>,
    user_agent: Option<Cow<'a, str>>,
    file_name: Option<Cow<'a, str>>,
}

fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Normalises a domain: lowercase, no trailing dot.
fn norm_domain(s: &str) -> Cow<'_, str> {
    let s = s.strip_suffix('.').unwrap_or(s);
    lower(s)
}

/// Normalises a URL for comparison: ZIA logs URLs without a scheme, STIX has one; the host is
/// case-insensitive; a trailing slash is not significant.
pub fn norm_url(s: &str) -> String {
    norm_url_cow(s).into_owned()
}

/// [`norm_url`] without a copy when the URL is already in normal form (the usual case for
/// ZIA, which logs URLs without a scheme and with a lowercase host).
fn norm_url_cow(s: &str) -> Cow<'_, str> {
    let s = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .or_else(|| s.strip_prefix("HTTP://"))
        .or_else(|| s.strip_prefix("HTTPS://"))
        .unwrap_or(s);
    let (host, rest) = match s.find('/') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if !host.bytes().any(|b| b.is_ascii_uppercase()) {
        // `s` is host + rest (+ a trailing slash): borrow the prefix.
        return Cow::Borrowed(&s[..host.len() + rest.len()]);
    }
    let mut out = host.to_ascii_lowercase();
    out.push_str(rest);
    Cow::Owned(out)
}

fn decode_ua(s: &str) -> Cow<'_, str> {
    if s.contains('%') {
        if let Ok(Cow::Owned(d)) = percent_encoding::percent_decode_str(s).decode_utf8() {
            return Cow::Owned(d);
        }
    }
    Cow::Borrowed(s)
}

/// The kinds of observables some kept conjunction compares: only those are read from an
/// event (with 100,000 indicators of domains, addresses and URLs, the lookups of hashes, user
/// agents and file names no indicator names were a third of the indicator matching, issue
/// 18). A conjunction's other comparisons are read too, so a negated one still sees them.
#[derive(Debug, Default, Clone, Copy)]
struct Reads {
    domains: bool,
    urls: bool,
    ips: bool,
    hashes: bool,
    user_agent: bool,
    file_name: bool,
}

impl Reads {
    fn add(&mut self, o: &Observable) {
        match o {
            Observable::Domain => self.domains = true,
            Observable::Url => self.urls = true,
            Observable::Ip => self.ips = true,
            Observable::Hash(_) => self.hashes = true,
            Observable::UserAgent => self.user_agent = true,
            Observable::FileName => self.file_name = true,
            Observable::Other(_) => {}
        }
    }
}

impl<'a> Observed<'a> {
    fn read(ev: &impl Fields<'a>, reads: Reads) -> Self {
        let mut o = Observed::default();
        if reads.domains {
            o.read_domains(ev);
        }
        if reads.urls {
            for f in URL_FIELDS {
                ev.strs(f, &mut |s| o.urls.push(norm_url_cow(s)));
            }
        }
        if reads.ips {
            o.read_ips(ev);
        }
        if reads.hashes {
            for (algo, f) in HASH_FIELDS {
                ev.strs(f, &mut |s| o.hashes.push((algo, lower(s))));
            }
        }
        if reads.user_agent {
            o.user_agent = ev.str_at("user_agent.original").map(|ua| match ua {
                Cow::Borrowed(s) => decode_ua(s),
                Cow::Owned(s) => Cow::Owned(decode_ua(&s).into_owned()),
            });
        }
        if reads.file_name {
            o.file_name = ev.str_at("file.name");
        }
        o
    }

    fn read_domains(&mut self, ev: &impl Fields<'a>) {
        for f in DOMAIN_FIELDS {
            ev.strs(f, &mut |s| {
                let d = norm_domain(s);
                if !d.is_empty() && !self.domains.contains(&d) {
                    self.domains.push(d);
                }
            });
        }
    }

    fn read_ips(&mut self, ev: &impl Fields<'a>) {
        for f in IP_FIELDS {
            ev.strs(f, &mut |s| {
                if let Ok(ip) = s.parse::<IpAddr>() {
                    if !self.ips.contains(&ip) {
                        self.ips.push(ip);
                    }
                }
            });
        }
    }
}

/// CIDR blocks of one prefix length: masked network -> conjunctions.
struct CidrLevel<T> {
    prefix: u8,
    nets: AHashMap<T, Vec<Ref>>,
}

/// Indicators compiled for matching.
pub struct CtiMatcher {
    indicators: Vec<Indicator>,
    conjunctions: Vec<Vec<Vec<Atom>>>,
    domains: AHashMap<String, Vec<Ref>>,
    urls: AHashMap<String, Vec<Ref>>,
    ips: AHashMap<IpAddr, Vec<Ref>>,
    v4: Vec<CidrLevel<u32>>,
    v6: Vec<CidrLevel<u128>>,
    hashes: AHashMap<String, Vec<Ref>>,
    user_agents: AHashMap<String, Vec<Ref>>,
    file_names: AHashMap<String, Vec<Ref>>,
    unsupported: Vec<(String, String)>,
    /// What an event is read for.
    reads: Reads,
}

fn v4_mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn v6_mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl CtiMatcher {
    /// An empty matcher.
    pub fn empty() -> Self {
        Self::build(&[], Utc::now())
    }

    /// Compiles the indicators active at `now` (revoked and expired ones are left out).
    pub fn build(all: &[Indicator], now: DateTime<Utc>) -> Self {
        let mut m = CtiMatcher {
            indicators: Vec::new(),
            conjunctions: Vec::new(),
            domains: AHashMap::new(),
            urls: AHashMap::new(),
            ips: AHashMap::new(),
            v4: Vec::new(),
            v6: Vec::new(),
            hashes: AHashMap::new(),
            user_agents: AHashMap::new(),
            file_names: AHashMap::new(),
            unsupported: Vec::new(),
            reads: Reads::default(),
        };
        for ind in all.iter().filter(|i| i.is_active(now)) {
            let dnf = match pattern::parse(&ind.pattern) {
                Ok(d) => d,
                Err(e) => {
                    m.unsupported.push((ind.id.clone(), e.0));
                    continue;
                }
            };
            let idx = m.indicators.len() as u32;
            let mut kept = Vec::new();
            for conj in dnf.0 {
                // A conjunction with a comparison on an object ZIA never logs cannot match.
                if conj
                    .iter()
                    .any(|a| matches!(a.observable, Observable::Other(_)) && !a.negated)
                {
                    continue;
                }
                let ci = kept.len() as u32;
                if m.index_conjunction(&conj, (idx, ci)) {
                    kept.push(conj);
                }
            }
            if kept.is_empty() {
                m.unsupported.push((
                    ind.id.clone(),
                    "no comparison on an observable found in ZIA logs (domain, url, ip, \
                     file hash, file name, user agent) with = or IN"
                        .into(),
                ));
                continue;
            }
            for a in kept.iter().flatten() {
                m.reads.add(&a.observable);
            }
            m.indicators.push(ind.clone());
            m.conjunctions.push(kept);
        }
        m
    }

    /// Indexes a conjunction under its first positive equality comparison.
    fn index_conjunction(&mut self, conj: &[Atom], r: Ref) -> bool {
        let Some(atom) = conj
            .iter()
            .find(|a| !a.negated && matches!(a.op, Op::Eq(_)))
        else {
            return false;
        };
        let Op::Eq(values) = &atom.op else {
            return false;
        };
        for v in values {
            match &atom.observable {
                Observable::Domain => self
                    .domains
                    .entry(norm_domain(v).into_owned())
                    .or_default()
                    .push(r),
                Observable::Url => self.urls.entry(norm_url(v)).or_default().push(r),
                Observable::Ip => {
                    if let Ok(ip) = v.parse::<IpAddr>() {
                        self.ips.entry(ip).or_default().push(r);
                    } else if let Ok(net) = v.parse::<ipnet::IpNet>() {
                        match net {
                            ipnet::IpNet::V4(n) => {
                                let p = n.prefix_len();
                                let key = u32::from(n.network()) & v4_mask(p);
                                let level = match self.v4.iter().position(|l| l.prefix == p) {
                                    Some(i) => &mut self.v4[i],
                                    None => {
                                        self.v4.push(CidrLevel {
                                            prefix: p,
                                            nets: AHashMap::new(),
                                        });
                                        self.v4.last_mut().expect("just pushed")
                                    }
                                };
                                level.nets.entry(key).or_default().push(r);
                            }
                            ipnet::IpNet::V6(n) => {
                                let p = n.prefix_len();
                                let key = u128::from(n.network()) & v6_mask(p);
                                let level = match self.v6.iter().position(|l| l.prefix == p) {
                                    Some(i) => &mut self.v6[i],
                                    None => {
                                        self.v6.push(CidrLevel {
                                            prefix: p,
                                            nets: AHashMap::new(),
                                        });
                                        self.v6.last_mut().expect("just pushed")
                                    }
                                };
                                level.nets.entry(key).or_default().push(r);
                            }
                        }
                    } else {
                        return false;
                    }
                }
                Observable::Hash(_) => self
                    .hashes
                    .entry(v.to_ascii_lowercase())
                    .or_default()
                    .push(r),
                Observable::UserAgent => self.user_agents.entry(v.clone()).or_default().push(r),
                Observable::FileName => self.file_names.entry(v.clone()).or_default().push(r),
                Observable::Other(_) => return false,
            }
        }
        true
    }

    /// Number of indicators that can match.
    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    /// Whether no indicator can match.
    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// Indicators left out because their pattern cannot be used, with the reason.
    pub fn unsupported(&self) -> &[(String, String)] {
        &self.unsupported
    }

    /// Returns the indicators matching an event (each at most once).
    pub fn match_event<'m>(&'m self, ev: &Map<String, Value>) -> Vec<CtiHit<'m>> {
        if self.indicators.is_empty() {
            return Vec::new();
        }
        self.match_observed(Observed::read(&ev, self.reads))
    }

    /// [`CtiMatcher::match_event`] over an event the detector already indexed.
    pub fn match_indexed<'m>(&'m self, ev: &EcsEvent<'_>) -> Vec<CtiHit<'m>> {
        if self.indicators.is_empty() {
            return Vec::new();
        }
        self.match_observed(Observed::read(ev, self.reads))
    }

    fn match_observed<'m>(&'m self, obs: Observed<'_>) -> Vec<CtiHit<'m>> {
        let mut cands: Vec<(Ref, String)> = Vec::new();
        for d in &obs.domains {
            // The domain itself and each parent (a.b.evil.com -> b.evil.com -> evil.com).
            let mut cur: &str = d;
            loop {
                if let Some(rs) = self.domains.get(cur) {
                    cands.extend(rs.iter().map(|r| (*r, d.to_string())));
                }
                match cur.find('.') {
                    Some(i) if cur[i + 1..].contains('.') => cur = &cur[i + 1..],
                    _ => break,
                }
            }
        }
        for u in &obs.urls {
            if let Some(rs) = self.urls.get(u.as_ref()) {
                cands.extend(rs.iter().map(|r| (*r, u.to_string())));
            }
        }
        for ip in &obs.ips {
            if let Some(rs) = self.ips.get(ip) {
                cands.extend(rs.iter().map(|r| (*r, ip.to_string())));
            }
            match ip {
                IpAddr::V4(a) => {
                    let n = u32::from(*a);
                    for l in &self.v4 {
                        if let Some(rs) = l.nets.get(&(n & v4_mask(l.prefix))) {
                            cands.extend(rs.iter().map(|r| (*r, ip.to_string())));
                        }
                    }
                }
                IpAddr::V6(a) => {
                    let n = u128::from(*a);
                    for l in &self.v6 {
                        if let Some(rs) = l.nets.get(&(n & v6_mask(l.prefix))) {
                            cands.extend(rs.iter().map(|r| (*r, ip.to_string())));
                        }
                    }
                }
            }
        }
        for (_, h) in &obs.hashes {
            if let Some(rs) = self.hashes.get(h.as_ref()) {
                cands.extend(rs.iter().map(|r| (*r, h.to_string())));
            }
        }
        if let Some(ua) = &obs.user_agent {
            if let Some(rs) = self.user_agents.get(ua.as_ref()) {
                cands.extend(rs.iter().map(|r| (*r, ua.to_string())));
            }
        }
        if let Some(f) = &obs.file_name {
            if let Some(rs) = self.file_names.get(f.as_ref()) {
                cands.extend(rs.iter().map(|r| (*r, f.to_string())));
            }
        }
        if cands.is_empty() {
            return Vec::new();
        }
        let now = Utc::now();
        let mut seen = AHashSet::new();
        let mut out = Vec::new();
        for ((ii, ci), value) in cands {
            if seen.contains(&ii) {
                continue;
            }
            let ind = &self.indicators[ii as usize];
            // Expiry is re-checked on a hit: the matcher may outlive valid_until.
            if ind.valid_until.is_some_and(|u| u <= now) {
                continue;
            }
            let conj = &self.conjunctions[ii as usize][ci as usize];
            if conj.iter().all(|a| atom_holds(a, &obs)) {
                seen.insert(ii);
                out.push(CtiHit {
                    indicator: ind,
                    value,
                });
            }
        }
        out
    }
}

fn atom_holds(a: &Atom, o: &Observed<'_>) -> bool {
    let test = |s: &str| -> bool {
        match &a.op {
            Op::Eq(vals) => vals.iter().any(|v| eq_obs(&a.observable, v, s)),
            Op::Neq(v) => !eq_obs(&a.observable, v, s),
            Op::Matches(re) | Op::Like(re) => re.is_match(s),
        }
    };
    let found = match &a.observable {
        Observable::Domain => o.domains.iter().any(|d| test(d)),
        Observable::Url => o.urls.iter().any(|u| test(u)),
        Observable::Ip => o.ips.iter().any(|ip| test(&ip.to_string())),
        Observable::Hash(_) => o.hashes.iter().any(|(_, h)| test(h)),
        Observable::UserAgent => o.user_agent.as_deref().is_some_and(test),
        Observable::FileName => o.file_name.as_deref().is_some_and(test),
        Observable::Other(_) => false,
    };
    found != a.negated
}

fn eq_obs(kind: &Observable, pattern_value: &str, event_value: &str) -> bool {
    match kind {
        Observable::Domain => {
            let p = norm_domain(pattern_value);
            event_value == p || event_value.ends_with(&format!(".{p}"))
        }
        Observable::Url => norm_url(pattern_value) == event_value,
        Observable::Ip => {
            let Ok(ip) = event_value.parse::<IpAddr>() else {
                return false;
            };
            if let Ok(p) = pattern_value.parse::<IpAddr>() {
                p == ip
            } else if let Ok(net) = pattern_value.parse::<ipnet::IpNet>() {
                net.contains(&ip)
            } else {
                false
            }
        }
        Observable::Hash(_) => pattern_value.eq_ignore_ascii_case(event_value),
        _ => pattern_value == event_value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ind(id: &str, pattern: &str) -> Indicator {
        Indicator {
            name: id.into(),
            ..Indicator::new(id, pattern)
        }
    }

    fn ev(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn domain_indicator_matches_subdomains() {
        let m = CtiMatcher::build(
            &[ind("i1", "[domain-name:value = 'evil.example']")],
            Utc::now(),
        );
        let hits = m.match_event(&ev(json!({"url": {"domain": "cdn.evil.example"}})));
        assert_eq!(hits.len(), 1);
        assert!(m
            .match_event(&ev(json!({"url": {"domain": "notevil.example"}})))
            .is_empty());
    }

    #[test]
    fn cidr_indicator_matches_an_address_inside() {
        let m = CtiMatcher::build(
            &[ind("i1", "[ipv4-addr:value = '223.166.0.0/15']")],
            Utc::now(),
        );
        assert_eq!(
            m.match_event(&ev(json!({"destination": {"ip": "223.167.1.2"}})))
                .len(),
            1
        );
        assert!(m
            .match_event(&ev(json!({"destination": {"ip": "223.168.1.2"}})))
            .is_empty());
    }

    #[test]
    fn ipv6_indicator_matches() {
        let m = CtiMatcher::build(
            &[ind("i1", "[ipv6-addr:value = '2001:db8::/32']")],
            Utc::now(),
        );
        assert_eq!(
            m.match_event(&ev(json!({"source": {"ip": "2001:db8::1"}})))
                .len(),
            1
        );
    }

    #[test]
    fn url_indicator_ignores_scheme_as_zia_logs_none() {
        let m = CtiMatcher::build(
            &[ind("i1", "[url:value = 'http://x4z9arb.cn/4712/']")],
            Utc::now(),
        );
        assert_eq!(
            m.match_event(&ev(json!({"url": {"original": "x4z9arb.cn/4712/"}})))
                .len(),
            1
        );
    }

    #[test]
    fn and_pattern_needs_both_observables() {
        let m = CtiMatcher::build(
            &[ind(
                "i1",
                "[domain-name:value = 'a.example' AND ipv4-addr:value = '1.2.3.4']",
            )],
            Utc::now(),
        );
        assert!(m
            .match_event(&ev(json!({"url": {"domain": "a.example"}})))
            .is_empty());
        assert_eq!(
            m.match_event(&ev(
                json!({"url": {"domain": "a.example"}, "destination": {"ip": "1.2.3.4"}})
            ))
            .len(),
            1
        );
    }

    #[test]
    fn a_comparison_on_a_kind_no_indicator_is_indexed_by_is_still_read_from_the_event() {
        let m = CtiMatcher::build(
            &[ind(
                "i1",
                "[domain-name:value = 'evil.example' AND file:name != 'ok.exe']",
            )],
            Utc::now(),
        );
        let on = |name: &str| {
            m.match_event(&ev(
                json!({"url": {"domain": "evil.example"}, "file": {"name": name}}),
            ))
            .len()
        };
        assert_eq!((on("other.exe"), on("ok.exe")), (1, 0));
    }

    #[test]
    fn revoked_and_expired_indicators_never_match() {
        let mut revoked = ind("i1", "[domain-name:value = 'a.example']");
        revoked.revoked = true;
        let mut expired = ind("i2", "[domain-name:value = 'a.example']");
        expired.valid_until = Some(Utc::now() - chrono::Duration::days(1));
        let m = CtiMatcher::build(&[revoked, expired], Utc::now());
        assert!(m
            .match_event(&ev(json!({"url": {"domain": "a.example"}})))
            .is_empty());
    }

    #[test]
    fn hash_and_user_agent_indicators_match() {
        let m = CtiMatcher::build(
            &[
                ind("h", "[file:hashes.MD5 = '01565BF41F1CB993D69334F409835293']"),
                ind(
                    "u",
                    "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'EvilBot/1.0']",
                ),
            ],
            Utc::now(),
        );
        let e = ev(
            json!({"file": {"hash": {"md5": "01565bf41f1cb993d69334f409835293"}},
                          "user_agent": {"original": "EvilBot/1.0"}}),
        );
        assert_eq!(m.match_event(&e).len(), 2);
    }

    #[test]
    fn x509_only_indicator_is_reported_unsupported() {
        let m = CtiMatcher::build(
            &[ind("x", "[x509-certificate:issuer = 'CN=evil']")],
            Utc::now(),
        );
        assert_eq!(m.len(), 0);
        assert_eq!(m.unsupported().len(), 1);
    }
}
