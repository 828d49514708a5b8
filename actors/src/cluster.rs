//! What the actors need to know of the cluster: which node runs each subscription that is not
//! delivered here, and where to send in-RAM messages and GD wake-ups for them. The broker's
//! cluster member fills this in; on a single node it is absent and every subscription is local.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix::prelude::*;

use crate::message::Message;

/// A subscription delivered by another node (or by none right now).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSub {
    pub sub_key: String,
    pub topic_id: i64,
    pub endpoint_id: i64,
    pub is_wsx: bool,
    /// None while nobody owns it or it is being handed over: publications for it are stored as GD.
    pub node: Option<String>,
}

/// In-RAM messages for subscriptions that `node` delivers. Answers the sub_keys the node did
/// not take (it no longer owns them); an error means it could not be reached. Either way the
/// sender stores those messages as GD for them.
#[derive(Message)]
#[rtype(result = "Result<Vec<String>, String>")]
pub struct ForwardRam {
    pub node: String,
    pub sub_keys: Vec<String>,
    pub messages: Vec<Arc<Message>>,
}

/// GD messages for `topic_id` were committed here: wake the delivery actors of its
/// subscriptions on `nodes` (they read them from SQL; they also poll, so this only saves time).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct WakeTopic {
    pub topic_id: i64,
    pub nodes: Vec<String>,
}

/// The cluster as the topic actors see it.
#[derive(Clone)]
pub struct ClusterRoute {
    pub node: String,
    remote: Arc<RwLock<Remote>>,
    pub forward: Recipient<ForwardRam>,
    pub wake: Recipient<WakeTopic>,
}

#[derive(Default)]
struct Remote {
    by_key: HashMap<String, RemoteSub>,
    by_topic: HashMap<i64, Vec<RemoteSub>>,
}

impl ClusterRoute {
    pub fn new(node: String, forward: Recipient<ForwardRam>, wake: Recipient<WakeTopic>) -> ClusterRoute {
        ClusterRoute { node, remote: Default::default(), forward, wake }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Remote> {
        self.remote.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the whole picture (from the ownership table, minus what runs here).
    pub fn set_remote(&self, subs: Vec<RemoteSub>) {
        let mut by_topic: HashMap<i64, Vec<RemoteSub>> = HashMap::new();
        for sub in &subs {
            by_topic.entry(sub.topic_id).or_default().push(sub.clone());
        }
        let by_key = subs.into_iter().map(|s| (s.sub_key.clone(), s)).collect();
        *self.remote.write().unwrap_or_else(|p| p.into_inner()) = Remote { by_key, by_topic };
    }

    /// One subscription changed hands: `node` delivers it now (None: nobody, store as GD).
    pub fn set_one(&self, sub: RemoteSub) {
        let mut remote = self.remote.write().unwrap_or_else(|p| p.into_inner());
        let list = remote.by_topic.entry(sub.topic_id).or_default();
        list.retain(|s| s.sub_key != sub.sub_key);
        list.push(sub.clone());
        remote.by_key.insert(sub.sub_key.clone(), sub);
    }

    pub fn forget(&self, sub_key: &str) {
        let mut remote = self.remote.write().unwrap_or_else(|p| p.into_inner());
        if let Some(sub) = remote.by_key.remove(sub_key) {
            if let Some(list) = remote.by_topic.get_mut(&sub.topic_id) {
                list.retain(|s| s.sub_key != sub_key);
            }
        }
    }

    pub fn of_topic(&self, topic_id: i64) -> Vec<RemoteSub> {
        self.read().by_topic.get(&topic_id).cloned().unwrap_or_default()
    }

    pub fn get(&self, sub_key: &str) -> Option<RemoteSub> {
        self.read().by_key.get(sub_key).cloned()
    }

    /// The endpoint's non-WSX subscription to a topic, delivered elsewhere.
    pub fn sub_of(&self, endpoint_id: i64, topic_id: i64) -> Option<RemoteSub> {
        self.read()
            .by_topic
            .get(&topic_id)
            .and_then(|subs| subs.iter().find(|s| s.endpoint_id == endpoint_id && !s.is_wsx).cloned())
    }
}
