//! Detection split across threads: screens ([`detect::Screen`]) run the stateless rules and
//! the indicators on several threads, [`Detector::finish`] correlates in the events' order,
//! and the result is what one thread running everything gives. Matches turned into alerts in
//! one batch give the alerts they give one at a time.

use std::path::PathBuf;
use std::sync::Arc;

use detect::alerts::AlertFilter;
use detect::cti::{CtiMatcher, CtiStore};
use detect::{AlertManager, Detector, Match, RuleSet};
use serde_json::{json, Map, Value};

fn shared(dir: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")).join(dir)
}

/// The shipped pack, the shared SigmaHQ rules (legacy aggregations included) and the shared
/// STIX indicators.
fn detector(data: &std::path::Path) -> Detector {
    let mut set = RuleSet::builtin();
    set.add_dir(&shared("sigma/rules")).unwrap();
    let mut d = Detector::new(&set).unwrap();
    let mut store = CtiStore::open(data).unwrap();
    for f in [
        APT1,
        "oasis-cti-documentation/examples/indicator-for-malicious-url.json",
    ] {
        import(&mut store, f);
    }
    d.set_cti(Arc::new(CtiMatcher::build(
        &store.all().unwrap(),
        detect::chrono::Utc::now(),
    )));
    d
}

/// A sample bundle whose indicators name `hugesoft.org`.
const APT1: &str = "oasis-cti-stix2-json-schemas/examples/threat-reports/apt1.json";

fn import(store: &mut CtiStore, f: &str) {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(shared("cti").join(f)).unwrap()).unwrap();
    store.import_doc(&doc, f).unwrap();
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// Simulated records of every log type, malicious ones among them, as the parser gives them.
fn flat_events() -> Vec<zia::Event> {
    let mut gen = sim::Generator::new(&sim::GenConfig {
        seed: 11,
        mix: nss::LogType::ALL.iter().map(|t| (*t, 1)).collect(),
        malicious: 0.3,
        transport: nss::Transport::Nss,
    })
    .unwrap();
    let mut out = Vec::new();
    for _ in 0..3000 {
        let mut line = Vec::new();
        gen.next(1_765_000_000, &mut line);
        if let Ok(p) = zia::parse_event(String::from_utf8(line).unwrap().trim_end()) {
            out.push(p.event);
        }
    }
    out
}

/// Simulated records of every log type, malicious ones among them, as the pipeline gives them
/// to detection, then a burst of DNS queries from one host (a rate correlation) and denied
/// connections to many ports (a distinct-count correlation).
fn events() -> Vec<Map<String, Value>> {
    let mut out: Vec<Map<String, Value>> =
        flat_events().into_iter().map(|e| e.into_map()).collect();
    for i in 0..20 {
        out.push(obj(json!({"@timestamp": "2026-12-06T10:00:00Z",
           "event": {"dataset": "web", "id": format!("cti-{i}")}, "user": {"name": format!("u{}", i % 3)},
           "source": {"ip": "10.0.0.7"}, "url": {"domain": "hugesoft.org", "original": "http://hugesoft.org/x"}})));
    }
    for i in 0..1200u32 {
        out.push(obj(json!({"@timestamp": format!("2026-12-06T11:00:{:02}.{:03}Z", i / 1000 % 60, i % 1000),
           "event": {"dataset": "dns", "id": format!("dns-{i}")},
           "source": {"ip": "10.9.9.9"}, "dns": {"question": {"name": format!("h{i}.example.com"), "type": "A"}}})));
    }
    for port in 1..=30u32 {
        out.push(obj(
            json!({"@timestamp": format!("2026-12-06T10:00:{port:02}Z"),
           "event": {"dataset": "firewall", "action": "Block/Drop", "id": format!("fw-{port}")},
           "source": {"ip": "10.0.0.5"}, "destination": {"ip": "203.0.113.9", "port": port}}),
        ));
    }
    out
}

/// What fired, in order: rule id and whether it was a correlation.
fn fired(matches: &[Match]) -> Vec<(String, bool)> {
    matches
        .iter()
        .map(|m| (m.rule.id.clone(), m.correlation))
        .collect()
}

