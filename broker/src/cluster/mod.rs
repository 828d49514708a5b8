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
//! the leader's decisions, [`handover`] how a subscription changes nodes without loss, and
//! [`rpc`] answers what other nodes ask over the internal link.

pub mod handover;
pub mod leader;
pub mod member;
pub mod rpc;

use std::sync::Arc;

use signalbox_schema::models::{Endpoint, WsxChannel};

use crate::internal_channel::{CHANNEL_ID, CHANNEL_PATH};
use crate::wsx::{Channel, GATEWAY};

/// The internal channel's settings: only the cluster's own services, generous frames.
pub fn internal_channel(max_message_size: usize) -> Arc<Channel> {
    let row = WsxChannel {
        id: CHANNEL_ID,
        name: "_cluster".into(),
        path: CHANNEL_PATH.into(),
        service: GATEWAY.into(),
        allowed_services: "[]".into(),
        new_token_wait_time: 5.0,
        token_ttl: 1e9,
        ping_interval: 15.0,
        pings_missed_threshold: 4,
        // A forwarded batch carries whole messages plus their envelope.
        max_frame_size: (max_message_size as i64).saturating_mul(4),
        created_at: 0,
    };
    Arc::new(Channel { row, allowed: rpc::SERVICES.iter().map(|s| s.to_string()).collect() })
}

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
