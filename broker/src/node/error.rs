//! The error of every node operation, whatever asked for it: a [`ErrorKind`] that says what went
//! wrong in the caller's terms, and `details` shown to the caller (so never a secret). Each
//! transport maps the kind once: HTTP to a status and the error envelope (`http::error`), WSX
//! to Zato's error frames (`wsx`), a peer's call to the status number it carries back.

use signalbox_actors::services::ServiceError;
use signalbox_actors::PubSubError;
use signalbox_schema::{StoreError, UnknownMode};

/// What went wrong, in the caller's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    /// No credentials, or wrong ones.
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    TooLarge,
    TooMany,
    /// Try again: storage, the cluster or a peer is not there right now.
    Unavailable,
    /// Something the node called (a remote service, a peer, a client) failed.
    BadGateway,
    /// Something the node called did not answer in time.
    Timeout,
    Internal,
}

impl ErrorKind {
    /// Its status number: HTTP's, which WSX error frames and peers' answers carry too.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::TooLarge => 413,
            ErrorKind::TooMany => 429,
            ErrorKind::Internal => 500,
            ErrorKind::BadGateway => 502,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
        }
    }

    /// The kind of a status number another node or a remote service answered (a bad gateway
    /// when it is none of these).
    pub fn of_status(status: u16) -> ErrorKind {
        [
            ErrorKind::BadRequest,
            ErrorKind::Unauthorized,
            ErrorKind::Forbidden,
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::TooLarge,
            ErrorKind::TooMany,
            ErrorKind::Internal,
            ErrorKind::Unavailable,
            ErrorKind::Timeout,
        ]
        .into_iter()
        .find(|k| k.status() == status)
        .unwrap_or(ErrorKind::BadGateway)
    }
}

/// An answer other than success.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} {details}", kind.status())]
pub struct NodeError {
    pub kind: ErrorKind,
    pub details: String,
    /// Seconds to wait before trying again (with `TooMany` and `Unavailable`).
    pub retry_after: Option<u64>,
    /// An `Unauthorized` of the admin API, which wants a bearer admin key (not Basic).
    pub admin_realm: bool,
}

impl NodeError {
    pub fn new(kind: ErrorKind, details: impl Into<String>) -> NodeError {
        NodeError { kind, details: details.into(), retry_after: None, admin_realm: false }
    }
    /// What another node or a remote service answered with this status number.
    pub fn with_status(status: u16, details: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::of_status(status), details)
    }
    pub fn bad_request(details: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::BadRequest, details)
    }
    pub fn unauthorized(details: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::Unauthorized, details)
    }
    /// A 401 on the admin API, which wants a bearer admin key.
    pub fn unauthorized_admin(details: impl Into<String>) -> NodeError {
        NodeError { admin_realm: true, ..NodeError::unauthorized(details) }
    }
    pub fn forbidden(details: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::Forbidden, details)
    }
    pub fn not_found(details: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::NotFound, details)
    }
    pub fn conflict(details: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::Conflict, details)
    }
    pub fn too_large(details: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::TooLarge, details)
    }
    pub fn unavailable(details: impl Into<String>, retry_after: u64) -> NodeError {
        NodeError { retry_after: Some(retry_after), ..NodeError::new(ErrorKind::Unavailable, details) }
    }
    pub fn too_many(details: impl Into<String>, retry_after: u64) -> NodeError {
        NodeError { retry_after: Some(retry_after), ..NodeError::new(ErrorKind::TooMany, details) }
    }
    pub fn bad_gateway(details: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::BadGateway, details)
    }
    pub fn timeout(details: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::Timeout, details)
    }
    pub fn internal(details: impl Into<String>) -> NodeError {
        NodeError::new(ErrorKind::Internal, details)
    }

    /// Replaces a bare not-found with a message that names what was not found.
    pub fn when_not_found(self, details: impl FnOnce() -> String) -> NodeError {
        match self.kind {
            ErrorKind::NotFound => NodeError::not_found(details()),
            _ => self,
        }
    }

    /// A not-found for an object named in a request body is the caller's mistake: a bad
    /// request, naming it.
    pub fn when_missing_reference(self, details: impl FnOnce() -> String) -> NodeError {
        match self.kind {
            ErrorKind::NotFound => NodeError::bad_request(details()),
            _ => self,
        }
    }

    /// Replaces a bare conflict with a message that names the duplicate.
    pub fn when_conflict(self, details: impl FnOnce() -> String) -> NodeError {
        match self.kind {
            ErrorKind::Conflict => NodeError::conflict(details()),
            _ => self,
        }
    }
}

