//! `Supervisor`: one per node. Owns the subscription → delivery-actor assignment and every
//! actor's lifecycle.
//!
//! Receives `Boot` (start an actor for every topic and subscription in the `Store`),
//! `SyncTopics` and `SyncSubscription` (configuration changed: start, update or stop actors to
//! match), and runs the janitor: expired GD messages deleted, GD depths reconciled with the
//! database, depth gauges updated. Actors run on the supervisor's own arbiters, never on the
//! HTTP workers. On one node every subscription is assigned here; the cluster assigns
//! subscriptions to nodes through this same seam.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use signalbox_schema::models::{FileChannel, Subscription, Topic};
use signalbox_schema::{Page, Store};

use crate::cluster::{ClusterRoute, RemoteSub};
use crate::delivery::{DeliveryActor, Drain, StopDelivery, UpdateSubscription};
use crate::error::{blocking, PubSubError};
use crate::file_channel::{FileChannelActor, StopFileChannel};
use crate::gd_writer::GdWriter;
use crate::registry::{Registry, SubEntry, TopicEntry};
use crate::sinks::SinkDeps;
use crate::stats::TopicStats;
use crate::time::now_micros;
use crate::topic::{Attach, OverflowLog, TopicActor, UpdateTopic};
use crate::Metrics;

/// How often expired messages are deleted and depths reconciled.
const JANITOR_INTERVAL: Duration = Duration::from_secs(5);
/// Delivery actors asked for their in-RAM depth at once, each janitor round.
const RAM_DEPTH_READS: usize = 32;
/// How often a cluster node reads the GD depths of its topics (the whole cluster's).
const CLUSTER_DEPTH_INTERVAL: Duration = Duration::from_secs(1);
/// How often the supervisor looks for actors that died (a handler panicked) to start again.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
const ALL: Page = Page { limit: i64::MAX, offset: 0 };

/// Start actors for everything in the store.
#[derive(Message)]
#[rtype(result = "Result<(), PubSubError>")]
pub struct Boot;

/// Topics were created, edited or deleted.
#[derive(Message)]
#[rtype(result = "Result<(), PubSubError>")]
pub struct SyncTopics;

/// A subscription was created, edited or deleted.
#[derive(Message)]
#[rtype(result = "Result<(), PubSubError>")]
pub struct SyncSubscription {
    pub sub_key: String,
}

/// This node is part of a cluster: subscriptions start only when [`Own`] says so, and topic
/// actors route publications for the others through `route`. Sent once, before [`Boot`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetCluster(pub ClusterRoute);

/// The cluster's ownership table as it stands, each subscription with its owner and epoch: run
/// exactly the ones this node owns, under their epochs, and route publications for the others
/// to their nodes.
/// `handing_over` are being released from here right now: left as they are.
#[derive(Message)]
#[rtype(result = "Result<(), PubSubError>")]
pub struct Own {
    pub subs: Vec<(RemoteSub, i64)>,
    pub handing_over: HashSet<String>,
}

/// Hand a subscription over: stop delivering it here once the batch under way is done, keep
/// its in-RAM messages as GD, and route its new publications to GD until the next owner runs.
#[derive(Message)]
#[rtype(result = "Result<(), PubSubError>")]
pub struct Release {
    pub sub_key: String,
}

/// Run inbound file channels here or not: in a cluster only the leader reads the directories.
#[derive(Message)]
#[rtype(result = "Result<(), PubSubError>")]
pub struct RunFileChannels(pub bool);

/// File channels were created, edited or deleted.
#[derive(Message)]
#[rtype(result = "Result<(), PubSubError>")]
pub struct SyncFileChannels;

pub struct Supervisor {
    node_name: String,
    /// Running file channel actors, by channel id, with the settings they run with.
    file_channels: HashMap<i64, (FileChannel, Addr<FileChannelActor>)>,
    store: Store,
    metrics: Metrics,
    registry: Registry,
    gd_writer: Addr<GdWriter>,
    overflow: OverflowLog,
    sink_deps: SinkDeps,
    /// Where topic and delivery actors run, round robin.
    arbiters: Vec<Arbiter>,
    next_arbiter: usize,
    /// Set in a cluster; None on a single node, where every subscription is delivered here.
    route: Option<ClusterRoute>,
    /// Whether inbound file channels run here (always on a single node; the leader's job in a
    /// cluster).
    file_channels_on: bool,
}

