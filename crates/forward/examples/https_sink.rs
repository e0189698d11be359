//! The HTTPS receiver of `bench/forward/run.sh`: it takes the forwarder's batches as a
//! Sekoia-compatible intake would (`POST`, gzip or not), gunzips every one (which checks its
//! CRC-32 and length), counts its records and only then answers 200, so that what the
//! forwarder counts as sent is what arrived. It does nothing else, so that the benchmark's
//! figure is the forwarder's, as rsyslog's line-counting TCP sink is for rsyslog; the script
//! reports its CPU apart.
//!
//! Usage: `https_sink PORT CERT.pem KEY.pem COUNT_FILE` (listens on 127.0.0.1:PORT; writes the
//! running count of records to COUNT_FILE after each batch; a batch that does not gunzip is
//! answered 400 and not counted).

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

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

thread_local! {
    /// The gunzipped body of the batch being counted.
    static INFLATED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The records of one body: lines joined by `\n` (the last without one), as the forwarder
/// and Cloud NSS send them.
fn records_in(body: &[u8]) -> u64 {
    if body.is_empty() {
        return 0;
    }
    body.iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

async fn batch(req: Request<hyper::body::Incoming>, count: Arc<Count>) -> Response<Body> {
    let gzip = req
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let body: Bytes = match axum::body::to_bytes(Body::new(req.into_body()), 64 << 20).await {
        Ok(b) => b,
        Err(_) => return answer(StatusCode::PAYLOAD_TOO_LARGE),
    };
    let n = if gzip {
        // Into a buffer each thread reuses: a fresh megabyte per batch costs its page faults.
        let counted = INFLATED.with_borrow_mut(|raw| {
            raw.clear();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(raw)
                .map(|_| records_in(raw))
        });
        match counted {
            Ok(n) => n,
            Err(e) => {
                eprintln!("https_sink: a batch does not gunzip: {e}");
                return answer(StatusCode::BAD_REQUEST);
            }
        }
    } else {
        records_in(&body)
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
