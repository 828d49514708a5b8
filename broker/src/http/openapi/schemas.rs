//! The admin API's objects as OpenAPI 3.0 schemas (`components.schemas`).
//!
//! Request schemas are as strict as the handlers: every bound, enum and unknown-field refusal a
//! handler enforces is stated here, so a client generated from the document — or a fuzzer — sends
//! what the node accepts, and anything this forbids is refused with a 400. Fields a request may
//! leave out are `nullable`: serde reads `null` as "not given" (the default on create, unchanged
//! on edit). Response schemas name every field a client can rely on and allow more, so a new
//! field is not a breaking change.

use serde_json::{json, Map, Value};
use signalbox_schema::{AckMode, AuthKind, DeliveryMethod, EndpointType, NoSubsPolicy, OverflowPolicy, Role};

use crate::node::publish_input::MAX_SECONDS;
use crate::node::subscriptions::{ACTIVE_STATUSES, MAX_IN_FLIGHT, MAX_WAIT_SECS};

/// Largest depth a topic takes (`max_depth_gd`, `max_depth_non_gd`).
const MAX_DEPTH: i64 = 1_000_000_000;

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn int(min: i64, max: Option<i64>) -> Value {
    let mut s = json!({"type": "integer", "format": "int64", "minimum": min});
    if let Some(max) = max {
        s["maximum"] = json!(max);
    }
    s
}

fn number(min: f64, max: f64) -> Value {
    json!({"type": "number", "minimum": min, "maximum": max})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn text(min: u64, max: u64) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max})
}

/// A name: 1–200 characters, not only white space.
fn name() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"})
}

fn one_of(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

/// Any JSON value.
fn any() -> Value {
    json!({})
}

/// `null` allowed too (OpenAPI 3.0: an `enum` must then list it as well).
fn nullable(mut schema: Value) -> Value {
    schema["nullable"] = json!(true);
    if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        values.push(Value::Null);
    }
    schema
}

/// A message's `data`: any JSON but null, `""`, `[]` or `{}`.
fn data() -> Value {
    json!({"description": "Any JSON but null, \"\", [] or {}.", "not": {"enum": [null, "", [], {}]}})
}

/// A request object: `required` fields as given, every other one nullable, nothing else.
fn input(required: &[&str], fields: &[(&str, Value)]) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| {
            let v = if required.contains(k) || v.as_object().is_some_and(Map::is_empty) {
                v.clone()
            } else {
                nullable(v.clone())
            };
            ((*k).to_owned(), v)
        })
        .collect();
    let mut s = json!({"type": "object", "additionalProperties": false, "properties": properties});
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    s
}

/// An answer object: these fields at least, the `required` ones always present.
fn output(required: &[&str], fields: &[(&str, Value)]) -> Value {
    let properties: Map<String, Value> = fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    json!({"type": "object", "required": required, "properties": properties})
}

/// Every schema of `components.schemas`.
pub fn all() -> Value {
    let mut s = Map::new();
    let mut put = |name: &str, schema: Value| {
        s.insert(name.to_owned(), schema);
    };
    put(
        "Error",
        json!({
            "type": "object",
            "description": "Every error answer (Zato's envelope).",
            "required": ["result", "cid", "details"],
            "properties": {
                "result": {"type": "string", "enum": ["Error"]},
                "cid": {"type": "string", "description": "Correlation id, also in the node's log."},
                "details": {"type": "string", "description": "What was wrong and why."},
            },
        }),
    );
    put("Empty", json!({"type": "object", "description": "Done; nothing more to say."}));
    put("AnyJson", json!({"description": "Any JSON value."}));
    put("Object", json!({"type": "object"}));
    topics(&mut put);
    endpoints(&mut put);
    subscriptions(&mut put);
    messages(&mut put);
    services(&mut put);
    channels(&mut put);
    links(&mut put);
    operations(&mut put);
    Value::Object(s)
}

