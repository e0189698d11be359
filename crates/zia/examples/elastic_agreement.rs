//! Agreement with another vendor's published pipeline fixtures of ZIA feeds: the Elastic
//! `zscaler_zia` integration's `_dev/test/pipeline/*-expected.json` files (and their `.log`
//! inputs), kept OUT of this repository. Give it a directory holding them (any layout; every
//! `*-expected.json` below it is read; the parent folder names the log type):
//!
//! ```text
//! cargo run -p zia --example elastic_agreement -- /work/fixtures-elastic
//! ```
//!
//! Each expected event's input is its `event.original` (or the matching line of the `.log`
//! beside it). The fields both sides have are compared: the time (`@timestamp`, as an
//! instant), the action (`event.action`, case and order aside), the user (the expected
//! `user.email`, else `user.name`, against ours), the domain (`url.domain`,
//! `dns.question.name`, `destination.domain`, against any of ours) and the addresses
//! (`source.ip`, `destination.ip`, `source.nat.ip`, `client.ip`, `server.ip`, each against the
//! same field). A field the expected event lacks is not counted.
//!
//! It prints every disagreement, then the share that agrees per log type, per field and in
//! all. A disagreement that is one of the differences `docs/zia-mapping.md` lists on purpose
//! (where the Sekoia format, which our conformance suite pins, or a documented choice of ours
//! differs from Elastic's) is named as such and counted apart, so that the second total is
//! the agreement on the fields where both formats mean the same thing.
//!
//! Exit status: 0 when it ran, 2 on a usage or fixture error; with `--min PCT`, 1 when the
//! agreement apart from documented differences is below `PCT` percent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// The values at `path` as lowercase strings (an array gives each item).
fn texts(v: &Value, path: &str) -> Vec<String> {
    match at(v, path) {
        Some(Value::Array(a)) => a.iter().filter_map(scalar).collect(),
        Some(x) => scalar(x).into_iter().collect(),
        None => Vec::new(),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn instant(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn expected_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            expected_files(&p, out);
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with("-expected.json"))
        {
            out.push(p);
        }
    }
}

/// The differences `docs/zia-mapping.md` ("Against Elastic's `zscaler_zia` pipeline
/// fixtures") lists on purpose, each recognised from the two events, never from a record's
/// position, so that a new disagreement is never hidden behind an old reason.
mod documented {
    use super::{at, texts, Value};

    /// A syslog header without a year: the expected year is the one the other vendor's test
    /// harness pinned, ours the latest that does not put the record in the future.
    pub const YEARLESS: &str = "year-less syslog header: latest year not in the future";
    /// Web `cip` (Sekoia's `ClientIP`) is the client's address.
    pub const WEB_CLIENT: &str = "web cip is the client's source.ip (Sekoia), not source.nat.ip";
    /// The firewall destination is the server after destination NAT (`sdip`, as Sekoia).
    pub const FW_DEST: &str = "firewall destination.ip is sdip (Sekoia), not the client's cdip";
    /// `0.0.0.0` is what ZIA writes for no address.
    pub const NO_ADDRESS: &str = "0.0.0.0 placeholder is no address";
    /// The `[address]` of an NSS alert's header is the NSS that sends it.
    pub const NSS_HEADER: &str = "an NSS alert's [address] is the NSS (observer.ip)";
    /// A sandbox report's action is its verdict.
    pub const SANDBOX: &str = "a sandbox report's event.action is its verdict, not its status";
    /// An Email DLP record gets one action: `block` when any of its slots blocks.
    pub const EMAIL_ACTION: &str = "an Email DLP record's event.action is block if any slot blocks";

