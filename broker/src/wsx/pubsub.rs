//! Pub/sub over WSX under Zato's service names, run for the logged-in endpoint of a session:
//! publish, subscribe (one topic or a list), unsubscribe, resume.

use std::future::Future;
use std::sync::Arc;

use actix::prelude::*;
use actix_web::web;
use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::delivery::{AttachSession, DetachSession};
use signalbox_actors::patterns::Access;
use signalbox_actors::services::ServiceError;
use signalbox_actors::sinks::PushFrame;
use signalbox_schema::models::{Endpoint, SubscriptionFields};
use signalbox_schema::{AckMode, DeliveryMethod};

use super::session::{WsxSession, MAX_SUBS_PER_SESSION};
use crate::node::auth::Caller;
use crate::node::error::{blocking, ErrorKind, NodeError};
use crate::node::sessions::ReleaseSubscription;
use crate::node::subscriptions::{create_subscription, with_defaults, SubscriptionOptions};
use crate::node::Node;
use crate::node::{publish, publish_input};

const PUBLISH: &str = "zato.pubsub.pubapi.publish-message";
const SUBSCRIBE: &str = "zato.pubsub.pubapi.subscribe-wsx";
const CREATE_SUBSCRIPTION: &str = "zato.pubsub.subscription.create-wsx-subscription";
const UNSUBSCRIBE: &str = "zato.pubsub.pubapi.unsubscribe";
const RESUME: &str = "zato.pubsub.resume-wsx-subscription";
/// Topics one `create-wsx-subscription` may name.
const MAX_TOPIC_NAME_LIST: usize = 100;

pub fn handles(service: &str) -> bool {
    [PUBLISH, SUBSCRIBE, CREATE_SUBSCRIPTION, UNSUBSCRIBE, RESUME].contains(&service)
}

fn refused(status: u16, message: impl Into<String>) -> ServiceError {
    ServiceError::Status { status, message: message.into() }
}

fn too_many_subs() -> ServiceError {
    refused(400, format!("a connection serves at most {MAX_SUBS_PER_SESSION} subscriptions"))
}

