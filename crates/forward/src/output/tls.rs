//! Client TLS of the destinations: the bundled web roots or a custom CA, and an optional
//! client certificate, for both the HTTPS agent and the syslog TLS connections.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ClientTls;

/// Why the client TLS settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    /// A PEM file could not be read or held nothing usable.
    #[error("cannot read {path}: {message}")]
    Pem {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// rustls refused the settings.
    #[error("TLS configuration error: {0}")]
    Rustls(#[from] rustls::Error),
    /// A client certificate without its key, or the reverse.
    #[error("--client-cert and --client-key go together")]
    HalfClientCert,
}

fn pem_err(p: &Path, e: &dyn std::fmt::Display) -> ClientTlsError {
    ClientTlsError::Pem {
        path: p.display().to_string(),
        message: e.to_string(),
    }
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientTlsError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(path, &e))?;
    if certs.is_empty() {
        return Err(pem_err(path, &"no certificate in file"));
    }
    Ok(certs)
}

fn client_identity(
    t: &ClientTls,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, ClientTlsError> {
    match (&t.cert, &t.key) {
        (None, None) => Ok(None),
        (Some(c), Some(k)) => {
            let key = PrivateKeyDer::from_pem_file(k).map_err(|e| pem_err(k, &e))?;
            Ok(Some((certs(c)?, key)))
        }
        _ => Err(ClientTlsError::HalfClientCert),
    }
}

/// The rustls client configuration of the syslog TLS destinations.
pub fn rustls_client(t: &ClientTls) -> Result<Arc<rustls::ClientConfig>, ClientTlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match &t.ca {
        Some(ca) => {
            for c in certs(ca)? {
                roots.add(c)?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let cfg = match client_identity(t)? {
        Some((chain, key)) => b.with_client_auth_cert(chain, key)?,
        None => b.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// The TLS settings of the HTTPS agent.
pub fn ureq_tls(t: &ClientTls) -> Result<ureq::tls::TlsConfig, ClientTlsError> {
    let mut b = ureq::tls::TlsConfig::builder();
    if let Some(ca) = &t.ca {
        let roots: Vec<ureq::tls::Certificate<'static>> = certs(ca)?
            .into_iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        b = b.root_certs(ureq::tls::RootCerts::new_with_certs(&roots));
    }
    if let Some((chain, key)) = client_identity(t)? {
        let chain: Vec<ureq::tls::Certificate<'static>> = chain
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        drop(key);
        // ureq wants its own key type; read the PEM again through its parser.
        let key_path = t.key.as_deref().unwrap_or(Path::new(""));
        let pem = std::fs::read(key_path).map_err(|e| pem_err(key_path, &e))?;
        let key = ureq::tls::parse_pem(&pem)
            .find_map(|i| match i {
                Ok(ureq::tls::PemItem::PrivateKey(k)) => Some(k.to_owned()),
                _ => None,
            })
            .ok_or_else(|| pem_err(key_path, &"no private key in file"))?;
        b = b.client_cert(Some(ureq::tls::ClientCert::new_with_certs(&chain, key)));
    }
    Ok(b.build())
}
