//! HTTPS batches to a Sekoia-compatible intake, as Cloud NSS posts them: the records of one
//! key joined by newlines, gzipped, the key in `X-SEKOIAIO-INTAKE-KEY`. A 2xx answer
//! advances the cursor; 400 means the intake will never take the batch (counted as failed,
//! logged, skipped); anything else, or no answer, is retried with backoff, honouring
//! `Retry-After`.

use std::io::Write;
use std::time::Duration;

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};

use super::{OutputCtx, Pacer, Window};
use crate::record::Record;

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

/// Builds a batch body: the lines joined by `\n`, gzipped if asked.
pub fn body(records: &[&Record], gzip: bool) -> std::io::Result<Vec<u8>> {
    let len: usize = records.iter().map(|r| r.data.len() + 1).sum();
    // The lines go straight into the encoder: no joined copy of the batch is made first.
    fn join(out: &mut impl Write, records: &[&Record]) -> std::io::Result<()> {
        for (i, r) in records.iter().enumerate() {
            if i > 0 {
                out.write_all(b"\n")?;
            }
            out.write_all(&r.data)?;
        }
        Ok(())
    }
    if !gzip {
        let mut raw = Vec::with_capacity(len);
        join(&mut raw, records)?;
        return Ok(raw);
    }
    let mut enc =
        flate2::write::GzEncoder::new(Vec::with_capacity(len / 4), flate2::Compression::fast());
    join(&mut enc, records)?;
    enc.finish()
}

/// Sends one window (one batch per key) until every batch is accepted or refused for good
/// (true), or the output stops first (false: the window stays on disk).
fn send_window(
    groups: &[(&str, Vec<&Record>)],
    url: &str,
    agent: &ureq::Agent,
    gzip: bool,
    pacer: &Pacer,
    metrics: &crate::metrics::Metrics,
    label: &str,
) -> bool {
    let l = [label];
    let mut done = vec![false; groups.len()];
    let mut attempt = 0u32;
    loop {
        let mut retry_after = None;
        for (gi, (key, recs)) in groups.iter().enumerate() {
            if done[gi] {
                continue;
            }
            let payload = match body(recs, gzip) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(destination = %label, error = %e, "cannot build a batch");
                    continue;
                }
            };
            let mut req = agent
                .post(url)
                .header("Content-Type", "text/plain")
                .header(KEY_HEADER, *key);
            if gzip {
                req = req.header("Content-Encoding", "gzip");
            }
            let (status, ra) = match req.send(&payload[..]) {
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
                    metrics.sent.with_label_values(&l).inc_by(recs.len() as u64);
                }
                Outcome::Refused => {
                    done[gi] = true;
                    metrics
                        .failed
                        .with_label_values(&l)
                        .inc_by(recs.len() as u64);
                    tracing::error!(destination = %label, records = recs.len(), "the intake answered 400: batch dropped");
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

/// Sends windows to `url` until told to stop, up to `http_inflight` at once; the cursor
/// advances in window order.
pub fn run(mut ctx: OutputCtx, url: String, agent: ureq::Agent) {
    let inflight = ctx.tuning.http_inflight.max(1);
    let label = ctx.label().to_string();
    let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Window, Vec<(String, Vec<usize>)>)>(0);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<(u64, u64, bool)>();
    std::thread::scope(|s| {
        for _ in 0..inflight {
            let (rx, tx, agent, url, label) = (
                job_rx.clone(),
                done_tx.clone(),
                agent.clone(),
                url.as_str(),
                label.as_str(),
            );
            let (pacer, metrics, gzip) = (ctx.pacer(), ctx.metrics.clone(), ctx.tuning.gzip);
            s.spawn(move || loop {
                let job = match rx.lock() {
                    Ok(g) => g.recv(),
                    Err(_) => return,
                };
                let Ok((seq, w, groups)) = job else { return };
                let groups: Vec<(&str, Vec<&Record>)> = groups
                    .iter()
                    .map(|(k, idx)| (k.as_str(), idx.iter().map(|i| &w.records[*i]).collect()))
                    .collect();
                let ok = send_window(&groups, url, &agent, gzip, &pacer, &metrics, label);
                if tx.send((seq, w.end, ok)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let mut seq = 0u64;
        let mut expect = 0u64;
        let mut outstanding = 0usize;
        let mut finished: BTreeMap<u64, (u64, bool)> = BTreeMap::new();
        let mut abandoned = false;
        let apply = |finished: &mut BTreeMap<u64, (u64, bool)>,
                     expect: &mut u64,
                     abandoned: &mut bool,
                     ctx: &mut OutputCtx| {
            while let Some((end, ok)) = finished.remove(expect) {
                if ok && !*abandoned {
                    ctx.done_to(end);
                } else {
                    *abandoned = true;
                }
                *expect += 1;
            }
        };
        loop {
            while let Ok((sq, end, ok)) = done_rx.try_recv() {
                outstanding -= 1;
                finished.insert(sq, (end, ok));
            }
            apply(&mut finished, &mut expect, &mut abandoned, &mut ctx);
            if abandoned {
                break;
            }
            if outstanding < inflight {
                match ctx.poll_window() {
                    Some(w) => {
                        let groups = group_indices(&ctx, &w);
                        if job_tx.send((seq, w, groups)).is_err() {
                            break;
                        }
                        seq += 1;
                        outstanding += 1;
                    }
                    None if ctx.finished_reading() => {
                        if outstanding == 0 {
                            break;
                        }
                        match done_rx.recv() {
                            Ok((sq, end, ok)) => {
                                outstanding -= 1;
                                finished.insert(sq, (end, ok));
                            }
                            Err(_) => break,
                        }
                    }
                    None => {}
                }
            } else {
                match done_rx.recv() {
                    Ok((sq, end, ok)) => {
                        outstanding -= 1;
                        finished.insert(sq, (end, ok));
                    }
                    Err(_) => break,
                }
            }
        }
        drop(job_tx);
        for (sq, end, ok) in done_rx.iter() {
            finished.insert(sq, (end, ok));
        }
        apply(&mut finished, &mut expect, &mut abandoned, &mut ctx);
    });
}

/// Groups a window's records by key, as indices (so the window can move to another thread).
fn group_indices(ctx: &OutputCtx, w: &Window) -> Vec<(String, Vec<usize>)> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, r) in w.records.iter().enumerate() {
        let k = ctx.key_for(r);
        match groups.iter_mut().find(|(g, _)| g == k) {
            Some((_, v)) => v.push(i),
            None => groups.push((k.to_string(), vec![i])),
        }
    }
    groups
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

    #[test]
    fn a_body_joins_lines_and_gzips() {
        let a = Record::decode(&crate::record::encode(0, "k", b"one")).unwrap();
        let b = Record::decode(&crate::record::encode(0, "k", b"two")).unwrap();
        assert_eq!(body(&[&a, &b], false).unwrap(), b"one\ntwo");
        let gz = body(&[&a, &b], true).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out)
            .unwrap();
        assert_eq!(out, "one\ntwo");
    }
}
