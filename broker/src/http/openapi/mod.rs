//! `GET /admin/v1/openapi.json`: the admin API described as OpenAPI 3.0 — every route with its
//! parameters, request schema, success answer and every error status it can give, each error in
//! the envelope `{"result": "Error", "cid", "details"}`. The same table answers `405` with
//! `Allow` for a known path asked with a method it does not take.
//!
//! A new admin route is added to [`ROUTES`] (a test checks every documented route is routed,
//! and that sample answers match their schemas).

mod schemas;

use serde_json::{json, Map, Value};
use signalbox_actors::history::{MAX_RANGE, SUB_COARSE_LEN};
use signalbox_schema::{EndpointType, Role};

/// A request body: none, one that must be sent, or one that may be left out.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    None,
    Required(&'static str),
    Optional(&'static str),
}

/// What a success answers: a schema of `components.schemas` (`""`: any JSON), or a page of a
/// list of them (a JSON array, with `X-Total-Count`).
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    One(u16, &'static str),
    Page(&'static str),
}

/// One admin route: how it is called and what it can answer.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// Under `/admin/v1`; `{name}` segments are path parameters.
    pub path: &'static str,
    pub summary: &'static str,
    /// Query parameters, by their name in `components.parameters`.
    pub query: &'static [&'static str],
    pub body: Body,
    pub answer: Answer,
    /// Statuses beyond those every route of its shape can give (see [`statuses`]).
    pub also: &'static [u16],
}

const PAGED: &[&str] = &["q", "limit", "offset"];
const PAGE: &[&str] = &["limit", "offset"];

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    query: &'static [&'static str],
    body: Body,
    answer: Answer,
    also: &'static [u16],
) -> Route {
    Route { method, path, summary, query, body, answer, also }
}

use Answer::{One, Page};
use Body::{None as NoBody, Optional, Required};