/// The fields of a WSX subscription (INTERFACES §4).
#[derive(Debug, Deserialize)]
struct SubscribeRequest {
    topic_name: Option<String>,
    topic_name_list: Option<Vec<String>>,
    ack_mode: Option<String>,
    ack_timeout: Option<f64>,
    delivery_batch_size: Option<i64>,
    wrap_one_msg_in_list: Option<bool>,
    max_in_flight: Option<i64>,
    unsub_on_wsx_close: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct SubKeyRequest {
    sub_key: String,
    topic_name: Option<String>,
}

fn parse<T: for<'de> Deserialize<'de>>(request: Value) -> Result<T, ServiceError> {
    serde_json::from_value(request).map_err(|e| ServiceError::bad_request(format!("invalid request: {e}")))
}

/// Runs one of the pub/sub services for the session's endpoint.
pub fn invoke(
    session: &mut WsxSession,
    ctx: &mut Context<WsxSession>,
    service: &str,
    request: Value,
) -> ResponseActFuture<WsxSession, Result<Value, ServiceError>> {
    let Some(login) = session.login.as_ref() else {
        return Box::pin(fut::ready(Err(refused(403, "not logged in"))));
    };
    let endpoint = login.endpoint.clone();
    let caller = login.caller.clone();
    let client_id = login.client_id.clone().unwrap_or_default();
    let state = session.state.clone();
    let me: Recipient<PushFrame> = ctx.address().recipient();
    match service {
        PUBLISH => match publish(&state, caller, request) {
            Ok(published) => Box::pin(published.into_actor(session)),
            Err(e) => Box::pin(fut::ready(Err(e))),
        },
        RESUME if session.subs.len() >= MAX_SUBS_PER_SESSION => Box::pin(fut::ready(Err(too_many_subs()))),
        RESUME => Box::pin(resume(state, endpoint, me, request).into_actor(session).map(remember)),
        UNSUBSCRIBE => {
            Box::pin(unsubscribe(state, endpoint, request).into_actor(session).map(|result, act, _| {
                let (key, reply) = result?;
                act.subs.retain(|(k, _)| *k != key);
                Ok(reply)
            }))
        }
        _ => {
            let single = service == SUBSCRIBE;
            let room = MAX_SUBS_PER_SESSION.saturating_sub(session.subs.len());
            Box::pin(
                subscribe(state, endpoint, client_id, me, request, single, room)
                    .into_actor(session)
                    .map(remember),
            )
        }
    }
}

/// Records the subscriptions a call attached to the session, and answers its reply.
fn remember(
    result: Result<(Vec<(String, bool)>, Value), ServiceError>,
    act: &mut WsxSession,
    _ctx: &mut Context<WsxSession>,
) -> Result<Value, ServiceError> {
    let (keys, reply) = result?;
    for key in keys {
        if !act.subs.iter().any(|(k, _)| *k == key.0) {
            act.subs.push(key);
        }
    }
    Ok(reply)
}

/// Checks and queues a publication for its topic at once — so a client's pipelined
/// publications keep their order — and answers a future of the reply.
fn publish(
    state: &Node,
    caller: Caller,
    request: Value,
) -> Result<impl Future<Output = Result<Value, ServiceError>> + 'static, ServiceError> {
    let mut fields = match request {
        Value::Object(o) => o,
        _ => {
            return Err(ServiceError::bad_request(
                "the request must be an object with `topic_name` and `data`",
            ))
        }
    };
    let topic_name = match fields.remove("topic_name") {
        Some(Value::String(t)) => t,
        _ => return Err(ServiceError::bad_request("`topic_name` is required")),
    };
    let item: publish_input::PublishItem = parse(Value::Object(fields))?;
    let as_list = item.data_list.is_some();
    let messages = publish_input::into_messages(item, "application/json")?;
    let pattern =
        caller.allowed(Access::Pub, &topic_name).ok_or_else(|| refused(403, crate::frames::FORBIDDEN))?;
    let topic = state.registry.topic(&topic_name).ok_or_else(|| refused(403, crate::frames::FORBIDDEN))?;
    let published = publish::publish_as(&topic, &caller.endpoint, pattern, messages);
    Ok(async move { Ok(publish::publish_answer(published.await?, as_list)) })
}

