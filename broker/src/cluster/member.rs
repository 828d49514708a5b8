//! `ClusterMember`: one per node of a cluster.
//!
//! Every heartbeat it records that the node is alive, takes (or renews) the leader's lease
//! if it can, and reads the cluster's picture: nodes, subscription owners, the
//! configuration version. The leader also declares nodes dead whose heartbeat is stale, gives
//! every subscription without a live owner to the least loaded live node (a new epoch), and
//! asks owners of busy nodes to hand subscriptions over to idle ones. Every node then runs
//! exactly the subscriptions it owns (the supervisor's `Own`), hands over those it is asked
//! to (`Release`, then the owner row moves to the next node), keeps an internal link to each
//! live peer, and reloads its configuration when the version moved.
//!
//! Each heartbeat that succeeds renews the node's membership lease, in this order: write the
//! heartbeat and read the picture, stop the delivery actors of subscriptions no longer owned
//! here, then mark the lease valid until `heartbeat_timeout - heartbeat_interval` after the
//! heartbeat began. Delivery actors push only while it is valid, so a node that was frozen or
//! cut off stops pushing before the leader may give its subscriptions to others, and pushes
//! nothing from its old picture when it wakes up.
//!
//! Leadership is a lease too (`sb_leader_lease`, expiry by the database's clock, length
//! `heartbeat_timeout`), tracked here on the monotonic clock for `heartbeat_timeout -
//! heartbeat_interval` from before the renewal was sent: a leader whose renewal fails, or does
//! not come back in time, stops leading before its lease in the database runs out, and every
//! write it makes as leader checks its term in the same transaction.
//!
//! The member reaches the rest of its node only through [`Subsystems`] (set by `Start`): a
//! configuration reload, and the work only the leader does. Its links to peers are kept in
//! `peers.rs`; what it forwards to them, `forwarding.rs`; handovers, `handover.rs`.
//!
//! Receives `Start`, `SyncNow` (a peer or an admin changed something), `Changed` (this node
//! did), the topic actors' `ForwardRam` and `WakeTopic` (sent on over the internal links),
//! `MoveSubscription` and `Leave` (SIGTERM).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use signalbox_actors::cluster::{MembershipLease, RemoteSub};
use signalbox_actors::delivery::Resync;
use signalbox_actors::error::blocking;
use signalbox_actors::registry::Registry;
use signalbox_actors::supervisor::{Own, Supervisor};
use signalbox_actors::{Metrics, PubSubError};
use signalbox_schema::cluster::Leadership;
use signalbox_schema::models::{ClusterNode, SubOwner};
use signalbox_schema::{now_micros, Store, StoreError, StoreResult};

use super::calls::Synchronize;
use super::handover::hand_over;
use super::leader::lead;
use super::peers::{call_link, Peers};
use super::Subsystems;
use crate::links::LinkDeps;

/// How long a change waits for every peer to follow it.
const SYNC_TIMEOUT: Duration = Duration::from_secs(5);
/// Delivery actors read SQL for GD messages committed on other nodes every this many
/// heartbeats, in case a wake-up was lost with a link.
const POLL_EVERY_BEATS: u64 = 3;

/// The settings a member runs with.
pub struct MemberConfig {
    pub node: String,
    pub cluster: String,
    pub advertise_url: String,
    pub database_url: String,
    pub heartbeat: Duration,
    pub timeout: Duration,
    /// A CA file trusted, besides the system's roots, by links to peers that advertise https.
    pub tls_ca: Option<String>,
}

/// What the member needs of its node besides the store and the supervisor.
pub struct MemberDeps {
    pub registry: Registry,
    pub metrics: Metrics,
    /// What the internal links to peers are made with.
    pub link_deps: LinkDeps,
}

