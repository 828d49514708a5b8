//! Outgoing HTTP and HTTPS — push targets (`rest`, `soap`) and `http` services — with one TLS
//! setting for the node: the system's roots plus the operator's `tls_ca`, host names verified;
//! a push target may name its own `ca_file` instead.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The certificates of a PEM file (at least one).
pub fn pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", path.display()));
    }
    Ok(certs)
}

/// Client TLS settings: the system's roots, plus the CA certificates of `ca_file` when given.
pub fn client_config(ca_file: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        for cert in pem_certificates(Path::new(path))? {
            roots.add(cert).map_err(|e| format!("bad CA certificate in {path}: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Clone)]
pub struct Outbound {
    tls: Arc<rustls::ClientConfig>,
}

impl Outbound {
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Outbound {
        Outbound { tls }
    }

    /// A client for `http://` and `https://` URLs, each request bounded by `timeout`.
    pub fn client(&self, timeout: Duration) -> awc::Client {
        awc::Client::builder()
            .connector(awc::Connector::new().rustls_0_23(self.tls.clone()))
            .timeout(timeout)
            .finish()
    }
}
