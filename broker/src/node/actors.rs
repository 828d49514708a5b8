//! The node's actors as admins see them — topics, deliveries, peer links, WSX sessions, the
//! supervisor — read from the actors themselves, and the commands they take. The admin API and
//! the answers to peers' calls both come here.

use std::sync::atomic::Ordering;

use futures_util::future::join_all;
use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::delivery::{Control, GetStatus, QueueCommand};
use signalbox_actors::registry::{SubEntry, TopicEntry};
use signalbox_actors::time::iso;
use signalbox_actors::topic::CountSubscribers;
use signalbox_actors::PubSubError;

use super::error::{blocking, NodeError};
use super::queues::clear_topic;
use super::sessions::{DescribeSession, SessionInfo};
use super::Node;
use crate::cluster::calls::ListActors;
use crate::links::peer::{LinkControl, LinkStatus};

pub const KINDS: &[&str] = &["topic", "delivery", "peer", "session", "supervisor"];

pub fn row(state: &Node, id: String, kind: &str, fields: Value) -> Value {
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

pub async fn topic_row(state: &Node, t: &TopicEntry) -> Option<Value> {
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
pub async fn delivery_row(state: &Node, s: &SubEntry, gd_depth: i64) -> Option<Value> {
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

pub fn peer_row(state: &Node, name: &str, status: Value) -> Value {
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

pub fn session_row(state: &Node, id: String, info: SessionInfo) -> Value {
    let since = info.since.clone();
    row(state, id, "session", json!({"state": "connected", "since": since, "session": info}))
}

pub fn supervisor_row(state: &Node) -> Value {
    row(
        state,
        format!("supervisor:{}", state.node_name),
        "supervisor",
        json!({
            "topics": state.registry.topics().len(), "subscriptions": state.registry.subs().len(),
        }),
    )
}

pub async fn all(state: &Node, kind: Option<&str>) -> Vec<Value> {
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
        let infos = join_all(sessions.iter().map(|s| s.describe.send(DescribeSession))).await;
        for info in infos.into_iter().flatten() {
            out.push(session_row(state, format!("session:{}", info.session_id), info));
        }
    }
    out
}

/// An actor by its id, as (kind, key).
pub fn parse(actor_id: &str) -> Result<(&str, &str), NodeError> {
    let (kind, key) = actor_id.split_once(':').ok_or_else(|| {
        NodeError::not_found(format!("no actor `{actor_id}` (ids look like delivery:<sub_key>)"))
    })?;
    if !KINDS.contains(&kind) {
        return Err(NodeError::not_found(format!("no actor `{actor_id}`")));
    }
    Ok((kind, key))
}

pub async fn find(state: &Node, actor_id: &str) -> Result<Value, NodeError> {
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
            let info = s.describe.send(DescribeSession).await.map_err(|_| missing())?;
            Ok(session_row(state, actor_id.to_owned(), info))
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
pub async fn remote_node(state: &Node, actor_id: &str) -> Option<String> {
    let cluster = state.cluster.as_ref()?;
    if let Some(("delivery", key)) = actor_id.split_once(':') {
        return cluster.route.get(key).and_then(|s| s.node);
    }
    let answers = cluster.call_all(ListActors {}).await;
    answers.into_iter().find_map(|(node, answer)| match answer {
        Ok(rows) if rows.iter().any(|r| r["id"] == actor_id) => Some(node),
        _ => None,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    pub node: Option<String>,
}

/// The commands an actor of `kind` takes; `crash` only where the node's configuration enables
/// fault injection.
pub fn allowed(kind: &str, faults: bool) -> &'static [&'static str] {
    match kind {
        "delivery" if faults => &["pause", "resume", "restart", "clear", "move", "crash"],
        "delivery" => &["pause", "resume", "restart", "clear", "move"],
        "topic" => &["clear"],
        "peer" => &["reconnect", "stop", "start"],
        _ => &[],
    }
}

/// A command's body: none, or `{"node": …}`.
pub fn move_body(body: &[u8]) -> Result<MoveBody, NodeError> {
    match body.iter().all(u8::is_ascii_whitespace) {
        true => Ok(MoveBody::default()),
        false => crate::node::error::parse_json(body),
    }
}

/// The node a `move` names in its body (`{"node": …}`).
pub fn move_target(body: &[u8]) -> Result<String, NodeError> {
    move_body(body)?.node.ok_or_else(|| NodeError::bad_request("`node` is required"))
}

/// A command for an actor of this node (checked by the caller to exist and to allow it).
pub async fn run_command(
    state: &Node,
    actor_id: &str,
    command: &str,
    body: &[u8],
) -> Result<Value, NodeError> {
    let (kind, key) = parse(actor_id)?;
    let options = allowed(kind, state.config.fault_injection);
    if !options.contains(&command) {
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

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn crash_is_a_command_only_where_fault_injection_is_enabled() {
        assert_eq!(allowed("delivery", false), ["pause", "resume", "restart", "clear", "move"]);
        assert_eq!(allowed("delivery", true), ["pause", "resume", "restart", "clear", "move", "crash"]);
        for kind in ["topic", "peer", "other"] {
            assert_eq!(allowed(kind, true), allowed(kind, false), "{kind}");
            assert!(!allowed(kind, true).contains(&"crash"), "{kind}");
        }
    }
}
