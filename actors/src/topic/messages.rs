//! Messages the `TopicActor` handles.

use actix::prelude::*;

use crate::delivery::DeliveryActor;
use crate::error::PubSubError;

/// One message as a publisher asked for it, validated at the edge.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    /// JSON text of the `data` value.
    pub data: String,
    /// Bytes of the data as published: a string's UTF-8 length, else its JSON text's.
    pub size: i64,
    pub priority: i32,
    /// Seconds; `None` or 0 means the topic's `limit_message_expiry`.
    pub expiration: Option<i64>,
    pub correl_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub ext_client_id: Option<String>,
    pub group_id: Option<String>,
    pub position_in_group: Option<i64>,
    pub ext_pub_time: Option<i64>,
    pub has_gd: Option<bool>,
    pub mime_type: String,
    /// JSON text.
    pub user_ctx: Option<String>,
    /// The publisher's own msg_id, if it chose one.
    pub msg_id: Option<String>,
}

/// Publish these messages as `endpoint_name`; all are accepted or none.
#[derive(Message)]
#[rtype(result = "Result<Vec<Published>, PubSubError>")]
pub struct Publish {
    pub endpoint_id: Option<i64>,
    pub endpoint_name: String,
    /// The `pub=` line that allowed it (recorded on each message).
    pub pattern: String,
    /// Correlation id of the request, for the audit line.
    pub cid: String,
    pub messages: Vec<NewMessage>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub msg_id: String,
    /// In-RAM and past the depth limit: written to the overflow log, not queued.
    pub overflow: bool,
}

/// A delivery actor of this topic started (or stopped: `addr = None`) on this node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Attach {
    pub sub_key: String,
    pub addr: Option<Addr<DeliveryActor>>,
}

/// The topic's configuration changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateTopic(pub std::sync::Arc<signalbox_schema::models::Topic>);

/// How many delivery actors of this topic run here, read from the topic actor itself.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountSubscribers;
