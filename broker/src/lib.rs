//! Signalbox, the node: configuration, start-up and shutdown, the HTTP surface (pub/sub REST,
//! admin API, metrics) and the command-line client.
//!
//! # Layout
//!
//! Each module names only modules of the layers below it (`tests/tests/layout.rs` checks that
//! the graph has no cycle and that no layer reaches up):
//!
//! - **Start-up**: [`server`] builds the node and wires every layer together; [`startup`],
//!   [`config`], [`tls`] and [`admin_keys`] are what it starts from.
//! - **Transports**: [`http`] (pub/sub REST, the admin API, metrics, the console), [`wsx`] (WSX
//!   channels: one session actor per connection) and [`cli`]. A transport reads the request,
//!   calls one operation of the node and maps its answer; it holds no rule of its own.
//! - **Domain**: [`node`], the operations REST, WSX and other nodes reach alike, the one error
//!   they answer with, the node's registries of channels and live sessions (sessions are reached
//!   only through recipients of messages `node` defines), and the answers to peers' calls
//!   (`node::peer_calls`). It knows no HTTP type.
//! - **Cluster**: [`cluster`], the member actor (membership, leadership, the mesh of links to the
//!   other nodes, forwarding, handovers) and the typed calls nodes make to each other
//!   (`cluster::calls`). It reaches the node only through the `cluster::Subsystems` trait the
//!   node implements, and knows no HTTP type either.
//! - **Wire**: [`links`] (outgoing WSX links, also the cluster's internal ones),
//!   [`internal_channel`] (the cluster channel's path and login) and [`frames`] (WSX frames).
//! - Below the crate: `signalbox_actors` (topics, deliveries, the supervisor) and
//!   `signalbox_schema` (the one store).

pub mod admin_keys;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod frames;
pub mod http;
pub mod internal_channel;
pub mod links;
pub mod node;
pub mod server;
pub mod startup;
pub mod tls;
pub mod wsx;

#[cfg(test)]
mod fuzz_tests;
