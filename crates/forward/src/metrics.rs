//! The forwarder's Prometheus metrics, served as text at `/metrics`.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

/// Every counter and gauge of a forwarder.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Lines read, per listener.
    pub received: IntCounterVec,
    /// Lines durably journaled.
    pub journaled: IntCounter,
    /// Lines refused at input, per reason (no key, too long, bad octet count).
    pub rejected: IntCounterVec,
    /// Records accepted by a destination, per destination.
    pub sent: IntCounterVec,
    /// Batch or connection attempts that failed and will be retried, per destination.
    pub retried: IntCounterVec,
    /// Records a destination refused for good (HTTP 400), per destination.
    pub failed: IntCounterVec,
    /// Records deleted unsent by `--when-full drop-oldest`, per destination.
    pub dropped: IntCounterVec,
    /// Records journaled but not yet sent, per destination.
    pub lag_records: IntGaugeVec,
    /// Age in seconds of the oldest unsent record, per destination (0 when caught up).
    pub lag_seconds: IntGaugeVec,
    /// Bytes of journal on disk.
    pub buffer_bytes: prometheus::IntGauge,
    /// Times an input waited because the buffer was full (`--when-full block`).
    pub full_waits: IntCounter,
}

fn reg<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> C {
    // Registration fails only on duplicate names, which are static and distinct here.
    let _ = r.register(Box::new(c.clone()));
    c
}

fn cv(r: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    reg(
        r,
        IntCounterVec::new(Opts::new(name, help), &[label])
            .unwrap_or_else(|e| unreachable!("static metric {name}: {e}")),
    )
}

fn gv(r: &Registry, name: &str, help: &str) -> IntGaugeVec {
    reg(
        r,
        IntGaugeVec::new(Opts::new(name, help), &["destination"])
            .unwrap_or_else(|e| unreachable!("static metric {name}: {e}")),
    )
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let d = "destination";
        Metrics {
            received: cv(
                &r,
                "ziaxdr_forward_received_total",
                "Lines read, per listener",
                "listener",
            ),
            journaled: reg(
                &r,
                IntCounter::new("ziaxdr_forward_journaled_total", "Lines durably journaled")
                    .unwrap_or_else(|e| unreachable!("{e}")),
            ),
            rejected: cv(
                &r,
                "ziaxdr_forward_rejected_total",
                "Lines refused at input, per reason",
                "reason",
            ),
            sent: cv(
                &r,
                "ziaxdr_forward_sent_total",
                "Records accepted by a destination",
                d,
            ),
            retried: cv(
                &r,
                "ziaxdr_forward_retried_total",
                "Failed attempts that will be retried",
                d,
            ),
            failed: cv(
                &r,
                "ziaxdr_forward_failed_total",
                "Records refused for good (HTTP 400)",
                d,
            ),
            dropped: cv(
                &r,
                "ziaxdr_forward_dropped_total",
                "Records deleted unsent because the buffer was full (drop-oldest)",
                d,
            ),
            lag_records: gv(
                &r,
                "ziaxdr_forward_lag_records",
                "Records journaled but not yet sent",
            ),
            lag_seconds: gv(
                &r,
                "ziaxdr_forward_lag_seconds",
                "Age of the oldest unsent record in seconds",
            ),
            buffer_bytes: reg(
                &r,
                prometheus::IntGauge::new("ziaxdr_forward_buffer_bytes", "Journal bytes on disk")
                    .unwrap_or_else(|e| unreachable!("{e}")),
            ),
            full_waits: reg(
                &r,
                IntCounter::new(
                    "ziaxdr_forward_full_waits_total",
                    "Times an input paused because the buffer was full",
                )
                .unwrap_or_else(|e| unreachable!("{e}")),
            ),
            registry: r,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
