//! Outgoing HTTP and HTTPS — push targets (`rest`, `soap`) and `http` services — with one TLS
//! setting for the node: the system's roots plus the operator's `tls_ca`, host names verified.

use std::sync::Arc;
use std::time::Duration;

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