pub struct ClusterMember {
    pub(super) config: MemberConfig,
    pub(super) store: Store,
    pub(super) supervisor: Addr<Supervisor>,
    /// This node's delivery actors, woken every few heartbeats to read SQL.
    pub(super) registry: Registry,
    /// Where the cluster's figures (live nodes, leadership, handovers) are counted.
    pub(super) metrics: Metrics,
    /// What links to peers are made with; its `max_frame` also bounds a forwarded frame.
    pub(super) link_deps: LinkDeps,
    /// Shared with the blocking thread that runs each heartbeat's SQL.
    pub(super) leadership: Arc<Mutex<Leading>>,
    /// This node's leader lease on the monotonic clock, renewed by each renewal in the database
    /// that succeeds; `leader` is true only while it is valid.
    pub(super) leader_lease: MembershipLease,
    /// Set by `Start`: what reloads and leader-only work reach the rest of the node through.
    pub(super) node: Option<Arc<dyn Subsystems>>,
    pub(super) leader: bool,
    /// `leader`, shared with the rest of the node.
    pub(super) leader_flag: Arc<AtomicBool>,
    /// The configuration version this node runs with.
    pub(super) config_version: Option<i64>,
    pub(super) peers: Peers,
    /// Peer node → the address its link was made for.
    pub(super) peer_urls: HashMap<String, String>,
    pub(super) peer_arbiter: ArbiterHandle,
    /// Subscriptions being handed over from here right now.
    pub(super) handing_over: HashSet<String>,
    /// Node → topics whose delivery actors there are to be woken (sent together shortly).
    pub(super) wake_pending: HashMap<String, BTreeSet<i64>>,
    /// A flush of `wake_pending` is due.
    pub(super) wake_scheduled: bool,
    /// A heartbeat is under way (the timer skips a beat rather than pile them up).
    pub(super) beating: bool,
    /// SIGTERM: handing everything over; no new ownership is taken.
    pub(super) leaving: bool,
    /// Heartbeats so far (the GD poll runs every `POLL_EVERY_BEATS`).
    pub(super) beats: u64,
    /// This node's right to push, renewed by each heartbeat that succeeds (shared with the
    /// delivery actors through the `ClusterRoute`).
    pub(super) lease: MembershipLease,
}

/// The leader's side of the heartbeat, kept between heartbeats.
pub(super) struct Leading {
    pub(super) lease: Leadership,
    /// Since when this node's heartbeats have succeeded with no gap longer than the timeout.
    /// A leader declares nobody dead before it has beaten that long itself: after a database
    /// outage (or a pause of its own) every heartbeat is old, and the nodes need a beat to write
    /// a fresh one. A node that took over from a frozen leader has beaten all along, so it
    /// reassigns the frozen node's subscriptions at once.
    healthy_since: Option<std::time::Instant>,
    last_beat: Option<std::time::Instant>,
}

/// What one heartbeat read from the database.
struct Snapshot {
    /// When the heartbeat began, before its write: the lease runs from here.
    began: std::time::Instant,
    leading: bool,
    version: i64,
    nodes: Vec<ClusterNode>,
    owners: Vec<SubOwner>,
}

impl ClusterMember {
    pub fn new(
        config: MemberConfig,
        store: Store,
        supervisor: Addr<Supervisor>,
        deps: MemberDeps,
    ) -> ClusterMember {
        let arbiter = Arbiter::new();
        let peer_arbiter = arbiter.handle();
        // The arbiter lives as long as the process; its handle is what starts actors on it.
        std::mem::forget(arbiter);
        // The database's lease runs `timeout` from the renewal; the node's own count stops one
        // heartbeat earlier, from before the renewal was sent.
        let leadership = Leadership::new(&config.database_url, &config.cluster, &config.node, config.timeout);
        let leader_lease = MembershipLease::new(config.timeout.saturating_sub(config.heartbeat));
        // Shorter than the timeout by one heartbeat: a node stops starting pushes before the
        // leader may declare it dead (the margin also absorbs clocks that differ a little).
        // The configuration keeps the timeout at least two heartbeats, so the lease is at
        // least one.
        let lease = MembershipLease::new(config.timeout.saturating_sub(config.heartbeat));
        ClusterMember {
            config,
            store,
            supervisor,
            registry: deps.registry,
            metrics: deps.metrics,
            link_deps: deps.link_deps,
            leadership: Arc::new(Mutex::new(Leading {
                lease: leadership,
                healthy_since: None,
                last_beat: None,
            })),
            leader_lease,
            node: None,
            leader: false,
            leader_flag: Default::default(),
            config_version: None,
            peers: Peers::default(),
            peer_urls: HashMap::new(),
            peer_arbiter,
            handing_over: HashSet::new(),
            wake_pending: HashMap::new(),
            wake_scheduled: false,
            beating: false,
            leaving: false,
            beats: 0,
            lease,
        }
    }

