//! Several nodes sharing one PostgreSQL database form a cluster (DESIGN §6).
//!
//! The database holds the state and does the coordination: nodes register and heartbeat in
//! `sb_cluster_node`; the leader is whoever holds the lease in `sb_leader_lease` (expiry by the
//! database's clock, a leader epoch that each of its writes checks) and assigns every
//! subscription to one live node in `sb_sub_owner`, with an epoch that fences the queue writes
//! of an old owner; configuration changes bump a `config_version` every node follows. Nodes talk
//! to each other over an internal WSX link (the same protocol and [`PeerLink`] code as links to
//! other clusters) on a reserved channel, logging in with an HMAC of their name under the master
//! key: in-RAM messages go to their subscription's owner, GD commits wake it, pulls and acks made
//! on another node reach it.
//!
//! [`member::ClusterMember`] is the actor that does all of this for one node: [`member`] its
//! membership and leadership, [`peers`] its links to the other nodes, [`forwarding`] the
//! messages and wake-ups it sends them, [`handover`] how a subscription changes nodes without
//! loss; [`leader`] holds the leader's decisions. What nodes ask each other is typed in
//! [`calls`] and answered by the node layer (`node::peer_calls`). The member knows its node
//! only as [`Subsystems`].
//!
//! [`PeerLink`]: crate::links::peer::PeerLink

pub mod calls;
pub mod forwarding;
pub mod handover;
pub mod leader;
pub mod member;
pub mod peers;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix::Addr;
use futures_util::future::LocalBoxFuture;
use signalbox_actors::cluster::ClusterRoute;

use crate::internal_channel::CHANNEL_PATH;
use crate::links::peer::InvokeError;
use calls::PeerCall;
use member::ClusterMember;
use peers::Peers;

/// What a cluster member asks of the rest of its node, which implements it: the member reads
/// the cluster's picture and the node's other parts follow it.
pub trait Subsystems: Send + Sync + 'static {
    /// Another node changed the configuration: topics, channels, services, links (on the
    /// leader) and credentials are read again. Done once the node runs the new configuration.
    fn reload_configuration(self: Arc<Self>, leading: bool) -> LocalBoxFuture<'static, ()>;

    /// This node began or stopped leading: the work only the leader does starts or stops here.
    fn leadership_changed(self: Arc<Self>, leading: bool) -> LocalBoxFuture<'static, ()>;
}

/// What the rest of the node holds of the cluster.
#[derive(Clone)]
pub struct Cluster {
    pub node: String,
    pub member: Addr<ClusterMember>,
    pub route: ClusterRoute,
    pub peers: Peers,
    /// Whether this node holds the leader's lock (as of its last heartbeat).
    pub leader: Arc<AtomicBool>,
}

impl Cluster {
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// Runs a call on `node` over the internal link.
    pub async fn call<C: PeerCall>(&self, node: &str, call: C) -> Result<C::Reply, InvokeError> {
        self.peers.call(node, call).await
    }

    /// Runs a call on every peer at once; answers (peer, answer) for each.
    pub async fn call_all<C: PeerCall + Clone>(
        &self,
        call: C,
    ) -> Vec<(String, Result<C::Reply, InvokeError>)> {
        self.peers.call_all(call).await
    }
}

/// `http://host:port` → `ws://host:port/wsx/_cluster` (and https → wss).
pub fn channel_url(advertise_url: &str) -> String {
    let base = advertise_url.trim_end_matches('/');
    let base = match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => format!("ws://{base}"),
    };
    format!("{base}{CHANNEL_PATH}")
}
