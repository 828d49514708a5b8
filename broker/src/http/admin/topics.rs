//! `/admin/v1/topics`: create, list, read, edit, delete.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::time::{iso, now_micros};
use signalbox_schema::models::{Topic, TopicFields};
use signalbox_schema::{NoSubsPolicy, OverflowPolicy, TopicSearch};

use super::{list_answer, parse_id, with_id, ListQuery};
use crate::http::auth::{audit_admin, AdminCaller};
use crate::node::error::one_of;
use crate::node::error::{blocking, NodeError};
use crate::node::publish_input::MAX_SECONDS;
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/topics").route(web::get().to(list)).route(web::post().to(create))).service(
        web::resource("/topics/{id}")
            .route(web::get().to(read))
            .route(web::patch().to(edit))
            .route(web::delete().to(delete)),
    );
}

/// Topic fields as the API takes them; absent fields keep their default (create) or value (edit).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicInput {
    pub name: Option<String>,
    pub is_active: Option<bool>,
    pub has_gd: Option<bool>,
    pub is_api_sub_allowed: Option<bool>,
    pub max_depth_gd: Option<i64>,
    pub max_depth_non_gd: Option<i64>,
    pub on_overflow_non_gd: Option<String>,
    pub limit_message_expiry: Option<i64>,
    pub limit_sub_inactivity: Option<i64>,
    pub on_no_subs_pub: Option<String>,
    pub dedup_window: Option<i64>,
}

/// A valid topic name: printable ASCII without spaces, 1–200 characters.
pub fn validate_topic_name(name: &str) -> Result<(), NodeError> {
    if name.is_empty() || name.len() > 200 || !name.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(NodeError::bad_request("`name` must be 1–200 printable ASCII characters without spaces"));
    }
    Ok(())
}

/// The deepest a topic's queues may be set.
const MAX_DEPTH: i64 = 1_000_000_000;

impl TopicInput {
    fn into_fields(self) -> Result<TopicFields, NodeError> {
        if let Some(name) = &self.name {
            validate_topic_name(name)?;
        }
        for (field, value, min, max) in [
            ("max_depth_gd", self.max_depth_gd, 1, MAX_DEPTH),
            ("max_depth_non_gd", self.max_depth_non_gd, 1, MAX_DEPTH),
            ("limit_message_expiry", self.limit_message_expiry, 1, MAX_SECONDS),
            ("limit_sub_inactivity", self.limit_sub_inactivity, 0, MAX_SECONDS),
            ("dedup_window", self.dedup_window, 0, MAX_SECONDS),
        ] {
            if value.is_some_and(|v| !(min..=max).contains(&v)) {
                return Err(NodeError::bad_request(format!("`{field}` must be {min}–{max}")));
            }
        }
        let on_overflow_non_gd = self.on_overflow_non_gd.as_deref().map(str::parse).transpose()?;
        let on_no_subs_pub = self.on_no_subs_pub.as_deref().map(str::parse).transpose()?;
        Ok(TopicFields {
            name: self.name,
            is_active: self.is_active,
            has_gd: self.has_gd,
            is_api_sub_allowed: self.is_api_sub_allowed,
            max_depth_gd: self.max_depth_gd,
            max_depth_non_gd: self.max_depth_non_gd,
            on_overflow_non_gd,
            limit_message_expiry: self.limit_message_expiry,
            limit_sub_inactivity: self.limit_sub_inactivity,
            on_no_subs_pub,
            dedup_window: self.dedup_window,
            created_at: None,
        })
    }
}

/// Fills every field a create left out with its documented default.
fn with_defaults(mut f: TopicFields) -> TopicFields {
    f.is_active.get_or_insert(true);
    f.has_gd.get_or_insert(false);
    f.is_api_sub_allowed.get_or_insert(true);
    f.max_depth_gd.get_or_insert(10_000);
    f.max_depth_non_gd.get_or_insert(1_000);
    f.on_overflow_non_gd.get_or_insert(OverflowPolicy::Log);
    f.limit_message_expiry.get_or_insert(86_400);
    f.limit_sub_inactivity.get_or_insert(0);
    f.on_no_subs_pub.get_or_insert(NoSubsPolicy::Accept);
    f.dedup_window.get_or_insert(120);
    f.created_at = Some(now_micros());
    f
}