fn topic_fields() -> Vec<(&'static str, Value)> {
    vec![
        (
            "name",
            json!({"type": "string", "pattern": "^[!-~]{1,200}$",
            "description": "1–200 printable ASCII characters without spaces."}),
        ),
        ("is_active", boolean()),
        ("has_gd", boolean()),
        ("is_api_sub_allowed", boolean()),
        ("max_depth_gd", int(1, Some(MAX_DEPTH))),
        ("max_depth_non_gd", int(1, Some(MAX_DEPTH))),
        ("on_overflow_non_gd", one_of(OverflowPolicy::NAMES)),
        ("limit_message_expiry", int(1, Some(MAX_SECONDS))),
        ("limit_sub_inactivity", int(0, Some(MAX_SECONDS))),
        ("on_no_subs_pub", one_of(NoSubsPolicy::NAMES)),
        ("dedup_window", int(0, Some(MAX_SECONDS))),
    ]
}

fn topics(put: &mut impl FnMut(&str, Value)) {
    put("TopicCreate", input(&["name"], &topic_fields()));
    put("TopicEdit", input(&[], &topic_fields()));
    let mut fields = topic_fields();
    fields.extend([
        ("id", int(1, None)),
        ("created_at", time()),
        ("depth_gd", nullable(int(0, None))),
        ("depth_non_gd", nullable(int(0, None))),
        ("subscriptions", int(0, None)),
        ("last_pub_msg_id", nullable(string())),
        ("last_pub_endpoint", nullable(string())),
        ("last_pub_time", nullable(time())),
    ]);
    let required = [
        "id",
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
        "created_at",
    ];
    put("Topic", output(&required, &fields));
}

fn endpoint_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("name", name()),
        ("role", one_of(Role::NAMES)),
        ("endpoint_type", one_of(EndpointType::NAMES)),
        (
            "topic_patterns",
            json!({"type": "array", "items": {"type": "string", "pattern": "^(?:[^\\S\\n\\r]|\\x85)*(pub|sub)=[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*(?:[^\\S\\n\\r]|\\x85)*$"},
            "description": "`pub=GLOB` / `sub=GLOB` lines; the first match wins."}),
        ),
        ("auth", one_of(AuthKind::NAMES)),
        ("username", json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^:]*$"})),
        ("wsx_channel", string()),
    ]
}

fn endpoints(put: &mut impl FnMut(&str, Value)) {
    put("EndpointCreate", input(&["name", "role"], &endpoint_fields()));
    // `auth` cannot be changed in place (delete the endpoint and create it again).
    let edit: Vec<_> = endpoint_fields().into_iter().filter(|(k, _)| *k != "auth").collect();
    put("EndpointEdit", input(&[], &edit));
    let mut fields = endpoint_fields();
    fields.retain(|(k, _)| !["username", "wsx_channel"].contains(k));
    fields.extend([
        ("id", int(1, None)),
        ("username", nullable(string())),
        ("wsx_channel", nullable(string())),
        ("created_at", time()),
        ("last_seen", nullable(time())),
    ]);
    let required = ["id", "name", "role", "endpoint_type", "topic_patterns", "auth", "created_at"];
    put("Endpoint", output(&required, &fields));
    put(
        "EndpointWithSecret",
        json!({"allOf": [reference("Endpoint"), {
            "type": "object",
            "description": "The new password (auth basic) or API key (auth api_key), shown this once.",
            "properties": {"password": string(), "api_key": {"type": "string", "pattern": "^sbk_"}},
        }]}),
    );
}

fn subscription_options() -> Vec<(&'static str, Value)> {
    vec![
        ("delivery_method", one_of(DeliveryMethod::NAMES)),
        ("ack_mode", one_of(AckMode::NAMES)),
        ("ack_timeout", number(0.001, MAX_WAIT_SECS)),
        ("delivery_batch_size", int(1, Some(10_000))),
        ("wrap_one_msg_in_list", boolean()),
        ("delivery_max_retry", int(1, None)),
        ("delivery_err_should_block", boolean()),
        ("wait_sock_err", number(0.0, MAX_WAIT_SECS)),
        ("wait_non_sock_err", number(0.0, MAX_WAIT_SECS)),
        ("active_status", one_of(ACTIVE_STATUSES)),
        ("max_in_flight", int(1, Some(MAX_IN_FLIGHT))),
        (
            "push",
            json!({"type": "object",
            "description": "The push target of a `notify` subscription, by endpoint type: rest {url, http_method, auth}, \
                            soap {url, soap_action}, amqp {url, exchange, routing_key}, files {directory}, srv {service}."}),
        ),
    ]
}

