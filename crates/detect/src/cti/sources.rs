//! Registered CTI sources: TAXII 2.1 collections and paged feeds that the server polls on
//! their own schedule (`ziaxdr cti source add URL --every 1h`), each with the outcome of its
//! last run, so an analyst sees a feed that stopped working instead of stale intelligence.
//!
//! Sources live in `DATA/cti.db` beside the indicators (table `cti_sources`, created with the
//! others by [`CtiStore::open`]). A poll imports through
//! [`fetch_into`], which resumes from the feed's saved cursor; the detection service picks the
//! new indicators up within seconds and hunts for them in the stored events.

use chrono::{DateTime, Duration, Utc};
use rusqlite::params;
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

fn ts(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|d| d.with_timezone(&Utc))
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
        self.conn().execute(
            "INSERT INTO cti_sources (url, every_secs, token_env, added_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(url) DO UPDATE SET every_secs=excluded.every_secs, token_env=excluded.token_env",
            params![url, every_secs as i64, token_env, Utc::now().to_rfc3339()],
        )?;
        Ok(())
    }

    /// Unregisters a source (its indicators stay); false when it was not registered.
    pub fn remove_source(&self, url: &str) -> Result<bool, Error> {
        Ok(self
            .conn()
            .execute("DELETE FROM cti_sources WHERE url = ?1", [url])?
            > 0)
    }

    /// Every registered source, by URL.
    pub fn registered_sources(&self) -> Result<Vec<CtiSource>, Error> {
        let mut st = self.conn().prepare(
            "SELECT url, every_secs, token_env, added_at, last_run, last_ok, last_error,
                    last_seen, last_changed FROM cti_sources ORDER BY url",
        )?;
        let rows = st.query_map([], |r| {
            Ok(CtiSource {
                url: r.get(0)?,
                every_secs: r.get::<_, i64>(1)? as u64,
                token_env: r.get(2)?,
                added_at: ts(r.get(3)?).unwrap_or_else(Utc::now),
                last_run: ts(r.get(4)?),
                last_ok: ts(r.get(5)?),
                last_error: r.get(6)?,
                last_seen: r.get::<_, i64>(7)? as u64,
                last_changed: r.get::<_, i64>(8)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_run(&self, url: &str, at: DateTime<Utc>, outcome: &PollOutcome) -> Result<(), Error> {
        let at = at.to_rfc3339();
        match outcome {
            Ok((seen, changed)) => self.conn().execute(
                "UPDATE cti_sources SET last_run = ?2, last_ok = ?2, last_error = NULL,
                 last_seen = ?3, last_changed = ?4 WHERE url = ?1",
                params![url, at, *seen as i64, *changed as i64],
            )?,
            Err(e) => self.conn().execute(
                "UPDATE cti_sources SET last_run = ?2, last_error = ?3 WHERE url = ?1",
                params![url, at, e],
            )?,
        };
        Ok(())
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
/// failure is recorded and does not stop the others.
pub fn poll_due(
    store: &mut CtiStore,
    now: DateTime<Utc>,
) -> Result<Vec<(String, PollOutcome)>, Error> {
    let mut out = Vec::new();
    for s in store.registered_sources()? {
        if !is_due(&s, now) {
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
