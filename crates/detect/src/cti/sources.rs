//! Registered CTI sources: TAXII 2.1 collections and paged feeds that the server polls on
//! their own schedule (`ziaxdr cti source add URL --every 1h`), each with the outcome of its
//! last run, so an analyst sees a feed that stopped working instead of stale intelligence.
//!
//! Sources live beside the indicators, in the store's backend (table `cti_sources` of
//! `DATA/cti.db`, or of PostgreSQL on a cluster). A poll imports through
//! [`fetch_into`], which resumes from the feed's saved cursor; the detection service picks the
//! new indicators up within seconds and hunts for them in the stored events.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::fetch::{fetch_into, FetchOptions};
use super::store::CtiStore;
use crate::Error;

/// The shortest polling interval a source may have: a feed polled more often than this is a
/// load on its server for no gain.
pub const MIN_EVERY_SECS: u64 = 10;

/// A registered source and how its last run went.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CtiSource {
    /// TAXII collection or feed URL.
    pub url: String,
    /// Polling interval, in seconds.
    pub every_secs: u64,
    /// Environment variable of the server holding the bearer token (never the token).
    pub token_env: Option<String>,
    /// When it was registered.
    pub added_at: DateTime<Utc>,
    /// When it was last polled.
    pub last_run: Option<DateTime<Utc>>,
    /// When it was last polled successfully.
    pub last_ok: Option<DateTime<Utc>>,
    /// The error of the last run, None when it succeeded.
    pub last_error: Option<String>,
    /// Indicators seen by the last successful run.
    pub last_seen: u64,
    /// Indicators added or updated by the last successful run.
    pub last_changed: u64,
}

impl CtiStore {
    /// Registers a source (or changes the interval and token variable of a registered one).
    pub fn add_source(
        &self,
        url: &str,
        every_secs: u64,
        token_env: Option<&str>,
    ) -> Result<(), Error> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::Fetch(format!(
                "a CTI source is an http(s) URL, not {url:?}"
            )));
        }
        if every_secs < MIN_EVERY_SECS {
            return Err(Error::Fetch(format!(
                "a CTI source is polled at most every {MIN_EVERY_SECS} s"
            )));
        }
        self.backend().add_source(url, every_secs, token_env)
    }

    /// Unregisters a source (its indicators stay); false when it was not registered.
    pub fn remove_source(&self, url: &str) -> Result<bool, Error> {
        self.backend().remove_source(url)
    }

    /// Every registered source, by URL.
    pub fn registered_sources(&self) -> Result<Vec<CtiSource>, Error> {
        self.backend().registered_sources()
    }

    /// Claims `source` (as read from [`CtiStore::registered_sources`]) for a poll starting
    /// `at`: true for exactly one of the nodes that try, false when another one claimed it
    /// since it was read (its `last_run` changed).
    pub fn claim_source(&self, source: &CtiSource, at: DateTime<Utc>) -> Result<bool, Error> {
        self.backend()
            .claim_source(&source.url, source.last_run, at)
    }

    fn record_run(&self, url: &str, at: DateTime<Utc>, outcome: &PollOutcome) -> Result<(), Error> {
        self.backend().record_run(url, at, outcome)
    }
}

/// What one poll of a source did: (indicators seen, indicators added, updated or revoked), or
/// its error.
pub type PollOutcome = Result<(u64, u64), String>;

/// Whether a source is due at `now`: never polled, or its interval has passed.
pub fn is_due(s: &CtiSource, now: DateTime<Utc>) -> bool {
    s.last_run
        .is_none_or(|t| now - t >= Duration::seconds(s.every_secs.min(i64::MAX as u64) as i64))
}

/// Polls every source due at `now` once, recording each outcome; returns them. A source's
/// failure is recorded and does not stop the others. Each source is claimed first
/// ([`CtiStore::claim_source`]), so that of the nodes sharing a store only one polls it; a
/// node that stops mid-poll delays the source by one interval.
pub fn poll_due(
    store: &mut CtiStore,
    now: DateTime<Utc>,
) -> Result<Vec<(String, PollOutcome)>, Error> {
    let mut out = Vec::new();
    for s in store.registered_sources()? {
        if !is_due(&s, now) || !store.claim_source(&s, now)? {
            continue;
        }
        let opts = FetchOptions {
            token: s.token_env.as_ref().and_then(|v| std::env::var(v).ok()),
            timeout: std::time::Duration::from_secs(30),
            ..Default::default()
        };
        let outcome = fetch_into(store, &s.url, &opts)
            .map(|r| (r.seen as u64, (r.added + r.updated + r.revoked) as u64))
            .map_err(|e| e.to_string());
        store.record_run(&s.url, now, &outcome)?;
        out.push((s.url, outcome));
    }
    Ok(out)
}
