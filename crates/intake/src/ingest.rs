//! What the HTTP and syslog receivers share: authenticate, queue (the journal, or JetStream in
//! a cluster), count.

use std::sync::Arc;

use uuid::Uuid;

use crate::auth::Authenticator;
use crate::metrics::Metrics;
use pipeline::raw::{encode, now_us, Transport};

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
    /// Each event is copied once, into its journal record; the HTTP receiver hands in lines
    /// that still point into the request body.
    pub async fn append<E: AsRef<[u8]> + Sync>(
        &self,
        intake: Uuid,
        transport: Transport,
        peer: &str,
        events: &[E],
    ) -> Result<Vec<Uuid>, queue::QueueError> {
        let received_at_us = now_us();
        let mut ids = Vec::with_capacity(events.len());
        let mut bytes = 0u64;
        let mut records: Vec<queue::Record> = events
            .iter()
            .map(|data| {
                let data = data.as_ref();
                let id = Uuid::now_v7();
                ids.push(id);
                bytes += data.len() as u64;
                queue::Record {
                    id: id.into_bytes(),
                    payload: encode(intake, id, received_at_us, transport, peer, data),
                }
            })
            .collect();
        if self.queue.journal().is_none() {
            dedup_ids(intake, events, &mut records);
        }
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

/// Sets each record's queue id (JetStream's `Nats-Msg-Id`) from its content: SHA-256 of the
/// intake, the bytes and how many identical events came before it in the request. A batch
/// that Cloud NSS sends again after a failed attempt (some of it may have been published
/// before an intake node died) then gets the same ids, and JetStream stores none of it twice
/// within its duplicate window; two identical lines of one request stay two events. The
/// price: identical events without a record id sent in two requests within the window are
/// kept once.
fn dedup_ids<E: AsRef<[u8]>>(intake: Uuid, events: &[E], records: &mut [queue::Record]) {
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;
    let mut seen: HashMap<&[u8], u32> = HashMap::new();
    for (data, r) in events.iter().zip(records.iter_mut()) {
        let data = data.as_ref();
        let n = seen.entry(data).or_insert(0);
        let mut h = Sha256::new();
        h.update(intake.as_bytes());
        h.update(n.to_le_bytes());
        h.update(data);
        *n += 1;
        let d = h.finalize();
        r.id.copy_from_slice(&d[..16]);
    }
}