async fn subscribe(
    state: web::Data<Node>,
    endpoint: Arc<Endpoint>,
    client_id: String,
    me: Recipient<PushFrame>,
    request: Value,
    single: bool,
    room: usize,
) -> Result<(Vec<(String, bool)>, Value), ServiceError> {
    let req: SubscribeRequest = parse(request)?;
    let names = match (&req.topic_name, &req.topic_name_list) {
        (Some(t), None) => vec![t.clone()],
        (None, Some(list)) if list.len() > MAX_TOPIC_NAME_LIST => {
            return Err(ServiceError::bad_request(format!(
                "`topic_name_list` names at most {MAX_TOPIC_NAME_LIST} topics"
            )))
        }
        (None, Some(list)) if !list.is_empty() && !single => list.clone(),
        _ => {
            return Err(ServiceError::bad_request(
                "give `topic_name` (or, to create-wsx-subscription, `topic_name_list`)",
            ))
        }
    };
    let ack_mode = match req.ack_mode.as_deref() {
        None => AckMode::Auto,
        Some(word) => {
            word.parse().map_err(|_| ServiceError::bad_request("`ack_mode` must be `auto` or `explicit`"))?
        }
    };
    SubscriptionOptions {
        ack_timeout: req.ack_timeout,
        delivery_batch_size: req.delivery_batch_size,
        max_in_flight: req.max_in_flight,
        ..SubscriptionOptions::default()
    }
    .check_bounds()?;
    if names.len() > room {
        return Err(too_many_subs());
    }
    let unsub = req.unsub_on_wsx_close.unwrap_or(true);
    let who = Caller::of(endpoint.clone());
    let client: String =
        client_id.chars().filter(|c| c.is_ascii_alphanumeric() || "-_".contains(*c)).take(64).collect();
    let kind = if client.is_empty() { "wsx".to_owned() } else { format!("wsx.{client}") };
    // Every name is checked before anything is made: a refused list leaves no subscription
    // behind (one the session would not know of, and so never end).
    let mut allowed = Vec::with_capacity(names.len());
    for name in names {
        let pattern =
            who.allowed(Access::Sub, &name).ok_or_else(|| refused(403, crate::frames::FORBIDDEN))?;
        let topic = state.registry.topic(&name).filter(|t| t.topic.is_api_sub_allowed);
        let topic = topic.ok_or_else(|| refused(403, crate::frames::FORBIDDEN))?;
        allowed.push((name, pattern, topic));
    }
    let mut attached = Vec::new();
    let mut sub_data = Vec::new();
    for (name, pattern, topic) in allowed {
        let fields = with_defaults(SubscriptionFields {
            topic_id: Some(topic.topic.id),
            endpoint_id: Some(endpoint.id),
            sub_pattern_matched: Some(pattern),
            delivery_method: Some(DeliveryMethod::Notify),
            ack_mode: Some(ack_mode),
            ack_timeout: req.ack_timeout,
            delivery_batch_size: req.delivery_batch_size,
            wrap_one_msg_in_list: req.wrap_one_msg_in_list,
            max_in_flight: req.max_in_flight,
            push_config: Some(Some(json!({"type": "wsx"}).to_string())),
            is_wsx: Some(true),
            unsub_on_wsx_close: Some(unsub),
            server_name: Some(Some(state.node_name.clone())),
            ..SubscriptionFields::default()
        });
        let (st, k) = (state.clone(), kind.clone());
        let sub = blocking(move || create_subscription(&st, fields, &k)).await?;
        state.subscription_changed(&sub.sub_key).await?;
        attach(&state, &sub.sub_key, Some(me.clone())).await?;
        let depth = depth(&state, &sub.sub_key).await?;
        log::info!(target: "signalbox::audit", "event=wsx_subscribe endpoint={} topic={name} sub_key={}", endpoint.name, sub.sub_key);
        sub_data.push(json!({"topic_name": name, "sub_key": sub.sub_key, "current_depth": depth}));
        attached.push((sub.sub_key, unsub));
    }
    let reply = match (req.topic_name_list.is_some(), sub_data.len()) {
        (false, 1) => {
            json!({"sub_key": sub_data[0]["sub_key"], "current_depth": sub_data[0]["current_depth"]})
        }
        _ => json!({"sub_data": sub_data}),
    };
    Ok((attached, reply))
}

async fn attach(
    state: &Node,
    sub_key: &str,
    session: Option<Recipient<PushFrame>>,
) -> Result<(), ServiceError> {
    let sub = state
        .registry
        .sub(sub_key)
        .ok_or_else(|| ServiceError::failed("the subscription has no delivery actor"))?;
    sub.addr.send(AttachSession(session)).await.map_err(|e| ServiceError::failed(e.to_string()))
}

async fn depth(state: &Node, sub_key: &str) -> Result<i64, ServiceError> {
    let (store, key) = (state.store.clone(), sub_key.to_owned());
    Ok(blocking(move || store.queue_depth(&key)).await?)
}

/// The session's own WSX subscription `sub_key`; anything else is refused with 403.
fn own_subscription(
    state: &Node,
    endpoint: &Endpoint,
    sub_key: &str,
) -> Result<signalbox_actors::registry::SubEntry, ServiceError> {
    state
        .registry
        .sub(sub_key)
        .filter(|s| s.sub.is_wsx && s.sub.endpoint_id == endpoint.id)
        .ok_or_else(|| refused(403, crate::frames::FORBIDDEN))
}

/// In a cluster, a WSX subscription is delivered where its session is: a client resuming on
/// another node than the one delivering it (after a reconnect, or a failover) has it handed
/// over to this node first.
async fn bring_here(state: &Node, endpoint: &Endpoint, sub_key: &str) -> Result<(), ServiceError> {
    if state.cluster.is_none() {
        return Ok(());
    }
    let (store, key) = (state.store.clone(), sub_key.to_owned());
    let sub = blocking(move || store.subscription(&key))
        .await
        .map_err(|_| refused(403, crate::frames::FORBIDDEN))?;
    if !sub.is_wsx || sub.endpoint_id != endpoint.id {
        return Err(refused(403, crate::frames::FORBIDDEN));
    }
    state.move_subscription(sub_key, &state.node_name).await.map_err(|e| refused(503, e.details))
}

