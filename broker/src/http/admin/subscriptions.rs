//! `/admin/v1/subscriptions`: a subscription ties an endpoint to a topic and owns a queue.
//! Validation lives here and is shared with the pub/sub API's subscribe route.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::patterns::Access;
use signalbox_schema::models::Subscription;
use signalbox_schema::SubscriptionSearch;

use super::{list_answer, ListQuery};
use crate::http::auth::{audit_admin, AdminCaller};
use crate::node::auth::Caller;
use crate::node::error::{blocking, from_json_value, parse_json, NodeError};
use crate::node::subscriptions::{
    create_subscription, subscription_json, with_defaults, SubscriptionOptions,
};
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/subscriptions").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            web::resource("/subscriptions/{sub_key}")
                .route(web::get().to(read))
                .route(web::patch().to(edit))
                .route(web::delete().to(delete)),
        );
}

/// In a cluster, `node` is the node that delivers the subscription now (null while it moves).
/// What names a new subscription; its other fields are [`SubscriptionOptions`].
#[derive(Debug, Deserialize)]
struct CreateInput {
    topic_name: String,
    endpoint: String,
}

fn with_owner(state: &Node, mut json: Value) -> Value {
    let Some(cluster) = &state.cluster else { return json };
    let key = json["sub_key"].as_str().unwrap_or_default().to_owned();
    json["node"] = match state.registry.sub(&key) {
        Some(_) => json!(state.node_name),
        None => json!(cluster.route.get(&key).and_then(|r| r.node)),
    };
    json
}

/// `?q=` (anywhere in the sub key, topic or endpoint name, any case), `?topic_name=` and
/// `?endpoint=` (exactly), `?limit=&offset=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionListQuery {
    q: Option<String>,
    topic_name: Option<String>,
    endpoint: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(
    _caller: AdminCaller,
    state: web::Data<Node>,
    query: web::Query<SubscriptionListQuery>,
) -> Result<HttpResponse, NodeError> {
    let SubscriptionListQuery { q, topic_name, endpoint, limit, offset } = query.into_inner();
    let list = ListQuery { q, limit, offset };
    let page = list.page()?;
    let search = SubscriptionSearch { q: list.q().map(str::to_owned), topic_name, endpoint };
    let store = state.store.clone();
    let found = blocking(move || store.subscriptions_found(&search, page)).await?;
    let rows: Vec<Value> =
        found.rows.iter().map(|(s, t, e)| with_owner(&state, subscription_json(s, t, e))).collect();
    Ok(list_answer(rows, found.total as usize))
}

async fn create(
    caller: AdminCaller,
    state: web::Data<Node>,
    body: web::Bytes,
) -> Result<HttpResponse, NodeError> {
    // The subscription's own fields are read apart, so that an error names the field.
    let mut fields: serde_json::Map<String, Value> = parse_json(&body)?;
    let (topic_name, endpoint) = (fields.remove("topic_name"), fields.remove("endpoint"));
    let CreateInput { topic_name, endpoint } =
        from_json_value(json!({"topic_name": topic_name, "endpoint": endpoint}))?;
    let options: SubscriptionOptions = from_json_value(Value::Object(fields))?;
    let store = state.store.clone();
    let name = topic_name.clone();
    let topic = blocking(move || store.topic_by_name(&name))
        .await
        .map_err(|e| e.when_missing_reference(|| format!("no topic named `{topic_name}`")))?;
    let store = state.store.clone();
    let name = endpoint.clone();
    let endpoint = blocking(move || store.endpoint_by_name(&name))
        .await
        .map_err(|e| e.when_missing_reference(|| format!("no endpoint named `{endpoint}`")))?;
    let pattern = Caller::of(std::sync::Arc::new(endpoint.clone()))
        .allowed(Access::Sub, &topic.name)
        .ok_or_else(|| {
            NodeError::bad_request(format!(
                "endpoint `{}` (role {}) has no `sub=` pattern matching topic `{}`",
                endpoint.name, endpoint.role, topic.name
            ))
        })?;
    let mut fields = options.to_fields(&endpoint, None, &state)?;
    fields.topic_id = Some(topic.id);
    fields.endpoint_id = Some(endpoint.id);
    fields.sub_pattern_matched = Some(pattern);
    fields.server_name = Some(Some(state.node_name.clone()));
    let fields = with_defaults(fields);
    let state2 = state.clone();
    let endpoint_type = endpoint.endpoint_type;
    let sub = blocking(move || create_subscription(&state2, fields, endpoint_type.as_str())).await.map_err(
        |e| {
            e.when_conflict(|| {
                format!("endpoint `{}` is already subscribed to `{}`", endpoint.name, topic.name)
            })
        },
    )?;
    audit_admin(&caller, "subscription.create", &sub.sub_key);
    state.subscription_changed(&sub.sub_key).await?;
    Ok(HttpResponse::Created().json(with_owner(&state, subscription_json(&sub, &topic.name, &endpoint.name))))
}

async fn read(
    _caller: AdminCaller,
    state: web::Data<Node>,
    sub_key: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let (sub, topic, endpoint) = load(&state, sub_key.into_inner()).await?;
    Ok(HttpResponse::Ok().json(with_owner(&state, subscription_json(&sub, &topic, &endpoint))))
}

async fn load(state: &Node, sub_key: String) -> Result<(Subscription, String, String), NodeError> {
    let store = state.store.clone();
    let key = sub_key.clone();
    blocking(move || store.subscription_named(&key))
        .await
        .map_err(|e| e.when_not_found(|| format!("no subscription `{sub_key}`")))
}

async fn edit(
    caller: AdminCaller,
    state: web::Data<Node>,
    sub_key: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, NodeError> {
    let body: SubscriptionOptions = parse_json(&body)?;
    let (current, topic, endpoint_name) = load(&state, sub_key.into_inner()).await?;
    let store = state.store.clone();
    let endpoint_id = current.endpoint_id;
    let endpoint = blocking(move || store.endpoint(endpoint_id)).await?;
    let fields = body.to_fields(&endpoint, Some(&current), &state)?;
    let store = state.store.clone();
    let key = current.sub_key.clone();
    let sub = blocking(move || store.subscription_update(&key, fields)).await?;
    audit_admin(&caller, "subscription.edit", &sub.sub_key);
    state.subscription_changed(&sub.sub_key).await?;
    Ok(HttpResponse::Ok().json(with_owner(&state, subscription_json(&sub, &topic, &endpoint_name))))
}

async fn delete(
    caller: AdminCaller,
    state: web::Data<Node>,
    sub_key: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let sub_key = sub_key.into_inner();
    let store = state.store.clone();
    let key = sub_key.clone();
    blocking(move || store.subscription_delete(&key))
        .await
        .map_err(|e| e.when_not_found(|| format!("no subscription `{sub_key}`")))?;
    audit_admin(&caller, "subscription.delete", &sub_key);
    state.subscription_changed(&sub_key).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
