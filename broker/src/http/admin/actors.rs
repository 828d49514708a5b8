//! `/admin/v1/actors`: the routes over the node's actors ([`crate::node::actors`]): list, read
//! and command them, here or on the node that runs them.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json_fields, list_answer, search_rows, ListQuery};
use crate::cluster::calls::{ActorCommand, ListActors};
use crate::http::auth::{audit_admin, AdminCaller};
use crate::node::actors::{all, find, move_body, move_target, parse, remote_node, run_command, KINDS};
use crate::node::error::{ErrorKind, NodeError};
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/actors", web::get().to(list))
        .route("/actors/{actor_id}", web::get().to(read))
        .route("/actors/{actor_id}/{command}", web::post().to(command));
}

/// `?kind=&node=` (exactly), `?q=` (anywhere in the actor's id or the name of its topic, any
/// case), `?limit=&offset=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    kind: Option<String>,
    node: Option<String>,
    q: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(
    _c: AdminCaller,
    state: web::Data<Node>,
    filter: web::Query<Filter>,
) -> Result<HttpResponse, NodeError> {
    if let Some(kind) = &filter.kind {
        if !KINDS.contains(&kind.as_str()) {
            return Err(NodeError::bad_request(format!("`kind` must be one of {}", KINDS.join(", "))));
        }
    }
    let search = ListQuery { q: filter.q.clone(), limit: filter.limit, offset: filter.offset };
    let mut rows = all(&state, filter.kind.as_deref()).await;
    if let Some(cluster) = &state.cluster {
        for (_, answer) in cluster.call_all(ListActors {}).await {
            let remote = answer.unwrap_or_default();
            let wanted = |r: &Value| filter.kind.as_ref().is_none_or(|k| r["kind"] == k.as_str());
            rows.extend(remote.into_iter().filter(wanted));
        }
    }
    if let Some(node) = &filter.node {
        rows.retain(|r| r["node"] == node.as_str());
    }
    rows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    // Unlike the configuration lists, every actor unless `limit` asks for a page: clients
    // written before paging show the whole node.
    let page = search.page()?;
    let take = if filter.limit.is_some() { page.limit as usize } else { usize::MAX };
    let (page, total) = search_rows(&rows, search.q(), page.offset as usize, take, |r| {
        json_fields(r, &["id", "name", "topic_name"])
    });
    let shown: Vec<Value> = page.into_iter().cloned().collect();
    Ok(list_answer(shown, total))
}

async fn read(
    _c: AdminCaller,
    state: web::Data<Node>,
    actor_id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    match find(&state, &actor_id).await {
        Err(e) if e.kind == ErrorKind::NotFound => {
            let node = remote_node(&state, &actor_id).await.ok_or(e)?;
            let cluster = state.cluster.as_ref().expect("a remote node implies a cluster");
            let rows = cluster.call(&node, ListActors {}).await.map_err(crate::node::error::from_invoke)?;
            let found = rows.into_iter().find(|r| r["id"] == actor_id.as_str());
            Ok(HttpResponse::Ok()
                .json(found.ok_or_else(|| NodeError::not_found(format!("no actor `{actor_id}`")))?))
        }
        other => Ok(HttpResponse::Ok().json(other?)),
    }
}

async fn command(
    caller: AdminCaller,
    state: web::Data<Node>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, NodeError> {
    let (actor_id, command) = path.into_inner();
    // The body, when there is one, is `{"node": …}` whatever the command: anything else is refused.
    move_body(&body)?;
    let (kind, _) = parse(&actor_id)?;
    if kind == "delivery" && command == "move" && state.cluster.is_some() {
        audit_admin(&caller, "actor.move", &actor_id);
        return move_delivery(&state, &actor_id, &body).await;
    }
    if let Err(e) = find(&state, &actor_id).await {
        let node = match state.cluster.is_some() && e.kind == ErrorKind::NotFound {
            true => remote_node(&state, &actor_id).await.ok_or(e)?,
            false => return Err(e),
        };
        audit_admin(&caller, &format!("actor.{command}"), &actor_id);
        let cluster = state.cluster.as_ref().expect("a remote node implies a cluster");
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let request = ActorCommand { actor_id: actor_id.clone(), command, body };
        let answer = cluster.call(&node, request).await.map_err(crate::node::error::from_invoke)?;
        return Ok(HttpResponse::Ok().json(answer));
    }
    audit_admin(&caller, &format!("actor.{command}"), &actor_id);
    Ok(HttpResponse::Ok().json(run_command(&state, &actor_id, &command, &body).await?))
}

/// `move` in a cluster: hand the subscription over to the named live node; answers once the
/// new owner runs it.
async fn move_delivery(state: &Node, actor_id: &str, body: &[u8]) -> Result<HttpResponse, NodeError> {
    let node = move_target(body)?;
    let key = actor_id.trim_start_matches("delivery:").to_owned();
    let (store, k) = (state.store.clone(), key.clone());
    if crate::node::error::blocking(move || store.sub_owner(&k)).await?.is_none() {
        return Err(NodeError::not_found(format!("no actor `{actor_id}`")));
    }
    state.move_subscription(&key, &node).await?;
    Ok(HttpResponse::Ok().json(json!({"id": actor_id, "sub_key": key, "node": node})))
}
