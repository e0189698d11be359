//! The queue's behaviour, the same for both implementations: the local journal and NATS
//! JetStream (the shared 3-node test cluster of `.ci/nats.sh`, a stream of its own per test,
//! 3 replicas).

use std::sync::Arc;
use std::time::Duration;

use queue::jetstream::{JetStreamConfig, JetStreamConsumer, JetStreamQueue};
use queue::{Consumer, Delivery, JournalConsumer, JournalQueue, Queue, QueueError, Record};

trait Backend {
    type C: Consumer;
    fn queue(&self) -> Arc<dyn Queue>;
    /// A new consumer, as after a restart of the process consuming.
    async fn consumer(&self) -> Self::C;
    /// Longest time before an unacknowledged record may come again.
    fn redelivery_after(&self) -> Duration;
}

struct JournalBackend {
    _dir: tempfile::TempDir,
    journal: journal::Journal,
}

impl JournalBackend {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal::Journal::open(dir.path(), journal::Config::default()).unwrap();
        JournalBackend { _dir: dir, journal }
    }
}

impl Backend for JournalBackend {
    type C = JournalConsumer;
    fn queue(&self) -> Arc<dyn Queue> {
        Arc::new(JournalQueue::new(self.journal.clone()))
    }
    async fn consumer(&self) -> JournalConsumer {
        JournalConsumer::open(self.journal.clone()).unwrap()
    }
    fn redelivery_after(&self) -> Duration {
        Duration::ZERO
    }
}

struct JetStreamBackend {
    cfg: JetStreamConfig,
    queue: Arc<dyn Queue>,
}

impl JetStreamBackend {
    async fn new() -> Self {
        let mut cfg = JetStreamConfig::new(queue::testing::shared_urls());
        let name = queue::testing::unique("T");
        cfg.stream = name.clone();
        cfg.subject = format!("test.{name}");
        cfg.consumer = format!("{name}_w");
        cfg.replicas = 3;
        cfg.ack_wait = Duration::from_secs(2);
        // A stream reserves its max_bytes on the servers: small, as many tests share them.
        cfg.max_bytes = 16 << 20;
        let queue: Arc<dyn Queue> = Arc::new(JetStreamQueue::open(cfg.clone()).await.unwrap());
        wait_connected(&*queue).await;
        JetStreamBackend { cfg, queue }
    }
}

async fn wait_connected(q: &dyn Queue) {
    for _ in 0..100 {
        if q.problem().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not connected: {:?}", q.problem());
}

impl Backend for JetStreamBackend {
    type C = JetStreamConsumer;
    fn queue(&self) -> Arc<dyn Queue> {
        self.queue.clone()
    }
    async fn consumer(&self) -> JetStreamConsumer {
        let c = JetStreamConsumer::open(self.cfg.clone()).await.unwrap();
        for _ in 0..100 {
            if c.connected() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c
    }
    fn redelivery_after(&self) -> Duration {
        self.cfg.ack_wait
    }
}

fn records(n: usize, tag: &str) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let mut id = [0u8; 16];
            let t = queue::testing::unique(tag);
            let h = t
                .bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
            id[..8].copy_from_slice(&h.to_le_bytes());
            id[8..].copy_from_slice(&(i as u64).to_le_bytes());
            Record {
                id,
                payload: format!("{tag}-{i}").into_bytes(),
            }
        })
        .collect()
}

/// Fetches until `n` deliveries came or 20 s passed.
async fn fetch_n(c: &mut impl Consumer, n: usize) -> Vec<Delivery> {
    let mut out = Vec::new();
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while out.len() < n && std::time::Instant::now() < until {
        out.extend(
            c.fetch(n - out.len(), Duration::from_millis(500))
                .await
                .unwrap(),
        );
    }
    out
}

fn texts(d: &[Delivery]) -> Vec<String> {
    d.iter()
        .map(|d| String::from_utf8_lossy(&d.payload).into_owned())
        .collect()
}

async fn records_come_back_in_append_order(b: impl Backend) {
    let q = b.queue();
    q.append(records(3, "a")).await.unwrap();
    q.append(records(2, "b")).await.unwrap();
    let mut c = b.consumer().await;
    let got = fetch_n(&mut c, 5).await;
    assert_eq!(texts(&got), ["a-0", "a-1", "a-2", "b-0", "b-1"]);
    assert!(got.windows(2).all(|w| w[0].sequence < w[1].sequence));
}

async fn acknowledged_records_are_not_delivered_again(b: impl Backend) {
    let q = b.queue();
    q.append(records(4, "x")).await.unwrap();
    let mut c = b.consumer().await;
    let got = fetch_n(&mut c, 4).await;
    assert_eq!(got.len(), 4);
    c.ack(got.into_iter().map(|d| d.token).collect())
        .await
        .unwrap();
    drop(c);
    q.append(records(1, "y")).await.unwrap();
    tokio::time::sleep(b.redelivery_after()).await;
    let mut c = b.consumer().await;
    let got = fetch_n(&mut c, 1).await;
    assert_eq!(texts(&got), ["y-0"]);
    let more = c.fetch(10, Duration::from_millis(500)).await.unwrap();
    assert!(more.is_empty(), "delivered again: {:?}", texts(&more));
}