impl Supervisor {
    pub fn new(
        node_name: String,
        store: Store,
        metrics: Metrics,
        registry: Registry,
        overflow: OverflowLog,
        sink_deps: SinkDeps,
        arbiters: usize,
    ) -> Supervisor {
        let writer_arbiter = Arbiter::new();
        let (s, m) = (store.clone(), metrics.clone());
        let gd_writer = GdWriter::start_in_arbiter(&writer_arbiter.handle(), move |_| GdWriter::new(s, m));
        let mut all = vec![writer_arbiter];
        all.extend((0..arbiters.max(1)).map(|_| Arbiter::new()));
        Supervisor {
            node_name,
            file_channels: HashMap::new(),
            store,
            metrics,
            registry,
            gd_writer,
            overflow,
            sink_deps,
            arbiters: all,
            next_arbiter: 1,
            route: None,
            file_channels_on: true,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn arbiter(&mut self) -> ArbiterHandle {
        let handle = self.arbiters[self.next_arbiter].handle();
        self.next_arbiter = 1 + self.next_arbiter % (self.arbiters.len() - 1);
        handle
    }

    fn apply_topics(&mut self, topics: Vec<Topic>, depths: Vec<i64>) {
        let live: HashSet<i64> = topics.iter().map(|t| t.id).collect();
        for entry in self.registry.topics() {
            if !live.contains(&entry.topic.id) {
                // Its subscriptions went with it: their delivery actors stop too (else one
                // would go on pushing the deleted topic's backlog it holds).
                for sub in self.registry.subs_of_topic(entry.topic.id) {
                    if let Some(stopped) = self.stop_subscription(&sub.sub.sub_key) {
                        stopped.addr.do_send(StopDelivery);
                    }
                    self.metrics.forget_subscription(&sub.sub.sub_key);
                }
                self.registry.remove_topic(entry.topic.id);
            }
        }
        for (topic, depth) in topics.into_iter().zip(depths) {
            let topic = Arc::new(topic);
            match self.registry.topic_by_id(topic.id) {
                Some(existing) if *existing.topic == *topic => {}
                Some(existing) => {
                    existing.addr.do_send(UpdateTopic(topic.clone()));
                    self.registry.put_topic(TopicEntry { topic, ..existing });
                }
                None => {
                    let stats = Arc::new(TopicStats::default());
                    stats.gd.store(depth, Ordering::Relaxed);
                    let (t, st, w, o, m, r) = (
                        topic.clone(),
                        stats.clone(),
                        self.gd_writer.clone(),
                        self.overflow.clone(),
                        self.metrics.clone(),
                        self.route.clone(),
                    );
                    let addr = TopicActor::start_in_arbiter(&self.arbiter(), move |_| {
                        TopicActor::new(t, st, w, o, m, r)
                    });
                    self.registry.put_topic(TopicEntry { topic, addr, stats });
                }
            }
        }
    }

    /// Stops delivering a subscription here (deleted, or owned by another node now).
    fn stop_subscription(&mut self, sub_key: &str) -> Option<SubEntry> {
        let existing = self.registry.remove_sub(sub_key)?;
        if let Some(topic) = self.registry.topic_by_id(existing.sub.topic_id) {
            topic.addr.do_send(Attach { sub_key: sub_key.to_owned(), addr: None });
        }
        self.metrics.subscription_depth.remove_label_values(&[sub_key, "gd"]).ok();
        self.metrics.subscription_depth.remove_label_values(&[sub_key, "ram"]).ok();
        Some(existing)
    }

    fn apply_subscription(&mut self, sub_key: &str, found: Option<Subscription>) {
        match (found, self.registry.sub(sub_key)) {
            (None, None) => {}
            (None, Some(_)) => {
                if let Some(entry) = self.stop_subscription(sub_key) {
                    entry.addr.do_send(StopDelivery);
                }
                self.metrics.forget_subscription(sub_key);
            }
            (Some(sub), Some(existing)) => {
                let sub = Arc::new(sub);
                existing.addr.do_send(UpdateSubscription(sub.clone()));
                self.registry.put_sub(SubEntry { sub, ..existing });
            }
            // In a cluster, only the ownership table starts deliveries (`Own`).
            (Some(sub), None) if self.route.is_none() => self.start_subscription(sub, 0),
            (Some(_), None) => {}
        }
    }

    /// Starts the delivery actor of a subscription this node owns (`epoch` 0 on a single node;
    /// in a cluster its queue writes are fenced by the epoch).
    fn start_subscription(&mut self, sub: Subscription, epoch: i64) {
        let sub_key = sub.sub_key.clone();
        let sub_key = sub_key.as_str();
        let Some(topic) = self.registry.topic_by_id(sub.topic_id) else {
            log::warn!("event=subscription_without_topic sub_key={sub_key}");
            return;
        };
        let store = match &self.route {
            Some(route) => self.store.fenced(signalbox_schema::cluster::Fence {
                sub_key: sub_key.to_owned(),
                node: route.node.clone(),
                epoch,
            }),
            None => self.store.clone(),
        };
        if let Some(route) = &self.route {
            route.forget(sub_key);
        }
        let sub = Arc::new(sub);
        let (s, name, st, m, stats) =
            (sub.clone(), topic.topic.name.clone(), store, self.metrics.clone(), topic.stats.clone());
        let deps = self.sink_deps.clone();
        let lease = self.route.as_ref().map(|r| r.lease.clone());
        let addr = DeliveryActor::start_in_arbiter(&self.arbiter(), move |_| {
            let actor = DeliveryActor::new(s, name, st, m, stats, deps);
            match lease {
                Some(lease) => actor.with_membership(lease),
                None => actor,
            }
        });
        // Attached before the HTTP answer that created the subscription goes out, so
        // the next in-RAM publication reaches it.
        topic.addr.do_send(Attach { sub_key: sub_key.to_owned(), addr: Some(addr.clone()) });
        self.registry.put_sub(SubEntry { sub, topic_name: topic.topic.name.clone(), addr, epoch });
        log::info!("event=delivery_started sub_key={sub_key} node={} epoch={epoch}", self.node_name);
    }

    fn apply_file_channels(&mut self, mut channels: Vec<FileChannel>) {
        if !self.file_channels_on {
            channels.clear();
        }
        let live: HashSet<i64> = channels.iter().map(|c| c.id).collect();
        self.file_channels.retain(|id, (_, addr)| {
            let keep = live.contains(id);
            if !keep {
                addr.do_send(StopFileChannel);
            }
            keep
        });
        for channel in channels {
            if self.file_channels.get(&channel.id).is_some_and(|(c, _)| *c == channel) {
                continue;
            }
            if let Some((_, old)) = self.file_channels.remove(&channel.id) {
                old.do_send(StopFileChannel);
            }
            let (c, r, s) = (channel.clone(), self.registry.clone(), self.store.clone());
            let addr =
                FileChannelActor::start_in_arbiter(&self.arbiter(), move |_| FileChannelActor::new(c, r, s));
            self.file_channels.insert(channel.id, (channel, addr));
        }
    }

    /// An actor whose handler panicked is gone (its `Addr` no longer connects): start it again
    /// from its configuration; a delivery actor reloads its backlog from SQL. Counted.
    fn respawn_dead(&mut self) {
        for topic in self.registry.topics() {
            if topic.addr.connected() {
                continue;
            }
            log::error!("event=actor_respawned kind=topic topic={}", topic.topic.name);
            self.metrics.actor_restarts.with_label_values(&["topic"]).inc();
            let (t, st, w, o, m, r) = (
                topic.topic.clone(),
                topic.stats.clone(),
                self.gd_writer.clone(),
                self.overflow.clone(),
                self.metrics.clone(),
                self.route.clone(),
            );
            let addr =
                TopicActor::start_in_arbiter(&self.arbiter(), move |_| TopicActor::new(t, st, w, o, m, r));
            for sub in self.registry.subs_of_topic(topic.topic.id) {
                addr.do_send(Attach { sub_key: sub.sub.sub_key.clone(), addr: Some(sub.addr.clone()) });
            }
            self.registry.put_topic(TopicEntry { addr, ..topic });
        }
        for sub in self.registry.subs() {
            if sub.addr.connected() {
                continue;
            }
            log::error!("event=actor_respawned kind=delivery sub_key={}", sub.sub.sub_key);
            self.metrics.actor_restarts.with_label_values(&["delivery"]).inc();
            self.registry.remove_sub(&sub.sub.sub_key);
            self.start_subscription((*sub.sub).clone(), sub.epoch);
        }
    }

    fn janitor(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        let topics: Vec<TopicEntry> = self.registry.topics();
        let ids: Vec<i64> = topics.iter().map(|t| t.topic.id).collect();
        let work = async move {
            blocking(move || {
                let expired = store.expire_messages(now_micros())?;
                let depths = ids.iter().map(|id| store.gd_depth(*id)).collect::<Result<Vec<_>, _>>()?;
                let queues = store.queue_depths()?;
                Ok((expired, depths, queues))
            })
            .await
        };
        ctx.spawn(work.into_actor(self).map(move |result, act, _| match result {
            Ok((expired, depths, queues)) => {
                act.metrics.expired.inc_by(expired as u64);
                let queues: HashMap<String, i64> = queues.into_iter().collect();
                let mut ram_gauges = Vec::new();
                for sub in act.registry.subs() {
                    let key = sub.sub.sub_key.as_str();
                    let gd = queues.get(key).copied().unwrap_or(0);
                    act.metrics.subscription_depth.with_label_values(&[key, "gd"]).set(gd);
                    let gauge = act.metrics.subscription_depth.with_label_values(&[key, "ram"]);
                    ram_gauges.push((sub.addr, gauge));
                }
                // One task asks the delivery actors a few at a time: a task per subscription
                // would cost memory in proportion to them every janitor round.
                actix_rt::spawn(async move {
                    use futures_util::StreamExt;
                    futures_util::stream::iter(ram_gauges)
                        .for_each_concurrent(RAM_DEPTH_READS, |(addr, gauge)| async move {
                            if let Ok(status) = addr.send(crate::delivery::GetStatus).await {
                                gauge.set(status.queue_depth_ram as i64);
                            }
                        })
                        .await;
                });
                for (entry, depth) in topics.iter().zip(depths) {
                    entry.stats.gd.store(depth, Ordering::Relaxed);
                    let ram = entry.stats.ram.load(Ordering::Relaxed);
                    act.metrics.topic_depth.with_label_values(&[&entry.topic.name, "gd"]).set(depth);
                    act.metrics.topic_depth.with_label_values(&[&entry.topic.name, "ram"]).set(ram);
                }
            }
            Err(e) => log::warn!("event=janitor_failed error={e}"),
        }));
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(JANITOR_INTERVAL, |act, ctx| act.janitor(ctx));
        ctx.run_interval(HEALTH_INTERVAL, |act, _| act.respawn_dead());
    }
}

fn load_topics(store: &Store) -> Result<(Vec<Topic>, Vec<i64>), signalbox_schema::StoreError> {
    let topics = store.topics(ALL)?;
    let depths = topics.iter().map(|t| store.gd_depth(t.id)).collect::<Result<Vec<_>, _>>()?;
    Ok((topics, depths))
}

impl Handler<Boot> for Supervisor {
    type Result = AtomicResponse<Self, Result<(), PubSubError>>;

    fn handle(&mut self, _msg: Boot, _ctx: &mut Context<Self>) -> Self::Result {
        let store = self.store.clone();
        let work = async move {
            blocking(move || {
                let topics = load_topics(&store)?;
                let subs = store.subscriptions(ALL)?;
                let file_channels = store.file_channels()?;
                Ok((topics, subs, file_channels))
            })
            .await
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|result, act, _| {
            let ((topics, depths), subs, file_channels) = result?;
            act.apply_topics(topics, depths);
            act.apply_file_channels(file_channels);
            let count = subs.len();
            if act.route.is_none() {
                for sub in subs {
                    act.start_subscription(sub, 0);
                }
            }
            log::info!("event=supervisor_booted node={} subscriptions={count}", act.node_name);
            Ok(())
        })))
    }
}

