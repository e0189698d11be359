//! Feed-format drift, per intake: records whose keys differ from the recommended format of
//! their log type (keys missing, keys extra, or an earlier version of the format), counted,
//! with since when and the format to paste.
//!
//! Checking keys is done once per distinct shape: the parser gives every record a
//! fingerprint of its key set ([`zia::Shape`]); the first record of a new (intake, shape) is
//! decoded again for its keys and compared with `nss::drift`, and the verdict is remembered.
//! Every later record of that shape costs one lookup under an uncontended lock.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};
use serde::Serialize;
use uuid::Uuid;

use pipeline::raw::{RawEvent, Transport};

/// Most distinct record shapes remembered per intake. A feed has one per log type and
/// format (a few per tunnel or SaaS feed); beyond this many, records of a new shape are not
/// checked but counted in `ziaxdr_feed_shapes_unchecked_total`, so random keys cannot grow
/// memory without bound.
pub const MAX_SHAPES_PER_INTAKE: usize = 64;

/// Longest list of key names a drift message spells out (the report has them all).
const MESSAGE_KEYS: usize = 10;

/// The recommended-format log type of a parsed log type (`None`: no recommended format).
fn nss_log_type(t: zia::LogType) -> Option<nss::LogType> {
    Some(match t {
        zia::LogType::Web => nss::LogType::Web,
        zia::LogType::Firewall => nss::LogType::Firewall,
        zia::LogType::Dns => nss::LogType::Dns,
        zia::LogType::Tunnel => nss::LogType::Tunnel,
        zia::LogType::Audit => nss::LogType::Audit,
        zia::LogType::Casb => nss::LogType::SaasSecurity,
        zia::LogType::Edlp => nss::LogType::EndpointDlp,
        zia::LogType::EmailDlp => nss::LogType::EmailDlp,
        zia::LogType::NssAlert | zia::LogType::Sandbox => return None,
    })
}

/// One drifting shape of one intake's feed.
struct Entry {
    intake: Uuid,
    transport: Transport,
    drift: nss::drift::Drift,
    /// Unix seconds of the first and the latest record of this shape.
    since: u64,
    last: AtomicU64,
    records: AtomicU64,
    counter: IntCounter,
}

/// What the console and `/metrics` say about one drifting feed shape.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    /// The log type (`web`, `firewall`, …).
    pub log_type: &'static str,
    /// The recommended format the records are nearest to (`web`, `tunnel-ike-phase1`, …).
    pub format: &'static str,
    /// That format's current version.
    pub version: u32,
    /// The earlier version whose keys the records have exactly, if any.
    pub old_version: Option<u32>,
    /// Keys of the current format the records lack.
    pub missing: Vec<String>,
    /// Keys of the records the current format lacks.
    pub extra: Vec<String>,
    /// Records of this shape since `since`.
    pub records: u64,
    /// First record of this shape since the server started (RFC 3339).
    pub since: String,
    /// Latest record of this shape (RFC 3339).
    pub last_seen: String,
    /// One line for people: "web feed: 3 fields missing since 10:42 UTC: a, b, c".
    pub message: String,
    /// The format to paste into the feed, for the transport the records came by.
    pub paste: String,
}

/// An (intake, shape) seen. Its hash is the shape's fingerprint (already a well-mixed hash)
/// folded with the intake id, so the lookup done for every record hashes nothing again.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ShapeKey {
    intake: Uuid,
    shape: zia::Shape,
}

impl Hash for ShapeKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let u = self.intake.as_u128();
        h.write_u64(self.shape.fingerprint ^ (u as u64) ^ ((u >> 64) as u64));
    }
}

/// The hasher of [`ShapeKey`]: passes its one `u64` through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used by ShapeKey; a plain FNV-1a step keeps it a hasher for any input.
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct State {
    /// The verdict of each (intake, shape) seen: `None` when it matches the current format.
    shapes: HashMap<ShapeKey, Option<Arc<Entry>>, BuildHasherDefault<PassThrough>>,
    per_intake: HashMap<Uuid, usize>,
}

/// The drift tracker the pipeline feeds and the console and `/metrics` read.
#[derive(Clone)]
pub struct FeedDrift {
    state: Arc<Mutex<State>>,
    records: IntCounterVec,
    fields: IntGaugeVec,
    behind: IntGaugeVec,
    unchecked: IntCounterVec,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(secs)).to_string()
}

fn list(keys: &[String]) -> String {
    let mut s = keys
        .iter()
        .take(MESSAGE_KEYS)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > MESSAGE_KEYS {
        let _ = write!(s, ", … ({} more)", keys.len() - MESSAGE_KEYS);
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        "field"
    } else {
        "fields"
    }
}

