//! A subscription's queue and the messages in it, wherever they are: GD rows in SQL, in-RAM
//! ones in this node's delivery actors, or another node's (asked over the internal link) —
//! browse, clear, find, edit, delete. The admin API and the answers to peers' calls both come
//! here.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};
use signalbox_actors::delivery::{BrowseRam, EditMessage, FindMessage, QueueCommand, RemoveMessage};
use signalbox_actors::message::{Message, OrderKey};
use signalbox_actors::registry::SubEntry;
use signalbox_actors::time::iso;
use signalbox_actors::PubSubError;
use signalbox_schema::{DeliveryMethod, Page};

use super::error::{blocking, from_invoke, NodeError};
use super::Node;
use crate::cluster::calls::{self, PeerCall};
use crate::cluster::Cluster;

/// This node's delivery actor of `sub_key`.
pub fn sub_entry(state: &Node, sub_key: &str) -> Result<SubEntry, NodeError> {
    state.registry.sub(sub_key).ok_or_else(|| NodeError::not_found(format!("no subscription `{sub_key}`")))
}

/// The node of the cluster that delivers `sub_key`, when it is not this one.
pub fn owner_elsewhere<'a>(state: &'a Node, sub_key: &str) -> Option<(&'a Cluster, Option<String>)> {
    let cluster = state.cluster.as_ref()?;
    if state.registry.sub(sub_key).is_some() {
        return None;
    }
    cluster.route.get(sub_key).map(|remote| (cluster, remote.node))
}

/// Tells every other node of a change to messages its delivery actors may hold.
pub async fn tell_peers<C: PeerCall + Clone>(state: &Node, call: C) {
    let Some(cluster) = &state.cluster else { return };
    let service = call.clone().into().service();
    for (node, answer) in cluster.call_all(call).await {
        if let Err(e) = answer {
            log::warn!("event=peer_not_told service={service} node={node} error={e:?}");
        }
    }
}

/// Deletes every message of a topic, GD and in-RAM, in SQL and in its delivery actors.
pub async fn clear_topic(
    state: &Node,
    topic: &signalbox_actors::registry::TopicEntry,
) -> Result<usize, NodeError> {
    let store = state.store.clone();
    let topic_id = topic.topic.id;
    let mut cleared = blocking(move || store.topic_clear(topic_id)).await?;
    cleared += clear_local_subs(state, topic_id).await?;
    if let Some(cluster) = &state.cluster {
        for (_, answer) in cluster.call_all(calls::ClearTopic { topic_id }).await {
            cleared += answer.map_err(from_invoke)?.cleared;
        }
    }
    topic.stats.gd.store(0, std::sync::atomic::Ordering::Relaxed);
    Ok(cleared)
}

/// Clears the queues of a topic's subscriptions delivered by this node.
pub async fn clear_local_subs(state: &Node, topic_id: i64) -> Result<usize, NodeError> {
    let mut cleared = 0;
    for sub in state.registry.subs_of_topic(topic_id) {
        cleared += sub.addr.send(QueueCommand::Clear).await.map_err(PubSubError::from)??;
    }
    Ok(cleared)
}

/// A page of the queue in delivery order, GD (SQL) and in-RAM (actor) merged, and how many
/// messages the whole queue (or dead-letter list) holds.
pub async fn browse(
    state: &Node,
    sub: &SubEntry,
    dead: bool,
    page: Page,
) -> Result<(Vec<Value>, usize), NodeError> {
    let store = state.store.clone();
    let key = sub.sub.sub_key.clone();
    let upto = Page { limit: page.limit + page.offset, offset: 0 };
    let (gd, gd_total) =
        blocking(move || Ok((store.queue_page(&key, dead, upto)?, store.queue_count(&key, dead)?))).await?;
    let ram = sub.addr.send(BrowseRam { dead }).await.map_err(PubSubError::from)?;
    let total = gd_total as usize + ram.len();
    let sub_key = Some(sub.sub.sub_key.as_str());
    let mut all: Vec<(OrderKey, Value)> = gd
        .into_iter()
        .map(|q| {
            let m = Message::from_stored(q.message, &sub.topic_name);
            let mut row = m.to_external(sub_key, q.delivery_count, q.creation_time);
            // Each row says whether it is GD (from SQL) or in-RAM (from the actor).
            row["has_gd"] = json!(true);
            (m.order_key(), row)
        })
        .chain(ram.into_iter().map(|(key, mut row)| {
            row["has_gd"] = json!(false);
            (key, row)
        }))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let rows = all.into_iter().skip(page.offset as usize).take(page.limit as usize).map(|(_, v)| v).collect();
    let rows = if dead { explain_dead_letters(state, sub, rows).await? } else { rows };
    Ok((rows, total))
}

