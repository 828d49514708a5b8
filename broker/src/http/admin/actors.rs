//! `/admin/v1/actors`: every actor of this node, read from the actors themselves, and the
//! commands admins send them.

use std::sync::atomic::Ordering;

use actix_web::{web, HttpResponse};
use futures_util::future::join_all;
use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::delivery::{Control, GetStatus, QueueCommand};
use signalbox_actors::registry::{SubEntry, TopicEntry};
use signalbox_actors::time::iso;
use signalbox_actors::topic::CountSubscribers;
use signalbox_actors::PubSubError;

use super::{json_fields, list_answer, search_rows, ListQuery};
use crate::http::auth::{audit_admin, AdminCaller};
use crate::links::peer::{LinkControl, LinkStatus};
use crate::node::error::{blocking, ErrorKind, NodeError};
use crate::node::queues::clear_topic;
use crate::node::Node;
use crate::wsx::session::SessionInfo;

const KINDS: &[&str] = &["topic", "delivery", "peer", "session", "supervisor"];

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

fn row(state: &Node, id: String, kind: &str, fields: Value) -> Value {
    let mut out = json!({
        "id": id, "kind": kind, "node": state.node_name, "state": "running", "mailbox": null,
        "queue_depth_ram": null, "queue_depth_gd": null, "in_flight": null, "delivered": null,
        "failed": null, "last_error": null, "since": null,
    });
    if let Value::Object(extra) = fields {
        for (k, v) in extra {
            out[k] = v;
        }
    }
    out
}

async fn topic_row(state: &Node, t: &TopicEntry) -> Option<Value> {
    let subscribers = t.addr.send(CountSubscribers).await.ok()?;
    Some(row(
        state,
        format!("topic:{}", t.topic.id),
        "topic",
        json!({
            "name": t.topic.name, "subscribers": subscribers,
            "queue_depth_ram": t.stats.ram.load(Ordering::Relaxed),
            "queue_depth_gd": t.stats.gd.load(Ordering::Relaxed),
        }),
    ))
}

/// A delivery actor's row. Its GD depth is SQL's count of deliverable rows, `gd_depth` — the
/// source of `/metrics` — not the part of the backlog the actor holds in RAM.
async fn delivery_row(state: &Node, s: &SubEntry, gd_depth: i64) -> Option<Value> {
    let status = s.addr.send(GetStatus).await.ok()?;
    Some(row(
        state,
        format!("delivery:{}", s.sub.sub_key),
        "delivery",
        json!({
            "sub_key": s.sub.sub_key, "topic_name": s.topic_name, "delivery_method": s.sub.delivery_method,
            "state": status.state, "queue_depth_ram": status.queue_depth_ram, "queue_depth_gd": gd_depth,
            "in_flight": status.in_flight, "delivered": status.delivered, "failed": status.failed,
            "last_error": status.last_error, "since": iso(status.since),
        }),
    ))
}

fn peer_row(state: &Node, name: &str, status: Value) -> Value {
    row(
        state,
        format!("peer:{name}"),
        "peer",
        json!({
            "state": status["state"], "last_error": status["last_error"], "delivered": status["acked"],
            "in_flight": status["in_flight_invocations"], "link": status,
        }),
    )
}

fn supervisor_row(state: &Node) -> Value {
    row(
        state,
        format!("supervisor:{}", state.node_name),
        "supervisor",
        json!({
            "topics": state.registry.topics().len(), "subscriptions": state.registry.subs().len(),
        }),
    )
}