/// The line people read: which keys differ, since when, and what to do.
fn message(d: &nss::drift::Drift, since: u64) -> String {
    let lt = d.format.log_type.name();
    let at = rfc3339(since);
    let hhmm = at.get(11..16).unwrap_or("");
    let mut m = format!("{lt} feed: ");
    if let Some(v) = d.matches.filter(|v| *v < d.format.version) {
        let _ = write!(
            m,
            "format {} v{v} (current v{}), ",
            d.format.name, d.format.version
        );
    }
    let (miss, extra) = (d.missing.len(), d.extra.len());
    match (miss, extra) {
        (0, 0) => m.push_str("keys differ"),
        (n, 0) => {
            let _ = write!(m, "{n} {} missing", plural(n));
        }
        (0, e) => {
            let _ = write!(m, "{e} {} extra", plural(e));
        }
        (n, e) => {
            let _ = write!(m, "{n} {} missing, {e} extra", plural(n));
        }
    }
    let _ = write!(m, " since {hhmm} UTC");
    match (miss, extra) {
        (_, 0) if miss > 0 => {
            let _ = write!(m, ": {}", list(&d.missing));
        }
        (0, _) if extra > 0 => {
            let _ = write!(m, ": {}", list(&d.extra));
        }
        (0, 0) => {}
        _ => {
            let _ = write!(
                m,
                ": missing {}; extra {}",
                list(&d.missing),
                list(&d.extra)
            );
        }
    }
    let _ = write!(
        m,
        "; paste the recommended format {} v{} (`ziaxdr nss formats --log-type {lt}`)",
        d.format.name, d.format.version
    );
    m
}

/// The pipeline tells the tracker the shape of every record it hands to the sink.
impl pipeline::ShapeObserver for FeedDrift {
    fn observe(&self, raw: &RawEvent, shape: Option<&zia::Shape>) {
        FeedDrift::observe(self, raw, shape);
    }
}

