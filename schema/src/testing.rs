//! For the tests of the storage and of the actors: a [`TestStore`] on a database of its own
//! (a fresh SQLite file, and a fresh PostgreSQL database when one is configured), and rows with
//! every field filled, so a test names only what it is about, e.g.
//! `TopicFields { dedup_window: Some(0), ..testing::topic("/t") }`.
//!
//! PostgreSQL runs are enabled by `SIGNALBOX_TEST_PG_URL` (a database used only to create the
//! per-test ones, e.g. `postgres://postgres@127.0.0.1/test`). With `SIGNALBOX_TEST_REQUIRE_PG=1`
//! a test that would skip PostgreSQL fails instead, as the node tests do.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::models::{EndpointFields, StoredMessage, SubscriptionFields, TopicFields};
use crate::modes::{AckMode, AuthKind, DeliveryMethod, EndpointType, NoSubsPolicy, OverflowPolicy, Role};
use crate::{now_micros, Store};

/// A [`Store`] on a database of its own, removed when dropped; `dir` is a scratch directory
/// beside it (the SQLite file lives there) for files a test's actors write.
pub struct TestStore {
    /// Dropped before the database is removed (fields drop in order; a live pool would write
    /// its files again).
    pub store: Store,
    /// `"sqlite"` or `"postgres"`, for assertion messages.
    pub name: &'static str,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    DirAndPgDatabase { dir: PathBuf, admin: String, name: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let dir = match self {
            Cleanup::Dir(dir) => dir,
            Cleanup::DirAndPgDatabase { dir, admin, name } => {
                if let Ok(mut conn) = PgConnection::establish(admin) {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = diesel::sql_query(drop).execute(&mut conn);
                }
                dir
            }
        };
        let _ = std::fs::remove_dir_all(dir);
    }
}

static FRESH: AtomicU64 = AtomicU64::new(0);

/// A name no other test of any process uses at the same time.
fn fresh_name(prefix: &str) -> String {
    let n = FRESH.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}_{}", std::process::id(), now_micros() % 1_000_000_000)
}

/// A new empty directory, in RAM where `/dev/shm` exists (SQLite syncs every commit).
fn scratch_dir() -> PathBuf {
    let base = match Path::new("/dev/shm").is_dir() {
        true => PathBuf::from("/dev/shm"),
        false => std::env::temp_dir(),
    };
    let dir = base.join(fresh_name("sb_test"));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

fn pg_admin_url() -> Option<String> {
    let url = std::env::var("SIGNALBOX_TEST_PG_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() && std::env::var("SIGNALBOX_TEST_REQUIRE_PG").is_ok_and(|v| v == "1") {
        panic!("SIGNALBOX_TEST_REQUIRE_PG=1 but SIGNALBOX_TEST_PG_URL is not set");
    }
    url
}

impl TestStore {
    /// A store on a fresh SQLite file.
    pub fn sqlite() -> TestStore {
        let dir = scratch_dir();
        let url = format!("sqlite://{}", dir.join("test.db").display());
        let store = Store::open(&url, 4).expect("SQLite store opens");
        TestStore { store, name: "sqlite", cleanup: Cleanup::Dir(dir) }
    }

    /// A store on a fresh PostgreSQL database; `None` when PostgreSQL is not configured.
    pub fn postgres() -> Option<TestStore> {
        let admin = pg_admin_url()?;
        let name = fresh_name("sbs");
        let mut conn = PgConnection::establish(&admin).expect("connect to SIGNALBOX_TEST_PG_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create database");
        let (base, _) = admin.rsplit_once('/').expect("database URL with a path");
        let dir = scratch_dir();
        let cleanup = Cleanup::DirAndPgDatabase { dir, admin: admin.clone(), name: name.clone() };
        let store = Store::open(&format!("{base}/{name}"), 4).expect("PostgreSQL store opens");
        Some(TestStore { store, name: "postgres", cleanup })
    }

    /// SQLite always; PostgreSQL too when configured.
    pub fn all() -> Vec<TestStore> {
        std::iter::once(TestStore::sqlite()).chain(TestStore::postgres()).collect()
    }

    /// The scratch directory beside the store.
    pub fn dir(&self) -> &Path {
        match &self.cleanup {
            Cleanup::Dir(dir) | Cleanup::DirAndPgDatabase { dir, .. } => dir,
        }
    }
}

impl std::ops::Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

/// An active GD topic that accepts publications without subscribers, a 120 s dedup window.
pub fn topic(name: &str) -> TopicFields {
    TopicFields {
        name: Some(name.into()),
        is_active: Some(true),
        has_gd: Some(true),
        is_api_sub_allowed: Some(true),
        max_depth_gd: Some(1_000_000),
        max_depth_non_gd: Some(1_000),
        on_overflow_non_gd: Some(OverflowPolicy::Reject),
        limit_message_expiry: Some(86_400),
        limit_sub_inactivity: Some(0),
        on_no_subs_pub: Some(NoSubsPolicy::Accept),
        dedup_window: Some(120),
        created_at: Some(1),
    }
}

/// A REST endpoint allowed to publish and subscribe everywhere, without credentials.
pub fn endpoint(name: &str) -> EndpointFields {
    EndpointFields {
        name: Some(name.into()),
        role: Some(Role::PubSub),
        endpoint_type: Some(EndpointType::Rest),
        topic_patterns: Some("sub=/**".into()),
        auth: Some(AuthKind::None),
        created_at: Some(1),
        ..Default::default()
    }
}

/// A pull subscription with auto ack, no waits after a failure.
pub fn subscription(sub_key: &str, topic_id: i64, endpoint_id: i64) -> SubscriptionFields {
    SubscriptionFields {
        sub_key: Some(sub_key.into()),
        topic_id: Some(topic_id),
        endpoint_id: Some(endpoint_id),
        creation_time: Some(1),
        sub_pattern_matched: Some("sub=/**".into()),
        delivery_method: Some(DeliveryMethod::Pull),
        ack_mode: Some(AckMode::Auto),
        ack_timeout: Some(30.0),
        delivery_batch_size: Some(100),
        wrap_one_msg_in_list: Some(true),
        delivery_max_retry: Some(10),
        delivery_err_should_block: Some(true),
        wait_sock_err: Some(0.0),
        wait_non_sock_err: Some(0.0),
        active_status: Some("active".into()),
        max_in_flight: Some(100),
        push_config: Some(None),
        is_wsx: Some(false),
        unsub_on_wsx_close: Some(false),
        server_name: Some(None),
    }
}

/// A GD message as a publisher made it at `pub_time`, living an hour.
pub fn stored_message(msg_id: &str, topic_id: i64, priority: i32, pub_time: i64) -> StoredMessage {
    StoredMessage {
        id: 0,
        pub_msg_id: msg_id.into(),
        topic_id,
        published_by_id: None,
        pub_correl_id: None,
        in_reply_to: None,
        ext_client_id: None,
        group_id: None,
        position_in_group: None,
        pub_pattern_matched: "pub=/**".into(),
        pub_time,
        ext_pub_time: None,
        expiration: 3_600,
        expiration_time: pub_time + 3_600 * 1_000_000,
        data: format!("{msg_id:?}"),
        mime_type: "application/json".into(),
        size: 1,
        priority,
        user_ctx: None,
        is_in_sub_queue: true,
        last_updated: None,
    }
}
