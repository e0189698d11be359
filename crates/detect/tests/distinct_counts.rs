//! A `value_count` correlation counts the distinct values of its window, as its window
//! changes: values that left it are no longer counted, values seen again count once, and a
//! state read back from a snapshot counts what it held. (rsigma-eval is patched to keep these
//! counts as it goes instead of recounting the window at every event:
//! `vendor/rsigma-eval/ZIAXDR-PATCH.md`.)

use detect::{Detector, RuleSet};
use serde_json::{json, Value};

/// The shipped pack: its DNS tunnelling rule fires on 50 distinct names under one registered
/// domain from one client within 5 minutes.
fn detector() -> Detector {
    Detector::new(&RuleSet::builtin()).unwrap()
}

const TUNNELLING: &str = "zia_dns_tunnelling";

/// A DNS query of `name` under example.com from 10.1.1.1, `second` seconds into the hour.
fn query(second: u32, name: &str) -> Value {
    json!({"@timestamp": format!("2026-12-06T10:{:02}:{:02}Z", second / 60, second % 60),
           "event": {"dataset": "dns", "id": format!("dns-{second}-{name}")},
           "source": {"ip": "10.1.1.1"},
           "dns": {"question": {"name": format!("{name}.example.com"),
                                "registered_domain": "example.com", "type": "A"}}})
}

/// Whether the tunnelling correlation fired on `ev`.
fn tunnelling(d: &mut Detector, ev: &Value) -> bool {
    d.process_value(ev)
        .iter()
        .any(|m| m.correlation && m.rule.name.contains("DNS Tunnelling"))
}

fn rule_loaded(d: &Detector) {
    assert!(
        d.rules()
            .iter()
            .any(|r| r.id.contains(TUNNELLING) || r.title.contains("DNS Tunnelling")),
        "the shipped pack has its DNS tunnelling correlation"
    );
}

#[test]
fn fifty_distinct_names_within_the_window_fire() {
    let mut d = detector();
    rule_loaded(&d);
    for i in 0..49 {
        assert!(!tunnelling(&mut d, &query(i, &format!("n{i}"))));
    }
    assert!(tunnelling(&mut d, &query(49, "n49")));
}

#[test]
fn names_seen_again_count_once() {
    let mut d = detector();
    // 49 distinct names, each asked three times: still 49.
    for round in 0..3 {
        for i in 0..49 {
            let ev = query(round * 49 + i, &format!("n{i}"));
            assert!(!tunnelling(&mut d, &ev), "round {round}, name {i}");
        }
    }
    assert!(tunnelling(&mut d, &query(200, "fresh")));
}

#[test]
fn names_that_left_the_window_are_no_longer_counted() {
    let mut d = detector();
    for i in 0..40 {
        assert!(!tunnelling(&mut d, &query(i, &format!("old{i}"))));
    }
    // Six minutes later the first 40 are out of the 5-minute window: 40 new names make 40,
    // not 80.
    for i in 0..40 {
        assert!(!tunnelling(&mut d, &query(400 + i, &format!("new{i}"))));
    }
    // An old name asked again counts again, once: 41 … up to 50 with nine more.
    assert!(!tunnelling(&mut d, &query(440, "old0")));
    for i in 0..8 {
        assert!(!tunnelling(&mut d, &query(441 + i, &format!("more{i}"))));
    }
    assert!(tunnelling(&mut d, &query(449, "more8")));
}

#[test]
fn a_state_read_back_from_a_snapshot_counts_the_names_it_held() {
    let mut d = detector();
    for i in 0..49 {
        assert!(!tunnelling(&mut d, &query(i, &format!("n{i}"))));
    }
    let snapshot = d.correlation_state().unwrap();
    let mut other = detector();
    other.set_correlation_state(Some(&snapshot)).unwrap();
    // A name it held is not new…
    assert!(!tunnelling(&mut other, &query(50, "n3")));
    // …and one more distinct name makes 50.
    assert!(tunnelling(&mut other, &query(51, "n49")));
}
