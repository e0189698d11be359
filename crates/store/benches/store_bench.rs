//! Event store benchmark: indexing rate, bytes on disk per event, query and aggregation
//! latency, against the same questions answered with ripgrep and jq over the same events as
//! NDJSON (what an admin without a SIEM does).
//!
//! Run (release profile; 10 million events need about 15 GB of free disk for the NDJSON):
//!
//! ```text
//! BENCH_EVENTS=10000000 cargo bench -p store --features bench --bench store_bench
//! ```
//!
//! Environment: `BENCH_EVENTS` (default 1 000 000), `BENCH_DIR` (default
//! `$TMPDIR/ziaxdr-store-bench`, wiped first), `BENCH_DAYS` (days the events span, default 7),
//! `BENCH_RUNS` (store runs per question, default 20), `BENCH_PEER` (`rg,jq` by default;
//! `rg` or `none` to skip the slow jq runs), `BENCH_JQ_EVENTS` (events jq reads, default all),
//! `BENCH_COMMIT_EVERY` (commit every N events, as the pipeline does with its batches; default:
//! the store's own policy, `StoreConfig::commit_every_events`/`commit_every`),
//! `BENCH_ORIGINAL=1` (parse into the parser's flat event and hand it to the store with its
//! raw record through `add_parsed`, as `serve` and `import` do),
//! `BENCH_ZSTD=N` (zstd level of the stored events, default the store's), `BENCH_KEEP=1`
//! (keep the store and the NDJSON). With `BENCH_PEER=none` the NDJSON is only
//! measured, not written.
//!
//! Records are generated here as raw ZIA NSS JSON records (web, firewall, DNS, tunnel, audit,
//! SaaS, plus 0.5 % unparseable lines) and turned into events by `zia::parse_or_error` (or
//! `zia::parse_or_error_event` with `BENCH_ORIGINAL=1`), the parser the pipeline uses; the
//! indexing rate covers parse + index + commit.

// The allocator of the `ziaxdr` binary, so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use store::{EventQuery, EventSearch, EventStore, Query, StoreConfig, TantivyStore, TimeRange};
use time::OffsetDateTime;

/// A small deterministic PRNG (splitmix64): the benchmark must not depend on an RNG crate's
/// version for its data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    /// Zipf-like pick: low indexes much more often (a few sites get most traffic).
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(n);
        let c = self.below(n);
        a.min(b).min(c)
    }
}

