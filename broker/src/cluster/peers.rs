//! The peer mesh: one internal link ([`PeerLink`]) from this node to every other live node of
//! the cluster, kept by the member to match each heartbeat's picture, and the typed calls made
//! over them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix::{Actor, Addr};
use signalbox_schema::models::{ClusterNode, WsxLink};

use super::calls::{ClusterCall, PeerCall};
use super::member::ClusterMember;
use crate::links::peer::{InvokeError, PeerLink, Shutdown};

/// Internal links to the other live nodes, by node name. Clones share one map.
#[derive(Clone, Default)]
pub struct Peers(Arc<RwLock<HashMap<String, Addr<PeerLink>>>>);

impl Peers {
    pub fn get(&self, node: &str) -> Option<Addr<PeerLink>> {
        self.0.read().ok()?.get(node).cloned()
    }

    /// Every peer's name and link, as they are now.
    pub fn all(&self) -> Vec<(String, Addr<PeerLink>)> {
        self.0.read().map(|p| p.iter().map(|(n, a)| (n.clone(), a.clone())).collect()).unwrap_or_default()
    }

    /// Runs a call on `node` over its link.
    pub async fn call<C: PeerCall>(&self, node: &str, call: C) -> Result<C::Reply, InvokeError> {
        let link = self.get(node).ok_or(InvokeError::NotConnected)?;
        call_link(node, &link, call).await
    }

    /// Runs a call on every peer at once; answers (peer, answer) for each.
    pub async fn call_all<C: PeerCall + Clone>(
        &self,
        call: C,
    ) -> Vec<(String, Result<C::Reply, InvokeError>)> {
        let peers = self.all();
        let asks = peers.iter().map(|(node, link)| call_link(node, link, call.clone()));
        let answers = futures_util::future::join_all(asks).await;
        peers.into_iter().map(|(node, _)| node).zip(answers).collect()
    }
}

/// Runs a call over one link and reads its answer as the call's reply type. An answer that is
/// not one is the peer's fault: a 502.
pub async fn call_link<C: PeerCall>(
    node: &str,
    link: &Addr<PeerLink>,
    call: C,
) -> Result<C::Reply, InvokeError> {
    let call: ClusterCall = call.into();
    let service = call.service();
    let unreadable = |what: &str, e: serde_json::Error| InvokeError::Remote {
        status: 502,
        message: format!("{service} to node {node}: {what}: {e}"),
    };
    let request = call.into_request().map_err(|e| unreadable("cannot write the request", e))?;
    let answer = link.send(request).await.map_err(|_| InvokeError::NotConnected)??;
    serde_json::from_value(answer).map_err(|e| unreadable("unreadable answer", e))
}

impl ClusterMember {
    /// Keeps one link to each live peer, made for the address it advertises now.
    pub(super) fn connect_peers(&mut self, live: &[&ClusterNode]) {
        let Ok(mut peers) = self.peers.0.write() else { return };
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
            let link = WsxLink {
                id: 0,
                name: format!("cluster:{name}"),
                address: super::channel_url(url),
                username: self.config.node.clone(),
                // The internal link answers each connection's challenge instead of a stored secret.
                secret_enc: String::new(),
                is_zato: false,
                subscription_list: "[]".into(),
                on_connect: None,
                on_message: None,
                on_close: None,
                ping_interval: 5.0,
                auto_reconnect: true,
                max_connect_attempts: None,
                invoke_timeout: 5.0,
                // Nodes advertising https:// talk over TLS, trusting the system's roots and `tls_ca`.
                ca_file: self.config.tls_ca.clone(),
                sub_keys: "{}".into(),
                created_at: 0,
            };
            let deps = self.link_deps.clone();
            let addr = PeerLink::start_in_arbiter(&self.peer_arbiter, move |_| PeerLink::new(link, deps));
            log::info!("event=peer_link_started node={} peer={name} address={url}", self.config.node);
            self.peer_urls.insert(name.to_owned(), url.to_owned());
            peers.insert(name.to_owned(), addr);
        }
    }
}
