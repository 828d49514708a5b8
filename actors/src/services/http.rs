//! `http` services: POST the request as JSON to a URL, answer the JSON reply.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{InvokeContext, Service, ServiceDeps, ServiceError, ServiceFuture};
use crate::secrets::{MasterKey, SealedAt};

pub struct HttpService {
    url: String,
    timeout: Duration,
    /// `Authorization` header value, decrypted once at load; never logged.
    authorization: Option<String>,
    max_reply: usize,
    outbound: crate::outbound::Outbound,
}

/// Checks an `http` service definition; its secrets are sealed for `at` (the service's `config`).
pub(super) fn validate(config: &Value, key: &MasterKey, at: &SealedAt) -> Result<Value, String> {
    let obj = config.as_object().ok_or("service settings must be an object")?;
    if let Some(unknown) = obj.keys().find(|k| !["url", "timeout", "auth", "ca_file"].contains(&k.as_str())) {
        return Err(format!("unknown field `{unknown}` for an `http` service (url, timeout, auth, ca_file)"));
    }
    let url = obj.get("url").and_then(Value::as_str).ok_or("`url` is required for an `http` service")?;
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    if !scheme_ok || url.len() < 10 || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("`url` must be an http:// or https:// URL, not `{url}`"));
    }
    let ca_file = match obj.get("ca_file") {
        None => None,
        Some(ca) => {
            let ca = ca.as_str().ok_or("`ca_file` must be a string")?;
            if !url.starts_with("https://") {
                return Err("`ca_file` applies to https:// URLs only".into());
            }
            crate::outbound::client_config(Some(ca)).map_err(|e| format!("`ca_file`: {e}"))?;
            Some(ca)
        }
    };
    let timeout = obj.get("timeout").map(|t| t.as_f64().ok_or("`timeout` must be a number")).transpose()?;
    if timeout.is_some_and(|t| !(0.001..=3600.0).contains(&t)) {
        return Err("`timeout` must be between 0.001 and 3600 seconds".into());
    }
    let mut out = Map::new();
    out.insert("url".into(), Value::String(url.into()));
    out.insert("timeout".into(), Value::from(timeout.unwrap_or(5.0)));
    if let Some(ca) = ca_file {
        out.insert("ca_file".into(), Value::String(ca.into()));
    }
    if let Some(auth) = obj.get("auth") {
        out.insert("auth".into(), crate::targets::seal_auth(auth, key, &at.child("auth"))?);
    }
    Ok(Value::Object(out))
}

impl HttpService {
    /// The service stored with `config` at `at` (its row's `config`).
    pub(super) fn from_config(
        config: &Value,
        deps: &ServiceDeps,
        at: &SealedAt,
    ) -> Result<HttpService, String> {
        Ok(HttpService {
            url: config["url"].as_str().ok_or("url missing")?.to_owned(),
            timeout: Duration::from_secs_f64(config["timeout"].as_f64().unwrap_or(5.0)),
            authorization: crate::targets::authorization(
                &config["auth"],
                &deps.master_key,
                &at.child("auth"),
            )?,
            max_reply: deps.max_reply,
            // Its own `ca_file` replaces the node's extra CA for this service.
            outbound: match config["ca_file"].as_str() {
                Some(ca) => crate::outbound::Outbound::new(crate::outbound::client_config(Some(ca))?),
                None => deps.outbound.clone(),
            },
        })
    }
}

impl Service for HttpService {
    fn invoke(&self, request: Value, _ctx: InvokeContext) -> ServiceFuture {
        let (url, timeout, auth, limit) =
            (self.url.clone(), self.timeout, self.authorization.clone(), self.max_reply);
        let client = self.outbound.client(timeout);
        Box::pin(async move {
            let mut req = client.post(&url).insert_header(("Accept", "application/json"));
            if let Some(auth) = auth {
                req = req.insert_header(("Authorization", auth));
            }
            let mut res = req.send_json(&request).await.map_err(|e| match e {
                awc::error::SendRequestError::Timeout => ServiceError::Timeout(timeout.as_secs_f64()),
                awc::error::SendRequestError::Connect(e) => {
                    ServiceError::failed(format!("cannot connect to {url}: {e}"))
                }
                other => ServiceError::failed(format!("request to {url} failed: {other}")),
            })?;
            let status = res.status();
            let body = res.body().limit(limit).await.map_err(|e| match e {
                awc::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                    ServiceError::Timeout(timeout.as_secs_f64())
                }
                other => ServiceError::failed(format!("cannot read the reply of {url}: {other}")),
            })?;
            if !status.is_success() {
                let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
                return Err(ServiceError::Failed {
                    status: Some(status.as_u16()),
                    message: format!("{url} answered {status}: {text}"),
                });
            }
            serde_json::from_slice(&body)
                .map_err(|e| ServiceError::failed(format!("{url} answered {status} with invalid JSON: {e}")))
        })
    }
}
