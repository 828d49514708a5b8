//! `rest` and `soap` push targets over HTTP.

use std::time::Duration;

use awc::http::header::HeaderValue;
use serde_json::Value;

use super::{Batch, Sink, SinkDeps, SinkError, SinkFuture};
use crate::outbound::Outbound;
use crate::secrets::SealedAt;

/// How long one push request may take before it counts as a socket error, unless the target
/// sets `timeout`.
const TIMEOUT: f64 = 30.0;
/// Names the node that pushed (in a cluster, whichever node owns the subscription).
const NODE_HEADER: &str = "X-Signalbox-Node";

enum Format {
    Json { method: String },
    Soap { action: String },
}

pub struct HttpSink {
    url: String,
    format: Format,
    /// Decrypted once when the sink is built; never logged.
    authorization: Option<String>,
    /// Made once per target, so pushes reuse its connections instead of a new one (and a TLS
    /// handshake) per batch.
    client: awc::Client,
    /// Sent as `X-Signalbox-Node` (not sent for a node name that is no valid header value).
    node: Option<HeaderValue>,
}

impl HttpSink {
    /// `at`: where `config` is stored (its subscription's `push_config`), which its sealed
    /// credentials are bound to.
    pub fn rest(config: &Value, at: &SealedAt, deps: &SinkDeps) -> Result<HttpSink, String> {
        let method = config["http_method"].as_str().unwrap_or("POST").to_owned();
        HttpSink::new(config, at, deps, Format::Json { method })
    }

    pub fn soap(config: &Value, at: &SealedAt, deps: &SinkDeps) -> Result<HttpSink, String> {
        let action = config["soap_action"].as_str().unwrap_or("").to_owned();
        HttpSink::new(config, at, deps, Format::Soap { action })
    }

    fn new(config: &Value, at: &SealedAt, deps: &SinkDeps, format: Format) -> Result<HttpSink, String> {
        // A target's own `ca_file` replaces the node's extra CA for that target.
        let outbound = match config["ca_file"].as_str() {
            Some(ca) => Outbound::new(crate::outbound::client_config(Some(ca))?),
            None => deps.outbound.clone(),
        };
        let timeout = Duration::from_secs_f64(config["timeout"].as_f64().unwrap_or(TIMEOUT));
        Ok(HttpSink {
            url: config["url"].as_str().ok_or("push.url missing")?.to_owned(),
            format,
            authorization: crate::targets::authorization(
                &config["auth"],
                &deps.master_key,
                &at.child("auth"),
            )?,
            client: outbound.client(timeout),
            node: HeaderValue::from_str(&deps.node).ok(),
        })
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A SOAP 1.1 envelope whose body holds one `<message>` per message, its JSON escaped.
fn soap_envelope(batch: &Batch) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">\
         <soap:Body><messages xmlns=\"urn:signalbox:pubsub\">",
    );
    for m in batch.external() {
        out.push_str("<message>");
        out.push_str(&xml_escape(&m.to_string()));
        out.push_str("</message>");
    }
    out.push_str("</messages></soap:Body></soap:Envelope>");
    out
}

impl Sink for HttpSink {
    fn deliver(&self, batch: Batch) -> SinkFuture {
        let url = self.url.clone();
        let (auth, node) = (self.authorization.clone(), self.node.clone());
        let (method, body, content_type, action) = match &self.format {
            Format::Json { method } => (method.clone(), batch.body().to_string(), "application/json", None),
            Format::Soap { action } => {
                ("POST".to_owned(), soap_envelope(&batch), "text/xml; charset=utf-8", Some(action.clone()))
            }
        };
        let is_soap = action.is_some();
        let client = self.client.clone();
        Box::pin(async move {
            let method = awc::http::Method::from_bytes(method.as_bytes())
                .map_err(|e| SinkError::other(e.to_string()))?;
            let mut req = client.request(method, &url).insert_header(("Content-Type", content_type));
            if let Some(n) = node {
                req = req.insert_header((NODE_HEADER, n));
            }
            if let Some(a) = auth {
                req = req.insert_header(("Authorization", a));
            }
            if let Some(a) = action {
                req = req.insert_header(("SOAPAction", format!("\"{a}\"")));
            }
            let mut res = req.send_body(body).await.map_err(|e| match e {
                awc::error::SendRequestError::Connect(e) => {
                    SinkError::socket(format!("cannot connect to {url}: {e}"))
                }
                awc::error::SendRequestError::Timeout => SinkError::socket(format!("{url} timed out")),
                awc::error::SendRequestError::Send(e) => {
                    SinkError::socket(format!("sending to {url} failed: {e}"))
                }
                other => SinkError::other(format!("{url}: {other}")),
            })?;
            let status = res.status();
            let reply = res.body().limit(1024 * 1024).await.unwrap_or_default();
            if !status.is_success() {
                return Err(SinkError::other(format!("{url} answered {status}")));
            }
            if is_soap && String::from_utf8_lossy(&reply).contains(":Fault>") {
                return Err(SinkError::other(format!("{url} answered with a SOAP Fault")));
            }
            Ok(())
        })
    }
}
