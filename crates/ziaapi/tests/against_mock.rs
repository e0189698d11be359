//! The client and responder against the mock ZIA API (`ziaapi::mock`), both authentications.

use std::time::Duration;

use ziaapi::mock::{self, MockZia};
use ziaapi::{ClientOptions, Error, Op, Pacing, Request, Responder, Settings};

/// No client-side pacing, so that tests do not wait for ZIA's per-second limits.
fn fast() -> ClientOptions {
    ClientOptions {
        pacing: Pacing {
            get_gap: Duration::ZERO,
            write_gap: Duration::ZERO,
            delete_gap: Duration::ZERO,
            ..Pacing::default()
        },
        ..ClientOptions::default()
    }
}

fn responder(s: Settings) -> Responder {
    s.responder(fast()).unwrap()
}

fn block(values: &[&str]) -> Request {
    Request::new(
        Op::Block,
        values.iter().map(|v| v.to_string()).collect(),
        "tester",
        "test",
    )
}

fn unblock(values: &[&str]) -> Request {
    Request {
        op: Op::Unblock,
        ..block(values)
    }
}

#[test]
fn legacy_block_adds_urls_to_the_category_and_ips_to_the_group_then_activates() {
    let zia = MockZia::start();
    let r = responder(zia.legacy_settings());
    let out = r
        .run(&block(&["https://C2.evil.example/gate.php", "203.0.113.7"]))
        .unwrap();
    assert_eq!(out.changed, ["c2.evil.example/gate.php", "203.0.113.7"]);
    assert_eq!(out.activation.as_deref(), Some("ACTIVE"));
    assert!(zia
        .urls(mock::CATEGORY)
        .contains(&"c2.evil.example/gate.php".to_string()));
    assert!(zia
        .urls(mock::CATEGORY)
        .contains(&"old.example".to_string()));
    assert_eq!(zia.addresses(mock::IP_GROUP), ["192.0.2.99", "203.0.113.7"]);
    let reqs = zia.requests();
    let put = reqs
        .iter()
        .find(|q| q.method == "PUT" && q.path == "/api/v1/urlCategories/CUSTOM_01")
        .expect("the category PUT");
    assert_eq!(put.query, "action=ADD_TO_LIST");
    assert_eq!(
        put.body.as_ref().unwrap()["urls"],
        serde_json::json!(["c2.evil.example/gate.php"])
    );
    assert!(reqs
        .iter()
        .any(|q| q.path == "/api/v1/status/activate" && q.status == 200));
    assert_eq!(zia.sign_ins(), 1, "one session for the whole action");
}

#[test]
fn oneapi_block_and_unblock_go_through_a_bearer_token() {
    let zia = MockZia::start();
    let r = responder(zia.oneapi_settings());
    r.run(&block(&["evil.example"])).unwrap();
    assert!(zia
        .urls(mock::CATEGORY)
        .contains(&"evil.example".to_string()));
    let out = r.run(&unblock(&["evil.example", "never.example"])).unwrap();
    assert_eq!(out.changed, ["evil.example"]);
    assert_eq!(out.unchanged, ["never.example"]);
    assert!(!zia
        .urls(mock::CATEGORY)
        .contains(&"evil.example".to_string()));
    let reqs = zia.requests();
    assert!(reqs
        .iter()
        .any(|q| q.path == "/oauth2/v1/token" && q.status == 200));
    assert!(reqs
        .iter()
        .any(|q| q.path == "/zia/api/v1/urlCategories/CUSTOM_01"
            && q.query == "action=REMOVE_FROM_LIST"));
    assert_eq!(zia.sign_ins(), 1, "the token is reused");
}

#[test]
fn unblock_removes_an_ip_from_the_group() {
    let zia = MockZia::start();
    let r = responder(zia.legacy_settings());
    let out = r.run(&unblock(&["192.0.2.99"])).unwrap();
    assert_eq!(out.changed, ["192.0.2.99"]);
    assert!(zia.addresses(mock::IP_GROUP).is_empty());
}

#[test]
fn activate_and_status_report_zias_activation_state() {
    let zia = MockZia::start();
    let r = responder(zia.legacy_settings());
    let req = Request {
        activate: Some(false),
        ..block(&["pending.example"])
    };
    let out = r.run(&req).unwrap();
    assert_eq!(out.activation, None);
    assert_eq!(r.status().unwrap(), "PENDING");
    assert_eq!(r.activate("tester", "test").unwrap(), "ACTIVE");
    assert_eq!(zia.activation(), "ACTIVE");
    assert_eq!(r.status().unwrap(), "ACTIVE");
}

