//! A query whose candidates are checked against the stored event.
//!
//! Some values are kept out of the inverted index to save disk (unique identifiers): a cheap
//! query over a column finds a handful of candidates, and each one is confirmed by reading
//! the stored event. Only worth it when the candidates are few, since each check may
//! decompress a block of the document store.

use std::fmt;
use std::sync::Arc;

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::Field;
use tantivy::store::StoreReader;
use tantivy::{DocId, DocSet, Score, SegmentReader, TantivyDocument, TERMINATED};

use crate::Event;

/// Decides whether a stored event really matches.
pub type Check = Arc<dyn Fn(&Event) -> bool + Send + Sync>;

/// Matches the documents of `candidates` whose stored event passes `check`.
pub struct Verified {
    /// A superset of the matches, cheap to compute.
    pub candidates: Box<dyn Query>,
    /// The stored-event field (`_source`).
    pub source: Field,
    /// The exact condition.
    pub check: Check,
}

impl Clone for Verified {
    fn clone(&self) -> Self {
        Verified {
            candidates: self.candidates.box_clone(),
            source: self.source,
            check: self.check.clone(),
        }
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("candidates", &self.candidates)
            .finish_non_exhaustive()
    }
}

impl Query for Verified {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(VerifiedWeight {
            inner: self.candidates.weight(scoring)?,
            source: self.source,
            check: self.check.clone(),
        }))
    }
}

struct VerifiedWeight {
    inner: Box<dyn Weight>,
    source: Field,
    check: Check,
}

/// Stored blocks kept decompressed per segment: candidates come in doc order, so the current
/// block is the one reused.
const CACHED_BLOCKS: usize = 2;

impl Weight for VerifiedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut s = VerifiedScorer {
            inner: self.inner.scorer(reader, boost)?,
            store: reader.get_store_reader(CACHED_BLOCKS)?,
            source: self.source,
            check: self.check.clone(),
        };
        let first = s.inner.doc();
        if first != TERMINATED && !s.passes(first) {
            s.advance();
        }
        Ok(Box::new(s))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }
}

struct VerifiedScorer {
    inner: Box<dyn Scorer>,
    store: StoreReader,
    source: Field,
    check: Check,
}

impl VerifiedScorer {
    fn passes(&self, doc: DocId) -> bool {
        // A document that cannot be read back does not match: the search must not fail on
        // one damaged block, and the stored event is what a match would return anyway.
        let Ok(d) = self.store.get::<TantivyDocument>(doc) else {
            tracing::warn!(doc, "stored event unreadable while verifying a match");
            return false;
        };
        let Some(bytes) = crate::schema::stored_source(&d, self.source) else {
            return false;
        };
        match crate::source::decode(bytes) {
            Ok(ev) => (self.check)(&ev),
            Err(_) => false,
        }
    }

    fn settle(&mut self, mut doc: DocId) -> DocId {
        while doc != TERMINATED && !self.passes(doc) {
            doc = self.inner.advance();
        }
        doc
    }
}

impl DocSet for VerifiedScorer {
    fn advance(&mut self) -> DocId {
        let d = self.inner.advance();
        self.settle(d)
    }

    fn seek(&mut self, target: DocId) -> DocId {
        // Only the candidate at or after `target` is checked: the ones skipped over by an
        // intersection never cost a stored-event read.
        let current = self.inner.doc();
        if current >= target {
            return current;
        }
        let d = self.inner.seek(target);
        self.settle(d)
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }

    fn cost(&self) -> u64 {
        // A stored-event read per candidate: let cheaper clauses lead an intersection.
        self.inner.cost().saturating_mul(64)
    }
}

impl Scorer for VerifiedScorer {
    fn score(&mut self) -> Score {
        1.0
    }
}
