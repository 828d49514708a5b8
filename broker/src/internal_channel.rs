//! The cluster's internal channel as the nodes speak it: its reserved path and the
//! challenge–response login of one node to another. The WSX channel that serves it, the links
//! that log in to it and the cluster member all follow this one definition.

use signalbox_actors::secrets::MasterKey;
use signalbox_schema::models::Endpoint;
use signalbox_schema::{AuthKind, EndpointType, Role};

/// The reserved path of the internal channel on every node of a cluster.
pub const CHANNEL_PATH: &str = "/wsx/_cluster";
/// The internal channel is not stored; this id marks it.
pub const CHANNEL_ID: i64 = -1;

/// The frame a node's internal channel sends first: `{"nonce"}`, chosen for this connection.
/// The peer logs in with `create-session` whose `secret` is `MasterKey::cluster_proof(its name,
/// the nonce, the frame's timestamp)`; a proof is good once, on its connection, for a minute.
pub const CHALLENGE: &str = "signalbox.cluster.challenge";
/// How far a login's timestamp may be from the node's clock.
pub const PROOF_WINDOW_SECS: i64 = 60;

/// Checks a peer node's login answer against the nonce this connection was given.
pub fn proof_ok(master_key: &MasterKey, node: &str, nonce: &str, timestamp: &str, proof: &str) -> bool {
    let fresh = signalbox_actors::time::parse_iso(timestamp)
        .is_some_and(|t| (signalbox_actors::time::now_micros() - t).abs() <= PROOF_WINDOW_SECS * 1_000_000);
    let expected = master_key.cluster_proof(node, nonce, timestamp);
    let same = !expected.is_empty()
        && expected.len() == proof.len()
        && expected.bytes().zip(proof.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    fresh && same
}

/// The identity a peer node's session runs as (it has no endpoint row).
pub fn peer_endpoint(node: &str) -> Endpoint {
    Endpoint {
        id: 0,
        name: format!("node:{node}"),
        role: Role::PubSub,
        endpoint_type: EndpointType::Wsx,
        topic_patterns: String::new(),
        auth: AuthKind::None,
        username: Some(node.to_owned()),
        password_hash: None,
        api_key_digest: None,
        wsx_channel: Some("_cluster".into()),
        created_at: 0,
        last_seen: None,
    }
}
