//! `queue`: the durable hand-off between ziaxdr's receivers and its pipeline, behind one seam
//! with two implementations. A receiver [`Queue::append`]s the raw events of a request and
//! acknowledges its sender only once the call returned `Ok`, which means every record is
//! durable: fsynced by the local [`journal`] ([`JournalQueue`], the single node), or stored and
//! acknowledged by a NATS JetStream stream ([`jetstream::JetStreamQueue`], the cluster, where
//! stateless intake nodes publish and workers consume). A pipeline reads records back through a
//! [`Consumer`] and acknowledges them once its sink committed them; a record not acknowledged
//! is delivered again (after a restart, or after the stream's ack wait), flagged
//! [`Delivery::redelivered`] so that the consumer checks it was not already stored. Each record
//! carries a 16-byte id (the intake derives it from the content); JetStream packs the records
//! of an append into few messages whose ids derive from the records' ids, and drops a second
//! publish of the same id within its duplicate window, so a batch sent again after a failed
//! attempt stores each of its events once.
//! [`Queue::problem`] names what is wrong when the queue cannot take events (for `/readyz`).

pub mod jetstream;
#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// A boxed future, so that [`Queue`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One record handed to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's id: the deduplication key of JetStream's publish (the intake derives it
    /// from the content, so a batch sent again gets the same ids).
    pub id: [u8; 16],
    /// The encoded raw event.
    pub payload: Vec<u8>,
}

/// Why the queue did not take or give records.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue is at its configured limit (disk budget, stream `max_bytes`): retry later.
    #[error("queue full")]
    Full,
    /// The local disk is full.
    #[error("no space left on device")]
    NoSpace,
    /// The queue's server cannot be reached or did not acknowledge in time.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("queue error: {0}")]
    Other(String),
}

impl QueueError {
    /// Seconds a sender should wait before retrying (the `Retry-After` of a 503).
    pub fn retry_after_secs(&self) -> u32 {
        match self {
            QueueError::Full | QueueError::NoSpace => 30,
            QueueError::Unavailable(_) => 5,
            QueueError::Other(_) => 10,
        }
    }

    /// True when waiting helps (full, out of disk, server unreachable): syslog pauses reading.
    pub fn is_transient(&self) -> bool {
        !matches!(self, QueueError::Other(_))
    }

    /// The reason label used in metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            QueueError::Full => "journal_full",
            QueueError::NoSpace => "disk_full",
            QueueError::Unavailable(_) => "queue_unavailable",
            QueueError::Other(_) => "journal_error",
        }
    }
}

impl From<journal::Error> for QueueError {
    fn from(e: journal::Error) -> Self {
        if matches!(e, journal::Error::NoSpace) {
            QueueError::NoSpace
        } else if e.is_full() {
            QueueError::Full
        } else {
            QueueError::Other(e.to_string())
        }
    }
}

/// The receivers' side: durable append.
pub trait Queue: Send + Sync {
    /// Appends `records` and resolves once every one of them is durable. On `Err`, some may
    /// have been stored: a retry with the same ids is deduplicated by JetStream.
    fn append(&self, records: Vec<Record>) -> BoxFuture<'_, Result<(), QueueError>>;
    /// What keeps the queue from taking events now, if anything (for `/readyz`).
    fn problem(&self) -> Option<String>;
    /// Bytes the receivers may hold in flight before pausing (syslog back-pressure).
    fn in_flight_budget(&self) -> u64;
    /// The local journal, when the queue is one (the single node's pipeline reads it).
    fn journal(&self) -> Option<&journal::Journal> {
        None
    }
}

/// Identifies a delivered record for [`Consumer::ack`].
pub enum AckToken {
    /// A journal offset.
    Journal(u64),
    /// A record of a JetStream message (acknowledged with the last of its records).
    JetStream(std::sync::Arc<jetstream::MessageAck>),
}

impl std::fmt::Debug for AckToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AckToken::Journal(o) => write!(f, "AckToken::Journal({o})"),
            AckToken::JetStream(_) => write!(f, "AckToken::JetStream"),
        }
    }
}

