//! The log types beyond web, firewall, DNS, tunnel, audit and SaaS: Endpoint DLP, Email DLP,
//! NSS feed-health alerts, sandbox verdicts and the SaaS Security subtypes.

use serde_json::{json, Value};

fn parse(raw: &str) -> zia::Parsed {
    zia::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
}

fn ev(raw: &str) -> Value {
    Value::Object(parse(raw).event)
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, p| cur.get(p))
}

fn s<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

const EDLP: &str = r#"{"sourcetype":"zscalernss-edlp","event":{"datetime":"Tue May 30 18:07:54 2023","eventtime":"Tue May 30 18:07:50 2023","recordid":"7239038846486118403","user":"kim@example.com","devicename":"LAPTOP-7","devicehostname":"laptop-7.corp","deviceostype":"Windows","deviceosversion":"11","deviceplatform":"Windows","devicemodel":"XPS 13","channel":"Removable Media","actiontaken":"block","severity":"High Severity","rulename":"Block%20USB","dlpdictnames":"Credit Cards|SSN","dlpdictcount":"5|2","dlpenginenames":"PCI","itemname":"cards.xlsx","filedstpath":"E:%5Ccards.xlsx","filemd5":"b29e01ed4bde24b0f8edb1fd4816e982","ouser":"4094304256"}}"#;

#[test]
fn endpoint_dlp_maps_rule_action_severity_device_user_and_file() {
    let e = ev(EDLP);
    assert_eq!(s(&e, "event.dataset"), Some("endpoint_dlp"));
    assert_eq!(s(&e, "event.kind"), Some("alert"));
    assert_eq!(s(&e, "event.action"), Some("block"));
    assert_eq!(get(&e, "event.type"), Some(&json!(["info", "denied"])));
    assert_eq!(s(&e, "rule.name"), Some("Block USB"));
    assert_eq!(get(&e, "event.severity"), Some(&json!(4)));
    assert_eq!(s(&e, "user.email"), Some("kim@example.com"));
    assert_eq!(s(&e, "host.hostname"), Some("LAPTOP-7"));
    assert_eq!(s(&e, "host.name"), Some("laptop-7.corp"));
    assert_eq!(s(&e, "host.os.type"), Some("windows"));
    assert_eq!(s(&e, "file.name"), Some("cards.xlsx"));
    assert_eq!(s(&e, "file.path"), Some(r"E:\cards.xlsx"));
    assert_eq!(s(&e, "zscaler.zia.channel"), Some("Removable Media"));
    assert_eq!(
        get(&e, "zscaler.zia.dlp.dictionaries"),
        Some(&json!(["Credit Cards", "SSN"]))
    );
    assert_eq!(
        get(&e, "zscaler.zia.dlp.dictionary_hits"),
        Some(&json!([5, 2]))
    );
    assert_eq!(s(&e, "@timestamp"), Some("2023-05-30T18:07:54Z"));
    assert_eq!(s(&e, "event.start"), Some("2023-05-30T18:07:50Z"));
}

#[test]
fn an_obfuscated_field_does_not_replace_the_clear_one() {
    let e = ev(EDLP);
    assert_eq!(s(&e, "user.email"), Some("kim@example.com"));
    assert_eq!(s(&e, "zscaler.zia.ouser"), Some("4094304256"));
}

const EMAIL_DLP: &str = r#"{"sourcetype":"zscalernss-emaildlp","event":{"time":"Wed Apr  3 09:58:55 2024","mailsenttime":"Wed Apr  3 09:58:51 2024","recordid":"7353686396818817024","user":"ana@example.com","sender":"ana@example.com","subject":"Q1%20numbers","msgid":"<abc@mail.example.com>","triggeredrcpts":"x@other.example|y@other.example","otherrcpts":"None","action":"Block|Allow","rulename":"Cards|Ids","severity":"High Severity|Low Severity","filenames":"a.pdf||c.csv","filemd5s":"8573f6c2a0c9ec7232026c246b5a9f84|5d41402abc4b2a76b9719d911017c592|098f6bcd4621d373cade4e832627b4f6","filesizes":"10|0|30","filetypes":"pdf||csv","dlpdictnames":"Credit Cards"}}"#;

