//! TLS with rustls and its `ring` provider: the listener's certificate, and the client side of
//! `wss://` links (the system's roots plus an optional CA file; host names always verified).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;

/// Makes `ring` the process's rustls provider; call once, first thing.
pub fn install_provider() {
    // Err means a provider is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The listener's TLS settings from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    install_provider();
    let chain = signalbox_actors::outbound::pem_certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the TLS certificate and key do not fit together: {e}"))
}

/// Client settings for `wss://`: system roots, plus `ca_file` when given.
pub fn client_config(ca_file: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    install_provider();
    signalbox_actors::outbound::client_config(ca_file)
}
