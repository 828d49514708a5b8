//! `ClusterMember`: one per node of a cluster.
//!
//! Every heartbeat it records that the node is alive, tries to take (or keeps) the leader's
//! advisory lock, and reads the cluster's picture: nodes, subscription owners, the
//! configuration version. The leader also declares nodes dead whose heartbeat is stale, gives
//! every subscription without a live owner to the least loaded live node (a new epoch), and
//! asks owners of busy nodes to hand subscriptions over to idle ones. Every node then runs
//! exactly the subscriptions it owns (the supervisor's `Own`), hands over those it is asked
//! to (`Release`, then the owner row moves to the next node), keeps an internal link to each
//! live peer, and reloads its configuration when the version moved.
//!
//! Receives the topic actors' `ForwardRam` and `WakeTopic` (sent on over the internal links),
//! `SyncNow` (a peer or an admin changed something), `MoveSubscription` and `Leave` (SIGTERM).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use actix::prelude::*;
use actix_web::web;
use serde_json::{json, Value};
use signalbox_actors::cluster::{ClusterRoute, ForwardRam, RemoteSub, WakeTopic};
use signalbox_actors::delivery::Resync;
use signalbox_actors::error::blocking;
use signalbox_actors::supervisor::{Own, Release, Supervisor, SyncTopics};
use signalbox_actors::PubSubError;
use signalbox_schema::cluster::Leadership;
use signalbox_schema::models::{ClusterNode, SubOwner, WsxLink};
use signalbox_schema::{now_micros, Store, StoreResult};

use crate::http::AppState;
use crate::links::peer::{InvokeError, PeerLink, Request, Shutdown};

/// Subscriptions the leader asks busy nodes to hand over per heartbeat, at most.
const MOVES_PER_HEARTBEAT: usize = 4;
/// How long a change waits for every peer to follow it.
const SYNC_TIMEOUT: Duration = Duration::from_secs(5);
/// Delivery actors read SQL for GD messages committed on other nodes every this many
/// heartbeats, in case a wake-up was lost with a link.
const POLL_EVERY_BEATS: u64 = 3;
/// GD wake-ups for one node are gathered this long and sent as one frame.
const WAKE_DELAY: Duration = Duration::from_millis(1);

/// Internal links to the other live nodes, by node name.
pub type Peers = Arc<RwLock<HashMap<String, Addr<PeerLink>>>>;

/// What the rest of the node holds of the cluster.
#[derive(Clone)]
pub struct Cluster {
    pub node: String,
    pub member: Addr<ClusterMember>,
    pub route: ClusterRoute,
    pub peers: Peers,
    /// Whether this node holds the leader's lock (as of its last heartbeat).
    pub leader: Arc<std::sync::atomic::AtomicBool>,
}

impl Cluster {
    pub fn is_leader(&self) -> bool {
        self.leader.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn peer(&self, node: &str) -> Option<Addr<PeerLink>> {
        self.peers.read().ok()?.get(node).cloned()
    }

    /// Runs one of the cluster services on `node` over the internal link.
    pub async fn invoke(&self, node: &str, service: &str, request: Value) -> Result<Value, InvokeError> {
        let peer = self.peer(node).ok_or(InvokeError::NotConnected)?;
        peer.send(Request { service: service.into(), request })
            .await
            .map_err(|_| InvokeError::NotConnected)?
    }
}

/// The settings a member runs with.
pub struct MemberConfig {
    pub node: String,
    pub cluster: String,
    pub advertise_url: String,
    pub database_url: String,
    pub heartbeat: Duration,
    pub timeout: Duration,
}

pub struct ClusterMember {
    config: MemberConfig,
    store: Store,
    supervisor: Addr<Supervisor>,
    /// Shared with the blocking thread that runs each heartbeat's SQL.
    leadership: Arc<Mutex<(Leadership, Option<std::time::Instant>)>>,
    /// Set by `Start`; everything that reaches the rest of the node goes through it.
    state: Option<web::Data<AppState>>,
    leader: bool,
    /// `leader`, shared with the rest of the node.
    leader_flag: Arc<std::sync::atomic::AtomicBool>,
    /// The configuration version this node runs with.
    config_version: Option<i64>,
    peers: Peers,
    /// Peer node → the address its link was made for.
    peer_urls: HashMap<String, String>,
    peer_arbiter: ArbiterHandle,
    /// Subscriptions being handed over from here right now.
    handing_over: HashSet<String>,
    wake_pending: HashMap<String, BTreeSet<i64>>,
    wake_scheduled: bool,
    /// A heartbeat is under way (the timer skips a beat rather than pile them up).
    beating: bool,
    /// SIGTERM: handing everything over; no new ownership is taken.
    leaving: bool,
    /// Heartbeats so far (the GD poll runs every `POLL_EVERY_BEATS`).
    beats: u64,
}

/// What one heartbeat read from the database.
struct Snapshot {
    leading: bool,
    version: i64,
    nodes: Vec<ClusterNode>,
    owners: Vec<SubOwner>,
}

impl ClusterMember {
    pub fn new(config: MemberConfig, store: Store, supervisor: Addr<Supervisor>) -> ClusterMember {
        let arbiter = Arbiter::new();
        let peer_arbiter = arbiter.handle();
        // The arbiter lives as long as the process; its handle is what starts actors on it.
        std::mem::forget(arbiter);
        let leadership = Leadership::new(&config.database_url);
        ClusterMember {
            config,
            store,
            supervisor,
            leadership: Arc::new(Mutex::new((leadership, None))),
            state: None,
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
        }
    }

