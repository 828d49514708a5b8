//! Push targets (`delivery_method = notify`): where a delivery actor sends batches.
//!
//! One sink per endpoint type: `rest` (HTTP, 2xx = delivered), `soap` (SOAP 1.1 envelope, 2xx
//! and no Fault), `amqp` (publisher confirms), `files` (atomic write), `srv` (a service). A
//! failure is a socket error (connect, DNS, TLS, reset, timeout — the subscription waits
//! `wait_sock_err`) or any other (non-2xx, Fault, nack, service error — `wait_non_sock_err`).

mod amqp;
mod files;
mod http;
mod wsx;

pub use wsx::{PushFrame, WsxSink};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use signalbox_schema::modes::EndpointType;

use crate::message::Message;
use crate::secrets::{MasterKey, SealedAt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Connect, DNS, TLS, reset, timeout: wait `wait_sock_err`.
    Socket,
    /// Anything else: wait `wait_non_sock_err`.
    Other,
    /// Nobody to deliver to yet (a WSX subscription without a session): not an attempt; wait
    /// until a session attaches.
    Idle,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SinkError {
    pub kind: FailureKind,
    pub message: String,
}

impl SinkError {
    pub fn socket(message: impl Into<String>) -> SinkError {
        SinkError { kind: FailureKind::Socket, message: message.into() }
    }
    pub fn other(message: impl Into<String>) -> SinkError {
        SinkError { kind: FailureKind::Other, message: message.into() }
    }
    pub fn idle(message: impl Into<String>) -> SinkError {
        SinkError { kind: FailureKind::Idle, message: message.into() }
    }
}

pub type SinkFuture = Pin<Box<dyn Future<Output = Result<(), SinkError>>>>;

/// One batch, as the target gets it.
pub struct Batch {
    pub sub_key: String,
    pub messages: Vec<(Arc<Message>, i64, i64)>,
    /// One object instead of a list when the batch holds one message.
    pub unwrap_single: bool,
    /// Explicit ack mode: how long the target has to acknowledge (WSX).
    pub ack_timeout: Option<std::time::Duration>,
}

impl Batch {
    /// The messages as subscribers see them (INTERFACES §3).
    pub fn external(&self) -> Vec<Value> {
        self.messages
            .iter()
            .map(|(m, count, recv)| m.to_external(Some(&self.sub_key), *count, *recv))
            .collect()
    }

    /// A JSON array, or one object for a single message when not wrapped.
    pub fn body(&self) -> Value {
        let mut list = self.external();
        if self.unwrap_single && list.len() == 1 {
            list.remove(0)
        } else {
            Value::Array(list)
        }
    }
}

/// Delivers batches to one subscription's target.
pub trait Sink {
    fn deliver(&self, batch: Batch) -> SinkFuture;

    /// WSX targets only: the session to push to from now on (`None`: it went away).
    fn attach_session(&mut self, _session: Option<actix::Recipient<PushFrame>>) {}

    /// WSX targets only: detach `session` if it is the one attached; answers whether it was.
    fn detach_session(&mut self, _session: &actix::Recipient<PushFrame>) -> bool {
        false
    }
}

/// What sinks need from the node.
#[derive(Clone)]
pub struct SinkDeps {
    /// This node's name, sent with REST and SOAP pushes (`X-Signalbox-Node`) so a target can
    /// tell which node of a cluster pushed.
    pub node: String,
    pub master_key: MasterKey,
    pub outbound: crate::outbound::Outbound,
    /// The node's services, for `srv` targets.
    pub services: Option<Arc<dyn CallService>>,
}

/// Builds the sink of a subscription's stored push configuration (`push.type` names the kind);
/// its sealed secrets open only as the `push_config` of `sub_key`.
pub fn build(push_config: &str, sub_key: &str, deps: &SinkDeps) -> Result<Box<dyn Sink>, String> {
    let config: Value = serde_json::from_str(push_config).map_err(|e| format!("bad push config: {e}"))?;
    let at = SealedAt::subscription_push(sub_key);
    let kind = config.get("type").and_then(Value::as_str);
    match kind.and_then(|t| t.parse::<EndpointType>().ok()) {
        Some(EndpointType::Rest) => Ok(Box::new(http::HttpSink::rest(&config, &at, deps)?)),
        Some(EndpointType::Soap) => Ok(Box::new(http::HttpSink::soap(&config, &at, deps)?)),
        Some(EndpointType::Amqp) => Ok(Box::new(amqp::AmqpSink::new(&config, &deps.master_key, &at)?)),
        Some(EndpointType::Files) => Ok(Box::new(files::FilesSink::new(&config)?)),
        Some(EndpointType::Wsx) => Ok(Box::new(WsxSink::default())),
        Some(EndpointType::Srv) => {
            let service = config["service"].as_str().ok_or("push.service missing")?.to_owned();
            let services = deps.services.clone().ok_or("no services on this node")?;
            Ok(Box::new(ServiceSink { service, services }))
        }
        None => Err(format!("no sink for push type {kind:?}")),
    }
}

/// What a `srv` target needs from the node: to call one of its services with a pushed batch
/// (`request`, the messages as the service sees them, and the messages themselves). The node's
/// services implement it; sinks know nothing more of them.
pub trait CallService: Send + Sync {
    fn call_with_pushed(
        &self,
        name: &str,
        request: Value,
        pushed: Vec<Arc<Message>>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>>>>;
}

/// `srv`: invoke a service with the message list; delivered when it answers without error.
struct ServiceSink {
    service: String,
    services: Arc<dyn CallService>,
}

impl Sink for ServiceSink {
    fn deliver(&self, batch: Batch) -> SinkFuture {
        let pushed = batch.messages.iter().map(|(m, _, _)| m.clone()).collect();
        let call = self.services.call_with_pushed(&self.service, Value::Array(batch.external()), pushed);
        let name = self.service.clone();
        Box::pin(
            async move { call.await.map_err(|e| SinkError::other(format!("service `{name}` failed: {e}"))) },
        )
    }
}
