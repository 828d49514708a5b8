//! Queued messages for admins: a topic's retained messages, publishing as an endpoint,
//! clearing; a subscription's queue and dead letters; one message read, edited in place or
//! deleted. GD messages are read from SQL, in-RAM ones from the delivery actors that hold them.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::delivery::QueueCommand;
use signalbox_actors::message::Message;
use signalbox_actors::patterns::Access;
use signalbox_actors::time::now_micros;
use signalbox_actors::PubSubError;
use signalbox_schema::models::MessageEdit;
use signalbox_schema::Page;

use super::{list_answer, parse_id, PageQuery};
use crate::cluster::calls::{self, SharedMessage};
use crate::http::auth::{audit_admin, AdminCaller};
use crate::http::pubsub::mime_from;
use crate::node::auth::Caller;
use crate::node::error::{blocking, NodeError};
use crate::node::peer_calls::call_owner;
use crate::node::publish::{publish_answer, publish_as};
use crate::node::publish_input::{self, PublishItem};
use crate::node::queues::{
    apply_delete, apply_edit, browse, clear_topic, locate, owner_elsewhere, sub_entry, tell_peers,
};
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/topics/{id}/messages", web::get().to(topic_messages))
        .route("/topics/{id}/publish", web::post().to(topic_publish))
        .route("/topics/{id}/clear", web::post().to(topic_clear))
        .route("/subscriptions/{sub_key}/queue", web::get().to(queue))
        .route("/subscriptions/{sub_key}/clear", web::post().to(queue_clear))
        .service(
            web::resource("/subscriptions/{sub_key}/dead-letters")
                .route(web::get().to(dead_letters))
                .route(web::delete().to(dead_letters_purge)),
        )
        .route("/subscriptions/{sub_key}/dead-letters/requeue", web::post().to(dead_letters_requeue))
        .service(
            web::resource("/messages/{msg_id}")
                .route(web::get().to(read))
                .route(web::patch().to(edit))
                .route(web::delete().to(delete)),
        );
}

fn topic_entry(state: &Node, raw: &str) -> Result<signalbox_actors::registry::TopicEntry, NodeError> {
    let id = parse_id(raw)?;
    state.registry.topic_by_id(id).ok_or_else(|| NodeError::not_found(format!("no topic with id {id}")))
}

