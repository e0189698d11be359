//! What the HTTP and syslog receivers share: authenticate, journal, count.

use std::sync::Arc;

use uuid::Uuid;

use crate::auth::Authenticator;
use crate::metrics::Metrics;
use crate::raw::{encode, now_us, Transport};

/// The receivers' shared context.
#[derive(Clone)]
pub struct Ingest {
    /// The journal every accepted event goes to before it is acknowledged.
    pub journal: journal::Journal,
    /// Key → intake.
    pub auth: Arc<Authenticator>,
    /// Counters.
    pub metrics: Metrics,
}

impl Ingest {
    /// Journals `events` for `intake` and resolves once they are durable, with their ids.
    pub async fn append(
        &self,
        intake: Uuid,
        transport: Transport,
        peer: &str,
        events: &[Vec<u8>],
    ) -> Result<Vec<Uuid>, journal::Error> {
        let received_at_us = now_us();
        let mut ids = Vec::with_capacity(events.len());
        let mut bytes = 0u64;
        let records: Vec<Vec<u8>> = events
            .iter()
            .map(|data| {
                let id = Uuid::now_v7();
                ids.push(id);
                bytes += data.len() as u64;
                encode(intake, id, received_at_us, transport, peer, data)
            })
            .collect();
        let n = records.len() as u64;
        let label = intake.to_string();
        let labels = [label.as_str(), transport.as_str()];
        match self.journal.append(records).await {
            Ok(_) => {
                self.metrics.accepted.with_label_values(&labels).inc_by(n);
                self.metrics
                    .bytes_accepted
                    .with_label_values(&labels)
                    .inc_by(bytes);
                Ok(ids)
            }
            Err(e) => {
                let reason = if matches!(e, journal::Error::NoSpace) {
                    "disk_full"
                } else if e.is_full() {
                    "journal_full"
                } else {
                    "journal_error"
                };
                self.metrics.reject(&label, transport.as_str(), reason, n);
                Err(e)
            }
        }
    }
}
