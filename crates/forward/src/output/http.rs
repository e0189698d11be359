//! HTTPS batches to a Sekoia-compatible intake, as Cloud NSS posts them: the records of one
//! key joined by newlines, gzipped, the key in `X-SEKOIAIO-INTAKE-KEY`. A 2xx answer
//! advances the cursor; 400 means the intake will never take the batch (counted as failed,
//! logged, skipped); anything else, or no answer, is retried with backoff, honouring
//! `Retry-After`.

use std::time::Duration;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

use super::{Committer, OutputCtx, Pacer, Window};

/// The header the key travels in.
pub const KEY_HEADER: &str = "X-SEKOIAIO-INTAKE-KEY";

/// The outcome of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: taken.
    Accepted,
    /// 400: refused for good.
    Refused,
    /// Anything else: try again, after the server's `Retry-After` if it gave one.
    Retry(Option<Duration>),
}

/// Maps an HTTP status (none: no answer) to what the forwarder does with the batch.
pub fn classify(status: Option<u16>, retry_after: Option<Duration>) -> Outcome {
    match status {
        Some(s) if (200..300).contains(&s) => Outcome::Accepted,
        Some(400) => Outcome::Refused,
        _ => Outcome::Retry(retry_after),
    }
}

/// Parses a `Retry-After` value given in seconds (the HTTP-date form is treated as absent).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// What a sending thread reuses from one batch to the next: the deflate state (its window
/// and hash tables are large to allocate and clear) and the buffer lines are joined in.
/// The deflate state writes the gzip header and trailer itself: its CRC-32 is computed as
/// it copies the input into its window, which costs less than a second pass over the batch.
pub struct BodyBuilder {
    deflate: flate2::Compress,
    joined: Vec<u8>,
}

impl Default for BodyBuilder {
    fn default() -> Self {
        BodyBuilder {
            deflate: flate2::Compress::new_gzip(flate2::Compression::fast(), 15),
            joined: Vec::new(),
        }
    }
}

impl BodyBuilder {
    /// Builds the body of the batch of `members` of `window`: their lines joined by `\n`,
    /// gzipped if asked. A batch of the whole window is its buffer as it is (not copied
    /// before gzip).
    pub fn body(
        &mut self,
        window: &Window,
        members: &Members,
        gzip: bool,
    ) -> std::io::Result<Vec<u8>> {
        let idx = match members {
            Members::All => {
                return if gzip {
                    self.gzip(window.joined())
                } else {
                    Ok(window.joined().to_vec())
                };
            }
            Members::Some(idx) => idx,
        };
        let len: usize = idx.iter().map(|i| window.line(*i).data.len() + 1).sum();
        let mut joined = if gzip {
            std::mem::take(&mut self.joined)
        } else {
            Vec::with_capacity(len)
        };
        joined.clear();
        joined.reserve(len);
        for (n, i) in idx.iter().enumerate() {
            if n > 0 {
                joined.push(b'\n');
            }
            joined.extend_from_slice(window.line(*i).data);
        }
        if !gzip {
            return Ok(joined);
        }
        // One deflate call over the joined lines: fed line by line (or through a gzip
        // writer's own buffer) it costs about a tenth more.
        let out = self.gzip(&joined);
        self.joined = joined;
        out
    }

    fn gzip(&mut self, raw: &[u8]) -> std::io::Result<Vec<u8>> {
        self.deflate.reset();
        let mut out = Vec::with_capacity(raw.len() / 4 + 64);
        loop {
            let read = self.deflate.total_in() as usize;
            let status = self
                .deflate
                .compress_vec(&raw[read..], &mut out, flate2::FlushCompress::Finish)
                .map_err(std::io::Error::other)?;
            match status {
                flate2::Status::StreamEnd => break,
                // The output is full: make room and go on.
                flate2::Status::Ok | flate2::Status::BufError => out.reserve(out.capacity()),
            }
        }
        Ok(out)
    }
}

/// Which records of a window one batch holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Members {
    /// All of them (one key): the window's buffer is the batch.
    All,
    /// These, by index.
    Some(Vec<usize>),
}

/// Where and how a sending thread posts its batches.
#[derive(Clone, Copy)]
struct Dest<'a> {
    url: &'a str,
    agent: &'a ureq::Agent,
    gzip: bool,
    pacer: &'a Pacer,
    metrics: &'a crate::metrics::Metrics,
    label: &'a str,
}

