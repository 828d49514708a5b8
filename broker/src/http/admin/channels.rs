//! `/admin/v1/channels` (WSX channels) and `/admin/v1/sessions` (their live connections).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::time::{iso, now_micros};
use signalbox_schema::models::{WsxChannel, WsxChannelFields};

use super::{json_fields, list_answer, parse_id, search_page, with_id, ListQuery};
use crate::http::auth::{audit_admin, AdminCaller};
use crate::node::error::{blocking, NodeError};
use crate::node::sessions::{DescribeSession, Disconnect, InvokeClient};
use crate::node::Node;
use crate::wsx::{DEFAULT_ALLOWED, GATEWAY};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/channels").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            web::resource("/channels/{id}")
                .route(web::get().to(read))
                .route(web::patch().to(edit))
                .route(web::delete().to(delete)),
        )
        .route("/channels/{id}/sessions", web::get().to(sessions))
        .route("/sessions/{session_id}/invoke", web::post().to(invoke_client))
        .route("/sessions/{session_id}", web::delete().to(disconnect));
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    name: Option<String>,
    path: Option<String>,
    service: Option<String>,
    allowed_services: Option<Vec<String>>,
    new_token_wait_time: Option<f64>,
    token_ttl: Option<f64>,
    ping_interval: Option<f64>,
    pings_missed_threshold: Option<i64>,
    max_frame_size: Option<i64>,
}

fn channel_json(c: &WsxChannel) -> Value {
    json!({
        "id": c.id, "name": c.name, "path": c.path, "service": c.service,
        "allowed_services": serde_json::from_str::<Value>(&c.allowed_services).unwrap_or(Value::Null),
        "new_token_wait_time": c.new_token_wait_time, "token_ttl": c.token_ttl,
        "ping_interval": c.ping_interval, "pings_missed_threshold": c.pings_missed_threshold,
        "max_frame_size": c.max_frame_size, "created_at": iso(c.created_at),
    })
}

impl Input {
    fn into_fields(self) -> Result<WsxChannelFields, NodeError> {
        if self.name.as_ref().is_some_and(|n| n.trim().is_empty() || n.len() > 200) {
            return Err(NodeError::bad_request("`name` must be 1–200 characters"));
        }
        if let Some(p) = &self.path {
            let ok = p.starts_with("/wsx/")
                && p.len() > 5
                && p.len() <= 200
                && p.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'?' && b != b'#');
            if !ok {
                return Err(NodeError::bad_request(
                    "`path` must start with /wsx/ and be a plain URL path, e.g. /wsx/gateway",
                ));
            }
            if p == crate::internal_channel::CHANNEL_PATH {
                return Err(NodeError::bad_request(format!(
                    "`path` {p} is reserved for the cluster's internal link"
                )));
            }
        }
        for (field, value, min) in [
            ("new_token_wait_time", self.new_token_wait_time, 0.1),
            ("token_ttl", self.token_ttl, 1.0),
            ("ping_interval", self.ping_interval, 0.1),
        ] {
            if value.is_some_and(|v| !(v >= min && v <= 86_400.0)) {
                return Err(NodeError::bad_request(format!("`{field}` must be {min}–86400 seconds")));
            }
        }
        if self.pings_missed_threshold.is_some_and(|v| !(1..=100).contains(&v)) {
            return Err(NodeError::bad_request("`pings_missed_threshold` must be 1–100"));
        }
        if self.max_frame_size.is_some_and(|v| !(1024..=64 * 1024 * 1024).contains(&v)) {
            return Err(NodeError::bad_request("`max_frame_size` must be 1 KiB – 64 MiB"));
        }
        if self.service.as_ref().is_some_and(|s| s.is_empty()) {
            return Err(NodeError::bad_request("`service` must not be empty"));
        }
        Ok(WsxChannelFields {
            name: self.name,
            path: self.path,
            service: self.service,
            allowed_services: self.allowed_services.map(|l| json!(l).to_string()),
            new_token_wait_time: self.new_token_wait_time,
            token_ttl: self.token_ttl,
            ping_interval: self.ping_interval,
            pings_missed_threshold: self.pings_missed_threshold,
            max_frame_size: self.max_frame_size,
            created_at: None,
        })
    }
}

async fn reload(state: &Node) -> Result<(), NodeError> {
    let store = state.store.clone();
    let rows = blocking(move || store.wsx_channels()).await?;
    state.channels.reload(rows);
    state.cluster_changed().await;
    Ok(())
}