fn subscriptions(put: &mut impl FnMut(&str, Value)) {
    let mut create = subscription_options();
    create.extend([("topic_name", string()), ("endpoint", string())]);
    put("SubscriptionCreate", input(&["topic_name", "endpoint"], &create));
    put("SubscriptionEdit", input(&[], &subscription_options()));
    let mut fields = subscription_options();
    fields.retain(|(k, _)| *k != "push");
    fields.extend([
        ("id", int(1, None)),
        ("sub_key", string()),
        ("topic_name", string()),
        ("endpoint", string()),
        ("creation_time", time()),
        ("sub_pattern_matched", string()),
        ("push", nullable(json!({"type": "object", "description": "The target, secrets left out."}))),
        ("is_wsx", boolean()),
        ("node", nullable(json!({"type": "string", "description": "The node that delivers it."}))),
    ]);
    let required = [
        "id",
        "sub_key",
        "topic_name",
        "endpoint",
        "creation_time",
        "delivery_method",
        "ack_mode",
        "ack_timeout",
        "delivery_batch_size",
        "wrap_one_msg_in_list",
        "delivery_max_retry",
        "delivery_err_should_block",
        "wait_sock_err",
        "wait_non_sock_err",
        "active_status",
        "max_in_flight",
        "is_wsx",
    ];
    put("Subscription", output(&required, &fields));
}

/// The publish fields of INTERFACES §3 (one message).
fn publish_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("data", data()),
        ("priority", int(1, Some(9))),
        ("expiration", int(0, Some(MAX_SECONDS))),
        ("correl_id", text(0, 200)),
        ("in_reply_to", text(0, 200)),
        ("ext_client_id", text(0, 200)),
        ("ext_pub_time", json!({"type": "string", "description": "ISO 8601"})),
        ("group_id", text(0, 200)),
        ("position_in_group", json!({"type": "integer", "format": "int64"})),
        ("has_gd", boolean()),
        ("mime_type", text(0, 200)),
        ("user_ctx", any()),
        ("msg_id", json!({"type": "string", "pattern": "^[!-~]{1,200}$"})),
    ]
}

fn messages(put: &mut impl FnMut(&str, Value)) {
    let mut one = input(&["data"], &publish_fields());
    one["description"] = json!("One message of a `data_list`.");
    put("PublishItem", one);
    let mut fields = publish_fields();
    fields.extend([
        ("endpoint", json!({"type": "string", "description": "Publish as this endpoint."})),
        ("data_list", json!({"type": "array", "minItems": 1, "items": reference("PublishItem")})),
    ]);
    let mut publish = input(&["endpoint"], &fields);
    publish["anyOf"] = json!([{"required": ["data"]}, {"required": ["data_list"]}]);
    put("AdminPublish", publish);
    put(
        "PublishAnswer",
        json!({"type": "object", "properties": {
            "msg_id": string(),
            "msg_id_list": strings(),
            "overflow": {"type": "boolean", "description": "In-RAM messages past max_depth_non_gd went to the overflow log."},
        }}),
    );
    let message = [
        ("msg_id", string()),
        ("correl_id", string()),
        ("in_reply_to", string()),
        ("ext_client_id", string()),
        ("group_id", string()),
        ("position_in_group", json!({"type": "integer"})),
        ("data", any()),
        ("mime_type", string()),
        ("priority", int(1, Some(9))),
        ("expiration", int(0, None)),
        ("size", int(0, None)),
        ("topic_name", string()),
        ("sub_key", string()),
        ("delivery_count", int(0, None)),
        ("pub_time_iso", time()),
        ("ext_pub_time_iso", time()),
        ("expiration_time_iso", time()),
        ("recv_time_iso", time()),
        ("user_ctx", any()),
    ];
    let required = ["msg_id", "mime_type", "priority", "expiration", "size", "topic_name", "pub_time_iso"];
    put("Message", output(&required, &message));
    let mut queued = message.to_vec();
    queued.push(("has_gd", boolean()));
    put("QueuedMessage", output(&[&required[..], &["has_gd"]].concat(), &queued));
    let mut stored = queued.clone();
    stored.extend([("pub_pattern_matched", string()), ("sub_keys", strings())]);
    put("StoredMessage", output(&[&required[..], &["has_gd", "sub_keys"]].concat(), &stored));
    put(
        "MessageEdit",
        input(
            &[],
            &[
                ("data", data()),
                ("priority", int(1, Some(9))),
                ("expiration", int(0, None)),
                ("exp_from_now", boolean()),
                ("correl_id", string()),
                ("in_reply_to", string()),
                ("mime_type", string()),
            ],
        ),
    );
    put("Cleared", output(&["cleared"], &[("cleared", int(0, None))]));
    put("Deleted", output(&["deleted"], &[("deleted", int(0, None))]));
    put("Requeued", output(&["requeued"], &[("requeued", int(0, None))]));
}