/// Every admin route, one a line.
#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    route("get", "/topics", "List topics; `name` finds one by its exact name, `q` any whose name holds it; `active` and `has_gd` keep those in that state", &["name", "q", "active", "has_gd", "limit", "offset"], NoBody, Page("Topic"), &[]),
    route("post", "/topics", "Create a topic", &[], Required("TopicCreate"), One(201, "Topic"), &[409]),
    route("get", "/topics/{id}", "Read a topic", &[], NoBody, One(200, "Topic"), &[]),
    route("patch", "/topics/{id}", "Edit a topic", &[], Required("TopicEdit"), One(200, "Topic"), &[409]),
    route("delete", "/topics/{id}", "Delete a topic with its subscriptions and messages", &[], NoBody, One(200, "Empty"), &[]),
    route("get", "/topics/{id}/messages", "A topic's GD messages retained for its first subscriber", PAGE, NoBody, Page("Message"), &[]),
    route("post", "/topics/{id}/publish", "Publish as an endpoint (`endpoint` + the publish fields)", &[], Required("AdminPublish"), One(200, "PublishAnswer"), &[409]),
    route("post", "/topics/{id}/clear", "Delete every message of a topic", &[], NoBody, One(200, "Cleared"), &[]),
    route("get", "/endpoints", "List endpoints; `q` finds them by name or username; `role` and `endpoint_type` keep those of that role and type", &["q", "role", "endpoint_type", "limit", "offset"], NoBody, Page("Endpoint"), &[]),
    route("post", "/endpoints", "Create an endpoint; the answer shows its password or API key once", &[], Required("EndpointCreate"), One(201, "EndpointWithSecret"), &[409]),
    route("get", "/endpoints/{id}", "Read an endpoint", &[], NoBody, One(200, "Endpoint"), &[]),
    route("patch", "/endpoints/{id}", "Edit an endpoint", &[], Required("EndpointEdit"), One(200, "Endpoint"), &[409]),
    route("delete", "/endpoints/{id}", "Delete an endpoint with its subscriptions", &[], NoBody, One(200, "Empty"), &[]),
    route("post", "/endpoints/{id}/credentials", "Rotate credentials; the new secret is shown once", &[], NoBody, One(200, "EndpointWithSecret"), &[]),
    route("get", "/subscriptions", "List subscriptions; `q` finds them by sub_key, topic or endpoint name", &["q", "topic_name", "endpoint", "limit", "offset"], NoBody, Page("Subscription"), &[]),
    route("post", "/subscriptions", "Create a subscription", &[], Required("SubscriptionCreate"), One(201, "Subscription"), &[409]),
    route("get", "/subscriptions/{sub_key}", "Read a subscription", &[], NoBody, One(200, "Subscription"), &[]),
    route("patch", "/subscriptions/{sub_key}", "Edit a subscription", &[], Required("SubscriptionEdit"), One(200, "Subscription"), &[409]),
    route("delete", "/subscriptions/{sub_key}", "Delete a subscription and its queue", &[], NoBody, One(200, "Empty"), &[409]),
    route("get", "/subscriptions/{sub_key}/queue", "Browse a subscription's queue (GD and in-RAM) in delivery order", PAGE, NoBody, Page("QueuedMessage"), &[504]),
    route("post", "/subscriptions/{sub_key}/clear", "Delete every message of a subscription's queue", &[], NoBody, One(200, "Deleted"), &[504]),
    route("get", "/subscriptions/{sub_key}/dead-letters", "List dead letters", PAGE, NoBody, Page("QueuedMessage"), &[504]),
    route("delete", "/subscriptions/{sub_key}/dead-letters", "Purge dead letters", &[], NoBody, One(200, "Deleted"), &[504]),
    route("post", "/subscriptions/{sub_key}/dead-letters/requeue", "Requeue dead letters", &[], NoBody, One(200, "Requeued"), &[504]),
    route("get", "/messages/{msg_id}", "Read a queued message", &[], NoBody, One(200, "StoredMessage"), &[]),
    route("patch", "/messages/{msg_id}", "Edit a queued message in place", &[], Required("MessageEdit"), One(200, "Message"), &[]),
    route("delete", "/messages/{msg_id}", "Delete a queued message from every queue", &[], NoBody, One(200, "Empty"), &[]),
    route("get", "/services", "List services, built-in and user-defined; `q` finds them by name or kind", PAGED, NoBody, Page("Service"), &[]),
    route("post", "/services", "Create an `http` or `publish` service", &[], Required("ServiceCreate"), One(201, "Service"), &[409]),
    route("get", "/services/{name}", "Read a service", &[], NoBody, One(200, "Service"), &[]),
    route("delete", "/services/{name}", "Delete a user-defined service", &[], NoBody, One(200, "Empty"), &[]),
    route("post", "/services/{name}/invoke", "Invoke a service with a JSON object; answers its JSON reply (a refusal keeps the service's status)", &[], Optional("ServiceRequest"), One(200, ""), &[409, 429, 502, 504]),
    route("get", "/file-channels", "List inbound file channels; `q` finds them by name, directory, topic or endpoint", PAGED, NoBody, Page("FileChannel"), &[]),
    route("post", "/file-channels", "Create a file channel", &[], Required("FileChannelCreate"), One(201, "FileChannel"), &[409]),
    route("get", "/file-channels/{id}", "Read a file channel", &[], NoBody, One(200, "FileChannel"), &[]),
    route("patch", "/file-channels/{id}", "Edit a file channel", &[], Required("FileChannelEdit"), One(200, "FileChannel"), &[409]),
    route("delete", "/file-channels/{id}", "Delete a file channel", &[], NoBody, One(200, "Empty"), &[]),
    route("get", "/channels", "List WSX channels; `q` finds them by name or path", PAGED, NoBody, Page("Channel"), &[]),
    route("post", "/channels", "Create a WSX channel", &[], Required("ChannelCreate"), One(201, "Channel"), &[409]),
    route("get", "/channels/{id}", "Read a WSX channel", &[], NoBody, One(200, "Channel"), &[]),
    route("patch", "/channels/{id}", "Edit a WSX channel", &[], Required("ChannelEdit"), One(200, "Channel"), &[409]),
    route("delete", "/channels/{id}", "Delete a WSX channel and close its sessions", &[], NoBody, One(200, "Empty"), &[]),
    route("get", "/channels/{id}/sessions", "Live sessions of a channel; `q` finds them by id, endpoint, client or address", PAGED, NoBody, Page("Session"), &[]),
    route("post", "/sessions/{session_id}/invoke", "Send a zwsx.rqc to a client; answers its reply (504 after 5 s)", &[], Optional("AnyJson"), One(200, ""), &[504]),
    route("delete", "/sessions/{session_id}", "Disconnect a client", &[], NoBody, One(200, "Empty"), &[]),
    route("get", "/links", "List outgoing WSX links with their state; `q` finds them by name or address", PAGED, NoBody, Page("Link"), &[]),
    route("post", "/links", "Create a link (the secret is write-only)", &[], Required("LinkCreate"), One(201, "Link"), &[409]),
    route("get", "/links/{id}", "Read a link: settings, state, next_attempt, last_error, sub_keys", &[], NoBody, One(200, "Link"), &[]),
    route("patch", "/links/{id}", "Edit a link; it reconnects", &[], Required("LinkEdit"), One(200, "Link"), &[409]),
    route("delete", "/links/{id}", "Delete a link", &[], NoBody, One(200, "Empty"), &[]),
    route("post", "/links/{id}/invoke", "Invoke a remote service: {service, request}", &[], Required("LinkInvoke"), One(200, ""), &[502, 504]),
    route("get", "/actors", "Every actor of the cluster; `q` finds them by id or topic name", &["kind", "node", "q", "limit", "offset"], NoBody, Page("Actor"), &[]),
    route("get", "/actors/{actor_id}", "One actor", &[], NoBody, One(200, "Actor"), &[504]),
    route("post", "/actors/{actor_id}/{command}", "pause, resume, restart, clear, move (delivery); clear (topic); reconnect, stop, start (peer)", &[], Optional("ActorCommand"), One(200, "Object"), &[409, 504]),
    route("get", "/cluster/nodes", "The cluster's nodes: address, state, heartbeat, subscriptions, leader", &[], NoBody, One(200, "ClusterNodes"), &[]),
    route("get", "/admin-keys", "List admin keys (names and roles only); `q` finds them by name", PAGED, NoBody, Page("AdminKey"), &[]),
    route("post", "/admin-keys", "Create an admin key; the key is shown once", &[], Required("AdminKeyCreate"), One(201, "NewAdminKey"), &[409]),
    route("patch", "/admin-keys/{name}", "Change a key's role; never the caller's own, never the last `admin` (409)", &[], Required("AdminKeyEdit"), One(200, "AdminKey"), &[409]),
    route("delete", "/admin-keys/{name}", "Revoke an admin key; never the caller's own, never the last `admin` (409)", &[], NoBody, One(200, "Empty"), &[409]),
    route("get", "/overview", "The node's and cluster's figures now: rates, depths, connections, nodes", &[], NoBody, One(200, "Object"), &[504]),
    route("get", "/overview/history", "The figures over the last `range` seconds, from the nodes' in-memory history", &["range"], NoBody, One(200, "Object"), &[504]),
    route("get", "/overview/subscriptions", "Figures of subscriptions (`sub_keys`: comma-separated)", &["sub_keys"], NoBody, One(200, ""), &[504]),
    route("get", "/overview/subscriptions/{sub_key}", "One subscription's figures and depth over time", &["sub_range"], NoBody, One(200, ""), &[504]),
    route("get", "/overview/topics", "Figures of topics (`ids`: comma-separated)", &["ids"], NoBody, One(200, ""), &[504]),
    route("get", "/connections", "WSX sessions and REST clients by endpoint, cluster-wide", &[], NoBody, One(200, "Object"), &[504]),
    route("get", "/whoami", "The calling admin key: name, role (`admin` or `read-only`) and the node answering", &[], NoBody, One(200, "WhoAmI"), &[]),
    route("get", "/openapi.json", "This document", &[], NoBody, One(200, "Object"), &[]),
];

