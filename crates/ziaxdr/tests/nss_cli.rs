//! `ziaxdr nss lint`, `ziaxdr nss formats`, and the promise that every record the simulator
//! renders through the recommended formats parses to an event without an error.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn ziaxdr(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ziaxdr"))
        .args(args)
        .env("ZIAXDR_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ziaxdr");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("stdin writer");
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The formats printed by `nss formats`: every line that is neither a comment nor empty.
fn printed_formats(transport: &str) -> Vec<String> {
    let out = ziaxdr(&["nss", "formats", "--transport", transport], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn nss_formats_prints_a_format_for_each_of_the_seven_log_types() {
    let out = ziaxdr(&["nss", "formats"], b"");
    let stdout = text(&out.stdout);
    for st in [
        "zscalernss-web",
        "zscalernss-fw",
        "zscalernss-dns",
        "zscalernss-tunnel",
        "zscalernss-audit",
        "zscalernss-casb",
    ] {
        assert!(
            stdout.contains(&format!("\"sourcetype\":\"{st}\"")),
            "missing {st}"
        );
    }
    for name in [
        "# web ",
        "# firewall ",
        "# dns ",
        "# tunnel-event ",
        "# audit ",
        "# saas-security ",
        "# saas-security-activity ",
    ] {
        assert!(stdout.contains(name), "missing {name}");
    }
}

#[test]
fn nss_formats_for_cloud_nss_prints_the_feed_settings() {
    let out = ziaxdr(
        &[
            "nss",
            "formats",
            "--transport",
            "cloud-nss",
            "--log-type",
            "web",
        ],
        b"",
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("/plain/batch?status_code=200"), "{stdout}");
    assert!(stdout.contains("X-SEKOIAIO-INTAKE-KEY"), "{stdout}");
    assert!(stdout.contains("512 KB"), "{stdout}");
    assert_eq!(printed_formats_in(&stdout).len(), 1);
    assert!(printed_formats_in(&stdout)[0].starts_with("\\{\"sourcetype\":\"zscalernss-web\""));
}

fn printed_formats_in(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn every_printed_format_lints_clean() {
    for transport in ["nss", "nss-rfc5424", "cloud-nss"] {
        let formats = printed_formats(transport);
        assert_eq!(formats.len(), 11, "{transport}");
        for f in formats {
            let out = ziaxdr(&["nss", "lint", "-"], f.as_bytes());
            let stdout = text(&out.stdout);
            assert!(out.status.success(), "{transport}: {stdout}");
            assert!(
                !stdout.contains("error[") && !stdout.contains("warning["),
                "{transport}: {f}\n{stdout}"
            );
        }
    }
}

/// Simulates `count` records of one log type and parses them with `ziaxdr parse`.
fn simulate_and_parse(log_type: &str, framing: &str, count: usize) {
    let sim = ziaxdr(
        &[
            "simulate",
            "--types",
            log_type,
            "--count",
            &count.to_string(),
            "--malicious",
            "0.3",
            "--framing",
            framing,
            "--seed",
            "42",
        ],
        b"",
    );
    assert!(sim.status.success(), "{}", text(&sim.stderr));
    assert_eq!(sim.stdout.iter().filter(|b| **b == b'\n').count(), count);
    let parsed = ziaxdr(&["parse"], &sim.stdout);
    assert!(parsed.status.success(), "{}", text(&parsed.stderr));
    let raw: Vec<&str> = std::str::from_utf8(&sim.stdout)
        .expect("utf-8")
        .lines()
        .collect();
    let events: Vec<serde_json::Value> = text(&parsed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("parse prints JSON"))
        .collect();
    assert_eq!(events.len(), count, "{log_type}");
    for (ev, line) in events.iter().zip(&raw) {
        assert!(
            ev.pointer("/error/message").is_none(),
            "{log_type} ({framing}): {}\nfrom: {line}",
            ev["error"]
        );
    }
}

#[test]
fn simulated_web_records_parse_without_error() {
    simulate_and_parse("web", "nss", 400);
}

#[test]
fn simulated_firewall_records_parse_without_error() {
    simulate_and_parse("firewall", "nss", 400);
}

#[test]
fn simulated_dns_records_parse_without_error() {
    simulate_and_parse("dns", "nss", 400);
}

#[test]
fn simulated_tunnel_records_parse_without_error() {
    simulate_and_parse("tunnel", "nss", 400);
}

#[test]
fn simulated_audit_records_parse_without_error() {
    simulate_and_parse("audit", "nss", 400);
}

#[test]
fn simulated_saas_security_records_parse_without_error() {
    simulate_and_parse("saas-security", "nss", 400);
}

#[test]
fn simulated_saas_security_activity_records_parse_without_error() {
    simulate_and_parse("saas-security-activity", "nss", 400);
}

#[test]
fn simulated_rfc5424_records_of_every_type_parse_without_error() {
    simulate_and_parse(
        "web,firewall,dns,tunnel,audit,saas-security,saas-security-activity",
        "nss-rfc5424",
        700,
    );
}

#[test]
fn simulated_cloud_nss_records_of_every_type_parse_without_error() {
    simulate_and_parse(
        "web,firewall,dns,tunnel,audit,saas-security,saas-security-activity",
        "cloud-nss",
        700,
    );
}

/// The deployment guide's tunnel event format as a PDF copy delivers it: typographic quotes.
const GUIDE_TUNNEL_CURLY: &str = "%s{mon} %02d{dd} %02d{hh}:%02d{mm}:%02d{ss} zscaler-nss NSS \\{\u{201C}sourcetype\u{201D} : \u{201C}zscalernss-tunnel\u{201D}, \u{201C}event\u{201D} : \\{\u{201C}datetime\u{201D}:\u{201C}%s{datetime}\u{201D},\u{201C}Recordtype\u{201D}:\u{201C}%s{tunnelactionname}\u{201D},\u{201C}tunneltype\u{201D}:\u{201C}%s{tunneltype}\u{201D},\u{201C}user\u{201D}:\u{201C}%s{vpncredentialname}\u{201D},\u{201C}location\u{201D}:\u{201C}%s{elocationname}\u{201D},\u{201C}sourceip\u{201D}:\u{201C}%s{sourceip}\u{201D},\u{201C}destinationip\u{201D}:\u{201C}%s{destvip}\u{201D},\u{201C}sourceport\u{201D}:\u{201C}%d{srcport}\u{201D},\u{201C}event\u{201D}:\u{201C}%s{event}\u{201D},\u{201C}eventreason\u{201D}:\u{201C}%s{eventreason}\u{201D},\u{201C}recordid\u{201D}:\u{201C}%d{recordid}\u{201D}\\}\\}\n";

#[test]
fn lint_reports_curly_quotes_of_a_pdf_copy_with_line_and_column_and_exits_1() {
    let dir = std::env::temp_dir().join(format!("nss-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tunnel.txt");
    std::fs::write(&file, GUIDE_TUNNEL_CURLY).unwrap();
    let out = ziaxdr(&["nss", "lint", file.to_str().unwrap()], b"");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // The first quote follows `...zscaler-nss NSS \{` at column 63.
    assert!(stdout.contains(":1:63: error[curly-quote]"), "{stdout}");
    let quotes = GUIDE_TUNNEL_CURLY.matches(['\u{201C}', '\u{201D}']).count();
    assert_eq!(
        stdout.matches("error[curly-quote]").count(),
        quotes,
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lint_fix_turns_a_pdf_copy_into_a_clean_format() {
    let fixed = ziaxdr(
        &["nss", "lint", "--fix", "-"],
        GUIDE_TUNNEL_CURLY.as_bytes(),
    );
    assert_eq!(fixed.status.code(), Some(1));
    let again = ziaxdr(&["nss", "lint", "-"], &fixed.stdout);
    assert!(again.status.success(), "{}", text(&again.stdout));
    assert!(
        text(&fixed.stdout).contains(r#"\{"sourcetype" : "zscalernss-tunnel""#),
        "{}",
        text(&fixed.stdout)
    );
}

#[test]
fn lint_flags_minutes_in_the_month_place_of_an_rfc5424_header() {
    // The deployment guide's RFC 5424 web header uses `mm` (minutes) for the month.
    let f = r#"<134>1 %d{yyyy}-%02d{mm}-%02d{dd}T%02d{hh}:%02d{mm}:%02d{ss}Z zscaler-nss NSS - - - event=\{"sourcetype":"zscalernss-web","event":\{"user":"%s{elogin}"\}\}"#;
    let out = ziaxdr(&["nss", "lint", "-"], f.as_bytes());
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("-:1:17: warning[minutes-as-month]"),
        "{stdout}"
    );
    assert!(
        out.status.success(),
        "a warning alone does not fail: {stdout}"
    );
}

#[test]
fn lint_flags_an_unquoted_text_field_as_invalid_json() {
    let f = r#"\{"sourcetype":"zscalernss-audit","event":\{"time":"%s{time}","preaction":%s{preaction},"postaction":%s{postaction}\}\}"#;
    let out = ziaxdr(&["nss", "lint", "-"], f.as_bytes());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("error[invalid-json]"), "{stdout}");
}

#[test]
fn lint_explains_unknown_fields_wrong_types_and_missing_backslashes() {
    let f = r#"{"sourcetype":"zscalernss-fw","event":{"user":"%s{elogn}","bytes":"%d{login}"}}"#;
    let out = ziaxdr(&["nss", "lint", "-"], f.as_bytes());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("-:1:1: error[unescaped-brace]"), "{stdout}");
    assert!(
        stdout.contains(
            "error[unknown-field]: `elogn` is not a firewall field; did you mean `elogin`?"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("error[type-mismatch]"), "{stdout}");
    assert!(stdout.contains("warning[raw-field]"), "{stdout}");
}

#[test]
fn lint_checks_against_the_log_type_given() {
    let out = ziaxdr(&["nss", "lint", "--log-type", "dns", "-"], b"%s{eurl}");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("`eurl` is not a dns field (it is a web field)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_whole_formats_output_piped_into_lint_passes() {
    for transport in ["nss", "nss-rfc5424", "cloud-nss"] {
        let out = ziaxdr(&["nss", "formats", "--transport", transport], b"");
        let lint = ziaxdr(&["nss", "lint", "-"], &out.stdout);
        assert!(
            lint.status.success(),
            "{transport}: {}{}",
            text(&lint.stdout),
            text(&lint.stderr)
        );
        assert!(text(&lint.stderr).contains("0 error(s), 0 warning(s)"));
    }
}

#[test]
fn format_only_prints_bare_formats_one_a_line() {
    let out = ziaxdr(&["nss", "formats", "--format-only"], b"");
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 11, "{stdout}");
    assert!(
        stdout.lines().all(|l| l.starts_with("%s{mon} ")),
        "{stdout}"
    );
}

#[test]
fn a_broken_format_among_several_is_reported_with_its_line() {
    let good = r#"\{"sourcetype":"zscalernss-web","event":\{"user":"%s{elogin}"\}\}"#;
    let bad = r#"\{"sourcetype":"zscalernss-web","event":\{"user":"%s{elogn}"\}\}"#;
    let input = format!("# web\n{good}\n\n# bad\n{bad}\n");
    let out = ziaxdr(&["nss", "lint", "-"], input.as_bytes());
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains("-:5:"), "{}", text(&out.stdout));
}