fn services(put: &mut impl FnMut(&str, Value)) {
    let http = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "kind", "url"],
        "properties": {
            "name": name(),
            "kind": one_of(&["http"]),
            "url": {"type": "string", "minLength": 10, "pattern": "^https?://[!-~]+$"},
            "timeout": number(0.001, 3600.0),
            "auth": {"type": "object", "description": "{type: basic, username, password} or {type: bearer, token}"},
            "ca_file": {"type": "string", "description": "PEM CA certificates to trust (https:// only)"},
        },
    });
    let publish = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "kind", "topic_name", "endpoint"],
        "properties": {
            "name": name(),
            "kind": one_of(&["publish"]),
            "topic_name": text(1, 200),
            "endpoint": text(1, 200),
        },
    });
    put("ServiceCreate", json!({"oneOf": [http, publish]}));
    put(
        "Service",
        output(
            &["name", "kind"],
            &[
                ("name", string()),
                ("kind", one_of(&["builtin", "http", "publish"])),
                ("created_at", time()),
                ("url", string()),
                ("timeout", json!({"type": "number"})),
                ("auth", json!({"type": "object"})),
                ("topic_name", string()),
                ("endpoint", string()),
            ],
        ),
    );
    put("ServiceRequest", json!({"type": "object", "description": "The service's JSON request."}));
}

fn channel_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("name", name()),
        (
            "path",
            json!({"type": "string", "maxLength": 200, "pattern": "^/wsx/[!-\"$->@-~]+$",
            "description": "Starts with /wsx/; printable ASCII without spaces, ? or #."}),
        ),
        ("service", json!({"type": "string", "minLength": 1})),
        ("allowed_services", strings()),
        ("new_token_wait_time", number(0.1, 86_400.0)),
        ("token_ttl", number(1.0, 86_400.0)),
        ("ping_interval", number(0.1, 86_400.0)),
        ("pings_missed_threshold", int(1, Some(100))),
        ("max_frame_size", int(1024, Some(64 * 1024 * 1024))),
    ]
}

fn channels(put: &mut impl FnMut(&str, Value)) {
    put("ChannelCreate", input(&["name", "path"], &channel_fields()));
    put("ChannelEdit", input(&[], &channel_fields()));
    let mut fields = channel_fields();
    fields.retain(|(k, _)| *k != "allowed_services");
    fields.extend([("id", int(1, None)), ("allowed_services", nullable(strings())), ("created_at", time())]);
    let required = ["id", "name", "path", "service", "created_at"];
    put("Channel", output(&required, &fields));
    put(
        "Session",
        output(
            &["session_id", "channel", "since"],
            &[
                ("session_id", string()),
                ("channel", string()),
                ("endpoint", nullable(string())),
                ("client_id", nullable(string())),
                ("client_name", nullable(string())),
                ("peer_address", nullable(string())),
                ("since", time()),
                ("subscriptions", strings()),
            ],
        ),
    );
    let file = vec![
        ("name", name()),
        ("directory", json!({"type": "string", "minLength": 1, "description": "An existing directory."})),
        ("topic_name", string()),
        ("endpoint", string()),
        ("poll_interval", number(0.05, 86_400.0)),
    ];
    put("FileChannelCreate", input(&["name", "directory", "topic_name", "endpoint"], &file));
    put("FileChannelEdit", input(&[], &file));
    let mut fields = file.clone();
    fields.extend([("id", int(1, None)), ("created_at", time())]);
    let required = ["id", "name", "directory", "topic_name", "endpoint", "poll_interval", "created_at"];
    put("FileChannel", output(&required, &fields));
}