const SITES: &[&str] = &[
    "www.google.com",
    "outlook.office365.com",
    "teams.microsoft.com",
    "www.youtube.com",
    "api.github.com",
    "slack.com",
    "www.linkedin.com",
    "login.microsoftonline.com",
    "s3.amazonaws.com",
    "www.wikipedia.org",
    "cdn.jsdelivr.net",
    "fonts.gstatic.com",
    "www.salesforce.com",
    "zoom.us",
    "www.dropbox.com",
    "news.ycombinator.com",
    "www.nytimes.com",
    "a.et.nytimes.com",
    "ctldl.windowsupdate.com",
    "update.googleapis.com",
    "api.chat.org",
    "docs.google.com",
    "drive.google.com",
    "www.bbc.co.uk",
    "www.lemonde.fr",
];
const BAD_SITES: &[&str] = &[
    "evil-updates.ru",
    "login-micros0ft.com",
    "free-crypto.xyz",
    "dl.malware-cdn.top",
    "paypa1-secure.net",
    "c2.badactor.cn",
];
const CATEGORIES: &[&str] = &[
    "Professional Services",
    "Web Search",
    "News and Media",
    "Social Networking",
    "Corporate Marketing",
    "Online Chat",
    "Streaming Media",
    "Internet Services",
];
const DEPTS: &[&str] = &[
    "Finance",
    "Engineering",
    "Sales",
    "HR",
    "Legal",
    "IT%20Operations",
];
const LOCATIONS: &[&str] = &["Road%20Warrior", "Paris%20HQ", "London", "Berlin", "NYC"];
const AGENTS: &[&str] = &[
    "Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)%20AppleWebKit/537.36%20(KHTML%2c%20like%20Gecko)%20Chrome/128.0.0.0%20Safari/537.36",
    "Mozilla/5.0%20(Macintosh;%20Intel%20Mac%20OS%20X%2014_5)%20AppleWebKit/605.1.15%20(KHTML%2c%20like%20Gecko)%20Version/17.5%20Safari/605.1.15",
    "Microsoft%20Office/16.0",
    "curl/8.5.0",
];
const FIRST: &[&str] = &[
    "john", "jane", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
const LAST: &[&str] = &[
    "doe", "smith", "martin", "bernard", "dubois", "lee", "garcia", "muller",
];
const THREATS: &[&str] = &[
    "Win32.Trojan.Emotet",
    "JS.Phishing.Kit",
    "HTML.Phish.Generic",
    "Android.Adware.X",
];

const USERS: u64 = 2_000;
const DEVICES: u64 = 3_000;

fn user(r: &mut Rng) -> (String, String) {
    let u = r.skewed(USERS);
    let first = FIRST[(u % FIRST.len() as u64) as usize];
    let last = LAST[((u / 10) % LAST.len() as u64) as usize];
    (
        format!("{first}.{last}{u}@example.com"),
        format!("{}{last}{u}", &first[..1]),
    )
}

fn client_ip(r: &mut Rng) -> String {
    let d = r.skewed(DEVICES);
    if d % 10 == 7 {
        format!("2001:db8:10::{:x}", d + 1)
    } else {
        format!("10.{}.{}.{}", d % 8, (d / 8) % 250, 1 + d % 251)
    }
}

fn server_ip(r: &mut Rng, site: u64) -> String {
    format!(
        "{}.{}.{}.{}",
        20 + site % 180,
        (site * 7) % 250,
        (site * 13) % 250,
        1 + r.below(20)
    )
}

fn web_time(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn ctime(t: OffsetDateTime) -> String {
    const WD: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} {}",
        WD[t.weekday().number_days_from_monday() as usize],
        MO[u8::from(t.month()) as usize - 1],
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

/// One raw record, as an NSS JSON feed sends it.
fn record(r: &mut Rng, t: OffsetDateTime, id: u64, out: &mut String) {
    out.clear();
    let roll = r.below(1000);
    let (login, owner) = user(r);
    let cip = client_ip(r);
    let dept = r.pick(DEPTS);
    let loc = r.pick(LOCATIONS);
    use std::fmt::Write as _;
    if roll < 5 {
        // Unparseable: a truncated record, as a broken relay sends.
        let _ = write!(out, "{{\"sourcetype\": \"zscalernss-web\", \"event\": {{\"datetime\": \"{}\", \"user\": \"{login}\", \"url\": \"trunc", web_time(t));
        return;
    }
    if roll < 600 {
        let bad = r.below(100) < 2;
        let site_i = r.skewed(SITES.len() as u64);
        let host = if bad {
            r.pick(BAD_SITES)
        } else {
            SITES[site_i as usize]
        };
        let blocked = bad || r.below(100) < 4;
        let action = if blocked { "Blocked" } else { "Allowed" };
        let status = if blocked {
            403
        } else {
            [200, 200, 200, 204, 301, 304, 404, 500][r.below(8) as usize]
        };
        let path = [
            "/",
            "/index.html",
            "/api/v1/items",
            "/download/setup.exe",
            "/login",
            "/static/app.js",
        ][r.below(6) as usize];
        let threat = if bad { r.pick(THREATS) } else { "None" };
        let req = 200 + r.below(4000);
        let resp = if blocked { 0 } else { r.below(2_000_000) };
        let _ = write!(
            out,
            "{{\"sourcetype\":\"zscalernss-web\",\"event\":{{\"datetime\":\"{}\",\"reason\":\"{action}\",\"event_id\":\"{id}\",\"protocol\":\"HTTPS\",\"action\":\"{action}\",\"transactionsize\":\"{}\",\"responsesize\":\"{resp}\",\"requestsize\":\"{req}\",\"urlcategory\":\"{}\",\"serverip\":\"{}\",\"requestmethod\":\"{}\",\"refererURL\":\"None\",\"useragent\":\"{}\",\"product\":\"NSS\",\"location\":\"{loc}\",\"ClientIP\":\"{cip}\",\"status\":\"{status}\",\"user\":\"{login}\",\"url\":\"{host}{path}\",\"vendor\":\"Zscaler\",\"hostname\":\"{host}\",\"clientpublicIP\":\"198.51.100.{}\",\"threatcategory\":\"{}\",\"threatname\":\"{threat}\",\"filetype\":\"None\",\"appname\":\"General Browsing\",\"pagerisk\":\"{}\",\"department\":\"{dept}\",\"urlsupercategory\":\"{}\",\"appclass\":\"General Browsing\",\"dlpengine\":\"None\",\"urlclass\":\"Business Use\",\"threatclass\":\"None\",\"dlpdictionaries\":\"None\",\"fileclass\":\"None\",\"bwthrottle\":\"NO\",\"contenttype\":\"text/html\",\"unscannabletype\":\"None\",\"deviceowner\":\"{owner}\",\"devicehostname\":\"LAPTOP-{:04X}\",\"keyprotectiontype\":\"N/A\"}}}}",
            web_time(t),
            req + resp,
            r.pick(CATEGORIES),
            server_ip(r, site_i),
            if r.below(10) < 8 { "GET" } else { "POST" },
            r.pick(AGENTS),
            1 + r.below(250),
            if bad { "Malware" } else { "None" },
            if bad { 80 + r.below(20) } else { r.below(30) },
            r.pick(CATEGORIES),
            r.below(DEVICES),
        );
    } else if roll < 800 {
        let site_i = r.below(200);
        let dport = [443, 443, 443, 80, 53, 22, 3389, 8443, 123][r.below(9) as usize];
        let action = if r.below(100) < 7 { "Block" } else { "Allow" };
        let _ = write!(
            out,
            "{{\"sourcetype\": \"zscalernss-fw\",\"event\": {{\"datetime\": \"{}\",\"user\": \"{login}\",\"department\": \"{dept}\",\"locationname\": \"{loc}\",\"cdport\": \"{dport}\",\"csport\": \"{}\",\"sdport\": \"{dport}\",\"ssport\": \"{}\",\"csip\": \"{cip}\",\"cdip\": \"{}\",\"ssip\": \"198.51.100.{}\",\"sdip\": \"{}\",\"tsip\": \"0.0.0.0\",\"tunsport\": \"0\",\"tuntype\": \"ZscalerClientConnector\",\"action\": \"{action}\",\"dnat\": \"No\",\"stateful\": \"Yes\",\"aggregate\": \"No\",\"nwsvc\": \"HTTPS\",\"nwapp\": \"{}\",\"proto\": \"{}\",\"ipcat\": \"Internet Services\",\"destcountry\": \"United States\",\"avgduration\": \"{}\",\"rulelabel\": \"Default%20Firewall%20Filtering%20Rule\",\"inbytes\": \"{}\",\"outbytes\": \"{}\",\"duration\": \"{}\",\"durationms\": \"{}\",\"numsessions\": \"1\",\"ipsrulelabel\": \"None\",\"threatcat\": \"None\",\"threatname\": \"None\",\"deviceowner\": \"{owner}\",\"devicehostname\": \"LAPTOP-{:04X}\"}}}}",
            ctime(t),
            1024 + r.below(60000),
            1024 + r.below(60000),
            server_ip(r, site_i),
            1 + r.below(250),
            server_ip(r, site_i),
            ["mozilla", "teams", "ssl", "dns", "rdp"][r.below(5) as usize],
            if dport == 53 || dport == 123 { "UDP" } else { "TCP" },
            r.below(500_000),
            r.below(100_000),
            r.below(1_000_000),
            r.below(600),
            r.below(600_000),
            r.below(DEVICES),
        );
    } else if roll < 970 {
        let bad = r.below(100) < 2;
        let name = if bad {
            r.pick(BAD_SITES).to_string()
        } else {
            let s = SITES[r.skewed(SITES.len() as u64) as usize];
            if r.below(4) == 0 {
                format!("cdn{}.{s}", r.below(50))
            } else {
                s.to_string()
            }
        };
        let action = if bad { "Block" } else { "Allow" };
        let _ = write!(
            out,
            "{{\"sourcetype\": \"zscalernss-dns\",\"event\": {{\"datetime\": \"{}\",\"user\": \"{login}\",\"department\": \"{dept}\",\"location\": \"{loc}\",\"reqaction\": \"{action}\",\"resaction\": \"{action}\",\"reqrulelabel\": \"DNS_1\",\"resrulelabel\": \"None\",\"dns_reqtype\": \"{}\",\"dns_req\": \"{name}\",\"dns_resp\": \"{}\",\"srv_dport\": \"53\",\"durationms\": \"{}\",\"clt_sip\": \"{cip}\",\"srv_dip\": \"10.0.0.53\",\"category\": \"{}\",\"respipcategory\": \"Other\",\"deviceowner\": \"{owner}\",\"devicehostname\": \"LAPTOP-{:04X}\"}}}}",
            ctime(t),
            ["A", "A", "AAAA", "CNAME", "TXT"][r.below(5) as usize],
            if bad { "NXDOMAIN".to_string() } else { format!("{}.{}.{}.{}", 20 + r.below(200), r.below(250), r.below(250), 1 + r.below(250)) },
            r.below(120),
            r.pick(CATEGORIES),
            r.below(DEVICES),
        );
    } else if roll < 985 {
        let ev = ["PHASE1_UP", "PHASE2_UP", "PHASE1_ERROR", "TUNNEL_DOWN"][r.below(4) as usize];
        let _ = write!(
            out,
            "{{\"sourcetype\": \"zscalernss-tunnel\",\"event\": {{\"datetime\": \"{}\",\"Recordtype\": \"Tunnel Event\",\"tunneltype\": \"{}\",\"user\": \"{login}\",\"location\": \"{loc}\",\"sourceip\": \"203.0.113.{}\",\"destinationip\": \"165.225.{}.{}\",\"sourceport\": \"{}\",\"event\": \"{ev}\",\"eventreason\": \"{}\",\"recordid\": \"{id}\"}}}}",
            ctime(t),
            if r.below(2) == 0 { "GRE" } else { "IPSEC" },
            1 + r.below(250),
            r.below(250),
            1 + r.below(250),
            500 + r.below(4000),
            if ev.ends_with("ERROR") { "TIMEOUT" } else { "None" },
        );
    } else if roll < 993 {
        let action = ["SIGN_IN", "SIGN_OUT", "UPDATE", "CREATE", "DELETE"][r.below(5) as usize];
        let _ = write!(
            out,
            "{{\"sourcetype\": \"zscalernss-audit\",\"event\": {{\"time\": \"{}\",\"recordid\": \"{id}\",\"action\": \"{action}\",\"category\": \"LOGIN\",\"subcategory\": \"LOGIN\",\"resource\": \"None\",\"interface\": \"UI\",\"adminid\": \"admin{}@example.com\",\"clientip\": \"{cip}\",\"result\": \"{}\",\"errorcode\": \"None\",\"auditlogtype\": \"ZIA\",\"preaction\": \"{{}}\",\"postaction\": \"{{}}\"}}}}",
            ctime(t),
            r.below(5),
            if r.below(20) == 0 { "FAILURE" } else { "SUCCESS" },
        );
    } else {
        let _ = write!(
            out,
            "{{\"sourcetype\": \"zscalernss-casb\",\"event\": {{\"datetime\": \"{}\",\"recordid\": \"{id}\",\"company\": \"Example\",\"tenant\": \"example\",\"login\": \"{login}\",\"dept\": \"{dept}\",\"applicationname\": \"{}\",\"filename\": \"report-{}.pdf\",\"filesource\": \"/sites/finance/Shared%20Documents\",\"filemd5\": \"{:032x}\",\"threatname\": \"None\",\"policy\": \"Default\",\"fullurl\": \"https://example.sharepoint.com/sites/finance\",\"lastmodtime\": \"{}\",\"filescantimems\": \"{}\",\"filedownloadtimems\": \"{}\"}}}}",
            ctime(t),
            ["ONEDRIVE", "SHAREPOINT", "BOX", "GDRIVE"][r.below(4) as usize],
            r.below(100_000),
            (r.next() as u128) << 64 | r.next() as u128,
            ctime(t),
            r.below(1000),
            r.below(1000),
        );
    }
}

/// What the pipeline adds to every event (see the `pipeline` crate): `event.ingested` and
/// `ziaxdr.*` with a UUIDv7 event id. Emulated here so that the bytes per event are those of
/// a real deployment.
/// What the pipeline adds to every event: `event.ingested` and `ziaxdr.*`.
fn annotations(ts: OffsetDateTime, r: &mut Rng) -> (serde_json::Value, serde_json::Value) {
    let ingested = ts + time::Duration::milliseconds(200 + r.below(800) as i64);
    let ms = (ingested.unix_timestamp_nanos() / 1_000_000) as u64;
    let ingested_text = ingested
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let (a, b) = (r.next(), r.next());
    let id = format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xffff,
        a & 0xfff,
        0x8000 | ((a >> 12) & 0x3fff),
        b & 0xffff_ffff_ffff
    );
    (
        serde_json::Value::String(ingested_text),
        serde_json::json!({
            "event_id": id,
            "intake": {"uuid": "01a21f9f-1c14-7069-94dc-6a2965d0094b"},
            "transport": "syslog",
        }),
    )
}

fn annotate(
    event: &mut serde_json::Map<String, serde_json::Value>,
    ts: OffsetDateTime,
    r: &mut Rng,
) {
    let (ingested, meta) = annotations(ts, r);
    let ev = event
        .entry("event")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    if let serde_json::Value::Object(o) = ev {
        o.insert("ingested".into(), ingested);
    }
    event.insert("ziaxdr".into(), meta);
}

/// Commits when the store's policy (or `BENCH_COMMIT_EVERY`) says so.
fn commit_if_due(store: &TantivyStore, commit_every: u64, i: u64) {
    let due = match commit_every {
        0 => store.commit_due(),
        k => (i + 1).is_multiple_of(k),
    };
    if due {
        store.commit().expect("commit");
    }
}

/// CPU time (user + system) of this process so far, all threads, from `/proc/self/stat`
/// (Linux; clock ticks of 1/100 s, the kernel's `USER_HZ` on x86 and arm).
fn process_cpu() -> Option<Duration> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |p| p.get())
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Times `f` `runs` times after one warm-up; returns (median, p95, last result).
fn time_it<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut last = f();
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        last = f();
        v.push(t.elapsed());
    }
    v.sort();
    (pct(&v, 0.5), pct(&v, 0.95), last)
}

