//! Signalbox actors and the pieces they share.
//!
//! Each topic has a [`topic::TopicActor`] on every node, each subscription a
//! [`delivery::DeliveryActor`] on its owner node; the [`supervisor::Supervisor`] starts and
//! stops them from the configuration in the `Store` and lists them in the [`registry::Registry`];
//! the [`gd_writer::GdWriter`] group-commits guaranteed-delivery messages.
//!
//! # Layout
//!
//! Lower modules never name higher ones (checked by `tests/tests/layout.rs`):
//!
//! - leaves: `time`, `secrets`, `patterns`, `recent`, `metrics`, `error`, `outbound`, `stats`
//!   (a topic's live figures), `message` (messages and queue order), `cluster` (what the
//!   actors know of the cluster: routes, the membership lease), `history` (the console's ring
//!   buffers);
//! - `targets`: push target configuration — validation, sealing, the `Authorization` header;
//! - `sinks`: where a delivery actor sends a batch (HTTP, SOAP, AMQP, files, a WSX session, or
//!   a service through the [`sinks::CallService`] trait, so sinks do not know the services);
//! - `gd_writer`: group commit of GD publications;
//! - `delivery`: one [`delivery::DeliveryActor`] per subscription — its queue window, pull, ack,
//!   push;
//! - `topic`: one [`topic::TopicActor`] per topic — admission, dedup, fan-out to delivery actors;
//! - `registry`: the node's name → actor maps;
//! - `publish`: publishing as an endpoint named in configuration (services, file channels);
//! - `services`, `file_channel`: services and directories that publish;
//! - `supervisor`: starts and stops all of the above from the configuration.
//!
//! Who may wait on whom: edges (`send().await`) wait on topic and delivery actors; a topic actor
//! hands messages to delivery actors with `try_send` (never waiting) and waits for the GD writer
//! only in a future on its own context, never in a handler; a delivery actor waits on nothing
//! but SQL on the blocking pool and its sink's future. So no two long-lived actors wait on each
//! other.

pub mod cluster;
pub mod delivery;
pub mod error;
pub mod file_channel;
pub mod gd_writer;
pub mod history;
pub mod message;
pub mod metrics;
pub mod outbound;
pub mod patterns;
pub mod publish;
pub mod recent;
pub mod registry;
pub mod secrets;
pub mod services;
pub mod sinks;
pub mod stats;
pub mod supervisor;
pub mod targets;
pub mod time;
pub mod topic;

pub use error::PubSubError;
pub use metrics::Metrics;
