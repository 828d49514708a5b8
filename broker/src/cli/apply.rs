//! `signalbox apply FILE.toml` and `signalbox export`.
//!
//! The file lists `[[topic]]`, `[[endpoint]]` and `[[subscription]]` tables whose keys are the
//! admin API's field names. Apply creates what is missing and edits only the fields that differ,
//! so running it twice changes nothing the second time. A key ending in `_env` (anywhere, e.g.
//! `push.auth.password_env = "CRM_PASSWORD"`) is replaced by the variable's value under the key
//! without the suffix, so files hold no secrets. Export writes the same format back, without
//! secrets, and round-trips with apply.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::client::{Client, ClientError};

/// Fields the server adds that are not configuration, left out of exports and comparisons.
const DERIVED: &[&str] = &[
    "id",
    "created_at",
    "last_pub_time",
    "last_seen",
    "creation_time",
    "sub_key",
    "node",
    "sub_pattern_matched",
    "is_wsx",
    "username",
];

pub fn apply(client: &Client, file: &Path, dry_run: bool) -> Result<Value, ClientError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ClientError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let doc: toml::Table = toml::from_str(&text)
        .map_err(|e| ClientError::Usage(format!("bad apply file {}: {}", file.display(), e.message())))?;
    let doc = resolve_env(serde_json::to_value(doc).map_err(|e| ClientError::Usage(e.to_string()))?)?;
    if let Some(unknown) = doc.as_object().and_then(|o| {
        o.keys().find(|k| {
            !["topic", "endpoint", "subscription", "service", "file_channel", "channel", "link"]
                .contains(&k.as_str())
        })
    }) {
        return Err(ClientError::Usage(format!(
            "unknown section `{unknown}` (expected topic, endpoint, subscription, service, file_channel, channel, link)"
        )));
    }
    let mut changes = Vec::new();
    let mut revealed = Vec::new();

    for (section, collection) in [("channel", "/channels"), ("topic", "/topics"), ("endpoint", "/endpoints")]
    {
        apply_named(client, &doc, section, collection, &[], dry_run, &mut changes, &mut revealed)?;
    }
    // Services before subscriptions: a `srv` push target or hook may name one.
    let services = client.get("/services")?.as_array().cloned().unwrap_or_default();
    for wanted in entries(&doc, "service")? {
        let name = required(&wanted, "name", "service")?;
        let existing = services.iter().find(|s| s["name"] == name);
        match existing {
            Some(current) if wanted.iter().all(|(k, v)| same(&current[k.as_str()], v)) => {}
            Some(_) => {
                // Services are replaced, not edited: the new definition takes the name.
                changes.push(format!("~ service {name}: replaced"));
                if !dry_run {
                    client.delete(&format!("/services/{}", super::client::encode(&name)))?;
                    client.post("/services", &Value::Object(wanted.clone()))?;
                }
            }
            None => {
                changes.push(format!("+ service {name}"));
                if !dry_run {
                    client.post("/services", &Value::Object(wanted.clone()))?;
                }
            }
        }
    }
    let subs = client.list_all("/subscriptions")?;
    for wanted in entries(&doc, "subscription")? {
        let topic = required(&wanted, "topic_name", "subscription")?;
        let endpoint = required(&wanted, "endpoint", "subscription")?;
        let label = format!("{topic} ← {endpoint}");
        let existing = subs
            .iter()
            .find(|s| s["topic_name"] == topic && s["endpoint"] == endpoint && s["is_wsx"] == false);
        let mut wanted = wanted.clone();
        if existing.is_some() {
            // Identity fields cannot be edited; they are how the subscription was found.
            wanted.remove("topic_name");
            wanted.remove("endpoint");
        }
        sync(
            client,
            "/subscriptions",
            "subscription",
            &label,
            existing,
            &wanted,
            dry_run,
            &mut changes,
            &mut revealed,
        )?;
    }
    apply_named(client, &doc, "file_channel", "/file-channels", &[], dry_run, &mut changes, &mut revealed)?;
    apply_named(client, &doc, "link", "/links", &["secret"], dry_run, &mut changes, &mut revealed)?;
    Ok(json!({"dry_run": dry_run, "changes": changes, "credentials": revealed}))
}