    /// Why a disagreeing time is a documented difference, if it is one.
    pub fn time(raw: &str, want: &str, got: &str) -> Option<&'static str> {
        // Same month, day and time of day, and the expected year is not in the input.
        let yearless = !raw.contains(want.get(..4)?)
            && want.get(4..19).is_some()
            && want.get(4..19) == got.get(4..19);
        yearless.then_some(YEARLESS)
    }

    /// Why a disagreeing action is a documented difference, if it is one.
    pub fn action(kind: &str, want: &[String], got: &[String]) -> Option<&'static str> {
        if kind == "sandbox_report" && want == ["completed"] {
            return Some(SANDBOX);
        }
        let blocks = |v: &[String]| v.iter().any(|a| a.contains("block"));
        if kind == "email_dlp" && blocks(want) && got.len() == 1 && blocks(got) {
            return Some(EMAIL_ACTION);
        }
        None
    }

    /// Why a disagreeing address at `path` is a documented difference, if it is one.
    pub fn ip(
        kind: &str,
        path: &str,
        want: &str,
        exp: &Value,
        ours: &Value,
    ) -> Option<&'static str> {
        let ours_at = |p: &str| texts(ours, p);
        if want == "0.0.0.0" && ours_at(path).is_empty() {
            return Some(NO_ADDRESS);
        }
        if kind == "web" && path == "source.nat.ip" && ours_at("source.ip").contains(&want.into()) {
            return Some(WEB_CLIENT);
        }
        if kind == "firewall"
            && path == "destination.ip"
            && ours_at("zscaler.zia.cdip").contains(&want.into())
        {
            return Some(FW_DEST);
        }
        if kind == "alerts"
            && path == "destination.ip"
            && ours_at("observer.ip").contains(&want.into())
            && at(exp, "destination.port").is_none()
        {
            return Some(NSS_HEADER);
        }
        None
    }
}

#[derive(Default)]
struct Tally {
    agreed: u32,
    total: u32,
    /// Disagreements that are documented differences.
    documented: u32,
}

impl Tally {
    fn add(&mut self, ok: bool, documented: bool) {
        self.total += 1;
        self.agreed += u32::from(ok);
        self.documented += u32::from(!ok && documented);
    }

    fn pct(&self) -> f64 {
        100.0 * f64::from(self.agreed) / f64::from(self.total.max(1))
    }