/// Sends one window (one batch per key) until every batch is accepted or refused for good
/// (true), or the output stops first (false: the window stays on disk).
fn send_window(
    window: &Window,
    groups: &[(String, Members)],
    dest: &Dest,
    builder: &mut BodyBuilder,
) -> bool {
    let Dest {
        url,
        agent,
        gzip,
        pacer,
        metrics,
        label,
    } = *dest;
    let l = [label];
    let mut done = vec![false; groups.len()];
    // Built once, kept across retries.
    let mut payloads: Vec<Option<Vec<u8>>> = vec![None; groups.len()];
    let mut attempt = 0u32;
    loop {
        let mut retry_after = None;
        for (gi, (key, members)) in groups.iter().enumerate() {
            if done[gi] {
                continue;
            }
            let records = match members {
                Members::All => window.len(),
                Members::Some(idx) => idx.len(),
            } as u64;
            if payloads[gi].is_none() {
                match builder.body(window, members, gzip) {
                    Ok(b) => payloads[gi] = Some(b),
                    Err(e) => {
                        tracing::error!(destination = %label, error = %e, "cannot build a batch");
                        continue;
                    }
                }
            }
            let Some(payload) = payloads[gi].as_deref() else {
                continue;
            };
            let mut req = agent
                .post(url)
                .header("Content-Type", "text/plain")
                .header(KEY_HEADER, key.as_str());
            if gzip {
                req = req.header("Content-Encoding", "gzip");
            }
            let (status, ra) = match req.send(payload) {
                Ok(mut resp) => {
                    let ra = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    // Read the answer so that the connection is reused.
                    let _ = resp.body_mut().with_config().limit(64 << 10).read_to_vec();
                    (Some(resp.status().as_u16()), ra)
                }
                Err(e) => {
                    if attempt == 0 {
                        tracing::warn!(destination = %label, error = %e, "batch not delivered");
                    }
                    (None, None)
                }
            };
            match classify(status, ra) {
                Outcome::Accepted => {
                    done[gi] = true;
                    payloads[gi] = None;
                    metrics.sent.with_label_values(&l).inc_by(records);
                }
                Outcome::Refused => {
                    done[gi] = true;
                    payloads[gi] = None;
                    metrics.failed.with_label_values(&l).inc_by(records);
                    tracing::error!(destination = %label, records, "the intake answered 400: batch dropped");
                }
                Outcome::Retry(r) => {
                    metrics.retried.with_label_values(&l).inc();
                    if attempt == 0 && status.is_some() {
                        tracing::warn!(destination = %label, status = ?status, "batch not accepted; retrying with backoff");
                    }
                    retry_after = retry_after.max(r);
                }
            }
        }
        if done.iter().all(|d| *d) {
            if attempt > 0 {
                tracing::info!(destination = %label, retries = attempt, "destination accepting again");
            }
            return true;
        }
        let wait = pacer.backoff(attempt, retry_after);
        attempt = attempt.saturating_add(1);
        if !pacer.sleep(wait) {
            return false;
        }
    }
}

/// A window on its way to a sending thread, with its records grouped by key.
struct Job {
    seq: u64,
    window: Window,
    groups: Vec<(String, Members)>,
}

/// Advances the cursor in window order as the sending threads finish windows in any order;
/// after a window the output gave up on (stopping), it advances no further.
struct InOrder {
    expect: u64,
    finished: BTreeMap<u64, (u64, bool)>,
    abandoned: bool,
    /// Receipt time of each read window's first record, by window: once a window is sent,
    /// the next one's is the oldest unsent (the lag in seconds).
    first_us: BTreeMap<u64, i64>,
}

impl InOrder {
    fn finish(&mut self, seq: u64, end: u64, ok: bool, committer: &Committer) {
        self.finished.insert(seq, (end, ok));
        while let Some((end, ok)) = self.finished.remove(&self.expect) {
            self.first_us.remove(&self.expect);
            if ok && !self.abandoned {
                let next = self.first_us.get(&(self.expect + 1)).copied();
                committer.done_to_with(end, next);
            } else {
                self.abandoned = true;
            }
            self.expect += 1;
        }
    }
}

