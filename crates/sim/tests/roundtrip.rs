//! Every record the simulator writes, for every log type and transport, parses with the
//! `zia` parser into an event of its dataset, without error or warning.

use nss::{LogType, Transport};
use sim::{GenConfig, Generator};

fn records(lt: LogType, transport: Transport, n: usize) -> Vec<String> {
    let mut g = Generator::new(&GenConfig {
        seed: 7,
        mix: vec![(lt, 1)],
        malicious: 0.3,
        transport,
    })
    .expect("valid config");
    (0..n)
        .map(|i| {
            let mut out = Vec::new();
            g.next(1_700_000_000 + i as i64, &mut out);
            String::from_utf8(out).expect("UTF-8")
        })
        .collect()
}

fn dataset(lt: LogType) -> &'static str {
    match lt {
        LogType::Web => "web",
        LogType::Firewall => "firewall",
        LogType::Dns => "dns",
        LogType::Tunnel => "tunnel",
        LogType::Audit => "audit",
        LogType::SaasSecurity | LogType::SaasSecurityActivity => "casb",
        LogType::EndpointDlp => "endpoint_dlp",
        LogType::EmailDlp => "email_dlp",
    }
}

#[test]
fn every_simulated_record_parses_into_its_dataset_without_warnings() {
    for lt in LogType::ALL {
        for t in [Transport::Nss, Transport::NssRfc5424, Transport::CloudNss] {
            for raw in records(lt, t, 200) {
                let p = zia::parse(&raw).unwrap_or_else(|e| panic!("{lt} {t:?}: {e}: {raw}"));
                let ev = serde_json::Value::Object(p.event);
                assert_eq!(ev["event"]["dataset"], dataset(lt), "{lt} {t:?}: {raw}");
                assert!(ev["@timestamp"].is_string(), "{lt} {t:?}: {raw}");
                assert!(p.warnings.is_empty(), "{lt} {t:?}: {:?}: {raw}", p.warnings);
            }
        }
    }
}

#[test]
fn simulated_email_dlp_keeps_attachments_aligned() {
    for raw in records(LogType::EmailDlp, Transport::CloudNss, 50) {
        let ev = serde_json::Value::Object(zia::parse(&raw).unwrap().event);
        let n = ev["email"]["attachments"].as_array().map_or(0, Vec::len);
        assert!((1..=3).contains(&n), "{raw}");
        for a in ev["email"]["attachments"].as_array().unwrap() {
            assert!(a["file"]["hash"]["md5"].is_string(), "{raw}");
        }
    }
}

#[test]
fn simulated_endpoint_dlp_maps_the_destination_path() {
    for raw in records(LogType::EndpointDlp, Transport::CloudNss, 50) {
        let ev = serde_json::Value::Object(zia::parse(&raw).unwrap().event);
        let path = ev["file"]["path"].as_str().expect("file.path");
        let name = ev["file"]["name"].as_str().expect("file.name");
        assert!(path.ends_with(name), "{path} {name}");
        assert!(
            raw.contains(&format!("\"filedstpath\":\"{path}\"")),
            "{path}"
        );
    }
}

#[test]
fn simulated_records_have_the_keys_of_the_current_recommended_format() {
    for lt in LogType::ALL {
        for t in [Transport::Nss, Transport::CloudNss] {
            for raw in records(lt, t, 20) {
                let keys = zia::record_keys(&raw);
                let d = nss::drift::check(lt, keys.iter().map(String::as_str)).unwrap();
                assert!(d.is_current(), "{lt} {t:?}: {d:?}");
            }
        }
    }
}

fn extra_records(kind: sim::ExtraKind, n: usize) -> Vec<String> {
    let mut g = sim::ExtraGenerator::new(5, 0.4);
    (0..n)
        .map(|i| {
            let mut s = String::new();
            g.next(kind, 1_700_000_000 + i as i64 * 37, &mut s);
            s
        })
        .collect()
}

#[test]
fn every_simulated_record_without_a_feed_format_parses_into_its_dataset_without_warnings() {
    for kind in sim::ExtraKind::ALL {
        let want = match kind {
            sim::ExtraKind::NssAlert => "nss_alert",
            sim::ExtraKind::SandboxVerdict => "sandbox",
            sim::ExtraKind::SaasSubtype => "casb",
        };
        for raw in extra_records(kind, 300) {
            let p = zia::parse(&raw).unwrap_or_else(|e| panic!("{kind:?}: {e}: {raw}"));
            let ev = serde_json::Value::Object(p.event);
            assert_eq!(ev["event"]["dataset"], want, "{kind:?}: {raw}");
            assert!(ev["@timestamp"].is_string(), "{kind:?}: {raw}");
            assert!(p.warnings.is_empty(), "{kind:?}: {:?}: {raw}", p.warnings);
        }
    }
}

#[test]
fn simulated_saas_records_keep_their_subtype() {
    for raw in extra_records(sim::ExtraKind::SaasSubtype, 100) {
        let want: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let ev = serde_json::Value::Object(zia::parse(&raw).unwrap().event);
        assert_eq!(
            ev["zscaler"]["zia"]["saas"]["subtype"], want["sourcesubtype"],
            "{raw}"
        );
    }
}

#[test]
fn simulated_findings_in_sandbox_verdicts_are_alerts_with_attack_ids() {
    let mut findings = 0;
    for raw in extra_records(sim::ExtraKind::SandboxVerdict, 100) {
        let ev = serde_json::Value::Object(zia::parse(&raw).unwrap().event);
        if ev["event"]["kind"] == "alert" {
            findings += 1;
            assert!(ev["threat"]["tactic"]["id"].is_array(), "{raw}");
            assert!(
                ev["zscaler"]["zia"]["sandbox"]["child_hashes"].is_array(),
                "{raw}"
            );
        } else {
            assert_eq!(ev["event"]["action"], "benign", "{raw}");
        }
    }
    assert!(findings > 0);
}

#[test]
fn simulated_nss_alerts_say_how_long_the_feed_was_lost() {
    for raw in extra_records(sim::ExtraKind::NssAlert, 100) {
        let ev = serde_json::Value::Object(zia::parse(&raw).unwrap().event);
        assert!(
            ev["zscaler"]["zia"]["nss_alert"]["lost_minutes"].is_number(),
            "{raw}"
        );
    }
}