#[test]
fn screening_on_two_threads_then_finishing_in_order_fires_what_one_thread_does() {
    let data = tempfile::tempdir().unwrap();
    let events = events();
    let mut one = detector(data.path());
    let want: Vec<Vec<(String, bool)>> = events.iter().map(|e| fired(&one.process(e))).collect();

    let mut split = detector(data.path());
    let (mut a, mut b) = (split.screen(), split.screen());
    let half = events.len() / 2;
    let (first, second) = events.split_at(half);
    let (sa, sb) = std::thread::scope(|s| {
        let ha = s.spawn(|| first.iter().map(|e| a.screen(e)).collect::<Vec<_>>());
        let hb = s.spawn(|| second.iter().map(|e| b.screen(e)).collect::<Vec<_>>());
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let got: Vec<Vec<(String, bool)>> = sa
        .into_iter()
        .chain(sb)
        .map(|s| fired(&split.finish(s)))
        .collect();
    assert_eq!(got, want);
    let all: Vec<&(String, bool)> = want.iter().flatten().collect();
    assert!(all.iter().any(|(_, c)| *c), "no correlation fired");
    assert!(
        all.iter().filter(|(_, c)| !*c).count() > 50,
        "too few matches"
    );
    assert!(one.stats().cti_matches >= 20, "the indicators matched");
    assert_eq!(split.stats().events, one.stats().events);
    assert_eq!(split.stats().sigma_matches, one.stats().sigma_matches);
    assert_eq!(split.stats().cti_matches, one.stats().cti_matches);
}

#[test]
fn a_screen_taken_before_the_indicators_are_replaced_matches_the_new_ones() {
    let data = tempfile::tempdir().unwrap();
    let mut d = Detector::new(&RuleSet::new()).unwrap();
    let mut screen = d.screen();
    let ev = obj(json!({"@timestamp": "2026-12-06T10:00:00Z",
        "event": {"dataset": "web", "id": "e1"}, "url": {"domain": "hugesoft.org"}}));
    let before = screen.screen(&ev);
    assert!(before.matches().is_empty());
    let mut store = CtiStore::open(data.path()).unwrap();
    import(&mut store, APT1);

    let generation = d.cti_generation();
    d.set_cti(Arc::new(CtiMatcher::build(
        &store.all().unwrap(),
        detect::chrono::Utc::now(),
    )));
    assert_ne!(d.cti_generation(), generation);
    let after = screen.screen(&ev);
    assert_eq!(after.cti_generation(), d.cti_generation());
    assert!(
        after
            .matches()
            .iter()
            .any(|m| m.rule.kind == detect::RuleType::Cti),
        "the screen uses the replaced indicators"
    );
    // An event screened with the old ones is matched again against the new ones.
    let mut stale = before;
    assert_ne!(stale.cti_generation(), d.cti_generation());
    stale.rematch_cti(&d, &ev);
    assert_eq!(stale.cti_generation(), d.cti_generation());
    assert_eq!(fired(stale.matches()), fired(after.matches()));
}

/// (rule, similar, users, event ids) of every alert, sorted.
fn summary(mgr: &mut AlertManager) -> Vec<(String, u64, Vec<String>, usize)> {
    let mut out: Vec<_> = mgr
        .store()
        .list(&AlertFilter::default())
        .unwrap()
        .into_iter()
        .map(|a| (a.similarity_key, a.similar, a.users, a.event_ids.len()))
        .collect();
    out.sort();
    out
}

#[test]
fn matches_ingested_in_one_batch_give_the_alerts_they_give_one_by_one() {
    let data = tempfile::tempdir().unwrap();
    let mut d = detector(data.path());
    let matches: Vec<Match> = events().iter().flat_map(|e| d.process(e)).collect();
    assert!(matches.len() > 50);
    let (one_dir, batch_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut one = AlertManager::open(one_dir.path()).unwrap();
    let mut batch = AlertManager::open(batch_dir.path()).unwrap();
    // A small throttle, so that the batch also crosses it.
    let throttle = detect::alerts::ThrottleConfig {
        max_alerts: 3,
        ..Default::default()
    };
    one.set_throttle(throttle);
    batch.set_throttle(throttle);
    let one_changes: Vec<String> = matches
        .iter()
        .map(|m| format!("{:?}", kind(&one.ingest(m).unwrap())))
        .collect();
    let batch_changes: Vec<String> = batch
        .ingest_all(&matches)
        .unwrap()
        .iter()
        .map(|c| format!("{:?}", kind(c)))
        .collect();
    assert_eq!(batch_changes, one_changes);
    // Counted only (no playbooks), the same kinds of changes and the same alerts.
    let counted_dir = tempfile::tempdir().unwrap();
    let mut counted = AlertManager::open(counted_dir.path()).unwrap();
    counted.set_throttle(throttle);
    let kinds = counted.ingest_counted(&matches).unwrap();
    let one_kinds: Vec<String> = one_changes
        .iter()
        .map(|c| c.split('"').nth(1).unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        kinds.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>(),
        one_kinds
    );
    assert_eq!(summary(&mut counted), summary(&mut one));
    assert!(one_changes.iter().any(|c| c.contains("Throttled")));
    assert_eq!(summary(&mut batch), summary(&mut one));
    // The same matches again are replays (those naming their events), in a batch as one by
    // one.
    let again = batch.ingest_all(&matches).unwrap();
    let named: Vec<_> = again
        .iter()
        .zip(&matches)
        .filter(|(_, m)| !m.event_ids.is_empty())
        .collect();
    assert!(named.len() > 50);
    assert!(named
        .iter()
        .all(|(c, _)| matches!(c, detect::AlertChange::Replayed { .. })));
}

/// A change without the alert's contents (uuids and times differ between two databases).
fn kind(c: &detect::AlertChange) -> (String, Option<u64>) {
    match c {
        detect::AlertChange::Created(a) => ("Created".into(), Some(a.similar)),
        detect::AlertChange::Updated(a) => ("Updated".into(), Some(a.similar)),
        detect::AlertChange::Throttled { suppressed, .. } => {
            ("Throttled".into(), Some(*suppressed))
        }
        detect::AlertChange::Replayed { .. } => ("Replayed".into(), None),
    }
}

/// Everything a match says of its event.
fn described(matches: &[Match]) -> Vec<String> {
    matches
        .iter()
        .map(|m| {
            format!(
                "{} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {} {:?}",
                m.rule.id,
                m.entity,
                m.source,
                m.target,
                m.user,
                m.dataset,
                m.event_ids,
                m.alert_group,
                m.timestamp,
                m.details,
                m.dns_name
            )
        })
        .collect()
}

#[test]
fn a_flat_event_screened_from_its_leaves_matches_as_its_nested_objects_do() {
    let data = tempfile::tempdir().unwrap();
    let d = detector(data.path());
    let (mut leaves, mut nested) = (d.screen(), d.screen());
    let mut fired_any = 0;
    for ev in flat_events() {
        let map = ev.to_map();
        let indexed = detect::event::EcsEvent::from_leaves(|visit| ev.for_each_leaf_ref(visit));
        let got = leaves.screen_indexed(&indexed, &|| ev.to_map());
        let want = nested.screen(&map);
        assert_eq!(described(got.matches()), described(want.matches()));
        fired_any += want.matches().len();
    }
    assert!(fired_any > 50, "only {fired_any} matches");
}

/// Everything a correlation's match says, with the group it counted.
fn correlated(matches: &[Match]) -> Vec<String> {
    let only: Vec<Match> = matches.iter().filter(|m| m.correlation).cloned().collect();
    described(&only)
        .into_iter()
        .zip(&only)
        .map(|(d, m)| format!("{d} {:?}", m.group_key))
        .collect()
}

#[test]
fn correlations_fed_only_the_fields_they_read_fire_as_on_whole_events() {
    // The gated detector hands correlations the fields they read; the ungated one, whose
    // engine evaluates every rule itself, hands them whole events.
    let data = tempfile::tempdir().unwrap();
    let mut cut = detector(data.path());
    let mut set = RuleSet::builtin();
    set.add_dir(&shared("sigma/rules")).unwrap();
    let mut whole = Detector::new_ungated(&set).unwrap();
    let mut fired_any = 0;
    for ev in events() {
        let want = correlated(&whole.process(&ev));
        assert_eq!(correlated(&cut.process(&ev)), want);
        fired_any += want.len();
    }
    assert!(fired_any >= 2, "only {fired_any} correlation matches");
}

/// A parsed event looked up where it is, as the server's parse threads read it.
struct Flat<'a>(&'a zia::Event);

impl<'a> detect::event::FlatEvent<'a> for Flat<'a> {
    fn values_at(&self, path: &str, f: &mut dyn FnMut(&'a Value)) {
        self.0.values_at(path, f);
    }
    fn for_each_leaf(&self, f: &mut dyn FnMut(&str, &'a Value)) {
        self.0.for_each_leaf_ref(f);
    }
}

#[test]
fn a_flat_event_screened_in_place_matches_as_its_nested_objects_do() {
    let data = tempfile::tempdir().unwrap();
    let d = detector(data.path());
    let (mut flat, mut nested) = (d.screen(), d.screen());
    let (mut a, mut b) = (detector(data.path()), detector(data.path()));
    let (mut fired_any, mut correlated_any) = (0, 0);
    for ev in flat_events() {
        let map = ev.to_map();
        let view = Flat(&ev);
        let got = flat.screen_indexed(&detect::event::EcsEvent::from_flat(&view), &|| ev.to_map());
        let want = nested.screen(&map);
        assert_eq!(described(got.matches()), described(want.matches()));
        fired_any += want.matches().len();
        // What goes on to the correlations is the same too.
        let (_, got_input) = a.split(got);
        let (_, want_input) = b.split(want);
        assert_eq!(got_input.is_some(), want_input.is_some());
        correlated_any += usize::from(want_input.is_some());
    }
    assert!(fired_any > 50, "only {fired_any} matches");
    assert!(correlated_any > 0, "no event fed a correlation");
}

/// Every path detection may ask of an event: each leaf, each prefix of one, paths below a
/// leaf, and paths the event lacks.
fn paths_of(ev: &zia::Event) -> Vec<String> {
    let mut out = vec![
        "nope".to_string(),
        "event.nope".into(),
        "ziaxdr.sigma_category".into(),
        "ziaxdr.blocked".into(),
        "user_agent.original".into(),
    ];
    ev.for_each_leaf_ref(&mut |path, _| {
        out.push(path.to_string());
        out.push(format!("{path}.below"));
        let mut at = 0;
        while let Some(i) = path[at..].find('.') {
            out.push(path[..at + i].to_string());
            at += i + 1;
        }
    });
    out
}

#[test]
fn a_flat_event_looked_up_in_place_reads_as_its_indexed_leaves() {
    use rsigma_eval::Event as _;
    let mut events = flat_events();
    // Values below a leaf: arrays of objects, objects whose keys hold dots, and a key with
    // dots of the event itself.
    let mut odd = zia::Event::from_map(obj(json!({
        "url.domain": "flat.example",
        "event": {"dataset": "dns", "action": "Block/Drop"},
    })));
    odd.set(
        "dns.answers",
        json!([{"data": "1.1.1.1", "ttl": 5}, {"data": "2.2.2.2"}, [{"data": "3.3.3.3"}]]),
    );
    events.push(odd);
    let mut kept = zia::Event::default();
    kept.set("event.dataset", json!("web"));
    kept.set(
        "zscaler.zia.extra",
        json!([{"a.b": {"c": 1}}, {"a": {"b.c": 2}}, "x"]),
    );
    kept.set("user_agent.original", json!("Mozilla/5.0%20(X11)"));
    events.push(kept);
    let mut paths_checked = 0;
    for ev in &events {
        let view = Flat(ev);
        let flat = detect::event::EcsEvent::from_flat(&view);
        let leaves = detect::event::EcsEvent::from_leaves(|visit| ev.for_each_leaf_ref(visit));
        let mut paths = paths_of(ev);
        paths.extend(
            [
                "dns.answers.data",
                "dns.answers.ttl",
                "zscaler.zia.extra.a.b.c",
            ]
            .map(String::from),
        );
        for p in &paths {
            assert_eq!(flat.get_field(p), leaves.get_field(p), "{p}");
            let (mut a, mut b) = (Vec::new(), Vec::new());
            flat.visit_strs(p, &mut |s| a.push(s));
            leaves.visit_strs(p, &mut |s| b.push(s));
            assert_eq!(a, b, "{p}");
            paths_checked += 1;
        }
        assert_eq!(flat.top_level_keys(), leaves.top_level_keys());
        assert_eq!(flat.all_string_values(), leaves.all_string_values());
        assert_eq!(
            flat.any_string_value(&|s| s.contains("3.3.3")),
            leaves.any_string_value(&|s| s.contains("3.3.3"))
        );
        assert_eq!(flat.event_id(), leaves.event_id());
    }
    assert!(paths_checked > 10_000, "{paths_checked}");
}
