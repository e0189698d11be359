//! Every SigmaHQ rule under ../shared/sigma that targets proxy, DNS or firewall logs (and the
//! adjacent Zeek and SaaS rules) either loads or is reported unsupported with a reason.

use std::path::PathBuf;

use detect::{LoadStatus, RuleSet};

fn shared_rules() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/sigma/rules"
    ))
}

#[test]
fn every_shared_rule_gets_a_verdict_and_unsupported_ones_a_reason() {
    let mut set = RuleSet::new();
    set.add_dir(&shared_rules()).unwrap();
    let compiled = set.compile().unwrap();
    let infos = &compiled.infos;
    assert!(infos.len() >= 123, "{} verdicts", infos.len());
    for i in infos {
        match i.status {
            LoadStatus::Loaded => assert!(i.reason.is_none()),
            LoadStatus::Unsupported => assert!(
                i.reason.as_deref().is_some_and(|r| !r.is_empty()),
                "{} has no reason",
                i.source
            ),
        }
    }
    let loaded = infos
        .iter()
        .filter(|i| i.status == LoadStatus::Loaded)
        .count();
    println!(
        "shared sigma: {} verdicts, {} loaded, {} unsupported",
        infos.len(),
        loaded,
        infos.len() - loaded
    );
    for i in infos.iter().filter(|i| i.status == LoadStatus::Unsupported) {
        println!(
            "UNSUPPORTED {} :: {}",
            i.source.rsplit('/').next().unwrap_or(""),
            i.reason.as_deref().unwrap_or("")
        );
    }
}

#[test]
fn a_rule_that_does_not_parse_is_listed_with_its_id_and_title() {
    let mut set = RuleSet::new();
    set.add_yaml(
        "title: Old style\nid: 1234\nlogsource: {category: dns}\ndetection:\n  selection:\n    query: x\n  condition: count(query) per a per b > 5\n",
        "old.yml",
    );
    let infos = set.compile().unwrap().infos;
    assert_eq!(infos.len(), 1);
    assert_eq!(
        (infos[0].id.as_str(), infos[0].title.as_str()),
        ("1234", "Old style")
    );
    assert!(infos[0].reason.as_deref().unwrap().contains("parse error"));
}

#[test]
fn a_legacy_aggregation_loads_as_a_correlation_and_the_detection_it_counts() {
    let mut set = RuleSet::new();
    set.add_yaml(
        "title: Old style\nid: abc-1234\nlogsource: {category: dns}\ndetection:\n  selection:\n    query: x\n  condition: selection | count() by src_ip > 5\n",
        "old.yml",
    );
    let infos = set.compile().unwrap().infos;
    assert_eq!(infos.len(), 2);
    assert!(infos.iter().all(|i| i.status == LoadStatus::Loaded));
    let corr = infos.iter().find(|i| i.id == "abc-1234").unwrap();
    assert_eq!(corr.kind, detect::sigma::RuleKind::Correlation);
}
