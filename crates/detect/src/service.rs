//! The detection stage as the server runs it: one object to feed parsed events to.
//!
//! [`DetectionService`] owns the [`Detector`] (shipped rules + `--rules` directories + the
//! CTI matcher), the [`AlertManager`] over `DATA/alerts.db` (or a cluster's PostgreSQL, see
//! [`DetectionService::open_in`]), and a playbook worker thread
//! (webhook retries sleep, so they never block detection). It reloads indicators when
//! the CTI store (`DATA/cti.db`, or PostgreSQL's on a cluster) changed (e.g. after
//! `ziaxdr cti import` while the server runs) and then
//! retrohunts the new ones over stored events. It drops the matches of rules disabled through
//! the API (re-reading the disabled set within [`RULE_STATE_SYNC`] of a change) and keeps
//! per-rule match counts in `DATA/alerts.db`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Map, Value};

use crate::alerts::{AlertChange, AlertManager, AlertStore, AlertsAt, ChangeKind};
use crate::cti::{retrohunt, CtiMatcher, CtiStore, EventSource, HuntClaim, Indicator, Retrohunt};
use crate::detector::RuleType;
use crate::detector::{CorrelationInput, Detector, Match, Screen, Screened};
use crate::playbook::PlaybookRunner;
use crate::rulestate::{PendingHits, RuleStateStore};
use crate::sigma::RuleInfo;
use crate::Error;

/// Alert changes waiting for the playbook worker; beyond this, runs are dropped (and counted).
pub const PLAYBOOK_QUEUE: usize = 10_000;
/// How often a service sharing its CTI store looks for a retrohunt left unfinished by a node
/// that died (its claim's lease ran out; see [`crate::cti::RETROHUNT_LEASE`]).
pub const RETROHUNT_TAKEOVER_CHECK: Duration = Duration::from_secs(30);
/// How often match counts are written and the disabled set is checked for changes.
pub const RULE_STATE_SYNC: Duration = Duration::from_secs(2);

/// Queued matches whose room the queue keeps from one commit to the next (beyond it, the
/// room a burst needed goes back at its flush).
const PENDING_ROOM_KEPT: usize = 1 << 14;

/// Options of the detection stage.
#[derive(Debug, Clone, Default)]
pub struct ServiceOptions {
    /// Data directory (alerts.db, cti.db).
    pub data_dir: PathBuf,
    /// Extra rule directories (`--rules DIR`).
    pub rule_dirs: Vec<PathBuf>,
    /// Playbook file, if any.
    pub playbooks: Option<PathBuf>,
    /// Days of stored events a retrohunt covers (0 disables retrohunt).
    pub retrohunt_days: u32,
}

/// Counters of the service.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct ServiceStats {
    /// Alerts created.
    pub alerts_created: u64,
    /// Matches merged into open alerts.
    pub alerts_updated: u64,
    /// Matches suppressed by throttling.
    pub throttled: u64,
    /// Playbook runs dropped because the queue was full.
    pub playbook_dropped: u64,
    /// Matches on events the rule had already matched (replays), not counted again.
    pub replayed: u64,
    /// Matches of disabled rules, dropped.
    pub disabled_dropped: u64,
}

/// Detection + alerting + response for a stream of events.
pub struct DetectionService {
    detector: Detector,
    alerts: AlertManager,
    cti: CtiStore,
    cti_version: Option<String>,
    tx: Option<SyncSender<AlertChange>>,
    worker: Option<JoinHandle<()>>,
    retrohunt_days: u32,
    stats: ServiceStats,
    rule_state: RuleStateStore,
    rule_state_version: i64,
    disabled: HashSet<String>,
    hits: PendingHits,
    last_sync: Instant,
    /// Matches waiting for [`DetectionService::flush_alerts`].
    pending: Vec<Match>,
    /// With alerts in PostgreSQL: the correlations run at each flush on the state the
    /// cluster's nodes share, instead of in this process's memory.
    shared: Option<SharedCorrelation>,
    /// Whether the alerts are in PostgreSQL (shared by the nodes of a cluster).
    alerts_shared: bool,
    /// When this service last looked for a retrohunt to take over.
    last_takeover_check: Instant,
}