/// Sends windows to `url` until told to stop, up to `http_inflight` at once; the cursor
/// advances in window order. This thread reads and decodes the windows ahead of the sending
/// threads (up to `http_inflight` more than are being sent), so a sender that is done with
/// one batch finds the next one ready instead of waiting for the journal.
pub fn run(mut ctx: OutputCtx, url: String, agent: ureq::Agent) {
    let inflight = ctx.tuning.http_inflight.max(1);
    let label = ctx.label().to_string();
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(inflight);
    let job_rx = Mutex::new(job_rx);
    let order = Mutex::new(InOrder {
        expect: 0,
        finished: BTreeMap::new(),
        abandoned: false,
        first_us: BTreeMap::new(),
    });
    let abandoned = AtomicBool::new(false);
    let committer = ctx.committer();
    std::thread::scope(|s| {
        let reader_name = std::thread::current()
            .name()
            .unwrap_or("forward")
            .to_string();
        let mut senders = 0;
        for i in 0..inflight {
            let (job_rx, order, abandoned, committer) = (&job_rx, &order, &abandoned, &committer);
            let (agent, url, label) = (agent.clone(), url.as_str(), label.as_str());
            let (pacer, metrics, gzip) = (ctx.pacer(), ctx.metrics.clone(), ctx.tuning.gzip);
            let spare = ctx.spare();
            // Named apart from the reading thread, so that a profile or `top -H` tells the
            // gzip and send work from the read and decode.
            let spawned = std::thread::Builder::new()
                .name(format!("{reader_name}-send{i}"))
                .spawn_scoped(s, move || {
                    let mut builder = BodyBuilder::default();
                    loop {
                        let job = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(Job {
                            seq,
                            window,
                            groups,
                        }) = job
                        else {
                            return;
                        };
                        // Once a window is given up on, the ones queued behind it are not sent:
                        // the cursor cannot pass it anyway.
                        let ok = !abandoned.load(Ordering::Acquire) && {
                            let dest = Dest {
                                url,
                                agent: &agent,
                                gzip,
                                pacer: &pacer,
                                metrics: &metrics,
                                label,
                            };
                            send_window(&window, &groups, &dest, &mut builder)
                        };
                        if !ok {
                            abandoned.store(true, Ordering::Release);
                        }
                        let end = window.end;
                        spare.recycle(window);
                        match order.lock() {
                            Ok(mut o) => o.finish(seq, end, ok, committer),
                            Err(_) => return,
                        }
                    }
                });
            match spawned {
                Ok(_) => senders += 1,
                Err(e) => {
                    tracing::error!(destination = %label, error = %e, "cannot start a sending thread")
                }
            }
        }
        if senders == 0 {
            // Nothing would take the windows; the records stay on disk.
            return;
        }
        let mut seq = 0u64;
        while !abandoned.load(Ordering::Acquire) {
            match ctx.poll_window() {
                Some(window) => {
                    let groups = group_by_key(&window, ctx.key_override.as_deref());
                    if let (Some(first), Ok(mut o)) = (window.first_received_at_us(), order.lock())
                    {
                        o.first_us.insert(seq, first);
                    }
                    let job = Job {
                        seq,
                        window,
                        groups,
                    };
                    if job_tx.send(job).is_err() {
                        break;
                    }
                    seq += 1;
                }
                None if ctx.finished_reading() => break,
                None => {}
            }
        }
        // The senders finish what is queued, then see the channel closed.
        drop(job_tx);
    });
}

