//! `signalbox export`: the node's configuration as an apply file.
//!
//! Only configuration: each table keeps the fields `apply` takes for it ([`SECTIONS`]), so ids,
//! timestamps, depths, counters, owners, link states and WSX sessions' own subscriptions stay out,
//! and applying the file to a fresh node gives a node whose export is the same file. Secrets are
//! never shown back by the node, so they are not exported either; the file's header names each one
//! that applying it elsewhere will need (`FIELD_env = "VARIABLE"`). docs/CLI.md documents the format.

use serde_json::{Map, Value};

use super::client::{Client, ClientError};
use super::Output;

/// One `[[table]]` of the file.
struct Section {
    /// Its name in the file, as `apply` reads it.
    table: &'static str,
    /// The admin collection it is read from.
    path: &'static str,
    /// The fields exported, in this order; the first ones identify the object.
    fields: &'static [&'static str],
    /// More fields, after those: a list kept where the fields are defined.
    more: &'static [&'static str],
}

impl Section {
    fn fields(&self) -> impl Iterator<Item = &'static str> {
        self.fields.iter().chain(self.more).copied()
    }
}

/// In the order `apply` creates them: what an object names exists before it.
const SECTIONS: &[Section] = &[
    Section {
        table: "channel",
        path: "/channels",
        fields: &[
            "name",
            "path",
            "service",
            "allowed_services",
            "new_token_wait_time",
            "token_ttl",
            "ping_interval",
            "pings_missed_threshold",
            "max_frame_size",
        ],
        more: &[],
    },
    Section {
        table: "topic",
        path: "/topics",
        fields: &[
            "name",
            "is_active",
            "has_gd",
            "is_api_sub_allowed",
            "max_depth_gd",
            "max_depth_non_gd",
            "on_overflow_non_gd",
            "limit_message_expiry",
            "limit_sub_inactivity",
            "on_no_subs_pub",
            "dedup_window",
        ],
        more: &[],
    },
    Section {
        table: "endpoint",
        path: "/endpoints",
        fields: &["name", "role", "endpoint_type", "auth", "username", "topic_patterns", "wsx_channel"],
        more: &[],
    },
    Section {
        table: "service",
        path: "/services",
        fields: &["name", "kind", "url", "timeout", "auth", "topic_name", "endpoint"],
        more: &[],
    },
    Section {
        table: "subscription",
        path: "/subscriptions",
        fields: &["topic_name", "endpoint"],
        more: crate::node::subscriptions::OPTION_FIELDS,
    },
    Section {
        table: "file_channel",
        path: "/file-channels",
        fields: &["name", "directory", "topic_name", "endpoint", "poll_interval"],
        more: &[],
    },
    Section {
        table: "link",
        path: "/links",
        fields: &[
            "name",
            "address",
            "username",
            "is_zato",
            "subscription_list",
            "on_connect",
            "on_message",
            "on_close",
            "ping_interval",
            "auto_reconnect",
            "max_connect_attempts",
            "invoke_timeout",
            "ca_file",
        ],
        more: &[],
    },
];

const HEADER: &str = "\
# Signalbox configuration, as `signalbox export` writes it: apply it with `signalbox apply FILE`.
# Configuration only: no ids, timestamps, depths, counters or owners, and no secrets.
";

pub fn export(client: &Client, as_json: bool) -> Result<Output, ClientError> {
    let mut doc = Map::new();
    let mut secrets = Vec::new();
    for section in SECTIONS {
        let mut objects = Vec::new();
        for object in read(client, section)? {
            if let Some(object) = configuration(section, &object) {
                secrets.extend(
                    secrets_of(section, &object).into_iter().map(|field| (label(section, &object), field)),
                );
                objects.push(Value::Object(object));
            }
        }
        if !objects.is_empty() {
            doc.insert(section.table.into(), Value::Array(objects));
        }
    }
    if as_json {
        return Ok(Output::Value(Value::Object(doc)));
    }
    let mut text = HEADER.to_owned();
    if !secrets.is_empty() {
        text.push_str(
            "# Secrets to add before applying this file to another node, each as FIELD_env = \"VARIABLE\"\n\
             # (the variable holding it) in its table:\n",
        );
        for (object, field) in &secrets {
            text.push_str(&format!("#   {object}: {field}\n"));
        }
    }
    for section in SECTIONS {
        for object in doc.get(section.table).and_then(Value::as_array).into_iter().flatten() {
            text.push_str(&format!("\n[[{}]]\n", section.table));
            // serde_json's map is sorted: the section's order is kept by reading in that order.
            for field in section.fields() {
                if let Some(value) = object.get(field) {
                    text.push_str(&format!("{field} = {}\n", toml_value(value)?));
                }
            }
        }
    }
    Ok(Output::Text(text))
}

fn read(client: &Client, section: &Section) -> Result<Vec<Value>, ClientError> {
    if section.table == "service" {
        // Not paged: the node holds few services.
        return Ok(client.get(section.path)?.as_array().cloned().unwrap_or_default());
    }
    client.list_all(section.path)
}

