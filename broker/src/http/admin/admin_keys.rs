//! `/admin/v1/admin-keys`: named admin keys, `admin` or `read-only`; shown once, stored as digests.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use signalbox_actors::secrets;
use signalbox_actors::time::{iso, now_micros};
use signalbox_schema::models::{AdminKey, NewAdminKey};

use super::one_of;
use crate::http::auth::{audit_admin, AdminCaller};
use crate::http::error::{blocking, ApiError};
use crate::http::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin-keys").route(web::get().to(list)).route(web::post().to(create)))
        .service(web::resource("/admin-keys/{name}").route(web::delete().to(revoke)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminKeyInput {
    name: String,
    role: Option<String>,
}

fn key_json(k: &AdminKey) -> serde_json::Value {
    json!({"id": k.id, "name": k.name, "role": k.role, "created_at": iso(k.created_at)})
}

async fn list(_caller: AdminCaller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let keys = blocking(move || store.admin_keys()).await?;
    Ok(HttpResponse::Ok().json(keys.iter().map(key_json).collect::<Vec<_>>()))
}

async fn create(
    caller: AdminCaller,
    state: web::Data<AppState>,
    body: web::Json<AdminKeyInput>,
) -> Result<HttpResponse, ApiError> {
    let AdminKeyInput { name, role } = body.into_inner();
    let role = role.unwrap_or_else(|| "admin".into());
    one_of("role", &role, &["admin", "read-only"])?;
    if name.trim().is_empty() || name.len() > 200 {
        return Err(ApiError::bad_request("`name` must be 1–200 characters"));
    }
    let key = secrets::new_token("sba_").map_err(|e| ApiError::internal(e.to_string()))?;
    let digest = state.master_key.digest(&key);
    let store = state.store.clone();
    let (name2, role2) = (name.clone(), role.clone());
    let stored = blocking(move || {
        store.admin_key_create(NewAdminKey {
            name: &name2,
            role: &role2,
            key_digest: &digest,
            created_at: now_micros(),
        })
    })
    .await
    .map_err(|e| e.when_conflict(|| format!("an admin key named `{name}` already exists")))?;
    audit_admin(&caller, "admin_key.create", &stored.name);
    let mut body = key_json(&stored);
    body["key"] = json!(key);
    Ok(HttpResponse::Created().json(body))
}

async fn revoke(
    caller: AdminCaller,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let store = state.store.clone();
    let name2 = name.clone();
    blocking(move || store.admin_key_delete(&name2))
        .await
        .map_err(|e| e.when_not_found(|| format!("no admin key named `{name}`")))?;
    audit_admin(&caller, "admin_key.revoke", &name);
    Ok(HttpResponse::Ok().json(json!({})))
}