#[test]
fn email_dlp_keeps_its_lists_aligned_as_arrays() {
    let e = ev(EMAIL_DLP);
    assert_eq!(s(&e, "event.dataset"), Some("email_dlp"));
    assert_eq!(
        get(&e, "zscaler.zia.email_dlp.actions"),
        Some(&json!(["Block", "Allow"]))
    );
    assert_eq!(
        get(&e, "zscaler.zia.email_dlp.rules"),
        Some(&json!(["Cards", "Ids"]))
    );
    assert_eq!(
        get(&e, "zscaler.zia.email_dlp.triggered_recipients"),
        Some(&json!(["x@other.example", "y@other.example"]))
    );
    let att = get(&e, "email.attachments").unwrap().as_array().unwrap();
    assert_eq!(att.len(), 3, "one object per slot");
    assert_eq!(att[0]["file"]["name"], "a.pdf");
    assert!(
        att[1]["file"].get("name").is_none(),
        "the empty slot stays empty"
    );
    assert_eq!(
        att[1]["file"]["hash"]["md5"],
        "5d41402abc4b2a76b9719d911017c592"
    );
    assert_eq!(att[2]["file"]["name"], "c.csv");
    assert_eq!(att[2]["file"]["size"], 30);
}

#[test]
fn email_dlp_maps_sender_recipients_subject_action_and_hashes() {
    let e = ev(EMAIL_DLP);
    assert_eq!(
        get(&e, "email.from.address"),
        Some(&json!(["ana@example.com"]))
    );
    assert_eq!(
        get(&e, "email.to.address"),
        Some(&json!(["x@other.example", "y@other.example"]))
    );
    assert_eq!(s(&e, "email.subject"), Some("Q1 numbers"));
    assert_eq!(s(&e, "event.action"), Some("block"));
    assert_eq!(get(&e, "event.severity"), Some(&json!(4)));
    assert_eq!(
        s(&e, "email.origination_timestamp"),
        Some("2024-04-03T09:58:51Z")
    );
    let hashes = get(&e, "related.hash").unwrap().as_array().unwrap();
    assert_eq!(hashes.len(), 3);
}

#[test]
fn email_dlp_in_the_nested_template_maps_the_same_fields() {
    let e = ev(
        r#"{"version":"v1","sourcetype":"zscalernss-emaildlp","time":"Tue Jan 14 16:22:01 2026","tz":"GMT","record_id":"1","actions":"Block","rule":{"labels":"Cards"},"user_name":"ops@example.com","email":{"subject":"hi","triggered_recipients":"a@b.example","attachments":{"file_names":"r.docx","md5s":"e2fc714c4727ee9395f324cd2e7f331f"}}}"#,
    );
    assert_eq!(s(&e, "event.dataset"), Some("email_dlp"));
    assert_eq!(s(&e, "@timestamp"), Some("2026-01-14T16:22:01Z"));
    assert_eq!(s(&e, "user.email"), Some("ops@example.com"));
    assert_eq!(get(&e, "rule.name"), Some(&json!(["Cards"])));
    assert_eq!(s(&e, "email.subject"), Some("hi"));
    assert_eq!(
        get(&e, "email.attachments"),
        Some(
            &json!([{"file": {"name": "r.docx", "hash": {"md5": "e2fc714c4727ee9395f324cd2e7f331f"}}}])
        )
    );
}

#[test]
fn an_nss_feed_lost_alert_becomes_an_event() {
    let e = ev(
        r#"<114>Dec 31 12:01:04 [192.0.2.10] ZscalerNSS: SIEM Feed connection "Web Feed" to 198.51.100.2:514 lost and unavailable for the past 15.00 minutes"#,
    );
    assert_eq!(s(&e, "event.dataset"), Some("nss_alert"));
    assert_eq!(s(&e, "event.action"), Some("nss-connection-lost"));
    assert_eq!(s(&e, "zscaler.zia.nss_alert.feed"), Some("Web Feed"));
    assert_eq!(
        get(&e, "zscaler.zia.nss_alert.lost_minutes"),
        Some(&json!(15.0))
    );
    assert_eq!(get(&e, "event.duration"), Some(&json!(900_000_000_000i64)));
    assert_eq!(s(&e, "destination.ip"), Some("198.51.100.2"));
    assert_eq!(get(&e, "destination.port"), Some(&json!(514)));
    assert_eq!(s(&e, "observer.ip"), Some("192.0.2.10"));
    assert!(s(&e, "@timestamp").is_some_and(|t| t.ends_with("-12-31T12:01:04Z")));
}