    pub fn peers(&self) -> Peers {
        self.peers.clone()
    }

    pub fn leader_flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.leader_flag.clone()
    }

    fn timeout_micros(&self) -> i64 {
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
        let work = blocking(move || -> StoreResult<Snapshot> {
            let now = now_micros();
            if !store.node_heartbeat(&node, now)? {
                store.node_register(&node, &cluster, &url, now)?;
            }
            let (leading, may_declare_dead) = {
                let mut held = leadership.lock().unwrap_or_else(|p| p.into_inner());
                let (lock, since) = &mut *held;
                let leading = if leaving {
                    lock.resign();
                    false
                } else {
                    lock.tick()
                };
                *since = match (leading, *since) {
                    (true, Some(t)) => Some(t),
                    (true, None) => Some(std::time::Instant::now()),
                    (false, _) => None,
                };
                // A new leader waits one timeout before it declares anyone dead: after a database
                // outage every heartbeat is old, and the nodes need a beat to write a fresh one.
                (leading, since.is_some_and(|t| t.elapsed() >= grace))
            };
            if leading {
                lead(&store, &node, &cluster, now, timeout, may_declare_dead)?;
            }
            Ok(Snapshot {
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
        if self.config_version.is_some_and(|v| v != s.version) {
            self.reload_configuration(ctx);
        }
        self.config_version = Some(s.version);
        let fresh = now_micros() - self.timeout_micros();
        if let Some(state) = &self.state {
            let live = s.nodes.iter().filter(|n| n.state == "up" && n.last_heartbeat >= fresh).count();
            state.metrics.cluster_nodes_live.set(live as i64);
            state.metrics.cluster_leader.set(i64::from(self.leader));
        }
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
        if let (Some(state), 0) = (&self.state, self.beats % POLL_EVERY_BEATS) {
            for sub in state.registry.subs() {
                sub.addr.do_send(Resync);
            }
        }
        let own = self.supervisor.send(Own { subs: owned, handing_over: self.handing_over.clone() });
        Box::pin(own.into_actor(self).map(|result, act, _| {
            if let Err(e) = result.map_err(PubSubError::from).and_then(|r| r) {
                log::warn!("event=ownership_sync_failed node={} error={e}", act.config.node);
            }
        }))
    }

    /// Links to other clusters and inbound file channels run on the leader only: on every node
    /// they would consume the same remote subscriptions and files several times.
    fn leader_changed(&mut self) {
        self.leader_flag.store(self.leader, std::sync::atomic::Ordering::Relaxed);
        let Some(state) = self.state.clone() else { return };
        let leader = self.leader;
        actix_rt::spawn(async move {
            let store = state.store.clone();
            let rows = match web::block(move || store.wsx_links()).await {
                Ok(Ok(rows)) if leader => rows,
                Ok(Ok(_)) => Vec::new(),
                _ => return,
            };
            state.links.sync(&state, rows);
            let _ = state.supervisor.send(signalbox_actors::supervisor::RunFileChannels(leader)).await;
        });
    }

    /// Another node changed the configuration: topics, channels, services, links, credentials.
    fn reload_configuration(&mut self, _ctx: &mut Context<Self>) {
        let Some(state) = self.state.clone() else { return };
        let leader = self.leader;
        log::info!("event=configuration_reload node={}", self.config.node);
        actix_rt::spawn(async move {
            if let Err(e) = state.supervisor.send(SyncTopics).await.map_err(PubSubError::from).and_then(|r| r)
            {
                log::warn!("event=configuration_reload_failed part=topics error={e}");
            }
            let store = state.store.clone();
            let loaded = web::block(move || {
                Ok::<_, signalbox_schema::StoreError>((
                    store.wsx_channels()?,
                    store.services()?,
                    store.wsx_links()?,
                ))
            })
            .await;
            match loaded {
                Ok(Ok((channels, services, links))) => {
                    state.channels.reload(channels);
                    state.services.reload(services);
                    state.links.sync(&state, if leader { links } else { Vec::new() });
                }
                _ => log::warn!("event=configuration_reload_failed part=channels"),
            }
            state.auth.forget_all();
            for sub in state.registry.subs() {
                let _ = state
                    .supervisor
                    .send(signalbox_actors::supervisor::SyncSubscription { sub_key: sub.sub.sub_key.clone() })
                    .await;
            }
        });
    }

    fn connect_peers(&mut self, live: &[&ClusterNode]) {
        let Some(state) = self.state.clone() else { return };
        let Ok(mut peers) = self.peers.write() else { return };
        let wanted: HashMap<&str, &str> =
            live.iter().map(|n| (n.name.as_str(), n.advertise_url.as_str())).collect();
        peers.retain(|name, addr| {
            let keep = wanted
                .get(name.as_str())
                .is_some_and(|url| self.peer_urls.get(name).is_some_and(|u| u == url));
            if !keep {
                addr.do_send(Shutdown);
                self.peer_urls.remove(name);
            }
            keep
        });
        for (name, url) in wanted {
            if peers.contains_key(name) {
                continue;
            }
            let secret = super::node_secret(&state.master_key, &self.config.node);
            let Ok(secret_enc) = state.master_key.encrypt(&secret) else { continue };
            let link = WsxLink {
                id: 0,
                name: format!("cluster:{name}"),
                address: super::channel_url(url),
                username: self.config.node.clone(),
                secret_enc,
                is_zato: false,
                subscription_list: "[]".into(),
                on_connect: None,
                on_message: None,
                on_close: None,
                ping_interval: 5.0,
                auto_reconnect: true,
                max_connect_attempts: None,
                invoke_timeout: 5.0,
                ca_file: None,
                sub_keys: "{}".into(),
                created_at: 0,
            };
            let st = state.clone();
            let addr = PeerLink::start_in_arbiter(&self.peer_arbiter, move |_| PeerLink::new(link, st));
            log::info!("event=peer_link_started node={} peer={name} address={url}", self.config.node);
            self.peer_urls.insert(name.to_owned(), url.to_owned());
            peers.insert(name.to_owned(), addr);
        }
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
                    if let Some(state) = &act.state {
                        state.metrics.cluster_handovers.inc();
                    }
                    // Route this node's publications for it to the new owner now.
                    ctx.notify(SyncNow);
                }
                Err(e) => log::warn!("event=handover_failed sub_key={sub_key} to={target} error={e}"),
            }
        }));
    }

    fn flush_wakes(&mut self) {
        self.wake_scheduled = false;
        for (node, topics) in std::mem::take(&mut self.wake_pending) {
            let peer = self.peers.read().ok().and_then(|p| p.get(&node).cloned());
            if let Some(peer) = peer {
                let request = json!({"topics": topics});
                actix_rt::spawn(async move {
                    let _ = peer.send(Request { service: "cluster.wake".into(), request }).await;
                });
            }
        }
    }
}

