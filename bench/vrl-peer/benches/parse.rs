//! Parse throughput per sourcetype, `zia` against the VRL peer, in the same run.
//!
//! `cargo bench -p vrl-peer --bench parse` (criterion prints elements/s for each pair).
//! Both run on one core: criterion runs one benchmark at a time on the calling thread.
//!
//! The log types the VRL peer does not know (Endpoint DLP, Email DLP, NSS alerts, sandbox
//! verdicts, SaaS subtypes) and the broken shapes are measured for `zia` alone in the groups
//! `parse-new/*`, beside `parse-new/web-simulated` (simulated web records, the reference the
//! ratios are taken against, in the same run).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
// The binary runs on mimalloc too: an event is many small allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::path::Path;

fn shared() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
}

fn bench(c: &mut Criterion) {
    let corpus = vrl_peer::corpus::corpus(shared(), 1000);
    let mut peer = vrl_peer::VrlPeer::new().expect("VRL program compiles");
    for (name, records) in &corpus {
        // Both must succeed on every record, or the comparison means nothing.
        for r in records {
            zia::parse(r).unwrap_or_else(|e| panic!("zia failed on {r}: {e}"));
            peer.process(r)
                .unwrap_or_else(|e| panic!("vrl failed on {r}: {e}"));
        }
        let mut g = c.benchmark_group(format!("parse/{name}"));
        g.throughput(Throughput::Elements(records.len() as u64));
        g.bench_function("zia", |b| {
            b.iter(|| {
                for r in records {
                    black_box(zia::parse(black_box(r)).ok());
                }
            })
        });
        g.bench_function("vrl", |b| {
            b.iter_batched_ref(
                || (),
                |_| {
                    for r in records {
                        black_box(peer.process(black_box(r)).ok());
                    }
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

/// `n` simulated records of a log type, as Cloud NSS sends them.
fn simulated(lt: nss::LogType, n: usize) -> Vec<String> {
    let mut g = sim::Generator::new(&sim::GenConfig {
        seed: 11,
        mix: vec![(lt, 1)],
        malicious: 0.2,
        transport: nss::Transport::CloudNss,
    })
    .expect("valid generator");
    (0..n)
        .map(|i| {
            let mut out = Vec::new();
            g.next(1_700_000_000 + i as i64, &mut out);
            String::from_utf8(out).expect("UTF-8")
        })
        .collect()
}

/// Records of the types and shapes the peer cannot parse, by group name.
fn new_types(n: usize) -> Vec<(&'static str, Vec<String>)> {
    let alerts = (0..n)
        .map(|i| format!("<114>Dec 31 12:{:02}:04 [192.0.2.{}] ZscalerNSS: SIEM Feed connection \"Feed {i}\" to 198.51.100.{}:514 lost and unavailable for the past {}.00 minutes", i % 60, i % 250, i % 250, i % 90))
        .collect();
    let sandbox = (0..n)
        .map(|i| format!(r#"{{"sourcetype":"zscalernss-sandbox","event":{{"time":"Mon Oct 16 22:55:48 2023","verdict":"{}","score":"{}","threatname":"Win32.Trojan.{i}","md5":"{i:032x}","sha256":"{i:064x}","tactic":"TA0002|TA0003","technique":"T1059.001,T1547","childmd5s":"{:032x}|{:032x}","login":"u{i}@example.com"}}}}"#, if i % 3 == 0 { "MALICIOUS" } else { "BENIGN" }, i % 100, i + 1, i + 2))
        .collect();
    let saas = (0..n)
        .map(|i| format!(r#"{{"version":"v1","sourcetype":"zscalernss-saas_security","sourcesubtype":"{}","time":"{}","tz":"GMT","record_id":"{i}","severity":"High","policy":"None","rule":{{"label":"R{i}","type":"OfflineCASBDLP"}},"application":{{"name":"OneDrive"}},"dlp":{{"dict_names":"Credit Cards|SSN","dict_counts":"3|1"}},"user_name":"u{i}@example.com","hostname":"t.example.com","file":{{"name":"f{i}.pdf","directory":"/Legal%20Docs","size":"{i}","hash":{{"md5":"{i:032x}"}},"full_url":"https://t.example.com/v/{i}"}}}}"#, ["file", "email", "collaboration", "genai"][i % 4], 1_730_470_000 + i))
        .collect();
    let broken = (0..n)
        .map(|i| format!(r#"{{"sourcetype":"zscalernss-web","event":{{"datetime":"Thu Dec 31 11:11:11 2021","action":"Allowed","ClientIP":"10.0.{}.{}","url":"a{i}.example.com/C:\x\y","useragent":"Mozilla/5.0 "quoted" agent {i}","hostname":"a{i}.example.com"}}}}"#, i / 250 % 250, i % 250))
        .collect();
    vec![
        ("web-simulated", simulated(nss::LogType::Web, n)),
        ("endpoint-dlp", simulated(nss::LogType::EndpointDlp, n)),
        ("email-dlp", simulated(nss::LogType::EmailDlp, n)),
        ("nss-alert", alerts),
        ("sandbox", sandbox),
        ("saas-subtypes", saas),
        ("broken-web-repaired", broken),
    ]
}

fn bench_new(c: &mut Criterion) {
    for (name, records) in new_types(1000) {
        for r in &records {
            let p = zia::parse(r).unwrap_or_else(|e| panic!("zia failed on {r}: {e}"));
            assert!(
                p.event
                    .get("event")
                    .and_then(|e| e.get("dataset"))
                    .is_some(),
                "{name}: no dataset: {r}"
            );
        }
        let mut g = c.benchmark_group(format!("parse-new/{name}"));
        g.throughput(Throughput::Elements(records.len() as u64));
        g.bench_function("zia", |b| {
            b.iter(|| {
                for r in &records {
                    black_box(zia::parse(black_box(r)).ok());
                }
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = bench, bench_new
}
criterion_main!(benches);
