//! Operations routes: `/health`, `/ready`, `/metrics`, and the admin API's own description and
//! `whoami`.

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use super::auth::AdminCaller;
use super::error::ApiError;
use super::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics));
}

pub fn configure_admin(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(openapi)).route("/whoami", web::get().to(whoami));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready once the database answers (migrations ran before the listener opened).
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let up = web::block(move || store.ping()).await.unwrap_or(false);
    if up {
        Ok(HttpResponse::Ok().json(json!({"status": "ready", "node": state.node_name})))
    } else {
        Err(ApiError::unavailable("database unreachable", 1))
    }
}

/// The node's series; with `metrics_auth`, for requests with an admin key only.
async fn metrics(state: web::Data<AppState>, caller: Option<AdminCaller>) -> Result<HttpResponse, ApiError> {
    if state.config.metrics_auth && caller.is_none() {
        return Err(ApiError::unauthorized_admin("`/metrics` needs an admin key here (metrics_auth)"));
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render()))
}

/// Every admin route: method, path under `/admin/v1`, what it does, and whether it takes a body.
pub const ADMIN_ROUTES: &[(&str, &str, &str, bool)] = &[
    ("get", "/topics", "List topics (`?name=`, `?limit=&offset=`)", false),
    ("post", "/topics", "Create a topic", true),
    ("get", "/topics/{id}", "Read a topic", false),
    ("patch", "/topics/{id}", "Edit a topic", true),
    ("delete", "/topics/{id}", "Delete a topic with its subscriptions and messages", false),
    ("get", "/endpoints", "List endpoints", false),
    ("post", "/endpoints", "Create an endpoint; the answer shows its password or API key once", true),
    ("get", "/endpoints/{id}", "Read an endpoint", false),
    ("patch", "/endpoints/{id}", "Edit an endpoint", true),
    ("delete", "/endpoints/{id}", "Delete an endpoint with its subscriptions", false),
    ("post", "/endpoints/{id}/credentials", "Rotate credentials; the new secret is shown once", false),
    ("get", "/subscriptions", "List subscriptions", false),
    ("post", "/subscriptions", "Create a subscription", true),
    ("get", "/subscriptions/{sub_key}", "Read a subscription", false),
    ("patch", "/subscriptions/{sub_key}", "Edit a subscription", true),
    ("delete", "/subscriptions/{sub_key}", "Delete a subscription and its queue", false),
    ("get", "/topics/{id}/messages", "A topic's messages retained for its first subscriber", false),
    ("post", "/topics/{id}/publish", "Publish as an endpoint (`endpoint` + publish fields)", true),
    ("post", "/topics/{id}/clear", "Delete every message of a topic", false),
    ("get", "/subscriptions/{sub_key}/queue", "Browse a subscription's queue (GD and in-RAM)", false),
    ("post", "/subscriptions/{sub_key}/clear", "Delete every message of a subscription's queue", false),
    ("get", "/subscriptions/{sub_key}/dead-letters", "List dead letters", false),
    ("delete", "/subscriptions/{sub_key}/dead-letters", "Purge dead letters", false),
    ("post", "/subscriptions/{sub_key}/dead-letters/requeue", "Requeue dead letters", false),
    ("get", "/messages/{msg_id}", "Read a queued message", false),
    ("patch", "/messages/{msg_id}", "Edit a queued message in place", true),
    ("delete", "/messages/{msg_id}", "Delete a queued message from every queue", false),
    ("get", "/services", "List services, built-in and user-defined", false),
    ("post", "/services", "Create an `http` or `publish` service", true),
    ("get", "/services/{name}", "Read a service", false),
    ("delete", "/services/{name}", "Delete a user-defined service", false),
    ("post", "/services/{name}/invoke", "Invoke a service with a JSON request; answers its JSON reply", true),
    ("get", "/file-channels", "List inbound file channels", false),
    ("post", "/file-channels", "Create a file channel", true),
    ("get", "/file-channels/{id}", "Read a file channel", false),
    ("patch", "/file-channels/{id}", "Edit a file channel", true),
    ("delete", "/file-channels/{id}", "Delete a file channel", false),
    ("get", "/channels", "List WSX channels", false),
    ("post", "/channels", "Create a WSX channel", true),
    ("get", "/channels/{id}", "Read a WSX channel", false),
    ("patch", "/channels/{id}", "Edit a WSX channel", true),
    ("delete", "/channels/{id}", "Delete a WSX channel and close its sessions", false),
    ("get", "/channels/{id}/sessions", "Live sessions of a channel", false),
    (
        "post",
        "/sessions/{session_id}/invoke",
        "Send a zwsx.rqc to a client; answers its reply (504 after 5 s)",
        true,
    ),
    ("delete", "/sessions/{session_id}", "Disconnect a client", false),
    ("get", "/links", "List outgoing WSX links with their state", false),
    ("post", "/links", "Create a link (the secret is write-only)", true),
    ("get", "/links/{id}", "Read a link: settings, state, next_attempt, last_error, sub_keys", false),
    ("patch", "/links/{id}", "Edit a link; it reconnects", true),
    ("delete", "/links/{id}", "Delete a link", false),
    ("post", "/links/{id}/invoke", "Invoke a remote service: {service, request}", true),
    ("get", "/actors", "Every actor of the cluster (`?kind=&node=`)", false),
    ("get", "/cluster/nodes", "The cluster's nodes: address, state, heartbeat, subscriptions, leader", false),
    ("get", "/actors/{actor_id}", "One actor", false),
    (
        "post",
        "/actors/{actor_id}/{command}",
        "pause, resume, restart, clear, move (delivery); clear (topic); reconnect, stop, start (peer)",
        false,
    ),
    ("get", "/admin-keys", "List admin keys (names and roles only)", false),
    ("post", "/admin-keys", "Create an admin key; the key is shown once", true),
    ("delete", "/admin-keys/{name}", "Revoke an admin key", false),
    (
        "get",
        "/whoami",
        "The calling admin key: name, role (`admin` or `read-only`) and the node answering",
        false,
    ),
    ("get", "/openapi.json", "This document", false),
];

/// Lets a client (the web console) learn whether its key may change anything, without trying.
async fn whoami(caller: AdminCaller, state: web::Data<AppState>) -> HttpResponse {
    let role = if caller.read_only { "read-only" } else { "admin" };
    HttpResponse::Ok().json(json!({"name": caller.key_name, "role": role, "node": state.node_name}))
}

async fn openapi(_caller: AdminCaller) -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

pub fn openapi_document() -> Value {
    let envelope = json!({"$ref": "#/components/schemas/Error"});
    let mut paths = Map::new();
    for (method, path, summary, has_body) in ADMIN_ROUTES {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "security": [{"adminKey": []}],
            "responses": {
                "200": {"description": "Success", "content": {"application/json": {}}},
                "400": {"description": "Bad input", "content": {"application/json": {"schema": envelope}}},
                "401": {"description": "Missing or unknown admin key", "content": {"application/json": {"schema": envelope}}},
                "403": {"description": "Read-only key", "content": {"application/json": {"schema": envelope}}},
                "404": {"description": "Unknown object", "content": {"application/json": {"schema": envelope}}},
            },
        });
        if *has_body {
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
        }
        let entry = paths.entry(format!("/admin/v1{path}")).or_insert_with(|| Value::Object(Map::new()));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Signalbox admin API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {
                "type": "object",
                "required": ["result", "cid", "details"],
                "properties": {
                    "result": {"type": "string", "enum": ["Error"]},
                    "cid": {"type": "string"},
                    "details": {"type": "string"},
                },
            }},
        },
    })
}