/// Correlations over a state shared by every worker of a cluster (kept with the alerts).
///
/// Each worker sees only its share of the events, so a count over a group key must be
/// kept in one place. At each flush, in the alert transaction: the shared state's row is
/// locked (which serialises the workers' flushes), read into this detector's engine unless
/// this worker wrote the version found, fed the events queued since the last flush that were
/// never fed (by event id: a redelivered event counts once), written back, and the
/// correlations that fired become alerts with the other matches, in the same commit. A
/// failed transaction leaves the state and the alerts as they were, and the queued events
/// are fed again at the next attempt.
struct SharedCorrelation {
    /// The version of the shared state this detector's engine holds; None when unknown
    /// (never loaded, or an attempt failed after the engine moved on).
    version: Option<i64>,
    /// Events for the correlations, in the order this worker saw them.
    inputs: Vec<CorrelationInput>,
}

impl DetectionService {
    /// Loads rules, opens the databases, loads indicators and starts the playbook worker.
    pub fn open(opts: &ServiceOptions) -> Result<Self, Error> {
        Self::open_with(opts, None)
    }

    /// The same service with its rule state (enabled flags, hit counts) in `store` instead
    /// of `DATA/alerts.db`: PostgreSQL's on a cluster, so that a rule disabled through any
    /// node stops alerting here, and this worker's hits add to the cluster's counts.
    pub fn with_rule_state(mut self, store: RuleStateStore) -> Result<Self, Error> {
        self.rule_state_version = store.data_version()?;
        self.disabled = store.disabled()?;
        self.rule_state = store;
        Ok(self)
    }

    /// As [`DetectionService::open`], with the responder of the playbooks' `zia_block` /
    /// `zia_unblock` steps (a playbook file with such steps and no responder is refused).
    pub fn open_with(
        opts: &ServiceOptions,
        zia: Option<Arc<ziaapi::Responder>>,
    ) -> Result<Self, Error> {
        Self::open_in(
            opts,
            zia,
            &AlertsAt::sqlite(&opts.data_dir),
            CtiStore::open(&opts.data_dir)?,
        )
    }

    /// As [`DetectionService::open_with`], with the alerts (and the playbooks' store) in
    /// `alerts` and the indicators of `cti`: PostgreSQL's on a cluster, so that every worker's
    /// matches join one set of alerts that every node shows, and an import through any node
    /// reaches this worker's matcher at its next [`DetectionService::reload_cti`].
    pub fn open_in(
        opts: &ServiceOptions,
        zia: Option<Arc<ziaapi::Responder>>,
        alerts: &AlertsAt,
        cti: CtiStore,
    ) -> Result<Self, Error> {
        let mut detector = Detector::with_dirs(&opts.rule_dirs)?;
        let version = cti.version()?;
        detector.set_cti(Arc::new(CtiMatcher::build(&cti.all()?, Utc::now())));
        let (tx, worker) = match &opts.playbooks {
            Some(path) => {
                let runner = PlaybookRunner::load(path)?;
                if runner.uses_zia() && zia.is_none() {
                    return Err(Error::Playbook(format!(
                        "{}: zia_block/zia_unblock steps need the [zia] configuration",
                        path.display()
                    )));
                }
                let runner = runner.with_zia(zia);
                let (tx, rx) = sync_channel::<AlertChange>(PLAYBOOK_QUEUE);
                let mut store = alerts.open()?;
                let h = std::thread::Builder::new()
                    .name("ziaxdr-playbooks".into())
                    .spawn(move || {
                        for change in rx {
                            if let Err(e) = runner.run(&mut store, &change) {
                                tracing::warn!(error = %e, "playbook run failed");
                            }
                        }
                    })
                    .map_err(|e| Error::Io(PathBuf::from("playbook thread"), e))?;
                (Some(tx), Some(h))
            }
            None => (None, None),
        };
        let rule_state = RuleStateStore::open(&opts.data_dir)?;
        let shared =
            (matches!(alerts, AlertsAt::Postgres(_)) && detector.has_correlations()).then(|| {
                SharedCorrelation {
                    version: None,
                    inputs: Vec::new(),
                }
            });
        Ok(Self {
            shared,
            alerts_shared: matches!(alerts, AlertsAt::Postgres(_)),
            detector,
            alerts: AlertManager::with_store(alerts.open()?),
            rule_state_version: rule_state.data_version()?,
            disabled: rule_state.disabled()?,
            rule_state,
            hits: PendingHits::new(),
            last_sync: Instant::now(),
            pending: Vec::new(),
            cti,
            cti_version: version,
            tx,
            worker,
            retrohunt_days: opts.retrohunt_days,
            stats: ServiceStats::default(),
            // The first reload checks at once: a node restarted after dying mid-hunt (or any
            // other) takes over what it left without waiting a whole interval.
            last_takeover_check: Instant::now()
                .checked_sub(RETROHUNT_TAKEOVER_CHECK)
                .unwrap_or_else(Instant::now),
        })
    }

