//! What one node asks another over the internal link, typed.
//!
//! A [`ClusterCall`] travels as the gateway's `{"service": "cluster.…", "request": {…}}` and
//! its answer as the `data` of a `zwsx.rspok`. Each call is a struct that names the type of its
//! answer ([`PeerCall::Reply`]), so the caller reads exactly that; the node that answers builds a
//! [`ClusterReply`] of the same shape. A field missing from either is an error, never a
//! default — the one optional field, `cluster.sync`'s `sub_key`, says so in its type. The calls
//! are answered by `node::peer_calls`.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use signalbox_actors::delivery::QueueCommand;
use signalbox_actors::message::Message;

use crate::links::peer::Request;

/// A call whose answer has a known type.
pub trait PeerCall: Into<ClusterCall> {
    type Reply: Serialize + for<'de> Deserialize<'de>;
}

/// Declares every call once: its service name (the wire name), its variant of [`ClusterCall`]
/// and of [`ClusterReply`], its request type and its answer type.
macro_rules! cluster_calls {
    ($($(#[$doc:meta])* $service:literal => $variant:ident($call:ty) -> $reply:ty;)*) => {
        /// A call from one node to another, tagged by its service name.
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(tag = "service", content = "request")]
        pub enum ClusterCall {
            $($(#[$doc])* #[serde(rename = $service)] $variant($call),)*
        }

        /// The answer to a [`ClusterCall`], as the answering node sends it. Its shape is the
        /// call's own (the caller knows which call it made), so it carries no tag.
        #[derive(Debug, Serialize)]
        #[serde(untagged)]
        pub enum ClusterReply {
            $($variant($reply),)*
        }

        impl ClusterCall {
            /// Every call's service name: the only services of the internal channel.
            pub const SERVICES: &'static [&'static str] = &[$($service),*];

            pub fn service(&self) -> &'static str {
                match self {
                    $(ClusterCall::$variant(_) => $service,)*
                }
            }

            /// The call's `request` object.
            fn request(&self) -> Result<Value, serde_json::Error> {
                match self {
                    $(ClusterCall::$variant(call) => serde_json::to_value(call),)*
                }
            }
        }

        $(
            impl From<$call> for ClusterCall {
                fn from(call: $call) -> Self {
                    ClusterCall::$variant(call)
                }
            }

            impl PeerCall for $call {
                type Reply = $reply;
            }
        )*
    };
}

cluster_calls! {
    /// In-RAM messages for subscriptions the called node delivers.
    "cluster.forward" => Forward(Forward) -> Forwarded;
    /// GD messages of these topics were committed: their delivery actors read SQL now.
    "cluster.wake" => Wake(Wake) -> Done;
    /// Follow the cluster's picture now (and a subscription that changed, if one is named).
    "cluster.sync" => Sync(Synchronize) -> Done;
    /// A REST pull from a subscription the called node delivers.
    "cluster.pull" => Pull(Pull) -> Vec<Value>;
    /// A REST ack for a subscription the called node delivers.
    "cluster.ack" => Ack(Ack) -> Acked;
    /// The called node's actors, as admins see them.
    "cluster.actors" => Actors(ListActors) -> Vec<Value>;
    /// An admin's command for one of the called node's actors.
    "cluster.actor_command" => ActorCommand(ActorCommand) -> Value;
    /// A page of a queue the called node delivers.
    "cluster.browse" => Browse(Browse) -> Browsed;
    /// Clear, requeue or purge a queue the called node delivers.
    "cluster.queue_command" => QueueCommand(RunQueueCommand) -> Counted;
    /// An in-RAM message the called node's delivery actors hold (404 when none does).
    "cluster.find_message" => FindMessage(FindMessage) -> SharedMessage;
    /// A message was edited: the copies the called node holds are replaced.
    "cluster.message_edited" => MessageEdited(MessageEdited) -> Done;
    /// A message was deleted: the called node's delivery actors drop it.
    "cluster.message_removed" => MessageRemoved(MessageRemoved) -> Done;
    /// Every message of a topic is deleted from the called node's delivery actors.
    "cluster.clear_topic" => ClearTopic(ClearTopic) -> Cleared;
    /// The called node's share of what the console shows.
    "cluster.console" => Console(ConsoleQuestion) -> Value;
}

impl ClusterCall {
    /// The call as a gateway invocation over a link.
    pub fn into_request(self) -> Result<Request, serde_json::Error> {
        Ok(Request { service: self.service().to_owned(), request: self.request()? })
    }

    /// The call a peer sent, from the gateway invocation's parts.
    pub fn from_parts(service: &str, request: Value) -> Result<ClusterCall, serde_json::Error> {
        serde_json::from_value(serde_json::json!({"service": service, "request": request}))
    }
}

/// A message shared by the node that sends it (no copy per frame), owned once read.
#[derive(Debug, Clone)]
pub struct SharedMessage(pub Arc<Message>);

impl Serialize for SharedMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Message::deserialize(deserializer).map(|m| SharedMessage(Arc::new(m)))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forward {
    pub sub_keys: Vec<String>,
    pub messages: Vec<SharedMessage>,
}

/// The sub_keys whose delivery actors do not run on the called node (the sender keeps those
/// messages as GD).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forwarded {
    pub refused: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Wake {
    pub topics: BTreeSet<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Synchronize {
    /// A subscription edited or deleted on the calling node; absent when the configuration or
    /// the ownership table changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pull {
    pub sub_key: String,
    pub max: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ack {
    pub sub_key: String,
    pub msg_ids: Vec<String>,
}

/// What an ack did, as the REST ack answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Acked {
    pub acked: usize,
    pub unknown: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListActors {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActorCommand {
    pub actor_id: String,
    pub command: String,
    /// The command's JSON body (`null`: none).
    pub body: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Browse {
    pub sub_key: String,
    pub dead: bool,
    pub limit: i64,
    pub offset: i64,
    /// Answer the page with the queue's total (`Browsed::Counted`) rather than alone.
    pub with_total: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Browsed {
    Counted { messages: Vec<Value>, total: usize },
    Page(Vec<Value>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunQueueCommand {
    pub sub_key: String,
    pub command: QueueCommand,
}

/// How many messages a queue command touched.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counted {
    pub count: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindMessage {
    pub msg_id: String,
}

/// The edited message itself is the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageEdited(pub SharedMessage);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageRemoved {
    pub topic_id: i64,
    pub msg_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClearTopic {
    pub topic_id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cleared {
    pub cleared: usize,
}

/// The answer of a call that only acts: `{}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Done {}

/// What the console asks of another node, by `what`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum ConsoleQuestion {
    Overview,
    History { range: u64 },
    Subscriptions,
    Subscription { sub_key: String, range: u64 },
    Topics,
    Connections,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wire(call: impl Into<ClusterCall>) -> Value {
        let request = call.into().into_request().unwrap();
        json!({"service": request.service, "request": request.request})
    }

    #[test]
    fn calls_travel_as_the_gateway_invocations_nodes_have_always_sent() {
        assert_eq!(wire(Synchronize { sub_key: None }), json!({"service": "cluster.sync", "request": {}}));
        assert_eq!(
            wire(Synchronize { sub_key: Some("sk.1".into()) }),
            json!({"service": "cluster.sync", "request": {"sub_key": "sk.1"}})
        );
        assert_eq!(wire(ListActors {}), json!({"service": "cluster.actors", "request": {}}));
        assert_eq!(
            wire(Wake { topics: BTreeSet::from([3, 1]) }),
            json!({"service": "cluster.wake", "request": {"topics": [1, 3]}})
        );
        assert_eq!(
            wire(RunQueueCommand { sub_key: "sk".into(), command: QueueCommand::RequeueDead }),
            json!({"service": "cluster.queue_command",
                   "request": {"sub_key": "sk", "command": json!(QueueCommand::RequeueDead)}})
        );
        assert_eq!(
            wire(ConsoleQuestion::Subscription { sub_key: "sk".into(), range: 60 }),
            json!({"service": "cluster.console",
                   "request": {"what": "subscription", "sub_key": "sk", "range": 60}})
        );
        assert_eq!(
            wire(ConsoleQuestion::Overview),
            json!({"service": "cluster.console", "request": {"what": "overview"}})
        );
    }

    #[test]
    fn every_service_name_reads_back_as_its_call() {
        assert_eq!(ClusterCall::SERVICES.len(), 14);
        let call = ClusterCall::from_parts("cluster.clear_topic", json!({"topic_id": 7})).unwrap();
        assert!(matches!(call, ClusterCall::ClearTopic(ClearTopic { topic_id: 7 })), "{call:?}");
        assert_eq!(call.service(), "cluster.clear_topic");
        for service in ClusterCall::SERVICES {
            let error = ClusterCall::from_parts(service, json!("not an object")).unwrap_err();
            assert!(!error.to_string().contains("unknown variant"), "{service}: {error}");
        }
    }

    #[test]
    fn a_missing_field_is_an_error_not_a_default() {
        for (service, request, field) in [
            ("cluster.find_message", json!({}), "msg_id"),
            ("cluster.message_removed", json!({"msg_id": "m"}), "topic_id"),
            ("cluster.clear_topic", json!({}), "topic_id"),
            ("cluster.browse", json!({"sub_key": "s", "dead": false, "limit": 1, "offset": 0}), "with_total"),
            ("cluster.actor_command", json!({"actor_id": "a", "command": "c"}), "body"),
        ] {
            let error = ClusterCall::from_parts(service, request).unwrap_err().to_string();
            assert!(error.contains(&format!("missing field `{field}`")), "{service}: {error}");
        }
        let error = serde_json::from_value::<Forwarded>(json!({})).unwrap_err().to_string();
        assert!(error.contains("missing field `refused`"), "{error}");
    }

    #[test]
    fn replies_have_the_shapes_callers_read() {
        let counted = ClusterReply::Browse(Browsed::Counted { messages: vec![json!(1)], total: 5 });
        assert_eq!(json!(counted), json!({"messages": [1], "total": 5}));
        assert_eq!(json!(ClusterReply::Sync(Done {})), json!({}));
        assert_eq!(
            json!(ClusterReply::Ack(Acked { acked: 2, unknown: vec!["m".into()] })),
            json!({"acked": 2, "unknown": ["m"]})
        );
        let page: Browsed = serde_json::from_value(json!([{"msg_id": "m"}])).unwrap();
        assert!(matches!(page, Browsed::Page(rows) if rows.len() == 1));
    }
}