/// The leader's work for one heartbeat. Every write is conditional on what it read (the epoch),
/// so a leader that lost its lock meanwhile cannot undo a newer leader's decision.
fn lead(
    store: &Store,
    me: &str,
    cluster: &str,
    now: i64,
    timeout: i64,
    may_declare_dead: bool,
) -> StoreResult<()> {
    if store.meta_get(LEADER_KEY)?.as_deref() != Some(me) {
        store.meta_set(LEADER_KEY, me)?;
    }
    if may_declare_dead {
        for node in store.nodes_mark_down(cluster, now - timeout)? {
            log::warn!("event=node_declared_dead node={node} by={me}");
        }
    }
    let nodes = store.nodes(cluster)?;
    let mut load: BTreeMap<String, usize> = nodes
        .iter()
        .filter(|n| n.state == "up" && n.last_heartbeat >= now - timeout)
        .map(|n| (n.name.clone(), 0))
        .collect();
    if load.is_empty() {
        return Ok(());
    }
    let present: HashSet<&str> =
        nodes.iter().filter(|n| n.state != "down").map(|n| n.name.as_str()).collect();
    store.owners_prune()?;
    let owners = store.sub_owners()?;
    for o in &owners {
        if let Some(count) = o.node.as_ref().and_then(|n| load.get_mut(n)) {
            *count += 1;
        }
    }
    for o in owners.iter().filter(|o| !o.node.as_deref().is_some_and(|n| present.contains(n))) {
        let target = least_loaded(&load);
        if store.owner_assign(&o.sub_key, &target, o.epoch)?.is_some() {
            log::info!("event=subscription_assigned sub_key={} node={target} from={:?}", o.sub_key, o.node);
            *load.entry(target).or_default() += 1;
        }
    }
    // Balance: one subscription at a time from the busiest node to the idlest, by handover.
    let mut asked = HashSet::new();
    for _ in 0..MOVES_PER_HEARTBEAT {
        let idle = least_loaded(&load);
        let Some((busy, busy_count)) = load.iter().max_by_key(|(_, c)| **c).map(|(n, c)| (n.clone(), *c))
        else {
            break;
        };
        if busy_count <= load[&idle] + 1 {
            break;
        }
        let candidate = owners.iter().find(|o| {
            o.node.as_deref() == Some(busy.as_str())
                && !o.is_wsx
                && o.moving_to.is_none()
                && !asked.contains(&o.sub_key)
        });
        let Some(o) = candidate else { break };
        store.owner_request_move(&o.sub_key, &idle)?;
        log::info!("event=subscription_rebalanced sub_key={} from={busy} to={idle}", o.sub_key);
        asked.insert(o.sub_key.clone());
        *load.entry(busy).or_default() -= 1;
        *load.entry(idle).or_default() += 1;
    }
    Ok(())
}