async fn all(state: &Node, kind: Option<&str>) -> Vec<Value> {
    let wants = |k: &str| kind.is_none_or(|w| w == k);
    let mut out = Vec::new();
    if wants("supervisor") {
        out.push(supervisor_row(state));
    }
    if wants("topic") {
        let topics = state.registry.topics();
        out.extend(join_all(topics.iter().map(|t| topic_row(state, t))).await.into_iter().flatten());
    }
    if wants("delivery") {
        let subs = state.registry.subs();
        let store = state.store.clone();
        let depths: std::collections::HashMap<String, i64> =
            blocking(move || store.queue_depths()).await.map(|d| d.into_iter().collect()).unwrap_or_default();
        let rows =
            subs.iter().map(|s| delivery_row(state, s, depths.get(&s.sub.sub_key).copied().unwrap_or(0)));
        out.extend(join_all(rows).await.into_iter().flatten());
    }
    if wants("peer") {
        let links = state.links.all();
        let statuses = join_all(links.iter().map(|(_, a)| a.send(LinkStatus))).await;
        for ((link, _), status) in links.iter().zip(statuses) {
            if let Ok(status) = status {
                out.push(peer_row(state, &link.name, status));
            }
        }
    }
    if wants("session") {
        let sessions = state.wsx_sessions.all();
        let infos = join_all(sessions.iter().map(|s| s.send(SessionInfo))).await;
        for info in infos.into_iter().flatten() {
            let id = format!("session:{}", info["session_id"].as_str().unwrap_or_default());
            let since = info["since"].clone();
            out.push(row(
                state,
                id,
                "session",
                json!({"state": "connected", "since": since, "session": info}),
            ));
        }
    }
    out
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
        for (_, answer) in cluster.invoke_all("cluster.actors", json!({})).await {
            let remote = answer.ok().and_then(|a| a.as_array().cloned()).unwrap_or_default();
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

/// An actor by its id, as (kind, key).
fn parse(actor_id: &str) -> Result<(&str, &str), NodeError> {
    let (kind, key) = actor_id.split_once(':').ok_or_else(|| {
        NodeError::not_found(format!("no actor `{actor_id}` (ids look like delivery:<sub_key>)"))
    })?;
    if !KINDS.contains(&kind) {
        return Err(NodeError::not_found(format!("no actor `{actor_id}`")));
    }
    Ok((kind, key))
}

async fn find(state: &Node, actor_id: &str) -> Result<Value, NodeError> {
    let (kind, key) = parse(actor_id)?;
    let missing = || NodeError::not_found(format!("no actor `{actor_id}`"));
    match kind {
        "supervisor" if key == state.node_name => Ok(supervisor_row(state)),
        "topic" => {
            let id: i64 = key.parse().map_err(|_| missing())?;
            let t = state.registry.topic_by_id(id).ok_or_else(missing)?;
            topic_row(state, &t).await.ok_or_else(missing)
        }
        "delivery" => {
            let s = state.registry.sub(key).ok_or_else(missing)?;
            let (store, k) = (state.store.clone(), key.to_owned());
            let gd_depth = blocking(move || store.queue_depth(&k)).await?;
            delivery_row(state, &s, gd_depth).await.ok_or_else(missing)
        }
        "peer" => {
            let link = state.links.get(key).ok_or_else(missing)?;
            let status = link.send(LinkStatus).await.map_err(|_| missing())?;
            Ok(peer_row(state, key, status))
        }
        "session" => {
            let s = state.wsx_sessions.get(key).ok_or_else(missing)?;
            let info = s.send(SessionInfo).await.map_err(|_| missing())?;
            let since = info["since"].clone();
            Ok(row(
                state,
                actor_id.to_owned(),
                "session",
                json!({"state": "connected", "since": since, "session": info}),
            ))
        }
        _ => Err(missing()),
    }
}

/// This node's actors, for a peer's cluster-wide list.
pub async fn local_rows(state: &Node) -> Vec<Value> {
    all(state, None).await
}

/// The node that runs an actor this node does not: a delivery actor's owner, else whichever
/// peer lists it.
async fn remote_node(state: &Node, actor_id: &str) -> Option<String> {
    let cluster = state.cluster.as_ref()?;
    if let Some(("delivery", key)) = actor_id.split_once(':') {
        return cluster.route.get(key).and_then(|s| s.node);
    }
    let answers = cluster.invoke_all("cluster.actors", json!({})).await;
    answers.into_iter().find_map(|(node, answer)| match answer {
        Ok(Value::Array(rows)) if rows.iter().any(|r| r["id"] == actor_id) => Some(node),
        _ => None,
    })
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
            let rows = cluster
                .invoke(&node, "cluster.actors", json!({}))
                .await
                .map_err(crate::node::error::from_invoke)?;
            let found =
                rows.as_array().and_then(|r| r.iter().find(|r| r["id"] == actor_id.as_str()).cloned());
            Ok(HttpResponse::Ok()
                .json(found.ok_or_else(|| NodeError::not_found(format!("no actor `{actor_id}`")))?))
        }
        other => Ok(HttpResponse::Ok().json(other?)),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    node: Option<String>,
}

fn allowed(kind: &str) -> &'static [&'static str] {
    let faults = std::env::var("SIGNALBOX_FAULT_INJECTION").is_ok_and(|v| v == "1");
    match kind {
        "delivery" if faults => &["pause", "resume", "restart", "clear", "move", "crash"],
        "delivery" => &["pause", "resume", "restart", "clear", "move"],
        "topic" => &["clear"],
        "peer" => &["reconnect", "stop", "start"],
        _ => &[],
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
        let request = json!({"actor_id": actor_id, "command": command, "body": body});
        let answer = cluster
            .invoke(&node, "cluster.actor_command", request)
            .await
            .map_err(crate::node::error::from_invoke)?;
        return Ok(HttpResponse::Ok().json(answer));
    }
    audit_admin(&caller, &format!("actor.{command}"), &actor_id);
    Ok(HttpResponse::Ok().json(run_command(&state, &actor_id, &command, &body).await?))
}

