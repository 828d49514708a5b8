//! The services a node answers on the internal channel, for its peers only.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::delivery::{Ack, Enqueue, Pull, QueueCommand, Resync};
use signalbox_actors::message::{Message, QueueEntry, RamHold};
use signalbox_actors::services::ServiceError;
use signalbox_actors::supervisor::SyncSubscription;
use signalbox_actors::time::now_micros;

use super::queues as messages;
use super::Node;
use crate::cluster::member::SyncNow;

pub const SERVICES: &[&str] = &[
    "cluster.forward",
    "cluster.wake",
    "cluster.sync",
    "cluster.pull",
    "cluster.ack",
    "cluster.actors",
    "cluster.actor_command",
    "cluster.browse",
    "cluster.queue_command",
    "cluster.find_message",
    "cluster.message_edited",
    "cluster.message_removed",
    "cluster.clear_topic",
    "cluster.console",
];

#[derive(Deserialize)]
struct Forward {
    sub_keys: Vec<String>,
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Wake {
    topics: Vec<i64>,
}

#[derive(Deserialize)]
struct PullRequest {
    sub_key: String,
    max: usize,
}

#[derive(Deserialize)]
struct AckRequest {
    sub_key: String,
    msg_ids: Vec<String>,
}

#[derive(Deserialize)]
struct ActorCommand {
    actor_id: String,
    command: String,
    #[serde(default)]
    body: Value,
}

#[derive(Deserialize)]
struct Browse {
    sub_key: String,
    dead: bool,
    limit: i64,
    offset: i64,
    /// Answer `{"messages": […], "total": N}` instead of the page alone.
    #[serde(default)]
    with_total: bool,
}

#[derive(Deserialize)]
struct QueueCommandRequest {
    sub_key: String,
    command: QueueCommand,
}

fn status(e: crate::node::error::NodeError) -> ServiceError {
    e.into()
}

fn bad(e: serde_json::Error) -> ServiceError {
    ServiceError::BadRequest(e.to_string())
}

fn not_here(sub_key: &str) -> ServiceError {
    ServiceError::Status {
        status: 503,
        message: format!("subscription {sub_key} is not delivered by this node"),
    }
}

/// Runs one cluster service for a peer node.
pub async fn invoke(state: Arc<Node>, service: String, request: Value) -> Result<Value, ServiceError> {
    match service.as_str() {
        "cluster.forward" => {
            let forward: Forward = serde_json::from_value(request).map_err(bad)?;
            Ok(json!({"refused": take_forwarded(&state, forward)}))
        }
        "cluster.wake" => {
            let wake: Wake = serde_json::from_value(request).map_err(bad)?;
            for topic_id in wake.topics {
                for sub in state.registry.subs_of_topic(topic_id) {
                    sub.addr.do_send(Resync);
                }
            }
            Ok(json!({}))
        }
        "cluster.sync" => {
            // A subscription edited or deleted on another node: this node updates its actor
            // (if it runs it) before following the ownership table.
            if let Some(sub_key) = request["sub_key"].as_str() {
                let sync = SyncSubscription { sub_key: sub_key.to_owned() };
                let _ = state.supervisor.send(sync).await;
            }
            if let Some(cluster) = &state.cluster {
                let _ = cluster.member.send(SyncNow).await;
            }
            Ok(json!({}))
        }
        "cluster.pull" => {
            let pull: PullRequest = serde_json::from_value(request).map_err(bad)?;
            let sub = state.registry.sub(&pull.sub_key).ok_or_else(|| not_here(&pull.sub_key))?;
            let delivered = sub
                .addr
                .send(Pull { max: pull.max })
                .await
                .map_err(|_| not_here(&pull.sub_key))?
                .map_err(|e| ServiceError::Status { status: 503, message: e.to_string() })?;
            let key = Some(pull.sub_key.as_str());
            Ok(Value::Array(
                delivered.iter().map(|d| d.msg.to_external(key, d.delivery_count, d.recv_time)).collect(),
            ))
        }
        "cluster.ack" => {
            let ack: AckRequest = serde_json::from_value(request).map_err(bad)?;
            let sub = state.registry.sub(&ack.sub_key).ok_or_else(|| not_here(&ack.sub_key))?;
            let outcome = sub
                .addr
                .send(Ack { msg_ids: ack.msg_ids })
                .await
                .map_err(|_| not_here(&ack.sub_key))?
                .map_err(|e| ServiceError::Status { status: 503, message: e.to_string() })?;
            Ok(json!({"acked": outcome.acked, "unknown": outcome.unknown}))
        }
        "cluster.actors" => Ok(Value::Array(crate::node::actors::local_rows(&state).await)),
        "cluster.actor_command" => {
            let command: ActorCommand = serde_json::from_value(request).map_err(bad)?;
            let body = match command.body {
                Value::Null => Vec::new(),
                other => other.to_string().into_bytes(),
            };
            crate::node::actors::run_command(&state, &command.actor_id, &command.command, &body)
                .await
                .map_err(status)
        }
        "cluster.browse" => {
            let browse: Browse = serde_json::from_value(request).map_err(bad)?;
            let sub = state.registry.sub(&browse.sub_key).ok_or_else(|| not_here(&browse.sub_key))?;
            let page = signalbox_schema::Page { limit: browse.limit, offset: browse.offset };
            let (rows, total) = messages::browse(&state, &sub, browse.dead, page).await.map_err(status)?;
            Ok(match browse.with_total {
                true => json!({"messages": rows, "total": total}),
                false => Value::Array(rows),
            })
        }
        "cluster.queue_command" => {
            let command: QueueCommandRequest = serde_json::from_value(request).map_err(bad)?;
            let sub = state.registry.sub(&command.sub_key).ok_or_else(|| not_here(&command.sub_key))?;
            let count = sub
                .addr
                .send(command.command)
                .await
                .map_err(|_| not_here(&command.sub_key))?
                .map_err(|e| ServiceError::Status { status: 503, message: e.to_string() })?;
            Ok(json!({"count": count}))
        }
        "cluster.find_message" => {
            let msg_id = request["msg_id"].as_str().unwrap_or_default().to_owned();
            match messages::find_in_ram(&state, &msg_id).await {
                Some(found) => Ok(json!(found.as_ref())),
                None => {
                    Err(ServiceError::Status { status: 404, message: format!("no message {msg_id} here") })
                }
            }
        }
        "cluster.message_edited" => {
            let edited: Message = serde_json::from_value(request).map_err(bad)?;
            messages::apply_edit(&state, &Arc::new(edited)).await;
            Ok(json!({}))
        }
        "cluster.message_removed" => {
            let topic_id = request["topic_id"].as_i64().unwrap_or_default();
            let msg_id = request["msg_id"].as_str().unwrap_or_default().to_owned();
            messages::apply_delete(&state, topic_id, &msg_id).await;
            Ok(json!({}))
        }
        "cluster.clear_topic" => {
            let topic_id = request["topic_id"].as_i64().unwrap_or_default();
            let cleared = messages::clear_local_subs(&state, topic_id).await.map_err(status)?;
            Ok(json!({"cleared": cleared}))
        }
        "cluster.console" => crate::node::figures::answer_peer(&state, request).await,
        _ => Err(ServiceError::NotFound(service)),
    }
}

/// Queues forwarded in-RAM messages on the delivery actors that run here; answers the
/// sub_keys that do not (the sender keeps those messages as GD).
fn take_forwarded(state: &Node, forward: Forward) -> Vec<String> {
    let messages: Vec<Arc<Message>> = forward.messages.into_iter().map(Arc::new).collect();
    let now = now_micros();
    let mut refused = Vec::new();
    for sub_key in forward.sub_keys {
        let local = state
            .registry
            .sub(&sub_key)
            .and_then(|sub| state.registry.topic_by_id(sub.sub.topic_id).map(|topic| (sub, topic)));
        let Some((sub, topic)) = local else {
            refused.push(sub_key);
            continue;
        };
        let entries = messages
            .iter()
            .map(|msg| QueueEntry {
                msg: msg.clone(),
                hold: Some(RamHold::new(&topic.stats.ram)),
                delivery_count: 0,
                recv_time: now,
            })
            .collect();
        if sub.addr.try_send(Enqueue { entries }).is_err() {
            refused.push(sub_key);
        }
    }
    refused
}
