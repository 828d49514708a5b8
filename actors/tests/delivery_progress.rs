//! Push delivery keeps going while publications keep coming. A GD backlog deeper than the RAM
//! window is read back from SQL a window at a time; GD messages committed while such a read is
//! under way — announced by the topic actor (`Enqueue`, after the commit) or by a peer's wake
//! (`Resync`) — must not cost the read: delivery goes on from what it read, and the new
//! messages follow in their place.
//!
//! Each test runs the real `DeliveryActor` on a real store — SQLite, and PostgreSQL when
//! configured — fenced as on a cluster member (every node on PostgreSQL) and, on SQLite, not;
//! with a publisher on a thread of its own that commits and announces one message after another
//! for as long as the test waits, and a WSX session (the fake one of `support`, on its own
//! thread) that acknowledges every push at once. A read of a window takes as long as many
//! commits, so publications arrive during every read.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use signalbox_actors::delivery::{AttachSession, DeliveryActor, Enqueue, GetStatus, Resync};
use signalbox_actors::message::{Message, QueueEntry};
use signalbox_actors::stats::TopicStats;
use signalbox_schema::models::{GdOutcome, GdPublication, SubscriptionFields};
use support::{gd_publication, lock, message, sql, Event, FakeSession, Fixture, Flush, Wire};

/// GD messages queued before delivery starts: four times what the actor holds in RAM.
const BACKLOG: usize = 4_000;
/// GD messages per publication while the test publishes (one after another, as fast as they
/// commit: a read of a window of the backlog takes as long as many commits).
const PER_PUBLICATION: usize = 1;
/// Messages the publisher publishes at most, so that what it leaves comes out in good time.
const PUBLISH_AT_MOST: usize = 40_000;
/// First deliveries expected while publications keep arriving: the whole backlog.
const PROGRESS: usize = BACKLOG;
/// How long the publisher goes on at most, waiting for that progress.
const BUDGET: Duration = Duration::from_secs(10);
/// How long everything may take to come out once publishing stops.
const SETTLE: Duration = Duration::from_secs(60);

/// How a committed publication reaches the delivery actor.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Announce {
    /// The topic actor of this node hands the committed messages over.
    Enqueue,
    /// Another node committed them: only a wake-up (`Resync`) says so.
    Wake,
}

/// One subscription, its actor and its session.
struct Setup {
    fx: Fixture,
    sub_key: String,
    topic_id: i64,
    topic_name: String,
    actor: Addr<DeliveryActor>,
    session: Addr<FakeSession>,
    _session_thread: Arbiter,
    wire: Arc<Mutex<Wire>>,
    /// Publication time of message 0; message `seq` is published `seq` µs later.
    base: i64,
}

impl Setup {
    async fn start(fx: Fixture, fenced: bool) -> Setup {
        let (sub, topic_name) = fx.subscription(|fields| SubscriptionFields {
            delivery_method: Some(signalbox_schema::DeliveryMethod::Notify),
            delivery_batch_size: Some(50),
            max_in_flight: Some(1),
            push_config: Some(Some(r#"{"type":"wsx"}"#.to_owned())),
            is_wsx: Some(true),
            ..fields
        });
        let topic_id = sub.topic_id;
        let base = signalbox_schema::now_micros();
        // The backlog is in SQL before the actor starts, as after a restart: it reads it back.
        let backlog: Vec<GdPublication> = (0..BACKLOG)
            .map(|seq| gd_publication(&message(topic_id, &topic_name, seq, base + seq as i64, true)))
            .collect();
        let store = fx.store.clone();
        sql(move || store.gd_commit(&backlog)).await.expect("backlog committed");
        let store = fx.delivery_store(&sub.sub_key, fenced);
        let (metrics, deps) = (fx.metrics.clone(), fx.deps.clone());
        let stats = Arc::new(TopicStats::default());
        let (s, name) = (sub.clone(), topic_name.clone());
        let actor = DeliveryActor::new(s, name, store, metrics, stats, deps).start();
        let wire = Arc::new(Mutex::new(Wire::default()));
        let session_thread = Arbiter::new();
        let w = wire.clone();
        let session = FakeSession::start_in_arbiter(&session_thread.handle(), |_| FakeSession { wire: w });
        actor.send(AttachSession(Some(session.clone().recipient()))).await.expect("actor");
        Setup {
            fx,
            sub_key: sub.sub_key.clone(),
            topic_id,
            topic_name,
            actor,
            session,
            _session_thread: session_thread,
            wire,
            base,
        }
    }

    /// A publisher on a thread of its own (as publications reach a node from its HTTP and WSX
    /// workers, not from the delivery actor's thread), publishing until told to stop.
    fn publisher(&self, announce: Announce) -> Publisher {
        let stop = Arc::new(AtomicBool::new(false));
        let (store, actor, topic_id, topic_name, base, halt) = (
            self.fx.store.clone(),
            self.actor.clone(),
            self.topic_id,
            self.topic_name.clone(),
            self.base,
            stop.clone(),
        );
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            runtime.block_on(async move {
                let mut next = BACKLOG;
                while !halt.load(Ordering::Relaxed) && next < BACKLOG + PUBLISH_AT_MOST {
                    let messages: Vec<Message> = (next..next + PER_PUBLICATION)
                        .map(|seq| message(topic_id, &topic_name, seq, base + seq as i64, true))
                        .collect();
                    next += PER_PUBLICATION;
                    let publications: Vec<GdPublication> = messages.iter().map(gd_publication).collect();
                    let outcomes = store.gd_commit(&publications).expect("gd_commit");
                    assert!(outcomes.iter().all(|o| *o == GdOutcome::Stored { queued: 1 }), "{outcomes:?}");
                    match announce {
                        Announce::Enqueue => {
                            let now = signalbox_schema::now_micros();
                            let entries = messages
                                .into_iter()
                                .map(|m| QueueEntry {
                                    msg: Arc::new(m),
                                    hold: None,
                                    delivery_count: 0,
                                    recv_time: now,
                                })
                                .collect();
                            actor.send(Enqueue { entries }).await.expect("actor");
                        }
                        Announce::Wake => actor.send(Resync).await.expect("actor"),
                    }
                }
                next
            })
        });
        Publisher { stop, thread }
    }

