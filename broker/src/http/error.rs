//! The one place that turns errors into HTTP answers: the Zato error envelope
//! `{"result": "Error", "cid": "…", "details": "…"}` with the status that fits.

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};

use crate::node::error::{new_cid, NodeError};

const BASIC_CHALLENGE: &str = r#"Basic realm="signalbox""#;
const ADMIN_CHALLENGE: &str = r#"Bearer realm="signalbox-admin""#;

pub fn envelope(status: StatusCode, details: &str) -> HttpResponse {
    envelope_with(status, details, BASIC_CHALLENGE)
}

fn envelope_with(status: StatusCode, details: &str, challenge: &str) -> HttpResponse {
    let cid = new_cid();
    if status.is_server_error() {
        log::error!("event=http_error status={} cid={cid} details={details:?}", status.as_u16());
    } else {
        log::debug!("event=http_error status={} cid={cid} details={details:?}", status.as_u16());
    }
    let mut builder = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        builder.insert_header((header::WWW_AUTHENTICATE, challenge));
    }
    builder.json(serde_json::json!({"result": "Error", "cid": cid, "details": details}))
}

impl ResponseError for NodeError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let challenge = if self.admin_realm { ADMIN_CHALLENGE } else { BASIC_CHALLENGE };
        let mut res = envelope_with(self.status_code(), &self.details, challenge);
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        res
    }
}

impl From<actix_web::error::BlockingError> for NodeError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        NodeError::unavailable("the node is shutting down or overloaded", 1)
    }
}

/// Answers actix-web's own bodiless errors (no route 404, wrong method 405, …) in the envelope.
pub fn wrap_plain_errors<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let mut status = res.status();
    // A path the admin API has, asked with a method it does not take, is a 405 naming those it
    // takes — also where the router found no route for the method (paths whose routes were
    // registered one by one fall through to "no such path").
    let mut allow = res.headers().get(header::ALLOW).cloned();
    if matches!(status, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED) {
        if let Some(methods) = super::openapi::allowed_methods(res.request().path()) {
            if !methods.iter().any(|m| m == res.request().method().as_str()) {
                status = StatusCode::METHOD_NOT_ALLOWED;
                allow = header::HeaderValue::from_str(&methods.join(", ")).ok();
            }
        }
    }
    let details = match status {
        StatusCode::NOT_FOUND => "no such path".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this path".to_owned(),
        other => other.canonical_reason().unwrap_or("error").to_owned(),
    };
    let (req, _) = res.into_parts();
    let mut res: HttpResponse<BoxBody> = envelope(status, &details);
    if let (StatusCode::METHOD_NOT_ALLOWED, Some(methods)) = (status, allow) {
        res.headers_mut().insert(header::ALLOW, methods);
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, res).map_into_right_body()))
}

/// Maps a body-parsing failure to 400 (or 413 when too large), in the envelope.
pub fn json_error(err: actix_web::error::JsonPayloadError) -> NodeError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => {
            NodeError::too_large(format!("request body is larger than the limit of {limit} bytes"))
        }
        E::Deserialize(e) => NodeError::bad_request(format!("invalid request body: {e}")),
        other => NodeError::bad_request(format!("invalid request body: {other}")),
    }
}