async fn topic_messages(
    _caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, NodeError> {
    let topic = topic_entry(&state, &id)?;
    let page = query.page()?;
    let store = state.store.clone();
    let topic_id = topic.topic.id;
    let (rows, total) =
        blocking(move || Ok((store.retained(topic_id, page)?, store.retained_count(topic_id)?))).await?;
    let out: Vec<Value> = rows
        .into_iter()
        .map(|m| {
            let recv = m.pub_time;
            Message::from_stored(m, &topic.topic.name).to_external(None, 0, recv)
        })
        .collect();
    Ok(list_answer(out, total as usize))
}

/// `{"endpoint": NAME, "data": …}` (or `data_list`): publish as that endpoint, which must be
/// allowed to publish to the topic.
#[derive(Debug, Deserialize)]
struct PublishAs {
    endpoint: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

async fn topic_publish(
    caller: AdminCaller,
    state: web::Data<Node>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<PublishAs>,
) -> Result<HttpResponse, NodeError> {
    let topic = topic_entry(&state, &id)?;
    let PublishAs { endpoint, rest } = body.into_inner();
    let item: PublishItem = serde_json::from_value(Value::Object(rest))
        .map_err(|e| NodeError::bad_request(format!("invalid request body: {e}")))?;
    let as_list = item.data_list.is_some();
    let messages = publish_input::into_messages(item, &mime_from(&req))?;
    let store = state.store.clone();
    let name = endpoint.clone();
    let found = blocking(move || store.endpoint_by_name(&name))
        .await
        .map_err(|e| e.when_missing_reference(|| format!("no endpoint named `{endpoint}`")))?;
    let publisher = Caller::of(Arc::new(found));
    let pattern = publisher.allowed(Access::Pub, &topic.topic.name).ok_or_else(|| {
        NodeError::bad_request(format!(
            "endpoint `{}` may not publish to `{}` (role or `pub=` patterns)",
            publisher.endpoint.name, topic.topic.name
        ))
    })?;
    let published = publish_as(&topic, &publisher.endpoint, pattern, messages).await?;
    audit_admin(&caller, "topic.publish", &topic.topic.name);
    Ok(HttpResponse::Ok().json(publish_answer(published, as_list)))
}

async fn topic_clear(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let topic = topic_entry(&state, &id)?;
    let cleared = clear_topic(&state, &topic).await?;
    audit_admin(&caller, "topic.clear", &topic.topic.name);
    Ok(HttpResponse::Ok().json(json!({"cleared": cleared})))
}

async fn queue(
    _caller: AdminCaller,
    state: web::Data<Node>,
    sub_key: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, NodeError> {
    browse_anywhere(&state, &sub_key, false, query.page()?).await
}

async fn dead_letters(
    _caller: AdminCaller,
    state: web::Data<Node>,
    sub_key: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, NodeError> {
    browse_anywhere(&state, &sub_key, true, query.page()?).await
}

/// The queue of a subscription, from the node that delivers it.
async fn browse_anywhere(
    state: &Node,
    sub_key: &str,
    dead: bool,
    page: Page,
) -> Result<HttpResponse, NodeError> {
    if let Some((cluster, node)) = owner_elsewhere(state, sub_key) {
        let sub_key = sub_key.to_owned();
        let browse =
            calls::Browse { sub_key, dead, limit: page.limit, offset: page.offset, with_total: true };
        // A node older than `with_total` answers the page alone.
        return Ok(match call_owner(cluster, node, browse).await? {
            calls::Browsed::Page(rows) => HttpResponse::Ok().json(rows),
            calls::Browsed::Counted { messages, total } => list_answer(messages, total),
        });
    }
    let sub = sub_entry(state, sub_key)?;
    let (rows, total) = browse(state, &sub, dead, page).await?;
    Ok(list_answer(rows, total))
}

async fn queue_command(
    caller: AdminCaller,
    state: web::Data<Node>,
    sub_key: &str,
    cmd: QueueCommand,
) -> Result<HttpResponse, NodeError> {
    let n = match owner_elsewhere(&state, sub_key) {
        Some((cluster, node)) => {
            let command = calls::RunQueueCommand { sub_key: sub_key.to_owned(), command: cmd };
            call_owner(cluster, node, command).await?.count
        }
        None => {
            let sub = sub_entry(&state, sub_key)?;
            sub.addr.send(cmd).await.map_err(PubSubError::from)??
        }
    };
    audit_admin(&caller, &format!("subscription.{cmd:?}").to_lowercase(), sub_key);
    let field = match cmd {
        QueueCommand::RequeueDead => "requeued",
        QueueCommand::Clear | QueueCommand::PurgeDead => "deleted",
    };
    Ok(HttpResponse::Ok().json(json!({ field: n })))
}

async fn queue_clear(
    caller: AdminCaller,
    state: web::Data<Node>,
    key: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    queue_command(caller, state, &key, QueueCommand::Clear).await
}

async fn dead_letters_purge(
    caller: AdminCaller,
    state: web::Data<Node>,
    key: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    queue_command(caller, state, &key, QueueCommand::PurgeDead).await
}

async fn dead_letters_requeue(
    caller: AdminCaller,
    state: web::Data<Node>,
    key: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    queue_command(caller, state, &key, QueueCommand::RequeueDead).await
}

async fn read(
    _caller: AdminCaller,
    state: web::Data<Node>,
    msg_id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let (msg, holders) = locate(&state, &msg_id).await?;
    let mut body = msg.to_external(None, 0, msg.pub_time);
    body["has_gd"] = json!(msg.has_gd);
    body["pub_pattern_matched"] = json!(msg.pub_pattern_matched);
    body["sub_keys"] = json!(holders);
    Ok(HttpResponse::Ok().json(body))
}

/// The fields of an in-place edit. `expiration` counts from the publication time unless
/// `exp_from_now` is true.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditInput {
    data: Option<Value>,
    priority: Option<i64>,
    expiration: Option<i64>,
    exp_from_now: Option<bool>,
    correl_id: Option<String>,
    in_reply_to: Option<String>,
    mime_type: Option<String>,
}

async fn edit(
    caller: AdminCaller,
    state: web::Data<Node>,
    msg_id: web::Path<String>,
    body: web::Json<EditInput>,
) -> Result<HttpResponse, NodeError> {
    let input = body.into_inner();
    if input.data.as_ref().is_some_and(|d| d.is_null() || d == "" || d == &json!({}) || d == &json!([])) {
        return Err(NodeError::bad_request("`data` must not be empty"));
    }
    if input.priority.is_some_and(|p| !(1..=9).contains(&p)) {
        return Err(NodeError::bad_request("priority outside of allowed range 1-9"));
    }
    if input.expiration.is_some_and(|e| e < 0) {
        return Err(NodeError::bad_request("`expiration` must not be negative"));
    }
    let (current, holders) = locate(&state, &msg_id).await?;
    let mut edited = (*current).clone();
    if let Some(data) = &input.data {
        edited.size = match data {
            Value::String(s) => s.len(),
            other => other.to_string().len(),
        } as i64;
        edited.data = data.to_string();
    }
    if let Some(p) = input.priority {
        edited.priority = p as i32;
    }
    if let Some(exp) = input.expiration {
        let from = if input.exp_from_now.unwrap_or(false) { now_micros() } else { edited.pub_time };
        edited.expiration = exp;
        edited.expiration_time = from.saturating_add(exp.saturating_mul(1_000_000));
    }
    if input.correl_id.is_some() {
        edited.correl_id = input.correl_id.clone();
    }
    if input.in_reply_to.is_some() {
        edited.in_reply_to = input.in_reply_to.clone();
    }
    if let Some(m) = &input.mime_type {
        edited.mime_type = m.clone();
    }
    if edited.has_gd {
        let change = MessageEdit {
            data: Some(edited.data.clone()),
            size: Some(edited.size),
            priority: Some(edited.priority),
            expiration: Some(edited.expiration),
            expiration_time: Some(edited.expiration_time),
            pub_correl_id: Some(edited.correl_id.clone()),
            in_reply_to: Some(edited.in_reply_to.clone()),
            mime_type: Some(edited.mime_type.clone()),
            last_updated: Some(now_micros()),
        };
        let store = state.store.clone();
        let id = edited.msg_id.clone();
        blocking(move || store.message_update(&id, change)).await?;
    }
    let edited = Arc::new(edited);
    let _ = holders;
    apply_edit(&state, &edited).await;
    tell_peers(&state, calls::MessageEdited(SharedMessage(edited.clone()))).await;
    audit_admin(&caller, "message.edit", &edited.msg_id);
    Ok(HttpResponse::Ok().json(edited.to_external(None, 0, edited.pub_time)))
}

async fn delete(
    caller: AdminCaller,
    state: web::Data<Node>,
    msg_id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let (msg, holders) = locate(&state, &msg_id).await?;
    if msg.has_gd {
        let store = state.store.clone();
        let id = msg.msg_id.clone();
        blocking(move || store.message_delete(&id)).await?;
        if let Some(topic) = state.registry.topic_by_id(msg.topic_id) {
            topic.stats.gd.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let _ = holders;
    apply_delete(&state, msg.topic_id, &msg.msg_id).await;
    tell_peers(&state, calls::MessageRemoved { topic_id: msg.topic_id, msg_id: msg.msg_id.clone() }).await;
    audit_admin(&caller, "message.delete", &msg.msg_id);
    Ok(HttpResponse::Ok().json(json!({})))
}