    /// msg_ids pushed so far, in the order the session received them.
    async fn pushed(&self) -> Vec<String> {
        self.session.send(Flush).await.expect("session");
        let wire = lock(&self.wire);
        let mut ids = Vec::new();
        for event in &wire.events {
            if let Event::Pushed(batch) = event {
                ids.extend(batch.iter().map(|(id, count)| {
                    assert_eq!(
                        *count, 1,
                        "{id} pushed with delivery_count {count}: every push is acknowledged"
                    );
                    id.clone()
                }));
            }
        }
        ids
    }

    /// The msg_ids of messages 0..published, in publication (and queue) order.
    fn expected(&self, published: usize) -> Vec<String> {
        (0..published).map(|seq| message(self.topic_id, &self.topic_name, seq, 0, true).msg_id).collect()
    }

    async fn sql_depth(&self) -> i64 {
        let (store, sub_key) = (self.fx.store.clone(), self.sub_key.clone());
        sql(move || store.queue_depth(&sub_key)).await.expect("queue depth")
    }
}

struct Publisher {
    stop: Arc<AtomicBool>,
    /// Answers how many messages were published in all (the backlog included).
    thread: std::thread::JoinHandle<usize>,
}

impl Publisher {
    /// Stops publishing; answers how many messages were published in all.
    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        // Joined off the actor's thread: the publisher may be waiting for the actor.
        let thread = self.thread;
        sql(move || thread.join().expect("publisher")).await
    }
}

/// Publishes until `PROGRESS` messages were delivered (or `BUDGET` ran out) and asserts that
/// they were; then that every message comes out once, in publication order, and leaves SQL.
async fn delivery_progresses_while_publications_arrive(fx: Fixture, fenced: bool, announce: Announce) {
    let case = format!("{} fenced={fenced} {announce:?}", fx.backend);
    let setup = Setup::start(fx, fenced).await;
    let publisher = setup.publisher(announce);
    let started = Instant::now();
    let mut delivered = 0;
    while delivered < PROGRESS && started.elapsed() < BUDGET && !publisher.thread.is_finished() {
        actix_rt::time::sleep(Duration::from_millis(5)).await;
        delivered = setup.pushed().await.len();
    }
    let publishing = started.elapsed();
    let published = publisher.stop().await;
    assert!(
        delivered >= PROGRESS,
        "{case}: {delivered} of the {BACKLOG} backlog messages delivered in {publishing:?} while {} more \
         were published",
        published - BACKLOG
    );

    let expected = setup.expected(published);
    let settling = Instant::now();
    let mut pushed = setup.pushed().await;
    while pushed.len() < expected.len() && settling.elapsed() < SETTLE {
        actix_rt::time::sleep(Duration::from_millis(10)).await;
        pushed = setup.pushed().await;
    }
    let status = setup.actor.send(GetStatus).await.expect("actor");
    assert_eq!(pushed.len(), expected.len(), "{case}: pushes in all; the actor: {status:?}");
    let out_of_place = pushed.iter().zip(&expected).position(|(got, want)| got != want);
    assert_eq!(out_of_place, None, "{case}: the first push out of publication order");
    // Every pushed message leaves SQL (the removal of a batch follows its acknowledgement).
    let mut depth = setup.sql_depth().await;
    while depth != 0 && settling.elapsed() < SETTLE {
        actix_rt::time::sleep(Duration::from_millis(10)).await;
        depth = setup.sql_depth().await;
    }
    assert_eq!(depth, 0, "{case}: GD rows left in SQL after every push was acknowledged");
}

#[actix_rt::test]
async fn push_delivery_progresses_while_local_gd_publications_arrive_during_backlog_reads() {
    delivery_progresses_while_publications_arrive(Fixture::sqlite(), false, Announce::Enqueue).await;
}

/// As on every node on PostgreSQL (the fenced store), on SQLite and on PostgreSQL when configured.
#[actix_rt::test]
async fn push_delivery_on_a_fenced_store_progresses_while_local_gd_publications_arrive_during_backlog_reads()
{
    for fx in Fixture::all() {
        delivery_progresses_while_publications_arrive(fx, true, Announce::Enqueue).await;
    }
}

#[actix_rt::test]
async fn push_delivery_on_a_fenced_store_progresses_while_peers_wake_it_during_backlog_reads() {
    for fx in Fixture::all() {
        delivery_progresses_while_publications_arrive(fx, true, Announce::Wake).await;
    }
}
