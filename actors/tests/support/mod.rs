//! What the delivery tests share: a database per test (`testing::TestStore`) with a subscriber
//! endpoint, a fresh topic and subscription per case, the store a delivery actor writes with
//! (fenced, as on a cluster member, or not), messages as the topic actor builds them, and a fake
//! WSX session that records every push and answers it as the test says.
//!
//! Not every test file uses every item.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use actix::prelude::*;
use signalbox_actors::message::Message;
use signalbox_actors::outbound::Outbound;
use signalbox_actors::secrets::MasterKey;
use signalbox_actors::sinks::{PushFrame, SinkDeps, SinkError};
use signalbox_schema::cluster::Fence;
use signalbox_schema::models::{GdPublication, Subscription, SubscriptionFields, TopicFields};
use signalbox_schema::testing::{self, TestStore};
use signalbox_schema::Store;

pub const SECOND: i64 = 1_000_000;
/// A message published without an expiration lives this long (seconds).
pub const NEVER: i64 = 10 * 365 * 86_400;

// ---- the store ------------------------------------------------------------------------------

/// One database and endpoint for all the cases of a test; a topic and subscription each.
pub struct Fixture {
    pub store: Store,
    pub metrics: signalbox_actors::Metrics,
    pub deps: SinkDeps,
    pub endpoint_id: i64,
    /// `"sqlite"` or `"postgres"`, for assertion messages.
    pub backend: &'static str,
    cases: AtomicU64,
    /// Holds the database until the fixture is dropped (then removes it).
    _db: TestStore,
}

impl Fixture {
    /// On a fresh SQLite file.
    pub fn sqlite() -> Fixture {
        Fixture::on(TestStore::sqlite())
    }

    /// On SQLite, and on PostgreSQL too when it is configured (`SIGNALBOX_TEST_PG_URL`).
    pub fn all() -> Vec<Fixture> {
        TestStore::all().into_iter().map(Fixture::on).collect()
    }

    fn on(db: TestStore) -> Fixture {
        let store = db.store.clone();
        let endpoint = store.endpoint_create(testing::endpoint("delivery-subscriber")).expect("endpoint");
        // Pushes here go to the fake session only; HTTPS would trust nothing.
        let tls =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
        let deps = SinkDeps {
            node: "test".into(),
            master_key: MasterKey::generate().expect("key"),
            outbound: Outbound::new(Arc::new(tls)),
            services: None,
        };
        Fixture {
            store,
            metrics: signalbox_actors::Metrics::new(),
            deps,
            endpoint_id: endpoint.id,
            backend: db.name,
            cases: AtomicU64::new(0),
            _db: db,
        }
    }

    /// A fresh topic (messages that never expire within a test, no dedup window) and a
    /// subscription to it, its settings those of `testing::subscription` as `edit` changes them.
    /// Answers the subscription and the topic's name.
    pub fn subscription(
        &self,
        edit: impl FnOnce(SubscriptionFields) -> SubscriptionFields,
    ) -> (Arc<Subscription>, String) {
        let n = self.cases.fetch_add(1, Ordering::Relaxed);
        let name = format!("/delivery/{n}");
        let topic = TopicFields {
            has_gd: Some(false),
            max_depth_non_gd: Some(1_000_000),
            limit_message_expiry: Some(NEVER),
            limit_sub_inactivity: Some(NEVER),
            dedup_window: Some(0),
            ..testing::topic(&name)
        };
        let topic = self.store.topic_create(topic).expect("topic");
        let fields = edit(testing::subscription(&format!("zpsk.delivery.{n}"), topic.id, self.endpoint_id));
        let sub = self.store.subscription_create(fields).expect("subscription");
        (Arc::new(sub), name)
    }

    /// The store the delivery actor of `sub_key` writes with: on a cluster member (every node
    /// on PostgreSQL) a store fenced by the subscription's owner row, which is made here, as the
    /// leader's assignment makes it; else the store itself.
    pub fn delivery_store(&self, sub_key: &str, fenced: bool) -> Store {
        if !fenced {
            return self.store.clone();
        }
        let epoch = self.store.owner_assign(sub_key, "test", 0, None).expect("assign").expect("first owner");
        self.store.fenced(Fence { sub_key: sub_key.to_owned(), node: "test".into(), epoch })
    }
}

