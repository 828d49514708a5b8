//! What the node does, whatever asked: the operations that REST, WSX and other nodes reach
//! alike, and the one error they answer with. Transports (`http`, `wsx`) stay thin around it;
//! below it, the cluster member reaches the node only as
//! [`Subsystems`](crate::cluster::Subsystems), which [`reload`] implements.

pub mod actors;
pub mod auth;
pub mod channels;
pub mod clients;
pub mod error;
pub mod figures;
pub mod peer_calls;
pub mod publish;
pub mod publish_input;
pub mod queues;
pub mod reload;
pub mod sessions;
pub mod subscriptions;

use actix::Addr;
use signalbox_actors::registry::Registry;
use signalbox_actors::secrets::MasterKey;
use signalbox_actors::supervisor::{Supervisor, SyncSubscription, SyncTopics};
use signalbox_actors::{Metrics, PubSubError};
use signalbox_schema::models::WsxLink;
use signalbox_schema::Store;

use crate::cluster::handover::{MoveFailed, MoveSubscription};
use crate::cluster::member::Changed;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::links::{LinkDeps, Links};
use error::NodeError;
use sessions::RecheckLogin;

/// The node as every transport and long-lived actor reaches it: its store, keys, actors,
/// registries and cluster handle. Shared (`web::Data<Node>`, an `Arc`); every field is cheap to
/// clone.
pub struct Node {
    pub store: Store,
    pub master_key: MasterKey,
    pub metrics: Metrics,
    pub config: Config,
    pub node_name: String,
    pub registry: Registry,
    pub supervisor: Addr<Supervisor>,
    pub auth: auth::Authenticator,
    pub services: signalbox_actors::services::Services,
    pub channels: channels::Channels,
    pub wsx_sessions: sessions::Sessions,
    pub links: Links,
    /// Present when this node is one of a cluster (PostgreSQL).
    pub cluster: Option<Cluster>,
    /// The node's recent figures, sampled every few seconds, for the console.
    pub history: std::sync::Arc<signalbox_actors::history::History>,
    /// REST clients seen here, and the throttle on endpoints' stored `last_seen`.
    pub rest_clients: clients::RestClients,
}

impl Node {
    /// What the node's links need of it.
    pub fn link_deps(&self) -> LinkDeps {
        LinkDeps {
            store: self.store.clone(),
            master_key: self.master_key.clone(),
            metrics: self.metrics.clone(),
            services: self.services.clone(),
            max_frame: self.config.max_message_size,
        }
    }

    /// Topics changed: the node's topic actors follow before this returns, so the next request
    /// sees the change.
    pub async fn topics_changed(&self) -> Result<(), NodeError> {
        self.supervisor.send(SyncTopics).await.map_err(PubSubError::from)??;
        self.cluster_changed().await;
        Ok(())
    }

    /// An endpoint's credentials, patterns or role changed, or it was deleted: cached logins
    /// are forgotten and live WSX sessions check theirs again, here and on every other node.
    pub async fn credentials_changed(&self, endpoint_id: i64) {
        self.auth.forget(endpoint_id);
        self.recheck_sessions(Some(endpoint_id));
        self.cluster_changed().await;
    }

    /// Live WSX sessions of `endpoint_id` (of every endpoint: `None`) read their endpoint again
    /// (see `RecheckLogin`).
    pub fn recheck_sessions(&self, endpoint_id: Option<i64>) {
        for session in self.wsx_sessions.all() {
            session.recheck.do_send(RecheckLogin { endpoint_id });
        }
    }

    /// Configuration changed here (already applied on this node): in a cluster, every other
    /// node follows before this returns.
    pub async fn cluster_changed(&self) {
        if let Some(cluster) = &self.cluster {
            let _ = cluster.member.send(Changed::Configuration).await;
        }
    }

    /// A subscription was created, edited or deleted: its delivery actor is started, updated
    /// or stopped before this returns.
    ///
    /// In a cluster a new subscription gets its owner here — the least loaded live node, or
    /// this one for a WSX subscription, whose session is here — and the owner starts it before
    /// this returns.
    pub async fn subscription_changed(&self, sub_key: &str) -> Result<(), NodeError> {
        let sync = SyncSubscription { sub_key: sub_key.to_owned() };
        self.supervisor.send(sync).await.map_err(PubSubError::from)??;
        if let Some(cluster) = &self.cluster {
            let (store, key, me) = (self.store.clone(), sub_key.to_owned(), self.node_name.clone());
            let (name, timeout) = (self.config.cluster_name.clone(), self.config.heartbeat_timeout);
            crate::node::error::blocking(move || {
                crate::cluster::leader::assign_new(&store, &key, &me, &name, timeout)
            })
            .await?;
            let _ = cluster.member.send(Changed::Subscription(sub_key.to_owned())).await;
        }
        Ok(())
    }

    /// Hands `sub_key` over to node `target` of the cluster; answers once it runs there. A
    /// target that is not a live node is a conflict; any other failure may pass if tried again.
    pub async fn move_subscription(&self, sub_key: &str, target: &str) -> Result<(), NodeError> {
        let Some(cluster) = &self.cluster else {
            return Err(NodeError::conflict(format!(
                "cannot move to `{target}`: this node runs alone (no cluster)"
            )));
        };
        let ask = MoveSubscription { sub_key: sub_key.to_owned(), target: target.to_owned() };
        match cluster.member.send(ask).await.map_err(PubSubError::from)? {
            Ok(()) => Ok(()),
            Err(e @ MoveFailed::NotLive(_)) => Err(NodeError::conflict(e.to_string())),
            Err(e @ MoveFailed::Other(_)) => Err(NodeError::unavailable(e.to_string(), 1)),
        }
    }

    /// Whether this node does the work only a leader does: it leads its cluster, or runs alone.
    pub fn leads(&self) -> bool {
        self.cluster.as_ref().is_none_or(|c| c.is_leader())
    }

    /// Links to other clusters run on the leader only: on every node they would consume the
    /// same remote subscriptions several times. Starts, restarts or stops the link actors to
    /// match `rows` on the leader (`leading`), and stops them all elsewhere.
    pub fn run_links(&self, rows: Vec<WsxLink>, leading: bool) {
        self.links.sync(&self.link_deps(), if leading { rows } else { Vec::new() });
    }
}
