//! `ziaxdr intake`, `ziaxdr entity` and `ziaxdr serve` as a user runs them.

mod intake_common;

use std::io::Write;
use std::net::TcpStream;

use intake_common::*;
use serde_json::Value;

fn d(s: &Scratch) -> String {
    s.0.join("data").to_str().unwrap().to_string()
}

#[test]
fn intake_create_json_prints_the_uuid_and_a_32_character_key() {
    let s = Scratch::new("cli-create");
    let (code, out) = cli(&["intake", "create", "--data", &d(&s), "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["uuid"].is_string());
    let key = v["intake_key"].as_str().unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(v["format"], "zscaler-zia");
}

#[test]
fn intake_list_never_shows_keys() {
    let s = Scratch::new("cli-list");
    let (_, key) = create_intake(&s.0.join("data"));
    let (code, out) = cli(&["intake", "list", "--data", &d(&s), "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert!(!out.contains(&key));
    let (_, text) = cli(&["intake", "list", "--data", &d(&s)]);
    assert!(text.contains("enabled") && !text.contains(&key));
}

#[test]
fn intake_rotate_prints_a_new_key() {
    let s = Scratch::new("cli-rotate");
    let (uuid, key) = create_intake(&s.0.join("data"));
    let (code, out) = cli(&["intake", "rotate", &uuid, "--data", &d(&s), "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_ne!(v["intake_key"].as_str().unwrap(), key);
}

#[test]
fn intake_delete_of_an_unknown_uuid_exits_2() {
    let s = Scratch::new("cli-del");
    let (uuid, _) = create_intake(&s.0.join("data"));
    assert_eq!(cli(&["intake", "delete", &uuid, "--data", &d(&s)]).0, 0);
    assert_eq!(cli(&["intake", "delete", &uuid, "--data", &d(&s)]).0, 2);
}

#[test]
fn entity_create_and_list() {
    let s = Scratch::new("cli-entity");
    let (code, out) = cli(&[
        "entity",
        "create",
        "branch-office",
        "--data",
        &d(&s),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let (_, list) = cli(&["entity", "list", "--data", &d(&s), "--json"]);
    let v: Value = serde_json::from_str(list.trim()).unwrap();
    assert_eq!(v[0]["name"], "branch-office");
    assert_eq!(
        cli(&["entity", "create", "branch-office", "--data", &d(&s)]).0,
        2
    );
}

#[test]
fn first_start_prints_the_default_intake_key_once_and_it_works() {
    let s = Scratch::new("serve-first");
    let data = s.0.join("data");
    let server = Serve::start(&data, &[]);
    let addr = server.http;
    // The key is printed on stdout before serving; read it after a clean stop.
    let probe = http(addr, "GET", "/healthz", &[], b"").unwrap();
    assert_eq!(probe.status, 200);
    let (code, out) = server.terminate();
    assert_eq!(code, 0);
    let key = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("intake key:"))
        .expect("key printed")
        .trim()
        .to_string();
    assert_eq!(key.len(), 32);
    assert!(out.contains("Zscaler Internet Access"));
    assert!(out.contains("/plain/batch?status_code=200"));
    let server = Serve::start(&data, &[]);
    let a = http(
        server.http,
        "POST",
        "/plain",
        &[("X-SEKOIAIO-INTAKE-KEY", &key)],
        b"hello",
    )
    .unwrap();
    assert_eq!(a.status, 202);
    assert_eq!(wait_sink(&data, 1).len(), 1);
    let (_, out2) = server.terminate();
    assert!(!out2.contains("intake key:"), "the key is shown only once");
}

#[test]
fn the_cli_can_create_an_intake_while_the_server_runs() {
    let s = Scratch::new("serve-live");
    let data = s.0.join("data");
    let server = Serve::start(&data, &[]);
    let (_, key) = create_intake(&data);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let a = http(
        server.http,
        "POST",
        "/plain",
        &[("X-SEKOIAIO-INTAKE-KEY", &key)],
        b"live",
    )
    .unwrap();
    assert_eq!(a.status, 202);
    server.terminate();
}

#[test]
fn sigterm_drains_everything_acknowledged_into_the_sink() {
    let s = Scratch::new("serve-drain");
    let data = s.0.join("data");
    let (_, key) = create_intake(&data);
    let server = Serve::start(&data, &[]);
    let mut c = TcpStream::connect(server.syslog).unwrap();
    for i in 0..500 {
        writeln!(
            c,
            "<134>1 - h z - - [SEKOIA@53288 intake_key=\"{key}\"] line-{i}"
        )
        .unwrap();
    }
    drop(c);
    let body: String = (0..100).map(|i| format!("http-{i}\n")).collect();
    let a = http(
        server.http,
        "POST",
        "/plain/batch",
        &[("X-SEKOIAIO-INTAKE-KEY", &key)],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(a.status, 202);
    wait_sink(&data, 600);
    let (code, _) = server.terminate();
    assert_eq!(code, 0);
    assert_eq!(sink_events(&data).len(), 600);
}

#[test]
fn settings_come_from_a_toml_config_file_and_environment_variables() {
    let s = Scratch::new("serve-config");
    let data = s.0.join("data");
    let (_, key) = create_intake(&data);
    let cfg = s.0.join("ziaxdr.toml");
    std::fs::write(
        &cfg,
        format!(
            "data = {:?}\nhttp = \"127.0.0.1:0\"\nsyslog = \"127.0.0.1:0\"\nmax-event-bytes = 10\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let server = Serve::spawn(
        &["serve", "--config", cfg.to_str().unwrap()],
        &[("ZIAXDR_MAX_REQUEST_BYTES", "50")],
    );
    let h = [("X-SEKOIAIO-INTAKE-KEY", key.as_str())];
    assert_eq!(
        http(server.http, "POST", "/plain", &h, b"0123456789")
            .unwrap()
            .status,
        202
    );
    assert_eq!(
        http(server.http, "POST", "/plain", &h, b"0123456789A")
            .unwrap()
            .status,
        413,
        "file limit"
    );
    assert_eq!(
        http(server.http, "POST", "/plain/batch", &h, &[b'a'; 51])
            .unwrap()
            .status,
        413,
        "env limit"
    );
    server.terminate();
}

#[test]
fn a_replay_after_a_restart_is_still_dropped_as_a_duplicate() {
    let s = Scratch::new("serve-dedup");
    let data = s.0.join("data");
    let (_, key) = create_intake(&data);
    let vector = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/sekoia-zscaler-zia/test_event_web.json"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(vector).unwrap()).unwrap();
    let record = v["input"]["message"].as_str().unwrap().replace('\n', " ");
    let h = [("X-SEKOIAIO-INTAKE-KEY", key.as_str())];
    let server = Serve::start(&data, &[]);
    assert_eq!(
        http(server.http, "POST", "/plain", &h, record.as_bytes())
            .unwrap()
            .status,
        202
    );
    assert_eq!(server.terminate().0, 0);
    let server = Serve::start(&data, &[]);
    assert_eq!(
        http(server.http, "POST", "/plain", &h, record.as_bytes())
            .unwrap()
            .status,
        202
    );
    assert_eq!(
        http(server.http, "POST", "/plain", &h, b"marker")
            .unwrap()
            .status,
        202
    );
    assert_eq!(server.terminate().0, 0);
    let events = sink_events(&data);
    assert_eq!(events.len(), 2, "the record once, and the marker");
}
