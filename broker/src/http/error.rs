//! The one place that turns errors into HTTP answers: the Zato error envelope
//! `{"result": "Error", "cid": "…", "details": "…"}` with the status that fits.

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use signalbox_schema::StoreError;

/// An answer other than success. `details` is shown to the caller, so it never holds a secret.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub details: String,
    /// The `WWW-Authenticate` challenge of a 401.
    pub challenge: &'static str,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, details: impl Into<String>) -> ApiError {
        ApiError { status, details: details.into(), challenge: BASIC_CHALLENGE, retry_after: None }
    }
    pub fn bad_request(details: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, details)
    }
    pub fn unauthorized(details: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, details)
    }
    /// A 401 on the admin API, which wants a bearer admin key.
    pub fn unauthorized_admin(details: impl Into<String>) -> ApiError {
        ApiError { challenge: r#"Bearer realm="signalbox-admin""#, ..ApiError::unauthorized(details) }
    }
    pub fn forbidden(details: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, details)
    }
    pub fn not_found(details: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, details)
    }
    pub fn conflict(details: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, details)
    }
    pub fn unavailable(details: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError { retry_after: Some(retry_after), ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, details) }
    }
    pub fn too_many(details: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError { retry_after: Some(retry_after), ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, details) }
    }
    pub fn internal(details: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, details)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.details)
    }
}

/// A correlation id for one error answer, also written to the log line about it.
pub fn new_cid() -> String {
    let bytes: [u8; 12] = signalbox_actors::secrets::random_bytes().unwrap_or([0; 12]);
    hex::encode(bytes)
}

const BASIC_CHALLENGE: &str = r#"Basic realm="signalbox""#;

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

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = envelope_with(self.status, &self.details, self.challenge);
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found("not found"),
            StoreError::Conflict(_) => ApiError::conflict("an object with that name or key already exists"),
            StoreError::Unavailable(reason) => {
                log::warn!("event=storage_unavailable reason={reason:?}");
                ApiError::unavailable("storage unavailable, try again", 1)
            }
            StoreError::Fenced(sub_key) => {
                ApiError::conflict(format!("subscription {sub_key} moved to another node; try again"))
            }
            StoreError::NotLeader => ApiError::unavailable("the cluster's leader changed, try again", 1),
            StoreError::Other(reason) => {
                log::error!("event=storage_error reason={reason:?}");
                ApiError::internal("storage error")
            }
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        ApiError::unavailable("the node is shutting down or overloaded", 1)
    }
}

/// Runs a blocking `Store` call off the async threads and flattens both error layers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(actix_web::web::block(f).await??)
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

/// Reads a JSON body as `T`; a bad one is a 400 that names the field at fault (`1e400`, say,
/// which does not fit a number, or a string where a number goes).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = naming_the_field(&mut de)?;
    de.end().map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))?;
    Ok(parsed)
}

/// `T` from JSON already read, with the same errors as [`parse_json`].
pub fn from_json_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    naming_the_field(value)
}

fn naming_the_field<'de, T: serde::Deserialize<'de>>(
    de: impl serde::Deserializer<'de, Error = serde_json::Error>,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "" | "." => ApiError::bad_request(format!("invalid request body: {}", e.into_inner())),
            _ => ApiError::bad_request(format!("invalid `{path}`: {}", e.into_inner())),
        }
    })
}

/// Maps a body-parsing failure to 400 (or 413 when too large), in the envelope.
pub fn json_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the limit of {limit} bytes"),
        ),
        E::Deserialize(e) => ApiError::bad_request(format!("invalid request body: {e}")),
        other => ApiError::bad_request(format!("invalid request body: {other}")),
    }
}

impl ApiError {
    /// Replaces a bare 404 with a message that names what was not found.
    pub fn when_not_found(self, details: impl FnOnce() -> String) -> ApiError {
        if self.status == StatusCode::NOT_FOUND {
            ApiError::not_found(details())
        } else {
            self
        }
    }

    /// A 404 for an object named in a request body is the caller's mistake: 400, naming it.
    pub fn when_missing_reference(self, details: impl FnOnce() -> String) -> ApiError {
        if self.status == StatusCode::NOT_FOUND {
            ApiError::bad_request(details())
        } else {
            self
        }
    }

    /// Replaces a bare 409 with a message that names the duplicate.
    pub fn when_conflict(self, details: impl FnOnce() -> String) -> ApiError {
        if self.status == StatusCode::CONFLICT {
            ApiError::conflict(details())
        } else {
            self
        }
    }
}

/// A call to another node over the internal link that did not answer as hoped.
pub fn from_invoke(e: crate::links::peer::InvokeError) -> ApiError {
    use crate::links::peer::InvokeError;
    match e {
        InvokeError::NotConnected => {
            ApiError::unavailable("the node that owns this is not reachable, try again", 1)
        }
        InvokeError::Timeout => ApiError::unavailable("the node that owns this did not answer in time", 1),
        InvokeError::Remote { status, message } => {
            let status = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
            ApiError::new(status, message)
        }
    }
}