    pub fn lease(&self) -> MembershipLease {
        self.lease.clone()
    }

    pub fn peers(&self) -> Peers {
        self.peers.clone()
    }

    pub fn leader_flag(&self) -> Arc<AtomicBool> {
        self.leader_flag.clone()
    }

    pub(super) fn timeout_micros(&self) -> i64 {
        self.config.timeout.as_micros() as i64
    }

    /// One heartbeat: SQL on a blocking thread, then the node follows what it read.
    fn beat(&mut self) -> ResponseActFuture<Self, ()> {
        if self.leaving {
            // A leaving node no longer claims to be alive: the leader must not give it work.
            return Box::pin(fut::ready(()));
        }
        let store = self.store.clone();
        let leadership = self.leadership.clone();
        let (node, cluster, url) =
            (self.config.node.clone(), self.config.cluster.clone(), self.config.advertise_url.clone());
        let (timeout, leaving) = (self.timeout_micros(), self.leaving);
        let grace = self.config.timeout;
        let leader_lease = self.leader_lease.clone();
        let work = blocking(move || -> StoreResult<Snapshot> {
            let began = std::time::Instant::now();
            let now = now_micros();
            let alive = store.node_heartbeat(&node, now).and_then(|registered| match registered {
                true => Ok(()),
                false => store.node_register(&node, &cluster, &url, now),
            });
            let (term, may_declare_dead) = {
                let mut held = leadership.lock().unwrap_or_else(|p| p.into_inner());
                let held = &mut *held;
                if let Err(e) = alive {
                    held.healthy_since = None;
                    return Err(e);
                }
                if held.last_beat.is_none_or(|t| began.duration_since(t) > grace) {
                    held.healthy_since = None;
                }
                held.last_beat = Some(began);
                let healthy_since = *held.healthy_since.get_or_insert(began);
                let renewal_sent = std::time::Instant::now();
                let term = if leaving {
                    held.lease.resign();
                    None
                } else {
                    held.lease.tick()
                };
                if term.is_some() {
                    leader_lease.renew(renewal_sent);
                }
                // A renewal that came back later than the node's own count of the lease leads
                // nothing this heartbeat.
                (term.filter(|_| leader_lease.is_valid()), healthy_since.elapsed() >= grace)
            };
            let leading = match &term {
                Some(term) => match lead(&store, term, now, timeout, may_declare_dead) {
                    Ok(()) => true,
                    Err(StoreError::NotLeader) => {
                        leadership.lock().unwrap_or_else(|p| p.into_inner()).lease.lost();
                        false
                    }
                    Err(e) => return Err(e),
                },
                None => false,
            };
            Ok(Snapshot {
                began,
                leading,
                version: store.config_version()?,
                nodes: store.nodes(&cluster)?,
                owners: store.sub_owners()?,
            })
        });
        Box::pin(work.into_actor(self).then(|result, act, ctx| {
            let next: ResponseActFuture<Self, ()> = match result {
                Ok(snapshot) => act.follow(snapshot, ctx),
                Err(e) => {
                    log::warn!("event=heartbeat_failed node={} error={e}", act.config.node);
                    if act.leader {
                        act.leader = false;
                        act.leader_changed();
                    }
                    Box::pin(fut::ready(()))
                }
            };
            next
        }))
    }

