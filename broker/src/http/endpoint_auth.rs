//! REST callers: the credentials of a request (HTTP Basic or `X-API-Key`), checked by the node's
//! one login path ([`crate::node::auth::authenticate`]).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use base64::Engine;

use crate::node::auth::{authenticate, Caller, Credentials};
use crate::node::error::NodeError;
use crate::node::Node;

pub fn credentials(req: &HttpRequest) -> Option<Credentials> {
    if let Some(key) = req.headers().get("X-API-Key").and_then(|v| v.to_str().ok()) {
        return Some(Credentials::ApiKey(key.trim().to_owned()));
    }
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (username, password) = text.split_once(':')?;
    Some(Credentials::Basic { username: username.to_owned(), password: password.to_owned() })
}

impl FromRequest for Caller {
    type Error = NodeError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, NodeError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<Node>>().cloned();
        let peer = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
        let creds = credentials(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| NodeError::internal("node state missing"))?;
            let mut caller = authenticate(&state, peer.clone(), creds).await?;
            let now = signalbox_actors::time::now_micros();
            caller.client = Some(state.rest_clients.seen(&caller.endpoint, &peer, now));
            Ok(caller)
        })
    }
}