impl Handler<SyncFileChannels> for Supervisor {
    type Result = AtomicResponse<Self, Result<(), PubSubError>>;

    fn handle(&mut self, _msg: SyncFileChannels, _ctx: &mut Context<Self>) -> Self::Result {
        let store = self.store.clone();
        let work = async move { blocking(move || store.file_channels()).await };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|result, act, _| {
            act.apply_file_channels(result?);
            Ok(())
        })))
    }
}

impl Handler<SyncTopics> for Supervisor {
    type Result = AtomicResponse<Self, Result<(), PubSubError>>;

    fn handle(&mut self, _msg: SyncTopics, _ctx: &mut Context<Self>) -> Self::Result {
        let store = self.store.clone();
        let work = async move { blocking(move || load_topics(&store)).await };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|result, act, _| {
            let (topics, depths) = result?;
            act.apply_topics(topics, depths);
            Ok(())
        })))
    }
}

impl Handler<SyncSubscription> for Supervisor {
    type Result = AtomicResponse<Self, Result<(), PubSubError>>;

    fn handle(&mut self, msg: SyncSubscription, _ctx: &mut Context<Self>) -> Self::Result {
        let store = self.store.clone();
        let key = msg.sub_key.clone();
        let work = async move {
            blocking(move || match store.subscription(&key) {
                Ok(sub) => Ok(Some(sub)),
                Err(signalbox_schema::StoreError::NotFound) => Ok(None),
                Err(e) => Err(e),
            })
            .await
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(move |result, act, _| {
            act.apply_subscription(&msg.sub_key, result?);
            Ok(())
        })))
    }
}