#[test]
fn a_dry_run_reads_but_changes_nothing() {
    let zia = MockZia::start();
    let r = responder(zia.oneapi_settings());
    let req = Request {
        dry_run: true,
        ..block(&["new.example", "old.example"])
    };
    let out = r.run(&req).unwrap();
    assert!(out.dry_run);
    assert_eq!(out.changed, ["new.example"]);
    assert_eq!(out.unchanged, ["old.example"]);
    assert!(out.summary().starts_with("would block new.example"));
    assert_eq!(zia.urls(mock::CATEGORY), ["old.example"]);
    assert!(zia
        .requests()
        .iter()
        .all(|q| q.method != "PUT" && !q.path.ends_with("/activate")));
}

#[test]
fn a_429_is_retried_after_the_legacy_bodys_retry_after() {
    let zia = MockZia::start();
    let r = responder(zia.legacy_settings());
    r.status().unwrap(); // signs in
    zia.throttle_next(1, 1);
    let out = r.run(&block(&["slow.example"])).unwrap();
    assert_eq!(out.changed, ["slow.example"]);
    let reqs = zia.requests();
    let i = reqs.iter().position(|q| q.status == 429).expect("a 429");
    let retry = &reqs[i + 1];
    assert_eq!(retry.path, reqs[i].path, "the same call repeated");
    assert!(retry.at.duration_since(reqs[i].at) >= Duration::from_millis(950));
}

#[test]
fn a_429_is_retried_after_the_oneapi_retry_after_header() {
    let zia = MockZia::start();
    let r = responder(zia.oneapi_settings());
    r.status().unwrap();
    zia.throttle_next(1, 1);
    assert_eq!(r.status().unwrap(), "ACTIVE");
    let reqs = zia.requests();
    let i = reqs.iter().position(|q| q.status == 429).expect("a 429");
    assert!(reqs[i + 1].at.duration_since(reqs[i].at) >= Duration::from_millis(950));
}

#[test]
fn a_429_asking_for_longer_than_max_wait_fails_at_once() {
    let zia = MockZia::start();
    let opts = ClientOptions {
        max_wait: Duration::from_secs(5),
        ..fast()
    };
    let r = zia.legacy_settings().responder(opts).unwrap();
    r.status().unwrap();
    zia.throttle_next(1, 3600);
    match r.status() {
        Err(Error::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 3600),
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[test]
fn an_expired_legacy_session_signs_in_again_and_repeats_the_call() {
    let zia = MockZia::start();
    let r = responder(zia.legacy_settings());
    r.status().unwrap();
    zia.expire_sessions();
    r.run(&block(&["after-expiry.example"])).unwrap();
    assert_eq!(zia.sign_ins(), 2);
    assert!(zia
        .urls(mock::CATEGORY)
        .contains(&"after-expiry.example".to_string()));
    assert!(zia.requests().iter().any(|q| q.status == 401));
}

#[test]
fn an_expired_oneapi_token_is_renewed() {
    let zia = MockZia::start();
    let r = responder(zia.oneapi_settings());
    r.status().unwrap();
    zia.expire_sessions();
    assert_eq!(r.status().unwrap(), "ACTIVE");
    assert_eq!(zia.sign_ins(), 2);
}

#[test]
fn wrong_credentials_are_an_authentication_error() {
    let zia = MockZia::start();
    let mut s = zia.legacy_settings();
    s.password = Some(ziaapi::Secret::new("wrong"));
    assert!(matches!(responder(s).status(), Err(Error::Auth(_))));
    let mut s = zia.oneapi_settings();
    s.client_secret = Some(ziaapi::Secret::new("wrong"));
    assert!(matches!(responder(s).status(), Err(Error::Auth(_))));
}

#[test]
fn an_allow_listed_value_is_refused_and_the_rest_blocked() {
    let zia = MockZia::start();
    let mut s = zia.legacy_settings();
    s.allow = vec!["acme.example".into(), "10.0.0.0/8".into()];
    let r = responder(s);
    let out = r
        .run(&block(&[
            "https://portal.acme.example/login",
            "10.1.2.3",
            "evil.example",
        ]))
        .unwrap();
    assert_eq!(out.changed, ["evil.example"]);
    let refused: Vec<&str> = out.refused.iter().map(|x| x.value.as_str()).collect();
    assert_eq!(refused, ["10.1.2.3", "https://portal.acme.example/login"]);
    assert!(out
        .refused
        .iter()
        .all(|x| x.reason.starts_with("allow-listed")));
    assert!(!zia.urls(mock::CATEGORY).iter().any(|u| u.contains("acme")));
    assert_eq!(zia.addresses(mock::IP_GROUP), ["192.0.2.99"]);
}

#[test]
fn only_allow_listed_values_make_no_call_that_changes_zia() {
    let zia = MockZia::start();
    let mut s = zia.legacy_settings();
    s.allow = vec!["acme.example".into()];
    let out = responder(s).run(&block(&["acme.example"])).unwrap();
    assert!(out.changed.is_empty());
    assert!(zia.requests().iter().all(|q| q.method != "PUT"));
}

#[test]
fn more_values_than_the_cap_refuse_the_whole_action() {
    let zia = MockZia::start();
    let mut s = zia.legacy_settings();
    s.max_values = Some(2);
    let r = responder(s);
    let e = r
        .run(&block(&["a.example", "b.example", "c.example"]))
        .unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e}");
    assert!(zia.requests().is_empty(), "refused before any call");
}

#[test]
fn an_unknown_category_is_named_in_the_error() {
    let zia = MockZia::start();
    let r = responder(zia.legacy_settings());
    let req = Request {
        category: Some("no-such-category".into()),
        ..block(&["x.example"])
    };
    let e = r.run(&req).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)) && e.to_string().contains("no-such-category"));
}