/// A command's body: none, or `{"node": …}`.
fn move_body(body: &[u8]) -> Result<MoveBody, NodeError> {
    match body.iter().all(u8::is_ascii_whitespace) {
        true => Ok(MoveBody::default()),
        false => crate::node::error::parse_json(body),
    }
}

/// The node a `move` names in its body (`{"node": …}`).
fn move_target(body: &[u8]) -> Result<String, NodeError> {
    move_body(body)?.node.ok_or_else(|| NodeError::bad_request("`node` is required"))
}

/// `move` in a cluster: hand the subscription over to the named live node; answers once the
/// new owner runs it.
async fn move_delivery(state: &Node, actor_id: &str, body: &[u8]) -> Result<HttpResponse, NodeError> {
    let node = move_target(body)?;
    let key = actor_id.trim_start_matches("delivery:").to_owned();
    let cluster = state.cluster.as_ref().expect("checked by the caller");
    let (store, k) = (state.store.clone(), key.clone());
    if crate::node::error::blocking(move || store.sub_owner(&k)).await?.is_none() {
        return Err(NodeError::not_found(format!("no actor `{actor_id}`")));
    }
    let moved = cluster
        .member
        .send(crate::cluster::handover::MoveSubscription { sub_key: key.clone(), target: node.clone() });
    match moved.await.map_err(|e| NodeError::from(PubSubError::from(e)))? {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"id": actor_id, "sub_key": key, "node": node}))),
        Err(e) if e.contains("not a live node") => Err(NodeError::conflict(e)),
        Err(e) => Err(NodeError::unavailable(e, 1)),
    }
}

/// A command for an actor of this node (checked by the caller to exist and to allow it).
pub async fn run_command(
    state: &Node,
    actor_id: &str,
    command: &str,
    body: &[u8],
) -> Result<Value, NodeError> {
    let (kind, key) = parse(actor_id)?;
    if !allowed(kind).contains(&command) {
        let options = allowed(kind);
        let names = if options.is_empty() { "none".to_owned() } else { options.join(", ") };
        return Err(NodeError::bad_request(format!(
            "`{command}` does not apply to a {kind} actor (allowed: {names})"
        )));
    }
    let mailbox = |e: actix::MailboxError| NodeError::from(PubSubError::from(e));
    match (kind, command) {
        ("delivery", "move") => {
            let node = move_target(body)?;
            Err(NodeError::conflict(format!("cannot move to `{node}`: this node runs alone (no cluster)")))
        }
        ("delivery", "clear") => {
            let sub = state.registry.sub(key).ok_or_else(|| NodeError::not_found("gone"))?;
            let n = sub.addr.send(QueueCommand::Clear).await.map_err(mailbox)??;
            Ok(json!({"deleted": n}))
        }
        ("delivery", c) => {
            let sub = state.registry.sub(key).ok_or_else(|| NodeError::not_found("gone"))?;
            let control = match c {
                "pause" => Control::Pause,
                "resume" => Control::Resume,
                "crash" => Control::Crash,
                _ => Control::Restart,
            };
            if control == Control::Crash {
                sub.addr.do_send(control);
                return Ok(json!({"crashed": actor_id}));
            }
            sub.addr.send(control).await.map_err(mailbox)?;
            find(state, actor_id).await
        }
        ("peer", c) => {
            let link = state.links.get(key).ok_or_else(|| NodeError::not_found("gone"))?;
            let control = match c {
                "stop" => LinkControl::Stop,
                "start" => LinkControl::Start,
                _ => LinkControl::Reconnect,
            };
            link.send(control).await.map_err(mailbox)?;
            find(state, actor_id).await
        }
        ("topic", _) => {
            let id: i64 = key.parse().map_err(|_| NodeError::not_found("gone"))?;
            let topic = state.registry.topic_by_id(id).ok_or_else(|| NodeError::not_found("gone"))?;
            let n = clear_topic(state, &topic).await?;
            Ok(json!({"cleared": n}))
        }
        _ => Err(NodeError::not_found(format!("no actor `{actor_id}`"))),
    }
}
