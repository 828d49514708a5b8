//! [`Store`]: the pool, the migrations, and every query Signalbox runs.

use std::sync::{Arc, Mutex, MutexGuard};

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::connection::{build_pool, sqlite_path, AnyConnection, Backend, Durability};
use crate::models::*;
use crate::schema::*;
use crate::{StoreError, StoreResult};

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Any fixed number works as long as every node uses the same one: it names the
/// session-level advisory lock that serialises migrations across nodes starting together.
const MIGRATION_LOCK_ID: i64 = 0x5167_6e61_6c62_6f78;

/// Names the transaction-level advisory lock that serialises changes to admin keys (PostgreSQL).
const ADMIN_KEYS_LOCK_ID: i64 = 0x5167_6e61_6c6b_6579;

/// The reason of the `Conflict` a change gets when it would leave no admin key with role `admin`.
pub const LAST_ADMIN_KEY: &str = "the last admin key with role admin";

/// Microseconds since the UNIX epoch: how every time is stored.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// `?limit=&offset=` of a list route.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Default for Page {
    fn default() -> Self {
        Page { limit: 1000, offset: 0 }
    }
}

type Conn = PooledConnection<ConnectionManager<AnyConnection>>;

#[derive(Clone)]
pub struct Store {
    pool: Pool<ConnectionManager<AnyConnection>>,
    backend: Backend,
    /// SQLite's single writer. `None` on PostgreSQL, where the database sorts writers out itself.
    write_lock: Option<Arc<Mutex<()>>>,
    /// SQLite: the connection for [`Durability::Relaxed`] writes (`synchronous = NORMAL`).
    relaxed: Option<Pool<ConnectionManager<AnyConnection>>>,
    /// Set on the clone a delivery actor writes with: every write first checks the actor
    /// still owns its subscription.
    fence: Option<Arc<crate::fence::Fence>>,
    /// Acknowledged queue rows waiting to be removed by the next write transaction (SQLite).
    pub(crate) removals: Arc<Removals>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish()
    }
}

