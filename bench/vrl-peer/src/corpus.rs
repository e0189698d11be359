//! Benchmark records: the Sekoia conformance vectors of each sourcetype (read from
//! `../shared`, never copied), varied so that IPs, hosts, paths, users and user agents repeat
//! the way real traffic does rather than being one record parsed again and again.

use std::path::Path;

/// User agents of the kinds a proxy sees, percent-encoded as NSS `eua` fields are.
const AGENTS: &[&str] = &[
    "Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)%20AppleWebKit/537.36%20(KHTML%2c%20like%20Gecko)%20Chrome/128.0.0.0%20Safari/537.36",
    "Mozilla/5.0%20(Macintosh;%20Intel%20Mac%20OS%20X%2010_15_7)%20AppleWebKit/605.1.15%20(KHTML%2c%20like%20Gecko)%20Version/17.4%20Safari/605.1.15",
    "Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64;%20rv:125.0)%20Gecko/20100101%20Firefox/125.0",
    "Mozilla/5.0%20(iPhone;%20CPU%20iPhone%20OS%2017_4%20like%20Mac%20OS%20X)%20AppleWebKit/605.1.15%20(KHTML%2c%20like%20Gecko)%20Version/17.4%20Mobile/15E148%20Safari/604.1",
    "Microsoft-Delivery-Optimization/10.0",
    "curl/8.5.0",
    "Windows%20Microsoft%20Windows%2010%20Pro%20ZTunnel/1.0",
    "Mozilla/5.0%20(X11;%20Linux%20x86_64)%20AppleWebKit/537.36%20(KHTML%2c%20like%20Gecko)%20Chrome/127.0.0.0%20Safari/537.36%20Edg/127.0.0.0",
];

const HOSTS: &[&str] = &[
    "www.google.com",
    "login.microsoftonline.com",
    "outlook.office365.com",
    "api.github.com",
    "www.bbc.co.uk",
    "cdn.jsdelivr.net",
    "s3.amazonaws.com",
    "teams.microsoft.com",
    "www.lemonde.fr",
    "update.googleapis.com",
    "slack.com",
    "zoom.us",
];

/// A small deterministic generator, so every run parses the same records.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
}

fn vector(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let v: serde_json::Value = serde_json::from_str(&text).expect("vector JSON");
    let msg = v["input"]["message"].as_str().expect("input.message");
    // Re-serialise compactly: a feed sends one record per line.
    let parsed: serde_json::Value = serde_json::from_str(msg).expect("message JSON");
    parsed.to_string()
}

/// `n` varied records of each sourcetype, keyed by sourcetype.
pub fn corpus(shared: &Path, n: usize) -> Vec<(&'static str, Vec<String>)> {
    let dir = shared.join("conformance/sekoia-zscaler-zia");
    let mut rng = Lcg(42);
    let templates: [(&'static str, &[&str]); 6] = [
        (
            "web",
            &[
                "test_event_web.json",
                "test_event_web2.json",
                "test_event_web3.json",
                "docs-v1.1.0/test_event_web4.json",
            ],
        ),
        ("firewall", &["test_event_firewall.json"]),
        ("dns", &["test_event_dns.json"]),
        (
            "tunnel",
            &[
                "test_tunnel_gre.json",
                "test_tunnel_ipsev_ikev1.json",
                "test_tunnel_ipsev_ikev2.json",
            ],
        ),
        (
            "audit",
            &[
                "test_event_audit1.json",
                "test_event_audit2.json",
                "test_event_audit3.json",
            ],
        ),
        (
            "casb",
            &["test_event_casb.json", "test_saas_security_event.json"],
        ),
    ];
    templates
        .iter()
        .map(|(name, files)| {
            let bases: Vec<String> = files.iter().map(|f| vector(&dir, f)).collect();
            let records = (0..n)
                .map(|i| {
                    let base = &bases[i % bases.len()];
                    let src = format!(
                        "10.{}.{}.{}",
                        rng.next() % 16,
                        rng.next() % 256,
                        rng.next() % 254 + 1
                    );
                    let dst = format!(
                        "{}.{}.{}.{}",
                        rng.next() % 200 + 20,
                        rng.next() % 256,
                        rng.next() % 256,
                        rng.next() % 254 + 1
                    );
                    let host = rng.pick(HOSTS);
                    let ua = rng.pick(AGENTS);
                    let mut v: serde_json::Value = serde_json::from_str(base).expect("base JSON");
                    if let Some(ev) = v.get_mut("event").and_then(|e| e.as_object_mut()) {
                        for (k, val) in ev.iter_mut() {
                            let new = match k.as_str() {
                                "ClientIP" | "csip" | "clt_sip" | "sourceip" | "clientip" => {
                                    Some(src.clone())
                                }
                                "serverip" | "sdip" | "srv_dip" | "destinationip" => {
                                    Some(dst.clone())
                                }
                                "hostname" | "dns_req" => Some(host.to_owned()),
                                "url" => Some(format!(
                                    "{host}/p/{}/index.html?id={}",
                                    rng.next() % 50,
                                    rng.next() % 1000
                                )),
                                "useragent" => Some(ua.to_owned()),
                                "user" | "login" => {
                                    Some(format!("user{}%40example.com", rng.next() % 500))
                                }
                                _ => None,
                            };
                            if let Some(n) = new {
                                *val = serde_json::Value::String(n);
                            }
                        }
                    }
                    v.to_string()
                })
                .collect();
            (*name, records)
        })
        .collect()
}