fn link_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("name", json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^:]*\\S[^:]*$"})),
        ("address", json!({"type": "string", "minLength": 8, "pattern": "^wss?://\\S+$"})),
        ("username", json!({"type": "string", "minLength": 1})),
        ("secret", json!({"type": "string", "minLength": 1, "writeOnly": true})),
        ("is_zato", boolean()),
        ("subscription_list", json!({"type": "array", "items": text(1, 200)})),
        ("on_connect", string()),
        ("on_message", string()),
        ("on_close", string()),
        ("ping_interval", number(0.1, 3600.0)),
        ("auto_reconnect", boolean()),
        ("max_connect_attempts", int(1, None)),
        ("invoke_timeout", number(0.001, 3600.0)),
        (
            "ca_file",
            json!({"type": "string", "minLength": 1, "description": "PEM CA certificates to trust (wss://)"}),
        ),
    ]
}

fn links(put: &mut impl FnMut(&str, Value)) {
    let fields = link_fields();
    put("LinkCreate", input(&["name", "address", "username", "secret"], &fields));
    put("LinkEdit", input(&[], &fields));
    let mut out: Vec<_> = link_fields()
        .into_iter()
        .filter(|(k, _)| {
            ![
                "secret",
                "username",
                "subscription_list",
                "on_connect",
                "on_message",
                "on_close",
                "max_connect_attempts",
                "ca_file",
            ]
            .contains(k)
        })
        .collect();
    out.extend([
        ("id", int(1, None)),
        ("username", string()),
        ("subscription_list", nullable(strings())),
        ("on_connect", nullable(string())),
        ("on_message", nullable(string())),
        ("on_close", nullable(string())),
        ("max_connect_attempts", nullable(int(1, None))),
        ("ca_file", nullable(string())),
        ("created_at", time()),
        ("state", one_of(&["connecting", "connected", "backing-off", "stopped"])),
        ("next_attempt", nullable(time())),
        ("last_error", nullable(string())),
        (
            "sub_keys",
            json!({"type": "object", "additionalProperties": {"type": "string"},
            "description": "Topic name → the sub_key the remote gave."}),
        ),
    ]);
    let required = ["id", "name", "address", "username", "is_zato", "created_at"];
    put("Link", output(&required, &out));
    put(
        "LinkInvoke",
        json!({"type": "object", "additionalProperties": false, "required": ["service"],
               "properties": {"service": string(), "request": any()}}),
    );
}

fn operations(put: &mut impl FnMut(&str, Value)) {
    let counter = || nullable(int(0, None));
    put(
        "Actor",
        output(
            &["id", "kind", "node", "state"],
            &[
                (
                    "id",
                    json!({"type": "string", "description": "topic:<id>, delivery:<sub_key>, peer:<link>, session:<id>, supervisor:<node>"}),
                ),
                ("kind", one_of(&["topic", "delivery", "peer", "session", "supervisor"])),
                ("node", string()),
                ("state", string()),
                ("mailbox", counter()),
                ("queue_depth_ram", counter()),
                ("queue_depth_gd", counter()),
                ("in_flight", counter()),
                ("delivered", counter()),
                ("failed", counter()),
                ("last_error", nullable(string())),
                ("since", nullable(time())),
            ],
        ),
    );
    put(
        "ActorCommand",
        input(&[], &[("node", json!({"type": "string", "description": "The node a `move` goes to."}))]),
    );
    put(
        "ClusterNode",
        output(
            &["name", "advertise_url", "state", "last_heartbeat", "subscriptions", "leader"],
            &[
                ("name", string()),
                ("advertise_url", string()),
                ("state", string()),
                ("last_heartbeat", time()),
                ("started_at", time()),
                ("subscriptions", int(0, None)),
                ("leader", boolean()),
            ],
        ),
    );
    let role = one_of(crate::admin_keys::ROLES);
    put("AdminKeyCreate", input(&["name"], &[("name", name()), ("role", role.clone())]));
    put("AdminKeyEdit", input(&["role"], &[("role", role.clone())]));
    let key = [("id", int(1, None)), ("name", string()), ("role", role.clone()), ("created_at", time())];
    put("AdminKey", output(&["id", "name", "role", "created_at"], &key));
    let mut new = key.to_vec();
    new.push(("key", json!({"type": "string", "pattern": "^sba_", "description": "Shown this once."})));
    put("NewAdminKey", output(&["id", "name", "role", "created_at", "key"], &new));
    put(
        "WhoAmI",
        output(&["name", "role", "node"], &[("name", string()), ("role", role), ("node", string())]),
    );
}
