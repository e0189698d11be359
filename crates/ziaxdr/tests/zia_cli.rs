//! `ziaxdr zia block|unblock|activate|status` against the mock ZIA API.

use std::process::{Command, Output};

use ziaapi::mock::{self, MockZia};

/// The binary with no ZIA variable inherited from the environment.
fn ziaxdr() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ziaxdr"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ZIA_") || k.starts_with("ZIAXDR_") {
            c.env_remove(k);
        }
    }
    c.env("ZIAXDR_LOG", "error");
    c
}

fn legacy_env(c: &mut Command, zia: &MockZia) {
    c.env("ZIA_CLOUD", "zscaler.net")
        .env("ZIA_API_KEY", mock::API_KEY)
        .env("ZIA_USERNAME", mock::USERNAME)
        .env("ZIA_PASSWORD", mock::PASSWORD)
        .env("ZIA_BASE_URL", zia.legacy_base());
}

fn run(c: &mut Command) -> Output {
    let out = c.output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn block_with_legacy_credentials_from_the_environment() {
    let zia = MockZia::start();
    let data = tempfile::tempdir().unwrap();
    let mut c = ziaxdr();
    legacy_env(&mut c, &zia);
    let out = run(c
        .args(["zia", "block", "https://c2.evil.example/x", "203.0.113.7"])
        .args([
            "--ip-group",
            mock::IP_GROUP,
            "--json",
            "--who",
            "alice",
            "--data",
        ])
        .arg(data.path()));
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v["changed"],
        serde_json::json!(["c2.evil.example/x", "203.0.113.7"])
    );
    assert_eq!(v["activation"], "ACTIVE");
    assert!(zia
        .urls(mock::CATEGORY)
        .contains(&"c2.evil.example/x".into()));
    assert!(zia
        .addresses(mock::IP_GROUP)
        .contains(&"203.0.113.7".into()));
    let audit = ziaapi::respond::read_audit(&data.path().join("zia-audit.jsonl")).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0]["who"].as_str(), audit[0]["via"].as_str()),
        (Some("alice"), Some("cli"))
    );
}

#[test]
fn unblock_with_oneapi_credentials_from_flags() {
    let zia = MockZia::start();
    let data = tempfile::tempdir().unwrap();
    let out = run(ziaxdr()
        .args([
            "zia",
            "unblock",
            "old.example",
            "--category",
            mock::CATEGORY,
        ])
        .args([
            "--client-id",
            mock::CLIENT_ID,
            "--client-secret",
            mock::CLIENT_SECRET,
        ])
        .args(["--vanity-domain", "acme", "--base-url", &zia.oneapi_base()])
        .args(["--token-url", &zia.token_url(), "--data"])
        .arg(data.path()));
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("unblocked old.example in Zscaler (ziaxdr-blocklist)"));
    assert!(zia.urls(mock::CATEGORY).is_empty());
}

#[test]
fn a_dry_run_prints_what_would_change() {
    let zia = MockZia::start();
    let data = tempfile::tempdir().unwrap();
    let mut c = ziaxdr();
    legacy_env(&mut c, &zia);
    let out = run(c
        .args([
            "zia",
            "block",
            "new.example",
            "old.example",
            "--dry-run",
            "--data",
        ])
        .arg(data.path()));
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        "would block new.example in Zscaler (ziaxdr-blocklist); already blocked: old.example"
    );
    assert_eq!(zia.urls(mock::CATEGORY), ["old.example"]);
}

#[test]
fn an_allow_listed_value_from_the_config_file_is_refused_with_status_2() {
    let zia = MockZia::start();
    let data = tempfile::tempdir().unwrap();
    let cfg = data.path().join("ziaxdr.toml");
    std::fs::write(
        &cfg,
        format!(
            "http = \"127.0.0.1:8080\"\n[zia]\ncloud = \"zscaler.net\"\napi-key = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\nbase-url = \"{}\"\nallow = [\"acme.example\"]\n",
            mock::API_KEY,
            mock::USERNAME,
            mock::PASSWORD,
            zia.legacy_base()
        ),
    )
    .unwrap();
    let out = run(ziaxdr()
        .args([
            "zia",
            "block",
            "www.acme.example",
            "evil.example",
            "--config",
        ])
        .arg(&cfg)
        .arg("--data")
        .arg(data.path()));
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("blocked evil.example"), "{text}");
    assert!(
        text.contains("refused www.acme.example: allow-listed (acme.example)"),
        "{text}"
    );
    assert!(!zia.urls(mock::CATEGORY).iter().any(|u| u.contains("acme")));
}

#[test]
fn status_and_activate_report_the_activation_state() {
    let zia = MockZia::start();
    let data = tempfile::tempdir().unwrap();
    let mut c = ziaxdr();
    legacy_env(&mut c, &zia);
    let out = run(c
        .args(["zia", "block", "later.example", "--no-activate", "--data"])
        .arg(data.path()));
    assert!(out.status.success());
    let mut c = ziaxdr();
    legacy_env(&mut c, &zia);
    let out = run(c.args(["zia", "status", "--data"]).arg(data.path()));
    assert!(
        stdout(&out).contains("activation PENDING"),
        "{}",
        stdout(&out)
    );
    let mut c = ziaxdr();
    legacy_env(&mut c, &zia);
    let out = run(c.args(["zia", "activate", "--data"]).arg(data.path()));
    assert_eq!(stdout(&out).trim(), "activation ACTIVE");
    assert_eq!(zia.activation(), "ACTIVE");
}

#[test]
fn missing_credentials_are_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let out = run(ziaxdr().args(["zia", "status", "--data"]).arg(data.path()));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ZIA credentials"));
}

#[test]
fn serve_refuses_an_incomplete_zia_table() {
    let data = tempfile::tempdir().unwrap();
    let cfg = data.path().join("ziaxdr.toml");
    std::fs::write(
        &cfg,
        "[zia]\ncloud = \"zscaler.net\"\napi-key = \"abcdefghijklmnop\"\nusername = \"u\"\n",
    )
    .unwrap();
    let out = run(ziaxdr()
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "off",
            "--config",
        ])
        .arg(&cfg)
        .arg("--data")
        .arg(data.path().join("data")));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing password (ZIA_PASSWORD)"), "{err}");
}
