//! Operations routes: `/health`, `/ready`, `/metrics`, and the admin API's own description and
//! `whoami`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::auth::AdminCaller;
use crate::node::error::NodeError;
use crate::node::Node;

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
async fn ready(state: web::Data<Node>) -> Result<HttpResponse, NodeError> {
    let store = state.store.clone();
    let up = web::block(move || store.ping()).await.unwrap_or(false);
    if up {
        Ok(HttpResponse::Ok().json(json!({"status": "ready", "node": state.node_name})))
    } else {
        Err(NodeError::unavailable("database unreachable", 1))
    }
}

/// The node's series; with `metrics_auth`, for requests with an admin key only.
async fn metrics(state: web::Data<Node>, caller: Option<AdminCaller>) -> Result<HttpResponse, NodeError> {
    if state.config.metrics_auth && caller.is_none() {
        return Err(NodeError::unauthorized_admin("`/metrics` needs an admin key here (metrics_auth)"));
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render()))
}

/// Lets a client (the web console) learn whether its key may change anything, without trying.
async fn whoami(caller: AdminCaller, state: web::Data<Node>) -> HttpResponse {
    let role = if caller.read_only { "read-only" } else { "admin" };
    HttpResponse::Ok().json(json!({"name": caller.key_name, "role": role, "node": state.node_name}))
}

async fn openapi(_caller: AdminCaller) -> HttpResponse {
    HttpResponse::Ok().json(super::openapi::document())
}