impl FeedDrift {
    /// A tracker whose metrics are registered in `reg`.
    pub fn new(reg: &Registry) -> FeedDrift {
        let lt = &["intake", "log_type"];
        let records = IntCounterVec::new(
            Opts::new(
                "ziaxdr_feed_drift_records_total",
                "Records whose keys differ from the recommended format of their log type",
            ),
            lt,
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let fields = IntGaugeVec::new(
            Opts::new(
                "ziaxdr_feed_drift_fields",
                "Keys missing from or extra to the recommended format, in the latest drifting shape of a feed",
            ),
            &["intake", "log_type", "difference"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let behind = IntGaugeVec::new(
            Opts::new(
                "ziaxdr_feed_format_versions_behind",
                "Versions of the recommended format between the feed's format and the current one (0: not an earlier version)",
            ),
            lt,
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let unchecked = IntCounterVec::new(
            Opts::new(
                "ziaxdr_feed_shapes_unchecked_total",
                "Records of a new key shape not checked because the intake has too many shapes",
            ),
            &["intake"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        // Registration only fails on duplicate names, which are static and distinct.
        for c in [
            Box::new(records.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(fields.clone()),
            Box::new(behind.clone()),
            Box::new(unchecked.clone()),
        ] {
            let _ = reg.register(c);
        }
        FeedDrift {
            state: Arc::default(),
            records,
            fields,
            behind,
            unchecked,
        }
    }

    /// Counts one record of `shape` from `raw`'s intake (the pipeline's hook). The first
    /// record of a new shape is decoded again to compare its keys.
    pub fn observe(&self, raw: &RawEvent, shape: Option<&zia::Shape>) {
        let Some(shape) = shape else { return };
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let key = ShapeKey {
            intake: raw.intake,
            shape: *shape,
        };
        if let Some(known) = st.shapes.get(&key) {
            if let Some(e) = known {
                e.records.fetch_add(1, Ordering::Relaxed);
                e.last.store(unix_now(), Ordering::Relaxed);
                e.counter.inc();
            }
            return;
        }
        let n = st.per_intake.entry(raw.intake).or_default();
        if *n >= MAX_SHAPES_PER_INTAKE {
            drop(st);
            self.unchecked
                .with_label_values(&[raw.intake.to_string().as_str()])
                .inc();
            return;
        }
        *n += 1;
        let verdict = self.check(raw, shape);
        st.shapes.insert(key, verdict);
    }

    fn check(&self, raw: &RawEvent, shape: &zia::Shape) -> Option<Arc<Entry>> {
        let lt = nss_log_type(shape.log_type)?;
        let keys = zia::record_keys(&raw.text());
        let drift = nss::drift::check(lt, keys.iter().map(String::as_str))?;
        if drift.is_current() {
            return None;
        }
        let intake = raw.intake.to_string();
        let name = drift.format.log_type.name();
        let labels = [intake.as_str(), name];
        let counter = self.records.with_label_values(&labels);
        counter.inc();
        self.fields
            .with_label_values(&[intake.as_str(), name, "missing"])
            .set(drift.missing.len() as i64);
        self.fields
            .with_label_values(&[intake.as_str(), name, "extra"])
            .set(drift.extra.len() as i64);
        let behind = drift
            .matches
            .map_or(0, |v| drift.format.version.saturating_sub(v));
        self.behind
            .with_label_values(&labels)
            .set(i64::from(behind));
        let now = unix_now();
        tracing::warn!(intake = %raw.intake, "{}", message(&drift, now));
        Some(Arc::new(Entry {
            intake: raw.intake,
            transport: raw.transport,
            drift,
            since: now,
            last: AtomicU64::new(now),
            records: AtomicU64::new(1),
            counter,
        }))
    }

    fn entries(&self) -> Vec<Arc<Entry>> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<Arc<Entry>> = st.shapes.values().flatten().cloned().collect();
        v.sort_by_key(|e| (e.intake, e.drift.format.name, e.since));
        v
    }

    /// The drifting shapes of one intake's feeds, oldest first.
    pub fn report(&self, intake: &Uuid) -> Vec<DriftReport> {
        self.entries()
            .into_iter()
            .filter(|e| e.intake == *intake)
            .map(|e| report_of(&e))
            .collect()
    }

    /// Comment lines for `/metrics`: one per drifting shape, the intake and its message.
    pub fn comments(&self) -> String {
        let mut s = String::new();
        for e in self.entries() {
            let _ = writeln!(
                s,
                "# ziaxdr feed drift: intake {}: {} ({} records)",
                e.intake,
                message(&e.drift, e.since),
                e.records.load(Ordering::Relaxed)
            );
        }
        s
    }
}

fn report_of(e: &Entry) -> DriftReport {
    let d = &e.drift;
    let transport = match e.transport {
        Transport::Syslog | Transport::SyslogTls => nss::Transport::Nss,
        Transport::Http | Transport::Https | Transport::Import => nss::Transport::CloudNss,
    };
    DriftReport {
        log_type: d.format.log_type.name(),
        format: d.format.name,
        version: d.format.version,
        old_version: d.matches.filter(|v| *v < d.format.version),
        missing: d.missing.clone(),
        extra: d.extra.clone(),
        records: e.records.load(Ordering::Relaxed),
        since: rfc3339(e.since),
        last_seen: rfc3339(e.last.load(Ordering::Relaxed)),
        message: message(d, e.since),
        paste: d.format.format(transport),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(intake: Uuid, transport: Transport, data: String) -> RawEvent {
        RawEvent {
            intake,
            id: Uuid::now_v7(),
            received_at_us: 0,
            transport,
            peer: String::new(),
            data: data.into_bytes(),
        }
    }

    /// A record of `sourcetype` with exactly `keys` in its event.
    fn record<'a>(sourcetype: &str, keys: impl IntoIterator<Item = &'a str>) -> String {
        let event: serde_json::Map<String, serde_json::Value> = keys
            .into_iter()
            .map(|k| (k.to_string(), "1".into()))
            .collect();
        serde_json::json!({"sourcetype": sourcetype, "event": event}).to_string()
    }

    fn keys(name: &str) -> Vec<String> {
        nss::drift::format_keys(nss::recommended::by_name(name).unwrap())
            .into_iter()
            .collect()
    }

    fn feed(d: &FeedDrift, intake: Uuid, transport: Transport, data: &str, times: usize) {
        for _ in 0..times {
            let r = raw(intake, transport, data.to_string());
            let shape = zia::parse_event(data).unwrap().shape;
            d.observe(&r, shape.as_ref());
        }
    }

    #[test]
    fn records_in_the_current_recommended_format_are_not_reported() {
        let (reg, i) = (Registry::new(), Uuid::now_v7());
        let d = FeedDrift::new(&reg);
        let k = keys("dns");
        feed(
            &d,
            i,
            Transport::Http,
            &record("zscalernss-dns", k.iter().map(String::as_str)),
            5,
        );
        assert!(d.report(&i).is_empty());
        assert!(d.comments().is_empty());
    }

    #[test]
    fn each_record_with_a_missing_key_is_counted_and_the_key_named() {
        let (reg, i) = (Registry::new(), Uuid::now_v7());
        let d = FeedDrift::new(&reg);
        let k = keys("dns");
        let data = record(
            "zscalernss-dns",
            k.iter().map(String::as_str).filter(|k| *k != "recordid"),
        );
        feed(&d, i, Transport::Http, &data, 3);
        let r = d.report(&i);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].records, 3);
        assert_eq!(r[0].missing, ["recordid"]);
        assert!(
            r[0].message.starts_with("dns feed: 1 field missing since "),
            "{}",
            r[0].message
        );
        assert!(
            r[0].message.contains(" UTC: recordid; paste"),
            "{}",
            r[0].message
        );
        let counted = d
            .records
            .with_label_values(&[i.to_string().as_str(), "dns"])
            .get();
        assert_eq!(counted, 3);
    }

    #[test]
    fn a_feed_on_an_earlier_format_version_is_reported_as_that_version() {
        let (reg, i) = (Registry::new(), Uuid::now_v7());
        let d = FeedDrift::new(&reg);
        let added = [
            "srcip_country",
            "dstip_country",
            "is_src_cntry_risky",
            "is_dst_cntry_risky",
        ];
        let k = keys("web");
        let data = record(
            "zscalernss-web",
            k.iter().map(String::as_str).filter(|k| !added.contains(k)),
        );
        feed(&d, i, Transport::Syslog, &data, 1);
        let r = &d.report(&i)[0];
        assert_eq!((r.old_version, r.version), (Some(1), 2));
        assert!(
            r.message
                .starts_with("web feed: format web v1 (current v2), 4 fields missing"),
            "{}",
            r.message
        );
        assert!(
            r.paste.starts_with(nss::recommended::SYSLOG_HEADER),
            "syslog feeds get the NSS format"
        );
        let behind = d
            .behind
            .with_label_values(&[i.to_string().as_str(), "web"])
            .get();
        assert_eq!(behind, 1);
    }

    #[test]
    fn extra_keys_are_reported_with_the_missing_ones() {
        let (reg, i) = (Registry::new(), Uuid::now_v7());
        let d = FeedDrift::new(&reg);
        let k = keys("audit");
        let data = record(
            "zscalernss-audit",
            k.iter()
                .map(String::as_str)
                .filter(|k| *k != "result")
                .chain(["mine"]),
        );
        feed(&d, i, Transport::Http, &data, 1);
        let r = &d.report(&i)[0];
        assert_eq!(
            (r.missing.as_slice(), r.extra.as_slice()),
            (&["result".to_string()][..], &["mine".to_string()][..])
        );
        assert!(
            r.message.contains("1 field missing, 1 extra"),
            "{}",
            r.message
        );
        assert!(
            r.paste.starts_with("\\{\"sourcetype\""),
            "HTTP feeds get the Cloud NSS format"
        );
    }

    #[test]
    fn metrics_text_says_which_feed_drifted_in_a_comment() {
        let m = crate::metrics::Metrics::new();
        let i = Uuid::now_v7();
        let data = record("zscalernss-dns", ["user", "dns_req"]);
        feed(&m.drift, i, Transport::Http, &data, 2);
        let text = m.render();
        let line = text
            .lines()
            .find(|l| l.starts_with("# ziaxdr feed drift: intake "))
            .unwrap_or_else(|| panic!("no drift comment in {text}"));
        assert!(
            line.contains(&i.to_string())
                && line.contains("dns feed: ")
                && line.ends_with("(2 records)"),
            "{line}"
        );
        assert!(
            text.contains(&format!(
                "ziaxdr_feed_drift_records_total{{intake=\"{i}\",log_type=\"dns\"}} 2"
            )),
            "{text}"
        );
    }

    #[test]
    fn shapes_beyond_the_cap_are_counted_unchecked_not_remembered() {
        let (reg, i) = (Registry::new(), Uuid::now_v7());
        let d = FeedDrift::new(&reg);
        for n in 0..MAX_SHAPES_PER_INTAKE + 5 {
            let extra = format!("k{n}");
            feed(
                &d,
                i,
                Transport::Http,
                &record("zscalernss-dns", ["user", extra.as_str()]),
                1,
            );
        }
        assert_eq!(d.report(&i).len(), MAX_SHAPES_PER_INTAKE);
        assert_eq!(
            d.unchecked
                .with_label_values(&[i.to_string().as_str()])
                .get(),
            5
        );
    }

    #[test]
    fn log_types_without_a_recommended_format_are_not_checked() {
        let (reg, i) = (Registry::new(), Uuid::now_v7());
        let d = FeedDrift::new(&reg);
        let data = record("zscalernss-sandbox", ["md5", "verdict"]);
        feed(&d, i, Transport::Http, &data, 1);
        assert!(d.report(&i).is_empty());
    }
}