/// A topic with its live figures on this node: depths, subscriptions, last publication.
pub fn topic_json(state: &Node, t: &Topic) -> Value {
    use std::sync::atomic::Ordering;
    let live = state.registry.topic_by_id(t.id);
    let last = live.as_ref().and_then(|e| e.stats.last_pub.lock().ok().and_then(|l| l.clone()));
    json!({
        "depth_gd": live.as_ref().map(|e| e.stats.gd.load(Ordering::Relaxed)),
        "depth_non_gd": live.as_ref().map(|e| e.stats.ram.load(Ordering::Relaxed)),
        "subscriptions": state.registry.subs_of_topic(t.id).len(),
        "last_pub_msg_id": last.as_ref().map(|l| l.msg_id.clone()),
        "last_pub_endpoint": last.as_ref().map(|l| l.endpoint.clone()),
        "last_pub_time": last.map(|l| iso(l.pub_time)).or(t.last_pub_time.map(iso)),
        "id": t.id,
        "name": t.name,
        "is_active": t.is_active,
        "has_gd": t.has_gd,
        "is_api_sub_allowed": t.is_api_sub_allowed,
        "max_depth_gd": t.max_depth_gd,
        "max_depth_non_gd": t.max_depth_non_gd,
        "on_overflow_non_gd": t.on_overflow_non_gd,
        "limit_message_expiry": t.limit_message_expiry,
        "limit_sub_inactivity": t.limit_sub_inactivity,
        "on_no_subs_pub": t.on_no_subs_pub,
        "dedup_window": t.dedup_window,
        "created_at": iso(t.created_at),
    })
}

/// `?name=`, `?active=`, `?has_gd=` (exactly), `?q=` (anywhere in the name, any case),
/// `?limit=&offset=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicListQuery {
    name: Option<String>,
    q: Option<String>,
    active: Option<String>,
    has_gd: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// A yes/no filter of a list, `true` or `false` in the query.
fn flag(field: &str, value: Option<&str>) -> Result<Option<bool>, NodeError> {
    let Some(value) = value else { return Ok(None) };
    one_of(field, value, &["true", "false"])?;
    Ok(Some(value == "true"))
}

async fn list(
    _caller: AdminCaller,
    state: web::Data<Node>,
    query: web::Query<TopicListQuery>,
) -> Result<HttpResponse, NodeError> {
    let TopicListQuery { name, q, active, has_gd, limit, offset } = query.into_inner();
    let is_active = flag("active", active.as_deref())?;
    let has_gd = flag("has_gd", has_gd.as_deref())?;
    let query = ListQuery { q, limit, offset };
    let page = query.page()?;
    let search = TopicSearch { q: query.q().map(str::to_owned), name, is_active, has_gd };
    let store = state.store.clone();
    let found = blocking(move || store.topics_found(&search, page)).await?;
    let rows = found.rows.iter().map(|t| topic_json(&state, t)).collect();
    Ok(list_answer(rows, found.total as usize))
}

async fn create(
    caller: AdminCaller,
    state: web::Data<Node>,
    body: web::Json<TopicInput>,
) -> Result<HttpResponse, NodeError> {
    let input = body.into_inner();
    let Some(name) = input.name.clone() else {
        return Err(NodeError::bad_request("`name` is required"));
    };
    let fields = with_defaults(input.into_fields()?);
    let store = state.store.clone();
    let topic = blocking(move || store.topic_create(fields))
        .await
        .map_err(|e| e.when_conflict(|| format!("a topic named `{name}` already exists")))?;
    audit_admin(&caller, "topic.create", &topic.name);
    state.topics_changed().await?;
    Ok(HttpResponse::Created().json(topic_json(&state, &topic)))
}

async fn read(
    _caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    let topic = with_id(&state, id, "topic", |store, id| store.topic(id)).await?;
    Ok(HttpResponse::Ok().json(topic_json(&state, &topic)))
}

async fn edit(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
    body: web::Json<TopicInput>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    let input = body.into_inner();
    let new_name = input.name.clone().unwrap_or_default();
    let fields = input.into_fields()?;
    let store = state.store.clone();
    let topic = blocking(move || store.topic_update(id, fields)).await.map_err(|e| {
        e.when_not_found(|| format!("no topic with id {id}"))
            .when_conflict(|| format!("a topic named `{new_name}` already exists"))
    })?;
    audit_admin(&caller, "topic.edit", &topic.name);
    state.topics_changed().await?;
    Ok(HttpResponse::Ok().json(topic_json(&state, &topic)))
}

async fn delete(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    let store = state.store.clone();
    let topic = blocking(move || {
        let topic = store.topic(id)?;
        store.topic_delete(id)?;
        Ok(topic)
    })
    .await
    .map_err(|e| e.when_not_found(|| format!("no topic with id {id}")))?;
    audit_admin(&caller, "topic.delete", &topic.name);
    state.topics_changed().await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
