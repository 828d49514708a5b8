//! Signalbox, the node: configuration, start-up and shutdown, the HTTP surface (pub/sub REST,
//! admin API, metrics) and the command-line client.

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