#[test]
fn an_nss_alert_of_an_unknown_kind_keeps_its_text() {
    let e = ev("<114>Dec 31 14:03:06 [192.0.2.10] ZscalerNSS: something new happened");
    assert_eq!(s(&e, "event.action"), Some("nss-alert"));
    assert_eq!(s(&e, "message"), Some("something new happened"));
    // New kinds of alert may come without the tag; the bracketed NSS host still tells them.
    let e = ev("<114>Dec 31 14:03:06 [192.0.2.10] A new kind of alert, isn't it?");
    assert_eq!(s(&e, "event.dataset"), Some("nss_alert"));
    assert_eq!(s(&e, "message"), Some("A new kind of alert, isn't it?"));
    assert_eq!(s(&e, "observer.ip"), Some("192.0.2.10"));
}

#[test]
fn a_sandbox_verdict_maps_verdict_hashes_attack_and_children() {
    let e = ev(
        r#"{"sourcetype":"zscalernss-sandbox_verdict","event":{"time":"Mon Oct 16 22:55:48 2023","verdict":"Malicious","score":"92","threatname":"Win32.Trojan.X","md5":"8300eeaffecd02f3021c017b8208ec86","sha256":"9df192aa9183c03e8310b4783d1579dcb50b2cabc49b24a3dfde27a2cc4e2aac","tactic":"TA0002|Persistence","technique":"T1059.001,T1547","childmd5s":"a04a2098d5297b90963b95ad6f87e74c|d41d8cd98f00b204e9800998ecf8427e","login":"u@example.com"}}"#,
    );
    assert_eq!(s(&e, "event.dataset"), Some("sandbox"));
    assert_eq!(s(&e, "event.kind"), Some("alert"));
    assert_eq!(s(&e, "zscaler.zia.sandbox.verdict"), Some("MALICIOUS"));
    assert_eq!(get(&e, "event.risk_score"), Some(&json!(92.0)));
    assert_eq!(get(&e, "threat.tactic.id"), Some(&json!(["TA0002"])));
    assert_eq!(get(&e, "threat.tactic.name"), Some(&json!(["Persistence"])));
    assert_eq!(
        get(&e, "threat.technique.id"),
        Some(&json!(["T1059.001", "T1547"]))
    );
    assert_eq!(s(&e, "threat.framework"), Some("MITRE ATT&CK"));
    assert_eq!(
        get(&e, "zscaler.zia.sandbox.child_hashes").map(|v| v.as_array().unwrap().len()),
        Some(2)
    );
    let related = get(&e, "related.hash").unwrap().as_array().unwrap();
    assert_eq!(related.len(), 4, "the sample's two hashes and two children");
}

#[test]
fn a_sandbox_report_without_sourcetype_is_recognised() {
    let e = ev(
        r#"{"Classification":{"Category":"BENIGN","Type":"BENIGN","Score":0,"DetectedMalware":""},"FileProperties":{"MD5":"8300eeaffecd02f3021c017b8208ec86","SHA1":"a04a2098d5297b90963b95ad6f87e74cc4317196","FileSize":1024},"Summary":{"StartTime":"1509567511","Url":"www.example.com/x.exe"}}"#,
    );
    assert_eq!(s(&e, "event.dataset"), Some("sandbox"));
    assert_eq!(s(&e, "event.kind"), Some("event"));
    assert_eq!(
        s(&e, "file.hash.sha1"),
        Some("a04a2098d5297b90963b95ad6f87e74cc4317196")
    );
    assert_eq!(get(&e, "file.size"), Some(&json!(1024)));
    assert_eq!(s(&e, "@timestamp"), Some("2017-11-01T20:18:31Z"));
    assert_eq!(s(&e, "url.domain"), Some("www.example.com"));
}

fn saas(subtype: &str, rest: &str) -> Value {
    ev(&format!(
        r#"{{"version":"v1","sourcetype":"zscalernss-saas_security","sourcesubtype":"{subtype}","time":"1730470000","tz":"GMT","record_id":"9","severity":"High","policy":"None","rule":{{"label":"R1","type":"OfflineCASBDLP"}},"application":{{"name":"App"}},"user_name":"u@example.com"{rest}}}"#
    ))
}

