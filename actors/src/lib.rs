//! Signalbox actors and the pieces they share.
//!
//! Each topic has a [`topic::TopicActor`] on every node, each subscription a
//! [`delivery::DeliveryActor`] on its owner node; the [`supervisor::Supervisor`] starts and
//! stops them from the configuration in the `Store` and lists them in the [`registry::Registry`];
//! the [`gd_writer::GdWriter`] group-commits guaranteed-delivery messages.

pub mod cluster;
pub mod delivery;
pub mod error;
pub mod file_channel;
pub mod gd_writer;
pub mod message;
pub mod metrics;
pub mod outbound;
pub mod patterns;
pub mod push;
pub mod recent;
pub mod registry;
pub mod secrets;
pub mod services;
pub mod sinks;
pub mod supervisor;
pub mod time;
pub mod topic;

pub use error::PubSubError;
pub use metrics::Metrics;
