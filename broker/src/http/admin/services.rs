//! `/admin/v1/services`: user-defined services (`http`, `publish`) next to the built-in ones,
//! and invoking any of them.

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use signalbox_actors::services::{self, InvokeContext};
use signalbox_actors::time::{iso, now_micros};
use signalbox_schema::models::{NewService, StoredService};

use super::{json_fields, list_answer, search_page, ListQuery};
use crate::http::auth::{audit_admin, AdminCaller};
use crate::node::error::{blocking, parse_json, NodeError};
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/services").route(web::get().to(list)).route(web::post().to(create)))
        .service(web::resource("/services/{name}").route(web::get().to(read)).route(web::delete().to(delete)))
        .route("/services/{name}/invoke", web::post().to(invoke));
}

fn stored_json(s: &StoredService) -> Value {
    let mut body = json!({"name": s.name, "kind": s.kind, "created_at": iso(s.created_at)});
    if let Value::Object(config) = services::public_config(&s.config) {
        for (k, v) in config {
            body[k] = v;
        }
    }
    body
}

fn builtin_json(name: &str) -> Value {
    json!({"name": name, "kind": "builtin"})
}

/// Loads the stored services into the node's registry of services.
pub async fn reload(state: &Node) -> Result<(), NodeError> {
    let store = state.store.clone();
    let rows = blocking(move || store.services()).await?;
    state.services.reload(rows);
    state.cluster_changed().await;
    Ok(())
}

/// Built-in services first, then user-defined ones by name; `?q=` finds them by name or kind.
async fn list(
    _caller: AdminCaller,
    state: web::Data<Node>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, NodeError> {
    query.page()?;
    let store = state.store.clone();
    let rows = blocking(move || store.services()).await?;
    let mut all: Vec<Value> = state.services.builtin_names().iter().map(|n| builtin_json(n)).collect();
    all.extend(rows.iter().map(stored_json));
    let (page, total) = search_page(&all, &query, |s| json_fields(s, &["name", "kind"]))?;
    Ok(list_answer(page.into_iter().cloned().collect(), total))
}

async fn find(state: &Node, name: &str) -> Result<Option<StoredService>, NodeError> {
    let store = state.store.clone();
    let rows = blocking(move || store.services()).await?;
    Ok(rows.into_iter().find(|s| s.name == name))
}

async fn read(
    _caller: AdminCaller,
    state: web::Data<Node>,
    name: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    if state.services.is_builtin(&name) {
        return Ok(HttpResponse::Ok().json(builtin_json(&name)));
    }
    let found = find(&state, &name)
        .await?
        .ok_or_else(|| NodeError::not_found(format!("no service named `{name}`")))?;
    Ok(HttpResponse::Ok().json(stored_json(&found)))
}

/// A `publish` service must name a topic and an endpoint that exist, and the endpoint must be
/// allowed to publish there — else every call would fail, long after it was set up.
async fn publishes_somewhere(state: &Node, config: &Value) -> Result<(), NodeError> {
    let topic = config["topic_name"].as_str().unwrap_or_default().to_owned();
    let endpoint = config["endpoint"].as_str().unwrap_or_default().to_owned();
    let (store, t, e) = (state.store.clone(), topic.clone(), endpoint.clone());
    let (found_topic, found_endpoint) =
        blocking(move || Ok((store.topic_by_name(&t).ok(), store.endpoint_by_name(&e).ok()))).await?;
    if found_topic.is_none() {
        return Err(NodeError::bad_request(format!("`topic_name`: no topic named `{topic}`")));
    }
    let Some(found_endpoint) = found_endpoint else {
        return Err(NodeError::bad_request(format!("`endpoint`: no endpoint named `{endpoint}`")));
    };
    let caller = crate::node::auth::Caller::of(std::sync::Arc::new(found_endpoint));
    if caller.allowed(signalbox_actors::patterns::Access::Pub, &topic).is_none() {
        return Err(NodeError::bad_request(format!(
            "`endpoint`: `{endpoint}` may not publish to `{topic}` (its role and `pub=` patterns)"
        )));
    }
    Ok(())
}

async fn create(
    caller: AdminCaller,
    state: web::Data<Node>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, NodeError> {
    let mut body = body.into_inner();
    let name = match body.remove("name") {
        Some(Value::String(n)) if !n.trim().is_empty() && n.len() <= 200 => n,
        _ => return Err(NodeError::bad_request("`name` is required: 1–200 characters")),
    };
    let kind = match body.remove("kind") {
        Some(Value::String(k)) => k,
        _ => return Err(NodeError::bad_request("`kind` is required: `http` or `publish`")),
    };
    if state.services.is_builtin(&name) {
        return Err(NodeError::conflict(format!("`{name}` is a built-in service")));
    }
    let config = services::validate(&name, &kind, &Value::Object(body), &state.master_key)
        .map_err(NodeError::bad_request)?;
    if kind == "publish" {
        publishes_somewhere(&state, &config).await?;
    }
    let store = state.store.clone();
    let (n, k, c) = (name.clone(), kind.clone(), config.to_string());
    let stored = blocking(move || {
        store.service_create(NewService { name: &n, kind: &k, config: &c, created_at: now_micros() })
    })
    .await
    .map_err(|e| e.when_conflict(|| format!("a service named `{name}` already exists")))?;
    reload(&state).await?;
    audit_admin(&caller, "service.create", &stored.name);
    Ok(HttpResponse::Created().json(stored_json(&stored)))
}

async fn delete(
    caller: AdminCaller,
    state: web::Data<Node>,
    name: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    if state.services.is_builtin(&name) {
        return Err(NodeError::bad_request(format!("`{name}` is a built-in service and cannot be deleted")));
    }
    let store = state.store.clone();
    let n = name.clone();
    blocking(move || store.service_delete(&n))
        .await
        .map_err(|e| e.when_not_found(|| format!("no service named `{name}`")))?;
    reload(&state).await?;
    audit_admin(&caller, "service.delete", &name);
    Ok(HttpResponse::Ok().json(json!({})))
}

async fn invoke(
    caller: AdminCaller,
    state: web::Data<Node>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, NodeError> {
    // A request is a JSON object, as the document says; no body at all is none (null).
    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        Value::Object(parse_json::<Map<String, Value>>(&body)?)
    };
    audit_admin(&caller, "service.invoke", &name);
    let reply = state.services.invoke(&name, request, InvokeContext::default()).await?;
    Ok(HttpResponse::Ok().json(reply))
}