#[test]
fn every_saas_subtype_maps_the_common_fields() {
    for st in [
        "collaboration",
        "crm",
        "email",
        "file",
        "genai",
        "itsm",
        "public_cloud_storage",
        "repository",
    ] {
        let e = saas(st, "");
        assert_eq!(s(&e, "event.dataset"), Some("casb"), "{st}");
        assert_eq!(s(&e, "zscaler.zia.saas.subtype"), Some(st), "{st}");
        assert_eq!(s(&e, "rule.name"), Some("R1"), "{st}");
        assert_eq!(s(&e, "user.email"), Some("u@example.com"), "{st}");
        assert_eq!(s(&e, "network.application"), Some("App"), "{st}");
        assert_eq!(s(&e, "@timestamp"), Some("2024-11-01T14:06:40Z"), "{st}");
        assert_eq!(get(&e, "event.severity"), Some(&json!(4)), "{st}");
    }
}

#[test]
fn saas_file_subtype_maps_the_file() {
    let e = saas(
        "file",
        r#","hostname":"t.box.com","file":{"name":"a.pdf","directory":"/Legal%20Docs","size":"171685","extension":"pdf","owner":"o@example.com","hash":{"md5":"3ce0e6d87e586b7e898b624e4a7cf4ef"},"full_url":"https://t.box.com/v/1"},"external_collab_names":"a@x.example|b@y.example""#,
    );
    assert_eq!(s(&e, "file.name"), Some("a.pdf"));
    assert_eq!(s(&e, "file.directory"), Some("/Legal Docs"));
    assert_eq!(get(&e, "file.size"), Some(&json!(171685)));
    assert_eq!(s(&e, "file.owner"), Some("o@example.com"));
    assert_eq!(
        s(&e, "file.hash.md5"),
        Some("3ce0e6d87e586b7e898b624e4a7cf4ef")
    );
    assert_eq!(s(&e, "url.domain"), Some("t.box.com"));
    assert_eq!(s(&e, "destination.domain"), Some("t.box.com"));
    assert_eq!(
        get(&e, "zscaler.zia.external_collab_names"),
        Some(&json!(["a@x.example", "b@y.example"]))
    );
}

#[test]
fn saas_email_subtype_maps_the_mail() {
    let e = saas(
        "email",
        r#","message_id":"<m@x>","email":{"is_inbound":"Yes","sender":"s@x.example","attachments":{"file_names":"i.pdf|n.docx","md5s":"3ce0e6d87e586b7e898b624e4a7cf4ef|d41d8cd98f00b204e9800998ecf8427e"}}"#,
    );
    assert_eq!(s(&e, "email.message_id"), Some("<m@x>"));
    assert_eq!(s(&e, "email.direction"), Some("inbound"));
    assert_eq!(get(&e, "email.from.address"), Some(&json!(["s@x.example"])));
    assert_eq!(
        get(&e, "email.attachments").map(|a| a.as_array().unwrap().len()),
        Some(2)
    );
}