#[test]
fn every_action_is_audited_with_who_what_when_and_result() {
    let zia = MockZia::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("zia-audit.jsonl");
    let mut s = zia.legacy_settings();
    s.audit_log = Some(log.clone());
    s.allow = vec!["acme.example".into()];
    s.max_values = Some(3);
    let r = responder(s);
    r.run(&block(&["evil.example"])).unwrap();
    r.run(&block(&["acme.example"])).unwrap();
    let _ = r.run(&block(&[
        "a.example",
        "b.example",
        "c.example",
        "d.example",
    ]));
    r.activate("tester", "test").unwrap();
    let lines = ziaapi::respond::read_audit(&log).unwrap();
    let results: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["action"].as_str().unwrap(), l["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("block", "ok"),
            ("block", "refused"),
            ("block", "refused"),
            ("activate", "ok")
        ]
    );
    assert_eq!(lines[0]["who"], "tester");
    assert_eq!(lines[0]["values"], serde_json::json!(["evil.example"]));
    assert_eq!(
        lines[0]["outcome"]["changed"],
        serde_json::json!(["evil.example"])
    );
    assert!(lines[0]["at"].as_str().unwrap().contains('T'));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(mock::PASSWORD) && !text.contains(mock::API_KEY));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the audit log is private");
    }
}

#[test]
fn writes_are_paced_one_per_second_by_default() {
    let zia = MockZia::start();
    let r = zia
        .legacy_settings()
        .responder(ClientOptions::default())
        .unwrap();
    r.run(&block(&["paced.example"])).unwrap();
    let reqs = zia.requests();
    // sign-in (POST), GET categories, PUT, POST activate: the three writes 1 s apart.
    let writes: Vec<_> = reqs.iter().filter(|q| q.method != "GET").collect();
    assert_eq!(writes.len(), 3);
    for w in writes.windows(2) {
        assert!(w[1].at.duration_since(w[0].at) >= Duration::from_millis(990));
    }
}

#[test]
fn ipv6_values_are_refused_not_put_in_the_ipv4_group() {
    let zia = MockZia::start();
    let out = responder(zia.legacy_settings())
        .run(&block(&["2001:db8::1"]))
        .unwrap();
    assert_eq!(out.refused.len(), 1);
    assert!(out.refused[0].reason.contains("IPv6"));
    assert_eq!(zia.addresses(mock::IP_GROUP), ["192.0.2.99"]);
}

#[test]
fn a_rate_limited_sign_in_says_when_to_try_again() {
    let zia = MockZia::start();
    zia.throttle_next(1, 30);
    match responder(zia.oneapi_settings()).status() {
        Err(Error::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 30),
        other => panic!("expected RateLimited, got {other:?}"),
    }
}
