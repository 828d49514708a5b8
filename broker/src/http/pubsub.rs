//! The public pub/sub REST API, on Zato 3.x's paths (INTERFACES §3). `{topic_name}` is the rest
//! of the path, so `/zato/pubsub/topic//customer/new` names `/customer/new`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use signalbox_actors::delivery::{Ack, Pull};
use signalbox_actors::patterns::Access;
use signalbox_actors::registry::{SubEntry, TopicEntry};
use signalbox_actors::PubSubError;
use signalbox_schema::models::Subscription;
use signalbox_schema::DeliveryMethod;

use crate::cluster::calls;
use crate::node::auth::Caller;
use crate::node::error::{blocking, parse_json, ErrorKind, NodeError};
use crate::node::peer_calls::call_owner;
use crate::node::publish::{publish_answer, publish_as};
use crate::node::publish_input;
use crate::node::subscriptions::{create_subscription, with_defaults, SubscriptionOptions};
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/zato/pubsub/topic/{topic_name:.*}")
            .route(web::post().to(publish))
            .route(web::patch().to(pull)),
    )
    .service(web::resource("/zato/pubsub/ack/topic/{topic_name:.*}").route(web::post().to(ack)))
    .service(
        web::resource("/zato/pubsub/subscribe/topic/{topic_name:.*}")
            .route(web::post().to(subscribe))
            .route(web::delete().to(unsubscribe)),
    );
}

fn forbidden() -> NodeError {
    NodeError::forbidden("You are not allowed to access this resource")
}

/// The topic, if it exists and the caller's role and patterns allow `access`; else 403, the
/// same answer whether or not the topic exists.
fn permitted(
    state: &Node,
    caller: &Caller,
    access: Access,
    name: &str,
) -> Result<(TopicEntry, String), NodeError> {
    let pattern = caller.allowed(access, name).ok_or_else(forbidden)?;
    let topic = state.registry.topic(name).ok_or_else(forbidden)?;
    Ok((topic, pattern))
}