    /// Makes this node match the cluster's picture.
    fn follow(&mut self, s: Snapshot, ctx: &mut Context<Self>) -> ResponseActFuture<Self, ()> {
        if s.leading != self.leader {
            self.leader = s.leading;
            log::info!("event=leadership node={} leader={}", self.config.node, self.leader);
            self.leader_changed();
        }
        // Awaited before the heartbeat ends, so a peer's `cluster.sync` returns only once this
        // node runs the new configuration.
        let reload = match self.config_version.is_some_and(|v| v != s.version) {
            true => self.reload_configuration(),
            false => None,
        };
        self.config_version = Some(s.version);
        let fresh = now_micros() - self.timeout_micros();
        let live = s.nodes.iter().filter(|n| n.state == "up" && n.last_heartbeat >= fresh).count();
        self.metrics.cluster_nodes_live.set(live as i64);
        self.metrics.cluster_leader.set(i64::from(self.leader));
        let live: Vec<&ClusterNode> = s
            .nodes
            .iter()
            .filter(|n| n.name != self.config.node && n.state != "down" && n.last_heartbeat >= fresh)
            .collect();
        self.connect_peers(&live);

        let me = self.config.node.clone();
        if !self.leaving {
            for o in &s.owners {
                if o.node.as_deref() == Some(me.as_str()) && !self.handing_over.contains(&o.sub_key) {
                    if let Some(target) = o.moving_to.clone().filter(|t| *t != me) {
                        self.hand_over(o.sub_key.clone(), target, o.epoch, ctx);
                    }
                }
            }
        }
        let owned = s
            .owners
            .into_iter()
            .map(|o| {
                let remote = RemoteSub {
                    sub_key: o.sub_key,
                    topic_id: o.topic_id,
                    endpoint_id: o.endpoint_id,
                    is_wsx: o.is_wsx,
                    node: o.node,
                };
                (remote, o.epoch)
            })
            .collect();
        // The polling fallback for GD wake-ups that did not arrive (a peer link was down).
        self.beats = self.beats.wrapping_add(1);
        if self.beats.is_multiple_of(POLL_EVERY_BEATS) {
            for sub in self.registry.subs() {
                sub.addr.do_send(Resync);
            }
        }
        let own = self.supervisor.send(Own { subs: owned, handing_over: self.handing_over.clone() });
        let both = async move {
            if let Some(reload) = reload {
                reload.await;
            }
            own.await
        };
        let began = s.began;
        Box::pin(both.into_actor(self).map(move |result, act, _| {
            if let Err(e) = result.map_err(PubSubError::from).and_then(|r| r) {
                log::warn!("event=ownership_sync_failed node={} error={e}", act.config.node);
                return;
            }
            // Only now: what is no longer ours has stopped, what is ours runs under its epoch.
            if let Some(expired_for) = act.lease.renew(began) {
                log::warn!(
                    "event=membership_lease_renewed node={} expired_for_ms={} lease_ms={}",
                    act.config.node,
                    expired_for.as_millis(),
                    act.lease.length().as_millis()
                );
            }
        }))
    }

    /// The node starts or stops what only the leader runs.
    fn leader_changed(&mut self) {
        self.leader_flag.store(self.leader, Ordering::Relaxed);
        if let Some(node) = self.node.clone() {
            actix_rt::spawn(node.leadership_changed(self.leader));
        }
    }

