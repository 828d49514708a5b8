//! The calls nodes of a cluster make to each other ([`ClusterCall`]): the answers this node
//! gives its peers — the same operations REST and WSX reach — and the helpers the rest of the
//! node asks its peers with.

use std::sync::Arc;

use serde_json::Value;
use signalbox_actors::delivery::{self, Enqueue, Resync};
use signalbox_actors::message::{Message, QueueEntry, RamHold};
use signalbox_actors::registry::SubEntry;
use signalbox_actors::services::ServiceError;
use signalbox_actors::supervisor::SyncSubscription;
use signalbox_actors::time::now_micros;

use super::error::{from_invoke, NodeError};
use super::queues as messages;
use super::Node;
use crate::cluster::calls::{self, ClusterCall, ClusterReply, PeerCall};
use crate::cluster::member::SyncNow;
use crate::cluster::Cluster;

/// The services of the internal channel.
pub const SERVICES: &[&str] = ClusterCall::SERVICES;

fn not_here(sub_key: &str) -> ServiceError {
    ServiceError::Status {
        status: 503,
        message: format!("subscription {sub_key} is not delivered by this node"),
    }
}

fn refused(e: impl ToString) -> ServiceError {
    ServiceError::Status { status: 503, message: e.to_string() }
}

/// Runs one cluster service for a peer node: the gateway's service name and request, the
/// answer's JSON.
pub async fn invoke(state: Arc<Node>, service: String, request: Value) -> Result<Value, ServiceError> {
    if !SERVICES.contains(&service.as_str()) {
        return Err(ServiceError::NotFound(service));
    }
    let call =
        ClusterCall::from_parts(&service, request).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
    let reply = answer(&state, call).await?;
    serde_json::to_value(reply).map_err(|e| ServiceError::failed(e.to_string()))
}

/// This node's answer to a peer's call.
pub async fn answer(state: &Node, call: ClusterCall) -> Result<ClusterReply, ServiceError> {
    let status = ServiceError::from;
    Ok(match call {
        ClusterCall::Forward(forward) => ClusterReply::Forward(take_forwarded(state, forward)),
        ClusterCall::Wake(wake) => {
            for topic_id in wake.topics {
                for sub in state.registry.subs_of_topic(topic_id) {
                    sub.addr.do_send(Resync);
                }
            }
            ClusterReply::Wake(calls::Done {})
        }
        ClusterCall::Sync(sync) => {
            // A subscription edited or deleted on another node: this node updates its actor
            // (if it runs it) before following the ownership table.
            if let Some(sub_key) = sync.sub_key {
                let _ = state.supervisor.send(SyncSubscription { sub_key }).await;
            }
            if let Some(cluster) = &state.cluster {
                let _ = cluster.member.send(SyncNow).await;
            }
            ClusterReply::Sync(calls::Done {})
        }
        ClusterCall::Pull(pull) => {
            let sub = delivered_here(state, &pull.sub_key)?;
            let delivered = sub
                .addr
                .send(delivery::Pull { max: pull.max })
                .await
                .map_err(|_| not_here(&pull.sub_key))?
                .map_err(refused)?;
            let key = Some(pull.sub_key.as_str());
            ClusterReply::Pull(
                delivered.iter().map(|d| d.msg.to_external(key, d.delivery_count, d.recv_time)).collect(),
            )
        }
        ClusterCall::Ack(ack) => {
            let sub = delivered_here(state, &ack.sub_key)?;
            let outcome = sub
                .addr
                .send(delivery::Ack { msg_ids: ack.msg_ids })
                .await
                .map_err(|_| not_here(&ack.sub_key))?
                .map_err(refused)?;
            ClusterReply::Ack(calls::Acked { acked: outcome.acked, unknown: outcome.unknown })
        }
        ClusterCall::Actors(calls::ListActors {}) => {
            ClusterReply::Actors(super::actors::local_rows(state).await)
        }
        ClusterCall::ActorCommand(command) => {
            let body = match command.body {
                Value::Null => Vec::new(),
                other => other.to_string().into_bytes(),
            };
            let done = super::actors::run_command(state, &command.actor_id, &command.command, &body).await;
            ClusterReply::ActorCommand(done.map_err(status)?)
        }
        ClusterCall::Browse(browse) => {
            let sub = delivered_here(state, &browse.sub_key)?;
            let page = signalbox_schema::Page { limit: browse.limit, offset: browse.offset };
            let (rows, total) = messages::browse(state, &sub, browse.dead, page).await.map_err(status)?;
            ClusterReply::Browse(match browse.with_total {
                true => calls::Browsed::Counted { messages: rows, total },
                false => calls::Browsed::Page(rows),
            })
        }
        ClusterCall::QueueCommand(command) => {
            let sub = delivered_here(state, &command.sub_key)?;
            let count = sub
                .addr
                .send(command.command)
                .await
                .map_err(|_| not_here(&command.sub_key))?
                .map_err(refused)?;
            ClusterReply::QueueCommand(calls::Counted { count })
        }
        ClusterCall::FindMessage(find) => match messages::find_in_ram(state, &find.msg_id).await {
            Some(found) => ClusterReply::FindMessage(calls::SharedMessage(found)),
            None => {
                let message = format!("no message {} here", find.msg_id);
                return Err(ServiceError::Status { status: 404, message });
            }
        },
        ClusterCall::MessageEdited(calls::MessageEdited(edited)) => {
            messages::apply_edit(state, &edited.0).await;
            ClusterReply::MessageEdited(calls::Done {})
        }
        ClusterCall::MessageRemoved(removed) => {
            messages::apply_delete(state, removed.topic_id, &removed.msg_id).await;
            ClusterReply::MessageRemoved(calls::Done {})
        }
        ClusterCall::ClearTopic(clear) => {
            let cleared = messages::clear_local_subs(state, clear.topic_id).await.map_err(status)?;
            ClusterReply::ClearTopic(calls::Cleared { cleared })
        }
        ClusterCall::Console(question) => {
            ClusterReply::Console(super::figures::answer_peer(state, question).await?)
        }
    })
}

fn delivered_here(state: &Node, sub_key: &str) -> Result<SubEntry, ServiceError> {
    state.registry.sub(sub_key).ok_or_else(|| not_here(sub_key))
}

/// Queues forwarded in-RAM messages on the delivery actors that run here; answers the
/// sub_keys that do not (the sender keeps those messages as GD).
fn take_forwarded(state: &Node, forward: calls::Forward) -> calls::Forwarded {
    let messages: Vec<Arc<Message>> = forward.messages.into_iter().map(|m| m.0).collect();
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
    calls::Forwarded { refused }
}

/// Runs a call on the node that delivers a subscription (`None` while it is being handed
/// over: the caller is asked to try again).
pub async fn call_owner<C: PeerCall>(
    cluster: &Cluster,
    owner: Option<String>,
    call: C,
) -> Result<C::Reply, NodeError> {
    let owner = owner
        .ok_or_else(|| NodeError::unavailable("the subscription is moving between nodes, try again", 1))?;
    cluster.call(&owner, call).await.map_err(from_invoke)
}
