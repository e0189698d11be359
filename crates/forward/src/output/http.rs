//! HTTPS batches to a Sekoia-compatible intake, as Cloud NSS posts them: the records of one
//! key joined by newlines, gzipped, the key in `X-SEKOIAIO-INTAKE-KEY`. A 2xx answer
//! advances the cursor; 400 means the intake will never take the batch (counted as failed,
//! logged, skipped); anything else, or no answer, is retried with backoff, honouring
//! `Retry-After`.

use std::io::Write;
use std::time::Duration;

use super::{OutputCtx, Window};
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

/// Groups a window's records by the key they are sent with, keeping their order.
pub fn group_by_key<'a>(ctx: &'a OutputCtx, w: &'a Window) -> Vec<(&'a str, Vec<&'a Record>)> {
    let mut groups: Vec<(&str, Vec<&Record>)> = Vec::new();
    for r in &w.records {
        let k = ctx.key_for(r);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(r),
            None => groups.push((k, vec![r])),
        }
    }
    groups
}

/// Builds a batch body: the lines joined by `\n`, gzipped if asked.
pub fn body(records: &[&Record], gzip: bool) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(records.iter().map(|r| r.data.len() + 1).sum());
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            raw.push(b'\n');
        }
        raw.extend_from_slice(&r.data);
    }
    if !gzip {
        return Ok(raw);
    }
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(&raw)?;
    enc.finish()
}

/// Sends windows to `url` until told to stop.
pub fn run(mut ctx: OutputCtx, url: String, agent: ureq::Agent) {
    while let Some(w) = ctx.next_window() {
        let groups = group_by_key(&ctx, &w);
        let mut done = vec![false; groups.len()];
        let mut attempt = 0u32;
        let label = ctx.label().to_string();
        let l = [label.as_str()];
        'window: loop {
            let mut retry_after = None;
            for (gi, (key, recs)) in groups.iter().enumerate() {
                if done[gi] {
                    continue;
                }
                let payload = match body(recs, ctx.tuning.gzip) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!(destination = %label, error = %e, "cannot build a batch");
                        continue;
                    }
                };
                let mut req = agent
                    .post(&url)
                    .header("Content-Type", "text/plain")
                    .header(KEY_HEADER, *key);
                if ctx.tuning.gzip {
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
                        ctx.metrics
                            .sent
                            .with_label_values(&l)
                            .inc_by(recs.len() as u64);
                    }
                    Outcome::Refused => {
                        done[gi] = true;
                        ctx.metrics
                            .failed
                            .with_label_values(&l)
                            .inc_by(recs.len() as u64);
                        tracing::error!(destination = %label, records = recs.len(), "the intake answered 400: batch dropped");
                    }
                    Outcome::Retry(r) => {
                        ctx.metrics.retried.with_label_values(&l).inc();
                        if attempt == 0 {
                            tracing::warn!(destination = %label, status = ?status, "batch not accepted; retrying with backoff");
                        }
                        retry_after = retry_after.max(r);
                    }
                }
            }
            if done.iter().all(|d| *d) {
                break 'window;
            }
            let wait = ctx.backoff(attempt, retry_after);
            attempt = attempt.saturating_add(1);
            if !ctx.sleep(wait) {
                return; // stopping: the window stays on disk
            }
        }
        if attempt > 0 {
            tracing::info!(destination = %label, retries = attempt, "destination accepting again");
        }
        ctx.done(&w);
    }
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