impl From<StoreError> for NodeError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => NodeError::not_found("not found"),
            StoreError::Conflict(_) => NodeError::conflict("an object with that name or key already exists"),
            StoreError::Unavailable(reason) => {
                log::warn!("event=storage_unavailable reason={reason:?}");
                NodeError::unavailable("storage unavailable, try again", 1)
            }
            StoreError::Fenced(sub_key) => {
                NodeError::conflict(format!("subscription {sub_key} moved to another node; try again"))
            }
            StoreError::NotLeader => NodeError::unavailable("the cluster's leader changed, try again", 1),
            StoreError::Other(reason) => {
                log::error!("event=storage_error reason={reason:?}");
                NodeError::internal("storage error")
            }
        }
    }
}

/// A word given for a mode that does not take it: 400 naming the field and its words.
impl From<UnknownMode> for NodeError {
    fn from(e: UnknownMode) -> Self {
        NodeError::bad_request(e.to_string())
    }
}

/// How the actors' refusals reach callers.
impl From<PubSubError> for NodeError {
    fn from(e: PubSubError) -> Self {
        match e {
            PubSubError::TopicInactive(_)
            | PubSubError::GdDepthExceeded { .. }
            | PubSubError::RamDepthExceeded { .. } => NodeError::unavailable(e.to_string(), 5),
            PubSubError::Overloaded(_) => NodeError::unavailable(e.to_string(), 1),
            PubSubError::Storage(reason) => {
                log::warn!("event=storage_unavailable reason={reason:?}");
                NodeError::unavailable("storage unavailable, try again", 1)
            }
            PubSubError::MsgIdConflict(_) => NodeError::conflict(e.to_string()),
            PubSubError::NotFound(m) => NodeError::not_found(m),
            PubSubError::Invalid(m) => NodeError::bad_request(m),
        }
    }
}

impl From<ServiceError> for NodeError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(_) => NodeError::not_found(e.to_string()),
            ServiceError::BadRequest(m) => NodeError::bad_request(m),
            ServiceError::Status { status, message } => NodeError::with_status(status, message),
            ServiceError::Failed { .. } | ServiceError::Timeout(_) => NodeError::bad_gateway(e.to_string()),
        }
    }
}

/// A node error where a service's error is wanted (a peer's call, a WSX service): its status
/// number and details travel as they are.
impl From<NodeError> for ServiceError {
    fn from(e: NodeError) -> Self {
        ServiceError::Status { status: e.kind.status(), message: e.details }
    }
}

/// Runs a blocking `Store` call off the async threads and flattens both error layers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, NodeError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(NodeError::unavailable("the node is shutting down or overloaded", 1)),
    }
}

/// Reads a JSON body as `T`; a bad one is a bad request that names the field at fault (`1e400`,
/// say, which does not fit a number, or a string where a number goes).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, NodeError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = naming_the_field(&mut de)?;
    de.end().map_err(|e| NodeError::bad_request(format!("invalid request body: {e}")))?;
    Ok(parsed)
}

/// `T` from JSON already read, with the same errors as [`parse_json`].
pub fn from_json_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, NodeError> {
    naming_the_field(value)
}

fn naming_the_field<'de, T: serde::Deserialize<'de>>(
    de: impl serde::Deserializer<'de, Error = serde_json::Error>,
) -> Result<T, NodeError> {
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "" | "." => NodeError::bad_request(format!("invalid request body: {}", e.into_inner())),
            _ => NodeError::bad_request(format!("invalid `{path}`: {}", e.into_inner())),
        }
    })
}

/// A call to another node over the internal link that did not answer as hoped.
pub fn from_invoke(e: crate::links::peer::InvokeError) -> NodeError {
    use crate::links::peer::InvokeError;
    match e {
        InvokeError::NotConnected => {
            NodeError::unavailable("the node that owns this is not reachable, try again", 1)
        }
        InvokeError::Timeout => NodeError::unavailable("the node that owns this did not answer in time", 1),
        InvokeError::Remote { status, message } => NodeError::with_status(status, message),
    }
}

/// A correlation id: for one error answer (and the log line about it), or one publication.
pub fn new_cid() -> String {
    let bytes: [u8; 12] = signalbox_actors::secrets::random_bytes().unwrap_or([0; 12]);
    hex::encode(bytes)
}

/// Checks a value is one of `allowed`, naming them when it is not.
pub fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), NodeError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(NodeError::bad_request(format!("`{field}` must be one of {}, not `{value}`", allowed.join(", "))))
    }
}
