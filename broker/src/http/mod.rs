//! The node's HTTP surface: the admin API, operations routes, the web console, and (with the
//! data plane) the pub/sub REST API. Every error answer goes through [`error`].

pub mod admin;
pub mod auth;
pub mod endpoint_auth;
pub mod error;
pub mod openapi;
mod ops;
pub mod pubsub;
mod ui;

use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlers;
use actix_web::web;

use crate::node::error::NodeError;

/// Error handlers that put actix-web's own bodiless answers into the envelope.
pub fn envelope_errors<B: 'static>() -> ErrorHandlers<B> {
    let mut handlers = ErrorHandlers::new();
    for status in [
        StatusCode::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED,
        StatusCode::BAD_REQUEST,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    ] {
        handlers = handlers.handler(status, error::wrap_plain_errors);
    }
    handlers
}

/// A request body that sends nothing for this long is given up on (a 400), so a client cannot hold
/// a worker's request open by stalling; WebSocket upgrades, whose body is the socket, are exempt.
pub const BODY_STALL: std::time::Duration = std::time::Duration::from_secs(10);

/// Wraps a request's body so that a wait of more than [`BODY_STALL`] for its next bytes ends it.
pub fn stall_guard(req: &mut actix_web::dev::ServiceRequest) {
    use actix_web::http::header;
    use actix_web::HttpMessage;
    use futures_util::StreamExt;
    let headers = req.headers();
    let no_body = !headers.contains_key(header::TRANSFER_ENCODING)
        && headers.get(header::CONTENT_LENGTH).is_none_or(|n| n.as_bytes() == b"0");
    if no_body || headers.contains_key(header::UPGRADE) {
        return;
    }
    let body = req.take_payload();
    let guarded = futures_util::stream::unfold(Some(body), |state| async move {
        let mut body = state?;
        match tokio::time::timeout(BODY_STALL, body.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(body))),
            Ok(None) => None,
            Err(_) => {
                let stalled = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body stalled");
                Some((Err(actix_web::error::PayloadError::Io(stalled)), None))
            }
        }
    });
    req.set_payload(actix_web::dev::Payload::Stream { payload: Box::pin(guarded) });
}

/// All routes, with body limits and extractor errors mapped to the envelope.
pub fn configure(cfg: &mut web::ServiceConfig, max_body: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_body)
            .content_type_required(false)
            .error_handler(|err, _| error::json_error(err).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| NodeError::bad_request(format!("invalid query: {err}")).into()),
    )
    .app_data(web::PayloadConfig::new(max_body))
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| NodeError::bad_request(format!("invalid path: {err}")).into()),
    )
    .configure(ops::configure)
    .configure(pubsub::configure)
    .configure(crate::wsx::configure)
    .configure(ui::configure)
    .service(web::scope("/admin/v1").configure(admin::configure).configure(ops::configure_admin));
}