/// Gives a subscription without an owner one: this node for a WSX subscription (its session
/// is here), else the live node that delivers the fewest. A WSX subscription owned elsewhere
/// is taken over (its client connected here).
pub fn assign_new(
    store: &Store,
    sub_key: &str,
    me: &str,
    cluster: &str,
    timeout_secs: f64,
) -> StoreResult<()> {
    let Some(owner) = store.sub_owner(sub_key)? else { return Ok(()) };
    if owner.is_wsx {
        if owner.node.as_deref() != Some(me) {
            store.owner_assign(sub_key, me, owner.epoch)?;
        }
        return Ok(());
    }
    if owner.node.is_some() {
        return Ok(());
    }
    let now = now_micros();
    let fresh = now - (timeout_secs * 1e6) as i64;
    let mut load: BTreeMap<String, usize> = store
        .nodes(cluster)?
        .into_iter()
        .filter(|n| n.state == "up" && n.last_heartbeat >= fresh)
        .map(|n| (n.name, 0))
        .collect();
    load.entry(me.to_owned()).or_default();
    for o in store.sub_owners()? {
        if let Some(count) = o.node.as_ref().and_then(|n| load.get_mut(n)) {
            *count += 1;
        }
    }
    store.owner_assign(sub_key, &least_loaded(&load), 0)?;
    Ok(())
}

/// The meta key naming the current leader (for admins; the lock is what counts).
pub const LEADER_KEY: &str = "cluster_leader";

fn least_loaded(load: &BTreeMap<String, usize>) -> String {
    load.iter().min_by_key(|(_, c)| **c).map(|(n, _)| n.clone()).unwrap_or_default()
}

