//! `/admin/v1/admin-keys`: named admin keys, `admin` or `read-only`; shown once, stored as digests.
//!
//! A node always keeps a key with role `admin`: revoking or demoting the last one is a 409, and
//! so is a key revoking or demoting itself (the caller would lock itself out mid-session; another
//! admin key can do it). A node whose keys are lost anyway is recovered with
//! `signalbox admin-key create NAME --local` (docs/CLI.md).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use signalbox_schema::LAST_ADMIN_KEY;

use super::{list_answer, search_page, ListQuery};
use crate::admin_keys::{self, key_json, new_key_json, KeyError};
use crate::http::auth::{audit_admin, AdminCaller};
use crate::node::error::{blocking, NodeError};
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin-keys").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            web::resource("/admin-keys/{name}").route(web::patch().to(edit)).route(web::delete().to(revoke)),
        );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminKeyInput {
    name: String,
    role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleInput {
    role: String,
}

impl From<KeyError> for NodeError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Invalid(details) => NodeError::bad_request(details),
            KeyError::Store(e) => e.into(),
            KeyError::Random(details) => NodeError::internal(details),
        }
    }
}

/// `?q=` finds keys by name.
async fn list(
    _caller: AdminCaller,
    state: web::Data<Node>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, NodeError> {
    let store = state.store.clone();
    let keys = blocking(move || store.admin_keys()).await?;
    let (page, total) = search_page(&keys, &query, |k| vec![&k.name])?;
    Ok(list_answer(page.into_iter().map(key_json).collect(), total))
}

async fn create(
    caller: AdminCaller,
    state: web::Data<Node>,
    body: web::Json<AdminKeyInput>,
) -> Result<HttpResponse, NodeError> {
    let AdminKeyInput { name, role } = body.into_inner();
    let role = role.unwrap_or_else(|| "admin".into());
    admin_keys::check(&name, &role)?;
    let (store, master_key, name2) = (state.store.clone(), state.master_key.clone(), name.clone());
    let made = web::block(move || admin_keys::create(&store, &master_key, &name2, &role))
        .await?
        .map_err(NodeError::from)
        .map_err(|e| e.when_conflict(|| format!("an admin key named `{name}` already exists")))?;
    audit_admin(&caller, "admin_key.create", &made.stored.name);
    Ok(HttpResponse::Created().json(new_key_json(&made)))
}

/// Why a change to `name` is refused when the store says it would leave no full admin key.
fn last_admin(name: &str, change: &str) -> String {
    format!(
        "`{name}` is {LAST_ADMIN_KEY}: {change} it would leave no key that may change anything; \
         create another admin key first"
    )
}

/// Why a key may not revoke or demote itself.
fn itself(name: &str, change: &str) -> String {
    format!(
        "admin key `{name}` is the key making this request: {change} it would lock this caller out; \
         use another admin key (create one first if this is the only one)"
    )
}

/// Changes a key's role (`{"role": "admin" | "read-only"}`).
async fn edit(
    caller: AdminCaller,
    state: web::Data<Node>,
    name: web::Path<String>,
    body: web::Json<RoleInput>,
) -> Result<HttpResponse, NodeError> {
    let (name, role) = (name.into_inner(), body.into_inner().role);
    admin_keys::check_role(&role)?;
    if name == caller.key_name && role != "admin" {
        return Err(NodeError::conflict(itself(&name, "demoting")));
    }
    let (store, name2) = (state.store.clone(), name.clone());
    let key = blocking(move || store.admin_key_set_role(&name2, &role)).await.map_err(|e| {
        e.when_not_found(|| format!("no admin key named `{name}`"))
            .when_conflict(|| last_admin(&name, "demoting"))
    })?;
    audit_admin(&caller, "admin_key.edit", &name);
    Ok(HttpResponse::Ok().json(key_json(&key)))
}

async fn revoke(
    caller: AdminCaller,
    state: web::Data<Node>,
    name: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let name = name.into_inner();
    if name == caller.key_name {
        return Err(NodeError::conflict(itself(&name, "revoking")));
    }
    let (store, name2) = (state.store.clone(), name.clone());
    blocking(move || store.admin_key_delete(&name2)).await.map_err(|e| {
        e.when_not_found(|| format!("no admin key named `{name}`"))
            .when_conflict(|| last_admin(&name, "revoking"))
    })?;
    audit_admin(&caller, "admin_key.revoke", &name);
    Ok(HttpResponse::Ok().json(json!({})))
}
