//! `ziaxdr import` while `ziaxdr serve` holds the journal: the records go through the running
//! server's intake, and so through the same journal and pipeline into the store.

mod intake_common;

use std::process::Command;
use std::time::{Duration, Instant};

use intake_common::{cli, create_intake, Scratch, Serve, BIN};

fn import(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("import")
        .args(args)
        .env("ZIAXDR_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ziaxdr serve` on `data`, holding its journal.
fn serve(data: &str) -> Serve {
    Serve::spawn(
        &[
            "serve",
            "--data",
            data,
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "127.0.0.1:0",
            "--no-detection",
        ],
        &[],
    )
}

#[test]
fn import_goes_through_the_running_server() {
    let dir = Scratch::new("import-serving");
    let data = dir.0.join("data");
    let d = data.to_str().unwrap();
    let (_, key) = create_intake(&data);
    let log = dir.0.join("archive.log");
    let (code, _) = cli(&[
        "simulate",
        "--to",
        &format!("file:{}", log.display()),
        "--count",
        "500",
        "--types",
        "web,firewall,dns",
    ]);
    assert_eq!(code, 0);
    let server = serve(d);
    let (code, err) = import(&[log.to_str().unwrap(), "--key", &key, "--data", d]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("through the running server"), "{err}");
    assert!(err.contains("500 records"), "{err}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, out) = cli(&[
            "search", "*", "--since", "30d", "--count", "--json", "--data", d,
        ]);
        assert_eq!(code, 0, "{out}");
        if out.trim() == r#"{"count":500}"# {
            break;
        }
        assert!(Instant::now() < deadline, "stored: {out}");
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(server);
}

#[test]
fn import_by_intake_uuid_while_serving_asks_for_the_key() {
    let dir = Scratch::new("import-serving-uuid");
    let data = dir.0.join("data");
    let d = data.to_str().unwrap();
    let (uuid, _) = create_intake(&data);
    let log = dir.0.join("one.log");
    std::fs::write(&log, "{\"sourcetype\":\"zscalernss-dns\"}\n").unwrap();
    let server = serve(d);
    let (code, err) = import(&[log.to_str().unwrap(), "--intake", &uuid, "--data", d]);
    assert_ne!(code, 0);
    assert!(err.contains("--key"), "{err}");
    drop(server);
}
