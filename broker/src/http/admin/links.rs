//! `/admin/v1/links`: outgoing WSX links to other clusters, their live state, and invoking a
//! remote service over one.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::secrets::SealedAt;
use signalbox_actors::time::{iso, now_micros};
use signalbox_schema::models::{WsxLink, WsxLinkFields};

use super::{list_answer, parse_id, required, search_page, ListQuery};
use crate::http::auth::{audit_admin, AdminCaller};
use crate::links::peer::{InvokeError, LinkStatus, Request};
use crate::node::error::{blocking, NodeError};
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/links").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            web::resource("/links/{id}")
                .route(web::get().to(read))
                .route(web::patch().to(edit))
                .route(web::delete().to(delete)),
        )
        .route("/links/{id}/invoke", web::post().to(invoke));
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    name: Option<String>,
    address: Option<String>,
    username: Option<String>,
    secret: Option<String>,
    is_zato: Option<bool>,
    subscription_list: Option<Vec<String>>,
    on_connect: Option<String>,
    on_message: Option<String>,
    on_close: Option<String>,
    ping_interval: Option<f64>,
    auto_reconnect: Option<bool>,
    max_connect_attempts: Option<i64>,
    invoke_timeout: Option<f64>,
    ca_file: Option<String>,
}

impl Input {
    /// The checked columns, and the secret given (if any): it is sealed for the link's row id,
    /// which a new link has only once stored.
    fn into_fields(self) -> Result<(WsxLinkFields, Option<String>), NodeError> {
        if self.name.as_ref().is_some_and(|n| n.trim().is_empty() || n.len() > 200 || n.contains(':')) {
            return Err(NodeError::bad_request("`name` must be 1–200 characters without `:`"));
        }
        if let Some(a) = &self.address {
            if !(a.starts_with("ws://") || a.starts_with("wss://"))
                || a.len() < 8
                || a.contains(char::is_whitespace)
            {
                return Err(NodeError::bad_request(format!(
                    "`address` must be a ws:// or wss:// URL, not `{a}`"
                )));
            }
        }
        if self.username.as_ref().is_some_and(|u| u.is_empty())
            || self.secret.as_ref().is_some_and(|s| s.is_empty())
        {
            return Err(NodeError::bad_request("`username` and `secret` must not be empty"));
        }
        if self.ping_interval.is_some_and(|p| !(0.1..=3600.0).contains(&p))
            || self.invoke_timeout.is_some_and(|t| !(0.001..=3600.0).contains(&t))
            || self.max_connect_attempts.is_some_and(|m| m < 1)
        {
            return Err(NodeError::bad_request(
                "`ping_interval` 0.1–3600 s, `invoke_timeout` 0.001–3600 s, `max_connect_attempts` at least 1",
            ));
        }
        if let Some(topics) = &self.subscription_list {
            if topics.iter().any(|t| t.is_empty() || t.len() > 200) {
                return Err(NodeError::bad_request(
                    "`subscription_list` holds topic names of 1–200 characters",
                ));
            }
        }
        if let Some(ca) = &self.ca_file {
            crate::tls::client_config(Some(ca)).map_err(NodeError::bad_request)?;
        }
        let hook = |h: Option<String>| h.map(|s| Some(s).filter(|s| !s.is_empty()));
        let fields = WsxLinkFields {
            name: self.name,
            address: self.address,
            username: self.username,
            secret_enc: None,
            is_zato: self.is_zato,
            subscription_list: self.subscription_list.map(|l| json!(l).to_string()),
            on_connect: hook(self.on_connect),
            on_message: hook(self.on_message),
            on_close: hook(self.on_close),
            ping_interval: self.ping_interval,
            auto_reconnect: self.auto_reconnect,
            max_connect_attempts: self.max_connect_attempts.map(Some),
            invoke_timeout: self.invoke_timeout,
            ca_file: self.ca_file.map(Some),
            sub_keys: None,
            created_at: None,
        };
        Ok((fields, self.secret))
    }
}

async fn link_json(state: &Node, l: &WsxLink) -> Value {
    let mut body = json!({
        "id": l.id, "name": l.name, "address": l.address, "username": l.username, "is_zato": l.is_zato,
        "subscription_list": serde_json::from_str::<Value>(&l.subscription_list).unwrap_or(Value::Null),
        "on_connect": l.on_connect, "on_message": l.on_message, "on_close": l.on_close,
        "ping_interval": l.ping_interval, "auto_reconnect": l.auto_reconnect,
        "max_connect_attempts": l.max_connect_attempts, "invoke_timeout": l.invoke_timeout,
        "ca_file": l.ca_file, "created_at": iso(l.created_at),
    });
    let status = match state.links.get(&l.name) {
        Some(addr) => addr.send(LinkStatus).await.unwrap_or(Value::Null),
        None => Value::Null,
    };
    if let Value::Object(s) = status {
        for (k, v) in s {
            body[k] = v;
        }
    }
    body
}

async fn sync(state: &web::Data<Node>) -> Result<(), NodeError> {
    let store = state.store.clone();
    let rows = blocking(move || store.wsx_links()).await?;
    state.run_links(rows, state.leads());
    state.cluster_changed().await;
    Ok(())
}