#[test]
fn saas_genai_subtype_keeps_its_fields_under_zscaler_zia() {
    let e = saas("genai", r#","genai":{"bot_name":"GPT","run_id":"27"}"#);
    assert_eq!(s(&e, "zscaler.zia.genai.bot_name"), Some("GPT"));
}

#[test]
fn an_unknown_saas_subtype_is_a_warning() {
    let p = parse(
        r#"{"sourcetype":"zscalernss-saas_security","sourcesubtype":"quantum","user_name":"u@example.com"}"#,
    );
    assert!(p.warnings.iter().any(|w| w.contains("quantum")));
}

#[test]
fn web_2024_fields_map_to_ecs_and_stay_under_zscaler_zia() {
    let e = ev(
        r#"{"sourcetype":"zscalernss-web","event":{"url":"a.example/x","srcip_country":"France","dstip_country":"Portugal","is_dst_cntry_risky":"Yes","riskscore":"80","threatseverity":"High","clienttlsversion":"TLS1_3","clientsslcipher":"TLS_AES_128_GCM_SHA256","alpnprotocol":"H2","client_tls_keyex_pqc_offers":"1","client_tls_keyex_alg":"X25519MLKEM768","app_risk_score":"4","app_status":"Unsanctioned","prompt_req":"summarise%20this"}}"#,
    );
    assert_eq!(s(&e, "source.geo.country_name"), Some("France"));
    assert_eq!(s(&e, "destination.geo.country_name"), Some("Portugal"));
    assert_eq!(get(&e, "event.risk_score"), Some(&json!(80.0)));
    assert_eq!(s(&e, "tls.version"), Some("1.3"));
    assert_eq!(s(&e, "tls.version_protocol"), Some("tls"));
    assert_eq!(s(&e, "tls.cipher"), Some("TLS_AES_128_GCM_SHA256"));
    assert_eq!(s(&e, "tls.next_protocol"), Some("h2"));
    assert_eq!(s(&e, "zscaler.zia.is_dst_cntry_risky"), Some("Yes"));
    assert_eq!(s(&e, "zscaler.zia.client_tls_keyex_pqc_offers"), Some("1"));
    assert_eq!(
        s(&e, "zscaler.zia.client_tls_keyex_alg"),
        Some("X25519MLKEM768")
    );
    assert_eq!(s(&e, "zscaler.zia.app_status"), Some("Unsanctioned"));
    assert_eq!(s(&e, "zscaler.zia.riskscore"), Some("80"));
}

#[test]
fn firewall_threat_score_and_dnat_rule_are_kept() {
    let e = ev(
        r#"{"sourcetype":"zscalernss-fw","event":{"nwapp":"ssh","csip":"10.0.0.1","srcip_country":"Spain","threat_score":"92","threat_severity":"Critical","dnatrulelabel":"DNAT-1"}}"#,
    );
    assert_eq!(get(&e, "event.risk_score"), Some(&json!(92.0)));
    assert_eq!(s(&e, "source.geo.country_name"), Some("Spain"));
    assert_eq!(s(&e, "zscaler.zia.threat_severity"), Some("Critical"));
    assert_eq!(s(&e, "zscaler.zia.dnatrulelabel"), Some("DNAT-1"));
}

/// The verdict template of the current NSS docs nests its fields (`threat.tactic.id`,
/// `file.hash.children_md5`) and numbers tactics Zscaler's way (`TAC…`).
const NESTED_VERDICT: &str = r#"{"version":"v1","sourcetype":"zscalernss-sandbox_verdict","time":"Tue Mar  4 08:00:00 2025","tz":"GMT","verdict":"Advance Threat Infostealer","threat":{"indicator":{"name":"Win64.Stealer.Demo"},"tactic":{"id":"TAC007|TAC011"},"technique":{"id":"T1555|T1041.001"}},"file":{"extension":"dll","hash":{"md5":"0cc175b9c0f1b6a831c399e269772661","sha256":"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb","children_md5":"92eb5ffee6ae2fec3ad71c777531578f|4a8a08f09d37b73795649038408b5f33"}}}"#;

#[test]
fn a_nested_sandbox_verdict_gives_attack_ids_as_arrays() {
    let e = ev(NESTED_VERDICT);
    assert_eq!(
        get(&e, "threat.tactic.id"),
        Some(&json!(["TAC007", "TAC011"]))
    );
    assert_eq!(
        get(&e, "threat.technique.id"),
        Some(&json!(["T1555", "T1041.001"]))
    );
    assert_eq!(s(&e, "threat.framework"), Some("MITRE ATT&CK"));
}

#[test]
fn a_nested_sandbox_verdict_lists_the_dropped_files_hashes() {
    let e = ev(NESTED_VERDICT);
    assert_eq!(
        get(&e, "zscaler.zia.sandbox.child_hashes"),
        Some(&json!([
            "92eb5ffee6ae2fec3ad71c777531578f",
            "4a8a08f09d37b73795649038408b5f33"
        ]))
    );
    assert_eq!(s(&e, "file.extension"), Some("dll"));
}

#[test]
fn a_named_threat_class_verdict_is_an_alert_and_benign_is_not() {
    assert_eq!(s(&ev(NESTED_VERDICT), "event.kind"), Some("alert"));
    let benign = NESTED_VERDICT.replace("Advance Threat Infostealer", "Benign");
    assert_eq!(s(&ev(&benign), "event.kind"), Some("event"));
}

#[test]
fn a_null_child_hash_list_is_no_list() {
    let raw = NESTED_VERDICT.replace(
        "92eb5ffee6ae2fec3ad71c777531578f|4a8a08f09d37b73795649038408b5f33",
        "Null",
    );
    assert_eq!(get(&ev(&raw), "zscaler.zia.sandbox.child_hashes"), None);
}
