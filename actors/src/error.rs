//! What the pub/sub actors answer when they refuse, in terms the edge maps to status codes.

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum PubSubError {
    #[error("topic `{0}` is inactive")]
    TopicInactive(String),
    #[error("topic `{topic}` is at its GD depth limit of {limit}")]
    GdDepthExceeded { topic: String, limit: i64 },
    #[error("topic `{topic}` is at its in-RAM depth limit of {limit}")]
    RamDepthExceeded { topic: String, limit: i64 },
    #[error("msg_id `{0}` is already used by another message")]
    MsgIdConflict(String),
    #[error("the node is overloaded: {0}")]
    Overloaded(String),
    #[error("storage unavailable: {0}")]
    Storage(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<signalbox_schema::StoreError> for PubSubError {
    fn from(e: signalbox_schema::StoreError) -> Self {
        match e {
            signalbox_schema::StoreError::NotFound => PubSubError::NotFound("not found".into()),
            other => PubSubError::Storage(other.to_string()),
        }
    }
}

impl From<actix::MailboxError> for PubSubError {
    fn from(e: actix::MailboxError) -> Self {
        PubSubError::Overloaded(format!("actor unavailable: {e}"))
    }
}

/// Runs a blocking `Store` call on the blocking pool, never on an actor's thread.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, signalbox_schema::StoreError> + Send + 'static,
) -> Result<T, PubSubError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(PubSubError::from),
        Err(e) => Err(PubSubError::Storage(format!("storage task failed: {e}"))),
    }
}