async fn unacknowledged_records_come_again_flagged_redelivered(b: impl Backend) {
    let q = b.queue();
    // Three requests (JetStream: three messages; the records of one request go and come
    // back together, see `jetstream_acknowledges_a_message_with_the_last_of_its_records`).
    for r in records(3, "u") {
        q.append(vec![r]).await.unwrap();
    }
    let mut c = b.consumer().await;
    let first = fetch_n(&mut c, 3).await;
    assert_eq!(first.len(), 3);
    // The first is acknowledged, the other two are not (the consumer "crashes").
    let mut first = first.into_iter();
    let acked = first.next().unwrap();
    c.ack(vec![acked.token]).await.unwrap();
    drop(first);
    drop(c);
    tokio::time::sleep(b.redelivery_after()).await;
    let mut c = b.consumer().await;
    let again = fetch_n(&mut c, 2).await;
    assert_eq!(texts(&again), ["u-1", "u-2"]);
    assert!(again.iter().all(|d| d.redelivered));
}

async fn a_working_queue_reports_no_problem(b: impl Backend) {
    assert_eq!(b.queue().problem(), None);
    assert!(b.queue().in_flight_budget() > 0);
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod journal_backend {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(JournalBackend::new()).await })*
        }
        mod jetstream_backend {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(JetStreamBackend::new().await).await })*
        }
    };
}

both!(
    records_come_back_in_append_order,
    acknowledged_records_are_not_delivered_again,
    unacknowledged_records_come_again_flagged_redelivered,
    a_working_queue_reports_no_problem,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_stores_a_record_published_twice_with_its_id_once() {
    let b = JetStreamBackend::new().await;
    let q = b.queue();
    let r = records(2, "d");
    q.append(r.clone()).await.unwrap();
    // The same ids again, as a publish retried after its acknowledgement was lost.
    q.append(r).await.unwrap();
    let mut c = b.consumer().await;
    let got = fetch_n(&mut c, 2).await;
    assert_eq!(texts(&got), ["d-0", "d-1"]);
    let more = c.fetch(10, Duration::from_millis(700)).await.unwrap();
    assert!(more.is_empty(), "stored twice: {:?}", texts(&more));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_unreachable_is_unavailable_at_once_and_named() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = JetStreamConfig::new(vec![format!("nats://127.0.0.1:{port}")]);
    let q = JetStreamQueue::open(cfg).await.unwrap();
    let started = std::time::Instant::now();
    let err = q.append(records(1, "n")).await.unwrap_err();
    assert!(matches!(err, QueueError::Unavailable(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(q.problem().unwrap().contains("nats"));
    assert_eq!(err.retry_after_secs(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_full_stream_refuses_new_records_as_full() {
    let mut cfg = JetStreamConfig::new(queue::testing::shared_urls());
    let name = queue::testing::unique("F");
    cfg.stream = name.clone();
    cfg.subject = format!("test.{name}");
    cfg.max_bytes = 4096;
    let q = JetStreamQueue::open(cfg).await.unwrap();
    wait_connected(&q).await;
    let big = |tag: &str| {
        let mut r = records(1, tag);
        r[0].payload = vec![b'z'; 1500];
        r
    };
    q.append(big("f1")).await.unwrap();
    q.append(big("f2")).await.unwrap();
    let mut err = None;
    for i in 0..5 {
        if let Err(e) = q.append(big(&format!("f3{i}"))).await {
            err = Some(e);
            break;
        }
    }
    assert!(
        matches!(err, Some(QueueError::Full)),
        "expected Full, got {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_acknowledges_a_message_with_the_last_of_its_records() {
    let b = JetStreamBackend::new().await;
    let q = b.queue();
    // One request: its records travel in one message.
    q.append(records(3, "p")).await.unwrap();
    let mut c = b.consumer().await;
    let got = fetch_n(&mut c, 3).await;
    assert_eq!(texts(&got), ["p-0", "p-1", "p-2"]);
    assert!(got.windows(2).all(|w| w[0].sequence < w[1].sequence));
    // Two of three acknowledged: the message is not, and all three come again.
    let mut got = got.into_iter();
    c.ack(got.by_ref().take(2).map(|d| d.token).collect())
        .await
        .unwrap();
    drop(got);
    drop(c);
    tokio::time::sleep(b.redelivery_after()).await;
    let mut c = b.consumer().await;
    let again = fetch_n(&mut c, 3).await;
    assert_eq!(texts(&again), ["p-0", "p-1", "p-2"]);
    assert!(again.iter().all(|d| d.redelivered));
    // All three acknowledged: gone.
    c.ack(again.into_iter().map(|d| d.token).collect())
        .await
        .unwrap();
    drop(c);
    tokio::time::sleep(b.redelivery_after()).await;
    let mut c = b.consumer().await;
    let more = c.fetch(10, Duration::from_millis(700)).await.unwrap();
    assert!(more.is_empty(), "delivered again: {:?}", texts(&more));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_packs_a_large_request_into_several_messages_stored_once_when_sent_again() {
    let b = JetStreamBackend::new().await;
    let q = b.queue();
    let n = queue::jetstream::PACK_RECORDS * 2 + 5;
    let r = records(n, "m");
    q.append(r.clone()).await.unwrap();
    q.append(r).await.unwrap();
    let mut c = b.consumer().await;
    let got = fetch_n(&mut c, n).await;
    assert_eq!(got.len(), n);
    let want: Vec<String> = (0..n).map(|i| format!("m-{i}")).collect();
    assert_eq!(texts(&got), want);
    let more = c.fetch(10, Duration::from_millis(700)).await.unwrap();
    assert!(more.is_empty(), "stored twice: {} more", more.len());
}