async fn load(state: &Node, raw: &str) -> Result<WsxLink, NodeError> {
    let id = parse_id(raw)?;
    let store = state.store.clone();
    blocking(move || store.wsx_link(id))
        .await
        .map_err(|e| e.when_not_found(|| format!("no link with id {id}")))
}

async fn list(
    _c: AdminCaller,
    state: web::Data<Node>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, NodeError> {
    query.page()?;
    let store = state.store.clone();
    let rows = blocking(move || store.wsx_links()).await?;
    // `?q=` finds links by name or address.
    let (page, total) = search_page(&rows, &query, |l| vec![&l.name, &l.address])?;
    let mut out = Vec::new();
    for l in page {
        out.push(link_json(&state, l).await);
    }
    Ok(list_answer(out, total))
}

async fn create(
    caller: AdminCaller,
    state: web::Data<Node>,
    body: web::Json<Input>,
) -> Result<HttpResponse, NodeError> {
    let input = body.into_inner();
    required(&[
        ("name", input.name.is_some()),
        ("address", input.address.is_some()),
        ("username", input.username.is_some()),
        ("secret", input.secret.is_some()),
    ])?;
    let (mut f, secret) = input.into_fields()?;
    let secret = secret.unwrap_or_default();
    f.is_zato.get_or_insert(true);
    f.subscription_list.get_or_insert_with(|| "[]".into());
    f.ping_interval.get_or_insert(45.0);
    f.auto_reconnect.get_or_insert(true);
    f.invoke_timeout.get_or_insert(5.0);
    f.sub_keys = Some("{}".into());
    f.created_at = Some(now_micros());
    let name = f.name.clone().unwrap_or_default();
    let (store, key) = (state.store.clone(), state.master_key.clone());
    let seal = move |id| key.encrypt(&secret, &SealedAt::link_secret(id)).map_err(|e| e.to_string());
    let link = blocking(move || store.wsx_link_create(f, seal))
        .await
        .map_err(|e| e.when_conflict(|| format!("a link named `{name}` already exists")))?;
    sync(&state).await?;
    audit_admin(&caller, "link.create", &link.name);
    Ok(HttpResponse::Created().json(link_json(&state, &link).await))
}

async fn read(
    _c: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let link = load(&state, &id).await?;
    Ok(HttpResponse::Ok().json(link_json(&state, &link).await))
}

/// Settings changes reach the link by reconnecting it.
async fn edit(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
    body: web::Json<Input>,
) -> Result<HttpResponse, NodeError> {
    let current = load(&state, &id).await?;
    let (mut fields, secret) = body.into_inner().into_fields()?;
    if let Some(secret) = secret {
        let sealed = state.master_key.encrypt(&secret, &SealedAt::link_secret(current.id));
        fields.secret_enc = Some(sealed.map_err(|e| NodeError::internal(e.to_string()))?);
    }
    if fields.subscription_list.is_some() || fields.address.is_some() || fields.username.is_some() {
        // Another remote or other topics: the old sub_keys mean nothing there.
        fields.sub_keys = Some("{}".into());
    }
    let store = state.store.clone();
    let id = current.id;
    let link = blocking(move || store.wsx_link_update(id, fields))
        .await
        .map_err(|e| e.when_conflict(|| "another link has that name".into()))?;
    sync(&state).await?;
    audit_admin(&caller, "link.edit", &link.name);
    Ok(HttpResponse::Ok().json(link_json(&state, &link).await))
}

async fn delete(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let link = load(&state, &id).await?;
    let store = state.store.clone();
    let id = link.id;
    blocking(move || store.wsx_link_delete(id)).await?;
    sync(&state).await?;
    audit_admin(&caller, "link.delete", &link.name);
    Ok(HttpResponse::Ok().json(json!({})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokeBody {
    pub service: String,
    #[serde(default)]
    pub request: Value,
}

/// Invokes `service` on the remote end of a link; the status codes of INTERFACES §5.
pub async fn invoke_over(state: &Node, name: &str, body: InvokeBody) -> Result<Value, NodeError> {
    let addr =
        state.links.get(name).ok_or_else(|| NodeError::not_found(format!("no link named `{name}`")))?;
    let sent = addr.send(Request { service: body.service, request: body.request }).await;
    match sent {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(InvokeError::NotConnected)) | Err(_) => {
            Err(NodeError::unavailable(format!("link `{name}` is not connected"), 1))
        }
        Ok(Err(InvokeError::Timeout)) => Err(NodeError::timeout(format!("no reply over `{name}` in time"))),
        Ok(Err(InvokeError::Remote { status, message })) => {
            Err(NodeError::bad_gateway(format!("remote service failed with status {status}: {message}")))
        }
    }
}

async fn invoke(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
    body: web::Json<InvokeBody>,
) -> Result<HttpResponse, NodeError> {
    let link = load(&state, &id).await?;
    audit_admin(&caller, "link.invoke", &link.name);
    Ok(HttpResponse::Ok().json(invoke_over(&state, &link.name, body.into_inner()).await?))
}
