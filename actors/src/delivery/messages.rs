//! Messages the `DeliveryActor` handles.

use std::sync::Arc;

use actix::prelude::*;
use serde_json::Value;
use signalbox_schema::models::Subscription;

use crate::error::PubSubError;
use crate::message::{Message, QueueEntry};

/// New messages for this subscription's queue, from its topic actor (an event).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Enqueue {
    pub entries: Vec<QueueEntry>,
}

/// Stop delivering: the subscription is being handed over to another node. Answers once no
/// push is under way, after keeping the in-RAM queue as GD rows of this subscription.
#[derive(Message)]
#[rtype(result = "Result<(), PubSubError>")]
pub struct Drain;

/// Stop the actor (its subscription was deleted or is delivered elsewhere now).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopDelivery;

/// The in-RAM part of the queue, taken out; None while a push is still under way.
#[derive(Message)]
#[rtype(result = "Option<Vec<QueueEntry>>")]
pub(super) struct TakeRam;

/// Hand over up to `max` messages (pull). Answers them in delivery order.
#[derive(Message)]
#[rtype(result = "Result<Vec<Delivered>, PubSubError>")]
pub struct Pull {
    pub max: usize,
}

#[derive(Debug, Clone)]
pub struct Delivered {
    pub msg: Arc<Message>,
    /// Hand-overs including this one.
    pub delivery_count: i64,
    pub recv_time: i64,
}

/// Acknowledge handed-over messages (explicit ack mode).
#[derive(Message)]
#[rtype(result = "Result<AckOutcome, PubSubError>")]
pub struct Ack {
    pub msg_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AckOutcome {
    pub acked: usize,
    /// Ids that were not awaiting an ack from this subscription.
    pub unknown: Vec<String>,
}

/// The in-RAM part of the queue, for admins (GD messages are browsed in SQL): pending and in
/// flight (`dead = false`) or dead letters (`dead = true`), as external JSON in delivery order.
#[derive(Message)]
#[rtype(result = "Vec<(crate::message::OrderKey, Value)>")]
pub struct BrowseRam {
    pub dead: bool,
}

/// Replace a queued message with its edited version (same msg_id).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct EditMessage {
    pub msg: Arc<Message>,
}

/// Find an in-RAM message by id (admins).
#[derive(Message)]
#[rtype(result = "Option<Arc<Message>>")]
pub struct FindMessage {
    pub msg_id: String,
}

/// Drop a message from this queue wherever it is (admins); answers whether it was here.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct RemoveMessage {
    pub msg_id: String,
}

/// Admin queue operations that touch SQL and RAM together.
#[derive(Message, Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<usize, PubSubError>")]
pub enum QueueCommand {
    /// Delete every pending and in-flight message.
    Clear,
    /// Put every dead letter back into the queue.
    RequeueDead,
    /// Delete every dead letter.
    PurgeDead,
}

/// The subscription's settings changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateSubscription(pub Arc<Subscription>);

/// Messages of this subscription may be in SQL without having been enqueued here: reload.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync;

/// A WSX session takes over pushing for this subscription (`None`: nobody pushes for now).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachSession(pub Option<actix::Recipient<crate::sinks::PushFrame>>);

/// This WSX session went away: detach it if it still holds the subscription. Answers whether
/// it did — a session that another one has taken the subscription from must leave it alone.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct DetachSession(pub actix::Recipient<crate::sinks::PushFrame>);

/// What admins see of a delivery actor, read from the actor itself.
#[derive(Message)]
#[rtype(result = "DeliveryStatus")]
pub struct GetStatus;

#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryStatus {
    /// `running`, `paused`, or `waiting` (after a failed push, until its retry).
    pub state: &'static str,
    /// In-RAM messages queued here.
    pub queue_depth_ram: usize,
    /// GD messages read into RAM (the rest of the backlog waits in SQL).
    pub queue_depth_gd: usize,
    /// Handed over and waiting for an ack (explicit ack mode); `in_flight_gd` of them are GD.
    pub in_flight: usize,
    pub in_flight_gd: usize,
    /// In-RAM dead letters held here (GD ones are in SQL).
    pub dead_ram: usize,
    /// Publication time (µs) of the oldest in-RAM message queued or in flight here.
    pub oldest_ram: Option<i64>,
    pub delivered: u64,
    pub failed: u64,
    pub last_error: Option<String>,
    /// Microseconds since the epoch.
    pub since: i64,
}

/// Admin control of a delivery actor.
#[derive(Message, Debug, Clone, Copy, PartialEq)]
#[rtype(result = "()")]
pub enum Control {
    /// Stop delivering; messages keep queueing.
    Pause,
    Resume,
    /// Forget the RAM window and read the backlog again from SQL, in order.
    Restart,
    /// Fault injection for tests (enabled by `SIGNALBOX_FAULT_INJECTION=1`): the handler panics,
    /// as a bug would, so the supervisor's respawn can be seen working.
    Crash,
}