/// Runs a shell pipeline (the peer) `runs` times; returns (median, its output).
fn shell(runs: usize, cmd: &str) -> (Duration, String) {
    let mut v = Vec::new();
    let mut out = String::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let o = Command::new("bash")
            .args(["-o", "pipefail", "-c", cmd])
            .output()
            .expect("bash");
        v.push(t.elapsed());
        out = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if !o.status.success() && out.is_empty() {
            out = format!("(failed: {})", String::from_utf8_lossy(&o.stderr).trim());
        }
    }
    v.sort();
    (pct(&v, 0.5), out)
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or("").trim();
    if l.len() > 40 {
        format!("{}…", &l[..40])
    } else {
        l.to_string()
    }
}

struct Question {
    name: &'static str,
    query: &'static str,
    /// ripgrep pipeline counting matching lines in $F (approximate where rg cannot express it).
    rg: &'static str,
    /// jq filter selecting matching events.
    jq: &'static str,
}

const QUESTIONS: &[Question] = &[
    Question {
        name: "user term",
        query: "user.email:john.doe0@example.com",
        rg: r#"rg -c -F '"email":"john.doe0@example.com"' $F"#,
        jq: r#"select(.user.email == "john.doe0@example.com")"#,
    },
    Question {
        name: "blocked web with threat",
        query: "event.dataset:web AND event.action:blocked AND zscaler.zia.threat.name:*",
        rg: r#"rg '"dataset":"web"' $F | rg '"action":"blocked"' | rg -c '"threat":\{[^}]*"name":'"#,
        jq: r#"select(.event.dataset == "web" and .event.action == "blocked" and .zscaler.zia.threat.name != null)"#,
    },
    Question {
        name: "CIDR v4",
        query: "source.ip:10.3.0.0/16",
        rg: r#"rg -c '"source":\{[^}]*"ip":"10\.3\.' $F"#,
        jq: r#"select((.source.ip // "") | startswith("10.3."))"#,
    },
    Question {
        name: "CIDR v6",
        query: "source.ip:2001:db8:10::/48",
        rg: r#"rg -c '"source":\{[^}]*"ip":"2001:db8:10:' $F"#,
        jq: r#"select((.source.ip // "") | startswith("2001:db8:10:"))"#,
    },
    Question {
        name: "wildcard domain",
        query: "url.domain:*.ru",
        rg: r#"rg -c '"domain":"[^"]*\.ru"' $F"#,
        jq: r#"select((.url.domain // "") | endswith(".ru"))"#,
    },
    Question {
        name: "regex dns",
        query: r"dns.question.name:/.*\.(xyz|top|cn)/",
        rg: r#"rg -c '"question":\{[^}]*"name":"[^"]*\.(xyz|top|cn)"' $F"#,
        jq: r#"select((.dns.question.name // "") | test("\\.(xyz|top|cn)$"))"#,
    },
    Question {
        name: "port range",
        query: "destination.port:[3000 TO 9000]",
        rg: r#"rg -c '"port":(3[0-9]{3}|[4-8][0-9]{3}|9000)\},"event"' $F"#,
        jq: r#"select((.destination.port // 0) >= 3000 and (.destination.port // 0) <= 9000)"#,
    },
    Question {
        name: "status >= 500",
        query: "http.response.status_code:>=500",
        rg: r#"rg -c '"status_code":5[0-9][0-9]' $F"#,
        jq: r#"select((.http.response.status_code // 0) >= 500)"#,
    },
    Question {
        name: "boolean OR/NOT",
        query: "(event.dataset:firewall OR event.dataset:dns) AND NOT event.action:allow AND user.email:jane*",
        rg: r#"rg '"dataset":"(firewall|dns)"' $F | rg -v '"action":"allow"' | rg -c '"email":"jane'"#,
        jq: r#"select((.event.dataset == "firewall" or .event.dataset == "dns") and .event.action != "allow" and ((.user.email // "") | startswith("jane")))"#,
    },
    Question {
        name: "pipeline errors",
        query: "event.kind:pipeline_error",
        rg: r#"rg -c '"kind":"pipeline_error"' $F"#,
        jq: r#"select(.event.kind == "pipeline_error")"#,
    },
    Question {
        name: "bare term",
        query: "emotet",
        rg: r#"rg -c -i 'emotet' $F"#,
        jq: r#"select(tostring | ascii_downcase | contains("emotet"))"#,
    },
    Question {
        name: "phrase",
        query: "\"evil-updates.ru/download/setup.exe\"",
        rg: r#"rg -c -F 'evil-updates.ru/download/setup.exe' $F"#,
        jq: r#"select(tostring | contains("evil-updates.ru/download/setup.exe"))"#,
    },
];