/// A record handed to a consumer.
#[derive(Debug)]
pub struct Delivery {
    /// The encoded raw event, as appended.
    pub payload: Vec<u8>,
    /// The record may have been delivered before (a consumer that crashed, or did not
    /// acknowledge in time): it may already be stored.
    pub redelivered: bool,
    /// A position in the queue, increasing in append order (journal offset, stream sequence).
    pub sequence: u64,
    /// What [`Consumer::ack`] needs.
    pub token: AckToken,
}

/// The pipeline's side: fetch, then acknowledge what the sink committed.
pub trait Consumer: Send {
    /// Waits up to `wait` for records; returns at most `max` records of the journal, or the
    /// records of at most `max` JetStream messages (each holds the records of one request,
    /// up to [`jetstream::PACK_RECORDS`]); none when `wait` passed.
    fn fetch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery>, QueueError>> + Send;
    /// Acknowledges records: they are not delivered again. A JetStream message is
    /// acknowledged with the last of its records; until then all of them may come again.
    fn ack(&mut self, tokens: Vec<AckToken>)
        -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// The single node's queue: the local journal (group-commit fsync before the answer).
#[derive(Clone)]
pub struct JournalQueue {
    journal: journal::Journal,
}

impl JournalQueue {
    /// Wraps an open journal.
    pub fn new(journal: journal::Journal) -> Self {
        JournalQueue { journal }
    }
}

impl Queue for JournalQueue {
    fn append(&self, records: Vec<Record>) -> BoxFuture<'_, Result<(), QueueError>> {
        let payloads = records.into_iter().map(|r| r.payload).collect();
        Box::pin(async move {
            self.journal.append(payloads).await?;
            Ok(())
        })
    }

    fn problem(&self) -> Option<String> {
        if self.journal.is_out_of_space() {
            Some(
                "journal: disk full (no space left on device); intake answers 503 until space returns"
                    .into(),
            )
        } else if self.journal.is_full() {
            Some("journal full".into())
        } else if self.journal.is_poisoned() {
            Some("journal failed; restart needed".into())
        } else {
            None
        }
    }

    fn in_flight_budget(&self) -> u64 {
        (self.journal.disk_budget() / 4).max(1)
    }

    fn journal(&self) -> Option<&journal::Journal> {
        Some(&self.journal)
    }
}

/// Reads the journal after its checkpoint; acknowledging moves the checkpoint (acks are
/// cumulative: acknowledging an offset acknowledges every one before it).
pub struct JournalConsumer {
    journal: journal::Journal,
    reader: journal::Reader,
    /// Records below this offset existed when the consumer opened: they may have been
    /// delivered before a restart.
    end_at_open: u64,
}

impl JournalConsumer {
    /// Starts after the journal's checkpoint.
    pub fn open(journal: journal::Journal) -> Result<Self, QueueError> {
        let from = journal
            .checkpoint()
            .map_or(0, |c| c + 1)
            .max(journal.start_offset());
        let reader = journal.read_from(from)?;
        Ok(JournalConsumer {
            end_at_open: journal.end_offset(),
            journal,
            reader,
        })
    }
}

impl Consumer for JournalConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let until = Instant::now() + wait;
        loop {
            let mut out = Vec::new();
            while out.len() < max.max(1) {
                match self.reader.next_record()? {
                    Some((off, payload)) => out.push(Delivery {
                        payload,
                        redelivered: off < self.end_at_open,
                        sequence: off,
                        token: AckToken::Journal(off),
                    }),
                    None => break,
                }
            }
            if !out.is_empty() || Instant::now() >= until {
                return Ok(out);
            }
            tokio::time::sleep(Duration::from_millis(10).min(until - Instant::now())).await;
        }
    }

    async fn ack(&mut self, tokens: Vec<AckToken>) -> Result<(), QueueError> {
        let last = tokens
            .iter()
            .filter_map(|t| match t {
                AckToken::Journal(o) => Some(*o),
                AckToken::JetStream(_) => None,
            })
            .max();
        if let Some(o) = last {
            if self.journal.checkpoint().is_none_or(|c| c < o) {
                self.journal.commit_checkpoint(o)?;
            }
        }
        Ok(())
    }
}