// ---- messages -------------------------------------------------------------------------------

/// A message of topic `topic_id` as the topic actor builds it: msg_id `zpsm.<topic>.<seq>`,
/// published at `pub_time` by endpoint 1, priority 5, never expiring within a test.
pub fn message(topic_id: i64, topic_name: &str, seq: usize, pub_time: i64, gd: bool) -> Message {
    let msg_id = format!("zpsm.{topic_id}.{seq:05}");
    let stored = signalbox_schema::models::StoredMessage {
        published_by_id: Some(1),
        expiration: NEVER,
        expiration_time: pub_time + NEVER * SECOND,
        data: format!("{seq}"),
        ..signalbox_schema::testing::stored_message(&msg_id, topic_id, 5, pub_time)
    };
    Message { has_gd: gd, ..Message::from_stored(stored, topic_name) }
}

/// A GD message as the topic actor hands it to the GD writer (queued for every subscription).
pub fn gd_publication(msg: &Message) -> GdPublication {
    GdPublication {
        message: msg.to_stored(),
        dedup_window: 0,
        drop_if_no_subs: false,
        client_msg_id: false,
        only_sub_keys: None,
    }
}

/// Runs `f` (a `Store` call) on a blocking thread, as the actors do.
pub async fn sql<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

// ---- the fake WSX session -------------------------------------------------------------------

/// How the fake session answers a push when it arrives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reply {
    Ack,
    /// Keep it unanswered until the test answers it.
    Hold,
    /// The client did not acknowledge within `ack_timeout`.
    Fail,
    /// The session went away: its answer is dropped.
    Drop,
}

#[derive(Debug)]
pub enum Event {
    /// A push arrived: (msg_id, delivery_count) of each message, in the frame's order.
    Pushed(Vec<(String, i64)>),
    Acked(Vec<String>),
    Failed(Vec<String>),
    Dropped(Vec<String>),
}

pub struct HeldPush {
    pub ids: Vec<String>,
    pub done: tokio::sync::oneshot::Sender<Result<(), SinkError>>,
}

/// What the session saw and holds; shared with the test.
#[derive(Default)]
pub struct Wire {
    /// Answers to the pushes as they arrive, in turn; `Ack` once they run out.
    pub replies: VecDeque<Reply>,
    pub events: Vec<Event>,
    pub held: Vec<HeldPush>,
}

impl Wire {
    pub fn answer(
        &mut self,
        ids: Vec<String>,
        done: tokio::sync::oneshot::Sender<Result<(), SinkError>>,
        how: Reply,
    ) {
        match how {
            Reply::Ack => {
                self.events.push(Event::Acked(ids));
                let _ = done.send(Ok(()));
            }
            Reply::Fail => {
                self.events.push(Event::Failed(ids));
                let _ = done.send(Err(SinkError::other("no client-response within ack_timeout")));
            }
            Reply::Drop => {
                self.events.push(Event::Dropped(ids));
                drop(done);
            }
            Reply::Hold => self.held.push(HeldPush { ids, done }),
        }
    }
}

/// The wire of a session, locked (a test that panicked while holding it left it usable).
pub fn lock(wire: &Mutex<Wire>) -> MutexGuard<'_, Wire> {
    wire.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct FakeSession {
    pub wire: Arc<Mutex<Wire>>,
}

impl Actor for FakeSession {
    type Context = Context<Self>;
}

impl Handler<PushFrame> for FakeSession {
    type Result = ();

    fn handle(&mut self, frame: PushFrame, _ctx: &mut Context<Self>) {
        let batch: Vec<(String, i64)> = frame
            .messages
            .iter()
            .map(|m| {
                (
                    m["msg_id"].as_str().unwrap_or_default().to_owned(),
                    m["delivery_count"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        let ids = batch.iter().map(|(id, _)| id.clone()).collect();
        let mut wire = lock(&self.wire);
        wire.events.push(Event::Pushed(batch));
        let how = wire.replies.pop_front().unwrap_or(Reply::Ack);
        wire.answer(ids, frame.done, how);
    }
}

/// Answered once every push queued before it has been handled.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

impl Handler<Flush> for FakeSession {
    type Result = ();

    fn handle(&mut self, _msg: Flush, _ctx: &mut Context<Self>) {}
}
