//! Signalbox actors and the pieces they share: keys and credentials, metrics.

pub mod metrics;
pub mod patterns;
pub mod push;
pub mod secrets;
pub mod time;

pub use metrics::Metrics;