impl Store {
    /// Connects, runs the embedded migrations of the URL's backend (under an advisory lock on
    /// PostgreSQL, so nodes starting together do not race) and opens the pool.
    pub fn open(url: &str, pool_size: u32) -> StoreResult<Store> {
        let backend = Backend::of_url(url);
        if backend == Backend::Postgres {
            // OpenSSL, which libpq uses, set up before libpq does it, without the clean-up
            // OpenSSL would otherwise run at exit: a process ending while a pool thread is still
            // opening a connection crashed in that clean-up (SIGSEGV after its last line).
            openssl_sys::init();
        }
        run_migrations(url, backend)?;
        let pool_size = match backend {
            // Readers never block in WAL mode; a handful is plenty for one node.
            Backend::Sqlite => pool_size.min(8),
            Backend::Postgres => pool_size,
        };
        let pool = build_pool(url, backend, pool_size, Durability::Full).map_err(StoreError::Unavailable)?;
        let (write_lock, relaxed) = match backend {
            Backend::Sqlite => (
                Some(Arc::new(Mutex::new(()))),
                Some(build_pool(url, backend, 1, Durability::Relaxed).map_err(StoreError::Unavailable)?),
            ),
            Backend::Postgres => (None, None),
        };
        Ok(Store { pool, backend, write_lock, relaxed, fence: None, removals: Default::default() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// This store, with every write checked against `fence` (see [`crate::fence::Fence`]).
    pub fn fenced(&self, fence: crate::fence::Fence) -> Store {
        Store { fence: Some(Arc::new(fence)), ..self.clone() }
    }

    /// True for the clone a cluster delivery actor writes with.
    pub fn is_fenced(&self) -> bool {
        self.fence.is_some()
    }

    pub(crate) fn conn(&self) -> StoreResult<Conn> {
        Ok(self.pool.get()?)
    }

    /// Takes SQLite's writer slot (nothing on PostgreSQL) for the span of one write.
    fn writer(&self) -> Option<MutexGuard<'_, ()>> {
        self.write_lock.as_ref().map(|lock| lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Runs `f` in one transaction, as SQLite's only writer where that applies.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
    ) -> StoreResult<T> {
        self.write_as(Durability::Full, f)
    }

    /// [`write`](Self::write), committed as `durability` says: on SQLite through the connection
    /// with that `synchronous` setting, on PostgreSQL with `synchronous_commit` off for a
    /// relaxed transaction (the commit returns before the server's WAL flush; the server
    /// loses it only if it crashes itself within a moment).
    pub(crate) fn write_as<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
    ) -> StoreResult<T> {
        let _writer = self.writer();
        let mut conn = match (durability, &self.relaxed) {
            (Durability::Relaxed, Some(relaxed)) => relaxed.get()?,
            _ => self.conn()?,
        };
        let relaxed_pg = durability == Durability::Relaxed && self.backend == Backend::Postgres;
        AnyConnection::transaction(&mut conn, |conn| {
            if relaxed_pg {
                diesel::sql_query("SET LOCAL synchronous_commit = off").execute(conn)?;
            }
            if let Some(fence) = &self.fence {
                crate::fence::check_fence(conn, fence)?;
            }
            f(conn)
        })
    }

    /// True when the database answers a trivial query.
    pub fn ping(&self) -> bool {
        self.conn()
            .and_then(|mut c| diesel::sql_query("SELECT 1").execute(&mut *c).map_err(StoreError::from))
            .is_ok()
    }

    // ---- meta -------------------------------------------------------------------------------

    pub fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        let mut conn = self.conn()?;
        Ok(sb_meta::table.find(key).select(sb_meta::value).first::<String>(&mut *conn).optional()?)
    }

    /// Sets `key` unless it is set already; answers the value that is stored afterwards, so
    /// two nodes racing to set it agree on the winner.
    pub fn meta_init(&self, key: &str, value: &str) -> StoreResult<String> {
        let stored = self.write(|conn| {
            let existing =
                sb_meta::table.find(key).select(sb_meta::value).first::<String>(conn).optional()?;
            if let Some(existing) = existing {
                return Ok(existing);
            }
            diesel::insert_into(sb_meta::table)
                .values((sb_meta::key.eq(key), sb_meta::value.eq(value)))
                .execute(conn)?;
            Ok(value.to_owned())
        });
        match stored {
            // Another node set it at the same moment: its value is the one.
            Err(StoreError::Conflict(_)) => self.meta_get(key)?.ok_or(StoreError::NotFound),
            other => other,
        }
    }

    // ---- admin keys -------------------------------------------------------------------------

    pub fn admin_keys(&self) -> StoreResult<Vec<AdminKey>> {
        let mut conn = self.conn()?;
        Ok(sb_admin_key::table.order(sb_admin_key::id).select(AdminKey::as_select()).load(&mut *conn)?)
    }

    pub fn admin_key_by_digest(&self, digest: &str) -> StoreResult<Option<AdminKey>> {
        let mut conn = self.conn()?;
        Ok(sb_admin_key::table
            .filter(sb_admin_key::key_digest.eq(digest))
            .select(AdminKey::as_select())
            .first(&mut *conn)
            .optional()?)
    }

    pub fn admin_key_create(&self, new: NewAdminKey<'_>) -> StoreResult<AdminKey> {
        self.write(|conn| {
            diesel::insert_into(sb_admin_key::table).values(&new).execute(conn)?;
            Ok(sb_admin_key::table
                .filter(sb_admin_key::name.eq(new.name))
                .select(AdminKey::as_select())
                .first(conn)?)
        })
    }

    /// Creates the bootstrap key only if there is no admin key at all; false if there was one.
    pub fn admin_key_bootstrap(&self, new: NewAdminKey<'_>) -> StoreResult<bool> {
        let created = self.write(|conn| {
            let count: i64 = sb_admin_key::table.count().get_result(conn)?;
            if count > 0 {
                return Ok(false);
            }
            diesel::insert_into(sb_admin_key::table).values(&new).execute(conn)?;
            Ok(true)
        });
        match created {
            // Another node of the cluster made it at the same moment.
            Err(StoreError::Conflict(_)) => Ok(false),
            other => other,
        }
    }

    /// Revokes an admin key, unless it is the last with role `admin`: the node would have no key
    /// that may change anything (`Conflict(LAST_ADMIN_KEY)`).
    pub fn admin_key_delete(&self, name: &str) -> StoreResult<()> {
        self.write(|conn| {
            let role = self.admin_key_role_locked(conn, name)?;
            if role == "admin" && admins_besides(conn, name)? == 0 {
                return Err(StoreError::Conflict(LAST_ADMIN_KEY.into()));
            }
            one_or_none(
                diesel::delete(sb_admin_key::table.filter(sb_admin_key::name.eq(name))).execute(conn)?,
            )
        })
    }

    /// Gives an admin key another role, unless that demotes the last with role `admin`
    /// (`Conflict(LAST_ADMIN_KEY)`).
    pub fn admin_key_set_role(&self, name: &str, role: &str) -> StoreResult<AdminKey> {
        self.write(|conn| {
            let current = self.admin_key_role_locked(conn, name)?;
            if current == "admin" && role != "admin" && admins_besides(conn, name)? == 0 {
                return Err(StoreError::Conflict(LAST_ADMIN_KEY.into()));
            }
            diesel::update(sb_admin_key::table.filter(sb_admin_key::name.eq(name)))
                .set(sb_admin_key::role.eq(role))
                .execute(conn)?;
            Ok(sb_admin_key::table
                .filter(sb_admin_key::name.eq(name))
                .select(AdminKey::as_select())
                .first(conn)?)
        })
    }

    /// The role of the key named `name`, read once every other change to admin keys has waited
    /// its turn (on PostgreSQL two nodes could otherwise each revoke one of the last two).
    fn admin_key_role_locked(&self, conn: &mut AnyConnection, name: &str) -> StoreResult<String> {
        if self.backend == Backend::Postgres {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({ADMIN_KEYS_LOCK_ID})")).execute(conn)?;
        }
        Ok(sb_admin_key::table.filter(sb_admin_key::name.eq(name)).select(sb_admin_key::role).first(conn)?)
    }

    // ---- topics -----------------------------------------------------------------------------

    pub fn topics(&self, page: Page) -> StoreResult<Vec<Topic>> {
        let mut conn = self.conn()?;
        Ok(pubsub_topic::table
            .order(pubsub_topic::id)
            .limit(page.limit)
            .offset(page.offset)
            .select(Topic::as_select())
            .load(&mut *conn)?)
    }

    pub fn topic(&self, id: i64) -> StoreResult<Topic> {
        let mut conn = self.conn()?;
        Ok(pubsub_topic::table.find(id).select(Topic::as_select()).first(&mut *conn)?)
    }

    pub fn topic_by_name(&self, name: &str) -> StoreResult<Topic> {
        let mut conn = self.conn()?;
        Ok(pubsub_topic::table
            .filter(pubsub_topic::name.eq(name))
            .select(Topic::as_select())
            .first(&mut *conn)?)
    }

    pub fn topic_create(&self, fields: TopicFields) -> StoreResult<Topic> {
        let name = fields.name.clone().unwrap_or_default();
        self.write(|conn| {
            diesel::insert_into(pubsub_topic::table).values(&fields).execute(conn)?;
            Ok(pubsub_topic::table
                .filter(pubsub_topic::name.eq(&name))
                .select(Topic::as_select())
                .first(conn)?)
        })
    }

    pub fn topic_update(&self, id: i64, fields: TopicFields) -> StoreResult<Topic> {
        self.write(|conn| {
            let n = updated(diesel::update(pubsub_topic::table.find(id)).set(&fields).execute(conn))?;
            if n == Some(0) {
                return Err(StoreError::NotFound);
            }
            Ok(pubsub_topic::table.find(id).select(Topic::as_select()).first(conn)?)
        })
    }

    pub fn topic_delete(&self, id: i64) -> StoreResult<()> {
        self.write(|conn| one_or_none(diesel::delete(pubsub_topic::table.find(id)).execute(conn)?))
    }

    // ---- endpoints --------------------------------------------------------------------------

    pub fn endpoints(&self, page: Page) -> StoreResult<Vec<Endpoint>> {
        let mut conn = self.conn()?;
        Ok(pubsub_endpoint::table
            .order(pubsub_endpoint::id)
            .limit(page.limit)
            .offset(page.offset)
            .select(Endpoint::as_select())
            .load(&mut *conn)?)
    }

    pub fn endpoint(&self, id: i64) -> StoreResult<Endpoint> {
        let mut conn = self.conn()?;
        Ok(pubsub_endpoint::table.find(id).select(Endpoint::as_select()).first(&mut *conn)?)
    }

    pub fn endpoint_by_name(&self, name: &str) -> StoreResult<Endpoint> {
        let mut conn = self.conn()?;
        Ok(pubsub_endpoint::table
            .filter(pubsub_endpoint::name.eq(name))
            .select(Endpoint::as_select())
            .first(&mut *conn)?)
    }

    pub fn endpoint_by_username(&self, username: &str) -> StoreResult<Endpoint> {
        let mut conn = self.conn()?;
        Ok(pubsub_endpoint::table
            .filter(pubsub_endpoint::username.eq(username))
            .select(Endpoint::as_select())
            .first(&mut *conn)?)
    }

    pub fn endpoint_by_api_key_digest(&self, digest: &str) -> StoreResult<Endpoint> {
        let mut conn = self.conn()?;
        Ok(pubsub_endpoint::table
            .filter(pubsub_endpoint::api_key_digest.eq(digest))
            .select(Endpoint::as_select())
            .first(&mut *conn)?)
    }

    pub fn endpoint_create(&self, fields: EndpointFields) -> StoreResult<Endpoint> {
        let name = fields.name.clone().unwrap_or_default();
        self.write(|conn| {
            diesel::insert_into(pubsub_endpoint::table).values(&fields).execute(conn)?;
            Ok(pubsub_endpoint::table
                .filter(pubsub_endpoint::name.eq(&name))
                .select(Endpoint::as_select())
                .first(conn)?)
        })
    }

    pub fn endpoint_update(&self, id: i64, fields: EndpointFields) -> StoreResult<Endpoint> {
        self.write(|conn| {
            let n = updated(diesel::update(pubsub_endpoint::table.find(id)).set(&fields).execute(conn))?;
            if n == Some(0) {
                return Err(StoreError::NotFound);
            }
            Ok(pubsub_endpoint::table.find(id).select(Endpoint::as_select()).first(conn)?)
        })
    }

    pub fn endpoint_delete(&self, id: i64) -> StoreResult<()> {
        self.write(|conn| one_or_none(diesel::delete(pubsub_endpoint::table.find(id)).execute(conn)?))
    }

    // ---- services ---------------------------------------------------------------------------

    pub fn services(&self) -> StoreResult<Vec<StoredService>> {
        let mut conn = self.conn()?;
        Ok(sb_service::table.order(sb_service::name).select(StoredService::as_select()).load(&mut *conn)?)
    }

    pub fn service_create(&self, new: NewService<'_>) -> StoreResult<StoredService> {
        self.write(|conn| {
            diesel::insert_into(sb_service::table).values(&new).execute(conn)?;
            Ok(sb_service::table
                .filter(sb_service::name.eq(new.name))
                .select(StoredService::as_select())
                .first(conn)?)
        })
    }

    pub fn service_delete(&self, name: &str) -> StoreResult<()> {
        self.write(|conn| {
            one_or_none(diesel::delete(sb_service::table.filter(sb_service::name.eq(name))).execute(conn)?)
        })
    }

    // ---- file channels ----------------------------------------------------------------------

    pub fn file_channels(&self) -> StoreResult<Vec<FileChannel>> {
        let mut conn = self.conn()?;
        Ok(sb_file_channel::table
            .order(sb_file_channel::id)
            .select(FileChannel::as_select())
            .load(&mut *conn)?)
    }

    pub fn file_channel(&self, id: i64) -> StoreResult<FileChannel> {
        let mut conn = self.conn()?;
        Ok(sb_file_channel::table.find(id).select(FileChannel::as_select()).first(&mut *conn)?)
    }

    pub fn file_channel_create(&self, fields: FileChannelFields) -> StoreResult<FileChannel> {
        let name = fields.name.clone().unwrap_or_default();
        self.write(|conn| {
            diesel::insert_into(sb_file_channel::table).values(&fields).execute(conn)?;
            Ok(sb_file_channel::table
                .filter(sb_file_channel::name.eq(&name))
                .select(FileChannel::as_select())
                .first(conn)?)
        })
    }

    pub fn file_channel_update(&self, id: i64, fields: FileChannelFields) -> StoreResult<FileChannel> {
        self.write(|conn| {
            let n = updated(diesel::update(sb_file_channel::table.find(id)).set(&fields).execute(conn))?;
            if n == Some(0) {
                return Err(StoreError::NotFound);
            }
            Ok(sb_file_channel::table.find(id).select(FileChannel::as_select()).first(conn)?)
        })
    }

    pub fn file_channel_delete(&self, id: i64) -> StoreResult<()> {
        self.write(|conn| one_or_none(diesel::delete(sb_file_channel::table.find(id)).execute(conn)?))
    }

    // ---- WSX channels -----------------------------------------------------------------------

    pub fn wsx_channels(&self) -> StoreResult<Vec<WsxChannel>> {
        let mut conn = self.conn()?;
        Ok(sb_wsx_channel::table
            .order(sb_wsx_channel::id)
            .select(WsxChannel::as_select())
            .load(&mut *conn)?)
    }

    pub fn wsx_channel(&self, id: i64) -> StoreResult<WsxChannel> {
        let mut conn = self.conn()?;
        Ok(sb_wsx_channel::table.find(id).select(WsxChannel::as_select()).first(&mut *conn)?)
    }

    pub fn wsx_channel_create(&self, fields: WsxChannelFields) -> StoreResult<WsxChannel> {
        let name = fields.name.clone().unwrap_or_default();
        self.write(|conn| {
            diesel::insert_into(sb_wsx_channel::table).values(&fields).execute(conn)?;
            Ok(sb_wsx_channel::table
                .filter(sb_wsx_channel::name.eq(&name))
                .select(WsxChannel::as_select())
                .first(conn)?)
        })
    }

    pub fn wsx_channel_update(&self, id: i64, fields: WsxChannelFields) -> StoreResult<WsxChannel> {
        self.write(|conn| {
            let n = updated(diesel::update(sb_wsx_channel::table.find(id)).set(&fields).execute(conn))?;
            if n == Some(0) {
                return Err(StoreError::NotFound);
            }
            Ok(sb_wsx_channel::table.find(id).select(WsxChannel::as_select()).first(conn)?)
        })
    }

    pub fn wsx_channel_delete(&self, id: i64) -> StoreResult<()> {
        self.write(|conn| one_or_none(diesel::delete(sb_wsx_channel::table.find(id)).execute(conn)?))
    }

    // ---- WSX links --------------------------------------------------------------------------

    pub fn wsx_links(&self) -> StoreResult<Vec<WsxLink>> {
        let mut conn = self.conn()?;
        Ok(sb_wsx_link::table.order(sb_wsx_link::id).select(WsxLink::as_select()).load(&mut *conn)?)
    }

    pub fn wsx_link(&self, id: i64) -> StoreResult<WsxLink> {
        let mut conn = self.conn()?;
        Ok(sb_wsx_link::table.find(id).select(WsxLink::as_select()).first(&mut *conn)?)
    }

    /// Stores a new link whose secret is sealed for its row: `seal_secret` gets the new row's id
    /// and answers `secret_enc`, all in one transaction (a failed seal stores nothing).
    pub fn wsx_link_create(
        &self,
        fields: WsxLinkFields,
        seal_secret: impl FnOnce(i64) -> Result<String, String>,
    ) -> StoreResult<WsxLink> {
        let name = fields.name.clone().unwrap_or_default();
        let fields = WsxLinkFields { secret_enc: Some(String::new()), ..fields };
        self.write(|conn| {
            diesel::insert_into(sb_wsx_link::table).values(&fields).execute(conn)?;
            let row = sb_wsx_link::table.filter(sb_wsx_link::name.eq(&name));
            let id: i64 = row.select(sb_wsx_link::id).first(conn)?;
            let sealed = seal_secret(id).map_err(StoreError::Other)?;
            diesel::update(sb_wsx_link::table.find(id))
                .set(sb_wsx_link::secret_enc.eq(sealed))
                .execute(conn)?;
            Ok(row.select(WsxLink::as_select()).first(conn)?)
        })
    }

    pub fn wsx_link_update(&self, id: i64, fields: WsxLinkFields) -> StoreResult<WsxLink> {
        self.write(|conn| {
            let n = updated(diesel::update(sb_wsx_link::table.find(id)).set(&fields).execute(conn))?;
            if n == Some(0) {
                return Err(StoreError::NotFound);
            }
            Ok(sb_wsx_link::table.find(id).select(WsxLink::as_select()).first(conn)?)
        })
    }

    pub fn wsx_link_delete(&self, id: i64) -> StoreResult<()> {
        self.write(|conn| one_or_none(diesel::delete(sb_wsx_link::table.find(id)).execute(conn)?))
    }

    // ---- subscriptions ----------------------------------------------------------------------

    pub fn subscriptions(&self, page: Page) -> StoreResult<Vec<Subscription>> {
        let mut conn = self.conn()?;
        Ok(pubsub_sub::table
            .order(pubsub_sub::id)
            .limit(page.limit)
            .offset(page.offset)
            .select(Subscription::as_select())
            .load(&mut *conn)?)
    }

    /// Subscriptions with their topic's and endpoint's names, for answers that show names.
    pub fn subscriptions_named(&self, page: Page) -> StoreResult<Vec<(Subscription, String, String)>> {
        let mut conn = self.conn()?;
        Ok(pubsub_sub::table
            .inner_join(pubsub_topic::table)
            .inner_join(pubsub_endpoint::table)
            .order(pubsub_sub::id)
            .limit(page.limit)
            .offset(page.offset)
            .select((Subscription::as_select(), pubsub_topic::name, pubsub_endpoint::name))
            .load(&mut *conn)?)
    }

    pub fn subscription_named(&self, sub_key: &str) -> StoreResult<(Subscription, String, String)> {
        let mut conn = self.conn()?;
        Ok(pubsub_sub::table
            .inner_join(pubsub_topic::table)
            .inner_join(pubsub_endpoint::table)
            .filter(pubsub_sub::sub_key.eq(sub_key))
            .select((Subscription::as_select(), pubsub_topic::name, pubsub_endpoint::name))
            .first(&mut *conn)?)
    }

    pub fn subscription_keys_of_endpoint(&self, endpoint_id: i64) -> StoreResult<Vec<String>> {
        let mut conn = self.conn()?;
        Ok(pubsub_sub::table
            .filter(pubsub_sub::endpoint_id.eq(endpoint_id))
            .select(pubsub_sub::sub_key)
            .load(&mut *conn)?)
    }

    /// Keys of the WSX subscriptions that end with their connection (`unsub_on_wsx_close`), of
    /// sessions served by `server` (by any node when `None`).
    pub fn wsx_subscriptions_ending_with_session(&self, server: Option<&str>) -> StoreResult<Vec<String>> {
        let mut conn = self.conn()?;
        let mut query = pubsub_sub::table
            .filter(pubsub_sub::is_wsx.eq(true))
            .filter(pubsub_sub::unsub_on_wsx_close.eq(true))
            .select(pubsub_sub::sub_key)
            .into_boxed();
        if let Some(server) = server {
            query = query.filter(pubsub_sub::server_name.eq(server.to_owned()));
        }
        Ok(query.load(&mut *conn)?)
    }

    pub fn subscriptions_of_topic(&self, topic_id: i64) -> StoreResult<Vec<Subscription>> {
        let mut conn = self.conn()?;
        Ok(pubsub_sub::table
            .filter(pubsub_sub::topic_id.eq(topic_id))
            .order(pubsub_sub::id)
            .select(Subscription::as_select())
            .load(&mut *conn)?)
    }

    pub fn subscription(&self, sub_key: &str) -> StoreResult<Subscription> {
        let mut conn = self.conn()?;
        Ok(pubsub_sub::table
            .filter(pubsub_sub::sub_key.eq(sub_key))
            .select(Subscription::as_select())
            .first(&mut *conn)?)
    }

    /// The non-WSX subscription of `endpoint_id` to `topic_id`, if there is one.
    pub fn subscription_of(&self, endpoint_id: i64, topic_id: i64) -> StoreResult<Option<Subscription>> {
        let mut conn = self.conn()?;
        Ok(pubsub_sub::table
            .filter(pubsub_sub::endpoint_id.eq(endpoint_id))
            .filter(pubsub_sub::topic_id.eq(topic_id))
            .filter(pubsub_sub::is_wsx.eq(false))
            .select(Subscription::as_select())
            .first(&mut *conn)
            .optional()?)
    }

    /// Stores a subscription and, if it is its topic's first, moves the messages retained for
    /// that first subscriber into its queue — in the same transaction, so none is missed.
    pub fn subscription_create(&self, fields: SubscriptionFields) -> StoreResult<Subscription> {
        let sub_key = fields.sub_key.clone().unwrap_or_default();
        let topic_id = fields.topic_id.unwrap_or_default();
        let now = fields.creation_time.unwrap_or_else(now_micros);
        self.write(|conn| {
            let had_subs: i64 =
                pubsub_sub::table.filter(pubsub_sub::topic_id.eq(topic_id)).count().get_result(conn)?;
            diesel::insert_into(pubsub_sub::table).values(&fields).execute(conn)?;
            if had_subs == 0 {
                take_retained(conn, topic_id, &sub_key, now)?;
            }
            Ok(pubsub_sub::table
                .filter(pubsub_sub::sub_key.eq(&sub_key))
                .select(Subscription::as_select())
                .first(conn)?)
        })
    }

    pub fn subscription_update(
        &self,
        sub_key: &str,
        fields: SubscriptionFields,
    ) -> StoreResult<Subscription> {
        self.write(|conn| {
            let n = updated(
                diesel::update(pubsub_sub::table.filter(pubsub_sub::sub_key.eq(sub_key)))
                    .set(&fields)
                    .execute(conn),
            )?;
            if n == Some(0) {
                return Err(StoreError::NotFound);
            }
            Ok(pubsub_sub::table
                .filter(pubsub_sub::sub_key.eq(sub_key))
                .select(Subscription::as_select())
                .first(conn)?)
        })
    }

    /// Deletes a subscription with its queue, and the GD messages no other queue holds.
    pub fn subscription_delete(&self, sub_key: &str) -> StoreResult<()> {
        self.write(|conn| {
            let msg_ids: Vec<String> = pubsub_endp_msg_queue::table
                .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
                .select(pubsub_endp_msg_queue::pub_msg_id)
                .load(conn)?;
            let n =
                diesel::delete(pubsub_sub::table.filter(pubsub_sub::sub_key.eq(sub_key))).execute(conn)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            diesel::delete(pubsub_endp_msg_queue::table.filter(pubsub_endp_msg_queue::sub_key.eq(sub_key)))
                .execute(conn)?;
            delete_unreferenced(conn, &msg_ids)?;
            Ok(())
        })
    }
}

/// An UPDATE or DELETE of one row by key: none touched means it was not there.
/// How many keys other than `name` have role `admin`.
fn admins_besides(conn: &mut AnyConnection, name: &str) -> StoreResult<i64> {
    Ok(sb_admin_key::table
        .filter(sb_admin_key::role.eq("admin"))
        .filter(sb_admin_key::name.ne(name))
        .count()
        .get_result(conn)?)
}

pub(crate) fn one_or_none(rows: usize) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Rows an UPDATE touched; an empty change set touches none and is no error, so the caller's
/// existence check decides (an edit that changes nothing answers the object as it is).
fn updated(result: QueryResult<usize>) -> StoreResult<Option<usize>> {
    match result {
        Ok(n) => Ok(Some(n)),
        Err(diesel::result::Error::QueryBuilderError(e)) if e.is::<diesel::result::EmptyChangeset>() => {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Queues for `sub_key` every GD message of the topic that was kept while it had no subscriber.
pub(crate) fn take_retained(
    conn: &mut AnyConnection,
    topic_id: i64,
    sub_key: &str,
    now: i64,
) -> StoreResult<()> {
    use diesel::sql_types::{BigInt, Text};
    let retained = pubsub_message::table
        .filter(pubsub_message::topic_id.eq(topic_id))
        .filter(pubsub_message::is_in_sub_queue.eq(false))
        .filter(pubsub_message::expiration_time.gt(now));
    retained
        .select((
            pubsub_message::pub_msg_id,
            sub_key.into_sql::<Text>(),
            now.into_sql::<BigInt>(),
            pubsub_message::priority,
            diesel::dsl::sql::<BigInt>("COALESCE(pubsub_message.ext_pub_time, pubsub_message.pub_time)"),
            pubsub_message::pub_time,
        ))
        .insert_into(pubsub_endp_msg_queue::table)
        .into_columns((
            pubsub_endp_msg_queue::pub_msg_id,
            pubsub_endp_msg_queue::sub_key,
            pubsub_endp_msg_queue::creation_time,
            pubsub_endp_msg_queue::priority,
            pubsub_endp_msg_queue::order_time,
            pubsub_endp_msg_queue::pub_time,
        ))
        .execute(conn)?;
    diesel::update(retained).set(pubsub_message::is_in_sub_queue.eq(true)).execute(conn)?;
    Ok(())
}

/// Deletes those of `msg_ids` that no queue row refers to any more; answers how many.
pub(crate) fn delete_unreferenced(conn: &mut AnyConnection, msg_ids: &[String]) -> StoreResult<usize> {
    let mut deleted = 0;
    for chunk in msg_ids.chunks(500) {
        let still_queued: Vec<String> = pubsub_endp_msg_queue::table
            .filter(pubsub_endp_msg_queue::pub_msg_id.eq_any(chunk))
            .select(pubsub_endp_msg_queue::pub_msg_id)
            .distinct()
            .load(conn)?;
        let gone: Vec<&String> = chunk.iter().filter(|id| !still_queued.contains(id)).collect();
        if !gone.is_empty() {
            deleted += diesel::delete(
                pubsub_message::table
                    .filter(pubsub_message::pub_msg_id.eq_any(gone))
                    .filter(pubsub_message::is_in_sub_queue.eq(true)),
            )
            .execute(conn)?;
        }
    }
    Ok(deleted)
}

fn run_migrations(url: &str, backend: Backend) -> StoreResult<()> {
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| {
        StoreError::Other(format!("database migrations failed: {e}"))
    };
    match backend {
        Backend::Postgres => {
            let mut conn = PgConnection::establish(url)
                .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})")).execute(&mut conn)?;
            let result = conn.run_pending_migrations(PG_MIGRATIONS).map(|_| ()).map_err(fail);
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))
                .execute(&mut conn)?;
            result
        }
        Backend::Sqlite => {
            let mut conn = SqliteConnection::establish(sqlite_path(url))
                .map_err(|e| StoreError::Unavailable(format!("cannot open the SQLite database: {e}")))?;
            diesel::sql_query("PRAGMA journal_mode = WAL").execute(&mut conn)?;
            conn.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()).map_err(fail)
        }
    }
}

/// Group commit for removals of acknowledged queue rows: on SQLite every write takes the one
/// writer slot and an fsync, so removals that arrive while another write runs wait here and go
/// into the next transaction together — with a GD group commit, when one comes first. Each
/// caller is answered with its own result, after that transaction committed. (A fenced store —
/// a cluster delivery actor's, on PostgreSQL — removes in a transaction of its own, checked
/// against its fence.)
#[derive(Default)]
pub(crate) struct Removals {
    pub(crate) pending: std::sync::Mutex<Vec<Arc<Removal>>>,
    /// Notified (under `pending`) once a transaction has answered the removals it took.
    pub(crate) answered: std::sync::Condvar,
    /// Held by the one transaction that takes the pending removals; the others wait on it.
    pub(crate) committing: std::sync::Mutex<()>,
}

pub(crate) struct Removal {
    pub(crate) sub_key: String,
    pub(crate) msg_ids: Vec<String>,
    /// Rows removed and messages no queue holds any more; set once its transaction ended.
    pub(crate) result: std::sync::Mutex<Option<StoreResult<(usize, usize)>>>,
}