    /// Another node changed the configuration: the node reads it again.
    fn reload_configuration(&mut self) -> Option<impl std::future::Future<Output = ()> + 'static> {
        let node = self.node.clone()?;
        log::info!("event=configuration_reload node={}", self.config.node);
        Some(node.reload_configuration(self.leader))
    }

    /// Hands a subscription this node owns to `target`: delivery stops here after the batch
    /// under way, in-RAM messages are kept as GD, then the owner row moves (a new epoch) and
    /// the target is told to start at once.
    fn hand_over(&mut self, sub_key: String, target: String, epoch: i64, ctx: &mut Context<Self>) {
        self.handing_over.insert(sub_key.clone());
        let work = hand_over(
            self.supervisor.clone(),
            self.store.clone(),
            self.peers.clone(),
            sub_key.clone(),
            target.clone(),
            epoch,
        );
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.handing_over.remove(&sub_key);
            match result {
                Ok(()) => {
                    log::info!(
                        "event=subscription_handed_over sub_key={sub_key} from={} to={target}",
                        act.config.node
                    );
                    act.metrics.cluster_handovers.inc();
                    // Route this node's publications for it to the new owner now.
                    ctx.notify(SyncNow);
                }
                Err(e) => log::warn!("event=handover_failed sub_key={sub_key} to={target} error={e}"),
            }
        }));
    }
}

impl Actor for ClusterMember {
    type Context = Context<Self>;
}

/// Join the cluster: register, run the first heartbeat (so this node's share of the
/// subscriptions runs before it answers requests), then beat on a timer.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Start(pub Arc<dyn Subsystems>);

impl Handler<Start> for ClusterMember {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Start, ctx: &mut Context<Self>) -> Self::Result {
        self.node = Some(msg.0);
        ctx.run_interval(self.config.heartbeat, |act, ctx| {
            // A renewal that hangs (the database cut off) must not keep this node leading past
            // its own count of the lease, which ends before the database's does.
            if act.leader && !act.leader_lease.is_valid() {
                log::warn!("event=leadership node={} leader=false reason=lease_not_renewed", act.config.node);
                act.leader = false;
                act.leader_changed();
            }
            if act.beating {
                return;
            }
            act.beating = true;
            ctx.spawn(act.beat().map(|_, act, _| act.beating = false));
        });
        let (store, node, cluster, url) = (
            self.store.clone(),
            self.config.node.clone(),
            self.config.cluster.clone(),
            self.config.advertise_url.clone(),
        );
        let register = blocking(move || store.node_register(&node, &cluster, &url, now_micros()));
        Box::pin(register.into_actor(self).then(|result, act, _| {
            if let Err(e) = result {
                log::warn!("event=node_register_failed node={} error={e}", act.config.node);
            }
            act.beat()
        }))
    }
}

/// Read the cluster's picture now and follow it (a peer or an admin changed something).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SyncNow;

impl Handler<SyncNow> for ClusterMember {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: SyncNow, _ctx: &mut Context<Self>) -> Self::Result {
        self.beat()
    }
}

/// This node changed something: every node follows before the admin's request is answered.
/// A change of configuration bumps the version (each node reloads topics, channels, services,
/// links and credentials); a subscription's change is sent as itself (its owner updates or
/// starts just that one), so creating many subscriptions costs no reloads.
#[derive(Message)]
#[rtype(result = "()")]
pub enum Changed {
    Configuration,
    Subscription(String),
}

impl Handler<Changed> for ClusterMember {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Changed, _ctx: &mut Context<Self>) -> Self::Result {
        let store = self.store.clone();
        let peers = self.peers.all();
        let (bump, sync) = match msg {
            Changed::Configuration => (true, Synchronize { sub_key: None }),
            Changed::Subscription(sub_key) => (false, Synchronize { sub_key: Some(sub_key) }),
        };
        let bumped = blocking(move || if bump { store.config_version_bump().map(Some) } else { Ok(None) });
        Box::pin(bumped.into_actor(self).then(move |version, act, _| {
            if let Ok(Some(v)) = version {
                // Already applied here by the change itself.
                act.config_version = Some(v);
            }
            act.beat().then(move |_, _, _| {
                let all = peers.into_iter().map(move |(node, link)| {
                    let sync = sync.clone();
                    async move {
                        let _ = tokio::time::timeout(SYNC_TIMEOUT, call_link(&node, &link, sync)).await;
                    }
                });
                fut::wrap_future(futures_util::future::join_all(all)).map(|_, _, _| ())
            })
        }))
    }
}
