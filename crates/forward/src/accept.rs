//! The accept loop every listener of the forwarder shares: a cap on open connections, the
//! TLS handshake under a deadline, and a bounded drain of open connections at shutdown. What
//! a connection does once it is open (syslog framing, or HTTP) is the caller's.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

/// A connection's byte stream, plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// An open connection, whichever transport it came over.
pub type BoxIo = Box<dyn Io>;

/// How a listener accepts.
pub struct AcceptLimits {
    /// Connections open at once; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// A TLS handshake not done in this time closes the connection.
    pub handshake_timeout: Duration,
    /// At shutdown, open connections get this long to finish before they are cut.
    pub drain: Duration,
}

/// Accepts connections until `shutdown` turns true and runs `handle` on each (after the
/// TLS handshake with `tls`); then waits for open connections, at most `limits.drain`.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    limits: AcceptLimits,
    label: Arc<str>,
    mut shutdown: watch::Receiver<bool>,
    handle: F,
) where
    F: Fn(BoxIo, SocketAddr, watch::Receiver<bool>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handle = Arc::new(handle);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, listener = %label, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let (tls, stop, handle) = (tls.clone(), shutdown.clone(), handle.clone());
        let timeout = limits.handshake_timeout;
        conns.spawn(async move {
            let io: BoxIo = match tls {
                None => Box::new(stream),
                Some(acc) => match tokio::time::timeout(timeout, acc.accept(stream)).await {
                    Ok(Ok(s)) => Box::new(s),
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
            };
            handle(io, peer, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    let all = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.drain, all).await.is_err() {
        conns.shutdown().await;
    }
}
