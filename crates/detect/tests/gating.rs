//! The literal gate in front of rsigma (`detect::gate`) must never change what fires: the
//! gated detector and the ungated one (every rule in rsigma's engine) give the same matches
//! on events built from the rules' own literals, which is where a wrong gate (or a wrong
//! memoized verdict) would show.

use std::path::{Path, PathBuf};

use detect::{Detector, RuleSet};
use serde_json::{json, Map, Value};

fn shared_sigma() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/sigma/rules"
    ))
}

fn rules() -> RuleSet {
    let mut set = RuleSet::builtin();
    set.add_dir(&shared_sigma()).unwrap();
    set
}

/// Every quoted or bare scalar under a rule's `detection:` block, wildcards removed.
fn literals(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            literals(&p, out);
            continue;
        }
        if p.extension().is_none_or(|x| x != "yml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let mut in_detection = false;
        for line in text.lines() {
            if !line.starts_with(' ') && !line.is_empty() {
                in_detection = line.starts_with("detection:");
                continue;
            }
            if !in_detection || line.trim_start().starts_with("condition:") {
                continue;
            }
            let v = match line.trim_start().strip_prefix("- ") {
                Some(v) => v,
                None => match line.split_once(": ") {
                    Some((_, v)) => v,
                    None => continue,
                },
            };
            let v = v
                .trim()
                .trim_matches(|c| c == '\'' || c == '"')
                .replace('*', "");
            if !v.is_empty() && v.len() < 200 {
                out.push(v);
            }
        }
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// Events carrying one literal in the places proxy, DNS, firewall, audit, tunnel and CASB
/// rules look.
fn events_for(lit: &str, i: usize) -> Vec<Map<String, Value>> {
    let method = ["GET", "POST", "CONNECT", "PUT"][i % 4];
    let port: u64 = lit.parse().unwrap_or(443);
    vec![
        obj(json!({"@timestamp": "2026-11-27T10:00:00Z",
            "event": {"dataset": "web", "action": "allowed", "id": format!("w{i}")},
            "source": {"ip": "10.0.0.1"}, "destination": {"ip": "1.2.3.4", "domain": lit, "port": port},
            "url": {"domain": lit, "original": format!("http://x.example/{lit}"), "path": format!("/{lit}"),
                    "query": lit, "extension": lit},
            "user_agent": {"original": lit}, "http": {"request": {"method": method, "referrer": lit},
            "response": {"status_code": 200}}})),
        obj(json!({"@timestamp": "2026-11-27T10:00:00Z",
            "event": {"dataset": "web", "action": "blocked", "id": format!("v{i}")},
            "source": {"ip": "10.0.0.1"}, "destination": {"ip": "1.2.3.4"},
            "url": {"domain": format!("a.{lit}"), "original": format!("{lit}/index.php?{lit}")},
            "user_agent": {"original": format!("Mozilla/5.0 {lit}")},
            "http": {"request": {"method": method}}})),
        obj(json!({"@timestamp": "2026-11-27T10:00:00Z",
            "event": {"dataset": "dns", "id": format!("d{i}")},
            "source": {"ip": "10.0.0.1"}, "destination": {"ip": "10.0.0.53"},
            "dns": {"question": {"name": lit, "type": "TXT", "registered_domain": lit},
                    "answers": [{"data": lit}]}})),
        obj(json!({"@timestamp": "2026-11-27T10:00:00Z",
            "event": {"dataset": "firewall", "action": "allow", "id": format!("f{i}")},
            "source": {"ip": "10.0.0.1", "port": 50000}, "destination": {"ip": lit, "port": port}})),
        // Rules gated on their dataset alone (audit, tunnel, casb), with mixed case.
        obj(json!({"@timestamp": "2026-11-27T23:00:00Z",
            "event": {"dataset": (["audit", "Audit"][i % 2]), "action": (["sign_in", "SIGN_IN"][i % 2]),
                      "outcome": (["failure", "success"][(i / 2) % 2]), "type": "change", "id": format!("a{i}")},
            "user": {"name": lit}, "source": {"ip": "10.0.0.1"}})),
        obj(json!({"@timestamp": "2026-11-27T10:00:00Z",
            "event": {"dataset": "tunnel", "id": format!("t{i}")},
            "zscaler": {"zia": {"tunnel": {"status": lit}, "event": {"outcome": "failure"}}}})),
        obj(json!({"@timestamp": "2026-11-27T10:00:00Z",
            "event": {"dataset": "casb", "id": format!("c{i}")},
            "zscaler": {"zia": {"threat": {"name": lit}}}})),
    ]
}

/// The ids of what fired, sorted, with the number of correlation matches among them.
fn fired(d: &mut Detector, ev: &Map<String, Value>) -> (Vec<String>, usize) {
    let matches = d.process(ev);
    let correlations = matches.iter().filter(|m| m.correlation).count();
    let mut ids: Vec<String> = matches.into_iter().map(|m| m.rule.id).collect();
    ids.sort();
    (ids, correlations)
}

#[test]
fn gating_never_changes_what_fires() {
    let set = rules();
    let mut gated = Detector::new(&set).unwrap();
    let mut reference = Detector::new_ungated(&set).unwrap();
    let mut lits = Vec::new();
    literals(&shared_sigma(), &mut lits);
    literals(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules")),
        &mut lits,
    );
    lits.sort();
    lits.dedup();
    assert!(lits.len() > 500, "only {} literals found", lits.len());
    let mut fired_total = 0;
    let mut correlations = 0;
    // Twice: the second pass finds every value in the memo of single-field rules.
    for _pass in 0..2 {
        for (i, lit) in lits.iter().enumerate() {
            for ev in events_for(lit, i) {
                let (want, corr) = fired(&mut reference, &ev);
                let (got, _) = fired(&mut gated, &ev);
                assert_eq!(got, want, "event {}", Value::Object(ev.clone()));
                fired_total += want.len();
                correlations += corr;
            }
        }
    }
    // The events must exercise the rules, or the comparison proves nothing.
    assert!(fired_total > 100, "only {fired_total} matches");
    // Correlations too: their input rules are evaluated outside the engine when gated.
    assert!(correlations > 0, "no correlation fired");
}

#[test]
fn most_shared_proxy_rules_are_gated() {
    let c = rules().compile().unwrap();
    assert!(c.gated.len() >= 30, "{} gated rules", c.gated.len());
}