/// Where the admin API lives.
pub const PREFIX: &str = "/admin/v1";

/// The methods a path of the admin API takes, upper case (for `Allow`); `None` when no route
/// has that shape.
pub fn allowed_methods(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix(PREFIX)?;
    let given: Vec<&str> = rest.split('/').collect();
    let mut methods: Vec<String> = ROUTES
        .iter()
        .filter(|r| {
            let template: Vec<&str> = r.path.split('/').collect();
            template.len() == given.len()
                && template.iter().zip(&given).all(|(t, g)| (t.starts_with('{') && !g.is_empty()) || t == g)
        })
        .map(|r| r.method.to_ascii_uppercase())
        .collect();
    if methods.is_empty() {
        return None;
    }
    methods.sort();
    methods.dedup();
    Some(methods)
}

/// Every status a route can answer with the envelope, by its shape: any route may find no or a
/// bad admin key (401) or storage that does not answer (503); parameters and bodies can be
/// wrong (400); a change needs a key that may write (403); a path that names an object may name
/// none (404); a body may be too large (413).
pub fn statuses(r: &Route) -> Vec<u16> {
    let mut out = vec![401, 503];
    let has_params = r.path.contains('{');
    let has_body = !matches!(r.body, Body::None);
    if has_params || has_body || !r.query.is_empty() {
        out.push(400);
    }
    if r.method != "get" {
        out.push(403);
    }
    if has_params {
        out.push(404);
    }
    if has_body {
        out.push(413);
    }
    out.extend(r.also);
    out.sort();
    out.dedup();
    out
}