async fn hand_over(
    supervisor: Addr<Supervisor>,
    store: Store,
    peers: Peers,
    sub_key: String,
    target: String,
    epoch: i64,
) -> Result<(), String> {
    supervisor
        .send(Release { sub_key: sub_key.clone() })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let (key, to) = (sub_key.clone(), target.clone());
    blocking(move || store.owner_assign(&key, &to, epoch)).await.map_err(|e| e.to_string())?;
    let peer = peers.read().ok().and_then(|p| p.get(&target).cloned());
    if let Some(peer) = peer {
        let _ = peer.send(Request { service: "cluster.sync".into(), request: json!({}) }).await;
    }
    Ok(())
}

impl Actor for ClusterMember {
    type Context = Context<Self>;
}

/// Join the cluster: register, run the first heartbeat (so this node's share of the
/// subscriptions runs before it answers requests), then beat on a timer.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Start(pub web::Data<AppState>);

impl Handler<Start> for ClusterMember {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Start, ctx: &mut Context<Self>) -> Self::Result {
        self.state = Some(msg.0);
        ctx.run_interval(self.config.heartbeat, |act, ctx| {
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

/// This node changed the configuration: bump the version, follow it here and on every peer
/// before the admin's request is answered.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Changed;

impl Handler<Changed> for ClusterMember {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: Changed, _ctx: &mut Context<Self>) -> Self::Result {
        let store = self.store.clone();
        let peers: Vec<Addr<PeerLink>> =
            self.peers.read().map(|p| p.values().cloned().collect()).unwrap_or_default();
        let bump = blocking(move || store.config_version_bump());
        Box::pin(bump.into_actor(self).then(move |version, act, _| {
            if let Ok(v) = version {
                // Already applied here by the change itself.
                act.config_version = Some(v);
            }
            act.beat().then(move |_, _, _| {
                let all = peers.into_iter().map(|peer| {
                    let ask = peer.send(Request { service: "cluster.sync".into(), request: json!({}) });
                    tokio::time::timeout(SYNC_TIMEOUT, ask)
                });
                fut::wrap_future(futures_util::future::join_all(all)).map(|_, _, _| ())
            })
        }))
    }
}

impl Handler<ForwardRam> for ClusterMember {
    type Result = ResponseFuture<Result<Vec<String>, String>>;

    fn handle(&mut self, msg: ForwardRam, _ctx: &mut Context<Self>) -> Self::Result {
        let peer = self.peers.read().ok().and_then(|p| p.get(&msg.node).cloned());
        Box::pin(async move {
            let peer = peer.ok_or_else(|| format!("no link to node {}", msg.node))?;
            let messages: Vec<&signalbox_actors::message::Message> =
                msg.messages.iter().map(|m| m.as_ref()).collect();
            let request = json!({"sub_keys": msg.sub_keys, "messages": messages});
            let answer = peer
                .send(Request { service: "cluster.forward".into(), request })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("{e:?}"))?;
            Ok(serde_json::from_value(answer["refused"].clone()).unwrap_or(msg.sub_keys))
        })
    }
}

impl Handler<WakeTopic> for ClusterMember {
    type Result = ();

    fn handle(&mut self, msg: WakeTopic, ctx: &mut Context<Self>) {
        for node in msg.nodes {
            self.wake_pending.entry(node).or_default().insert(msg.topic_id);
        }
        if !self.wake_scheduled {
            self.wake_scheduled = true;
            ctx.run_later(WAKE_DELAY, |act, _| act.flush_wakes());
        }
    }
}

/// An admin's `move`: hand `sub_key` over to `target` and answer once it runs there.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct MoveSubscription {
    pub sub_key: String,
    pub target: String,
}