async fn publish(
    caller: Caller,
    state: web::Data<Node>,
    req: HttpRequest,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, NodeError> {
    let (topic, pattern) = permitted(&state, &caller, Access::Pub, &name)?;
    let (messages, as_list) = publish_input::parse(&body, &mime_from(&req))?;
    let published = publish_as(&topic, &caller.endpoint, pattern, messages).await?;
    caller.count_in(published.len());
    Ok(HttpResponse::Ok().json(publish_answer(published, as_list)))
}

/// The caller's subscription to a topic: delivered by this node, or by another of the cluster
/// (`node` None while it is being handed over).
enum Found {
    Here(SubEntry),
    There { sub: Box<Subscription>, node: Option<String> },
}

impl Found {
    fn sub(&self) -> &Subscription {
        match self {
            Found::Here(entry) => &entry.sub,
            Found::There { sub, .. } => sub,
        }
    }
}

async fn find_subscription(
    state: &Node,
    caller: &Caller,
    topic: &TopicEntry,
) -> Result<Option<Found>, NodeError> {
    if let Some(entry) = state.registry.sub_of(caller.endpoint.id, topic.topic.id) {
        return Ok(Some(Found::Here(entry)));
    }
    let Some(remote) =
        state.cluster.as_ref().and_then(|c| c.route.sub_of(caller.endpoint.id, topic.topic.id))
    else {
        return Ok(None);
    };
    let (store, key) = (state.store.clone(), remote.sub_key.clone());
    let sub = blocking(move || store.subscription(&key)).await?;
    Ok(Some(Found::There { sub: Box::new(sub), node: remote.node }))
}

/// The cluster, for a subscription another node delivers (there is one when `Found::There`).
fn owner_of(state: &Node) -> Result<&crate::cluster::Cluster, NodeError> {
    state
        .cluster
        .as_ref()
        .ok_or_else(|| NodeError::unavailable("the subscription is moving between nodes, try again", 1))
}

async fn subscription(state: &Node, caller: &Caller, topic: &TopicEntry) -> Result<Found, NodeError> {
    find_subscription(state, caller, topic).await?.ok_or_else(|| {
        NodeError::bad_request(format!("You are not subscribed to topic `{}`", topic.topic.name))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PullQuery {
    max: Option<usize>,
}

async fn pull(
    caller: Caller,
    state: web::Data<Node>,
    name: web::Path<String>,
    query: web::Query<PullQuery>,
) -> Result<HttpResponse, NodeError> {
    let (topic, _) = permitted(&state, &caller, Access::Sub, &name)?;
    let found = subscription(&state, &caller, &topic).await?;
    let sub = found.sub();
    if sub.delivery_method != DeliveryMethod::Pull {
        return Err(NodeError::bad_request(format!(
            "subscription `{}` delivers by push (`notify`): there is nothing to pull",
            sub.sub_key
        )));
    }
    let max = query.max.unwrap_or(sub.delivery_batch_size as usize);
    if !(1..=10_000).contains(&max) {
        return Err(NodeError::bad_request("`max` must be 1–10000"));
    }
    let sub = match found {
        Found::Here(entry) => entry,
        Found::There { sub, node } => {
            let request = calls::Pull { sub_key: sub.sub_key, max };
            let pulled = call_owner(owner_of(&state)?, node, request).await?;
            caller.count_out(pulled.len());
            return Ok(HttpResponse::Ok().json(pulled));
        }
    };
    let delivered = sub.addr.send(Pull { max }).await.map_err(PubSubError::from)??;
    let key = Some(sub.sub.sub_key.as_str());
    let out: Vec<_> =
        delivered.iter().map(|d| d.msg.to_external(key, d.delivery_count, d.recv_time)).collect();
    caller.count_out(out.len());
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    msg_id_list: Vec<String>,
}

async fn ack(
    caller: Caller,
    state: web::Data<Node>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, NodeError> {
    let (topic, _) = permitted(&state, &caller, Access::Sub, &name)?;
    let found = subscription(&state, &caller, &topic).await?;
    let body: AckBody = serde_json::from_slice(&body)
        .map_err(|e| NodeError::bad_request(format!("invalid request body: {e}")))?;
    if body.msg_id_list.len() > 10_000 {
        return Err(NodeError::bad_request("at most 10000 msg_ids per ack"));
    }
    let sub = match found {
        Found::Here(entry) => entry,
        Found::There { sub, node } => {
            let request = calls::Ack { sub_key: sub.sub_key, msg_ids: body.msg_id_list };
            return Ok(HttpResponse::Ok().json(call_owner(owner_of(&state)?, node, request).await?));
        }
    };
    let outcome = sub.addr.send(Ack { msg_ids: body.msg_id_list }).await.map_err(PubSubError::from)??;
    Ok(HttpResponse::Ok().json(json!({"acked": outcome.acked, "unknown": outcome.unknown})))
}

async fn subscribe(
    caller: Caller,
    state: web::Data<Node>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, NodeError> {
    let (topic, pattern) = permitted(&state, &caller, Access::Sub, &name)?;
    if !topic.topic.is_api_sub_allowed {
        return Err(forbidden());
    }
    let options: SubscriptionOptions = if body.iter().all(u8::is_ascii_whitespace) {
        SubscriptionOptions::default()
    } else {
        parse_json(&body)?
    };
    if options.push.is_some() {
        // Only an admin decides where the node sends data (admin API, CLI or `apply`).
        return Err(NodeError::forbidden(
            "`push` targets are set by an admin (admin API, CLI or apply), not by a subscriber",
        ));
    }
    let store = state.store.clone();
    if let Some(existing) = find_subscription(&state, &caller, &topic).await? {
        let key = existing.sub().sub_key.clone();
        let depth = blocking(move || store.queue_depth(&key)).await?;
        return Ok(HttpResponse::Ok().json(json!({"sub_key": existing.sub().sub_key, "queue_depth": depth})));
    }
    let mut fields = options.to_fields(&caller.endpoint, None, &state)?;
    fields.topic_id = Some(topic.topic.id);
    fields.endpoint_id = Some(caller.endpoint.id);
    fields.sub_pattern_matched = Some(pattern);
    fields.server_name = Some(Some(state.node_name.clone()));
    let fields = with_defaults(fields);
    let state2 = state.clone();
    let endpoint_type = caller.endpoint.endpoint_type;
    let created = blocking(move || create_subscription(&state2, fields, endpoint_type.as_str())).await;
    let sub = match created {
        Ok(sub) => sub,
        // Subscribed a moment ago by a parallel request: answer that subscription.
        Err(e) if e.kind == ErrorKind::Conflict => {
            let (store, endpoint_id, topic_id) = (state.store.clone(), caller.endpoint.id, topic.topic.id);
            blocking(move || store.subscription_of(endpoint_id, topic_id))
                .await?
                .ok_or_else(|| NodeError::conflict("subscription changed concurrently, try again"))?
        }
        Err(e) => return Err(e),
    };
    state.subscription_changed(&sub.sub_key).await?;
    log::info!(target: "signalbox::audit", "event=subscribe endpoint={} topic={} sub_key={}", caller.endpoint.name, topic.topic.name, sub.sub_key);
    let key = sub.sub_key.clone();
    let depth = blocking(move || store.queue_depth(&key)).await?;
    Ok(HttpResponse::Ok().json(json!({"sub_key": sub.sub_key, "queue_depth": depth})))
}

async fn unsubscribe(
    caller: Caller,
    state: web::Data<Node>,
    name: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let (topic, _) = permitted(&state, &caller, Access::Sub, &name)?;
    if let Some(found) = find_subscription(&state, &caller, &topic).await? {
        let store = state.store.clone();
        let key = found.sub().sub_key.clone();
        match blocking(move || store.subscription_delete(&key)).await {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        state.subscription_changed(&found.sub().sub_key).await?;
        log::info!(target: "signalbox::audit", "event=unsubscribe endpoint={} topic={} sub_key={}", caller.endpoint.name, topic.topic.name, found.sub().sub_key);
    }
    Ok(HttpResponse::Ok().json(json!({})))
}

/// The MIME type a message gets when its publisher names none: the request's Content-Type,
/// unless that is missing or a form encoding.
pub fn mime_from(req: &actix_web::HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
        .filter(|v| !v.is_empty() && v != "application/x-www-form-urlencoded")
        .unwrap_or_else(|| "application/json".into())
}
