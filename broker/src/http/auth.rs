//! Who is calling: admin keys on `/admin/v1`; endpoint credentials on the pub/sub API.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpRequest};

use crate::node::error::{blocking, NodeError};
use crate::node::Node;

/// A verified admin key. Read-only keys pass only for GET and HEAD.
#[derive(Debug, Clone)]
pub struct AdminCaller {
    /// The key's name, for audit lines; never the key itself.
    pub key_name: String,
    pub read_only: bool,
}

impl FromRequest for AdminCaller {
    type Error = NodeError;
    type Future = Pin<Box<dyn Future<Output = Result<AdminCaller, NodeError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<Node>>().cloned();
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|v| v.trim().to_owned());
        let writes = !matches!(*req.method(), Method::GET | Method::HEAD);
        Box::pin(async move {
            let state = state.ok_or_else(|| NodeError::internal("node state missing"))?;
            let key = bearer.ok_or_else(|| {
                NodeError::unauthorized_admin("an admin key is required: Authorization: Bearer sba_…")
            })?;
            let digest = state.master_key.digest(&key);
            let store = state.store.clone();
            let found = blocking(move || store.admin_key_by_digest(&digest))
                .await?
                .ok_or_else(|| NodeError::unauthorized_admin("unknown or revoked admin key"))?;
            let caller = AdminCaller { read_only: found.role == "read-only", key_name: found.name };
            if writes && caller.read_only {
                return Err(NodeError::forbidden(format!(
                    "admin key `{}` is read-only: only GET is allowed",
                    caller.key_name
                )));
            }
            Ok(caller)
        })
    }
}

/// One audit line per admin change, naming the key that made it.
pub fn audit_admin(caller: &AdminCaller, action: &str, object: &str) {
    log::info!(
        target: "signalbox::audit",
        "event=admin_change admin_key={} action={action} object={object:?}",
        caller.key_name
    );
}