async fn resume(
    state: web::Data<Node>,
    endpoint: Arc<Endpoint>,
    me: Recipient<PushFrame>,
    request: Value,
) -> Result<(Vec<(String, bool)>, Value), ServiceError> {
    let req: SubKeyRequest = parse(request)?;
    if state.registry.sub(&req.sub_key).is_none() {
        bring_here(&state, &endpoint, &req.sub_key).await?;
    }
    let sub = own_subscription(&state, &endpoint, &req.sub_key)?;
    attach(&state, &req.sub_key, Some(me.clone())).await?;
    // Any other session of this node that had it lets go (a client reconnecting over a
    // half-open connection has one) and gives back what it was still pushing, which the
    // delivery actor sends to this session before anything newer.
    for other in state.wsx_sessions.all() {
        if other.push != me {
            let _ = other.release.send(ReleaseSubscription { sub_key: req.sub_key.clone() }).await;
        }
    }
    // Served from this node now: a restart of the node it came from must not end it.
    let (store, key, node) = (state.store.clone(), req.sub_key.clone(), state.node_name.clone());
    let here = SubscriptionFields { server_name: Some(Some(node)), ..SubscriptionFields::default() };
    blocking(move || store.subscription_update(&key, here)).await?;
    let depth = depth(&state, &req.sub_key).await?;
    Ok((
        vec![(req.sub_key.clone(), sub.sub.unsub_on_wsx_close)],
        json!({"sub_key": req.sub_key, "current_depth": depth}),
    ))
}

async fn unsubscribe(
    state: web::Data<Node>,
    endpoint: Arc<Endpoint>,
    request: Value,
) -> Result<(String, Value), ServiceError> {
    let req: SubKeyRequest = parse(request)?;
    let sub = own_subscription(&state, &endpoint, &req.sub_key)?;
    if req.topic_name.as_ref().is_some_and(|t| *t != sub.topic_name) {
        return Err(refused(
            400,
            format!("`{}` is not a subscription to `{}`", req.sub_key, req.topic_name.unwrap_or_default()),
        ));
    }
    let (store, key) = (state.store.clone(), req.sub_key.clone());
    blocking(move || store.subscription_delete(&key)).await?;
    state.subscription_changed(&req.sub_key).await?;
    Ok((req.sub_key, json!({})))
}

/// A session ended: of the subscriptions it still holds (none that another session has resumed
/// since), those with `unsub_on_wsx_close` end with it and the others wait for a
/// `resume-wsx-subscription`.
pub async fn end_subscriptions(state: &Node, session: &Recipient<PushFrame>, subs: Vec<(String, bool)>) {
    for (key, unsub) in subs {
        let Some(sub) = state.registry.sub(&key) else { continue };
        if !sub.addr.send(DetachSession(session.clone())).await.unwrap_or(false) || !unsub {
            continue;
        }
        if let Err(e) = end_subscription(state, &key).await {
            log::warn!("event=wsx_unsubscribe_failed sub_key={key} error={e}");
        }
    }
}

/// Deletes a subscription that ended with its connection (gone already is no error).
async fn end_subscription(state: &Node, key: &str) -> Result<(), NodeError> {
    let (store, k) = (state.store.clone(), key.to_owned());
    match blocking(move || store.subscription_delete(&k)).await {
        Ok(()) | Err(NodeError { kind: ErrorKind::NotFound, .. }) => {}
        Err(e) => return Err(e),
    }
    state.subscription_changed(key).await
}

/// At start-up no session of this node exists yet: WSX subscriptions that end with their
/// connection and were served from here (a crash or a kill left them behind) end now.
pub async fn end_orphans(state: &Node) -> Result<usize, NodeError> {
    let server = state.cluster.as_ref().map(|_| state.node_name.clone());
    let store = state.store.clone();
    let keys = blocking(move || store.wsx_subscriptions_ending_with_session(server.as_deref())).await?;
    for key in &keys {
        end_subscription(state, key).await?;
        log::info!("event=wsx_orphan_unsubscribed sub_key={key}");
    }
    Ok(keys.len())
}
