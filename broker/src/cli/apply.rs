//! `signalbox apply FILE.toml`.
//!
//! The file lists `[[channel]]`, `[[topic]]`, `[[endpoint]]`, `[[service]]`, `[[subscription]]`,
//! `[[file_channel]]` and `[[link]]` tables whose keys are the admin API's field names; `export`
//! writes the same format and docs/CLI.md documents it. Apply creates what is missing and edits
//! only the fields that differ, so running it twice changes nothing the second time; it never
//! deletes. A key ending in `_env` (anywhere, e.g. `push.auth.password_env = "CRM_PASSWORD"`) is
//! replaced by the variable's value under the key without the suffix, so files hold no secrets.
//!
//! It reports one line per object and per changed field (`created topic /orders/new`,
//! `updated topic /orders/new: max_depth_gd 500 → 600`, `unchanged endpoint crm`), then, as a
//! table, the credentials the node made for new endpoints: they are shown this once.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::client::{encode, Client, ClientError};
use super::{table, Output};

/// The tables of a file, in the order they are applied: what an object names exists before it
/// (a channel before the endpoints that log in there, services before the subscriptions and
/// links that call them).
const SECTIONS: &[&str] =
    &["channel", "topic", "endpoint", "service", "subscription", "file_channel", "link"];

/// What apply did, or in a dry run would do.
struct Report {
    dry_run: bool,
    /// One line per created, replaced or updated object (per field, for an update).
    changes: Vec<String>,
    /// One line per object already as the file wants it.
    unchanged: Vec<String>,
    /// Both, in the order objects were applied: what a person reads.
    lines: Vec<String>,
    /// `{endpoint, username, password | api_key}` of each endpoint created.
    credentials: Vec<Value>,
}

impl Report {
    fn verb(&self, done: &'static str, planned: &'static str) -> &'static str {
        if self.dry_run {
            planned
        } else {
            done
        }
    }

    fn created(&mut self, what: &str) {
        let line = format!("{} {what}", self.verb("created", "would create"));
        self.change(line);
    }

    fn updated(&mut self, what: &str, field: &str, from: &Value, to: &Value) {
        let line = format!("{} {what}: {field} {from} → {to}", self.verb("updated", "would update"));
        self.change(line);
    }

    /// A service that differs: `fields` are (field, current, wanted).
    fn replaced(&mut self, what: &str, fields: &[(&String, &Value, &Value)]) {
        let fields: Vec<String> = fields.iter().map(|(k, from, to)| format!("{k} {from} → {to}")).collect();
        let line = format!("{} {what}: {}", self.verb("replaced", "would replace"), fields.join(", "));
        self.change(line);
    }

    fn change(&mut self, line: String) {
        self.lines.push(line.clone());
        self.changes.push(line);
    }

    fn unchanged(&mut self, what: &str) {
        let line = format!("unchanged {what}");
        self.lines.push(line.clone());
        self.unchanged.push(line);
    }

    /// Remembers the credentials in a create answer, if it has any.
    fn revealed(&mut self, created: &Value) {
        for secret in ["password", "api_key"] {
            if let Some(value) = created.get(secret) {
                self.credentials.push(json!({
                    "endpoint": created["name"], "username": created["username"], secret: value,
                }));
            }
        }
    }

    fn into_output(self, as_json: bool) -> Output {
        if as_json {
            return Output::Value(json!({
                "dry_run": self.dry_run, "changes": self.changes, "unchanged": self.unchanged,
                "credentials": self.credentials,
            }));
        }
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        if text.is_empty() {
            text.push_str("nothing to apply: the file lists no objects\n");
        }
        if !self.credentials.is_empty() {
            let rows: Vec<Value> = self
                .credentials
                .iter()
                .map(|c| {
                    let secret = c.get("password").or_else(|| c.get("api_key")).cloned().unwrap_or_default();
                    json!({"endpoint": c["endpoint"], "username": c["username"], "password / api key": secret})
                })
                .collect();
            text.push_str("\nCredentials of the endpoints created, shown this once:\n");
            text.push_str(&table::render(
                &Value::Array(rows),
                &["endpoint", "username", "password / api key"],
            ));
            text.push('\n');
        }
        Output::Text(text)
    }
}