    /// Runs detection on one parsed event and records the resulting alerts; playbooks are
    /// queued to the worker. Returns what happened to the alerts.
    pub fn on_event(&mut self, ev: &Map<String, Value>) -> Result<Vec<AlertChange>, Error> {
        let matches = self.detector.process(ev);
        self.queue(matches)?;
        self.flush(true)
    }

    /// A screen for a parse thread: the stateless rules and the indicators, to run on each
    /// event there ([`Screen::screen`]) before the event comes to [`DetectionService::on_screened`].
    /// It follows indicator reloads.
    pub fn screen(&self) -> Screen {
        self.detector.screen()
    }

    /// The generation of the indicators in force (it changes at each reload).
    pub fn cti_generation(&self) -> u64 {
        self.detector.cti_generation()
    }

    /// Matches an event screened with older indicators against the current ones (`ev` is
    /// that event again): see [`Screened::cti_generation`].
    pub fn rematch_cti(&self, screened: &mut Screened, ev: &Map<String, Value>) {
        screened.rematch_cti(&self.detector, ev);
    }

    /// Completes the detection of a screened event (correlations), in the events' order, and
    /// queues its matches for [`DetectionService::flush_alerts`].
    pub fn on_screened(&mut self, screened: Screened) -> Result<(), Error> {
        let matches = match &mut self.shared {
            Some(shared) => {
                let (matches, input) = self.detector.split(screened);
                shared.inputs.extend(input);
                matches
            }
            None => self.detector.finish(screened),
        };
        self.queue(matches)
    }

    /// Whether the alerts are in PostgreSQL, shared with other nodes: a cluster worker then
    /// holds back the acknowledgement of events whose matches are not written yet.
    pub fn alerts_shared(&self) -> bool {
        self.alerts_shared
    }

    /// Whether the correlations run on a state shared with other nodes (alerts in
    /// PostgreSQL), at each [`DetectionService::flush_alerts`].
    pub fn correlates_shared(&self) -> bool {
        self.shared.is_some()
    }

    fn queue(&mut self, matches: Vec<Match>) -> Result<(), Error> {
        if self.last_sync.elapsed() >= RULE_STATE_SYNC {
            self.sync_rule_state()?;
        }
        for m in matches {
            if !self.disabled.is_empty() && self.disabled.contains(&m.rule.id) {
                self.stats.disabled_dropped += 1;
                continue;
            }
            self.pending.push(m);
        }
        Ok(())
    }

    /// Matches queued and not yet turned into alerts (and, with a shared correlation
    /// state, events queued for the correlations).
    pub fn pending_matches(&self) -> usize {
        self.pending.len() + self.shared.as_ref().map_or(0, |s| s.inputs.len())
    }

    /// Turns the queued matches into alerts, in one transaction of the alert database, and
    /// queues the playbooks. The pipeline calls it at each of its commits. Returns what
    /// happened to the alerts when playbooks run (without them, no copy of each alert is made,
    /// and nothing is returned).
    pub fn flush_alerts(&mut self) -> Result<Vec<AlertChange>, Error> {
        self.flush(self.tx.is_some())
    }