impl Handler<MoveSubscription> for ClusterMember {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, msg: MoveSubscription, ctx: &mut Context<Self>) -> Self::Result {
        let (store, peers, me, cluster) =
            (self.store.clone(), self.peers.clone(), ctx.address(), self.config.cluster.clone());
        let timeout = self.timeout_micros();
        Box::pin(async move {
            let (s, c, key, target) = (store.clone(), cluster, msg.sub_key.clone(), msg.target.clone());
            let owner = blocking(move || {
                let now = now_micros();
                let live: Vec<String> = s
                    .nodes(&c)?
                    .into_iter()
                    .filter(|n| n.state == "up" && n.last_heartbeat >= now - timeout)
                    .map(|n| n.name)
                    .collect();
                if !live.contains(&target) {
                    return Ok(Err(format!("node `{target}` is not a live node of this cluster")));
                }
                let Some(owner) = s.sub_owner(&key)? else {
                    return Ok(Err(format!("no subscription {key}")));
                };
                match &owner.node {
                    Some(node) if *node == target => {}
                    // The owner is alive: it hands over (finishing its batch, keeping RAM as GD).
                    Some(node) if live.contains(node) => s.owner_request_move(&key, &target)?,
                    // Nobody delivers it now (its node died): it is simply given to the target.
                    _ => {
                        s.owner_assign(&key, &target, owner.epoch)?;
                    }
                }
                Ok(Ok(owner.node))
            })
            .await
            .map_err(|e| e.to_string())??;
            // Tell the owner to act now rather than at its next heartbeat.
            let peer = owner.as_ref().and_then(|o| peers.read().ok().and_then(|p| p.get(o).cloned()));
            match peer {
                Some(peer) => {
                    let _ = peer.send(Request { service: "cluster.sync".into(), request: json!({}) }).await;
                }
                None => me.send(SyncNow).await.map_err(|e| e.to_string())?,
            }
            for _ in 0..300 {
                let (s, key) = (store.clone(), msg.sub_key.clone());
                let now = blocking(move || s.sub_owner(&key)).await.map_err(|e| e.to_string())?;
                if now
                    .is_some_and(|o| o.node.as_deref() == Some(msg.target.as_str()) && o.moving_to.is_none())
                {
                    // This node routes to the new owner before the admin hears back.
                    me.send(SyncNow).await.map_err(|e| e.to_string())?;
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(format!("subscription {} did not reach node {} in time", msg.sub_key, msg.target))
        })
    }
}

/// SIGTERM: hand every subscription over to live peers, give up leadership, leave.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave;

impl Handler<Leave> for ClusterMember {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: Leave, _ctx: &mut Context<Self>) -> Self::Result {
        self.leaving = true;
        let (store, node, cluster) =
            (self.store.clone(), self.config.node.clone(), self.config.cluster.clone());
        let timeout = self.timeout_micros();
        let plan = blocking(move || {
            store.node_set_state(&node, "leaving")?;
            let now = now_micros();
            let mut load: BTreeMap<String, usize> = store
                .nodes(&cluster)?
                .into_iter()
                .filter(|n| n.name != node && n.state == "up" && n.last_heartbeat >= now - timeout)
                .map(|n| (n.name, 0))
                .collect();
            let owners = store.sub_owners()?;
            for o in &owners {
                if let Some(count) = o.node.as_ref().and_then(|n| load.get_mut(n)) {
                    *count += 1;
                }
            }
            let mut plan = Vec::new();
            if !load.is_empty() {
                for o in owners.into_iter().filter(|o| o.node.as_deref() == Some(node.as_str())) {
                    let target = least_loaded(&load);
                    *load.entry(target.clone()).or_default() += 1;
                    plan.push((o.sub_key, target, o.epoch));
                }
            }
            Ok(plan)
        });
        Box::pin(plan.into_actor(self).then(|plan, act, _| {
            let plan = plan.unwrap_or_else(|e| {
                log::warn!("event=handover_plan_failed error={e}");
                Vec::new()
            });
            log::info!("event=leaving node={} handing_over={}", act.config.node, plan.len());
            for (key, _, _) in &plan {
                act.handing_over.insert(key.clone());
            }
            let (sup, store, peers) = (act.supervisor.clone(), act.store.clone(), act.peers.clone());
            let all = plan.into_iter().map(move |(key, target, epoch)| {
                hand_over(sup.clone(), store.clone(), peers.clone(), key, target, epoch)
            });
            let (store, node, leadership) =
                (act.store.clone(), act.config.node.clone(), act.leadership.clone());
            fut::wrap_future(async move {
                for failed in futures_util::future::join_all(all).await.into_iter().filter_map(Result::err) {
                    log::warn!("event=handover_failed error={failed}");
                }
                let _ = blocking(move || {
                    leadership.lock().unwrap_or_else(|p| p.into_inner()).0.resign();
                    store.node_set_state(&node, "down")
                })
                .await;
            })
        }))
    }
}
