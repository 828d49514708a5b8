//! Push targets of `notify` subscriptions, by endpoint type: how they are validated, and how their
//! secrets (passwords, tokens, AMQP URLs) are sealed under the master key before they are stored.

use serde_json::{Map, Value};

use crate::secrets::MasterKey;

/// Fields of `push.auth` that hold a secret; stored sealed as `<field>_enc`.
const AUTH_SECRETS: &[&str] = &["password", "token"];

/// Checks a push object against its endpoint type and answers what may be stored: the same
/// object with its secrets sealed. Errors name the field.
pub fn seal(endpoint_type: &str, push: &Value, key: &MasterKey) -> Result<Value, String> {
    let obj = push.as_object().ok_or("`push` must be an object")?;
    let allowed: &[&str] = match endpoint_type {
        "rest" => &["url", "http_method", "auth", "timeout", "ca_file"],
        "soap" => &["url", "soap_action", "auth", "timeout", "ca_file"],
        "amqp" => &["url", "exchange", "routing_key"],
        "files" => &["directory"],
        "srv" => &["service"],
        "wsx" => &[],
        other => return Err(format!("endpoints of type `{other}` cannot be pushed to")),
    };
    match obj.get("type") {
        None => {}
        Some(Value::String(t)) if t == endpoint_type => {}
        Some(_) => return Err(format!("`push.type` must be `{endpoint_type}`, the endpoint's type")),
    }
    if let Some(unknown) = obj.keys().find(|k| *k != "type" && !allowed.contains(&k.as_str())) {
        return Err(format!(
            "unknown field `push.{unknown}` for a `{endpoint_type}` target (allowed: {})",
            allowed.join(", ")
        ));
    }
    let text = |field: &str| -> Result<&str, String> {
        match obj.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(format!("`push.{field}` must be a non-empty string")),
            None => Err(format!("`push.{field}` is required for a `{endpoint_type}` target")),
        }
    };
    let mut out = obj.clone();
    // The sink is chosen by this, so the stored target says what it is.
    out.insert("type".into(), Value::String(endpoint_type.into()));
    match endpoint_type {
        "rest" | "soap" => {
            let url = text("url")?;
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
                return Err(format!("`push.url` must be an http:// or https:// URL, not `{url}`"));
            }
            if let Some(m) = obj.get("http_method") {
                let m = m.as_str().unwrap_or_default();
                if !["POST", "PUT", "PATCH"].contains(&m) {
                    return Err("`push.http_method` must be POST, PUT or PATCH".into());
                }
            }
            if let Some(auth) = obj.get("auth") {
                out.insert("auth".into(), seal_auth(auth, key)?);
            }
            if obj.get("timeout").is_some_and(|t| !t.as_f64().is_some_and(|t| (0.001..=3600.0).contains(&t)))
            {
                return Err("`push.timeout` must be a number of seconds between 0.001 and 3600".into());
            }
            if obj.contains_key("ca_file") {
                let ca = text("ca_file")?;
                if !url.starts_with("https://") {
                    return Err("`push.ca_file` applies to https:// URLs only".into());
                }
                crate::outbound::client_config(Some(ca)).map_err(|e| format!("`push.ca_file`: {e}"))?;
            }
        }
        "amqp" => {
            let url = text("url")?;
            if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                return Err("`push.url` must be an amqp:// or amqps:// URL".into());
            }
            text("exchange")?;
            if obj.get("routing_key").is_some_and(|v| !v.is_string()) {
                return Err("`push.routing_key` must be a string".into());
            }
            out.remove("url");
            out.insert("url_enc".into(), Value::String(key.encrypt(url).map_err(|e| e.to_string())?));
            out.insert("url_display".into(), Value::String(strip_userinfo(url)));
        }
        "files" => {
            let directory = text("directory")?;
            if !std::path::Path::new(directory).is_dir() {
                return Err(format!("`push.directory`: `{directory}` is not an existing directory"));
            }
        }
        "wsx" => {}
        _ => {
            text("service")?;
        }
    }
    Ok(Value::Object(out))
}

pub fn seal_auth(auth: &Value, key: &MasterKey) -> Result<Value, String> {
    let obj = auth.as_object().ok_or("`push.auth` must be an object")?;
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or_default();
    let required: &[&str] = match kind {
        "basic" => &["username", "password"],
        "bearer" => &["token"],
        _ => return Err("`push.auth.type` must be `basic` or `bearer`".into()),
    };
    let mut out = Map::new();
    out.insert("type".into(), Value::String(kind.into()));
    for field in required {
        let value = obj
            .get(*field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("`push.auth.{field}` is required for `{kind}` auth"))?;
        if AUTH_SECRETS.contains(field) {
            let sealed = key.encrypt(value).map_err(|e| e.to_string())?;
            out.insert(format!("{field}_enc"), Value::String(sealed));
        } else {
            out.insert((*field).into(), Value::String(value.into()));
        }
    }
    if let Some(unknown) = obj.keys().find(|k| *k != "type" && !required.contains(&k.as_str())) {
        return Err(format!("unknown field `push.auth.{unknown}`"));
    }
    Ok(Value::Object(out))
}

/// The stored push object as admins may see it: sealed values left out.
pub fn public_view(stored: &Value) -> Value {
    fn scrub(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter().filter(|(k, _)| !k.ends_with("_enc")).map(|(k, v)| (k.clone(), scrub(v))).collect(),
            ),
            other => other.clone(),
        }
    }
    scrub(stored)
}

/// `amqp://user:pw@host/vh` → `amqp://host/vh`, for display.
fn strip_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}{}", &url[..scheme_end + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_sealed_and_hidden_from_the_public_view() {
        let key = MasterKey::generate().unwrap();
        let push = json!({"url": "http://h/x", "auth": {"type": "basic", "username": "u", "password": "pw"}});
        let stored = seal("rest", &push, &key).unwrap();
        assert!(!stored.to_string().contains("\"pw\""));
        let shown = public_view(&stored);
        assert_eq!(
            shown,
            json!({"type": "rest", "url": "http://h/x", "auth": {"type": "basic", "username": "u"}})
        );
        let amqp = seal("amqp", &json!({"url": "amqp://g:secret@h/", "exchange": "x"}), &key).unwrap();
        assert!(!public_view(&amqp).to_string().contains("secret"));
        assert_eq!(public_view(&amqp)["url_display"], "amqp://h/");
    }

    #[test]
    fn malformed_targets_are_refused() {
        let key = MasterKey::generate().unwrap();
        assert!(seal("rest", &json!({"url": "ftp://x"}), &key).is_err());
        assert!(seal("amqp", &json!({"url": "amqp://h"}), &key).unwrap_err().contains("exchange"));
        assert!(seal("files", &json!({}), &key).is_err());
        assert!(seal("rest", &json!({"url": "http://host/", "bogus": 1}), &key).is_err());
    }
}
