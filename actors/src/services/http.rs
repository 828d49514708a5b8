//! `http` services: POST the request as JSON to a URL, answer the JSON reply.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{InvokeContext, Service, ServiceDeps, ServiceError, ServiceFuture};
use crate::secrets::MasterKey;

pub struct HttpService {
    url: String,
    timeout: Duration,
    /// `Authorization` header value, decrypted once at load; never logged.
    authorization: Option<String>,
    max_reply: usize,
    outbound: crate::outbound::Outbound,
}

pub(super) fn validate(config: &Value, key: &MasterKey) -> Result<Value, String> {
    let obj = config.as_object().ok_or("service settings must be an object")?;
    if let Some(unknown) = obj.keys().find(|k| !["url", "timeout", "auth"].contains(&k.as_str())) {
        return Err(format!("unknown field `{unknown}` for an `http` service (url, timeout, auth)"));
    }
    let url = obj.get("url").and_then(Value::as_str).ok_or("`url` is required for an `http` service")?;
    if !url.starts_with("http://") || url.len() < 10 || url.contains(char::is_whitespace) {
        return Err(format!(
            "`url` must be an http:// URL, not `{url}` (https:// targets come with TLS support)"
        ));
    }
    let timeout = obj.get("timeout").map(|t| t.as_f64().ok_or("`timeout` must be a number")).transpose()?;
    if timeout.is_some_and(|t| !(0.001..=3600.0).contains(&t)) {
        return Err("`timeout` must be between 0.001 and 3600 seconds".into());
    }
    let mut out = Map::new();
    out.insert("url".into(), Value::String(url.into()));
    out.insert("timeout".into(), Value::from(timeout.unwrap_or(5.0)));
    if let Some(auth) = obj.get("auth") {
        out.insert("auth".into(), crate::push::seal_auth(auth, key)?);
    }
    Ok(Value::Object(out))
}

/// The `Authorization` header of a sealed auth object.
pub fn authorization(auth: &Value, key: &MasterKey) -> Result<Option<String>, String> {
    use base64::Engine;
    let open = |field: &str| -> Result<String, String> {
        let sealed = auth.get(field).and_then(Value::as_str).ok_or("sealed secret missing")?;
        key.decrypt(sealed).map_err(|e| e.to_string())
    };
    match auth.get("type").and_then(Value::as_str) {
        None => Ok(None),
        Some("basic") => {
            let user = auth.get("username").and_then(Value::as_str).unwrap_or_default();
            let pair = format!("{user}:{}", open("password_enc")?);
            Ok(Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))))
        }
        Some("bearer") => Ok(Some(format!("Bearer {}", open("token_enc")?))),
        Some(other) => Err(format!("unknown auth type `{other}`")),
    }
}

impl HttpService {
    pub(super) fn from_config(config: &Value, deps: &ServiceDeps) -> Result<HttpService, String> {
        Ok(HttpService {
            url: config["url"].as_str().ok_or("url missing")?.to_owned(),
            timeout: Duration::from_secs_f64(config["timeout"].as_f64().unwrap_or(5.0)),
            authorization: authorization(&config["auth"], &deps.master_key)?,
            max_reply: deps.max_reply,
            outbound: deps.outbound.clone(),
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