    fn flush(&mut self, detail: bool) -> Result<Vec<AlertChange>, Error> {
        let inputs = self.shared.as_ref().map_or(0, |s| s.inputs.len());
        if self.pending.is_empty() && inputs == 0 {
            return Ok(Vec::new());
        }
        // The queue is emptied only once the transaction committed: a failed one (the alert
        // database out of reach) is tried again, with the same matches, at the next flush.
        let (fired, kinds, changes) = match &mut self.shared {
            Some(shared) if inputs > 0 => {
                let detector = &mut self.detector;
                let disabled = &self.disabled;
                let mut written = None;
                let mut dropped = 0;
                let r = self.alerts.ingest_correlating(
                    &self.pending,
                    &mut |tx| {
                        let known = shared.version.take();
                        let (version, snapshot) = tx.correlation_state()?;
                        if known != Some(version) {
                            detector.set_correlation_state(snapshot.as_deref())?;
                        }
                        let keys: Vec<String> =
                            shared.inputs.iter().filter_map(|i| i.event_key()).collect();
                        // Removed once fed: an event queued twice (written again after a
                        // failed insert) is fed once.
                        let mut new = tx.feed_once(&keys, Utc::now())?;
                        let mut fired = Vec::new();
                        dropped = 0;
                        for input in &shared.inputs {
                            if input.event_key().is_none_or(|k| new.remove(&k)) {
                                for m in detector.correlate(input) {
                                    if disabled.contains(&m.rule.id) {
                                        dropped += 1;
                                    } else {
                                        fired.push(m);
                                    }
                                }
                            }
                        }
                        tx.save_correlation_state(version + 1, &detector.correlation_state()?)?;
                        written = Some(version + 1);
                        Ok(fired)
                    },
                    detail,
                );
                let r = r?;
                shared.version = written;
                shared.inputs.clear();
                self.stats.disabled_dropped += dropped;
                r
            }
            _ => {
                if detail {
                    let changes = self.alerts.ingest_all(&self.pending)?;
                    let kinds = changes.iter().map(AlertChange::kind).collect();
                    (Vec::new(), kinds, changes)
                } else {
                    let kinds = self.alerts.ingest_counted(&self.pending)?;
                    (Vec::new(), kinds, Vec::new())
                }
            }
        };
        let mut matches = std::mem::take(&mut self.pending);
        for (m, kind) in matches.iter().chain(&fired).zip(&kinds) {
            if m.rule.kind == RuleType::Sigma && *kind != ChangeKind::Replayed {
                let e = self
                    .hits
                    .entry(m.rule.id.clone())
                    .or_insert((0, m.timestamp));
                e.0 += 1;
                e.1 = e.1.max(m.timestamp);
            }
            self.count(*kind);
        }
        // The queue keeps its room for the next commit's matches: grown again from nothing at
        // every commit, its reallocations (moving every match queued so far, onto pages the
        // kernel zeroed anew) were a twentieth of the writing thread (issue 18). The room
        // kept is bounded, so a burst does not hold its memory.
        matches.clear();
        if matches.capacity() <= PENDING_ROOM_KEPT {
            self.pending = matches;
        }
        for change in &changes {
            self.notify(change);
        }
        Ok(changes)
    }

    /// Drops the queued matches (their events will be detected again, after a sink failure).
    pub fn discard_pending(&mut self) {
        self.pending.clear();
        if let Some(shared) = &mut self.shared {
            shared.inputs.clear();
        }
    }

    /// Writes the pending match counts and, when the database changed (an API or CLI call),
    /// reads the disabled rules again. `on_event` calls it every [`RULE_STATE_SYNC`].
    pub fn sync_rule_state(&mut self) -> Result<(), Error> {
        self.last_sync = Instant::now();
        self.rule_state.add_hits(&mut self.hits)?;
        let version = self.rule_state.data_version()?;
        if version != self.rule_state_version {
            self.rule_state_version = version;
            self.disabled = self.rule_state.disabled()?;
        }
        Ok(())
    }

    fn count(&mut self, kind: ChangeKind) {
        match kind {
            ChangeKind::Created => self.stats.alerts_created += 1,
            ChangeKind::Updated => self.stats.alerts_updated += 1,
            ChangeKind::Throttled => self.stats.throttled += 1,
            ChangeKind::Replayed => self.stats.replayed += 1,
        }
    }

    fn note(&mut self, change: &AlertChange) {
        self.count(change.kind());
        self.notify(change);
    }

    /// Queues a change for the playbooks.
    fn notify(&mut self, change: &AlertChange) {
        let quiet = matches!(
            change,
            AlertChange::Throttled { .. } | AlertChange::Replayed { .. }
        );
        if let (Some(tx), false) = (&self.tx, quiet) {
            if let Err(TrySendError::Full(_)) = tx.try_send(change.clone()) {
                self.stats.playbook_dropped += 1;
            }
        }
    }

