//! What the pipeline counts, and the hooks through which it reports to the rest of the node.
//!
//! The counters are prometheus handles: the intake's `/metrics` registers the same handles
//! (cloning one shares its value), and a pipeline run without a server (an import, a test)
//! counts into unregistered ones.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::{Counter, IntCounter, IntGauge};

use crate::raw::RawEvent;

/// Told the shape of every record handed to the sink (duplicates excluded): the feed-format
/// drift tracker's hook.
pub trait ShapeObserver: Send + Sync {
    /// One record of `shape` (none when the parser gave none) from `raw`'s intake.
    fn observe(&self, raw: &RawEvent, shape: Option<&zia::Shape>);
}

/// The pipeline's counters and gauges.
#[derive(Clone)]
pub struct PipelineMetrics {
    /// Events handed to the sink.
    pub processed: IntCounter,
    /// Events whose parsing failed (stored as pipeline errors).
    pub parse_failures: IntCounter,
    /// Events dropped as duplicates of a recent `(intake, sourcetype, record id)`.
    pub duplicates: IntCounter,
    /// Journal records not yet committed by the sink.
    pub journal_lag: IntGauge,
    /// Bytes of journal segments on disk.
    pub journal_bytes: IntGauge,
    /// Times the pipeline started again after its sink or the journal failed.
    pub retries: IntCounter,
    /// What the pipeline is waiting for while it cannot write (for `/readyz`).
    pub fault: Arc<Mutex<Option<String>>>,
    /// 1 while the pipeline cannot write to its sink (the store unreachable, a full disk).
    pub sink_down: IntGauge,
    /// Told each record's shape (feed-format drift), if anyone listens.
    pub shapes: Option<Arc<dyn ShapeObserver>>,
    /// Where the pipeline's time goes, to tell which stage holds the others back.
    pub time: StageTime,
}

/// Seconds spent per step of the pipeline (wall time of its threads; a step of the parse
/// threads counts the reading thread's wait for them). With the CPU time of each thread, they
/// say whether a slow pipeline is busy or waiting, and for what.
#[derive(Clone)]
pub struct StageTime {
    /// The reading thread reading and decoding journal records.
    pub read: Counter,
    /// The reading thread waiting for the parse threads to parse a batch.
    pub parse: Counter,
    /// The reading thread waiting for the writing thread to take a parsed batch (the
    /// hand-off is two batches deep): the writing stage is the slower.
    pub handoff: Counter,
    /// The writing thread waiting for a parsed batch while records were in flight: the
    /// reading or parse stage is the slower (or the feed: it is also counted when the
    /// journal simply has nothing new).
    pub starved: Counter,
    /// The writing thread handing events to the sink (dedup, detection's ordered part, the
    /// store's writes).
    pub write: Counter,
    /// The writing thread in the sink's commit and the journal checkpoint.
    pub commit: Counter,
}

fn seconds(name: &str, help: &str) -> Counter {
    Counter::new(name, help)
        .unwrap_or_else(|e| unreachable!("static metric definition {name}: {e}"))
}

impl StageTime {
    /// Fresh counters, registered nowhere.
    pub fn new() -> StageTime {
        StageTime {
            read: seconds(
                "ziaxdr_pipeline_read_seconds_total",
                "Seconds the pipeline's reading thread spent reading and decoding journal records",
            ),
            parse: seconds(
                "ziaxdr_pipeline_parse_seconds_total",
                "Seconds the pipeline's reading thread waited for the parse threads",
            ),
            handoff: seconds(
                "ziaxdr_pipeline_handoff_wait_seconds_total",
                "Seconds parsed batches waited for the pipeline's writing thread (it is the slower stage)",
            ),
            starved: seconds(
                "ziaxdr_pipeline_starved_seconds_total",
                "Seconds the pipeline's writing thread waited for parsed records while some were in flight or none had arrived",
            ),
            write: seconds(
                "ziaxdr_pipeline_write_seconds_total",
                "Seconds the pipeline's writing thread spent handing events to the sink",
            ),
            commit: seconds(
                "ziaxdr_pipeline_commit_seconds_total",
                "Seconds the pipeline's writing thread spent in the sink's commit and the journal checkpoint",
            ),
        }
    }

    /// Every counter, to register them with a prometheus registry.
    pub fn all(&self) -> [&Counter; 6] {
        [
            &self.read,
            &self.parse,
            &self.handoff,
            &self.starved,
            &self.write,
            &self.commit,
        ]
    }
}

impl Default for StageTime {
    fn default() -> Self {
        StageTime::new()
    }
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help)
        .unwrap_or_else(|e| unreachable!("static metric definition {name}: {e}"))
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help)
        .unwrap_or_else(|e| unreachable!("static metric definition {name}: {e}"))
}

impl Default for PipelineMetrics {
    fn default() -> Self {
        PipelineMetrics::new()
    }
}

impl PipelineMetrics {
    /// Fresh counters, registered nowhere, and no shape hook.
    pub fn new() -> PipelineMetrics {
        PipelineMetrics {
            processed: counter("ziaxdr_pipeline_events_total", "Events handed to the sink"),
            parse_failures: counter(
                "ziaxdr_pipeline_parse_failures_total",
                "Events that failed to parse (stored as pipeline errors)",
            ),
            duplicates: counter(
                "ziaxdr_pipeline_duplicates_total",
                "Events dropped as duplicates of a recent (intake, sourcetype, record id)",
            ),
            journal_lag: gauge(
                "ziaxdr_journal_lag_events",
                "Journal records not yet committed by the sink",
            ),
            journal_bytes: gauge(
                "ziaxdr_journal_disk_bytes",
                "Bytes of journal segments on disk",
            ),
            retries: counter(
                "ziaxdr_pipeline_retries_total",
                "Times the pipeline started again after its sink or the journal failed",
            ),
            fault: Arc::new(Mutex::new(None)),
            sink_down: gauge(
                "ziaxdr_pipeline_sink_down",
                "1 while the pipeline cannot write to its sink (store unreachable, disk full); events wait in the journal",
            ),
            shapes: None,
            time: StageTime::new(),
        }
    }
}

/// A warning that may repeat without limit (one per connection, per line...): logged at
/// most once per interval, with the number of times it happened since the last one logged.
#[derive(Debug)]
pub struct RateLimitedLog {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimitedLog {
    /// At most one warning per `every`.
    pub const fn new(every: Duration) -> RateLimitedLog {
        RateLimitedLog {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// Counts one occurrence; `Some(n)` when it should be logged now, `n` being the
    /// occurrences since the last one logged (this one included).
    pub fn hit(&self) -> Option<u64> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.1 += 1;
        if st.0.is_some_and(|t| t.elapsed() < self.every) {
            return None;
        }
        st.0 = Some(Instant::now());
        Some(std::mem::take(&mut st.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_warning_is_logged_once_per_interval_with_the_count_since_the_last() {
        let log = RateLimitedLog::new(Duration::from_millis(200));
        assert_eq!(log.hit(), Some(1));
        for _ in 0..9 {
            assert_eq!(log.hit(), None);
        }
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(log.hit(), Some(10), "the nine suppressed and this one");
    }
}