/// Applies a section whose objects are known by `name`. `write_only` fields are sent when an
/// object is created only: the server never shows them back, so they cannot be compared.
#[allow(clippy::too_many_arguments)]
fn apply_named(
    client: &Client,
    doc: &Value,
    section: &str,
    collection: &str,
    write_only: &[&str],
    dry_run: bool,
    changes: &mut Vec<String>,
    revealed: &mut Vec<Value>,
) -> Result<(), ClientError> {
    let current = client.list_all(collection)?;
    for mut wanted in entries(doc, section)? {
        let name = required(&wanted, "name", section)?;
        let existing = current.iter().find(|o| o["name"] == name);
        if existing.is_some() {
            for field in write_only {
                wanted.remove(*field);
            }
        }
        sync(client, collection, section, &name, existing, &wanted, dry_run, changes, revealed)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn sync(
    client: &Client,
    collection: &str,
    kind: &str,
    label: &str,
    existing: Option<&Value>,
    wanted: &Map<String, Value>,
    dry_run: bool,
    changes: &mut Vec<String>,
    revealed: &mut Vec<Value>,
) -> Result<(), ClientError> {
    match existing {
        None => {
            changes.push(format!("+ {kind} {label}"));
            if !dry_run {
                let created = client.post(collection, &Value::Object(wanted.clone()))?;
                for secret in ["password", "api_key"] {
                    if let Some(v) = created.get(secret) {
                        revealed.push(json!({"endpoint": label, secret: v}));
                    }
                }
            }
        }
        Some(current) => {
            let diff: Map<String, Value> = wanted
                .iter()
                .filter(|(k, v)| !same(&current[k.as_str()], v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if diff.is_empty() {
                return Ok(());
            }
            for (k, v) in &diff {
                changes.push(format!("~ {kind} {label}: {k} {} → {v}", current[k.as_str()]));
            }
            if !dry_run {
                let id = current.get("sub_key").unwrap_or(&current["id"]);
                let id = id.as_str().map(str::to_owned).unwrap_or_else(|| id.to_string());
                client
                    .patch(&format!("{collection}/{}", super::client::encode(&id)), &Value::Object(diff))?;
            }
        }
    }
    Ok(())
}

/// Equal as configuration: numbers by value (30 = 30.0); objects by the keys wanted, ignoring
/// secrets, which the server never shows back.
fn same(current: &Value, wanted: &Value) -> bool {
    match (current, wanted) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Object(a), Value::Object(b)) => b.iter().all(|(k, v)| {
            if matches!(k.as_str(), "password" | "token" | "secret") {
                return true;
            }
            if k == "url" && a.contains_key("url_display") {
                return a["url_display"].as_str().is_some_and(|d| {
                    v.as_str().is_some_and(|u| u.ends_with(d.split("://").nth(1).unwrap_or(d)))
                });
            }
            a.get(k).is_some_and(|cur| same(cur, v))
        }),
        (a, b) => a == b,
    }
}

fn entries(doc: &Value, section: &str) -> Result<Vec<Map<String, Value>>, ClientError> {
    match doc.get(section) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_object()
                    .cloned()
                    .ok_or_else(|| ClientError::Usage(format!("each [[{section}]] must be a table")))
            })
            .collect(),
        Some(_) => Err(ClientError::Usage(format!("`{section}` must be written [[{section}]]"))),
    }
}

fn required(entry: &Map<String, Value>, field: &str, kind: &str) -> Result<String, ClientError> {
    entry
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ClientError::Usage(format!("a [[{kind}]] needs `{field}`")))
}

/// Replaces every `KEY_env = "VAR"` by `KEY = <value of VAR>`.
fn resolve_env(value: Value) -> Result<Value, ClientError> {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if let Some(field) = k.strip_suffix("_env") {
                    let var = v.as_str().ok_or_else(|| {
                        ClientError::Usage(format!("`{k}` must name an environment variable"))
                    })?;
                    let secret = std::env::var(var).map_err(|_| {
                        ClientError::Usage(format!("environment variable {var} (for `{k}`) is not set"))
                    })?;
                    out.insert(field.to_owned(), Value::String(secret));
                } else {
                    out.insert(k, resolve_env(v)?);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            Ok(Value::Array(items.into_iter().map(resolve_env).collect::<Result<_, _>>()?))
        }
        other => Ok(other),
    }
}

/// The whole configuration as an apply file, printed as TOML.
pub fn export(client: &Client) -> Result<Value, ClientError> {
    let clean = |mut v: Value, extra: &[&str]| {
        if let Some(o) = v.as_object_mut() {
            o.retain(|k, v| !DERIVED.contains(&k.as_str()) && !extra.contains(&k.as_str()) && !v.is_null());
        }
        v
    };
    let topics: Vec<Value> = client.list_all("/topics")?.into_iter().map(|t| clean(t, &[])).collect();
    let endpoints: Vec<Value> = client
        .list_all("/endpoints")?
        .into_iter()
        .map(|e| {
            let username_is_name = e["username"].is_null() || e["username"] == e["name"];
            let keep_username = (!username_is_name).then(|| e["username"].clone());
            let mut e = clean(e, &[]);
            if let Some(u) = keep_username {
                e["username"] = u;
            }
            e
        })
        .collect();
    let subs: Vec<Value> = client
        .list_all("/subscriptions")?
        .into_iter()
        .filter(|s| s["is_wsx"] == false)
        .map(|s| clean(s, &["id"]))
        .collect();
    let services: Vec<Value> = client
        .get("/services")?
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s["kind"] != "builtin")
        .map(|s| clean(s, &[]))
        .collect();
    let file_channels: Vec<Value> =
        client.list_all("/file-channels")?.into_iter().map(|c| clean(c, &[])).collect();
    let channels: Vec<Value> = client.list_all("/channels")?.into_iter().map(|c| clean(c, &[])).collect();
    let doc = json!({"channel": channels, "topic": topics, "endpoint": endpoints, "service": services, "subscription": subs,
                     "file_channel": file_channels});
    let text = toml::to_string(&doc).map_err(|e| ClientError::Transport(e.to_string()))?;
    print!(
        "# signalbox export: apply with `signalbox apply FILE.toml`. Secrets are not exported;\n\
            # give them with KEY_env = \"VARIABLE\".\n{text}"
    );
    Ok(Value::Null)
}