pub fn apply(client: &Client, file: &Path, dry_run: bool, as_json: bool) -> Result<Output, ClientError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ClientError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let doc: toml::Table = toml::from_str(&text)
        .map_err(|e| ClientError::Usage(format!("bad apply file {}: {}", file.display(), e.message())))?;
    let doc = resolve_env(serde_json::to_value(doc).map_err(|e| ClientError::Usage(e.to_string()))?)?;
    if let Some(unknown) = doc.as_object().and_then(|o| o.keys().find(|k| !SECTIONS.contains(&k.as_str()))) {
        return Err(ClientError::Usage(format!(
            "unknown table `{unknown}` (expected {})",
            SECTIONS.join(", ")
        )));
    }
    // Every object must be identifiable before anything changes.
    for section in SECTIONS {
        let identity: &[&str] =
            if *section == "subscription" { &["topic_name", "endpoint"] } else { &["name"] };
        for entry in entries(&doc, section)? {
            for field in identity {
                required(&entry, field, section)?;
            }
        }
    }
    let mut report = Report {
        dry_run,
        changes: Vec::new(),
        unchanged: Vec::new(),
        lines: Vec::new(),
        credentials: Vec::new(),
    };
    for (section, collection) in [("channel", "/channels"), ("topic", "/topics"), ("endpoint", "/endpoints")]
    {
        apply_named(client, &doc, section, collection, &[], &mut report)?;
    }
    apply_services(client, &doc, &mut report)?;
    apply_subscriptions(client, &doc, &mut report)?;
    apply_named(client, &doc, "file_channel", "/file-channels", &[], &mut report)?;
    apply_named(client, &doc, "link", "/links", &["secret"], &mut report)?;
    Ok(report.into_output(as_json))
}

/// Services cannot be edited: one that differs is deleted and created again under its name.
fn apply_services(client: &Client, doc: &Value, report: &mut Report) -> Result<(), ClientError> {
    let services = client.get("/services")?.as_array().cloned().unwrap_or_default();
    for wanted in entries(doc, "service")? {
        let name = required(&wanted, "name", "service")?;
        let what = format!("service {name}");
        match services.iter().find(|s| s["name"] == name) {
            Some(current) => {
                let differ: Vec<(&String, &Value, &Value)> = wanted
                    .iter()
                    .filter(|(k, v)| !same(&current[k.as_str()], v))
                    .map(|(k, v)| (k, &current[k.as_str()], v))
                    .collect();
                if differ.is_empty() {
                    report.unchanged(&what);
                    continue;
                }
                report.replaced(&what, &differ);
                if !report.dry_run {
                    client.delete(&format!("/services/{}", encode(&name)))?;
                    client.post("/services", &Value::Object(wanted.clone()))?;
                }
            }
            None => {
                report.created(&what);
                if !report.dry_run {
                    client.post("/services", &Value::Object(wanted.clone()))?;
                }
            }
        }
    }
    Ok(())
}

/// Subscriptions are known by topic and endpoint (the sub_key is the node's to choose); those
/// WSX clients made for themselves are not configuration.
fn apply_subscriptions(client: &Client, doc: &Value, report: &mut Report) -> Result<(), ClientError> {
    let subs = client.list_all("/subscriptions")?;
    for mut wanted in entries(doc, "subscription")? {
        let topic = required(&wanted, "topic_name", "subscription")?;
        let endpoint = required(&wanted, "endpoint", "subscription")?;
        let existing = subs
            .iter()
            .find(|s| s["topic_name"] == topic && s["endpoint"] == endpoint && s["is_wsx"] == false);
        if existing.is_some() {
            // Identity fields cannot be edited; they are how the subscription was found.
            wanted.remove("topic_name");
            wanted.remove("endpoint");
        }
        let what = format!("subscription {topic} ← {endpoint}");
        sync(client, "/subscriptions", &what, existing, &wanted, report)?;
    }
    Ok(())
}

/// Applies a section whose objects are known by `name`. `write_only` fields are sent when an
/// object is created only: the server never shows them back, so they cannot be compared.
fn apply_named(
    client: &Client,
    doc: &Value,
    section: &str,
    collection: &str,
    write_only: &[&str],
    report: &mut Report,
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
        let what = format!("{} {name}", section.replace('_', " "));
        sync(client, collection, &what, existing, &wanted, report)?;
    }
    Ok(())
}

/// Creates the object, or edits the fields of it that differ.
fn sync(
    client: &Client,
    collection: &str,
    what: &str,
    existing: Option<&Value>,
    wanted: &Map<String, Value>,
    report: &mut Report,
) -> Result<(), ClientError> {
    let Some(current) = existing else {
        report.created(what);
        if !report.dry_run {
            let created = client.post(collection, &Value::Object(wanted.clone()))?;
            report.revealed(&created);
        }
        return Ok(());
    };
    let diff: Map<String, Value> = wanted
        .iter()
        .filter(|(k, v)| !same(&current[k.as_str()], v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if diff.is_empty() {
        report.unchanged(what);
        return Ok(());
    }
    for (field, value) in &diff {
        report.updated(what, field, &current[field.as_str()], value);
    }
    if !report.dry_run {
        let id = current.get("sub_key").unwrap_or(&current["id"]);
        let id = id.as_str().map(str::to_owned).unwrap_or_else(|| id.to_string());
        client.patch(&format!("{collection}/{}", encode(&id)), &Value::Object(diff))?;
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
