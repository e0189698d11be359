//! The HTTPS receiver of `bench/forward/run.sh`: it takes the forwarder's batches as a
//! Sekoia-compatible intake would (`POST`, gzip or not), gunzips every one (which checks its
//! CRC-32 and length), counts its records and only then answers 200, so that what the
//! forwarder counts as sent is what arrived. Each body is gunzipped and counted as it streams
//! in (nothing is collected), so that its own CPU, which shares the machine with the
//! forwarder's, stays small. It does nothing else, so that the benchmark's
//! figure is the forwarder's, as rsyslog's line-counting TCP sink is for rsyslog; the script
//! reports its CPU apart.
//!
//! Usage: `https_sink PORT CERT.pem KEY.pem COUNT_FILE` (listens on 127.0.0.1:PORT; writes the
//! running count of records to COUNT_FILE after each batch; a batch that does not gunzip is
//! answered 400 and not counted).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use http_body_util::BodyExt;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Largest body accepted, as gunzipped (the forwarder's batches are at most a few MiB).
const MAX_BODY: u64 = 64 << 20;

/// What every connection shares: the running count and the file it is published in.
struct Count {
    records: AtomicU64,
    file: PathBuf,
    /// Serialises writes of the count file, so that a smaller count never replaces a larger.
    write: Mutex<()>,
}

impl Count {
    fn add(&self, n: u64) {
        let Ok(_g) = self.write.lock() else { return };
        let total = self.records.fetch_add(n, Ordering::AcqRel) + n;
        let tmp = self.file.with_extension("tmp");
        if std::fs::write(&tmp, total.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, &self.file);
        }
    }
}

/// Counts the records of a body as it streams by, without keeping it: lines joined by `\n`
/// (the last without one), as the forwarder and Cloud NSS send them.
#[derive(Default)]
struct Lines {
    newlines: u64,
    bytes: u64,
}

impl Lines {
    fn records(&self) -> u64 {
        if self.bytes == 0 {
            0
        } else {
            self.newlines + 1
        }
    }
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        if self.bytes > MAX_BODY {
            return Err(std::io::Error::other("body too large"));
        }
        self.newlines += memchr::memchr_iter(b'\n', buf).count() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where a body's bytes go: straight to the counter, or through a streaming gunzip (which
/// checks the CRC-32 and length of the trailer at the end) into it.
enum Counter {
    Plain(Lines),
    Gzip(Box<flate2::write::GzDecoder<Lines>>),
}

impl Counter {
    fn write_all(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        match self {
            Counter::Plain(l) => l.write_all(chunk),
            Counter::Gzip(d) => d.write_all(chunk),
        }
    }

    /// The records of the whole body; for gzip, once the trailer is checked.
    fn finish(self) -> std::io::Result<u64> {
        match self {
            Counter::Plain(l) => Ok(l.records()),
            Counter::Gzip(d) => Ok(d.finish()?.records()),
        }
    }
}

async fn batch(req: Request<hyper::body::Incoming>, count: Arc<Count>) -> Response<Body> {
    let gzip = req
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let mut counter = if gzip {
        Counter::Gzip(Box::new(flate2::write::GzDecoder::new(Lines::default())))
    } else {
        Counter::Plain(Lines::default())
    };
    // Each chunk is gunzipped and counted as it is read, so the body is never collected.
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return answer(StatusCode::BAD_REQUEST);
        };
        if let Some(chunk) = frame.data_ref() {
            if let Err(e) = counter.write_all(chunk) {
                eprintln!("https_sink: a batch does not gunzip: {e}");
                return answer(StatusCode::BAD_REQUEST);
            }
        }
    }
    let n = match counter.finish() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("https_sink: a batch does not gunzip: {e}");
            return answer(StatusCode::BAD_REQUEST);
        }
    };
    count.add(n);
    answer(StatusCode::OK)
}

fn answer(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::from("{}"));
    *r.status_mut() = status;
    r
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, cert, key, file] = &args[..] else {
        return Err("usage: https_sink PORT CERT.pem KEY.pem COUNT_FILE".into());
    };
    let port: u16 = port.parse()?;
    let tls = TlsAcceptor::from(intake::tls::server_config(
        cert.as_ref(),
        key.as_ref(),
        &[b"http/1.1"],
    )?);
    let count = Arc::new(Count {
        records: AtomicU64::new(0),
        file: PathBuf::from(file),
        write: Mutex::new(()),
    });
    count.add(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(rt.block_on(serve(port, tls, count))?)
}

/// Accepts connections for ever, each served on its own task.
async fn serve(port: u16, tls: TlsAcceptor, count: Arc<Count>) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        // Else the answer waits for the ACK of the request (Nagle against delayed ACK).
        stream.set_nodelay(true)?;
        let (tls, count) = (tls.clone(), count.clone());
        tokio::spawn(async move {
            let Ok(io) = tls.accept(stream).await else {
                return;
            };
            let svc = hyper::service::service_fn(move |req| {
                let count = count.clone();
                async move { Ok::<_, std::convert::Infallible>(batch(req, count).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .http1_only()
                .serve_connection(TokioIo::new(io), svc)
                .await;
        });
    }
}