    /// Reloads indicators if the CTI store changed since the last load (an import on any
    /// node sharing it), and retrohunts the changed ones over `source` (when given and
    /// retrohunt is enabled) if this service claims them first: of the nodes sharing a
    /// store in PostgreSQL, one hunts each import, and a hunt whose node died before it was
    /// done is taken over by another once its lease ran out ([`RETROHUNT_TAKEOVER_CHECK`]).
    /// Call it periodically.
    pub fn reload_cti(
        &mut self,
        source: Option<&dyn EventSource>,
    ) -> Result<Option<Retrohunt>, Error> {
        let version = self.cti.version()?;
        let since = self.cti_version.clone();
        let reloaded = version != self.cti_version;
        // Kept for a hunt of every indicator, so that they are not read twice.
        let mut all = None;
        if reloaded {
            let loaded = self.cti.all()?;
            self.cti_version = version;
            self.detector
                .set_cti(Arc::new(CtiMatcher::build(&loaded, Utc::now())));
            all = Some(loaded);
        }
        let (Some(src), true) = (source, self.retrohunt_days > 0) else {
            return Ok(None);
        };
        if !src.shared() {
            return match reloaded {
                true => self.hunt(src, since.as_deref(), all).map(Some),
                false => Ok(None),
            };
        }
        // Of the workers reading one event store (ClickHouse) and sharing a CTI store in
        // PostgreSQL, one hunts each import; the others only reload their matcher.
        let mut claim = None;
        if let (Some(version), true) = (&self.cti_version, reloaded) {
            claim = self
                .cti
                .claim_retrohunt(since.as_deref(), version)?
                .map(|from| HuntClaim {
                    from,
                    upto: version.clone(),
                });
        }
        if claim.is_none() && self.last_takeover_check.elapsed() >= RETROHUNT_TAKEOVER_CHECK {
            self.last_takeover_check = Instant::now();
            claim = self.cti.take_over_retrohunt()?;
            if let Some(c) = &claim {
                tracing::info!(upto = %c.upto, "taking over a retrohunt its node did not finish");
            }
        }
        let Some(claim) = claim else {
            return Ok(None);
        };
        let hunt = self.hunt(src, claim.from.as_deref(), all)?;
        // Only now: a node that dies before this line leaves the claim to be taken over.
        self.cti.finish_retrohunt(&claim.upto)?;
        Ok(Some(hunt))
    }

    /// Hunts the indicators imported after `from` (None: all; `all` when the caller has
    /// them already) over `src`, and turns the matches of enabled rules into alerts.
    fn hunt(
        &mut self,
        src: &dyn EventSource,
        from: Option<&str>,
        all: Option<Vec<Indicator>>,
    ) -> Result<Retrohunt, Error> {
        let changed: Vec<_> = match (from, all) {
            (Some(v), _) => self.cti.imported_after(v)?,
            (None, Some(all)) => all,
            (None, None) => self.cti.all()?,
        };
        let hunt = retrohunt(src, &changed, self.retrohunt_days, Utc::now())?;
        let matches: Vec<Match> = hunt
            .matches
            .iter()
            .filter(|m| !self.disabled.contains(&m.rule.id))
            .cloned()
            .collect();
        for change in self.alerts.ingest_all(&matches)? {
            self.note(&change);
        }
        Ok(hunt)
    }

    /// Verdicts of all rules (for `GET /api/v1/rules`).
    pub fn rules(&self) -> &[RuleInfo] {
        self.detector.rules()
    }

    /// Counters.
    pub fn stats(&self) -> ServiceStats {
        self.stats
    }

    /// Periodic work while no event arrives: writes the pending match counts, so that the
    /// hits of the last events before a quiet spell reach the rule list without waiting for
    /// the next event (once written, nothing is pending, and idle calls cost nothing).
    pub fn idle(&mut self) -> Result<(), Error> {
        if !self.hits.is_empty() {
            self.sync_rule_state()?;
        }
        Ok(())
    }

    /// The service's alert store (for the REST API, open a separate one per request handler
    /// with [`AlertsAt::open`]; SQLite WAL lets them coexist).
    pub fn alerts(&mut self) -> &mut AlertStore {
        self.alerts.store()
    }

    /// Writes the pending match counts and stops the playbook worker after it drained its
    /// queue (dropping the service does the same).
    pub fn shutdown(self) {}
}

impl Drop for DetectionService {
    fn drop(&mut self) {
        if let Err(e) = self.rule_state.add_hits(&mut self.hits) {
            tracing::warn!(error = %e, "cannot save rule match counts");
        }
        self.tx = None;
        if let Some(h) = self.worker.take() {
            let _ = h.join();
        }
    }
}

/// Opens the alert store of a data directory (for the REST API handlers).
pub fn open_alerts(data_dir: &Path) -> Result<AlertStore, Error> {
    AlertStore::open(data_dir)
}
