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
