//! One connection type over both backends, and the pool set-up each backend needs.

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::{PgConnection, SqliteConnection};

/// A connection to either backend; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The backend a database URL names: `postgres://` / `postgresql://`, else SQLite
    /// (`sqlite://path`, or a bare path).
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// The form diesel's SQLite driver wants: a path, without the `sqlite://` scheme.
pub(crate) fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

/// How a connection's commits reach the disk (SQLite; PostgreSQL sets it per transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous = FULL`: a commit is on disk (fsync) before it returns. Every write but
    /// the removal of acknowledged messages.
    Full,
    /// `synchronous = NORMAL`: a commit survives the process being killed at once, and an
    /// operating-system crash or power loss only with the next `Full` commit, which writes the
    /// WAL up to itself. Used only where losing the last commits repeats a delivery and loses
    /// nothing: removing acknowledged messages from their queues.
    Relaxed,
}

/// Per-connection SQLite settings: WAL so readers never wait for the writer, `synchronous` by
/// [`Durability`], and a busy timeout for the rare checkpoint.
#[derive(Debug)]
struct SqlitePragmas(Durability);

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        let synchronous = match self.0 {
            Durability::Full => "FULL",
            Durability::Relaxed => "NORMAL",
        };
        conn.batch_execute(&format!(
            // busy_timeout first: the pool opens connections side by side. WAL mode is set once
            // by the migrations and stays with the file.
            "PRAGMA busy_timeout = 10000; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// How long PostgreSQL lets a pooled connection's transaction sit idle before it ends the
/// session. A node frozen (SIGSTOP, a long pause) in the middle of a transaction would otherwise
/// keep its row locks — a subscription's owner row, the leader's lease row, its own node row —
/// for as long as its TCP connection lives, and the live nodes could not take its subscriptions
/// or its leadership over. Transactions here run SQL only, so a live node's never idle this long.
const PG_IDLE_IN_TRANSACTION_MS: u64 = 1000;

/// Per-connection PostgreSQL settings: see [`PG_IDLE_IN_TRANSACTION_MS`].
#[derive(Debug)]
struct PgSettings;

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for PgSettings {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!("SET idle_in_transaction_session_timeout = {PG_IDLE_IN_TRANSACTION_MS}"))
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

pub(crate) fn build_pool(
    url: &str,
    backend: Backend,
    size: u32,
    durability: Durability,
) -> Result<Pool<ConnectionManager<AnyConnection>>, String> {
    let target = match backend {
        Backend::Postgres => url,
        Backend::Sqlite => sqlite_path(url),
    };
    // Connections open as they are needed (r2d2 would open all of them at once): several
    // nodes share one PostgreSQL server and its connection limit.
    let builder = Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(1))
        .connection_timeout(std::time::Duration::from_secs(5));
    let builder = match backend {
        Backend::Sqlite => builder.connection_customizer(Box::new(SqlitePragmas(durability))),
        Backend::Postgres => builder.connection_customizer(Box::new(PgSettings)),
    };
    builder
        .build(ConnectionManager::<AnyConnection>::new(target))
        .map_err(|e| format!("cannot connect to the database: {e}"))
}