struct Agg {
    name: &'static str,
    rg: &'static str,
    jq: &'static str,
}

const AGGS: &[Agg] = &[
    Agg {
        name: "count by dataset (top event.dataset)",
        rg: r#"rg -o '"dataset":"[a-z]+"' $F | sort | uniq -c | sort -rn | head -10"#,
        jq: r#"jq -r '.event.dataset // empty' $F | sort | uniq -c | sort -rn | head -10"#,
    },
    Agg {
        name: "top 10 url.domain",
        rg: r#"rg -o '"url":\{[^}]*"domain":"[^"]+"' $F | rg -o '"domain":"[^"]+"' | sort | uniq -c | sort -rn | head -10"#,
        jq: r#"jq -r '.url.domain // empty' $F | sort | uniq -c | sort -rn | head -10"#,
    },
    Agg {
        name: "events per hour (histogram)",
        rg: r#"rg -o '"@timestamp":"[0-9T:-]{13}' $F | sort | uniq -c | wc -l"#,
        jq: r#"jq -r '."@timestamp"[0:13]' $F | sort | uniq -c | wc -l"#,
    },
    Agg {
        name: "distinct user.email",
        rg: r#"rg -o '"user":\{[^}]*"email":"[^"]+"' $F | rg -o '"email":"[^"]+"' | sort -u | wc -l"#,
        jq: r#"jq -r '.user.email // empty' $F | sort -u | wc -l"#,
    },
];

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) only checks
    // that the benchmark builds and runs on a tiny input.
    let smoke =
        !std::env::args().any(|a| a == "--bench") || std::env::args().any(|a| a == "--smoke");
    let n = if smoke {
        2_000
    } else {
        env_u64("BENCH_EVENTS", 1_000_000)
    };
    let days = env_u64("BENCH_DAYS", 7).max(1);
    let runs = if smoke {
        2
    } else {
        env_u64("BENCH_RUNS", 20) as usize
    };
    let peer = std::env::var("BENCH_PEER").unwrap_or_else(|_| {
        if smoke {
            "none".into()
        } else {
            "rg,jq".into()
        }
    });
    let dir: PathBuf = std::env::var("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("ziaxdr-store-bench"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("bench dir");
    let store_dir = dir.join("store");
    let ndjson = dir.join("events.ndjson");

    println!(
        "# ziaxdr store benchmark: {n} events over {days} days, {} cores",
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(1)
    );
    let start_t = OffsetDateTime::from_unix_timestamp(1_717_200_000).expect("epoch"); // 2024-06-01
    let span = (days * 86_400) as i64;
    let range = TimeRange {
        from: start_t - time::Duration::hours(1),
        to: start_t + time::Duration::seconds(span) + time::Duration::hours(1),
    };

    // ---- Indexing -------------------------------------------------------------------------
    let mut config = StoreConfig::default();
    if let Some(level) = std::env::var("BENCH_ZSTD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.zstd_level = level;
    }
    println!("docstore zstd level: {}", config.zstd_level);
    let store = TantivyStore::open(&store_dir, config).expect("open store");
    // The peers' input; without peers only its size is measured (15 GB at 10 million events
    // is more than a shared disk may have free).
    let write_ndjson = peer != "none";
    let mut w: Box<dyn Write> = if write_ndjson {
        Box::new(BufWriter::with_capacity(
            1 << 20,
            fs::File::create(&ndjson).expect("ndjson"),
        ))
    } else {
        Box::new(std::io::sink())
    };
    let mut nd_size = 0u64;
    let mut rng = Rng(42);
    let mut raw = String::new();
    let (mut t_gen, mut t_parse, mut t_index, mut t_ndjson) = (
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
    );
    let mut raw_bytes = 0u64;
    let commit_every = env_u64("BENCH_COMMIT_EVERY", 0);
    let with_original = env_u64("BENCH_ORIGINAL", 0) == 1;
    println!(
        "commits: {}; raw record kept in event.original: {with_original}",
        match commit_every {
            0 => "store policy (StoreConfig default)".to_string(),
            k => format!("every {k} events"),
        }
    );
    let wall = Instant::now();
    let cpu_start = process_cpu();
    for i in 0..n {
        let t0 = Instant::now();
        let ts = start_t + time::Duration::seconds((i as i64 * span) / n as i64);
        record(&mut rng, ts, 7_000_000_000 + i, &mut raw);
        raw_bytes += raw.len() as u64 + 1;
        let t1 = Instant::now();
        // The NDJSON line of the peer is made and written outside the timed indexing.
        let (line, t3) = if with_original {
            // As `serve` and `import` do: the parser's flat event, annotated, handed to the
            // store with its record, which the store keeps instead of the parsed fields.
            let mut event = zia::parse_or_error_event(&raw);
            let (ingested, meta) = annotations(ts, &mut rng);
            event.set("event.ingested", ingested);
            event.set("ziaxdr", meta);
            let t2 = Instant::now();
            store.add_parsed(i, &event, &raw).expect("add");
            commit_if_due(&store, commit_every, i);
            let t3 = Instant::now();
            t_parse += t2 - t1;
            t_index += t3 - t2;
            let whole = store::source::with_original(&event, &raw);
            (serde_json::to_vec(&whole).expect("ndjson"), t3)
        } else {
            let mut event = zia::parse_or_error(&raw);
            annotate(&mut event, ts, &mut rng);
            let t2 = Instant::now();
            store.add(i, &event).expect("add");
            commit_if_due(&store, commit_every, i);
            let t3 = Instant::now();
            t_parse += t2 - t1;
            t_index += t3 - t2;
            (serde_json::to_vec(&event).expect("ndjson"), t3)
        };
        nd_size += line.len() as u64 + 1;
        w.write_all(&line).expect("ndjson");
        w.write_all(b"\n").expect("ndjson");
        let t4 = Instant::now();
        t_gen += t1 - t0;
        t_ndjson += t4 - t3;
    }
    let tc = Instant::now();
    store.close().expect("close");
    t_index += tc.elapsed();
    w.flush().expect("flush");
    drop(w);
    let wall = wall.elapsed();
    // Indexing also runs on tantivy's own threads (segment writer, docstore compressor,
    // merges), which the timings above do not see: the process's CPU time does. The
    // generator and the NDJSON writing run on this thread, so their time is taken out.
    let cpu = process_cpu()
        .zip(cpu_start)
        .map(|(end, start)| end.saturating_sub(start).saturating_sub(t_gen + t_ndjson));
    let disk = dir_size(&store_dir);
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("\n## Indexing");
    println!(
        "raw records generated: {:.0} MB ({:.0} B/record)",
        raw_bytes as f64 / 1e6,
        raw_bytes as f64 / n as f64
    );
    println!(
        "parse (zia): {:.1} s, {:.0} events/s",
        t_parse.as_secs_f64(),
        rate(t_parse)
    );
    println!(
        "index (add + commits + final merge wait): {:.1} s, {:.0} events/s",
        t_index.as_secs_f64(),
        rate(t_index)
    );
    // Not a rate: tantivy's threads also index while this thread generates records and
    // writes the NDJSON, time that this sum leaves out. The CPU line below bounds the rate;
    // `ziaxdr import` measures it end to end from the journal.
    println!(
        "this thread's parse + add time: {:.0} events/s (tantivy's threads not counted)",
        rate(t_parse + t_index)
    );
    if let Some(cpu) = cpu {
        println!(
            "CPU time of parse + index on all threads: {:.1} s, {:.0} events per CPU-second \
             (with {} cores: at most {:.0} events/s)   [goal 50000]",
            cpu.as_secs_f64(),
            rate(cpu),
            cores(),
            rate(cpu) * cores() as f64
        );
    }
    println!(
        "(generator {:.1} s and NDJSON writing {:.1} s excluded; wall clock {:.1} s)",
        t_gen.as_secs_f64(),
        t_ndjson.as_secs_f64(),
        wall.as_secs_f64()
    );
    println!(
        "store on disk: {:.1} MB, {:.1} bytes/event   [goal <= 250]",
        disk as f64 / 1e6,
        disk as f64 / n as f64
    );
    println!(
        "same events as NDJSON: {:.1} MB, {:.1} bytes/event",
        nd_size as f64 / 1e6,
        nd_size as f64 / n as f64
    );

    // ---- Queries --------------------------------------------------------------------------
    let store = TantivyStore::open_read_only(&store_dir).expect("open read-only");
    println!("\n## Disk per component and field (bytes/event, largest first)");
    println!("| component | field | bytes/event |");
    println!("|---|---|---|");
    let usage = store.space_usage().expect("space usage");
    let shown: u64 = usage.iter().map(|u| u.bytes).sum();
    for u in usage.iter().take(25) {
        println!(
            "| {} | {} | {:.1} |",
            u.component,
            u.field,
            u.bytes as f64 / n as f64
        );
    }
    let rest: u64 = usage.iter().skip(25).map(|u| u.bytes).sum();
    println!("| (others) | | {:.1} |", rest as f64 / n as f64);
    println!(
        "| (files outside segments: meta, locks, checkpoint) | | {:.1} |",
        disk.saturating_sub(shown) as f64 / n as f64
    );
    let f = ndjson.display().to_string();
    let jq_events = env_u64("BENCH_JQ_EVENTS", n);
    let use_rg = peer.contains("rg") && which("rg");
    let use_jq = peer.contains("jq") && which("jq");
    println!("\n## Queries ({runs} runs each after a warm-up; store: count of all matches, and the first page of 100 newest)");
    println!("| question | query | matches | store count median/p95 ms | store page-100 median/p95 ms | rg ms (count) | jq ms (count) |");
    println!("|---|---|---|---|---|---|---|");
    for q in QUESTIONS {
        let eq = EventQuery {
            query: Query::parse(q.query).expect("query"),
            range,
        };
        let (c_med, c_p95, count) = time_it(runs, || store.count(&eq).expect("count"));
        let (p_med, p_p95, _) = time_it(runs, || {
            store.search(&eq, 100, None).expect("search").events.len()
        });
        let rg = if use_rg {
            let (d, out) = shell(3, &q.rg.replace("$F", &f));
            format!("{} ({})", ms(d), first_line(&out))
        } else {
            "-".into()
        };
        let jq = if use_jq {
            let cmd = if jq_events < n {
                format!("head -n {jq_events} {f} | jq -c '{}' | wc -l", q.jq)
            } else {
                format!("jq -c '{}' {f} | wc -l", q.jq)
            };
            let (d, out) = shell(1, &cmd);
            format!("{} ({})", ms(d), first_line(&out))
        } else {
            "-".into()
        };
        println!(
            "| {} | `{}` | {count} | {} / {} | {} / {} | {rg} | {jq} |",
            q.name,
            q.query.replace('|', "\\|"),
            ms(c_med),
            ms(c_p95),
            ms(p_med),
            ms(p_p95)
        );
    }

    println!("\n## Aggregations over all {n} events ({runs} runs each after a warm-up)");
    println!("| aggregation | store median/p95 ms | store answer | rg ms | rg answer | jq ms | jq answer |");
    println!("|---|---|---|---|---|---|---|");
    let all = EventQuery {
        query: Query::All,
        range,
    };
    let interval = 3_600;
    let store_aggs: Vec<Box<dyn Fn() -> String>> = vec![
        Box::new(|| {
            let t = store.top(&all, "event.dataset", 10).expect("top");
            format!(
                "{} {}",
                t.values.first().map(|v| v.0.as_str()).unwrap_or(""),
                t.values.first().map(|v| v.1).unwrap_or(0)
            )
        }),
        Box::new(|| {
            let t = store.top(&all, "url.domain", 10).expect("top");
            format!(
                "{} {}",
                t.values.first().map(|v| v.0.as_str()).unwrap_or(""),
                t.values.first().map(|v| v.1).unwrap_or(0)
            )
        }),
        Box::new(|| {
            format!(
                "{} buckets",
                store.histogram(&all, interval).expect("histogram").len()
            )
        }),
        Box::new(|| {
            store
                .distinct(&all, "user.email")
                .expect("distinct")
                .to_string()
        }),
    ];
    for (a, sf) in AGGS.iter().zip(store_aggs.iter()) {
        let (med, p95, ans) = time_it(runs, sf);
        let (rg_t, rg_a) = if use_rg {
            let (d, o) = shell(1, &a.rg.replace("$F", &f));
            (ms(d), first_line(&o))
        } else {
            ("-".into(), "-".into())
        };
        let (jq_t, jq_a) = if use_jq {
            let cmd = if jq_events < n {
                a.jq.replace("jq -r", &format!("head -n {jq_events} {f} | jq -r"))
                    .replace(" $F", "")
            } else {
                a.jq.replace("$F", &f)
            };
            let (d, o) = shell(1, &cmd);
            (ms(d), first_line(&o))
        } else {
            ("-".into(), "-".into())
        };
        println!(
            "| {} | {} / {} | {ans} | {rg_t} | {rg_a} | {jq_t} | {jq_a} |",
            a.name,
            ms(med),
            ms(p95)
        );
    }
    if use_jq && jq_events < n {
        println!("\n(jq read only the first {jq_events} events: BENCH_JQ_EVENTS)");
    }
    if !smoke && std::env::var("BENCH_KEEP").is_err() {
        let _ = fs::remove_dir_all(&dir);
    }
}

fn which(cmd: &str) -> bool {
    Command::new("bash")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn dir_size(p: &Path) -> u64 {
    let mut t = 0;
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => t += dir_size(&e.path()),
                Ok(m) => t += m.len(),
                Err(_) => {}
            }
        }
    }
    t
}