impl Handler<SetCluster> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: SetCluster, ctx: &mut Context<Self>) {
        self.route = Some(msg.0);
        self.file_channels_on = false;
        // Other nodes publish to the same topics: the GD depth each node enforces is the
        // database's count, read this often.
        ctx.run_interval(CLUSTER_DEPTH_INTERVAL, |act, ctx| act.janitor(ctx));
    }
}

impl Handler<RunFileChannels> for Supervisor {
    type Result = AtomicResponse<Self, Result<(), PubSubError>>;

    fn handle(&mut self, msg: RunFileChannels, _ctx: &mut Context<Self>) -> Self::Result {
        self.file_channels_on = msg.0;
        let store = self.store.clone();
        let work = async move { blocking(move || store.file_channels()).await };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|result, act, _| {
            act.apply_file_channels(result?);
            Ok(())
        })))
    }
}

impl Handler<Own> for Supervisor {
    type Result = AtomicResponse<Self, Result<(), PubSubError>>;

    fn handle(&mut self, msg: Own, _ctx: &mut Context<Self>) -> Self::Result {
        let Some(route) = self.route.clone() else {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(()))));
        };
        let mut owned: HashMap<String, i64> = HashMap::new();
        let mut remote = Vec::with_capacity(msg.subs.len());
        for (sub, epoch) in msg.subs {
            if msg.handing_over.contains(&sub.sub_key) {
                // Its `Release` decides; until the next owner runs it, publications go to GD.
                if self.registry.sub(&sub.sub_key).is_none() {
                    remote.push(RemoteSub { node: None, ..sub });
                }
                continue;
            }
            if sub.node.as_deref() == Some(route.node.as_str()) {
                owned.insert(sub.sub_key.clone(), epoch);
                if self.registry.sub(&sub.sub_key).is_some_and(|e| e.epoch == epoch) {
                    continue;
                }
                // Ours but not running yet: until it runs, its publications are kept as GD.
                remote.push(RemoteSub { node: None, ..sub });
            } else {
                remote.push(sub);
            }
        }
        // Stop first what is no longer ours (or ours under another epoch), so a subscription
        // never runs twice here. Answered only once those actors have stopped: the cluster
        // member lets pushes resume after a pause only then (the membership lease).
        let mut stopping = Vec::new();
        for entry in self.registry.subs() {
            let key = entry.sub.sub_key.clone();
            if owned.get(&key) != Some(&entry.epoch) && !msg.handing_over.contains(&key) {
                log::info!("event=delivery_stopped sub_key={key} node={} reason=not_owned", self.node_name);
                if let Some(entry) = self.stop_subscription(&key) {
                    stopping.push(entry.addr.send(StopDelivery));
                }
            }
        }
        route.set_remote(remote);
        let missing: Vec<(String, i64)> =
            owned.into_iter().filter(|(key, _)| self.registry.sub(key).is_none()).collect();
        let store = self.store.clone();
        let work = async move {
            // An actor that already died answers an error: stopped either way.
            futures_util::future::join_all(stopping).await;
            blocking(move || {
                let mut found = Vec::with_capacity(missing.len());
                for (key, epoch) in missing {
                    match store.subscription(&key) {
                        Ok(sub) => found.push((sub, epoch)),
                        Err(signalbox_schema::StoreError::NotFound) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(found)
            })
            .await
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|result, act, _| {
            for (sub, epoch) in result? {
                act.start_subscription(sub, epoch);
            }
            Ok(())
        })))
    }
}

impl Handler<Release> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), PubSubError>>;

    fn handle(&mut self, msg: Release, _ctx: &mut Context<Self>) -> Self::Result {
        let Some(entry) = self.stop_subscription(&msg.sub_key) else {
            return Box::pin(fut::ready(Ok(())));
        };
        if let Some(route) = &self.route {
            route.set_one(RemoteSub {
                sub_key: entry.sub.sub_key.clone(),
                topic_id: entry.sub.topic_id,
                endpoint_id: entry.sub.endpoint_id,
                is_wsx: entry.sub.is_wsx,
                node: None,
            });
        }
        log::info!("event=delivery_released sub_key={} node={}", msg.sub_key, self.node_name);
        let addr = entry.addr;
        Box::pin(
            async move {
                let drained = addr.send(Drain).await;
                addr.do_send(StopDelivery);
                drained?
            }
            .into_actor(self),
        )
    }
}