/// The object's configuration; `None` when the object is not
/// configuration at all (built-in services, subscriptions WSX clients made for themselves).
fn configuration(section: &Section, object: &Value) -> Option<Map<String, Value>> {
    let skip = match section.table {
        "service" => object["kind"] == "builtin",
        "subscription" => object["is_wsx"] == true,
        _ => false,
    };
    if skip {
        return None;
    }
    let mut out = Map::new();
    for field in section.fields() {
        let value = without_nulls(&object[field]);
        let implied = match (section.table, field) {
            // The username defaults to the endpoint's name.
            ("endpoint", "username") => value == object["name"],
            _ => false,
        };
        if !value.is_null() && !implied {
            out.insert(field.into(), value);
        }
    }
    if let Some(Value::Object(push)) = out.get_mut("push") {
        // `type` is the endpoint's type; `url_display` stands for an AMQP URL, which is sealed
        // because it may hold a password.
        push.remove("type");
        push.remove("url_display");
    }
    Some(out)
}

/// The secrets an object was created with that the node does not show back, by field path.
fn secrets_of(section: &Section, object: &Map<String, Value>) -> Vec<String> {
    let auth_secret = |auth: &Value, at: &str| match auth["type"].as_str() {
        Some("basic") => vec![format!("{at}password")],
        Some("bearer") => vec![format!("{at}token")],
        _ => vec![],
    };
    match section.table {
        "subscription" => {
            let push = object.get("push").cloned().unwrap_or(Value::Null);
            let mut out = auth_secret(&push["auth"], "push.auth.");
            // An AMQP target's `url` is sealed whole; the others show theirs.
            if push.is_object() && push.get("exchange").is_some() {
                out.push("push.url".into());
            }
            out
        }
        "service" => auth_secret(object.get("auth").unwrap_or(&Value::Null), "auth."),
        "link" => vec!["secret".into()],
        _ => vec![],
    }
}

/// How an object is named in the header: `[[subscription]] /orders/new ← crm`.
fn label(section: &Section, object: &Map<String, Value>) -> String {
    let text = |field: &str| object.get(field).and_then(Value::as_str).unwrap_or("?").to_owned();
    match section.table {
        "subscription" => format!("[[subscription]] {} ← {}", text("topic_name"), text("endpoint")),
        table => format!("[[{table}]] {}", text("name")),
    }
}

/// TOML has no null: a null member is an unset one.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// One value in TOML's inline syntax (`{ url = "…" }` for an object).
fn toml_value(value: &Value) -> Result<String, ClientError> {
    toml::Value::try_from(value)
        .map(|v| v.to_string())
        .map_err(|e| ClientError::Transport(format!("cannot write {value} as TOML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn section(table: &str) -> &'static Section {
        SECTIONS.iter().find(|s| s.table == table).unwrap()
    }

    #[test]
    fn runtime_fields_are_left_out_of_a_topic() {
        let topic = json!({"id": 7, "name": "/t", "has_gd": true, "depth_gd": 3, "subscriptions": 1,
                           "last_pub_msg_id": "zpsm1", "last_pub_time": "2024-01-01T00:00:00Z",
                           "created_at": "2024-01-01T00:00:00Z", "dedup_window": 120});
        let out = configuration(section("topic"), &topic).unwrap();
        assert_eq!(Value::Object(out), json!({"name": "/t", "has_gd": true, "dedup_window": 120}));
    }

    #[test]
    fn subscriptions_lose_owner_and_key_and_push_targets_their_derived_members() {
        let sub = json!({"sub_key": "zpsk.rest.1", "node": "n1", "creation_time": "…", "is_wsx": false,
                         "topic_name": "/t", "endpoint": "e", "ack_mode": "auto",
                         "push": {"type": "amqp", "url_display": "amqp://h/", "exchange": "x", "routing_key": null}});
        let out = configuration(section("subscription"), &sub).unwrap();
        assert_eq!(
            Value::Object(out.clone()),
            json!({"topic_name": "/t", "endpoint": "e", "ack_mode": "auto", "push": {"exchange": "x"}})
        );
        assert_eq!(secrets_of(section("subscription"), &out), ["push.url"]);
        assert!(configuration(section("subscription"), &json!({"is_wsx": true})).is_none());
    }

    #[test]
    fn an_endpoint_username_equal_to_its_name_is_implied() {
        let e = json!({"name": "crm", "username": "crm", "auth": "basic", "last_seen": "…"});
        assert_eq!(
            Value::Object(configuration(section("endpoint"), &e).unwrap()),
            json!({"name": "crm", "auth": "basic"})
        );
    }

    #[test]
    fn objects_are_written_as_inline_toml() {
        assert_eq!(
            toml_value(&json!({"url": "http://h/x", "auth": {"type": "basic"}})).unwrap(),
            r#"{ auth = { type = "basic" }, url = "http://h/x" }"#
        );
        assert_eq!(toml_value(&json!(30.0)).unwrap(), "30.0");
        assert_eq!(toml_value(&json!(["pub=/a/*"])).unwrap(), r#"["pub=/a/*"]"#);
    }
}
