//! `/admin/v1/endpoints`: who may publish and subscribe, and their credentials. A password or
//! API key is shown once, in the answer that made it; only its hash or digest is stored.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::patterns::Patterns;
use signalbox_actors::secrets;
use signalbox_actors::time::{iso, now_micros};
use signalbox_schema::models::{Endpoint, EndpointFields};
use signalbox_schema::{AuthKind, EndpointSearch, EndpointType, Role};

use super::{list_answer, parse_id, with_id, ListQuery};
use crate::http::auth::{audit_admin, AdminCaller};
use crate::node::error::{blocking, NodeError};
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/endpoints").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            web::resource("/endpoints/{id}")
                .route(web::get().to(read))
                .route(web::patch().to(edit))
                .route(web::delete().to(delete)),
        )
        .service(web::resource("/endpoints/{id}/credentials").route(web::post().to(rotate)));
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    pub name: Option<String>,
    pub role: Option<String>,
    pub endpoint_type: Option<String>,
    pub topic_patterns: Option<Vec<String>>,
    pub auth: Option<String>,
    pub username: Option<String>,
    pub wsx_channel: Option<String>,
}

/// The modes an [`EndpointInput`] names, parsed.
struct EndpointModes {
    role: Option<Role>,
    endpoint_type: Option<EndpointType>,
    auth: Option<AuthKind>,
}

impl EndpointInput {
    /// Checks every given field; answers the modes it names.
    fn validate(&self) -> Result<EndpointModes, NodeError> {
        if let Some(name) = &self.name {
            if name.trim().is_empty() || name.len() > 200 {
                return Err(NodeError::bad_request("`name` must be 1–200 characters"));
            }
        }
        let role = self.role.as_deref().map(str::parse).transpose()?;
        let endpoint_type = self.endpoint_type.as_deref().map(str::parse).transpose()?;
        let auth = self.auth.as_deref().map(str::parse).transpose()?;
        if let Some(lines) = &self.topic_patterns {
            // Patterns are stored one a line: a line break (or any control character) inside
            // one would come back as two.
            if lines.iter().any(|l| l.contains(['\n', '\r']) || l.trim().chars().any(char::is_control)) {
                return Err(NodeError::bad_request(
                    "a topic pattern must not hold line breaks or control characters",
                ));
            }
            Patterns::parse(lines).map_err(NodeError::bad_request)?;
        }
        if let Some(u) = &self.username {
            if u.is_empty() || u.contains(':') || u.len() > 200 {
                return Err(NodeError::bad_request("`username` must be 1–200 characters without `:`"));
            }
        }
        Ok(EndpointModes { role, endpoint_type, auth })
    }
}

pub fn endpoint_json(e: &Endpoint) -> Value {
    json!({
        "id": e.id,
        "name": e.name,
        "role": e.role,
        "endpoint_type": e.endpoint_type,
        "topic_patterns": e.topic_patterns.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>(),
        "auth": e.auth,
        "username": e.username,
        "wsx_channel": e.wsx_channel,
        "created_at": iso(e.created_at),
        "last_seen": e.last_seen.map(iso),
    })
}

