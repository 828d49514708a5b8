//! Signalbox storage: the diesel tables and migrations for SQLite and PostgreSQL, and [`Store`],
//! the only code in Signalbox that runs SQL.
//!
//! Every `Store` method blocks; callers run them on blocking threads (`web::block`,
//! `spawn_blocking`), never on an actor's arbiter thread. SQLite has one writer: writes take
//! `write_lock` so they never meet `SQLITE_BUSY` from each other.
//!
//! # Layout
//!
//! Lower modules never name higher ones (checked by `tests/tests/layout.rs`): `schema` (diesel
//! tables) and `connection` (one connection type over both backends, each backend's settings) at
//! the bottom; `modes` (the
//! closed sets of words — delivery method, ack mode, role, … — as enums stored as text); `models`
//! (rows, which carry those enums); `fence` (the check every fenced queue write makes); `store`
//! (the [`Store`] handle, its pool, migrations and configuration CRUD); then modules that add
//! methods to `Store` for one concern each — `gd` (GD messages and queues), `cluster`
//! (membership, ownership, the leader's lease), `lists` (searched, paged admin lists), `figures`
//! (the console's figures), `sealed` (re-sealing stored secrets).

pub mod cluster;
mod connection;
mod fence;
mod figures;
mod gd;
mod lists;
pub mod models;
pub mod modes;
pub mod schema;
mod sealed;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use connection::{AnyConnection, Backend};
pub use figures::QueueFigures;
pub use lists::{matches, EndpointSearch, Found, SubscriptionSearch, TopicSearch};
pub use modes::{
    AckMode, AuthKind, DeliveryMethod, EndpointType, NoSubsPolicy, OverflowPolicy, Role, UnknownMode,
};
pub use sealed::{SealedCell, SealedRow};
pub use store::{now_micros, Page, Store, LAST_ADMIN_KEY};

/// What went wrong in storage, in terms a caller can map to a status code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint said no (a duplicate name, key or id).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The database cannot be reached or did not answer in time.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Start-up refusals and anything else the database said.
    #[error("{0}")]
    Other(String),
    /// A delivery actor's write refused: the subscription has another owner now.
    #[error("subscription {0} is owned by another node now")]
    Fenced(String),
    /// A leader's write refused: its lease has expired or another node leads now.
    #[error("this node no longer leads the cluster")]
    NotLeader,
}

impl From<diesel::result::Error> for StoreError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => StoreError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            // A row that does not read (a word outside a mode's set): the field and why.
            Error::DeserializationError(e) => StoreError::Other(with_causes(&*e)),
            // A restarting or unreachable server shows up under several kinds; callers should
            // see "try again" (503), not a storage fault.
            other if looks_unavailable(&other.to_string()) => StoreError::Unavailable(other.to_string()),
            other => StoreError::Other(other.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

/// An error's message followed by those of its causes, e.g. "Error deserializing field 'role':
/// `role` must be one of …".
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        message.push_str(": ");
        message.push_str(&e.to_string());
        cause = e.source();
    }
    message
}

fn looks_unavailable(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["connection", "terminating", "shutting down", "starting up", "recovery mode", "broken pipe"]
        .iter()
        .any(|hint| message.contains(hint))
}

pub type StoreResult<T> = Result<T, StoreError>;
