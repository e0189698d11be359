//! Prometheus metrics of the intake, served as text at `/metrics`.

use std::sync::{Arc, Mutex};

use pipeline::PipelineMetrics;

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// Label used for events whose intake is not known (missing or bad key).
pub const UNKNOWN_INTAKE: &str = "unknown";

/// One intake's event counters since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IntakeTotals {
    /// Events received.
    pub received: u64,
    /// Events journaled and acknowledged.
    pub accepted: u64,
    /// Events refused (bad key, too large, journal full...).
    pub rejected: u64,
}

/// All intake and pipeline metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Events received, per intake and transport.
    pub received: IntCounterVec,
    /// Events durably journaled, per intake and transport.
    pub accepted: IntCounterVec,
    /// Events refused, per intake, transport and reason.
    pub rejected: IntCounterVec,
    /// Bytes received, per intake and transport.
    pub bytes_received: IntCounterVec,
    /// Bytes durably journaled, per intake and transport.
    pub bytes_accepted: IntCounterVec,
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
    /// Open syslog connections.
    pub syslog_connections: IntGauge,
    /// HTTP connections closed at once because a connection cap was reached, per cap.
    pub http_connections_refused: IntCounterVec,
    /// Times the pipeline started again after its sink or the journal failed.
    pub pipeline_retries: IntCounter,
    /// What the pipeline is waiting for while it cannot write (for `/readyz`).
    pub pipeline_fault: Arc<Mutex<Option<String>>>,
    /// Feeds whose records drifted from the recommended format, per intake.
    pub drift: crate::drift::FeedDrift,
    /// 1 while the pipeline cannot write to its sink (the store unreachable, a full disk).
    pub sink_down: IntGauge,
    /// Messages (each up to 1 000 events of one request) waiting in the cluster's JetStream
    /// stream (not yet acknowledged by a worker); 0 on a single node. Refreshed every few
    /// seconds, not at each scrape.
    pub queue_backlog_messages: IntGauge,
    /// Bytes of the events waiting in the cluster's JetStream stream; 0 on a single node.
    pub queue_backlog_bytes: IntGauge,
    /// Where the pipeline's time goes (`ziaxdr_pipeline_*_seconds_total`).
    pub pipeline_time: pipeline::StageTime,
}

fn counter_vec(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable!("static metric definition {name}: {e}"));
    // Registration only fails on duplicate names, which are static and distinct here.
    let _ = reg.register(Box::new(c.clone()));
    c
}

fn counter(reg: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help)
        .unwrap_or_else(|e| unreachable!("static metric definition {name}: {e}"));
    let _ = reg.register(Box::new(c.clone()));
    c
}