/// New credentials of `auth` kind: what is stored, and what is shown to the caller once.
struct NewCredentials {
    password_hash: Option<String>,
    api_key_digest: Option<String>,
    reveal: Option<(&'static str, String)>,
}

fn make_credentials(state: &Node, auth: AuthKind) -> Result<NewCredentials, NodeError> {
    let fail = |e: secrets::SecretError| NodeError::internal(e.to_string());
    Ok(match auth {
        AuthKind::Basic => {
            let password = secrets::new_password().map_err(fail)?;
            NewCredentials {
                password_hash: Some(secrets::hash_password(&password).map_err(fail)?),
                api_key_digest: None,
                reveal: Some(("password", password)),
            }
        }
        AuthKind::ApiKey => {
            let key = secrets::new_token("sbk_").map_err(fail)?;
            NewCredentials {
                password_hash: None,
                api_key_digest: Some(state.master_key.digest(&key)),
                reveal: Some(("api_key", key)),
            }
        }
        AuthKind::None => NewCredentials { password_hash: None, api_key_digest: None, reveal: None },
    })
}

fn with_reveal(endpoint: &Endpoint, reveal: Option<(&'static str, String)>) -> Value {
    let mut body = endpoint_json(endpoint);
    if let Some((field, secret)) = reveal {
        body[field] = Value::String(secret);
    }
    body
}

/// `?role=`, `?endpoint_type=` (exactly), `?q=` (anywhere in the name or username, any case),
/// `?limit=&offset=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointListQuery {
    q: Option<String>,
    role: Option<String>,
    endpoint_type: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(
    _caller: AdminCaller,
    state: web::Data<Node>,
    query: web::Query<EndpointListQuery>,
) -> Result<HttpResponse, NodeError> {
    let EndpointListQuery { q, role, endpoint_type, limit, offset } = query.into_inner();
    let role = role.as_deref().map(str::parse).transpose()?;
    let endpoint_type = endpoint_type.as_deref().map(str::parse).transpose()?;
    let query = ListQuery { q, limit, offset };
    let page = query.page()?;
    let search = EndpointSearch { q: query.q().map(str::to_owned), role, endpoint_type };
    let store = state.store.clone();
    let found = blocking(move || store.endpoints_found(&search, page)).await?;
    Ok(list_answer(found.rows.iter().map(endpoint_json).collect(), found.total as usize))
}

async fn create(
    caller: AdminCaller,
    state: web::Data<Node>,
    body: web::Json<EndpointInput>,
) -> Result<HttpResponse, NodeError> {
    let input = body.into_inner();
    let modes = input.validate()?;
    let name = input.name.clone().ok_or_else(|| NodeError::bad_request("`name` is required"))?;
    let role = modes.role.ok_or_else(|| {
        NodeError::bad_request(format!("`role` is required: one of {}", Role::NAMES.join(", ")))
    })?;
    let auth = modes.auth.unwrap_or(AuthKind::Basic);
    let state2 = state.clone();
    let creds = web::block(move || make_credentials(&state2, auth)).await??;
    let username = match auth {
        AuthKind::Basic => Some(input.username.clone().unwrap_or_else(|| name.clone())),
        AuthKind::ApiKey | AuthKind::None => None,
    };
    let fields = EndpointFields {
        name: Some(name.clone()),
        role: Some(role),
        endpoint_type: Some(modes.endpoint_type.unwrap_or(EndpointType::Rest)),
        topic_patterns: Some(input.topic_patterns.unwrap_or_default().join("\n")),
        auth: Some(auth),
        username: Some(username),
        password_hash: Some(creds.password_hash),
        api_key_digest: Some(creds.api_key_digest),
        wsx_channel: Some(input.wsx_channel),
        created_at: Some(now_micros()),
    };
    let store = state.store.clone();
    let endpoint = blocking(move || store.endpoint_create(fields)).await.map_err(|e| {
        e.when_conflict(|| format!("an endpoint named `{name}` (or with that username) already exists"))
    })?;
    audit_admin(&caller, "endpoint.create", &endpoint.name);
    state.topics_changed().await?;
    Ok(HttpResponse::Created().json(with_reveal(&endpoint, creds.reveal)))
}

async fn read(
    _caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    let endpoint = with_id(&state, id, "endpoint", |store, id| store.endpoint(id)).await?;
    Ok(HttpResponse::Ok().json(endpoint_json(&endpoint)))
}

async fn edit(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
    body: web::Json<EndpointInput>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    let input = body.into_inner();
    let modes = input.validate()?;
    if input.auth.is_some() {
        return Err(NodeError::bad_request(
            "`auth` cannot be changed in place: delete the endpoint and create it again",
        ));
    }
    let current = with_id(&state, id, "endpoint", |store, id| store.endpoint(id)).await?;
    if input.username.is_some() && current.auth != AuthKind::Basic {
        return Err(NodeError::bad_request("`username` applies to `basic` endpoints only"));
    }
    let fields = EndpointFields {
        name: input.name,
        role: modes.role,
        endpoint_type: modes.endpoint_type,
        topic_patterns: input.topic_patterns.map(|l| l.join("\n")),
        username: input.username.map(Some),
        wsx_channel: input.wsx_channel.map(Some),
        ..EndpointFields::default()
    };
    let store = state.store.clone();
    let endpoint = blocking(move || store.endpoint_update(id, fields))
        .await
        .map_err(|e| e.when_conflict(|| "another endpoint has that name or username".into()))?;
    audit_admin(&caller, "endpoint.edit", &endpoint.name);
    state.credentials_changed(endpoint.id).await;
    Ok(HttpResponse::Ok().json(endpoint_json(&endpoint)))
}

async fn delete(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    let store = state.store.clone();
    let (endpoint, subs) = blocking(move || {
        let e = store.endpoint(id)?;
        let subs = store.subscription_keys_of_endpoint(id)?;
        store.endpoint_delete(id)?;
        Ok((e, subs))
    })
    .await
    .map_err(|e| e.when_not_found(|| format!("no endpoint with id {id}")))?;
    audit_admin(&caller, "endpoint.delete", &endpoint.name);
    state.credentials_changed(endpoint.id).await;
    for sub_key in subs {
        state.subscription_changed(&sub_key).await?;
    }
    Ok(HttpResponse::Ok().json(json!({})))
}

/// Replaces the endpoint's password or API key; the old one stops working at once.
async fn rotate(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    let current = with_id(&state, id, "endpoint", |store, id| store.endpoint(id)).await?;
    if current.auth == AuthKind::None {
        return Err(NodeError::bad_request("endpoint has `auth = none`: it has no credentials"));
    }
    let state2 = state.clone();
    let auth = current.auth;
    let creds = web::block(move || make_credentials(&state2, auth)).await??;
    let fields = EndpointFields {
        password_hash: Some(creds.password_hash),
        api_key_digest: Some(creds.api_key_digest),
        ..EndpointFields::default()
    };
    let store = state.store.clone();
    let endpoint = blocking(move || store.endpoint_update(id, fields)).await?;
    audit_admin(&caller, "endpoint.rotate_credentials", &endpoint.name);
    state.credentials_changed(endpoint.id).await;
    Ok(HttpResponse::Ok().json(with_reveal(&endpoint, creds.reveal)))
}