    /// The share that agrees among the fields that are not documented differences.
    fn pct_same_meaning(&self) -> f64 {
        let n = self.total - self.documented;
        100.0 * f64::from(self.agreed) / f64::from(n.max(1))
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = None;
    let mut min: Option<f64> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--min" => match it.next().and_then(|v| v.parse().ok()) {
                Some(v) => min = Some(v),
                None => {
                    eprintln!("--min needs a percentage");
                    return ExitCode::from(2);
                }
            },
            _ => dir = Some(a.clone()),
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: elastic_agreement [--min PCT] DIR (a directory holding *-expected.json)");
        return ExitCode::from(2);
    };
    let mut files = Vec::new();
    expected_files(Path::new(&dir), &mut files);
    if files.is_empty() {
        eprintln!("no *-expected.json under {dir}");
        return ExitCode::from(2);
    }
    let mut by_type: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_field: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut by_reason: BTreeMap<&str, u32> = BTreeMap::new();
    let (mut records, mut failed) = (0, 0);
    for file in &files {
        let doc: Value = match std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        let log = file
            .to_str()
            .and_then(|s| s.strip_suffix("-expected.json"))
            .and_then(|s| std::fs::read_to_string(s).ok());
        let lines: Vec<&str> = log.as_deref().map_or(Vec::new(), |l| l.lines().collect());
        let kind = file
            .parent()
            .and_then(|p| p.file_name())
            .map_or("?".into(), |n| n.to_string_lossy().into_owned());
        let name = file.file_name().map_or("?".into(), |n| n.to_string_lossy());
        for (i, exp) in doc["expected"].as_array().into_iter().flatten().enumerate() {
            let Some(raw) = at(exp, "event.original")
                .and_then(Value::as_str)
                .or_else(|| lines.get(i).copied())
            else {
                continue;
            };
            records += 1;
            let ours = match zia::parse(raw) {
                Ok(p) => Value::Object(p.event),
                Err(e) => {
                    failed += 1;
                    println!("{name} #{i}: does not parse: {e}");
                    Value::Null
                }
            };
            let mut check = |field: &'static str,
                             ok: bool,
                             why: Option<&'static str>,
                             want: String,
                             got: String| {
                by_type
                    .entry(kind.clone())
                    .or_default()
                    .add(ok, why.is_some());
                by_field.entry(field).or_default().add(ok, why.is_some());
                if ok {
                    return;
                }
                match why {
                    Some(why) => {
                        *by_reason.entry(why).or_default() += 1;
                        println!(
                            "{name} #{i} {field}: expected {want}, got {got} (documented: {why})"
                        );
                    }
                    None => println!("{name} #{i} {field}: expected {want}, got {got}"),
                }
            };
            if let Some(want) = at(exp, "@timestamp").and_then(Value::as_str) {
                let got = at(&ours, "@timestamp")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let ok = instant(want).is_some() && instant(want) == instant(got);
                let why = documented::time(raw, want, got);
                check("time", ok, why, want.into(), got.into());
            }
            let mut want = texts(exp, "event.action");
            if !want.is_empty() {
                let mut got = texts(&ours, "event.action");
                got.sort();
                got.dedup();
                want.sort();
                want.dedup();
                let why = documented::action(&kind, &want, &got);
                check(
                    "action",
                    want == got,
                    why,
                    format!("{want:?}"),
                    format!("{got:?}"),
                );
            }
            let want = texts(exp, "user.email");
            let want = if want.is_empty() {
                texts(exp, "user.name")
            } else {
                want
            };
            if let Some(w) = want.first() {
                let got: Vec<String> = ["user.email", "user.name"]
                    .iter()
                    .flat_map(|p| texts(&ours, p))
                    .collect();
                check("user", got.contains(w), None, w.clone(), format!("{got:?}"));
            }
            let domains = ["url.domain", "dns.question.name", "destination.domain"];
            let got: Vec<String> = domains.iter().flat_map(|p| texts(&ours, p)).collect();
            for p in domains {
                if let Some(w) = texts(exp, p).first() {
                    let ok = got.contains(w);
                    check("domain", ok, None, format!("{p}={w}"), format!("{got:?}"));
                }
            }
            for p in [
                "source.ip",
                "destination.ip",
                "source.nat.ip",
                "client.ip",
                "server.ip",
            ] {
                if let Some(w) = texts(exp, p).first() {
                    let got = texts(&ours, p);
                    let why = documented::ip(&kind, p, w, exp, &ours);
                    let ok = got.contains(w);
                    check("ip", ok, why, format!("{p}={w}"), format!("{got:?}"));
                }
            }
        }
    }
    println!(
        "\n{records} records of {} log types from {} files, {failed} not parsed",
        by_type.len(),
        files.len()
    );
    println!(
        "{:30} {:>9} {:>7} {:>12}",
        "", "agree", "share", "same meaning"
    );
    let line = |k: &str, t: &Tally| {
        // A type whose every disagreement is documented and that agrees on nothing else has
        // no field of the same meaning: no share.
        let same = if t.total == t.documented {
            "-".to_owned()
        } else {
            format!("{:.1}%", t.pct_same_meaning())
        };
        println!(
            "{k:30} {:4}/{:4} {:6.1}% {same:>12}",
            t.agreed,
            t.total,
            t.pct()
        );
    };
    for (k, t) in &by_type {
        line(k, t);
    }
    for (k, t) in &by_field {
        line(&format!("field {k}"), t);
    }
    let all = by_type.values().fold(Tally::default(), |a, t| Tally {
        agreed: a.agreed + t.agreed,
        total: a.total + t.total,
        documented: a.documented + t.documented,
    });
    line("all", &all);
    for (why, n) in &by_reason {
        println!("documented difference ({n:2}): {why}");
    }
    println!(
        "agreement: {}/{} = {:.1}%; apart from {} documented differences: {}/{} = {:.1}%",
        all.agreed,
        all.total,
        all.pct(),
        all.documented,
        all.agreed,
        all.total - all.documented,
        all.pct_same_meaning()
    );
    match min {
        Some(m) if all.pct_same_meaning() < m => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}
