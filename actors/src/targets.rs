//! Push targets of `notify` subscriptions, by endpoint type: how they are validated, and how their
//! secrets (passwords, tokens, AMQP URLs) are sealed under the master key before they are stored.
//!
//! A sealed member `<field>_enc` of a stored JSON object is bound to its place: the row's
//! [`SealedAt`] (a subscription's `push_config`, a service's `config`) with the member's path
//! below it, e.g. `push_config.auth.password_enc`.

use serde_json::{Map, Value};
use signalbox_schema::modes::EndpointType;

use crate::secrets::{MasterKey, SealedAt, SecretError};

/// Fields of `push.auth` that hold a secret; stored sealed as `<field>_enc`.
const AUTH_SECRETS: &[&str] = &["password", "token"];

/// Checks a push object against its endpoint type and answers what may be stored: the same
/// object with its secrets sealed for `at` (the subscription's `push_config`). Errors name the field.
pub fn seal(
    endpoint_type: EndpointType,
    push: &Value,
    key: &MasterKey,
    at: &SealedAt,
) -> Result<Value, String> {
    let obj = push.as_object().ok_or("`push` must be an object")?;
    let allowed: &[&str] = match endpoint_type {
        EndpointType::Rest => &["url", "http_method", "auth", "timeout", "ca_file"],
        EndpointType::Soap => &["url", "soap_action", "auth", "timeout", "ca_file"],
        EndpointType::Amqp => &["url", "exchange", "routing_key"],
        EndpointType::Files => &["directory"],
        EndpointType::Srv => &["service"],
        EndpointType::Wsx => &[],
    };
    match obj.get("type") {
        None => {}
        Some(Value::String(t)) if t == endpoint_type.as_str() => {}
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
    out.insert("type".into(), Value::String(endpoint_type.as_str().into()));
    match endpoint_type {
        EndpointType::Rest | EndpointType::Soap => {
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
                out.insert("auth".into(), seal_auth(auth, key, &at.child("auth"))?);
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
        EndpointType::Amqp => {
            let url = text("url")?;
            if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                return Err("`push.url` must be an amqp:// or amqps:// URL".into());
            }
            text("exchange")?;
            if obj.get("routing_key").is_some_and(|v| !v.is_string()) {
                return Err("`push.routing_key` must be a string".into());
            }
            out.remove("url");
            let sealed = key.encrypt(url, &at.child("url_enc")).map_err(|e| e.to_string())?;
            out.insert("url_enc".into(), Value::String(sealed));
            out.insert("url_display".into(), Value::String(strip_userinfo(url)));
        }
        EndpointType::Files => {
            let directory = text("directory")?;
            if !std::path::Path::new(directory).is_dir() {
                return Err(format!("`push.directory`: `{directory}` is not an existing directory"));
            }
        }
        EndpointType::Wsx => {}
        EndpointType::Srv => {
            text("service")?;
        }
    }
    Ok(Value::Object(out))
}

/// Checks an `auth` object and answers it with its secrets sealed for `at` (the place of the
/// `auth` object itself, e.g. `push_config.auth`).
pub fn seal_auth(auth: &Value, key: &MasterKey, at: &SealedAt) -> Result<Value, String> {
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
            let name = format!("{field}_enc");
            let sealed = key.encrypt(value, &at.child(&name)).map_err(|e| e.to_string())?;
            out.insert(name, Value::String(sealed));
        } else {
            out.insert((*field).into(), Value::String(value.into()));
        }
    }
    if let Some(unknown) = obj.keys().find(|k| *k != "type" && !required.contains(&k.as_str())) {
        return Err(format!("unknown field `push.auth.{unknown}`"));
    }
    Ok(Value::Object(out))
}

/// The stored JSON `stored`, sealed for `from`, sealed again for `to` (a new subscription whose
/// first sub key was taken by another).
pub fn rebind(stored: &str, key: &MasterKey, from: &SealedAt, to: &SealedAt) -> Result<String, SecretError> {
    let Ok(mut value) = serde_json::from_str::<Value>(stored) else { return Ok(stored.to_owned()) };
    each_sealed(&mut value, from, to, &mut |sealed, from, to| {
        *sealed = key.encrypt(&key.decrypt(sealed, from)?, to)?;
        Ok(())
    })?;
    Ok(value.to_string())
}

/// Seals again for its place every member of `stored` (a JSON object kept at `at`) that is in
/// the old format bound to no row; answers how many. A member that does not open is an error
/// naming its place, and `stored` is left as it was.
pub fn reseal_unbound(stored: &mut Value, key: &MasterKey, at: &SealedAt) -> Result<usize, SecretError> {
    let mut copy = stored.clone();
    let mut count = 0;
    each_sealed(&mut copy, at, at, &mut |sealed, at, _| {
        if let Some(bound) = key.reseal_unbound(sealed, at)? {
            *sealed = bound;
            count += 1;
        }
        Ok(())
    })?;
    *stored = copy;
    Ok(count)
}

