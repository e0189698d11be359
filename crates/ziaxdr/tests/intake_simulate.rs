//! End to end: `ziaxdr simulate` (an emulated NSS VM and Cloud NSS) into `ziaxdr serve`; every
//! record reaches the sink, parsed by the zia format.

mod intake_common;

use std::process::Command;

use intake_common::*;
use serde_json::Value;

fn simulate(args: &[&str]) {
    let st = Command::new(BIN)
        .arg("simulate")
        .args(args)
        .args(["--no-progress", "--seed", "7"])
        .env("ZIAXDR_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}

fn parse_failures(events: &[Value]) -> usize {
    events
        .iter()
        .filter(|e| e["event"]["event"]["kind"] == "pipeline_error")
        .count()
}

#[test]
fn an_emulated_nss_vm_and_cloud_nss_feed_arrive_whole_and_parsed() {
    let s = Scratch::new("simulate");
    let data = s.0.join("data");
    let (_, key) = create_intake(&data);
    let server = Serve::start(&data, &[]);
    simulate(&[
        "--to",
        &format!("tcp://{}", server.syslog),
        "--count",
        "500",
        "--key",
        &key,
    ]);
    let url = format!("http://{}/plain/batch?status_code=200", server.http);
    simulate(&["--to", &url, "--count", "500", "--key", &key, "--gzip"]);
    assert_eq!(server.terminate().0, 0);
    let events = sink_events(&data);
    assert_eq!(events.len(), 1000);
    assert_eq!(parse_failures(&events), 0, "every simulated record parses");
    assert!(!std::fs::read_to_string(data.join("events.ndjson"))
        .unwrap()
        .contains(&key));
}
