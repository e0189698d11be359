//! Query deadlines and cancellation: a search stops, with [`StoreError::Deadline`], once its
//! deadline passes or its client went away ([`Deadline::cancel`]).
//!
//! The deadline of the searches a thread runs is set with [`with_deadline`] (the search API
//! does it for every request). The expensive parts of a query (wildcard and regex terms,
//! which walk a term dictionary) check it before each segment and every few thousand
//! documents, so that even a pathological query ends close to its deadline and frees its core.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

use crate::StoreError;

/// Default time a search may take (`--query-timeout`).
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(30);

static QUERY_TIMEOUT_MS: AtomicU64 = AtomicU64::new(30_000);

/// Sets the time every later search API request may take (process-wide).
pub fn set_query_timeout(t: Duration) {
    QUERY_TIMEOUT_MS.store(t.as_millis().max(1) as u64, Ordering::Relaxed);
}

/// The time a search API request may take.
pub fn query_timeout() -> Duration {
    Duration::from_millis(QUERY_TIMEOUT_MS.load(Ordering::Relaxed))
}

/// When a search must stop, and whether its client still waits for it.
#[derive(Debug)]
pub struct Deadline {
    at: Instant,
    timeout: Duration,
    cancelled: AtomicBool,
    tripped: AtomicBool,
}

impl Deadline {
    /// A deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Arc<Deadline> {
        Arc::new(Deadline {
            at: Instant::now() + timeout,
            timeout,
            cancelled: AtomicBool::new(false),
            tripped: AtomicBool::new(false),
        })
    }

    /// The client went away: the search stops at its next check.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// True (and remembered) once the deadline passed or the search was cancelled.
    pub fn check(&self) -> bool {
        if self.cancelled.load(Ordering::Relaxed) || Instant::now() >= self.at {
            self.tripped.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// True when a check found the search over its deadline or cancelled: what it
    /// returned is incomplete.
    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::Relaxed)
    }

    /// The error for a search stopped by this deadline.
    pub fn error(&self) -> StoreError {
        if self.cancelled.load(Ordering::Relaxed) {
            StoreError::Deadline("the search was cancelled: its client went away".into())
        } else {
            StoreError::Deadline(format!(
                "the search took longer than its {} s deadline; narrow the time range or use fewer wildcards",
                self.timeout.as_secs_f64()
            ))
        }
    }
}

/// Cancels a deadline when dropped: held by a request handler, whose future is dropped when
/// its client disconnects.
#[derive(Debug)]
pub struct CancelOnDrop(pub Arc<Deadline>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Deadline>>> = const { RefCell::new(None) };
}

/// Runs `f` with `d` as the deadline of the searches it makes on this thread, then fails
/// with the deadline's error if it tripped.
pub fn with_deadline<T, E: From<StoreError>>(
    d: Arc<Deadline>,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let prev = CURRENT.with(|c| c.replace(Some(d.clone())));
    let r = f();
    CURRENT.with(|c| *c.borrow_mut() = prev);
    if d.tripped() {
        return Err(d.error().into());
    }
    r
}

/// The deadline of the searches of this thread, if any.
pub(crate) fn current() -> Option<Arc<Deadline>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Wraps an expensive query so that it checks the current deadline.
pub(crate) fn guard(q: Box<dyn Query>) -> Box<dyn Query> {
    match current() {
        Some(d) => Box::new(Guarded { inner: q, d }),
        None => q,
    }
}

#[derive(Debug)]
struct Guarded {
    inner: Box<dyn Query>,
    d: Arc<Deadline>,
}

impl Clone for Guarded {
    fn clone(&self) -> Self {
        Guarded {
            inner: self.inner.box_clone(),
            d: self.d.clone(),
        }
    }
}

impl Query for Guarded {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(GuardedWeight {
            inner: self.inner.weight(scoring)?,
            d: self.d.clone(),
        }))
    }
}

struct GuardedWeight {
    inner: Box<dyn Weight>,
    d: Arc<Deadline>,
}

impl Weight for GuardedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        if self.d.check() {
            // Matches nothing; the API answers with the deadline's error.
            return Ok(Box::new(tantivy::query::EmptyScorer));
        }
        Ok(Box::new(GuardedScorer {
            inner: self.inner.scorer(reader, boost)?,
            d: self.d.clone(),
            n: 0,
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }
}

/// Documents between two deadline checks.
const CHECK_EVERY: u32 = 4096;

struct GuardedScorer {
    inner: Box<dyn Scorer>,
    d: Arc<Deadline>,
    n: u32,
}

impl GuardedScorer {
    fn over(&mut self) -> bool {
        self.n += 1;
        self.n.is_multiple_of(CHECK_EVERY) && self.d.check()
    }
}

impl DocSet for GuardedScorer {
    fn advance(&mut self) -> DocId {
        if self.over() {
            return self.stop();
        }
        self.inner.advance()
    }
    fn seek(&mut self, target: DocId) -> DocId {
        if self.over() {
            return self.stop();
        }
        self.inner.seek(target)
    }
    fn doc(&self) -> DocId {
        self.inner.doc()
    }
    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }
}

impl GuardedScorer {
    /// Ends the document set: the inner one is replaced by an empty one, so that `doc`
    /// says TERMINATED from now on.
    fn stop(&mut self) -> DocId {
        self.inner = Box::new(tantivy::query::EmptyScorer);
        TERMINATED
    }
}

impl Scorer for GuardedScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}