fn error_response(status: u16) -> Value {
    let name = match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        413 => "TooLarge",
        429 => "TooManyRequests",
        502 => "BadGateway",
        503 => "Unavailable",
        504 => "Timeout",
        _ => "Error",
    };
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn schema_ref(name: &str) -> Value {
    match name {
        "" => json!({}),
        name => json!({"$ref": format!("#/components/schemas/{name}")}),
    }
}

fn operation(r: &Route) -> Value {
    let mut params: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"$ref": format!("#/components/parameters/{}", path_param(name))}))
        .collect();
    params.extend(r.query.iter().map(|q| json!({"$ref": format!("#/components/parameters/{q}")})));
    let mut responses = Map::new();
    let (status, ok) = match r.answer {
        Answer::One(status, schema) => {
            let description = if status == 201 { "Created: the stored object" } else { "Success" };
            (
                status,
                json!({"description": description, "content": {"application/json": {"schema": schema_ref(schema)}}}),
            )
        }
        Answer::Page(item) => (
            200,
            json!({
                "description": "One page of the objects that match, in id order",
                "headers": {"X-Total-Count": {"$ref": "#/components/headers/X-Total-Count"}},
                "content": {"application/json": {"schema": {"type": "array", "items": schema_ref(item)}}},
            }),
        ),
    };
    let mut ok = ok;
    if status == 201 {
        ok["links"] = links_from(r);
    }
    responses.insert(status.to_string(), ok);
    for status in statuses(r) {
        responses.insert(status.to_string(), error_response(status));
    }
    let mut op = json!({
        "operationId": operation_id(r),
        "summary": r.summary,
        "tags": [r.path.split('/').nth(1).unwrap_or("admin")],
        "parameters": params,
        "responses": responses,
    });
    let body = match r.body {
        Body::None => None,
        Body::Required(schema) => Some((true, schema)),
        Body::Optional(schema) => Some((false, schema)),
    };
    if let Some((required, schema)) = body {
        op["requestBody"] =
            json!({"required": required, "content": {"application/json": {"schema": schema_ref(schema)}}});
    }
    op
}

/// From a create to every route on the object it made (`/topics` → `/topics/{id}…`), with the
/// path parameter read from the answer: what a client — or a stateful fuzzer — does next.
fn links_from(create: &Route) -> Value {
    let mut links = Map::new();
    let prefix = format!("{}/{{", create.path);
    for r in ROUTES.iter().filter(|r| r.path.starts_with(&prefix)) {
        let params: Map<String, Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| (name.to_owned(), json!(format!("$response.body#/{name}"))))
            .collect();
        if params.len() == 1 {
            links.insert(operation_id(r), json!({"operationId": operation_id(r), "parameters": params}));
        }
    }
    Value::Object(links)
}

/// `get /topics/{id}/messages` → `getTopicsIdMessages`.
fn operation_id(r: &Route) -> String {
    let mut id = r.method.to_owned();
    for word in r.path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars);
        }
    }
    id
}

/// The `components.parameters` name of a path parameter (`id` → `path_id`).
fn path_param(name: &str) -> String {
    format!("path_{name}")
}

