//! The one way the tests run SQL on a node's database (its SQLite file or its PostgreSQL
//! database): to set up what the API cannot make (thousands of rows, rows an older node wrote)
//! and to read what a stopped node left behind.

use diesel::query_builder::SqlQuery;
use diesel::query_dsl::LoadQuery;
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};

use crate::Node;

/// A connection to one node's database.
pub enum Db {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// One text column named `value`, for [`Db::texts`].
#[derive(diesel::QueryableByName)]
struct TextValue {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

impl Db {
    /// The database of `node` (running or stopped).
    pub fn of(node: &Node) -> Db {
        match &node.database_url {
            Some(url) if url.starts_with("postgres") => Db::open(url),
            _ => Db::open(&format!("sqlite://{}", node.data_dir.join("signalbox.db").display())),
        }
    }

    /// A database by URL: `postgres://…` or `sqlite://<path>`.
    pub fn open(url: &str) -> Db {
        match url.strip_prefix("sqlite://") {
            Some(path) => {
                let mut conn = SqliteConnection::establish(path)
                    .unwrap_or_else(|e| panic!("open the SQLite database {path}: {e}"));
                // A running node may hold the write lock for a moment.
                diesel::sql_query("PRAGMA busy_timeout = 10000").execute(&mut conn).expect("busy_timeout");
                Db::Sqlite(conn)
            }
            None => {
                Db::Postgres(PgConnection::establish(url).unwrap_or_else(|e| panic!("connect to {url}: {e}")))
            }
        }
    }

    /// Runs one statement; answers the rows it changed.
    pub fn execute(&mut self, sql: &str) -> usize {
        match self {
            Db::Sqlite(c) => diesel::sql_query(sql).execute(c),
            Db::Postgres(c) => diesel::sql_query(sql).execute(c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The rows of a query, as `T` (a `diesel::QueryableByName` for both backends).
    pub fn load<T>(&mut self, sql: &str) -> Vec<T>
    where
        SqlQuery: for<'a> LoadQuery<'a, SqliteConnection, T> + for<'a> LoadQuery<'a, PgConnection, T>,
    {
        match self {
            Db::Sqlite(c) => diesel::sql_query(sql).load(c),
            Db::Postgres(c) => diesel::sql_query(sql).load(c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The text column `value` of every row of a query (`SELECT … AS value …`).
    pub fn texts(&mut self, sql: &str) -> Vec<String> {
        self.load::<TextValue>(sql).into_iter().map(|r| r.value).collect()
    }

    /// The one text `value` a query answers.
    pub fn text(&mut self, sql: &str) -> String {
        let mut rows = self.texts(sql);
        assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
        rows.remove(0)
    }
}
