//! Indicator values: which ZIA list each goes to, in the form ZIA stores it, and the
//! allow-list of values never blocked.
//!
//! A URL category holds URLs and domains without a scheme (`example.com`,
//! `example.com/path`, `.example.com` for the domain and its subdomains); a destination IP
//! group holds IPv4 addresses and ranges. So `https://Evil.example/x` is stored as
//! `evil.example/x`, and `203.0.113.7` or `203.0.113.0/24` goes to the IP group.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::Error;

/// Longest value accepted, in bytes (ZIA's URL length limit is 1,024).
pub const MAX_VALUE_LEN: usize = 1024;

/// Where a value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A URL or domain: the custom URL category.
    Url,
    /// An IP address or range: the destination IP group.
    Ip,
}

/// A value in ZIA's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// URL category or IP group.
    pub kind: ValueKind,
    /// As stored in ZIA.
    pub text: String,
    /// The host of a URL (without a leading dot), for the allow-list.
    host: String,
    /// The range of an IP.
    net: Option<IpNet>,
}

fn host_ok(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    // A single label (`com`, `localhost`) would block a whole top-level domain or nothing.
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*')
        })
}

impl Value {
    /// Reads one value; the error says why it cannot be blocked.
    pub fn parse(raw: &str) -> Result<Value, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("empty value".into());
        }
        if s.len() > MAX_VALUE_LEN {
            return Err(format!("longer than {MAX_VALUE_LEN} bytes"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("contains spaces or control characters".into());
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Value {
                kind: ValueKind::Ip,
                text: ip.to_string(),
                host: String::new(),
                net: Some(IpNet::from(ip)),
            });
        }
        if let Ok(net) = s.parse::<IpNet>() {
            let net = net.trunc();
            return Ok(Value {
                kind: ValueKind::Ip,
                text: net.to_string(),
                host: String::new(),
                net: Some(net),
            });
        }
        let lower = s.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .unwrap_or(&lower);
        let (host_port, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let host = match host_port.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => h,
            _ => host_port,
        };
        let bare = host.strip_prefix('.').unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            if path.is_empty() || path == "/" {
                return Value::parse(&ip.to_string());
            }
        }
        if !host_ok(bare) {
            return Err("not a domain, URL or IP address".into());
        }
        let path = if path == "/" { "" } else { path };
        Ok(Value {
            kind: ValueKind::Url,
            text: format!("{host}{path}"),
            host: bare.to_string(),
            net: None,
        })
    }
}

impl Value {
    /// Whether this is an IPv6 address or range (ZIA keeps those in separate IPv6 groups).
    pub fn is_ipv6(&self) -> bool {
        matches!(self.net, Some(IpNet::V6(_)))
    }
}

/// Domains (each with its subdomains), IPs and ranges that are never blocked.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    domains: Vec<String>,
    nets: Vec<IpNet>,
}

fn within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

impl AllowList {
    /// Reads the entries (`acme.com`, `.acme.com`, `10.0.0.0/8`, `192.0.2.1`).
    pub fn parse(entries: &[String]) -> Result<AllowList, Error> {
        let mut a = AllowList::default();
        for e in entries {
            let e = e.trim();
            if let Ok(ip) = e.parse::<IpAddr>() {
                a.nets.push(IpNet::from(ip));
            } else if let Ok(n) = e.parse::<IpNet>() {
                a.nets.push(n.trunc());
            } else {
                let d = e.trim_start_matches('.').to_ascii_lowercase();
                if !host_ok(&d) {
                    return Err(Error::Config(format!(
                        "allow-list entry {e:?} is not a domain, IP or CIDR range"
                    )));
                }
                a.domains.push(d);
            }
        }
        Ok(a)
    }

    /// Why `v` must not be blocked, if it must not: a domain within an allowed one, or one
    /// that an allowed domain is within (blocking `acme.com` would block `mail.acme.com`);
    /// an IP range overlapping an allowed one.
    pub fn refuses(&self, v: &Value) -> Option<String> {
        match v.kind {
            ValueKind::Url => self
                .domains
                .iter()
                .find(|d| within(&v.host, d) || within(d, &v.host))
                .map(|d| format!("allow-listed ({d})")),
            ValueKind::Ip => {
                let net = v.net?;
                self.nets
                    .iter()
                    .find(|a| a.contains(&net) || net.contains(*a))
                    .map(|a| format!("allow-listed ({a})"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> String {
        let v = Value::parse(s).unwrap();
        assert_eq!(v.kind, ValueKind::Url, "{s}");
        v.text
    }

    #[test]
    fn urls_lose_their_scheme_port_and_bare_slash() {
        assert_eq!(url("https://Evil.Example/x?q=1"), "evil.example/x?q=1");
        assert_eq!(url("http://c2.example:8080/"), "c2.example");
        assert_eq!(url(".bad.example"), ".bad.example");
    }

    #[test]
    fn ips_and_ranges_go_to_the_ip_group() {
        let v = Value::parse("203.0.113.7").unwrap();
        assert_eq!((v.kind, v.text.as_str()), (ValueKind::Ip, "203.0.113.7"));
        let v = Value::parse("203.0.113.9/24").unwrap();
        assert_eq!(v.text, "203.0.113.0/24");
        let v = Value::parse("http://198.51.100.4/").unwrap();
        assert_eq!(v.kind, ValueKind::Ip);
    }

    #[test]
    fn junk_and_top_level_domains_are_refused() {
        for bad in ["", "com", "two words.example", "a..b", "exa$mple.com"] {
            assert!(Value::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_allow_list_covers_subdomains_parents_and_ranges() {
        let a = AllowList::parse(&["acme.com".into(), "10.0.0.0/8".into()]).unwrap();
        let refused = |s: &str| a.refuses(&Value::parse(s).unwrap()).is_some();
        assert!(refused("acme.com"));
        assert!(refused("https://mail.acme.com/login"));
        assert!(refused("10.1.2.3"));
        assert!(refused("10.0.0.0/7"));
        assert!(!refused("notacme.com"));
        assert!(!refused("evil.example"));
        assert!(!refused("11.0.0.1"));
        let a = AllowList::parse(&["mail.acme.com".into()]).unwrap();
        assert!(a.refuses(&Value::parse("acme.com").unwrap()).is_some());
    }
}