fn parameters() -> Value {
    let path = |name: &str, schema: Value, description: &str| json!({"name": name, "in": "path", "required": true, "schema": schema, "description": description});
    let query = |name: &str, schema: Value, description: &str| json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description});
    let text = || json!({"type": "string", "minLength": 1});
    json!({
        "path_id": path("id", json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX}), "The object's numeric id"),
        "path_sub_key": path("sub_key", text(), "The subscription's key, e.g. zpsk.rest.1a2b3c"),
        "path_msg_id": path("msg_id", text(), "The message's id"),
        "path_name": path("name", text(), "The name"),
        "path_session_id": path("session_id", text(), "The WSX session's id, ws.<hex>"),
        "path_actor_id": path("actor_id", text(), "topic:<id>, delivery:<sub_key>, peer:<link name>, session:<id> or supervisor:<node>"),
        "path_command": path("command", json!({"type": "string", "enum": ["pause", "resume", "restart", "clear", "move", "reconnect", "stop", "start"]}), "What the actor is to do; which apply depends on its kind (400 otherwise)"),
        "limit": query("limit", json!({"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}), "Most objects in the page"),
        "offset": query("offset", json!({"type": "integer", "minimum": 0, "maximum": i64::MAX, "default": 0}), "Objects to skip"),
        "q": query("q", json!({"type": "string", "maxLength": super::admin::MAX_SEARCH}), "Found anywhere in the names the route searches, in any case"),
        "name": query("name", json!({"type": "string"}), "Exactly this name"),
        "topic_name": query("topic_name", json!({"type": "string"}), "Only subscriptions to this topic"),
        "endpoint": query("endpoint", json!({"type": "string"}), "Only subscriptions of this endpoint"),
        "active": query("active", json!({"type": "boolean"}), "Only active topics (`true`) or only inactive ones (`false`)"),
        "has_gd": query("has_gd", json!({"type": "boolean"}), "Only GD topics (`true`) or only in-RAM ones (`false`)"),
        "role": query("role", json!({"type": "string", "enum": Role::NAMES}), "Only endpoints of this role"),
        "endpoint_type": query("endpoint_type", json!({"type": "string", "enum": EndpointType::NAMES}), "Only endpoints of this type"),
        "kind": query("kind", json!({"type": "string", "enum": ["topic", "delivery", "peer", "session", "supervisor"]}), "Only actors of this kind"),
        "node": query("node", json!({"type": "string"}), "Only actors of this node"),
        "range": query("range", json!({"type": "integer", "minimum": 60, "maximum": MAX_RANGE}), "Seconds of history"),
        "sub_range": query("range", json!({"type": "integer", "minimum": 60, "maximum": SUB_COARSE_LEN as u64 * 60}), "Seconds of depth history"),
        "sub_keys": query("sub_keys", json!({"type": "string"}), "Comma-separated sub keys"),
        "ids": query("ids", json!({"type": "string"}), "Comma-separated topic ids"),
    })
}

fn responses() -> Value {
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let retry = json!({"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}});
    let mut unauthorized = error("No admin key, or one the node does not know");
    unauthorized["headers"] = json!({"WWW-Authenticate": {"schema": {"type": "string"}}});
    let mut too_many = error("Too many requests");
    too_many["headers"] = retry.clone();
    let mut unavailable =
        error("Storage unavailable, the node shutting down, or a peer not reachable: try again");
    unavailable["headers"] = retry;
    json!({
        "BadRequest": error("Bad input: the details name the field"),
        "Unauthorized": unauthorized,
        "Forbidden": error("A read-only key asked for a change"),
        "NotFound": error("No such object"),
        "Conflict": error("A duplicate name, or a change the object's state does not allow"),
        "TooLarge": error("The body is larger than max_message_size"),
        "TooManyRequests": too_many,
        "BadGateway": error("The service or remote end failed"),
        "Unavailable": unavailable,
        "Timeout": error("No answer in time"),
        "MethodNotAllowed": {
            "description": "The path does not take this method; `Allow` lists those it takes",
            "headers": {"Allow": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let entry = paths.entry(format!("{PREFIX}{}", r.path)).or_insert_with(|| json!({}));
        entry[r.method] = operation(r);
    }
    let mut schemas = schemas::all();
    schemas["ClusterNodes"] = json!({"type": "array", "items": {"$ref": "#/components/schemas/ClusterNode"}});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Signalbox admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Configuration and operation of a Signalbox node (INTERFACES §8). Every error answer is \
                            the envelope {\"result\": \"Error\", \"cid\", \"details\"}; a path asked with a method \
                            it does not take answers 405 with `Allow`. Lists answer a JSON array, one page of it, \
                            and the number of objects that match in `X-Total-Count`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"adminKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer", "description": "An admin key, sba_…"}},
            "schemas": schemas,
            "parameters": parameters(),
            "responses": responses(),
            "headers": {"X-Total-Count": {"description": "How many objects match, over all pages", "schema": {"type": "integer", "minimum": 0}}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_path_names_the_methods_it_takes() {
        assert_eq!(allowed_methods("/admin/v1/topics").unwrap(), ["GET", "POST"]);
        assert_eq!(allowed_methods("/admin/v1/topics/7").unwrap(), ["DELETE", "GET", "PATCH"]);
        assert_eq!(allowed_methods("/admin/v1/services/x/invoke").unwrap(), ["POST"]);
        assert_eq!(allowed_methods("/admin/v1/nothing"), None);
        assert_eq!(allowed_methods("/metrics"), None);
    }

    #[test]
    fn every_operation_has_a_unique_id_and_every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let mut ids = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(ids.insert(operation_id(r)), "{} {}", r.method, r.path);
        }
        for piece in text.split("\"$ref\":\"#/").skip(1) {
            let pointer = &piece[..piece.find('"').unwrap()];
            assert!(doc.pointer(&format!("/{pointer}")).is_some(), "dangling $ref {pointer}");
        }
    }
}