/// Where a message is: in SQL (GD) with the subscriptions holding it, or in the RAM of this
/// node's delivery actors.
pub async fn locate(state: &Node, msg_id: &str) -> Result<(Arc<Message>, Vec<String>), NodeError> {
    let store = state.store.clone();
    let id = msg_id.to_owned();
    let stored = blocking(move || match store.message(&id) {
        Ok(m) => Ok(Some((m.clone(), store.message_holders(&id)?))),
        Err(signalbox_schema::StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    })
    .await?;
    if let Some((m, holders)) = stored {
        let topic = state.registry.topic_by_id(m.topic_id).map(|t| t.topic.name.clone()).unwrap_or_default();
        return Ok((Arc::new(Message::from_stored(m, &topic)), holders));
    }
    if let Some(found) = find_in_ram(state, msg_id).await {
        let holders =
            state.registry.subs_of_topic(found.topic_id).into_iter().map(|s| s.sub.sub_key.clone()).collect();
        return Ok((found, holders));
    }
    if let Some(cluster) = &state.cluster {
        for (_, answer) in cluster.call_all(calls::FindMessage { msg_id: msg_id.to_owned() }).await {
            if let Ok(found) = answer {
                let holders =
                    cluster.route.of_topic(found.0.topic_id).into_iter().map(|s| s.sub_key).collect();
                return Ok((found.0, holders));
            }
        }
    }
    Err(NodeError::not_found(format!("no queued message `{msg_id}`")))
}

/// An in-RAM message held by one of this node's delivery actors.
pub async fn find_in_ram(state: &Node, msg_id: &str) -> Option<Arc<Message>> {
    for sub in state.registry.subs() {
        if let Ok(Some(found)) = sub.addr.send(FindMessage { msg_id: msg_id.to_owned() }).await {
            return Some(found);
        }
    }
    None
}

/// An edited message replaces the copies this node's delivery actors hold.
pub async fn apply_edit(state: &Node, edited: &Arc<Message>) {
    for sub in state.registry.subs_of_topic(edited.topic_id) {
        let _ = sub.addr.send(EditMessage { msg: edited.clone() }).await;
    }
}

/// A deleted message leaves this node's delivery actors.
pub async fn apply_delete(state: &Node, topic_id: i64, msg_id: &str) {
    for sub in state.registry.subs_of_topic(topic_id) {
        let _ = sub.addr.send(RemoveMessage { msg_id: msg_id.to_owned() }).await;
    }
}

/// Dead letters as admins browse them, each with why it is one (`dead_letter_reason`) and since
/// when (`dead_letter_time_iso`: SQL's for GD rows, the delivery actor's for in-RAM ones).
pub async fn explain_dead_letters(
    state: &Node,
    sub: &SubEntry,
    mut rows: Vec<Value>,
) -> Result<Vec<Value>, NodeError> {
    let gd: Vec<String> = rows
        .iter()
        .filter(|r| r["has_gd"] == true)
        .filter_map(|r| r["msg_id"].as_str().map(str::to_owned))
        .collect();
    let (store, key) = (state.store.clone(), sub.sub.sub_key.clone());
    let times: HashMap<String, Option<i64>> =
        blocking(move || store.dead_letter_times(&key, &gd)).await?.into_iter().collect();
    let max = sub.sub.delivery_max_retry;
    for row in &mut rows {
        let count = row["delivery_count"].as_i64().unwrap_or(0);
        row["dead_letter_reason"] = json!(match sub.sub.delivery_method {
            DeliveryMethod::Notify if !sub.sub.is_wsx =>
                format!("push failed {count} times (delivery_max_retry {max})"),
            _ => format!("not acknowledged after {count} deliveries (delivery_max_retry {max})"),
        });
        if let Some(Some(at)) = row["msg_id"].as_str().and_then(|id| times.get(id)) {
            row["dead_letter_time_iso"] = json!(iso(*at));
        }
        if row.get("dead_letter_time_iso").is_none() {
            row["dead_letter_time_iso"] = Value::Null;
        }
    }
    Ok(rows)
}
