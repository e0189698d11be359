//! What the HTTP and syslog receivers share: authenticate, queue (the journal, or JetStream in
//! a cluster), count.

use std::sync::Arc;

use uuid::Uuid;

use crate::auth::Authenticator;
use crate::metrics::Metrics;
use crate::raw::{encode, now_us, Transport};

/// The receivers' shared context.
#[derive(Clone)]
pub struct Ingest {
    /// The queue every accepted event goes to before it is acknowledged: the local journal,
    /// or JetStream on a cluster's intake node.
    pub queue: Arc<dyn queue::Queue>,
    /// Key → intake.
    pub auth: Arc<Authenticator>,
    /// Counters.
    pub metrics: Metrics,
}

impl Ingest {
    /// Queues `events` for `intake` and resolves once they are durable, with their ids.
    pub async fn append(
        &self,
        intake: Uuid,
        transport: Transport,
        peer: &str,
        events: &[Vec<u8>],
    ) -> Result<Vec<Uuid>, queue::QueueError> {
        let received_at_us = now_us();
        let mut ids = Vec::with_capacity(events.len());
        let mut bytes = 0u64;
        let records: Vec<queue::Record> = events
            .iter()
            .map(|data| {
                let id = Uuid::now_v7();
                ids.push(id);
                bytes += data.len() as u64;
                queue::Record {
                    id: id.into_bytes(),
                    payload: encode(intake, id, received_at_us, transport, peer, data),
                }
            })
            .collect();
        let n = records.len() as u64;
        let label = intake.to_string();
        let labels = [label.as_str(), transport.as_str()];
        match self.queue.append(records).await {
            Ok(_) => {
                self.metrics.accepted.with_label_values(&labels).inc_by(n);
                self.metrics
                    .bytes_accepted
                    .with_label_values(&labels)
                    .inc_by(bytes);
                Ok(ids)
            }
            Err(e) => {
                self.metrics
                    .reject(&label, transport.as_str(), e.reason(), n);
                Err(e)
            }
        }
    }
}