fn gauge(reg: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help)
        .unwrap_or_else(|e| unreachable!("static metric definition {name}: {e}"));
    let _ = reg.register(Box::new(g.clone()));
    g
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// The pipeline's share of these metrics: the same handles (what the pipeline counts
    /// shows here), with the drift tracker as its shape hook.
    pub fn pipeline(&self) -> PipelineMetrics {
        PipelineMetrics {
            processed: self.processed.clone(),
            parse_failures: self.parse_failures.clone(),
            duplicates: self.duplicates.clone(),
            journal_lag: self.journal_lag.clone(),
            journal_bytes: self.journal_bytes.clone(),
            retries: self.pipeline_retries.clone(),
            fault: self.pipeline_fault.clone(),
            sink_down: self.sink_down.clone(),
            shapes: Some(Arc::new(self.drift.clone())),
            time: self.pipeline_time.clone(),
        }
    }

    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let it = &["intake", "transport"];
        Metrics {
            received: counter_vec(
                &r,
                "ziaxdr_intake_events_received_total",
                "Events received",
                it,
            ),
            accepted: counter_vec(
                &r,
                "ziaxdr_intake_events_accepted_total",
                "Events durably journaled and acknowledged",
                it,
            ),
            rejected: counter_vec(
                &r,
                "ziaxdr_intake_events_rejected_total",
                "Events refused, by reason",
                &["intake", "transport", "reason"],
            ),
            bytes_received: counter_vec(
                &r,
                "ziaxdr_intake_bytes_received_total",
                "Event bytes received",
                it,
            ),
            bytes_accepted: counter_vec(
                &r,
                "ziaxdr_intake_bytes_accepted_total",
                "Event bytes durably journaled",
                it,
            ),
            processed: counter(
                &r,
                "ziaxdr_pipeline_events_total",
                "Events handed to the sink",
            ),
            parse_failures: counter(
                &r,
                "ziaxdr_pipeline_parse_failures_total",
                "Events that failed to parse (stored as pipeline errors)",
            ),
            duplicates: counter(
                &r,
                "ziaxdr_pipeline_duplicates_total",
                "Events dropped as duplicates of a recent (intake, sourcetype, record id)",
            ),
            journal_lag: gauge(
                &r,
                "ziaxdr_journal_lag_events",
                "Journal records not yet committed by the sink",
            ),
            journal_bytes: gauge(
                &r,
                "ziaxdr_journal_disk_bytes",
                "Bytes of journal segments on disk",
            ),
            syslog_connections: gauge(
                &r,
                "ziaxdr_syslog_connections",
                "Open syslog TCP connections",
            ),
            http_connections_refused: counter_vec(
                &r,
                "ziaxdr_http_connections_refused_total",
                "HTTP connections closed at once because a connection cap was reached",
                &["cap"],
            ),
            pipeline_retries: counter(
                &r,
                "ziaxdr_pipeline_retries_total",
                "Times the pipeline started again after its sink or the journal failed",
            ),
            pipeline_fault: Arc::new(Mutex::new(None)),
            drift: crate::drift::FeedDrift::new(&r),
            sink_down: gauge(
                &r,
                "ziaxdr_pipeline_sink_down",
                "1 while the pipeline cannot write to its sink (store unreachable, disk full); events wait in the journal",
            ),
            queue_backlog_messages: gauge(
                &r,
                "ziaxdr_queue_backlog_messages",
                "Messages (up to 1000 events of one request each) in the cluster's JetStream stream not yet acknowledged by a worker (0 on a single node)",
            ),
            queue_backlog_bytes: gauge(
                &r,
                "ziaxdr_queue_backlog_bytes",
                "Bytes of the events in the cluster's JetStream stream not yet acknowledged by a worker (0 on a single node)",
            ),
            pipeline_time: {
                let t = pipeline::StageTime::new();
                for c in t.all() {
                    let _ = r.register(Box::new(c.clone()));
                }
                t
            },
            registry: r,
        }
    }

    /// Received, accepted and refused events of one intake (its UUID as the label), summed
    /// over transports and reasons, since the process started.
    pub fn intake_totals(&self, intake: &str) -> IntakeTotals {
        let families = self.registry.gather();
        let sum = |name: &str| -> u64 {
            families
                .iter()
                .filter(|f| f.name() == name)
                .flat_map(|f| f.get_metric())
                .filter(|m| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == "intake" && l.value() == intake)
                })
                .map(|m| m.get_counter().get_value() as u64)
                .sum()
        };
        IntakeTotals {
            received: sum("ziaxdr_intake_events_received_total"),
            accepted: sum("ziaxdr_intake_events_accepted_total"),
            rejected: sum("ziaxdr_intake_events_rejected_total"),
        }
    }

    /// Counts `n` events refused for `reason`.
    pub fn reject(&self, intake: &str, transport: &str, reason: &str, n: u64) {
        self.rejected
            .with_label_values(&[intake, transport, reason])
            .inc_by(n);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        let mut text = String::from_utf8_lossy(&buf).into_owned();
        // Comment lines, which Prometheus ignores, say in words which feeds drifted.
        text.push_str(&self.drift.comments());
        text
    }
}
