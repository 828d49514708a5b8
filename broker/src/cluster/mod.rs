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
//! [`member::ClusterMember`] is the actor that does all of this for one node; [`leader`] holds
//! the leader's decisions and [`handover`] how a subscription changes nodes without loss. What
//! other nodes ask over the internal link is answered by [`crate::node::peer_calls`].

pub mod handover;
pub mod leader;
pub mod member;

use signalbox_schema::models::Endpoint;

use crate::internal_channel::CHANNEL_PATH;

/// The identity a peer node's session runs as (it has no endpoint row).
pub fn peer_endpoint(node: &str) -> Endpoint {
    Endpoint {
        id: 0,
        name: format!("node:{node}"),
        role: "pub-sub".into(),
        endpoint_type: "wsx".into(),
        topic_patterns: String::new(),
        auth: "none".into(),
        username: Some(node.to_owned()),
        password_hash: None,
        api_key_digest: None,
        wsx_channel: Some("_cluster".into()),
        created_at: 0,
        last_seen: None,
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