/// Calls `f` with every sealed member (`*_enc` string) below `value`, and its place under both
/// `from` and `to`.
fn each_sealed(
    value: &mut Value,
    from: &SealedAt,
    to: &SealedAt,
    f: &mut dyn FnMut(&mut String, &SealedAt, &SealedAt) -> Result<(), SecretError>,
) -> Result<(), SecretError> {
    let Value::Object(members) = value else { return Ok(()) };
    for (name, member) in members.iter_mut() {
        let (from, to) = (from.child(name), to.child(name));
        match member {
            Value::String(sealed) if name.ends_with("_enc") => f(sealed, &from, &to)?,
            Value::Object(_) => each_sealed(member, &from, &to, f)?,
            _ => {}
        }
    }
    Ok(())
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

/// The `Authorization` header of a sealed auth object stored at `at` (e.g. `push_config.auth`).
pub fn authorization(auth: &Value, key: &MasterKey, at: &SealedAt) -> Result<Option<String>, String> {
    use base64::Engine;
    let open = |field: &str| -> Result<String, String> {
        let sealed = auth.get(field).and_then(Value::as_str).ok_or("sealed secret missing")?;
        key.decrypt(sealed, &at.child(field)).map_err(|e| e.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(sub_key: &str) -> SealedAt {
        SealedAt::subscription_push(sub_key)
    }

    #[test]
    fn secrets_are_sealed_and_hidden_from_the_public_view() {
        let key = MasterKey::generate().unwrap();
        let push = json!({"url": "http://h/x", "auth": {"type": "basic", "username": "u", "password": "pw"}});
        let stored = seal(EndpointType::Rest, &push, &key, &at("s1")).unwrap();
        assert!(!stored.to_string().contains("\"pw\""));
        let shown = public_view(&stored);
        assert_eq!(
            shown,
            json!({"type": "rest", "url": "http://h/x", "auth": {"type": "basic", "username": "u"}})
        );
        let amqp =
            seal(EndpointType::Amqp, &json!({"url": "amqp://g:secret@h/", "exchange": "x"}), &key, &at("s1"))
                .unwrap();
        assert!(!public_view(&amqp).to_string().contains("secret"));
        assert_eq!(public_view(&amqp)["url_display"], "amqp://h/");
    }

    #[test]
    fn malformed_targets_are_refused() {
        let key = MasterKey::generate().unwrap();
        let at = at("s1");
        let refused = |kind, push: Value| seal(kind, &push, &key, &at).expect_err("refused");
        assert_eq!(
            refused(EndpointType::Rest, json!({"url": "ftp://x"})),
            "`push.url` must be an http:// or https:// URL, not `ftp://x`"
        );
        assert_eq!(
            refused(EndpointType::Amqp, json!({"url": "amqp://h"})),
            "`push.exchange` is required for a `amqp` target"
        );
        assert_eq!(
            refused(EndpointType::Files, json!({})),
            "`push.directory` is required for a `files` target"
        );
        assert_eq!(refused(EndpointType::Rest, json!({"url": "http://host/", "bogus": 1})), "unknown field `push.bogus` for a `rest` target (allowed: url, http_method, auth, timeout, ca_file)");
    }

    #[test]
    fn sealed_members_are_bound_to_their_path_and_rebind_to_another_row() {
        let key = MasterKey::generate().unwrap();
        let push = json!({"url": "http://h/x", "auth": {"type": "bearer", "token": "tok"}});
        let stored = seal(EndpointType::Rest, &push, &key, &at("s1")).unwrap();
        let token = stored["auth"]["token_enc"].as_str().unwrap();
        assert_eq!(key.decrypt(token, &at("s1").child("auth").child("token_enc")).unwrap(), "tok");
        assert!(key.decrypt(token, &at("s2").child("auth").child("token_enc")).is_err());

        let moved = rebind(&stored.to_string(), &key, &at("s1"), &at("s2")).unwrap();
        let moved: Value = serde_json::from_str(&moved).unwrap();
        let token = moved["auth"]["token_enc"].as_str().unwrap();
        assert_eq!(key.decrypt(token, &at("s2").child("auth").child("token_enc")).unwrap(), "tok");
        assert_eq!(public_view(&moved), public_view(&stored));
    }

    #[test]
    fn unbound_members_are_resealed_once_and_foreign_ones_left_alone() {
        let key = MasterKey::generate().unwrap();
        let old = key.encrypt_unbound_for_tests("amqp://g:pw@h/").unwrap();
        let mut stored =
            json!({"type": "amqp", "url_enc": old, "exchange": "x", "auth": {"password_enc": "v2:x"}});
        let mut foreign = stored.clone();
        stored["auth"] = json!({});
        assert_eq!(reseal_unbound(&mut stored, &key, &at("s1")).unwrap(), 1);
        let url = stored["url_enc"].as_str().unwrap();
        assert_eq!(key.decrypt(url, &at("s1").child("url_enc")).unwrap(), "amqp://g:pw@h/");
        assert_eq!(reseal_unbound(&mut stored, &key, &at("s1")).unwrap(), 0);

        foreign["auth"]["password_enc"] =
            json!(MasterKey::generate().unwrap().encrypt_unbound_for_tests("x").unwrap());
        let before = foreign.clone();
        let err = reseal_unbound(&mut foreign, &key, &at("s1")).unwrap_err();
        assert!(err.to_string().contains("pubsub_sub[s1].push_config.auth.password_enc"), "{err}");
        assert_eq!(foreign, before, "left as it was");
    }
}
