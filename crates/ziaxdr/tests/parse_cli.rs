//! `ziaxdr parse`: raw records in, one ECS object per line out, in input order.

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ziaxdr"))
        .arg("parse")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ziaxdr");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf8 stdout"),
        String::from_utf8(out.stderr).expect("utf8 stderr"),
    )
}

const WEB: &str =
    r#"{"sourcetype":"zscalernss-web","event":{"ClientIP":"10.0.0.1","url":"a.com/x"}}"#;
const DNS: &str = r#"Aug 28 15:43:14 zscaler-nss NSS {"sourcetype":"zscalernss-dns","event":{"dns_req":"b.org"}}"#;

fn lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn writes_one_event_per_record_in_input_order() {
    let (code, out, _) = run(&[], &format!("{WEB}\n{DNS}\n"));
    assert_eq!(code, 0);
    let evs = lines(&out);
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0]["event"]["dataset"], "web");
    assert_eq!(evs[1]["event"]["dataset"], "dns");
}

#[test]
fn an_unparseable_record_yields_a_pipeline_error_event_and_exit_zero() {
    let (code, out, err) = run(&[], &format!("garbage here\n{WEB}\n"));
    assert_eq!(code, 0);
    let evs = lines(&out);
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0]["event"]["kind"], "pipeline_error");
    assert_eq!(evs[0]["event"]["original"], "garbage here");
    assert!(evs[0]["error"]["message"].is_string());
    assert!(err.contains("1 failed to parse"), "stderr: {err}");
}

#[test]
fn strict_mode_exits_one_when_a_record_fails() {
    let (code, out, _) = run(&["--strict"], "garbage\n");
    assert_eq!(code, 1);
    assert_eq!(lines(&out).len(), 1, "the failed record is still written");
}

#[test]
fn reads_a_file_argument() {
    let dir = std::env::temp_dir().join(format!("ziaxdr-parse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("in.log");
    std::fs::write(&file, format!("{WEB}\r\n\n{WEB}\n")).expect("write");
    let (code, out, _) = run(&[file.to_str().expect("path")], "");
    assert_eq!(code, 0);
    assert_eq!(
        lines(&out).len(),
        2,
        "blank lines are skipped, CRLF tolerated"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn original_flag_keeps_the_raw_record() {
    let (_, out, _) = run(&["--original"], &format!("{WEB}\n"));
    assert_eq!(lines(&out)[0]["event"]["original"], WEB);
}