/// Groups a window's records by the key they are sent with: one batch of the whole window
/// when they share one (the usual case), else one batch per key, as indices (so the window
/// can move to another thread); `key_override` sends them all with one key.
fn group_by_key(w: &Window, key_override: Option<&str>) -> Vec<(String, Members)> {
    if w.is_empty() {
        return Vec::new();
    }
    if let Some(k) = key_override {
        return vec![(k.to_string(), Members::All)];
    }
    if let [k] = w.keys() {
        return vec![(k.clone(), Members::All)];
    }
    let mut by_key: Vec<Vec<usize>> = vec![Vec::new(); w.keys().len()];
    for i in 0..w.len() {
        by_key[w.key_index(i)].push(i);
    }
    w.keys()
        .iter()
        .zip(by_key)
        .filter(|(_, idx)| !idx.is_empty())
        .map(|(k, idx)| (k.clone(), Members::Some(idx)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_accepts_and_only_400_refuses() {
        assert_eq!(classify(Some(200), None), Outcome::Accepted);
        assert_eq!(classify(Some(202), None), Outcome::Accepted);
        assert_eq!(classify(Some(400), None), Outcome::Refused);
        assert_eq!(classify(Some(401), None), Outcome::Retry(None));
        assert_eq!(classify(Some(413), None), Outcome::Retry(None));
        assert_eq!(classify(None, None), Outcome::Retry(None));
        let ra = Some(Duration::from_secs(7));
        assert_eq!(classify(Some(503), ra), Outcome::Retry(ra));
    }

    #[test]
    fn retry_after_in_seconds_is_understood() {
        assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    /// A window of records (key, line), as read from the buffer.
    fn window(recs: &[(&str, &[u8])]) -> Window {
        let mut w = Window::new(0, 0);
        for (k, line) in recs {
            w.push_payload(&crate::record::encode(0, k, line)).unwrap();
        }
        w
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut out).unwrap();
        out
    }

    #[test]
    fn a_body_joins_lines_and_gzips() {
        let w = window(&[("k", b"one"), ("k", b"two")]);
        let mut builder = BodyBuilder::default();
        assert_eq!(builder.body(&w, &Members::All, false).unwrap(), b"one\ntwo");
        let gz = builder.body(&w, &Members::All, true).unwrap();
        assert_eq!(gunzip(&gz), b"one\ntwo");
    }

    #[test]
    fn a_body_of_some_members_joins_only_theirs() {
        let w = window(&[("a", b"one"), ("b", b"two"), ("a", b"three")]);
        let mut builder = BodyBuilder::default();
        let some = Members::Some(vec![0, 2]);
        assert_eq!(builder.body(&w, &some, false).unwrap(), b"one\nthree");
        assert_eq!(
            gunzip(&builder.body(&w, &some, true).unwrap()),
            b"one\nthree"
        );
    }

    #[test]
    fn records_of_one_key_make_one_batch_of_the_whole_window() {
        let w = window(&[("k", b"one"), ("k", b"two")]);
        assert_eq!(group_by_key(&w, None), vec![("k".into(), Members::All)]);
    }

    #[test]
    fn records_of_several_keys_make_one_batch_per_key_in_order_of_appearance() {
        let w = window(&[("a", b"1"), ("b", b"2"), ("a", b"3")]);
        assert_eq!(
            group_by_key(&w, None),
            vec![
                ("a".into(), Members::Some(vec![0, 2])),
                ("b".into(), Members::Some(vec![1])),
            ]
        );
    }

    #[test]
    fn a_destination_key_puts_every_record_in_one_batch_with_that_key() {
        let w = window(&[("a", b"1"), ("b", b"2")]);
        assert_eq!(
            group_by_key(&w, Some("dest")),
            vec![("dest".into(), Members::All)]
        );
    }

    #[test]
    fn a_reused_builder_gzips_each_batch_whole_even_when_it_does_not_compress() {
        use rand::RngCore;
        let mut noise = vec![0u8; 300_000];
        rand::rng().fill_bytes(&mut noise);
        // Bytes that deflate cannot shrink: the output outgrows its first guess.
        let line: Vec<u8> = noise.iter().map(|b| b'a' + b % 26).collect();
        let mut builder = BodyBuilder::default();
        for (w, want) in [
            (
                window(&[("k", &line), ("k", b"after")]),
                [&line[..], b"\nafter"].concat(),
            ),
            (window(&[("k", b"after")]), b"after".to_vec()),
        ] {
            let gz = builder.body(&w, &Members::All, true).unwrap();
            assert_eq!(gunzip(&gz), want);
        }
    }

    fn committer_over(
        dir: &std::path::Path,
        records: usize,
    ) -> (std::sync::Arc<crate::buffer::Buffer>, Committer) {
        let dests: Vec<crate::config::DestSpec> = vec!["https://a/plain/batch".parse().unwrap()];
        let b = crate::buffer::Buffer::open(
            dir,
            journal::Config::default(),
            &dests,
            crate::config::WhenFull::Block,
            crate::metrics::Metrics::new(),
        )
        .unwrap();
        let recs = (0..records)
            .map(|i| crate::record::encode(i as i64, "k", b"x"))
            .collect();
        b.journal.append_blocking(recs).unwrap();
        let ctx = OutputCtx::new(
            b.clone(),
            0,
            crate::metrics::Metrics::new(),
            Default::default(),
            Default::default(),
            None,
        );
        (b, ctx.committer())
    }

    fn in_order() -> InOrder {
        InOrder {
            expect: 0,
            finished: BTreeMap::new(),
            abandoned: false,
            first_us: BTreeMap::new(),
        }
    }

    #[test]
    fn windows_sent_out_of_order_advance_the_cursor_in_order() {
        let d = tempfile::tempdir().unwrap();
        let (b, c) = committer_over(d.path(), 30);
        let mut o = in_order();
        o.first_us.extend([(0, 1), (1, 11), (2, 21)]);
        o.finish(1, 20, true, &c);
        assert_eq!(b.cursors[0].next(), 0, "passed a window still in flight");
        o.finish(0, 10, true, &c);
        assert_eq!(b.cursors[0].next(), 20);
        assert_eq!(
            b.cursors[0].oldest_unsent_us.load(Ordering::Relaxed),
            21,
            "the oldest unsent record is the first of the next window"
        );
    }

    #[test]
    fn after_a_window_given_up_on_the_cursor_advances_no_further() {
        let d = tempfile::tempdir().unwrap();
        let (b, c) = committer_over(d.path(), 30);
        let mut o = in_order();
        o.finish(0, 10, true, &c);
        o.finish(1, 20, false, &c);
        o.finish(2, 30, true, &c);
        assert_eq!(b.cursors[0].next(), 10);
    }
}
