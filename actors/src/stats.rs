//! A topic's live figures, shared by its topic actor, its delivery actors and readers (a leaf:
//! it knows none of them).

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

/// A topic's live figures, shared by its topic actor, its delivery actors and readers.
#[derive(Debug, Default)]
pub struct TopicStats {
    /// GD messages held by a queue or retained; reconciled with the database periodically.
    pub gd: AtomicI64,
    /// In-RAM messages held by a queue on this node (see `message::RamHold`).
    pub ram: Arc<AtomicI64>,
    /// The last publication on this node, as Zato keeps it: in RAM only.
    pub last_pub: Mutex<Option<LastPublication>>,
}

#[derive(Debug, Clone)]
pub struct LastPublication {
    pub msg_id: String,
    pub endpoint: String,
    pub pub_time: i64,
}