async fn list(
    _c: AdminCaller,
    state: web::Data<Node>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, NodeError> {
    query.page()?;
    let store = state.store.clone();
    let rows = blocking(move || store.wsx_channels()).await?;
    // `?q=` finds channels by name or path.
    let (page, total) = search_page(&rows, &query, |c| vec![&c.name, &c.path])?;
    Ok(list_answer(page.into_iter().map(channel_json).collect(), total))
}

async fn create(
    caller: AdminCaller,
    state: web::Data<Node>,
    body: web::Json<Input>,
) -> Result<HttpResponse, NodeError> {
    let input = body.into_inner();
    if input.name.is_none() || input.path.is_none() {
        return Err(NodeError::bad_request("`name` and `path` are required"));
    }
    let mut f = input.into_fields()?;
    f.service.get_or_insert_with(|| GATEWAY.into());
    f.allowed_services.get_or_insert_with(|| json!(DEFAULT_ALLOWED).to_string());
    f.new_token_wait_time.get_or_insert(5.0);
    f.token_ttl.get_or_insert(3600.0);
    f.ping_interval.get_or_insert(45.0);
    f.pings_missed_threshold.get_or_insert(2);
    f.max_frame_size.get_or_insert(state.config.max_message_size as i64);
    f.created_at = Some(now_micros());
    let store = state.store.clone();
    let channel = blocking(move || store.wsx_channel_create(f))
        .await
        .map_err(|e| e.when_conflict(|| "a channel with that name or path already exists".into()))?;
    reload(&state).await?;
    audit_admin(&caller, "channel.create", &channel.name);
    Ok(HttpResponse::Created().json(channel_json(&channel)))
}

async fn read(
    _c: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    let channel = with_id(&state, id, "channel", |store, id| store.wsx_channel(id)).await?;
    Ok(HttpResponse::Ok().json(channel_json(&channel)))
}

async fn edit(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
    body: web::Json<Input>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    let fields = body.into_inner().into_fields()?;
    let store = state.store.clone();
    let channel = blocking(move || store.wsx_channel_update(id, fields)).await.map_err(|e| {
        e.when_not_found(|| format!("no channel with id {id}"))
            .when_conflict(|| "a channel with that name or path already exists".into())
    })?;
    reload(&state).await?;
    audit_admin(&caller, "channel.edit", &channel.name);
    Ok(HttpResponse::Ok().json(channel_json(&channel)))
}

async fn delete(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    with_id(&state, id, "channel", |store, id| store.wsx_channel_delete(id)).await?;
    reload(&state).await?;
    for session in state.wsx_sessions.of_channel(id) {
        session.disconnect.do_send(Disconnect);
    }
    audit_admin(&caller, "channel.delete", &id.to_string());
    Ok(HttpResponse::Ok().json(json!({})))
}

async fn sessions(
    _c: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    query.page()?;
    with_id(&state, id, "channel", |store, id| store.wsx_channel(id)).await?;
    let mut out = Vec::new();
    for session in state.wsx_sessions.of_channel(id) {
        if let Ok(info) = session.describe.send(DescribeSession).await {
            out.push(json!(info));
        }
    }
    out.sort_by(|a, b| a["since"].as_str().cmp(&b["since"].as_str()));
    // `?q=` finds sessions by id, endpoint, client id or name, or address.
    let (page, total) = search_page(&out, &query, |s| {
        json_fields(s, &["session_id", "endpoint", "client_id", "client_name", "peer_address"])
    })?;
    let shown: Vec<Value> = page.into_iter().cloned().collect();
    Ok(list_answer(shown, total))
}

async fn invoke_client(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, NodeError> {
    let session =
        state.wsx_sessions.get(&id).ok_or_else(|| NodeError::not_found(format!("no session `{id}`")))?;
    let data: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| NodeError::bad_request(format!("invalid request body: {e}")))?
    };
    audit_admin(&caller, "session.invoke", &id);
    match session.invoke.send(InvokeClient { data }).await {
        Ok(Ok(reply)) => Ok(HttpResponse::Ok().json(reply)),
        Ok(Err(why)) => Err(NodeError::timeout(why)),
        Err(_) => Err(NodeError::not_found(format!("session `{id}` has closed"))),
    }
}

async fn disconnect(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let session =
        state.wsx_sessions.get(&id).ok_or_else(|| NodeError::not_found(format!("no session `{id}`")))?;
    session.disconnect.do_send(Disconnect);
    audit_admin(&caller, "session.disconnect", &id);
    Ok(HttpResponse::Ok().json(json!({})))
}
