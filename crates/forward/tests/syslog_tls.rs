//! The TLS syslog destination against a test receiver: RFC 5424 lines carrying the intake
//! key in `[SEKOIA@53288 intake_key="…"]`, over a certificate checked against a custom CA.

use std::sync::Arc;
use std::time::Duration;

use forward::config::{DestSpec, ListenSpec};
use forward::{ForwardConfig, Forwarder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A TLS syslog receiver on 127.0.0.1 that sends every line it reads to the channel.
async fn receiver(dir: &std::path::Path) -> (u16, std::path::PathBuf, mpsc::Receiver<String>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let sc = intake::tls::server_config(&cert, &key, &[]).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(sc);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel(1000);
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(s).await else {
                    return;
                };
                let mut lines = BufReader::new(tls).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = tx.send(line).await;
                }
            });
        }
    });
    (port, cert, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_syslog_lines_carry_the_key_in_the_sekoia_element() {
    let dir = tempfile::tempdir().unwrap();
    let (port, ca, mut lines) = receiver(dir.path()).await;
    let listen: ListenSpec = "tcp://127.0.0.1:0=LISTENER-KEY".parse().unwrap();
    let to: DestSpec = format!("tls://localhost:{port}").parse().unwrap();
    let mut cfg = ForwardConfig::new(dir.path().join("data"), vec![listen], vec![to]);
    cfg.client_tls.ca = Some(ca);
    cfg.metrics_addr = None;
    cfg.tuning.batch_age = Duration::from_millis(50);
    let fwd = Forwarder::bind(cfg).await.unwrap();
    let input = fwd.listeners()[0].addr;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(fwd.run(async {
        let _ = stop_rx.await;
    }));

    let mut c = TcpStream::connect(input).await.unwrap();
    c.write_all(
        b"<134>Dec  6 20:00:00 zscaler-nss NSS: {\"n\":1}\n\
          <134>1 2026-12-06T20:00:00Z nss zscaler - LOG [SEKOIA@53288 intake_key=\"OWN-KEY\"] {\"n\":2}\n",
    )
    .await
    .unwrap();
    c.shutdown().await.unwrap();

    let mut got = Vec::new();
    while got.len() < 2 {
        let l = tokio::time::timeout(Duration::from_secs(20), lines.recv())
            .await
            .expect("the receiver got too few lines")
            .unwrap();
        got.push(l);
    }
    assert_eq!(
        intake::syslog::header_kind(got[0].as_bytes()),
        intake::syslog::HeaderKind::Rfc5424
    );
    let (k1, rest1) = intake::syslog::extract_intake_key(got[0].as_bytes()).unwrap();
    assert_eq!(k1, "LISTENER-KEY");
    assert!(
        String::from_utf8(rest1)
            .unwrap()
            .ends_with(" zscaler-nss NSS - - - {\"n\":1}"),
        "{}",
        got[0]
    );
    assert_eq!(
        got[1],
        "<134>1 2026-12-06T20:00:00Z nss zscaler - LOG [SEKOIA@53288 intake_key=\"OWN-KEY\"] {\"n\":2}"
    );
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_destination_with_an_untrusted_certificate_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _ca, mut lines) = receiver(dir.path()).await;
    let listen: ListenSpec = "tcp://127.0.0.1:0=K".parse().unwrap();
    let to: DestSpec = format!("tls://localhost:{port}").parse().unwrap();
    // No --ca: the self-signed receiver is not among the web roots.
    let mut cfg = ForwardConfig::new(dir.path().join("data"), vec![listen], vec![to]);
    cfg.metrics_addr = None;
    cfg.tuning.batch_age = Duration::from_millis(50);
    cfg.tuning.retry_initial = Duration::from_millis(50);
    cfg.tuning.drain_timeout = Duration::from_millis(200);
    let fwd = Forwarder::bind(cfg).await.unwrap();
    let input = fwd.listeners()[0].addr;
    let buffer = Arc::clone(fwd.buffer());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(fwd.run(async {
        let _ = stop_rx.await;
    }));
    let mut c = TcpStream::connect(input).await.unwrap();
    c.write_all(b"<134>Dec  6 20:00:00 h NSS: x\n")
        .await
        .unwrap();
    c.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        lines.try_recv().is_err(),
        "a line crossed an unverified TLS connection"
    );
    let st = buffer.status();
    assert_eq!(st.destinations[0].lag_records, 1);
    assert!(st.destinations[0].retried > 0);
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
